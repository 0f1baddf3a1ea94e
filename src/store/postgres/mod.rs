//! The production store: the shared SQL (`store::sql`) in Postgres' dialect, plus what only
//! Postgres does: `UNNEST` batches and the group commit of completions (`uploads`,
//! `group_commit`), and its connection setup.

mod group_commit;
mod uploads;

use std::str::FromStr;

use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::postgres::{PgArgumentBuffer, PgConnectOptions, PgPool, PgPoolOptions, PgTypeInfo};
use sqlx::{ConnectOptions, Encode, Postgres, Type};

use super::sql::{Dialect, SqlTime};
use super::StoreError;
use crate::settings::DatabaseSettings;

pub(super) const DIALECT: Dialect = Dialect {
    // Grouped by the truncated time and formatted once per day: `to_char` on every row was most
    // of a statistics query's time.
    day: "date_trunc('day', {col} AT TIME ZONE 'UTC')",
    day_text: "to_char({day}, 'YYYY-MM-DD')",
    bytewise: " COLLATE \"C\"",
    skip_locked: "FOR UPDATE OF {table} SKIP LOCKED",
    id_rows: "SELECT jsonb_array_elements_text({p}::jsonb) AS id",
    shared_limits: true,
};

mod sql {
    crate::store::sql::impl_sql_store!(
        crate::store::postgres::PostgresStore,
        sqlx::PgPool,
        sqlx::postgres::PgRow,
        crate::store::postgres::DIALECT,
        crate::store::Backend::Postgres,
        crate::store::migrations::POSTGRES
    );
}

/// A `timestamptz`, as chrono's own encoding writes it (microseconds).
impl Type<Postgres> for SqlTime {
    fn type_info() -> PgTypeInfo {
        <chrono::DateTime<chrono::Utc> as Type<Postgres>>::type_info()
    }
}

impl Encode<'_, Postgres> for SqlTime {
    fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
        <chrono::DateTime<chrono::Utc> as Encode<Postgres>>::encode_by_ref(&self.0, buf)
    }
}

pub struct PostgresStore {
    pool: PgPool,
    /// Batches concurrent completions into one statement and commit; see `group_commit`.
    group_commit: Option<group_commit::GroupCommit>,
}

impl PostgresStore {
    /// sqlx's migrator takes a Postgres advisory lock itself.
    pub(super) async fn migration_lock(&self) -> Result<Option<std::fs::File>, StoreError> {
        Ok(None)
    }

    pub fn open(settings: &DatabaseSettings) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(&settings.url)
            .map_err(|e| StoreError::other(format!("invalid database.url: {e}")))?
            .log_statements(tracing::log::LevelFilter::Trace);
        let pool = PgPoolOptions::new()
            .max_connections(settings.max_connections)
            // sqlx already pings every connection when it goes back to the pool; a second ping
            // on the way out made each query three round trips (a fifth of the callback path's
            // CPU in the load benchmark). A connection that died while idle fails its query,
            // which is `Unavailable` like any outage: the callback is spooled, a read gets 503.
            .test_before_acquire(false)
            // Every statement planned for its own values. Postgres otherwise switches a prepared
            // statement to one generic plan after five runs; for record filters that plan cannot
            // tell `image/*` over one profile (every row matches) from a rare type, and took a
            // content-type index for the former: 500 ms pages in the load benchmark. Planning the
            // hot statements (a key lookup, batched inserts) costs microseconds; parsing a
            // records query afresh each time (unprepared) cost more than planning it. A `SET`
            // rather than a startup option: connection poolers refuse unknown startup options.
            .after_connect(|conn, _| {
                Box::pin(async move {
                    sqlx::query("SET plan_cache_mode = force_custom_plan")
                        .execute(conn)
                        .await
                        .map(|_| ())
                })
            })
            .acquire_timeout(settings.connect_timeout())
            .connect_lazy_with(options);
        Ok(PostgresStore {
            group_commit: group_commit::GroupCommit::start(pool.clone()),
            pool,
        })
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}
