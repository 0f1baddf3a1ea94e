//! The one error every HTTP response uses: `{"error": {"code": "...", "message": "..."}}`.
//!
//! Capability modules keep their own error enums and convert into [`ApiError`]; the status and the
//! stable `code` are chosen there, once. A 5xx never carries internal text: its cause rides on the
//! response (never in the body) and the access log writes its chain once, on the request's line.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

pub use crate::store::Cause;

/// Every `code` the server answers with: `openapi.yaml`'s `ErrorCode` enum lists exactly these
/// (tested), so generated clients get a closed set. Add a code here and in the spec together.
pub const CODES: &[&str] = &[
    "account_disabled",
    "api_key_required",
    "bad_request",
    "callback_not_recorded",
    "callback_required",
    "content_type_not_allowed",
    "credential_expired",
    "credential_expires_too_soon",
    "database_unavailable",
    "date_out_of_range",
    "identity_provider_unavailable",
    "insufficient_scope",
    "internal_error",
    "invalid_api_key",
    "invalid_callback_body",
    "invalid_credentials",
    "invalid_cursor",
    "invalid_event_type",
    "invalid_filename",
    "invalid_filter",
    "invalid_json",
    "invalid_limit",
    "invalid_path",
    "invalid_query",
    "invalid_range",
    "invalid_refresh_token",
    "invalid_request",
    "invalid_signature",
    "invalid_size",
    "invalid_token",
    "invalid_webhook_url",
    "key_too_long",
    "key_url_not_allowed",
    "ledger_unavailable",
    "malformed_authorization",
    "method_not_allowed",
    "missing_signature",
    "missing_token",
    "missing_upload_token",
    "multipart_not_enabled",
    "not_ready",
    "object_not_found",
    "oss_unavailable",
    "password_matches_username",
    "password_too_long",
    "password_too_short",
    "password_too_simple",
    "password_too_weak",
    "payload_too_large",
    "public_key_unavailable",
    "quota_exceeded",
    "rate_limited",
    "refresh_token_expired",
    "refresh_token_reused",
    "registration_disabled",
    "route_not_found",
    "server_busy",
    "sign_refused",
    "size_too_large",
    "sts_disabled",
    "sts_error",
    "sts_throttled",
    "sts_timeout",
    "sts_unavailable",
    "token_expired",
    "too_many_login_attempts",
    "too_many_registrations",
    "unknown_profile",
    "unknown_upload_token",
    "unsupported_body_type",
    "unsupported_media_type",
    "upload_mismatch",
    "upload_not_found",
    "user_token_required",
    "username_invalid_characters",
    "username_taken",
    "username_too_long",
    "username_too_short",
    "variable_not_allowed",
    "variable_too_long",
    "webhook_endpoint_not_found",
    "webhook_event_not_found",
    "webhook_url_refused",
];

/// The code of an error response, kept on it for the access log.
#[derive(Debug, Clone, Copy)]
pub struct ErrorCode(pub &'static str);

/// The cause of an error response, kept on it for the access log.
#[derive(Debug, Clone)]
pub struct ErrorCause(pub Cause);

impl ErrorCause {
    /// `outer: inner: innermost`, skipping a source whose text its parent already ends with
    /// (thiserror messages like `database unavailable: {0}` print their source themselves).
    pub fn chain(&self) -> String {
        let mut out = self.0.to_string();
        let mut next = self.0.source();
        while let Some(err) = next {
            let text = err.to_string();
            if !out.ends_with(&text) {
                out.push_str(": ");
                out.push_str(&text);
            }
            next = err.source();
        }
        out
    }
}

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    /// Stable, machine-readable; documented in `openapi.yaml`.
    pub code: &'static str,
    /// For people; safe to show (no secrets, no internal detail).
    pub message: String,
    /// Sent as `WWW-Authenticate` on 401 responses.
    pub www_authenticate: Option<String>,
    /// Sent as `Retry-After` (seconds), e.g. on 429.
    pub retry_after: Option<u64>,
    /// Extra machine-readable fields beside `code` and `message` (documented per code).
    pub details: Option<Box<serde_json::Map<String, serde_json::Value>>>,
    /// Why, for the log (never sent). Boxed: errors travel in `Result`s and should stay small.
    pub cause: Option<Box<Cause>>,
}

#[derive(Serialize)]
struct Body<'a> {
    error: Inner<'a>,
}

#[derive(Serialize)]
struct Inner<'a> {
    code: &'a str,
    message: &'a str,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    details: Option<&'a serde_json::Map<String, serde_json::Value>>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        debug_assert!(
            CODES.contains(&code),
            "error code {code:?} is missing from error::CODES"
        );
        ApiError {
            status,
            code,
            message: message.into(),
            www_authenticate: None,
            retry_after: None,
            details: None,
            cause: None,
        }
    }

    /// Keeps `cause` for the request's log line.
    pub fn caused_by(mut self, cause: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        self.cause = Some(Box::new(cause.into().into()));
        self
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn unprocessable(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
    }

    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }

    pub fn forbidden(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, code, message)
    }

    /// 401 with a bearer challenge naming the failure (RFC 6750 §3).
    pub fn unauthorized(code: &'static str, message: impl Into<String>) -> Self {
        let message = message.into();
        let challenge = format!(
            "Bearer realm=\"upload-signer\", error=\"invalid_token\", error_description=\"{}\"",
            message.replace('"', "'")
        );
        ApiError {
            www_authenticate: Some(challenge),
            ..Self::new(StatusCode::UNAUTHORIZED, code, message)
        }
    }

    pub fn too_many_requests(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::TOO_MANY_REQUESTS, code, message)
    }

    pub fn service_unavailable(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, code, message)
    }

    /// The database cannot be reached: a `503` the client may retry.
    pub fn database_unavailable() -> Self {
        Self::service_unavailable(
            "database_unavailable",
            "the database is unreachable; retry shortly",
        )
    }

    /// A 500 that shows the client nothing of `cause`; the access log writes it.
    pub fn internal(cause: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "the server failed to handle the request; it has been logged",
        )
        .caused_by(cause)
    }

    /// The JSON body, for callers that build a response by hand.
    pub fn body_json(&self) -> String {
        serde_json::to_string(&Body {
            error: Inner {
                code: self.code,
                message: &self.message,
                details: self.details.as_deref(),
            },
        })
        .unwrap_or_else(|_| r#"{"error":{"code":"internal_error","message":"error"}}"#.into())
    }
}

/// The one map from storage errors: an unreachable database is a `503` the client may retry.
/// A missing row means something different on each route, so routes turn
/// `StoreError::NotFound` into their own `404` before this; one reaching here is a bug (a 500).
impl From<crate::store::StoreError> for ApiError {
    fn from(err: crate::store::StoreError) -> Self {
        if err.is_unavailable() {
            ApiError::database_unavailable().caused_by(err)
        } else {
            ApiError::internal(err)
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status.as_u16(), self.code, self.message)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        response.content_type("application/json");
        if let Some(challenge) = self.www_authenticate.as_deref() {
            if let Ok(value) = HeaderValue::from_str(challenge) {
                response.insert_header((header::WWW_AUTHENTICATE, value));
            }
        }
        if let Some(secs) = self.retry_after {
            response.insert_header((header::RETRY_AFTER, secs.to_string()));
        }
        let mut response = response.body(self.body_json());
        response.extensions_mut().insert(ErrorCode(self.code));
        if let Some(cause) = &self.cause {
            response.extensions_mut().insert(ErrorCause(Cause::clone(cause)));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::CODES;
    use std::collections::BTreeSet;

    /// The spec's `ErrorCode` enum is exactly [`CODES`].
    #[test]
    fn the_spec_lists_every_code() {
        let spec: serde_norway::Value = serde_norway::from_str(crate::ops::OPENAPI_YAML).unwrap();
        let listed: BTreeSet<&str> = spec["components"]["schemas"]["ErrorCode"]["enum"]
            .as_sequence()
            .expect("components.schemas.ErrorCode.enum")
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        let ours: BTreeSet<&str> = CODES.iter().copied().collect();
        assert_eq!(listed, ours);
    }

    /// Every code literal the source passes to an error is in [`CODES`]: arguments of `ApiError`
    /// constructors (same or next line) and `=> "code"` arms of the error enums' mappings.
    #[test]
    fn every_code_in_the_source_is_listed() {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/src");
        let mut found = BTreeSet::new();
        let mut stack = vec![std::path::PathBuf::from(root)];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                let rel = path.strip_prefix(root).unwrap().to_string_lossy().to_string();
                // OSS's own XML codes (emulator), wire formats and SQL emit none of ours.
                if ["emulator", "signing", "store", "settings"]
                    .iter()
                    .any(|d| rel.starts_with(d))
                {
                    continue;
                }
                if path.is_dir() {
                    stack.push(path);
                } else if rel.ends_with(".rs") {
                    let text = std::fs::read_to_string(&path).unwrap();
                    let text = text.split("#[cfg(test)]").next().unwrap();
                    found.extend(code_literals(text).into_iter().map(|c| (c, rel.clone())));
                }
            }
        }
        let missing: Vec<_> = found
            .iter()
            .filter(|(c, _)| !CODES.contains(&c.as_str()))
            .collect();
        assert!(missing.is_empty(), "codes missing from error::CODES: {missing:?}");
        assert!(found.len() > 50, "the scan found only {}", found.len());
    }

    fn code_literals(text: &str) -> Vec<String> {
        let snake = |s: &str| s.contains('_') && s.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
        let first_literal = |line: &str| -> Option<String> {
            let start = line.find('"')? + 1;
            let end = start + line[start..].find('"')?;
            Some(line[start..end].to_string()).filter(|s| snake(s))
        };
        let mut out = Vec::new();
        let mut previous = "";
        for line in text.lines().map(str::trim) {
            let after_call = previous.contains("ApiError::") && previous.ends_with('(')
                || previous.ends_with("=> (")
                || previous.starts_with("StatusCode::") && previous.ends_with(',');
            let candidate = if let Some(i) = line.find("ApiError::") {
                first_literal(&line[i..])
            } else if let Some(i) = line.find("=> \"") {
                first_literal(&line[i..])
            } else if after_call || line.starts_with("\"code\":") {
                first_literal(line.trim_start_matches("\"code\":"))
            } else {
                None
            };
            out.extend(candidate);
            previous = line;
        }
        out
    }
}
