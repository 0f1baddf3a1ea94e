//! Builds the application from its capability modules. Tests start it exactly this way.

use std::sync::Arc;
use std::time::Duration;

use actix_cors::Cors;
use actix_web::dev::Server;
use actix_web::http::header::{self, HeaderName};
use actix_web::middleware::{from_fn, Condition};
use actix_web::{web, App, HttpServer};
use anyhow::Context;

use crate::auth::KnownKeys;
use crate::auth::{Accounts, Authenticator};
use crate::callback::{CallbackService, PublicKeys};
use crate::client_ip::TrustedProxies;
use crate::clients::OssClient;
use crate::completion::Completion;
use crate::credentials::{IssuanceLimiter, Issuer};
use crate::emulator::Emulator;
use crate::limits::Limits;
use crate::middleware;
use crate::ops::{Metrics, Readiness};
use crate::reconcile::{Ledger, Reconciler, Settler};
use crate::settings::Settings;
use crate::spool::{run_replayer, Spool};
use crate::state::AppState;
use crate::store::{self, DbHealth, DynStore, StoreError};
use crate::sts::StsService;
use crate::tasks::BackgroundTasks;
use crate::{http, routes};

pub struct Application {
    port: u16,
    server: Server,
    spool: Arc<Spool>,
    store: DynStore,
    /// The local OSS emulator's port and server, when `emulator.enabled`.
    emulator: Option<(u16, Server)>,
    tasks: BackgroundTasks,
    shutdown_grace: Duration,
}

/// The OSS emulator on `emulator.host`/`port` with the keys the settings resolve; a port in use
/// names the variable that moves it. Bound, not yet serving.
pub fn bind_emulator(settings: &Settings) -> anyhow::Result<Emulator> {
    let listener = crate::listener::bind(settings.emulator.addr(), "APP__EMULATOR__PORT")
        .context("starting the OSS emulator")?;
    Emulator::new(listener, &settings.emulator, settings.emulator_keys()?)
}

impl Application {
    pub async fn build(mut settings: Settings) -> anyhow::Result<Application> {
        let listener = crate::listener::bind(settings.server.addr(), "APP__SERVER__PORT")?;
        let port = listener.local_addr()?.port();
        settings.default_callback_url_to(port);
        // Bound first: profiles and the callback key allow-list must name its real port.
        let emulator = if settings.emulator.enabled {
            let emulator = bind_emulator(&settings)?;
            settings.use_emulator(&emulator.endpoint(), &emulator.public_key_url());
            Some(emulator)
        } else {
            None
        };
        let store = store::open(&settings.database).context("opening the database")?;
        let spool = Spool::open(&settings.callback.spool_dir)
            .with_context(|| format!("opening the spool in {}", settings.callback.spool_dir.display()))?;
        let tasks = BackgroundTasks::new();
        let health = DbHealth::new(
            store.clone(),
            settings.database.write_timeout(),
            settings.database.probe_interval(),
        );
        tasks.spawn("database probe", |cancel| health.clone().run_probe(cancel));
        let readiness = Arc::new(Readiness::new(spool.clone(), health.clone()));
        let issuer = Arc::new(Issuer::from_settings(&settings)?);
        let limits = Limits::new(&store);
        let limiter = Arc::new(IssuanceLimiter::new(&settings.issuance, limits.clone()));
        let proxies_data = web::Data::new(TrustedProxies(settings.server.trusted_proxy_nets()?));
        let sts = Arc::new(StsService::from_settings(&settings, issuer.profiles())?);
        let authenticator = Arc::new(Authenticator::from_settings(&settings)?);
        let accounts =
            Arc::new(Accounts::new(&settings, store.clone(), authenticator.clone(), limits).await?);
        migrate_or_retry(
            store.clone(),
            readiness.clone(),
            settings.database.connect_timeout(),
            &tasks,
        )
        .await?;

        let settings = Arc::new(settings);
        let metrics = web::Data::new(Metrics::new());
        let ledger = Arc::new(Ledger::start(health.clone(), spool.clone(), &tasks));
        let oss = Arc::new(OssClient::from_settings(&settings)?);
        let completion = Arc::new(Completion::new(
            &settings,
            issuer.profiles().clone(),
            health.clone(),
            spool.clone(),
            oss.clone(),
            tasks.clone(),
        ));
        let settler = Arc::new(Settler::new(store.clone(), oss, completion.clone()));
        if settings.reconcile.enabled {
            let reconciler = Reconciler::from_settings(&settings, settler.clone());
            tasks.spawn("reconciler", |cancel| reconciler.run(cancel));
        }
        let callback = Arc::new(CallbackService {
            keys: PublicKeys::from_settings(&settings.callback, metrics.clone())?,
            metrics: metrics.clone(),
            token_keys: settings.upload_token_key_ring()?,
            completion,
        });
        crate::webhooks::start(&settings, health.clone(), &metrics, &tasks)?;
        let replay_every = Duration::from_millis(settings.callback.spool_replay_interval_ms.max(10));
        let (replay_spool, replay_health) = (spool.clone(), health.clone());
        tasks.spawn("spool replayer", move |cancel| {
            run_replayer(replay_spool, replay_health, replay_every, cancel)
        });

        let state = web::Data::new(AppState {
            settings: settings.clone(),
            store: store.clone(),
            readiness,
            metrics: metrics.clone(),
            authenticator: authenticator.clone(),
            accounts,
            issuer,
            limiter,
            ledger,
            settler,
            callback,
            sts,
        });
        // What the extractors look up on their own (`AuthUser`, `ApiKey`, `ClientIp`).
        let authenticator_data = web::Data::new(authenticator);
        let store_data = web::Data::new(store.clone());
        let known_keys_data = web::Data::new(KnownKeys::default());
        if let Some(addr) = settings.ops.metrics_addr {
            crate::ops::spawn_metrics_server(addr, state.clone())
                .with_context(|| format!("binding ops.metrics_addr {addr}"))?;
        }
        let mut server = HttpServer::new(move || {
            let app = App::new()
                .wrap(from_fn(middleware::unusable_input::refuse))
                .wrap(cors(&state.settings.server.cors_allowed_origins));
            middleware::edge!(app, state.metrics.clone().into_inner())
                .app_data(http::json_config(state.settings.server.max_body_bytes))
                .app_data(http::query_config())
                .app_data(http::path_config())
                .app_data(web::PayloadConfig::new(state.settings.server.max_body_bytes))
                .app_data(http::BodyLimit(state.settings.server.max_body_bytes))
                .app_data(state.clone())
                .app_data(authenticator_data.clone())
                .app_data(store_data.clone())
                .app_data(known_keys_data.clone())
                .app_data(proxies_data.clone())
                .configure(|cfg| {
                    routes::configure(cfg, &state.settings);
                })
                .default_service(web::to(http::not_found))
        })
        .listen(listener)?
        .shutdown_timeout(settings.server.shutdown_grace_secs);
        if settings.server.workers > 0 {
            server = server.workers(settings.server.workers);
        }
        announce(&settings, port);
        let emulator = emulator
            .map(|e| Ok::<_, std::io::Error>((e.port(), e.start()?)))
            .transpose()?;
        Ok(Application {
            port,
            server: server.run(),
            spool,
            store,
            emulator,
            tasks,
            shutdown_grace: settings.server.shutdown_grace(),
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The OSS emulator's port, when it runs.
    pub fn emulator_port(&self) -> Option<u16> {
        self.emulator.as_ref().map(|(port, _)| *port)
    }

    /// Serves until SIGTERM/SIGINT: then stops accepting, lets in-flight requests finish (up to
    /// `server.shutdown_grace_secs`), stops the background tasks (the ledger writer writes or
    /// spools every queued entry first) and makes one last attempt to flush the spool.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        match self.emulator {
            Some((_, emulator)) => {
                let (main, emulator) = futures_util::future::join(self.server, emulator).await;
                main.and(emulator)?;
            }
            None => self.server.await?,
        }
        self.tasks.shutdown(self.shutdown_grace).await;
        if self.spool.depth() > 0 {
            match tokio::time::timeout(Duration::from_secs(5), self.spool.replay(&self.store)).await {
                Ok(Ok(n)) => tracing::info!(replayed = n, "spool flushed at shutdown"),
                Ok(Err(err)) => {
                    tracing::warn!(error = %err, depth = self.spool.depth(), "spool kept for the next start")
                }
                Err(_) => tracing::warn!(
                    depth = self.spool.depth(),
                    "spool flush timed out; kept for the next start"
                ),
            }
        }
        tracing::info!("stopped");
        Ok(())
    }
}

/// The start-up line an operator looks for: where to send requests and read the docs, and a
/// warning while published development secrets sign tokens and credentials.
fn announce(settings: &Settings, port: u16) {
    let host = match settings.server.host {
        ip if ip.is_unspecified() => "127.0.0.1".to_string(),
        std::net::IpAddr::V6(ip) => format!("[{ip}]"),
        ip => ip.to_string(),
    };
    let url = format!("http://{host}:{port}");
    tracing::info!(
        url = %url,
        docs = %format!("{url}/docs"),
        env = settings.env.as_str(),
        database = %settings.database.redacted_url(),
        "upload-signer listening"
    );
    let defaults = settings.development_defaults();
    if !defaults.is_empty() {
        let variables: Vec<&str> = defaults.iter().map(|d| d.variable.as_str()).collect();
        tracing::warn!(
            set = %variables.join(", "),
            "development secrets in use: fine locally, never in production"
        );
    }
}

/// Runs migrations now; if the database is merely unreachable, keeps retrying in the background so
/// the service still starts (credential issuance does not need the database).
async fn migrate_or_retry(
    store: DynStore,
    readiness: Arc<Readiness>,
    timeout: Duration,
    tasks: &BackgroundTasks,
) -> anyhow::Result<()> {
    match attempt_migration(&store, timeout * 2).await {
        Ok(()) => {
            readiness.set_migrated();
            Ok(())
        }
        Err(err) if err.is_unavailable() => {
            tracing::warn!(error = %err, "database unreachable at start-up; will retry migrations");
            tasks.spawn("migration retry", |cancel| async move {
                let mut delay = Duration::from_millis(500);
                loop {
                    tokio::select! {
                        _ = cancel.cancelled() => return,
                        _ = tokio::time::sleep(delay) => {}
                    }
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
        .unwrap_or_else(|_| Err(StoreError::unavailable("no answer from the database")))
}

/// CORS for browser clients: only the configured origins; off when none are.
fn cors(origins: &[String]) -> Condition<Cors> {
    let mut cors = Cors::default()
        .allowed_methods(["GET", "POST"])
        .allowed_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
        .expose_headers([HeaderName::from_static(middleware::REQUEST_ID_HEADER)])
        .max_age(3600);
    for origin in origins {
        cors = cors.allowed_origin(origin);
    }
    Condition::new(!origins.is_empty(), cors)
}
