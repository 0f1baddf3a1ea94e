use std::sync::Arc;
use std::time::Duration;

use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::http::Has;
use crate::spool::Spool;
use crate::store::{DbHealth, DynStore, StoreError};

/// What readiness depends on besides a live database round trip.
pub struct Readiness {
    spool: Arc<Spool>,
    /// Told when a probe finds the database away, so writes stop waiting on it.
    health: Arc<DbHealth>,
}

impl Readiness {
    pub fn new(spool: Arc<Spool>, health: Arc<DbHealth>) -> Self {
        Readiness { spool, health }
    }

    pub fn set_migrated(&self) {
        self.health.set_migrated();
    }

    pub fn spool_depth(&self) -> u64 {
        self.spool.depth()
    }

    pub fn migrated(&self) -> bool {
        self.health.is_migrated()
    }
}

pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

pub async fn readyz<S: Has<DynStore> + Has<Readiness> + 'static>(state: web::Data<S>) -> HttpResponse {
    let store: &DynStore = state.get();
    let readiness: &Readiness = state.get();
    let backend = store.backend().as_str();
    let spool_depth = readiness.spool.depth();
    let problem = if !readiness.migrated() {
        Some("database migrations have not been applied yet (database unreachable at start-up)".to_string())
    } else {
        let ping = tokio::time::timeout(Duration::from_secs(2), store.ping())
            .await
            .unwrap_or_else(|_| Err(StoreError::unavailable("no answer within 2 s")));
        readiness.health.observe(&ping);
        match ping {
            Ok(()) => None,
            Err(e) => Some(format!("database unreachable: {e}")),
        }
    };
    match problem {
        None => HttpResponse::Ok().json(json!({
            "status": "ready",
            "checks": { "database": { "ok": true, "backend": backend }, "spool": { "depth": spool_depth } }
        })),
        Some(reason) => HttpResponse::ServiceUnavailable().json(json!({
            "status": "unavailable",
            "checks": {
                "database": { "ok": false, "backend": backend, "reason": reason },
                "spool": { "depth": spool_depth }
            },
            "error": { "code": "not_ready", "message": reason }
        })),
    }
}
