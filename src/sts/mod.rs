//! STS temporary credentials for the OSS mobile SDKs: the service is the apps' token server.
//!
//! - `policy`: the inline policy (the upload actions, on one user's prefix or one key) and the
//!   `RoleSessionName` derived from the user id
//! - `client`: one signed `AssumeRole` call (signing itself lives in `signing::sts`)
//! - `cache`: per user and scope, reused until shortly before expiry, one call in flight per key
//! - `handlers`: `GET /v1/sts/credentials` in the JSON the SDKs' credential providers parse

mod cache;
mod client;
mod error;
mod handlers;
pub mod policy;

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{SecondsFormat, Utc};
use serde::Serialize;

pub use error::StsError;

use crate::auth::Authenticator;
use crate::http::{Endpoint, Routes};
use crate::profiles::{encode_user_id, Profile, Profiles};
use crate::settings::{Settings, SettingsError, StsSettings};
use crate::signing::sts::StsCredentials;
use cache::CredentialCache;
use client::StsClient;

/// `GET /v1/sts/credentials`.
/// Answers in the SDKs' error shape, so it checks its input itself (`input_guard`).
pub const ROUTE: &str = "/v1/sts/credentials";

crate::http::needs!(StsService, Authenticator);

pub fn configure<S: Needs>(routes: &mut Routes) {
    routes.add(Endpoint::new(ROUTE).get(handlers::credentials::<S>));
}

/// The four fields every SDK credential provider reads.
#[derive(Serialize)]
pub struct SdkCredentials {
    #[serde(rename = "AccessKeyId")]
    access_key_id: String,
    #[serde(rename = "AccessKeySecret")]
    access_key_secret: String,
    #[serde(rename = "SecurityToken")]
    security_token: String,
    /// `YYYY-MM-DDTHH:MM:SSZ`, what the SDKs' date parsers expect.
    #[serde(rename = "Expiration")]
    expiration: String,
}

impl From<&StsCredentials> for SdkCredentials {
    fn from(c: &StsCredentials) -> Self {
        SdkCredentials {
            access_key_id: c.access_key_id.clone(),
            access_key_secret: c.access_key_secret.clone(),
            security_token: c.security_token.clone(),
            expiration: c.expiration.to_rfc3339_opts(SecondsFormat::Secs, true),
        }
    }
}

impl std::fmt::Debug for SdkCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SdkCredentials")
            .field("access_key_id", &self.access_key_id)
            .field("expiration", &self.expiration)
            .finish_non_exhaustive()
    }
}

/// The `sts` part of a `POST /v1/uploads` answer: credentials for that one key.
#[derive(Debug, Serialize)]
pub struct UploadSts {
    #[serde(flatten)]
    pub credentials: SdkCredentials,
    /// The OSS endpoint to give the SDK client.
    pub endpoint: String,
}

/// What `GET /v1/sts/credentials` covers besides the credentials themselves.
#[derive(Debug, Serialize)]
pub struct UserScope {
    pub bucket: String,
    pub region: String,
    pub endpoint: String,
    /// Every key under this prefix may be written.
    pub prefix: String,
}

struct UploadProfile {
    endpoint: String,
    duration_secs: u32,
}

struct Enabled {
    client: Arc<StsClient>,
    cache: Arc<CredentialCache>,
    route_profile: Arc<Profile>,
    route_endpoint: String,
    duration_secs: u32,
    /// Profiles with `sts = true`.
    uploads: BTreeMap<String, UploadProfile>,
}

/// Always registered; `None` inside when `[sts] enabled = false`.
pub struct StsService {
    enabled: Option<Enabled>,
}

impl StsService {
    pub fn from_settings(settings: &Settings, profiles: &Profiles) -> Result<StsService, SettingsError> {
        let sts = &settings.sts;
        if !sts.enabled {
            return Ok(StsService { enabled: None });
        }
        let invalid = |key: String, reason: String| SettingsError::Invalid { key, reason };
        let route_profile = profiles
            .get(&sts.profile)
            .cloned()
            .ok_or_else(|| invalid("sts.profile".into(), "no such upload profile".into()))?;
        // Checked with a sample id: the template decides the shape for every user alike.
        let sample = "sts-check-user";
        let prefix = route_profile
            .key_template
            .user_prefix(&route_profile.name, sample);
        if !policy::prefix_isolates_user(&prefix, &encode_user_id(sample))
            || policy::prefix_resource(&route_profile.bucket, &prefix).is_err()
        {
            return Err(invalid(
                format!("profiles.{}.key_template", route_profile.name),
                "STS scopes users by key prefix: the template must put `{user_id}/` before anything \
                 that varies per upload, with no `*` or `?`"
                    .into(),
            ));
        }
        let mut uploads = BTreeMap::new();
        for profile in profiles.iter().filter(|p| p.sts) {
            // STS's minimum is 900 s; longer than the upload credential itself is pointless.
            let lifetime = u32::try_from(profile.expires.num_seconds()).unwrap_or(u32::MAX);
            uploads.insert(
                profile.name.clone(),
                UploadProfile {
                    endpoint: profile.endpoint.clone(),
                    duration_secs: lifetime.clamp(StsSettings::MIN_DURATION_SECS, sts.duration_secs),
                },
            );
        }
        let secret = sts.secret(settings.env)?.value;
        Ok(StsService {
            enabled: Some(Enabled {
                client: Arc::new(StsClient::new(sts, secret)?),
                cache: CredentialCache::new(chrono::Duration::seconds(
                    i64::try_from(sts.refresh_before_secs).unwrap_or(i64::MAX),
                )),
                route_endpoint: route_profile.endpoint.clone(),
                route_profile,
                duration_secs: sts.duration_secs,
                uploads,
            }),
        })
    }

    pub fn is_enabled(&self) -> bool {
        self.enabled.is_some()
    }

    /// Credentials for every upload of `user_id` under the configured profile's prefix.
    pub async fn for_user(&self, user_id: &str) -> Result<(SdkCredentials, UserScope), StsError> {
        let on = self.enabled.as_ref().ok_or(StsError::Internal)?;
        let profile = &on.route_profile;
        let prefix = profile.key_template.user_prefix(&profile.name, user_id);
        let resource = policy::prefix_resource(&profile.bucket, &prefix)?;
        let client = on.client.clone();
        let policy = policy::upload_policy(&resource);
        let session = policy::role_session_name(user_id);
        let duration = on.duration_secs;
        let credentials = on
            .cache
            .get_or_fetch((user_id.to_string(), resource), Utc::now(), move || async move {
                client.assume_role(&session, &policy, duration).await
            })
            .await?;
        Ok((
            SdkCredentials::from(credentials.as_ref()),
            UserScope {
                bucket: profile.bucket.clone(),
                region: profile.region.clone(),
                endpoint: on.route_endpoint.clone(),
                prefix,
            },
        ))
    }

    /// Whether `POST /v1/uploads` answers for `profile` carry an `sts` part.
    pub fn covers_uploads_of(&self, profile: &str) -> bool {
        self.enabled
            .as_ref()
            .is_some_and(|on| on.uploads.contains_key(profile))
    }

    /// Credentials for exactly one issued key. Not cached: every key is new.
    pub async fn for_upload(
        &self,
        user_id: &str,
        profile: &str,
        bucket: &str,
        key: &str,
    ) -> Result<UploadSts, StsError> {
        let on = self.enabled.as_ref().ok_or(StsError::Internal)?;
        let upload = on.uploads.get(profile).ok_or(StsError::Internal)?;
        let resource = policy::object_resource(bucket, key)?;
        let credentials = on
            .client
            .assume_role(
                &policy::role_session_name(user_id),
                &policy::upload_policy(&resource),
                upload.duration_secs,
            )
            .await?;
        Ok(UploadSts {
            credentials: SdkCredentials::from(&credentials),
            endpoint: upload.endpoint.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::path::PathBuf;

    use super::*;

    fn service(template: &str) -> Result<StsService, SettingsError> {
        let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/config"));
        let env: HashMap<String, String> = [
            ("APP__STS__ENABLED", "true"),
            ("APP__STS__ROLE_ARN", "acs:ram::1234567890123456:role/oss-upload"),
            ("APP__STS__PROFILE", "avatar"),
            ("APP__PROFILES__AVATAR__KEY_TEMPLATE", template),
            ("APP__PROFILES__AVATAR__STS", "true"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let settings = Settings::load(&dir, &env)?;
        StsService::from_settings(&settings, &Profiles::from_settings(&settings)?)
    }

    #[test]
    fn the_route_profile_must_keep_users_apart() {
        let ok = service("avatars/{user_id}/{yyyy}/{upload_id}{ext}").unwrap();
        assert!(ok.is_enabled() && ok.covers_uploads_of("avatar") && !ok.covers_uploads_of("video"));
        for template in [
            "avatars/{user_id}{upload_id}",
            "{upload_id}/{user_id}/x",
            "a*/{user_id}/{upload_id}",
        ] {
            let err = service(template).err().expect(template).to_string();
            assert!(err.contains("profiles.avatar.key_template"), "{template}: {err}");
        }
    }

    #[test]
    fn upload_credentials_live_as_long_as_the_upload_but_at_least_900_s() {
        let on = service("avatars/{user_id}/{upload_id}").unwrap().enabled.unwrap();
        assert_eq!(on.uploads["avatar"].duration_secs, 900);
        assert_eq!(
            on.uploads["avatar"].endpoint,
            "https://oss-cn-hangzhou.aliyuncs.com"
        );
    }

    #[test]
    fn debug_never_shows_the_secret_or_token() {
        let c: StsCredentials = serde_json::from_value(serde_json::json!({
            "AccessKeyId": "STS.id", "AccessKeySecret": "very-secret", "SecurityToken": "CAIS-token",
            "Expiration": "2026-11-24T11:00:00Z"
        }))
        .unwrap();
        let part = UploadSts {
            credentials: SdkCredentials::from(&c),
            endpoint: "https://oss-cn-hangzhou.aliyuncs.com".into(),
        };
        let debug = format!("{part:?}");
        assert!(debug.contains("STS.id") && !debug.contains("very-secret") && !debug.contains("CAIS"));
        let json = serde_json::to_value(&part).unwrap();
        assert_eq!(json["Expiration"], "2026-11-24T11:00:00Z");
    }
}
