use crate::error::ApiError;

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
}

impl From<AuthError> for ApiError {
    fn from(err: AuthError) -> Self {
        let code = match err {
            AuthError::MissingToken => "missing_token",
            AuthError::MalformedHeader => "malformed_authorization",
            AuthError::Expired => "token_expired",
            AuthError::Invalid(_) => "invalid_token",
        };
        ApiError::unauthorized(code, err.to_string())
    }
}
