//! Builds the application from its capability modules. Tests start it exactly this way.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpServer};
use anyhow::Context;

use crate::auth::{self, Accounts, Authenticator};
use crate::callback::{self, CallbackService, PublicKeys};
use crate::credentials::{self, Issuer};
use crate::middleware::request_context;
use crate::ops::{self, Readiness};
use crate::records::{self, UsageTracker};
use crate::routes;
use crate::settings::Settings;
use crate::spool::{spawn_replayer, Spool};
use crate::store::{self, DynStore, StoreError};
use crate::sts::{self, StsService};

pub struct Application {
    port: u16,
    server: Server,
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Application> {
        let store = store::open(&settings.database).context("opening the database")?;
        let spool = Spool::open(&settings.callback.spool_dir)
            .with_context(|| format!("opening the spool in {}", settings.callback.spool_dir.display()))?;
        let readiness = Arc::new(Readiness::new(spool.clone()));
        let issuer_data = web::Data::new(Issuer::from_settings(&settings)?);
        let sts_data = web::Data::new(StsService::from_settings(&settings, issuer_data.profiles())?);
        let authenticator = Arc::new(Authenticator::from_settings(&settings)?);
        let accounts = web::Data::new(Accounts::new(&settings, store.clone(), authenticator.clone()).await?);
        migrate_or_retry(
            store.clone(),
            readiness.clone(),
            settings.database.connect_timeout(),
        )
        .await?;

        let listener = TcpListener::bind(settings.server.addr())
            .with_context(|| format!("binding {}", settings.server.addr()))?;
        let port = listener.local_addr()?.port();
        let settings = Arc::new(settings);
        let store_data = web::Data::new(store.clone());
        let readiness_data = web::Data::from(readiness);
        let settings_data = web::Data::from(settings.clone());
        let auth_data = web::Data::new(authenticator);
        let usage_data = web::Data::new(UsageTracker::default());
        let callback_data = web::Data::new(CallbackService {
            keys: PublicKeys::from_settings(&settings.callback)?,
            token_keys: settings.upload_token_key_ring()?,
            profiles: settings.profiles.clone(),
            store: store.clone(),
            spool: spool.clone(),
        });
        spawn_replayer(
            spool,
            store.clone(),
            Duration::from_millis(settings.callback.spool_replay_interval_ms.max(10)),
        );

        let mut server = HttpServer::new(move || {
            App::new()
                .wrap(from_fn(request_context))
                .app_data(routes::json_config(settings_data.server.max_body_bytes))
                .app_data(routes::query_config())
                .app_data(routes::path_config())
                .app_data(web::PayloadConfig::new(settings_data.server.max_body_bytes))
                .app_data(settings_data.clone())
                .app_data(store_data.clone())
                .app_data(readiness_data.clone())
                .app_data(auth_data.clone())
                .app_data(issuer_data.clone())
                .app_data(callback_data.clone())
                .app_data(usage_data.clone())
                .app_data(accounts.clone())
                .app_data(sts_data.clone())
                .configure(ops::configure)
                .configure(auth::configure)
                .configure(credentials::configure)
                .configure(records::configure)
                .configure(sts::configure)
                .configure(callback::configure(
                    &settings_data.callback.path,
                    settings_data.callback.max_body_bytes,
                ))
                .default_service(web::to(routes::not_found))
        })
        .listen(listener)?
        .shutdown_timeout(settings.server.shutdown_grace_secs);
        if settings.server.workers > 0 {
            server = server.workers(settings.server.workers);
        }
        tracing::info!(
            port,
            env = settings.env.as_str(),
            database = %settings.database.redacted_url(),
            "listening"
        );
        Ok(Application {
            port,
            server: server.run(),
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}

/// Runs migrations now; if the database is merely unreachable, keeps retrying in the background so
/// the service still starts (credential issuance does not need the database).
async fn migrate_or_retry(
    store: DynStore,
    readiness: Arc<Readiness>,
    timeout: Duration,
) -> anyhow::Result<()> {
    match attempt_migration(&store, timeout * 2).await {
        Ok(()) => {
            readiness.set_migrated();
            Ok(())
        }
        Err(err) if err.is_unavailable() => {
            tracing::warn!(error = %err, "database unreachable at start-up; will retry migrations");
            tokio::spawn(async move {
                let mut delay = Duration::from_millis(500);
                loop {
                    tokio::time::sleep(delay).await;
                    match attempt_migration(&store, timeout * 2).await {
                        Ok(()) => {
                            tracing::info!("database reachable; migrations applied");
                            readiness.set_migrated();
                            return;
                        }
                        Err(err) => {
                            tracing::warn!(error = %err, "migrations still pending");
                            delay = (delay * 2).min(Duration::from_secs(30));
                        }
                    }
                }
            });
            Ok(())
        }
        Err(err) => Err(anyhow::anyhow!(err).context("running database migrations")),
    }
}

async fn attempt_migration(store: &DynStore, timeout: Duration) -> Result<(), StoreError> {
    tokio::time::timeout(timeout, store.migrate())
        .await
        .unwrap_or_else(|_| Err(StoreError::Unavailable("no answer from the database".into())))
}
