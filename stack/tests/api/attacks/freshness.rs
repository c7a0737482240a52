//! A stolen old cookie cannot sign the owner out everywhere else (DESIGN §6): revoking the other
//! sessions needs a fresh session.

use std::time::Duration;

use serde_json::json;

use crate::support::{json_of, unique_email, Browser, Store, TestStack, PASSWORD};

/// Whether the browser's session is alive, asked of identity through edge's get-session (the
/// test moves identity's clock by days, which core-api's token check would not follow).
async fn signed_in(browser: &Browser) -> bool {
    let (status, body) = json_of(browser.get("/api/auth/get-session").await).await;
    assert_eq!(status, 200);
    !body.is_null()
}

async fn a_stolen_old_cookie_cannot_revoke_the_other_sessions(store: Store) {
    let Some(stack) = TestStack::start(store).await else {
        return;
    };
    let email = unique_email("fran");
    let laptop = stack.browser();
    assert_eq!(laptop.sign_up("Fran", &email, PASSWORD).await.status(), 200);
    // Two days later the laptop's session is no longer fresh (SESSION_FRESH_AGE 1d) but alive.
    stack.clock.advance(Duration::from_secs(2 * 86_400));
    let phone = stack.browser();
    assert_eq!(phone.sign_in(&email, PASSWORD).await.status(), 200);

    // A thief replays the laptop's old cookie (same User-Agent, so the binding holds).
    let (status, body) = json_of(
        laptop
            .post_json("/api/auth/revoke-other-sessions", json!({}))
            .await,
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("SESSION_NOT_FRESH")),
        "{body}"
    );
    assert!(
        signed_in(&phone).await,
        "the owner's other session lives on"
    );
    assert!(
        signed_in(&laptop).await,
        "the stale session itself is still alive, just not fresh"
    );

    // A freshly signed-in session may.
    let (status, body) = json_of(
        phone
            .post_json("/api/auth/revoke-other-sessions", json!({}))
            .await,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(!signed_in(&laptop).await);
    assert!(signed_in(&phone).await);
}

#[tokio::test]
async fn a_stolen_old_cookie_cannot_revoke_the_other_sessions_on_sqlite() {
    a_stolen_old_cookie_cannot_revoke_the_other_sessions(Store::Sqlite).await;
}

#[tokio::test]
async fn a_stolen_old_cookie_cannot_revoke_the_other_sessions_on_postgres() {
    a_stolen_old_cookie_cannot_revoke_the_other_sessions(Store::Postgres).await;
}
