//! The claims' rules: issuer, audience, the time window, the required ids and the request bound.

use super::*;

#[tokio::test]
async fn a_wrong_issuer_is_refused() {
    let minter = Minter::new();
    let token = with_claim(&minter, "iss", json!("http://evil.example"));
    assert_eq!(verify(&minter, &token).await, Err(IssuerMismatch));
}

#[tokio::test]
async fn a_wrong_audience_is_refused() {
    let minter = Minter::new();
    for aud in [json!("billing"), json!(["billing", "edge"])] {
        let token = with_claim(&minter, "aud", aud.clone());
        assert_eq!(
            verify(&minter, &token).await,
            Err(AudienceMismatch),
            "{aud}"
        );
    }
}

#[tokio::test]
async fn nbf_in_the_future_is_refused() {
    let minter = Minter::new();
    let token = with_claim(&minter, "nbf", json!(NOW + 10));
    assert_eq!(verify(&minter, &token).await, Err(NotYetValid));
}

#[tokio::test]
async fn iat_in_the_future_is_refused() {
    let minter = Minter::new();
    let mut claims = minter.claims(METHOD, PATH, NOW + 10);
    claims["nbf"] = json!(NOW);
    let token = minter.sign(&minter.header(), &claims);
    assert_eq!(verify(&minter, &token).await, Err(IssuedInFuture));
}

#[tokio::test]
async fn an_expired_token_is_refused() {
    let minter = Minter::new();
    let token = minter.token_for(METHOD, PATH, NOW - 70);
    assert_eq!(verify(&minter, &token).await, Err(Expired));
}

#[tokio::test]
async fn the_leeway_is_capped_at_five_seconds() {
    let minter = Minter::new();
    let mut config = VerifierConfig::new("unused", ISSUER, AUDIENCE);
    config.leeway = Duration::from_secs(60);
    let verifier = Verifier::with_keys(config, minter.jwks());
    let token = minter.token_for(METHOD, PATH, NOW - 90);
    assert_eq!(
        verifier.verify_at(&token, METHOD, PATH, NOW).await,
        Err(Expired)
    );
}

#[tokio::test]
async fn a_lifetime_of_61_seconds_is_refused() {
    let minter = Minter::new();
    let token = with_claim(&minter, "exp", json!(NOW + 61));
    assert_eq!(verify(&minter, &token).await, Err(LifetimeTooLong));
}

#[tokio::test]
async fn missing_or_empty_sub_jti_sid_are_refused() {
    let minter = Minter::new();
    for name in ["sub", "jti", "sid"] {
        for value in [Value::Null, json!("")] {
            let token = with_claim(&minter, name, value.clone());
            assert_eq!(
                verify(&minter, &token).await,
                Err(MissingClaim(name)),
                "{name}={value}"
            );
        }
    }
}

#[tokio::test]
async fn a_token_for_another_method_is_refused() {
    let minter = Minter::new();
    let token = with_claim(&minter, "htm", json!("DELETE"));
    assert_eq!(verify(&minter, &token).await, Err(MethodMismatch));
}

#[tokio::test]
async fn a_token_for_another_path_is_refused() {
    let minter = Minter::new();
    let token = with_claim(&minter, "htu", json!("/api/orders/42"));
    assert_eq!(verify(&minter, &token).await, Err(PathMismatch));
}
