//! How the settings follow the built-in OSS emulator, and the keys they hand it. Its own section,
//! `[emulator]`, is the emulator crate's `EmulatorSettings`.

use crate::emulator::EmulatorKeys;

use super::SettingsError;

impl super::Settings {
    /// The keys the emulator accepts: the account's OSS key, and the `[sts]` caller's for
    /// AssumeRole (whatever `sts.enabled` says, so a second process can use this emulator's STS).
    pub fn emulator_keys(&self) -> Result<EmulatorKeys, SettingsError> {
        let sts_callers = (self.sts.secret(self.env).into_iter())
            .map(|secret| (self.sts.access_key_id.clone(), secret.value))
            .collect();
        Ok(EmulatorKeys {
            access_key_id: self.oss.access_key_id.clone(),
            secret: self.oss_secret()?.value,
            sts_callers,
        })
    }

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
