//! What we ask STS for: the inline policy narrowing the role to one user's uploads, and the
//! session name that shows up in audit logs. Pure functions.

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::StsError;

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Policy<'a> {
    version: &'static str,
    statement: [Statement<'a>; 1],
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Statement<'a> {
    effect: &'static str,
    action: &'static [&'static str],
    resource: [&'a str; 1],
}

/// `*` (and `?`) are RAM wildcards: a key or prefix holding one would grant more than meant.
fn check_literal(what: &str) -> Result<(), StsError> {
    if what.contains(['*', '?']) {
        return Err(StsError::Scope(what.to_string()));
    }
    Ok(())
}

/// Every key under `prefix` in `bucket`: `acs:oss:*:*:{bucket}/{prefix}*`.
pub fn prefix_resource(bucket: &str, prefix: &str) -> Result<String, StsError> {
    check_literal(bucket)?;
    check_literal(prefix)?;
    Ok(format!("acs:oss:*:*:{bucket}/{prefix}*"))
}

/// Exactly one key: `acs:oss:*:*:{bucket}/{key}`.
pub fn object_resource(bucket: &str, key: &str) -> Result<String, StsError> {
    check_literal(bucket)?;
    check_literal(key)?;
    Ok(format!("acs:oss:*:*:{bucket}/{key}"))
}

/// What an upload needs: `oss:PutObject` covers PutObject, PostObject and the multipart
/// initiate, part and complete calls; a resumable upload also lists its parts when it resumes
/// and aborts when it gives up. Nothing reads, deletes or lists the bucket.
pub const UPLOAD_ACTIONS: &[&str] = &["oss:PutObject", "oss:ListParts", "oss:AbortMultipartUpload"];

/// The inline policy: the upload actions on `resource`, nothing else. STS grants the
/// intersection of this and the role's own policy, so the role can stay broad while each user
/// gets one prefix. (The role must allow these actions too.)
pub fn upload_policy(resource: &str) -> String {
    let policy = Policy {
        version: "1",
        statement: [Statement {
            effect: "Allow",
            action: UPLOAD_ACTIONS,
            resource: [resource],
        }],
    };
    serde_json::to_string(&policy).unwrap_or_default()
}

/// True if `prefix` (a template's user prefix for `encoded_user`) keeps users apart: the encoded
/// user id must be a whole path segment. `avatars/{user_id}{upload_id}` would give user `ab` a
/// prefix that also covers user `abc`'s keys; an empty prefix would cover the whole bucket.
pub fn prefix_isolates_user(prefix: &str, encoded_user: &str) -> bool {
    let complete_segments = prefix.rsplit_once('/').map(|(dirs, _)| dirs).unwrap_or("");
    !encoded_user.is_empty() && complete_segments.split('/').any(|seg| seg == encoded_user)
}

const SESSION_NAME_MIN: usize = 2;
const SESSION_NAME_MAX: usize = 32;

/// The conservative set (STS's documented pattern also admits `_`; a subset is always accepted).
fn session_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'@' | b'-')
}

/// `RoleSessionName`: the user id itself when it fits STS's rule (2 to 32 of `[A-Za-z0-9._@-]`),
/// else its allowed characters (at most 15) + `-` + 16 hex digits of its SHA-256. Deterministic,
/// so a user's sessions read the same in ActionTrail; the name only labels the session, the
/// policy is what scopes it.
pub fn role_session_name(user_id: &str) -> String {
    let fits =
        (SESSION_NAME_MIN..=SESSION_NAME_MAX).contains(&user_id.len()) && user_id.bytes().all(session_char);
    if fits {
        return user_id.to_string();
    }
    let digest = hex::encode(Sha256::digest(user_id.as_bytes()));
    let readable: String = user_id
        .bytes()
        .filter(|b| session_char(*b))
        .take(15)
        .map(char::from)
        .collect();
    let stem = if readable.is_empty() {
        "u"
    } else {
        readable.as_str()
    };
    format!("{stem}-{}", &digest[..16])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    const STS: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/vectors/sts-assume-role-vectors.json"
    ));

    /// The policies in the vectors were written the way Alibaba's docs show them; ours have the
    /// same shape and resource, with the resumable-upload actions beside `oss:PutObject`.
    #[test]
    fn policies_match_the_vectors() {
        let v: Value = serde_json::from_str(STS).unwrap();
        let policy = |i: usize| {
            let mut p: Value =
                serde_json::from_str(v["cases"][i]["input"]["Policy"].as_str().unwrap()).unwrap();
            assert_eq!(p["Statement"][0]["Action"], serde_json::json!(["oss:PutObject"]));
            p["Statement"][0]["Action"] = serde_json::json!(UPLOAD_ACTIONS);
            p
        };
        let ours = |s: String| serde_json::from_str::<Value>(&s).unwrap();
        let prefix = prefix_resource("demo-bucket", "uploads/u42/").unwrap();
        assert_eq!(ours(upload_policy(&prefix)), policy(1));
        let key = object_resource("demo-bucket", "avatars/7/01JD0000000000000000000000.jpg").unwrap();
        assert_eq!(ours(upload_policy(&key)), policy(2));
    }

    #[test]
    fn wildcards_are_refused() {
        assert!(prefix_resource("b", "a*/").is_err());
        assert!(object_resource("b", "a?b").is_err());
        assert!(object_resource("b*", "a").is_err());
    }

    #[test]
    fn prefixes_must_isolate_users() {
        assert!(prefix_isolates_user("avatars/alice/", "alice"));
        assert!(prefix_isolates_user("alice/avatar/x", "alice"));
        assert!(!prefix_isolates_user("avatars/alice", "alice"));
        assert!(!prefix_isolates_user("avatars/alice-", "alice"));
        assert!(!prefix_isolates_user("", "alice"));
        assert!(!prefix_isolates_user("avatars/", "alice"));
    }

    #[test]
    fn session_names_follow_the_rule() {
        assert_eq!(role_session_name("user-42"), "user-42");
        assert_eq!(role_session_name("u.alice@example"), "u.alice@example");
        for id in [
            "a",
            "",
            "auth0|1234567890",
            "中文用户",
            "app_user",
            &"x".repeat(33),
            "a/b c",
        ] {
            let name = role_session_name(id);
            assert!((2..=32).contains(&name.len()), "{id:?} -> {name:?}");
            assert!(name.bytes().all(session_char), "{id:?} -> {name:?}");
            assert_eq!(name, role_session_name(id), "deterministic");
        }
        assert_eq!(role_session_name("auth0|1234567890").len(), 15 + 1 + 16);
        assert!(role_session_name("auth0|1234567890").starts_with("auth01234567890-"));
        assert_ne!(role_session_name("a|b"), role_session_name("a/b"));
        assert!(role_session_name("中文用户").starts_with("u-"));
    }
}
