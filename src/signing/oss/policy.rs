//! PostObject policy: building the exact JSON ali-oss produces, and parsing/evaluating one the way
//! OSS does (for the emulator).
//!
//! A literal `$` inside a policy value is written `\$` (OSS treats `$` as a field reference), so the
//! text we emit for such values is not strict JSON; the parser undoes that escape before reading.

use std::io::Write;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;

use crate::{Result, SigningError};

/// One policy condition, as the issuing side writes it. Field names are given without `$`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    /// `{"field":"value"}`
    Exact(String, String),
    /// `["eq","$field","value"]`
    Eq(String, String),
    /// `["starts-with","$field","prefix"]`
    StartsWith(String, String),
    /// `["content-length-range",min,max]`
    ContentLengthRange(u64, u64),
    /// `["in","$field",["a","b"]]`
    In(String, Vec<String>),
    /// `["not-in","$field",["a","b"]]`
    NotIn(String, Vec<String>),
}

/// A PostObject policy: `expiration` then `conditions`, in that order, as ali-oss writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostPolicy {
    pub expiration: DateTime<Utc>,
    pub conditions: Vec<Condition>,
}

/// Appends a JSON string literal with `$` escaped as OSS requires. serde_json never emits `$` as
/// part of an escape sequence, so escaping each `$` it wrote is exact. Raw UTF-8 is kept, as
/// `JSON.stringify` does.
fn push_json_str(out: &mut Vec<u8>, s: &str) {
    // Most values (base64, keys, names) hold nothing to escape: copied as they are, the same bytes
    // serde_json would write. A fold without early exit, so the check runs over whole words.
    let plain = s.bytes().fold(true, |plain, b| {
        plain & (b >= 0x20) & (b != b'"') & (b != b'\\') & (b != b'$')
    });
    if plain {
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
        return;
    }
    let start = out.len();
    // Writing a &str into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
    if s.contains('$') {
        let quoted = out.split_off(start);
        for b in quoted {
            if b == b'$' {
                out.push(b'\\');
            }
            out.push(b);
        }
    }
}

/// A field reference: the `$` marker stays literal, the name itself is escaped like any value.
fn push_field_ref(out: &mut Vec<u8>, field: &str) {
    let name = field.strip_prefix('$').unwrap_or(field);
    let start = out.len();
    push_json_str(out, name);
    out.insert(start + 1, b'$');
}

fn push_json_list(out: &mut Vec<u8>, values: &[String]) {
    out.push(b'[');
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        push_json_str(out, v);
    }
    out.push(b']');
}

/// `["op","$field",` of an operator condition; the caller writes the argument and the `]`.
fn push_op(out: &mut Vec<u8>, op: &str, field: &str) {
    out.extend_from_slice(b"[\"");
    out.extend_from_slice(op.as_bytes());
    out.extend_from_slice(b"\",");
    push_field_ref(out, field);
    out.push(b',');
}

impl Condition {
    fn write_json(&self, out: &mut Vec<u8>) {
        match self {
            Condition::Exact(f, v) => {
                out.push(b'{');
                push_json_str(out, f);
                out.push(b':');
                push_json_str(out, v);
                out.push(b'}');
                return;
            }
            Condition::Eq(f, v) => {
                push_op(out, "eq", f);
                push_json_str(out, v);
            }
            Condition::StartsWith(f, v) => {
                push_op(out, "starts-with", f);
                push_json_str(out, v);
            }
            Condition::ContentLengthRange(min, max) => {
                // Writing into a Vec cannot fail.
                let _ = write!(out, "[\"content-length-range\",{min},{max}");
            }
            Condition::In(f, vs) => {
                push_op(out, "in", f);
                push_json_list(out, vs);
            }
            Condition::NotIn(f, vs) => {
                push_op(out, "not-in", f);
                push_json_list(out, vs);
            }
        }
        out.push(b']');
    }
}

impl PostPolicy {
    /// Compact JSON, byte-identical to ali-oss (`JSON.stringify`, millisecond `.000Z` expiration).
    pub fn to_json(&self) -> String {
        // Only strings serde_json escaped and ASCII punctuation went in: always UTF-8.
        String::from_utf8(self.json_bytes()).unwrap_or_default()
    }

    /// The JSON written into one buffer, each condition in place: this runs for every credential.
    fn json_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256 + 160 * self.conditions.len());
        out.extend_from_slice(b"{\"expiration\":\"");
        let expiration = self.expiration.to_rfc3339_opts(SecondsFormat::Millis, true);
        out.extend_from_slice(expiration.as_bytes());
        out.extend_from_slice(b"\",\"conditions\":[");
        for (i, c) in self.conditions.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            c.write_json(&mut out);
        }
        out.extend_from_slice(b"]}");
        out
    }

    /// The `policy` form field: standard base64 of the JSON. This exact string is what gets signed.
    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.json_bytes())
    }

    /// Decode a base64 policy the way OSS reads it, for evaluation by the emulator.
    pub fn parse(policy_b64: &str) -> Result<ParsedPolicy> {
        let raw = STANDARD
            .decode(policy_b64.trim())
            .map_err(|_| SigningError::InvalidBase64("policy"))?;
        let text = String::from_utf8(raw).map_err(|_| SigningError::InvalidPolicy("not UTF-8".into()))?;
        let doc: Value =
            serde_json::from_str(&unescape_dollar(&text)).map_err(|e| SigningError::InvalidJson {
                what: "policy",
                detail: e.to_string(),
            })?;
        let obj = doc
            .as_object()
            .ok_or_else(|| SigningError::InvalidPolicy("not a JSON object".into()))?;
        let expiration = obj
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("expiration"))
            .and_then(|(_, v)| v.as_str())
            .ok_or_else(|| SigningError::InvalidPolicy("missing expiration".into()))?;
        let expiration = DateTime::parse_from_rfc3339(expiration)
            .map_err(|_| SigningError::InvalidPolicy("expiration is not ISO 8601".into()))?
            .with_timezone(&Utc);
        let conditions = obj
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("conditions"))
            .and_then(|(_, v)| v.as_array())
            .ok_or_else(|| SigningError::InvalidPolicy("missing conditions".into()))?;
        let mut parsed = Vec::new();
        for c in conditions {
            parse_condition(c, &mut parsed)?;
        }
        Ok(ParsedPolicy {
            expiration,
            conditions: parsed,
        })
    }
}

/// Turn OSS's `\$` escape into a plain `$` inside JSON strings, leaving every other escape (and
/// `\\` followed by `$`) to the JSON parser.
fn unescape_dollar(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_string = false;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                in_string = !in_string;
                out.push(c);
            }
            '\\' if in_string => match chars.next() {
                Some('$') => out.push('$'),
                Some(next) => {
                    out.push('\\');
                    out.push(next);
                }
                None => out.push('\\'),
            },
            _ => out.push(c),
        }
    }
    out
}

/// A condition as OSS evaluates it. Field names are lowercased (OSS compares them
/// case-insensitively) and carry no `$`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParsedCondition {
    /// From `["eq",..]` and from each member of an exact-match object.
    Eq {
        field: String,
        value: String,
    },
    StartsWith {
        field: String,
        prefix: String,
    },
    In {
        field: String,
        values: Vec<String>,
    },
    NotIn {
        field: String,
        values: Vec<String>,
    },
    ContentLengthRange {
        min: u64,
        max: u64,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedPolicy {
    pub expiration: DateTime<Utc>,
    pub conditions: Vec<ParsedCondition>,
}

/// Which condition an upload broke.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyViolation {
    #[error("policy expired")]
    Expired,
    #[error("field `{field}` must equal the policy value")]
    NotEqual { field: String },
    #[error("field `{field}` must start with `{prefix}`")]
    PrefixMismatch { field: String, prefix: String },
    #[error("field `{field}` is not one of the allowed values")]
    NotInList { field: String },
    #[error("field `{field}` has a forbidden value")]
    InExcludedList { field: String },
    #[error("content length {actual} outside {min}..={max}")]
    ContentLength { min: u64, max: u64, actual: u64 },
}

fn field_name(v: Option<&Value>) -> Result<String> {
    let s = v
        .and_then(Value::as_str)
        .ok_or_else(|| SigningError::InvalidPolicy("condition field must be a string".into()))?;
    Ok(s.strip_prefix('$').unwrap_or(s).to_ascii_lowercase())
}

fn string_arg(v: Option<&Value>) -> Result<String> {
    v.and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| SigningError::InvalidPolicy("condition value must be a string".into()))
}

fn string_list(v: Option<&Value>) -> Result<Vec<String>> {
    let bad = || SigningError::InvalidPolicy("condition needs a list of strings".into());
    v.and_then(Value::as_array)
        .ok_or_else(bad)?
        .iter()
        .map(|x| x.as_str().map(str::to_owned).ok_or_else(bad))
        .collect()
}

/// Numbers may arrive bare (as SDKs write them) or as decimal strings.
fn number_arg(v: Option<&Value>) -> Result<u64> {
    let bad = || SigningError::InvalidPolicy("content-length-range needs integers".into());
    match v.ok_or_else(bad)? {
        Value::Number(n) => n.as_u64().ok_or_else(bad),
        Value::String(s) => s.trim().parse().map_err(|_| bad()),
        _ => Err(bad()),
    }
}

fn parse_condition(c: &Value, out: &mut Vec<ParsedCondition>) -> Result<()> {
    match c {
        Value::Object(members) => {
            for (field, value) in members {
                let value = value.as_str().ok_or_else(|| {
                    SigningError::InvalidPolicy("exact-match value must be a string".into())
                })?;
                out.push(ParsedCondition::Eq {
                    field: field.strip_prefix('$').unwrap_or(field).to_ascii_lowercase(),
                    value: value.to_owned(),
                });
            }
            Ok(())
        }
        Value::Array(items) => {
            let op = items
                .first()
                .and_then(Value::as_str)
                .ok_or_else(|| SigningError::InvalidPolicy("condition without operator".into()))?
                .to_ascii_lowercase();
            if items.len() != 3 {
                return Err(SigningError::InvalidPolicy(format!(
                    "`{op}` takes exactly two arguments"
                )));
            }
            let cond = match op.as_str() {
                "eq" => ParsedCondition::Eq {
                    field: field_name(items.get(1))?,
                    value: string_arg(items.get(2))?,
                },
                "starts-with" => ParsedCondition::StartsWith {
                    field: field_name(items.get(1))?,
                    prefix: string_arg(items.get(2))?,
                },
                "in" => ParsedCondition::In {
                    field: field_name(items.get(1))?,
                    values: string_list(items.get(2))?,
                },
                "not-in" => ParsedCondition::NotIn {
                    field: field_name(items.get(1))?,
                    values: string_list(items.get(2))?,
                },
                "content-length-range" => {
                    let min = number_arg(items.get(1))?;
                    let max = number_arg(items.get(2))?;
                    if min > max {
                        return Err(SigningError::InvalidPolicy(
                            "content-length-range min exceeds max".into(),
                        ));
                    }
                    ParsedCondition::ContentLengthRange { min, max }
                }
                other => return Err(SigningError::InvalidPolicy(format!("unknown operator `{other}`"))),
            };
            out.push(cond);
            Ok(())
        }
        _ => Err(SigningError::InvalidPolicy(
            "condition must be an object or an array".into(),
        )),
    }
}

impl ParsedPolicy {
    /// Whether the policy is past its expiration at `now`.
    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        now > self.expiration
    }

    /// Evaluate every condition against the form fields (names compared case-insensitively, first
    /// occurrence wins; an absent field reads as empty) and the file's length. The caller adds the
    /// request's bucket as a `bucket` field, as OSS checks `{"bucket": ..}` against it.
    pub fn check(
        &self,
        form_fields: &[(String, String)],
        content_length: u64,
    ) -> Result<(), PolicyViolation> {
        let get = |field: &str| -> &str {
            form_fields
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(field))
                .map(|(_, v)| v.as_str())
                .unwrap_or("")
        };
        for c in &self.conditions {
            match c {
                ParsedCondition::Eq { field, value } if get(field) != value => {
                    return Err(PolicyViolation::NotEqual { field: field.clone() })
                }
                ParsedCondition::StartsWith { field, prefix } if !get(field).starts_with(prefix) => {
                    return Err(PolicyViolation::PrefixMismatch {
                        field: field.clone(),
                        prefix: prefix.clone(),
                    })
                }
                ParsedCondition::In { field, values } if !values.iter().any(|v| v == get(field)) => {
                    return Err(PolicyViolation::NotInList { field: field.clone() })
                }
                ParsedCondition::NotIn { field, values } if values.iter().any(|v| v == get(field)) => {
                    return Err(PolicyViolation::InExcludedList { field: field.clone() })
                }
                ParsedCondition::ContentLengthRange { min, max }
                    if content_length < *min || content_length > *max =>
                {
                    return Err(PolicyViolation::ContentLength {
                        min: *min,
                        max: *max,
                        actual: content_length,
                    })
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// `check` plus the expiration, as OSS applies both.
    pub fn check_at(
        &self,
        now: DateTime<Utc>,
        form_fields: &[(String, String)],
        content_length: u64,
    ) -> Result<(), PolicyViolation> {
        if self.is_expired(now) {
            return Err(PolicyViolation::Expired);
        }
        self.check(form_fields, content_length)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::ali_oss;

    /// Rebuild the policy of a vector case from its decoded JSON's parts, through our builder.
    fn rebuild(parsed: &ParsedPolicy, original_json: &str) -> PostPolicy {
        // The vectors' conditions are, in order: bucket, key, length range, Content-Type, and
        // for V4 the signature-version exact match. Rebuild them with the original field case.
        let mut conditions = Vec::new();
        for c in &parsed.conditions {
            conditions.push(match c {
                ParsedCondition::Eq { field, value } if field == "bucket" => {
                    Condition::Exact("bucket".into(), value.clone())
                }
                ParsedCondition::Eq { field, value } if field == "x-oss-signature-version" => {
                    Condition::Exact(field.clone(), value.clone())
                }
                ParsedCondition::Eq { field, value } if field == "content-type" => {
                    Condition::Eq("Content-Type".into(), value.clone())
                }
                ParsedCondition::Eq { field, value } => Condition::Eq(field.clone(), value.clone()),
                ParsedCondition::ContentLengthRange { min, max } => Condition::ContentLengthRange(*min, *max),
                other => panic!("unexpected condition {other:?} in {original_json}"),
            });
        }
        PostPolicy {
            expiration: parsed.expiration,
            conditions,
        }
    }

    #[test]
    fn reproduces_every_ali_oss_policy() {
        let v = ali_oss();
        let mut n = 0;
        for section in ["post_v1", "post_v4"] {
            for case in v[section].as_array().unwrap() {
                let json = case["policy_json"].as_str().unwrap();
                let b64 = case["policy_base64"].as_str().unwrap();
                let parsed = PostPolicy::parse(b64).unwrap();
                let policy = rebuild(&parsed, json);
                assert_eq!(policy.to_json(), json);
                assert_eq!(policy.to_base64(), b64);
                n += 1;
            }
        }
        assert_eq!(n, 16);
    }

    #[test]
    fn builder_renders_every_condition_kind() {
        let policy = PostPolicy {
            expiration: DateTime::parse_from_rfc3339("2026-11-24T17:41:30Z")
                .unwrap()
                .with_timezone(&Utc),
            conditions: vec![
                Condition::Exact("bucket".into(), "demo-bucket".into()),
                Condition::Eq("key".into(), "uploads/中文/a\"b.jpg".into()),
                Condition::StartsWith("$key".into(), "uploads/".into()),
                Condition::ContentLengthRange(1, 10),
                Condition::In(
                    "content-type".into(),
                    vec!["image/jpeg".into(), "image/png".into()],
                ),
                Condition::NotIn("x-oss-object-acl".into(), vec!["public-read".into()]),
            ],
        };
        assert_eq!(
            policy.to_json(),
            r#"{"expiration":"2026-11-24T17:41:30.000Z","conditions":[{"bucket":"demo-bucket"},["eq","$key","uploads/中文/a\"b.jpg"],["starts-with","$key","uploads/"],["content-length-range",1,10],["in","$content-type",["image/jpeg","image/png"]],["not-in","$x-oss-object-acl",["public-read"]]]}"#
        );
        let parsed = PostPolicy::parse(&policy.to_base64()).unwrap();
        assert_eq!(parsed.expiration, policy.expiration);
        assert_eq!(parsed.conditions.len(), 6);
    }

    #[test]
    fn dollar_in_values_is_escaped_and_round_trips() {
        let policy = PostPolicy {
            expiration: DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
                .unwrap()
                .with_timezone(&Utc),
            conditions: vec![
                Condition::Eq("key".into(), "a$b.jpg".into()),
                Condition::Eq("x".into(), "back\\$slash".into()),
            ],
        };
        let json = policy.to_json();
        assert!(json.contains(r#"["eq","$key","a\$b.jpg"]"#), "{json}");
        let parsed = PostPolicy::parse(&policy.to_base64()).unwrap();
        assert_eq!(
            parsed.conditions,
            vec![
                ParsedCondition::Eq {
                    field: "key".into(),
                    value: "a$b.jpg".into()
                },
                ParsedCondition::Eq {
                    field: "x".into(),
                    value: "back\\$slash".into()
                }
            ]
        );
    }

    fn fields(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn sample() -> ParsedPolicy {
        let v = ali_oss();
        PostPolicy::parse(v["post_v4"][0]["policy_base64"].as_str().unwrap()).unwrap()
    }

    #[test]
    fn check_accepts_a_matching_upload_with_any_field_case() {
        let p = sample();
        let f = fields(&[
            ("Bucket", "demo-bucket"),
            ("KEY", "uploads/u248/photo.jpg"),
            ("content-type", "image/jpeg"),
            ("x-oss-signature-version", "OSS4-HMAC-SHA256"),
        ]);
        assert_eq!(p.check(&f, 1), Ok(()));
        assert_eq!(p.check(&f, 3591169), Ok(()));
        let before = p.expiration - chrono::Duration::seconds(1);
        assert_eq!(p.check_at(before, &f, 10), Ok(()));
        let after = p.expiration + chrono::Duration::seconds(1);
        assert_eq!(p.check_at(after, &f, 10), Err(PolicyViolation::Expired));
    }

    #[test]
    fn check_rejects_each_violation() {
        let p = sample();
        let good = [
            ("bucket", "demo-bucket"),
            ("key", "uploads/u248/photo.jpg"),
            ("Content-Type", "image/jpeg"),
            ("x-oss-signature-version", "OSS4-HMAC-SHA256"),
        ];
        assert!(matches!(
            p.check(&fields(&good), 0),
            Err(PolicyViolation::ContentLength { actual: 0, .. })
        ));
        assert!(matches!(
            p.check(&fields(&good), 3591170),
            Err(PolicyViolation::ContentLength { .. })
        ));
        let mut swapped = good;
        swapped[1] = ("key", "uploads/u249/photo.jpg");
        assert_eq!(
            p.check(&fields(&swapped), 5),
            Err(PolicyViolation::NotEqual { field: "key".into() })
        );
        // A missing field reads as empty and so fails an exact match.
        assert_eq!(
            p.check(&fields(&good[1..]), 5),
            Err(PolicyViolation::NotEqual {
                field: "bucket".into()
            })
        );
    }

    #[test]
    fn check_starts_with_in_and_not_in() {
        let json = r#"{"expiration":"2026-01-01T00:00:00Z","conditions":[["starts-with","$key","u/"],["in","$content-type",["image/png","image/jpeg"]],["not-in","$x-oss-object-acl",["public-read"]]]}"#;
        let p = PostPolicy::parse(&STANDARD.encode(json)).unwrap();
        let ok = fields(&[("key", "u/x"), ("content-type", "image/png")]);
        assert_eq!(p.check(&ok, 1), Ok(()));
        let bad_prefix = fields(&[("key", "v/x"), ("content-type", "image/png")]);
        assert!(matches!(
            p.check(&bad_prefix, 1),
            Err(PolicyViolation::PrefixMismatch { .. })
        ));
        let bad_type = fields(&[("key", "u/x"), ("content-type", "text/html")]);
        assert!(matches!(
            p.check(&bad_type, 1),
            Err(PolicyViolation::NotInList { .. })
        ));
        let bad_acl = fields(&[
            ("key", "u/x"),
            ("content-type", "image/jpeg"),
            ("X-OSS-Object-Acl", "public-read"),
        ]);
        assert!(matches!(
            p.check(&bad_acl, 1),
            Err(PolicyViolation::InExcludedList { .. })
        ));
    }

    #[test]
    fn parse_is_tolerant_of_case_and_string_numbers() {
        let json = r#"{"Expiration":"2026-01-01T00:00:00.000Z","Conditions":[["EQ","$Key","a"],["content-length-range","1","5"]]}"#;
        let p = PostPolicy::parse(&STANDARD.encode(json)).unwrap();
        assert_eq!(
            p.conditions,
            vec![
                ParsedCondition::Eq {
                    field: "key".into(),
                    value: "a".into()
                },
                ParsedCondition::ContentLengthRange { min: 1, max: 5 }
            ]
        );
    }

    #[test]
    fn malformed_policies_are_errors_not_panics() {
        let cases = [
            "not base64!!",
            &STANDARD.encode([0xff, 0xfe]),
            &STANDARD.encode("[]"),
            &STANDARD.encode("{\"conditions\":[]}"),
            &STANDARD.encode("{\"expiration\":\"soon\",\"conditions\":[]}"),
            &STANDARD.encode("{\"expiration\":\"2026-01-01T00:00:00Z\"}"),
            &STANDARD.encode("{\"expiration\":\"2026-01-01T00:00:00Z\",\"conditions\":[1]}"),
            &STANDARD.encode("{\"expiration\":\"2026-01-01T00:00:00Z\",\"conditions\":[[]]}"),
            &STANDARD.encode("{\"expiration\":\"2026-01-01T00:00:00Z\",\"conditions\":[[\"eq\",\"$key\"]]}"),
            &STANDARD.encode("{\"expiration\":\"2026-01-01T00:00:00Z\",\"conditions\":[[\"eq\",1,\"a\"]]}"),
            &STANDARD
                .encode("{\"expiration\":\"2026-01-01T00:00:00Z\",\"conditions\":[[\"gt\",\"$key\",\"a\"]]}"),
            &STANDARD
                .encode("{\"expiration\":\"2026-01-01T00:00:00Z\",\"conditions\":[[\"in\",\"$key\",\"a\"]]}"),
            &STANDARD.encode(
                "{\"expiration\":\"2026-01-01T00:00:00Z\",\"conditions\":[[\"content-length-range\",5,1]]}",
            ),
            &STANDARD.encode(
                "{\"expiration\":\"2026-01-01T00:00:00Z\",\"conditions\":[[\"content-length-range\",-1,1]]}",
            ),
            &STANDARD.encode("{\"expiration\":\"2026-01-01T00:00:00Z\",\"conditions\":[{\"bucket\":1}]}"),
            &STANDARD
                .encode("{\"expiration\":\"2026-01-01T00:00:00Z\",\"conditions\":[[\"eq\",\"$key\",\"\\"),
        ];
        for c in cases {
            assert!(PostPolicy::parse(c).is_err(), "{c}");
        }
    }
}
