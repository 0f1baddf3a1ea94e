//! OSS signature V1 (HMAC-SHA1): PostObject signatures, the header string-to-sign (and a parser for
//! the ones mobile SDKs' custom signers send us), presigned URLs and a verifier for the emulator.
//!
//! V1 is withdrawn for new Alibaba accounts; it stays for older accounts and because the SDKs'
//! custom-signer mode speaks only V1.

use std::collections::BTreeMap;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::{DateTime, Utc};

use crate::common::{
    ct_eq, encode_into, header, hmac_sha1, parse_query, query_value, split_bucket_key, URI_COMPONENT,
    URI_PATH,
};
use crate::{IncomingRequest, Result, SignatureVersion, SigningError, VerifiedRequest, MAX_CLOCK_SKEW_SECS};

/// Query parameters OSS treats as sub-resources: only these enter the canonicalized resource.
/// (oss2's list; sorted for binary search.)
pub const SUB_RESOURCES: &[&str] = &[
    "acl",
    "append",
    "asyncFetch",
    "bucketInfo",
    "callback",
    "callback-var",
    "cname",
    "comp",
    "continuation-token",
    "cors",
    "delete",
    "encryption",
    "endTime",
    "group",
    "inventory",
    "inventoryId",
    "lifecycle",
    "link",
    "live",
    "location",
    "logging",
    "metaQuery",
    "objectInfo",
    "objectMeta",
    "partNumber",
    "policy",
    "position",
    "qos",
    "qosInfo",
    "referer",
    "replication",
    "replicationLocation",
    "replicationProgress",
    "requestPayment",
    "resourceGroup",
    "response-cache-control",
    "response-content-disposition",
    "response-content-encoding",
    "response-content-language",
    "response-content-type",
    "response-expires",
    "restore",
    "security-token",
    "sequential",
    "startTime",
    "stat",
    "status",
    "symlink",
    "tagging",
    "transferAcceleration",
    "uploadId",
    "uploads",
    "versionId",
    "versioning",
    "versions",
    "vod",
    "website",
    "worm",
    "wormExtend",
    "wormId",
    "x-oss-process",
    "x-oss-request-payer",
    "x-oss-traffic-limit",
];

pub fn is_sub_resource(name: &str) -> bool {
    SUB_RESOURCES.binary_search(&name).is_ok()
}

/// `base64(HMAC-SHA1(secret, string_to_sign))`: the one V1 signature primitive.
pub fn sign(secret: &str, string_to_sign: &str) -> String {
    STANDARD.encode(hmac_sha1(secret.as_bytes(), string_to_sign.as_bytes()))
}

/// PostObject `Signature` field: the base64 policy string, exactly as sent, is what gets signed.
pub fn post_signature(secret: &str, policy_b64: &str) -> String {
    sign(secret, policy_b64)
}

/// Check a PostObject V1 `Signature` field in constant time.
pub fn verify_post_signature(secret: &str, policy_b64: &str, signature: &str) -> Result<()> {
    if ct_eq(
        post_signature(secret, policy_b64).as_bytes(),
        signature.as_bytes(),
    ) {
        Ok(())
    } else {
        Err(SigningError::SignatureMismatch)
    }
}

/// The `Authorization` header value: `OSS <AccessKeyId>:<Signature>`.
pub fn authorization(access_key_id: &str, signature: &str) -> String {
    format!("OSS {access_key_id}:{signature}")
}

/// Inputs of a V1 string-to-sign, as oss2 assembles it.
#[derive(Debug, Clone, Copy, Default)]
pub struct StringToSign<'a> {
    pub method: &'a str,
    pub content_md5: &'a str,
    pub content_type: &'a str,
    /// The `Date` header, or the `Expires` unix seconds for a presigned URL.
    pub date: &'a str,
    /// Request headers in any case; only `x-oss-*` ones are used.
    pub oss_headers: &'a [(&'a str, &'a str)],
    /// `None` for service-level requests (resource `/`).
    pub bucket: Option<&'a str>,
    /// The object key, raw: V1 does not percent-encode the resource (Unicode, `+`, `=` stay).
    pub key: &'a str,
    /// Sub-resources to sign; a `None` or empty value signs as the bare name.
    pub sub_resources: &'a [(&'a str, Option<&'a str>)],
}

impl StringToSign<'_> {
    /// `/bucket/key?sub=v&...` with sub-resources sorted by name.
    pub fn canonicalized_resource(&self) -> String {
        let mut out = match self.bucket {
            Some(bucket) => format!("/{bucket}/{}", self.key),
            None => "/".to_owned(),
        };
        let mut subs = self.sub_resources.to_vec();
        subs.sort_by(|a, b| a.0.cmp(b.0));
        for (i, (name, value)) in subs.iter().enumerate() {
            out.push(if i == 0 { '?' } else { '&' });
            out.push_str(name);
            if let Some(v) = value.filter(|v| !v.is_empty()) {
                out.push('=');
                out.push_str(v);
            }
        }
        out
    }

    /// `x-oss-*` headers lowercased, values trimmed (the server sees them without surrounding
    /// whitespace), sorted by name, one `name:value\n` each.
    pub fn canonicalized_oss_headers(&self) -> String {
        let mut headers: Vec<(String, &str)> = self
            .oss_headers
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.trim()))
            .filter(|(k, _)| k.starts_with("x-oss-"))
            .collect();
        headers.sort_by(|a, b| a.0.cmp(&b.0));
        headers.iter().map(|(k, v)| format!("{k}:{v}\n")).collect()
    }

    pub fn build(&self) -> String {
        format!(
            "{}\n{}\n{}\n{}\n{}{}",
            self.method,
            self.content_md5,
            self.content_type,
            self.date,
            self.canonicalized_oss_headers(),
            self.canonicalized_resource()
        )
    }
}

/// A V1 string-to-sign taken apart, so the service can decide whether to sign what an SDK's
/// custom signer asks for (which bucket, which key, which callback, which sub-resources).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedStringToSign {
    pub method: String,
    pub content_md5: String,
    pub content_type: String,
    /// `Date` header value, or unix seconds for a presigned URL.
    pub date: String,
    /// Canonicalized `x-oss-*` headers (names lowercase, unique).
    pub oss_headers: BTreeMap<String, String>,
    pub bucket: Option<String>,
    pub key: String,
    /// In signed order; `None` for a bare name.
    pub sub_resources: Vec<(String, Option<String>)>,
}

impl ParsedStringToSign {
    /// The `Expires` instant when `date` is unix seconds (presigned URL), else `None`.
    pub fn expires(&self) -> Option<DateTime<Utc>> {
        self.date
            .parse::<i64>()
            .ok()
            .and_then(|s| DateTime::from_timestamp(s, 0))
    }

    pub fn sub_resource(&self, name: &str) -> Option<&str> {
        self.sub_resources
            .iter()
            .find(|(k, _)| k == name)
            .and_then(|(_, v)| v.as_deref())
    }

    /// Rebuild the string through the one V1 builder; equals the parsed input when it was canonical.
    pub fn to_string_to_sign(&self) -> String {
        let headers: Vec<(&str, &str)> = self
            .oss_headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let subs: Vec<(&str, Option<&str>)> = self
            .sub_resources
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_deref()))
            .collect();
        StringToSign {
            method: &self.method,
            content_md5: &self.content_md5,
            content_type: &self.content_type,
            date: &self.date,
            oss_headers: &headers,
            bucket: self.bucket.as_deref(),
            key: &self.key,
            sub_resources: &subs,
        }
        .build()
    }
}

fn malformed(detail: &str) -> SigningError {
    SigningError::MalformedStringToSign(detail.to_owned())
}

/// Split `rest` (after `?`) into sub-resources if every item names a known one.
fn parse_sub_resources(rest: &str) -> Option<Vec<(String, Option<String>)>> {
    rest.split('&')
        .map(|item| match item.split_once('=') {
            Some((k, v)) => (k.to_owned(), Some(v.to_owned())),
            None => (item.to_owned(), None),
        })
        .map(|(k, v)| is_sub_resource(&k).then_some((k, v)))
        .collect()
}

/// Parse an app-supplied V1 string-to-sign. Rejects anything an SDK would not produce: missing
/// lines, non-canonical (uppercase, unsorted, duplicate) `x-oss-*` headers, a resource without `/`.
///
/// V1 does not encode `?` inside keys, so `/b/k?acl` could be key `k` with sub-resource `acl` or
/// key `k?acl`: both requests verify with the same signature. We split at the first `?` after
/// which every item is a known sub-resource, so the caller sees the sub-resources and can refuse.
pub fn parse_string_to_sign(s: &str) -> Result<ParsedStringToSign> {
    let mut lines = s.split('\n');
    let mut next = |what: &str| lines.next().ok_or_else(|| malformed(what));
    let method = next("missing method")?.to_owned();
    let content_md5 = next("missing Content-MD5 line")?.to_owned();
    let content_type = next("missing Content-Type line")?.to_owned();
    let date = next("missing date line")?.to_owned();
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(malformed("method must be uppercase letters"));
    }
    let rest: Vec<&str> = lines.collect();
    let header_count = rest.iter().take_while(|l| !l.starts_with('/')).count();
    if header_count == rest.len() {
        return Err(malformed("missing canonicalized resource"));
    }
    let mut oss_headers = BTreeMap::new();
    let mut previous: Option<&str> = None;
    for line in &rest[..header_count] {
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| malformed("header line without ':'"))?;
        if !name.starts_with("x-oss-") || name.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(malformed("headers must be lowercase x-oss-*"));
        }
        if previous.is_some_and(|p| p >= name) {
            return Err(malformed("headers must be sorted and unique"));
        }
        previous = Some(name);
        oss_headers.insert(name.to_owned(), value.to_owned());
    }
    // A resource can only span lines if the key holds a newline; keep it whole.
    let resource = rest[header_count..].join("\n");
    let after_slash = resource
        .strip_prefix('/')
        .ok_or_else(|| malformed("resource must start with /"))?;

    let mut path = after_slash;
    let mut sub_resources = Vec::new();
    for (i, _) in after_slash.match_indices('?') {
        let tail = after_slash.get(i + 1..).unwrap_or("");
        if let Some(subs) = parse_sub_resources(tail) {
            path = after_slash.get(..i).unwrap_or("");
            sub_resources = subs;
            break;
        }
    }
    let sorted = sub_resources.windows(2).all(|w| w[0].0 < w[1].0);
    if !sorted {
        return Err(malformed("sub-resources must be sorted and unique"));
    }
    let (bucket, key) = match path.split_once('/') {
        Some((b, k)) if !b.is_empty() => (Some(b.to_owned()), k.to_owned()),
        Some(_) => return Err(malformed("empty bucket in resource")),
        None if path.is_empty() => (None, String::new()),
        None => (Some(path.to_owned()), String::new()),
    };
    Ok(ParsedStringToSign {
        method,
        content_md5,
        content_type,
        date,
        oss_headers,
        bucket,
        key,
        sub_resources,
    })
}

/// A V1 presigned URL request, as ali-oss `signatureUrl` builds it.
#[derive(Debug, Clone, Copy, Default)]
pub struct PresignV1<'a> {
    /// Scheme, host and optional path prefix the key is appended to, e.g.
    /// `https://demo-bucket.oss-cn-hangzhou.aliyuncs.com`, or `http://127.0.0.1:9000/demo-bucket`
    /// for a path-style emulator.
    pub origin: &'a str,
    pub access_key_id: &'a str,
    pub secret: &'a str,
    pub method: &'a str,
    pub bucket: &'a str,
    pub key: &'a str,
    /// Signed when given: the uploader must then send exactly this `Content-Type`.
    pub content_type: Option<&'a str>,
    pub content_md5: Option<&'a str>,
    pub expires_at: DateTime<Utc>,
    /// STS token: signed as the `security-token` sub-resource.
    pub security_token: Option<&'a str>,
    /// Base64 callback parameter: a signed sub-resource, so the uploader cannot swap it.
    pub callback: Option<&'a str>,
    /// Base64 callback variables: a signed sub-resource too.
    pub callback_var: Option<&'a str>,
    /// `x-oss-*` headers the uploader must send (e.g. `x-oss-forbid-overwrite`): signed.
    pub oss_headers: &'a [(&'a str, &'a str)],
}

/// Build a V1 presigned URL, byte-identical to ali-oss 6.x `signatureUrl`.
pub fn presign_url(p: &PresignV1) -> String {
    let expires = p.expires_at.timestamp().to_string();
    // ali-oss query order after the three auth parameters: security-token, callback, callback-var.
    let subs: Vec<(&str, &str)> = [
        ("security-token", p.security_token),
        ("callback", p.callback),
        ("callback-var", p.callback_var),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.map(|v| (k, v)))
    .collect();
    let signed_subs: Vec<(&str, Option<&str>)> = subs.iter().map(|(k, v)| (*k, Some(*v))).collect();
    let string_to_sign = StringToSign {
        method: p.method,
        content_md5: p.content_md5.unwrap_or(""),
        content_type: p.content_type.unwrap_or(""),
        date: &expires,
        oss_headers: p.oss_headers,
        bucket: Some(p.bucket),
        key: p.key,
        sub_resources: &signed_subs,
    }
    .build();
    let signature = sign(p.secret, &string_to_sign);
    let mut url = String::with_capacity(string_to_sign.len() * 2 + 128);
    url.push_str(p.origin.trim_end_matches('/'));
    url.push('/');
    encode_into(&mut url, p.key, URI_PATH);
    url.push_str("?OSSAccessKeyId=");
    encode_into(&mut url, p.access_key_id, URI_COMPONENT);
    url.push_str("&Expires=");
    url.push_str(&expires);
    url.push_str("&Signature=");
    encode_into(&mut url, &signature, URI_COMPONENT);
    for (k, v) in subs {
        url.push('&');
        url.push_str(k);
        url.push('=');
        encode_into(&mut url, v, URI_COMPONENT);
    }
    url
}

/// Verify a V1 request (presigned URL or `Authorization: OSS ak:sig` header) as OSS would:
/// recompute the signature with the secret `lookup` returns for the access key id and compare in
/// constant time; then check `Expires` (URL) or the date skew (header) against `now`.
pub fn verify_request(
    req: &IncomingRequest,
    now: DateTime<Utc>,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<VerifiedRequest> {
    let query = parse_query(req.query);
    let (access_key_id, signature, date, expires_at) = match query_value(&query, "OSSAccessKeyId") {
        Some(ak) => {
            let signature = query_value(&query, "Signature").ok_or(SigningError::Missing("Signature"))?;
            let expires = query_value(&query, "Expires").ok_or(SigningError::Missing("Expires"))?;
            let at = expires
                .parse::<i64>()
                .ok()
                .and_then(|s| DateTime::from_timestamp(s, 0))
                .ok_or_else(|| SigningError::invalid("Expires", expires))?;
            (ak, signature, expires.to_owned(), Some(at))
        }
        None => {
            let auth = header(req.headers, "authorization").ok_or(SigningError::Missing("Authorization"))?;
            let (ak, signature) = auth
                .strip_prefix("OSS ")
                .and_then(|c| c.split_once(':'))
                .ok_or_else(|| SigningError::MalformedAuthorization("expected OSS ak:sig".into()))?;
            // SDKs that set x-oss-date sign it in place of Date.
            let date = header(req.headers, "x-oss-date")
                .or_else(|| header(req.headers, "date"))
                .ok_or(SigningError::Missing("Date"))?;
            (ak, signature, date.to_owned(), None)
        }
    };
    let secret = lookup(access_key_id).ok_or(SigningError::UnknownAccessKey)?;
    let (bucket, key) = split_bucket_key(req.host_bucket, req.path)?;
    let subs: Vec<(&str, Option<&str>)> = query
        .iter()
        .filter(|(k, _)| is_sub_resource(k))
        .map(|(k, v)| (k.as_str(), Some(v.as_str())))
        .collect();
    let expected = sign(
        &secret,
        &StringToSign {
            method: req.method,
            content_md5: header(req.headers, "content-md5").unwrap_or(""),
            content_type: header(req.headers, "content-type").unwrap_or(""),
            date: &date,
            oss_headers: req.headers,
            bucket: bucket.as_deref(),
            key: &key,
            sub_resources: &subs,
        }
        .build(),
    );
    if !ct_eq(expected.as_bytes(), signature.as_bytes()) {
        return Err(SigningError::SignatureMismatch);
    }
    match expires_at {
        Some(at) if now > at => return Err(SigningError::Expired),
        Some(_) => {}
        None => {
            let signed_at = DateTime::parse_from_rfc2822(&date)
                .map_err(|_| SigningError::invalid("Date", date.clone()))?;
            if (now - signed_at.with_timezone(&Utc)).num_seconds().abs() > MAX_CLOCK_SKEW_SECS {
                return Err(SigningError::RequestTimeSkewed);
            }
        }
    }
    let security_token = query_value(&query, "security-token")
        .or_else(|| header(req.headers, "x-oss-security-token"))
        .map(str::to_owned);
    Ok(VerifiedRequest {
        version: SignatureVersion::V1,
        access_key_id: access_key_id.to_owned(),
        bucket,
        key,
        region: None,
        security_token,
        expires_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::callback::{CallbackBodyType, CallbackParam, CallbackVars};
    use crate::common::encode;
    use crate::fixtures::{ali_oss, borrow, cases, check, field, lookup, oss2, parts, unix, AK, SECRET};
    use chrono::Duration;
    use serde_json::Value;

    #[test]
    fn sub_resource_list_is_sorted() {
        assert!(SUB_RESOURCES.windows(2).all(|w| w[0] < w[1]));
        assert!(is_sub_resource("callback-var"));
        assert!(!is_sub_resource("OSSAccessKeyId"));
    }

    #[test]
    fn post_v1_signatures_match_ali_oss() {
        for c in cases(&ali_oss(), "post_v1", 8) {
            let (policy, sig) = (field(c, "policy_base64"), field(c, "signature"));
            assert_eq!(post_signature(SECRET, policy), sig);
            assert_eq!(verify_post_signature(SECRET, policy, sig), Ok(()));
            let tampered = policy.replacen('e', "f", 1);
            assert_eq!(
                verify_post_signature(SECRET, &tampered, sig),
                Err(SigningError::SignatureMismatch)
            );
        }
    }

    fn oss2_headers(c: &Value) -> Vec<(String, String)> {
        c["headers"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
            .collect()
    }

    #[test]
    fn header_string_to_sign_matches_oss2() {
        for c in cases(&oss2(), "put_header_v1", 3) {
            let owned = oss2_headers(c);
            let headers = borrow(&owned);
            let sts = StringToSign {
                method: field(c, "method"),
                content_md5: header(&headers, "content-md5").unwrap_or(""),
                content_type: header(&headers, "content-type").unwrap_or(""),
                date: header(&headers, "date").unwrap(),
                oss_headers: &headers,
                bucket: c["bucket"].as_str(),
                key: field(c, "key"),
                sub_resources: &[],
            }
            .build();
            assert_eq!(sts, field(c, "string_to_sign"));
            assert_eq!(authorization(AK, &sign(SECRET, &sts)), field(c, "authorization"));
        }
    }

    #[test]
    fn parser_splits_every_oss2_string_to_sign() {
        for c in cases(&oss2(), "put_header_v1", 3) {
            let s = field(c, "string_to_sign");
            let p = parse_string_to_sign(s).unwrap();
            let h = &c["headers"];
            assert_eq!(p.method, "PUT");
            assert_eq!(p.content_md5, "");
            assert_eq!(p.content_type, field(h, "Content-Type"));
            assert_eq!(p.date, field(h, "Date"));
            assert_eq!(p.expires(), None);
            assert_eq!(p.bucket.as_deref(), Some("demo-bucket"));
            assert_eq!(p.key, field(c, "key"));
            assert!(p.sub_resources.is_empty());
            assert_eq!(
                p.oss_headers.keys().collect::<Vec<_>>(),
                ["x-oss-callback", "x-oss-callback-var"]
            );
            assert_eq!(p.oss_headers["x-oss-callback"], field(h, "x-oss-callback"));
            assert_eq!(p.to_string_to_sign(), s);
        }
    }

    #[test]
    fn parser_handles_sub_resources_and_ambiguous_question_marks() {
        let s = "PUT\n\n\n1795579000\n/b/k/x?.txt?callback=Y2I=&security-token=T+/=";
        let p = parse_string_to_sign(s).unwrap();
        assert_eq!(p.key, "k/x?.txt");
        assert_eq!(p.sub_resource("callback"), Some("Y2I="));
        assert_eq!(p.sub_resource("security-token"), Some("T+/="));
        assert_eq!(p.expires().map(|e| e.timestamp()), Some(1795579000));
        assert_eq!(p.to_string_to_sign(), s);

        // Exposes the sub-resource rather than hiding it inside the key.
        let p = parse_string_to_sign("PUT\n\n\n1\n/b/k?acl").unwrap();
        assert_eq!(p.key, "k");
        assert_eq!(p.sub_resources, vec![("acl".to_owned(), None)]);

        let p = parse_string_to_sign("GET\n\n\n1\n/").unwrap();
        assert_eq!((p.bucket, p.key), (None, String::new()));
        let p = parse_string_to_sign("GET\n\n\n1\n/b/?acl").unwrap();
        assert_eq!((p.bucket.as_deref(), p.key.as_str()), (Some("b"), ""));
    }

    #[test]
    fn parser_rejects_malformed_input() {
        let bad = [
            "",
            "PUT",
            "PUT\n\n\n",
            "PUT\n\n\nd",
            "put\n\n\nd\n/b/k",
            "PUT\n\n\nd\nb/k",
            "PUT\n\n\nd\nx-oss-a:1",
            "PUT\n\n\nd\nX-OSS-A:1\n/b/k",
            "PUT\n\n\nd\ncontent-length:1\n/b/k",
            "PUT\n\n\nd\nx-oss-a\n/b/k",
            "PUT\n\n\nd\nx-oss-b:1\nx-oss-a:1\n/b/k",
            "PUT\n\n\nd\nx-oss-a:1\nx-oss-a:2\n/b/k",
            "PUT\n\n\nd\n//k",
            "PUT\n\n\nd\n/b/k?uploads&acl",
        ];
        for s in bad {
            assert!(parse_string_to_sign(s).is_err(), "{s:?}");
        }
    }

    fn callback_of(c: &Value) -> (String, String) {
        let cb = &c["callback"];
        let param = CallbackParam {
            url: field(cb, "url").into(),
            host: cb["host"].as_str().map(Into::into),
            body: field(cb, "body").into(),
            body_type: CallbackBodyType::Json,
            sni: None,
        };
        let mut vars = CallbackVars::new();
        for (k, v) in cb["customValue"].as_object().unwrap() {
            vars.insert(k, v.as_str().unwrap()).unwrap();
        }
        (param.to_base64(), vars.to_base64())
    }

    #[test]
    fn presigned_urls_match_ali_oss() {
        for c in cases(&ali_oss(), "put_url_v1", 6) {
            let (callback, callback_var) = callback_of(c);
            let expires = c["now_unix"].as_i64().unwrap() + c["expires_in"].as_i64().unwrap();
            let url = presign_url(&PresignV1 {
                origin: "https://demo-bucket.oss-cn-hangzhou.aliyuncs.com",
                access_key_id: AK,
                secret: SECRET,
                method: field(c, "method"),
                bucket: "demo-bucket",
                key: field(c, "key"),
                content_type: c["content_type"].as_str(),
                content_md5: None,
                expires_at: unix(expires),
                security_token: None,
                callback: Some(&callback),
                callback_var: Some(&callback_var),
                oss_headers: &[],
            });
            assert_eq!(url, field(c, "url"));
        }
    }

    #[test]
    fn verifier_accepts_ali_oss_urls_and_rejects_tampering() {
        use SigningError::*;
        for c in cases(&ali_oss(), "put_url_v1", 6) {
            let (path, query) = parts(field(c, "url"));
            let now = unix(c["now_unix"].as_i64().unwrap());
            let headers = [("Content-Type", field(c, "content_type"))];
            let req = IncomingRequest {
                method: "PUT",
                host_bucket: Some("demo-bucket"),
                path: &path,
                query: query.as_deref(),
                headers: &headers,
            };
            let ok = verify_request(&req, now, lookup).unwrap();
            assert_eq!(ok.key, field(c, "key"));
            assert_eq!(ok.bucket.as_deref(), Some("demo-bucket"));
            assert_eq!(ok.access_key_id, AK);

            let wrong_type = [("Content-Type", "text/html")];
            let other_vars = query
                .as_deref()
                .unwrap()
                .replace("callback-var=eyJ", "callback-var=eyK");
            check(
                |r, now| verify_request(r, now, lookup),
                &[
                    ("late", req, now + Duration::seconds(601), Err(Expired)),
                    (
                        "content type",
                        req.with_headers(&wrong_type),
                        now,
                        Err(SignatureMismatch),
                    ),
                    (
                        "path",
                        req.with_path("/uploads/other.jpg"),
                        now,
                        Err(SignatureMismatch),
                    ),
                    (
                        "callback-var",
                        req.with_query(&other_vars),
                        now,
                        Err(SignatureMismatch),
                    ),
                    ("method", req.with_method("GET"), now, Err(SignatureMismatch)),
                ],
            );
            assert_eq!(verify_request(&req, now, |_| None), Err(UnknownAccessKey));
        }
    }

    #[test]
    fn security_token_is_a_signed_sub_resource() {
        let token = "CAIS+token/with=chars";
        let expires_at = unix(1_795_579_000);
        let url = presign_url(&PresignV1 {
            origin: "http://127.0.0.1:9000/demo-bucket/",
            access_key_id: AK,
            secret: SECRET,
            method: "PUT",
            bucket: "demo-bucket",
            key: "a b/中.png",
            content_type: Some("image/png"),
            expires_at,
            security_token: Some(token),
            ..Default::default()
        });
        assert!(url.starts_with("http://127.0.0.1:9000/demo-bucket/a%20b/%E4%B8%AD.png?OSSAccessKeyId="));
        assert!(url.ends_with("&security-token=CAIS%2Btoken%2Fwith%3Dchars"));
        let (path, query) = parts(&url);
        let headers = [("content-type", "image/png")];
        let req = IncomingRequest {
            method: "PUT",
            host_bucket: None,
            path: &path,
            query: query.as_deref(),
            headers: &headers,
        };
        let now = expires_at - Duration::seconds(10);
        let ok = verify_request(&req, now, lookup).unwrap();
        assert_eq!(ok.security_token.as_deref(), Some(token));
        assert_eq!(ok.key, "a b/中.png");
        let q = query.as_deref().unwrap().replace("CAIS%2Btoken", "CAIS%2Btokem");
        check(
            |r, now| verify_request(r, now, lookup),
            &[(
                "token",
                req.with_query(&q),
                now,
                Err(SigningError::SignatureMismatch),
            )],
        );
    }

    #[test]
    fn verifier_accepts_oss2_header_signed_requests() {
        for c in cases(&oss2(), "put_header_v1", 3) {
            let mut owned = oss2_headers(c);
            owned.push(("Authorization".into(), field(c, "authorization").into()));
            let headers = borrow(&owned);
            let path = format!("/{}", encode(field(c, "key"), URI_PATH));
            let req = IncomingRequest {
                method: "PUT",
                host_bucket: Some("demo-bucket"),
                path: &path,
                query: None,
                headers: &headers,
            };
            let date = DateTime::parse_from_rfc2822(field(&c["headers"], "Date"))
                .unwrap()
                .with_timezone(&Utc);
            let ok = verify_request(&req, date + Duration::minutes(5), lookup).unwrap();
            assert_eq!(ok.key, field(c, "key"));
            let mut tampered = owned.clone();
            for (k, v) in tampered.iter_mut() {
                if k == "x-oss-callback-var" {
                    v.push('x');
                }
            }
            let tampered = borrow(&tampered);
            check(
                |r, now| verify_request(r, now, lookup),
                &[
                    (
                        "16 minutes late",
                        req,
                        date + Duration::minutes(16),
                        Err(SigningError::RequestTimeSkewed),
                    ),
                    (
                        "callback-var",
                        req.with_headers(&tampered),
                        date,
                        Err(SigningError::SignatureMismatch),
                    ),
                ],
            );
        }
    }

    #[test]
    fn verifier_rejects_malformed_requests_without_panicking() {
        let now = unix(1_795_579_000);
        type Case<'a> = (&'a str, Option<&'a str>, &'a [(&'a str, &'a str)]);
        let cases: [Case; 7] = [
            ("/k", None, &[]),
            ("/k", None, &[("Authorization", "AWS x:y"), ("Date", "x")]),
            ("/k", None, &[("Authorization", "OSS nocolon"), ("Date", "x")]),
            ("/k", None, &[("Authorization", "OSS a:b")]),
            ("/k", Some("OSSAccessKeyId=a&Expires=1"), &[]),
            ("/k", Some("OSSAccessKeyId=a&Signature=s&Expires=soon"), &[]),
            (
                "k",
                Some("OSSAccessKeyId=LTAI5tTestKeyId000000&Signature=s&Expires=1"),
                &[],
            ),
        ];
        for (path, query, headers) in cases {
            let req = IncomingRequest {
                method: "PUT",
                host_bucket: Some("b"),
                path,
                query,
                headers,
            };
            assert!(verify_request(&req, now, lookup).is_err(), "{path} {query:?}");
        }
        // A valid signature over an unparseable Date still fails closed.
        let sts = StringToSign {
            method: "GET",
            date: "yesterday",
            bucket: Some("b"),
            key: "k",
            ..Default::default()
        }
        .build();
        let auth = authorization(AK, &sign(SECRET, &sts));
        let headers = [("Authorization", auth.as_str()), ("Date", "yesterday")];
        let req = IncomingRequest {
            method: "GET",
            host_bucket: Some("b"),
            path: "/k",
            query: None,
            headers: &headers,
        };
        assert!(matches!(
            verify_request(&req, now, lookup),
            Err(SigningError::InvalidValue { what: "Date", .. })
        ));
    }
}
