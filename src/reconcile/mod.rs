//! Never lose an upload: the ledger of issued credentials, client confirmation, reconciliation
//! against the bucket, and post-upload checks.

mod confirm;
mod ledger;
mod reconciler;
mod settle;

pub use ledger::Ledger;
pub use reconciler::{PassReport, Reconciler};
pub use settle::{Settled, Settler};

use crate::http::{Endpoint, Routes};

crate::http::needs!(Settler);

pub fn configure<S: Needs>(routes: &mut Routes) {
    routes.add(Endpoint::new("/v1/uploads/{upload_id}/complete").post(confirm::complete::<S>));
}

/// `upload-signer reconcile`: one pass, with the same completion path the server uses (the
/// spool, post-upload checks, deletion). In `local` it reaches the emulator that `serve` runs.
pub async fn run_one_pass(mut settings: crate::settings::Settings) -> anyhow::Result<PassReport> {
    use std::sync::Arc;

    use anyhow::Context;

    if settings.emulator.enabled {
        let endpoint = settings
            .emulator
            .configured_endpoint()
            .context("emulator.port is 0: set APP__EMULATOR__PORT to the port `serve` gives the emulator")?;
        settings.use_emulator(&endpoint, "");
    }
    let store = crate::store::open(&settings.database)?;
    store.migrate().await?;
    let spool = crate::spool::Spool::open(&settings.callback.spool_dir)
        .with_context(|| format!("opening the spool in {}", settings.callback.spool_dir.display()))?;
    let health = crate::store::DbHealth::new(
        store.clone(),
        settings.database.write_timeout(),
        settings.database.probe_interval(),
    );
    health.set_migrated();
    let tasks = crate::tasks::BackgroundTasks::new();
    let oss = Arc::new(crate::clients::OssClient::from_settings(&settings)?);
    let completion = Arc::new(crate::completion::Completion::new(
        &settings,
        crate::profiles::Profiles::from_settings(&settings)?,
        health,
        spool,
        oss.clone(),
        tasks.clone(),
    ));
    let settler = Arc::new(Settler::new(store, oss, completion));
    let report = Reconciler::from_settings(&settings, settler).run_once().await;
    tasks.shutdown(settings.server.shutdown_grace()).await;
    Ok(report?)
}
