//! Finds, before any handler runs, a path or query string that decodes to a NUL byte or to
//! invalid UTF-8. Postgres cannot store or compare text holding U+0000 (a query with one fails),
//! and serde decodes invalid UTF-8 lossily into U+FFFD, so either would otherwise reach a handler
//! as a value the client never sent: one check covers every route and parameter. The edge runs it
//! on every request (`middleware::unusable_input`); a route with an error shape of its own runs it
//! itself.

use percent_encoding::percent_decode;

use crate::error::ApiError;

/// What is wrong with one decoded component, if anything.
fn flaw(raw: &[u8]) -> Option<&'static str> {
    let decoded: Vec<u8> = percent_decode(raw).collect();
    if decoded.contains(&0) {
        Some("contains a NUL byte (%00)")
    } else if std::str::from_utf8(&decoded).is_err() {
        Some("is not valid UTF-8")
    } else {
        None
    }
}

/// Refuses the first unusable component of a request's raw path and query string.
pub fn check(path: &str, query: &str) -> Result<(), ApiError> {
    if let Some(why) = flaw(path.as_bytes()) {
        return Err(ApiError::bad_request("invalid_path", format!("the path {why}")));
    }
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let name_flaw = flaw(name.as_bytes());
        let shown = if name_flaw.is_some() {
            "a parameter name".to_string()
        } else {
            // Valid UTF-8 by now; `+` is a space in a query string.
            let name = percent_decode(name.as_bytes())
                .decode_utf8_lossy()
                .replace('+', " ");
            format!("parameter `{name}`")
        };
        if let Some(why) = name_flaw.or_else(|| flaw(value.as_bytes())) {
            return Err(ApiError::bad_request("invalid_query", format!("{shown} {why}")));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check;

    #[test]
    fn nul_and_invalid_utf8_are_named() {
        assert!(check(
            "/v1/records/uploads",
            "profile=avatar&key_prefix=a%2Fb&x=%E7%85%A7"
        )
        .is_ok());
        let err = check("/v1/records/uploads", "limit=1&profile=%00").unwrap_err();
        assert_eq!(err.code, "invalid_query");
        assert!(err.message.contains("`profile`"), "{}", err.message);
        let err = check("/v1/records/uploads", "user%5Fid=%FF").unwrap_err();
        assert!(
            err.message.contains("`user_id`") && err.message.contains("UTF-8"),
            "{}",
            err.message
        );
        assert_eq!(
            check("/v1/records/uploads", "%00=1").unwrap_err().code,
            "invalid_query"
        );
        assert_eq!(
            check("/v1/records/uploads/a%00b", "").unwrap_err().code,
            "invalid_path"
        );
        assert_eq!(
            check("/v1/records/uploads/%C3", "").unwrap_err().code,
            "invalid_path"
        );
    }
}
