//! The signed-in user's sessions and account, end to end through edge: list-sessions,
//! revoke-session, revoke-sessions, revoke-other-sessions, change-password, update-user and
//! delete-user, each effect checked on the very next call.

use std::time::Duration;

use serde_json::{json, Value};

use crate::support::{
    api_status, assert_code, json_of, post_raw, unique_email, Browser, Setup, Store, TestStack,
    PASSWORD,
};

const PHONE_AGENT: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0) GatehouseTest/2.0";
const TABLET_AGENT: &str = "Mozilla/5.0 (iPad; CPU OS 17_0) GatehouseTest/3.0";
const NEW_PASSWORD: &str = "an entirely new passphrase";

/// One user signed in on a laptop (signed up there) and a phone.
struct TwoDevices {
    email: String,
    laptop: Browser,
    phone: Browser,
}

async fn two_devices(stack: &TestStack, name: &str) -> TwoDevices {
    let email = unique_email(name);
    let laptop = stack.browser();
    assert_eq!(laptop.sign_up(name, &email, PASSWORD).await.status(), 200);
    let phone = another_device(stack, &email, PHONE_AGENT).await;
    TwoDevices {
        email,
        laptop,
        phone,
    }
}

async fn another_device(stack: &TestStack, email: &str, user_agent: &str) -> Browser {
    let browser = Browser::new(&stack.edge(), &stack.public_url, user_agent);
    assert_eq!(browser.sign_in(email, PASSWORD).await.status(), 200);
    browser
}

/// The handle of the browser's current session, as get-session shows it.
async fn current_handle(browser: &Browser) -> String {
    let (status, body) = json_of(browser.get("/api/auth/get-session").await).await;
    assert_eq!(status, 200);
    body["session"]["token"]
        .as_str()
        .expect("signed in")
        .to_owned()
}

async fn list_sessions(browser: &Browser) -> Vec<Value> {
    let response = browser.get("/api/auth/list-sessions").await;
    let (status, body) = json_of(response).await;
    assert_eq!(status, 200, "{body}");
    body.as_array().expect("an array of sessions").clone()
}

async fn is_signed_in(browser: &Browser) -> bool {
    browser
        .get("/api/auth/get-session")
        .await
        .text()
        .await
        .unwrap()
        != "null"
}

async fn list_sessions_shows_two_clients_and_revoking_one_kills_only_it(store: Store) {
    let Some(stack) = TestStack::start(store).await else {
        return;
    };
    let TwoDevices { laptop, phone, .. } = two_devices(&stack, "Alice").await;
    let bob = stack.signed_in("Bob").await;
    assert_eq!(
        (api_status(&laptop).await, api_status(&phone).await),
        (200, 200)
    );

    let sessions = list_sessions(&laptop).await;
    assert_eq!(sessions.len(), 2, "{sessions:?}");
    let mut agents: Vec<&str> = sessions
        .iter()
        .map(|s| s["userAgent"].as_str().unwrap())
        .collect();
    agents.sort_unstable();
    let mut expected = vec![laptop.user_agent.as_str(), PHONE_AGENT];
    expected.sort_unstable();
    assert_eq!(agents, expected);
    let laptop_handle = current_handle(&laptop).await;
    let phone_handle = current_handle(&phone).await;
    assert!(
        sessions
            .iter()
            .any(|s| s["token"] == laptop_handle.as_str()),
        "the current one is identifiable"
    );
    assert_eq!(
        list_sessions(&phone).await.len(),
        2,
        "both devices see the same list"
    );

    // Bob cannot revoke Alice's session, even knowing its handle; the answer is the same.
    let (status, body) = json_of(
        bob.post_json("/api/auth/revoke-session", json!({"token": phone_handle}))
            .await,
    )
    .await;
    assert_eq!((status, body), (200, json!({"status": true})));
    assert_eq!(api_status(&phone).await, 200);

    let revoked = laptop
        .post_json("/api/auth/revoke-session", json!({"token": phone_handle}))
        .await;
    assert!(
        revoked.headers().get("set-cookie").is_none(),
        "the laptop keeps its cookie"
    );
    assert_eq!(json_of(revoked).await, (200, json!({"status": true})));
    assert_eq!(
        api_status(&phone).await,
        401,
        "the revoked session dies on its very next call"
    );
    assert_eq!(api_status(&laptop).await, 200, "the other one lives on");
    let remaining = list_sessions(&laptop).await;
    assert_eq!(remaining.len(), 1);
    assert_eq!(remaining[0]["token"], laptop_handle.as_str());
}

async fn a_session_list_never_contains_a_secret_token(store: Store) {
    let Some(stack) = TestStack::start(store).await else {
        return;
    };
    let TwoDevices {
        email,
        laptop,
        phone,
    } = two_devices(&stack, "Carol").await;
    let tablet = another_device(&stack, &email, TABLET_AGENT).await;
    let secrets: Vec<String> = [&laptop, &phone, &tablet]
        .iter()
        .map(|b| b.session_token().unwrap())
        .collect();
    for browser in [&laptop, &phone, &tablet] {
        let text = browser
            .get("/api/auth/list-sessions")
            .await
            .text()
            .await
            .unwrap();
        let get_session = browser
            .get("/api/auth/get-session")
            .await
            .text()
            .await
            .unwrap();
        for secret in &secrets {
            assert!(
                !text.contains(secret.as_str()),
                "a secret token in a listing: {text}"
            );
            assert!(
                !get_session.contains(secret.as_str()),
                "a secret token in get-session"
            );
        }
        let listed: Vec<Value> = serde_json::from_str(&text).unwrap();
        assert_eq!(listed.len(), 3);
        for session in listed {
            assert_eq!(
                session["token"], session["id"],
                "the handle is the public id"
            );
        }
    }
}

async fn revoking_the_others_keeps_the_caller_and_revoking_all_ends_every_session(store: Store) {
    let Some(stack) = TestStack::start(store).await else {
        return;
    };
    let TwoDevices {
        email,
        laptop,
        phone,
    } = two_devices(&stack, "Dave").await;
    let tablet = another_device(&stack, &email, TABLET_AGENT).await;

    let others = laptop
        .post_json("/api/auth/revoke-other-sessions", json!({}))
        .await;
    assert!(others.headers().get("set-cookie").is_none());
    assert_eq!(json_of(others).await, (200, json!({"status": true})));
    assert_eq!(api_status(&laptop).await, 200);
    assert_eq!(api_status(&phone).await, 401);
    assert_eq!(api_status(&tablet).await, 401);

    let phone = another_device(&stack, &email, PHONE_AGENT).await;
    let laptop_token = laptop.session_token().unwrap();
    let all = laptop
        .post_json("/api/auth/revoke-sessions", json!({}))
        .await;
    assert_eq!(json_of(all).await, (200, json!({"status": true})));
    assert_eq!(
        laptop.session_token(),
        None,
        "revoke-sessions clears the caller's cookie"
    );
    assert_eq!(
        laptop
            .get_with_cookie("/api/profile", &laptop_token)
            .await
            .status(),
        401
    );
    assert_eq!(api_status(&phone).await, 401);
    assert!(!is_signed_in(&phone).await);
}

#[tokio::test]
async fn revoking_ones_own_session_by_handle_signs_out() {
    let Some(stack) = TestStack::start(Store::Sqlite).await else {
        return;
    };
    let alice = stack.signed_in("Alice").await;
    let token = alice.session_token().unwrap();
    let handle = current_handle(&alice).await;
    let revoked = alice
        .post_json("/api/auth/revoke-session", json!({"token": handle}))
        .await;
    assert_eq!(json_of(revoked).await, (200, json!({"status": true})));
    assert_eq!(
        alice.session_token(),
        None,
        "the cookie of a revoked session is cleared"
    );
    assert_eq!(
        alice.get_with_cookie("/api/profile", &token).await.status(),
        401
    );
}

async fn changing_the_password_ends_the_other_sessions_and_the_old_password(store: Store) {
    let Some(stack) = TestStack::start(store).await else {
        return;
    };
    let TwoDevices {
        email,
        laptop,
        phone,
    } = two_devices(&stack, "Erin").await;
    let change = |current: &str, new: &str| json!({"currentPassword": current, "newPassword": new});

    let wrong = json_of(
        laptop
            .post_json(
                "/api/auth/change-password",
                change("not my password", NEW_PASSWORD),
            )
            .await,
    )
    .await;
    assert_code(&wrong, 400, "INVALID_PASSWORD");
    let short = json_of(
        laptop
            .post_json("/api/auth/change-password", change(PASSWORD, "short"))
            .await,
    )
    .await;
    assert_code(&short, 400, "PASSWORD_TOO_SHORT");
    let long = json_of(
        laptop
            .post_json(
                "/api/auth/change-password",
                change(PASSWORD, &"p".repeat(129)),
            )
            .await,
    )
    .await;
    assert_code(&long, 400, "PASSWORD_TOO_LONG");
    assert_eq!(api_status(&phone).await, 200, "refusals revoke nothing");

    let cookie_before = laptop.session_token();
    let changed = laptop
        .post_json("/api/auth/change-password", change(PASSWORD, NEW_PASSWORD))
        .await;
    assert!(changed.headers().get("set-cookie").is_none());
    let (status, body) = json_of(changed).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token"], Value::Null);
    assert_eq!(body["user"]["email"], email.as_str());
    assert_eq!(laptop.session_token(), cookie_before);

    assert_eq!(api_status(&laptop).await, 200, "the caller stays signed in");
    assert_eq!(
        api_status(&phone).await,
        401,
        "the other session dies on its very next call"
    );
    let stranger = stack.browser();
    let old = json_of(stranger.sign_in(&email, PASSWORD).await).await;
    assert_code(&old, 401, "INVALID_EMAIL_OR_PASSWORD");
    assert_eq!(stranger.sign_in(&email, NEW_PASSWORD).await.status(), 200);
}

async fn changing_the_password_revoking_other_sessions_gives_the_caller_a_new_cookie(store: Store) {
    let Some(stack) = TestStack::start(store).await else {
        return;
    };
    let TwoDevices {
        email,
        laptop,
        phone,
    } = two_devices(&stack, "Frank").await;
    let old_token = laptop.session_token().unwrap();
    let change = json!({"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD, "revokeOtherSessions": true});

    let (status, body) = json_of(laptop.post_json("/api/auth/change-password", change).await).await;
    assert_eq!(status, 200, "{body}");
    let new_token = laptop.session_token().expect("a new cookie");
    assert_ne!(new_token, old_token);
    assert_eq!(
        body["token"].as_str(),
        Some(current_handle(&laptop).await.as_str())
    );
    assert_ne!(
        body["token"].as_str(),
        Some(new_token.as_str()),
        "the handle, not the secret"
    );
    assert_eq!(
        laptop
            .get_with_cookie("/api/profile", &old_token)
            .await
            .status(),
        401
    );
    assert_eq!(api_status(&laptop).await, 200);
    assert_eq!(api_status(&phone).await, 401);
    assert_eq!(list_sessions(&laptop).await.len(), 1);
    assert_eq!(
        stack.browser().sign_in(&email, NEW_PASSWORD).await.status(),
        200
    );
}

/// A stack whose sessions go stale after 10 minutes but live for days.
async fn stack_with_short_freshness(store: Store) -> Option<TestStack> {
    let mut setup = Setup::new(store).await?;
    setup.identity.session_fresh_age = Duration::from_secs(600);
    setup.identity.session_update_age = Duration::from_secs(86_400);
    setup.identity.session_ttl = Duration::from_secs(7 * 86_400);
    Some(setup.start().await)
}

#[tokio::test]
async fn sensitive_changes_on_a_stale_session_are_refused_and_change_nothing() {
    let Some(stack) = stack_with_short_freshness(Store::Sqlite).await else {
        return;
    };
    let TwoDevices {
        email,
        laptop,
        phone,
    } = two_devices(&stack, "Grace").await;
    assert_eq!(
        list_sessions(&laptop).await.len(),
        2,
        "fresh: the list is shown"
    );
    // identity's clock moves on; core-api's does not, so from here on only identity's answers
    // (get-session, sign-in) are checked.
    stack.clock.advance(Duration::from_secs(11 * 60));
    assert!(is_signed_in(&laptop).await, "stale, but still signed in");

    let change = json!({"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD});
    let refused = json_of(laptop.post_json("/api/auth/change-password", change).await).await;
    assert_code(&refused, 403, "SESSION_NOT_FRESH");
    assert_code(
        &json_of(laptop.get("/api/auth/list-sessions").await).await,
        403,
        "SESSION_NOT_FRESH",
    );
    assert_code(
        &json_of(
            laptop
                .post_json("/api/auth/revoke-sessions", json!({}))
                .await,
        )
        .await,
        403,
        "SESSION_NOT_FRESH",
    );
    assert_code(
        &json_of(laptop.post_json("/api/auth/delete-user", json!({})).await).await,
        403,
        "SESSION_NOT_FRESH",
    );
    assert!(laptop.session_token().is_some());
    assert!(
        is_signed_in(&laptop).await && is_signed_in(&phone).await,
        "nothing was revoked"
    );
    let stranger = stack.browser();
    assert_code(
        &json_of(stranger.sign_in(&email, NEW_PASSWORD).await).await,
        401,
        "INVALID_EMAIL_OR_PASSWORD",
    );
    assert_eq!(
        stranger.sign_in(&email, PASSWORD).await.status(),
        200,
        "the password is unchanged"
    );

    // Nor may it end the others (DESIGN §6: a stolen old cookie cannot sign the owner out
    // elsewhere); it may still delete the account with the password.
    assert_code(
        &json_of(
            laptop
                .post_json("/api/auth/revoke-other-sessions", json!({}))
                .await,
        )
        .await,
        403,
        "SESSION_NOT_FRESH",
    );
    assert!(is_signed_in(&phone).await);
    let deleted = json_of(
        laptop
            .post_json("/api/auth/delete-user", json!({"password": PASSWORD}))
            .await,
    )
    .await;
    assert_eq!(
        deleted,
        (200, json!({"success": true, "message": "User deleted"}))
    );
    assert!(!is_signed_in(&laptop).await);
}

async fn update_user_changes_the_name_seen_in_get_session(store: Store) {
    let Some(stack) = TestStack::start(store).await else {
        return;
    };
    let alice = stack.signed_in("Alice").await;
    let updated = alice
        .post_json(
            "/api/auth/update-user",
            json!({"name": "Alice Liddell", "image": "https://example.com/a.png"}),
        )
        .await;
    assert_eq!(json_of(updated).await, (200, json!({"status": true})));
    let (_, session) = json_of(alice.get("/api/auth/get-session").await).await;
    assert_eq!(session["user"]["name"], "Alice Liddell");
    assert_eq!(session["user"]["image"], "https://example.com/a.png");
    let email = session["user"]["email"].clone();

    let refused = json_of(
        alice
            .post_json(
                "/api/auth/update-user",
                json!({"email": "mallory@example.com"}),
            )
            .await,
    )
    .await;
    assert_code(&refused, 400, "EMAIL_CAN_NOT_BE_UPDATED");
    let nothing = json_of(alice.post_json("/api/auth/update-user", json!({})).await).await;
    assert_code(&nothing, 400, "VALIDATION_ERROR");
    assert_eq!(
        alice
            .post_json("/api/auth/update-user", json!({"image": null}))
            .await
            .status(),
        200
    );
    let (_, session) = json_of(alice.get("/api/auth/get-session").await).await;
    assert_eq!(
        (&session["user"]["email"], &session["user"]["image"]),
        (&email, &Value::Null)
    );
    assert_eq!(session["user"]["name"], "Alice Liddell");
}

async fn delete_user_removes_the_account_and_every_session(store: Store) {
    let Some(stack) = TestStack::start(store).await else {
        return;
    };
    let TwoDevices {
        email,
        laptop,
        phone,
    } = two_devices(&stack, "Heidi").await;
    let token = laptop.session_token().unwrap();

    let wrong = json_of(
        laptop
            .post_json(
                "/api/auth/delete-user",
                json!({"password": "not my password"}),
            )
            .await,
    )
    .await;
    assert_code(&wrong, 400, "INVALID_PASSWORD");
    assert_eq!(api_status(&laptop).await, 200);

    let deleted = laptop.post_json("/api/auth/delete-user", json!({})).await;
    assert_eq!(
        json_of(deleted).await,
        (200, json!({"success": true, "message": "User deleted"}))
    );
    assert_eq!(laptop.session_token(), None, "the cookie is cleared");
    let (status, body) = json_of(laptop.get_with_cookie("/api/profile", &token).await).await;
    assert_code(&(status, body), 401, "UNAUTHORIZED");
    assert_eq!(api_status(&phone).await, 401);
    let sign_in = json_of(stack.browser().sign_in(&email, PASSWORD).await).await;
    assert_code(&sign_in, 401, "INVALID_EMAIL_OR_PASSWORD");
}

#[tokio::test]
async fn every_account_endpoint_refuses_bad_input_with_a_code_and_changes_nothing() {
    let Some(stack) = TestStack::start(Store::Sqlite).await else {
        return;
    };
    let TwoDevices {
        email,
        laptop,
        phone,
    } = two_devices(&stack, "Ivan").await;
    let endpoints = [
        "/api/auth/revoke-session",
        "/api/auth/revoke-sessions",
        "/api/auth/revoke-other-sessions",
        "/api/auth/change-password",
        "/api/auth/update-user",
        "/api/auth/delete-user",
    ];
    for path in endpoints {
        let malformed =
            json_of(post_raw(&laptop, path, "application/json", "{\"token\": ".into()).await).await;
        assert_code(&malformed, 400, "BAD_REQUEST");
        let not_an_object =
            json_of(post_raw(&laptop, path, "application/json", "[1, 2]".into()).await).await;
        assert_code(&not_an_object, 400, "VALIDATION_ERROR");
        let not_json = json_of(post_raw(&laptop, path, "text/plain", "{}".into()).await).await;
        assert_code(&not_json, 415, "UNSUPPORTED_MEDIA_TYPE");
        let huge = json!({"name": "x".repeat(70 * 1024)}).to_string();
        assert_code(
            &json_of(post_raw(&laptop, path, "application/json", huge).await).await,
            413,
            "PAYLOAD_TOO_LARGE",
        );
        let signed_out = stack.browser();
        assert_code(
            &json_of(signed_out.post_json(path, json!({})).await).await,
            401,
            "UNAUTHORIZED",
        );
    }
    assert_code(
        &json_of(stack.browser().get("/api/auth/list-sessions").await).await,
        401,
        "UNAUTHORIZED",
    );

    let invalid = [
        (
            "/api/auth/revoke-session",
            json!({}),
            400,
            "VALIDATION_ERROR",
        ),
        (
            "/api/auth/revoke-session",
            json!({"token": 42}),
            400,
            "VALIDATION_ERROR",
        ),
        (
            "/api/auth/revoke-session",
            json!({"token": "x".repeat(129)}),
            400,
            "VALIDATION_ERROR",
        ),
        (
            "/api/auth/revoke-session",
            json!({"token": ""}),
            400,
            "VALIDATION_ERROR",
        ),
        (
            "/api/auth/change-password",
            json!({"newPassword": NEW_PASSWORD}),
            400,
            "VALIDATION_ERROR",
        ),
        (
            "/api/auth/change-password",
            json!({"currentPassword": PASSWORD}),
            400,
            "VALIDATION_ERROR",
        ),
        (
            "/api/auth/change-password",
            json!({"currentPassword": PASSWORD, "newPassword": 12_345_678}),
            400,
            "VALIDATION_ERROR",
        ),
        (
            "/api/auth/change-password",
            json!({"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD, "revokeOtherSessions": "please"}),
            400,
            "VALIDATION_ERROR",
        ),
        (
            "/api/auth/change-password",
            json!({"currentPassword": PASSWORD, "newPassword": "p".repeat(129)}),
            400,
            "PASSWORD_TOO_LONG",
        ),
        (
            "/api/auth/change-password",
            json!({"currentPassword": "x".repeat(129), "newPassword": NEW_PASSWORD}),
            400,
            "INVALID_PASSWORD",
        ),
        (
            "/api/auth/update-user",
            json!({"name": "n".repeat(257)}),
            400,
            "VALIDATION_ERROR",
        ),
        (
            "/api/auth/update-user",
            json!({"name": "   "}),
            400,
            "VALIDATION_ERROR",
        ),
        (
            "/api/auth/update-user",
            json!({"name": 7}),
            400,
            "VALIDATION_ERROR",
        ),
        (
            "/api/auth/update-user",
            json!({"image": {"url": "x"}}),
            400,
            "VALIDATION_ERROR",
        ),
        (
            "/api/auth/update-user",
            json!({"name": "Mallory", "email": "m@example.com"}),
            400,
            "EMAIL_CAN_NOT_BE_UPDATED",
        ),
        (
            "/api/auth/delete-user",
            json!({"password": 12_345_678}),
            400,
            "VALIDATION_ERROR",
        ),
        (
            "/api/auth/delete-user",
            json!({"password": "p".repeat(129)}),
            400,
            "INVALID_PASSWORD",
        ),
        (
            "/api/auth/delete-user",
            json!({"callbackURL": "https://evil.example/"}),
            403,
            "INVALID_CALLBACK_URL",
        ),
    ];
    for (path, body, status, code) in invalid {
        let answer = json_of(laptop.post_json(path, body.clone()).await).await;
        assert_code(&answer, status, code);
    }

    // Nothing changed: both sessions live, the name, the password and the account are intact.
    assert_eq!(
        (api_status(&laptop).await, api_status(&phone).await),
        (200, 200)
    );
    assert_eq!(list_sessions(&laptop).await.len(), 2);
    let (_, session) = json_of(laptop.get("/api/auth/get-session").await).await;
    assert_eq!(session["user"]["name"], "Ivan");
    assert_eq!(session["user"]["email"], email.as_str());
    assert_eq!(
        stack.browser().sign_in(&email, PASSWORD).await.status(),
        200
    );
}

test_support::on_both_stores!(
    list_sessions_shows_two_clients_and_revoking_one_kills_only_it,
    a_session_list_never_contains_a_secret_token,
    revoking_the_others_keeps_the_caller_and_revoking_all_ends_every_session,
    changing_the_password_ends_the_other_sessions_and_the_old_password,
    changing_the_password_revoking_other_sessions_gives_the_caller_a_new_cookie,
    update_user_changes_the_name_seen_in_get_session,
    delete_user_removes_the_account_and_every_session,
);
