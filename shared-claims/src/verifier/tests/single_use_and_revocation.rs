//! DESIGN §15: a token is used once, and the tokens of an ended session are refused.

use super::*;

#[tokio::test]
async fn a_token_is_accepted_once_and_its_replay_names_the_jti_check() {
    let minter = Minter::new();
    let verifier = verifier_for(&minter);
    let token = valid(&minter);
    assert!(verifier.verify_at(&token, METHOD, PATH, NOW).await.is_ok());
    let replay = verifier.verify_at(&token, METHOD, PATH, NOW + 1).await;
    assert_eq!(replay.unwrap_err(), VerifyError::Replayed);
    assert!(VerifyError::Replayed.to_string().contains("jti"));
}

#[tokio::test]
async fn a_token_refused_by_another_check_does_not_use_up_its_jti() {
    let minter = Minter::new();
    let verifier = verifier_for(&minter);
    let token = valid(&minter);
    let wrong_path = verifier.verify_at(&token, METHOD, "/api/other", NOW).await;
    assert_eq!(wrong_path.unwrap_err(), VerifyError::PathMismatch);
    assert!(verifier.verify_at(&token, METHOD, PATH, NOW).await.is_ok());
}

/// identity's stream as a test server: the events given, then an open, silent stream. Answers
/// the JWKS URL a verifier derives the stream's URL from.
async fn revocation_server(events: Vec<String>) -> String {
    use axum::response::sse::{Event, Sse};
    use futures::StreamExt as _;
    let app = axum::Router::new().route(
        "/v1/revocations",
        axum::routing::get(move || {
            let events = events.clone();
            async move {
                let stream = futures::stream::iter(events)
                    .chain(futures::stream::pending())
                    .map(|data| Ok::<_, std::convert::Infallible>(Event::default().data(data)));
                Sse::new(stream)
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}/.well-known/jwks.json")
}

#[tokio::test]
async fn tokens_of_an_ended_session_are_refused_once_the_stream_says_so() {
    let minter = Minter::new();
    let other_session = "0b7e7c1e-7d6c-4a43-9d57-0a0b0c0d0e0f";
    // No `at`: the list takes its own now (an old `at` would be pruned as past any token).
    let jwks_url = revocation_server(vec![
        r#"{"sid":"7a2d9a54-0c1b-4b8e-8f0e-5e6a1b2c3d4e"}"#.into()
    ])
    .await;
    let config = VerifierConfig::new(jwks_url, ISSUER, AUDIENCE);
    let keys = minter.jwks();
    // A started verifier follows the stream; keys come from a fixed set here.
    let started = Verifier::start(config.clone(), reqwest::Client::new()).await;
    let fixed = Verifier::with_keys(config, keys);
    let verifier = Verifier {
        inner: Arc::new(Inner {
            revoked: Arc::clone(&started.inner.revoked),
            ..Arc::try_unwrap(fixed.inner).ok().expect("sole owner")
        }),
        clock: started.clock.clone(),
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let refused = verifier.verify_at(&valid(&minter), METHOD, PATH, NOW).await;
        if refused == Err(VerifyError::SessionRevoked) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never refused: {refused:?}"
        );
        tokio::task::yield_now().await;
    }
    let mut claims = minter.claims(METHOD, PATH, NOW);
    claims["sid"] = json!(other_session);
    let token = minter.sign(&minter.header(), &claims);
    assert!(
        verifier.verify_at(&token, METHOD, PATH, NOW).await.is_ok(),
        "other sessions live"
    );
    assert!(VerifyError::SessionRevoked.to_string().contains("session"));
}
