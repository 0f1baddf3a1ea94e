//! Request limits shared by every instance (login, registration, issuance), and the per-user usage
//! that upload quotas are checked against.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::StoreError;

/// A limit's state for one key: a count and an instant in µs since the epoch. What they mean is
/// the limit's own (see `crate::limits`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitState {
    pub count: i64,
    pub at: i64,
}

/// From the current state (`None`: none, or expired) and the time now (µs), the state to store
/// (`None`: forget it), or a refusal saying how long to wait.
pub type LimitStep<'a> =
    &'a (dyn Fn(Option<LimitState>, i64) -> Result<Option<LimitState>, Duration> + Send + Sync);

/// What one user has used of one profile.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProfileUsage {
    pub profile: String,
    pub files_today: i64,
    pub bytes_today: i64,
    pub files_total: i64,
    pub bytes_total: i64,
}

#[async_trait]
pub trait LimitStore: Send + Sync {
    /// Applies `step` to the state of (`name`, `key`) atomically with respect to every other
    /// instance; a stored state is kept until `expires_at` (µs). Only stores that share limits
    /// between instances implement it.
    async fn step_limit(
        &self,
        _name: &str,
        _key: &str,
        _now: i64,
        _expires_at: i64,
        _step: LimitStep<'_>,
    ) -> Result<Result<(), Duration>, StoreError> {
        Err(StoreError::Other("this store keeps no shared limits".into()))
    }

    /// Drops states that expired before `now` (µs).
    async fn purge_limits(&self, _now: i64) -> Result<u64, StoreError> {
        Ok(0)
    }

    /// A user's uploads per profile (one profile, or all): completed ones at their size, pending
    /// ones at their declared size, rejected and abandoned ones not at all; "today" is issued at
    /// or after `day_start`.
    async fn upload_usage(
        &self,
        user_id: &str,
        profile: Option<&str>,
        day_start: DateTime<Utc>,
    ) -> Result<Vec<ProfileUsage>, StoreError>;
}

/// The aggregate both backends run (both know `FILTER`): the start of the day, the user, the
/// profile or NULL. (Postgres sums `bigint` into `numeric`: cast back.)
pub(super) const USAGE: &str = "SELECT profile, \
       COUNT(*) FILTER (WHERE issued_at >= $1) AS files_today, \
       CAST(COALESCE(SUM(COALESCE(size, declared_size, 0)) FILTER (WHERE issued_at >= $1), 0) AS BIGINT) AS bytes_today, \
       COUNT(*) AS files_total, \
       CAST(COALESCE(SUM(COALESCE(size, declared_size, 0)), 0) AS BIGINT) AS bytes_total \
     FROM uploads \
     WHERE user_id = $2 AND ($3 IS NULL OR profile = $3) AND status IN ('pending', 'completed') \
     GROUP BY profile ORDER BY profile";

pub(super) fn usage_row<'r, R>(row: &'r R) -> Result<ProfileUsage, StoreError>
where
    R: sqlx::Row,
    usize: sqlx::ColumnIndex<R>,
    String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    Ok(ProfileUsage {
        profile: row.try_get(0)?,
        files_today: row.try_get(1)?,
        bytes_today: row.try_get(2)?,
        files_total: row.try_get(3)?,
        bytes_total: row.try_get(4)?,
    })
}
