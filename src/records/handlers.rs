use actix_web::http::header::{self, ContentType};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;
use serde_json::json;

use super::export::{self, Format};
use super::query::{encode_cursor, RecordsQuery, RecordsRoute};
use crate::auth::ApiKey;
use crate::auth::AuthUser;
use crate::credentials::quota::day_bounds;
use crate::error::ApiError;
use crate::http::Has;
use crate::settings::{QuotaSettings, Settings};
use crate::store::{
    DynStore, PageCursor, ProfileUsage, StatsGroup, StoreError, UploadFilter, UploadRecord, UploadVersion,
};

pub(crate) fn store_error(err: StoreError) -> ApiError {
    match err {
        StoreError::NotFound => ApiError::not_found("upload_not_found", "no such upload"),
        e => e.into(),
    }
}

/// One page of `limit` records, newest first, after `cursor`, with the cursor of the next one.
pub(crate) async fn fetch_page(
    store: &DynStore,
    filter: &UploadFilter,
    cursor: Option<&PageCursor>,
    limit: u32,
) -> Result<(Vec<UploadRecord>, Option<String>), ApiError> {
    let rows = store
        .query_uploads(filter, cursor, limit)
        .await
        .map_err(store_error)?;
    let next_cursor = match rows.last() {
        Some(last) if rows.len() == limit as usize => Some(encode_cursor(&PageCursor {
            completed_at: filter.time_of(last),
            upload_id: last.upload_id.clone(),
        })),
        _ => None,
    };
    Ok((rows, next_cursor))
}

/// One page as the query asks for it.
async fn page(store: &DynStore, filter: UploadFilter, q: &RecordsQuery) -> Result<HttpResponse, ApiError> {
    let limit = q.limit()?;
    let cursor = q.cursor()?;
    let (rows, next_cursor) = fetch_page(store, &filter, cursor.as_ref(), limit).await?;
    // Sized for the page up front: `json()` grows a string from empty, a dozen reallocations and
    // copies for a page of 100 (~60 KB).
    let mut body = Vec::with_capacity(RECORD_JSON_BYTES * (rows.len() + 1));
    serde_json::to_writer(
        &mut body,
        &Page {
            items: &rows,
            next_cursor,
        },
    )
    .map_err(ApiError::internal)?;
    Ok(HttpResponse::Ok().content_type(ContentType::json()).body(body))
}

/// About what one record takes in a page's JSON (~600 bytes with a few variables).
const RECORD_JSON_BYTES: usize = 640;

/// A page as sent. Serialised straight from the records: `json!` would first copy all hundred of
/// them into a tree of `Value`s (a map allocation per record and per field), then serialise that.
#[derive(Serialize)]
struct Page<'a> {
    items: &'a [UploadRecord],
    next_cursor: Option<String>,
}

pub async fn list<S: Has<DynStore> + 'static>(
    key: ApiKey,
    state: web::Data<S>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let store: &DynStore = state.get();
    key.require("uploads:read")?;
    let q = RecordsQuery::parse(RecordsRoute::List, req.query_string())?;
    page(store, q.filter()?, &q).await
}

pub async fn get<S: Has<DynStore> + 'static>(
    key: ApiKey,
    state: web::Data<S>,
    upload_id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let store: &DynStore = state.get();
    key.require("uploads:read")?;
    let record = store.get_upload(&upload_id).await.map_err(store_error)?;
    let versions = store.upload_versions(&upload_id).await.map_err(store_error)?;
    Ok(HttpResponse::Ok().json(WithHistory { record, versions }))
}

/// One record and what it said before its object was replaced.
#[derive(Serialize)]
struct WithHistory {
    #[serde(flatten)]
    record: UploadRecord,
    versions: Vec<UploadVersion>,
}

pub async fn stats<S: Has<DynStore> + 'static>(
    key: ApiKey,
    state: web::Data<S>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let store: &DynStore = state.get();
    key.require("uploads:read")?;
    let q = RecordsQuery::parse(RecordsRoute::Stats, req.query_string())?;
    let group = q.group()?;
    let mut filter = q.filter()?;
    // Counting by status means counting every status, unless one is asked for.
    if group == StatsGroup::Status && q.status.is_none() {
        filter.status = None;
    }
    let rows = store.upload_stats(&filter, group).await.map_err(store_error)?;
    let (count, bytes) = rows
        .iter()
        .fold((0i64, 0i64), |(c, b), r| (c + r.count, b + r.bytes));
    Ok(HttpResponse::Ok().json(json!({ "groups": rows, "total": { "count": count, "bytes": bytes } })))
}

pub async fn export<S: Has<DynStore> + 'static>(
    key: ApiKey,
    state: web::Data<S>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let store: &DynStore = state.get();
    key.require("uploads:read")?;
    let q = RecordsQuery::parse(RecordsRoute::Export, req.query_string())?;
    let format = match q.format.as_deref() {
        None | Some("ndjson") => Format::Ndjson,
        Some("csv") => Format::Csv,
        Some(other) => {
            return Err(ApiError::bad_request(
                "invalid_filter",
                format!("format {other:?}: use ndjson or csv"),
            ))
        }
    };
    let filter = q.filter()?;
    // Fail before streaming starts if the database is away, so the client gets a clean status.
    store.ping().await.map_err(store_error)?;
    Ok(HttpResponse::Ok()
        .content_type(format.content_type())
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"uploads.{}\"", format.extension()),
        ))
        .streaming(export::stream(store.clone(), filter, format)))
}

/// `GET /v1/me/uploads`: the caller's own uploads, same filters and paging.
pub async fn mine<S: Has<DynStore> + 'static>(
    user: AuthUser,
    state: web::Data<S>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let store: &DynStore = state.get();
    let q = RecordsQuery::parse(RecordsRoute::Mine, req.query_string())?;
    let mut filter = q.filter()?;
    filter.user_id = Some(user.user_id);
    page(store, filter, &q).await
}

/// `GET /v1/me/uploads/{upload_id}`: one of the caller's own uploads.
pub async fn mine_one<S: Has<DynStore> + 'static>(
    user: AuthUser,
    state: web::Data<S>,
    upload_id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let store: &DynStore = state.get();
    let record = store.get_upload(&upload_id).await.map_err(store_error)?;
    if record.user_id != user.user_id {
        return Err(ApiError::not_found("upload_not_found", "no such upload"));
    }
    Ok(HttpResponse::Ok().json(record))
}

/// One profile in `GET /v1/me/usage`.
#[derive(Serialize)]
struct UsageItem {
    profile: String,
    files_today: i64,
    bytes_today: i64,
    files_total: i64,
    bytes_total: i64,
    quota: Option<QuotaSettings>,
}

/// `GET /v1/me/usage`: what the caller has used of each profile (those with uploads, and those
/// with a quota), counted as the quotas count it.
pub async fn my_usage<S: Has<DynStore> + Has<Settings> + 'static>(
    user: AuthUser,
    state: web::Data<S>,
) -> Result<HttpResponse, ApiError> {
    let store: &DynStore = state.get();
    let settings: &Settings = state.get();
    let now = chrono::Utc::now();
    let (day_start, resets_at) = day_bounds(now);
    let mut used: std::collections::BTreeMap<String, ProfileUsage> = store
        .upload_usage(&user.user_id, None, day_start)
        .await
        .map_err(store_error)?
        .into_iter()
        .map(|u| (u.profile.clone(), u))
        .collect();
    for (name, profile) in &settings.profiles {
        if profile.quota.is_set() {
            used.entry(name.clone()).or_insert_with(|| ProfileUsage {
                profile: name.clone(),
                ..ProfileUsage::default()
            });
        }
    }
    let items: Vec<UsageItem> = used
        .into_values()
        .map(|u| UsageItem {
            quota: settings
                .profiles
                .get(&u.profile)
                .map(|p| p.quota.clone())
                .filter(QuotaSettings::is_set),
            profile: u.profile,
            files_today: u.files_today,
            bytes_today: u.bytes_today,
            files_total: u.files_total,
            bytes_total: u.bytes_total,
        })
        .collect();
    let stamp = |at: chrono::DateTime<chrono::Utc>| at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    Ok(HttpResponse::Ok().json(json!({
        "day_start": stamp(day_start),
        "resets_at": stamp(resets_at),
        "profiles": items,
    })))
}
