//! The webhook queries, one text for both backends (see [`super`]); every time is bound from
//! Rust. Only the lease (the dialect's `SKIP LOCKED`) and a bound list of ids (the dialect's
//! `id_rows`) differ.

/// Leases due deliveries; `{lock}` is the dialect's `SKIP LOCKED` of the deliveries (`w`), not of
/// the endpoints they join.
pub const LEASE_DUE: &str = "UPDATE webhook_deliveries SET lease_until = $1, lease_owner = $2
     WHERE (event_id, endpoint_id) IN (
         SELECT w.event_id, w.endpoint_id FROM webhook_deliveries w
         JOIN webhook_endpoints e ON e.id = w.endpoint_id
         WHERE w.status = 'pending' AND w.next_attempt_at <= $3
           AND (w.lease_until IS NULL OR w.lease_until < $3) AND e.enabled
         ORDER BY w.next_attempt_at LIMIT $4 {lock})
     RETURNING event_id, endpoint_id, attempts,
         (SELECT payload FROM webhook_events v WHERE v.id = webhook_deliveries.event_id),
         (SELECT created_at FROM webhook_events v WHERE v.id = webhook_deliveries.event_id)";

pub const ENDPOINT_COLUMNS: &str = "id, url, description, event_types, profiles, secret, previous_secret, \
     previous_secret_until, enabled, disabled_reason, failing_since, created_at, updated_at";

macro_rules! impl_webhook_store {
    ($store:ty, $row:ty, $dialect:expr) => {
        use async_trait::async_trait;
        use chrono::{DateTime, Utc};
        use sqlx::Row;

        use crate::store::sql::webhooks::{ENDPOINT_COLUMNS, LEASE_DUE};
        use crate::store::sql::{id_list, opt, SqlTime};
        use crate::store::webhooks::{
            split_list, AttemptResult, Backlog, DueDelivery, EventSummary, WebhookAttempt, WebhookEndpoint,
            WebhookStore,
        };
        use crate::store::StoreError;

        fn to_endpoint(row: &$row) -> Result<WebhookEndpoint, StoreError> {
            Ok(WebhookEndpoint {
                id: row.try_get(0)?,
                url: row.try_get(1)?,
                description: row.try_get(2)?,
                event_types: split_list(row.try_get(3)?),
                profiles: split_list(row.try_get(4)?),
                secret: row.try_get(5)?,
                previous_secret: row.try_get(6)?,
                previous_secret_until: row.try_get(7)?,
                enabled: row.try_get(8)?,
                disabled_reason: row.try_get(9)?,
                failing_since: row.try_get(10)?,
                created_at: row.try_get(11)?,
                updated_at: row.try_get(12)?,
            })
        }

        fn to_summary(row: &$row) -> Result<EventSummary, StoreError> {
            Ok(EventSummary {
                id: row.try_get(0)?,
                event_type: row.try_get(1)?,
                profile: row.try_get(2)?,
                created_at: row.try_get(3)?,
            })
        }

        const SUMMARY: &str = "SELECT id, event_type, profile, created_at FROM webhook_events";

        #[async_trait]
        impl WebhookStore for $store {
            async fn insert_endpoint(&self, e: &WebhookEndpoint) -> Result<(), StoreError> {
                sqlx::query(&format!(
                    "INSERT INTO webhook_endpoints ({ENDPOINT_COLUMNS})
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
                ))
                .bind(&e.id)
                .bind(&e.url)
                .bind(&e.description)
                .bind(e.event_types.join(","))
                .bind(e.profiles.join(","))
                .bind(&e.secret)
                .bind(&e.previous_secret)
                .bind(opt(e.previous_secret_until))
                .bind(e.enabled)
                .bind(&e.disabled_reason)
                .bind(opt(e.failing_since))
                .bind(SqlTime(e.created_at))
                .bind(SqlTime(e.updated_at))
                .execute(self.pool())
                .await?;
                Ok(())
            }

            async fn list_endpoints(&self) -> Result<Vec<WebhookEndpoint>, StoreError> {
                let sql = format!("SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints ORDER BY created_at, id");
                let rows = sqlx::query(&sql).fetch_all(self.pool()).await?;
                rows.iter().map(to_endpoint).collect()
            }

            async fn get_endpoint(&self, id: &str) -> Result<WebhookEndpoint, StoreError> {
                let sql = format!("SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE id = $1");
                let row = sqlx::query(&sql).bind(id).fetch_one(self.pool()).await?;
                to_endpoint(&row)
            }

            async fn update_endpoint(&self, e: &WebhookEndpoint) -> Result<(), StoreError> {
                let done = sqlx::query(
                    "UPDATE webhook_endpoints SET url = $1, description = $2, event_types = $3, profiles = $4,
                         secret = $5, previous_secret = $6, previous_secret_until = $7, enabled = $8,
                         disabled_reason = $9, failing_since = $10, updated_at = $11
                     WHERE id = $12",
                )
                .bind(&e.url)
                .bind(&e.description)
                .bind(e.event_types.join(","))
                .bind(e.profiles.join(","))
                .bind(&e.secret)
                .bind(&e.previous_secret)
                .bind(opt(e.previous_secret_until))
                .bind(e.enabled)
                .bind(&e.disabled_reason)
                .bind(opt(e.failing_since))
                .bind(SqlTime(e.updated_at))
                .bind(&e.id)
                .execute(self.pool())
                .await?;
                match done.rows_affected() {
                    0 => Err(StoreError::NotFound),
                    _ => Ok(()),
                }
            }

            async fn delete_endpoint(&self, id: &str) -> Result<(), StoreError> {
                let done = sqlx::query("DELETE FROM webhook_endpoints WHERE id = $1")
                    .bind(id)
                    .execute(self.pool())
                    .await?;
                match done.rows_affected() {
                    0 => Err(StoreError::NotFound),
                    _ => Ok(()),
                }
            }

            async fn unfanned_events(&self, limit: u32) -> Result<Vec<EventSummary>, StoreError> {
                // Event ids are UUIDv7: their order is the order of creation.
                let rows = sqlx::query(
                    "SELECT e.id, e.event_type, e.profile, e.created_at
                     FROM webhook_fanout f JOIN webhook_events e ON e.id = f.event_id
                     ORDER BY f.event_id LIMIT $1",
                )
                    .bind(i64::from(limit))
                    .fetch_all(self.pool())
                    .await?;
                rows.iter().map(to_summary).collect()
            }

            /// One statement per subscribed endpoint and one to take the events off the queue,
            /// however many events: under load the queue is fed by every completed upload.
            async fn fan_out(&self, events: &[(String, Vec<String>)], now: DateTime<Utc>) -> Result<(), StoreError> {
                let mut per_endpoint: std::collections::BTreeMap<&str, Vec<&str>> = Default::default();
                for (event_id, endpoint_ids) in events {
                    for endpoint_id in endpoint_ids {
                        per_endpoint.entry(endpoint_id).or_default().push(event_id);
                    }
                }
                let mut tx = self.pool().begin().await?;
                for (endpoint_id, event_ids) in per_endpoint {
                    sqlx::query(&format!(
                        "INSERT INTO webhook_deliveries (event_id, endpoint_id, status, next_attempt_at, updated_at)
                         SELECT ids.id, $1, 'pending', $2, $2 FROM ({}) AS ids
                         WHERE true -- SQLite needs a WHERE before an upsert's ON CONFLICT
                         ON CONFLICT (event_id, endpoint_id) DO NOTHING",
                        $dialect.id_rows("$3")
                    ))
                    .bind(endpoint_id)
                    .bind(SqlTime(now))
                    .bind(id_list(event_ids))
                    .execute(&mut *tx)
                    .await?;
                }
                sqlx::query(&format!("DELETE FROM webhook_fanout WHERE event_id IN ({})", $dialect.id_rows("$1")))
                    .bind(id_list(events.iter().map(|(id, _)| id.as_str())))
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(())
            }

            #[tracing::instrument(skip_all)]
            async fn lease_due(
                &self,
                now: DateTime<Utc>,
                limit: u32,
                lease_until: DateTime<Utc>,
                owner: &str,
            ) -> Result<Vec<DueDelivery>, StoreError> {
                let sql = LEASE_DUE.replace("{lock}", &$dialect.skip_locked("w"));
                let rows = sqlx::query(&sql)
                    .bind(SqlTime(lease_until))
                    .bind(owner)
                    .bind(SqlTime(now))
                    .bind(i64::from(limit))
                    .fetch_all(self.pool())
                    .await?;
                rows.iter()
                    .map(|row| {
                        Ok(DueDelivery {
                            event_id: row.try_get(0)?,
                            endpoint_id: row.try_get(1)?,
                            attempts: row.try_get(2)?,
                            payload: row.try_get(3)?,
                            event_created_at: row.try_get(4)?,
                        })
                    })
                    .collect()
            }

            #[tracing::instrument(skip_all, fields(event_id = %delivery.event_id))]
            async fn finish_attempt(
                &self,
                owner: &str,
                delivery: &DueDelivery,
                attempt: &WebhookAttempt,
                result: &AttemptResult,
            ) -> Result<bool, StoreError> {
                let (status, next) = match result {
                    AttemptResult::Delivered => ("delivered", attempt.attempted_at),
                    AttemptResult::RetryAt(at) => ("pending", *at),
                    AttemptResult::Failed { .. } | AttemptResult::Gone { .. } => ("failed", attempt.attempted_at),
                };
                let mut tx = self.pool().begin().await?;
                let done = sqlx::query(
                    "UPDATE webhook_deliveries SET status = $1, attempts = $2, next_attempt_at = $3,
                         lease_until = NULL, lease_owner = NULL, updated_at = $4
                     WHERE event_id = $5 AND endpoint_id = $6 AND lease_owner = $7",
                )
                .bind(status)
                .bind(attempt.attempt)
                .bind(SqlTime(next))
                .bind(SqlTime(attempt.attempted_at))
                .bind(&delivery.event_id)
                .bind(&delivery.endpoint_id)
                .bind(owner)
                .execute(&mut *tx)
                .await?;
                if done.rows_affected() == 0 {
                    return Ok(false);
                }
                sqlx::query(
                    "INSERT INTO webhook_attempts
                         (endpoint_id, event_id, attempt, attempted_at, status_code, latency_ms, outcome, error)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(&delivery.endpoint_id)
                .bind(&attempt.event_id)
                .bind(attempt.attempt)
                .bind(SqlTime(attempt.attempted_at))
                .bind(attempt.status_code)
                .bind(attempt.latency_ms)
                .bind(&attempt.outcome)
                .bind(&attempt.error)
                .execute(&mut *tx)
                .await?;
                let endpoint = match result {
                    AttemptResult::Delivered => sqlx::query(
                        "UPDATE webhook_endpoints SET failing_since = NULL WHERE id = $1 AND failing_since IS NOT NULL",
                    )
                    .bind(&delivery.endpoint_id),
                    AttemptResult::RetryAt(_) => sqlx::query(
                        "UPDATE webhook_endpoints SET failing_since = COALESCE(failing_since, $1) WHERE id = $2",
                    )
                    .bind(SqlTime(attempt.attempted_at))
                    .bind(&delivery.endpoint_id),
                    AttemptResult::Failed {
                        disable_if_failing_since,
                        reason,
                    } => sqlx::query(
                        "UPDATE webhook_endpoints SET failing_since = COALESCE(failing_since, $1),
                             enabled = CASE WHEN failing_since <= $2 THEN FALSE ELSE enabled END,
                             disabled_reason = CASE WHEN failing_since <= $2 THEN $3 ELSE disabled_reason END,
                             updated_at = CASE WHEN failing_since <= $2 THEN $1 ELSE updated_at END
                         WHERE id = $4",
                    )
                    .bind(SqlTime(attempt.attempted_at))
                    .bind(SqlTime(*disable_if_failing_since))
                    .bind(reason)
                    .bind(&delivery.endpoint_id),
                    AttemptResult::Gone { reason } => sqlx::query(
                        "UPDATE webhook_endpoints SET enabled = FALSE, disabled_reason = $1, updated_at = $2
                         WHERE id = $3",
                    )
                    .bind(reason)
                    .bind(SqlTime(attempt.attempted_at))
                    .bind(&delivery.endpoint_id),
                };
                endpoint.execute(&mut *tx).await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn release_leases(&self, owner: &str) -> Result<(), StoreError> {
                sqlx::query(
                    "UPDATE webhook_deliveries SET lease_until = NULL, lease_owner = NULL
                     WHERE lease_owner = $1 AND status = 'pending'",
                )
                .bind(owner)
                .execute(self.pool())
                .await?;
                Ok(())
            }

            async fn recent_attempts(
                &self,
                endpoint_id: &str,
                limit: u32,
            ) -> Result<Vec<WebhookAttempt>, StoreError> {
                let rows = sqlx::query(
                    "SELECT event_id, attempt, attempted_at, status_code, latency_ms, outcome, error
                     FROM webhook_attempts WHERE endpoint_id = $1 ORDER BY id DESC LIMIT $2",
                )
                .bind(endpoint_id)
                .bind(i64::from(limit))
                .fetch_all(self.pool())
                .await?;
                rows.iter()
                    .map(|row| {
                        Ok(WebhookAttempt {
                            event_id: row.try_get(0)?,
                            attempt: row.try_get(1)?,
                            attempted_at: row.try_get(2)?,
                            status_code: row.try_get(3)?,
                            latency_ms: row.try_get(4)?,
                            outcome: row.try_get(5)?,
                            error: row.try_get(6)?,
                        })
                    })
                    .collect()
            }

            async fn get_event(&self, id: &str) -> Result<EventSummary, StoreError> {
                let sql = format!("{SUMMARY} WHERE id = $1");
                let row = sqlx::query(&sql).bind(id).fetch_one(self.pool()).await?;
                to_summary(&row)
            }

            async fn events_between(
                &self,
                from: DateTime<Utc>,
                to: DateTime<Utc>,
                limit: u32,
            ) -> Result<Vec<EventSummary>, StoreError> {
                let sql = format!("{SUMMARY} WHERE created_at >= $1 AND created_at < $2 ORDER BY created_at LIMIT $3");
                let rows = sqlx::query(&sql)
                    .bind(SqlTime(from))
                    .bind(SqlTime(to))
                    .bind(i64::from(limit))
                    .fetch_all(self.pool())
                    .await?;
                rows.iter().map(to_summary).collect()
            }

            /// One statement for the whole selection (ids are distinct: they are the events' keys).
            async fn replay(
                &self,
                endpoint_id: &str,
                event_ids: &[String],
                now: DateTime<Utc>,
            ) -> Result<u64, StoreError> {
                let done = sqlx::query(&format!(
                    "INSERT INTO webhook_deliveries (event_id, endpoint_id, status, next_attempt_at, updated_at)
                     SELECT ids.id, $1, 'pending', $2, $2 FROM ({}) AS ids
                     WHERE true -- SQLite needs a WHERE before an upsert's ON CONFLICT
                     ON CONFLICT (event_id, endpoint_id) DO UPDATE SET status = 'pending', attempts = 0,
                         next_attempt_at = excluded.next_attempt_at, lease_until = NULL, lease_owner = NULL,
                         updated_at = excluded.updated_at",
                    $dialect.id_rows("$3")
                ))
                .bind(endpoint_id)
                .bind(SqlTime(now))
                .bind(id_list(event_ids.iter().map(String::as_str)))
                .execute(self.pool())
                .await?;
                Ok(done.rows_affected())
            }

            async fn backlog(&self) -> Result<Vec<Backlog>, StoreError> {
                let rows = sqlx::query(
                    "SELECT d.endpoint_id, COUNT(*), MIN(v.created_at)
                     FROM webhook_deliveries d JOIN webhook_events v ON v.id = d.event_id
                     WHERE d.status = 'pending' GROUP BY d.endpoint_id",
                )
                .fetch_all(self.pool())
                .await?;
                rows.iter()
                    .map(|row| {
                        Ok(Backlog {
                            endpoint_id: row.try_get(0)?,
                            pending: row.try_get(1)?,
                            oldest: row.try_get(2)?,
                        })
                    })
                    .collect()
            }
        }
    };
}

pub(crate) use impl_webhook_store;
