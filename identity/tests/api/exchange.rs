//! `POST /v1/token`: the session-for-token exchange.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;

use crate::helpers::{exchange_pairs, unique_email, Store, TestApp};

fn decode_part(part: &str) -> Value {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).expect("base64url part"))
        .expect("JSON part")
}

async fn signing_in_then_exchanging_yields_a_token_with_the_right_claims(store: Store) {
    let Some(app) = TestApp::spawn(store).await else {
        return;
    };
    let email = unique_email();
    app.sign_up(&email).await;
    let browser = app.sign_in(&email).await;

    let before = app.clock.now_unix();
    let response = app.exchange_form(&exchange_pairs(&browser.token)).await;
    let after = app.clock.now_unix();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["issued_token_type"],
        "urn:ietf:params:oauth:token-type:access_token"
    );
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 60);

    let token = body["access_token"].as_str().unwrap();
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3);
    let header = decode_part(parts[0]);
    assert_eq!(header["alg"], "EdDSA");
    assert_eq!(header["typ"], "at+jwt");

    let claims = decode_part(parts[1]);
    assert_eq!(claims["iss"], "http://identity.test:8081");
    assert_eq!(claims["sub"], browser.user_id.as_str());
    assert_eq!(claims["aud"], "core-api");
    assert_eq!(claims["sid"], browser.session_id.as_str());
    assert_eq!(claims["client_id"], "edge");
    assert_eq!(claims["email"], email.as_str());
    assert_eq!(claims["email_verified"], false);
    assert_eq!(claims["htm"], "GET");
    assert_eq!(claims["htu"], "/api/profile");
    let iat = claims["iat"].as_i64().unwrap();
    assert!((before..=after).contains(&iat));
    assert_eq!(claims["nbf"].as_i64(), Some(iat));
    assert_eq!(claims["exp"].as_i64(), Some(iat + 60));
    assert_eq!(
        URL_SAFE_NO_PAD
            .decode(claims["jti"].as_str().unwrap())
            .unwrap()
            .len(),
        16
    );

    // The kid names a published key, and that key's signature checks out.
    let jwks: Value = app
        .get("/.well-known/jwks.json")
        .await
        .json()
        .await
        .unwrap();
    let jwk = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|key| key["kid"] == header["kid"])
        .expect("the token's kid is in the JWKS");
    let x: [u8; 32] = URL_SAFE_NO_PAD
        .decode(jwk["x"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let signature: [u8; 64] = URL_SAFE_NO_PAD
        .decode(parts[2])
        .unwrap()
        .try_into()
        .unwrap();
    let signed = format!("{}.{}", parts[0], parts[1]);
    VerifyingKey::from_bytes(&x)
        .unwrap()
        .verify(signed.as_bytes(), &Signature::from_bytes(&signature))
        .expect("signature verifies with the published key");

    // Each exchange mints a new token id.
    let (_, again) = app.exchange(&browser.token).await;
    let again = decode_part(
        again["access_token"]
            .as_str()
            .unwrap()
            .split('.')
            .nth(1)
            .unwrap(),
    );
    assert_ne!(again["jti"], claims["jti"]);
}

async fn every_session_problem_gets_one_identical_invalid_grant(store: Store) {
    let Some(app) = TestApp::spawn(store).await else {
        return;
    };
    let mut answers = Vec::new();

    let unknown = URL_SAFE_NO_PAD.encode([7u8; 32]);
    answers.push(("unknown token", app.exchange(&unknown).await));
    answers.push(("malformed token", app.exchange("not-a-token").await));

    let signed_out = app.sign_up(&unique_email()).await;
    let (status, _) = app
        .post_json("/v1/sign-out", &json!({"session_token": signed_out.token}))
        .await;
    assert_eq!(status, StatusCode::OK);
    answers.push(("signed out", app.exchange(&signed_out.token).await));

    let other_browser = app.sign_up(&unique_email()).await;
    let mut pairs = exchange_pairs(&other_browser.token);
    pairs.retain(|(name, _)| *name != "user_agent");
    pairs.push(("user_agent", "curl/8.0"));
    let response = app.exchange_form(&pairs).await;
    answers.push((
        "other User-Agent",
        (response.status(), response.json().await.unwrap()),
    ));
    // The refused User-Agent did not hurt the session for its real owner.
    assert_eq!(app.exchange(&other_browser.token).await.0, StatusCode::OK);

    let expiring = app.sign_up(&unique_email()).await;
    app.clock.advance(Duration::from_secs(7 * 86_400 + 1));
    answers.push(("expired", app.exchange(&expiring.token).await));

    let expected = json!({"error": "invalid_grant", "error_description": "The session is invalid or has expired."});
    for (case, (status, body)) in answers {
        assert_eq!(status, StatusCode::BAD_REQUEST, "{case}");
        assert_eq!(body, expected, "{case}");
    }
}

async fn a_missing_or_repeated_parameter_is_invalid_request(store: Store) {
    let Some(app) = TestApp::spawn(store).await else {
        return;
    };
    let browser = app.sign_up(&unique_email()).await;
    for name in [
        "grant_type",
        "subject_token",
        "subject_token_type",
        "audience",
        "request_method",
        "request_path",
        "client_ip",
        "user_agent",
    ] {
        let mut missing = exchange_pairs(&browser.token);
        missing.retain(|(n, _)| *n != name);
        let response = app.exchange_form(&missing).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{name} missing");
        assert_eq!(response.headers()["cache-control"], "no-store");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "invalid_request", "{name} missing");

        let mut repeated = exchange_pairs(&browser.token);
        let value = repeated.iter().find(|(n, _)| *n == name).unwrap().1;
        repeated.push((name, value));
        let response = app.exchange_form(&repeated).await;
        assert_eq!(
            response.status(),
            StatusCode::BAD_REQUEST,
            "{name} repeated"
        );
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "invalid_request", "{name} repeated");
    }

    let (status, body) = app.post_raw("/v1/token", "application/json", "{}").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request"))
    );
    // None of this hurt the session.
    assert_eq!(app.exchange(&browser.token).await.0, StatusCode::OK);
}

async fn malformed_method_or_path_is_invalid_request(store: Store) {
    let Some(app) = TestApp::spawn(store).await else {
        return;
    };
    let browser = app.sign_up(&unique_email()).await;
    for (name, value) in [
        ("request_method", "get"),
        ("request_path", "/api/orders?page=2"),
        ("request_path", "api"),
        ("client_ip", "nowhere"),
    ] {
        let mut pairs = exchange_pairs(&browser.token);
        pairs.retain(|(n, _)| *n != name);
        pairs.push((name, value));
        let response = app.exchange_form(&pairs).await;
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "invalid_request", "{name}={value}");
    }
}

async fn an_audience_outside_the_allow_list_is_invalid_target(store: Store) {
    let Some(app) = TestApp::spawn(store).await else {
        return;
    };
    let browser = app.sign_up(&unique_email()).await;
    let mut pairs = exchange_pairs(&browser.token);
    pairs.retain(|(n, _)| *n != "audience");
    pairs.push(("audience", "billing"));
    let response = app.exchange_form(&pairs).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_target");
}

async fn another_grant_type_is_unsupported_grant_type(store: Store) {
    let Some(app) = TestApp::spawn(store).await else {
        return;
    };
    let browser = app.sign_up(&unique_email()).await;
    let mut pairs = exchange_pairs(&browser.token);
    pairs.retain(|(n, _)| *n != "grant_type");
    pairs.push(("grant_type", "client_credentials"));
    let response = app.exchange_form(&pairs).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "unsupported_grant_type");
}

async fn another_ip_is_allowed_unless_sessions_are_bound_to_it(store: Store) {
    let Some(app) = TestApp::spawn(store).await else {
        return;
    };
    let browser = app.sign_up(&unique_email()).await;
    let mut pairs = exchange_pairs(&browser.token);
    pairs.retain(|(n, _)| *n != "client_ip");
    pairs.push(("client_ip", "198.51.100.1"));
    assert_eq!(app.exchange_form(&pairs).await.status(), StatusCode::OK);
    drop(app);

    let Some(bound) = TestApp::spawn_with(store, &["--session-bind-ip", "true"]).await else {
        return;
    };
    let browser = bound.sign_up(&unique_email()).await;
    let mut pairs = exchange_pairs(&browser.token);
    pairs.retain(|(n, _)| *n != "client_ip");
    pairs.push(("client_ip", "198.51.100.1"));
    let response = bound.exchange_form(&pairs).await;
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_grant");
    assert_eq!(
        bound.exchange(&browser.token).await.0,
        StatusCode::OK,
        "the original IP still works"
    );
}

async fn use_after_the_update_age_slides_the_expiry_up_to_the_absolute_maximum(store: Store) {
    let Some(app) = TestApp::spawn_with(
        store,
        &[
            "--session-ttl",
            "2h",
            "--session-update-age",
            "1h",
            "--session-max-age",
            "5h",
        ],
    )
    .await
    else {
        return;
    };
    let browser = app.sign_up(&unique_email()).await;
    let check = || app.check_session(&browser.token);

    let (_, first) = check().await;
    assert_eq!(first["refreshed"], false);
    let hour = Duration::from_secs(3_600);
    // A use 1 h 30 min after the last extension extends it (the check says so, edge re-sends
    // the cookie)…
    app.clock.advance(hour + hour / 2);
    let (status, extended) = check().await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(extended["refreshed"], true);
    assert!(extended["session"]["expiresAt"].as_str() > first["session"]["expiresAt"].as_str());
    assert!(extended["cookie_max_age"].as_i64().unwrap() > 7_000);
    // …so do exchanges, which keep the session alive past its first two hours…
    for _ in 0..2 {
        app.clock.advance(hour + hour / 2);
        assert_eq!(app.exchange(&browser.token).await.0, StatusCode::OK);
    }
    // …and the next check, due again, is capped at five hours after sign-in.
    app.clock.advance(hour / 4);
    let (status, capped) = check().await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(capped["refreshed"], false, "already at the cap: {capped}");
    // Past the absolute maximum, nothing revives it.
    app.clock.advance(hour);
    assert_eq!(
        app.exchange(&browser.token).await.0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(check().await.0, StatusCode::UNAUTHORIZED);
}

crate::on_both_stores!(
    signing_in_then_exchanging_yields_a_token_with_the_right_claims,
    every_session_problem_gets_one_identical_invalid_grant,
    a_missing_or_repeated_parameter_is_invalid_request,
    malformed_method_or_path_is_invalid_request,
    an_audience_outside_the_allow_list_is_invalid_target,
    another_grant_type_is_unsupported_grant_type,
    another_ip_is_allowed_unless_sessions_are_bound_to_it,
    use_after_the_update_age_slides_the_expiry_up_to_the_absolute_maximum,
);
