//! One delivery attempt over HTTP: sign, POST, and read at most a little of the answer.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use super::signature;
use super::target::{self, GuardedResolver, TargetPolicy};
use crate::settings::WebhookSettings;
use crate::store::webhooks::WebhookEndpoint;

/// Bytes of a receiver's answer read (for the attempt's error); the rest is never read.
const MAX_RESPONSE_BYTES: usize = 1024;
/// Characters of that answer kept with a failed attempt.
const MAX_ERROR_CHARS: usize = 200;

/// What one attempt saw.
#[derive(Debug, Clone)]
pub struct Report {
    pub status: Option<u16>,
    pub latency: Duration,
    /// Why it failed, for the attempts API (never the URL: it may carry a receiver's token).
    pub error: Option<String>,
    /// A receiver's `Retry-After`, in seconds.
    pub retry_after: Option<u64>,
}

impl Report {
    pub fn delivered(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }

    fn failed(error: String, started: Instant) -> Report {
        Report {
            status: None,
            latency: started.elapsed(),
            error: Some(error),
            retry_after: None,
        }
    }
}

pub struct Sender {
    client: reqwest::Client,
    policy: TargetPolicy,
}

impl Sender {
    pub fn new(settings: &WebhookSettings, policy: TargetPolicy) -> anyhow::Result<Sender> {
        let mut client = reqwest::Client::builder()
            // A redirect is a failure (Standard Webhooks), and would dodge the address check.
            .redirect(reqwest::redirect::Policy::none())
            .timeout(settings.timeout())
            .connect_timeout(settings.timeout().min(Duration::from_secs(5)))
            // A proxy would connect on our behalf to an address we never checked.
            .no_proxy()
            .user_agent(concat!("upload-signer-webhooks/", env!("CARGO_PKG_VERSION")));
        if !policy.allow_private {
            client = client.dns_resolver(std::sync::Arc::new(GuardedResolver));
        }
        Ok(Sender {
            client: client.build()?,
            policy,
        })
    }

    /// Sends `payload` as event `event_id` to `endpoint`, signed with its secret (and its previous
    /// one during a rotation's overlap).
    pub async fn send(
        &self,
        endpoint: &WebhookEndpoint,
        event_id: &str,
        payload: &str,
        now: DateTime<Utc>,
    ) -> Report {
        let started = Instant::now();
        let url = match target::parse(&endpoint.url, self.policy) {
            Ok(url) => url,
            Err(e) => return Report::failed(e.to_string(), started),
        };
        let keys: Vec<Vec<u8>> = signing_secrets(endpoint, now)
            .into_iter()
            .filter_map(signature::secret_key)
            .collect();
        if keys.is_empty() {
            return Report::failed("the endpoint has no usable secret; rotate it".into(), started);
        }
        let timestamp = now.timestamp();
        let request = self
            .client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("webhook-id", event_id)
            .header("webhook-timestamp", timestamp.to_string())
            .header(
                "webhook-signature",
                signature::header(&keys, event_id, timestamp, payload.as_bytes()),
            )
            .body(payload.to_owned());
        let mut response = match request.send().await {
            Ok(r) => r,
            Err(e) => return Report::failed(describe(&e), started),
        };
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok());
        let mut error = None;
        if !(200..300).contains(&status) {
            let mut body = Vec::new();
            while body.len() < MAX_RESPONSE_BYTES {
                match response.chunk().await {
                    Ok(Some(chunk)) => body.extend_from_slice(&chunk),
                    _ => break,
                }
            }
            body.truncate(MAX_RESPONSE_BYTES);
            let text: String = String::from_utf8_lossy(&body)
                .chars()
                .take(MAX_ERROR_CHARS)
                .collect();
            error = Some(match text.trim() {
                "" => format!("the receiver answered {status}"),
                t => format!("the receiver answered {status}: {t}"),
            });
        }
        Report {
            status: Some(status),
            latency: started.elapsed(),
            error,
            retry_after,
        }
    }
}

/// The current secret, and the previous one while its overlap lasts.
pub fn signing_secrets(endpoint: &WebhookEndpoint, now: DateTime<Utc>) -> Vec<&str> {
    let mut secrets = vec![endpoint.secret.as_str()];
    if let (Some(previous), Some(until)) = (&endpoint.previous_secret, endpoint.previous_secret_until) {
        if until > now {
            secrets.push(previous);
        }
    }
    secrets
}

/// A transport error without its URL, with its causes.
fn describe(err: &reqwest::Error) -> String {
    if err.is_timeout() {
        return "no answer within the timeout".into();
    }
    let mut text = if err.is_connect() {
        "could not connect".to_string()
    } else {
        "the request failed".to_string()
    };
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text.chars().take(MAX_ERROR_CHARS).collect()
}
