//! RAM policies as OSS evaluates an STS session's inline policy: `Allow`/`Deny` statements over
//! `oss:` actions and `acs:oss:*:*:bucket/key` resources with `*` and `?` wildcards. Any matching
//! Deny denies, else any matching Allow allows, else the request is implicitly denied.
//!
//! Pure: parsed once when AssumeRole mints the token, evaluated on every object request.

use serde_json::Value;

/// The OSS actions the emulator's operations need, named as RAM names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// PutObject, PostObject, InitiateMultipartUpload, UploadPart, CompleteMultipartUpload.
    PutObject,
    /// GetObject, HeadObject.
    GetObject,
    DeleteObject,
    AbortMultipartUpload,
    ListParts,
    /// Bucket-level: matched against `acs:oss:*:*:bucket`.
    ListMultipartUploads,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::PutObject => "oss:PutObject",
            Action::GetObject => "oss:GetObject",
            Action::DeleteObject => "oss:DeleteObject",
            Action::AbortMultipartUpload => "oss:AbortMultipartUpload",
            Action::ListParts => "oss:ListParts",
            Action::ListMultipartUploads => "oss:ListMultipartUploads",
        }
    }
}

/// The ARN RAM matches a request against: the object for object actions, the bucket otherwise.
pub fn resource_arn(bucket: &str, key: Option<&str>) -> String {
    match key {
        Some(key) => format!("acs:oss:*:*:{bucket}/{key}"),
        None => format!("acs:oss:*:*:{bucket}"),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Effect {
    Allow,
    Deny,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Statement {
    effect: Effect,
    actions: Vec<String>,
    resources: Vec<String>,
}

/// A parsed policy document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    statements: Vec<Statement>,
}

/// What evaluation decided, and why when it refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    ExplicitDeny,
    ImplicitDeny,
}

/// A string or a list of strings, as RAM accepts for `Action` and `Resource`.
fn strings(v: &Value, what: &str) -> Result<Vec<String>, String> {
    let list = match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items
            .iter()
            .map(|i| i.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| format!("{what} must hold strings"))?,
        Value::Null => return Err(format!("a statement has no {what}")),
        _ => return Err(format!("{what} must be a string or a list of strings")),
    };
    if list.is_empty() {
        return Err(format!("{what} must not be empty"));
    }
    Ok(list)
}

impl Policy {
    /// Parses a policy document. Elements the emulator cannot evaluate (`Condition`, `NotAction`,
    /// `NotResource`, `Principal`) are refused rather than ignored: ignoring one would grant more
    /// than real OSS does.
    pub fn parse(json: &str) -> Result<Policy, String> {
        let doc: Value = serde_json::from_str(json).map_err(|e| format!("the policy is not JSON: {e}"))?;
        if doc.get("Version").and_then(Value::as_str) != Some("1") {
            return Err("the policy needs \"Version\": \"1\"".into());
        }
        let raw = match doc.get("Statement") {
            Some(Value::Array(s)) => s.clone(),
            Some(s @ Value::Object(_)) => vec![s.clone()],
            _ => return Err("the policy needs a Statement list".into()),
        };
        let mut statements = Vec::with_capacity(raw.len());
        for s in &raw {
            let obj = s.as_object().ok_or("each Statement must be an object")?;
            if let Some(other) = obj
                .keys()
                .find(|k| !matches!(k.as_str(), "Effect" | "Action" | "Resource"))
            {
                return Err(format!(
                    "the OSS emulator does not evaluate {other} in a Statement"
                ));
            }
            let effect = match obj.get("Effect").and_then(Value::as_str) {
                Some("Allow") => Effect::Allow,
                Some("Deny") => Effect::Deny,
                _ => return Err("Effect must be Allow or Deny".into()),
            };
            statements.push(Statement {
                effect,
                actions: strings(&s["Action"], "Action")?,
                resources: strings(&s["Resource"], "Resource")?,
            });
        }
        Ok(Policy { statements })
    }

    pub fn evaluate(&self, action: Action, resource: &str) -> Decision {
        let mut allowed = false;
        for s in &self.statements {
            let acts = s
                .actions
                .iter()
                .any(|a| wildcard_match(&a.to_ascii_lowercase(), &action.as_str().to_ascii_lowercase()));
            if !acts || !s.resources.iter().any(|r| wildcard_match(r, resource)) {
                continue;
            }
            match s.effect {
                Effect::Deny => return Decision::ExplicitDeny,
                Effect::Allow => allowed = true,
            }
        }
        if allowed {
            Decision::Allow
        } else {
            Decision::ImplicitDeny
        }
    }
}

/// RAM wildcards: `*` is any run of characters (`/` included), `?` exactly one character.
pub fn wildcard_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    // Where the last `*` was, and the text position it currently swallows up to.
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_follow_ram() {
        assert!(wildcard_match(
            "acs:oss:*:*:b/avatars/alice/*",
            "acs:oss:*:*:b/avatars/alice/x/y.png"
        ));
        assert!(wildcard_match(
            "acs:oss:*:*:b/avatars/alice/*",
            "acs:oss:*:*:b/avatars/alice/"
        ));
        assert!(!wildcard_match(
            "acs:oss:*:*:b/avatars/alice/*",
            "acs:oss:*:*:b/avatars/bob/x"
        ));
        assert!(!wildcard_match(
            "acs:oss:*:*:b/avatars/alice/*",
            "acs:oss:*:*:b/avatars/alice"
        ));
        assert!(wildcard_match("a?c", "abc"));
        assert!(!wildcard_match("a?c", "ac"));
        assert!(wildcard_match("*", ""));
        assert!(wildcard_match("a*b*c", "axxbyyc"));
        assert!(!wildcard_match("a*b*c", "axxbyy"));
        assert!(wildcard_match("oss:*", "oss:PutObject"));
    }

    #[test]
    fn deny_wins_then_allow_then_implicit_deny() {
        let p = Policy::parse(
            r#"{"Version":"1","Statement":[
                {"Effect":"Allow","Action":["oss:PutObject","oss:ListParts"],"Resource":"acs:oss:*:*:b/u/alice/*"},
                {"Effect":"Deny","Action":"oss:*","Resource":["acs:oss:*:*:b/u/alice/secret/*"]}]}"#,
        )
        .unwrap();
        let r = |k: &str| resource_arn("b", Some(k));
        assert_eq!(
            p.evaluate(Action::PutObject, &r("u/alice/a.png")),
            Decision::Allow
        );
        assert_eq!(
            p.evaluate(Action::ListParts, &r("u/alice/a.png")),
            Decision::Allow
        );
        assert_eq!(
            p.evaluate(Action::PutObject, &r("u/alice/secret/a")),
            Decision::ExplicitDeny
        );
        assert_eq!(
            p.evaluate(Action::PutObject, &r("u/bob/a.png")),
            Decision::ImplicitDeny
        );
        assert_eq!(
            p.evaluate(Action::GetObject, &r("u/alice/a.png")),
            Decision::ImplicitDeny
        );
        assert_eq!(
            p.evaluate(Action::ListMultipartUploads, &resource_arn("b", None)),
            Decision::ImplicitDeny
        );
        // Action names are case-insensitive in RAM.
        let lower = Policy::parse(
            r#"{"Version":"1","Statement":{"Effect":"Allow","Action":"OSS:putobject","Resource":"*"}}"#,
        )
        .unwrap();
        assert_eq!(lower.evaluate(Action::PutObject, &r("x")), Decision::Allow);
    }

    #[test]
    fn what_cannot_be_evaluated_is_refused() {
        for bad in [
            "not json",
            r#"{"Statement":[]}"#,
            r#"{"Version":"1"}"#,
            r#"{"Version":"1","Statement":[{"Effect":"Maybe","Action":"oss:*","Resource":"*"}]}"#,
            r#"{"Version":"1","Statement":[{"Effect":"Allow","Resource":"*"}]}"#,
            r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":[],"Resource":"*"}]}"#,
            r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"oss:*","Resource":"*","Condition":{}}]}"#,
            r#"{"Version":"1","Statement":[{"Effect":"Allow","NotAction":"oss:*","Resource":"*"}]}"#,
        ] {
            assert!(Policy::parse(bad).is_err(), "{bad}");
        }
    }
}
