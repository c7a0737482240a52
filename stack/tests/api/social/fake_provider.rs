//! A small OpenID provider that misbehaves on purpose: discovery, a JWKS with one Ed25519 key,
//! an authorization endpoint that approves at once (remembering the nonce), and a token endpoint
//! whose ID token is broken as the test asks — wrong nonce, audience or issuer, expired, signed
//! by another key, or `alg: none`. `Flaw::None` gives a good token, so each negative test has a
//! positive control.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ed25519_dalek::{Signer, SigningKey};
use serde_json::{json, Value};

use crate::support::forge;

/// How the next ID token is broken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flaw {
    None,
    WrongNonce,
    WrongAudience,
    WrongIssuer,
    Expired,
    BadSignature,
    AlgNone,
}

#[derive(Clone)]
struct FakeState {
    issuer: String,
    client_id: String,
    /// The signing key and its `kid` (replaced by [`FakeProvider::rotate_key`]).
    key: Arc<Mutex<(SigningKey, String)>>,
    flaw: Arc<Mutex<Flaw>>,
    /// Issued codes and the nonce of their flow.
    codes: Arc<Mutex<HashMap<String, String>>>,
}

/// A running fake provider.
pub struct FakeProvider {
    pub issuer: String,
    flaw: Arc<Mutex<Flaw>>,
    key: Arc<Mutex<(SigningKey, String)>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeProvider {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeProvider {
    pub async fn start(client_id: &str) -> FakeProvider {
        Self::start_on(0, client_id).await
    }

    /// On a given port of 127.0.0.1 (0: any).
    pub async fn start_on(port: u16, client_id: &str) -> FakeProvider {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("bind");
        let issuer = format!("http://{}", listener.local_addr().expect("address"));
        let flaw = Arc::new(Mutex::new(Flaw::None));
        let key = Arc::new(Mutex::new((
            SigningKey::generate(&mut rand::rngs::OsRng),
            "fake-1".to_owned(),
        )));
        let state = FakeState {
            issuer: issuer.clone(),
            client_id: client_id.to_owned(),
            key: key.clone(),
            flaw: flaw.clone(),
            codes: Arc::default(),
        };
        let app = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/jwks", get(jwks))
            .route("/authorize", get(authorize))
            .route("/token", post(token))
            .with_state(state);
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .await
                .expect("fake provider serves");
        });
        FakeProvider {
            issuer,
            flaw,
            key,
            task,
        }
    }

    /// Signs from now on with a new key under a new `kid`, the JWKS publishing only that one.
    pub fn rotate_key(&self) {
        let mut key = self.key.lock().expect("key lock");
        *key = (
            SigningKey::generate(&mut rand::rngs::OsRng),
            format!("fake-{}", uuid::Uuid::new_v4().simple()),
        );
    }

    /// Breaks the next ID tokens this way.
    pub fn set_flaw(&self, flaw: Flaw) {
        *self.flaw.lock().expect("flaw lock") = flaw;
    }
}

async fn discovery(State(state): State<FakeState>) -> Json<Value> {
    let issuer = &state.issuer;
    Json(json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "jwks_uri": format!("{issuer}/jwks"),
        "id_token_signing_alg_values_supported": ["EdDSA"],
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
    }))
}

async fn jwks(State(state): State<FakeState>) -> Json<Value> {
    let (key, kid) = state.key.lock().expect("key lock").clone();
    let x = URL_SAFE_NO_PAD.encode(key.verifying_key().as_bytes());
    Json(
        json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "x": x, "kid": kid, "alg": "EdDSA", "use": "sig"}]}),
    )
}

/// Approves at once: back to `redirect_uri` with a code, the state and `iss`.
async fn authorize(
    State(state): State<FakeState>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let code = uuid::Uuid::new_v4().simple().to_string();
    state.codes.lock().expect("codes lock").insert(
        code.clone(),
        query.get("nonce").cloned().unwrap_or_default(),
    );
    let mut back = form_urlencoded::Serializer::new(String::new());
    back.append_pair("code", &code)
        .append_pair("state", query.get("state").map_or("", String::as_str))
        .append_pair("iss", &state.issuer);
    let redirect_uri = query.get("redirect_uri").cloned().unwrap_or_default();
    Redirect::to(&format!("{redirect_uri}?{}", back.finish())).into_response()
}

async fn token(
    State(state): State<FakeState>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let Some(nonce) = form
        .get("code")
        .and_then(|code| state.codes.lock().expect("codes lock").remove(code))
    else {
        return (
            axum::http::StatusCode::BAD_REQUEST,
            Json(json!({"error": "invalid_grant"})),
        )
            .into_response();
    };
    let flaw = *state.flaw.lock().expect("flaw lock");
    #[allow(clippy::disallowed_methods)] // the provider's own clock, not Gatehouse's
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let mut claims = json!({
        "iss": state.issuer, "sub": "fake-subject", "aud": state.client_id,
        "iat": now, "exp": now + 300, "nonce": nonce,
        "email": "fake-user@example.com", "email_verified": true, "name": "Fake User",
    });
    let (key, kid) = state.key.lock().expect("key lock").clone();
    let mut header = json!({"alg": "EdDSA", "typ": "JWT", "kid": kid});
    match flaw {
        Flaw::None | Flaw::BadSignature => {}
        Flaw::WrongNonce => claims["nonce"] = json!("not-the-flows-nonce"),
        Flaw::WrongAudience => claims["aud"] = json!("someone-else"),
        Flaw::WrongIssuer => claims["iss"] = json!("https://evil.example"),
        Flaw::Expired => {
            claims["iat"] = json!(now - 7200);
            claims["exp"] = json!(now - 3600);
        }
        Flaw::AlgNone => header = json!({"alg": "none", "typ": "JWT", "kid": kid}),
    }
    let id_token = match flaw {
        Flaw::AlgNone => forge(&header, &claims, |_| Vec::new()),
        Flaw::BadSignature => {
            let other = SigningKey::generate(&mut rand::rngs::OsRng);
            forge(&header, &claims, |input| {
                other.sign(input).to_bytes().to_vec()
            })
        }
        _ => forge(&header, &claims, |input| {
            key.sign(input).to_bytes().to_vec()
        }),
    };
    Json(json!({
        "access_token": "fake-access-token", "token_type": "Bearer", "expires_in": 300,
        "id_token": id_token, "scope": "openid email profile",
    }))
    .into_response()
}
