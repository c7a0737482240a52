//! `TestApp`: one running core-api with its own fresh store and signing key, and the requests a
//! caller makes, each with a token minted for exactly that request.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use core_api::{Config, Server};
use ed25519_dalek::{Signer, SigningKey};
use rand::rngs::OsRng;
use serde_json::{json, Value};
use service_kit::Clock;
use shared_claims::{Jwk, JwkSet, Verifier};
use std::io::Write;
use std::sync::Once;
pub use test_support::Store;
use test_support::TestDatabase;
use tokio::sync::oneshot;

pub const ISSUER: &str = "http://identity.test:8081";
pub const AUDIENCE: &str = "core-api";

static SKIP_NOTE: Once = Once::new();

/// The stores a behaviour test runs on: SQLite always, PostgreSQL when configured. Without
/// `TEST_DATABASE_URL` the PostgreSQL run is skipped with a note, or fails when `CI=true`.
pub fn stores() -> Vec<Store> {
    let mut stores = vec![Store::Sqlite];
    match std::env::var("TEST_DATABASE_URL") {
        Ok(url) if !url.is_empty() => stores.push(Store::Postgres),
        _ if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("TEST_DATABASE_URL is not set: CI must run the PostgreSQL tests")
        }
        _ => SKIP_NOTE.call_once(|| {
            // Straight to stderr: libtest would swallow eprintln! output of a passing test.
            let _ = writeln!(
                std::io::stderr(),
                "note: TEST_DATABASE_URL is not set; core-api tests skip their PostgreSQL run"
            );
        }),
    }
    stores
}

/// A store that goes away with the test: the SQLite file's folder, or the PostgreSQL database.
enum TestStore {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres(#[allow(dead_code)] TestDatabase),
}

/// A user as identity would describe them in a token.
#[derive(Clone, Debug)]
pub struct User {
    pub id: String,
    pub email: String,
    pub session_id: String,
}

impl User {
    pub fn new() -> User {
        let id = uuid::Uuid::new_v4().to_string();
        User {
            email: format!("{}@example.test", &id[..8]),
            session_id: uuid::Uuid::new_v4().to_string(),
            id,
        }
    }
}

/// One running core-api.
pub struct TestApp {
    pub base: String,
    pub http: reqwest::Client,
    /// The clock the service stamps orders with; tests move it instead of sleeping.
    pub clock: Clock,
    signing_key: SigningKey,
    kid: String,
    _shutdown: oneshot::Sender<()>,
    // Dropped last, after the server has been told to stop.
    _store: TestStore,
}

impl TestApp {
    /// A core-api on `store` trusting one freshly generated key.
    pub async fn spawn(store: &Store) -> TestApp {
        let signing_key = SigningKey::generate(&mut OsRng);
        let jwk = Jwk::ed25519(signing_key.verifying_key().as_bytes());
        let kid = jwk.kid.clone().expect("Jwk::ed25519 names its key");
        TestApp::spawn_with_keys(store, signing_key, kid, JwkSet { keys: vec![jwk] }).await
    }

    /// A core-api that knows no signing key at all (as before identity's JWKS was reached).
    pub async fn spawn_without_keys(store: &Store) -> TestApp {
        let signing_key = SigningKey::generate(&mut OsRng);
        TestApp::spawn_with_keys(store, signing_key, "none".into(), JwkSet::default()).await
    }

    async fn spawn_with_keys(
        store: &Store,
        signing_key: SigningKey,
        kid: String,
        keys: JwkSet,
    ) -> TestApp {
        let (database_url, store) = open_store(store).await;
        let config = Config {
            addr: "127.0.0.1:0".parse().expect("a literal address"),
            shutdown_grace: std::time::Duration::from_secs(10),
            database_url: database_url.parse().expect("a store URL"),
            jwks_url: "http://127.0.0.1:9/unused".into(),
            issuer: ISSUER.into(),
            audience: AUDIENCE.into(),
            jwks_refresh: std::time::Duration::from_secs(30),
            revocations_url: None,
            jti_store: core_api::JtiStore::Memory,
            log_format: Default::default(),
            metrics_addr: "127.0.0.1:0".parse().expect("a literal address"),
        };
        let verifier = Verifier::with_keys(config.verifier_config(), keys);
        let clock = Clock::adjustable();
        let server = Server::bind_with_verifier(config, verifier, clock.clone())
            .await
            .expect("core-api binds");
        let base = format!("http://{}", server.local_addr());
        let (shutdown, stop) = oneshot::channel::<()>();
        tokio::spawn(server.run_until(async move {
            let _ = stop.await;
        }));
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("a plain client builds");
        TestApp {
            base,
            http,
            clock,
            signing_key,
            kid,
            _shutdown: shutdown,
            _store: store,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The claims identity would sign for `user` calling `method path` now.
    pub fn claims(&self, user: &User, method: &str, path: &str) -> Value {
        let now = Clock::system().now_unix();
        json!({
            "iss": ISSUER,
            "sub": user.id,
            "aud": AUDIENCE,
            "iat": now,
            "nbf": now,
            "exp": now + 60,
            "jti": URL_SAFE_NO_PAD.encode(uuid::Uuid::new_v4().as_bytes()),
            "sid": user.session_id,
            "client_id": "edge",
            "email": user.email,
            "email_verified": true,
            "htm": method,
            "htu": path,
        })
    }

    /// A token for `user` calling `method path`.
    pub fn token(&self, user: &User, method: &str, path: &str) -> String {
        self.sign(&self.claims(user, method, path))
    }

    /// Signs any claims the way identity does (DESIGN "Token format").
    pub fn sign(&self, claims: &Value) -> String {
        let header = json!({ "alg": "EdDSA", "typ": "at+jwt", "kid": self.kid });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = self.signing_key.sign(signing_input.as_bytes());
        format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature.to_bytes())
        )
    }

    /// `GET path` as `user`, with a token for exactly this request.
    pub async fn get(&self, user: &User, path: &str) -> reqwest::Response {
        let token = self.token(user, "GET", path);
        self.http
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("core-api answers")
    }

    /// `POST path` with a JSON body as `user`.
    pub async fn post_json(&self, user: &User, path: &str, body: &Value) -> reqwest::Response {
        let token = self.token(user, "POST", path);
        self.http
            .post(self.url(path))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .expect("core-api answers")
    }

    /// Places an order as `user` and returns its JSON.
    pub async fn place_order(&self, user: &User, product_id: &str, quantity: i64) -> Value {
        let response = self
            .post_json(
                user,
                "/api/orders",
                &json!({ "product_id": product_id, "quantity": quantity }),
            )
            .await;
        assert_eq!(response.status(), 201);
        response.json().await.expect("an order is JSON")
    }
}

/// The JSON body of a response.
pub async fn json_of(response: reqwest::Response) -> Value {
    response.json().await.expect("the body is JSON")
}

async fn open_store(store: &Store) -> (String, TestStore) {
    match store {
        Store::Sqlite => {
            let dir = tempfile::tempdir().expect("a temporary folder");
            let url = format!("sqlite://{}/core-api.db", dir.path().display());
            (url, TestStore::Sqlite(dir))
        }
        Store::Postgres => {
            let database = TestDatabase::create()
                .await
                .expect("stores() names PostgreSQL only when TEST_DATABASE_URL is set");
            (database.url().to_owned(), TestStore::Postgres(database))
        }
    }
}
