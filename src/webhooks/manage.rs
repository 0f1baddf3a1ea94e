//! What the management API and the CLI both do to endpoints: enable or disable one, and choose
//! the events a replay sends again.

use chrono::{DateTime, Utc};

use crate::store::webhooks::WebhookEndpoint;
use crate::store::{DynStore, StoreError};

/// Events one range replay may cover.
pub const MAX_REPLAY: u32 = 10_000;

#[derive(Debug, thiserror::Error)]
pub enum ManageError {
    #[error("no such webhook endpoint")]
    EndpointNotFound,
    #[error("no such event; event ids are the webhook-id header of deliveries")]
    EventNotFound,
    #[error("{0}")]
    InvalidRange(String),
    #[error(transparent)]
    Store(StoreError),
}

fn endpoint_error(err: StoreError) -> ManageError {
    match err {
        StoreError::NotFound => ManageError::EndpointNotFound,
        e => ManageError::Store(e),
    }
}

/// Which events to send again.
#[derive(Debug, Clone)]
pub enum Selection {
    Event(String),
    /// Every event of `[since, until)` the endpoint subscribes to (its filters, enabled or not).
    Range {
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    },
}

/// Makes the selected events due again for the endpoint, from its first attempt, with the same
/// event ids (receivers deduplicate on `webhook-id`); returns how many.
pub async fn replay(store: &DynStore, endpoint_id: &str, selection: Selection) -> Result<usize, ManageError> {
    let endpoint = store.get_endpoint(endpoint_id).await.map_err(endpoint_error)?;
    let ids = match selection {
        // Never an event id (Postgres cannot even compare text holding NUL): no query needed.
        Selection::Event(id) if !id.starts_with("evt_") || id.contains('\0') => {
            return Err(ManageError::EventNotFound)
        }
        Selection::Event(id) => {
            let event = store.get_event(&id).await.map_err(|e| match e {
                StoreError::NotFound => ManageError::EventNotFound,
                e => ManageError::Store(e),
            })?;
            vec![event.id]
        }
        Selection::Range { since, until } => {
            if until <= since {
                return Err(ManageError::InvalidRange("until must be after since".into()));
            }
            let events = store
                .events_between(since, until, MAX_REPLAY + 1)
                .await
                .map_err(ManageError::Store)?;
            if events.len() > MAX_REPLAY as usize {
                return Err(ManageError::InvalidRange(format!(
                    "the range holds more than {MAX_REPLAY} events; replay a shorter one"
                )));
            }
            let subscribed = WebhookEndpoint {
                enabled: true,
                ..endpoint.clone()
            };
            events
                .into_iter()
                .filter(|e| subscribed.wants(e))
                .map(|e| e.id)
                .collect()
        }
    };
    store
        .replay(&endpoint.id, &ids, Utc::now())
        .await
        .map_err(ManageError::Store)?;
    tracing::info!(endpoint_id = %endpoint.id, events = ids.len(), "webhook events replayed");
    Ok(ids.len())
}

/// Enables (clearing the reason and the failure streak) or disables an endpoint in memory.
pub fn set_enabled(endpoint: &mut WebhookEndpoint, enabled: bool, how: &str) {
    match (enabled, endpoint.enabled) {
        (true, false) => {
            endpoint.enabled = true;
            endpoint.disabled_reason = None;
            endpoint.failing_since = None;
        }
        (false, true) => {
            endpoint.enabled = false;
            endpoint.disabled_reason = Some(format!("disabled {how}"));
        }
        _ => {}
    }
}

/// Enables or disables an endpoint in the store.
pub async fn switch(
    store: &DynStore,
    id: &str,
    enabled: bool,
    how: &str,
) -> Result<WebhookEndpoint, ManageError> {
    let mut endpoint = store.get_endpoint(id).await.map_err(endpoint_error)?;
    set_enabled(&mut endpoint, enabled, how);
    endpoint.updated_at = Utc::now();
    store.update_endpoint(&endpoint).await.map_err(endpoint_error)?;
    Ok(endpoint)
}
