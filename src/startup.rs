//! Builds the application from its capability modules. Tests start it exactly this way.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpServer};
use anyhow::Context;

use crate::auth::{AccessTokens, Authenticator};
use crate::credentials::{self, Issuer};
use crate::emulator::Emulator;
use crate::middleware::request_context;
use crate::ops::{self, Readiness};
use crate::routes;
use crate::settings::Settings;
use crate::store::{self, DynStore, StoreError};

pub struct Application {
    port: u16,
    server: Server,
    /// The local OSS emulator's port and server, when `emulator.enabled`.
    emulator: Option<(u16, Server)>,
}

impl Application {
    pub async fn build(mut settings: Settings) -> anyhow::Result<Application> {
        // Bound first: profiles and the callback key allow-list must name its real port.
        let emulator = if settings.emulator.enabled {
            let emulator = Emulator::bind(&settings)?;
            settings.use_emulator(&emulator.endpoint(), &emulator.public_key_url_prefix());
            Some(emulator)
        } else {
            None
        };
        let store = store::open(&settings.database).context("opening the database")?;
        let readiness = Arc::new(Readiness::default());
        let issuer_data = web::Data::new(Issuer::from_settings(&settings)?);
        let authenticator = Arc::new(Authenticator {
            access_tokens: AccessTokens::from_settings(&settings)?,
        });
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
        let store_data = web::Data::new(store);
        let readiness_data = web::Data::from(readiness);
        let settings_data = web::Data::from(settings.clone());
        let auth_data = web::Data::new(authenticator);

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
                .configure(ops::configure)
                .configure(credentials::configure)
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
        let emulator = emulator
            .map(|e| Ok::<_, std::io::Error>((e.port(), e.start()?)))
            .transpose()?;
        Ok(Application {
            port,
            server: server.run(),
            emulator,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The OSS emulator's port, when it runs.
    pub fn emulator_port(&self) -> Option<u16> {
        self.emulator.as_ref().map(|(port, _)| *port)
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        match self.emulator {
            Some((_, emulator)) => {
                let (main, emulator) = futures_util::future::join(self.server, emulator).await;
                main.and(emulator)
            }
            None => self.server.await,
        }
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
