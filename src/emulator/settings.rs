//! The emulator's own settings and keys: plain data, so it runs without the service. The service
//! embeds [`EmulatorSettings`] as its `[emulator]` section and resolves [`EmulatorKeys`] from its
//! secrets; `upload-signer emulator` does the same and runs nothing else.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use secrecy::SecretString;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct EmulatorSettings {
    /// Start the local OSS emulator beside the service. On in `local` (config/local.toml); refused
    /// in `production`. (`upload-signer emulator` runs it whatever this says.)
    pub enabled: bool,
    /// Address to listen on; loopback unless you mean to expose it.
    pub host: IpAddr,
    /// Port to listen on; 0 picks a free one (tests).
    pub port: u16,
    /// Objects, their metadata and the emulator's callback signing key live here.
    pub data_dir: PathBuf,
}

impl Default for EmulatorSettings {
    fn default() -> Self {
        EmulatorSettings {
            enabled: false,
            host: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 9000,
            data_dir: PathBuf::from("data/emulator"),
        }
    }
}

impl EmulatorSettings {
    /// The address to bind.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::new(self.host, self.port)
    }

    /// Where a separate process (`upload-signer reconcile`) reaches the emulator that `serve`
    /// runs; `None` when its port is picked at random.
    pub fn configured_endpoint(&self) -> Option<url::Url> {
        if self.port == 0 {
            return None;
        }
        let host = match self.host {
            IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            other => other,
        };
        url::Url::parse(&format!("http://{}", SocketAddr::new(host, self.port))).ok()
    }
}

/// The credentials the emulator accepts, resolved by its caller (the service reads them from its
/// secrets), so the emulator knows nothing of where they are kept.
#[derive(Debug, Clone)]
pub struct EmulatorKeys {
    /// The account's OSS access key: it signs object requests and may call AssumeRole.
    pub access_key_id: String,
    pub secret: SecretString,
    /// Further keys allowed to call AssumeRole (the service's `[sts]` caller).
    pub sts_callers: Vec<(String, SecretString)>,
}
