//! The contract, served: `/openapi.yaml` (the committed file, byte for byte), `/openapi.json`,
//! and `/docs`, the API reference: a pinned Redoc bundle vendored into the binary
//! (`src/ops/redoc`, fetched by `.ci/vendor-redoc`), so the page needs no CDN and no network.

use std::sync::OnceLock;

use actix_web::http::header;
use actix_web::{HttpResponse, ResponseError};
use serde_json::Value;

/// The committed contract: the same bytes CI fuzzes the server against.
pub const OPENAPI_YAML: &str = include_str!("../../openapi.yaml");

/// Redoc's standalone bundle, as `src/ops/redoc/SHA256SUMS` records it.
const REDOC_JS: &[u8] = include_bytes!("redoc/redoc.standalone.js");
const REDOC_VERSION: &str = include_str!("redoc/VERSION");

/// The bundle's route.
pub const REDOC_ROUTE: &str = "/docs/redoc.standalone.js";

/// Where the page loads the bundle from: the version in the URL lets browsers cache it for good.
fn redoc_src() -> String {
    format!("{REDOC_ROUTE}?v={}", REDOC_VERSION.trim())
}

/// The contract as JSON. `None` only if the committed file does not parse, which a unit test rules out.
pub fn spec() -> Option<&'static Value> {
    static SPEC: OnceLock<Option<Value>> = OnceLock::new();
    SPEC.get_or_init(|| serde_norway::from_str(OPENAPI_YAML).ok())
        .as_ref()
}

pub async fn openapi_yaml() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/yaml")
        .body(OPENAPI_YAML)
}

pub async fn openapi_json() -> HttpResponse {
    match spec() {
        Some(spec) => HttpResponse::Ok().json(spec),
        None => crate::error::ApiError::internal("openapi.yaml does not parse").error_response(),
    }
}

/// Nothing but this origin: the page works offline and a vendored bundle cannot phone home.
/// Redoc styles with inline `<style>` (styled-components) and searches in a `blob:` worker; the
/// logo its sidebar links from cdn.redoc.ly is blocked (the image hides itself).
const DOCS_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data:; font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; \
     base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

pub async fn docs() -> HttpResponse {
    static PAGE: OnceLock<String> = OnceLock::new();
    let page = PAGE.get_or_init(page);
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CONTENT_SECURITY_POLICY, DOCS_CSP))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .body(page.as_str())
}

pub async fn redoc_js() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        // The page asks for it by version: a new bundle is a new URL.
        .insert_header((header::CACHE_CONTROL, "public, max-age=31536000, immutable"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .body(REDOC_JS)
}

/// Every option is an attribute: no inline script, so the CSP needs no `unsafe-inline` for scripts.
fn page() -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>upload-signer API reference</title>\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <style>body{{margin:0}}</style></head><body>\
         <noscript><p>The reference needs JavaScript. The contract itself: \
         <a href=\"/openapi.yaml\">openapi.yaml</a>, <a href=\"/openapi.json\">openapi.json</a>.</p></noscript>\
         <redoc spec-url=\"/openapi.json\" expand-responses=\"200,201\" schema-expansion-level=\"all\" \
         path-in-middle-panel=\"true\" required-props-first=\"true\" hide-hostname=\"false\" \
         expand-single-schema-field=\"true\" menu-toggle=\"true\"></redoc>\
         <script src=\"{}\"></script></body></html>",
        redoc_src()
    )
}

#[cfg(test)]
mod tests {
    use sha2::{Digest, Sha256};

    use super::*;

    #[test]
    fn the_committed_spec_parses() {
        let spec = spec().expect("openapi.yaml parses");
        assert_eq!(spec["openapi"], "3.1.0");
        assert!(spec["paths"]["/v1/uploads"]["post"].is_object());
    }

    /// The embedded bundle is the one `.ci/vendor-redoc` recorded, not an edited copy.
    #[test]
    fn the_embedded_bundle_matches_its_recorded_checksum() {
        let sums = include_str!("redoc/SHA256SUMS");
        let recorded = sums
            .lines()
            .find_map(|l| l.strip_suffix("  redoc.standalone.js"))
            .expect("SHA256SUMS lists redoc.standalone.js");
        assert_eq!(hex::encode(Sha256::digest(REDOC_JS)), recorded);
        assert!(
            redoc_src().starts_with("/docs/redoc.standalone.js?v=2."),
            "{}",
            redoc_src()
        );
    }

    #[test]
    fn the_page_loads_only_the_local_bundle() {
        let page = page();
        assert!(page.contains(&format!("<script src=\"{}\">", redoc_src())));
        assert!(!page.contains("http://") && !page.contains("https://"), "{page}");
    }
}
