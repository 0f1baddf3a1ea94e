//! The management API (`uploads:admin`): endpoints, secret rotation, attempts, replay.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::manage::{self, ManageError, Selection};
use super::signature::generate_secret;
use super::target::{self, TargetError, TargetPolicy};
use crate::auth::ApiKey;
use crate::error::ApiError;
use crate::http::Has;
use crate::http::Json;
use crate::settings::Settings;
use crate::store::webhooks::{EventType, WebhookEndpoint};
use crate::store::{DynStore, StoreError};

const SCOPE: &str = "uploads:admin";
/// Longest overlap of an old secret after a rotation.
const MAX_OVERLAP_SECS: u64 = 7 * 86_400;
const DEFAULT_OVERLAP_SECS: u64 = 86_400;
const MAX_ATTEMPTS_LIMIT: u32 = 500;

fn store_error(err: StoreError) -> ApiError {
    match err {
        StoreError::NotFound => ApiError::not_found(
            "webhook_endpoint_not_found",
            "no such webhook endpoint; list them with GET /v1/webhooks/endpoints",
        ),
        e => e.into(),
    }
}

fn manage_error(err: ManageError) -> ApiError {
    match err {
        ManageError::EndpointNotFound => store_error(StoreError::NotFound),
        // The endpoint exists; the body names something that does not: 422, not 404.
        ManageError::EventNotFound => ApiError::unprocessable("webhook_event_not_found", err.to_string()),
        ManageError::InvalidRange(m) => ApiError::bad_request("invalid_range", m),
        ManageError::Store(e) => store_error(e),
    }
}

pub fn policy(settings: &Settings) -> TargetPolicy {
    TargetPolicy {
        require_https: settings.env == crate::settings::AppEnv::Production,
        allow_private: settings.webhooks.allow_private_targets,
    }
}

async fn checked_url(raw: &str, settings: &Settings) -> Result<String, ApiError> {
    let policy = policy(settings);
    let checked = match target::parse(raw, policy) {
        Ok(url) => target::check_resolved(&url, policy).await.map(|_| url),
        Err(e) => Err(e),
    };
    match checked {
        Ok(url) => Ok(url.to_string()),
        Err(TargetError::Invalid(m)) => Err(ApiError::unprocessable("invalid_webhook_url", m)),
        Err(TargetError::Refused(m)) => Err(ApiError::unprocessable("webhook_url_refused", m)),
    }
}

fn checked_types(types: Vec<String>) -> Result<Vec<String>, ApiError> {
    if let Some(bad) = types.iter().find(|t| EventType::parse(t).is_none()) {
        let known: Vec<&str> = EventType::ALL.iter().map(|t| t.as_str()).collect();
        return Err(ApiError::unprocessable(
            "invalid_event_type",
            format!("unknown event type {bad:?}; known: {}", known.join(", ")),
        ));
    }
    Ok(dedup(types))
}

fn checked_profiles(profiles: Vec<String>, settings: &Settings) -> Result<Vec<String>, ApiError> {
    if let Some(bad) = profiles
        .iter()
        .find(|p| !settings.profiles.contains_key(p.as_str()))
    {
        let known: Vec<&str> = settings.profiles.keys().map(String::as_str).collect();
        return Err(ApiError::unprocessable(
            "unknown_profile",
            format!("unknown profile {bad:?}; known: {}", known.join(", ")),
        ));
    }
    Ok(dedup(profiles))
}

fn dedup(mut items: Vec<String>) -> Vec<String> {
    items.sort();
    items.dedup();
    items
}

fn checked_description(d: String) -> Result<String, ApiError> {
    if d.chars().count() > 200 || d.chars().any(char::is_control) {
        return Err(ApiError::unprocessable(
            "invalid_request",
            "description is at most 200 characters, without control characters",
        ));
    }
    Ok(d)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateEndpoint {
    url: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    event_types: Vec<String>,
    #[serde(default)]
    profiles: Vec<String>,
}

/// An endpoint as made: the only time its secret is shown.
#[derive(Serialize)]
struct Created<'a> {
    #[serde(flatten)]
    endpoint: &'a WebhookEndpoint,
    secret: &'a str,
}

pub async fn create<S: Has<DynStore> + Has<Settings> + 'static>(
    key: ApiKey,
    state: web::Data<S>,
    body: Json<CreateEndpoint>,
) -> Result<HttpResponse, ApiError> {
    let store: &DynStore = state.get();
    let settings: &Settings = state.get();
    key.require(SCOPE)?;
    let body = body.into_inner();
    let now = Utc::now();
    let endpoint = WebhookEndpoint {
        id: format!("whe_{}", uuid::Uuid::now_v7().simple()),
        url: checked_url(&body.url, settings).await?,
        description: checked_description(body.description)?,
        event_types: checked_types(body.event_types)?,
        profiles: checked_profiles(body.profiles, settings)?,
        secret: generate_secret(),
        previous_secret: None,
        previous_secret_until: None,
        enabled: true,
        disabled_reason: None,
        failing_since: None,
        created_at: now,
        updated_at: now,
    };
    store.insert_endpoint(&endpoint).await.map_err(store_error)?;
    tracing::info!(endpoint_id = %endpoint.id, api_key = %key.id, "webhook endpoint created");
    Ok(HttpResponse::Created().json(Created {
        endpoint: &endpoint,
        secret: &endpoint.secret,
    }))
}

#[derive(Serialize)]
struct Items<T: Serialize> {
    items: Vec<T>,
}

pub async fn list<S: Has<DynStore> + 'static>(
    key: ApiKey,
    state: web::Data<S>,
) -> Result<HttpResponse, ApiError> {
    let store: &DynStore = state.get();
    key.require(SCOPE)?;
    let items = store.list_endpoints().await.map_err(store_error)?;
    Ok(HttpResponse::Ok().json(Items { items }))
}

pub async fn get<S: Has<DynStore> + 'static>(
    key: ApiKey,
    state: web::Data<S>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let store: &DynStore = state.get();
    key.require(SCOPE)?;
    let endpoint = store.get_endpoint(&id).await.map_err(store_error)?;
    Ok(HttpResponse::Ok().json(endpoint))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateEndpoint {
    url: Option<String>,
    description: Option<String>,
    event_types: Option<Vec<String>>,
    profiles: Option<Vec<String>>,
    /// `false` disables the endpoint (deliveries wait); `true` enables it again.
    enabled: Option<bool>,
}

pub async fn update<S: Has<DynStore> + Has<Settings> + 'static>(
    key: ApiKey,
    state: web::Data<S>,
    id: web::Path<String>,
    body: Json<UpdateEndpoint>,
) -> Result<HttpResponse, ApiError> {
    let store: &DynStore = state.get();
    let settings: &Settings = state.get();
    key.require(SCOPE)?;
    let body = body.into_inner();
    let mut endpoint = store.get_endpoint(&id).await.map_err(store_error)?;
    if let Some(url) = body.url {
        endpoint.url = checked_url(&url, settings).await?;
    }
    if let Some(d) = body.description {
        endpoint.description = checked_description(d)?;
    }
    if let Some(types) = body.event_types {
        endpoint.event_types = checked_types(types)?;
    }
    if let Some(profiles) = body.profiles {
        endpoint.profiles = checked_profiles(profiles, settings)?;
    }
    if let Some(enabled) = body.enabled {
        manage::set_enabled(&mut endpoint, enabled, "through the API");
    }
    endpoint.updated_at = Utc::now();
    store.update_endpoint(&endpoint).await.map_err(store_error)?;
    Ok(HttpResponse::Ok().json(endpoint))
}

pub async fn delete<S: Has<DynStore> + 'static>(
    key: ApiKey,
    state: web::Data<S>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let store: &DynStore = state.get();
    key.require(SCOPE)?;
    store.delete_endpoint(&id).await.map_err(store_error)?;
    tracing::info!(endpoint_id = %id, api_key = %key.id, "webhook endpoint deleted");
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rotate {
    /// How long the previous secret keeps signing too (default a day, at most 7 days; 0: not at all).
    overlap_secs: Option<u64>,
}

#[derive(Serialize)]
struct Rotated<'a> {
    secret: &'a str,
    #[serde(serialize_with = "crate::store::timestamp::serialize_option")]
    previous_secret_until: Option<DateTime<Utc>>,
}

pub async fn rotate<S: Has<DynStore> + 'static>(
    key: ApiKey,
    state: web::Data<S>,
    id: web::Path<String>,
    body: Json<Rotate>,
) -> Result<HttpResponse, ApiError> {
    let store: &DynStore = state.get();
    key.require(SCOPE)?;
    let overlap = body.overlap_secs.unwrap_or(DEFAULT_OVERLAP_SECS);
    if overlap > MAX_OVERLAP_SECS {
        return Err(ApiError::unprocessable(
            "invalid_request",
            format!("overlap_secs is 0 to {MAX_OVERLAP_SECS} (7 days)"),
        ));
    }
    let mut endpoint = store.get_endpoint(&id).await.map_err(store_error)?;
    let now = Utc::now();
    let new_secret = generate_secret();
    let old = std::mem::replace(&mut endpoint.secret, new_secret);
    (endpoint.previous_secret, endpoint.previous_secret_until) = match overlap {
        0 => (None, None),
        secs => (Some(old), Some(now + chrono::Duration::seconds(secs as i64))),
    };
    endpoint.updated_at = now;
    store.update_endpoint(&endpoint).await.map_err(store_error)?;
    tracing::info!(endpoint_id = %endpoint.id, overlap_secs = overlap, "webhook secret rotated");
    Ok(HttpResponse::Ok().json(Rotated {
        secret: &endpoint.secret,
        previous_secret_until: endpoint.previous_secret_until,
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttemptsQuery {
    limit: Option<u32>,
}

pub async fn attempts<S: Has<DynStore> + 'static>(
    key: ApiKey,
    state: web::Data<S>,
    id: web::Path<String>,
    query: web::Query<AttemptsQuery>,
) -> Result<HttpResponse, ApiError> {
    let store: &DynStore = state.get();
    key.require(SCOPE)?;
    let limit = query.limit.unwrap_or(50);
    if !(1..=MAX_ATTEMPTS_LIMIT).contains(&limit) {
        return Err(ApiError::bad_request(
            "invalid_limit",
            format!("limit is 1 to {MAX_ATTEMPTS_LIMIT}"),
        ));
    }
    store.get_endpoint(&id).await.map_err(store_error)?;
    let items = store.recent_attempts(&id, limit).await.map_err(store_error)?;
    Ok(HttpResponse::Ok().json(Items { items }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Replay {
    event_id: Option<String>,
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
}

#[derive(Serialize)]
struct Replayed {
    replayed: u64,
}

/// Sends one event again, or every subscribed event of a time range, with the same event ids.
pub async fn replay<S: Has<DynStore> + 'static>(
    key: ApiKey,
    state: web::Data<S>,
    id: web::Path<String>,
    body: Json<Replay>,
) -> Result<HttpResponse, ApiError> {
    let store: &DynStore = state.get();
    key.require(SCOPE)?;
    let selection = match body.into_inner() {
        Replay {
            event_id: Some(event_id),
            since: None,
            until: None,
        } => Selection::Event(event_id),
        Replay {
            event_id: None,
            since: Some(since),
            until,
        } => Selection::Range {
            since,
            until: until.unwrap_or_else(Utc::now),
        },
        _ => {
            return Err(ApiError::unprocessable(
                "invalid_request",
                "give either event_id, or since (and optionally until)",
            ))
        }
    };
    let replayed = manage::replay(store, &id, selection)
        .await
        .map_err(manage_error)?;
    Ok(HttpResponse::Accepted().json(Replayed {
        replayed: replayed as u64,
    }))
}
