use actix_web::http::StatusCode;

use crate::error::ApiError;

/// Why no STS credentials were handed out. Clone: one AssumeRole outcome is shared by every
/// request that waited for it.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StsError {
    #[error("STS did not answer in time")]
    Timeout,
    #[error("STS is throttling AssumeRole calls ({code})")]
    Throttled { code: String },
    #[error("STS is unavailable ({code})")]
    Unavailable { code: String },
    #[error("STS refused AssumeRole ({code})")]
    Rejected { code: String },
    #[error("STS could not be reached")]
    Unreachable,
    #[error("STS answered with something unexpected: {0}")]
    BadAnswer(String),
    /// The scope would need a RAM wildcard character: a configuration problem, not the client's.
    #[error("cannot scope credentials to {0:?}")]
    Scope(String),
    #[error("the AssumeRole task failed")]
    Internal,
}

impl From<StsError> for ApiError {
    fn from(err: StsError) -> Self {
        // The STS code (e.g. `Throttling.User`, `NoPermission`) is safe to show and helps whoever
        // reads the app's logs; STS's own message and request id are logged, not returned.
        let (status, code, message) = match &err {
            StsError::Timeout => (
                StatusCode::SERVICE_UNAVAILABLE,
                "sts_timeout",
                "the token service did not answer in time; retry later".to_string(),
            ),
            StsError::Throttled { code } => (
                StatusCode::SERVICE_UNAVAILABLE,
                "sts_throttled",
                format!("the token service is throttling requests ({code}); retry later"),
            ),
            StsError::Unavailable { code } => (
                StatusCode::SERVICE_UNAVAILABLE,
                "sts_unavailable",
                format!("the token service is unavailable ({code}); retry later"),
            ),
            StsError::Rejected { code } => (
                StatusCode::BAD_GATEWAY,
                "sts_error",
                format!("the token service refused the request ({code})"),
            ),
            StsError::Unreachable | StsError::BadAnswer(_) => (
                StatusCode::BAD_GATEWAY,
                "sts_error",
                "the token service could not be used".to_string(),
            ),
            StsError::Scope(_) | StsError::Internal => return ApiError::internal(err),
        };
        ApiError::new(status, code, message)
    }
}
