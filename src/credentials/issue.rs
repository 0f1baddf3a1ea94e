//! Building one upload credential: a pure function of the request, the profile, the ids and the
//! time. No database round trip, so issuance keeps working while the database is away.

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use super::CredentialError;
use crate::profiles::{
    content_type, extension_for, KeyContext, Profile, Profiles, UploadMethod, MAX_KEY_BYTES,
};
use crate::settings::{Settings, SettingsError};
use crate::signing::{
    self, upload_callback, CallbackParam, CallbackVars, Condition, PostPolicy, SignatureVersion, TokenKeys,
    UploadClaims,
};

/// `POST /v1/uploads` body.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UploadRequest {
    pub profile: String,
    pub filename: String,
    pub content_type: String,
    pub size: i64,
    #[serde(default)]
    pub vars: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FormField {
    pub name: String,
    pub value: String,
}

/// A PostObject form: send `fields` in order, then the file as `file_field`, last.
#[derive(Debug, Clone, Serialize)]
pub struct PostForm {
    pub action: String,
    pub method: &'static str,
    pub enctype: &'static str,
    pub fields: Vec<FormField>,
    pub file_field: &'static str,
}

/// The four keys the OSS mobile SDKs take in `setCallbackParam`.
#[derive(Debug, Clone, Serialize)]
pub struct SdkCallbackParam {
    #[serde(rename = "callbackUrl")]
    pub callback_url: String,
    #[serde(rename = "callbackHost")]
    pub callback_host: String,
    #[serde(rename = "callbackBody")]
    pub callback_body: String,
    #[serde(rename = "callbackBodyType")]
    pub callback_body_type: &'static str,
}

/// A presigned PUT: send exactly these headers.
#[derive(Debug, Clone, Serialize)]
pub struct PutInstructions {
    pub method: &'static str,
    pub url: String,
    pub headers: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct UploadCredential {
    pub upload_id: String,
    pub profile: String,
    pub bucket: String,
    pub region: String,
    pub host: String,
    pub key: String,
    pub content_type: String,
    pub max_size: u64,
    pub expires_at: String,
    pub signature_version: SignatureVersion,
    /// Single upload or resumable (multipart), from the profile and the declared size.
    pub upload: UploadMethod,
    pub form: PostForm,
    pub callback_param: SdkCallbackParam,
    pub callback_vars: BTreeMap<String, String>,
    /// base64 `callback`: the `x-oss-callback` header / `callback` form field.
    pub callback: String,
    /// base64 `callback-var`: the `x-oss-callback-var` header; absent without variables.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub callback_var: Option<String>,
    pub put: PutInstructions,
    /// The ledger entry, when the profile keeps one (not sent to the client).
    #[serde(skip)]
    pub pending: Option<crate::store::PendingUpload>,
}

impl UploadCredential {
    /// Writes this credential's members into `obj`, the same JSON as its `Serialize` (a test holds
    /// them equal) in one pass over one buffer, with the cheap string writer below: most of the
    /// 4 to 9 KB are base64 and URLs, which serde_json would scan byte by byte for escapes.
    pub fn write_json_members(&self, obj: &mut JsonObject) -> serde_json::Result<()> {
        obj.str("upload_id", &self.upload_id);
        obj.str("profile", &self.profile);
        obj.str("bucket", &self.bucket);
        obj.str("region", &self.region);
        obj.str("host", &self.host);
        obj.str("key", &self.key);
        obj.str("content_type", &self.content_type);
        obj.serde("max_size", &self.max_size)?;
        obj.str("expires_at", &self.expires_at);
        obj.serde("signature_version", &self.signature_version)?;
        obj.serde("upload", &self.upload)?;
        let mut form = JsonObject::new(obj.key("form"));
        form.str("action", &self.form.action);
        form.str("method", self.form.method);
        form.str("enctype", self.form.enctype);
        let fields = form.key("fields");
        fields.push(b'[');
        for (i, field) in self.form.fields.iter().enumerate() {
            if i > 0 {
                fields.push(b',');
            }
            let mut f = JsonObject::new(fields);
            f.str("name", &field.name);
            f.str("value", &field.value);
            f.end();
        }
        fields.push(b']');
        form.str("file_field", self.form.file_field);
        form.end();
        let mut param = JsonObject::new(obj.key("callback_param"));
        param.str("callbackUrl", &self.callback_param.callback_url);
        param.str("callbackHost", &self.callback_param.callback_host);
        param.str("callbackBody", &self.callback_param.callback_body);
        param.str("callbackBodyType", self.callback_param.callback_body_type);
        param.end();
        string_map(obj.key("callback_vars"), &self.callback_vars);
        obj.str("callback", &self.callback);
        if let Some(vars) = &self.callback_var {
            obj.str("callback_var", vars);
        }
        let mut put = JsonObject::new(obj.key("put"));
        put.str("method", self.put.method);
        put.str("url", &self.put.url);
        string_map(put.key("headers"), &self.put.headers);
        put.end();
        Ok(())
    }
}

/// A JSON object written member by member into a buffer: `new` opens it, `end` closes it.
pub struct JsonObject<'a> {
    out: &'a mut Vec<u8>,
    empty: bool,
}

impl<'a> JsonObject<'a> {
    pub fn new(out: &'a mut Vec<u8>) -> Self {
        out.push(b'{');
        JsonObject { out, empty: true }
    }

    /// Writes `"name":` and returns the buffer for the value.
    pub fn key(&mut self, name: &str) -> &mut Vec<u8> {
        if !std::mem::take(&mut self.empty) {
            self.out.push(b',');
        }
        push_json_str(self.out, name);
        self.out.push(b':');
        self.out
    }

    pub fn str(&mut self, name: &str, value: &str) {
        push_json_str(self.key(name), value);
    }

    /// A member whose value serde writes (numbers, enums, nested parts of their own).
    pub fn serde(&mut self, name: &str, value: &impl Serialize) -> serde_json::Result<()> {
        serde_json::to_writer(self.key(name), value)
    }

    pub fn end(self) {
        self.out.push(b'}');
    }
}

fn string_map(out: &mut Vec<u8>, map: &BTreeMap<String, String>) {
    let mut obj = JsonObject::new(out);
    for (name, value) in map {
        obj.str(name, value);
    }
    obj.end();
}

/// Appends `s` as a JSON string literal. Text with nothing to escape (base64, URLs, keys, names:
/// nearly all of an answer) is copied as it is, the bytes serde_json would write; the check is a
/// fold without early exit so that it runs over whole words. The rest goes through serde_json.
fn push_json_str(out: &mut Vec<u8>, s: &str) {
    let plain = s
        .bytes()
        .fold(true, |plain, b| plain & (b >= 0x20) & (b != b'"') & (b != b'\\'));
    if plain {
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else {
        // Writing a &str into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, s);
    }
}

pub struct Issuer {
    profiles: Profiles,
    access_key_id: String,
    secret: SecretString,
    token_keys: TokenKeys,
    callback_url: String,
    callback_host: String,
}

impl Issuer {
    pub fn from_settings(settings: &Settings) -> Result<Issuer, SettingsError> {
        let token_keys = settings.upload_token_key_ring()?;
        let url = settings
            .callback
            .url
            .as_ref()
            .ok_or_else(|| SettingsError::Missing {
                key: "callback.url".into(),
                hint: "set APP__CALLBACK__URL".into(),
            })?;
        let callback_url = url.to_string();
        let callback_host = settings
            .callback
            .host
            .clone()
            .or_else(|| {
                url.host_str().map(|h| match url.port() {
                    Some(p) => format!("{h}:{p}"),
                    None => h.to_string(),
                })
            })
            .unwrap_or_default();
        Ok(Issuer {
            profiles: Profiles::from_settings(settings)?,
            access_key_id: settings.oss.access_key_id.clone(),
            secret: settings.oss_secret()?.value,
            token_keys,
            callback_url,
            callback_host,
        })
    }

    pub fn profiles(&self) -> &Profiles {
        &self.profiles
    }

    pub fn token_keys(&self) -> &TokenKeys {
        &self.token_keys
    }

    pub fn access_key_id(&self) -> &str {
        &self.access_key_id
    }

    pub(super) fn secret(&self) -> &str {
        self.secret.expose_secret()
    }

    /// The callback parameter of a credential: fully determined by profile, token and variable
    /// names, so the custom signer can recompute and compare it.
    pub fn callback_param(&self, profile: &Profile, token: &str, var_names: &[&str]) -> CallbackParam {
        CallbackParam {
            url: self.callback_url.clone(),
            host: Some(self.callback_host.clone()),
            body: upload_callback::body_template(profile.callback_body_type, token, var_names),
            body_type: profile.callback_body_type,
            sni: None,
        }
    }

    pub fn issue(
        &self,
        user_id: &str,
        req: &UploadRequest,
        upload_id: &str,
        now: DateTime<Utc>,
    ) -> Result<UploadCredential, CredentialError> {
        let profile = self
            .profiles
            .get(&req.profile)
            .ok_or_else(|| CredentialError::UnknownProfile(req.profile.clone()))?;
        let content_type = content_type::normalise(&req.content_type)
            .filter(|ct| profile.allows_content_type(ct))
            .ok_or_else(|| CredentialError::ContentTypeNotAllowed(req.content_type.clone()))?;
        if req.size <= 0 {
            return Err(CredentialError::SizeNotPositive);
        }
        let size = req.size as u64;
        if size > profile.max_size_bytes {
            return Err(CredentialError::SizeTooLarge {
                size,
                max: profile.max_size_bytes,
            });
        }
        let vars = self.check_vars(profile, &req.vars)?;
        let ext = extension_for(&content_type, &req.filename).map_err(CredentialError::InvalidFilename)?;
        let key = profile.key_template.render(&KeyContext {
            user_id,
            upload_id,
            profile: &profile.name,
            now,
            ext: &ext,
        });
        if key.len() > MAX_KEY_BYTES {
            return Err(CredentialError::KeyTooLong);
        }
        let expires_at = now + profile.expires;
        let claims = UploadClaims {
            upload_id: upload_id.to_string(),
            user_id: user_id.to_string(),
            profile: profile.name.clone(),
            bucket: profile.bucket.clone(),
            key: key.clone(),
            issued_at: now.timestamp(),
            expires_at: expires_at.timestamp(),
        };
        let token = signing::token::issue(&claims, &self.token_keys);
        let var_names: Vec<&str> = vars.iter().map(|(name, _)| name.as_str()).collect();
        let callback = self.callback_param(profile, &token, &var_names);
        let callback_b64 = callback.to_base64();
        let mut callback_vars = CallbackVars::new();
        for (name, value) in &vars {
            callback_vars
                .insert(&format!("x:{name}"), value)
                .map_err(CredentialError::Signing)?;
        }
        let callback_var_b64 = (!callback_vars.is_empty()).then(|| callback_vars.to_base64());

        let form = self.post_form(
            profile,
            &key,
            &content_type,
            size,
            &callback_b64,
            &vars,
            now,
            expires_at,
        );
        let put = self.presigned_put(
            profile,
            &key,
            &content_type,
            &callback_b64,
            callback_var_b64.as_deref(),
            now,
            expires_at,
        )?;
        Ok(UploadCredential {
            upload_id: upload_id.to_string(),
            profile: profile.name.clone(),
            bucket: profile.bucket.clone(),
            region: profile.region.clone(),
            host: profile.host.clone(),
            key,
            content_type: content_type.clone(),
            max_size: size,
            expires_at: expires_at.to_rfc3339_opts(SecondsFormat::Secs, true),
            signature_version: profile.signature_version,
            upload: profile.upload_method(size),
            form,
            callback_param: SdkCallbackParam {
                callback_url: callback.url.clone(),
                callback_host: self.callback_host.clone(),
                callback_body: callback.body.clone(),
                callback_body_type: callback.body_type.as_str(),
            },
            callback_vars: vars.iter().map(|(k, v)| (format!("x:{k}"), v.clone())).collect(),
            callback: callback_b64,
            callback_var: callback_var_b64,
            put,
            pending: profile.ledger.then(|| crate::store::PendingUpload {
                upload_id: claims.upload_id.clone(),
                user_id: claims.user_id.clone(),
                profile: claims.profile.clone(),
                bucket: claims.bucket.clone(),
                key: claims.key.clone(),
                issued_at: now,
                expires_at,
                declared_size: req.size,
            }),
        })
    }

    /// Custom variables: only names the profile allows, within their length limit.
    fn check_vars(
        &self,
        profile: &Profile,
        requested: &BTreeMap<String, String>,
    ) -> Result<Vec<(String, String)>, CredentialError> {
        let mut out = Vec::new();
        for (raw_name, value) in requested {
            let name = raw_name.strip_prefix("x:").unwrap_or(raw_name);
            let max = *profile
                .vars
                .get(name)
                .ok_or_else(|| CredentialError::VariableNotAllowed(raw_name.clone()))?;
            if value.len() > max {
                return Err(CredentialError::VariableTooLong {
                    name: name.to_string(),
                    max,
                });
            }
            out.push((name.to_string(), value.clone()));
        }
        Ok(out)
    }

    #[allow(clippy::too_many_arguments)]
    fn post_form(
        &self,
        profile: &Profile,
        key: &str,
        content_type: &str,
        size: u64,
        callback_b64: &str,
        vars: &[(String, String)],
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> PostForm {
        let mut conditions = vec![
            Condition::Exact("bucket".into(), profile.bucket.clone()),
            Condition::Eq("key".into(), key.to_string()),
            Condition::ContentLengthRange(1, size),
            Condition::Eq("Content-Type".into(), content_type.to_string()),
            Condition::Eq("success_action_status".into(), SUCCESS_STATUS.into()),
            // Without this OSS would not check the callback field and a client could swap it.
            Condition::Exact("callback".into(), callback_b64.to_string()),
            // An issued upload never replaces an object; the field cannot be dropped either.
            Condition::Exact(FORBID_OVERWRITE.into(), "true".into()),
        ];
        if profile.signature_version == SignatureVersion::V4 {
            conditions.extend(signing::v4::post_conditions(
                &self.access_key_id,
                now,
                &profile.region,
                None,
            ));
        }
        let policy = PostPolicy {
            expiration: expires_at,
            conditions,
        }
        .to_base64();
        let field = |name: &str, value: &str| FormField {
            name: name.to_string(),
            value: value.to_string(),
        };
        let mut fields = vec![field("key", key), field("policy", &policy)];
        match profile.signature_version {
            SignatureVersion::V1 => {
                fields.push(field("OSSAccessKeyId", &self.access_key_id));
                fields.push(field(
                    "Signature",
                    &signing::v1::post_signature(self.secret(), &policy),
                ));
            }
            SignatureVersion::V4 => {
                let signature = signing::v4::post_signature(self.secret(), &policy, now, &profile.region);
                fields.push(field("x-oss-signature-version", "OSS4-HMAC-SHA256"));
                fields.push(field(
                    "x-oss-credential",
                    &signing::v4::credential(
                        &self.access_key_id,
                        &signing::v4::date_stamp(now),
                        &profile.region,
                    ),
                ));
                fields.push(field("x-oss-date", &signing::v4::x_oss_date(now)));
                fields.push(field("x-oss-signature", &signature));
            }
        }
        fields.push(field("success_action_status", SUCCESS_STATUS));
        fields.push(field("Content-Type", content_type));
        fields.push(field("callback", callback_b64));
        fields.push(field(FORBID_OVERWRITE, "true"));
        for (name, value) in vars {
            fields.push(field(&format!("x:{name}"), value));
        }
        PostForm {
            action: profile.host.clone(),
            method: "POST",
            enctype: "multipart/form-data",
            fields,
            file_field: "file",
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn presigned_put(
        &self,
        profile: &Profile,
        key: &str,
        content_type: &str,
        callback_b64: &str,
        callback_var_b64: Option<&str>,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<PutInstructions, CredentialError> {
        let url = match profile.signature_version {
            SignatureVersion::V1 => signing::v1::presign_url(&signing::PresignV1 {
                origin: &profile.host,
                access_key_id: &self.access_key_id,
                secret: self.secret(),
                method: "PUT",
                bucket: &profile.bucket,
                key,
                content_type: Some(content_type),
                content_md5: None,
                expires_at,
                security_token: None,
                callback: Some(callback_b64),
                callback_var: callback_var_b64,
                oss_headers: &[(FORBID_OVERWRITE, "true")],
            }),
            SignatureVersion::V4 => {
                let mut extra: Vec<(&str, &str)> = vec![("callback", callback_b64)];
                if let Some(vars) = callback_var_b64 {
                    extra.push(("callback-var", vars));
                }
                signing::v4::presign_url(&signing::PresignV4 {
                    origin: &profile.host,
                    access_key_id: &self.access_key_id,
                    secret: self.secret(),
                    region: &profile.region,
                    method: "PUT",
                    bucket: &profile.bucket,
                    key,
                    headers: &[("Content-Type", content_type), (FORBID_OVERWRITE, "true")],
                    additional_headers: &[],
                    extra_query: &extra,
                    security_token: None,
                    at: now,
                    expires_in: (expires_at - now).num_seconds().clamp(1, 7 * 24 * 3600) as u32,
                })
                .map_err(CredentialError::Signing)?
            }
        };
        Ok(PutInstructions {
            method: "PUT",
            url,
            headers: BTreeMap::from([
                ("Content-Type".to_string(), content_type.to_string()),
                (FORBID_OVERWRITE.to_string(), "true".to_string()),
            ]),
        })
    }
}

/// Sent (and signed) with every issued upload: OSS then refuses to replace an existing object
/// (`409 FileAlreadyExists`), so a reused URL or form cannot swap the recorded object.
pub const FORBID_OVERWRITE: &str = "x-oss-forbid-overwrite";

/// OSS answers a PostObject with this status (and relays the callback answer as the body).
const SUCCESS_STATUS: &str = "200";

#[cfg(test)]
mod tests {
    use super::*;

    /// A credential with every kind of member, and strings that need escaping.
    fn credential(callback_var: Option<String>) -> UploadCredential {
        let field = |name: &str, value: &str| FormField {
            name: name.into(),
            value: value.into(),
        };
        UploadCredential {
            upload_id: "01a2".into(),
            profile: "chat-image".into(),
            bucket: "demo-bucket".into(),
            region: "cn-hangzhou".into(),
            host: "https://demo-bucket.oss-cn-hangzhou.aliyuncs.com".into(),
            key: "chat/u~7C1/20261203/01a2.jpg".into(),
            content_type: "image/jpeg".into(),
            max_size: 10_000,
            expires_at: "2026-12-03T19:01:37Z".into(),
            signature_version: SignatureVersion::V4,
            upload: UploadMethod::Multipart { part_size: 1_048_576 },
            form: PostForm {
                action: "https://demo-bucket.oss-cn-hangzhou.aliyuncs.com".into(),
                method: "POST",
                enctype: "multipart/form-data",
                fields: vec![
                    field("key", "a/b.jpg"),
                    field("policy", "eyJleHBpcmF0aW9uIjoi+/=="),
                    field("x:caption", "\"quoted\" \\ tab\t nl\n bell\u{7} del\u{7f} 照片 $x"),
                ],
                file_field: "file",
            },
            callback_param: SdkCallbackParam {
                callback_url: "http://127.0.0.1:8080/v1/oss/callback".into(),
                callback_host: "127.0.0.1:8080".into(),
                callback_body: r#"{"bucket":${bucket},"token":"v1.t1.abc.def"}"#.into(),
                callback_body_type: "application/json",
            },
            callback_vars: BTreeMap::from([
                ("x:caption".into(), "photo \"1\"".into()),
                ("x:conversation_id".into(), "c1".into()),
            ]),
            callback: "eyJjYWxsYmFja1VybCI6Imh0dHA6Ly8x==".into(),
            callback_var,
            put: PutInstructions {
                method: "PUT",
                url: "https://demo-bucket.oss-cn-hangzhou.aliyuncs.com/a/b.jpg?callback=eyJ%2B&x-oss-signature=ab".into(),
                headers: BTreeMap::from([
                    ("Content-Type".into(), "image/jpeg".into()),
                    (FORBID_OVERWRITE.into(), "true".into()),
                ]),
            },
            pending: None,
        }
    }

    #[test]
    fn written_json_equals_serde() {
        for callback_var in [None, Some("eyJ4OmEiOiIxIn0=".to_string())] {
            let credential = credential(callback_var);
            let mut written = Vec::new();
            let mut obj = JsonObject::new(&mut written);
            credential.write_json_members(&mut obj).unwrap();
            obj.end();
            let expected = serde_json::to_vec(&credential).unwrap();
            assert_eq!(
                String::from_utf8(written).unwrap(),
                String::from_utf8(expected).unwrap()
            );
        }
    }
}
