//! A failing dependency gets a clear 5xx, never a 500 and never a pass-through; core-api keeps
//! verifying with the keys it has while identity is away.

use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION};
use serde_json::Value;

use crate::support::{Store, TestStack};

#[tokio::test]
async fn edge_answers_503_while_identity_is_down_and_core_api_keeps_its_keys() {
    let Some(stack) = TestStack::start(Store::Sqlite).await else {
        return;
    };
    let alice = stack.signed_in("Alice").await;
    let session = alice.session_token().unwrap();
    let token = stack
        .exchange(&session, "GET", "/api/profile", &alice.user_agent)
        .await;

    let stack = stack_without_identity(stack).await;
    let response = alice.get("/api/profile").await;
    assert_eq!(response.status(), 503);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "IDENTITY_UNAVAILABLE");
    assert!(
        alice.session_token().is_some(),
        "an outage does not sign the user out"
    );

    let mut headers = HeaderMap::new();
    headers.insert(
        AUTHORIZATION,
        HeaderValue::from_str(&format!("Bearer {token}")).unwrap(),
    );
    let direct = reqwest::Client::new()
        .get(format!("{}/api/profile", stack.core_api_url))
        .headers(headers)
        .send()
        .await
        .unwrap();
    assert_eq!(
        direct.status(),
        200,
        "core-api verifies with the keys it cached"
    );
}

#[tokio::test]
async fn edge_answers_502_while_core_api_is_down() {
    let Some(stack) = TestStack::start(Store::Sqlite).await else {
        return;
    };
    let alice = stack.signed_in("Alice").await;
    let TestStack {
        stack: services,
        dir: _dir,
        ..
    } = stack;
    services.core_api.stop().await.unwrap();
    let response = alice.get("/api/profile").await;
    assert_eq!(response.status(), 502);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "BAD_GATEWAY");
    drop(services.edge);
}

/// What is left running after identity is stopped.
struct WithoutIdentity {
    core_api_url: String,
    _dir: tempfile::TempDir,
    _core_api: stack::Running,
    _edge: stack::Running,
}

async fn stack_without_identity(stack: TestStack) -> WithoutIdentity {
    let TestStack {
        stack: services,
        dir,
        ..
    } = stack;
    services.identity.stop().await.unwrap();
    WithoutIdentity {
        core_api_url: services.core_api.url(),
        _dir: dir,
        _core_api: services.core_api,
        _edge: services.edge,
    }
}
