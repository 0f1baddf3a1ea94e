//! Request routing: finds the bucket (virtual-host or path style) and the key, authenticates
//! signed requests with `signing::verify_request`, and wraps every answer with OSS's headers.

use actix_web::http::header::{HeaderName, HeaderValue, SERVER};
use actix_web::http::Method;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};

use super::errors::OssError;
use super::objects::is_valid_bucket;
use super::ram::Action;
use super::{multipart, object_ops, post_object, sts, EmulatorState, PUBLIC_KEY_PATH};
use signing::{self, IncomingRequest, VerifiedRequest};

/// Per-request facts that every answer carries.
pub(crate) struct RequestCtx {
    /// 24 upper-case hex digits, like OSS's request ids.
    pub request_id: String,
    /// The Host the client addressed, echoed as `HostId`.
    pub host_id: String,
    pub client_ip: String,
}

impl RequestCtx {
    fn new(req: &HttpRequest) -> Self {
        let id = uuid::Uuid::new_v4().simple().to_string().to_ascii_uppercase();
        RequestCtx {
            request_id: id[..24].to_owned(),
            host_id: req.connection_info().host().to_owned(),
            client_ip: req.peer_addr().map(|a| a.ip().to_string()).unwrap_or_default(),
        }
    }

    pub fn error(&self, err: &OssError) -> HttpResponse {
        err.to_response(&self.request_id, &self.host_id)
    }
}

pub(crate) async fn dispatch(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<EmulatorState>,
) -> HttpResponse {
    let ctx = RequestCtx::new(&req);
    let mut response = match route(&req, payload, &state, &ctx).await {
        Ok(response) => response,
        Err(err) => {
            tracing::debug!(code = err.code, method = %req.method(), "emulator: refused");
            ctx.error(&err)
        }
    };
    let headers = response.headers_mut();
    if let Ok(id) = HeaderValue::from_str(&ctx.request_id) {
        headers.insert(HeaderName::from_static("x-oss-request-id"), id);
    }
    headers.insert(SERVER, HeaderValue::from_static("AliyunOSS"));
    response
}

async fn route(
    req: &HttpRequest,
    payload: web::Payload,
    state: &EmulatorState,
    ctx: &RequestCtx,
) -> Result<HttpResponse, OssError> {
    if req.path() == PUBLIC_KEY_PATH && req.method() == Method::GET {
        return Ok(HttpResponse::Ok()
            .content_type("application/x-pem-file")
            .body(state.key.public_pem.clone()));
    }
    let host_bucket = host_bucket(&ctx.host_id);
    if host_bucket.is_none() && req.path() == "/" && sts::is_sts_call(req) {
        return Ok(sts::assume_role(req, state, &ctx.request_id));
    }
    let (bucket, key) = signing::split_bucket_key(host_bucket, req.uri().path())?;
    let Some(bucket) = bucket else {
        return Err(not_implemented("ListBuckets"));
    };
    if !is_valid_bucket(&bucket) {
        return Err(OssError::new(
            actix_web::http::StatusCode::BAD_REQUEST,
            "InvalidBucketName",
            "The specified bucket is not valid.",
        ));
    }
    let method = req.method();
    let query = signing::parse_query(req.uri().query());
    let has = |name: &str| query.iter().any(|(k, _)| k == name);
    let upload_id = signing::query_value(&query, "uploadId");
    if key.is_empty() {
        return match *method {
            // PostObject authenticates with its form and authorizes in `post_object`.
            Method::POST => post_object::handle(req, payload, state, ctx, &bucket).await,
            Method::GET if has("uploads") => {
                let verified = authenticate(req, host_bucket, Utc::now(), |ak| state.secret_for(ak))?;
                authorize(state, &verified, Action::ListMultipartUploads, &bucket, None)?;
                multipart::list_uploads(req, state, &bucket).await
            }
            _ => Err(not_implemented("this bucket operation")),
        };
    }
    let verified = authenticate(req, host_bucket, Utc::now(), |ak| state.secret_for(ak))?;
    let action = match (method.clone(), upload_id) {
        (Method::PUT | Method::POST, _) => Action::PutObject,
        (Method::GET | Method::HEAD, Some(_)) => Action::ListParts,
        (Method::GET | Method::HEAD, None) => Action::GetObject,
        (Method::DELETE, Some(_)) => Action::AbortMultipartUpload,
        (Method::DELETE, None) => Action::DeleteObject,
        _ => return Err(method_not_allowed()),
    };
    authorize(state, &verified, action, &bucket, Some(&key))?;
    match (method.clone(), upload_id) {
        (Method::POST, None) if has("uploads") => multipart::initiate(req, state, &verified).await,
        (Method::POST, Some(id)) => multipart::complete(req, payload, state, ctx, &verified, id).await,
        (Method::POST, None) => Err(not_implemented("this object operation")),
        (Method::PUT, Some(id)) => {
            let number = signing::query_value(&query, "partNumber").unwrap_or_default();
            multipart::upload_part(req, payload, state, &verified, id, number).await
        }
        (Method::PUT, None) => object_ops::put(req, payload, state, ctx, &verified).await,
        (Method::GET, Some(id)) => multipart::list_parts(req, state, &verified, id).await,
        (Method::GET | Method::HEAD, _) => object_ops::get(req, state, &verified).await,
        (Method::DELETE, Some(id)) => multipart::abort(state, &verified, id).await,
        (Method::DELETE, None) => object_ops::delete(state, &verified).await,
        _ => Err(method_not_allowed()),
    }
}

/// The signer of `verified` may do `action` (always, unless it holds STS credentials).
pub(crate) fn authorize(
    state: &EmulatorState,
    verified: &VerifiedRequest,
    action: Action,
    bucket: &str,
    key: Option<&str>,
) -> Result<(), OssError> {
    sts::authorize(
        &state.sts,
        &verified.access_key_id,
        verified.security_token.as_deref(),
        action,
        bucket,
        key,
        Utc::now(),
    )
}

fn method_not_allowed() -> OssError {
    OssError::new(
        actix_web::http::StatusCode::METHOD_NOT_ALLOWED,
        "MethodNotAllowed",
        "The specified method is not allowed against this resource.",
    )
}

fn not_implemented(what: &str) -> OssError {
    OssError::new(
        actix_web::http::StatusCode::NOT_IMPLEMENTED,
        "NotImplemented",
        format!("The OSS emulator does not implement {what}."),
    )
}

/// Checks a signed request (presigned URL, `OSS ak:sig` or `OSS4-HMAC-SHA256` header).
fn authenticate(
    req: &HttpRequest,
    host_bucket: Option<&str>,
    now: DateTime<Utc>,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<VerifiedRequest, OssError> {
    let headers: Vec<(&str, &str)> = req
        .headers()
        .iter()
        .filter_map(|(k, v)| v.to_str().ok().map(|v| (k.as_str(), v)))
        .collect();
    let incoming = IncomingRequest {
        method: req.method().as_str(),
        host_bucket,
        path: req.uri().path(),
        query: req.uri().query(),
        headers: &headers,
    };
    Ok(signing::verify_request(&incoming, now, lookup)?)
}

/// The bucket of a virtual-hosted request: `bucket.localhost[:port]` or `bucket.127.0.0.1[:port]`.
/// Any other host (an IP, `localhost`, a name) means path style.
pub(crate) fn host_bucket(host: &str) -> Option<&str> {
    if host.starts_with('[') {
        return None;
    }
    let name = match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    };
    let (first, rest) = name.split_once('.')?;
    let local = rest.eq_ignore_ascii_case("localhost") || rest.parse::<std::net::IpAddr>().is_ok();
    (local && !first.is_empty()).then_some(first)
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;
    use serde_json::Value;

    const ALI_OSS: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/vectors/oss-signing-ali-oss.json"
    ));

    fn vector_lookup(v: &Value) -> impl Fn(&str) -> Option<String> + '_ {
        |ak| (ak == v["access_key_id"]).then(|| v["access_key_secret"].as_str().unwrap().to_owned())
    }

    /// ali-oss's presigned PUT URLs pass the emulator's check (a second later they have expired:
    /// the signature matched), and any change to the signature is refused.
    #[test]
    fn ali_oss_presigned_urls_authenticate() {
        let v: Value = serde_json::from_str(ALI_OSS).unwrap();
        let mut n = 0;
        for (section, sig_param) in [("put_url_v1", "Signature="), ("put_url_v4", "x-oss-signature=")] {
            for case in v[section].as_array().unwrap() {
                let now = match case["now_unix"].as_i64() {
                    Some(t) => DateTime::from_timestamp(t, 0).unwrap(),
                    None => DateTime::parse_from_rfc3339(case["now"].as_str().unwrap())
                        .unwrap()
                        .with_timezone(&Utc),
                };
                let url = url::Url::parse(case["url"].as_str().unwrap()).unwrap();
                let path_and_query = &url[url::Position::BeforePath..];
                let request = |uri: &str| {
                    TestRequest::with_uri(uri)
                        .method(Method::PUT)
                        .insert_header(("content-type", case["content_type"].as_str().unwrap()))
                        .to_http_request()
                };
                let ok = authenticate(
                    &request(path_and_query),
                    Some("demo-bucket"),
                    now,
                    vector_lookup(&v),
                )
                .unwrap();
                assert_eq!(ok.key, case["key"].as_str().unwrap());
                let later = now + chrono::Duration::seconds(case["expires_in"].as_i64().unwrap() + 1);
                let expired = authenticate(
                    &request(path_and_query),
                    Some("demo-bucket"),
                    later,
                    vector_lookup(&v),
                );
                assert_eq!(expired.unwrap_err().message, "Request has expired.");

                let forged = path_and_query.replacen(sig_param, &format!("{sig_param}A"), 1);
                let err =
                    authenticate(&request(&forged), Some("demo-bucket"), now, vector_lookup(&v)).unwrap_err();
                assert_eq!(err.code, "SignatureDoesNotMatch", "{forged}");
                n += 1;
            }
        }
        assert_eq!(n, 10);
    }

    #[test]
    fn virtual_hosts_name_the_bucket() {
        assert_eq!(host_bucket("demo-bucket.localhost:9000"), Some("demo-bucket"));
        assert_eq!(host_bucket("demo-bucket.127.0.0.1:9000"), Some("demo-bucket"));
        assert_eq!(host_bucket("demo-bucket.localhost"), Some("demo-bucket"));
        assert_eq!(host_bucket("127.0.0.1:9000"), None);
        assert_eq!(host_bucket("localhost:9000"), None);
        assert_eq!(host_bucket("[::1]:9000"), None);
        assert_eq!(host_bucket("example.com"), None);
        assert_eq!(host_bucket(".localhost"), None);
    }
}
