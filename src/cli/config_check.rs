//! `config check`: the merged configuration as TOML an operator can read and paste, secrets
//! redacted, and the development defaults still in use named with the variable that replaces each.

use serde_json::Value;

use crate::settings::{redact_url, Settings};

/// Keys whose values are never printed.
fn is_secret(key: &str) -> bool {
    key == "secret" || key.ends_with("_secret") || key.contains("password")
}

fn redact(value: &mut Value, path: &str) {
    match value {
        Value::Object(map) => {
            map.retain(|_, v| !v.is_null());
            for (key, v) in map.iter_mut() {
                let child = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                if is_secret(key) && !v.is_null() {
                    *v = Value::String("***".into());
                } else if child == "database.url" {
                    *v = Value::String(redact_url(v.as_str().unwrap_or_default()));
                } else {
                    redact(v, &child);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| redact(v, path)),
        _ => {}
    }
}

/// The report: a header, the TOML, and the development defaults as trailing comments.
pub fn render(settings: &Settings, layers: config::Config) -> anyhow::Result<String> {
    let mut tree: Value = layers.try_deserialize()?;
    redact(&mut tree, "");
    let toml = toml::to_string_pretty(&toml::Value::try_from(tree)?)?;
    let mut out = format!(
        "# The configuration is valid (APP_ENV={}). Secrets show as \"***\".\n\n{toml}",
        settings.env.as_str()
    );
    let defaults = settings.development_defaults();
    if !defaults.is_empty() {
        out.push_str("\n# Development defaults in use (fine locally; set these before production):\n");
        let width = defaults.iter().map(|d| d.key.len()).max().unwrap_or(0);
        for d in &defaults {
            out.push_str(&format!("#   {:<width$}  {}\n", d.key, d.variable));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn secrets_are_redacted_and_defaults_named() {
        let dir = std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/config"));
        let env = HashMap::from([
            (
                "APP__OSS__ACCESS_KEY_SECRET".to_string(),
                "very-secret-value".to_string(),
            ),
            ("DATABASE_URL".to_string(), "postgres://u:pw@h/db".to_string()),
        ]);
        let settings = Settings::load(&dir, &env).unwrap();
        let (_, layers) = Settings::layers(&dir, &env).unwrap();
        let out = render(&settings, layers).unwrap();
        assert!(
            !out.contains("very-secret-value") && !out.contains(":pw@"),
            "{out}"
        );
        assert!(out.contains("[server]") && out.contains("port = 8080"), "{out}");
        assert!(out.contains("access_key_secret = \"***\""), "{out}");
        assert!(out.contains("APP__AUTH__KEYS__K1__SECRET"), "{out}");
        assert!(!out.contains("APP__OSS__ACCESS_KEY_SECRET"), "{out}");
        toml::from_str::<toml::Table>(&out).expect("the report is valid TOML");
    }
}
