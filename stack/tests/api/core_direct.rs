//! core-api reached directly, as an attacker on the internal network would: nothing but a token
//! that identity signed for exactly this request gets in.

use ed25519_dalek::{Signer, SigningKey};
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION};
use serde_json::{json, Value};

use crate::support::{claims_of, forge, header_of, Setup, Store, TestStack};

fn bearer(token: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(
        AUTHORIZATION,
        HeaderValue::from_str(&format!("Bearer {token}")).unwrap(),
    );
    headers
}

/// A signed-in user and a real token for `GET /api/profile`, with its header and claims.
async fn real_token(stack: &TestStack) -> (String, Value, Value) {
    let alice = stack.signed_in("Alice").await;
    let session = alice.session_token().unwrap();
    let token = stack
        .exchange(&session, "GET", "/api/profile", &alice.user_agent)
        .await;
    let (header, claims) = (header_of(&token), claims_of(&token));
    (token, header, claims)
}

async fn assert_refused(stack: &TestStack, headers: HeaderMap, why: &str) {
    let response = stack.core_api_get("/api/profile", headers).await;
    assert_eq!(response.status(), 401, "{why}");
    assert!(
        response.headers().contains_key("www-authenticate"),
        "{why}: WWW-Authenticate"
    );
    let body: Value = response.json().await.unwrap();
    assert!(
        body["code"] == "INVALID_TOKEN" || body["code"] == "UNAUTHORIZED",
        "{why}: {body}"
    );
}

#[tokio::test]
async fn core_api_accepts_a_real_token_for_exactly_its_request() {
    let Some(stack) = TestStack::start(Store::Sqlite).await else {
        return;
    };
    let (token, _, claims) = real_token(&stack).await;
    let response = stack.core_api_get("/api/profile", bearer(&token)).await;
    assert_eq!(response.status(), 200);
    let profile: Value = response.json().await.unwrap();
    assert_eq!(profile["user_id"], claims["sub"]);
}

#[tokio::test]
async fn core_api_refuses_everything_but_a_valid_token() {
    let Some(stack) = TestStack::start(Store::Sqlite).await else {
        return;
    };
    let (token, header, claims) = real_token(&stack).await;

    let missing = stack.core_api_get("/api/profile", HeaderMap::new()).await;
    assert_eq!(missing.status(), 401);
    assert_eq!(missing.headers()["www-authenticate"], "Bearer");

    let mut user_id_header = bearer("anything-at-all");
    user_id_header.insert(
        "x-user-id",
        HeaderValue::from_str(claims["sub"].as_str().unwrap()).unwrap(),
    );
    assert_refused(&stack, user_id_header, "X-User-ID with an arbitrary bearer").await;

    let wrong_request = stack.core_api_get("/api/orders", bearer(&token)).await;
    assert_eq!(
        wrong_request.status(),
        401,
        "a token for GET /api/profile used on GET /api/orders"
    );

    let mut none_header = header.clone();
    none_header["alg"] = json!("none");
    let unsigned = forge(&none_header, &claims, |_| Vec::new());
    assert_refused(&stack, bearer(&unsigned), "alg none").await;

    // HS256 keyed with the public key: the classic algorithm-confusion forgery.
    let jwks: Value = reqwest::get(format!(
        "{}/.well-known/jwks.json",
        stack.stack.identity.url()
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let x = jwks["keys"][0]["x"].as_str().unwrap();
    let mut hs_header = header.clone();
    hs_header["alg"] = json!("HS256");
    let mut hs = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    hs.typ = Some("at+jwt".into());
    hs.kid = header["kid"].as_str().map(str::to_owned);
    for secret in [x.as_bytes().to_vec(), base64_url(x)] {
        let forged = jsonwebtoken::encode(
            &hs,
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(&secret),
        )
        .unwrap();
        assert_refused(&stack, bearer(&forged), "HS256 signed with the public key").await;
    }

    let stranger = SigningKey::generate(&mut rand::rngs::OsRng);
    let stranger_kid = shared_claims::Jwk::ed25519(stranger.verifying_key().as_bytes())
        .kid
        .unwrap();
    let mut unknown_header = header.clone();
    unknown_header["kid"] = json!(stranger_kid);
    let unknown = forge(&unknown_header, &claims, |input| {
        stranger.sign(input).to_bytes().to_vec()
    });
    assert_refused(&stack, bearer(&unknown), "a key identity never published").await;

    let same_kid_other_key = forge(&header, &claims, |input| {
        stranger.sign(input).to_bytes().to_vec()
    });
    assert_refused(
        &stack,
        bearer(&same_kid_other_key),
        "a signature by another key under identity's kid",
    )
    .await;

    let mut tampered_claims = claims.clone();
    tampered_claims["sub"] = json!(uuid::Uuid::new_v4().to_string());
    let parts: Vec<&str> = token.split('.').collect();
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            tampered_claims.to_string()
        ),
        parts[2]
    );
    assert_refused(&stack, bearer(&tampered), "claims changed after signing").await;
}

fn base64_url(x: &str) -> Vec<u8> {
    base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, x).unwrap()
}

#[tokio::test]
async fn core_api_refuses_a_token_identity_issued_for_another_audience() {
    let Some(mut setup) = Setup::new(Store::Sqlite).await else {
        return;
    };
    setup.identity.token_audiences = vec!["core-api".into(), "billing".into()];
    let stack = setup.start().await;
    let alice = stack.signed_in("Alice").await;
    let session = alice.session_token().unwrap();

    let response = stack
        .exchange_raw(
            &session,
            "billing",
            "GET",
            "/api/profile",
            &alice.user_agent,
        )
        .await;
    assert_eq!(
        response.status(),
        200,
        "billing is in identity's allow-list"
    );
    let body: Value = response.json().await.unwrap();
    let billing_token = body["access_token"].as_str().unwrap();
    assert_eq!(claims_of(billing_token)["aud"], "billing");
    assert_refused(&stack, bearer(billing_token), "a token for billing").await;

    let refused = stack
        .exchange_raw(
            &session,
            "payroll",
            "GET",
            "/api/profile",
            &alice.user_agent,
        )
        .await;
    assert_eq!(refused.status(), 400);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"], "invalid_target");
}
