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
    /// Connections that plan a records query once (`plan_cache_mode = force_generic_plan`).
    records_generic: PgPool,
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
        // Every statement planned for its own values. Postgres otherwise switches a prepared
        // statement to one generic plan after five runs; for record filters that plan cannot
        // tell `image/*` over one profile (every row matches) from a rare type, and took a
        // content-type index for the former: 500 ms pages in the load benchmark. Planning the
        // hot statements (a key lookup, batched inserts) costs microseconds; parsing a records
        // query afresh each time (unprepared) cost more than planning it.
        let pool = connect_pool(
            settings,
            options.clone(),
            settings.max_connections,
            "force_custom_plan",
        );
        // Record pages whose filter one plan serves whatever its values keep that plan (see
        // `UploadFilter::generic_plan_is_safe`): planning was a third of Postgres's CPU per page.
        // The setting is per session, so these pages have connections of their own; half as many
        // as the main pool, opened when first needed.
        let records_generic = connect_pool(
            settings,
            options,
            settings.max_connections.div_ceil(2),
            "force_generic_plan",
        );
        Ok(PostgresStore {
            group_commit: group_commit::GroupCommit::start(pool.clone()),
            pool,
            records_generic,
        })
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Where a records query runs: `generic_plan` if one cached plan serves it.
    pub(super) fn records_pool(&self, generic_plan: bool) -> &PgPool {
        if generic_plan {
            &self.records_generic
        } else {
            &self.pool
        }
    }
}

/// A lazy pool of `size` connections, each with `plan_cache_mode` set to `plan_cache_mode`.
fn connect_pool(
    settings: &DatabaseSettings,
    options: PgConnectOptions,
    size: u32,
    plan_cache_mode: &'static str,
) -> PgPool {
    PgPoolOptions::new()
        .max_connections(size)
        // sqlx already pings every connection when it goes back to the pool; a second ping on the
        // way out made each query three round trips (a fifth of the callback path's CPU in the
        // load benchmark). A connection that died while idle fails its query, which is
        // `Unavailable` like any outage: the callback is spooled, a read gets 503.
        .test_before_acquire(false)
        // A `SET` rather than a startup option: connection poolers refuse unknown startup options.
        .after_connect(move |conn, _| {
            Box::pin(async move {
                sqlx::query(&format!("SET plan_cache_mode = {plan_cache_mode}"))
                    .execute(conn)
                    .await
                    .map(|_| ())
            })
        })
        .acquire_timeout(settings.connect_timeout())
        .connect_lazy_with(options)
}
