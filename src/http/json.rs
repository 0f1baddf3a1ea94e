//! A JSON body extractor like `web::Json`, whose errors name the field to fix: serde_json alone
//! says `invalid type: string "big", expected u64 at line 1 column 80`, this says
//! `size: expected a whole number, 0 or more, found the string "big"`.

use std::ops::Deref;

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{mime, web, FromRequest, HttpMessage, HttpRequest};
use futures_util::future::LocalBoxFuture;
use serde::de::DeserializeOwned;

use super::input_errors;
use crate::error::ApiError;

pub struct Json<T>(pub T);

impl<T> Json<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> Deref for Json<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

/// `application/json` or any `+json` type, as `web::Json` accepts.
fn is_json(req: &HttpRequest) -> bool {
    req.mime_type().ok().flatten().is_some_and(|m| {
        m.type_() == mime::APPLICATION && (m.subtype() == mime::JSON || m.suffix() == Some(mime::JSON))
    })
}

impl<T: DeserializeOwned + 'static> FromRequest for Json<T> {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        if !is_json(req) {
            let err = ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "expected Content-Type: application/json",
            );
            return Box::pin(async move { Err(err.into()) });
        }
        // The body limit is the app's `PayloadConfig`; going over it answers 413 with the limit.
        let body = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            let body = body.await?;
            parse(&body).map(Json).map_err(Into::into)
        })
    }
}

/// One pass over the bytes, as `web::Json` does, tracking where in the document serde is.
fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|err| {
        let path = err.path().to_string();
        // `.` is the document itself: no field to name.
        let field = Some(path.as_str()).filter(|p| *p != "." && !p.is_empty());
        let message = input_errors::json_message_at(err.inner(), field);
        ApiError::bad_request("invalid_json", message)
    })?;
    de.end()
        .map_err(|err| ApiError::bad_request("invalid_json", input_errors::json_message(&err)))?;
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Upload {
        size: u64,
        vars: std::collections::BTreeMap<String, String>,
    }

    #[test]
    fn errors_name_the_field() {
        let err = parse::<Upload>(br#"{"size":"big","vars":{}}"#).unwrap_err();
        assert!(err.message.starts_with("size: "), "{}", err.message);
        assert!(err.message.contains("expected a whole number"), "{}", err.message);
        let err = parse::<Upload>(br#"{"size":1,"vars":{"a":5}}"#).unwrap_err();
        assert!(err.message.starts_with("vars.a: "), "{}", err.message);
        let err = parse::<Upload>(br#"{"size":1,"vars":{}} x"#).unwrap_err();
        assert_eq!(err.code, "invalid_json");
        assert!(parse::<Upload>(br#"{"size":1,"vars":{}}"#).is_ok());
    }
}
