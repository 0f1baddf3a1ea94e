//! Query strings of the records routes, parsed at the edge into store filters.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::store::{PageCursor, StatsGroup, UploadFilter, UploadSource, UploadStatus};

pub const DEFAULT_LIMIT: u32 = 100;
pub const MAX_LIMIT: u32 = 1000;

/// Filters shared by every records route, and each route's own parameters. Parsed by hand, not by
/// serde: a bad value gets a message naming the parameter and the expected format, and an unknown
/// one a message listing this route's parameters, not every route's.
#[derive(Debug, Default)]
pub struct RecordsQuery {
    /// `completed` unless given (statistics by status: every status).
    pub status: Option<String>,
    pub source: Option<String>,
    pub user_id: Option<String>,
    /// A built-in account's username (resolved to its user id by the store).
    pub username: Option<String>,
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
    /// `stats` only: `day` (default), `profile`, `user`, `status` or `source`.
    pub group_by: Option<String>,
    /// `export` only: `ndjson` (default) or `csv`.
    pub format: Option<String>,
}

const FILTERS: &[&str] = &[
    "status",
    "source",
    "user_id",
    "username",
    "profile",
    "bucket",
    "key_prefix",
    "content_type",
    "min_size",
    "max_size",
    "completed_from",
    "completed_to",
];

/// Parameters only some records routes take.
const ROUTE_ONLY: &[&str] = &["cursor", "limit", "group_by", "format"];

/// Which records route a query string is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordsRoute {
    List,
    Stats,
    Export,
    /// `/v1/me/uploads`: the user is implied.
    Mine,
}

impl RecordsRoute {
    fn own(self) -> &'static [&'static str] {
        match self {
            RecordsRoute::List | RecordsRoute::Mine => &["cursor", "limit"],
            RecordsRoute::Stats => &["group_by"],
            RecordsRoute::Export => &["format"],
        }
    }

    fn implied(self, name: &str) -> bool {
        self == RecordsRoute::Mine && (name == "user_id" || name == "username")
    }

    /// Every parameter this route takes.
    pub fn parameters(self) -> Vec<&'static str> {
        FILTERS
            .iter()
            .copied()
            .filter(|p| !self.implied(p))
            .chain(self.own().iter().copied())
            .collect()
    }

    fn check(self, name: &str) -> Result<(), ApiError> {
        if self.implied(name) {
            return Err(bad("invalid_filter", format!("{name} is implied on this route")));
        }
        if FILTERS.contains(&name) || self.own().contains(&name) {
            return Ok(());
        }
        let takes = self.parameters().join(", ");
        if ROUTE_ONLY.contains(&name) {
            return Err(bad(
                "invalid_filter",
                format!("{name} is not a parameter of this route; it takes {takes}"),
            ));
        }
        Err(bad(
            "invalid_query",
            format!("unknown parameter {name:?}; this route takes {takes}"),
        ))
    }
}

fn size(name: &str, value: &str) -> Result<i64, ApiError> {
    value.parse::<i64>().ok().filter(|v| *v >= 0).ok_or_else(|| {
        bad(
            "invalid_query",
            format!("{name}: expected a size in bytes (a whole number, 0 or more), e.g. 1048576"),
        )
    })
}

fn time(name: &str, value: &str) -> Result<DateTime<Utc>, ApiError> {
    DateTime::parse_from_rfc3339(value)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            bad(
                "invalid_query",
                format!("{name}: expected RFC 3339, e.g. 2026-12-04T00:00:00Z"),
            )
        })
}

impl RecordsQuery {
    /// Parses the raw query string of `route`.
    pub fn parse(route: RecordsRoute, raw: &str) -> Result<RecordsQuery, ApiError> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw)
            .map_err(|_| bad("invalid_query", "the query string is not URL-encoded"))?;
        let mut q = RecordsQuery::default();
        let mut seen: Vec<&str> = Vec::new();
        for (name, value) in &pairs {
            route.check(name)?;
            if seen.contains(&name.as_str()) {
                return Err(bad("invalid_query", format!("{name} is given more than once")));
            }
            seen.push(name);
            let text = || Some(value.clone());
            match name.as_str() {
                "status" => q.status = text(),
                "source" => q.source = text(),
                "user_id" => q.user_id = text(),
                "username" => q.username = text(),
                "profile" => q.profile = text(),
                "bucket" => q.bucket = text(),
                "key_prefix" => q.key_prefix = text(),
                "content_type" => q.content_type = text(),
                "min_size" => q.min_size = Some(size(name, value)?),
                "max_size" => q.max_size = Some(size(name, value)?),
                "completed_from" => q.completed_from = Some(time(name, value)?),
                "completed_to" => q.completed_to = Some(time(name, value)?),
                "cursor" => q.cursor = text(),
                "limit" => {
                    q.limit = Some(value.parse().map_err(|_| {
                        bad(
                            "invalid_query",
                            format!("limit: expected a whole number from 1 to {MAX_LIMIT}"),
                        )
                    })?)
                }
                "group_by" => q.group_by = text(),
                "format" => q.format = text(),
                // check() admits only the names above; no input may panic the server.
                _ => return Err(bad("invalid_query", format!("unknown parameter {name:?}"))),
            }
        }
        Ok(q)
    }
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
            username: nonempty(&self.username, "username")?,
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

    #[test]
    fn bad_values_name_the_parameter_and_its_format() {
        let err = RecordsQuery::parse(RecordsRoute::List, "completed_from=2026-12-04").unwrap_err();
        assert_eq!(
            err.message,
            "completed_from: expected RFC 3339, e.g. 2026-12-04T00:00:00Z"
        );
        let err = RecordsQuery::parse(RecordsRoute::List, "min_size=abc").unwrap_err();
        assert!(
            err.message.starts_with("min_size: expected a size in bytes"),
            "{}",
            err.message
        );
        let err = RecordsQuery::parse(RecordsRoute::Stats, "colour=red").unwrap_err();
        assert_eq!(err.code, "invalid_query");
        assert!(
            err.message.contains("group_by") && !err.message.contains("cursor"),
            "{}",
            err.message
        );
        let q = RecordsQuery::parse(RecordsRoute::List, "username=alice&limit=5").unwrap();
        assert_eq!((q.username.as_deref(), q.limit), (Some("alice"), Some(5)));
    }
}
