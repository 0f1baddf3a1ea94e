//! Times on SQLite: RFC 3339 text of one fixed width, `2026-12-03T10:00:00.123456Z`.
//!
//! sqlx's own chrono encoding writes 0, 3, 6 or 9 fraction digits as the value needs and
//! `+00:00`; the built-in accounts were written with six digits and `Z`. Mixed, text order is not
//! time order (`…:00+00:00` sorts before `…:00.000000Z`, the same instant), and a bound value in
//! one form compared with a row in the other gives wrong answers at the boundary. One width and
//! one suffix make text order time order; six digits keep what Postgres keeps (microseconds), so
//! both stores hold the same instants. Migration `20261203410000` rewrote older rows.

use chrono::SecondsFormat;
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::sqlite::{SqliteArgumentValue, SqliteTypeInfo};
use sqlx::{Encode, Sqlite, Type};

use crate::store::sql::SqlTime;

/// The text a time is stored as.
pub fn text(at: SqlTime) -> String {
    at.0.to_rfc3339_opts(SecondsFormat::Micros, true)
}

impl Type<Sqlite> for SqlTime {
    fn type_info() -> SqliteTypeInfo {
        <String as Type<Sqlite>>::type_info()
    }
}

impl<'q> Encode<'q, Sqlite> for SqlTime {
    fn encode_by_ref(&self, buf: &mut Vec<SqliteArgumentValue<'q>>) -> Result<IsNull, BoxDynError> {
        Encode::<Sqlite>::encode(text(*self), buf)
    }
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, TimeZone, Utc};

    use super::*;

    #[test]
    fn every_time_has_one_width_and_text_order_is_time_order() {
        let base = Utc.with_ymd_and_hms(2026, 12, 3, 10, 0, 0).unwrap();
        let mut times: Vec<DateTime<Utc>> =
            [0, 1_000, 120_000_000, 999_999_000, 1_000_000_000, 1_000_001_000]
                .into_iter()
                .map(|ns| base + chrono::Duration::nanoseconds(ns))
                .collect();
        times.push(Utc.with_ymd_and_hms(1999, 1, 1, 0, 0, 0).unwrap());
        let texts: Vec<String> = times.iter().map(|t| text(SqlTime(*t))).collect();
        assert!(
            texts.iter().all(|t| t.len() == 27 && t.ends_with('Z')),
            "{texts:?}"
        );
        assert_eq!(text(SqlTime(base)), "2026-12-03T10:00:00.000000Z");
        let mut by_text: Vec<usize> = (0..times.len()).collect();
        by_text.sort_by(|a, b| texts[*a].cmp(&texts[*b]));
        let mut by_time: Vec<usize> = (0..times.len()).collect();
        by_time.sort_by_key(|i| times[*i]);
        assert_eq!(by_text, by_time);
        // Read back as written.
        for (t, s) in times.iter().zip(&texts) {
            assert_eq!(DateTime::parse_from_rfc3339(s).unwrap().to_utc(), *t);
        }
    }
}
