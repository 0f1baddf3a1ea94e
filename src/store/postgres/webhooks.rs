//! The webhook queries of `store::webhooks::sql`, on this backend (only the lease differs).

use super::PostgresStore;

crate::store::webhooks::sql::impl_webhook_store!(
    PostgresStore,
    sqlx::postgres::PgRow,
    "FOR UPDATE OF w SKIP LOCKED"
);
