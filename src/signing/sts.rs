//! Alibaba Cloud RPC (POP) request signing, as used for STS `AssumeRole`, plus the answer's shape.
//!
//! string-to-sign = `GET&%2F&` + encode(canonical query); canonical query = parameters sorted by
//! name, each name and value RFC 3986-encoded; signature = base64(HMAC-SHA1(secret + "&", ..)).

use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Deserialize;

use crate::common::{encode, hmac_sha1, RFC3986};

pub const API_VERSION: &str = "2015-04-01";

/// RFC 3986 encoding as POP requires: `~` literal, space `%20`, `*` `%2A`, UTF-8 bytes escaped.
pub fn percent_encode(s: &str) -> String {
    encode(s, RFC3986)
}

/// Parameters sorted by name, encoded, joined with `&`.
pub fn canonical_query(params: &[(&str, &str)]) -> String {
    let mut sorted = params.to_vec();
    sorted.sort_by(|a, b| a.0.cmp(b.0).then(a.1.cmp(b.1)));
    sorted
        .iter()
        .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// `METHOD&%2F&` + the encoded canonical query (the whole query is encoded a second time).
pub fn string_to_sign(method: &str, params: &[(&str, &str)]) -> String {
    format!(
        "{method}&{}&{}",
        percent_encode("/"),
        percent_encode(&canonical_query(params))
    )
}

/// `base64(HMAC-SHA1(secret + "&", string_to_sign))`.
pub fn sign(access_key_secret: &str, string_to_sign: &str) -> String {
    let key = format!("{access_key_secret}&");
    STANDARD.encode(hmac_sha1(key.as_bytes(), string_to_sign.as_bytes()))
}

/// The full signed query string (canonical order, `Signature` last), ready to follow `?`.
pub fn signed_query(method: &str, params: &[(&str, &str)], access_key_secret: &str) -> String {
    let signature = sign(access_key_secret, &string_to_sign(method, params));
    format!(
        "{}&Signature={}",
        canonical_query(params),
        percent_encode(&signature)
    )
}

/// An `AssumeRole` call.
#[derive(Debug, Clone, Copy)]
pub struct AssumeRole<'a> {
    pub role_arn: &'a str,
    pub role_session_name: &'a str,
    /// 900 ..= the role's maximum session duration.
    pub duration_seconds: u32,
    /// Inline policy narrowing the role (e.g. to one key prefix).
    pub policy: Option<&'a str>,
}

/// Every parameter of an `AssumeRole` GET, including the common ones the SDK adds (note the empty
/// `SignatureType` it sends). `timestamp` and `nonce` come from the caller: no clock or RNG here.
pub fn assume_role_params(
    req: &AssumeRole,
    access_key_id: &str,
    timestamp: DateTime<Utc>,
    nonce: &str,
) -> Vec<(String, String)> {
    let mut params: Vec<(String, String)> = [
        ("Action", "AssumeRole"),
        ("Version", API_VERSION),
        ("RoleArn", req.role_arn),
        ("RoleSessionName", req.role_session_name),
        ("Format", "JSON"),
        ("SignatureMethod", "HMAC-SHA1"),
        ("SignatureType", ""),
        ("SignatureVersion", "1.0"),
        ("SignatureNonce", nonce),
        ("AccessKeyId", access_key_id),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    params.push(("DurationSeconds".into(), req.duration_seconds.to_string()));
    params.push((
        "Timestamp".into(),
        timestamp.to_rfc3339_opts(SecondsFormat::Secs, true),
    ));
    if let Some(policy) = req.policy {
        params.push(("Policy".into(), policy.to_owned()));
    }
    params
}

/// `https://sts.<region>.aliyuncs.com/?<signed query>` for an `AssumeRole` GET.
pub fn assume_role_url(
    endpoint: &str,
    req: &AssumeRole,
    access_key_id: &str,
    access_key_secret: &str,
    timestamp: DateTime<Utc>,
    nonce: &str,
) -> String {
    let params = assume_role_params(req, access_key_id, timestamp, nonce);
    let borrowed: Vec<(&str, &str)> = params.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    format!(
        "{}/?{}",
        endpoint.trim_end_matches('/'),
        signed_query("GET", &borrowed, access_key_secret)
    )
}

/// A successful `AssumeRole` answer.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AssumeRoleResponse {
    pub request_id: String,
    pub assumed_role_user: AssumedRoleUser,
    pub credentials: StsCredentials,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AssumedRoleUser {
    pub arn: String,
    pub assumed_role_id: String,
}

#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StsCredentials {
    pub access_key_id: String,
    pub access_key_secret: String,
    pub security_token: String,
    pub expiration: DateTime<Utc>,
}

// Hand-written so the secret and token never reach a log.
impl fmt::Debug for StsCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StsCredentials")
            .field("access_key_id", &self.access_key_id)
            .field("expiration", &self.expiration)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures;
    use serde_json::Value;

    /// The SDK's full parameter set for a case: its inputs plus the common parameters.
    fn sdk_params(v: &Value, c: &Value) -> Vec<(String, String)> {
        let mut params: Vec<(String, String)> = c["input"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
            .collect();
        for (k, val) in [
            ("Format", "JSON"),
            ("SignatureMethod", "HMAC-SHA1"),
            ("SignatureType", ""),
            ("SignatureVersion", "1.0"),
            ("AccessKeyId", v["access_key_id"].as_str().unwrap()),
            ("Timestamp", c["timestamp"].as_str().unwrap()),
            ("SignatureNonce", c["signature_nonce"].as_str().unwrap()),
        ] {
            params.push((k.into(), val.into()));
        }
        params
    }

    fn borrow(p: &[(String, String)]) -> Vec<(&str, &str)> {
        p.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
    }

    #[test]
    fn every_case_matches_the_sdk() {
        let v = fixtures::sts();
        let secret = v["access_key_secret"].as_str().unwrap();
        let cases = v["cases"].as_array().unwrap();
        assert_eq!(cases.len(), 4);
        for c in cases {
            let params = sdk_params(&v, c);
            let sts = string_to_sign("GET", &borrow(&params));
            assert_eq!(sts, c["string_to_sign"].as_str().unwrap());
            assert_eq!(sign(secret, &sts), c["signature"].as_str().unwrap());
        }
    }

    #[test]
    fn assume_role_builder_matches_the_sdk() {
        let v = fixtures::sts();
        let ak = v["access_key_id"].as_str().unwrap();
        let secret = v["access_key_secret"].as_str().unwrap();
        for c in v["cases"].as_array().unwrap() {
            let input = &c["input"];
            let req = AssumeRole {
                role_arn: input["RoleArn"].as_str().unwrap(),
                role_session_name: input["RoleSessionName"].as_str().unwrap(),
                duration_seconds: input["DurationSeconds"].as_str().unwrap().parse().unwrap(),
                policy: input["Policy"].as_str(),
            };
            let ts = DateTime::parse_from_rfc3339(c["timestamp"].as_str().unwrap())
                .unwrap()
                .with_timezone(&Utc);
            let nonce = c["signature_nonce"].as_str().unwrap();
            let params = assume_role_params(&req, ak, ts, nonce);
            let sts = string_to_sign("GET", &borrow(&params));
            assert_eq!(sts, c["string_to_sign"].as_str().unwrap());

            // Our URL orders parameters canonically; it must carry exactly the SDK's pairs.
            let ours = assume_role_url(v["endpoint"].as_str().unwrap(), &req, ak, secret, ts, nonce);
            let pairs = |u: &str| {
                let mut p: Vec<(String, String)> = url::Url::parse(u)
                    .unwrap()
                    .query_pairs()
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect();
                p.sort();
                p
            };
            assert_eq!(pairs(&ours), pairs(c["url"].as_str().unwrap()));
            assert!(ours.starts_with("https://sts.cn-hangzhou.aliyuncs.com/?AccessKeyId="));
            assert!(ours.ends_with(&format!(
                "&Signature={}",
                percent_encode(c["signature"].as_str().unwrap())
            )));
        }
    }

    #[test]
    fn encoding_rules() {
        assert_eq!(
            percent_encode("a b*c~d/e+f=中"),
            "a%20b%2Ac~d%2Fe%2Bf%3D%E4%B8%AD"
        );
        assert_eq!(
            canonical_query(&[("b", "2"), ("a", "1"), ("c", "")]),
            "a=1&b=2&c="
        );
        assert_eq!(canonical_query(&[]), "");
    }

    #[test]
    fn tampered_parameters_change_the_signature() {
        let v = fixtures::sts();
        let secret = v["access_key_secret"].as_str().unwrap();
        let c = &v["cases"][0];
        let mut params = sdk_params(&v, c);
        for (k, val) in params.iter_mut() {
            if k == "DurationSeconds" {
                *val = "3600".into();
            }
        }
        let sts = string_to_sign("GET", &borrow(&params));
        assert_ne!(sign(secret, &sts), c["signature"].as_str().unwrap());
        let sts = c["string_to_sign"].as_str().unwrap();
        assert_ne!(sign("wrong", sts), c["signature"].as_str().unwrap());
    }

    #[test]
    fn parses_the_answer_and_hides_secrets_in_debug() {
        let v = fixtures::sts();
        let r: AssumeRoleResponse = serde_json::from_value(v["response_example"].clone()).unwrap();
        assert_eq!(r.credentials.access_key_id, "STS.NUgYrLnoC37mZZCNnAbez****");
        assert_eq!(r.credentials.expiration.to_rfc3339(), "2026-11-24T11:00:00+00:00");
        assert_eq!(r.assumed_role_user.assumed_role_id, "344584339364951186:user-42");
        let debug = format!("{r:?}");
        assert!(!debug.contains("CVwjCkNz") && !debug.contains("CAIS"));
        assert!(serde_json::from_str::<AssumeRoleResponse>("{\"Code\":\"NoPermission\"}").is_err());
    }
}
