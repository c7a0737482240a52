//! The internal token as an independent JOSE implementation sees it, and the browser's own
//! credentials never reaching core-api.

use reqwest::header::AUTHORIZATION;
use serde_json::Value;

use crate::support::{claims_of, header_of, Store, TestStack};

#[tokio::test]
async fn an_independent_jose_library_verifies_identitys_token_against_the_served_jwks() {
    let Some(stack) = TestStack::start(Store::Sqlite).await else {
        return;
    };
    let alice = stack.signed_in("Alice").await;
    let token = stack.token_for(&alice, "GET", "/api/orders").await;

    let jwks_response = reqwest::get(format!(
        "{}/.well-known/jwks.json",
        stack.stack.identity.url()
    ))
    .await
    .unwrap();
    let cache_control = jwks_response.headers()["cache-control"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        cache_control.contains("public") && cache_control.contains("max-age="),
        "{cache_control}"
    );
    let jwks: jsonwebtoken::jwk::JwkSet = jwks_response.json().await.unwrap();

    let header = jsonwebtoken::decode_header(&token).unwrap();
    assert_eq!(header.alg, jsonwebtoken::Algorithm::EdDSA);
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));
    let jwk = jwks
        .find(header.kid.as_deref().unwrap())
        .expect("the kid is published");
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::EdDSA);
    validation.set_audience(&["core-api"]);
    validation.set_issuer(&["http://127.0.0.1:8081"]);
    validation.set_required_spec_claims(&["exp", "nbf", "iat", "iss", "aud", "sub"]);
    let claims = jsonwebtoken::decode::<Value>(&token, &key, &validation)
        .unwrap()
        .claims;

    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        60
    );
    assert_eq!(claims["client_id"], "edge");
    assert_eq!(claims["htm"], "GET");
    assert_eq!(claims["htu"], "/api/orders");
    assert!(
        claims["jti"].as_str().unwrap().len() >= 22,
        "128 random bits"
    );
    assert!(uuid::Uuid::parse_str(claims["sub"].as_str().unwrap()).is_ok());
    assert!(claims["sid"].is_string() && claims["email"].is_string());
    assert_eq!(claims["email_verified"], false);

    let again = stack.token_for(&alice, "GET", "/api/orders").await;
    assert_ne!(
        claims_of(&again)["jti"],
        claims["jti"],
        "every token has its own jti"
    );
    assert_eq!(header_of(&again)["kid"], header_of(&token)["kid"]);
}

#[tokio::test]
async fn edge_never_forwards_the_browsers_own_authorization_or_user_id() {
    let Some(stack) = TestStack::start(Store::Sqlite).await else {
        return;
    };
    let alice = stack.signed_in("Alice").await;
    let bob = stack.signed_in("Bob").await;
    let bob_token = stack.token_for(&bob, "GET", "/api/profile").await;
    let bob_id = claims_of(&bob_token)["sub"].as_str().unwrap().to_owned();

    let response = alice
        .client
        .get(format!("{}/api/profile", alice.base))
        .header("user-agent", &alice.user_agent)
        .header(AUTHORIZATION, format!("Bearer {bob_token}"))
        .header("x-user-id", &bob_id)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let profile: Value = response.json().await.unwrap();
    assert_ne!(
        profile["user_id"],
        bob_id.as_str(),
        "Alice's call is Alice's, whatever headers she adds"
    );
}
