//! The proxied call (DESIGN §2): cookie → exchange → forward → relay, and each way it fails.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn without_a_cookie_the_call_is_unauthorized_and_identity_is_not_asked() {
    let edge = TestEdge::start().await;
    let (status, body) = json_of(edge.get("/api/profile").send().await.unwrap()).await;
    assert_eq!(status, 401);
    assert_eq!(
        body,
        json!({ "code": "UNAUTHORIZED", "message": "Unauthorized" })
    );
    assert_eq!(edge.identity.total(), 0);
}

#[tokio::test]
async fn an_implausible_cookie_counts_as_none() {
    let edge = TestEdge::start().await;
    let response = edge.get_profile("not.a%2Ftoken").await;
    assert_eq!(response.status(), 401);
    assert_eq!(edge.identity.total(), 0);
}

#[tokio::test]
async fn a_proxied_call_carries_a_fresh_token_and_none_of_the_browsers_credentials() {
    let edge = TestEdge::start().await;
    let response = edge
        .get("/api/orders?limit=5&status=open")
        .header("cookie", format!("theme=dark; {}", session_cookie(SECRET)))
        .header("authorization", "Bearer forged")
        .header("X-User-ID", "admin")
        .header("x-forwarded-for", "6.6.6.6")
        .header("x-forwarded-proto", "https")
        .header("forwarded", "for=6.6.6.6")
        .header("connection", "x-secret-hop")
        .header("x-secret-hop", "1")
        .header("x-request-id", "req-123")
        .header(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        )
        .header("x-custom", "kept")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let returned_id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        set_cookies(&response).is_empty(),
        "core-api's Set-Cookie must not reach the browser"
    );
    assert_eq!(response.headers()["x-echo"], "yes");
    let (_, echo) = json_of(response).await;

    assert_eq!(echo["method"], "GET");
    assert_eq!(echo["path"], "/api/orders");
    assert_eq!(echo["query"], "limit=5&status=open");
    let headers = &echo["headers"];
    assert_eq!(
        headers["authorization"],
        json!(["Bearer access.GET._api_orders"])
    );
    // A browser is no trusted proxy: its request id and trace are replaced by edge's own, and
    // the browser is told the id core-api saw.
    assert_eq!(headers["x-request-id"], json!([returned_id]));
    assert_ne!(returned_id, "req-123");
    let traceparent = headers["traceparent"][0].as_str().unwrap();
    assert_eq!(traceparent.len(), 55, "{traceparent}");
    assert!(!traceparent.contains("4bf92f3577b34da6a3ce929d0e0e4736"));
    assert_eq!(headers["x-custom"], json!(["kept"]));
    assert_eq!(headers["user-agent"], json!(["TestBrowser/1.0"]));
    for stripped in [
        "cookie",
        "x-user-id",
        "x-forwarded-for",
        "x-forwarded-proto",
        "forwarded",
        "x-secret-hop",
    ] {
        assert!(
            headers.get(stripped).is_none(),
            "{stripped} must be stripped: {headers}"
        );
    }

    let exchanges = edge.identity.calls_to("/v1/token");
    assert_eq!(exchanges.len(), 1);
    let form = &exchanges[0];
    assert_eq!(
        form["grant_type"],
        "urn:ietf:params:oauth:grant-type:token-exchange"
    );
    assert_eq!(form["subject_token"], SECRET);
    assert_eq!(
        form["subject_token_type"],
        "urn:gatehouse:token-type:session"
    );
    assert_eq!(form["audience"], "core-api");
    assert_eq!(form["request_method"], "GET");
    assert_eq!(form["request_path"], "/api/orders");
    assert_eq!(form["client_ip"], "127.0.0.1");
    assert_eq!(form["user_agent"], "TestBrowser/1.0");
}

#[tokio::test]
async fn a_missing_or_odd_request_id_is_replaced_by_a_uuid() {
    let edge = TestEdge::start().await;
    for request_id in [
        None,
        Some("has spaces and ; semicolons"),
        Some("sane-but-untrusted"),
    ] {
        let mut request = edge
            .get("/api/profile")
            .header("cookie", session_cookie(SECRET));
        if let Some(id) = request_id {
            request = request.header("x-request-id", id);
        }
        let (_, echo) = json_of(request.send().await.unwrap()).await;
        let id = echo["headers"]["x-request-id"][0]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(uuid::Uuid::parse_str(&id).is_ok(), "{id} is not a UUID");
    }
}

#[tokio::test]
async fn a_state_change_forwards_method_and_body_from_the_public_origin() {
    let edge = TestEdge::start().await;
    let response = edge
        .request(Method::PUT, "/api/orders/42")
        .header("cookie", session_cookie(SECRET))
        .header("origin", PUBLIC)
        .header("content-type", "application/json")
        .body(r#"{"quantity":3}"#)
        .send()
        .await
        .unwrap();
    let (status, echo) = json_of(response).await;
    assert_eq!(status, 200);
    assert_eq!(echo["method"], "PUT");
    assert_eq!(echo["body"], r#"{"quantity":3}"#);
    assert_eq!(echo["headers"]["content-type"], json!(["application/json"]));
    assert_eq!(
        echo["headers"]["authorization"],
        json!(["Bearer access.PUT._api_orders_42"])
    );
    assert_eq!(
        edge.identity.calls_to("/v1/token")[0]["request_method"],
        "PUT"
    );
}

#[tokio::test]
async fn a_refused_session_is_unauthorized_and_clears_the_cookie() {
    let edge = TestEdge::start().await;
    let response = edge.get_profile(REVOKED).await;
    assert_eq!(response.status(), 401);
    assert_eq!(
        set_cookies(&response),
        ["better-auth.session_token=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax"]
    );
    let (_, body) = json_of(response).await;
    assert_eq!(body["code"], "UNAUTHORIZED");
}

#[tokio::test]
async fn another_refusal_from_the_exchange_is_a_bad_gateway() {
    let edge = TestEdge::start().await;
    let response = edge.get_profile(BUGGY).await;
    assert_code(response, 502, "BAD_GATEWAY").await;
}

#[tokio::test]
async fn identity_not_listening_is_service_unavailable() {
    let edge = TestEdge::start_with(Options {
        identity_url: Some(dead_url().await),
        ..Options::default()
    })
    .await;
    let response = edge.get_profile(SECRET).await;
    let (status, body) = json_of(response).await;
    assert_eq!(status, 503);
    assert_eq!(body["code"], "IDENTITY_UNAVAILABLE");
}

#[tokio::test]
async fn core_api_not_listening_is_a_bad_gateway() {
    let edge = TestEdge::start_with(Options {
        core_api_url: Some(dead_url().await),
        ..Options::default()
    })
    .await;
    let response = edge.get_profile(SECRET).await;
    let (status, body) = json_of(response).await;
    assert_eq!(status, 502);
    assert_eq!(
        body,
        json!({ "code": "BAD_GATEWAY", "message": "Bad gateway" })
    );
}

#[tokio::test]
async fn a_slow_upstream_is_a_gateway_timeout() {
    let options = || Options {
        upstream_timeout: Duration::from_millis(300),
        ..Options::default()
    };
    let edge = TestEdge::start_with(options()).await;

    let slow_core = edge
        .get("/api/slow")
        .header("cookie", session_cookie(SECRET))
        .send()
        .await
        .unwrap();
    assert_code(slow_core, 504, "GATEWAY_TIMEOUT").await;

    let slow_identity = edge.get_profile(SLOW).await;
    assert_code(slow_identity, 504, "GATEWAY_TIMEOUT").await;
}

#[tokio::test]
async fn a_body_over_the_limit_is_refused_before_any_exchange() {
    let edge = TestEdge::start_with(Options {
        body_limit: 1024,
        ..Options::default()
    })
    .await;
    let response = edge
        .post("/api/orders")
        .header("cookie", session_cookie(SECRET))
        .header("origin", PUBLIC)
        .header("content-type", "application/json")
        .body("x".repeat(1025))
        .send()
        .await
        .unwrap();
    assert_code(response, 413, "PAYLOAD_TOO_LARGE").await;
    assert!(edge.identity.calls_to("/v1/token").is_empty());
}

#[tokio::test]
async fn state_changes_from_elsewhere_are_forbidden_without_asking_identity() {
    let edge = TestEdge::start().await;
    let cases = [
        (
            vec![
                ("sec-fetch-site", "cross-site"),
                ("origin", "https://evil.com"),
            ],
            "INVALID_ORIGIN",
        ),
        (vec![("origin", "https://evil.com")], "INVALID_ORIGIN"),
        (vec![("origin", "null")], "MISSING_OR_NULL_ORIGIN"),
        (vec![], "MISSING_OR_NULL_ORIGIN"),
    ];
    for (headers, code) in cases {
        let mut request = edge
            .post("/api/orders")
            .header("cookie", session_cookie(SECRET))
            .body("{}");
        for (name, value) in &headers {
            request = request.header(*name, *value);
        }
        let (status, body) = json_of(request.send().await.unwrap()).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (403, Some(code)),
            "{headers:?}"
        );
    }
    assert_eq!(edge.identity.total(), 0);
}

#[tokio::test]
async fn a_path_that_would_be_rewritten_is_not_forwarded() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let edge = TestEdge::start().await;
    // Sent raw: HTTP clients normalise dot segments before sending, a hostile client need not.
    for path in [
        "/api/%2e%2e/healthz",
        "/api/../healthz",
        "/api/orders/../../readyz",
    ] {
        let mut stream = tokio::net::TcpStream::connect(edge.url.trim_start_matches("http://"))
            .await
            .unwrap();
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: edge\r\nCookie: {}\r\nConnection: close\r\n\r\n",
            session_cookie(SECRET)
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 404"), "{path}: {answer}");
    }
    assert_eq!(edge.identity.total(), 0);
}

#[tokio::test]
async fn a_trusted_proxy_keeps_its_request_id_and_trace() {
    let edge = TestEdge::start_with(Options {
        trusted_proxies: "127.0.0.1",
        ..Options::default()
    })
    .await;
    let incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let response = edge
        .get("/api/profile")
        .header("cookie", session_cookie(SECRET))
        .header("x-request-id", "from-the-proxy-1")
        .header("traceparent", incoming)
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "from-the-proxy-1");
    let (_, echo) = json_of(response).await;
    assert_eq!(echo["headers"]["x-request-id"], json!(["from-the-proxy-1"]));
    let forwarded = echo["headers"]["traceparent"][0].as_str().unwrap();
    assert!(
        forwarded.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"),
        "{forwarded}"
    );
    assert_ne!(forwarded, incoming, "a new span id for the hop");
}
