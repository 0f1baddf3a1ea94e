//! The embedded default store: a single file, WAL mode, one writer at a time. The shared SQL
//! (`store::sql`) in SQLite's dialect, plus what only SQLite does: its pragmas, multi-row
//! `VALUES` for pending rows (`uploads`), and times as fixed-width text (`time`).

mod time;
mod uploads;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::ConnectOptions;

use super::sql::Dialect;
use super::StoreError;
use crate::settings::DatabaseSettings;

pub(super) const DIALECT: Dialect = Dialect {
    // Times are `YYYY-MM-DDTHH:MM:SS.ffffffZ` text (see `time`): the day is the first ten bytes.
    day: "substr({col}, 1, 10)",
    // SQLite compares text bytewise (BINARY) already.
    bytewise: "",
    // One writer at a time: the `UPDATE` of a lease is its own lock.
    skip_locked: "",
    // One process owns the file, so limits stay in its memory.
    id_rows: "SELECT value AS id FROM json_each({p})",
    shared_limits: false,
};

mod sql {
    crate::store::sql::impl_sql_store!(
        crate::store::sqlite::SqliteStore,
        sqlx::SqlitePool,
        sqlx::sqlite::SqliteRow,
        crate::store::sqlite::DIALECT,
        crate::store::Backend::Sqlite,
        crate::store::migrations::SQLITE
    );
}

pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    pub fn open(settings: &DatabaseSettings) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(&settings.url)
            .map_err(|e| StoreError::Other(format!("invalid database.url: {e}")))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(true)
            .log_statements(tracing::log::LevelFilter::Trace);
        // First run: the file's folder (e.g. `data/`) may not exist yet.
        if let Some(parent) = Path::new(options.get_filename()).parent() {
            if !parent.as_os_str().is_empty() {
                std::fs::create_dir_all(parent)
                    .map_err(|e| StoreError::Other(format!("cannot create {}: {e}", parent.display())))?;
            }
        }
        let pool = SqlitePoolOptions::new()
            .max_connections(settings.max_connections)
            .acquire_timeout(settings.connect_timeout())
            .connect_lazy_with(options);
        Ok(SqliteStore { pool })
    }

    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}

#[cfg(test)]
mod tests;
