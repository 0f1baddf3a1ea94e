//! OSS's own formats: PostObject policies, V1 and V4 signatures and presigned URLs, upload
//! callbacks, and the verification of any signed request, choosing the scheme as OSS does.

pub mod callback;
pub mod policy;
pub mod upload_callback;
pub mod v1;
pub mod v4;

use chrono::{DateTime, Utc};

use crate::common;
use crate::{Result, SigningError};

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

/// An OSS signature scheme: the one a profile signs with, or the one that authenticated a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SignatureVersion {
    V1,
    V4,
}

impl SignatureVersion {
    /// As settings, answers and metrics spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            SignatureVersion::V1 => "v1",
            SignatureVersion::V4 => "v4",
        }
    }
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
    use crate::{HeaderSignV4, PresignV1, PresignV4};

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
