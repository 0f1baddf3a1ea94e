//! Storage: one trait, a Postgres and a SQLite implementation. The only door to SQL.
//!
//! The backend is chosen once from the URL scheme. Each query is written once (`sql`, in each
//! backend's small dialect); `postgres/` and `sqlite/` hold only what differs. Each backend has
//! its migrations (`migrations/postgres`, `migrations/sqlite`, file names paired); the shared
//! integration suite runs on both and is what proves them equivalent.

mod api_keys;
pub mod health;
mod limits;
mod migrations;
mod postgres;
mod records;
mod sql;
mod sqlite;
pub mod timestamp;
mod upload_row;
mod uploads;
pub mod users;
pub mod webhooks;

use std::sync::Arc;

use async_trait::async_trait;

use crate::settings::DatabaseSettings;

pub use api_keys::{ApiKeyRecord, ApiKeyStore};
pub use health::DbHealth;
pub use limits::{LimitState, LimitStep, LimitStore, ProfileUsage};
pub use postgres::PostgresStore;
pub use records::{PageCursor, RecordStore, StatsGroup, StatsRow, UploadFilter};
pub use sqlite::SqliteStore;
pub use uploads::{
    CompletedUpload, PendingUpload, Recorded, UploadRecord, UploadSource, UploadStatus, UploadStore,
    UploadVersion,
};
pub use users::{RefreshToken, User, UserStore};
pub use webhooks::WebhookStore;

/// What went wrong, in the terms callers act on: a missing row, a uniqueness conflict, or a
/// database that cannot be reached right now (the callback spool keys off the last one).
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("database unavailable: {0}")]
    Unavailable(Cause),
    #[error("database error: {0}")]
    Other(Cause),
}

/// A cause kept as the error it is (downcastable), for the log line of the response it turns into.
/// Its text is part of the error's own message, so it is not also the error's `source()`: chains
/// printed by anyhow or the access log would show it twice.
pub type Cause = std::sync::Arc<dyn std::error::Error + Send + Sync>;

impl StoreError {
    pub fn unavailable(cause: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        StoreError::Unavailable(cause.into().into())
    }

    pub fn other(cause: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        StoreError::Other(cause.into().into())
    }

    pub fn is_unavailable(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        match err {
            sqlx::Error::RowNotFound => StoreError::NotFound,
            // A protocol error is what a connection cut mid-handshake or mid-query looks like.
            sqlx::Error::Io(_)
            | sqlx::Error::Protocol(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Tls(_)
            | sqlx::Error::WorkerCrashed => StoreError::unavailable(err),
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                StoreError::Conflict(db.message().to_string())
            }
            // Postgres admin shutdown / cannot connect now: transient.
            sqlx::Error::Database(db)
                if db
                    .code()
                    .is_some_and(|c| c.starts_with("57P") || c.starts_with("08")) =>
            {
                StoreError::unavailable(sqlx::Error::Database(db))
            }
            other => StoreError::other(other),
        }
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(err: sqlx::migrate::MigrateError) -> Self {
        match err {
            sqlx::migrate::MigrateError::Execute(inner) => inner.into(),
            other => StoreError::other(other),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Postgres => "postgres",
            Backend::Sqlite => "sqlite",
        }
    }
}

/// Everything the service stores; each domain adds its own trait (`UserStore`, ...) as a supertrait.
#[async_trait]
pub trait Store:
    UserStore + UploadStore + RecordStore + ApiKeyStore + LimitStore + WebhookStore + Send + Sync + 'static
{
    fn backend(&self) -> Backend;

    /// Applies pending migrations.
    async fn migrate(&self) -> Result<(), StoreError>;

    /// A cheap round trip, for readiness.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Pool size and idle connections, for metrics.
    fn pool_status(&self) -> (u32, usize);
}

pub type DynStore = Arc<dyn Store>;

/// Opens the store named by the URL without waiting for the database: the service must start
/// (and keep issuing credentials) while the database is away.
pub fn open(settings: &DatabaseSettings) -> Result<DynStore, StoreError> {
    if settings.url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStore::open(settings)?))
    } else {
        Ok(Arc::new(PostgresStore::open(settings)?))
    }
}
