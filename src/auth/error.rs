use crate::error::ApiError;
use crate::store::StoreError;

use super::passwords::PasswordError;
use super::usernames::UsernameError;

/// Everything that can go wrong proving who a caller is. Status and stable code are chosen once,
/// in the conversion below.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("missing bearer token")]
    MissingToken,
    #[error("malformed Authorization header: expected `Bearer <token>`")]
    MalformedHeader,
    #[error("access token expired")]
    Expired,
    #[error("access token rejected: {0}")]
    Invalid(&'static str),
    /// Wrong password or no such user: deliberately the same answer.
    #[error("invalid username or password")]
    InvalidCredentials,
    #[error("this account is disabled")]
    AccountDisabled,
    #[error("too many failed login attempts; retry in {} s", retry_secs(.0))]
    TooManyAttempts(std::time::Duration),
    #[error("too many new accounts from here; retry in {} s", retry_secs(.0))]
    TooManyRegistrations(std::time::Duration),
    /// Every password-hashing slot is taken and the queue is full.
    #[error("the server is busy checking passwords; retry in a moment")]
    Busy,
    #[error("registration is disabled on this server")]
    RegistrationDisabled,
    #[error("this username is already taken")]
    UsernameTaken,
    #[error(transparent)]
    Username(#[from] UsernameError),
    #[error(transparent)]
    Password(#[from] PasswordError),
    #[error("refresh token rejected: {0}")]
    InvalidRefreshToken(&'static str),
    #[error("refresh token expired; log in again")]
    RefreshTokenExpired,
    /// A rotated-out token came back: stolen or replayed, so its whole family is revoked.
    #[error("refresh token already used; all tokens of this login have been revoked")]
    RefreshTokenReused,
    #[error("the identity provider's keys cannot be fetched right now")]
    ProviderUnavailable,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Internal(String),
}

/// Whole seconds to wait, rounded up (a `Retry-After` of 0 would invite an instant retry).
fn retry_secs(wait: &std::time::Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
}

fn with_retry(mut err: ApiError, secs: u64) -> ApiError {
    err.retry_after = Some(secs.max(1));
    err
}

impl From<AuthError> for ApiError {
    fn from(err: AuthError) -> Self {
        let message = err.to_string();
        match err {
            AuthError::MissingToken => ApiError::unauthorized("missing_token", message),
            AuthError::MalformedHeader => ApiError::unauthorized("malformed_authorization", message),
            AuthError::Expired => ApiError::unauthorized("token_expired", message),
            AuthError::Invalid(_) => ApiError::unauthorized("invalid_token", message),
            AuthError::InvalidCredentials => ApiError::unauthorized("invalid_credentials", message),
            AuthError::InvalidRefreshToken(_) => ApiError::unauthorized("invalid_refresh_token", message),
            AuthError::RefreshTokenExpired => ApiError::unauthorized("refresh_token_expired", message),
            AuthError::RefreshTokenReused => ApiError::unauthorized("refresh_token_reused", message),
            AuthError::AccountDisabled => ApiError::forbidden("account_disabled", message),
            AuthError::RegistrationDisabled => ApiError::forbidden("registration_disabled", message),
            AuthError::TooManyAttempts(wait) => with_retry(
                ApiError::too_many_requests("too_many_login_attempts", message),
                retry_secs(&wait),
            ),
            AuthError::TooManyRegistrations(wait) => with_retry(
                ApiError::too_many_requests("too_many_registrations", message),
                retry_secs(&wait),
            ),
            AuthError::Busy => with_retry(ApiError::service_unavailable("server_busy", message), 1),
            AuthError::UsernameTaken => ApiError::conflict("username_taken", message),
            AuthError::Username(e) => ApiError::unprocessable(e.code(), message),
            AuthError::Password(e) => ApiError::unprocessable(e.code(), message),
            AuthError::ProviderUnavailable => {
                ApiError::service_unavailable("identity_provider_unavailable", message)
            }
            AuthError::Store(err) => err.into(),
            AuthError::Internal(cause) => ApiError::internal(cause),
        }
    }
}
