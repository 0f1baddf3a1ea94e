//! PutObject, GetObject, HeadObject and DeleteObject on a verified request, and the answer to a
//! stored upload (plain, or relaying the callback's answer) that PostObject shares.

use actix_web::body::SizedStream;
use actix_web::http::{Method, StatusCode};
use actix_web::web::Bytes;
use actix_web::{web, HttpRequest, HttpResponse, HttpResponseBuilder};
use futures_util::StreamExt;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use super::callback_sender::UploadFacts;
use super::errors::{error_xml, OssError};
use super::objects::{is_valid_key, FinishedUpload, NewObject, ObjectMeta, ObjectWriter};
use super::server::RequestCtx;
use super::EmulatorState;
use signing::callback::{CallbackParam, CallbackVars};
use signing::{self, VerifiedRequest};

/// OSS's limit for a single PutObject or PostObject.
pub const MAX_OBJECT_BYTES: u64 = 5 * 1024 * 1024 * 1024;

pub(crate) fn internal(err: std::io::Error) -> OssError {
    tracing::error!(error = %err, "emulator: storage failure");
    OssError::internal()
}

/// The `callback` / `callback-var` parameters, from headers or the query. Parsed before the body
/// is read, so a malformed callback stores nothing.
pub(crate) fn parse_callback(
    callback: Option<&str>,
    callback_var: Option<&str>,
) -> Result<(Option<CallbackParam>, CallbackVars), OssError> {
    let param = callback
        .filter(|c| !c.is_empty())
        .map(CallbackParam::parse_base64)
        .transpose()
        .map_err(|e| OssError::invalid_argument(format!("The callback is invalid: {e}")))?;
    let vars = match callback_var.filter(|v| !v.is_empty()) {
        Some(v) => CallbackVars::parse_base64(v)
            .map_err(|e| OssError::invalid_argument(format!("The callback-var is invalid: {e}")))?,
        None => CallbackVars::new(),
    };
    Ok((param, vars))
}

/// Streams a body into a writer, refusing more than `max` bytes.
pub(crate) async fn receive<S, E>(writer: &mut ObjectWriter, mut body: S, max: u64) -> Result<(), OssError>
where
    S: futures_util::Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| OssError::invalid_argument(format!("Reading the body failed: {e}")))?;
        if writer.size() + chunk.len() as u64 > max {
            return Err(OssError::entity_too_large());
        }
        writer.write(&chunk).await.map_err(internal)?;
    }
    Ok(())
}

fn header<'a>(req: &'a HttpRequest, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

pub(crate) async fn put(
    req: &HttpRequest,
    payload: web::Payload,
    state: &EmulatorState,
    ctx: &RequestCtx,
    verified: &VerifiedRequest,
) -> Result<HttpResponse, OssError> {
    if !is_valid_key(&verified.key) {
        return Err(OssError::invalid_object_name());
    }
    let query = signing::parse_query(req.uri().query());
    let (callback, vars) = parse_callback(
        header(req, "x-oss-callback").or_else(|| signing::query_value(&query, "callback")),
        header(req, "x-oss-callback-var").or_else(|| signing::query_value(&query, "callback-var")),
    )?;
    let object = new_object(req, verified);
    let mut writer = state.objects.writer().await.map_err(internal)?;
    if let Err(e) = receive(&mut writer, payload, MAX_OBJECT_BYTES).await {
        writer.abort().await;
        return Err(e);
    }
    let upload = writer.finish().await.map_err(internal)?;
    if let Some(expected) = header(req, "content-md5") {
        if expected.trim() != upload.content_md5 {
            upload.discard().await;
            return Err(invalid_digest());
        }
    }
    stored(
        state,
        ctx,
        upload,
        object,
        callback,
        &vars,
        "PutObject",
        StatusCode::OK,
        None,
    )
    .await
}

pub(crate) fn invalid_digest() -> OssError {
    OssError::new(
        StatusCode::BAD_REQUEST,
        "InvalidDigest",
        "The Content-MD5 you specified is not valid.",
    )
}

/// What PutObject and InitiateMultipartUpload headers say about the object.
pub(crate) fn new_object(req: &HttpRequest, verified: &VerifiedRequest) -> NewObject {
    let content_type = header(req, "content-type")
        .filter(|c| !c.is_empty())
        .unwrap_or("application/octet-stream")
        .to_owned();
    let user_meta = req
        .headers()
        .iter()
        .filter(|(k, _)| k.as_str().starts_with("x-oss-meta-"))
        .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
        .collect();
    NewObject {
        bucket: verified.bucket.clone().unwrap_or_default(),
        key: verified.key.clone(),
        content_type,
        user_meta,
        forbid_overwrite: header(req, "x-oss-forbid-overwrite")
            .is_some_and(|v| v.eq_ignore_ascii_case("true")),
    }
}

/// Commits an upload and answers: `plain_status` (with `plain_xml` as body, if any) without a
/// callback; with one, 200 and the callback's JSON answer, or 203 `CallbackFailed` (the object
/// stays stored, as in OSS).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn stored(
    state: &EmulatorState,
    ctx: &RequestCtx,
    upload: FinishedUpload,
    object: NewObject,
    callback: Option<CallbackParam>,
    vars: &CallbackVars,
    operation: &str,
    plain_status: StatusCode,
    plain_xml: Option<String>,
) -> Result<HttpResponse, OssError> {
    let meta = state
        .objects
        .commit(upload, object)
        .await
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => OssError::new(
                StatusCode::CONFLICT,
                "FileAlreadyExists",
                "The object you specified already exists and can not be overwritten.",
            ),
            _ => internal(e),
        })?;
    tracing::info!(bucket = %meta.bucket, size = meta.size, operation, "emulator: object stored");
    let Some(param) = callback else {
        let mut plain = HttpResponse::build(plain_status);
        with_object_headers(&mut plain, &meta);
        return Ok(match plain_xml {
            Some(doc) => plain.content_type("application/xml").body(doc),
            None => plain.finish(),
        });
    };
    let facts = UploadFacts {
        object: &meta,
        client_ip: &ctx.client_ip,
        request_id: &ctx.request_id,
        operation,
        vars,
    };
    let body = facts.render(&param);
    Ok(match state.sender.send(&param, &body).await {
        Ok(answer) => with_object_headers(&mut HttpResponse::Ok(), &meta)
            .content_type("application/json")
            .body(answer),
        Err(reason) => with_object_headers(
            &mut HttpResponse::build(StatusCode::NON_AUTHORITATIVE_INFORMATION),
            &meta,
        )
        .content_type("application/xml")
        .insert_header(("x-oss-ec", "CallbackFailed"))
        .body(error_xml(
            "CallbackFailed",
            &reason,
            &ctx.request_id,
            &ctx.host_id,
        )),
    })
}

/// ETag (quoted upper-hex MD5), CRC-64 and Content-MD5, as OSS returns after a write.
pub(crate) fn with_object_headers<'a>(
    builder: &'a mut HttpResponseBuilder,
    meta: &ObjectMeta,
) -> &'a mut HttpResponseBuilder {
    builder
        .insert_header(("ETag", format!("\"{}\"", meta.etag)))
        .insert_header(("x-oss-hash-crc64ecma", meta.crc64.to_string()));
    // A multipart object has none.
    if !meta.content_md5.is_empty() {
        builder.insert_header(("Content-MD5", meta.content_md5.clone()));
    }
    builder
}

pub(crate) async fn get(
    req: &HttpRequest,
    state: &EmulatorState,
    verified: &VerifiedRequest,
) -> Result<HttpResponse, OssError> {
    let bucket = verified.bucket.as_deref().unwrap_or_default();
    let Some((meta, file)) = state
        .objects
        .open_object(bucket, &verified.key)
        .await
        .map_err(internal)?
    else {
        return Err(OssError::no_such_key());
    };
    let range = super::range::requested(
        req.headers().get("range").and_then(|v| v.to_str().ok()),
        meta.size,
    );
    let mut response = match range {
        Some(_) => HttpResponse::PartialContent(),
        None => HttpResponse::Ok(),
    };
    if let Some((start, end)) = range {
        response.insert_header(("Content-Range", format!("bytes {start}-{end}/{}", meta.size)));
    }
    with_object_headers(&mut response, &meta)
        .insert_header(("Accept-Ranges", "bytes"))
        .content_type(meta.content_type.as_str())
        .insert_header((
            "Last-Modified",
            meta.last_modified.format("%a, %d %b %Y %H:%M:%S GMT").to_string(),
        ))
        .insert_header(("x-oss-object-type", meta.object_type.as_str()))
        .insert_header(("x-oss-storage-class", "Standard"));
    for (name, value) in &meta.user_meta {
        response.insert_header((name.as_str(), value.as_str()));
    }
    let (start, length) = range.map_or((0, meta.size), |(start, end)| (start, end - start + 1));
    if req.method() == Method::HEAD {
        // Only the length is sent for HEAD; actix writes no body bytes.
        let nothing = futures_util::stream::empty::<Result<Bytes, std::io::Error>>();
        return Ok(response.body(SizedStream::new(length, nothing)));
    }
    let mut file = file;
    if start > 0 {
        file.seek(std::io::SeekFrom::Start(start))
            .await
            .map_err(internal)?;
    }
    let chunks = futures_util::stream::unfold(Some(file.take(length)), |file| async move {
        let mut file = file?;
        let mut buf = vec![0u8; 64 * 1024];
        match file.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(Bytes::from(buf)), Some(file)))
            }
            Err(e) => Some((Err(e), None)),
        }
    });
    Ok(response.body(SizedStream::new(length, Box::pin(chunks))))
}

pub(crate) async fn delete(
    state: &EmulatorState,
    verified: &VerifiedRequest,
) -> Result<HttpResponse, OssError> {
    let bucket = verified.bucket.as_deref().unwrap_or_default();
    state
        .objects
        .delete(bucket, &verified.key)
        .await
        .map_err(internal)?;
    Ok(HttpResponse::NoContent().finish())
}
