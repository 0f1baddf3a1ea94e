//! Signing in to `/ui`: the API key is entered once and kept in a cookie that scripts cannot read
//! (`HttpOnly`), that no other site's request carries (`SameSite=Strict`), and that only `/ui`
//! receives. It is checked on every page like a bearer key; it is never logged or shown.

use actix_web::cookie::{time::Duration, Cookie, SameSite};
use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};

use super::html::{answer, document, esc};
use crate::auth::api_keys::{self, ApiKey};
use crate::error::ApiError;

pub const COOKIE: &str = "upload_signer_ui";
const SCOPE: &str = "uploads:read";

/// How long a browser keeps the key: a working day.
const LIFETIME: Duration = Duration::hours(10);

fn cookie(req: &HttpRequest, value: &str) -> Cookie<'static> {
    Cookie::build(COOKIE, value.to_string())
        .path("/ui")
        .http_only(true)
        .same_site(SameSite::Strict)
        // Over plain http (the local loop) a `Secure` cookie would never come back.
        .secure(req.connection_info().scheme() == "https")
        .max_age(LIFETIME)
        .finish()
}

fn removal(req: &HttpRequest) -> Cookie<'static> {
    let mut c = cookie(req, "");
    c.make_removal();
    c
}

/// Who is looking, from the cookie; `Err` is the page to show instead (the sign-in form).
pub async fn signed_in(req: &HttpRequest) -> Result<ApiKey, HttpResponse> {
    let Some(saved) = req.cookie(COOKIE) else {
        return Err(sign_in_page(
            StatusCode::UNAUTHORIZED,
            "missing_token",
            None,
            None,
        ));
    };
    match api_keys::verify(req, saved.value()).await {
        Ok(key) => match key.require(SCOPE) {
            Ok(()) => Ok(key),
            Err(e) => Err(sign_in_page(
                e.status,
                e.code,
                Some(&e.message),
                Some(removal(req)),
            )),
        },
        // A revoked key, or one from before a database reset: sign in again.
        Err(e) if e.status == StatusCode::UNAUTHORIZED => Err(sign_in_page(
            e.status,
            e.code,
            Some("the saved API key is no longer valid; enter another"),
            Some(removal(req)),
        )),
        Err(e) => Err(sign_in_page(e.status, e.code, Some(&e.message), None)),
    }
}

/// A form post from another site (login CSRF) is refused. Browsers say where a request comes
/// from in `Sec-Fetch-Site` (which pages cannot forge), older ones only in `Origin`; clients that
/// send neither are not browsers and cannot ride a victim's cookie.
fn cross_site(req: &HttpRequest) -> bool {
    let header = |name| req.headers().get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = header("sec-fetch-site") {
        return site != "same-origin" && site != "none";
    }
    match header("origin") {
        None => false,
        Some(origin) => {
            let host = origin.split_once("://").map(|(_, host)| host);
            host != Some(req.connection_info().host())
        }
    }
}

fn refused_cross_site() -> HttpResponse {
    sign_in_page(
        StatusCode::FORBIDDEN,
        "invalid_request",
        Some("sign in from this server's own /ui page"),
        None,
    )
}

/// `POST /ui/login`, form field `api_key`.
pub async fn login(req: HttpRequest, body: web::Bytes) -> HttpResponse {
    if cross_site(&req) {
        return refused_cross_site();
    }
    let form: Vec<(String, String)> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let entered = form
        .iter()
        .find(|(name, _)| name == "api_key")
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty());
    let Some(entered) = entered else {
        return sign_in_page(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            Some("enter an API key"),
            None,
        );
    };
    let checked: Result<ApiKey, ApiError> = async {
        let key = api_keys::verify(&req, entered).await?;
        key.require(SCOPE)?;
        Ok(key)
    }
    .await;
    match checked {
        Ok(key) => {
            tracing::info!(key_id = %key.id, key_name = %key.name, "signed in to /ui");
            HttpResponse::SeeOther()
                .insert_header((header::LOCATION, "/ui"))
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .cookie(cookie(&req, entered))
                .finish()
        }
        Err(e) => sign_in_page(e.status, e.code, Some(&e.message), None),
    }
}

/// `POST /ui/logout`: forgets the key.
pub async fn logout(req: HttpRequest) -> HttpResponse {
    if cross_site(&req) {
        return refused_cross_site();
    }
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/ui"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .cookie(removal(&req))
        .finish()
}

fn sign_in_page(
    status: StatusCode,
    code: &'static str,
    problem: Option<&str>,
    clear: Option<Cookie<'static>>,
) -> HttpResponse {
    let problem = problem
        .map(|p| format!("<section class=\"error\" role=\"alert\">{}</section>", esc(p)))
        .unwrap_or_default();
    let body = format!(
        "<main class=\"login\"><h1>upload-signer records</h1>{problem}<section>\
         <form method=\"post\" action=\"/ui/login\">\
         <label for=\"api_key\">API key with the <code>uploads:read</code> scope</label>\
         <input id=\"api_key\" name=\"api_key\" type=\"password\" autocomplete=\"off\" required \
         placeholder=\"usk_…\"><button type=\"submit\">Sign in</button></form>\
         <p class=\"muted\">An operator makes one with <code>upload-signer api-key create --name ops \
         --scope uploads:read</code>. This browser keeps it in a cookie for this page only.</p>\
         </section></main>"
    );
    let mut response = answer(status, Some(code), document("Sign in", &body));
    if let Some(c) = clear {
        // A cookie made here is always valid to add.
        let _ = response.add_cookie(&c);
    }
    response
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    #[test]
    fn only_this_sites_form_posts_count() {
        let req = |headers: &[(&str, &str)]| {
            let mut r = TestRequest::post()
                .uri("/ui/login")
                .insert_header(("host", "127.0.0.1:8080"));
            for (k, v) in headers {
                r = r.insert_header((*k, *v));
            }
            r.to_http_request()
        };
        assert!(!cross_site(&req(&[])));
        assert!(!cross_site(&req(&[
            ("origin", "http://127.0.0.1:8080"),
            ("sec-fetch-site", "same-origin")
        ])));
        assert!(cross_site(&req(&[("origin", "https://evil.example")])));
        assert!(cross_site(&req(&[("origin", "null")])));
        assert!(cross_site(&req(&[("sec-fetch-site", "cross-site")])));
        assert!(cross_site(&req(&[("sec-fetch-site", "same-site")])));
        // Chromium sends `Origin: null` on a same-origin post from a `no-referrer` page.
        assert!(!cross_site(&req(&[
            ("origin", "null"),
            ("sec-fetch-site", "same-origin")
        ])));
    }

    #[test]
    fn the_cookie_is_http_only_strict_and_for_ui_only() {
        let req = TestRequest::default().to_http_request();
        let c = cookie(&req, "usk_x");
        assert_eq!(c.http_only(), Some(true));
        assert_eq!(c.same_site(), Some(SameSite::Strict));
        assert_eq!(c.path(), Some("/ui"));
        assert_eq!(c.secure(), Some(false));
        let secure = TestRequest::default()
            .insert_header(("x-forwarded-proto", "https"))
            .to_http_request();
        assert_eq!(cookie(&secure, "usk_x").secure(), Some(true));
    }
}
