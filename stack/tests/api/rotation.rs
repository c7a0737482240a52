//! Signing keys changing under the real services: a staged rotation no user request notices, an
//! emergency revoke core-api obeys within a refresh, replicas sharing one key directory, and a
//! key directory that is mangled or insecure. Windows are short through configuration (JWKS
//! max-age 1 s, core-api refresh 1 s); every wait polls against a deadline.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use identity::keys::{lifecycle, KeyRing, KeyRingConfig, KeysArgs, KeysCommand, Kid};
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, USER_AGENT};
use serde_json::{json, Value};
use service_kit::Clock;
use tokio::time::Instant;

use crate::support::{header_of, unique_email, Browser, Setup, Store, TestStack, PASSWORD};

mod bad_keys_dir;
mod replicas;

/// JWKS max-age and core-api's refresh interval in these tests.
const WINDOW: Duration = Duration::from_secs(1);
/// How often identity looks at its key directory (identity's `KEY_WATCH_INTERVAL`).
const WATCH: Duration = Duration::from_secs(1);
/// How often a poll looks again.
const POLL: Duration = Duration::from_millis(50);

/// The ring timings the services run with here.
fn short_windows() -> KeyRingConfig {
    KeyRingConfig {
        jwks_max_age: WINDOW,
        verifier_refresh: WINDOW,
        group_readable: false,
    }
}

/// A setup whose identity serves the JWKS with max-age 1 s and whose core-api refreshes it
/// every second; `None` when the store is unavailable.
async fn short_window_setup() -> Option<Setup> {
    let mut setup = Setup::new(Store::Sqlite).await?;
    setup.identity.jwks_max_age = WINDOW;
    setup.core_api.jwks_refresh = WINDOW;
    Some(setup)
}

/// Rotates `keys_dir` with the default configuration and lead, as an operator would.
fn rotate(keys_dir: &Path, clock: &Clock) -> lifecycle::Rotated {
    let config = KeyRingConfig::default();
    lifecycle::rotate(
        keys_dir,
        clock,
        &config,
        config.default_lead(),
        false,
        "test",
    )
    .expect("rotates")
}

/// The kid in a token's header.
fn kid_of(token: &str) -> String {
    header_of(token)["kid"].as_str().expect("a kid").to_owned()
}

/// The stack of `setup` running, with Alice signed in: the stack, her browser and her session
/// token.
async fn start_with_alice(setup: Setup) -> (TestStack, Browser, String) {
    let stack = setup.start().await;
    let alice = stack.signed_in("Alice").await;
    let session = alice.session_token().expect("signed in");
    (stack, alice, session)
}

/// `identity keys VERB` as an operator would type it, against `dir`, with the short windows.
fn keys(dir: &Path, command: KeysCommand) -> KeysArgs {
    KeysArgs {
        keys_dir: dir.to_owned(),
        jwks_max_age: WINDOW,
        verifier_refresh: WINDOW,
        keys_group_readable: false,
        json: false,
        command,
    }
}

/// A bound on a poll: `while !done { deadline.wait().await }` fails the test once it passes.
struct Deadline {
    at: Instant,
    within: Duration,
    what: &'static str,
}

impl Deadline {
    fn new(within: Duration, what: &'static str) -> Deadline {
        Deadline {
            at: Instant::now() + within,
            within,
            what,
        }
    }

    /// Waits one poll interval, or fails the test if the deadline has passed.
    async fn wait(&self) {
        assert!(
            Instant::now() < self.at,
            "not within {:?}: {}",
            self.within,
            self.what
        );
        tokio::time::sleep(POLL).await;
    }
}

/// The kids identity at `identity_url` publishes now.
async fn published_kids(identity_url: &str) -> Vec<String> {
    let jwks: Value = reqwest::get(format!("{identity_url}/.well-known/jwks.json"))
        .await
        .expect("identity answers")
        .json()
        .await
        .expect("the JWKS is JSON");
    jwks["keys"]
        .as_array()
        .expect("a key array")
        .iter()
        .filter_map(|key| key["kid"].as_str().map(str::to_owned))
        .collect()
}

fn bearer(token: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(
        AUTHORIZATION,
        HeaderValue::from_str(&format!("Bearer {token}")).expect("a header value"),
    );
    headers
}

/// What the continuous client saw.
#[derive(Default)]
struct Load {
    calls: AtomicUsize,
    failures: std::sync::Mutex<Vec<String>>,
    stop: AtomicBool,
}

/// Calls `GET /api/profile` through edge back to back until told to stop (at most 20 000 calls
/// or 60 s), recording every answer that is not a 200.
fn spawn_load(browser: Browser, load: Arc<Load>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let give_up = Instant::now() + Duration::from_secs(60);
        for _ in 0..20_000 {
            if load.stop.load(Ordering::SeqCst) || Instant::now() >= give_up {
                return;
            }
            let sent = browser
                .client
                .get(format!("{}/api/profile", browser.base))
                .header(USER_AGENT, &browser.user_agent)
                .send()
                .await;
            let failure = match sent {
                Ok(response) if response.status() == 200 => None,
                Ok(response) => {
                    let status = response.status();
                    Some(format!(
                        "{status}: {}",
                        response.text().await.unwrap_or_default()
                    ))
                }
                Err(error) => Some(format!("transport: {error}")),
            };
            if let Some(failure) = failure {
                load.failures.lock().expect("not poisoned").push(failure);
            }
            load.calls.fetch_add(1, Ordering::SeqCst);
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_staged_rotation_under_continuous_load_fails_no_call_and_new_tokens_carry_the_new_kid() {
    let Some(setup) = short_window_setup().await else {
        return;
    };
    let keys_dir = setup.identity.keys_dir.clone();
    let (stack, alice, session) = start_with_alice(setup).await;
    let old_kid = header_of(
        &stack
            .exchange(&session, "GET", "/api/profile", &alice.user_agent)
            .await,
    )["kid"]
        .as_str()
        .expect("a kid")
        .to_owned();

    let load = Arc::new(Load::default());
    let client = spawn_load(alice.clone(), load.clone());
    let deadline = Deadline::new(Duration::from_secs(10), "the client is calling");
    while load.calls.load(Ordering::SeqCst) < 5 {
        deadline.wait().await;
    }

    // Twice the minimum lead (max-age + refresh = 2 s), as `rotate` does by default.
    let lead = short_windows().default_lead();
    let rotated = lifecycle::rotate(
        &keys_dir,
        &stack.clock,
        &short_windows(),
        lead,
        false,
        "test",
    )
    .expect("a rotation with a safe lead is accepted");
    let new_kid = rotated.kid.to_string();
    assert_ne!(new_kid, old_kid);

    let identity_url = stack.stack.identity.url();
    let deadline = Deadline::new(WATCH * 3, "identity publishes the pending key");
    while !published_kids(&identity_url).await.contains(&new_kid) {
        deadline.wait().await;
    }
    let deadline = Deadline::new(lead + WATCH * 5, "identity signs with the new key");
    loop {
        let token = stack
            .exchange(&session, "GET", "/api/profile", &alice.user_agent)
            .await;
        if header_of(&token)["kid"] == new_kid.as_str() {
            break;
        }
        deadline.wait().await;
    }
    let calls_at_switch = load.calls.load(Ordering::SeqCst);
    let deadline = Deadline::new(
        Duration::from_secs(10),
        "the client keeps calling after the switch",
    );
    while load.calls.load(Ordering::SeqCst) < calls_at_switch + 20 {
        deadline.wait().await;
    }
    load.stop.store(true, Ordering::SeqCst);
    client.await.expect("the client task ends");

    let failures = load.failures.lock().expect("not poisoned").clone();
    let calls = load.calls.load(Ordering::SeqCst);
    assert!(
        failures.is_empty(),
        "{} of {calls} calls failed during the rotation: {failures:?}",
        failures.len()
    );

    let token = stack
        .exchange(&session, "GET", "/api/profile", &alice.user_agent)
        .await;
    assert_eq!(header_of(&token)["kid"], new_kid.as_str());
    assert_eq!(
        stack
            .core_api_get("/api/profile", bearer(&token))
            .await
            .status(),
        200
    );
    let published = published_kids(&identity_url).await;
    assert!(
        published.contains(&old_kid),
        "the retired key stays published while its tokens may live"
    );
}

#[tokio::test]
async fn a_revoked_key_is_refused_by_core_api_within_a_refresh_and_new_calls_succeed() {
    let Some(setup) = short_window_setup().await else {
        return;
    };
    let keys_dir = setup.identity.keys_dir.clone();
    let issuer = setup.identity.issuer.clone();
    let (stack, alice, session) = start_with_alice(setup).await;
    let before = stack
        .exchange(&session, "GET", "/api/profile", &alice.user_agent)
        .await;
    let old_kid = kid_of(&before);
    assert_eq!(
        stack
            .core_api_get("/api/profile", bearer(&before))
            .await
            .status(),
        200
    );
    // Tokens are single-use (DESIGN §15): each look at core-api below spends one, so the
    // attempts after the revoke each present a token of their own, all signed before it.
    let mut spare = Vec::new();
    for _ in 0..80 {
        spare.push(
            stack
                .exchange(&session, "GET", "/api/profile", &alice.user_agent)
                .await,
        );
    }
    let verify = |token: &str| KeysCommand::Verify {
        token: token.to_owned(),
        audience: "core-api".into(),
        issuer: Some(issuer.clone()),
        method: Some("GET".into()),
        path: Some("/api/profile".into()),
    };
    assert_eq!(
        identity::keys::run(keys(&keys_dir, verify(&before)), &stack.clock),
        0,
        "verify accepts it before"
    );

    let revoke = |force| KeysCommand::Revoke {
        kid: old_kid.clone(),
        reason: "leaked in a log".into(),
        force,
    };
    assert_eq!(
        identity::keys::run(keys(&keys_dir, revoke(false)), &stack.clock),
        1,
        "the only published key is not revoked without --force"
    );
    assert_eq!(
        identity::keys::run(keys(&keys_dir, revoke(true)), &stack.clock),
        0
    );
    assert_eq!(
        identity::keys::run(keys(&keys_dir, verify(&before)), &stack.clock),
        1,
        "verify refuses it after"
    );

    let identity_url = stack.stack.identity.url();
    let deadline = Deadline::new(WATCH * 3, "identity unpublishes the revoked key");
    while published_kids(&identity_url).await.contains(&old_kid) {
        deadline.wait().await;
    }
    // One refresh interval after identity stops publishing it, plus slack for a slow machine.
    let deadline = Deadline::new(
        WINDOW * 3,
        "core-api refuses the token signed before the revoke",
    );
    loop {
        let signed_before = spare.pop().expect("a spare token for each attempt");
        let response = stack
            .core_api_get("/api/profile", bearer(&signed_before))
            .await;
        if response.status() == 401 {
            let refused: Value = response.json().await.expect("JSON");
            assert_eq!(
                refused,
                json!({"code": "INVALID_TOKEN", "message": "token key id is unknown"})
            );
            break;
        }
        deadline.wait().await;
    }

    for _ in 0..5 {
        assert_eq!(
            alice.get("/api/profile").await.status(),
            200,
            "new calls go on with the new key"
        );
    }
    let after = stack
        .exchange(&session, "GET", "/api/profile", &alice.user_agent)
        .await;
    let new_kid = header_of(&after)["kid"].as_str().expect("a kid").to_owned();
    assert_ne!(new_kid, old_kid);
    assert!(published_kids(&identity_url).await.contains(&new_kid));
    assert_eq!(
        stack
            .core_api_get("/api/profile", bearer(&after))
            .await
            .status(),
        200
    );
}

/// Parses `keys.json` of `dir`.
fn keys_json(dir: &Path) -> Value {
    serde_json::from_str(&fs::read_to_string(dir.join("keys.json")).expect("keys.json"))
        .expect("keys.json is JSON")
}
