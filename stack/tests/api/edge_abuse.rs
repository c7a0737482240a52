//! DESIGN §14 and §3 at edge against the real services: the per-address limit with and without
//! trusted proxies, the session cookie sent again when a proxied call slid the session, and (in
//! `slow_clients`, against a real edge process) a thousand slow or oversized unauthenticated
//! connections.

mod slow_clients;

use std::time::Duration;

use reqwest::header::{ORIGIN, USER_AGENT};
use serde_json::{json, Value};

use crate::support::{json_of, unique_email, Browser, Setup, Store, PASSWORD};

/// A sign-in with a wrong password, forwarded for `client`.
async fn wrong_sign_in(browser: &Browser, client: &str) -> (u16, Value) {
    let response = browser
        .client
        .post(format!("{}/api/auth/sign-in/email", browser.base))
        .header(USER_AGENT, &browser.user_agent)
        .header(ORIGIN, &browser.origin)
        .header("x-forwarded-for", client)
        .json(&json!({"email": unique_email("nobody"), "password": "not the password"}))
        .send()
        .await
        .expect("edge answers");
    json_of(response).await
}

#[tokio::test]
async fn the_per_address_limit_ignores_forwarded_for_from_untrusted_peers() {
    let Some(mut setup) = Setup::new(Store::Sqlite).await else {
        return;
    };
    setup.edge.auth_rate_limit = 2;
    let stack = setup.start().await;
    let browser = stack.browser();
    assert_eq!(
        wrong_sign_in(&browser, "198.51.100.1").await.0,
        401,
        "identity checked the password"
    );
    let (status, body) = wrong_sign_in(&browser, "198.51.100.2").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (429, Some("TOO_MANY_REQUESTS")),
        "{body}"
    );
}

async fn behind_a_trusted_proxy_each_client_has_its_own_budget_and_address(store: Store) {
    let Some(mut setup) = Setup::new(store).await else {
        return;
    };
    setup.edge.auth_rate_limit = 2;
    setup.edge.trusted_proxies =
        edge::config::TrustedProxies::parse("127.0.0.0/8, ::1").expect("CIDRs");
    let stack = setup.start().await;
    let browser = stack.browser();
    assert_eq!(wrong_sign_in(&browser, "198.51.100.1").await.0, 401);
    assert_eq!(
        wrong_sign_in(&browser, "6.6.6.6, 198.51.100.1").await.0,
        429,
        "the proxy's entry counts"
    );
    assert_eq!(
        wrong_sign_in(&browser, "198.51.100.2").await.0,
        401,
        "another client, another budget"
    );

    // identity records the forwarded client as the session's address.
    let response = browser
        .client
        .post(format!("{}/api/auth/sign-up/email", browser.base))
        .header(USER_AGENT, &browser.user_agent)
        .header(ORIGIN, &browser.origin)
        .header("x-forwarded-for", "2001:db8:7::42")
        .json(&json!({"name": "Ivy", "email": unique_email("ivy"), "password": PASSWORD}))
        .send()
        .await
        .expect("edge answers");
    assert_eq!(response.status(), 200);
    let session: Value = browser
        .client
        .get(format!("{}/api/auth/get-session", browser.base))
        .header(USER_AGENT, &browser.user_agent)
        .header("x-forwarded-for", "2001:db8:7::42")
        .send()
        .await
        .expect("edge answers")
        .json()
        .await
        .expect("JSON");
    assert_eq!(
        session["session"]["ipAddress"], "2001:db8:7::42",
        "{session}"
    );
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_client_has_its_own_budget_and_address_on_sqlite() {
    behind_a_trusted_proxy_each_client_has_its_own_budget_and_address(Store::Sqlite).await;
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_client_has_its_own_budget_and_address_on_postgres() {
    behind_a_trusted_proxy_each_client_has_its_own_budget_and_address(Store::Postgres).await;
}

/// The session cookie's `Max-Age` in a response, if it sets the cookie.
fn session_cookie_max_age(response: &reqwest::Response) -> Option<u64> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .find_map(|value| {
            let value = value.to_str().ok()?;
            let rest = value
                .strip_prefix(crate::support::SESSION_COOKIE)?
                .strip_prefix('=')?;
            rest.split("; ")
                .find_map(|attribute| attribute.strip_prefix("Max-Age=")?.parse().ok())
        })
}

/// The three services with core-api on the test's adjustable clock too (`stack::start` gives it
/// the system clock, which refuses tokens minted in identity's future), and a browser signed in.
struct OnOneClock {
    clock: stack::Clock,
    alice: Browser,
    _identity: stack::Running,
    _edge: stack::Running,
    _core_api: tokio::task::JoinHandle<std::io::Result<()>>,
    _dir: tempfile::TempDir,
    _postgres: Option<test_support::TestDatabase>,
}

async fn start_on_one_clock(mut setup: Setup) -> OnOneClock {
    let identity = stack::start_identity(setup.identity, setup.clock.clone())
        .await
        .expect("identity starts");
    setup.core_api.jwks_url = format!("{}/.well-known/jwks.json", identity.url());
    let http = reqwest::Client::new();
    let verifier = shared_claims::Verifier::start(setup.core_api.verifier_config(), http).await;
    let verifier = verifier.with_clock(setup.clock.clone());
    let core_api =
        core_api::Server::bind_with_verifier(setup.core_api, verifier, setup.clock.clone())
            .await
            .expect("core-api binds");
    setup.edge.core_api_url = format!("http://{}", core_api.local_addr());
    let core_api = tokio::spawn(core_api.run_until(std::future::pending()));
    setup.edge.identity_url = identity.url();
    let edge = stack::start_edge(setup.edge.clone())
        .await
        .expect("edge starts");
    let alice = Browser::new(
        &edge.url(),
        &setup.edge.public_url,
        "Mozilla/5.0 (X11; Linux x86_64) GatehouseTest/1.0",
    );
    let signed_up = alice
        .sign_up("Alice", &unique_email("alice"), PASSWORD)
        .await;
    assert_eq!(signed_up.status(), 200);
    OnOneClock {
        clock: setup.clock,
        alice,
        _identity: identity,
        _edge: edge,
        _core_api: core_api,
        _dir: setup.dir,
        _postgres: setup.postgres,
    }
}

async fn a_proxied_call_that_slides_the_session_sends_the_cookie_again(store: Store) {
    let Some(mut setup) = Setup::new(store).await else {
        return;
    };
    setup.identity.session_ttl = Duration::from_secs(3_600);
    setup.identity.session_update_age = Duration::from_secs(600);
    setup.identity.session_max_age = Duration::from_secs(3 * 3_600);
    let stack = start_on_one_clock(setup).await;
    let alice = &stack.alice;

    let fresh = alice.get("/api/profile").await;
    assert_eq!(fresh.status(), 200);
    assert_eq!(
        session_cookie_max_age(&fresh),
        None,
        "nothing slid: the cookie is not sent again"
    );

    // Used 50 minutes later, the session is extended to an hour from now, and so is the cookie.
    stack.clock.advance(Duration::from_secs(50 * 60));
    let slid = alice.get("/api/profile").await;
    assert_eq!(slid.status(), 200);
    assert_eq!(session_cookie_max_age(&slid), Some(3_600));
    let again = alice.get("/api/profile").await;
    assert_eq!(
        session_cookie_max_age(&again),
        None,
        "only the call that extended it re-sends it"
    );

    // Near the absolute maximum (three hours after sign-in) the cookie follows the capped
    // expiry, not the full hour.
    stack.clock.advance(Duration::from_secs(50 * 60));
    assert_eq!(
        session_cookie_max_age(&alice.get("/api/profile").await),
        Some(3_600),
        "at 1h40"
    );
    stack.clock.advance(Duration::from_secs(50 * 60));
    let capped = alice.get("/api/profile").await;
    assert_eq!(capped.status(), 200);
    // (The real time this test has run for is on top of the clock's advances.)
    let max_age =
        session_cookie_max_age(&capped).expect("the capped extension re-sends the cookie");
    assert!(
        (29 * 60..=30 * 60).contains(&max_age),
        "at 2h30 the session ends at 3h: Max-Age={max_age}"
    );
}

#[tokio::test]
async fn a_proxied_call_that_slides_the_session_sends_the_cookie_again_on_sqlite() {
    a_proxied_call_that_slides_the_session_sends_the_cookie_again(Store::Sqlite).await;
}

#[tokio::test]
async fn a_proxied_call_that_slides_the_session_sends_the_cookie_again_on_postgres() {
    a_proxied_call_that_slides_the_session_sends_the_cookie_again(Store::Postgres).await;
}
