//! The caller's profile, created on first use.

use crate::helpers::{json_of, stores, TestApp, User};

#[tokio::test]
async fn a_profile_is_created_on_first_use_and_stays_the_same() {
    for store in stores() {
        let app = TestApp::spawn(&store).await;
        let user = User::new();

        let first = app.get(&user, "/api/profile").await;
        assert_eq!(first.status(), 200, "{store:?}");
        let first = json_of(first).await;
        assert_eq!(first["user_id"], user.id);
        assert_eq!(first["email"], user.email);
        assert_eq!(first["email_verified"], true);
        assert_eq!(first["session_id"], user.session_id);
        let created_at = first["created_at"].as_str().expect("a date").to_owned();
        assert!(
            created_at.ends_with('Z') && created_at.len() == 24,
            "RFC 3339 with ms: {created_at}"
        );

        app.clock.advance(std::time::Duration::from_secs(3600));
        let again = json_of(app.get(&user, "/api/profile").await).await;
        assert_eq!(again, first, "{store:?}");
    }
}

#[tokio::test]
async fn each_user_gets_their_own_profile() {
    for store in stores() {
        let app = TestApp::spawn(&store).await;
        let (alice, bob) = (User::new(), User::new());
        let a = json_of(app.get(&alice, "/api/profile").await).await;
        let b = json_of(app.get(&bob, "/api/profile").await).await;
        assert_eq!(a["user_id"], alice.id);
        assert_eq!(b["user_id"], bob.id);
        assert_eq!(b["email"], bob.email);
    }
}

#[tokio::test]
async fn concurrent_first_calls_create_one_profile() {
    for store in stores() {
        let app = TestApp::spawn(&store).await;
        let user = User::new();
        let calls = (0..8).map(|_| app.get(&user, "/api/profile"));
        let answers = futures::future::join_all(calls).await;
        let mut created = Vec::new();
        for answer in answers {
            assert_eq!(answer.status(), 200, "{store:?}");
            created.push(json_of(answer).await["created_at"].clone());
        }
        created.dedup();
        assert_eq!(created.len(), 1, "{store:?}: {created:?}");
    }
}
