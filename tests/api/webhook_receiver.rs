//! A webhook receiver on loopback for the tests: records every request, can fail the first
//! few, can answer slowly, and notices when one event arrives twice at the same time.

use std::collections::HashSet;
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

#[derive(Debug, Clone)]
pub struct Delivery {
    pub id: String,
    pub timestamp: String,
    pub signature: String,
    pub body: String,
    /// What the receiver answered.
    pub status: u16,
}

#[derive(Default)]
pub struct State {
    pub received: Mutex<Vec<Delivery>>,
    /// Requests left to answer 500.
    pub failures_left: AtomicUsize,
    /// Events being handled right now, and events seen twice at once.
    in_flight: Mutex<HashSet<String>>,
    pub concurrent_duplicates: AtomicUsize,
    pub delay: Mutex<Duration>,
}

pub struct Receiver {
    pub state: Arc<State>,
    pub port: u16,
    handle: actix_web::dev::ServerHandle,
}

impl Receiver {
    pub fn start() -> Receiver {
        Self::start_on(TcpListener::bind("127.0.0.1:0").unwrap())
    }

    /// On a port picked earlier (a receiver that was down comes up).
    pub fn start_at(port: u16) -> Receiver {
        Self::start_on(TcpListener::bind(("127.0.0.1", port)).unwrap())
    }

    fn start_on(listener: TcpListener) -> Receiver {
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(State::default());
        let data = web::Data::from(state.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .default_service(web::to(receive))
        })
        .workers(2)
        .listen(listener)
        .unwrap()
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        Receiver { state, port, handle }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hook", self.port)
    }

    pub fn fail_next(&self, n: usize) {
        self.state.failures_left.store(n, Ordering::SeqCst);
    }

    pub fn set_delay(&self, d: Duration) {
        *self.state.delay.lock().unwrap() = d;
    }

    pub fn received(&self) -> Vec<Delivery> {
        self.state.received.lock().unwrap().clone()
    }

    /// Waits until `done` holds for the received deliveries (at most `secs` seconds).
    pub async fn wait_for(&self, secs: u64, done: impl Fn(&[Delivery]) -> bool) -> Vec<Delivery> {
        for _ in 0..secs * 20 {
            let received = self.received();
            if done(&received) {
                return received;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the receiver never saw what was expected: {:#?}", self.received());
    }

    pub async fn stop(self) {
        self.handle.stop(false).await;
    }
}

async fn receive(req: HttpRequest, body: web::Bytes, state: web::Data<State>) -> HttpResponse {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let id = header("webhook-id");
    if !state.in_flight.lock().unwrap().insert(id.clone()) {
        state.concurrent_duplicates.fetch_add(1, Ordering::SeqCst);
    }
    let delay = *state.delay.lock().unwrap();
    tokio::time::sleep(delay).await;
    let fail = state
        .failures_left
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    let status = if fail { 500 } else { 200 };
    state.received.lock().unwrap().push(Delivery {
        id: id.clone(),
        timestamp: header("webhook-timestamp"),
        signature: header("webhook-signature"),
        body: String::from_utf8_lossy(&body).into_owned(),
        status,
    });
    state.in_flight.lock().unwrap().remove(&id);
    match fail {
        true => HttpResponse::InternalServerError().body("not now"),
        false => HttpResponse::Ok().finish(),
    }
}

/// Whether `delivery` carries a valid `v1` signature by `secret` (`whsec_...`): the Standard
/// Webhooks check, written out here from the spec (the PyPI package checks it in tests/peers).
pub fn signed_by(delivery: &Delivery, secret: &str) -> bool {
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").expect("whsec_ secret"))
        .expect("base64 secret");
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{}.{}.{}", delivery.id, delivery.timestamp, delivery.body).as_bytes());
    let expected = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
    delivery.signature.split(' ').any(|s| s == expected)
}
