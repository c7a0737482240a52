//! The signed-in user's endpoints under `/api/auth/`: sessions (list, revoke one, all, the
//! others), change-password, update-user and delete-user, against the fake identity.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::*;

const PLAIN_CLEAR: &str = "better-auth.session_token=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax";

/// Every account endpoint with a valid body for it.
fn endpoints() -> Vec<(Method, &'static str, Value)> {
    vec![
        (Method::GET, "/api/auth/list-sessions", Value::Null),
        (
            Method::POST,
            "/api/auth/revoke-session",
            json!({ "token": OTHER_HANDLE }),
        ),
        (Method::POST, "/api/auth/revoke-sessions", json!({})),
        (Method::POST, "/api/auth/revoke-other-sessions", json!({})),
        (
            Method::POST,
            "/api/auth/change-password",
            json!({ "currentPassword": "correct horse battery", "newPassword": "a new password" }),
        ),
        (
            Method::POST,
            "/api/auth/update-user",
            json!({ "name": "Ada" }),
        ),
        (Method::POST, "/api/auth/delete-user", json!({})),
    ]
}

/// `method path` as the signed-in browser (cookie `token`, the public Origin).
async fn call(
    edge: &TestEdge,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: &Value,
) -> reqwest::Response {
    let mut request = edge.request(method.clone(), path).header("origin", PUBLIC);
    if let Some(token) = token {
        request = request.header("cookie", session_cookie(token));
    }
    if method == Method::POST {
        request = request.json(body);
    }
    request.send().await.unwrap()
}

async fn as_secret(edge: &TestEdge, path: &str, body: Value) -> reqwest::Response {
    call(edge, Method::POST, path, Some(SECRET), &body).await
}

#[tokio::test]
async fn without_a_session_cookie_every_endpoint_is_401_and_identity_is_not_asked() {
    let edge = TestEdge::start().await;
    for (method, path, body) in endpoints() {
        let response = call(&edge, method.clone(), path, None, &body).await;
        assert!(set_cookies(&response).is_empty(), "{path}");
        assert_eq!(
            json_of(response).await,
            (
                401,
                json!({ "code": "UNAUTHORIZED", "message": "Unauthorized" })
            ),
            "{path}"
        );
        let response = call(&edge, method, path, Some("not.a.token"), &body).await;
        assert_eq!(set_cookies(&response), [PLAIN_CLEAR], "{path}");
        assert_eq!(response.status(), 401, "{path}");
    }
    assert_eq!(edge.identity.total(), 0);
}

#[tokio::test]
async fn a_session_identity_refuses_is_401_and_the_cookie_is_cleared() {
    let edge = TestEdge::start().await;
    for (method, path, body) in endpoints() {
        let response = call(&edge, method, path, Some(REVOKED), &body).await;
        assert_eq!(set_cookies(&response), [PLAIN_CLEAR], "{path}");
        let (status, body) = json_of(response).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (401, Some("UNAUTHORIZED")),
            "{path}"
        );
    }
    assert_eq!(edge.identity.total(), endpoints().len());
}

#[tokio::test]
async fn list_sessions_answers_better_auths_array_of_handles_never_cached() {
    let edge = TestEdge::start().await;
    let response = call(
        &edge,
        Method::GET,
        "/api/auth/list-sessions",
        Some(SECRET),
        &Value::Null,
    )
    .await;
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert!(set_cookies(&response).is_empty());
    let text = response.text().await.unwrap();
    assert!(!text.contains(SECRET), "{text}");
    let sessions: Value = serde_json::from_str(&text).unwrap();
    let handles: Vec<&str> = sessions
        .as_array()
        .expect("a bare array, as Better-Auth answers")
        .iter()
        .map(|s| s["token"].as_str().unwrap())
        .collect();
    assert_eq!(handles, [OTHER_HANDLE, HANDLE]);
    let sent = &edge.identity.calls_to("/v1/sessions/list")[0];
    assert_eq!(
        sent,
        &json!({ "session_token": SECRET, "client_ip": "127.0.0.1", "user_agent": "TestBrowser/1.0" })
    );
}

#[tokio::test]
async fn a_listing_that_would_reveal_the_secret_is_withheld() {
    let edge = TestEdge::start().await;
    let response = call(
        &edge,
        Method::GET,
        "/api/auth/list-sessions",
        Some(LEAKY),
        &Value::Null,
    )
    .await;
    let status = response.status();
    let text = response.text().await.unwrap();
    assert_eq!(status, 502);
    assert!(!text.contains(LEAKY), "{text}");
}

#[tokio::test]
async fn sensitive_endpoints_relay_session_not_fresh() {
    let edge = TestEdge::start().await;
    for (method, path, body) in [
        (Method::GET, "/api/auth/list-sessions", Value::Null),
        (Method::POST, "/api/auth/revoke-sessions", json!({})),
        (
            Method::POST,
            "/api/auth/change-password",
            json!({ "currentPassword": "correct horse battery", "newPassword": "a new password" }),
        ),
    ] {
        let response = call(&edge, method, path, Some(STALE), &body).await;
        assert!(set_cookies(&response).is_empty(), "{path}");
        assert_eq!(
            json_of(response).await,
            (
                403,
                json!({ "code": "SESSION_NOT_FRESH", "message": "Session is not fresh." })
            ),
            "{path}"
        );
    }
}

#[tokio::test]
async fn revoking_a_session_clears_the_cookie_only_when_it_is_the_callers_own() {
    let edge = TestEdge::start().await;
    let response = as_secret(
        &edge,
        "/api/auth/revoke-session",
        json!({ "token": OTHER_HANDLE }),
    )
    .await;
    assert!(set_cookies(&response).is_empty());
    assert_eq!(json_of(response).await, (200, json!({ "status": true })));

    let response = as_secret(
        &edge,
        "/api/auth/revoke-session",
        json!({ "token": HANDLE }),
    )
    .await;
    assert_eq!(set_cookies(&response), [PLAIN_CLEAR]);
    assert_eq!(json_of(response).await, (200, json!({ "status": true })));

    let sent = edge.identity.calls_to("/v1/sessions/revoke");
    assert_eq!(sent[0]["session_id"], OTHER_HANDLE);
    assert_eq!(sent[0]["session_token"], SECRET);
    assert_eq!(sent[1]["session_id"], HANDLE);
}

#[tokio::test]
async fn revoke_sessions_clears_the_cookie_and_revoke_other_sessions_keeps_it() {
    let edge = TestEdge::start().await;
    let response = as_secret(&edge, "/api/auth/revoke-sessions", json!({})).await;
    assert_eq!(set_cookies(&response), [PLAIN_CLEAR]);
    assert_eq!(json_of(response).await, (200, json!({ "status": true })));

    let response = as_secret(&edge, "/api/auth/revoke-other-sessions", json!({})).await;
    assert!(set_cookies(&response).is_empty());
    assert_eq!(json_of(response).await, (200, json!({ "status": true })));

    // The official client posts an empty JSON object; an empty body is the same.
    let response = edge
        .post("/api/auth/revoke-other-sessions")
        .header("cookie", session_cookie(SECRET))
        .header("origin", PUBLIC)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(edge.identity.calls_to("/v1/sessions/revoke-all").len(), 1);
    assert_eq!(
        edge.identity.calls_to("/v1/sessions/revoke-others").len(),
        2
    );
}

#[tokio::test]
async fn change_password_keeps_the_cookie_and_answers_a_null_token() {
    let edge = TestEdge::start().await;
    let response = as_secret(
        &edge,
        "/api/auth/change-password",
        json!({ "currentPassword": "correct horse battery", "newPassword": "a new password" }),
    )
    .await;
    assert!(set_cookies(&response).is_empty());
    let (status, body) = json_of(response).await;
    assert_eq!(status, 200);
    assert_eq!(body["token"], Value::Null);
    assert_eq!(body["user"]["email"], "ada@example.com");
    assert_eq!(body.as_object().unwrap().len(), 2);
    let sent = &edge.identity.calls_to("/v1/password/change")[0];
    assert_eq!(sent["current_password"], "correct horse battery");
    assert_eq!(sent["new_password"], "a new password");
    assert_eq!(sent["revoke_other_sessions"], false);
}

#[tokio::test]
async fn change_password_revoking_every_session_sets_the_new_cookie_and_answers_its_handle() {
    let edge = TestEdge::start().await;
    let response = as_secret(
        &edge,
        "/api/auth/change-password",
        json!({ "currentPassword": "correct horse battery", "newPassword": "a new password",
                "revokeOtherSessions": true }),
    )
    .await;
    assert_eq!(
        set_cookies(&response),
        [format!(
            "better-auth.session_token={NEW_SECRET}; Max-Age=604800; Path=/; HttpOnly; SameSite=Lax"
        )]
    );
    let text = response.text().await.unwrap();
    assert!(!text.contains(NEW_SECRET), "{text}");
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["token"], NEW_HANDLE);
}

#[tokio::test]
async fn a_wrong_current_password_is_relayed() {
    let edge = TestEdge::start().await;
    let response = as_secret(
        &edge,
        "/api/auth/change-password",
        json!({ "currentPassword": "not it at all", "newPassword": "a new password" }),
    )
    .await;
    assert!(set_cookies(&response).is_empty());
    assert_eq!(
        json_of(response).await,
        (
            400,
            json!({ "code": "INVALID_PASSWORD", "message": "Invalid password." })
        )
    );
}

#[tokio::test]
async fn update_user_forwards_only_what_was_sent_and_relays_the_email_refusal() {
    let edge = TestEdge::start().await;
    let response = as_secret(
        &edge,
        "/api/auth/update-user",
        json!({ "name": "Ada King", "image": null, "favourite": 1 }),
    )
    .await;
    assert_eq!(json_of(response).await, (200, json!({ "status": true })));
    let response = as_secret(&edge, "/api/auth/update-user", json!({ "image": "a.png" })).await;
    assert_eq!(response.status(), 200);
    let sent = edge.identity.calls_to("/v1/user/update");
    assert_eq!(
        (sent[0]["name"].as_str(), sent[0].get("image")),
        (Some("Ada King"), Some(&Value::Null))
    );
    assert_eq!(
        (sent[1].get("name"), sent[1]["image"].as_str()),
        (None, Some("a.png"))
    );
    assert!(sent[0].get("favourite").is_none());

    let response = as_secret(
        &edge,
        "/api/auth/update-user",
        json!({ "name": "Eve", "email": "eve@example.com" }),
    )
    .await;
    assert_code(response, 400, "EMAIL_CAN_NOT_BE_UPDATED").await;
}

#[tokio::test]
async fn delete_user_clears_the_cookie_and_passes_the_password_on() {
    let edge = TestEdge::start().await;
    let response = as_secret(
        &edge,
        "/api/auth/delete-user",
        json!({ "password": "correct horse battery" }),
    )
    .await;
    assert_eq!(set_cookies(&response), [PLAIN_CLEAR]);
    assert_eq!(
        json_of(response).await,
        (200, json!({ "success": true, "message": "User deleted" }))
    );
    assert_eq!(
        edge.identity.calls_to("/v1/user/delete")[0]["password"],
        "correct horse battery"
    );
    let response = as_secret(
        &edge,
        "/api/auth/delete-user",
        json!({ "callbackURL": "https://evil.example/x" }),
    )
    .await;
    assert_code(response, 403, "INVALID_CALLBACK_URL").await;
    assert_eq!(edge.identity.calls_to("/v1/user/delete").len(), 1);
}

#[tokio::test]
async fn state_changes_must_come_from_the_public_origin() {
    let edge = TestEdge::start().await;
    for (method, path, body) in endpoints().into_iter().filter(|(m, ..)| m == Method::POST) {
        let missing = edge
            .request(method.clone(), path)
            .header("cookie", session_cookie(SECRET))
            .json(&body)
            .send()
            .await
            .unwrap();
        let (status, answer) = json_of(missing).await;
        assert_eq!(
            (status, answer["code"].as_str()),
            (403, Some("MISSING_OR_NULL_ORIGIN")),
            "{path}"
        );
        let foreign = edge
            .request(method, path)
            .header("cookie", session_cookie(SECRET))
            .header("origin", "https://evil.example")
            .json(&body)
            .send()
            .await
            .unwrap();
        let (status, answer) = json_of(foreign).await;
        assert_eq!(
            (status, answer["code"].as_str()),
            (403, Some("INVALID_ORIGIN")),
            "{path}"
        );
    }
    assert_eq!(edge.identity.total(), 0);
}

#[tokio::test]
async fn bad_bodies_are_refused_before_identity_is_asked() {
    let edge = TestEdge::start().await;
    let send = |path: &'static str, content_type: &'static str, body: String| {
        edge.post(path)
            .header("cookie", session_cookie(SECRET))
            .header("origin", PUBLIC)
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    for (_, path, _) in endpoints().into_iter().filter(|(m, ..)| m == Method::POST) {
        let (status, body) = json_of(
            send(path, "application/json", "{\"token\":".into())
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(
            (status, body),
            (
                400,
                json!({ "code": "BAD_REQUEST", "message": "Invalid JSON in request body" })
            ),
            "{path}"
        );
        let (status, body) = json_of(send(path, "text/plain", "{}".into()).await.unwrap()).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (415, Some("UNSUPPORTED_MEDIA_TYPE")),
            "{path}"
        );
        let (status, body) =
            json_of(send(path, "application/json", "[]".into()).await.unwrap()).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (400, Some("VALIDATION_ERROR")),
            "{path}"
        );
        let huge = json!({ "name": "x".repeat(70 * 1024) }).to_string();
        let (status, body) = json_of(send(path, "application/json", huge).await.unwrap()).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (413, Some("PAYLOAD_TOO_LARGE")),
            "{path}"
        );
    }
    let invalid = [
        ("/api/auth/revoke-session", json!({})),
        ("/api/auth/revoke-session", json!({ "token": 5 })),
        (
            "/api/auth/change-password",
            json!({ "newPassword": "a new password" }),
        ),
        (
            "/api/auth/change-password",
            json!({ "currentPassword": "correct horse battery", "newPassword": ["x"] }),
        ),
        (
            "/api/auth/change-password",
            json!({ "currentPassword": "a", "newPassword": "b", "revokeOtherSessions": 1 }),
        ),
        ("/api/auth/update-user", json!({ "name": null })),
        ("/api/auth/update-user", json!({ "image": false })),
        ("/api/auth/delete-user", json!({ "password": 12345678 })),
    ];
    for (path, body) in invalid {
        let (status, answer) = json_of(
            send(path, "application/json", body.to_string())
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(
            (status, answer["code"].as_str()),
            (400, Some("VALIDATION_ERROR")),
            "{path} {body}"
        );
    }
    assert_eq!(edge.identity.total(), 0);
}

#[tokio::test]
async fn wrong_methods_are_empty_404s() {
    let edge = TestEdge::start().await;
    for (method, path) in [
        (Method::POST, "/api/auth/list-sessions"),
        (Method::GET, "/api/auth/revoke-session"),
        (Method::GET, "/api/auth/change-password"),
        (Method::DELETE, "/api/auth/delete-user"),
        (Method::GET, "/api/auth/list-sessions/"),
    ] {
        let response = edge
            .request(method.clone(), path)
            .header("cookie", session_cookie(SECRET))
            .header("origin", PUBLIC)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404, "{method} {path}");
        assert_eq!(response.text().await.unwrap(), "", "{method} {path}");
    }
    assert_eq!(edge.identity.total(), 0);
}
