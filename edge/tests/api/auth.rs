//! The Better-Auth-compatible endpoints under `/api/auth/` (better-auth-shapes.md).

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::*;

const PLAIN_COOKIE: &str = "better-auth.session_token=c2VjcmV0LXNlc3Npb24tdG9rZW4tMzItYnl0ZXMtbG9uZw; Max-Age=604800; Path=/; HttpOnly; SameSite=Lax";
const PLAIN_CLEAR: &str = "better-auth.session_token=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax";

fn sign_up_body() -> Value {
    json!({ "name": "Ada", "email": "ada@example.com", "password": "correct horse battery" })
}

fn sign_in_body() -> Value {
    json!({ "email": "ada@example.com", "password": "correct horse battery" })
}

/// `POST /api/auth/sign-in/email` with `body`.
async fn sign_in(edge: &TestEdge, body: &Value) -> reqwest::Response {
    edge.post("/api/auth/sign-in/email")
        .json(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn sign_up_sets_the_cookie_and_answers_with_the_handle_not_the_secret() {
    let edge = TestEdge::start().await;
    let response = edge
        .post("/api/auth/sign-up/email")
        .json(&sign_up_body())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(set_cookies(&response), [PLAIN_COOKIE]);
    let text = response.text().await.unwrap();
    assert!(
        !text.contains(SECRET),
        "the secret token leaked into the body: {text}"
    );
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["token"], HANDLE);
    assert_eq!(body["user"]["email"], "ada@example.com");
    assert_eq!(body.as_object().unwrap().len(), 2);

    let sent = &edge.identity.calls_to("/v1/sign-up")[0];
    assert_eq!(sent["name"], "Ada");
    assert_eq!(sent["password"], "correct horse battery");
    assert_eq!(sent["remember_me"], true);
    assert_eq!(sent["client_ip"], "127.0.0.1");
    assert_eq!(sent["user_agent"], "TestBrowser/1.0");
    assert!(sent.get("previous_session_token").is_none());
}

#[tokio::test]
async fn identity_refusals_are_relayed_unchanged() {
    let edge = TestEdge::start().await;
    let taken =
        json!({ "name": "Ada", "email": "taken@example.com", "password": "correct horse battery" });
    let response = edge
        .post("/api/auth/sign-up/email")
        .json(&taken)
        .send()
        .await
        .unwrap();
    assert!(set_cookies(&response).is_empty());
    let (status, body) = json_of(response).await;
    assert_eq!(status, 422);
    assert_eq!(
        body,
        json!({ "code": "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL", "message": "User already exists. Use another email." })
    );

    let wrong = json!({ "email": "ada@example.com", "password": "wrong password" });
    let response = sign_in(&edge, &wrong).await;
    assert_code(response, 401, "INVALID_EMAIL_OR_PASSWORD").await;
}

#[tokio::test]
async fn sign_in_answers_better_auths_shape() {
    let edge = TestEdge::start().await;
    let response = sign_in(&edge, &sign_in_body()).await;
    assert_eq!(set_cookies(&response), [PLAIN_COOKIE]);
    assert!(response.headers().get("location").is_none());
    let (status, body) = json_of(response).await;
    assert_eq!(status, 200);
    assert_eq!(body["redirect"], false);
    assert_eq!(body["token"], HANDLE);
    assert!(body.get("url").is_none());
    assert_eq!(body["user"]["id"], "8c1e2a34-5b6d-4e7f-8a9b-0c1d2e3f4a5b");
}

#[tokio::test]
async fn sign_in_with_a_callback_redirects_there() {
    let edge = TestEdge::start().await;
    for callback in ["/app?tab=orders", "http://127.0.0.1:8080/account"] {
        let mut body = sign_in_body();
        body["callbackURL"] = json!(callback);
        let response = sign_in(&edge, &body).await;
        assert_eq!(response.headers()["location"], callback);
        let (status, body) = json_of(response).await;
        assert_eq!(status, 200);
        assert_eq!(
            (body["redirect"].clone(), body["url"].clone()),
            (json!(true), json!(callback))
        );
    }
}

#[tokio::test]
async fn callbacks_leaving_the_public_origin_are_forbidden() {
    let edge = TestEdge::start().await;
    for callback in [
        "//evil.com",
        "https://evil.com/x",
        "/\\evil",
        "javascript:alert(1)",
    ] {
        let mut body = sign_in_body();
        body["callbackURL"] = json!(callback);
        let (status, answer) = json_of(
            edge.post("/api/auth/sign-in/email")
                .json(&body)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(
            (status, answer["code"].as_str()),
            (403, Some("INVALID_CALLBACK_URL")),
            "{callback}"
        );
    }
    assert_eq!(edge.identity.total(), 0);
}

#[tokio::test]
async fn https_public_urls_get_a_host_prefixed_secure_cookie() {
    let edge = TestEdge::start_with(Options {
        public_url: "https://app.example.com",
        ..Options::default()
    })
    .await;
    let mut body = sign_in_body();
    body["rememberMe"] = json!(false);
    let response = sign_in(&edge, &body).await;
    assert_eq!(
        set_cookies(&response),
        [format!(
            "__Host-better-auth.session_token={SECRET}; Path=/; HttpOnly; Secure; SameSite=Lax"
        )]
    );
    assert_eq!(
        edge.identity.calls_to("/v1/sign-in")[0]["remember_me"],
        false
    );
}

#[tokio::test]
async fn a_form_post_signs_in_too() {
    let edge = TestEdge::start().await;
    let response = edge
        .post("/api/auth/sign-in/email")
        .header("content-type", "application/x-www-form-urlencoded")
        .body("email=ada%40example.com&password=correct+horse+battery&rememberMe=true")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        edge.identity.calls_to("/v1/sign-in")[0]["email"],
        "ada@example.com"
    );
}

#[tokio::test]
async fn signing_in_over_an_old_session_hands_it_to_identity_to_revoke() {
    let edge = TestEdge::start().await;
    let old = "b2xkLXNlc3Npb24tdG9rZW4";
    let response = edge
        .post("/api/auth/sign-in/email")
        .header("cookie", session_cookie(old))
        .header("origin", PUBLIC)
        .json(&sign_in_body())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        edge.identity.calls_to("/v1/sign-in")[0]["previous_session_token"],
        old
    );

    // With a cookie, the Origin must be present.
    let response = edge
        .post("/api/auth/sign-in/email")
        .header("cookie", session_cookie(old))
        .json(&sign_in_body())
        .send()
        .await
        .unwrap();
    assert_code(response, 403, "MISSING_OR_NULL_ORIGIN").await;
}

#[tokio::test]
async fn login_csrf_by_cross_site_navigation_is_blocked() {
    let edge = TestEdge::start().await;
    let response = edge
        .post("/api/auth/sign-in/email")
        .header("sec-fetch-site", "cross-site")
        .header("sec-fetch-mode", "navigate")
        .header("content-type", "application/x-www-form-urlencoded")
        .body("email=ada%40example.com&password=correct+horse+battery")
        .send()
        .await
        .unwrap();
    assert_code(response, 403, "CROSS_SITE_NAVIGATION_LOGIN_BLOCKED").await;
    assert_eq!(edge.identity.total(), 0);
}

#[tokio::test]
async fn bad_bodies_are_refused_with_better_auths_codes() {
    let edge = TestEdge::start().await;
    let send = |content_type: &'static str, body: String| {
        edge.post("/api/auth/sign-up/email")
            .header("content-type", content_type)
            .body(body)
            .send()
    };

    let (status, body) =
        json_of(send("application/json", "{\"name\":".into()).await.unwrap()).await;
    assert_eq!(status, 400);
    assert_eq!(
        body,
        json!({ "code": "BAD_REQUEST", "message": "Invalid JSON in request body" })
    );

    let wrong_type = send("text/plain", sign_up_body().to_string()).await;
    assert_code(wrong_type.unwrap(), 415, "UNSUPPORTED_MEDIA_TYPE").await;

    let no_email = json!({ "name": "Ada", "password": "correct horse battery" }).to_string();
    let (status, body) = json_of(send("application/json", no_email).await.unwrap()).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("VALIDATION_ERROR"))
    );
    assert_eq!(
        body["message"],
        "[body.email] Invalid input: expected string, received undefined"
    );

    let mut verified = sign_up_body();
    verified["emailVerified"] = json!(true);
    let not_allowed = send("application/json", verified.to_string()).await;
    assert_code(not_allowed.unwrap(), 400, "FIELD_NOT_ALLOWED").await;

    let huge =
        json!({ "name": "x".repeat(70 * 1024), "email": "a@b.c", "password": "p" }).to_string();
    let (status, body) = json_of(send("application/json", huge).await.unwrap()).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (413, Some("PAYLOAD_TOO_LARGE"))
    );

    assert_eq!(edge.identity.total(), 0);
}

#[tokio::test]
async fn get_session_without_a_cookie_is_a_literal_null() {
    let edge = TestEdge::start().await;
    let response = edge.get("/api/auth/get-session").send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert!(set_cookies(&response).is_empty());
    assert_eq!(response.text().await.unwrap(), "null");
    assert_eq!(edge.identity.total(), 0);
}

#[tokio::test]
async fn get_session_answers_the_session_and_sends_a_refreshed_cookie_again() {
    let edge = TestEdge::start().await;
    let response = edge
        .get("/api/auth/get-session")
        .header("cookie", session_cookie(SECRET))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert_eq!(set_cookies(&response), [PLAIN_COOKIE]);
    let text = response.text().await.unwrap();
    assert!(!text.contains(SECRET));
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["session"]["token"], HANDLE);
    assert_eq!(body["user"]["email"], "ada@example.com");
    let lookup = &edge.identity.calls_to("/v1/session")[0];
    assert_eq!(
        (lookup["client_ip"].as_str(), lookup["user_agent"].as_str()),
        (Some("127.0.0.1"), Some("TestBrowser/1.0"))
    );
}

#[tokio::test]
async fn get_session_with_a_dead_session_is_null_and_clears_the_cookie() {
    let edge = TestEdge::start().await;
    for cookie in [session_cookie(REVOKED), session_cookie("not.plausible")] {
        let response = edge
            .get("/api/auth/get-session")
            .header("cookie", cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["cache-control"], "no-store");
        assert_eq!(set_cookies(&response), [PLAIN_CLEAR]);
        assert_eq!(response.text().await.unwrap(), "null");
    }
}

#[tokio::test]
async fn sign_out_revokes_the_session_and_always_clears_the_cookie() {
    let edge = TestEdge::start().await;
    let response = edge
        .post("/api/auth/sign-out")
        .header("cookie", session_cookie(SECRET))
        .header("origin", PUBLIC)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(set_cookies(&response), [PLAIN_CLEAR]);
    assert_eq!(json_of(response).await, (200, json!({ "success": true })));
    assert_eq!(
        edge.identity.calls_to("/v1/sign-out"),
        [json!({ "session_token": SECRET })]
    );

    let response = edge
        .post("/api/auth/sign-out")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(set_cookies(&response), [PLAIN_CLEAR]);
    assert_eq!(json_of(response).await, (200, json!({ "success": true })));
    assert_eq!(
        edge.identity.calls_to("/v1/sign-out").len(),
        1,
        "no cookie, nothing to revoke"
    );
}

#[tokio::test]
async fn ok_answers_and_unknown_routes_or_methods_are_empty_404s() {
    let edge = TestEdge::start().await;
    assert_eq!(
        json_of(edge.get("/api/auth/ok").send().await.unwrap()).await,
        (200, json!({ "ok": true }))
    );
    let misses = [
        (Method::GET, "/api/auth/sign-in/email"),
        (Method::POST, "/api/auth/get-session"),
        (Method::DELETE, "/api/auth/sign-out"),
        (Method::GET, "/api/auth/nope"),
        (Method::GET, "/api/auth/ok/"),
        (Method::GET, "/api/auth"),
        (Method::GET, "/api/auth/"),
    ];
    for (method, path) in misses {
        let response = edge.request(method.clone(), path).send().await.unwrap();
        assert_eq!(response.status(), 404, "{method} {path}");
        assert_eq!(response.text().await.unwrap(), "", "{method} {path}");
    }
    assert_eq!(edge.identity.total(), 0);
}
