//! PostObject: a browser-style multipart form with a signed policy, checked as OSS checks it.
//!
//! Order of checks, so a refused upload stores nothing: the form fields (everything before `file`),
//! the signature (V1 `Signature` or V4 `x-oss-signature`), the policy document and its expiry, the
//! callback parameter; then the file streams to disk within the policy's size bound; then every
//! policy condition is evaluated by `signing::policy` against the fields and the real size.

use actix_multipart::Multipart;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::Utc;
use futures_util::StreamExt;

use super::errors::{xml_escape, OssError};
use super::object_ops::{self, internal, MAX_OBJECT_BYTES};
use super::objects::{is_valid_key, NewObject};
use super::ram::Action;
use super::server::RequestCtx;
use super::EmulatorState;
use signing::callback::CallbackVars;
use signing::policy::{ParsedCondition, ParsedPolicy, PolicyViolation, PostPolicy};
use signing::{self, SigningError};

/// OSS refuses more than 8 MB of form values before the file (its error 0006-00000112).
const MAX_PRE_DATA_BYTES: usize = 8 * 1024 * 1024;
/// Fields after the file that we read (and ignore) before answering.
const MAX_TRAILING_FIELDS: usize = 16;
/// How much of an oversize file we still read, so the client gets our answer instead of a reset.
const DRAIN_BYTES: u64 = 64 * 1024 * 1024;

type Fields = Vec<(String, String)>;

fn field<'a>(fields: &'a Fields, name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn malformed(detail: impl std::fmt::Display) -> OssError {
    OssError::new(
        StatusCode::BAD_REQUEST,
        "MalformedPOSTRequest",
        format!("The body of your POST request is not well-formed multipart/form-data: {detail}"),
    )
}

fn policy_denied(violation: &PolicyViolation) -> OssError {
    match violation {
        PolicyViolation::Expired => OssError::access_denied("Invalid according to Policy: Policy expired."),
        PolicyViolation::ContentLength { max, actual, .. } if actual > max => OssError::entity_too_large(),
        PolicyViolation::ContentLength { .. } => OssError::entity_too_small(),
        other => OssError::access_denied(format!(
            "Invalid according to Policy: Policy Condition failed: {other}"
        )),
    }
}

pub(crate) async fn handle(
    req: &HttpRequest,
    payload: web::Payload,
    state: &EmulatorState,
    ctx: &RequestCtx,
    bucket: &str,
) -> Result<HttpResponse, OssError> {
    let mut form = Multipart::new(req.headers(), payload);
    let mut fields: Fields = Vec::new();
    let mut pre_bytes = 0usize;
    let mut file = loop {
        let mut part = match form.next().await {
            Some(Ok(part)) => part,
            Some(Err(e)) => return Err(malformed(e)),
            None => return Err(OssError::invalid_argument("The form has no file field.")),
        };
        let name = part.name().unwrap_or_default().to_owned();
        if name.eq_ignore_ascii_case("file") {
            break part;
        }
        let mut value = Vec::new();
        while let Some(chunk) = part.next().await {
            let chunk = chunk.map_err(malformed)?;
            pre_bytes += chunk.len() + name.len();
            if pre_bytes > MAX_PRE_DATA_BYTES {
                return Err(OssError::new(
                    StatusCode::BAD_REQUEST,
                    "MaxPOSTPreDataLengthExceededError",
                    "Your POST request fields preceding the upload file were too large.",
                ));
            }
            value.extend_from_slice(&chunk);
        }
        let value = String::from_utf8(value)
            .map_err(|_| OssError::invalid_argument(format!("Form field {name} is not UTF-8.")))?;
        fields.push((name, value));
    };

    let policy = authenticate(&fields, |ak| state.secret_for(ak))?;
    if policy.is_expired(Utc::now()) {
        return Err(policy_denied(&PolicyViolation::Expired));
    }
    let (callback, _) = object_ops::parse_callback(field(&fields, "callback"), None)?;
    let mut vars = CallbackVars::new();
    for (name, value) in fields.iter().filter(|(k, _)| k.starts_with("x:")) {
        vars.insert(name, value)
            .map_err(|e| OssError::invalid_argument(e.to_string()))?;
    }
    let filename = file
        .content_disposition()
        .and_then(|cd| cd.get_filename())
        .unwrap_or_default()
        .to_owned();
    let key = field(&fields, "key")
        .ok_or_else(|| OssError::invalid_argument("The form has no key field."))?
        .replace("${filename}", &filename);
    if !is_valid_key(&key) {
        return Err(OssError::invalid_object_name());
    }
    // STS credentials: the form's token must be valid and its policy must allow this key.
    let signer = field(&fields, "OSSAccessKeyId")
        .or_else(|| field(&fields, "x-oss-credential").and_then(|c| c.split('/').next()))
        .unwrap_or_default();
    super::sts::authorize(
        &state.sts,
        signer,
        field(&fields, "x-oss-security-token"),
        Action::PutObject,
        bucket,
        Some(&key),
        Utc::now(),
    )?;
    let content_type = field(&fields, "content-type")
        .filter(|c| !c.is_empty())
        .map(str::to_owned)
        .or_else(|| file.content_type().map(|m| m.to_string()))
        .unwrap_or_else(|| "application/octet-stream".to_owned());

    // The file, bounded by the policy before the bytes reach the disk.
    let limit = size_limit(&policy);
    let mut writer = state.objects.writer().await.map_err(internal)?;
    if let Err(e) = object_ops::receive(&mut writer, &mut file, limit).await {
        writer.abort().await;
        if e.code == "EntityTooLarge" {
            drain(&mut file, DRAIN_BYTES).await;
        }
        return Err(e);
    }
    let upload = writer.finish().await.map_err(internal)?;
    drop(file);
    // Anything after the file is ignored, as OSS does; read a little so the request ends cleanly.
    for _ in 0..MAX_TRAILING_FIELDS {
        let Some(Ok(mut rest)) = form.next().await else {
            break;
        };
        drain(&mut rest, 64 * 1024).await;
    }

    // The bucket condition compares with the bucket addressed, whatever the form says.
    let mut checked: Fields = vec![("bucket".to_owned(), bucket.to_owned())];
    checked.extend(
        fields
            .iter()
            .filter(|(k, _)| !k.eq_ignore_ascii_case("bucket"))
            .cloned(),
    );
    if let Err(violation) = policy.check_at(Utc::now(), &checked, upload.size) {
        upload.discard().await;
        return Err(policy_denied(&violation));
    }

    let object = NewObject {
        bucket: bucket.to_owned(),
        key: key.clone(),
        content_type,
        user_meta: user_meta(&fields),
        forbid_overwrite: field(&fields, "x-oss-forbid-overwrite")
            .is_some_and(|v| v.eq_ignore_ascii_case("true")),
    };
    let status = match field(&fields, "success_action_status") {
        Some("200") => StatusCode::OK,
        Some("201") => StatusCode::CREATED,
        _ => StatusCode::NO_CONTENT,
    };
    let response = object_ops::stored(
        state,
        ctx,
        upload,
        object,
        callback.clone(),
        &vars,
        "PostObject",
        status,
        None,
    )
    .await?;
    if status == StatusCode::CREATED && callback.is_none() {
        return Ok(post_response(response, &ctx.host_id, bucket, &key));
    }
    Ok(response)
}

/// Checks the V4 or V1 form signature with the configured key, then reads the policy.
fn authenticate(fields: &Fields, lookup: impl Fn(&str) -> Option<String>) -> Result<ParsedPolicy, OssError> {
    let Some(policy) = field(fields, "policy").filter(|p| !p.is_empty()) else {
        return Err(OssError::access_denied(
            "You have no right to access this bucket because of bucket acl.",
        ));
    };
    let required = |name: &'static str| {
        field(fields, name)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| OssError::invalid_argument(format!("The form has no {name} field.")))
    };
    match field(fields, "x-oss-signature-version") {
        Some(version) => {
            if version != signing::v4::ALGORITHM {
                return Err(OssError::invalid_argument("Unsupported x-oss-signature-version."));
            }
            signing::v4::verify_post(
                policy,
                required("x-oss-credential")?,
                required("x-oss-date")?,
                required("x-oss-signature")?,
                lookup,
            )?;
        }
        None => {
            let secret = lookup(required("OSSAccessKeyId")?).ok_or(SigningError::UnknownAccessKey)?;
            signing::v1::verify_post_signature(&secret, policy, required("Signature")?)?;
        }
    }
    Ok(PostPolicy::parse(policy)?)
}

/// The largest file the policy can accept (OSS's own limit when it sets none).
fn size_limit(policy: &ParsedPolicy) -> u64 {
    policy
        .conditions
        .iter()
        .filter_map(|c| match c {
            ParsedCondition::ContentLengthRange { max, .. } => Some(*max),
            _ => None,
        })
        .fold(MAX_OBJECT_BYTES, u64::min)
}

async fn drain<S, E>(stream: &mut S, max: u64)
where
    S: futures_util::Stream<Item = Result<web::Bytes, E>> + Unpin,
{
    let mut seen = 0u64;
    while let Some(Ok(chunk)) = stream.next().await {
        seen += chunk.len() as u64;
        if seen > max {
            break;
        }
    }
}

/// `x-oss-meta-*` form fields that can travel as headers again.
fn user_meta(fields: &Fields) -> Vec<(String, String)> {
    fields
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v))
        .filter(|(k, v)| {
            k.starts_with("x-oss-meta-")
                && HeaderName::from_bytes(k.as_bytes()).is_ok()
                && HeaderValue::from_str(v).is_ok()
        })
        .map(|(k, v)| (k, v.clone()))
        .collect()
}

/// `success_action_status=201`: OSS's `PostResponse` document.
fn post_response(plain: HttpResponse, host: &str, bucket: &str, key: &str) -> HttpResponse {
    let etag = plain
        .headers()
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<PostResponse>\n  <Bucket>{}</Bucket>\n  \
         <Location>http://{}/{}</Location>\n  <Key>{}</Key>\n  <ETag>{}</ETag>\n</PostResponse>\n",
        xml_escape(bucket),
        xml_escape(host),
        xml_escape(key),
        xml_escape(key),
        xml_escape(&etag)
    );
    let mut response = plain.set_body(body);
    response.headers_mut().insert(
        actix_web::http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/xml"),
    );
    response.map_into_boxed_body()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::DateTime;
    use serde_json::Value;

    const ALI_OSS: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/vectors/oss-signing-ali-oss.json"
    ));

    fn pairs(items: &[(&str, &str)]) -> Fields {
        items
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// Every ali-oss PostObject form (V1 and V4) passes the emulator's signature check, and a
    /// changed signature or access key is refused with OSS's code.
    #[test]
    fn ali_oss_forms_authenticate() {
        let v: Value = serde_json::from_str(ALI_OSS).unwrap();
        let ak = v["access_key_id"].as_str().unwrap();
        let lookup = |id: &str| (id == ak).then(|| v["access_key_secret"].as_str().unwrap().to_owned());
        let code = |fields: &Fields| authenticate(fields, lookup).unwrap_err().code;
        for case in v["post_v1"].as_array().unwrap() {
            let policy = case["policy_base64"].as_str().unwrap();
            let sig = case["signature"].as_str().unwrap();
            let form = pairs(&[("policy", policy), ("OSSAccessKeyId", ak), ("Signature", sig)]);
            assert_eq!(
                authenticate(&form, lookup).unwrap(),
                PostPolicy::parse(policy).unwrap()
            );
            let forged = pairs(&[
                ("policy", policy),
                ("OSSAccessKeyId", ak),
                ("Signature", &sig.replacen(|_| true, "A", 1)),
            ]);
            assert_eq!(code(&forged), "SignatureDoesNotMatch");
            let stranger = pairs(&[
                ("policy", policy),
                ("OSSAccessKeyId", "LTAI-other"),
                ("Signature", sig),
            ]);
            assert_eq!(code(&stranger), "InvalidAccessKeyId");
        }
        for case in v["post_v4"].as_array().unwrap() {
            let policy = case["policy_base64"].as_str().unwrap();
            let at = DateTime::parse_from_rfc3339(case["date"].as_str().unwrap())
                .unwrap()
                .with_timezone(&Utc);
            let region = case["region"].as_str().unwrap();
            let credential = signing::v4::credential(ak, &signing::v4::date_stamp(at), region);
            let date = signing::v4::x_oss_date(at);
            let sig = case["signature"].as_str().unwrap();
            let form = |sig: &str, credential: &str| {
                pairs(&[
                    ("policy", policy),
                    ("x-oss-signature-version", signing::v4::ALGORITHM),
                    ("x-oss-credential", credential),
                    ("x-oss-date", &date),
                    ("x-oss-signature", sig),
                ])
            };
            assert!(authenticate(&form(sig, &credential), lookup).is_ok());
            let flipped = if sig.starts_with('0') { "1" } else { "0" };
            assert_eq!(
                code(&form(&format!("{flipped}{}", &sig[1..]), &credential)),
                "SignatureDoesNotMatch"
            );
            assert_eq!(
                code(&form(sig, &credential.replacen(ak, "LTAI-other", 1))),
                "InvalidAccessKeyId"
            );
        }
    }

    #[test]
    fn policy_violations_map_to_oss_codes() {
        let too_big = PolicyViolation::ContentLength {
            min: 1,
            max: 10,
            actual: 11,
        };
        let too_small = PolicyViolation::ContentLength {
            min: 1,
            max: 10,
            actual: 0,
        };
        assert_eq!(policy_denied(&too_big).code, "EntityTooLarge");
        assert_eq!(policy_denied(&too_small).code, "EntityTooSmall");
        assert_eq!(policy_denied(&PolicyViolation::Expired).code, "AccessDenied");
        let swapped = PolicyViolation::NotEqual {
            field: "callback".into(),
        };
        let err = policy_denied(&swapped);
        assert_eq!((err.status, err.code), (StatusCode::FORBIDDEN, "AccessDenied"));
    }

    #[test]
    fn size_limit_is_the_tightest_range() {
        let policy = ParsedPolicy {
            expiration: Utc::now(),
            conditions: vec![
                ParsedCondition::ContentLengthRange { min: 1, max: 100 },
                ParsedCondition::ContentLengthRange { min: 0, max: 50 },
            ],
        };
        assert_eq!(size_limit(&policy), 50);
        let open = ParsedPolicy {
            expiration: Utc::now(),
            conditions: vec![],
        };
        assert_eq!(size_limit(&open), MAX_OBJECT_BYTES);
    }

    #[test]
    fn only_header_safe_meta_fields_are_kept() {
        let fields = vec![
            ("X-Oss-Meta-Owner".to_owned(), "alice".to_owned()),
            ("x-oss-meta-bad name".to_owned(), "x".to_owned()),
            ("x-oss-meta-nl".to_owned(), "a\nb".to_owned()),
            ("key".to_owned(), "k".to_owned()),
        ];
        assert_eq!(
            user_meta(&fields),
            vec![("x-oss-meta-owner".to_owned(), "alice".to_owned())]
        );
    }
}
