//! The production store.

mod api_keys;
mod group_commit;
mod limits;
mod records;
mod uploads;
mod users;
mod webhooks;

use std::str::FromStr;

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::ConnectOptions;

use super::{Backend, Store, StoreError};
use crate::settings::DatabaseSettings;

pub struct PostgresStore {
    pool: PgPool,
    /// Batches concurrent completions into one statement and commit; see `group_commit`.
    group_commit: Option<group_commit::GroupCommit>,
}

impl PostgresStore {
    pub fn open(settings: &DatabaseSettings) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(&settings.url)
            .map_err(|e| StoreError::Other(format!("invalid database.url: {e}")))?
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

#[async_trait]
impl Store for PostgresStore {
    fn backend(&self) -> Backend {
        Backend::Postgres
    }

    #[tracing::instrument(skip_all)]
    async fn migrate(&self) -> Result<(), StoreError> {
        super::migrations::POSTGRES
            .migrator()
            .await?
            .run(&self.pool)
            .await?;
        Ok(())
    }

    fn pool_status(&self) -> (u32, usize) {
        (self.pool.size(), self.pool.num_idle())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}
