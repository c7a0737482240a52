//! The races of DESIGN §15: a session is used through edge B (so identity B caches it), ended
//! through edge A, and used through B again at once. Hundreds of rounds; not one call may
//! succeed after the answer that ended the session.

use serde_json::json;

use super::Cluster;
use crate::support::{unique_email, Browser, PASSWORD};

/// Rounds per race: each is a few sign-ins (argon2), so a few hundred in all.
const SIGN_OUT_ROUNDS: usize = 150;
const REVOKE_ROUNDS: usize = 75;
const PASSWORD_ROUNDS: usize = 75;

/// A signed-in browser on edge A and its session token.
async fn signed_in(cluster: &Cluster, email: &str, password: &str) -> (Browser, String) {
    let browser = cluster.browser(0);
    let response = browser.sign_in(email, password).await;
    assert_eq!(response.status(), 200, "sign-in through A");
    let token = browser.session_token().expect("a session cookie");
    (browser, token)
}

/// `GET /api/profile` through edge B with this session.
async fn through_b(cluster: &Cluster, token: &str) -> u16 {
    cluster
        .browser(1)
        .get_with_cookie("/api/profile", token)
        .await
        .status()
        .as_u16()
}

async fn new_user(cluster: &Cluster, name: &str) -> String {
    let email = unique_email(name);
    let browser = cluster.browser(0);
    assert_eq!(browser.sign_up(name, &email, PASSWORD).await.status(), 200);
    email
}

#[tokio::test]
async fn after_a_sign_out_through_one_edge_no_call_through_the_other_succeeds() {
    let Some(cluster) = Cluster::start().await else {
        return;
    };
    let email = new_user(&cluster, "SignOutRace").await;
    let mut successes = 0;
    for _ in 0..SIGN_OUT_ROUNDS {
        let (a, token) = signed_in(&cluster, &email, PASSWORD).await;
        assert_eq!(through_b(&cluster, &token).await, 200, "live through B");
        assert_eq!(a.sign_out().await.status(), 200);
        if through_b(&cluster, &token).await != 401 {
            successes += 1;
        }
    }
    eprintln!(
        "sign-out race: {SIGN_OUT_ROUNDS} rounds, {successes} calls succeeded after the answer"
    );
    assert_eq!(successes, 0);
}

#[tokio::test]
async fn after_revoking_the_other_sessions_no_call_through_the_other_edge_succeeds() {
    let Some(cluster) = Cluster::start().await else {
        return;
    };
    let email = new_user(&cluster, "RevokeRace").await;
    let mut successes = 0;
    for _ in 0..REVOKE_ROUNDS {
        let (owner, _) = signed_in(&cluster, &email, PASSWORD).await;
        let (_, other) = signed_in(&cluster, &email, PASSWORD).await;
        assert_eq!(through_b(&cluster, &other).await, 200, "live through B");
        let revoked = owner
            .post_json("/api/auth/revoke-other-sessions", json!({}))
            .await;
        assert_eq!(revoked.status(), 200);
        if through_b(&cluster, &other).await != 401 {
            successes += 1;
        }
    }
    eprintln!(
        "revoke-others race: {REVOKE_ROUNDS} rounds, {successes} calls succeeded after the answer"
    );
    assert_eq!(successes, 0);
}

#[tokio::test]
async fn after_a_password_change_no_call_through_the_other_edge_succeeds() {
    let Some(cluster) = Cluster::start().await else {
        return;
    };
    let email = new_user(&cluster, "PasswordRace").await;
    let passwords = [PASSWORD, "another correct horse battery"];
    let mut successes = 0;
    for round in 0..PASSWORD_ROUNDS {
        let (current, next) = (passwords[round % 2], passwords[(round + 1) % 2]);
        let (owner, _) = signed_in(&cluster, &email, current).await;
        let (_, other) = signed_in(&cluster, &email, current).await;
        assert_eq!(through_b(&cluster, &other).await, 200, "live through B");
        let changed = owner
            .post_json(
                "/api/auth/change-password",
                json!({"currentPassword": current, "newPassword": next, "revokeOtherSessions": true}),
            )
            .await;
        assert_eq!(changed.status(), 200);
        if through_b(&cluster, &other).await != 401 {
            successes += 1;
        }
    }
    eprintln!("password-change race: {PASSWORD_ROUNDS} rounds, {successes} calls succeeded after the answer");
    assert_eq!(successes, 0);
}
