//! Attacks on social sign-in: a provider that lies in its ID token (each flaw ends on the error
//! callback with no session, and the same provider telling the truth signs in), a tampered or
//! missing `state`, a callback replayed from another browser or a second time, redirect targets
//! off the public origin, an unknown provider, and a provider unreachable at start.

use serde_json::json;

use super::fake_provider::{FakeProvider, Flaw};
use super::*;

test_support::on_both_stores!(
    a_lying_id_token_ends_on_the_error_callback_with_no_session,
    a_tampered_or_missing_state_is_refused,
    a_callback_replayed_from_another_browser_or_twice_signs_no_one_in,
);

/// Starts a flow at edge and lets the fake provider approve it: the callback URL it sends the
/// browser back to, as a path on edge.
async fn approved_callback(browser: &Browser, extra: serde_json::Value) -> String {
    let (status, started) = start_social(browser, "/api/auth/sign-in/social", extra).await;
    assert_eq!(status, 200, "{started}");
    let url = started["url"].as_str().expect("url");
    for parameter in [
        "code_challenge_method=S256",
        "code_challenge=",
        "nonce=",
        "state=",
    ] {
        assert!(url.contains(parameter), "{parameter} in {url}");
    }
    let approved = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(url)
        .send()
        .await
        .expect("the fake provider answers");
    path_of(&location_of(&approved))
}

async fn a_lying_id_token_ends_on_the_error_callback_with_no_session(store: Store) {
    let provider = FakeProvider::start(CLIENT_ID).await;
    let Some(stack) = stack_with_provider(store, &provider.issuer).await else {
        return;
    };
    for flaw in [
        Flaw::WrongNonce,
        Flaw::WrongAudience,
        Flaw::WrongIssuer,
        Flaw::Expired,
        Flaw::BadSignature,
        Flaw::AlgNone,
    ] {
        provider.set_flaw(flaw);
        let browser = stack.browser();
        let callback = approved_callback(
            &browser,
            json!({"callbackURL": "/app", "errorCallbackURL": "/sign-in"}),
        )
        .await;
        let back = browser.get(&callback).await;
        assert_eq!(
            (back.status().as_u16(), location_of(&back)),
            (302, "/sign-in?error=unable_to_get_user_info".to_owned()),
            "{flaw:?}"
        );
        assert!(browser.session_token().is_none(), "{flaw:?} gave a session");
        assert_eq!(api_status(&browser).await, 401, "{flaw:?}");
    }
    // The control: the same provider telling the truth signs in…
    provider.set_flaw(Flaw::None);
    let browser = stack.browser();
    let callback = approved_callback(&browser, json!({"callbackURL": "/app"})).await;
    assert_eq!(location_of(&browser.get(&callback).await), "/app");
    assert_eq!(
        current_user(&browser).await["email"],
        "fake-user@example.com"
    );

    // …also right after it rotates its key: the unknown kid makes identity fetch the JWKS again.
    provider.rotate_key();
    let rotated = stack.browser();
    let callback = approved_callback(&rotated, json!({"callbackURL": "/app"})).await;
    assert_eq!(location_of(&rotated.get(&callback).await), "/app");
    assert!(rotated.session_token().is_some());
}

/// `path` with its `state` parameter replaced by `state` (removed when `None`).
fn with_state(path: &str, state: Option<&str>) -> String {
    let url = Url::parse(&format!("http://edge{path}")).unwrap();
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (key, value) in url.query_pairs().filter(|(key, _)| key != "state") {
        query.append_pair(&key, &value);
    }
    if let Some(state) = state {
        query.append_pair("state", state);
    }
    format!("{}?{}", url.path(), query.finish())
}

async fn a_tampered_or_missing_state_is_refused(store: Store) {
    let provider = FakeProvider::start(CLIENT_ID).await;
    let Some(stack) = stack_with_provider(store, &provider.issuer).await else {
        return;
    };
    let browser = stack.browser();
    let callback = approved_callback(
        &browser,
        json!({"callbackURL": "/app", "errorCallbackURL": "/sign-in"}),
    )
    .await;

    let tampered = browser
        .get(&with_state(
            &callback,
            Some("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
        ))
        .await;
    assert_eq!(
        location_of(&tampered),
        "/api/auth/error?error=state_mismatch"
    );
    let missing = browser.get(&with_state(&callback, None)).await;
    assert_eq!(
        location_of(&missing),
        "/api/auth/error?error=state_not_found"
    );
    assert!(browser.session_token().is_none());

    // Those answers cleared the state cookie: without it, even the real callback is refused.
    let without_cookie = browser.get(&callback).await;
    assert_eq!(
        location_of(&without_cookie),
        "/api/auth/error?error=state_mismatch"
    );
    assert!(browser.session_token().is_none());
}

async fn a_callback_replayed_from_another_browser_or_twice_signs_no_one_in(store: Store) {
    let provider = FakeProvider::start(CLIENT_ID).await;
    let Some(stack) = stack_with_provider(store, &provider.issuer).await else {
        return;
    };
    let owner = stack.browser();
    let callback = approved_callback(&owner, json!({"callbackURL": "/app"})).await;

    // Another browser (no state cookie, or its own flow's) replays the owner's callback.
    let thief = stack.browser();
    assert_eq!(
        location_of(&thief.get(&callback).await),
        "/api/auth/error?error=state_mismatch"
    );
    let thief_with_own_flow = stack.browser();
    let _ = start_social(&thief_with_own_flow, "/api/auth/sign-in/social", json!({})).await;
    assert_eq!(
        location_of(&thief_with_own_flow.get(&callback).await),
        "/api/auth/error?error=state_mismatch"
    );
    assert!(thief.session_token().is_none() && thief_with_own_flow.session_token().is_none());

    // The replays spent nothing: the owner still finishes, once.
    assert_eq!(location_of(&owner.get(&callback).await), "/app");
    let session = owner.session_token().expect("the owner is signed in");
    let replay = stack.browser();
    replay.jar.add_cookie_str(
        &format!("{STATE_COOKIE}={}", state_of(&callback)),
        &Url::parse(&owner.base).unwrap(),
    );
    assert_eq!(
        location_of(&replay.get(&callback).await),
        "/api/auth/error?error=state_mismatch"
    );
    assert!(
        replay.session_token().is_none(),
        "a used state never signs in again"
    );
    assert_eq!(owner.session_token(), Some(session));
}

fn state_of(path: &str) -> String {
    Url::parse(&format!("http://edge{path}"))
        .unwrap()
        .query_pairs()
        .find(|(key, _)| key == "state")
        .map(|(_, value)| value.into_owned())
        .expect("a state")
}

#[tokio::test]
async fn redirect_targets_off_the_public_origin_and_unknown_providers_are_refused() {
    let provider = FakeProvider::start(CLIENT_ID).await;
    let Some(stack) = stack_with_provider(Store::Sqlite, &provider.issuer).await else {
        return;
    };
    let browser = stack.browser();
    for (field, code) in [
        ("callbackURL", "INVALID_CALLBACK_URL"),
        ("errorCallbackURL", "INVALID_ERROR_CALLBACK_URL"),
        ("newUserCallbackURL", "INVALID_NEW_USER_CALLBACK_URL"),
    ] {
        for evil in ["https://evil.example/", "//evil.example", "/\\evil.example"] {
            let answer =
                start_social(&browser, "/api/auth/sign-in/social", json!({ field: evil })).await;
            assert_code(&answer, 403, code);
        }
    }
    let unknown = json_of(
        browser
            .post_json("/api/auth/sign-in/social", json!({"provider": "nope"}))
            .await,
    )
    .await;
    assert_code(&unknown, 404, "PROVIDER_NOT_FOUND");
    assert!(browser.session_token().is_none());

    // Without disableRedirect the answer also carries the provider's URL as Location.
    let redirecting = browser
        .post_json("/api/auth/sign-in/social", json!({"provider": PROVIDER}))
        .await;
    let location = location_of(&redirecting);
    let (_, body) = json_of(redirecting).await;
    assert_eq!(
        (body["redirect"].as_bool(), body["url"].as_str()),
        (Some(true), Some(location.as_str()))
    );

    // The provider's own refusal comes back in words on the error callback.
    let (_, started) = start_social(
        &browser,
        "/api/auth/sign-in/social",
        json!({"errorCallbackURL": "/sign-in"}),
    )
    .await;
    let state = Url::parse(started["url"].as_str().unwrap())
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();
    let denied = browser
        .get(&format!(
            "/api/auth/callback/{PROVIDER}?error=access_denied&state={state}"
        ))
        .await;
    assert_eq!(location_of(&denied), "/sign-in?error=access_denied");
    let page = browser
        .get("/sign-in?error=access_denied")
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("You cancelled signing in"), "{page}");
}

#[tokio::test]
async fn a_form_post_callback_comes_back_as_a_get_with_the_same_fields() {
    let provider = FakeProvider::start(CLIENT_ID).await;
    let Some(stack) = stack_with_provider(Store::Sqlite, &provider.issuer).await else {
        return;
    };
    let browser = stack.browser();
    let callback = approved_callback(&browser, json!({"callbackURL": "/app"})).await;
    let fields = Url::parse(&format!("http://edge{callback}"))
        .unwrap()
        .query()
        .unwrap()
        .to_owned();
    // As the provider's page would post it: cross-site, no Origin of ours, no cookies.
    let posted = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(format!("{}/api/auth/callback/{PROVIDER}", stack.edge()))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("origin", provider.issuer.as_str())
        .body(format!("{fields}&junk=%3Cscript%3E"))
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 302);
    let get = location_of(&posted);
    assert!(
        get.starts_with(&format!("/api/auth/callback/{PROVIDER}?")) && !get.contains("junk"),
        "{get}"
    );
    assert_eq!(location_of(&browser.get(&get).await), "/app");
    assert!(browser.session_token().is_some());
}

#[tokio::test]
async fn a_provider_unreachable_at_start_answers_503_until_it_is_found() {
    let port = crate::mail::free_port();
    let issuer = format!("http://127.0.0.1:{port}");
    let Some(stack) = stack_with_provider(Store::Sqlite, &issuer).await else {
        return;
    };
    let browser = stack.browser();
    let (status, body) = start_social(&browser, "/api/auth/sign-in/social", json!({})).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(
        browser.get("/sign-in").await.status(),
        200,
        "the rest of the service runs"
    );

    let _provider = FakeProvider::start_on(port, CLIENT_ID).await;
    test_support::eventually(
        std::time::Duration::from_secs(60),
        "the provider found",
        || async {
            let (status, _) = start_social(&browser, "/api/auth/sign-in/social", json!({})).await;
            status == 200
        },
    )
    .await;
}
