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
    day_text: "{day}",
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
    /// `<database file>.migrate-lock`; none for an in-memory database.
    migration_lock: Option<std::path::PathBuf>,
}

impl SqliteStore {
    pub fn open(settings: &DatabaseSettings) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(&settings.url)
            .map_err(|e| StoreError::other(format!("invalid database.url: {e}")))?
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
                    .map_err(|e| StoreError::other(format!("cannot create {}: {e}", parent.display())))?;
            }
        }
        let file = options.get_filename();
        let migration_lock = (!file.as_os_str().is_empty() && file != Path::new(":memory:"))
            .then(|| std::path::PathBuf::from(format!("{}.migrate-lock", file.display())));
        let pool = SqlitePoolOptions::new()
            .max_connections(settings.max_connections)
            .acquire_timeout(settings.connect_timeout())
            .connect_lazy_with(options);
        Ok(SqliteStore { pool, migration_lock })
    }

    /// Held while migrating. sqlx takes an advisory lock on Postgres but none on SQLite, so two
    /// processes starting on a new file at once (the service and a CLI command, two instances)
    /// applied the same migration twice and one of them failed.
    pub(super) async fn migration_lock(&self) -> Result<Option<std::fs::File>, StoreError> {
        let Some(path) = self.migration_lock.clone() else {
            return Ok(None);
        };
        let locked = tokio::task::spawn_blocking(move || {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&path)?;
            file.lock()?;
            Ok::<_, std::io::Error>(file)
        })
        .await
        .map_err(StoreError::other)?
        .map_err(StoreError::other)?;
        Ok(Some(locked))
    }

    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// SQLite plans every statement once per connection whatever its values: one pool.
    pub(super) fn records_pool(&self, _generic_plan: bool) -> &SqlitePool {
        &self.pool
    }
}

#[cfg(test)]
mod tests;
