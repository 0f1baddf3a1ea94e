use crate::error::ApiError;

/// Why a credential was not issued (or a string-to-sign not signed).
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    #[error("unknown upload profile {0:?}")]
    UnknownProfile(String),
    #[error("content type {0:?} is not allowed for this profile")]
    ContentTypeNotAllowed(String),
    #[error("size must be positive")]
    SizeNotPositive,
    #[error("size {size} exceeds this profile's limit of {max} bytes")]
    SizeTooLarge { size: u64, max: u64 },
    #[error("invalid filename: {0}")]
    InvalidFilename(&'static str),
    #[error("variable {0:?} is not allowed for this profile")]
    VariableNotAllowed(String),
    #[error("variable {name:?} is longer than {max} bytes")]
    VariableTooLong { name: String, max: usize },
    #[error("the object key would be longer than OSS allows (1023 bytes)")]
    KeyTooLong,
    #[error("refusing to sign: {0}")]
    SignRefused(String),
    #[error("refusing to sign: the Date line is more than {0} minutes from now; fix the device clock")]
    SignDateOutOfRange(i64),
    #[error("refusing to sign: OSS would accept the request for {0} minutes after its Date, past the upload credential's expiry; request a new upload")]
    CredentialExpiresTooSoon(i64),
    #[error("refusing to sign: the upload credential has expired; request a new upload")]
    CredentialExpired,
    #[error("refusing to sign: a multipart request carries no callback, so it must name its upload: send the credential's `callback` beside `content`")]
    CallbackRequired,
    #[error("refusing to sign: profile {0:?} takes single uploads (see `upload` in the POST /v1/uploads answer); send the file with one PUT, or set `multipart = true` on the profile")]
    MultipartNotEnabled(String),
    #[error("signing failed: {0}")]
    Signing(#[source] crate::signing::SigningError),
}

impl From<CredentialError> for ApiError {
    fn from(err: CredentialError) -> Self {
        let code = match &err {
            CredentialError::UnknownProfile(_) => "unknown_profile",
            CredentialError::ContentTypeNotAllowed(_) => "content_type_not_allowed",
            CredentialError::SizeNotPositive => "invalid_size",
            CredentialError::SizeTooLarge { .. } => "size_too_large",
            CredentialError::InvalidFilename(_) => "invalid_filename",
            CredentialError::VariableNotAllowed(_) => "variable_not_allowed",
            CredentialError::VariableTooLong { .. } => "variable_too_long",
            CredentialError::KeyTooLong => "key_too_long",
            CredentialError::SignRefused(_) => {
                return ApiError::forbidden("sign_refused", err.to_string());
            }
            CredentialError::SignDateOutOfRange(_) => {
                return ApiError::forbidden("date_out_of_range", err.to_string());
            }
            CredentialError::CredentialExpiresTooSoon(_) => {
                return ApiError::forbidden("credential_expires_too_soon", err.to_string());
            }
            CredentialError::CredentialExpired => {
                return ApiError::forbidden("credential_expired", err.to_string());
            }
            CredentialError::CallbackRequired => {
                return ApiError::forbidden("callback_required", err.to_string());
            }
            CredentialError::MultipartNotEnabled(_) => {
                return ApiError::forbidden("multipart_not_enabled", err.to_string());
            }
            CredentialError::Signing(_) => return ApiError::internal(err),
        };
        ApiError::unprocessable(code, err.to_string())
    }
}
