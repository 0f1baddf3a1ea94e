//! The multipart API on a verified request: InitiateMultipartUpload, UploadPart,
//! CompleteMultipartUpload (which makes the upload callback), AbortMultipartUpload, ListParts and
//! ListMultipartUploads, with OSS's part rules and XML documents.

use actix_web::http::StatusCode;
use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use futures_util::StreamExt;
use md5::{Digest, Md5};

use super::errors::{xml_escape, OssError};
use super::object_ops::{self, internal, stored, MAX_OBJECT_BYTES};
use super::objects::is_valid_key;
use super::server::RequestCtx;
use super::uploads::{PartMeta, UploadMeta};
use super::EmulatorState;
use signing::{self, VerifiedRequest};

pub const MAX_PART_NUMBER: u32 = 10_000;
/// Every part but the last must be at least this large (checked at Complete, as OSS does).
pub const MIN_PART_BYTES: u64 = 100 * 1024;
/// A Complete document for 10,000 parts is about 1 MB.
const MAX_COMPLETE_XML_BYTES: usize = 2 * 1024 * 1024;
const MAX_LIST: usize = 1000;

const XML_HEAD: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
/// OSS's timestamps in listings: whole seconds with a literal `.000` (oss2 parses exactly that).
const XML_TIME: &str = "%Y-%m-%dT%H:%M:%S.000Z";

fn header<'a>(req: &'a HttpRequest, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

fn no_such_upload() -> OssError {
    OssError::new(
        StatusCode::NOT_FOUND,
        "NoSuchUpload",
        "The specified upload does not exist. The upload ID may be invalid, or the upload may have been \
         aborted or completed.",
    )
}

fn invalid_part() -> OssError {
    OssError::new(
        StatusCode::BAD_REQUEST,
        "InvalidPart",
        "One or more of the specified parts could not be found or the specified entity tag might not \
         have matched the part's entity tag.",
    )
}

fn malformed_xml() -> OssError {
    OssError::new(
        StatusCode::BAD_REQUEST,
        "MalformedXML",
        "The XML you provided was not well-formed or did not validate against our published schema.",
    )
}

fn already_exists() -> OssError {
    OssError::new(
        StatusCode::CONFLICT,
        "FileAlreadyExists",
        "The object you specified already exists and can not be overwritten.",
    )
}

fn xml(body: String) -> HttpResponse {
    HttpResponse::Ok().content_type("application/xml").body(body)
}

fn el(name: &str, value: &str) -> String {
    format!("<{name}>{}</{name}>", xml_escape(value))
}

fn forbid_overwrite(req: &HttpRequest) -> bool {
    header(req, "x-oss-forbid-overwrite").is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

/// The live upload a request names in `uploadId`, or `NoSuchUpload`.
async fn named_upload(
    state: &EmulatorState,
    verified: &VerifiedRequest,
    id: &str,
) -> Result<UploadMeta, OssError> {
    let bucket = verified.bucket.as_deref().unwrap_or_default();
    state
        .objects
        .upload(id, bucket, &verified.key)
        .await
        .map_err(internal)?
        .ok_or_else(no_such_upload)
}

/// `POST /key?uploads`.
pub(crate) async fn initiate(
    req: &HttpRequest,
    state: &EmulatorState,
    verified: &VerifiedRequest,
) -> Result<HttpResponse, OssError> {
    if !is_valid_key(&verified.key) {
        return Err(OssError::invalid_object_name());
    }
    let object = object_ops::new_object(req, verified);
    if object.forbid_overwrite
        && state
            .objects
            .head(&object.bucket, &object.key)
            .await
            .map_err(internal)?
            .is_some()
    {
        return Err(already_exists());
    }
    let upload = state.objects.initiate(&object).await.map_err(internal)?;
    Ok(xml(format!(
        "{XML_HEAD}<InitiateMultipartUploadResult>\n  {}\n  {}\n  {}\n</InitiateMultipartUploadResult>\n",
        el("Bucket", &upload.bucket),
        el("Key", &upload.key),
        el("UploadId", &upload.upload_id)
    )))
}

/// `partNumber` as OSS accepts it: 1 to 10,000.
fn part_number(raw: &str) -> Result<u32, OssError> {
    raw.parse::<u32>()
        .ok()
        .filter(|n| (1..=MAX_PART_NUMBER).contains(n))
        .ok_or_else(|| {
            OssError::invalid_argument("Part number must be an integer between 1 and 10000, inclusive.")
        })
}

/// `PUT /key?partNumber=N&uploadId=ID`.
pub(crate) async fn upload_part(
    req: &HttpRequest,
    payload: web::Payload,
    state: &EmulatorState,
    verified: &VerifiedRequest,
    upload_id: &str,
    number: &str,
) -> Result<HttpResponse, OssError> {
    let number = part_number(number)?;
    let upload = named_upload(state, verified, upload_id).await?;
    let mut writer = state.objects.writer().await.map_err(internal)?;
    if let Err(e) = object_ops::receive(&mut writer, payload, MAX_OBJECT_BYTES).await {
        writer.abort().await;
        return Err(e);
    }
    let bytes = writer.finish().await.map_err(internal)?;
    if let Some(expected) = header(req, "content-md5") {
        if expected.trim() != bytes.content_md5 {
            bytes.discard().await;
            return Err(object_ops::invalid_digest());
        }
    }
    let part = state
        .objects
        .put_part(&upload, number, bytes)
        .await
        .map_err(internal)?;
    Ok(HttpResponse::Ok()
        .insert_header(("ETag", format!("\"{}\"", part.etag)))
        .insert_header(("x-oss-hash-crc64ecma", part.crc64.to_string()))
        .finish())
}

/// The text of every `<name>` element in `doc`, in order, entities decoded.
fn elements<'a>(doc: &'a str, name: &str) -> Result<Vec<&'a str>, OssError> {
    let (open, close) = (format!("<{name}>"), format!("</{name}>"));
    let mut found = Vec::new();
    let mut rest = doc;
    while let Some(start) = rest.find(&open) {
        let after = &rest[start + open.len()..];
        let end = after.find(&close).ok_or_else(malformed_xml)?;
        found.push(&after[..end]);
        rest = &after[end + close.len()..];
    }
    Ok(found)
}

fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The `(PartNumber, ETag)` list of a CompleteMultipartUpload document, ETag unquoted.
fn parse_complete(doc: &str) -> Result<Vec<(u32, String)>, OssError> {
    let root = elements(doc, "CompleteMultipartUpload")?;
    let [body] = root.as_slice() else {
        return Err(malformed_xml());
    };
    let mut parts = Vec::new();
    for part in elements(body, "Part")? {
        let (numbers, etags) = (elements(part, "PartNumber")?, elements(part, "ETag")?);
        let ([number], [etag]) = (numbers.as_slice(), etags.as_slice()) else {
            return Err(malformed_xml());
        };
        let number = number.trim().parse::<u32>().map_err(|_| malformed_xml())?;
        let etag = unescape(etag.trim());
        parts.push((number, etag.trim_matches('"').to_owned()));
    }
    if parts.is_empty() {
        return Err(malformed_xml());
    }
    Ok(parts)
}

/// The parts a Complete names, checked against what was uploaded: ascending numbers in range,
/// each uploaded with that ETag, every one but the last at least 100 KB.
fn choose_parts(named: &[(u32, String)], uploaded: &[PartMeta]) -> Result<Vec<PartMeta>, OssError> {
    let order = |m: &str| OssError::new(StatusCode::BAD_REQUEST, "InvalidPartOrder", m.to_owned());
    let mut chosen: Vec<PartMeta> = Vec::with_capacity(named.len());
    for (number, etag) in named {
        if !(1..=MAX_PART_NUMBER).contains(number) {
            return Err(order(
                "Part number must be an integer between 1 and 10000, inclusive.",
            ));
        }
        if chosen.last().is_some_and(|p| p.number >= *number) {
            return Err(order("The list of parts was not in ascending order."));
        }
        let part = uploaded
            .iter()
            .find(|p| p.number == *number && p.etag.eq_ignore_ascii_case(etag))
            .ok_or_else(invalid_part)?;
        chosen.push(part.clone());
    }
    if let Some((_, all_but_last)) = chosen.split_last() {
        if all_but_last.iter().any(|p| p.size < MIN_PART_BYTES) {
            return Err(OssError::entity_too_small());
        }
    }
    Ok(chosen)
}

/// Reads a small request body whole, refusing more than `max` bytes.
async fn small_body(mut payload: web::Payload, max: usize) -> Result<Bytes, OssError> {
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| OssError::invalid_argument(format!("Reading the body failed: {e}")))?;
        if body.len() + chunk.len() > max {
            return Err(malformed_xml());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// `POST /key?uploadId=ID`: assembles the object, then answers as PutObject does (the callback's
/// answer, or the `CompleteMultipartUploadResult` document without one).
pub(crate) async fn complete(
    req: &HttpRequest,
    payload: web::Payload,
    state: &EmulatorState,
    ctx: &RequestCtx,
    verified: &VerifiedRequest,
    upload_id: &str,
) -> Result<HttpResponse, OssError> {
    let upload = named_upload(state, verified, upload_id).await?;
    let query = signing::parse_query(req.uri().query());
    let (callback, vars) = object_ops::parse_callback(
        header(req, "x-oss-callback").or_else(|| signing::query_value(&query, "callback")),
        header(req, "x-oss-callback-var").or_else(|| signing::query_value(&query, "callback-var")),
    )?;
    let body = small_body(payload, MAX_COMPLETE_XML_BYTES).await?;
    if let Some(expected) = header(req, "content-md5") {
        if expected.trim() != STANDARD.encode(Md5::digest(&body)) {
            return Err(object_ops::invalid_digest());
        }
    }
    let uploaded = state.objects.parts(&upload).await.map_err(internal)?;
    let complete_all = header(req, "x-oss-complete-all").is_some_and(|v| v.eq_ignore_ascii_case("yes"));
    let parts = if complete_all {
        if !body.is_empty() {
            return Err(OssError::invalid_argument(
                "With x-oss-complete-all: yes the request body must be empty.",
            ));
        }
        if uploaded.is_empty() {
            return Err(invalid_part());
        }
        let named: Vec<(u32, String)> = uploaded.iter().map(|p| (p.number, p.etag.clone())).collect();
        choose_parts(&named, &uploaded)?
    } else {
        let doc = std::str::from_utf8(&body).map_err(|_| malformed_xml())?;
        choose_parts(&parse_complete(doc)?, &uploaded)?
    };
    let forbid = forbid_overwrite(req);
    let object = upload.new_object(forbid);
    let assembled = state.objects.assemble(&upload, &parts).await.map_err(internal)?;
    let plain = format!(
        "{XML_HEAD}<CompleteMultipartUploadResult>\n  {}\n  {}\n  {}\n  {}\n</CompleteMultipartUploadResult>\n",
        el("Location", &format!("http://{}/{}/{}", ctx.host_id, upload.bucket, upload.key)),
        el("Bucket", &upload.bucket),
        el("Key", &upload.key),
        el("ETag", &format!("\"{}\"", assembled.etag))
    );
    let response = stored(
        state,
        ctx,
        assembled,
        object,
        callback,
        &vars,
        "CompleteMultipartUpload",
        StatusCode::OK,
        Some(plain),
    )
    .await?;
    // The object exists now (even if its callback failed): the upload id is spent.
    state.objects.drop_upload(&upload).await.map_err(internal)?;
    Ok(response)
}

/// `DELETE /key?uploadId=ID`.
pub(crate) async fn abort(
    state: &EmulatorState,
    verified: &VerifiedRequest,
    upload_id: &str,
) -> Result<HttpResponse, OssError> {
    let upload = named_upload(state, verified, upload_id).await?;
    state.objects.drop_upload(&upload).await.map_err(internal)?;
    Ok(HttpResponse::NoContent().finish())
}

/// A `max-*` query value: default 1000, at most 1000.
fn max_items(query: &[(String, String)], name: &str) -> Result<usize, OssError> {
    match signing::query_value(query, name) {
        None | Some("") => Ok(MAX_LIST),
        Some(v) => v
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_LIST).contains(n))
            .ok_or_else(|| OssError::invalid_argument(format!("{name} must be between 1 and 1000."))),
    }
}

/// `GET /key?uploadId=ID`.
pub(crate) async fn list_parts(
    req: &HttpRequest,
    state: &EmulatorState,
    verified: &VerifiedRequest,
    upload_id: &str,
) -> Result<HttpResponse, OssError> {
    let upload = named_upload(state, verified, upload_id).await?;
    let query = signing::parse_query(req.uri().query());
    let max = max_items(&query, "max-parts")?;
    let marker = match signing::query_value(&query, "part-number-marker") {
        None | Some("") => 0,
        Some(m) => m
            .parse::<u32>()
            .map_err(|_| OssError::invalid_argument("part-number-marker must be a part number."))?,
    };
    let parts = state.objects.parts(&upload).await.map_err(internal)?;
    let after: Vec<&PartMeta> = parts.iter().filter(|p| p.number > marker).collect();
    let page = &after[..after.len().min(max)];
    let truncated = after.len() > page.len();
    let next = page.last().map_or(marker, |p| p.number);
    let mut doc = format!(
        "{XML_HEAD}<ListPartsResult>\n  {}\n  {}\n  {}\n  {}\n  {}\n  {}\n  {}\n",
        el("Bucket", &upload.bucket),
        el("Key", &upload.key),
        el("UploadId", &upload.upload_id),
        el("PartNumberMarker", &marker.to_string()),
        el("NextPartNumberMarker", &next.to_string()),
        el("MaxParts", &max.to_string()),
        el("IsTruncated", if truncated { "true" } else { "false" }),
    );
    for p in page {
        doc.push_str(&format!(
            "  <Part>\n    {}\n    {}\n    {}\n    {}\n    {}\n  </Part>\n",
            el("PartNumber", &p.number.to_string()),
            el("LastModified", &p.last_modified.format(XML_TIME).to_string()),
            el("ETag", &format!("\"{}\"", p.etag)),
            el("HashCrc64ecma", &p.crc64.to_string()),
            el("Size", &p.size.to_string()),
        ));
    }
    doc.push_str("</ListPartsResult>\n");
    Ok(xml(doc))
}

/// `GET /?uploads` on a bucket.
pub(crate) async fn list_uploads(
    req: &HttpRequest,
    state: &EmulatorState,
    bucket: &str,
) -> Result<HttpResponse, OssError> {
    let query = signing::parse_query(req.uri().query());
    let get = |name: &str| signing::query_value(&query, name).unwrap_or("");
    let max = max_items(&query, "max-uploads")?;
    let (prefix, delimiter, key_marker, id_marker) = (
        get("prefix"),
        get("delimiter"),
        get("key-marker"),
        get("upload-id-marker"),
    );
    let uploads = state.objects.uploads(bucket).await.map_err(internal)?;
    let after_marker = |u: &&UploadMeta| {
        key_marker.is_empty()
            || u.key.as_str() > key_marker
            || (!id_marker.is_empty() && u.key == key_marker && u.upload_id.as_str() > id_marker)
    };
    let mut listed: Vec<&UploadMeta> = Vec::new();
    let mut common: Vec<String> = Vec::new();
    let mut truncated = false;
    for u in uploads
        .iter()
        .filter(|u| u.key.starts_with(prefix))
        .filter(after_marker)
    {
        let rolled = (!delimiter.is_empty())
            .then(|| u.key[prefix.len()..].find(delimiter))
            .flatten()
            .map(|at| u.key[..prefix.len() + at + delimiter.len()].to_owned());
        if rolled.as_ref().is_some_and(|c| common.last() == Some(c)) {
            continue;
        }
        if listed.len() + common.len() == max {
            truncated = true;
            break;
        }
        match rolled {
            Some(c) => common.push(c),
            None => listed.push(u),
        }
    }
    let (next_key, next_id) = match (truncated, listed.last()) {
        (true, Some(u)) => (u.key.as_str(), u.upload_id.as_str()),
        _ => ("", ""),
    };
    let mut doc = format!(
        "{XML_HEAD}<ListMultipartUploadsResult>\n  {}\n  {}\n  {}\n  {}\n  {}\n  {}\n  {}\n  {}\n  {}\n",
        el("Bucket", bucket),
        el("KeyMarker", key_marker),
        el("UploadIdMarker", id_marker),
        el("NextKeyMarker", next_key),
        el("NextUploadIdMarker", next_id),
        el("Delimiter", delimiter),
        el("Prefix", prefix),
        el("MaxUploads", &max.to_string()),
        el("IsTruncated", if truncated { "true" } else { "false" }),
    );
    for u in listed {
        doc.push_str(&format!(
            "  <Upload>\n    {}\n    {}\n    {}\n  </Upload>\n",
            el("Key", &u.key),
            el("UploadId", &u.upload_id),
            el("Initiated", &u.initiated.format(XML_TIME).to_string()),
        ));
    }
    for c in common {
        doc.push_str(&format!(
            "  <CommonPrefixes>\n    {}\n  </CommonPrefixes>\n",
            el("Prefix", &c)
        ));
    }
    doc.push_str("</ListMultipartUploadsResult>\n");
    Ok(xml(doc))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn part(number: u32, etag: &str, size: u64) -> PartMeta {
        PartMeta {
            number,
            etag: etag.into(),
            size,
            crc64: 0,
            last_modified: Utc::now(),
        }
    }

    #[test]
    fn complete_documents_parse_as_the_sdks_send_them() {
        // oss2 and ali-oss send the ETag with its quotes; some clients escape them.
        let doc = "<?xml version=\"1.0\"?><CompleteMultipartUpload>\
            <Part><PartNumber>1</PartNumber><ETag>\"AA\"</ETag></Part>\
            <Part><PartNumber> 3 </PartNumber><ETag>&quot;bb&quot;</ETag></Part></CompleteMultipartUpload>";
        assert_eq!(
            parse_complete(doc).unwrap(),
            vec![(1, "AA".into()), (3, "bb".into())]
        );
        for bad in [
            "",
            "<CompleteMultipartUpload></CompleteMultipartUpload>",
            "<CompleteMultipartUpload><Part><PartNumber>x</PartNumber><ETag>a</ETag></Part></CompleteMultipartUpload>",
            "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber></Part></CompleteMultipartUpload>",
            "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>a",
        ] {
            assert_eq!(parse_complete(bad).unwrap_err().code, "MalformedXML", "{bad}");
        }
    }

    #[test]
    fn part_rules_are_osss() {
        let big = MIN_PART_BYTES;
        let uploaded = [part(1, "AA", big), part(2, "BB", 10), part(3, "CC", big)];
        let named = |list: &[(u32, &str)]| list.iter().map(|(n, e)| (*n, e.to_string())).collect::<Vec<_>>();
        let code = |list: &[(u32, &str)]| {
            choose_parts(&named(list), &uploaded)
                .map(|p| p.len())
                .map_err(|e| e.code)
        };
        assert_eq!(code(&[(1, "AA"), (2, "bb")]), Ok(2), "the last part may be small");
        assert_eq!(
            code(&[(1, "AA"), (3, "CC")]),
            Ok(2),
            "numbers need not be consecutive"
        );
        assert_eq!(code(&[(2, "BB"), (3, "CC")]), Err("EntityTooSmall"));
        assert_eq!(code(&[(3, "CC"), (1, "AA")]), Err("InvalidPartOrder"));
        assert_eq!(code(&[(1, "AA"), (1, "AA")]), Err("InvalidPartOrder"));
        assert_eq!(code(&[(1, "AB")]), Err("InvalidPart"));
        assert_eq!(code(&[(4, "AA")]), Err("InvalidPart"));
        assert_eq!(code(&[(10_001, "AA")]), Err("InvalidPartOrder"));
        assert_eq!(part_number("0").unwrap_err().code, "InvalidArgument");
        assert_eq!(part_number("10001").unwrap_err().code, "InvalidArgument");
        assert_eq!(part_number("10000").unwrap(), 10_000);
    }
}
