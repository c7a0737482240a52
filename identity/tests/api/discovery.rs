//! What verifiers and operators read: JWKS, metadata, health.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{Store, TestApp};

async fn the_jwks_publishes_the_ed25519_key_with_its_cache_lifetime(store: Store) {
    let Some(app) = TestApp::spawn(store).await else {
        return;
    };
    let response = app.get("/.well-known/jwks.json").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "public, max-age=60");
    let jwks: Value = response.json().await.unwrap();
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    let key = &keys[0];
    assert_eq!(
        (key["kty"].as_str(), key["crv"].as_str()),
        (Some("OKP"), Some("Ed25519"))
    );
    assert_eq!(
        (key["use"].as_str(), key["alg"].as_str()),
        (Some("sig"), Some("EdDSA"))
    );
    assert!(key.get("d").is_none(), "no private part");
}

async fn the_metadata_names_the_issuer_keys_and_token_endpoint(store: Store) {
    let Some(app) = TestApp::spawn(store).await else {
        return;
    };
    let metadata: Value = app
        .get("/.well-known/oauth-authorization-server")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        metadata,
        json!({
            "issuer": "http://identity.test:8081",
            "jwks_uri": "http://identity.test:8081/.well-known/jwks.json",
            "token_endpoint": "http://identity.test:8081/v1/token",
            "grant_types_supported": ["urn:ietf:params:oauth:grant-type:token-exchange"],
            "token_endpoint_auth_methods_supported": ["none"],
        })
    );
}

async fn health_and_readiness_answer(store: Store) {
    let Some(app) = TestApp::spawn(store).await else {
        return;
    };
    let health = app.get("/healthz").await;
    assert_eq!(health.status(), StatusCode::OK);
    assert_eq!(
        health.json::<Value>().await.unwrap(),
        json!({"status": "ok"})
    );
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), StatusCode::OK);
    let body = ready.json::<Value>().await.unwrap();
    assert_eq!(body["status"], "ready");
    // On PostgreSQL the cache answers once its first lease is confirmed, a moment after start.
    assert!(
        matches!(body["session_cache"].as_str(), Some("answering" | "closed")),
        "{body}"
    );
    assert_eq!(
        body.as_object().unwrap().len(),
        2,
        "nothing else is told: {body}"
    );
}

crate::on_both_stores!(
    the_jwks_publishes_the_ed25519_key_with_its_cache_lifetime,
    the_metadata_names_the_issuer_keys_and_token_endpoint,
    health_and_readiness_answer,
);
