//! The webhook queries of `store::webhooks::sql`, on this backend (only the lease differs).

use super::SqliteStore;

crate::store::webhooks::sql::impl_webhook_store!(SqliteStore, sqlx::sqlite::SqliteRow, "");
