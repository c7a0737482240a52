//! Liveness and readiness.

use serde_json::json;

use crate::helpers::{json_of, stores, TestApp};

/// `GET path` with no credentials, as a probe sends it.
async fn probe(app: &TestApp, path: &str) -> reqwest::Response {
    app.http.get(app.url(path)).send().await.expect("answers")
}

#[tokio::test]
async fn healthz_is_ok_and_readyz_is_ready_with_a_store_and_keys() {
    for store in stores() {
        let app = TestApp::spawn(&store).await;
        let health = probe(&app, "/healthz").await;
        assert_eq!(health.status(), 200);
        assert_eq!(json_of(health).await, json!({"status": "ok"}));
        let ready = probe(&app, "/readyz").await;
        assert_eq!(ready.status(), 200, "{store:?}");
        assert_eq!(json_of(ready).await, json!({"status": "ready"}));
    }
}

#[tokio::test]
async fn readyz_is_unavailable_until_a_signing_key_is_known() {
    for store in stores() {
        let app = TestApp::spawn_without_keys(&store).await;
        let ready = probe(&app, "/readyz").await;
        assert_eq!(ready.status(), 503, "{store:?}");
        let body = json_of(ready).await;
        assert_eq!(body["status"], "unavailable");
        assert!(body["reason"].is_string());
    }
}
