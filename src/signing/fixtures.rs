//! The one set of fixtures the signing tests share: the key `tests/vectors/` were signed with, the
//! vectors themselves, and the table runner the verifier tests go through.

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::{IncomingRequest, Result, SigningError, VerifiedRequest};

/// The access key the SDKs signed the vectors with (a test key, valid nowhere).
pub const AK: &str = "LTAI5tTestKeyId000000";
pub const SECRET: &str = "TestSecret0123456789abcdefghijkl";
pub const REGION: &str = "cn-hangzhou";

macro_rules! vector {
    ($file:literal) => {
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/vectors/",
            $file
        ))
    };
}

/// ali-oss: PostObject policies and signatures, presigned URLs (V1 and V4).
pub fn ali_oss() -> Value {
    json(vector!("oss-signing-ali-oss.json"))
}

/// oss2: header-signed V1 requests.
pub fn oss2() -> Value {
    json(vector!("oss-header-signing-oss2.json"))
}

/// Callbacks as OSS itself sent them.
pub fn real_callbacks() -> Value {
    json(vector!("oss-callbacks-real.json"))
}

/// The STS SDK's AssumeRole requests.
pub fn sts() -> Value {
    json(vector!("sts-assume-role-vectors.json"))
}

pub fn json(s: &str) -> Value {
    serde_json::from_str(s).unwrap()
}

/// The `n` cases of one set of a vectors file (a count that changes is a vectors file that changed).
pub fn cases<'v>(v: &'v Value, set: &str, n: usize) -> &'v [Value] {
    let cases = v[set].as_array().unwrap();
    assert_eq!(cases.len(), n, "{set}");
    cases
}

/// A case's string field.
pub fn field<'v>(c: &'v Value, name: &str) -> &'v str {
    c[name]
        .as_str()
        .unwrap_or_else(|| panic!("no string {name} in {c}"))
}

pub fn lookup(ak: &str) -> Option<String> {
    (ak == AK).then(|| SECRET.to_owned())
}

pub fn at(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339).unwrap().with_timezone(&Utc)
}

pub fn unix(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(secs, 0).unwrap()
}

/// Split a URL we produced into the path and query the emulator would see.
pub fn parts(url: &str) -> (String, Option<String>) {
    let u = url::Url::parse(url).unwrap();
    (u.path().to_owned(), u.query().map(str::to_owned))
}

pub fn borrow(pairs: &[(String, String)]) -> Vec<(&str, &str)> {
    pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

/// One row of a verifier table: what it shows, the request, the verifier's clock, and the answer
/// it must give (`Ok(())`: accepted).
pub type Row<'a> = (
    &'a str,
    IncomingRequest<'a>,
    DateTime<Utc>,
    Result<(), SigningError>,
);

/// Every row gets exactly its answer.
pub fn check(verify: impl Fn(&IncomingRequest, DateTime<Utc>) -> Result<VerifiedRequest>, rows: &[Row]) {
    for (what, req, now, want) in rows {
        assert_eq!(&verify(req, *now).map(|_| ()), want, "{what}");
    }
}

/// A request with one part replaced: how the verifier tables tamper.
impl<'a> IncomingRequest<'a> {
    pub fn with_method(self, method: &'a str) -> Self {
        IncomingRequest { method, ..self }
    }

    pub fn with_path(self, path: &'a str) -> Self {
        IncomingRequest { path, ..self }
    }

    pub fn with_query(self, query: &'a str) -> Self {
        IncomingRequest {
            query: Some(query),
            ..self
        }
    }

    pub fn with_headers(self, headers: &'a [(&'a str, &'a str)]) -> Self {
        IncomingRequest { headers, ..self }
    }

    /// The bucket named in the path, not the Host header.
    pub fn path_style(self, path: &'a str) -> Self {
        IncomingRequest {
            host_bucket: None,
            path,
            ..self
        }
    }
}
