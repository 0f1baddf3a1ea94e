//! The page frame: escaping, the one stylesheet, and the headers every `/ui` answer carries.

use std::sync::OnceLock;

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, HttpResponseBuilder};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use sha2::{Digest, Sha256};

use crate::error::ErrorCode;

/// Escapes text for an element or a quoted attribute.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "\
body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#1d2330;background:#f6f7f9}\
header{background:#1d2330;color:#fff;padding:.6rem 1.2rem;display:flex;gap:1rem;align-items:center}\
header h1{font-size:1.05rem;margin:0;flex:1}header form{margin:0}\
main{padding:1rem 1.2rem;max-width:88rem}\
section{background:#fff;border:1px solid #dfe3ea;border-radius:6px;padding:.8rem 1rem;margin:0 0 1rem}\
h2{font-size:1rem;margin:0 0 .6rem}\
table{border-collapse:collapse;width:100%;font-size:13px}\
th,td{text-align:left;padding:.3rem .5rem;border-bottom:1px solid #eef0f4;vertical-align:top}\
th{color:#5a6275;font-weight:600}td.n{text-align:right;font-variant-numeric:tabular-nums}\
code{font:12px ui-monospace,monospace}\
.filters{display:flex;flex-wrap:wrap;gap:.5rem .8rem;align-items:end}\
.filters label{display:flex;flex-direction:column;font-size:12px;color:#5a6275}\
input,select,button{font:inherit;padding:.25rem .4rem}\
button{background:#2f6fdf;color:#fff;border:0;border-radius:4px;padding:.35rem .8rem;cursor:pointer}\
header button{background:#444c5e}\
.facts{display:flex;gap:2rem;flex-wrap:wrap}.facts div b{display:block;font-size:1.4rem}\
.error{background:#fdecec;border-color:#f3b4b4;color:#8a1f1f}\
.muted{color:#6b7385}.st-completed{color:#17803d}.st-rejected{color:#b42318}.st-pending{color:#9a6700}\
.charts{display:flex;gap:1.5rem;flex-wrap:wrap}.charts figure{margin:0}\
.charts figcaption{font-size:12px;color:#5a6275}\
svg .bar{fill:#2f6fdf}svg .bytes{fill:#7a5af8}svg text{font:10px system-ui,sans-serif;fill:#5a6275}\
svg .axis{stroke:#c9ced8}\
.login{max-width:28rem;margin:4rem auto}.login input{width:100%;box-sizing:border-box;margin:.4rem 0 .8rem}";

/// Scripts and every other origin are off; the one inline stylesheet is allowed by its hash.
fn csp() -> &'static str {
    static CSP: OnceLock<String> = OnceLock::new();
    CSP.get_or_init(|| {
        let hash = STANDARD.encode(Sha256::digest(STYLE.as_bytes()));
        format!(
            "default-src 'none'; style-src 'sha256-{hash}'; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'"
        )
    })
}

/// The headers of every `/ui` answer: the page shows records, so it is never cached or framed.
fn respond(status: StatusCode) -> HttpResponseBuilder {
    let mut builder = HttpResponse::build(status);
    builder
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::CONTENT_SECURITY_POLICY, csp()))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        // Not `no-referrer`: with it, browsers send `Origin: null` on the page's own form posts.
        .insert_header((header::REFERRER_POLICY, "same-origin"));
    builder
}

/// A page as the answer; an error page carries its code (the access log reads it, and it marks
/// the answer as ours, so it stays HTML).
pub fn answer(status: StatusCode, code: Option<&'static str>, page: String) -> HttpResponse {
    let mut response = respond(status).body(page);
    if let Some(code) = code {
        response.extensions_mut().insert(ErrorCode(code));
    }
    response
}

/// A whole page around `body`.
pub fn document(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{} · upload-signer</title><style>{STYLE}</style></head><body>{body}</body></html>",
        esc(title)
    )
}

/// Bytes for people: `1.5 MiB`.
pub fn bytes(n: i64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value.abs() >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_for_elements_and_attributes() {
        assert_eq!(
            esc("<script>\"a\" & 'b'</script>"),
            "&lt;script&gt;&quot;a&quot; &amp; &#39;b&#39;&lt;/script&gt;"
        );
    }

    #[test]
    fn sizes_read_naturally() {
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(1023), "1023 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(20 * 1024 * 1024), "20.0 MiB");
    }

    #[test]
    fn the_policy_allows_exactly_the_inline_stylesheet() {
        let csp = csp();
        assert!(csp.starts_with("default-src 'none'; style-src 'sha256-"), "{csp}");
        assert!(!csp.contains("unsafe") && !csp.contains("script-src"), "{csp}");
    }
}
