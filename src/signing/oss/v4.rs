//! OSS signature V4 (OSS4-HMAC-SHA256): signing key, PostObject signature, the canonical request
//! shared by presigned URLs and header signing, and verifiers for the emulator.
//!
//! Canonical request (one builder for every use):
//! ```text
//! METHOD\n/bucket/key (RFC 3986, `/` kept)\nsorted query\ncanonical headers (each `k:v\n`)\n
//! additional header names (`;`)\nUNSIGNED-PAYLOAD
//! ```

use chrono::{DateTime, Datelike, NaiveDateTime, Timelike, Utc};
use hmac::Mac;
use sha2::{Digest, Sha256};

use crate::common::{
    ct_eq, encode, encode_into, header, hmac_sha256, hmac_sha256_keyed, parse_query, query_value,
    split_bucket_key, HmacSha256, RFC3986, RFC3986_PATH, URI_COMPONENT, URI_PATH,
};
use crate::policy::Condition;
use crate::{IncomingRequest, Result, SignatureVersion, SigningError, VerifiedRequest, MAX_CLOCK_SKEW_SECS};

pub const ALGORITHM: &str = "OSS4-HMAC-SHA256";
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";
/// OSS caps V4 presigned URLs (and PostObject validity) at 7 days.
pub const MAX_EXPIRES_SECS: u32 = 7 * 24 * 3600;
const SERVICE: &str = "oss";
const TERMINATOR: &str = "aliyun_v4_request";
const X_OSS_DATE_FORMAT: &str = "%Y%m%dT%H%M%SZ";

/// `YYYYMMDDTHHMMSSZ`, the `x-oss-date` format.
pub fn x_oss_date(at: DateTime<Utc>) -> String {
    let mut out = date_stamp(at);
    out.push('T');
    for n in [at.hour(), at.minute(), at.second()] {
        push_digits(&mut out, n, 2);
    }
    out.push('Z');
    out
}

/// `YYYYMMDD`, the date in the credential scope.
pub fn date_stamp(at: DateTime<Utc>) -> String {
    // Written digit by digit: chrono's `format` parses its pattern on every call, and every
    // credential needs these strings several times. Years past 9999 (or before year 0) carry a
    // sign in chrono's `%Y`; they keep its rendering.
    if !(0..=9999).contains(&at.year()) {
        return at.format("%Y%m%d").to_string();
    }
    let mut out = String::with_capacity(16);
    push_digits(&mut out, at.year() as u32, 4);
    push_digits(&mut out, at.month(), 2);
    push_digits(&mut out, at.day(), 2);
    out
}

/// Appends the last `width` decimal digits of `n`, zero-padded.
fn push_digits(out: &mut String, n: u32, width: u32) {
    for place in (0..width).rev() {
        let digit = (n / 10u32.pow(place) % 10) as u8;
        out.push(char::from(b'0' + digit));
    }
}

fn parse_x_oss_date(s: &str) -> Result<DateTime<Utc>> {
    NaiveDateTime::parse_from_str(s, X_OSS_DATE_FORMAT)
        .map(|n| n.and_utc())
        .map_err(|_| SigningError::invalid("x-oss-date", s))
}

/// The day's signing key, and an HMAC already keyed with it.
struct DayKey {
    secret: String,
    day: String,
    region: String,
    key: [u8; 32],
    mac: HmacSha256,
}

/// Runs `f` on the day's key for (secret, day, region), remembered per thread for the last one:
/// it changes once a day, and deriving it is four HMACs, as much work as the rest of a V4
/// signature. The keyed HMAC is kept too: keying one costs two more compressions, a clone none.
fn with_day_key<R>(secret: &str, yyyymmdd: &str, region: &str, f: impl FnOnce(&DayKey) -> R) -> R {
    thread_local! {
        static LAST: std::cell::RefCell<Option<DayKey>> = const { std::cell::RefCell::new(None) };
    }
    LAST.with_borrow_mut(|last| match last {
        Some(k) if k.secret == secret && k.day == yyyymmdd && k.region == region => f(k),
        _ => {
            let key = derive_signing_key(secret, yyyymmdd, region);
            f(last.insert(DayKey {
                secret: secret.to_owned(),
                day: yyyymmdd.to_owned(),
                region: region.to_owned(),
                key,
                mac: hmac_sha256_keyed(&key),
            }))
        }
    })
}

/// The day's signing key (see `with_day_key`).
pub fn signing_key(secret: &str, yyyymmdd: &str, region: &str) -> [u8; 32] {
    with_day_key(secret, yyyymmdd, region, |k| k.key)
}

/// HMAC chain `"aliyun_v4" + secret` -> date -> region -> `oss` -> `aliyun_v4_request`.
fn derive_signing_key(secret: &str, yyyymmdd: &str, region: &str) -> [u8; 32] {
    let k = hmac_sha256(format!("aliyun_v4{secret}").as_bytes(), yyyymmdd.as_bytes());
    let k = hmac_sha256(&k, region.as_bytes());
    let k = hmac_sha256(&k, SERVICE.as_bytes());
    hmac_sha256(&k, TERMINATOR.as_bytes())
}

/// `YYYYMMDD/region/oss/aliyun_v4_request`.
pub fn scope(yyyymmdd: &str, region: &str) -> String {
    let mut out = String::with_capacity(scope_len(yyyymmdd, region));
    push_scope(&mut out, yyyymmdd, region);
    out
}

/// `AK/YYYYMMDD/region/oss/aliyun_v4_request` (region like `cn-hangzhou`, without `oss-`).
pub fn credential(access_key_id: &str, yyyymmdd: &str, region: &str) -> String {
    let mut out = String::with_capacity(access_key_id.len() + 1 + scope_len(yyyymmdd, region));
    out.push_str(access_key_id);
    out.push('/');
    push_scope(&mut out, yyyymmdd, region);
    out
}

// The scope appended in place: a credential needs it several times (conditions, form, URL, string
// to sign), and `format!` cost more than the pieces it joins.
fn push_scope(out: &mut String, yyyymmdd: &str, region: &str) {
    for part in [yyyymmdd, "/", region, "/", SERVICE, "/", TERMINATOR] {
        out.push_str(part);
    }
}

fn scope_len(yyyymmdd: &str, region: &str) -> usize {
    yyyymmdd.len() + region.len() + SERVICE.len() + TERMINATOR.len() + 3
}

/// A parsed `x-oss-credential` / `Credential=` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    pub access_key_id: String,
    pub date: String,
    pub region: String,
}

impl Credential {
    pub fn parse(s: &str) -> Result<Self> {
        let bad = || SigningError::invalid("credential", s);
        let parts: Vec<&str> = s.split('/').collect();
        match parts.as_slice() {
            [ak, date, region, service, term]
                if !ak.is_empty()
                    && date.len() == 8
                    && date.bytes().all(|b| b.is_ascii_digit())
                    && !region.is_empty()
                    && *service == SERVICE
                    && *term == TERMINATOR =>
            {
                Ok(Credential {
                    access_key_id: (*ak).to_owned(),
                    date: (*date).to_owned(),
                    region: (*region).to_owned(),
                })
            }
            _ => Err(bad()),
        }
    }
}

/// `OSS4-HMAC-SHA256\n{x-oss-date}\n{scope}\n{hex sha256(canonical request)}`.
pub fn string_to_sign(x_oss_date: &str, region: &str, canonical_request: &str) -> String {
    let date = x_oss_date.get(..8).unwrap_or("");
    let digest = hex::encode(Sha256::digest(canonical_request.as_bytes()));
    let mut out = String::with_capacity(
        ALGORITHM.len() + x_oss_date.len() + scope_len(date, region) + digest.len() + 3,
    );
    for part in [ALGORITHM, "\n", x_oss_date, "\n"] {
        out.push_str(part);
    }
    push_scope(&mut out, date, region);
    out.push('\n');
    out.push_str(&digest);
    out
}

/// Hex HMAC-SHA256 of a string-to-sign with the day's signing key: the one V4 signature primitive.
pub fn sign(secret: &str, yyyymmdd: &str, region: &str, string_to_sign: &str) -> String {
    let mut mac = with_day_key(secret, yyyymmdd, region, |k| k.mac.clone());
    mac.update(string_to_sign.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// PostObject `x-oss-signature`: the base64 policy is the string to sign.
pub fn post_signature(secret: &str, policy_b64: &str, date: DateTime<Utc>, region: &str) -> String {
    sign(secret, &date_stamp(date), region, policy_b64)
}

/// Conditions a V4 PostObject policy must repeat (OSS checks the form fields against them).
pub fn post_conditions(
    access_key_id: &str,
    at: DateTime<Utc>,
    region: &str,
    security_token: Option<&str>,
) -> Vec<Condition> {
    let mut out = vec![
        Condition::Exact("x-oss-signature-version".into(), ALGORITHM.into()),
        Condition::Exact(
            "x-oss-credential".into(),
            credential(access_key_id, &date_stamp(at), region),
        ),
        Condition::Exact("x-oss-date".into(), x_oss_date(at)),
    ];
    if let Some(token) = security_token {
        out.push(Condition::Exact("x-oss-security-token".into(), token.into()));
    }
    out
}

/// Verify a PostObject V4 signature from its form fields; returns the parsed credential so the
/// caller can check the region. Policy conditions and expiry are checked by `ParsedPolicy`.
pub fn verify_post(
    policy_b64: &str,
    x_oss_credential: &str,
    x_oss_date: &str,
    x_oss_signature: &str,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<Credential> {
    let cred = Credential::parse(x_oss_credential)?;
    parse_x_oss_date(x_oss_date)?;
    if x_oss_date.get(..8) != Some(cred.date.as_str()) {
        return Err(SigningError::invalid(
            "x-oss-date",
            "differs from credential date",
        ));
    }
    let secret = lookup(&cred.access_key_id).ok_or(SigningError::UnknownAccessKey)?;
    let expected = sign(&secret, &cred.date, &cred.region, policy_b64);
    if !ct_eq(expected.as_bytes(), x_oss_signature.as_bytes()) {
        return Err(SigningError::SignatureMismatch);
    }
    Ok(cred)
}

/// Lowercase, dedupe, drop headers V4 signs anyway (content-type, content-md5, x-oss-*), sort.
pub fn normalize_additional_headers(names: &[&str]) -> Vec<String> {
    let mut out: Vec<String> = names
        .iter()
        .map(|n| n.trim().to_ascii_lowercase())
        .filter(|n| !n.is_empty() && n != "content-type" && n != "content-md5" && !n.starts_with("x-oss-"))
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Inputs of a V4 canonical request.
#[derive(Debug, Clone, Copy, Default)]
pub struct CanonicalRequest<'a> {
    pub method: &'a str,
    /// `None` for service-level requests (URI `/`).
    pub bucket: Option<&'a str>,
    pub key: &'a str,
    /// Decoded query parameters; all of them are signed (an empty value signs as the bare key).
    pub query: &'a [(&'a str, &'a str)],
    /// Request headers in any case; content-type, content-md5, x-oss-* and the additional ones
    /// are signed. First occurrence of a name wins.
    pub headers: &'a [(&'a str, &'a str)],
    /// Extra header names to sign (normalised here); each must be present in `headers`.
    pub additional_headers: &'a [&'a str],
}

impl CanonicalRequest<'_> {
    pub fn canonical_uri(&self) -> String {
        let mut out = String::new();
        self.push_canonical_uri(&mut out);
        out
    }

    fn push_canonical_uri(&self, out: &mut String) {
        match self.bucket {
            Some(bucket) => {
                out.push('/');
                encode_into(out, bucket, RFC3986_PATH);
                out.push('/');
                encode_into(out, self.key, RFC3986_PATH);
            }
            None => out.push('/'),
        }
    }

    pub fn canonical_query(&self) -> String {
        let mut out = String::new();
        self.push_canonical_query(&mut out);
        out
    }

    fn push_canonical_query(&self, out: &mut String) {
        let mut pairs: Vec<(String, String)> = self
            .query
            .iter()
            .map(|(k, v)| (encode(k, RFC3986), encode(v, RFC3986)))
            .collect();
        pairs.sort();
        for (i, (k, v)) in pairs.iter().enumerate() {
            if i > 0 {
                out.push('&');
            }
            out.push_str(k);
            if !v.is_empty() {
                out.push('=');
                out.push_str(v);
            }
        }
    }

    pub fn build(&self) -> Result<String> {
        let additional = normalize_additional_headers(self.additional_headers);
        let mut signed: Vec<(String, &str)> = Vec::new();
        for (name, value) in self.headers {
            let lower = name.to_ascii_lowercase();
            let wanted = lower == "content-type"
                || lower == "content-md5"
                || lower.starts_with("x-oss-")
                || additional.contains(&lower);
            if wanted && !signed.iter().any(|(n, _)| *n == lower) {
                signed.push((lower, value.trim()));
            }
        }
        if let Some(missing) = additional.iter().find(|a| !signed.iter().any(|(n, _)| n == *a)) {
            return Err(SigningError::invalid(
                "additional headers",
                format!("`{missing}` is not in the request"),
            ));
        }
        signed.sort_by(|a, b| a.0.cmp(&b.0));
        let payload = header(self.headers, "x-oss-content-sha256").unwrap_or(UNSIGNED_PAYLOAD);
        // One buffer for the whole request: a presigned URL's query carries the callback, KBs
        // (at most three bytes per byte once encoded).
        let query_len: usize = self.query.iter().map(|(k, v)| 3 * (k.len() + v.len()) + 2).sum();
        let mut out = String::with_capacity(512 + query_len);
        out.push_str(self.method);
        out.push('\n');
        self.push_canonical_uri(&mut out);
        out.push('\n');
        self.push_canonical_query(&mut out);
        out.push('\n');
        for (name, value) in &signed {
            for part in [name.as_str(), ":", value, "\n"] {
                out.push_str(part);
            }
        }
        out.push('\n');
        out.push_str(&additional.join(";"));
        out.push('\n');
        out.push_str(payload);
        Ok(out)
    }
}

/// A V4 presigned URL request, as ali-oss `signatureUrlV4` builds it.
#[derive(Debug, Clone, Copy, Default)]
pub struct PresignV4<'a> {
    /// Scheme, host and optional path prefix the key is appended to.
    pub origin: &'a str,
    pub access_key_id: &'a str,
    pub secret: &'a str,
    pub region: &'a str,
    pub method: &'a str,
    pub bucket: &'a str,
    pub key: &'a str,
    /// Headers the uploader will send that get signed: Content-Type (ali-oss signs it when given,
    /// as the vectors show), Content-MD5, x-oss-*, and those named in `additional_headers`.
    pub headers: &'a [(&'a str, &'a str)],
    pub additional_headers: &'a [&'a str],
    /// Extra signed query parameters (e.g. `callback`, `callback-var`), placed first as ali-oss does.
    pub extra_query: &'a [(&'a str, &'a str)],
    pub security_token: Option<&'a str>,
    pub at: DateTime<Utc>,
    /// Seconds, 1 ..= 7 days.
    pub expires_in: u32,
}

/// Build a V4 presigned URL, byte-identical to ali-oss 6.x `signatureUrlV4`.
pub fn presign_url(p: &PresignV4) -> Result<String> {
    if p.expires_in == 0 || p.expires_in > MAX_EXPIRES_SECS {
        return Err(SigningError::invalid("expires_in", "must be 1 second to 7 days"));
    }
    let date = x_oss_date(p.at);
    let day = date_stamp(p.at);
    let additional = normalize_additional_headers(p.additional_headers).join(";");
    let cred = credential(p.access_key_id, &day, p.region);
    let expires = p.expires_in.to_string();
    let mut query: Vec<(&str, &str)> = p.extra_query.to_vec();
    if !additional.is_empty() {
        query.push(("x-oss-additional-headers", &additional));
    }
    query.push(("x-oss-credential", &cred));
    query.push(("x-oss-date", &date));
    query.push(("x-oss-expires", &expires));
    query.push(("x-oss-signature-version", ALGORITHM));
    if let Some(token) = p.security_token {
        query.push(("x-oss-security-token", token));
    }
    let canonical = CanonicalRequest {
        method: p.method,
        bucket: Some(p.bucket),
        key: p.key,
        query: &query,
        headers: p.headers,
        additional_headers: p.additional_headers,
    }
    .build()?;
    let signature = sign(
        p.secret,
        &day,
        p.region,
        &string_to_sign(&date, p.region, &canonical),
    );
    let mut url = String::with_capacity(canonical.len() + 256);
    url.push_str(p.origin.trim_end_matches('/'));
    url.push('/');
    encode_into(&mut url, p.key, URI_PATH);
    url.push('?');
    for (k, v) in query
        .iter()
        .chain([("x-oss-signature", signature.as_str())].iter())
    {
        encode_into(&mut url, k, URI_COMPONENT);
        url.push('=');
        encode_into(&mut url, v, URI_COMPONENT);
        url.push('&');
    }
    url.pop();
    Ok(url)
}

/// A request to sign with an `Authorization` header.
#[derive(Debug, Clone, Copy, Default)]
pub struct HeaderSignV4<'a> {
    pub access_key_id: &'a str,
    pub secret: &'a str,
    pub region: &'a str,
    pub method: &'a str,
    pub bucket: Option<&'a str>,
    pub key: &'a str,
    /// Decoded query parameters of the request (all signed).
    pub query: &'a [(&'a str, &'a str)],
    /// Headers the request will carry (x-oss-date and x-oss-security-token are set here).
    pub headers: &'a [(&'a str, &'a str)],
    pub additional_headers: &'a [&'a str],
    pub security_token: Option<&'a str>,
    pub at: DateTime<Utc>,
}

/// Sign a request for header authentication. Returns the headers to add: `x-oss-date`,
/// `x-oss-content-sha256` (unless given), `x-oss-security-token` (with STS) and `authorization`:
/// `OSS4-HMAC-SHA256 Credential=..[,AdditionalHeaders=..],Signature=..` (ali-oss's layout).
pub fn sign_headers(r: &HeaderSignV4) -> Result<Vec<(String, String)>> {
    let date = x_oss_date(r.at);
    let day = date_stamp(r.at);
    let mut added: Vec<(String, String)> = vec![("x-oss-date".into(), date.clone())];
    if header(r.headers, "x-oss-content-sha256").is_none() {
        added.push(("x-oss-content-sha256".into(), UNSIGNED_PAYLOAD.into()));
    }
    if let Some(token) = r.security_token {
        added.push(("x-oss-security-token".into(), token.into()));
    }
    // Ours replace any stale copies the caller passed.
    let mut headers: Vec<(&str, &str)> = r
        .headers
        .iter()
        .filter(|(k, _)| {
            !k.eq_ignore_ascii_case("x-oss-date") && !k.eq_ignore_ascii_case("x-oss-security-token")
        })
        .copied()
        .collect();
    headers.extend(added.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let canonical = CanonicalRequest {
        method: r.method,
        bucket: r.bucket,
        key: r.key,
        query: r.query,
        headers: &headers,
        additional_headers: r.additional_headers,
    }
    .build()?;
    let signature = sign(
        r.secret,
        &day,
        r.region,
        &string_to_sign(&date, r.region, &canonical),
    );
    let additional = normalize_additional_headers(r.additional_headers);
    let mut auth = format!(
        "{ALGORITHM} Credential={}",
        credential(r.access_key_id, &day, r.region)
    );
    if !additional.is_empty() {
        auth.push_str(",AdditionalHeaders=");
        auth.push_str(&additional.join(";"));
    }
    auth.push_str(",Signature=");
    auth.push_str(&signature);
    added.push(("authorization".into(), auth));
    Ok(added)
}

/// A parsed V4 `Authorization` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    pub credential: Credential,
    pub additional_headers: Vec<String>,
    pub signature: String,
}

impl Authorization {
    /// Accepts ali-oss's `a=1,b=2` and oss2's `a=1, b=2` layouts, fields in any order.
    pub fn parse(value: &str) -> Result<Self> {
        let bad = |d: &str| SigningError::MalformedAuthorization(d.to_owned());
        let rest = value
            .strip_prefix(ALGORITHM)
            .and_then(|r| r.strip_prefix(' '))
            .ok_or_else(|| bad("expected OSS4-HMAC-SHA256"))?;
        let (mut cred, mut additional, mut signature) = (None, None, None);
        for item in rest.split(',') {
            let (k, v) = item
                .trim()
                .split_once('=')
                .ok_or_else(|| bad("field without '='"))?;
            let slot = match k {
                "Credential" => &mut cred,
                "AdditionalHeaders" => &mut additional,
                "Signature" => &mut signature,
                _ => return Err(bad("unknown field")),
            };
            if slot.replace(v).is_some() {
                return Err(bad("repeated field"));
            }
        }
        let additional_headers = match additional {
            None => Vec::new(),
            Some(list) => {
                let names: Vec<String> = list.split(';').map(str::to_owned).collect();
                if names.iter().any(|n| n.is_empty()) {
                    return Err(bad("empty name in AdditionalHeaders"));
                }
                names
            }
        };
        Ok(Authorization {
            credential: Credential::parse(cred.ok_or_else(|| bad("missing Credential"))?)?,
            additional_headers,
            signature: signature.ok_or_else(|| bad("missing Signature"))?.to_owned(),
        })
    }
}

/// Recompute and compare one request's signature; shared by both verifiers.
#[allow(clippy::too_many_arguments)]
fn check_signature(
    req: &IncomingRequest,
    bucket: Option<&str>,
    key: &str,
    query: &[(&str, &str)],
    cred: &Credential,
    date: &str,
    additional: &[&str],
    signature: &str,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<()> {
    if date.get(..8) != Some(cred.date.as_str()) {
        return Err(SigningError::invalid(
            "x-oss-date",
            "differs from credential date",
        ));
    }
    let secret = lookup(&cred.access_key_id).ok_or(SigningError::UnknownAccessKey)?;
    let canonical = CanonicalRequest {
        method: req.method,
        bucket,
        key,
        query,
        headers: req.headers,
        additional_headers: additional,
    }
    .build()?;
    let expected = sign(
        &secret,
        &cred.date,
        &cred.region,
        &string_to_sign(date, &cred.region, &canonical),
    );
    if ct_eq(expected.as_bytes(), signature.as_bytes()) {
        Ok(())
    } else {
        Err(SigningError::SignatureMismatch)
    }
}

/// Verify a V4 presigned URL (`x-oss-signature` in the query) as OSS would.
pub fn verify_query_signed(
    req: &IncomingRequest,
    now: DateTime<Utc>,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<VerifiedRequest> {
    let query = parse_query(req.query);
    let get = |name: &'static str| query_value(&query, name).ok_or(SigningError::Missing(name));
    if get("x-oss-signature-version")? != ALGORITHM {
        return Err(SigningError::invalid("x-oss-signature-version", "unsupported"));
    }
    let cred = Credential::parse(get("x-oss-credential")?)?;
    let date = get("x-oss-date")?;
    let signed_at = parse_x_oss_date(date)?;
    let expires_in: u32 = get("x-oss-expires")?
        .parse()
        .map_err(|_| SigningError::invalid("x-oss-expires", "not a number"))?;
    if expires_in == 0 || expires_in > MAX_EXPIRES_SECS {
        return Err(SigningError::invalid(
            "x-oss-expires",
            "must be 1 second to 7 days",
        ));
    }
    let signature = get("x-oss-signature")?;
    let additional: Vec<&str> = query_value(&query, "x-oss-additional-headers")
        .map(|a| a.split(';').collect())
        .unwrap_or_default();
    let signed_query: Vec<(&str, &str)> = query
        .iter()
        .filter(|(k, _)| k != "x-oss-signature")
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let (bucket, key) = split_bucket_key(req.host_bucket, req.path)?;
    check_signature(
        req,
        bucket.as_deref(),
        &key,
        &signed_query,
        &cred,
        date,
        &additional,
        signature,
        lookup,
    )?;
    // Checked: a signed date near year 9999 must not overflow into a panic.
    let expires_at = signed_at
        .checked_add_signed(chrono::Duration::seconds(i64::from(expires_in)))
        .ok_or_else(|| SigningError::invalid("x-oss-date", "out of range"))?;
    if now > expires_at {
        return Err(SigningError::Expired);
    }
    if (signed_at - now).num_seconds() > MAX_CLOCK_SKEW_SECS {
        return Err(SigningError::RequestTimeSkewed);
    }
    Ok(VerifiedRequest {
        version: SignatureVersion::V4,
        access_key_id: cred.access_key_id,
        bucket,
        key,
        region: Some(cred.region),
        security_token: query_value(&query, "x-oss-security-token").map(str::to_owned),
        expires_at: Some(expires_at),
    })
}

/// Verify a request signed with `Authorization: OSS4-HMAC-SHA256 ...` as OSS would.
pub fn verify_header_signed(
    req: &IncomingRequest,
    now: DateTime<Utc>,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<VerifiedRequest> {
    let auth = Authorization::parse(
        header(req.headers, "authorization").ok_or(SigningError::Missing("Authorization"))?,
    )?;
    let date = header(req.headers, "x-oss-date").ok_or(SigningError::Missing("x-oss-date"))?;
    let signed_at = parse_x_oss_date(date)?;
    let query = parse_query(req.query);
    let signed_query: Vec<(&str, &str)> = query.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let additional: Vec<&str> = auth.additional_headers.iter().map(String::as_str).collect();
    let (bucket, key) = split_bucket_key(req.host_bucket, req.path)?;
    check_signature(
        req,
        bucket.as_deref(),
        &key,
        &signed_query,
        &auth.credential,
        date,
        &additional,
        &auth.signature,
        lookup,
    )?;
    if (now - signed_at).num_seconds().abs() > MAX_CLOCK_SKEW_SECS {
        return Err(SigningError::RequestTimeSkewed);
    }
    Ok(VerifiedRequest {
        version: SignatureVersion::V4,
        access_key_id: auth.credential.access_key_id,
        bucket,
        key,
        region: Some(auth.credential.region),
        security_token: header(req.headers, "x-oss-security-token").map(str::to_owned),
        expires_at: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{ali_oss, at, cases, check, field, lookup, parts, AK, REGION, SECRET};
    use crate::policy::PostPolicy;
    use chrono::Duration;
    use SigningError::{Expired, RequestTimeSkewed, SignatureMismatch};

    #[test]
    fn the_remembered_signing_key_follows_secret_day_and_region() {
        let calls = [
            ("a", "20260101", "cn-hangzhou"),
            ("a", "20260101", "cn-hangzhou"),
            ("b", "20260101", "cn-hangzhou"),
            ("b", "20260102", "cn-hangzhou"),
            ("b", "20260102", "cn-beijing"),
            ("a", "20260101", "cn-hangzhou"),
        ];
        for (secret, day, region) in calls {
            assert_eq!(
                signing_key(secret, day, region),
                derive_signing_key(secret, day, region),
                "{secret} {day} {region}"
            );
        }
    }

    #[test]
    fn post_v4_signatures_match_ali_oss() {
        for c in cases(&ali_oss(), "post_v4", 8) {
            let (policy, sig, region) = (
                field(c, "policy_base64"),
                field(c, "signature"),
                field(c, "region"),
            );
            let date = at(field(c, "date"));
            assert_eq!(post_signature(SECRET, policy, date, region), sig);
            let cred = credential(AK, &date_stamp(date), region);
            let ok = verify_post(policy, &cred, &x_oss_date(date), sig, lookup).unwrap();
            assert_eq!(ok.region, REGION);
            let tampered = policy.replacen('e', "f", 1);
            let other_key = cred.replace(AK, "LTAIother");
            let other_day = x_oss_date(date + Duration::days(1));
            // (what, policy, credential, x-oss-date, the refusal; None: any)
            let rows = [
                (
                    "policy",
                    tampered.as_str(),
                    cred.as_str(),
                    x_oss_date(date),
                    Some(SignatureMismatch),
                ),
                ("date", policy, &cred, other_day, None),
                (
                    "key",
                    policy,
                    &other_key,
                    x_oss_date(date),
                    Some(SigningError::UnknownAccessKey),
                ),
            ];
            for (what, policy, cred, date, want) in rows {
                let got = verify_post(policy, cred, &date, sig, lookup).map(|_| ());
                match want {
                    Some(want) => assert_eq!(got, Err(want), "{what}"),
                    None => assert!(got.is_err(), "{what}"),
                }
            }
        }
    }

    #[test]
    fn post_conditions_render_as_policy_members() {
        let now = at("2026-11-24T17:26:30Z");
        let mut conditions = vec![Condition::Exact("bucket".into(), "demo-bucket".into())];
        conditions.extend(post_conditions(AK, now, REGION, Some("tok")));
        let policy = PostPolicy {
            expiration: now + Duration::minutes(15),
            conditions,
        };
        assert_eq!(
            policy.to_json(),
            "{\"expiration\":\"2026-11-24T17:41:30.000Z\",\"conditions\":[{\"bucket\":\"demo-bucket\"},\
             {\"x-oss-signature-version\":\"OSS4-HMAC-SHA256\"},\
             {\"x-oss-credential\":\"LTAI5tTestKeyId000000/20261124/cn-hangzhou/oss/aliyun_v4_request\"},\
             {\"x-oss-date\":\"20261124T172630Z\"},{\"x-oss-security-token\":\"tok\"}]}"
        );
    }

    #[test]
    fn presigned_urls_match_ali_oss() {
        for c in cases(&ali_oss(), "put_url_v4", 4) {
            let headers = [("Content-Type", field(c, "content_type"))];
            let url = presign_url(&PresignV4 {
                origin: "https://demo-bucket.oss-cn-hangzhou.aliyuncs.com",
                access_key_id: AK,
                secret: SECRET,
                region: REGION,
                method: field(c, "method"),
                bucket: "demo-bucket",
                key: field(c, "key"),
                headers: &headers,
                at: at(field(c, "now")),
                expires_in: c["expires_in"].as_u64().unwrap() as u32,
                ..Default::default()
            })
            .unwrap();
            assert_eq!(url, field(c, "url"));
        }
    }

    #[test]
    fn query_verifier_accepts_ali_oss_urls_and_rejects_tampering() {
        for c in cases(&ali_oss(), "put_url_v4", 4) {
            let (path, query) = parts(field(c, "url"));
            let headers = [("content-type", field(c, "content_type"))];
            let req = IncomingRequest {
                method: "PUT",
                host_bucket: Some("demo-bucket"),
                path: &path,
                query: query.as_deref(),
                headers: &headers,
            };
            let now = at(field(c, "now"));
            let ok = verify_query_signed(&req, now + Duration::seconds(600), lookup).unwrap();
            assert_eq!(ok.key, field(c, "key"));
            assert_eq!(ok.region.as_deref(), Some(REGION));
            assert_eq!(ok.expires_at, Some(now + Duration::seconds(600)));
            let longer = query
                .as_deref()
                .unwrap()
                .replace("x-oss-expires=600", "x-oss-expires=6000");
            let path_style = format!("/demo-bucket{path}");
            check(
                |r, now| verify_query_signed(r, now, lookup),
                &[
                    ("late", req, now + Duration::seconds(601), Err(Expired)),
                    ("early", req, now - Duration::minutes(16), Err(RequestTimeSkewed)),
                    ("content type", req.with_headers(&[]), now, Err(SignatureMismatch)),
                    ("expiry", req.with_query(&longer), now, Err(SignatureMismatch)),
                    (
                        "path",
                        req.with_path("/uploads/elsewhere.txt"),
                        now,
                        Err(SignatureMismatch),
                    ),
                    // The same object in path style verifies too.
                    ("path style", req.path_style(&path_style), now, Ok(())),
                ],
            );
        }
    }

    #[test]
    fn presign_with_token_callback_and_additional_headers_round_trips() {
        let now = at("2026-11-25T04:16:32Z");
        let headers = [
            ("Content-Type", "image/png"),
            ("x-oss-object-acl", "private"),
            ("Host", "demo-bucket.oss-cn-hangzhou.aliyuncs.com"),
        ];
        let extra = [
            ("callback", "eyJh+Ij/oxfQ=="),
            ("callback-var", "eyJ4OmEiOiIxIn0="),
        ];
        let url = presign_url(&PresignV4 {
            origin: "https://demo-bucket.oss-cn-hangzhou.aliyuncs.com",
            access_key_id: AK,
            secret: SECRET,
            region: REGION,
            method: "PUT",
            bucket: "demo-bucket",
            key: "u/1/a (1)!.png",
            headers: &headers,
            additional_headers: &["Host", "content-type", "host"],
            extra_query: &extra,
            security_token: Some("CAIS+x/y="),
            at: now,
            expires_in: 3600,
        })
        .unwrap();
        assert!(url.starts_with(
            "https://demo-bucket.oss-cn-hangzhou.aliyuncs.com/u/1/a%20(1)!.png?callback=eyJh%2BIj%2FoxfQ%3D%3D&callback-var="
        ));
        assert!(url.contains("&x-oss-additional-headers=host&x-oss-credential="));
        assert!(url.contains("&x-oss-security-token=CAIS%2Bx%2Fy%3D&x-oss-signature="));
        let (path, query) = parts(&url);
        let req = IncomingRequest {
            method: "PUT",
            host_bucket: Some("demo-bucket"),
            path: &path,
            query: query.as_deref(),
            headers: &headers,
        };
        let ok = verify_query_signed(&req, now, lookup).unwrap();
        assert_eq!(ok.key, "u/1/a (1)!.png");
        assert_eq!(ok.security_token.as_deref(), Some("CAIS+x/y="));
        let other_host = [
            ("Content-Type", "image/png"),
            ("x-oss-object-acl", "private"),
            ("Host", "evil.example"),
        ];
        let other_callback = query
            .as_deref()
            .unwrap()
            .replace("callback=eyJh", "callback=eyJi");
        check(
            |r, now| verify_query_signed(r, now, lookup),
            &[
                ("host", req.with_headers(&other_host), now, Err(SignatureMismatch)),
                (
                    "callback",
                    req.with_query(&other_callback),
                    now,
                    Err(SignatureMismatch),
                ),
            ],
        );
        let missing_host = [("Content-Type", "image/png"), ("x-oss-object-acl", "private")];
        let r = req.with_headers(&missing_host);
        assert!(matches!(
            verify_query_signed(&r, now, lookup),
            Err(SigningError::InvalidValue { .. })
        ));
    }

    #[test]
    fn extreme_dates_do_not_panic() {
        let end_of_time = at("9999-12-31T23:59:59Z");
        let url = presign_url(&PresignV4 {
            origin: "https://b.example",
            access_key_id: AK,
            secret: SECRET,
            region: REGION,
            method: "GET",
            bucket: "b",
            key: "k",
            at: end_of_time,
            expires_in: MAX_EXPIRES_SECS,
            ..Default::default()
        })
        .unwrap();
        let (path, query) = parts(&url);
        let req = IncomingRequest {
            method: "GET",
            host_bucket: Some("b"),
            path: &path,
            query: query.as_deref(),
            headers: &[],
        };
        assert!(verify_query_signed(&req, end_of_time, lookup).is_ok());
        assert_eq!(
            verify_query_signed(&req, at("1970-01-01T00:00:00Z"), lookup),
            Err(SigningError::RequestTimeSkewed)
        );
    }

    #[test]
    fn presign_rejects_bad_expiry() {
        let base = PresignV4 {
            origin: "https://x",
            bucket: "b",
            key: "k",
            method: "PUT",
            region: REGION,
            ..Default::default()
        };
        for expires_in in [0, MAX_EXPIRES_SECS + 1] {
            assert!(presign_url(&PresignV4 { expires_in, ..base }).is_err());
        }
        assert!(presign_url(&PresignV4 {
            expires_in: MAX_EXPIRES_SECS,
            ..base
        })
        .is_ok());
        // An additional header the request will not carry cannot be signed.
        let r = presign_url(&PresignV4 {
            expires_in: 60,
            additional_headers: &["range"],
            ..base
        });
        assert!(r.is_err());
    }

    #[test]
    fn canonical_request_layout() {
        let headers = [
            ("X-OSS-Meta-A", " 1 "),
            ("Content-Type", "text/plain"),
            ("Range", "bytes=0-1"),
            ("User-Agent", "not signed"),
            ("x-oss-meta-a", "duplicate ignored"),
        ];
        let query = [("uploads", ""), ("a b", "c*d~"), ("acl", "")];
        let cr = CanonicalRequest {
            method: "POST",
            bucket: Some("b"),
            key: "dir/x+y=z?*.txt",
            query: &query,
            headers: &headers,
            additional_headers: &["Range"],
        }
        .build()
        .unwrap();
        assert_eq!(
            cr,
            "POST\n/b/dir/x%2By%3Dz%3F%2A.txt\na%20b=c%2Ad~&acl&uploads\n\
             content-type:text/plain\nrange:bytes=0-1\nx-oss-meta-a:1\n\nrange\nUNSIGNED-PAYLOAD"
        );
        let service = CanonicalRequest {
            method: "GET",
            ..Default::default()
        };
        assert_eq!(service.build().unwrap(), "GET\n/\n\n\n\nUNSIGNED-PAYLOAD");
    }

    #[test]
    fn header_signing_round_trips_through_the_verifier() {
        let now = at("2026-11-24T10:00:00Z");
        let request_headers = [
            ("Content-Type", "image/jpeg"),
            ("x-oss-callback", "eyJhIjoiYiJ9"),
            ("Range", "bytes=0-9"),
        ];
        let query = [("uploadId", "0004B9895DBBB6EC"), ("partNumber", "1")];
        let added = sign_headers(&HeaderSignV4 {
            access_key_id: AK,
            secret: SECRET,
            region: REGION,
            method: "PUT",
            bucket: Some("demo-bucket"),
            key: "uploads/中文 名.png",
            query: &query,
            headers: &request_headers,
            additional_headers: &["range"],
            security_token: Some("STS-token"),
            at: now,
        })
        .unwrap();
        let auth = &added.iter().find(|(k, _)| k == "authorization").unwrap().1;
        assert!(auth.starts_with(
            "OSS4-HMAC-SHA256 Credential=LTAI5tTestKeyId000000/20261124/cn-hangzhou/oss/aliyun_v4_request,AdditionalHeaders=range,Signature="
        ));
        assert_eq!(auth.rsplit('=').next().unwrap().len(), 64);
        let mut all: Vec<(&str, &str)> = request_headers.to_vec();
        all.extend(added.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let path = format!("/{}", encode("uploads/中文 名.png", URI_PATH));
        let req = IncomingRequest {
            method: "PUT",
            host_bucket: Some("demo-bucket"),
            path: &path,
            query: Some("partNumber=1&uploadId=0004B9895DBBB6EC"),
            headers: &all,
        };
        let ok = verify_header_signed(&req, now + Duration::minutes(3), lookup).unwrap();
        assert_eq!(ok.key, "uploads/中文 名.png");
        assert_eq!(ok.security_token.as_deref(), Some("STS-token"));
        let mut swapped = all.clone();
        swapped[2] = ("Range", "bytes=0-99");
        check(
            |r, now| verify_header_signed(r, now, lookup),
            &[
                (
                    "16 minutes late",
                    req,
                    now + Duration::minutes(16),
                    Err(RequestTimeSkewed),
                ),
                (
                    "part number",
                    req.with_query("partNumber=2&uploadId=0004B9895DBBB6EC"),
                    now,
                    Err(SignatureMismatch),
                ),
                ("range", req.with_headers(&swapped), now, Err(SignatureMismatch)),
            ],
        );
        // oss2's layout (", " separators, AdditionalHeaders last) verifies the same.
        let oss2_auth = auth
            .replace(",AdditionalHeaders=range,Signature=", ", Signature=")
            .to_owned()
            + ", AdditionalHeaders=range";
        let mut relaid = all.clone();
        relaid.retain(|(k, _)| *k != "authorization");
        relaid.push(("Authorization", &oss2_auth));
        let r = req.with_headers(&relaid);
        assert!(verify_header_signed(&r, now, lookup).is_ok());
    }

    #[test]
    fn authorization_parser_rejects_malformed_values() {
        let cred = "LTAI5tTestKeyId000000/20261124/cn-hangzhou/oss/aliyun_v4_request";
        let ok = format!("OSS4-HMAC-SHA256 Credential={cred},Signature=ab");
        assert_eq!(Authorization::parse(&ok).unwrap().signature, "ab");
        let bad = [
            String::new(),
            "OSS ak:sig".into(),
            format!("OSS4-HMAC-SHA256Credential={cred},Signature=ab"),
            format!("OSS4-HMAC-SHA256 Credential{cred},Signature=ab"),
            format!("OSS4-HMAC-SHA256 Credential={cred}"),
            "OSS4-HMAC-SHA256 Signature=ab".into(),
            format!("OSS4-HMAC-SHA256 Credential={cred},AdditionalHeaders=,Signature=ab"),
            format!("OSS4-HMAC-SHA256 Credential={cred},AdditionalHeaders=host;,Signature=ab"),
            format!("OSS4-HMAC-SHA256 Credential={cred},Signature=ab,Signature=cd"),
            format!("OSS4-HMAC-SHA256 Credential={cred},Other=1,Signature=ab"),
            "OSS4-HMAC-SHA256 Credential=ak/2026112/cn-hangzhou/oss/aliyun_v4_request,Signature=ab".into(),
            "OSS4-HMAC-SHA256 Credential=ak/20261124/cn-hangzhou/s3/aliyun_v4_request,Signature=ab".into(),
            "OSS4-HMAC-SHA256 Credential=/20261124/cn-hangzhou/oss/aliyun_v4_request,Signature=ab".into(),
        ];
        for b in bad {
            assert!(Authorization::parse(&b).is_err(), "{b}");
        }
    }

    #[test]
    fn verifiers_reject_malformed_requests_without_panicking() {
        let now = at("2026-11-25T04:16:32Z");
        let cred = "LTAI5tTestKeyId000000%2F20261125%2Fcn-hangzhou%2Foss%2Faliyun_v4_request";
        let queries = [
            String::new(),
            "x-oss-signature-version=OSS2".into(),
            format!("x-oss-signature-version=OSS4-HMAC-SHA256&x-oss-credential={cred}"),
            format!("x-oss-signature-version=OSS4-HMAC-SHA256&x-oss-credential={cred}&x-oss-date=2026&x-oss-expires=1&x-oss-signature=a"),
            format!("x-oss-signature-version=OSS4-HMAC-SHA256&x-oss-credential={cred}&x-oss-date=20261125T041632Z&x-oss-expires=-1&x-oss-signature=a"),
            format!("x-oss-signature-version=OSS4-HMAC-SHA256&x-oss-credential={cred}&x-oss-date=20261125T041632Z&x-oss-expires=604801&x-oss-signature=a"),
            format!("x-oss-signature-version=OSS4-HMAC-SHA256&x-oss-credential={cred}&x-oss-date=20261126T041632Z&x-oss-expires=60&x-oss-signature=a"),
            format!("x-oss-signature-version=OSS4-HMAC-SHA256&x-oss-credential={cred}&x-oss-date=20261125T041632Z&x-oss-expires=60&x-oss-signature=a"),
        ];
        for q in &queries {
            let req = IncomingRequest {
                method: "PUT",
                host_bucket: Some("b"),
                path: "/k",
                query: Some(q),
                headers: &[],
            };
            assert!(verify_query_signed(&req, now, lookup).is_err(), "{q}");
        }
        let header_sets: [&[(&str, &str)]; 4] = [
            &[],
            &[("Authorization", "OSS4-HMAC-SHA256 Credential=a/20261125/r/oss/aliyun_v4_request,Signature=x")],
            &[
                ("Authorization", "OSS4-HMAC-SHA256 Credential=a/20261125/r/oss/aliyun_v4_request,Signature=x"),
                ("x-oss-date", "yesterday"),
            ],
            &[
                ("Authorization", "OSS4-HMAC-SHA256 Credential=LTAI5tTestKeyId000000/20261125/r/oss/aliyun_v4_request,Signature=x"),
                ("x-oss-date", "20261125T041632Z"),
            ],
        ];
        for headers in header_sets {
            let req = IncomingRequest {
                method: "PUT",
                host_bucket: Some("b"),
                path: "/k",
                query: None,
                headers,
            };
            assert!(verify_header_signed(&req, now, lookup).is_err(), "{headers:?}");
        }
    }
}
