use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::spool::Spool;
use crate::store::DynStore;

/// What readiness depends on besides a live database round trip.
pub struct Readiness {
    migrated: AtomicBool,
    spool: Arc<Spool>,
}

impl Readiness {
    pub fn new(spool: Arc<Spool>) -> Self {
        Readiness {
            migrated: AtomicBool::new(false),
            spool,
        }
    }

    pub fn set_migrated(&self) {
        self.migrated.store(true, Ordering::Release);
    }

    pub fn spool_depth(&self) -> u64 {
        self.spool.depth()
    }

    pub fn migrated(&self) -> bool {
        self.migrated.load(Ordering::Acquire)
    }
}

pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

pub async fn readyz(store: web::Data<DynStore>, readiness: web::Data<Readiness>) -> HttpResponse {
    let backend = store.backend().as_str();
    let spool_depth = readiness.spool.depth();
    let problem = if !readiness.migrated() {
        Some("database migrations have not been applied yet (database unreachable at start-up)".to_string())
    } else {
        match tokio::time::timeout(Duration::from_secs(2), store.ping()).await {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(format!("database unreachable: {e}")),
            Err(_) => Some("database unreachable: no answer within 2 s".to_string()),
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
