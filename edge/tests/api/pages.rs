//! The server-rendered pages and their static files: security headers on every page, the
//! signed-out redirect, the `next` rule, escaping of reflected values and cacheable assets.

use crate::helpers::*;

const PAGES: [&str; 6] = [
    "/",
    "/sign-up",
    "/sign-in",
    "/verify-email",
    "/forgot-password",
    "/reset-password?token=abc",
];

const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// A fetched response: status, headers and body text.
struct Fetched {
    status: u16,
    headers: reqwest::header::HeaderMap,
    path: String,
}

fn header<'a>(response: &'a Fetched, name: &str) -> &'a str {
    response
        .headers
        .get(name)
        .unwrap_or_else(|| panic!("{name} missing on {}", response.path))
        .to_str()
        .unwrap()
}

fn assert_security_headers(response: &Fetched) {
    assert_eq!(header(response, "content-security-policy"), CSP);
    assert!(!header(response, "content-security-policy").contains("unsafe-inline"));
    assert_eq!(header(response, "x-content-type-options"), "nosniff");
    assert_eq!(header(response, "referrer-policy"), "same-origin");
    assert_eq!(header(response, "x-frame-options"), "DENY");
}

/// Whether the page has an `on…=` attribute (inline event handler).
fn has_inline_handler(body: &str) -> bool {
    body.match_indices(" on").any(|(at, _)| {
        let rest = &body[at + 3..];
        let name_len = rest.bytes().take_while(u8::is_ascii_lowercase).count();
        name_len > 0 && rest[name_len..].starts_with('=')
    })
}

async fn html(edge: &TestEdge, path: &str, cookie: Option<&str>) -> (Fetched, String) {
    let mut request = edge.get(path);
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    let response = request.send().await.unwrap();
    let fetched = Fetched {
        status: response.status().as_u16(),
        headers: response.headers().clone(),
        path: path.to_owned(),
    };
    (fetched, response.text().await.unwrap())
}

#[tokio::test]
async fn every_public_page_renders_with_the_security_headers() {
    let edge = TestEdge::start().await;
    for path in PAGES {
        let (response, body) = html(&edge, path, None).await;
        assert_eq!(response.status, 200, "{path}");
        assert_eq!(
            header(&response, "content-type"),
            "text/html; charset=utf-8"
        );
        assert_eq!(header(&response, "cache-control"), "no-store");
        assert!(response.headers.get("strict-transport-security").is_none());
        assert_security_headers(&response);
        assert!(body.contains("<title>"), "{path}");
        assert!(body.contains("<script src=\"/static/app.js?v="), "{path}");
        assert!(
            !body.contains("<script>") && !body.contains("style=\""),
            "{path}: inline code"
        );
        assert!(!has_inline_handler(&body), "{path}: no inline handlers");
    }
}

#[tokio::test]
async fn signed_in_pages_render_for_a_live_session() {
    let edge = TestEdge::start().await;
    for path in ["/account", "/app"] {
        let (response, body) = html(&edge, path, Some(&session_cookie(SECRET))).await;
        assert_eq!(response.status, 200, "{path}");
        assert_security_headers(&response);
        assert_eq!(header(&response, "cache-control"), "no-store");
        assert!(body.contains("<title>Your "), "{path}");
    }
    let (_, account) = html(&edge, "/account", Some(&session_cookie(SECRET))).await;
    assert!(account.contains("ada@example.com"));
    assert!(account.contains("id=\"sessions\""));
    assert!(account.contains("data-post=\"/api/auth/revoke-sessions\""));
    assert!(account.contains("data-api=\"/api/auth/delete-user\""));
    let (_, app) = html(&edge, "/app", Some(&session_cookie(SECRET))).await;
    assert!(app.contains("data-api=\"/api/orders\""));
}

#[tokio::test]
async fn signed_out_visits_go_to_sign_in_with_next() {
    let edge = TestEdge::start().await;
    for path in ["/account", "/app"] {
        for cookie in [None, Some(session_cookie(REVOKED))] {
            let (response, _) = html(&edge, path, cookie.as_deref()).await;
            assert_eq!(response.status, 303, "{path}");
            assert_eq!(
                header(&response, "location"),
                format!("/sign-in?next={path}")
            );
            assert_security_headers(&response);
            if cookie.is_some() {
                assert!(header(&response, "set-cookie").contains("Max-Age=0"));
            }
        }
    }
}

#[tokio::test]
async fn sign_in_honours_only_same_origin_next_paths() {
    let edge = TestEdge::start().await;
    let (_, body) = html(&edge, "/sign-in?next=/account", None).await;
    assert!(body.contains("data-next=\"/account\""), "{body}");
    for unsafe_next in [
        "//evil.example",
        "/\\evil.example",
        "https://evil.example/",
        "javascript:alert(1)",
        "/%2fevil.example",
    ] {
        let query: String = form_urlencoded::Serializer::new(String::new())
            .append_pair("next", unsafe_next)
            .finish();
        let (response, body) = html(&edge, &format!("/sign-in?{query}"), None).await;
        assert_eq!(response.status, 200);
        assert!(body.contains("data-next=\"/app\""), "{unsafe_next}: {body}");
        assert!(!body.contains("evil.example"), "{unsafe_next}");
        assert!(!body.contains("javascript:"), "{unsafe_next}");
    }
}

#[tokio::test]
async fn reflected_values_are_escaped() {
    let edge = TestEdge::start().await;
    for path in [
        "/verify-email?error=%3Cscript%3Ealert(1)%3C%2Fscript%3E",
        "/reset-password?error=%3Cscript%3Ealert(1)%3C%2Fscript%3E",
        "/reset-password?token=%22%3E%3Cscript%3Ealert(1)%3C%2Fscript%3E",
        "/sign-in?next=%2F%22%3E%3Cscript%3Ealert(1)%3C%2Fscript%3E",
    ] {
        let (response, body) = html(&edge, path, None).await;
        assert_eq!(response.status, 200, "{path}");
        assert!(!body.contains("<script>alert"), "{path}: {body}");
        assert!(!body.contains("\"><script>"), "{path}");
    }
    let (_, body) = html(
        &edge,
        "/verify-email?error=%3Cscript%3Ealert(1)%3C%2Fscript%3E",
        None,
    )
    .await;
    assert!(body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    let (_, body) = html(&edge, "/verify-email?error=TOKEN_EXPIRED", None).await;
    assert!(body.contains("This link has expired."));
}

#[tokio::test]
async fn static_files_are_served_with_cache_headers_and_types() {
    let edge = TestEdge::start().await;
    for (path, content_type, needle) in [
        ("/static/app.css", "text/css; charset=utf-8", "font-family"),
        (
            "/static/app.js",
            "text/javascript; charset=utf-8",
            "credentials: \"same-origin\"",
        ),
    ] {
        let (response, body) = html(&edge, path, None).await;
        assert_eq!(response.status, 200, "{path}");
        assert_eq!(header(&response, "content-type"), content_type);
        assert_eq!(
            header(&response, "cache-control"),
            "public, max-age=31536000, immutable"
        );
        assert!(header(&response, "etag").starts_with('"'));
        assert_eq!(header(&response, "x-content-type-options"), "nosniff");
        assert!(body.contains(needle), "{path}");
    }
    let (_, page) = html(&edge, "/", None).await;
    assert!(page.contains("href=\"/static/app.css?v="));
    assert!(!page.contains("innerHTML"));
    let (_, js) = html(&edge, "/static/app.js", None).await;
    assert!(!js.contains("innerHTML") && !js.contains("eval("));
}

#[tokio::test]
async fn https_public_url_adds_hsts_to_pages() {
    let edge = TestEdge::start_with(Options {
        public_url: "https://app.example.com",
        ..Options::default()
    })
    .await;
    let (response, _) = html(&edge, "/sign-in", None).await;
    assert_eq!(response.status, 200);
    assert_security_headers(&response);
    assert!(header(&response, "strict-transport-security").starts_with("max-age="));
}
