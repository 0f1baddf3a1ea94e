//! STS in the emulator: `AssumeRole` (checked as STS checks it: the caller's key and signature,
//! timestamp, nonce, role, session name, `DurationSeconds`, inline policy) minting `STS.`
//! credentials, and the authorization of every object request made with such credentials against
//! the session's policy. The role behind every session allows everything, so what a session may
//! do is exactly its inline policy, as with a broad role on real OSS.

use std::collections::HashMap;
use std::sync::Mutex;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use chrono::{DateTime, SecondsFormat, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

use super::errors::OssError;
use super::ram::{self, Action, Decision, Policy};
use super::sts_token::{Session, StsKey, TokenProblem, ACCESS_KEY_PREFIX};
use super::EmulatorState;
use signing::sts::{sign, string_to_sign, API_VERSION};
use signing::{ct_eq, parse_query, query_value};

/// STS's own bounds for `DurationSeconds` (the role's maximum session is one hour by default).
const MIN_DURATION: i64 = 900;
const MAX_DURATION: i64 = 3600;
const MAX_POLICY_CHARS: usize = 2048;
/// STS refuses a `Timestamp` this far from its clock, and a nonce seen within it.
const TIMESTAMP_WINDOW_SECS: i64 = 15 * 60;

/// The permanent keys that may call AssumeRole (the OSS key and the `[sts]` caller's key).
pub(crate) struct StsService {
    pub key: StsKey,
    callers: Vec<(String, SecretString)>,
    nonces: Mutex<HashMap<String, i64>>,
}

impl StsService {
    pub fn new(key: StsKey, callers: Vec<(String, SecretString)>) -> StsService {
        StsService {
            key,
            callers,
            nonces: Mutex::default(),
        }
    }

    /// The secret of a minted `STS.` access key id.
    pub fn secret_for(&self, access_key_id: &str) -> Option<String> {
        access_key_id
            .starts_with(ACCESS_KEY_PREFIX)
            .then(|| self.key.secret_for(access_key_id))
    }

    /// False if `nonce` was used within the timestamp window (then it is remembered).
    fn fresh_nonce(&self, nonce: &str, now: i64) -> bool {
        let mut seen = self.nonces.lock().unwrap_or_else(|p| p.into_inner());
        seen.retain(|_, at| now - *at <= 2 * TIMESTAMP_WINDOW_SECS);
        seen.insert(nonce.to_owned(), now).is_none()
    }
}

/// An STS error answer, in STS's JSON.
struct Fault {
    status: StatusCode,
    code: &'static str,
    message: String,
}

fn fault(status: u16, code: &'static str, message: impl Into<String>) -> Fault {
    Fault {
        status: StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
        code,
        message: message.into(),
    }
}

/// Whether a request on the service root is an STS call rather than an OSS one.
pub(crate) fn is_sts_call(req: &HttpRequest) -> bool {
    parse_query(Some(req.query_string()))
        .iter()
        .any(|(k, _)| k == "Action")
}

/// `GET /?Action=AssumeRole&...`.
pub(crate) fn assume_role(req: &HttpRequest, state: &EmulatorState, request_id: &str) -> HttpResponse {
    match assume_role_checked(req, &state.sts, Utc::now()) {
        Ok((ak, secret, token, expiration, role, session)) => {
            tracing::info!(access_key_id = %ak, session = %session, "emulator: AssumeRole");
            HttpResponse::Ok().json(json!({
                "RequestId": request_id,
                "AssumedRoleUser": {
                    "Arn": format!("{role}/{session}"),
                    "AssumedRoleId": format!("300000000000000000:{session}"),
                },
                "Credentials": {
                    "AccessKeyId": ak,
                    "AccessKeySecret": secret,
                    "SecurityToken": token,
                    "Expiration": expiration.to_rfc3339_opts(SecondsFormat::Secs, true),
                },
            }))
        }
        Err(f) => {
            tracing::debug!(code = f.code, "emulator: AssumeRole refused");
            HttpResponse::build(f.status).json(json!({
                "RequestId": request_id,
                "HostId": "sts.aliyuncs.com",
                "Code": f.code,
                "Message": f.message,
                "Recommend": "https://api.aliyun.com/troubleshoot",
            }))
        }
    }
}

type Minted = (String, String, String, DateTime<Utc>, String, String);

fn assume_role_checked(req: &HttpRequest, sts: &StsService, now: DateTime<Utc>) -> Result<Minted, Fault> {
    if req.method() != actix_web::http::Method::GET {
        return Err(fault(
            400,
            "InvalidParameter",
            "The OSS emulator's STS takes GET requests.",
        ));
    }
    let params = parse_query(Some(req.query_string()));
    let get = |name: &str| query_value(&params, name).unwrap_or("");
    if get("Action") != "AssumeRole" {
        return Err(fault(
            400,
            "InvalidAction.NotFound",
            "Specified api is not found.",
        ));
    }
    if get("Version") != API_VERSION {
        return Err(fault(
            400,
            "InvalidVersion",
            "Specified parameter Version is not valid.",
        ));
    }
    if get("SignatureMethod") != "HMAC-SHA1" || get("SignatureVersion") != "1.0" {
        return Err(fault(
            400,
            "InvalidParameter",
            "SignatureMethod must be HMAC-SHA1, version 1.0.",
        ));
    }
    let ak = get("AccessKeyId");
    let secrets: Vec<&SecretString> = sts
        .callers
        .iter()
        .filter(|(id, _)| id == ak)
        .map(|(_, s)| s)
        .collect();
    if secrets.is_empty() {
        return Err(fault(
            404,
            "InvalidAccessKeyId.NotFound",
            "Specified access key is not found.",
        ));
    }
    let signature = get("Signature");
    let signed: Vec<(&str, &str)> = params
        .iter()
        .filter(|(k, _)| k != "Signature")
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let to_sign = string_to_sign("GET", &signed);
    if !secrets
        .iter()
        .any(|s| ct_eq(sign(s.expose_secret(), &to_sign).as_bytes(), signature.as_bytes()))
    {
        return Err(fault(
            400,
            "SignatureDoesNotMatch",
            "Specified signature is not matched with our calculation.",
        ));
    }
    match DateTime::parse_from_rfc3339(get("Timestamp")) {
        Ok(t) if (now - t.with_timezone(&Utc)).num_seconds().abs() <= TIMESTAMP_WINDOW_SECS => {}
        _ => {
            return Err(fault(
                400,
                "InvalidTimeStamp.Expired",
                "Specified time stamp or date value is expired.",
            ))
        }
    }
    if get("SignatureNonce").is_empty() || !sts.fresh_nonce(get("SignatureNonce"), now.timestamp()) {
        return Err(fault(
            400,
            "SignatureNonceUsed",
            "Specified signature nonce was used already.",
        ));
    }
    let role = get("RoleArn");
    let role_ok = role
        .strip_prefix("acs:ram::")
        .and_then(|r| r.split_once(":role/"))
        .is_some_and(|(account, name)| {
            !account.is_empty() && account.bytes().all(|b| b.is_ascii_digit()) && !name.is_empty()
        });
    if !role_ok {
        return Err(fault(
            400,
            "InvalidParameter.RoleArn",
            "RoleArn must look like acs:ram::<account id>:role/<role name>.",
        ));
    }
    let session = get("RoleSessionName");
    let session_ok = (2..=64).contains(&session.len())
        && session
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._@-".contains(&b));
    if !session_ok {
        return Err(fault(
            400,
            "InvalidParameter.RoleSessionName",
            "RoleSessionName is 2 to 64 of A-Z a-z 0-9 . @ - _.",
        ));
    }
    let duration = match get("DurationSeconds") {
        "" => MAX_DURATION,
        d => match d.parse::<i64>() {
            Ok(d) if (MIN_DURATION..=MAX_DURATION).contains(&d) => d,
            _ => {
                return Err(fault(
                    400,
                    "InvalidParameter.DurationSeconds",
                    format!("DurationSeconds must be between {MIN_DURATION} and {MAX_DURATION}."),
                ))
            }
        },
    };
    let policy = match get("Policy") {
        "" => None,
        p if p.chars().count() > MAX_POLICY_CHARS => {
            return Err(fault(
                400,
                "InvalidParameter.PolicyLength",
                "The policy is longer than 2048 characters.",
            ))
        }
        p => {
            Policy::parse(p).map_err(|why| fault(400, "InvalidParameter.PolicyGrammar", why))?;
            Some(p.to_owned())
        }
    };
    let expiration = now + chrono::Duration::seconds(duration);
    let (ak, secret, token) = sts.key.mint(Session {
        ak: String::new(),
        exp: expiration.timestamp(),
        policy,
        role: role.to_owned(),
        session: session.to_owned(),
    });
    Ok((ak, secret, token, expiration, role.to_owned(), session.to_owned()))
}

/// Whether the signer of a verified request may do `action` on `bucket`/`key`. Permanent keys
/// may do everything; `STS.` keys need their valid token and a policy that allows it.
pub(crate) fn authorize(
    sts: &StsService,
    access_key_id: &str,
    security_token: Option<&str>,
    action: Action,
    bucket: &str,
    key: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), OssError> {
    if !access_key_id.starts_with(ACCESS_KEY_PREFIX) {
        return Ok(());
    }
    let invalid = || {
        OssError::new(
            StatusCode::FORBIDDEN,
            "InvalidAccessKeyId",
            "The security token you provided is invalid.",
        )
    };
    let token = security_token.filter(|t| !t.is_empty()).ok_or_else(invalid)?;
    let session = sts.key.open(token, access_key_id, now).map_err(|p| match p {
        TokenProblem::Invalid => invalid(),
        TokenProblem::Expired => OssError::new(
            StatusCode::FORBIDDEN,
            "SecurityTokenExpired",
            "The security token you provided has expired.",
        ),
    })?;
    let policy = match session.policy() {
        None => return Ok(()),
        Some(Ok(policy)) => policy,
        // Checked at AssumeRole; a token carrying anything else was not minted here.
        Some(Err(_)) => return Err(invalid()),
    };
    let resource = ram::resource_arn(bucket, key);
    match policy.evaluate(action, &resource) {
        Decision::Allow => Ok(()),
        Decision::ExplicitDeny => Err(OssError::access_denied(format!(
            "Access denied by authorizer's policy: an explicit Deny for {} on {resource}.",
            action.as_str()
        ))),
        Decision::ImplicitDeny => Err(OssError::access_denied(format!(
            "Access denied by authorizer's policy: the session policy does not allow {} on {resource}.",
            action.as_str()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;
    use signing::sts::{assume_role_url, AssumeRole};

    const AK: &str = "LTAI-caller";
    const SECRET: &str = "caller-secret";

    fn service() -> StsService {
        StsService::new(StsKey::fixed(3), vec![(AK.into(), SecretString::from(SECRET))])
    }

    fn request(now: DateTime<Utc>, nonce: &str, secret: &str, duration: u32, policy: &str) -> HttpRequest {
        let url = assume_role_url(
            "http://127.0.0.1:9000",
            &AssumeRole {
                role_arn: "acs:ram::1000000000000000:role/emulator-upload",
                role_session_name: "alice",
                duration_seconds: duration,
                policy: Some(policy),
            },
            AK,
            secret,
            now,
            nonce,
        );
        let url = url::Url::parse(&url).unwrap();
        TestRequest::with_uri(&url[url::Position::BeforePath..]).to_http_request()
    }

    const POLICY: &str = r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":["oss:PutObject"],"Resource":["acs:oss:*:*:b/u/alice/*"]}]}"#;

    #[test]
    fn assume_role_checks_like_sts_and_the_session_is_confined() {
        let sts = service();
        let now = Utc::now();
        let (ak, secret, token, expiration, _, _) =
            assume_role_checked(&request(now, "n1", SECRET, 900, POLICY), &sts, now)
                .unwrap_or_else(|f| panic!("{}", f.message));
        assert_eq!((expiration - now).num_seconds(), 900);
        assert_eq!(sts.secret_for(&ak), Some(secret));

        let code = |r: HttpRequest| assume_role_checked(&r, &sts, now).err().map(|f| f.code);
        assert_eq!(
            code(request(now, "n1", SECRET, 900, POLICY)),
            Some("SignatureNonceUsed")
        );
        assert_eq!(
            code(request(now, "n2", "wrong", 900, POLICY)),
            Some("SignatureDoesNotMatch")
        );
        assert_eq!(
            code(request(now, "n3", SECRET, 899, POLICY)),
            Some("InvalidParameter.DurationSeconds")
        );
        assert_eq!(
            code(request(
                now,
                "n4",
                SECRET,
                900,
                r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"*","Resource":"*","Condition":{}}]}"#
            )),
            Some("InvalidParameter.PolicyGrammar")
        );
        let old = now - chrono::Duration::minutes(16);
        assert_eq!(
            code(request(old, "n5", SECRET, 900, POLICY)),
            Some("InvalidTimeStamp.Expired")
        );

        let check = |key: &str, token: Option<&str>, at| {
            authorize(&sts, &ak, token, Action::PutObject, "b", Some(key), at).map_err(|e| e.code)
        };
        assert_eq!(check("u/alice/a.png", Some(&token), now), Ok(()));
        assert_eq!(check("u/bob/a.png", Some(&token), now), Err("AccessDenied"));
        assert_eq!(check("u/alice/a.png", None, now), Err("InvalidAccessKeyId"));
        assert_eq!(
            check("u/alice/a.png", Some("CAISx.y"), now),
            Err("InvalidAccessKeyId")
        );
        let late = now + chrono::Duration::seconds(901);
        assert_eq!(
            check("u/alice/a.png", Some(&token), late),
            Err("SecurityTokenExpired")
        );
        assert_eq!(
            authorize(
                &sts,
                &ak,
                Some(&token),
                Action::ListParts,
                "b",
                Some("u/alice/a.png"),
                now
            )
            .map_err(|e| e.code),
            Err("AccessDenied")
        );
        // Permanent keys are the bucket owner's.
        assert_eq!(
            authorize(&sts, AK, None, Action::DeleteObject, "b", Some("x"), now),
            Ok(())
        );
    }
}
