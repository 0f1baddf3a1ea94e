//! One `AssumeRole` call over HTTPS, signed by `signing::sts`.

use std::time::Duration;

use chrono::Utc;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::StsError;
use crate::settings::{SettingsError, StsSettings};
use crate::signing::sts::{assume_role_url, AssumeRole, AssumeRoleResponse, StsCredentials};

pub struct StsClient {
    http: reqwest::Client,
    endpoint: String,
    role_arn: String,
    access_key_id: String,
    secret: SecretString,
}

/// STS's error answer: `{"RequestId","HostId","Code","Message","Recommend"}`.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Fault {
    code: Option<String>,
    message: Option<String>,
    request_id: Option<String>,
}

impl StsClient {
    pub fn new(settings: &StsSettings, secret: SecretString) -> Result<StsClient, SettingsError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(settings.timeout_secs))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| SettingsError::Invalid {
                key: "sts".into(),
                reason: format!("cannot build the HTTP client: {e}"),
            })?;
        Ok(StsClient {
            http,
            endpoint: settings.endpoint.to_string(),
            role_arn: settings.role_arn.clone(),
            access_key_id: settings.access_key_id.clone(),
            secret,
        })
    }

    pub async fn assume_role(
        &self,
        session_name: &str,
        policy: &str,
        duration_seconds: u32,
    ) -> Result<StsCredentials, StsError> {
        let request = AssumeRole {
            role_arn: &self.role_arn,
            role_session_name: session_name,
            duration_seconds,
            policy: Some(policy),
        };
        let nonce = uuid::Uuid::new_v4().to_string();
        let url = assume_role_url(
            &self.endpoint,
            &request,
            &self.access_key_id,
            self.secret.expose_secret(),
            Utc::now(),
            &nonce,
        );
        // `without_url`: the signed URL is single-use but still nothing for a log.
        let response = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| transport_error(e.without_url()))?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|e| transport_error(e.without_url()))?;
        if !status.is_success() {
            return Err(fault(status.as_u16(), &body));
        }
        let answer: AssumeRoleResponse = serde_json::from_slice(&body).map_err(|e| {
            // Where, not what: serde's message can quote a value, and values here are secrets.
            tracing::warn!(kind = ?e.classify(), line = e.line(), column = e.column(), "AssumeRole answer not understood");
            StsError::BadAnswer("not an AssumeRole answer".into())
        })?;
        if answer.credentials.expiration <= Utc::now() {
            return Err(StsError::BadAnswer("credentials already expired".into()));
        }
        tracing::info!(
            sts_request_id = %answer.request_id,
            session = %session_name,
            access_key_id = %answer.credentials.access_key_id,
            expiration = %answer.credentials.expiration,
            "STS credentials obtained"
        );
        Ok(answer.credentials)
    }
}

/// `err` (already stripped of its URL) and its causes, e.g. `error sending request: ...: Connection refused`.
fn transport_error(err: reqwest::Error) -> StsError {
    let mut chain = err.to_string();
    let mut cause = std::error::Error::source(&err);
    while let Some(c) = cause {
        chain.push_str(": ");
        chain.push_str(&c.to_string());
        cause = c.source();
    }
    if err.is_timeout() {
        tracing::warn!(error = %chain, "AssumeRole timed out");
        StsError::Timeout
    } else {
        tracing::warn!(error = %chain, "AssumeRole transport error");
        StsError::Unreachable
    }
}

/// Sorts STS's refusal into what the client can do about it: throttling and STS-side failures are
/// worth a retry (503), anything else is a configuration problem on our side (502).
fn fault(status: u16, body: &[u8]) -> StsError {
    let fault: Option<Fault> = serde_json::from_slice(body).ok();
    let code = fault
        .as_ref()
        .and_then(|f| f.code.clone())
        .filter(|c| c.len() <= 64 && c.bytes().all(|b| b.is_ascii_graphic()))
        .unwrap_or_else(|| format!("HTTP {status}"));
    tracing::warn!(
        status,
        code = %code,
        message = fault.as_ref().and_then(|f| f.message.as_deref()).unwrap_or(""),
        sts_request_id = fault.as_ref().and_then(|f| f.request_id.as_deref()).unwrap_or(""),
        "AssumeRole refused"
    );
    if code.starts_with("Throttling") || status == 429 {
        StsError::Throttled { code }
    } else if status >= 500 {
        StsError::Unavailable { code }
    } else {
        StsError::Rejected { code }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_are_sorted_by_what_a_retry_can_do() {
        let body = br#"{"RequestId":"r","HostId":"sts.aliyuncs.com","Code":"Throttling.User","Message":"Request was denied due to user flow control."}"#;
        assert!(matches!(fault(400, body), StsError::Throttled { code } if code == "Throttling.User"));
        let body = br#"{"RequestId":"r","Code":"NoPermission","Message":"You are not authorized"}"#;
        assert!(matches!(fault(403, body), StsError::Rejected { code } if code == "NoPermission"));
        assert!(matches!(fault(503, b"<html>"), StsError::Unavailable { code } if code == "HTTP 503"));
        assert!(matches!(fault(429, b""), StsError::Throttled { .. }));
        // A hostile or broken body cannot put arbitrary text into our answer.
        let body = br#"{"Code":"bad code with spaces"}"#;
        assert!(matches!(fault(400, body), StsError::Rejected { code } if code == "HTTP 400"));
    }
}
