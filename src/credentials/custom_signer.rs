//! `POST /v1/uploads/sign`: the OSS SDKs' custom-signer mode (`OSSCustomSignerCredentialProvider`)
//! hands us a V1 string-to-sign. We sign it only if it is a PUT of a key we issued to this user,
//! carrying exactly the callback we issued, before that credential expires.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::issue::{Issuer, FORBID_OVERWRITE};
use super::profile::normalise_content_type;
use super::CredentialError;
use crate::signing::{self, upload_callback, CallbackParam, CallbackVars};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignRequest {
    /// The V1 string-to-sign the SDK computed.
    pub content: String,
}

#[derive(Debug, Serialize)]
pub struct SignResponse {
    /// `OSS <AccessKeyId>:<Signature>`: what `signContent` returns to the SDK.
    pub authorization: String,
    pub signature: String,
}

/// How far the SDK's `Date` may be from our clock. OSS itself accepts 15 minutes either way;
/// phones with a clock that wrong should fix it rather than stretch a signature's life.
const MAX_SKEW_MINUTES: i64 = 5;
/// OSS accepts a signed request until this long after its `Date`: a signature must not outlive
/// the credential it was made for.
const OSS_DATE_VALIDITY_MINUTES: i64 = 15;

/// Headers an SDK PUT with callback may carry; anything else (ACLs, storage class, ...) is refused.
const ALLOWED_OSS_HEADERS: &[&str] = &[
    "x-oss-callback",
    "x-oss-callback-var",
    "x-oss-date",
    "x-oss-forbid-overwrite",
];

fn refuse(reason: impl Into<String>) -> CredentialError {
    CredentialError::SignRefused(reason.into())
}

impl Issuer {
    pub fn sign_for_sdk(
        &self,
        user_id: &str,
        content: &str,
        now: DateTime<Utc>,
    ) -> Result<SignResponse, CredentialError> {
        let parsed = signing::parse_string_to_sign(content).map_err(|e| refuse(e.to_string()))?;
        if parsed.to_string_to_sign() != content {
            return Err(refuse("string to sign is not in canonical form"));
        }
        if parsed.method != "PUT" {
            return Err(refuse(format!("only PUT is signed, not {}", parsed.method)));
        }
        if !parsed.sub_resources.is_empty() {
            return Err(refuse("sub-resources are not signed"));
        }
        if let Some(extra) = parsed
            .oss_headers
            .keys()
            .find(|h| !ALLOWED_OSS_HEADERS.contains(&h.as_str()))
        {
            return Err(refuse(format!("header {extra} is not allowed")));
        }
        if parsed.oss_headers.get(FORBID_OVERWRITE).map(String::as_str) != Some("true") {
            return Err(refuse(format!(
                "{FORBID_OVERWRITE}: true is required: an issued upload never replaces an object"
            )));
        }
        let callback_b64 = parsed
            .oss_headers
            .get("x-oss-callback")
            .ok_or_else(|| refuse("x-oss-callback is required: only issued uploads are signed"))?;
        let callback = CallbackParam::parse_base64(callback_b64).map_err(|e| refuse(e.to_string()))?;
        let token = upload_callback::token_in_template(&callback.body, callback.body_type)
            .ok_or_else(|| refuse("the callback is not one we issued"))?;
        let claims = signing::token::verify(&token, self.token_keys())
            .map_err(|_| refuse("the callback is not one we issued"))?;
        if claims.user_id != user_id {
            return Err(refuse("this upload was issued to another user"));
        }
        if parsed.bucket.as_deref() != Some(claims.bucket.as_str()) || parsed.key != claims.key {
            return Err(refuse("bucket or key differs from the issued upload"));
        }
        let date = DateTime::parse_from_rfc2822(&parsed.date)
            .map_err(|_| refuse("the Date line is not an HTTP date"))?
            .with_timezone(&Utc);
        if (date - now).abs() > Duration::minutes(MAX_SKEW_MINUTES) {
            return Err(CredentialError::SignDateOutOfRange(MAX_SKEW_MINUTES));
        }
        // Also refuses an expired credential: `date` is at least `now` minus the skew.
        if (date + Duration::minutes(OSS_DATE_VALIDITY_MINUTES)).timestamp() > claims.expires_at {
            return Err(CredentialError::CredentialExpiresTooSoon(
                OSS_DATE_VALIDITY_MINUTES,
            ));
        }
        let profile = self
            .profiles()
            .get(&claims.profile)
            .ok_or_else(|| refuse("the upload's profile no longer exists"))?;
        normalise_content_type(&parsed.content_type)
            .filter(|ct| profile.allows_content_type(ct))
            .ok_or_else(|| refuse("content type not allowed for this profile"))?;

        // Variables: only the profile's names, within their limits; the set of names is bound by
        // the callback template compared below.
        let mut var_names: Vec<String> = Vec::new();
        if let Some(vars_b64) = parsed.oss_headers.get("x-oss-callback-var") {
            let vars = CallbackVars::parse_base64(vars_b64).map_err(|e| refuse(e.to_string()))?;
            for (name, value) in vars.iter() {
                let bare = name.strip_prefix("x:").unwrap_or(name);
                let max = profile
                    .vars
                    .get(bare)
                    .ok_or_else(|| refuse(format!("variable {name} is not allowed")))?;
                if value.len() > *max {
                    return Err(refuse(format!("variable {name} is too long")));
                }
                var_names.push(bare.to_string());
            }
        }
        var_names.sort();
        let names: Vec<&str> = var_names.iter().map(String::as_str).collect();
        let expected = self.callback_param(profile, &token, &names);
        let same = callback.url == expected.url
            && callback.body == expected.body
            && callback.body_type == expected.body_type
            && (callback.host.is_none() || callback.host == expected.host);
        if !same {
            return Err(refuse("the callback differs from the one issued"));
        }
        let signature = signing::v1::sign(self.secret(), content);
        Ok(SignResponse {
            authorization: signing::v1::authorization(self.access_key_id(), &signature),
            signature,
        })
    }
}
