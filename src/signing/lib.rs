//! Pure OSS wire formats: PostObject policies, V1 (HMAC-SHA1) and V4 (OSS4-HMAC-SHA256)
//! signatures and presigned URLs, upload-callback parameters and their RSA verification, the
//! upload token that binds a callback to the credential we issued, and STS (POP) request signing.
//!
//! Everything here is a pure function of its arguments: strings, bytes and a `DateTime<Utc>` in,
//! strings and bytes out. No clock, no I/O, no HTTP or SQL types, so the issuing side and the OSS
//! emulator share exactly one implementation of each algorithm. Each file pins its output to the
//! vectors in `tests/vectors/` (copied from `shared/vectors/`), produced by Alibaba's SDKs and by OSS itself.

pub mod callback;
mod common;
pub mod policy;
pub mod sts;
pub mod token;
pub mod upload_callback;
pub mod v1;
pub mod v4;

#[cfg(test)]
mod fixtures;

pub use callback::{CallbackBodyType, CallbackParam, CallbackVars};
/// How OSS reads a request's query and splits its path into bucket and key; the emulator routes
/// with them too (and the service compares its API keys' hashes with `ct_eq`).
pub use common::{ct_eq, parse_query, query_value, split_bucket_key};
pub use policy::{Condition, ParsedCondition, ParsedPolicy, PolicyViolation, PostPolicy};
pub use token::{TokenError, TokenKeys, UploadClaims};
pub use v1::{parse_string_to_sign, ParsedStringToSign, PresignV1, StringToSign};
pub use v4::{CanonicalRequest, Credential, HeaderSignV4, PresignV4};

use chrono::{DateTime, Utc};

/// Why a wire-format operation failed. Variants name the cause so the API layer can map each one
/// to a status and a stable code without string matching.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigningError {
    #[error("invalid base64 in {0}")]
    InvalidBase64(&'static str),
    #[error("invalid JSON in {what}: {detail}")]
    InvalidJson { what: &'static str, detail: String },
    #[error("invalid policy: {0}")]
    InvalidPolicy(String),
    #[error("malformed string to sign: {0}")]
    MalformedStringToSign(String),
    #[error("malformed authorization: {0}")]
    MalformedAuthorization(String),
    #[error("missing {0}")]
    Missing(&'static str),
    #[error("invalid {what}: {detail}")]
    InvalidValue { what: &'static str, detail: String },
    #[error("unknown access key id")]
    UnknownAccessKey,
    #[error("signature does not match")]
    SignatureMismatch,
    #[error("signature has expired")]
    Expired,
    #[error("request time too far from server time")]
    RequestTimeSkewed,
    #[error("invalid callback parameter: {0}")]
    InvalidCallback(String),
    #[error("invalid RSA public key")]
    InvalidPublicKey,
    #[error("public key URL not allowed")]
    PublicKeyUrlNotAllowed,
    #[error("RSA signing failed")]
    RsaSign,
}

impl SigningError {
    pub(crate) fn invalid(what: &'static str, detail: impl Into<String>) -> Self {
        SigningError::InvalidValue {
            what,
            detail: detail.into(),
        }
    }
}

pub type Result<T, E = SigningError> = std::result::Result<T, E>;

/// An HTTP request as the emulator received it, reduced to what OSS signatures cover. Kept free of
/// any HTTP crate's types so this module stays pure.
#[derive(Debug, Clone, Copy)]
pub struct IncomingRequest<'a> {
    pub method: &'a str,
    /// Bucket named by the Host header (virtual-hosted style). `None` for path-style requests,
    /// whose first path segment is the bucket.
    pub host_bucket: Option<&'a str>,
    /// The request path exactly as received (still percent-encoded), starting with `/`.
    pub path: &'a str,
    /// The raw query string without `?`, if the request line had one.
    pub query: Option<&'a str>,
    /// Header names in any case; the first occurrence of a name wins.
    pub headers: &'a [(&'a str, &'a str)],
}

/// Which OSS signature scheme authenticated a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureVersion {
    V1,
    V4,
}

/// What a successful request verification proves: who signed, for which object, until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedRequest {
    pub version: SignatureVersion,
    pub access_key_id: String,
    pub bucket: Option<String>,
    pub key: String,
    /// V4 only: the region named in the credential scope (the caller checks it is its own).
    pub region: Option<String>,
    /// STS token carried as `security-token` / `x-oss-security-token` query or header.
    pub security_token: Option<String>,
    /// For presigned URLs, the moment the URL stops being valid.
    pub expires_at: Option<DateTime<Utc>>,
}

/// How far a header-signed request's date may be from the server clock (OSS allows 15 minutes).
pub const MAX_CLOCK_SKEW_SECS: i64 = 15 * 60;

/// Verify any signed OSS request, choosing the scheme the way OSS does: V4 query parameters,
/// V1 query parameters, then the `Authorization` header's scheme.
pub fn verify_request(
    req: &IncomingRequest,
    now: DateTime<Utc>,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<VerifiedRequest> {
    let query = common::parse_query(req.query);
    if common::query_value(&query, "x-oss-signature-version").is_some() {
        return v4::verify_query_signed(req, now, lookup);
    }
    if common::query_value(&query, "OSSAccessKeyId").is_some() {
        return v1::verify_request(req, now, lookup);
    }
    match common::header(req.headers, "authorization") {
        Some(a) if a.starts_with(v4::ALGORITHM) => v4::verify_header_signed(req, now, lookup),
        Some(a) if a.starts_with("OSS ") => v1::verify_request(req, now, lookup),
        Some(_) => Err(SigningError::MalformedAuthorization(
            "unsupported signature scheme".into(),
        )),
        None => Err(SigningError::Missing("signature")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{lookup, parts, unix, AK, REGION, SECRET};

    #[test]
    fn dispatch_picks_the_scheme() {
        let now = unix(1_795_578_400);
        let v1_url = v1::presign_url(&PresignV1 {
            origin: "https://b.example",
            access_key_id: AK,
            secret: SECRET,
            method: "PUT",
            bucket: "b",
            key: "k",
            expires_at: now + chrono::Duration::minutes(10),
            ..Default::default()
        });
        let v4_url = v4::presign_url(&PresignV4 {
            origin: "https://b.example",
            access_key_id: AK,
            secret: SECRET,
            region: REGION,
            method: "PUT",
            bucket: "b",
            key: "k",
            at: now,
            expires_in: 600,
            ..Default::default()
        })
        .unwrap();
        for (url, version) in [(v1_url, SignatureVersion::V1), (v4_url, SignatureVersion::V4)] {
            let (path, query) = parts(&url);
            let req = IncomingRequest {
                method: "PUT",
                host_bucket: Some("b"),
                path: &path,
                query: query.as_deref(),
                headers: &[],
            };
            assert_eq!(verify_request(&req, now, lookup).unwrap().version, version);
        }
        let added = v4::sign_headers(&HeaderSignV4 {
            access_key_id: AK,
            secret: SECRET,
            region: REGION,
            method: "GET",
            bucket: Some("b"),
            key: "k",
            at: now,
            ..Default::default()
        })
        .unwrap();
        let headers: Vec<(&str, &str)> = added.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let req = IncomingRequest {
            method: "GET",
            host_bucket: Some("b"),
            path: "/k",
            query: None,
            headers: &headers,
        };
        assert_eq!(
            verify_request(&req, now, lookup).unwrap().version,
            SignatureVersion::V4
        );

        let anonymous = IncomingRequest { headers: &[], ..req };
        assert_eq!(
            verify_request(&anonymous, now, lookup),
            Err(SigningError::Missing("signature"))
        );
        let other = [("Authorization", "Bearer x")];
        let bearer = IncomingRequest {
            headers: &other,
            ..req
        };
        assert!(matches!(
            verify_request(&bearer, now, lookup),
            Err(SigningError::MalformedAuthorization(_))
        ));
    }
}
