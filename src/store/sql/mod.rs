//! The SQL both backends run, written once.
//!
//! Each query is one text with `$n` placeholders, numbered in order of first use: Postgres reads
//! them as written, and SQLite, which numbers `$n` by first appearance, agrees (sqlx 0.8 also maps
//! `$n` by its number, so a text out of order would still bind right, but would read wrong to
//! anyone who knows SQLite). Each row has one mapper. A macro per domain writes the same
//! implementation for both stores, their row types and pools named (the pattern the webhook
//! queries started). Generic functions over `sqlx::Database` were the alternative; every query
//! would carry higher-ranked `Executor`/`Encode`/`Decode` bounds, and `async_trait` wants `Send`
//! futures from them; a concrete expansion per backend needs none and type-checks as plain code.
//!
//! What really differs is small and named: the [`Dialect`] each backend folder defines (day
//! bucketing, bytewise collation, `SKIP LOCKED`, shared limits), how a time is written
//! ([`SqlTime`]), and what each backend does on its own (Postgres' `UNNEST` batches and group
//! commit, SQLite's pragmas and its multi-row `VALUES`). JSON needs no dialect: sqlx binds and
//! reads a `serde_json::Value` as `jsonb` on Postgres and as text on SQLite.

pub(in crate::store) mod api_keys;
pub(in crate::store) mod limits;
pub(in crate::store) mod records;
pub(in crate::store) mod uploads;
pub(in crate::store) mod users;
pub(in crate::store) mod webhooks;

use chrono::{DateTime, Utc};

/// The few SQL fragments the backends write differently.
#[derive(Debug, Clone, Copy)]
pub struct Dialect {
    /// `column` (a timestamp) cut to its day in UTC, written with `{col}`: what statistics by day
    /// group by.
    pub day: &'static str,
    /// That day (`{day}`, as [`Self::day`] writes it) as `YYYY-MM-DD` text, once per group.
    pub day_text: &'static str,
    /// Appended to each side of a text comparison that must be bytewise (Postgres compares by
    /// the database's collation unless told otherwise).
    pub bytewise: &'static str,
    /// Ends the `SELECT` of a lease: concurrent workers each take other rows and none waits;
    /// `{table}` names the table whose rows are locked. Empty where the single writer makes the
    /// `UPDATE` itself the lock.
    pub skip_locked: &'static str,
    /// The rows (one column, `id`) of a JSON array of strings bound at `{p}`: a batch of ids in
    /// one statement, whatever its length.
    pub id_rows: &'static str,
    /// Whether request limits are shared through the `rate_limits` table (else they stay in the
    /// process's memory, see `crate::limits`).
    pub shared_limits: bool,
}

impl Dialect {
    pub fn day(&self, column: &str) -> String {
        self.day.replace("{col}", column)
    }

    pub fn day_text(&self, day: &str) -> String {
        self.day_text.replace("{day}", day)
    }

    pub fn id_rows(&self, placeholder: &str) -> String {
        self.id_rows.replace("{p}", placeholder)
    }

    pub fn skip_locked(&self, table: &str) -> String {
        self.skip_locked.replace("{table}", table)
    }
}

/// A time as the store writes it: `timestamptz` on Postgres; on SQLite RFC 3339 text of one fixed
/// width (`2026-12-03T10:00:00.123456Z`: six fraction digits, `Z`), so that text order is time
/// order and a bound value compares with a stored one character by character. Each backend's
/// folder has its `Encode`. Read back as `DateTime<Utc>`, which parses that form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SqlTime(pub DateTime<Utc>);

impl From<DateTime<Utc>> for SqlTime {
    fn from(at: DateTime<Utc>) -> Self {
        SqlTime(at)
    }
}

/// An optional time, as [`SqlTime`].
/// A batch of ids as one bound value, the JSON array the dialect's `id_rows` turns into rows.
pub fn id_list<'a>(ids: impl IntoIterator<Item = &'a str>) -> String {
    serde_json::Value::from_iter(ids).to_string()
}

pub fn opt(at: Option<DateTime<Utc>>) -> Option<SqlTime> {
    at.map(SqlTime)
}

/// Writes every domain's implementation for one backend, and `Store` itself: `$store` with its
/// `pool()`, its pool and row types, its [`Dialect`], its `Backend` and its embedded migrations.
/// Invoke it inside a module of its own; each domain gets a submodule there (the Postgres group
/// commit reaches into `uploads`).
macro_rules! impl_sql_store {
    ($store:ty, $pool:ty, $row:ty, $dialect:expr, $backend:expr, $migrations:expr) => {
        mod store {
            use async_trait::async_trait;

            use crate::store::{Backend, Store, StoreError};

            #[async_trait]
            impl Store for $store {
                fn backend(&self) -> Backend {
                    $backend
                }

                #[tracing::instrument(skip_all)]
                async fn migrate(&self) -> Result<(), StoreError> {
                    let _exclusive = self.migration_lock().await?;
                    $migrations.migrator().await?.run(self.pool()).await?;
                    Ok(())
                }

                fn pool_status(&self) -> (u32, usize) {
                    (self.pool().size(), self.pool().num_idle())
                }

                async fn ping(&self) -> Result<(), StoreError> {
                    sqlx::query("SELECT 1").execute(self.pool()).await?;
                    Ok(())
                }
            }
        }
        pub(in crate::store) mod api_keys {
            crate::store::sql::api_keys::impl_api_key_store!($store, $row);
        }
        pub(in crate::store) mod limits {
            crate::store::sql::limits::impl_limit_store!($store, $dialect);
        }
        pub(in crate::store) mod records {
            crate::store::sql::records::impl_record_store!($store, $row, $dialect);
        }
        pub(in crate::store) mod uploads {
            crate::store::sql::uploads::impl_upload_store!($store, $pool, $row, $dialect);
        }
        pub(in crate::store) mod users {
            crate::store::sql::users::impl_user_store!($store);
        }
        pub(in crate::store) mod webhooks {
            crate::store::sql::webhooks::impl_webhook_store!($store, $row, $dialect);
        }
    };
}

pub(crate) use impl_sql_store;
