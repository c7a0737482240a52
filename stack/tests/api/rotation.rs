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
use tokio::time::Instant;

use crate::support::{header_of, unique_email, Setup, Store, PASSWORD};

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
fn spawn_load(browser: crate::support::Browser, load: Arc<Load>) -> tokio::task::JoinHandle<()> {
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
    let stack = setup.start().await;
    let alice = stack.signed_in("Alice").await;
    let session = alice.session_token().expect("signed in");
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
    let stack = setup.start().await;
    let alice = stack.signed_in("Alice").await;
    let session = alice.session_token().expect("signed in");
    let before = stack
        .exchange(&session, "GET", "/api/profile", &alice.user_agent)
        .await;
    let old_kid = header_of(&before)["kid"]
        .as_str()
        .expect("a kid")
        .to_owned();
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

/// Signs up at identity directly (as edge would) and returns the secret session token.
async fn session_at(identity_url: &str, user_agent: &str) -> String {
    let response = reqwest::Client::new()
        .post(format!("{identity_url}/v1/sign-up"))
        .json(&json!({
            "name": "Replica User",
            "email": unique_email("replica"),
            "password": PASSWORD,
            "client_ip": "127.0.0.1",
            "user_agent": user_agent,
        }))
        .send()
        .await
        .expect("identity answers");
    assert_eq!(response.status(), 200, "sign-up at {identity_url}");
    let body: Value = response.json().await.expect("JSON");
    body["session_token"]
        .as_str()
        .expect("a session token")
        .to_owned()
}

/// The kid of a token identity at `identity_url` signs now.
async fn signing_kid_at(identity_url: &str, session_token: &str, user_agent: &str) -> String {
    let response = reqwest::Client::new()
        .post(format!("{identity_url}/v1/token"))
        .form(&[
            (
                "grant_type",
                "urn:ietf:params:oauth:grant-type:token-exchange",
            ),
            ("subject_token", session_token),
            ("subject_token_type", "urn:gatehouse:token-type:session"),
            ("audience", "core-api"),
            ("request_method", "GET"),
            ("request_path", "/api/profile"),
            ("client_ip", "127.0.0.1"),
            ("user_agent", user_agent),
        ])
        .send()
        .await
        .expect("identity answers");
    assert_eq!(response.status(), 200, "exchange at {identity_url}");
    let body: Value = response.json().await.expect("JSON");
    let token = body["access_token"].as_str().expect("an access token");
    header_of(token)["kid"].as_str().expect("a kid").to_owned()
}

/// The kid each replica signs with now.
async fn signing_kids(replicas: &[String], sessions: &[String], user_agent: &str) -> Vec<String> {
    let mut kids = Vec::new();
    for (url, session) in replicas.iter().zip(sessions) {
        kids.push(signing_kid_at(url, session, user_agent).await);
    }
    kids
}

#[tokio::test]
async fn two_identity_replicas_on_one_keys_dir_switch_to_the_new_kid_at_the_same_moment() {
    let Some(setup) = Setup::new(Store::Sqlite).await else {
        return;
    };
    let clock = setup.clock.clone();
    let keys_dir = setup.identity.keys_dir.clone();
    let mut second_config = setup.identity.clone();
    second_config.database_url = format!(
        "sqlite://{}/identity-replica.db",
        setup.dir.path().display()
    )
    .parse()
    .expect("a store URL");
    let first = stack::start_identity(setup.identity.clone(), clock.clone())
        .await
        .expect("first replica starts");
    let second = stack::start_identity(second_config, clock.clone())
        .await
        .expect("second replica starts");
    let replicas = [first.url(), second.url()];
    let user_agent = "GatehouseTest/1.0 (replicas)";
    let mut sessions = Vec::new();
    for url in &replicas {
        sessions.push(session_at(url, user_agent).await);
    }
    let old = signing_kids(&replicas, &sessions, user_agent).await;
    assert_eq!(
        old[0], old[1],
        "both replicas sign with the same key to begin with"
    );

    let config = KeyRingConfig::default();
    let rotated = lifecycle::rotate(
        &keys_dir,
        &clock,
        &config,
        config.default_lead(),
        false,
        "test",
    )
    .expect("rotates");
    let new_kid = rotated.kid.to_string();
    for url in &replicas {
        let deadline = Deadline::new(WATCH * 3, "each replica publishes the pending key");
        while !published_kids(url).await.contains(&new_kid) {
            deadline.wait().await;
        }
    }
    let kids_now = || signing_kids(&replicas, &sessions, user_agent);
    assert_eq!(kids_now().await, old, "a pending key signs nowhere");

    let until_activation = Duration::from_millis(
        u64::try_from(rotated.activates_at - clock.now_millis()).expect("ahead"),
    );
    clock.advance(until_activation - Duration::from_millis(300));
    assert_eq!(
        kids_now().await,
        old,
        "just before activation both still sign with the old key"
    );
    clock.advance(Duration::from_millis(300));
    assert_eq!(
        kids_now().await,
        [new_kid.clone(), new_kid.clone()],
        "from activation on both sign with the new key"
    );
    clock.advance(Duration::from_secs(3_600));
    assert_eq!(
        kids_now().await,
        [new_kid.clone(), new_kid],
        "and keep doing so"
    );
    first.stop().await.expect("first replica stops");
    second.stop().await.expect("second replica stops");
}

/// Parses `keys.json` of `dir`.
fn keys_json(dir: &Path) -> Value {
    serde_json::from_str(&fs::read_to_string(dir.join("keys.json")).expect("keys.json"))
        .expect("keys.json is JSON")
}

#[test]
fn concurrent_cli_runs_leave_a_valid_ring_with_exactly_one_signer() {
    let parent = tempfile::tempdir().expect("a temp dir");
    let dir: PathBuf = parent.path().join("keys");
    let clock = stack::Clock::adjustable();
    identity::keys::ensure_initialized(&dir, &clock).expect("a first key");
    let rotations = 4;
    let runs: Vec<_> = (0..8)
        .map(|i| {
            let (dir, clock) = (dir.clone(), clock.clone());
            std::thread::spawn(move || {
                let command = match i % 4 {
                    0 | 2 => KeysCommand::Rotate {
                        lead: Some(Duration::from_secs(600)),
                        force: false,
                    },
                    1 => KeysCommand::List,
                    _ => KeysCommand::Jwks,
                };
                identity::keys::run(keys(&dir, command), &clock)
            })
        })
        .collect();
    for run in runs {
        assert_eq!(run.join().expect("a CLI run does not panic"), 0);
    }

    let ring =
        KeyRing::load(&dir, KeyRingConfig::default(), clock.clone()).expect("the ring loads");
    let listed = keys_json(&dir);
    let listed = listed["keys"].as_array().expect("keys");
    assert_eq!(listed.len(), 1 + rotations, "no rotation was lost");
    for key in listed {
        let kid = key["kid"].as_str().expect("a kid");
        assert!(
            dir.join(format!("{kid}.pem")).exists(),
            "{kid} has its private key"
        );
    }
    // keys.json times are fixed-width RFC 3339 UTC, so they compare as text.
    let now = service_kit::timefmt::rfc3339_millis(clock.now_millis());
    let may_sign: Vec<&str> = listed
        .iter()
        .filter(|key| {
            let at = |name: &str| key[name].as_str().map(str::to_owned);
            at("activates_at").is_some_and(|a| a <= now)
                && key["revoked_at"].is_null()
                && at("retires_at").is_none_or(|r| r > now)
        })
        .filter_map(|key| key["kid"].as_str())
        .collect();
    assert_eq!(
        may_sign.len(),
        1,
        "exactly one key may sign now: {may_sign:?}"
    );
    assert_eq!(ring.signing_kid().as_deref(), Some(may_sign[0]));
    assert_eq!(
        ring.jwks().keys.len(),
        1 + rotations,
        "the active key and every pending one are published"
    );

    let audit = fs::read_to_string(dir.join("audit.log")).expect("audit.log");
    let verbs: Vec<String> = audit
        .lines()
        .map(|line| {
            serde_json::from_str::<Value>(line).expect("one JSON object per line")["verb"]
                .to_string()
        })
        .collect();
    assert_eq!(verbs.len(), 1 + rotations, "{audit}");
    let leftovers: Vec<_> = fs::read_dir(&dir)
        .expect("lists")
        .filter_map(Result::ok)
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temp files left: {leftovers:?}");
}

#[tokio::test]
async fn a_corrupted_keys_json_leaves_a_running_identity_on_its_last_good_ring() {
    let Some(setup) = Setup::new(Store::Sqlite).await else {
        return;
    };
    let keys_dir = setup.identity.keys_dir.clone();
    let stack = setup.start().await;
    let alice = stack.signed_in("Alice").await;
    let session = alice.session_token().expect("signed in");
    let identity_url = stack.stack.identity.url();
    let served_before = jwks_text(&identity_url).await;
    let kid = header_of(
        &stack
            .exchange(&session, "GET", "/api/profile", &alice.user_agent)
            .await,
    )["kid"]
        .clone();

    let good = fs::read(keys_dir.join("keys.json")).expect("keys.json");
    fs::write(
        keys_dir.join("keys.json"),
        b"{\"version\":1,\"keys\":[{\"kid\":",
    )
    .expect("corrupted");

    // Watch it for three of identity's look-ups: it must go on as before the whole time.
    let until = Instant::now() + WATCH * 3 + POLL;
    let mut checks = 0;
    while Instant::now() < until {
        assert_eq!(
            jwks_text(&identity_url).await,
            served_before,
            "the JWKS is unchanged"
        );
        let token = stack
            .exchange(&session, "GET", "/api/profile", &alice.user_agent)
            .await;
        assert_eq!(
            header_of(&token)["kid"],
            kid,
            "identity still signs with the last good key"
        );
        assert_eq!(alice.get("/api/profile").await.status(), 200);
        checks += 1;
        tokio::time::sleep(POLL * 4).await;
    }
    assert!(checks >= 3);

    // Repaired and rotated, the watcher takes the directory again: it was alive all along.
    fs::write(keys_dir.join("keys.json"), good).expect("restored");
    let config = KeyRingConfig::default();
    let rotated = lifecycle::rotate(
        &keys_dir,
        &stack.clock,
        &config,
        config.default_lead(),
        false,
        "test",
    )
    .expect("rotates once repaired");
    let new_kid = rotated.kid.to_string();
    let deadline = Deadline::new(WATCH * 3, "the repaired directory is taken");
    while !published_kids(&identity_url).await.contains(&new_kid) {
        deadline.wait().await;
    }
}

/// The JWKS document identity at `identity_url` serves, as text.
async fn jwks_text(identity_url: &str) -> String {
    reqwest::get(format!("{identity_url}/.well-known/jwks.json"))
        .await
        .expect("identity answers")
        .text()
        .await
        .expect("a body")
}

#[tokio::test]
async fn a_private_key_readable_by_others_is_refused_naming_the_file() {
    let Some(setup) = Setup::new(Store::Sqlite).await else {
        return;
    };
    let keys_dir = setup.identity.keys_dir.clone();
    let kid = keys_json(&keys_dir)["keys"][0]["kid"]
        .as_str()
        .expect("a kid")
        .to_owned();
    let pem = keys_dir.join(Kid::parse(&kid).expect("a kid").pem_file_name());
    fs::set_permissions(&pem, fs::Permissions::from_mode(0o644)).expect("chmod 644");

    let refused = match stack::start_identity(setup.identity.clone(), setup.clock.clone()).await {
        Ok(_) => panic!("identity started with a private key readable by others"),
        Err(error) => format!("{error:#}"),
    };
    assert!(refused.contains(&pem.display().to_string()), "{refused}");
    assert!(refused.contains("readable by group or others"), "{refused}");
    assert_eq!(
        identity::keys::run(keys(&keys_dir, KeysCommand::Jwks), &setup.clock),
        1
    );

    fs::set_permissions(&pem, fs::Permissions::from_mode(0o600)).expect("chmod 600");
    let identity = stack::start_identity(setup.identity.clone(), setup.clock.clone())
        .await
        .expect("starts once fixed");
    identity.stop().await.expect("stops");
}

#[tokio::test]
async fn a_revocation_with_a_stray_group_readable_pem_in_keys_dir_stops_the_key_at_once() {
    let Some(setup) = short_window_setup().await else {
        return;
    };
    let keys_dir = setup.identity.keys_dir.clone();
    let stack = setup.start().await;
    let alice = stack.signed_in("Alice").await;
    let session = alice.session_token().expect("signed in");
    let before = stack
        .exchange(&session, "GET", "/api/profile", &alice.user_agent)
        .await;
    let old_kid = header_of(&before)["kid"]
        .as_str()
        .expect("a kid")
        .to_owned();

    // An operator's backup copy of the key, group-readable, left in the directory.
    let stray = keys_dir.join("signing-key.backup.pem");
    std::fs::copy(keys_dir.join(format!("{old_kid}.pem")), &stray).expect("copied");
    std::fs::set_permissions(&stray, std::os::unix::fs::PermissionsExt::from_mode(0o640))
        .expect("chmod");

    let revoke = KeysCommand::Revoke {
        kid: old_kid.clone(),
        reason: "leaked in a log".into(),
        force: true,
    };
    assert_eq!(
        identity::keys::run(keys(&keys_dir, revoke), &stack.clock),
        0
    );

    let identity_url = stack.stack.identity.url();
    let deadline = Deadline::new(
        WATCH * 3,
        "identity unpublishes the revoked key despite the stray file",
    );
    while published_kids(&identity_url).await.contains(&old_kid) {
        deadline.wait().await;
    }
    let after = stack
        .exchange(&session, "GET", "/api/profile", &alice.user_agent)
        .await;
    assert_ne!(
        header_of(&after)["kid"].as_str(),
        Some(old_kid.as_str()),
        "identity stopped signing with it"
    );

    let ready = reqwest::get(format!("{identity_url}/readyz"))
        .await
        .expect("identity answers");
    assert_eq!(
        ready.status(),
        200,
        "the ring serves, so identity stays ready"
    );
    let body: Value = ready.json().await.expect("JSON");
    let problem = body["keys_problem"].as_str().unwrap_or_default();
    assert!(
        problem.contains("signing-key.backup.pem"),
        "readyz names the bad file: {body}"
    );

    let audit = std::fs::read_to_string(keys_dir.join("audit.log")).expect("audit log");
    let revoke_line: Value = audit
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .find(|line| line["verb"] == "revoke")
        .expect("a revoke line");
    assert_eq!(revoke_line["kid"], old_kid.as_str());
    assert!(
        revoke_line["uid"].is_u64() && revoke_line["actor"].is_string(),
        "{revoke_line}"
    );
}
