//! Per-user upload quotas of a profile (`[profiles.NAME.quota]`), checked at issuance against the
//! uploads table: one indexed aggregate over the user's rows of that profile.
//!
//! What counts: completed uploads at their size, pending credentials at the size their request
//! declared (an unused credential stops counting once the reconciler marks it abandoned), and
//! nothing for rejected or abandoned ones. Days are UTC days of issue.
//!
//! Known slack: the check reads the table and the credential is written after it, so requests
//! of one user racing each other (or a credential whose ledger row is still being written) can
//! each pass on the same reading. A user can overshoot a quota by the credentials they get
//! within those few milliseconds, which the per-user issuance rate limit keeps small.

use chrono::{DateTime, Days, SecondsFormat, Utc};
use serde_json::json;

use crate::error::ApiError;
use crate::settings::QuotaSettings;
use crate::store::{DynStore, ProfileUsage};

/// The start of `now`'s UTC day, and of the next (when the daily counts reset).
pub fn day_bounds(now: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
    let start = now.date_naive().and_time(chrono::NaiveTime::MIN).and_utc();
    (start, start + Days::new(1))
}

/// What one user has used of `profile` at `now`.
pub async fn usage(
    store: &DynStore,
    user_id: &str,
    profile: &str,
    now: DateTime<Utc>,
) -> Result<ProfileUsage, ApiError> {
    let rows = store
        .upload_usage(user_id, Some(profile), day_bounds(now).0)
        .await?;
    Ok(rows.into_iter().next().unwrap_or(ProfileUsage {
        profile: profile.to_string(),
        ..ProfileUsage::default()
    }))
}

/// The first limit that one more upload of `size` bytes would break, with when it resets.
pub fn first_exceeded(
    quota: &QuotaSettings,
    used: &ProfileUsage,
    size: i64,
    now: DateTime<Utc>,
) -> Option<(&'static str, u64, Option<DateTime<Utc>>)> {
    let tomorrow = Some(day_bounds(now).1);
    let over = |limit: Option<u64>, used: i64, adding: i64| {
        limit.filter(|l| used.saturating_add(adding) > i64::try_from(*l).unwrap_or(i64::MAX))
    };
    if let Some(l) = over(quota.files_per_day, used.files_today, 1) {
        return Some(("files_per_day", l, tomorrow));
    }
    if let Some(l) = over(quota.bytes_per_day, used.bytes_today, size) {
        return Some(("bytes_per_day", l, tomorrow));
    }
    over(quota.bytes_total, used.bytes_total, size).map(|l| ("bytes_total", l, None))
}

/// Refuses one more upload of `size` bytes under `profile` when it would break a limit:
/// `429 quota_exceeded` naming the limit and when it resets (`Retry-After`, `resets_at`).
pub async fn check(
    store: &DynStore,
    user_id: &str,
    profile: &str,
    quota: &QuotaSettings,
    size: i64,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    let used = usage(store, user_id, profile, now).await?;
    let Some((limit, value, resets)) = first_exceeded(quota, &used, size, now) else {
        return Ok(());
    };
    let when = match resets {
        Some(at) => format!("it resets at {}", at.to_rfc3339_opts(SecondsFormat::Secs, true)),
        None => "it does not reset".to_string(),
    };
    let mut err = ApiError::too_many_requests(
        "quota_exceeded",
        format!("this upload would exceed the {limit} quota of profile {profile:?} ({value}); {when}"),
    );
    err.retry_after = resets.map(|at| (at - now).num_seconds().max(1) as u64);
    let details = json!({
        "limit": limit,
        "resets_at": resets.map(|at| at.to_rfc3339_opts(SecondsFormat::Secs, true)),
    });
    err.details = details.as_object().cloned().map(Box::new);
    Err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn limits_apply_in_order_and_daily_ones_reset_at_utc_midnight() {
        let now = at("2026-12-03T10:00:00Z");
        let quota = QuotaSettings {
            files_per_day: Some(2),
            bytes_per_day: Some(100),
            bytes_total: Some(1000),
        };
        let used = |files_today, bytes_today, bytes_total| ProfileUsage {
            files_today,
            bytes_today,
            bytes_total,
            ..ProfileUsage::default()
        };
        assert_eq!(first_exceeded(&quota, &used(1, 50, 500), 50, now), None);
        let midnight = Some(at("2026-12-04T00:00:00Z"));
        assert_eq!(
            first_exceeded(&quota, &used(2, 0, 0), 1, now),
            Some(("files_per_day", 2, midnight))
        );
        assert_eq!(
            first_exceeded(&quota, &used(1, 50, 500), 51, now),
            Some(("bytes_per_day", 100, midnight))
        );
        assert_eq!(
            first_exceeded(&quota, &used(0, 0, 990), 11, now),
            Some(("bytes_total", 1000, None))
        );
        assert_eq!(
            first_exceeded(&QuotaSettings::default(), &used(9, 9, 9), 9, now),
            None
        );
    }
}
