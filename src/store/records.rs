//! Queries over completed uploads for backend teams: filters, keyset pages, statistics.
//!
//! Both backends run the query text built here; their [`Dialect`] says how a timestamp is cut to
//! its day and how text compares bytewise.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::sql::{Dialect, SqlTime};
use super::{StoreError, UploadRecord, UploadSource, UploadStatus};

/// Filters over uploads. Ranges are inclusive-exclusive: `[from, to)`. Time filters and the
/// sort order use the upload's *time*: `completed_at` for settled uploads (completed, rejected),
/// `issued_at` for unsettled ones (pending, abandoned).
#[derive(Debug, Clone, Default)]
pub struct UploadFilter {
    /// `None`: every status (statistics by status).
    pub status: Option<UploadStatus>,
    pub source: Option<UploadSource>,
    pub user_id: Option<String>,
    /// A built-in account's username.
    pub username: Option<String>,
    pub profile: Option<String>,
    pub bucket: Option<String>,
    pub key_prefix: Option<String>,
    /// Exact (`image/png`) or a whole type (`image/*`).
    pub content_type: Option<String>,
    pub min_size: Option<i64>,
    pub max_size: Option<i64>,
    pub completed_from: Option<DateTime<Utc>>,
    pub completed_to: Option<DateTime<Utc>>,
}

impl UploadFilter {
    /// The column the time filters and the order use.
    pub fn time_column(&self) -> &'static str {
        match self.status {
            Some(UploadStatus::Pending | UploadStatus::Abandoned) => "issued_at",
            _ => "completed_at",
        }
    }

    /// Whether one cached generic plan of the page query is right for every value of this filter,
    /// so Postgres may plan it once per connection instead of on every page (a third of its CPU
    /// per page). True only of shapes that one index answers exactly, in the page's order, with
    /// every condition in its key: no filter (`uploads_completed`), a profile and an exact type
    /// (`uploads_profile_mime_completed`), a user alone (`uploads_user_completed`), each over
    /// completed uploads, with or without a time window and cursor. Any other shape needs the
    /// values to choose its plan: a generic plan cannot tell a rare profile, type or prefix from
    /// a common one, and took an ordered scan of every upload for a profile with none (300 ms)
    /// or the content-type index and a sort for `image/*` (880 ms).
    pub fn generic_plan_is_safe(&self) -> bool {
        let UploadFilter {
            status,
            source,
            user_id,
            username,
            profile,
            bucket,
            key_prefix,
            content_type,
            min_size,
            max_size,
            completed_from: _,
            completed_to: _,
        } = self;
        let exact_type = content_type.as_deref().map(|t| !t.ends_with('*'));
        let others = source.is_some() || bucket.is_some() || key_prefix.is_some();
        let sizes = min_size.is_some() || max_size.is_some();
        let user = usize::from(user_id.is_some()) + usize::from(username.is_some());
        *status == Some(UploadStatus::Completed)
            && !others
            && !sizes
            // Nothing or a user alone; or a profile and an exact type.
            && matches!(
                (profile.is_some(), exact_type, user),
                (false, None, 0 | 1) | (true, Some(true), 0)
            )
    }

    /// A record's position in that order.
    pub fn time_of(&self, record: &UploadRecord) -> DateTime<Utc> {
        match self.time_column() {
            "issued_at" => record.issued_at,
            _ => record.completed_at.unwrap_or(record.issued_at),
        }
    }
}

/// Position after the last row of a page (newest first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageCursor {
    /// The upload's time in the filter's order (see [`UploadFilter::time_column`]).
    pub completed_at: DateTime<Utc>,
    pub upload_id: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatsGroup {
    Day,
    Profile,
    User,
    Status,
    Source,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatsRow {
    pub group: String,
    pub count: i64,
    pub bytes: i64,
}

#[async_trait]
pub trait RecordStore {
    /// Completed uploads matching `filter`, newest first, after `cursor`, at most `limit`.
    async fn query_uploads(
        &self,
        filter: &UploadFilter,
        cursor: Option<&PageCursor>,
        limit: u32,
    ) -> Result<Vec<UploadRecord>, StoreError>;

    /// Count and bytes of completed uploads matching `filter`, grouped.
    async fn upload_stats(
        &self,
        filter: &UploadFilter,
        group: StatsGroup,
    ) -> Result<Vec<StatsRow>, StoreError>;
}

/// A value to bind, in order.
#[derive(Debug, Clone)]
pub(super) enum Bind {
    Text(String),
    Int(i64),
    Time(DateTime<Utc>),
}

impl Bind {
    /// Binds `binds` in order, on either backend.
    pub(super) fn all<'q, DB>(
        mut query: sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments<'q>>,
        binds: &'q [Bind],
    ) -> sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments<'q>>
    where
        DB: sqlx::Database,
        &'q String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
        i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
        SqlTime: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    {
        for b in binds {
            query = match b {
                Bind::Text(v) => query.bind(v),
                Bind::Int(v) => query.bind(*v),
                Bind::Time(v) => query.bind(SqlTime(*v)),
            };
        }
        query
    }
}

/// Sorts after every string that starts with a given prefix (bytewise comparison).
const PREFIX_END: char = '\u{10FFFF}';

/// Builds SQL with `$n` placeholders, numbered in the order they are written.
pub(super) struct QueryBuilder {
    dialect: Dialect,
    pub sql: String,
    pub binds: Vec<Bind>,
}

impl QueryBuilder {
    pub fn new(dialect: Dialect) -> Self {
        QueryBuilder {
            dialect,
            sql: String::new(),
            binds: Vec::new(),
        }
    }

    fn bind(&mut self, value: Bind) -> String {
        self.binds.push(value);
        format!("${}", self.binds.len())
    }

    fn and(&mut self, condition: String) {
        self.sql.push_str(" AND ");
        self.sql.push_str(&condition);
    }

    fn prefix_range(&mut self, column: &str, prefix: &str) {
        let lo = self.bind(Bind::Text(prefix.to_string()));
        let hi = self.bind(Bind::Text(format!("{prefix}{PREFIX_END}")));
        let c = self.dialect.bytewise;
        self.and(format!("{column}{c} >= {lo}{c} AND {column}{c} < {hi}{c}"));
    }

    /// `WHERE` with every filter.
    pub fn filters(&mut self, f: &UploadFilter) {
        self.sql.push_str(" WHERE 1 = 1");
        // Closed enums, written as literals so Postgres can match the partial indexes
        // (`WHERE status = 'completed'`) even with a generic plan for the prepared statement.
        if let Some(status) = f.status {
            self.and(format!("status = '{}'", status.as_str()));
            // True of every row of that status, and said outright so that the partial indexes
            // (`WHERE completed_at IS [NOT] NULL`) apply.
            self.and(match status {
                UploadStatus::Completed | UploadStatus::Rejected => "completed_at IS NOT NULL".into(),
                UploadStatus::Pending | UploadStatus::Abandoned => "completed_at IS NULL".into(),
            });
        }
        if let Some(source) = f.source {
            self.and(format!("source = '{}'", source.as_str()));
        }
        if let Some(v) = &f.user_id {
            let p = self.bind(Bind::Text(v.clone()));
            self.and(format!("user_id = {p}"));
        }
        if let Some(v) = &f.username {
            let p = self.bind(Bind::Text(v.clone()));
            self.and(format!("user_id = (SELECT id FROM users WHERE username = {p})"));
        }
        if let Some(v) = &f.profile {
            let p = self.bind(Bind::Text(v.clone()));
            self.and(format!("profile = {p}"));
        }
        if let Some(v) = &f.bucket {
            let p = self.bind(Bind::Text(v.clone()));
            self.and(format!("bucket = {p}"));
        }
        if let Some(v) = &f.key_prefix {
            self.prefix_range("object_key", v);
        }
        match f.content_type.as_deref().map(|t| (t, t.strip_suffix('*'))) {
            Some((_, Some(major))) => self.prefix_range("mime_type", major),
            Some((exact, None)) => {
                let p = self.bind(Bind::Text(exact.to_string()));
                let c = self.dialect.bytewise;
                self.and(format!("mime_type{c} = {p}{c}"));
            }
            None => {}
        }
        if let Some(v) = f.min_size {
            let p = self.bind(Bind::Int(v));
            self.and(format!("size >= {p}"));
        }
        if let Some(v) = f.max_size {
            let p = self.bind(Bind::Int(v));
            self.and(format!("size <= {p}"));
        }
        if let Some(v) = f.completed_from {
            let p = self.bind(Bind::Time(v));
            self.and(format!("{} >= {p}", f.time_column()));
        }
        if let Some(v) = f.completed_to {
            let p = self.bind(Bind::Time(v));
            self.and(format!("{} < {p}", f.time_column()));
        }
    }

    /// A page of rows of `columns`.
    pub fn page(&mut self, columns: &str, f: &UploadFilter, cursor: Option<&PageCursor>, limit: u32) {
        self.sql = format!("SELECT {columns} FROM uploads");
        self.filters(f);
        if let Some(c) = cursor {
            let at = self.bind(Bind::Time(c.completed_at));
            let id = self.bind(Bind::Text(c.upload_id.clone()));
            self.and(format!("({}, upload_id) < ({at}, {id})", f.time_column()));
        }
        let l = self.bind(Bind::Int(limit as i64));
        self.sql.push_str(&format!(
            " ORDER BY {} DESC, upload_id DESC LIMIT {l}",
            f.time_column()
        ));
    }

    pub fn stats(&mut self, f: &UploadFilter, group: StatsGroup) {
        let day = self.dialect.day(f.time_column());
        // What rows are grouped by, and the group's name as answered (a function of the former).
        let (key, name) = match group {
            StatsGroup::Day => (day.clone(), self.dialect.day_text(&day)),
            StatsGroup::Profile => ("profile".into(), "profile".into()),
            StatsGroup::User => ("user_id".into(), "user_id".into()),
            StatsGroup::Status => ("status".into(), "status".into()),
            StatsGroup::Source => ("source".into(), "COALESCE(source, 'none')".into()),
        };
        self.sql = format!(
            "SELECT {name} AS grp, COUNT(*) AS n, CAST(COALESCE(SUM(size), 0) AS BIGINT) AS bytes FROM uploads"
        );
        self.filters(f);
        self.sql.push_str(&format!(" GROUP BY {key} ORDER BY grp"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn completed() -> UploadFilter {
        UploadFilter {
            status: Some(UploadStatus::Completed),
            ..UploadFilter::default()
        }
    }

    fn text(v: &str) -> Option<String> {
        Some(v.to_string())
    }

    /// Only the shapes one index answers exactly may share a plan; every shape whose plan depends
    /// on how common its values are (checked with EXPLAIN on a million rows) must not.
    #[test]
    fn generic_plans_only_for_shapes_one_index_answers() {
        let window = |f: UploadFilter| UploadFilter {
            completed_from: Some(Utc::now() - chrono::Duration::days(30)),
            completed_to: Some(Utc::now()),
            ..f
        };
        let safe = [
            completed(),
            UploadFilter {
                profile: text("avatar"),
                content_type: text("image/png"),
                ..completed()
            },
            UploadFilter {
                user_id: text("u1"),
                ..completed()
            },
            UploadFilter {
                username: text("ann"),
                ..completed()
            },
        ];
        for f in safe {
            assert!(f.generic_plan_is_safe(), "{f:?}");
            assert!(window(f.clone()).generic_plan_is_safe(), "{f:?} with a window");
        }
        let unsafe_ = [
            UploadFilter::default(),
            UploadFilter {
                status: Some(UploadStatus::Rejected),
                ..completed()
            },
            UploadFilter {
                status: Some(UploadStatus::Pending),
                user_id: text("u1"),
                ..completed()
            },
            UploadFilter {
                profile: text("avatar"),
                ..completed()
            },
            UploadFilter {
                content_type: text("image/png"),
                ..completed()
            },
            UploadFilter {
                profile: text("avatar"),
                content_type: text("image/*"),
                ..completed()
            },
            UploadFilter {
                profile: text("avatar"),
                content_type: text("image/png"),
                user_id: text("u1"),
                ..completed()
            },
            UploadFilter {
                user_id: text("u1"),
                username: text("ann"),
                ..completed()
            },
            UploadFilter {
                user_id: text("u1"),
                profile: text("avatar"),
                ..completed()
            },
            UploadFilter {
                source: Some(UploadSource::Callback),
                ..completed()
            },
            UploadFilter {
                bucket: text("b"),
                ..completed()
            },
            UploadFilter {
                key_prefix: text("chat/"),
                ..completed()
            },
            UploadFilter {
                min_size: Some(1),
                ..completed()
            },
            UploadFilter {
                profile: text("avatar"),
                content_type: text("image/png"),
                max_size: Some(1),
                ..completed()
            },
        ];
        for f in unsafe_ {
            assert!(!f.generic_plan_is_safe(), "{f:?}");
            assert!(!window(f.clone()).generic_plan_is_safe(), "{f:?} with a window");
        }
    }
}
