use actix_web::http::StatusCode;

use crate::error::ApiError;

/// Why a callback was refused. Each has a stable code, also used as the metric/log reason.
#[derive(Debug, thiserror::Error)]
pub enum CallbackError {
    #[error("missing {0} header")]
    MissingHeader(&'static str),
    #[error("public key URL is not allowed")]
    KeyUrlNotAllowed,
    #[error("OSS public key unavailable: {0}")]
    KeyUnavailable(String),
    #[error("signature does not verify")]
    BadSignature,
    #[error("unsupported callback body type")]
    UnsupportedBodyType,
    #[error("malformed callback body: {0}")]
    MalformedBody(String),
    #[error("callback carries no upload token")]
    MissingToken,
    #[error("upload token not issued by this service")]
    UnknownToken,
    #[error("callback does not match the issued upload: {0}")]
    Mismatch(&'static str),
    #[error("cannot record the upload right now")]
    Unrecordable,
}

impl CallbackError {
    pub fn code(&self) -> &'static str {
        match self {
            CallbackError::MissingHeader(_) => "missing_signature",
            CallbackError::KeyUrlNotAllowed => "key_url_not_allowed",
            CallbackError::KeyUnavailable(_) => "public_key_unavailable",
            CallbackError::BadSignature => "invalid_signature",
            CallbackError::UnsupportedBodyType => "unsupported_body_type",
            CallbackError::MalformedBody(_) => "invalid_callback_body",
            CallbackError::MissingToken => "missing_upload_token",
            CallbackError::UnknownToken => "unknown_upload_token",
            CallbackError::Mismatch(_) => "upload_mismatch",
            CallbackError::Unrecordable => "callback_not_recorded",
        }
    }

    fn status(&self) -> StatusCode {
        match self {
            // No signature at all: unauthenticated, like a missing bearer token.
            CallbackError::MissingHeader(_) => StatusCode::UNAUTHORIZED,
            CallbackError::MalformedBody(_) | CallbackError::MissingToken => StatusCode::BAD_REQUEST,
            CallbackError::UnsupportedBodyType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            CallbackError::KeyUrlNotAllowed
            | CallbackError::BadSignature
            | CallbackError::UnknownToken
            | CallbackError::Mismatch(_) => StatusCode::FORBIDDEN,
            CallbackError::KeyUnavailable(_) => StatusCode::BAD_GATEWAY,
            CallbackError::Unrecordable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

impl From<CallbackError> for ApiError {
    fn from(err: CallbackError) -> Self {
        ApiError::new(err.status(), err.code(), err.to_string())
    }
}
