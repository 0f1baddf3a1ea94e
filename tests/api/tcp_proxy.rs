//! A TCP proxy the test controls: `cut()` drops every connection and refuses new ones until
//! `restore()`, which is how a database outage looks to the service. With several targets it
//! hands connections out round robin, as a load balancer in front of two instances does.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;

pub struct TcpProxy {
    pub port: u16,
    up: Arc<AtomicBool>,
    links: Arc<Mutex<Vec<AbortHandle>>>,
    targets: Arc<Mutex<Vec<String>>>,
}

impl TcpProxy {
    pub async fn start(target: &str) -> TcpProxy {
        Self::round_robin(vec![target.to_string()]).await
    }

    /// Each new connection goes to the next target (set later with `set_targets` if need be).
    pub async fn round_robin(targets: Vec<String>) -> TcpProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let port = listener.local_addr().unwrap().port();
        let up = Arc::new(AtomicBool::new(true));
        let links: Arc<Mutex<Vec<AbortHandle>>> = Arc::default();
        let targets = Arc::new(Mutex::new(targets));
        let (up2, links2, targets2) = (up.clone(), links.clone(), targets.clone());
        let next = AtomicUsize::new(0);
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if !up2.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let target = {
                    let targets = targets2.lock().unwrap();
                    targets[next.fetch_add(1, Ordering::Relaxed) % targets.len()].clone()
                };
                let task = tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                links2.lock().unwrap().push(task.abort_handle());
            }
        });
        TcpProxy {
            port,
            up,
            links,
            targets,
        }
    }

    #[allow(dead_code)]
    pub fn set_targets(&self, targets: Vec<String>) {
        *self.targets.lock().unwrap() = targets;
    }

    pub fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        for link in self.links.lock().unwrap().drain(..) {
            link.abort();
        }
    }

    pub fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}
