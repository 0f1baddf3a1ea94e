//! Messages for malformed input that name what to fix in the client's terms (JSON and query
//! parameters), never in Rust's: serde says `expected i64` or `struct UploadRequest with 5 elements`.

use serde_json::error::Category;

/// A JSON body that did not parse or did not fit the expected shape.
pub fn json_message(err: &serde_json::Error) -> String {
    json_message_at(err, None)
}

/// The same, naming the field (`size`, `vars.caption`) a shape error is about, when known.
pub fn json_message_at(err: &serde_json::Error, field: Option<&str>) -> String {
    let raw = err.to_string();
    // serde_json appends the position; keep it, in words.
    let text = raw.rsplit_once(" at line ").map(|(text, _)| text).unwrap_or(&raw);
    let at = format!("(line {}, column {})", err.line(), err.column());
    match err.classify() {
        Category::Data => match field {
            Some(field) => format!("{field}: {} {at}", plain(text)),
            None => format!("invalid request body: {} {at}", plain(text)),
        },
        Category::Eof => format!("the request body ends too early: {} {at}", plain(text)),
        Category::Syntax | Category::Io => format!("the request body is not valid JSON: {text} {at}"),
    }
}

/// Rewrites serde's `invalid type: X, expected Y` / `invalid value: X, expected Y` wording.
pub fn plain(text: &str) -> String {
    for lead in ["invalid type: ", "invalid value: "] {
        if let Some(rest) = text.strip_prefix(lead) {
            if let Some((found, expected)) = rest.split_once(", expected ") {
                return format!(
                    "expected {}, found {}",
                    expected_in_words(expected),
                    found_in_words(found)
                );
            }
        }
    }
    if let Some(rest) = text.strip_prefix("invalid length ") {
        if let Some((_, expected)) = rest.split_once(", expected ") {
            return format!("expected {}", expected_in_words(expected));
        }
    }
    text.to_string()
}

/// What serde expected, as a JSON author would say it.
fn expected_in_words(expected: &str) -> String {
    let e = expected.trim();
    match e {
        "i8" | "i16" | "i32" | "i64" | "i128" | "isize" => "a whole number".into(),
        "u8" | "u16" | "u32" | "u64" | "u128" | "usize" => "a whole number, 0 or more".into(),
        "f32" | "f64" => "a number".into(),
        "a borrowed string" | "a string" | "a char" | "a character" => "a string".into(),
        "a boolean" | "bool" => "true or false".into(),
        "a sequence" => "an array".into(),
        "a map" => "an object".into(),
        _ if e.starts_with("struct ") || e.starts_with("tuple struct ") => "an object".into(),
        _ if e.starts_with("enum ") || e.starts_with("variant identifier") => {
            "one of the allowed values".into()
        }
        _ if e.starts_with("a valid date and time") || e.contains("RFC 3339") => {
            "an RFC 3339 time, e.g. 2026-12-04T00:00:00Z".into()
        }
        other => other.to_string(),
    }
}

/// What was found instead: `string "abc"`, `integer `-1``, `map`, ...
fn found_in_words(found: &str) -> String {
    let f = found.trim();
    let unticked = |s: &str| s.trim_matches('`').to_string();
    if let Some(v) = f.strip_prefix("string ") {
        return format!("the string {v}");
    }
    for kind in ["integer ", "floating point "] {
        if let Some(v) = f.strip_prefix(kind) {
            return format!("the number {}", unticked(v));
        }
    }
    if let Some(v) = f.strip_prefix("boolean ") {
        return unticked(v);
    }
    match f {
        "map" => "an object".into(),
        "sequence" => "an array".into(),
        "unit value" | "null" => "null".into(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct UploadRequest {
        size: i64,
        name: String,
        count: u32,
    }

    fn message(body: &str) -> String {
        json_message(&serde_json::from_str::<UploadRequest>(body).unwrap_err())
    }

    #[test]
    fn no_rust_type_names() {
        let cases = [
            (
                r#"{"size":"abc","name":"x","count":1}"#,
                "expected a whole number, found the string \"abc\"",
            ),
            (
                r#"{"size":1,"name":"x","count":-1}"#,
                "expected a whole number, 0 or more, found the number -1",
            ),
            (r#"[]"#, "expected an object"),
            (
                r#"{"size":1,"name":5,"count":1}"#,
                "expected a string, found the number 5",
            ),
            (r#"{"size":1,"count":1}"#, "missing field `name`"),
        ];
        for (body, wanted) in cases {
            let m = message(body);
            assert!(m.contains(wanted), "{body}: {m}");
            for rust in ["i64", "u32", "struct", "UploadRequest", "elements"] {
                assert!(!m.contains(rust), "{body}: {m}");
            }
        }
        assert!(message("{").contains("ends too early"));
    }
}
