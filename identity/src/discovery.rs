//! What verifiers fetch: the public key set (RFC 7517) and the RFC 8414 authorization-server
//! metadata. Public keys only; nothing here can reach a private key.

use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

use crate::exchange::GRANT_TYPE;
use crate::AppState;

/// `GET /.well-known/jwks.json`, cacheable for `JWKS_MAX_AGE`.
pub async fn jwks(State(state): State<AppState>) -> Response {
    let cache_control = HeaderValue::from_str(&format!(
        "public, max-age={}",
        state.jwks_max_age().as_secs()
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("public, max-age=60"));
    (
        [(header::CACHE_CONTROL, cache_control)],
        Json(state.keyring().jwks()),
    )
        .into_response()
}

/// RFC 8414 metadata.
#[derive(Serialize)]
pub struct Metadata {
    issuer: String,
    jwks_uri: String,
    token_endpoint: String,
    grant_types_supported: [&'static str; 1],
    token_endpoint_auth_methods_supported: [&'static str; 1],
}

/// `GET /.well-known/oauth-authorization-server`.
pub async fn metadata(State(state): State<AppState>) -> Json<Metadata> {
    let base = state.issuer().trim_end_matches('/');
    Json(Metadata {
        issuer: state.issuer().to_owned(),
        jwks_uri: format!("{base}/.well-known/jwks.json"),
        token_endpoint: format!("{base}/v1/token"),
        grant_types_supported: [GRANT_TYPE],
        token_endpoint_auth_methods_supported: ["none"],
    })
}
