//! `POST /v1/uploads/sign`: the OSS SDKs' custom-signer mode (`OSSCustomSignerCredentialProvider`)
//! hands us a V1 string-to-sign. We sign it only if it is one call of an upload we issued to this
//! user, for its bucket and key, before that credential expires: the single `PUT` carrying exactly
//! the issued callback, or the calls of a resumable (multipart) upload on a profile that allows
//! them.
//!
//! Stateless: the issued upload is named by its callback, whose body template carries our MAC'd
//! upload token. A `PUT` and a Complete carry it in `x-oss-callback`; the other multipart calls
//! carry none, so the app sends the credential's `callback` beside `content`.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::issue::{Issuer, FORBID_OVERWRITE};
use super::CredentialError;
use crate::profiles::content_type;
use crate::signing::{self, upload_callback, CallbackParam, CallbackVars, ParsedStringToSign, UploadClaims};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignRequest {
    /// The V1 string-to-sign the SDK computed.
    pub content: String,
    /// The credential's base64 `callback`: names the upload for the multipart calls that carry
    /// no callback of their own (initiate, parts, list, abort, a Complete without callback).
    #[serde(default)]
    pub callback: Option<String>,
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
/// OSS numbers parts 1 to 10,000.
const MAX_PART_NUMBER: u32 = 10_000;
/// OSS upload ids are 32 hex digits; anything much longer is not one.
const MAX_UPLOAD_ID_LEN: usize = 128;

/// The calls we sign, told apart by method and sub-resources as OSS routes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Call {
    /// `PUT /key`: a single upload.
    Put,
    /// `POST /key?uploads`: InitiateMultipartUpload.
    Initiate,
    /// `PUT /key?partNumber=N&uploadId=ID`: UploadPart.
    UploadPart,
    /// `GET /key?uploadId=ID`: ListParts (how a resumed upload finds its parts).
    ListParts,
    /// `POST /key?uploadId=ID`: CompleteMultipartUpload.
    Complete,
    /// `DELETE /key?uploadId=ID`: AbortMultipartUpload.
    Abort,
}

impl Call {
    fn classify(parsed: &ParsedStringToSign) -> Result<Call, CredentialError> {
        let names: Vec<&str> = parsed.sub_resources.iter().map(|(k, _)| k.as_str()).collect();
        let call = match (parsed.method.as_str(), names.as_slice()) {
            ("PUT", []) => Call::Put,
            ("POST", ["uploads"]) => Call::Initiate,
            ("PUT", ["partNumber", "uploadId"]) => Call::UploadPart,
            ("GET", ["uploadId"]) => Call::ListParts,
            ("POST", ["uploadId"]) => Call::Complete,
            ("DELETE", ["uploadId"]) => Call::Abort,
            (method, []) => return Err(refuse(format!("only PUT is signed, not {method}"))),
            _ => {
                return Err(refuse(
                    "only a single PUT or a multipart upload's calls are signed: initiate \
                     (POST ?uploads), parts (PUT ?partNumber&uploadId), list parts (GET \
                     ?uploadId), complete (POST ?uploadId) and abort (DELETE ?uploadId)",
                ))
            }
        };
        if parsed.sub_resource("uploads").is_some() {
            return Err(refuse("?uploads takes no value"));
        }
        if let Some((_, id)) = parsed.sub_resources.iter().find(|(k, _)| k == "uploadId") {
            let id = id.as_deref().unwrap_or("");
            let plausible = !id.is_empty()
                && id.len() <= MAX_UPLOAD_ID_LEN
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b));
            if !plausible {
                return Err(refuse("uploadId is not an OSS upload id"));
            }
        }
        if call == Call::UploadPart {
            let n = parsed
                .sub_resource("partNumber")
                .and_then(|n| n.parse::<u32>().ok());
            if !n.is_some_and(|n| (1..=MAX_PART_NUMBER).contains(&n)) {
                return Err(refuse(format!("partNumber must be 1 to {MAX_PART_NUMBER}")));
            }
        }
        Ok(call)
    }

    /// The `x-oss-*` headers each call may carry; anything else (ACLs, storage class, tagging,
    /// a callback on Initiate, ...) is refused.
    fn allowed_headers(self) -> &'static [&'static str] {
        match self {
            Call::Put => &[
                "x-oss-callback",
                "x-oss-callback-var",
                "x-oss-date",
                FORBID_OVERWRITE,
            ],
            Call::Initiate => &["x-oss-date", FORBID_OVERWRITE],
            Call::Complete => &[
                "x-oss-callback",
                "x-oss-callback-var",
                "x-oss-complete-all",
                "x-oss-date",
                FORBID_OVERWRITE,
            ],
            Call::UploadPart | Call::ListParts | Call::Abort => &["x-oss-date"],
        }
    }

    /// OSS checks `x-oss-forbid-overwrite` where an object can come into being (and at Initiate,
    /// so a taken key fails before any part is sent).
    fn needs_forbid_overwrite(self) -> bool {
        matches!(self, Call::Put | Call::Initiate | Call::Complete)
    }

    /// The calls whose `Content-Type` becomes the object's.
    fn sets_content_type(self) -> bool {
        matches!(self, Call::Put | Call::Initiate)
    }
}

fn refuse(reason: impl Into<String>) -> CredentialError {
    CredentialError::SignRefused(reason.into())
}

/// An issued upload, recognised by its callback.
struct Issued {
    callback: CallbackParam,
    token: String,
    claims: UploadClaims,
}

impl Issuer {
    /// The upload a base64 callback was issued for: its template carries our upload token.
    fn issued_upload(&self, callback_b64: &str) -> Result<Issued, CredentialError> {
        let callback = CallbackParam::parse_base64(callback_b64).map_err(|e| refuse(e.to_string()))?;
        let token = upload_callback::token_in_template(&callback.body, callback.body_type)
            .ok_or_else(|| refuse("the callback is not one we issued"))?;
        let claims = signing::token::verify(&token, self.token_keys())
            .map_err(|_| refuse("the callback is not one we issued"))?;
        Ok(Issued {
            callback,
            token,
            claims,
        })
    }

    pub fn sign_for_sdk(
        &self,
        user_id: &str,
        content: &str,
        named_callback: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<SignResponse, CredentialError> {
        let parsed = signing::parse_string_to_sign(content).map_err(|e| refuse(e.to_string()))?;
        if parsed.to_string_to_sign() != content {
            return Err(refuse("string to sign is not in canonical form"));
        }
        let call = Call::classify(&parsed)?;
        if let Some(extra) = parsed
            .oss_headers
            .keys()
            .find(|h| !call.allowed_headers().contains(&h.as_str()))
        {
            return Err(refuse(format!("header {extra} is not allowed")));
        }
        let forbid = parsed.oss_headers.get(FORBID_OVERWRITE).map(String::as_str);
        if forbid.is_some_and(|v| v != "true") || (call.needs_forbid_overwrite() && forbid.is_none()) {
            return Err(refuse(format!(
                "{FORBID_OVERWRITE}: true is required: an issued upload never replaces an object"
            )));
        }
        if parsed
            .oss_headers
            .get("x-oss-complete-all")
            .is_some_and(|v| v != "yes")
        {
            return Err(refuse("x-oss-complete-all takes only yes"));
        }

        let in_header = match parsed.oss_headers.get("x-oss-callback") {
            Some(b64) => Some(self.issued_upload(b64)?),
            None if call == Call::Put => {
                return Err(refuse(
                    "x-oss-callback is required: only issued uploads are signed",
                ))
            }
            None => None,
        };
        let named = named_callback.map(|b64| self.issued_upload(b64)).transpose()?;
        let issued = match (in_header, named) {
            (Some(header), Some(named)) if header.claims.upload_id != named.claims.upload_id => {
                return Err(refuse("the callback differs from the one issued"));
            }
            (Some(header), _) => header,
            (None, Some(named)) => named,
            (None, None) => return Err(CredentialError::CallbackRequired),
        };
        let claims = &issued.claims;
        if claims.user_id != user_id {
            return Err(refuse("this upload was issued to another user"));
        }
        if parsed.bucket.as_deref() != Some(claims.bucket.as_str()) || parsed.key != claims.key {
            return Err(refuse("bucket or key differs from the issued upload"));
        }
        if now.timestamp() >= claims.expires_at {
            return Err(CredentialError::CredentialExpired);
        }
        let date = DateTime::parse_from_rfc2822(&parsed.date)
            .map_err(|_| refuse("the Date line is not an HTTP date"))?
            .with_timezone(&Utc);
        if (date - now).abs() > Duration::minutes(MAX_SKEW_MINUTES) {
            return Err(CredentialError::SignDateOutOfRange(MAX_SKEW_MINUTES));
        }
        // Also refuses a credential about to expire: `date` is at least `now` minus the skew.
        if (date + Duration::minutes(OSS_DATE_VALIDITY_MINUTES)).timestamp() > claims.expires_at {
            return Err(CredentialError::CredentialExpiresTooSoon(
                OSS_DATE_VALIDITY_MINUTES,
            ));
        }
        let profile = self
            .profiles()
            .get(&claims.profile)
            .ok_or_else(|| refuse("the upload's profile no longer exists"))?;
        if call != Call::Put && profile.part_size.is_none() {
            return Err(CredentialError::MultipartNotEnabled(profile.name.clone()));
        }
        // Part, list, complete and abort bodies are not the object's type; OSS ignores theirs.
        if call.sets_content_type() {
            content_type::normalise(&parsed.content_type)
                .filter(|ct| profile.allows_content_type(ct))
                .ok_or_else(|| {
                    refuse(format!(
                        "Content-Type {:?} is not allowed for this profile: send the credential's content_type",
                        parsed.content_type
                    ))
                })?;
        }

        if parsed.oss_headers.contains_key("x-oss-callback") {
            self.check_callback_is_the_issued_one(&parsed, profile, &issued)?;
        } else if parsed.oss_headers.contains_key("x-oss-callback-var") {
            return Err(refuse("x-oss-callback-var without x-oss-callback"));
        }
        let signature = signing::v1::sign(self.secret(), content);
        Ok(SignResponse {
            authorization: signing::v1::authorization(self.access_key_id(), &signature),
            signature,
        })
    }

    /// The callback a PUT or Complete carries must be the issued one: same URL, host, body
    /// template and type, and only the profile's variables, within their limits.
    fn check_callback_is_the_issued_one(
        &self,
        parsed: &ParsedStringToSign,
        profile: &crate::profiles::Profile,
        issued: &Issued,
    ) -> Result<(), CredentialError> {
        // The set of variable names is bound by the template compared below.
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
        let expected = self.callback_param(profile, &issued.token, &names);
        let callback = &issued.callback;
        let same = callback.url == expected.url
            && callback.body == expected.body
            && callback.body_type == expected.body_type
            && (callback.host.is_none() || callback.host == expected.host);
        if !same {
            return Err(refuse("the callback differs from the one issued"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classify(s: &str) -> Result<Call, String> {
        let parsed = signing::parse_string_to_sign(s).map_err(|e| e.to_string())?;
        Call::classify(&parsed).map_err(|e| e.to_string())
    }

    #[test]
    fn multipart_calls_are_told_apart_by_method_and_sub_resources() {
        let d = "Thu, 03 Dec 2026 14:00:00 GMT";
        for (s, call) in [
            (format!("PUT\n\nvideo/mp4\n{d}\n/b/k.mp4"), Call::Put),
            (
                format!("POST\n\nvideo/mp4\n{d}\n/b/k.mp4?uploads"),
                Call::Initiate,
            ),
            (
                format!("PUT\n\n\n{d}\n/b/k.mp4?partNumber=3&uploadId=0A1B"),
                Call::UploadPart,
            ),
            (format!("GET\n\n\n{d}\n/b/k.mp4?uploadId=0A1B"), Call::ListParts),
            (format!("POST\n\n\n{d}\n/b/k.mp4?uploadId=0A1B"), Call::Complete),
            (format!("DELETE\n\n\n{d}\n/b/k.mp4?uploadId=0A1B"), Call::Abort),
        ] {
            assert_eq!(classify(&s), Ok(call), "{s}");
        }
    }

    #[test]
    fn everything_else_is_refused() {
        let d = "Thu, 03 Dec 2026 14:00:00 GMT";
        for s in [
            format!("GET\n\n\n{d}\n/b/k"),
            format!("DELETE\n\n\n{d}\n/b/k"),
            format!("PUT\n\n\n{d}\n/b/k?acl"),
            // ListMultipartUploads would show other users' uploads.
            format!("GET\n\n\n{d}\n/b/?uploads"),
            format!("GET\n\n\n{d}\n/b/k?uploads"),
            format!("POST\n\n\n{d}\n/b/k?uploads=x"),
            format!("PUT\n\n\n{d}\n/b/k?uploadId=1"),
            format!("POST\n\n\n{d}\n/b/k?partNumber=1&uploadId=1"),
            format!("PUT\n\n\n{d}\n/b/k?partNumber=0&uploadId=1"),
            format!("PUT\n\n\n{d}\n/b/k?partNumber=10001&uploadId=1"),
            format!("PUT\n\n\n{d}\n/b/k?partNumber=x&uploadId=1"),
            format!("PUT\n\n\n{d}\n/b/k?partNumber=1&uploadId"),
            format!("GET\n\n\n{d}\n/b/k?uploadId=a.b"),
            format!("POST\n\n\n{d}\n/b/k?uploadId=1&uploads"),
        ] {
            assert!(classify(&s).is_err(), "{s}");
        }
    }
}
