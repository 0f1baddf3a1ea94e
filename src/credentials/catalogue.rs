//! `GET /v1/profiles`: what an app may upload, read from the server so apps need not hard-code it.

use std::collections::BTreeMap;

use actix_web::{web, HttpResponse};
use serde::Serialize;

use super::issue::Issuer;
use crate::auth::AuthUser;
use crate::http::Has;
use crate::profiles::Profile;
use crate::signing::SignatureVersion;

#[derive(Serialize)]
struct Catalogue<'a> {
    profiles: Vec<ProfileView<'a>>,
}

/// The client's view of a profile: its limits, never its bucket credentials or key template.
#[derive(Serialize)]
struct ProfileView<'a> {
    name: &'a str,
    content_types: &'a [String],
    max_size_bytes: u64,
    signature_version: SignatureVersion,
    /// Custom variables the app may send, with the longest value allowed (bytes).
    vars: &'a BTreeMap<String, usize>,
    /// How long an issued credential stays valid.
    expires_secs: i64,
    /// Whether answers carry STS credentials for the one key.
    sts: bool,
    /// Whether files larger than `part_size_bytes` go up as resumable (multipart) uploads.
    multipart: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    part_size_bytes: Option<u64>,
}

impl<'a> From<&'a Profile> for ProfileView<'a> {
    fn from(p: &'a Profile) -> Self {
        ProfileView {
            name: &p.name,
            content_types: &p.content_types,
            max_size_bytes: p.max_size_bytes,
            signature_version: p.signature_version,
            vars: &p.vars,
            expires_secs: p.expires.num_seconds(),
            sts: p.sts,
            multipart: p.part_size.is_some(),
            part_size_bytes: p.part_size,
        }
    }
}

/// Any authenticated app user may read it: profiles are the same for every user.
pub async fn profiles<S: Has<Issuer> + 'static>(_user: AuthUser, state: web::Data<S>) -> HttpResponse {
    let issuer: &Issuer = state.get();
    HttpResponse::Ok().json(Catalogue {
        profiles: issuer.profiles().iter().map(ProfileView::from).collect(),
    })
}
