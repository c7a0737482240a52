//! Starts the real identity router on 127.0.0.1:0 with its own store and key directory, and
//! speaks HTTP to it like edge does.

use clap::Parser;
use identity::{Config, Server};
use reqwest::StatusCode;
use serde_json::{json, Value};
use service_kit::Clock;
use test_support::TestDatabase;
use tokio::sync::oneshot;

/// The User-Agent and IP every test browser uses unless it says otherwise.
pub const USER_AGENT: &str = "Mozilla/5.0 (gatehouse-test)";
pub const CLIENT_IP: &str = "203.0.113.9";
pub const PASSWORD: &str = "correct horse battery";

pub use test_support::Store;

/// A running identity.
pub struct TestApp {
    pub base: String,
    pub http: reqwest::Client,
    pub clock: Clock,
    shutdown: Option<oneshot::Sender<()>>,
    // Dropped after the server has been told to stop.
    _postgres: Option<TestDatabase>,
    _dir: tempfile::TempDir,
}

/// A signed-in browser: the secret token edge would keep in the cookie, and ids.
#[derive(Clone, Debug)]
pub struct Browser {
    pub token: String,
    pub user_id: String,
    pub session_id: String,
}

impl TestApp {
    /// An identity with default settings, or `None` (after saying why) when the store is not
    /// available here.
    pub async fn spawn(store: Store) -> Option<TestApp> {
        TestApp::spawn_with(store, &[]).await
    }

    /// An identity with extra command-line settings (`["--session-bind-ip", "true"]`).
    pub async fn spawn_with(store: Store, extra: &[&str]) -> Option<TestApp> {
        let dir = tempfile::tempdir().expect("temp dir");
        let clock = Clock::adjustable();
        let keys_dir = dir.path().join("keys");
        identity::keys::ensure_initialized(&keys_dir, &clock).expect("key ring initialised");

        let (database_url, postgres) =
            test_support::store_url(store, dir.path(), "identity.db").await?;
        let keys_dir = keys_dir.display().to_string();
        let mut args = vec![
            "identity",
            "--addr",
            "127.0.0.1:0",
            "--database-url",
            &database_url,
            "--keys-dir",
            &keys_dir,
            "--issuer",
            "http://identity.test:8081",
            "--dev-mailbox",
            "true",
            "--metrics-addr",
            "127.0.0.1:0",
        ];
        args.extend_from_slice(extra);
        let config = Config::try_parse_from(args).expect("test configuration parses");
        let server = Server::bind(config, clock.clone())
            .await
            .expect("identity binds");
        let base = format!("http://{}", server.local_addr());
        let (shutdown, stop) = oneshot::channel::<()>();
        tokio::spawn(server.run_until(async {
            let _ = stop.await;
        }));
        Some(TestApp {
            base,
            http: reqwest::Client::new(),
            clock,
            shutdown: Some(shutdown),
            _postgres: postgres,
            _dir: dir,
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// POSTs JSON and returns the status and the JSON answer (`Null` when the body is not JSON).
    pub async fn post_json(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        let response = self
            .http
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .expect("request sent");
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// POSTs a raw body with a content type.
    pub async fn post_raw(
        &self,
        path: &str,
        content_type: &str,
        body: impl Into<reqwest::Body>,
    ) -> (StatusCode, Value) {
        let response = self
            .http
            .post(self.url(path))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .expect("request sent");
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// GETs a path.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(self.url(path))
            .send()
            .await
            .expect("request sent")
    }

    /// Signs up a new user (signing them in) and returns the browser.
    pub async fn sign_up(&self, email: &str) -> Browser {
        let (status, body) = self.post_json("/v1/sign-up", &sign_up_body(email)).await;
        assert_eq!(status, StatusCode::OK, "sign-up: {body}");
        browser(&body)
    }

    /// Signs an existing user in again.
    pub async fn sign_in(&self, email: &str) -> Browser {
        let (status, body) = self
            .post_json(
                "/v1/sign-in",
                &json!({"email": email, "password": PASSWORD, "client_ip": CLIENT_IP, "user_agent": USER_AGENT}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "sign-in: {body}");
        browser(&body)
    }

    /// Asks `/v1/session` about a token, as the test browser.
    pub async fn check_session(&self, token: &str) -> (StatusCode, Value) {
        self.post_json(
            "/v1/session",
            &json!({"session_token": token, "client_ip": CLIENT_IP, "user_agent": USER_AGENT}),
        )
        .await
    }

    /// Tries to sign in with `email` and `password`, as the test browser.
    pub async fn try_sign_in(&self, email: &str, password: &str) -> (StatusCode, Value) {
        self.post_json(
            "/v1/sign-in",
            &json!({"email": email, "password": password, "client_ip": CLIENT_IP, "user_agent": USER_AGENT}),
        )
        .await
    }

    /// Exchanges a session token as edge does, with the form fields given (each pair sent as
    /// is, so tests can leave one out or repeat it).
    pub async fn exchange_form(&self, pairs: &[(&str, &str)]) -> reqwest::Response {
        let mut form = form_urlencoded::Serializer::new(String::new());
        for (name, value) in pairs {
            form.append_pair(name, value);
        }
        self.http
            .post(self.url("/v1/token"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form.finish())
            .send()
            .await
            .expect("request sent")
    }

    /// Exchanges with the standard fields, as the test browser, for `GET /api/profile`.
    pub async fn exchange(&self, token: &str) -> (StatusCode, Value) {
        let response = self.exchange_form(&exchange_pairs(token)).await;
        let status = response.status();
        (
            status,
            response.json().await.expect("token endpoint answers JSON"),
        )
    }
}

/// The fields edge sends for `GET /api/profile` from the test browser.
pub fn exchange_pairs(token: &str) -> Vec<(&'static str, &str)> {
    vec![
        (
            "grant_type",
            "urn:ietf:params:oauth:grant-type:token-exchange",
        ),
        ("subject_token", token),
        ("subject_token_type", "urn:gatehouse:token-type:session"),
        ("audience", "core-api"),
        ("request_method", "GET"),
        ("request_path", "/api/profile"),
        ("client_ip", CLIENT_IP),
        ("user_agent", USER_AGENT),
    ]
}

/// A valid sign-up body for `email`.
pub fn sign_up_body(email: &str) -> Value {
    json!({
        "name": "Ada Lovelace",
        "email": email,
        "password": PASSWORD,
        "client_ip": CLIENT_IP,
        "user_agent": USER_AGENT,
    })
}

fn browser(body: &Value) -> Browser {
    Browser {
        token: body["session_token"]
            .as_str()
            .expect("session_token")
            .to_owned(),
        user_id: body["user"]["id"].as_str().expect("user.id").to_owned(),
        session_id: body["session"]["id"]
            .as_str()
            .expect("session.id")
            .to_owned(),
    }
}

/// A unique address per call, so tests never collide.
pub fn unique_email() -> String {
    format!("user-{}@example.com", uuid::Uuid::new_v4().simple())
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}
