//! Fake upstreams on 127.0.0.1:0 and an edge started against them. Every listener is bound
//! before its server is spawned, so it is ready as soon as its URL is known: nothing sleeps.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use serde_json::{json, Value};
use tokio::net::TcpListener;

/// The secret session token the fake identity issues and accepts.
pub const SECRET: &str = "c2VjcmV0LXNlc3Npb24tdG9rZW4tMzItYnl0ZXMtbG9uZw";
/// The session's public handle (its `token` field in Session JSON).
pub const HANDLE: &str = "0b8f6a5e-2d1c-4c55-9c1d-6f0e7a1b2c3d";
/// A session identity refuses (`invalid_grant`, `401` on lookup).
pub const REVOKED: &str = "revoked-session-token";
/// A session whose exchange identity never answers.
pub const SLOW: &str = "slow-session-token";
/// A session whose exchange identity answers with a non-grant 4xx (a contract bug).
pub const BUGGY: &str = "buggy-session-token";
/// A live session whose exchange extends it (sliding expiry) to one hour from now.
pub const SLIDING: &str = "sliding-session-token";
/// A live session signed in too long ago for sensitive changes (`403 SESSION_NOT_FRESH`).
pub const STALE: &str = "stale-session-token";
/// A session whose listing (wrongly) carries its own secret as a handle.
pub const LEAKY: &str = "leaky-session-token";
/// Another session of the same user, as listed.
pub const OTHER_HANDLE: &str = "5a4e3f2d-1c0b-4a99-8877-665544332211";
/// The secret of the session started by a password change with `revoke_other_sessions`.
pub const NEW_SECRET: &str = "bmV3LXNlY3JldC1zZXNzaW9uLXRva2VuLWFmdGVyLWNoYW5nZQ";
/// That new session's public handle.
pub const NEW_HANDLE: &str = "9e8d7c6b-5a49-4838-a726-150493827160";
/// The public URL every edge under test has unless a test says otherwise.
pub const PUBLIC: &str = "http://127.0.0.1:8080";

/// What the fake identity was sent, per endpoint path, in order.
#[derive(Clone, Default)]
pub struct Recorder(Arc<Mutex<Vec<(String, Value)>>>);

impl Recorder {
    fn record(&self, path: &str, body: Value) {
        self.0.lock().unwrap().push((path.to_owned(), body));
    }

    /// Bodies sent to `path` (forms as JSON objects of strings).
    pub fn calls_to(&self, path: &str) -> Vec<Value> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|(p, _)| p == path)
            .map(|(_, b)| b.clone())
            .collect()
    }

    /// Number of calls to any endpoint.
    pub fn total(&self) -> usize {
        self.0.lock().unwrap().len()
    }
}

fn user() -> Value {
    json!({
        "id": "8c1e2a34-5b6d-4e7f-8a9b-0c1d2e3f4a5b", "name": "Ada", "email": "ada@example.com",
        "emailVerified": false, "image": null,
        "createdAt": "2025-01-01T12:00:00.000Z", "updatedAt": "2025-01-01T12:00:00.000Z"
    })
}

fn session() -> Value {
    json!({
        "id": HANDLE, "token": HANDLE, "userId": "8c1e2a34-5b6d-4e7f-8a9b-0c1d2e3f4a5b",
        "expiresAt": "2025-01-08T12:00:00.000Z", "createdAt": "2025-01-01T12:00:00.000Z",
        "updatedAt": "2025-01-01T12:00:00.000Z", "ipAddress": "127.0.0.1", "userAgent": "TestBrowser/1.0"
    })
}

fn identity_error(status: StatusCode, code: &str, message: &str) -> Response {
    (status, Json(json!({ "code": code, "message": message }))).into_response()
}

fn signed_in(body: &Value) -> Response {
    let max_age = if body["remember_me"] == json!(false) {
        Value::Null
    } else {
        json!(604_800)
    };
    Json(json!({ "user": user(), "session": session(), "session_token": SECRET, "cookie_max_age": max_age }))
        .into_response()
}

/// A fake identity implementing the shapes of the internal API edge uses.
pub fn fake_identity(recorder: Recorder) -> Router {
    async fn token(
        State(rec): State<Recorder>,
        Form(form): Form<HashMap<String, String>>,
    ) -> Response {
        rec.record("/v1/token", json!(form));
        let subject = form.get("subject_token").map(String::as_str).unwrap_or("");
        match subject {
            SECRET => Json(json!({
                "access_token": format!("access.{}.{}", form["request_method"], form["request_path"].replace('/', "_")),
                "issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
                "token_type": "Bearer", "expires_in": 60
            }))
            .into_response(),
            SLIDING => Json(json!({
                "access_token": "access.sliding",
                "issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
                "token_type": "Bearer", "expires_in": 60, "session_expires_in": 3600
            }))
            .into_response(),
            SLOW => std::future::pending().await,
            BUGGY => (StatusCode::BAD_REQUEST, Json(json!({"error": "invalid_request", "error_description": "?"})))
                .into_response(),
            _ => (StatusCode::BAD_REQUEST, Json(json!({"error": "invalid_grant", "error_description": "Invalid session"})))
                .into_response(),
        }
    }
    async fn sign_up(State(rec): State<Recorder>, Json(body): Json<Value>) -> Response {
        rec.record("/v1/sign-up", body.clone());
        if body["email"] == "taken@example.com" {
            return identity_error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL",
                "User already exists. Use another email.",
            );
        }
        signed_in(&body)
    }
    async fn sign_in(State(rec): State<Recorder>, Json(body): Json<Value>) -> Response {
        rec.record("/v1/sign-in", body.clone());
        if body["password"] != "correct horse battery" {
            return identity_error(
                StatusCode::UNAUTHORIZED,
                "INVALID_EMAIL_OR_PASSWORD",
                "Invalid email or password",
            );
        }
        signed_in(&body)
    }
    async fn session_lookup(State(rec): State<Recorder>, Json(body): Json<Value>) -> Response {
        rec.record("/v1/session", body.clone());
        if body["session_token"] != SECRET {
            return identity_error(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", "Unauthorized");
        }
        Json(json!({ "user": user(), "session": session(), "cookie_max_age": 604_800, "refreshed": true }))
            .into_response()
    }
    async fn sign_out(State(rec): State<Recorder>, Json(body): Json<Value>) -> Json<Value> {
        rec.record("/v1/sign-out", body);
        Json(json!({ "success": true }))
    }
    /// Every account endpoint: the caller must be SECRET (or STALE/LEAKY where they matter).
    async fn account(
        State(rec): State<Recorder>,
        uri: axum::http::Uri,
        Json(body): Json<Value>,
    ) -> Response {
        let path = uri.path();
        rec.record(path, body.clone());
        let caller = body["session_token"].as_str().unwrap_or("");
        let sensitive = matches!(
            path,
            "/v1/sessions/list" | "/v1/sessions/revoke-all" | "/v1/password/change"
        );
        match caller {
            STALE if sensitive => {
                return identity_error(
                    StatusCode::FORBIDDEN,
                    "SESSION_NOT_FRESH",
                    "Session is not fresh.",
                )
            }
            LEAKY if path == "/v1/sessions/list" => {
                let mut leaky = session();
                leaky["token"] = json!(LEAKY);
                return Json(json!({ "sessions": [leaky], "current_session_id": HANDLE }))
                    .into_response();
            }
            SECRET | STALE => {}
            _ => return identity_error(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", "Unauthorized."),
        }
        match path {
            "/v1/sessions/list" => {
                let mut other = session();
                other["id"] = json!(OTHER_HANDLE);
                other["token"] = json!(OTHER_HANDLE);
                Json(json!({ "sessions": [other, session()], "current_session_id": HANDLE })).into_response()
            }
            "/v1/sessions/revoke" => {
                Json(json!({ "status": true, "revoked_current": body["session_id"] == HANDLE })).into_response()
            }
            "/v1/sessions/revoke-others" => Json(json!({ "status": true, "revoked_current": false })).into_response(),
            "/v1/sessions/revoke-all" => Json(json!({ "status": true, "revoked_current": true })).into_response(),
            "/v1/password/change" if body["current_password"] != "correct horse battery" => {
                identity_error(StatusCode::BAD_REQUEST, "INVALID_PASSWORD", "Invalid password.")
            }
            "/v1/password/change" if body["revoke_other_sessions"] == true => {
                let mut new = session();
                new["id"] = json!(NEW_HANDLE);
                new["token"] = json!(NEW_HANDLE);
                Json(json!({ "user": user(), "session": new, "session_token": NEW_SECRET, "cookie_max_age": 604_800 }))
                    .into_response()
            }
            "/v1/password/change" => {
                Json(json!({ "user": user(), "session": null, "session_token": null, "cookie_max_age": null }))
                    .into_response()
            }
            "/v1/user/update" if body.get("email").is_some() => {
                identity_error(StatusCode::BAD_REQUEST, "EMAIL_CAN_NOT_BE_UPDATED", "Email can not be updated.")
            }
            "/v1/user/update" => Json(json!({ "user": user() })).into_response(),
            "/v1/user/delete" => Json(json!({ "success": true })).into_response(),
            _ => StatusCode::NOT_FOUND.into_response(),
        }
    }
    Router::new()
        .route("/v1/sessions/list", post(account))
        .route("/v1/sessions/revoke", post(account))
        .route("/v1/sessions/revoke-others", post(account))
        .route("/v1/sessions/revoke-all", post(account))
        .route("/v1/password/change", post(account))
        .route("/v1/user/update", post(account))
        .route("/v1/user/delete", post(account))
        .route("/v1/token", post(token))
        .route("/v1/sign-up", post(sign_up))
        .route("/v1/sign-in", post(sign_in))
        .route("/v1/session", post(session_lookup))
        .route("/v1/sign-out", post(sign_out))
        .route(
            "/healthz",
            get(|| async { Json(json!({ "status": "ok" })) }),
        )
        .with_state(recorder)
}

/// A fake core-api that answers every request with what it received, plus a `Set-Cookie` edge
/// must strip; `/api/slow` never answers.
pub fn echoing_core_api() -> Router {
    async fn echo(method: Method, headers: HeaderMap, request: Request) -> Response {
        let uri = request.uri().clone();
        if uri.path() == "/api/slow" {
            return std::future::pending().await;
        }
        let body: Bytes = axum::body::to_bytes(request.into_body(), usize::MAX)
            .await
            .unwrap_or_default();
        let mut received: HashMap<String, Vec<String>> = HashMap::new();
        for (name, value) in &headers {
            received
                .entry(name.to_string())
                .or_default()
                .push(value.to_str().unwrap_or("?").to_owned());
        }
        let echo = json!({
            "method": method.as_str(), "path": uri.path(), "query": uri.query(),
            "headers": received, "body": String::from_utf8_lossy(&body),
        });
        (
            [
                ("set-cookie", "core-api-session=evil; Path=/"),
                ("x-echo", "yes"),
            ],
            Json(echo),
        )
            .into_response()
    }
    Router::new().fallback(echo)
}

/// Serves `router` on a fresh port; the URL is usable at once.
pub async fn serve(router: Router) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{addr}")
}

/// A URL on which nothing listens (a port bound and then released).
pub async fn dead_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}")
}

/// How to start an edge under test.
pub struct Options {
    pub public_url: &'static str,
    pub upstream_timeout: Duration,
    pub body_limit: usize,
    pub identity_url: Option<String>,
    pub core_api_url: Option<String>,
    /// `AUTH_RATE_LIMIT`.
    pub auth_rate_limit: u32,
    /// `TRUSTED_PROXIES`.
    pub trusted_proxies: &'static str,
    /// `BODY_TIMEOUT`.
    pub body_timeout: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            public_url: PUBLIC,
            upstream_timeout: Duration::from_secs(10),
            body_limit: 1_048_576,
            identity_url: None,
            core_api_url: None,
            auth_rate_limit: edge::Config::default().auth_rate_limit,
            trusted_proxies: "",
            body_timeout: edge::Config::default().body_timeout,
        }
    }
}

/// An edge serving on a fresh port in front of the fakes.
pub struct TestEdge {
    pub url: String,
    pub http: reqwest::Client,
    pub identity: Recorder,
}

impl TestEdge {
    /// An edge with default options in front of a fake identity and an echoing core-api.
    pub async fn start() -> TestEdge {
        TestEdge::start_with(Options::default()).await
    }

    /// An edge started with `options`; upstreams not overridden are the fakes.
    pub async fn start_with(options: Options) -> TestEdge {
        let identity = Recorder::default();
        let identity_url = match options.identity_url {
            Some(url) => url,
            None => serve(fake_identity(identity.clone())).await,
        };
        let core_api_url = match options.core_api_url {
            Some(url) => url,
            None => serve(echoing_core_api()).await,
        };
        let config = edge::Config {
            addr: "127.0.0.1:0".parse().unwrap(),
            shutdown_grace: std::time::Duration::from_secs(10),
            identity_url,
            core_api_url,
            public_url: options.public_url.to_owned(),
            body_limit: options.body_limit,
            upstream_timeout: options.upstream_timeout,
            log_format: Default::default(),
            metrics_addr: "127.0.0.1:0".parse().unwrap(),
            trusted_proxies: edge::config::TrustedProxies::parse(options.trusted_proxies).unwrap(),
            auth_rate_limit: options.auth_rate_limit,
            body_timeout: options.body_timeout,
            ..edge::Config::default()
        };
        let server = edge::Server::bind(config).await.expect("edge binds");
        let url = format!("http://{}", server.local_addr());
        tokio::spawn(server.run_until(std::future::pending()));
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .user_agent("TestBrowser/1.0")
            .build()
            .unwrap();
        TestEdge {
            url,
            http,
            identity,
        }
    }

    /// A request to `path` on this edge.
    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http.request(method, format!("{}{path}", self.url))
    }

    pub fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.request(reqwest::Method::GET, path)
    }

    pub fn post(&self, path: &str) -> reqwest::RequestBuilder {
        self.request(reqwest::Method::POST, path)
    }

    /// The proxied call: `GET /api/profile` with the session cookie `token`.
    pub async fn get_profile(&self, token: &str) -> reqwest::Response {
        self.get("/api/profile")
            .header("cookie", session_cookie(token))
            .send()
            .await
            .unwrap()
    }
}

/// `Cookie` header carrying `token` under the plain-http cookie name.
pub fn session_cookie(token: &str) -> String {
    format!("better-auth.session_token={token}")
}

/// The response's `Set-Cookie` values.
pub fn set_cookies(response: &reqwest::Response) -> Vec<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

/// Status and JSON body.
pub async fn json_of(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let body =
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text:?}"));
    (status, body)
}

/// Asserts an error answer's status and stable `code`.
pub async fn assert_code(response: reqwest::Response, status: u16, code: &str) {
    let (actual, body) = json_of(response).await;
    assert_eq!(
        (actual, body["code"].as_str()),
        (status, Some(code)),
        "{body}"
    );
}
