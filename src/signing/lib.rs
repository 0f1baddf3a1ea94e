//! The wire formats, along their three seams:
//!
//! - [`oss`]: what OSS itself reads and writes: PostObject policies, V1 (HMAC-SHA1) and V4
//!   (OSS4-HMAC-SHA256) signatures and presigned URLs, upload-callback parameters and their RSA
//!   signatures, and the verification of any signed request (what the emulator checks);
//! - [`token`]: our own upload token, which binds a callback to the credential we issued;
//! - [`sts`]: Alibaba Cloud RPC (POP) request signing, for STS `AssumeRole`.
//!
//! Everything here is a pure function of its arguments: strings, bytes and a `DateTime<Utc>` in,
//! strings and bytes out. No clock, no I/O, no HTTP or SQL types, so the issuing side and the OSS
//! emulator share exactly one implementation of each algorithm. Each file pins its output to the
//! vectors in `tests/vectors/` (copied from `shared/vectors/`), produced by Alibaba's SDKs and by OSS itself.

mod common;
pub mod oss;
pub mod sts;
pub mod token;

#[cfg(test)]
mod fixtures;

// OSS's formats keep their short paths (`signing::v4::...`), as before the split.
pub use oss::{callback, policy, upload_callback, v1, v4};
pub use oss::{verify_request, IncomingRequest, SignatureVersion, VerifiedRequest, MAX_CLOCK_SKEW_SECS};

pub use callback::{CallbackBodyType, CallbackParam, CallbackVars};
/// How OSS reads a request's query and splits its path into bucket and key; the emulator routes
/// with them too (and the service compares its API keys' hashes with `ct_eq`).
pub use common::{ct_eq, parse_query, query_value, split_bucket_key};
pub use policy::{Condition, ParsedCondition, ParsedPolicy, PolicyViolation, PostPolicy};
pub use token::{TokenError, TokenKeys, UploadClaims};
pub use v1::{parse_string_to_sign, ParsedStringToSign, PresignV1, StringToSign};
pub use v4::{CanonicalRequest, Credential, HeaderSignV4, PresignV4};

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
