//! The test harness: the three real services on ephemeral ports over a fresh store, and a
//! browser-like client (cookie jar, User-Agent, Origin) to drive edge as a user would.

use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use reqwest::cookie::{CookieStore, Jar};
use reqwest::header::{HeaderMap, CONTENT_TYPE, ORIGIN, USER_AGENT};
use reqwest::{Response, Url};
use serde_json::{json, Value};
use stack::{Clock, Stack};
use tempfile::TempDir;
use test_support::TestDatabase;

/// The name of edge's session cookie when the public URL is plain http.
pub const SESSION_COOKIE: &str = "better-auth.session_token";
/// The password every test user gets.
pub const PASSWORD: &str = "correct horse battery staple";

pub use test_support::Store;

/// Configuration of the three services for one test; tests tweak it before starting.
pub struct Setup {
    pub identity: identity::Config,
    pub core_api: core_api::Config,
    pub edge: edge::Config,
    pub clock: Clock,
    pub dir: TempDir,
    /// The PostgreSQL database both services use. Dropping it drops the database (connections
    /// and all): whoever takes the services out of a `Setup` keeps this alive as long.
    pub postgres: Option<TestDatabase>,
}

impl Setup {
    /// Fresh store and key ring; `None` when the store is unavailable and the test should skip.
    pub async fn new(store: Store) -> Option<Setup> {
        let dir = tempfile::tempdir().expect("temp dir");
        let (identity_db, postgres) =
            test_support::store_url(store, dir.path(), "identity.db").await?;
        // On PostgreSQL both services share the database, each in its own schema.
        let core_db = match postgres {
            Some(_) => identity_db.clone(),
            None => format!("sqlite://{}/core-api.db", dir.path().display()),
        };
        let clock = Clock::adjustable();
        let keys_dir = dir.path().join("keys");
        identity::keys::ensure_initialized(&keys_dir, &clock).expect("create a key ring");

        use clap::Parser;
        let mut identity =
            identity::Config::try_parse_from(["identity"]).expect("identity defaults");
        identity.addr = "127.0.0.1:0".parse().expect("addr");
        identity.metrics_addr = "127.0.0.1:0".parse().expect("addr");
        identity.database_url = identity_db.parse().expect("a store URL");
        identity.keys_dir = keys_dir;
        // Mail stays in the outbox for /dev/mailbox unless a test points identity at an SMTP
        // server (`Setup::use_smtp`).
        identity.dev_mailbox = true;
        let mut core_api =
            core_api::Config::try_parse_from(["core-api"]).expect("core-api defaults");
        core_api.addr = "127.0.0.1:0".parse().expect("addr");
        core_api.metrics_addr = "127.0.0.1:0".parse().expect("addr");
        core_api.database_url = core_db.parse().expect("a store URL");
        core_api.issuer = identity.issuer.clone();
        let mut edge = edge::Config::try_parse_from(["edge"]).expect("edge defaults");
        edge.addr = "127.0.0.1:0".parse().expect("addr");
        // Every test browser comes from 127.0.0.1 and many tests sign in or mail far more often
        // than a person would; the per-address limit's own tests (edge_abuse) turn it on.
        edge.auth_rate_limit = 0;
        edge.metrics_addr = "127.0.0.1:0".parse().expect("addr");
        Some(Setup {
            identity,
            core_api,
            edge,
            clock,
            dir,
            postgres,
        })
    }

    /// Sends identity's mail to the SMTP server at `url` instead of the development mailbox.
    pub fn use_smtp(&mut self, url: identity::mail::SmtpUrl) {
        self.identity.smtp_url = Some(url);
        self.identity.dev_mailbox = false;
    }

    /// Starts the three services.
    pub async fn start(self) -> TestStack {
        let public_url = self.edge.public_url.clone();
        let stack = stack::start(self.identity, self.core_api, self.edge, self.clock.clone())
            .await
            .expect("the stack starts");
        TestStack {
            stack,
            public_url,
            clock: self.clock,
            dir: self.dir,
            _postgres: self.postgres,
        }
    }
}

/// A running stack and what a test needs to talk to it.
pub struct TestStack {
    pub stack: Stack,
    /// The origin browsers see (edge's `PUBLIC_URL`), sent as `Origin` on state changes.
    pub public_url: String,
    pub clock: Clock,
    /// Holds the SQLite files and key ring.
    pub dir: TempDir,
    /// The PostgreSQL database, dropped (its connections ended) after the services.
    _postgres: Option<TestDatabase>,
}

impl TestStack {
    /// Starts a stack with default settings; `None` when the store is unavailable.
    pub async fn start(store: Store) -> Option<TestStack> {
        Some(Setup::new(store).await?.start().await)
    }

    /// edge's base URL.
    pub fn edge(&self) -> String {
        self.stack.edge.url()
    }

    /// A new browser with an empty cookie jar.
    pub fn browser(&self) -> Browser {
        Browser::new(
            &self.edge(),
            &self.public_url,
            "Mozilla/5.0 (X11; Linux x86_64) GatehouseTest/1.0",
        )
    }

    /// A browser that has signed up (and so is signed in) as a new user named `name`.
    pub async fn signed_in(&self, name: &str) -> Browser {
        let browser = self.browser();
        let email = unique_email(name);
        let response = browser.sign_up(name, &email, PASSWORD).await;
        assert_eq!(response.status(), 200, "sign-up of {email} failed");
        browser
    }

    /// Exchanges a session token at identity directly, as edge does, and returns the token.
    pub async fn exchange(
        &self,
        session_token: &str,
        method: &str,
        path: &str,
        user_agent: &str,
    ) -> String {
        let response = self
            .exchange_raw(session_token, "core-api", method, path, user_agent)
            .await;
        assert_eq!(response.status(), 200, "exchange refused");
        let body: Value = response.json().await.expect("token response is JSON");
        body["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned()
    }

    /// Exchanges `browser`'s session for a token for `method path`, as edge does for its calls.
    pub async fn token_for(&self, browser: &Browser, method: &str, path: &str) -> String {
        let session_token = browser.session_token().expect("the browser is signed in");
        self.exchange(&session_token, method, path, &browser.user_agent)
            .await
    }

    /// The raw answer of identity's token endpoint.
    pub async fn exchange_raw(
        &self,
        session_token: &str,
        audience: &str,
        method: &str,
        path: &str,
        user_agent: &str,
    ) -> Response {
        reqwest::Client::new()
            .post(format!("{}/v1/token", self.stack.identity.url()))
            .form(&[
                (
                    "grant_type",
                    "urn:ietf:params:oauth:grant-type:token-exchange",
                ),
                ("subject_token", session_token),
                ("subject_token_type", "urn:gatehouse:token-type:session"),
                ("audience", audience),
                ("request_method", method),
                ("request_path", path),
                ("client_ip", "127.0.0.1"),
                ("user_agent", user_agent),
            ])
            .send()
            .await
            .expect("identity answers")
    }

    /// Calls core-api directly (as something on the internal network would).
    pub async fn core_api_get(&self, path: &str, headers: HeaderMap) -> Response {
        reqwest::Client::new()
            .get(format!("{}{path}", self.stack.core_api.url()))
            .headers(headers)
            .send()
            .await
            .expect("core-api answers")
    }
}

/// A unique address for a test user.
pub fn unique_email(name: &str) -> String {
    format!(
        "{}-{}@example.com",
        name.to_lowercase(),
        uuid::Uuid::new_v4().simple()
    )
}

/// A browser: one cookie jar, one User-Agent, and the public Origin on every state change.
#[derive(Clone)]
pub struct Browser {
    pub client: reqwest::Client,
    pub jar: Arc<Jar>,
    pub base: String,
    pub origin: String,
    pub user_agent: String,
}

impl Browser {
    pub fn new(base: &str, origin: &str, user_agent: &str) -> Browser {
        let jar = Arc::new(Jar::default());
        let client = reqwest::Client::builder()
            .cookie_provider(jar.clone())
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        Browser {
            client,
            jar,
            base: base.to_owned(),
            origin: origin.trim_end_matches('/').to_owned(),
            user_agent: user_agent.to_owned(),
        }
    }

    pub async fn sign_up(&self, name: &str, email: &str, password: &str) -> Response {
        self.post_json(
            "/api/auth/sign-up/email",
            json!({"name": name, "email": email, "password": password}),
        )
        .await
    }

    pub async fn sign_in(&self, email: &str, password: &str) -> Response {
        self.post_json(
            "/api/auth/sign-in/email",
            json!({"email": email, "password": password}),
        )
        .await
    }

    pub async fn sign_out(&self) -> Response {
        self.post_json("/api/auth/sign-out", json!({})).await
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client
            .get(format!("{}{path}", self.base))
            .header(USER_AGENT, &self.user_agent)
            .send()
            .await
            .expect("edge answers")
    }

    pub async fn post_json(&self, path: &str, body: Value) -> Response {
        self.client
            .post(format!("{}{path}", self.base))
            .header(USER_AGENT, &self.user_agent)
            .header(ORIGIN, &self.origin)
            .json(&body)
            .send()
            .await
            .expect("edge answers")
    }

    /// The session cookie's value, if the jar holds one.
    pub fn session_token(&self) -> Option<String> {
        let url = Url::parse(&self.base).expect("base URL");
        let header = self.jar.cookies(&url)?;
        let header = header.to_str().ok()?.to_owned();
        header.split("; ").find_map(|pair| {
            let (name, value) = pair.split_once('=')?;
            (name == SESSION_COOKIE).then(|| value.to_owned())
        })
    }

    /// Whether get-session shows a session (it answers `null` when signed out).
    pub async fn is_signed_in(&self) -> bool {
        let session = self.get("/api/auth/get-session").await;
        session.text().await.expect("a get-session body") != "null"
    }

    /// Sends `GET path` with an explicit session cookie (e.g. one kept from before a sign-out).
    pub async fn get_with_cookie(&self, path: &str, session_token: &str) -> Response {
        reqwest::Client::new()
            .get(format!("{}{path}", self.base))
            .header(USER_AGENT, &self.user_agent)
            .header("Cookie", format!("{SESSION_COOKIE}={session_token}"))
            .send()
            .await
            .expect("edge answers")
    }
}

/// The claims of a JWS, decoded without checking anything.
pub fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("a JWS has a payload");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64url"))
        .expect("JSON claims")
}

/// The header of a JWS, decoded without checking anything.
pub fn header_of(token: &str) -> Value {
    let header = token.split('.').next().expect("a JWS has a header");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).expect("base64url"))
        .expect("JSON header")
}

/// Builds a JWS from any header and claims, signed by `sign` over `header.payload`.
pub fn forge(header: &Value, claims: &Value, sign: impl FnOnce(&[u8]) -> Vec<u8>) -> String {
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature = sign(signing_input.as_bytes());
    format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature))
}

/// A response's status and JSON body (or the body as a JSON string when it is not JSON).
pub async fn json_of(response: Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.expect("a body");
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// The status of a proxied call: whether the browser is still signed in.
pub async fn api_status(browser: &Browser) -> u16 {
    browser.get("/api/profile").await.status().as_u16()
}

/// Posts `body` with any content type, as a browser at the public origin would.
pub async fn post_raw(browser: &Browser, path: &str, content_type: &str, body: String) -> Response {
    browser
        .client
        .post(format!("{}{path}", browser.base))
        .header(USER_AGENT, &browser.user_agent)
        .header(ORIGIN, &browser.origin)
        .header(CONTENT_TYPE, content_type)
        .body(body)
        .send()
        .await
        .expect("edge answers")
}

/// Asserts an answer's status and error code.
pub fn assert_code(answer: &(u16, Value), status: u16, code: &str) {
    assert_eq!(
        (answer.0, answer.1["code"].as_str()),
        (status, Some(code)),
        "{}",
        answer.1
    );
}
