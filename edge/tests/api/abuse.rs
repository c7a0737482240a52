//! DESIGN §14 at edge: the per-address limit on the auth endpoints, the client address behind
//! trusted proxies, a proxied call refused before its body is read, bodies over the limit or too
//! slow; and §3: the cookie sent again when a proxied call extended the session.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::Request;
use axum::Router;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::*;

/// How long any answer may take before the test calls edge stuck.
const STUCK: Duration = Duration::from_secs(20);

/// A sign-in attempt from the public origin, optionally claiming to be forwarded for someone.
async fn sign_in(edge: &TestEdge, forwarded_for: Option<&str>) -> reqwest::Response {
    let mut request = edge
        .post("/api/auth/sign-in/email")
        .header("origin", PUBLIC)
        .json(&json!({"email": "ada@example.com", "password": "wrong"}));
    if let Some(forwarded_for) = forwarded_for {
        request = request.header("x-forwarded-for", forwarded_for);
    }
    request.send().await.unwrap()
}

/// An edge allowing 2 limited requests per minute: a burst of one, then one every 30 s.
async fn edge_limited_to_two(trusted_proxies: &'static str) -> TestEdge {
    TestEdge::start_with(Options {
        auth_rate_limit: 2,
        trusted_proxies,
        ..Options::default()
    })
    .await
}

/// Sends `head` (and nothing more) on a fresh connection and returns all edge sends back
/// until it closes the connection or stops sending for a while.
async fn raw_exchange(edge: &TestEdge, head: &str) -> String {
    let addr = edge.url.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        match tokio::time::timeout(STUCK, stream.read(&mut buffer)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => {
                received.extend_from_slice(&buffer[..n]);
                if String::from_utf8_lossy(&received).contains("\r\n\r\n") {
                    break;
                }
            }
            Err(_) => panic!(
                "edge sent nothing for {STUCK:?}; so far: {:?}",
                String::from_utf8_lossy(&received)
            ),
        }
    }
    String::from_utf8_lossy(&received).into_owned()
}

#[tokio::test]
async fn over_the_limit_a_sign_in_is_429_with_retry_headers_and_identity_is_not_asked() {
    let edge = edge_limited_to_two("").await;
    assert_eq!(
        sign_in(&edge, None).await.status(),
        401,
        "the first attempt reaches identity"
    );

    let refused = sign_in(&edge, None).await;
    let retry_after: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    assert_eq!(
        refused.headers()["x-retry-after"],
        refused.headers()["retry-after"]
    );
    let (status, body) = json_of(refused).await;
    assert_eq!(
        (status, body),
        (
            429,
            json!({"code": "TOO_MANY_REQUESTS", "message": "Too many requests. Please try again later."})
        )
    );
    assert_eq!(
        edge.identity.calls_to("/v1/sign-in").len(),
        1,
        "the refused attempt did nothing"
    );
}

#[tokio::test]
async fn a_refused_request_is_answered_before_its_body_arrives() {
    let edge = edge_limited_to_two("").await;
    assert_eq!(sign_in(&edge, None).await.status(), 401);
    // Headers promising a body that never comes: the answer must not wait for it.
    let answer = raw_exchange(
        &edge,
        "POST /api/auth/sign-in/email HTTP/1.1\r\nHost: edge\r\nOrigin: http://127.0.0.1:8080\r\n\
         Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 429"), "{answer}");
}

#[tokio::test]
async fn the_listed_endpoints_share_one_budget_and_the_others_are_not_limited() {
    let edge = edge_limited_to_two("").await;
    assert_eq!(sign_in(&edge, None).await.status(), 401);
    for path in [
        "/api/auth/sign-up/email",
        "/api/auth/sign-in/social",
        "/api/auth/request-password-reset",
        "/api/auth/send-verification-email",
        "/api/auth/reset-password",
        "/api/auth/change-password",
    ] {
        let response = edge
            .post(path)
            .header("origin", PUBLIC)
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 429, "{path}");
    }
    // Reading the session and the proxied calls are not what the limit is for.
    for _ in 0..5 {
        let session = edge
            .get("/api/auth/get-session")
            .header("cookie", session_cookie(SECRET))
            .send()
            .await
            .unwrap();
        assert_eq!(session.status(), 200);
        let call = edge
            .get("/api/orders")
            .header("cookie", session_cookie(SECRET))
            .send()
            .await
            .unwrap();
        assert_eq!(call.status(), 200);
    }
}

#[tokio::test]
async fn a_forwarded_for_header_from_an_untrusted_peer_buys_no_new_budget() {
    let edge = edge_limited_to_two("").await;
    assert_eq!(sign_in(&edge, Some("198.51.100.1")).await.status(), 401);
    for n in 2..6 {
        let spoofed = format!("198.51.100.{n}");
        assert_eq!(
            sign_in(&edge, Some(&spoofed)).await.status(),
            429,
            "{spoofed}"
        );
    }
    let sent = &edge.identity.calls_to("/v1/sign-in")[0];
    assert_eq!(
        sent["client_ip"], "127.0.0.1",
        "identity is told the real peer"
    );
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_budget() {
    let edge = edge_limited_to_two("127.0.0.0/8").await;
    // The proxy appends the address it saw; what the client wrote before it is not believed.
    assert_eq!(
        sign_in(&edge, Some("6.6.6.6, 198.51.100.1")).await.status(),
        401
    );
    assert_eq!(
        sign_in(&edge, Some("7.7.7.7, 198.51.100.1")).await.status(),
        429
    );
    assert_eq!(sign_in(&edge, Some("198.51.100.2")).await.status(), 401);
    // IPv6 clients count per /64.
    assert_eq!(sign_in(&edge, Some("2001:db8:1:2::1")).await.status(), 401);
    assert_eq!(
        sign_in(&edge, Some("2001:db8:1:2:ffff::9")).await.status(),
        429
    );
    assert_eq!(sign_in(&edge, Some("2001:db8:1:3::1")).await.status(), 401);

    let ips: Vec<_> = edge
        .identity
        .calls_to("/v1/sign-in")
        .iter()
        .map(|sent| sent["client_ip"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        ips,
        [
            "198.51.100.1",
            "198.51.100.2",
            "2001:db8:1:2::1",
            "2001:db8:1:3::1"
        ]
    );

    // The exchange carries the same address.
    let call = edge
        .get("/api/orders")
        .header("cookie", session_cookie(SECRET))
        .header("x-forwarded-for", "203.0.113.5")
        .send()
        .await
        .unwrap();
    assert_eq!(call.status(), 200);
    assert_eq!(
        edge.identity.calls_to("/v1/token")[0]["client_ip"],
        "203.0.113.5"
    );
}

#[tokio::test]
async fn a_limit_of_zero_is_off() {
    let edge = TestEdge::start_with(Options {
        auth_rate_limit: 0,
        ..Options::default()
    })
    .await;
    for _ in 0..40 {
        assert_eq!(sign_in(&edge, None).await.status(), 401);
    }
}

#[tokio::test]
async fn a_proxied_call_with_no_or_an_unknown_session_is_refused_before_its_body_arrives() {
    let edge = TestEdge::start().await;
    for cookie in [
        "",
        "Cookie: better-auth.session_token=revoked-session-token\r\n",
    ] {
        let answer = raw_exchange(
            &edge,
            &format!(
                "PUT /api/orders/1 HTTP/1.1\r\nHost: edge\r\nOrigin: {PUBLIC}\r\n{cookie}\
                 Content-Type: application/json\r\nContent-Length: 900000\r\n\r\n"
            ),
        )
        .await;
        assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    }
}

/// A core-api that records the bodies it received whole, and answers 200.
fn recording_core_api(received: Arc<Mutex<Vec<usize>>>) -> Router {
    Router::new().fallback(move |request: Request| {
        let received = received.clone();
        async move {
            if let Ok(body) = axum::body::to_bytes(request.into_body(), usize::MAX).await {
                received.lock().unwrap().push(body.len());
            }
            "{}"
        }
    })
}

#[tokio::test]
async fn a_streamed_body_over_the_limit_is_413_and_never_reaches_core_api_whole() {
    let received = Arc::new(Mutex::new(Vec::new()));
    let core_api = serve(recording_core_api(received.clone())).await;
    let edge = TestEdge::start_with(Options {
        body_limit: 1024,
        core_api_url: Some(core_api),
        ..Options::default()
    })
    .await;
    // Chunked, so nothing announces the size: edge finds out while streaming.
    let chunk = "x".repeat(600);
    let head = format!(
        "POST /api/orders HTTP/1.1\r\nHost: edge\r\nOrigin: {PUBLIC}\r\n\
         Cookie: {}\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n\
         258\r\n{chunk}\r\n258\r\n{chunk}\r\n0\r\n\r\n",
        session_cookie(SECRET)
    );
    let answer = raw_exchange(&edge, &head).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(
        received.lock().unwrap().is_empty(),
        "core-api got {:?}",
        received.lock().unwrap()
    );

    // Within the limit, the same streamed body arrives whole.
    let head = format!(
        "POST /api/orders HTTP/1.1\r\nHost: edge\r\nOrigin: {PUBLIC}\r\n\
         Cookie: {}\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n\
         258\r\n{chunk}\r\n0\r\n\r\n",
        session_cookie(SECRET)
    );
    let answer = raw_exchange(&edge, &head).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert_eq!(*received.lock().unwrap(), [600]);
}

#[tokio::test]
async fn a_body_that_stops_arriving_is_408_and_the_connection_is_closed() {
    let edge = TestEdge::start_with(Options {
        body_timeout: Duration::from_millis(200),
        ..Options::default()
    })
    .await;
    let cookie = session_cookie(SECRET);
    for (path, cookie) in [
        ("/api/orders", cookie.as_str()),
        ("/api/auth/sign-in/email", ""),
    ] {
        let answer = raw_exchange(
            &edge,
            &format!(
                "POST {path} HTTP/1.1\r\nHost: edge\r\nOrigin: {PUBLIC}\r\nCookie: {cookie}\r\n\
                 Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"half\":"
            ),
        )
        .await;
        assert!(answer.starts_with("HTTP/1.1 408"), "{path}: {answer}");
        assert!(
            answer.to_ascii_lowercase().contains("connection: close"),
            "{path}: {answer}"
        );
    }
}

#[tokio::test]
async fn a_proxied_call_that_extended_the_session_sends_the_cookie_again() {
    let edge = TestEdge::start().await;
    let response = edge
        .get("/api/orders")
        .header("cookie", session_cookie(SLIDING))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        set_cookies(&response),
        [format!(
            "better-auth.session_token={SLIDING}; Max-Age=3600; Path=/; HttpOnly; SameSite=Lax"
        )],
        "only edge's cookie, never core-api's"
    );
}
