//! A local STS: checks each AssumeRole the way Alibaba does (signature recomputed with
//! `signing::sts` from the query as received, timestamp, nonce, role, inline policy) and answers
//! in STS's JSON, with switches for errors, slowness and the credentials' lifetime.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};
use upload_signer::signing::sts::{sign, string_to_sign, API_VERSION};

pub const ACCESS_KEY_ID: &str = "LTAI5tTestKeyId000000";
pub const ACCESS_KEY_SECRET: &str = "TestSecret0123456789abcdefghijkl";
pub const ROLE_ARN: &str = "acs:ram::1234567890123456:role/oss-upload";

/// What one accepted AssumeRole asked for.
#[derive(Debug, Clone)]
pub struct Received {
    pub session_name: String,
    pub duration_secs: u32,
    pub resource: String,
}

#[derive(Default)]
pub struct Switches {
    /// Answer every call with this STS error (HTTP status, `Code`).
    pub fail_with: Mutex<Option<(u16, &'static str)>>,
    /// Wait this long before answering.
    pub delay: Mutex<Duration>,
    /// `Expiration` this many seconds from now instead of `DurationSeconds`.
    pub lifetime_secs: Mutex<Option<i64>>,
}

#[derive(Default)]
pub struct State {
    /// Every AssumeRole request that arrived, accepted or not.
    pub calls: AtomicUsize,
    pub switches: Switches,
    pub received: Mutex<Vec<Received>>,
    /// Why requests were refused by the checks (signature, policy, ...): tests expect none.
    pub refused: Mutex<Vec<String>>,
    nonces: Mutex<HashSet<String>>,
}

pub struct StsStandIn {
    pub endpoint: String,
    pub state: Arc<State>,
}

impl StsStandIn {
    pub async fn start() -> StsStandIn {
        let state = Arc::new(State::default());
        let data = web::Data::from(state.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .default_service(web::to(assume_role))
        })
        .workers(1)
        .bind(("127.0.0.1", 0))
        .expect("bind STS stand-in");
        let port = server.addrs()[0].port();
        tokio::spawn(server.run());
        StsStandIn {
            endpoint: format!("http://127.0.0.1:{port}"),
            state,
        }
    }

    /// Overrides that point a test server at this stand-in, with STS on for profile `avatar`.
    pub fn overrides(&self) -> Vec<(&'static str, String)> {
        vec![
            ("APP__STS__ENABLED", "true".into()),
            ("APP__STS__ENDPOINT", self.endpoint.clone()),
            ("APP__STS__ROLE_ARN", ROLE_ARN.into()),
            ("APP__STS__PROFILE", "avatar".into()),
            ("APP__STS__ACCESS_KEY_ID", ACCESS_KEY_ID.into()),
            ("APP__STS__ACCESS_KEY_SECRET", ACCESS_KEY_SECRET.into()),
            ("APP__STS__TIMEOUT_SECS", "1".into()),
        ]
    }

    pub fn calls(&self) -> usize {
        self.state.calls.load(Ordering::SeqCst)
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.received.lock().unwrap().clone()
    }

    pub fn refused(&self) -> Vec<String> {
        self.state.refused.lock().unwrap().clone()
    }

    pub fn fail_with(&self, failure: Option<(u16, &'static str)>) {
        *self.state.switches.fail_with.lock().unwrap() = failure;
    }

    pub fn delay(&self, delay: Duration) {
        *self.state.switches.delay.lock().unwrap() = delay;
    }

    pub fn lifetime_secs(&self, lifetime: Option<i64>) {
        *self.state.switches.lifetime_secs.lock().unwrap() = lifetime;
    }
}

/// Recomputes the signature of a received query exactly as STS does: every parameter but
/// `Signature`, sorted and encoded, `GET&%2F&...`, HMAC-SHA1 with `secret&`.
pub fn check_signature(params: &[(String, String)], secret: &str) -> Result<(), &'static str> {
    let mut signature = None;
    let mut signed: Vec<(&str, &str)> = Vec::new();
    for (name, value) in params {
        if name == "Signature" {
            if signature.replace(value.as_str()).is_some() {
                return Err("Signature given twice");
            }
        } else {
            signed.push((name.as_str(), value.as_str()));
        }
    }
    let signature = signature.ok_or("no Signature")?;
    if sign(secret, &string_to_sign("GET", &signed)) != signature {
        return Err("SignatureDoesNotMatch");
    }
    Ok(())
}

/// The inline policy must allow `oss:PutObject` and no more than the other upload actions, on one
/// resource in `demo-bucket`.
fn check_policy(policy: &str) -> Result<String, String> {
    let p: Value = serde_json::from_str(policy).map_err(|e| format!("policy is not JSON: {e}"))?;
    let statements = p["Statement"].as_array().ok_or("no Statement")?;
    if p["Version"] != "1" || statements.len() != 1 {
        return Err(format!("unexpected policy shape: {policy}"));
    }
    let s = &statements[0];
    const UPLOAD_ACTIONS: [&str; 3] = ["oss:PutObject", "oss:ListParts", "oss:AbortMultipartUpload"];
    let actions = s["Action"].as_array().ok_or("Action is not a list")?;
    let uploads_only = actions
        .iter()
        .all(|a| a.as_str().is_some_and(|a| UPLOAD_ACTIONS.contains(&a)));
    if s["Effect"] != "Allow" || !actions.contains(&json!("oss:PutObject")) || !uploads_only {
        return Err(format!("policy grants more than uploads need: {policy}"));
    }
    let resources = s["Resource"].as_array().ok_or("no Resource")?;
    let [resource] = resources.as_slice() else {
        return Err(format!("policy names several resources: {policy}"));
    };
    let resource = resource.as_str().ok_or("Resource is not a string")?;
    let object = resource
        .strip_prefix("acs:oss:*:*:demo-bucket/")
        .ok_or_else(|| format!("resource outside demo-bucket: {resource}"))?;
    let literal = object.strip_suffix('*').unwrap_or(object);
    if literal.is_empty() || literal.contains(['*', '?']) {
        return Err(format!("resource too wide: {resource}"));
    }
    Ok(resource.to_string())
}

fn session_name_ok(name: &str) -> bool {
    (2..=32).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._@-".contains(&b))
}

fn sts_error(status: u16, code: &str, message: &str) -> HttpResponse {
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap()).json(json!({
        "RequestId": uuid::Uuid::new_v4().to_string().to_uppercase(),
        "HostId": "sts.aliyuncs.com",
        "Code": code,
        "Message": message,
        "Recommend": "https://api.aliyun.com/troubleshoot",
    }))
}

fn refuse(state: &State, status: u16, code: &str, why: String) -> HttpResponse {
    state.refused.lock().unwrap().push(format!("{code}: {why}"));
    sts_error(status, code, &why)
}

async fn assume_role(req: HttpRequest, state: web::Data<State>) -> HttpResponse {
    let n = state.calls.fetch_add(1, Ordering::SeqCst);
    let delay = *state.switches.delay.lock().unwrap();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let params: Vec<(String, String)> = url::form_urlencoded::parse(req.query_string().as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let get = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    };
    if req.method() != actix_web::http::Method::GET || req.path() != "/" {
        return refuse(
            &state,
            400,
            "InvalidRequest",
            format!("{} {}", req.method(), req.path()),
        );
    }
    if get("AccessKeyId") != ACCESS_KEY_ID {
        return refuse(
            &state,
            404,
            "InvalidAccessKeyId.NotFound",
            get("AccessKeyId").into(),
        );
    }
    if get("SignatureMethod") != "HMAC-SHA1" || get("SignatureVersion") != "1.0" {
        return refuse(&state, 400, "InvalidParameter", "signature method".into());
    }
    if let Err(why) = check_signature(&params, ACCESS_KEY_SECRET) {
        return refuse(&state, 400, "SignatureDoesNotMatch", why.into());
    }
    let timestamp = DateTime::parse_from_rfc3339(get("Timestamp")).map(|t| t.with_timezone(&Utc));
    match timestamp {
        Ok(t) if (Utc::now() - t).num_minutes().abs() <= 15 => {}
        _ => return refuse(&state, 400, "InvalidTimeStamp.Expired", get("Timestamp").into()),
    }
    if get("SignatureNonce").is_empty() || !state.nonces.lock().unwrap().insert(get("SignatureNonce").into())
    {
        return refuse(&state, 400, "SignatureNonceUsed", get("SignatureNonce").into());
    }
    if get("Action") != "AssumeRole" || get("Version") != API_VERSION || get("Format") != "JSON" {
        return refuse(
            &state,
            400,
            "InvalidParameter",
            "action, version or format".into(),
        );
    }
    if get("RoleArn") != ROLE_ARN {
        return refuse(&state, 404, "EntityNotExist.Role", get("RoleArn").into());
    }
    let session_name = get("RoleSessionName").to_string();
    if !session_name_ok(&session_name) {
        return refuse(&state, 400, "InvalidParameter.RoleSessionName", session_name);
    }
    let duration_secs: u32 = match get("DurationSeconds").parse() {
        Ok(d) if (900..=3600).contains(&d) => d,
        _ => {
            return refuse(
                &state,
                400,
                "InvalidParameter.DurationSeconds",
                get("DurationSeconds").into(),
            )
        }
    };
    let resource = match check_policy(get("Policy")) {
        Ok(resource) => resource,
        Err(why) => return refuse(&state, 400, "InvalidParameter.PolicyGrammar", why),
    };
    if let Some((status, code)) = *state.switches.fail_with.lock().unwrap() {
        return sts_error(status, code, "switched on by the test");
    }
    state.received.lock().unwrap().push(Received {
        session_name: session_name.clone(),
        duration_secs,
        resource,
    });
    let lifetime = state
        .switches
        .lifetime_secs
        .lock()
        .unwrap()
        .unwrap_or(i64::from(duration_secs));
    let expiration =
        (Utc::now() + chrono::Duration::seconds(lifetime)).to_rfc3339_opts(SecondsFormat::Secs, true);
    HttpResponse::Ok().json(json!({
        "RequestId": format!("REQ-{n}"),
        "AssumedRoleUser": {
            "Arn": format!("{ROLE_ARN}/{session_name}"),
            "AssumedRoleId": format!("344584339364951186:{session_name}"),
        },
        "Credentials": {
            "AccessKeyId": format!("STS.standin{n}"),
            "AccessKeySecret": format!("stand-in-secret-{n}"),
            "SecurityToken": format!("CAIS-stand-in-token-{n}"),
            "Expiration": expiration,
        },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const VECTORS: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/vectors/sts-assume-role-vectors.json"
    ));

    fn pairs(url: &str) -> Vec<(String, String)> {
        url::Url::parse(url)
            .unwrap()
            .query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }

    /// The checker accepts what Alibaba's own SDK sent, and nothing altered.
    #[test]
    fn checker_accepts_the_official_vectors() {
        let v: Value = serde_json::from_str(VECTORS).unwrap();
        let secret = v["access_key_secret"].as_str().unwrap();
        for case in v["cases"].as_array().unwrap() {
            let mut params = pairs(case["url"].as_str().unwrap());
            assert_eq!(check_signature(&params, secret), Ok(()), "{}", case["url"]);
            assert!(check_signature(&params, "wrong").is_err());
            let duration = params.iter_mut().find(|(k, _)| k == "DurationSeconds").unwrap();
            duration.1.push('0');
            assert_eq!(check_signature(&params, secret), Err("SignatureDoesNotMatch"));
        }
        if let Some(policy) = v["cases"][1]["input"]["Policy"].as_str() {
            assert_eq!(
                check_policy(policy).unwrap(),
                "acs:oss:*:*:demo-bucket/uploads/u42/*"
            );
        }
    }

    /// Alibaba's documented RPC example (DescribeRegions, secret `testsecret`).
    #[test]
    fn checker_accepts_the_documented_example() {
        let url = "http://ecs.aliyuncs.com/?Timestamp=2016-02-23T12%3A46%3A24Z&Format=XML&AccessKeyId=testid&Action=DescribeRegions&SignatureMethod=HMAC-SHA1&SignatureNonce=3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf&Version=2014-05-26&SignatureVersion=1.0&Signature=OLeaidS1JvxuMvnyHOwuJ%2BuX5qY%3D";
        assert_eq!(check_signature(&pairs(url), "testsecret"), Ok(()));
        assert!(check_signature(&pairs(url), "testsecreT").is_err());
    }

    #[test]
    fn policy_checks_refuse_wide_grants() {
        let upload = json!(["oss:PutObject", "oss:ListParts", "oss:AbortMultipartUpload"]);
        let p = |actions: &Value, resource: &str| {
            json!({"Version": "1", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": [resource]}]})
                .to_string()
        };
        assert!(check_policy(&p(&upload, "acs:oss:*:*:demo-bucket/a/b/*")).is_ok());
        assert!(check_policy(&p(&json!(["oss:*"]), "acs:oss:*:*:demo-bucket/a/b/*")).is_err());
        assert!(check_policy(&p(
            &json!(["oss:PutObject", "oss:GetObject"]),
            "acs:oss:*:*:demo-bucket/a/b/*"
        ))
        .is_err());
        assert!(check_policy(&p(&upload, "acs:oss:*:*:demo-bucket/*")).is_err());
        assert!(check_policy(&p(&upload, "acs:oss:*:*:other/a/*")).is_err());
        assert!(check_policy(&p(&upload, "acs:oss:*:*:demo-bucket/a*/b")).is_err());
    }
}
