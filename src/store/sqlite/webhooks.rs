use super::SqliteStore;

crate::store::webhooks::sql::impl_webhook_store!(SqliteStore, sqlx::sqlite::SqliteRow, "");
