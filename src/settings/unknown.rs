//! Keys no setting reads: a typo such as `APP__SERVER__PROT` would otherwise be ignored silently
//! and the default used. Each is reported with the closest known key at the same place.

use std::collections::HashMap;

use serde_json::Value;

use super::SettingsError;

/// Optional keys that the committed files leave unset, so the merged configuration cannot show
/// them as neighbours of a typo.
const UNSET_KEYS: &[&str] = &[
    "callback.url",
    "callback.host",
    "callback.public_key_pem_file",
    "oss.access_key_secret",
    "oss.access_key_secret_file",
    "log.format",
];

/// The error for one unknown `path` (dotted, as the config crate spells it): named as the
/// environment variable that set it, if one did, with the closest known neighbour.
pub(super) fn unknown_key(path: &str, merged: &Value, env_vars: &HashMap<String, String>) -> SettingsError {
    let as_env = |p: &str| format!("APP__{}", p.replace('.', "__").to_ascii_uppercase());
    let from_env = env_vars.keys().any(|k| k.eq_ignore_ascii_case(&as_env(path)));
    let (parent, leaf) = path.rsplit_once('.').unwrap_or(("", path));
    let mut known: Vec<String> = neighbours(merged, parent)
        .into_iter()
        .map(|k| {
            if parent.is_empty() {
                k
            } else {
                format!("{parent}.{k}")
            }
        })
        .collect();
    known.extend(
        UNSET_KEYS
            .iter()
            .filter(|k| k.rsplit_once('.').is_some_and(|(p, _)| p == parent))
            .map(|k| k.to_string()),
    );
    let closest = known
        .iter()
        .filter(|k| k.as_str() != path)
        .map(|k| (strsim::jaro_winkler(leaf, k.rsplit('.').next().unwrap_or(k)), k))
        .filter(|(score, _)| *score > 0.7)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, k)| k);
    let (key, hint) = match (from_env, closest) {
        (true, Some(k)) => (as_env(path), format!("did you mean {}?", as_env(k))),
        (true, None) => (as_env(path), "no setting reads it; remove it".to_string()),
        (false, Some(k)) => (path.to_string(), format!("did you mean `{k}`?")),
        (false, None) => (path.to_string(), "no setting reads it; remove it".to_string()),
    };
    SettingsError::Unknown { key, hint }
}

/// The keys under `parent` (dotted) in the merged configuration.
fn neighbours(merged: &Value, parent: &str) -> Vec<String> {
    let mut node = merged;
    for part in parent.split('.').filter(|p| !p.is_empty()) {
        match node.get(part) {
            Some(next) => node = next,
            None => return Vec::new(),
        }
    }
    node.as_object()
        .map(|map| map.keys().cloned().collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_the_closest_neighbour() {
        let merged = serde_json::json!({"server": {"port": 1, "host": "x", "workers": 0}});
        let env = HashMap::from([("APP__SERVER__PROT".to_string(), "9000".to_string())]);
        let err = unknown_key("server.prot", &merged, &env).to_string();
        assert!(err.contains("APP__SERVER__PROT"), "{err}");
        assert!(err.contains("did you mean APP__SERVER__PORT?"), "{err}");
        let err = unknown_key("server.zzzzzz", &merged, &HashMap::new()).to_string();
        assert!(
            err.contains("`server.zzzzzz`") && !err.contains("did you mean"),
            "{err}"
        );
    }
}
