//! Upload callbacks: the `callback` / `callback-var` parameters (exact ali-oss JSON), the body OSS
//! renders from the template (for the emulator), and OSS's RSA-MD5 callback signature.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use crypto_bigint::modular::{BoxedMontyForm, BoxedMontyParams, MontyForm, MontyParams};
use crypto_bigint::{BoxedUint, Odd, Uint};
use md5::{Digest, Md5};
use percent_encoding::percent_decode_str;
use rsa::pkcs1::DecodeRsaPublicKey;
use rsa::pkcs8::DecodePublicKey;
use rsa::traits::PublicKeyParts;
use rsa::{Pkcs1v15Sign, RsaPrivateKey, RsaPublicKey};
use serde::Serialize;
use serde_json::Value;

use crate::common::{ct_eq, encode, RFC3986};
use crate::{Result, SigningError};

/// OSS refuses a `callback` or `callback-var` longer than 5 KB (base64).
pub const MAX_PARAM_B64_LEN: usize = 5 * 1024;
/// OSS accepts at most this many `;`-separated callback URLs.
pub const MAX_CALLBACK_URLS: usize = 5;

/// How OSS encodes the callback body it POSTs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CallbackBodyType {
    /// OSS's default when `callbackBodyType` is absent.
    #[default]
    FormUrlEncoded,
    Json,
}

impl CallbackBodyType {
    pub fn as_str(self) -> &'static str {
        match self {
            CallbackBodyType::FormUrlEncoded => "application/x-www-form-urlencoded",
            CallbackBodyType::Json => "application/json",
        }
    }

    /// Tolerates case and parameters (`application/json; charset=utf-8`).
    pub fn parse(s: &str) -> Option<Self> {
        let mime = s.split(';').next().unwrap_or("").trim();
        if mime.eq_ignore_ascii_case("application/json") {
            Some(CallbackBodyType::Json)
        } else if mime.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
            Some(CallbackBodyType::FormUrlEncoded)
        } else {
            None
        }
    }
}

/// The `callback` parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallbackParam {
    /// One URL, or up to five separated by `;`, already percent-encoded (as `url::Url`
    /// serialises it; ali-oss would `encodeURI` it, a no-op on such URLs).
    pub url: String,
    pub host: Option<String>,
    /// The template, e.g. `{"object":${object},"size":${size}}`.
    pub body: String,
    pub body_type: CallbackBodyType,
    pub sni: Option<bool>,
}

/// Field order is ali-oss's (callbackUrl, callbackBody, callbackHost, callbackBodyType, then
/// callbackSNI): the base64 is signed and compared byte for byte, so order matters.
#[derive(Serialize)]
struct CallbackWire<'a> {
    #[serde(rename = "callbackUrl")]
    url: &'a str,
    #[serde(rename = "callbackBody")]
    body: &'a str,
    #[serde(rename = "callbackHost", skip_serializing_if = "Option::is_none")]
    host: Option<&'a str>,
    #[serde(rename = "callbackBodyType")]
    body_type: &'static str,
    #[serde(rename = "callbackSNI", skip_serializing_if = "Option::is_none")]
    sni: Option<bool>,
}

fn invalid_callback(detail: &str) -> SigningError {
    SigningError::InvalidCallback(detail.to_owned())
}

fn decode_json_object(b64: &str, what: &'static str) -> Result<serde_json::Map<String, Value>> {
    let raw = STANDARD
        .decode(b64.trim())
        .map_err(|_| SigningError::InvalidBase64(what))?;
    match serde_json::from_slice(&raw) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(SigningError::InvalidJson {
            what,
            detail: "not an object".into(),
        }),
        Err(e) => Err(SigningError::InvalidJson {
            what,
            detail: e.to_string(),
        }),
    }
}

impl CallbackParam {
    /// Compact JSON, byte-identical to ali-oss (raw UTF-8, no spaces).
    pub fn to_json(&self) -> String {
        let wire = CallbackWire {
            url: &self.url,
            body: &self.body,
            host: self.host.as_deref(),
            body_type: self.body_type.as_str(),
            sni: self.sni,
        };
        // A struct of strings and a bool always serialises.
        serde_json::to_string(&wire).unwrap_or_default()
    }

    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.to_json())
    }

    /// The limits OSS enforces, checked before we sign something OSS would reject.
    pub fn validate(&self) -> Result<()> {
        let urls: Vec<&str> = self.url.split(';').collect();
        if urls.len() > MAX_CALLBACK_URLS || urls.iter().any(|u| u.trim().is_empty()) {
            return Err(invalid_callback("callbackUrl needs 1 to 5 non-empty URLs"));
        }
        if self.body.is_empty() {
            return Err(invalid_callback("callbackBody is empty"));
        }
        if self.to_base64().len() > MAX_PARAM_B64_LEN {
            return Err(invalid_callback("callback exceeds 5 KB"));
        }
        Ok(())
    }

    /// Read a `callback` parameter (emulator side), tolerant of key case like OSS.
    pub fn parse_base64(b64: &str) -> Result<Self> {
        let map = decode_json_object(b64, "callback")?;
        let get = |name: &str| {
            map.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v)
        };
        let string = |name: &str| -> Result<Option<String>> {
            match get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(invalid_callback(&format!("{name} must be a string"))),
            }
        };
        let url = string("callbackUrl")?.ok_or_else(|| invalid_callback("missing callbackUrl"))?;
        let body = string("callbackBody")?
            .filter(|b| !b.is_empty())
            .ok_or_else(|| invalid_callback("missing callbackBody"))?;
        let body_type = match string("callbackBodyType")? {
            None => CallbackBodyType::default(),
            Some(t) => {
                CallbackBodyType::parse(&t).ok_or_else(|| invalid_callback("unsupported callbackBodyType"))?
            }
        };
        let sni = match get("callbackSNI") {
            None | Some(Value::Null) => None,
            Some(Value::Bool(b)) => Some(*b),
            Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Some(true),
            Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Some(false),
            Some(_) => return Err(invalid_callback("callbackSNI must be a boolean")),
        };
        Ok(CallbackParam {
            url,
            host: string("callbackHost")?,
            body,
            body_type,
            sni,
        })
    }
}

/// Custom callback variables (`x:name` -> value), kept in insertion order as ali-oss writes them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallbackVars(Vec<(String, String)>);

impl CallbackVars {
    pub fn new() -> Self {
        Self::default()
    }

    /// Add or replace `x:name`. The name may be given with or without `x:`; OSS requires it to
    /// be lowercase.
    pub fn insert(&mut self, name: &str, value: &str) -> Result<()> {
        let bare = name.strip_prefix("x:").unwrap_or(name);
        if bare.is_empty() || bare.chars().any(|c| c.is_uppercase() || c.is_control()) {
            return Err(invalid_callback(
                "custom variable names must be non-empty lowercase",
            ));
        }
        let key = format!("x:{bare}");
        match self.0.iter_mut().find(|(k, _)| *k == key) {
            Some(entry) => entry.1 = value.to_owned(),
            None => self.0.push((key, value.to_owned())),
        }
        Ok(())
    }

    /// Value of `x:name` (given with or without the prefix).
    pub fn get(&self, name: &str) -> Option<&str> {
        let bare = name.strip_prefix("x:").unwrap_or(name);
        self.0
            .iter()
            .find(|(k, _)| k.get(2..) == Some(bare))
            .map(|(_, v)| v.as_str())
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `{"x:a":"1","x:b":"2"}` in insertion order, compact, raw UTF-8.
    pub fn to_json(&self) -> String {
        // Only strings serde_json wrote and ASCII punctuation: always UTF-8.
        String::from_utf8(self.json_bytes()).unwrap_or_default()
    }

    /// The JSON in one buffer (issuing a credential with variables writes it each time).
    fn json_bytes(&self) -> Vec<u8> {
        let mut out =
            Vec::with_capacity(2 + self.0.iter().map(|(k, v)| k.len() + v.len() + 6).sum::<usize>());
        out.push(b'{');
        for (i, (k, v)) in self.0.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            // Writing a &str into a Vec cannot fail.
            let _ = serde_json::to_writer(&mut out, k);
            out.push(b':');
            let _ = serde_json::to_writer(&mut out, v);
        }
        out.push(b'}');
        out
    }

    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.json_bytes())
    }

    /// Read a `callback-var` parameter. Order follows the JSON map (sorted by name), which no
    /// consumer depends on; every key must be a valid `x:` name with a string value.
    pub fn parse_base64(b64: &str) -> Result<Self> {
        let mut vars = CallbackVars::new();
        for (k, v) in decode_json_object(b64, "callback-var")? {
            if !k.starts_with("x:") {
                return Err(invalid_callback("custom variables must start with x:"));
            }
            let v = v
                .as_str()
                .ok_or_else(|| invalid_callback("custom variable values must be strings"))?;
            vars.insert(&k, v)?;
        }
        Ok(vars)
    }
}

/// System variables OSS substitutes in a callback body.
pub const SYSTEM_VARIABLES: &[&str] = &[
    "bucket",
    "object",
    "etag",
    "size",
    "mimeType",
    "imageInfo.height",
    "imageInfo.width",
    "imageInfo.format",
    "crc64",
    "contentMd5",
    "vpcId",
    "clientIp",
    "reqId",
    "operation",
];

/// Variables OSS writes as bare JSON numbers. `crc64` is not one: it can exceed 2^53.
const NUMERIC_VARIABLES: &[&str] = &["size", "imageInfo.height", "imageInfo.width"];

fn render_value(name: &str, value: &str, body_type: CallbackBodyType) -> String {
    match body_type {
        // Unreserved characters only, so `/` becomes `%2F` as OSS sends it.
        CallbackBodyType::FormUrlEncoded => encode(value, RFC3986),
        CallbackBodyType::Json => {
            let numeric = NUMERIC_VARIABLES.contains(&name)
                && !value.is_empty()
                && value.bytes().all(|b| b.is_ascii_digit());
            if numeric {
                value.to_owned()
            } else {
                // Empty image fields become "" (OSS's choice is unverified; consumers parse
                // tolerantly). Serialising a &str cannot fail.
                serde_json::to_string(value).unwrap_or_default()
            }
        }
    }
}

/// Render a callback body template as OSS does: `${var}` for system variables and `${x:name}` for
/// custom ones. Quoting follows the body type, not the template's shape (seen in real OSS
/// traffic): JSON bodies get quoted strings and bare numbers, form bodies URL-encoded values.
/// `lookup` gets the variable name (`size`, `x:upload_id`); a missing value renders as empty.
/// Unknown `${...}` and an unclosed `${` are left as written.
pub fn render_body(
    template: &str,
    body_type: CallbackBodyType,
    lookup: impl Fn(&str) -> Option<String>,
) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[start..]);
            return out;
        };
        let name = &after[..end];
        if name.contains("${") {
            // `${${x:a}`: the first `${` is literal text, the inner reference is still a variable.
            out.push_str("${");
            rest = after;
            continue;
        }
        if SYSTEM_VARIABLES.contains(&name) || name.starts_with("x:") {
            let value = lookup(name).unwrap_or_default();
            out.push_str(&render_value(name, &value, body_type));
        } else {
            out.push_str(&rest[start..start + 2 + end + 1]);
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

/// DER DigestInfo prefix for MD5 (RFC 8017 §9.2 note 1). Built by hand because md-5 only
/// provides its OID behind a feature the main crate does not enable.
const MD5_DIGEST_INFO_PREFIX: [u8; 18] = [
    0x30, 0x20, 0x30, 0x0c, 0x06, 0x08, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x02, 0x05, 0x05, 0x00, 0x04,
    0x10,
];

fn pkcs1v15_md5() -> Pkcs1v15Sign {
    Pkcs1v15Sign {
        hash_len: Some(16),
        prefix: Box::new(MD5_DIGEST_INFO_PREFIX),
    }
}

/// OSS's callback public key, ready to verify: the modulus' Montgomery parameters are computed
/// once, when the key is read, and for the usual sizes (512 to 4096 bits) live in fixed-width
/// integers on the stack. The rsa crate's generic big numbers took ~44 µs per 1024-bit
/// verification and crypto-bigint's heap-allocated constant-time `pow` about as long; square and
/// multiply on fixed widths takes ~13 µs.
#[derive(Debug, Clone)]
pub struct CallbackPublicKey {
    modulus: Modulus,
    /// The modulus, big-endian, as long as every signature.
    modulus_be: Vec<u8>,
    exponent: BoxedUint,
    exponent_bits: u32,
}

/// Montgomery parameters of the modulus, fixed-width where a width fits it exactly. Built once per
/// key and read in place, so the widest variant's size costs nothing per verification.
#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant)]
enum Modulus {
    W512(MontyParams<8>),
    W1024(MontyParams<16>),
    W2048(MontyParams<32>),
    W4096(MontyParams<64>),
    Other(BoxedMontyParams),
}

impl Modulus {
    fn new(n: &[u8]) -> Option<Modulus> {
        fn fixed<const L: usize>(n: &[u8]) -> Option<MontyParams<L>> {
            let odd = Odd::new(Uint::<L>::from_be_slice(&left_padded(n, L)));
            Option::<Odd<Uint<L>>>::from(odd).map(MontyParams::new_vartime)
        }
        Some(match n.len().div_ceil(8) {
            8 => Modulus::W512(fixed(n)?),
            16 => Modulus::W1024(fixed(n)?),
            32 => Modulus::W2048(fixed(n)?),
            64 => Modulus::W4096(fixed(n)?),
            limbs => {
                let modulus = BoxedUint::from_be_slice(n, limbs as u32 * 64).ok()?;
                let odd = Option::<Odd<BoxedUint>>::from(Odd::new(modulus))?;
                Modulus::Other(BoxedMontyParams::new_vartime(odd))
            }
        })
    }
}

/// `bytes` right-aligned in `limbs` 64-bit words, big-endian, as the fixed widths read them
/// (`bytes` must fit).
fn left_padded(bytes: &[u8], limbs: usize) -> Vec<u8> {
    let mut out = vec![0; limbs * 8];
    out[limbs * 8 - bytes.len()..].copy_from_slice(bytes);
    out
}

/// `base^e` by left-to-right square and multiply: for OSS's e = 65537, sixteen squarings and one
/// multiplication. Variable time is fine: signature and key are public.
fn square_and_multiply<T: Clone>(
    base: T,
    e: &BoxedUint,
    e_bits: u32,
    square: impl Fn(&T) -> T,
    mul: impl Fn(&T, &T) -> T,
) -> T {
    let mut acc = base.clone();
    for bit in (0..e_bits.saturating_sub(1)).rev() {
        acc = square(&acc);
        if e.bit_vartime(bit) {
            acc = mul(&acc, &base);
        }
    }
    acc
}

impl CallbackPublicKey {
    fn new(key: &RsaPublicKey) -> Result<CallbackPublicKey> {
        let modulus_be = key.n().to_bytes_be();
        let e = key.e().to_bytes_be();
        let exponent = BoxedUint::from_be_slice(&e, e.len().div_ceil(8) as u32 * 64)
            .map_err(|_| SigningError::InvalidPublicKey)?;
        Ok(CallbackPublicKey {
            modulus: Modulus::new(&modulus_be).ok_or(SigningError::InvalidPublicKey)?,
            exponent_bits: exponent.bits(),
            exponent,
            modulus_be,
        })
    }

    /// `s^e mod n`, big-endian, as wide as the Montgomery form holds it (zeros before the
    /// modulus' length). `s` is a signature already checked to be below the modulus; `None` only
    /// if it does not fit the modulus' width after all.
    fn public_op(&self, s: &[u8]) -> Option<Vec<u8>> {
        fn fixed<const L: usize>(params: &MontyParams<L>, s: &[u8], e: &BoxedUint, bits: u32) -> Vec<u8> {
            let base = MontyForm::new(&Uint::<L>::from_be_slice(&left_padded(s, L)), *params);
            let m = square_and_multiply(base, e, bits, MontyForm::square, MontyForm::mul).retrieve();
            m.as_limbs()
                .iter()
                .rev()
                .flat_map(|w| w.0.to_be_bytes())
                .collect()
        }
        let (e, bits) = (&self.exponent, self.exponent_bits);
        Some(match &self.modulus {
            Modulus::W512(p) => fixed(p, s, e, bits),
            Modulus::W1024(p) => fixed(p, s, e, bits),
            Modulus::W2048(p) => fixed(p, s, e, bits),
            Modulus::W4096(p) => fixed(p, s, e, bits),
            Modulus::Other(p) => {
                let value = BoxedUint::from_be_slice(s, p.bits_precision()).ok()?;
                let base = BoxedMontyForm::new(value, p.clone());
                square_and_multiply(base, e, bits, BoxedMontyForm::square, |a, b| a.mul(b))
                    .retrieve()
                    .to_be_bytes()
                    .into_vec()
            }
        })
    }

    /// RSASSA-PKCS1-v1_5 with MD5 (RFC 8017 §8.2.2): `signature^e mod n` must equal the encoding
    /// of `digest` exactly. Comparing whole encodings leaves no parser to fool.
    fn verify_md5(&self, digest: &[u8; 16], signature: &[u8]) -> Result<()> {
        let mismatch = || SigningError::SignatureMismatch;
        let len = self.modulus_be.len();
        // Same length, big-endian: comparing bytes compares numbers.
        if signature.len() != len || signature >= self.modulus_be.as_slice() {
            return Err(mismatch());
        }
        let m = self.public_op(signature).ok_or_else(mismatch)?;
        let (high, m) = m.split_at(m.len() - len);
        let t_len = MD5_DIGEST_INFO_PREFIX.len() + digest.len();
        let Some(padding) = len.checked_sub(t_len + 3).filter(|p| *p >= 8) else {
            return Err(mismatch());
        };
        let mut expected = Vec::with_capacity(len);
        expected.extend_from_slice(&[0x00, 0x01]);
        expected.resize(2 + padding, 0xff);
        expected.push(0x00);
        expected.extend_from_slice(&MD5_DIGEST_INFO_PREFIX);
        expected.extend_from_slice(digest);
        if high.iter().all(|b| *b == 0) && ct_eq(m, &expected) {
            Ok(())
        } else {
            Err(mismatch())
        }
    }
}

/// Read OSS's callback public key (SubjectPublicKeyInfo `BEGIN PUBLIC KEY`, or PKCS#1
/// `BEGIN RSA PUBLIC KEY`). rsa 0.9 accepts OSS's 512-bit key.
pub fn parse_public_key_pem(pem: &str) -> Result<CallbackPublicKey> {
    let key = RsaPublicKey::from_public_key_pem(pem.trim())
        .or_else(|_| RsaPublicKey::from_pkcs1_pem(pem.trim()))
        .map_err(|_| SigningError::InvalidPublicKey)?;
    CallbackPublicKey::new(&key)
}

/// The key URLs OSS publishes (its docs name both schemes); the default allow-list.
pub const OSS_PUB_KEY_URLS: &[&str] = &[
    "https://gosspublic.alicdn.com/callback_pub_key_v1.pem",
    "http://gosspublic.alicdn.com/callback_pub_key_v1.pem",
];

/// Which key URLs may be fetched: exact URLs, and prefixes ending at a path boundary.
#[derive(Debug, Clone, Default)]
pub struct KeyUrlAllowList {
    pub exact: Vec<String>,
    pub prefixes: Vec<String>,
}

impl KeyUrlAllowList {
    fn admits(&self, url: &str) -> bool {
        self.exact.iter().any(|e| e == url)
            // A prefix must end at a path boundary, or `https://gosspublic.alicdn.com.evil/` would pass.
            || self
                .prefixes
                .iter()
                .any(|p| !p.is_empty() && p.ends_with('/') && url.starts_with(p.as_str()))
    }
}

/// A key URL in the one spelling that names its key: http(s), a host, no userinfo, query,
/// fragment, percent-escape or dot segment, and already in the form the URL parser writes. Every
/// other spelling of the same document would be a separate cache entry and a separate fetch.
pub fn is_canonical_key_url(raw: &str) -> bool {
    let Ok(url) = url::Url::parse(raw) else {
        return false;
    };
    matches!(url.scheme(), "http" | "https")
        && url.host_str().is_some()
        && url.username().is_empty()
        && url.password().is_none()
        && url.query().is_none()
        && url.fragment().is_none()
        && !raw.contains(['%', '?', '#', '\\'])
        && !url.path().split('/').any(|seg| seg == "." || seg == "..")
        && url.as_str() == raw
}

/// Decode the `x-oss-pub-key-url` header and accept it only if it is canonical and `allowed`
/// admits it (OSS's own key URLs by default; a local emulator or test key server where configured).
pub fn public_key_url(header_b64: &str, allowed: &KeyUrlAllowList) -> Result<String> {
    let raw = STANDARD
        .decode(header_b64.trim())
        .map_err(|_| SigningError::InvalidBase64("x-oss-pub-key-url"))?;
    let url = String::from_utf8(raw).map_err(|_| SigningError::PublicKeyUrlNotAllowed)?;
    if is_canonical_key_url(&url) && allowed.admits(&url) {
        Ok(url)
    } else {
        Err(SigningError::PublicKeyUrlNotAllowed)
    }
}

/// What OSS signs: the percent-decoded path, `?` + raw query only when there is one, `\n`, body.
/// (`+` in the path is not a space: paths are not form-encoded.)
pub fn string_to_verify(path_raw: &str, query: Option<&str>, body: &[u8]) -> Vec<u8> {
    let mut out: Vec<u8> = percent_decode_str(path_raw).collect();
    if let Some(q) = query.filter(|q| !q.is_empty()) {
        out.push(b'?');
        out.extend_from_slice(q.as_bytes());
    }
    out.push(b'\n');
    out.extend_from_slice(body);
    out
}

/// Verify a callback's `authorization` header (base64 RSA PKCS#1 v1.5 over MD5).
pub fn verify(
    key: &CallbackPublicKey,
    authorization_b64: &str,
    path_raw: &str,
    query: Option<&str>,
    body: &[u8],
) -> Result<()> {
    let signature = STANDARD
        .decode(authorization_b64.trim())
        .map_err(|_| SigningError::InvalidBase64("authorization"))?;
    let digest: [u8; 16] = Md5::digest(string_to_verify(path_raw, query, body)).into();
    key.verify_md5(&digest, &signature)
}

/// Sign a callback the way OSS does, for tests and the emulator (with their own generated key).
pub fn sign_for_tests(
    key: &RsaPrivateKey,
    path_raw: &str,
    query: Option<&str>,
    body: &[u8],
) -> Result<String> {
    let digest = Md5::digest(string_to_verify(path_raw, query, body));
    let signature = key
        .sign(pkcs1v15_md5(), &digest)
        .map_err(|_| SigningError::RsaSign)?;
    Ok(STANDARD.encode(signature))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{ali_oss, real_callbacks};
    use rsa::traits::PublicKeyParts;

    fn query_of(url: &str, name: &str) -> String {
        url::Url::parse(url)
            .unwrap()
            .query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
            .unwrap()
    }

    #[test]
    fn callback_and_vars_match_ali_oss_byte_for_byte() {
        let v = ali_oss();
        let cases = v["put_url_v1"].as_array().unwrap();
        for c in cases {
            let cb = &c["callback"];
            let param = CallbackParam {
                url: cb["url"].as_str().unwrap().into(),
                host: cb["host"].as_str().map(Into::into),
                body: cb["body"].as_str().unwrap().into(),
                body_type: CallbackBodyType::parse(cb["contentType"].as_str().unwrap()).unwrap(),
                sni: None,
            };
            let url = c["url"].as_str().unwrap();
            assert_eq!(param.to_base64(), query_of(url, "callback"));
            assert_eq!(param.validate(), Ok(()));
            assert_eq!(CallbackParam::parse_base64(&param.to_base64()).unwrap(), param);

            let mut vars = CallbackVars::new();
            for (k, v) in cb["customValue"].as_object().unwrap() {
                vars.insert(k, v.as_str().unwrap()).unwrap();
            }
            assert_eq!(vars.to_base64(), query_of(url, "callback-var"));
            let parsed = CallbackVars::parse_base64(&vars.to_base64()).unwrap();
            assert_eq!(parsed, vars);
            assert_eq!(parsed.get("upload_id"), cb["customValue"]["upload_id"].as_str());
        }
    }

    #[test]
    fn callback_json_key_order_and_optional_fields() {
        let p = CallbackParam {
            url: "https://a.example/cb".into(),
            host: None,
            body: "bucket=${bucket}".into(),
            body_type: CallbackBodyType::FormUrlEncoded,
            sni: Some(true),
        };
        assert_eq!(
            p.to_json(),
            r#"{"callbackUrl":"https://a.example/cb","callbackBody":"bucket=${bucket}","callbackBodyType":"application/x-www-form-urlencoded","callbackSNI":true}"#
        );
        assert_eq!(CallbackParam::parse_base64(&p.to_base64()).unwrap(), p);
    }

    #[test]
    fn parses_sdk_style_callbacks_and_rejects_bad_ones() {
        // oss2 writes `", "` separators and another key order; the parser must not care.
        let oss2 = "eyJjYWxsYmFja1VybCI6ICJodHRwczovL2FwaS5leGFtcGxlLmNvbS92MS9vc3MvY2FsbGJhY2siLCAiY2FsbGJhY2tIb3N0IjogImFwaS5leGFtcGxlLmNvbSIsICJjYWxsYmFja0JvZHkiOiAie1wib2JqZWN0XCI6JHtvYmplY3R9LFwic2l6ZVwiOiR7c2l6ZX0sXCJ1cGxvYWRfaWRcIjoke3g6dXBsb2FkX2lkfX0iLCAiY2FsbGJhY2tCb2R5VHlwZSI6ICJhcHBsaWNhdGlvbi9qc29uIn0=";
        let p = CallbackParam::parse_base64(oss2).unwrap();
        assert_eq!(p.host.as_deref(), Some("api.example.com"));
        assert_eq!(p.body_type, CallbackBodyType::Json);
        let vars = CallbackVars::parse_base64("eyJ4OnVwbG9hZF9pZCI6ICJ1cGxfMCIsICJ4OnZhcjEiOiAidmFsdWUwIn0=")
            .unwrap();
        assert_eq!(vars.get("x:upload_id"), Some("upl_0"));

        let bad_callbacks = [
            "%%%",
            &STANDARD.encode("[]"),
            &STANDARD.encode("{\"callbackBody\":\"a\"}"),
            &STANDARD.encode("{\"callbackUrl\":\"u\"}"),
            &STANDARD.encode("{\"callbackUrl\":\"u\",\"callbackBody\":\"\"}"),
            &STANDARD.encode("{\"callbackUrl\":1,\"callbackBody\":\"a\"}"),
            &STANDARD
                .encode("{\"callbackUrl\":\"u\",\"callbackBody\":\"a\",\"callbackBodyType\":\"text/xml\"}"),
            &STANDARD.encode("{\"callbackUrl\":\"u\",\"callbackBody\":\"a\",\"callbackSNI\":3}"),
        ];
        for b in bad_callbacks {
            assert!(CallbackParam::parse_base64(b).is_err(), "{b}");
        }
        for b in [
            "!",
            &STANDARD.encode("{\"y:a\":\"1\"}"),
            &STANDARD.encode("{\"x:a\":1}"),
            &STANDARD.encode("{\"x:A\":\"1\"}"),
            &STANDARD.encode("\"x\""),
        ] {
            assert!(CallbackVars::parse_base64(b).is_err(), "{b}");
        }
        let mut vars = CallbackVars::new();
        assert!(vars.insert("Upper", "v").is_err());
        assert!(vars.insert("x:", "v").is_err());
        vars.insert("a", "1").unwrap();
        vars.insert("x:a", "2").unwrap();
        assert_eq!(vars.to_json(), r#"{"x:a":"2"}"#);
    }

    #[test]
    fn validate_enforces_oss_limits() {
        let mut p = CallbackParam {
            url: "https://a/1;https://a/2".into(),
            host: None,
            body: "x".into(),
            body_type: CallbackBodyType::Json,
            sni: None,
        };
        assert_eq!(p.validate(), Ok(()));
        p.url = ["https://a"; 6].join(";");
        assert!(p.validate().is_err());
        p.url = "https://a;".into();
        assert!(p.validate().is_err());
        p.url = "https://a".into();
        p.body = String::new();
        assert!(p.validate().is_err());
        p.body = "x".repeat(4000);
        assert!(p.validate().is_err());
    }

    fn lookup(name: &str) -> Option<String> {
        Some(
            match name {
                "bucket" => "demo-bucket",
                "object" => "local/var/www/zhuye.png",
                "size" => "5385",
                "mimeType" => "application/octet-stream",
                "imageInfo.height" => "256",
                "imageInfo.width" => "256",
                "imageInfo.format" => "png",
                "crc64" => "11051210869376104954",
                "etag" => "D41D8CD98F00B204E9800998ECF8427E",
                "x:upload_id" => "upl_1 2/3",
                _ => return None,
            }
            .to_owned(),
        )
    }

    #[test]
    fn render_reproduces_real_oss_traffic() {
        // Real OSS, body type JSON, form-shaped template (oss-callbacks-real.json case 2).
        let template = "filename=${object}&size=${size}&mimeType=${mimeType}&height=${imageInfo.height}&width=${imageInfo.width}";
        let real = &real_callbacks()["callbacks"][1]["body"];
        assert_eq!(
            render_body(template, CallbackBodyType::Json, lookup),
            real.as_str().unwrap()
        );
    }

    #[test]
    fn render_json_and_form_bodies() {
        let t = r#"{"object":${object},"size":${size},"crc64":${crc64},"fmt":${imageInfo.format},"u":${x:upload_id},"none":${x:missing},"h":${imageInfo.height}}"#;
        assert_eq!(
            render_body(t, CallbackBodyType::Json, lookup),
            r#"{"object":"local/var/www/zhuye.png","size":5385,"crc64":"11051210869376104954","fmt":"png","u":"upl_1 2/3","none":"","h":256}"#
        );
        let no_image = |n: &str| {
            if n.starts_with("imageInfo") {
                Some(String::new())
            } else {
                lookup(n)
            }
        };
        assert_eq!(
            render_body("{\"h\":${imageInfo.height}}", CallbackBodyType::Json, no_image),
            "{\"h\":\"\"}"
        );
        let f = "bucket=${bucket}&object=${object}&size=${size}&u=${x:upload_id}&etag=${etag}";
        assert_eq!(
            render_body(f, CallbackBodyType::FormUrlEncoded, lookup),
            "bucket=demo-bucket&object=local%2Fvar%2Fwww%2Fzhuye.png&size=5385&u=upl_1%202%2F3&etag=D41D8CD98F00B204E9800998ECF8427E"
        );
        // Unknown names and unterminated references stay literal; odd input never panics.
        assert_eq!(
            render_body("a=${nope}&b=${bucket", CallbackBodyType::Json, lookup),
            "a=${nope}&b=${bucket"
        );
        assert_eq!(
            render_body("${}${${x:中}", CallbackBodyType::Json, |_| None),
            "${}${\"\""
        );
        // A JSON value that merely looks numeric is quoted unless it is a numeric variable.
        let injected = |n: &str| (n == "size").then(|| "1,\"admin\":true".to_owned());
        assert_eq!(
            render_body("{\"s\":${size}}", CallbackBodyType::Json, injected),
            "{\"s\":\"1,\\\"admin\\\":true\"}"
        );
    }

    #[test]
    fn real_oss_callbacks_verify_with_the_512_bit_key() {
        let v = real_callbacks();
        let key = parse_public_key_pem(v["public_key_pem"].as_str().unwrap()).unwrap();
        assert_eq!(key.modulus_be.len(), 64);
        let cases = v["callbacks"].as_array().unwrap();
        assert_eq!(cases.len(), 3);
        for c in cases {
            let pq = c["path_and_query"].as_str().unwrap();
            let (path, query) = match pq.split_once('?') {
                Some((p, q)) => (p, Some(q)),
                None => (pq, None),
            };
            let result = verify(
                &key,
                c["authorization"].as_str().unwrap(),
                path,
                query,
                c["body"].as_str().unwrap().as_bytes(),
            );
            assert_eq!(result.is_ok(), c["verifies"].as_bool().unwrap(), "{pq}");
        }
        assert_eq!(
            public_key_url(v["public_key_url_header"].as_str().unwrap(), &oss_urls()).unwrap(),
            v["public_key_url"].as_str().unwrap()
        );
    }

    #[test]
    fn tampered_or_malformed_callbacks_fail() {
        let v = real_callbacks();
        let key = parse_public_key_pem(v["public_key_pem"].as_str().unwrap()).unwrap();
        let c = &v["callbacks"][0];
        let auth = c["authorization"].as_str().unwrap();
        let path = c["path_and_query"].as_str().unwrap();
        let body = c["body"].as_str().unwrap();
        assert_eq!(verify(&key, auth, path, None, body.as_bytes()), Ok(()));
        let altered = body.replace("114020", "114021");
        assert_eq!(
            verify(&key, auth, path, None, altered.as_bytes()),
            Err(SigningError::SignatureMismatch)
        );
        assert!(verify(&key, auth, path, Some("a=1"), body.as_bytes()).is_err());
        assert!(verify(&key, auth, "/api/other", None, body.as_bytes()).is_err());
        assert!(verify(&key, "not base64!", path, None, body.as_bytes()).is_err());
        assert!(verify(&key, "", path, None, body.as_bytes()).is_err());
        assert!(verify(&key, "AAAA", path, None, body.as_bytes()).is_err());
        assert!(parse_public_key_pem("").is_err());
        assert!(parse_public_key_pem("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----").is_err());
        for bad in [
            STANDARD.encode("https://evil.example/key.pem"),
            STANDARD.encode("https://gosspublic.alicdn.com.evil.example/k.pem"),
            "%%".to_owned(),
        ] {
            assert!(public_key_url(&bad, &oss_urls()).is_err(), "{bad}");
        }
    }

    fn oss_urls() -> KeyUrlAllowList {
        KeyUrlAllowList {
            exact: OSS_PUB_KEY_URLS.iter().map(|u| u.to_string()).collect(),
            prefixes: Vec::new(),
        }
    }

    #[test]
    fn only_canonical_allowed_key_urls_pass() {
        let allowed = KeyUrlAllowList {
            exact: vec![OSS_PUB_KEY_URLS[0].to_string()],
            prefixes: vec!["http://127.0.0.1:9000/_emulator/".to_string()],
        };
        let check = |url: &str| public_key_url(&STANDARD.encode(url), &allowed).is_ok();
        assert!(check("https://gosspublic.alicdn.com/callback_pub_key_v1.pem"));
        assert!(check("http://127.0.0.1:9000/_emulator/callback_pub_key_v1.pem"));
        for bad in [
            // Not on the exact list, though on OSS's host.
            "https://gosspublic.alicdn.com/other.pem",
            "http://gosspublic.alicdn.com/callback_pub_key_v1.pem",
            // Spellings of an allowed URL that would each be fetched and cached apart.
            "https://gosspublic.alicdn.com/callback_pub_key_v1.pem?v=1",
            "https://gosspublic.alicdn.com/callback_pub_key_v1.pem#x",
            "https://GOSSPUBLIC.alicdn.com/callback_pub_key_v1.pem",
            "https://gosspublic.alicdn.com:443/callback_pub_key_v1.pem",
            "http://127.0.0.1:9000/_emulator/callback_pub_key_v1.pem?1",
            "http://127.0.0.1:9000/_emulator/%63allback_pub_key_v1.pem",
            "http://127.0.0.1:9000/_emulator/./callback_pub_key_v1.pem",
            // Out of the allowed prefix through dot segments or userinfo.
            "http://127.0.0.1:9000/_emulator/../x",
            "http://127.0.0.1:9000/_emulator/%2e%2e/x",
            "http://u:p@127.0.0.1:9000/_emulator/k.pem",
            "http://127.0.0.1:9000/_emulator\\..\\x",
        ] {
            assert!(!check(bad), "{bad}");
        }
    }

    #[test]
    fn string_to_verify_shape() {
        assert_eq!(
            string_to_verify("/a%20b/c+d", Some("x=1&y=%2F"), b"body"),
            b"/a b/c+d?x=1&y=%2F\nbody".to_vec()
        );
        assert_eq!(string_to_verify("/p", Some(""), b""), b"/p\n".to_vec());
        assert_eq!(string_to_verify("/%FF", None, b"b"), b"/\xff\nb".to_vec());
    }

    /// The Montgomery verification agrees with the rsa crate's on genuine, altered and
    /// malformed signatures, at OSS's key size and at the usual ones.
    #[test]
    fn verification_agrees_with_the_rsa_crate() {
        use rand::Rng;
        let mut rng = rand::thread_rng();
        for bits in [512, 1024, 2048] {
            let private = RsaPrivateKey::new(&mut rng, bits).unwrap();
            let rsa_key = RsaPublicKey::from(&private);
            let ours = CallbackPublicKey::new(&rsa_key).unwrap();
            let n = rsa_key.n().to_bytes_be();
            for i in 0..20 {
                let digest: [u8; 16] = Md5::digest(format!("callback {i}")).into();
                let genuine = private.sign(pkcs1v15_md5(), &digest).unwrap();
                let mut flipped = genuine.clone();
                let at = rng.gen_range(0..flipped.len());
                flipped[at] ^= 1 << rng.gen_range(0..8);
                // The same digest signed without MD5's DigestInfo, and signatures at or past n.
                let unprefixed = private.sign(Pkcs1v15Sign::new_unprefixed(), &digest).unwrap();
                let candidates = [
                    genuine,
                    flipped,
                    unprefixed,
                    n.clone(),
                    vec![0xff; n.len()],
                    vec![0; n.len()],
                    vec![1; 3],
                ];
                for signature in candidates {
                    let theirs = rsa_key.verify(pkcs1v15_md5(), &digest, &signature).is_ok();
                    assert_eq!(
                        ours.verify_md5(&digest, &signature).is_ok(),
                        theirs,
                        "{bits} bits, case {i}"
                    );
                }
            }
        }
    }

    #[test]
    fn sign_for_tests_round_trips_through_verify() {
        let private = RsaPrivateKey::new(&mut rand::thread_rng(), 1024).unwrap();
        let public = CallbackPublicKey::new(&RsaPublicKey::from(&private)).unwrap();
        let body = br#"{"object":"a/b.jpg","size":1}"#;
        let sig = sign_for_tests(&private, "/v1/oss/callback", Some("t=1"), body).unwrap();
        assert_eq!(
            verify(&public, &sig, "/v1/oss/callback", Some("t=1"), body),
            Ok(())
        );
        assert!(verify(&public, &sig, "/v1/oss/callback", None, body).is_err());
        assert!(verify(&public, &sig, "/v1/oss/callback", Some("t=1"), b"{}").is_err());
        let v = real_callbacks();
        let oss_key = parse_public_key_pem(v["public_key_pem"].as_str().unwrap()).unwrap();
        assert!(verify(&oss_key, &sig, "/v1/oss/callback", Some("t=1"), body).is_err());
    }

    #[test]
    fn every_key_width_verifies_on_its_own_arithmetic() {
        // 512/1024/2048 take the fixed widths (1000 bits padded into 1024), 768 the heap path.
        for bits in [512, 768, 1000, 1024, 2048] {
            let private = RsaPrivateKey::new(&mut rand::thread_rng(), bits).unwrap();
            let public = CallbackPublicKey::new(&RsaPublicKey::from(&private)).unwrap();
            let body = br#"{"object":"a/b.jpg","size":1}"#;
            let sig = sign_for_tests(&private, "/v1/oss/callback", None, body).unwrap();
            assert_eq!(
                verify(&public, &sig, "/v1/oss/callback", None, body),
                Ok(()),
                "{bits} bits"
            );
            let mut raw = STANDARD.decode(&sig).unwrap();
            *raw.last_mut().unwrap() ^= 1;
            let flipped = STANDARD.encode(&raw);
            assert!(
                verify(&public, &flipped, "/v1/oss/callback", None, body).is_err(),
                "{bits} bits"
            );
            // The modulus itself is no signature (it is not below the modulus).
            let n = STANDARD.encode(&public.modulus_be);
            assert!(
                verify(&public, &n, "/v1/oss/callback", None, body).is_err(),
                "{bits} bits"
            );
        }
    }

    #[test]
    #[ignore = "timing probe: cargo test --release -- --ignored --nocapture"]
    fn time_verify() {
        for bits in [512usize, 1024, 2048] {
            let private = RsaPrivateKey::new(&mut rand::thread_rng(), bits).unwrap();
            let public = CallbackPublicKey::new(&RsaPublicKey::from(&private)).unwrap();
            let sig = sign_for_tests(&private, "/v1/oss/callback", None, b"{}").unwrap();
            let t = std::time::Instant::now();
            for _ in 0..20_000 {
                verify(&public, &sig, "/v1/oss/callback", None, b"{}").unwrap();
            }
            eprintln!(
                "{bits} bits: {:.2} µs",
                t.elapsed().as_secs_f64() * 1e6 / 20_000.0
            );
        }
    }
}
