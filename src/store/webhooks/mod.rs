//! Webhooks in the store: endpoints, the outbox of upload events, deliveries and attempts.
//!
//! An event row is written by the statement's own transaction wherever a record changes
//! ([`outbox`]); a delivery worker fans each event out to the subscribed endpoints and leases due
//! deliveries, so that several instances never send one at the same time.

pub mod outbox;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::StoreError;

pub use outbox::{EventType, NewEvent};

/// A registered receiver.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WebhookEndpoint {
    pub id: String,
    pub url: String,
    pub description: String,
    /// Empty: every event type.
    pub event_types: Vec<String>,
    /// Empty: every profile.
    pub profiles: Vec<String>,
    /// `whsec_...`; shown once when made, never serialised.
    #[serde(skip)]
    pub secret: String,
    /// The secret before the last rotation, still used to sign until `previous_secret_until`.
    #[serde(skip)]
    pub previous_secret: Option<String>,
    #[serde(serialize_with = "super::timestamp::serialize_option")]
    pub previous_secret_until: Option<DateTime<Utc>>,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    #[serde(serialize_with = "super::timestamp::serialize_option")]
    pub failing_since: Option<DateTime<Utc>>,
    #[serde(serialize_with = "super::timestamp::serialize")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "super::timestamp::serialize")]
    pub updated_at: DateTime<Utc>,
}

impl WebhookEndpoint {
    /// Whether this endpoint wants `event` (an enabled endpoint with matching filters).
    pub fn wants(&self, event: &EventSummary) -> bool {
        self.enabled
            && (self.event_types.is_empty() || self.event_types.contains(&event.event_type))
            && (self.profiles.is_empty() || self.profiles.contains(&event.profile))
    }
}

/// An event without its payload: what fan-out and replay select by.
#[derive(Debug, Clone, PartialEq)]
pub struct EventSummary {
    pub id: String,
    pub event_type: String,
    pub profile: String,
    pub created_at: DateTime<Utc>,
}

/// A delivery leased to this instance, with what to send.
#[derive(Debug, Clone)]
pub struct DueDelivery {
    pub event_id: String,
    pub endpoint_id: String,
    /// Attempts made before this one.
    pub attempts: i32,
    pub payload: String,
    pub event_created_at: DateTime<Utc>,
}

/// One attempt, as the attempts API lists it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WebhookAttempt {
    pub event_id: String,
    pub attempt: i32,
    #[serde(serialize_with = "super::timestamp::serialize")]
    pub attempted_at: DateTime<Utc>,
    pub status_code: Option<i32>,
    pub latency_ms: i64,
    /// `delivered`, `retrying` or `failed`.
    pub outcome: String,
    pub error: Option<String>,
}

/// What an attempt does to its delivery and endpoint.
#[derive(Debug, Clone, PartialEq)]
pub enum AttemptResult {
    Delivered,
    RetryAt(DateTime<Utc>),
    /// Retries exhausted: the delivery is `failed`; the endpoint is disabled with `reason` if
    /// nothing reached it since `disable_if_failing_since`.
    Failed {
        disable_if_failing_since: DateTime<Utc>,
        reason: String,
    },
    /// The receiver asked to be removed (410 Gone): failed, and the endpoint disabled.
    Gone {
        reason: String,
    },
}

impl AttemptResult {
    pub fn outcome(&self) -> &'static str {
        match self {
            AttemptResult::Delivered => "delivered",
            AttemptResult::RetryAt(_) => "retrying",
            AttemptResult::Failed { .. } | AttemptResult::Gone { .. } => "failed",
        }
    }
}

/// Undelivered events of one endpoint (metrics).
#[derive(Debug, Clone, PartialEq)]
pub struct Backlog {
    pub endpoint_id: String,
    pub pending: i64,
    pub oldest: Option<DateTime<Utc>>,
}

#[async_trait]
pub trait WebhookStore {
    async fn insert_endpoint(&self, endpoint: &WebhookEndpoint) -> Result<(), StoreError>;
    async fn list_endpoints(&self) -> Result<Vec<WebhookEndpoint>, StoreError>;
    async fn get_endpoint(&self, id: &str) -> Result<WebhookEndpoint, StoreError>;
    /// Writes every field but `id` and `created_at`; `NotFound` for an unknown id.
    async fn update_endpoint(&self, endpoint: &WebhookEndpoint) -> Result<(), StoreError>;
    /// Deletes the endpoint with its deliveries and attempts; `NotFound` for an unknown id.
    async fn delete_endpoint(&self, id: &str) -> Result<(), StoreError>;

    /// Events no delivery was made for yet, oldest first.
    async fn unfanned_events(&self, limit: u32) -> Result<Vec<EventSummary>, StoreError>;
    /// Creates each event's deliveries to its endpoints, due at `now`, and marks the events
    /// fanned out, in one transaction; idempotent (two instances may race).
    async fn fan_out(&self, events: &[(String, Vec<String>)], now: DateTime<Utc>) -> Result<(), StoreError>;

    /// Leases up to `limit` deliveries due at `now` to enabled endpoints, that no other instance
    /// holds, until `lease_until`.
    async fn lease_due(
        &self,
        now: DateTime<Utc>,
        limit: u32,
        lease_until: DateTime<Utc>,
        owner: &str,
    ) -> Result<Vec<DueDelivery>, StoreError>;
    /// Records an attempt and its effect, in one transaction; `false` (nothing written) when
    /// `owner` no longer holds the lease (a replay reset the delivery meanwhile).
    async fn finish_attempt(
        &self,
        owner: &str,
        delivery: &DueDelivery,
        attempt: &WebhookAttempt,
        result: &AttemptResult,
    ) -> Result<bool, StoreError>;
    /// Gives up this instance's leases (shutdown), so another instance need not wait them out.
    async fn release_leases(&self, owner: &str) -> Result<(), StoreError>;

    /// An endpoint's latest attempts, newest first.
    async fn recent_attempts(&self, endpoint_id: &str, limit: u32)
        -> Result<Vec<WebhookAttempt>, StoreError>;
    async fn get_event(&self, id: &str) -> Result<EventSummary, StoreError>;
    /// Events created in `[from, to)`, oldest first.
    async fn events_between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<EventSummary>, StoreError>;
    /// Makes these events due again for the endpoint (from its first attempt), creating the
    /// deliveries that do not exist; returns how many.
    async fn replay(
        &self,
        endpoint_id: &str,
        event_ids: &[String],
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError>;
    /// Pending deliveries per endpoint, with their oldest event's time.
    async fn backlog(&self) -> Result<Vec<Backlog>, StoreError>;
}

/// A comma-separated list column as its items.
pub(in crate::store) fn split_list(s: &str) -> Vec<String> {
    s.split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(types: &[&str], profiles: &[&str]) -> WebhookEndpoint {
        let now = Utc::now();
        WebhookEndpoint {
            id: "e".into(),
            url: "https://example.com".into(),
            description: String::new(),
            event_types: types.iter().map(|s| s.to_string()).collect(),
            profiles: profiles.iter().map(|s| s.to_string()).collect(),
            secret: String::new(),
            previous_secret: None,
            previous_secret_until: None,
            enabled: true,
            disabled_reason: None,
            failing_since: None,
            created_at: now,
            updated_at: now,
        }
    }

    #[test]
    fn filters_match_by_type_and_profile_and_empty_means_all() {
        let event = EventSummary {
            id: "evt".into(),
            event_type: "upload.completed".into(),
            profile: "avatar".into(),
            created_at: Utc::now(),
        };
        assert!(endpoint(&[], &[]).wants(&event));
        assert!(endpoint(&["upload.completed"], &["avatar"]).wants(&event));
        assert!(!endpoint(&["upload.rejected"], &[]).wants(&event));
        assert!(!endpoint(&[], &["document"]).wants(&event));
        let mut disabled = endpoint(&[], &[]);
        disabled.enabled = false;
        assert!(!disabled.wants(&event));
    }

    #[test]
    fn list_columns_split_on_commas() {
        assert_eq!(split_list(""), Vec::<String>::new());
        assert_eq!(split_list("a,b"), vec!["a", "b"]);
    }
}
