//! The contract, served: `/openapi.yaml` (the committed file, byte for byte), `/openapi.json`,
//! and `/docs`, a readable page rendered here from the same spec (no scripts, no CDN).

use std::fmt::Write;
use std::sync::OnceLock;

use actix_web::HttpResponse;
use serde_json::Value;

/// The committed contract: the same bytes CI fuzzes the server against.
pub const OPENAPI_YAML: &str = include_str!("../../openapi.yaml");

fn spec() -> &'static Value {
    static SPEC: OnceLock<Value> = OnceLock::new();
    SPEC.get_or_init(|| serde_yaml::from_str(OPENAPI_YAML).unwrap_or(Value::Null))
}

pub async fn openapi_yaml() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/yaml")
        .body(OPENAPI_YAML)
}

pub async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok().json(spec())
}

pub async fn docs() -> HttpResponse {
    static PAGE: OnceLock<String> = OnceLock::new();
    let page = PAGE.get_or_init(|| render(spec()));
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(page.as_str())
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn text(v: &Value) -> String {
    esc(v.as_str().unwrap_or(""))
}

/// `#/components/schemas/Name` -> `Name`, or the inline type.
fn type_of(schema: &Value) -> String {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let name = r.rsplit('/').next().unwrap_or(r);
        return format!("<a href=\"#schema-{0}\">{0}</a>", esc(name));
    }
    match schema.get("type") {
        Some(Value::String(t)) if t == "array" => format!("array of {}", type_of(&schema["items"])),
        Some(Value::String(t)) => esc(t),
        Some(Value::Array(ts)) => esc(&ts
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(" | ")),
        _ => "any".into(),
    }
}

fn render(spec: &Value) -> String {
    let mut h = String::new();
    let title = text(&spec["info"]["title"]);
    let _ = write!(
        h,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title} API</title>\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><style>\
         body{{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}}\
         code,pre{{font:13px ui-monospace,monospace;background:#f4f4f4;padding:.1rem .3rem;border-radius:3px}}\
         pre{{padding:.6rem;white-space:pre-wrap}} .op{{border:1px solid #ddd;border-radius:6px;padding:.5rem 1rem;margin:1rem 0}}\
         .m{{font-weight:700;text-transform:uppercase;margin-right:.5rem}} table{{border-collapse:collapse;width:100%}}\
         td,th{{border-bottom:1px solid #eee;text-align:left;padding:.25rem .5rem;vertical-align:top}}\
         </style></head><body><h1>{title} <small>{}</small></h1><p style=\"white-space:pre-wrap\">{}</p>\
         <p>Machine-readable: <a href=\"/openapi.yaml\">openapi.yaml</a> · <a href=\"/openapi.json\">openapi.json</a></p>",
        text(&spec["info"]["version"]),
        text(&spec["info"]["description"]),
    );
    h.push_str("<h2>Routes</h2>");
    if let Some(paths) = spec["paths"].as_object() {
        for (path, item) in paths {
            let Some(ops) = item.as_object() else { continue };
            for (method, op) in ops {
                render_operation(&mut h, path, method, op);
            }
        }
    }
    h.push_str("<h2>Schemas</h2>");
    if let Some(schemas) = spec["components"]["schemas"].as_object() {
        for (name, schema) in schemas {
            let _ = write!(h, "<div class=\"op\" id=\"schema-{0}\"><h3>{0}</h3>", esc(name));
            if let Some(d) = schema.get("description") {
                let _ = write!(h, "<p>{}</p>", text(d));
            }
            if let Some(props) = schema["properties"].as_object() {
                let required: Vec<&str> = schema["required"]
                    .as_array()
                    .map(|r| r.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                h.push_str("<table><tr><th>field</th><th>type</th><th>description</th></tr>");
                for (field, p) in props {
                    let req = if required.contains(&field.as_str()) {
                        " (required)"
                    } else {
                        ""
                    };
                    let _ = write!(
                        h,
                        "<tr><td><code>{}</code>{req}</td><td>{}</td><td>{}</td></tr>",
                        esc(field),
                        type_of(p),
                        text(&p["description"])
                    );
                }
                h.push_str("</table>");
            }
            h.push_str("</div>");
        }
    }
    h.push_str("</body></html>");
    h
}

fn render_operation(h: &mut String, path: &str, method: &str, op: &Value) {
    let _ = write!(
        h,
        "<div class=\"op\"><h3><span class=\"m\">{}</span><code>{}</code></h3><p><b>{}</b></p>",
        esc(method),
        esc(path),
        text(&op["summary"])
    );
    if let Some(d) = op.get("description") {
        let _ = write!(h, "<p style=\"white-space:pre-wrap\">{}</p>", text(d));
    }
    if let Some(sec) = op["security"].as_array() {
        let names: Vec<String> = sec
            .iter()
            .filter_map(Value::as_object)
            .flat_map(|o| o.keys().cloned())
            .collect();
        let _ = write!(h, "<p>Authentication: {}</p>", esc(&names.join(", ")));
    }
    if let Some(params) = op["parameters"].as_array().filter(|p| !p.is_empty()) {
        h.push_str("<table><tr><th>parameter</th><th>in</th><th>type</th><th>description</th></tr>");
        for p in params {
            let _ = write!(
                h,
                "<tr><td><code>{}</code>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                text(&p["name"]),
                if p["required"].as_bool() == Some(true) {
                    " (required)"
                } else {
                    ""
                },
                text(&p["in"]),
                type_of(&p["schema"]),
                text(&p["description"])
            );
        }
        h.push_str("</table>");
    }
    if let Some(content) = op["requestBody"]["content"].as_object() {
        for (media, c) in content {
            let _ = write!(
                h,
                "<p>Body (<code>{}</code>): {}</p>",
                esc(media),
                type_of(&c["schema"])
            );
        }
    }
    if let Some(responses) = op["responses"].as_object() {
        h.push_str("<table><tr><th>status</th><th>meaning</th></tr>");
        for (status, r) in responses {
            let described = match r.get("$ref").and_then(Value::as_str) {
                Some(reference) => {
                    let name = reference.rsplit('/').next().unwrap_or(reference);
                    text(&spec()["components"]["responses"][name]["description"])
                }
                None => text(&r["description"]),
            };
            let _ = write!(h, "<tr><td>{}</td><td>{described}</td></tr>", esc(status));
        }
        h.push_str("</table>");
    }
    h.push_str("</div>");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_committed_spec_parses_and_renders() {
        let spec = spec();
        assert_eq!(spec["openapi"], "3.1.0");
        let page = render(spec);
        assert!(page.contains("/v1/uploads") && page.contains("schema-UploadCredential"));
        assert!(!page.contains("<script"));
    }
}
