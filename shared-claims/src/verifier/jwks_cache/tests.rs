//! The JWKS cache against a real HTTP server on 127.0.0.1:0 whose key set the test controls and
//! whose fetches it counts.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
// The workspace crate, not `crate::test_support` (the verifier's own minting helpers).
use ::test_support::eventually;

use super::usable_key;
use crate::test_support::{Minter, AUDIENCE, ISSUER};
use crate::{Jwk, JwkSet, Verifier, VerifierConfig, VerifyError};

const NOW: i64 = 1_750_000_000;

/// A JWKS endpoint the test publishes to.
struct JwksServer {
    url: String,
    published: Arc<Mutex<Value>>,
    fetches: Arc<AtomicUsize>,
    failing: Arc<AtomicBool>,
    shutdown: oneshot::Sender<()>,
    serving: JoinHandle<()>,
}

impl JwksServer {
    async fn start(keys: JwkSet) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
        let published = Arc::new(Mutex::new(serde_json::to_value(keys).unwrap()));
        let fetches = Arc::new(AtomicUsize::new(0));
        let failing = Arc::new(AtomicBool::new(false));
        let app = Router::new().route(
            "/jwks.json",
            get({
                let (published, fetches, failing) =
                    (published.clone(), fetches.clone(), failing.clone());
                move || async move {
                    fetches.fetch_add(1, Ordering::SeqCst);
                    if failing.load(Ordering::SeqCst) {
                        return StatusCode::SERVICE_UNAVAILABLE.into_response();
                    }
                    let keys = published.lock().unwrap().clone();
                    Json(keys).into_response()
                }
            }),
        );
        let (shutdown, stopped) = oneshot::channel::<()>();
        let serving = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        });
        JwksServer {
            url,
            published,
            fetches,
            failing,
            shutdown,
            serving,
        }
    }

    fn publish(&self, keys: &[&Minter]) {
        let set = JwkSet {
            keys: keys.iter().map(|minter| minter.jwk()).collect(),
        };
        self.publish_raw(serde_json::to_value(set).unwrap());
    }

    fn publish_raw(&self, document: Value) {
        *self.published.lock().unwrap() = document;
    }

    fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }

    fn answer_503(&self) {
        self.failing.store(true, Ordering::SeqCst);
    }

    /// Stops serving and closes every connection, so later fetches fail.
    async fn stop(self) {
        let _ = self.shutdown.send(());
        self.serving.await.unwrap();
    }

    fn config(&self) -> VerifierConfig {
        VerifierConfig::new(self.url.clone(), ISSUER, AUDIENCE)
    }
}

fn set_of(minters: &[&Minter]) -> JwkSet {
    JwkSet {
        keys: minters.iter().map(|minter| minter.jwk()).collect(),
    }
}

async fn verify(verifier: &Verifier, minter: &Minter) -> Result<(), VerifyError> {
    let token = minter.token_for("GET", "/api/orders", NOW);
    verifier
        .verify_at(&token, "GET", "/api/orders", NOW)
        .await
        .map(|_| ())
}

/// How long a background refresh may take to show.
const WITHIN: Duration = Duration::from_secs(10);

#[tokio::test]
async fn start_fetches_the_set_once() {
    let a = Minter::new();
    let server = JwksServer::start(set_of(&[&a])).await;
    let verifier = Verifier::start(server.config(), reqwest::Client::new()).await;
    assert!(verifier.has_keys());
    assert_eq!(server.fetches(), 1);
    assert_eq!(verify(&verifier, &a).await, Ok(()));
    assert_eq!(server.fetches(), 1, "a known kid needs no fetch");
}

#[tokio::test]
async fn an_unknown_kid_triggers_one_refetch_and_then_verifies() {
    let (a, b) = (Minter::new(), Minter::new());
    let server = JwksServer::start(set_of(&[&a])).await;
    let verifier = Verifier::start(server.config(), reqwest::Client::new()).await;
    server.publish(&[&a, &b]);

    assert_eq!(verify(&verifier, &b).await, Ok(()));
    assert_eq!(server.fetches(), 2);
}

#[tokio::test]
async fn concurrent_unknown_kid_verifies_share_one_fetch() {
    let (a, b) = (Minter::new(), Minter::new());
    let server = JwksServer::start(set_of(&[&a])).await;
    let verifier = Verifier::start(server.config(), reqwest::Client::new()).await;
    server.publish(&[&a, &b]);

    let (first, second) = tokio::join!(verify(&verifier, &b), verify(&verifier, &b));
    assert_eq!((first, second), (Ok(()), Ok(())));
    assert_eq!(
        server.fetches(),
        2,
        "one fetch at start, one for both misses"
    );
}

#[tokio::test]
async fn a_second_unknown_kid_within_the_refetch_interval_causes_no_fetch() {
    let (a, b, c) = (Minter::new(), Minter::new(), Minter::new());
    let server = JwksServer::start(set_of(&[&a])).await;
    let verifier = Verifier::start(server.config(), reqwest::Client::new()).await;
    server.publish(&[&a, &b]);
    assert_eq!(verify(&verifier, &b).await, Ok(()));
    server.publish(&[&a, &b, &c]);

    assert_eq!(verify(&verifier, &c).await, Err(VerifyError::UnknownKey));
    assert_eq!(server.fetches(), 2);
}

#[tokio::test]
async fn an_unreachable_jwks_keeps_the_last_good_set() {
    let (a, b) = (Minter::new(), Minter::new());
    let server = JwksServer::start(set_of(&[&a])).await;
    let mut config = server.config();
    config.min_refetch_interval = Duration::ZERO;
    let verifier = Verifier::start(config, reqwest::Client::new()).await;
    server.stop().await;

    assert_eq!(
        verify(&verifier, &b).await,
        Err(VerifyError::UnknownKey),
        "refetch fails"
    );
    assert_eq!(verify(&verifier, &a).await, Ok(()));
    assert!(verifier.has_keys());
}

#[tokio::test]
async fn a_failing_jwks_keeps_the_last_good_set() {
    let (a, b) = (Minter::new(), Minter::new());
    let server = JwksServer::start(set_of(&[&a])).await;
    let mut config = server.config();
    config.min_refetch_interval = Duration::ZERO;
    let verifier = Verifier::start(config, reqwest::Client::new()).await;

    server.answer_503();
    assert_eq!(verify(&verifier, &b).await, Err(VerifyError::UnknownKey));
    server.failing.store(false, Ordering::SeqCst);
    server.publish_raw(json!({"not": "a jwks"}));
    assert_eq!(verify(&verifier, &b).await, Err(VerifyError::UnknownKey));

    assert_eq!(server.fetches(), 3);
    assert_eq!(verify(&verifier, &a).await, Ok(()));
}

#[tokio::test]
async fn a_start_without_identity_is_not_fatal() {
    let a = Minter::new();
    let server = JwksServer::start(set_of(&[&a])).await;
    let config = server.config();
    server.stop().await;

    let verifier = Verifier::start(config, reqwest::Client::new()).await;
    assert!(!verifier.has_keys());
    assert_eq!(verify(&verifier, &a).await, Err(VerifyError::UnknownKey));
}

#[tokio::test]
async fn a_refresh_that_drops_a_key_makes_its_tokens_fail() {
    let (a, b) = (Minter::new(), Minter::new());
    let server = JwksServer::start(set_of(&[&a, &b])).await;
    let mut config = server.config();
    config.refresh_interval = Duration::from_millis(200);
    config.min_refetch_interval = Duration::from_secs(3600);
    let verifier = Verifier::start(config, reqwest::Client::new()).await;
    // Spend the unknown-kid refetch, so only the background refresh can change the set.
    assert_eq!(
        verify(&verifier, &Minter::new()).await,
        Err(VerifyError::UnknownKey)
    );
    assert_eq!(verify(&verifier, &a).await, Ok(()));

    server.publish(&[&b]);
    eventually(WITHIN, "a's tokens are refused", || async {
        verify(&verifier, &a).await == Err(VerifyError::UnknownKey)
    })
    .await;
    assert_eq!(verify(&verifier, &b).await, Ok(()));
}

#[tokio::test]
async fn the_background_refresh_keeps_no_verifier_alive() {
    let a = Minter::new();
    let server = JwksServer::start(set_of(&[&a])).await;
    let mut config = server.config();
    config.refresh_interval = Duration::from_millis(100);
    let verifier = Verifier::start(config, reqwest::Client::new()).await;
    eventually(WITHIN, "the background refresh has run", || async {
        server.fetches() >= 2
    })
    .await;

    let cache = Arc::downgrade(&verifier.inner.keys);
    drop(verifier.clone());
    drop(verifier);
    // A refresh in flight holds the cache until it ends; after that nothing does.
    eventually(WITHIN, "the key cache is freed", || async {
        cache.upgrade().is_none()
    })
    .await;
}

#[tokio::test]
async fn keys_that_are_not_ed25519_signing_keys_with_a_kid_are_skipped() {
    let a = Minter::new();
    let other = Minter::new().jwk();
    let server = JwksServer::start(JwkSet::default()).await;
    server.publish_raw(json!({"keys": [
        {"kty": "RSA", "kid": "rsa", "n": "sXch", "e": "AQAB"},
        {"kty": "OKP", "crv": "X25519", "kid": "x25519", "x": other.x},
        {"kty": "OKP", "crv": "Ed25519", "x": other.x},
        {"kty": "OKP", "crv": "Ed25519", "kid": "enc", "use": "enc", "x": other.x},
        {"kty": "OKP", "crv": "Ed25519", "kid": "short", "x": "AAEC"},
        a.jwk(),
    ]}));
    let verifier = Verifier::start(server.config(), reqwest::Client::new()).await;

    assert_eq!(verify(&verifier, &a).await, Ok(()));
    assert_eq!(verifier.inner.keys.current.read().unwrap().by_kid.len(), 1);
}

#[test]
fn only_an_okp_ed25519_key_with_a_kid_and_32_byte_x_is_usable() {
    let good = Minter::new().jwk();
    assert!(usable_key(&good).is_some());
    let broken: [fn(&mut Jwk); 5] = [
        |jwk| jwk.kty = "EC".into(),
        |jwk| jwk.crv = "Ed448".into(),
        |jwk| jwk.kid = None,
        |jwk| jwk.alg = Some("RS256".into()),
        |jwk| jwk.x.truncate(20),
    ];
    for (index, break_it) in broken.iter().enumerate() {
        let mut jwk = good.clone();
        break_it(&mut jwk);
        assert!(usable_key(&jwk).is_none(), "case {index}");
    }
}

/// Counts what a verifier reports, as core-api's metrics do.
#[derive(Default)]
struct Tally {
    accepted: AtomicUsize,
    refused: std::sync::Mutex<Vec<&'static str>>,
    fetches: std::sync::Mutex<Vec<bool>>,
}

impl crate::VerifierObserver for Tally {
    fn verified(&self, outcome: Result<(), VerifyError>) {
        match outcome {
            Ok(()) => {
                self.accepted.fetch_add(1, Ordering::SeqCst);
            }
            Err(error) => self.refused.lock().unwrap().push(error.check()),
        }
    }
    fn jwks_refreshed(&self, succeeded: bool) {
        self.fetches.lock().unwrap().push(succeeded);
    }
}

#[tokio::test]
async fn the_observer_hears_of_every_verification_and_fetch() {
    let (a, unknown) = (Minter::new(), Minter::new());
    let server = JwksServer::start(set_of(&[&a])).await;
    let tally = Arc::new(Tally::default());
    let verifier =
        Verifier::start_observed(server.config(), reqwest::Client::new(), tally.clone()).await;
    assert_eq!(verify(&verifier, &a).await, Ok(()));
    assert_eq!(
        verify(&verifier, &unknown).await,
        Err(VerifyError::UnknownKey)
    );
    server.answer_503();
    let wrong_path = a.token_for("GET", "/api/other", NOW);
    let refused = verifier
        .verify_at(&wrong_path, "GET", "/api/orders", NOW)
        .await;
    assert_eq!(refused.map(|_| ()), Err(VerifyError::PathMismatch));

    assert_eq!(tally.accepted.load(Ordering::SeqCst), 1);
    assert_eq!(
        *tally.refused.lock().unwrap(),
        ["unknown_key", "path_mismatch"]
    );
    assert_eq!(
        *tally.fetches.lock().unwrap(),
        [true, true],
        "the start and the unknown kid's refetch"
    );
}
