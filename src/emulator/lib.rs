//! A local stand-in for Alibaba Cloud OSS, for development and tests: PostObject forms, presigned
//! and header-signed PUT/GET/HEAD/DELETE, multipart uploads, OSS's XML errors, objects kept on
//! disk, upload callbacks signed with RSA exactly as OSS signs them, and STS: `AssumeRole` on the
//! same port, whose temporary credentials are confined by their session policy.
//!
//! A crate of its own: it talks to the service only as OSS does, over HTTP. It depends on
//! `signing` (the same verifiers the issuing side's signatures are pinned against) and on no part
//! of the service; it takes its own settings and the keys it accepts ([`EmulatorSettings`],
//! [`EmulatorKeys`]) and a listener its caller bound. The service binds that listener before it
//! builds the rest of the application, so `Settings::use_emulator` can point profiles and the
//! callback key allow-list at the real (possibly random) port; `upload-signer emulator` runs it
//! alone.

mod callback_sender;
mod errors;
mod image_info;
mod keys;
mod multipart;
mod object_ops;
mod objects;
mod post_object;
mod ram;
mod range;
mod server;
mod settings;
mod sts;
mod sts_token;
mod uploads;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener};
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::{web, App, HttpServer};
use anyhow::Context;
use secrecy::{ExposeSecret, SecretString};

use callback_sender::CallbackSender;
use keys::CallbackKey;
use objects::ObjectStore;
pub use settings::{EmulatorKeys, EmulatorSettings};

/// Where the emulator serves its callback public key, below a prefix no bucket can take (bucket
/// names have no `_`).
pub const PUBLIC_KEY_PATH: &str = "/_emulator/callback_pub_key_v1.pem";

/// Shared by the emulator's handlers.
pub(crate) struct EmulatorState {
    access_key_id: String,
    secret: SecretString,
    objects: ObjectStore,
    key: Arc<CallbackKey>,
    sender: CallbackSender,
    sts: sts::StsService,
}

impl EmulatorState {
    /// The secret of an access key id, as the signing verifiers ask for it: the OSS key's, or a
    /// minted `STS.` key's (whose token `sts::authorize` checks once the signature matched).
    fn secret_for(&self, access_key_id: &str) -> Option<String> {
        if access_key_id == self.access_key_id {
            return Some(self.secret.expose_secret().to_owned());
        }
        self.sts.secret_for(access_key_id)
    }
}

/// A bound, not yet serving emulator.
pub struct Emulator {
    listener: TcpListener,
    addr: SocketAddr,
    state: web::Data<EmulatorState>,
}

impl Emulator {
    /// Takes a bound listener (the caller names the setting that moves it when the port is taken)
    /// and prepares the data directory and signing keys.
    pub fn new(
        listener: TcpListener,
        cfg: &EmulatorSettings,
        keys: EmulatorKeys,
    ) -> anyhow::Result<Emulator> {
        let mut addr = listener.local_addr()?;
        // Clients cannot dial the wildcard address: advertise loopback instead.
        if addr.ip() == IpAddr::V4(Ipv4Addr::UNSPECIFIED) {
            addr.set_ip(IpAddr::V4(Ipv4Addr::LOCALHOST));
        } else if addr.ip() == IpAddr::V6(Ipv6Addr::UNSPECIFIED) {
            addr.set_ip(IpAddr::V6(Ipv6Addr::LOCALHOST));
        }
        let objects = ObjectStore::open(&cfg.data_dir)
            .with_context(|| format!("opening emulator.data_dir {}", cfg.data_dir.display()))?;
        let key = Arc::new(
            CallbackKey::load_or_create(&cfg.data_dir).context("loading the emulator's callback key")?,
        );
        let sender = CallbackSender::new(key.clone(), &format!("http://{addr}{PUBLIC_KEY_PATH}"))
            .context("building the emulator's callback client")?;
        // Who may call AssumeRole: the account's OSS key and the further callers named.
        let mut callers = vec![(keys.access_key_id.clone(), keys.secret.clone())];
        callers.extend(keys.sts_callers);
        let sts_key =
            sts_token::StsKey::load_or_create(&cfg.data_dir).context("loading the emulator's STS key")?;
        let state = EmulatorState {
            access_key_id: keys.access_key_id,
            secret: keys.secret,
            objects,
            key,
            sender,
            sts: sts::StsService::new(sts_key, callers),
        };
        Ok(Emulator {
            listener,
            addr,
            state: web::Data::new(state),
        })
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `http://127.0.0.1:PORT`: the endpoint profiles upload to, in path style.
    pub fn endpoint(&self) -> url::Url {
        // An address always makes a valid http URL.
        url::Url::parse(&format!("http://{}", self.addr)).expect("socket address URL")
    }

    /// The public-key URL this emulator's callbacks name.
    pub fn public_key_url(&self) -> String {
        format!("http://{}{PUBLIC_KEY_PATH}", self.addr)
    }

    /// Starts serving on the actix runtime of the caller; the returned server runs until stopped.
    pub fn start(self) -> std::io::Result<Server> {
        let state = self.state;
        tracing::info!(port = self.addr.port(), "OSS emulator listening");
        Ok(HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .default_service(web::to(server::dispatch))
        })
        .listen(self.listener)?
        .workers(1)
        .shutdown_timeout(5)
        .run())
    }
}
