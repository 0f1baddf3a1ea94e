//! Webhook delivery (`[webhooks]`).

use std::time::Duration;

use serde::Deserialize;

use super::{invalid, AppEnv, SettingsError};

/// The Standard Webhooks schedule: delays before each attempt in milliseconds (at once, then 5 s,
/// 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h, 24 h; the last ~75 h after the first).
pub const DEFAULT_RETRY_SCHEDULE_MS: [u64; 10] = [
    0, 5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 50_400_000, 72_000_000, 86_400_000,
];

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct WebhookSettings {
    /// Whether this instance runs the delivery worker (any number of instances may).
    pub deliver: bool,
    /// How often the worker looks for events and due retries.
    pub poll_interval_ms: u64,
    /// A receiver that has not answered 2xx within this is a failed attempt (at most 30 s).
    pub timeout_ms: u64,
    /// Delay before each attempt, the first being the first attempt; after the last the event is
    /// `failed`. The default is the Standard Webhooks schedule (about 3 days).
    pub retry_schedule_ms: Vec<u64>,
    /// Deliveries sent at once by one instance.
    pub concurrency: u32,
    /// How long an instance holds a delivery it is sending; must outlast `timeout_ms`.
    pub lease_secs: u64,
    /// Allows `http` and loopback/private/link-local receivers: development and tests only,
    /// refused in production.
    pub allow_private_targets: bool,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        WebhookSettings {
            deliver: true,
            poll_interval_ms: 1000,
            timeout_ms: 15_000,
            retry_schedule_ms: DEFAULT_RETRY_SCHEDULE_MS.to_vec(),
            concurrency: 16,
            lease_secs: 60,
            allow_private_targets: false,
        }
    }
}

impl WebhookSettings {
    pub fn poll_interval(&self) -> Duration {
        Duration::from_millis(self.poll_interval_ms.max(10))
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }

    pub(super) fn validate(&self, env: AppEnv, problems: &mut Vec<SettingsError>) {
        let mut check = |ok: bool, key: &str, reason: &str| {
            if !ok {
                problems.push(invalid(key, reason));
            }
        };
        check(
            !(env == AppEnv::Production && self.allow_private_targets),
            "webhooks.allow_private_targets",
            "is for development only; set APP__WEBHOOKS__ALLOW_PRIVATE_TARGETS=false in production",
        );
        check(
            (100..=30_000).contains(&self.timeout_ms),
            "webhooks.timeout_ms",
            "must be between 100 and 30000",
        );
        check(
            !self.retry_schedule_ms.is_empty() && self.retry_schedule_ms.len() <= 50,
            "webhooks.retry_schedule_ms",
            "must list 1 to 50 delays (the first is the first attempt, usually 0)",
        );
        check(
            self.lease_secs * 1000 >= self.timeout_ms + 5_000,
            "webhooks.lease_secs",
            "must outlast webhooks.timeout_ms by at least 5 s",
        );
        check(
            (1..=256).contains(&self.concurrency),
            "webhooks.concurrency",
            "must be between 1 and 256",
        );
    }
}
