//! Small building blocks shared by the signature schemes, so each exists once.

use hmac::{Hmac, Mac};
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use crate::{Result, SigningError};

/// RFC 3986: only unreserved characters stay literal. OSS V4 canonical requests and Alibaba's POP
/// (STS) signatures both use it (`~` literal, space `%20`, `*` `%2A`).
pub(crate) const RFC3986: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// RFC 3986 but `/` kept: the V4 canonical URI.
pub(crate) const RFC3986_PATH: &AsciiSet = &RFC3986.remove(b'/');

/// JavaScript's `encodeURIComponent` set, which ali-oss uses in the URLs it hands out; matching it
/// keeps our presigned URLs byte-identical to the SDK's.
pub(crate) const URI_COMPONENT: &AsciiSet = &RFC3986
    .remove(b'!')
    .remove(b'*')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')');

/// `encodeURIComponent` with `/` kept: an object key in a URL path.
pub(crate) const URI_PATH: &AsciiSet = &URI_COMPONENT.remove(b'/');

pub(crate) fn encode(s: &str, set: &'static AsciiSet) -> String {
    let mut out = String::with_capacity(s.len());
    encode_into(&mut out, s, set);
    out
}

/// Appends the encoding of `s` to `out`: chunks are pushed as they come, without the formatting
/// machinery of `to_string` or a string per value (URLs and canonical requests encode many).
pub(crate) fn encode_into(out: &mut String, s: &str, set: &'static AsciiSet) {
    out.extend(utf8_percent_encode(s, set));
}

/// Constant-time equality, so a forger cannot learn a signature byte by byte from timing.
/// Only the length (public: fixed per scheme) can short-circuit.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

pub(crate) fn hmac_sha1(key: &[u8], msg: &[u8]) -> [u8; 20] {
    // HMAC accepts keys of any length: new_from_slice cannot fail here.
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(msg);
    mac.finalize().into_bytes().into()
}

pub(crate) type HmacSha256 = Hmac<sha2::Sha256>;

pub(crate) fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; 32] {
    let mut mac = hmac_sha256_keyed(key);
    mac.update(msg);
    mac.finalize().into_bytes().into()
}

/// An HMAC-SHA256 keyed with `key`, to clone for each message under a key that stays: keying
/// hashes both pads (two compressions), a clone copies the state.
pub(crate) fn hmac_sha256_keyed(key: &[u8]) -> HmacSha256 {
    // HMAC accepts keys of any length: new_from_slice cannot fail here.
    HmacSha256::new_from_slice(key).expect("HMAC takes any key length")
}

/// First header with this name, compared case-insensitively.
pub(crate) fn header<'a>(headers: &[(&str, &'a str)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| *v)
}

/// Decoded query pairs in order. `+` means space (form semantics), as OSS reads query strings;
/// a key without `=` gets an empty value, which every OSS scheme signs as the bare key.
pub fn parse_query(raw: Option<&str>) -> Vec<(String, String)> {
    match raw {
        None => Vec::new(),
        Some(q) => url::form_urlencoded::parse(q.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect(),
    }
}

pub fn query_value<'a>(query: &'a [(String, String)], name: &str) -> Option<&'a str> {
    query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// Bucket and object key of a request: the bucket from the Host header when given, otherwise the
/// first segment of the (percent-decoded) path.
pub fn split_bucket_key(host_bucket: Option<&str>, raw_path: &str) -> Result<(Option<String>, String)> {
    let rest = raw_path
        .strip_prefix('/')
        .ok_or_else(|| SigningError::invalid("path", "must start with /"))?;
    let decoded = percent_decode_str(rest)
        .decode_utf8()
        .map_err(|_| SigningError::invalid("path", "not UTF-8 once decoded"))?;
    if let Some(bucket) = host_bucket {
        return Ok((Some(bucket.to_owned()), decoded.into_owned()));
    }
    match decoded.split_once('/') {
        Some((bucket, key)) if !bucket.is_empty() => Ok((Some(bucket.to_owned()), key.to_owned())),
        Some(_) => Err(SigningError::invalid("path", "empty bucket segment")),
        None if decoded.is_empty() => Ok((None, String::new())),
        None => Ok((Some(decoded.into_owned()), String::new())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3986_set() {
        assert_eq!(encode("a b*~/+=", RFC3986), "a%20b%2A~%2F%2B%3D");
        assert_eq!(encode("a b*~/+=", RFC3986_PATH), "a%20b%2A~/%2B%3D");
        assert_eq!(encode("a b*!'()/?", URI_PATH), "a%20b*!'()/%3F");
    }

    #[test]
    fn ct_eq_works() {
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"ab"));
    }

    #[test]
    fn split_paths() {
        assert_eq!(
            split_bucket_key(Some("b"), "/a%20b/c.png").unwrap(),
            (Some("b".into()), "a b/c.png".into())
        );
        assert_eq!(
            split_bucket_key(None, "/b/k/x").unwrap(),
            (Some("b".into()), "k/x".into())
        );
        assert_eq!(split_bucket_key(None, "/").unwrap(), (None, String::new()));
        assert_eq!(
            split_bucket_key(None, "/b").unwrap(),
            (Some("b".into()), String::new())
        );
        assert!(split_bucket_key(None, "b/k").is_err());
        assert!(split_bucket_key(None, "//k").is_err());
        assert!(split_bucket_key(None, "/b/%FF").is_err());
    }

    #[test]
    fn query_parsing() {
        let q = parse_query(Some("a=1&b&c=x%2By+z"));
        assert_eq!(
            q,
            vec![
                ("a".into(), "1".into()),
                ("b".into(), String::new()),
                ("c".into(), "x+y z".into())
            ]
        );
        assert!(parse_query(None).is_empty());
    }
}
