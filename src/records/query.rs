//! Query strings of the records routes, parsed at the edge into store filters.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::store::{PageCursor, StatsGroup, UploadFilter, UploadSource, UploadStatus};

pub const DEFAULT_LIMIT: u32 = 100;
pub const MAX_LIMIT: u32 = 1000;

/// Filters shared by every records route. Unknown parameters are refused, not ignored.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordsQuery {
    /// `completed` unless given (statistics by status: every status).
    pub status: Option<String>,
    pub source: Option<String>,
    pub user_id: Option<String>,
    pub profile: Option<String>,
    pub bucket: Option<String>,
    pub key_prefix: Option<String>,
    pub content_type: Option<String>,
    pub min_size: Option<i64>,
    pub max_size: Option<i64>,
    pub completed_from: Option<DateTime<Utc>>,
    pub completed_to: Option<DateTime<Utc>>,
    pub cursor: Option<String>,
    pub limit: Option<u32>,
    /// `stats` only: `day` (default), `profile` or `user`.
    pub group_by: Option<String>,
    /// `export` only: `ndjson` (default) or `csv`.
    pub format: Option<String>,
}

fn bad(code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::bad_request(code, message)
}

impl RecordsQuery {
    pub fn filter(&self) -> Result<UploadFilter, ApiError> {
        if let (Some(lo), Some(hi)) = (self.min_size, self.max_size) {
            if lo > hi {
                return Err(bad("invalid_range", "min_size is greater than max_size"));
            }
        }
        if self.min_size.is_some_and(|v| v < 0) || self.max_size.is_some_and(|v| v < 0) {
            return Err(bad("invalid_range", "sizes are not negative"));
        }
        if let (Some(from), Some(to)) = (self.completed_from, self.completed_to) {
            if from >= to {
                return Err(bad("invalid_range", "completed_from must be before completed_to"));
            }
        }
        if let Some(ct) = &self.content_type {
            let ok = ct
                .split_once('/')
                .is_some_and(|(major, minor)| !major.is_empty() && !minor.is_empty() && !major.contains('*'));
            let wildcard_ok = !ct.contains('*') || ct.ends_with("/*");
            if !ok || !wildcard_ok {
                return Err(bad(
                    "invalid_filter",
                    "content_type is `type/subtype` or `type/*`",
                ));
            }
        }
        let nonempty = |v: &Option<String>, name: &str| -> Result<Option<String>, ApiError> {
            match v {
                Some(s) if s.is_empty() => Err(bad("invalid_filter", format!("{name} must not be empty"))),
                other => Ok(other.clone()),
            }
        };
        let status = match self.status.as_deref() {
            None => Some(UploadStatus::Completed),
            Some(s) => Some(UploadStatus::parse(s).map_err(|_| {
                bad(
                    "invalid_filter",
                    "status is pending, completed, abandoned or rejected",
                )
            })?),
        };
        let source = match self.source.as_deref() {
            None => None,
            Some(s) => Some(
                UploadSource::parse(s)
                    .map_err(|_| bad("invalid_filter", "source is callback, client or reconciler"))?,
            ),
        };
        Ok(UploadFilter {
            status,
            source,
            user_id: nonempty(&self.user_id, "user_id")?,
            profile: nonempty(&self.profile, "profile")?,
            bucket: nonempty(&self.bucket, "bucket")?,
            key_prefix: nonempty(&self.key_prefix, "key_prefix")?,
            content_type: self.content_type.as_ref().map(|c| c.to_ascii_lowercase()),
            min_size: self.min_size,
            max_size: self.max_size,
            completed_from: self.completed_from,
            completed_to: self.completed_to,
        })
    }

    pub fn limit(&self) -> Result<u32, ApiError> {
        match self.limit {
            None => Ok(DEFAULT_LIMIT),
            Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
            Some(_) => Err(bad("invalid_limit", format!("limit is 1 to {MAX_LIMIT}"))),
        }
    }

    pub fn cursor(&self) -> Result<Option<PageCursor>, ApiError> {
        self.cursor.as_deref().map(decode_cursor).transpose()
    }

    pub fn group(&self) -> Result<StatsGroup, ApiError> {
        match self.group_by.as_deref() {
            None | Some("day") => Ok(StatsGroup::Day),
            Some("profile") => Ok(StatsGroup::Profile),
            Some("user") => Ok(StatsGroup::User),
            Some("status") => Ok(StatsGroup::Status),
            Some("source") => Ok(StatsGroup::Source),
            Some(other) => Err(bad(
                "invalid_filter",
                format!("group_by {other:?}: use day, profile, user, status or source"),
            )),
        }
    }

    /// Refuses parameters that belong to another route.
    pub fn only(&self, route_params: &[&str]) -> Result<(), ApiError> {
        let present = [
            ("cursor", self.cursor.is_some()),
            ("limit", self.limit.is_some()),
            ("group_by", self.group_by.is_some()),
            ("format", self.format.is_some()),
        ];
        match present
            .iter()
            .find(|(name, set)| *set && !route_params.contains(name))
        {
            Some((name, _)) => Err(bad(
                "invalid_filter",
                format!("{name} is not a parameter of this route"),
            )),
            None => Ok(()),
        }
    }
}

#[derive(Serialize, Deserialize)]
struct CursorWire {
    t: String,
    id: String,
}

pub fn encode_cursor(c: &PageCursor) -> String {
    let wire = CursorWire {
        t: c.completed_at.to_rfc3339_opts(SecondsFormat::AutoSi, true),
        id: c.upload_id.clone(),
    };
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&wire).unwrap_or_default())
}

pub fn decode_cursor(raw: &str) -> Result<PageCursor, ApiError> {
    let invalid = || {
        bad(
            "invalid_cursor",
            "the cursor is malformed; use next_cursor as returned",
        )
    };
    let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| invalid())?;
    let wire: CursorWire = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
    let completed_at = DateTime::parse_from_rfc3339(&wire.t)
        .map_err(|_| invalid())?
        .with_timezone(&Utc);
    // The id goes into SQL: Postgres refuses text holding NUL with an error, not a miss.
    if wire.id.is_empty() || wire.id.len() > 64 || wire.id.chars().any(char::is_control) {
        return Err(invalid());
    }
    Ok(PageCursor {
        completed_at,
        upload_id: wire.id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let c = PageCursor {
            completed_at: Utc::now(),
            upload_id: "0190".into(),
        };
        assert_eq!(decode_cursor(&encode_cursor(&c)).unwrap(), c);
        assert!(decode_cursor("!!").is_err());
        assert!(decode_cursor(&URL_SAFE_NO_PAD.encode(b"{\"t\":\"x\",\"id\":\"1\"}")).is_err());
        let nul_id = br#"{"t":"2026-01-01T00:00:00Z","id":"a\u0000b"}"#;
        assert!(decode_cursor(&URL_SAFE_NO_PAD.encode(nul_id)).is_err());
    }

    #[test]
    fn ranges_are_checked() {
        let q = RecordsQuery {
            min_size: Some(10),
            max_size: Some(1),
            ..Default::default()
        };
        assert_eq!(q.filter().unwrap_err().code, "invalid_range");
        let q = RecordsQuery {
            content_type: Some("*/png".into()),
            ..Default::default()
        };
        assert_eq!(q.filter().unwrap_err().code, "invalid_filter");
        let q = RecordsQuery {
            limit: Some(0),
            ..Default::default()
        };
        assert_eq!(q.limit().unwrap_err().code, "invalid_limit");
    }
}
