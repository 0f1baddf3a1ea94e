//! Our callback body: the template we put in every credential and the parser the callback
//! endpoint reads it back with. One file owns the field names so both sides agree.
//!
//! The upload token is a literal inside the template, not a client-set `x:` variable: the
//! template is covered by the policy or URL signature, so a client cannot swap the token.

use std::collections::BTreeMap;

use crate::{CallbackBodyType, SigningError};

pub const TOKEN_FIELD: &str = "token";

/// Body field name -> OSS system variable.
const SYSTEM_FIELDS: &[(&str, &str)] = &[
    ("bucket", "bucket"),
    ("object", "object"),
    ("etag", "etag"),
    ("size", "size"),
    ("mimeType", "mimeType"),
    ("height", "imageInfo.height"),
    ("width", "imageInfo.width"),
    ("format", "imageInfo.format"),
    ("crc64", "crc64"),
    ("contentMd5", "contentMd5"),
    ("clientIp", "clientIp"),
    ("reqId", "reqId"),
];

/// The callback body template for one credential. `var_names` are custom variable names
/// without the `x:` prefix; each is sent as the field `x:<name>`.
pub fn body_template(body_type: CallbackBodyType, token: &str, var_names: &[&str]) -> String {
    // Written straight into one string: this runs for every credential issued.
    let mut out = String::with_capacity(400 + 40 * var_names.len() + token.len());
    let fields = SYSTEM_FIELDS
        .iter()
        .map(|(field, var)| (None, *field, *var))
        .chain(var_names.iter().map(|name| (Some("x:"), *name, *name)));
    match body_type {
        CallbackBodyType::Json => {
            // OSS quotes substituted values itself; the token is a literal JSON string.
            out.push('{');
            for (prefix, field, var) in fields {
                let prefix = prefix.unwrap_or_default();
                push_json_string(&mut out, &[prefix, field]);
                out.push_str(":${");
                out.push_str(prefix);
                out.push_str(var);
                out.push_str("},");
            }
            push_json_string(&mut out, &[TOKEN_FIELD]);
            out.push(':');
            push_json_string(&mut out, &[token]);
            out.push('}');
        }
        CallbackBodyType::FormUrlEncoded => {
            for (prefix, field, var) in fields {
                let prefix = prefix.unwrap_or_default();
                for part in [prefix, field, "=${", prefix, var, "}&"] {
                    out.push_str(part);
                }
            }
            // Tokens are URL-safe (base64url and dots): no encoding needed.
            out.push_str(TOKEN_FIELD);
            out.push('=');
            out.push_str(token);
        }
    }
    out
}

fn json_string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

/// Appends the JSON string literal of the concatenated `parts`. Field names and tokens are
/// printable ASCII without `"` or `\`, which JSON takes as they are (serde_json writes them so
/// too); anything else goes through serde_json.
fn push_json_string(out: &mut String, parts: &[&str]) {
    let plain = |s: &str| s.bytes().all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\');
    if parts.iter().all(|p| plain(p)) {
        out.push('"');
        parts.iter().for_each(|p| out.push_str(p));
        out.push('"');
    } else {
        out.push_str(&json_string(&parts.concat()));
    }
}

/// The token literal inside a template we issued, if any.
pub fn token_in_template(template: &str, body_type: CallbackBodyType) -> Option<String> {
    match body_type {
        CallbackBodyType::Json => {
            let needle = format!("{}:\"", json_string(TOKEN_FIELD));
            let start = template.find(&needle)? + needle.len();
            let end = template[start..].find('"')?;
            Some(template[start..start + end].to_string())
        }
        CallbackBodyType::FormUrlEncoded => template
            .split('&')
            .find_map(|pair| pair.strip_prefix("token="))
            .map(str::to_owned),
    }
}

/// Parses a callback body into field -> value. JSON numbers become their decimal text and
/// `null` is dropped; form values are URL-decoded (and tolerate JSON-style quotes, which OSS
/// writes when the body type and the template disagree).
pub fn parse_body(
    body_type: CallbackBodyType,
    body: &[u8],
) -> Result<BTreeMap<String, String>, SigningError> {
    let mut out = BTreeMap::new();
    match body_type {
        CallbackBodyType::Json => {
            let value: serde_json::Value =
                serde_json::from_slice(body).map_err(|e| SigningError::InvalidJson {
                    what: "callback body",
                    detail: e.to_string(),
                })?;
            let serde_json::Value::Object(map) = value else {
                return Err(SigningError::InvalidJson {
                    what: "callback body",
                    detail: "not an object".into(),
                });
            };
            for (k, v) in map {
                let text = match v {
                    serde_json::Value::String(s) => s,
                    serde_json::Value::Number(n) => n.to_string(),
                    serde_json::Value::Bool(b) => b.to_string(),
                    serde_json::Value::Null => continue,
                    other => other.to_string(),
                };
                out.insert(k, text);
            }
        }
        CallbackBodyType::FormUrlEncoded => {
            let pairs: Vec<(String, String)> =
                serde_urlencoded::from_bytes(body).map_err(|e| SigningError::InvalidValue {
                    what: "callback body",
                    detail: e.to_string(),
                })?;
            for (k, v) in pairs {
                let unquoted = v
                    .strip_prefix('"')
                    .and_then(|s| s.strip_suffix('"'))
                    .map(str::to_owned)
                    .unwrap_or(v);
                out.insert(k, unquoted);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::callback::render_body;

    fn lookup(name: &str) -> Option<String> {
        match name {
            "bucket" => Some("demo-bucket".into()),
            "object" => Some("avatars/u1/a b.jpg".into()),
            "size" => Some("1234".into()),
            "mimeType" => Some("image/jpeg".into()),
            "imageInfo.height" => Some("10".into()),
            "x:caption" => Some("hi & \"you\"".into()),
            _ => None,
        }
    }

    #[test]
    fn templates_are_byte_for_byte_those_already_issued() {
        // Issued credentials carry these inside signed policies and URLs; the custom signer
        // recomputes them. They must not change from one release to the next.
        let vars = ["caption", "conversation_id"];
        assert_eq!(
            body_template(CallbackBodyType::Json, "v1.t1.abc.def", &vars),
            r#"{"bucket":${bucket},"object":${object},"etag":${etag},"size":${size},"mimeType":${mimeType},"height":${imageInfo.height},"width":${imageInfo.width},"format":${imageInfo.format},"crc64":${crc64},"contentMd5":${contentMd5},"clientIp":${clientIp},"reqId":${reqId},"x:caption":${x:caption},"x:conversation_id":${x:conversation_id},"token":"v1.t1.abc.def"}"#
        );
        assert_eq!(
            body_template(CallbackBodyType::FormUrlEncoded, "v1.t1.abc.def", &vars),
            "bucket=${bucket}&object=${object}&etag=${etag}&size=${size}&mimeType=${mimeType}&height=${imageInfo.height}&width=${imageInfo.width}&format=${imageInfo.format}&crc64=${crc64}&contentMd5=${contentMd5}&clientIp=${clientIp}&reqId=${reqId}&x:caption=${x:caption}&x:conversation_id=${x:conversation_id}&token=v1.t1.abc.def"
        );
    }

    #[test]
    fn json_template_round_trips_through_oss_rendering() {
        let t = body_template(CallbackBodyType::Json, "v1.t1.abc.def", &["caption"]);
        assert_eq!(
            token_in_template(&t, CallbackBodyType::Json).as_deref(),
            Some("v1.t1.abc.def")
        );
        let body = render_body(&t, CallbackBodyType::Json, lookup);
        let fields = parse_body(CallbackBodyType::Json, body.as_bytes()).unwrap();
        assert_eq!(fields["object"], "avatars/u1/a b.jpg");
        assert_eq!(fields["size"], "1234");
        assert_eq!(fields["height"], "10");
        assert_eq!(fields["x:caption"], "hi & \"you\"");
        assert_eq!(fields[TOKEN_FIELD], "v1.t1.abc.def");
    }

    #[test]
    fn form_template_round_trips_through_oss_rendering() {
        let t = body_template(CallbackBodyType::FormUrlEncoded, "v1.t1.abc.def", &["caption"]);
        assert_eq!(
            token_in_template(&t, CallbackBodyType::FormUrlEncoded).as_deref(),
            Some("v1.t1.abc.def")
        );
        let body = render_body(&t, CallbackBodyType::FormUrlEncoded, lookup);
        assert!(body.contains("object=avatars%2Fu1%2Fa%20b.jpg"), "{body}");
        let fields = parse_body(CallbackBodyType::FormUrlEncoded, body.as_bytes()).unwrap();
        assert_eq!(fields["object"], "avatars/u1/a b.jpg");
        assert_eq!(fields["x:caption"], "hi & \"you\"");
        assert_eq!(fields[TOKEN_FIELD], "v1.t1.abc.def");
    }

    #[test]
    fn real_oss_form_body_with_json_quotes_parses() {
        let body =
            br#"filename="local/var/www/zhuye.png"&size=5385&mimeType="application/octet-stream"&height=256"#;
        let fields = parse_body(CallbackBodyType::FormUrlEncoded, body).unwrap();
        assert_eq!(fields["filename"], "local/var/www/zhuye.png");
        assert_eq!(fields["size"], "5385");
    }

    #[test]
    fn malformed_bodies_are_errors_not_panics() {
        assert!(parse_body(CallbackBodyType::Json, b"[1,2]").is_err());
        assert!(parse_body(CallbackBodyType::Json, b"{").is_err());
        assert!(parse_body(CallbackBodyType::FormUrlEncoded, &[0xff, 0xfe]).is_ok());
    }
}
