//! OSS error answers: the HTTP status plus the XML body OSS sends, with the request id.

use actix_web::http::StatusCode;
use actix_web::HttpResponse;

use signing::SigningError;

/// One OSS error: a status, OSS's code string and a message for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OssError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl OssError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        OssError {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn access_denied(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "AccessDenied", message)
    }

    pub fn invalid_argument(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "InvalidArgument", message)
    }

    pub fn invalid_object_name() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "InvalidObjectName",
            "The specified object is not valid.",
        )
    }

    pub fn no_such_key() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "NoSuchKey",
            "The specified key does not exist.",
        )
    }

    pub fn entity_too_large() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "EntityTooLarge",
            "Your proposed upload exceeds the maximum allowed size.",
        )
    }

    pub fn entity_too_small() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "EntityTooSmall",
            "Your proposed upload is smaller than the minimum allowed size.",
        )
    }

    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            "We encountered an internal error. Please try again.",
        )
    }

    /// The XML document OSS answers with. `host_id` is the Host the client addressed.
    pub fn to_xml(&self, request_id: &str, host_id: &str) -> String {
        error_xml(self.code, &self.message, request_id, host_id)
    }

    pub fn to_response(&self, request_id: &str, host_id: &str) -> HttpResponse {
        HttpResponse::build(self.status)
            .content_type("application/xml")
            .insert_header(("x-oss-ec", self.code))
            .body(self.to_xml(request_id, host_id))
    }
}

/// `<Error>` with the four elements OSS always sends.
pub fn error_xml(code: &str, message: &str, request_id: &str, host_id: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error>\n  <Code>{}</Code>\n  <Message>{}</Message>\n  \
         <RequestId>{}</RequestId>\n  <HostId>{}</HostId>\n</Error>\n",
        xml_escape(code),
        xml_escape(message),
        xml_escape(request_id),
        xml_escape(host_id)
    )
}

/// Escapes text for an XML element; control characters XML 1.0 cannot carry become `?`, so a
/// client-chosen key or host can never break the document.
pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('?'),
            c => out.push(c),
        }
    }
    out
}

/// How OSS reports a failed signature check of any scheme.
impl From<SigningError> for OssError {
    fn from(err: SigningError) -> Self {
        use SigningError as E;
        match err {
            E::UnknownAccessKey => Self::new(
                StatusCode::FORBIDDEN,
                "InvalidAccessKeyId",
                "The OSS Access Key Id you provided does not exist in our records.",
            ),
            E::SignatureMismatch => Self::new(
                StatusCode::FORBIDDEN,
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided. \
                 Check your key and signing method.",
            ),
            E::Expired => Self::access_denied("Request has expired."),
            E::RequestTimeSkewed => Self::new(
                StatusCode::FORBIDDEN,
                "RequestTimeTooSkewed",
                "The difference between the request time and the current time is too large.",
            ),
            E::Missing("signature") => {
                Self::access_denied("You have no right to access this object because of bucket acl.")
            }
            E::InvalidPolicy(_) | E::InvalidJson { what: "policy", .. } | E::InvalidBase64("policy") => {
                Self::new(StatusCode::BAD_REQUEST, "InvalidPolicyDocument", err.to_string())
            }
            other => Self::invalid_argument(other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_is_escaped_and_complete() {
        let e = OssError::invalid_argument("key <a&b> \"x\"\u{1}");
        let xml = e.to_xml("REQ1", "b.localhost:9000");
        assert!(xml.contains("<Code>InvalidArgument</Code>"), "{xml}");
        assert!(
            xml.contains("<Message>key &lt;a&amp;b&gt; &quot;x&quot;?</Message>"),
            "{xml}"
        );
        assert!(xml.contains("<RequestId>REQ1</RequestId>"));
        assert!(xml.contains("<HostId>b.localhost:9000</HostId>"));
    }

    #[test]
    fn signing_errors_map_to_oss_codes() {
        let code = |e: SigningError| OssError::from(e).code;
        assert_eq!(code(SigningError::SignatureMismatch), "SignatureDoesNotMatch");
        assert_eq!(code(SigningError::UnknownAccessKey), "InvalidAccessKeyId");
        assert_eq!(code(SigningError::Missing("signature")), "AccessDenied");
        assert_eq!(code(SigningError::Expired), "AccessDenied");
        assert_eq!(
            code(SigningError::InvalidPolicy("x".into())),
            "InvalidPolicyDocument"
        );
        assert_eq!(code(SigningError::Missing("Expires")), "InvalidArgument");
        assert_eq!(
            OssError::from(SigningError::SignatureMismatch).status,
            StatusCode::FORBIDDEN
        );
    }
}
