//! The session list (by handle, never a secret) and revoking one session, the others or all.

use serde_json::{json, Value};

use super::{
    another_device, current_handle, list_sessions, two_devices, PHONE_AGENT, TABLET_AGENT,
};
use crate::support::{api_status, json_of, Store, TestStack};

async fn list_sessions_shows_two_clients_and_revoking_one_kills_only_it(store: Store) {
    let Some(stack) = TestStack::start(store).await else {
        return;
    };
    let (_, laptop, phone) = two_devices(&stack, "Alice").await;
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
    let (email, laptop, phone) = two_devices(&stack, "Carol").await;
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
    let (email, laptop, phone) = two_devices(&stack, "Dave").await;
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
    assert!(!phone.is_signed_in().await);
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

test_support::on_both_stores!(
    list_sessions_shows_two_clients_and_revoking_one_kills_only_it,
    a_session_list_never_contains_a_secret_token,
    revoking_the_others_keeps_the_caller_and_revoking_all_ends_every_session,
);
