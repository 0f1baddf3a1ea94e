//! Settings of the built-in OSS emulator (`[emulator]`), and how the rest of the settings follow it.

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct EmulatorSettings {
    /// Start the local OSS emulator. On in `local` (config/local.toml); refused in `production`.
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
        url::Url::parse(&format!("http://{}", std::net::SocketAddr::new(host, self.port))).ok()
    }
}

impl super::Settings {
    /// Points the settings at a running emulator: every profile without an explicit `endpoint`
    /// uploads to `endpoint` in path style, STS left at its default endpoint calls the emulator's
    /// AssumeRole, and the callback verifier may fetch the emulator's public key from `key_url`. Called once the emulator's listener is bound, so a random test port works
    /// exactly like the configured one.
    pub fn use_emulator(&mut self, endpoint: &url::Url, key_url: &str) {
        for profile in self.profiles.values_mut() {
            if profile.endpoint.is_none() {
                profile.endpoint = Some(endpoint.clone());
                profile.path_style = true;
            }
        }
        if self.sts.endpoint == super::StsSettings::default().endpoint {
            self.sts.endpoint = endpoint.clone();
        }
        let urls = &mut self.callback.allowed_key_urls;
        if !urls.iter().any(|u| u == key_url) {
            urls.push(key_url.to_owned());
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::super::Settings;

    #[test]
    fn profiles_without_an_endpoint_follow_the_emulator() {
        let dir = std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/config"));
        let env: HashMap<String, String> = [(
            "APP__PROFILES__VIDEO__ENDPOINT".to_owned(),
            "https://oss-cn-shanghai.aliyuncs.com".to_owned(),
        )]
        .into();
        let mut s = Settings::load(&dir, &env).unwrap();
        let emulator = url::Url::parse("http://127.0.0.1:41234").unwrap();
        let key_url = "http://127.0.0.1:41234/_emulator/callback_pub_key_v1.pem";
        s.use_emulator(&emulator, key_url);
        s.use_emulator(&emulator, key_url);
        let avatar = &s.profiles["avatar"];
        assert_eq!(avatar.endpoint.as_ref(), Some(&emulator));
        assert!(avatar.path_style);
        let video = &s.profiles["video"];
        assert_eq!(
            video.endpoint.as_ref().unwrap().host_str(),
            Some("oss-cn-shanghai.aliyuncs.com")
        );
        assert!(!video.path_style);
        let urls = &s.callback.allowed_key_urls;
        assert_eq!(urls.iter().filter(|u| *u == key_url).count(), 1, "{urls:?}");
        assert!(urls
            .iter()
            .any(|u| u == "https://gosspublic.alicdn.com/callback_pub_key_v1.pem"));
        assert!(s.callback.allowed_key_url_prefixes.is_empty());
        assert_eq!(
            s.sts.endpoint, emulator,
            "STS at its default endpoint follows the emulator"
        );
        let elsewhere = [(
            "APP__STS__ENDPOINT".to_owned(),
            "https://sts.cn-shanghai.aliyuncs.com".to_owned(),
        )];
        let mut s = Settings::load(&dir, &elsewhere.into()).unwrap();
        s.use_emulator(&emulator, key_url);
        assert_eq!(s.sts.endpoint.host_str(), Some("sts.cn-shanghai.aliyuncs.com"));
    }
}
