//! Content types as profiles judge them: one normal form and one rule for `type/*` entries.

/// Types a browser renders as a document that can run script, when served from the bucket.
const SCRIPTABLE_TYPES: &[&str] = &[
    "image/svg+xml",
    "text/html",
    "application/xhtml+xml",
    "text/xml",
    "application/xml",
    "text/javascript",
    "application/javascript",
];

/// Lowercase MIME essence, parameters dropped: `Image/JPEG; q=1` -> `image/jpeg`; `None` unless
/// it is `type/subtype` made of token characters.
pub fn normalise(raw: &str) -> Option<String> {
    let essence = essence(raw);
    let (major, minor) = essence.split_once('/')?;
    let token = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
    };
    (token(major) && token(minor)).then_some(essence)
}

/// The lowercase part before any parameters, as stored objects report it (not checked further:
/// a stored object's type is judged, not refused).
pub fn essence(raw: &str) -> String {
    raw.split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

/// `content_type` is a normalised essence; entries are exact types or `type/*`. A wildcard never
/// admits a type a browser would run script from (`image/*` is not meant to let `image/svg+xml`
/// through): only an exact entry does.
pub fn allowed(entries: &[String], content_type: &str) -> bool {
    entries.iter().any(|allowed| {
        let allowed = allowed.to_ascii_lowercase();
        match allowed.strip_suffix("/*") {
            Some(major) => {
                !SCRIPTABLE_TYPES.contains(&content_type)
                    && content_type
                        .split_once('/')
                        .is_some_and(|(m, sub)| m == major && !sub.is_empty())
            }
            None => allowed == content_type,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types_normalise() {
        assert_eq!(normalise("Image/JPEG; q=1").as_deref(), Some("image/jpeg"));
        assert_eq!(normalise("image"), None);
        assert_eq!(normalise("image/"), None);
        assert_eq!(normalise("a b/c"), None);
    }

    #[test]
    fn wildcards_never_admit_scriptable_types() {
        let entries = ["image/*".to_string(), "text/html".to_string()];
        assert!(allowed(&entries, "image/png"));
        assert!(!allowed(&entries, "image/svg+xml"));
        assert!(allowed(&entries, "text/html"), "an exact entry does");
        assert!(!allowed(&entries, "image"));
        assert!(!allowed(&entries, "video/mp4"));
    }
}
