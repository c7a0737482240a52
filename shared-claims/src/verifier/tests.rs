//! Each test breaks exactly one rule of DESIGN §4 and expects exactly that rule's error.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};

use super::*;
use crate::test_support::{encode_json, Minter, AUDIENCE, ISSUER, SUBJECT};

const NOW: i64 = 1_750_000_000;
const METHOD: &str = "GET";
const PATH: &str = "/api/orders";

fn verifier_for(minter: &Minter) -> Verifier {
    Verifier::with_keys(
        VerifierConfig::new("unused", ISSUER, AUDIENCE),
        minter.jwks(),
    )
}

async fn verify(minter: &Minter, token: &str) -> Result<Claims, VerifyError> {
    verifier_for(minter)
        .verify_at(token, METHOD, PATH, NOW)
        .await
}

/// A token with one header member changed (`Value::Null` removes it).
fn with_header(minter: &Minter, name: &str, value: Value) -> String {
    let mut header = minter.header();
    set_or_remove(&mut header, name, value);
    minter.sign(&header, &minter.claims(METHOD, PATH, NOW))
}

/// A token with one claim changed (`Value::Null` removes it).
fn with_claim(minter: &Minter, name: &str, value: Value) -> String {
    let mut claims = minter.claims(METHOD, PATH, NOW);
    set_or_remove(&mut claims, name, value);
    minter.sign(&minter.header(), &claims)
}

fn set_or_remove(object: &mut Value, name: &str, value: Value) {
    let map = object
        .as_object_mut()
        .expect("header and claims are objects");
    if value.is_null() {
        map.remove(name);
    } else {
        map.insert(name.to_owned(), value);
    }
}

fn valid(minter: &Minter) -> String {
    minter.token_for(METHOD, PATH, NOW)
}

// ---- accepted ----

#[tokio::test]
async fn a_token_as_identity_mints_it_is_accepted() {
    let minter = Minter::new();
    let claims = verify(&minter, &valid(&minter)).await.unwrap();
    assert_eq!(claims.sub, SUBJECT);
    assert_eq!(claims.htu, PATH);
}

#[tokio::test]
async fn alg_ed25519_is_accepted_like_eddsa() {
    let minter = Minter::new();
    let token = with_header(&minter, "alg", json!("Ed25519"));
    assert!(verify(&minter, &token).await.is_ok());
}

#[tokio::test]
async fn typ_as_full_media_type_in_any_case_is_accepted() {
    let minter = Minter::new();
    for typ in ["application/at+jwt", "AT+JWT"] {
        let token = with_header(&minter, "typ", json!(typ));
        assert!(verify(&minter, &token).await.is_ok(), "{typ}");
    }
}

#[tokio::test]
async fn a_token_minted_by_jsonwebtoken_is_accepted() {
    use ed25519_dalek::pkcs8::EncodePrivateKey;
    let minter = Minter::new();
    let der = minter.signing_key().to_pkcs8_der().unwrap();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
    header.typ = Some("at+jwt".into());
    header.kid = Some(minter.kid().into());
    let token = jsonwebtoken::encode(
        &header,
        &minter.claims(METHOD, PATH, NOW),
        &jsonwebtoken::EncodingKey::from_ed_der(der.as_bytes()),
    )
    .unwrap();
    assert!(verify(&minter, &token).await.is_ok());
}

#[tokio::test]
async fn an_audience_array_containing_ours_is_accepted() {
    let minter = Minter::new();
    let token = with_claim(&minter, "aud", json!(["billing", AUDIENCE]));
    assert!(verify(&minter, &token).await.is_ok());
}

#[tokio::test]
async fn a_token_expired_within_the_leeway_is_accepted() {
    let minter = Minter::new();
    let mut claims = minter.claims(METHOD, PATH, NOW - 63);
    claims["exp"] = json!(NOW - 3);
    let token = minter.sign(&minter.header(), &claims);
    assert!(verify(&minter, &token).await.is_ok());
}

// ---- algorithm ----

#[tokio::test]
async fn alg_none_is_refused_signed_or_not() {
    let minter = Minter::new();
    let signed = with_header(&minter, "alg", json!("none"));
    assert_eq!(verify(&minter, &signed).await, Err(UnsupportedAlgorithm));

    let mut header = minter.header();
    header["alg"] = json!("none");
    let unsigned = format!(
        "{}.{}.",
        encode_json(&header),
        encode_json(&minter.claims(METHOD, PATH, NOW))
    );
    assert_eq!(verify(&minter, &unsigned).await, Err(UnsupportedAlgorithm));
}

#[tokio::test]
async fn hs256_keyed_with_the_public_key_is_refused() {
    let minter = Minter::new();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.typ = Some("at+jwt".into());
    header.kid = Some(minter.kid().into());
    let public_key = minter.signing_key().verifying_key().to_bytes();
    let forged = jsonwebtoken::encode(
        &header,
        &minter.claims(METHOD, PATH, NOW),
        &jsonwebtoken::EncodingKey::from_secret(&public_key),
    )
    .unwrap();
    assert_eq!(verify(&minter, &forged).await, Err(UnsupportedAlgorithm));
}

#[tokio::test]
async fn rsa_and_ecdsa_algorithms_are_refused() {
    let minter = Minter::new();
    for alg in ["RS256", "ES256"] {
        let token = with_header(&minter, "alg", json!(alg));
        assert_eq!(
            verify(&minter, &token).await,
            Err(UnsupportedAlgorithm),
            "{alg}"
        );
    }
}

#[tokio::test]
async fn a_missing_alg_is_refused() {
    let minter = Minter::new();
    let token = with_header(&minter, "alg", Value::Null);
    assert_eq!(verify(&minter, &token).await, Err(UnsupportedAlgorithm));
}

// ---- other header rules ----

#[tokio::test]
async fn a_wrong_or_missing_typ_is_refused() {
    let minter = Minter::new();
    for typ in [json!("JWT"), Value::Null] {
        let token = with_header(&minter, "typ", typ.clone());
        assert_eq!(verify(&minter, &token).await, Err(WrongType), "{typ}");
    }
}

#[tokio::test]
async fn a_missing_kid_is_refused() {
    let minter = Minter::new();
    let token = with_header(&minter, "kid", Value::Null);
    assert_eq!(verify(&minter, &token).await, Err(MissingKid));
}

#[tokio::test]
async fn an_unknown_kid_is_refused() {
    let minter = Minter::new();
    let token = with_header(&minter, "kid", json!("some-other-key"));
    assert_eq!(verify(&minter, &token).await, Err(UnknownKey));
}

#[tokio::test]
async fn headers_that_pick_a_key_or_demand_extensions_are_refused() {
    let minter = Minter::new();
    let cases = [
        ("jku", json!("https://attacker.example/jwks.json")),
        ("jwk", serde_json::to_value(minter.jwk()).unwrap()),
        ("x5u", json!("https://attacker.example/cert.pem")),
        ("x5c", json!(["MIIB"])),
        ("crit", json!(["b64"])),
    ];
    for (name, value) in cases {
        let token = with_header(&minter, name, value);
        assert_eq!(
            verify(&minter, &token).await,
            Err(ForbiddenHeader(name)),
            "{name}"
        );
    }
    let mut header = minter.header();
    header["jku"] = Value::Null;
    let null_jku = minter.sign(&header, &minter.claims(METHOD, PATH, NOW));
    assert_eq!(
        verify(&minter, &null_jku).await,
        Err(ForbiddenHeader("jku")),
        "null counts as present"
    );
}

// ---- signature ----

#[tokio::test]
async fn a_flipped_signature_byte_is_refused() {
    let minter = Minter::new();
    let token = valid(&minter);
    let (signing_input, signature) = token.rsplit_once('.').unwrap();
    let mut bytes = URL_SAFE_NO_PAD.decode(signature).unwrap();
    bytes[10] ^= 0x01;
    let tampered = format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(bytes));
    assert_eq!(verify(&minter, &tampered).await, Err(BadSignature));
}

#[tokio::test]
async fn a_token_signed_by_another_key_under_our_kid_is_refused() {
    let minter = Minter::new();
    let impostor = Minter::new();
    let token = impostor.sign(&minter.header(), &minter.claims(METHOD, PATH, NOW));
    assert_eq!(verify(&minter, &token).await, Err(BadSignature));
}

#[tokio::test]
async fn changed_claims_under_a_valid_signature_are_refused() {
    let minter = Minter::new();
    let token = valid(&minter);
    let parts: Vec<&str> = token.split('.').collect();
    let mut claims = minter.claims(METHOD, PATH, NOW);
    claims["sub"] = json!("someone-else");
    let tampered = format!("{}.{}.{}", parts[0], encode_json(&claims), parts[2]);
    assert_eq!(verify(&minter, &tampered).await, Err(BadSignature));
}

// ---- claims ----

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

// ---- malformed ----

#[tokio::test]
async fn malformed_tokens_are_refused_as_malformed() {
    let minter = Minter::new();
    let token = valid(&minter);
    let (header, rest) = token.split_once('.').unwrap();
    let (payload, signature) = rest.split_once('.').unwrap();
    let cases = [
        ("two parts", format!("{header}.{payload}")),
        ("four parts", format!("{token}.{signature}")),
        ("empty", String::new()),
        (
            "header not base64url",
            format!("{header}+.{payload}.{signature}"),
        ),
        ("padded header", format!("{header}=.{payload}.{signature}")),
        (
            "header not JSON",
            format!(
                "{}.{payload}.{signature}",
                URL_SAFE_NO_PAD.encode("alg:EdDSA")
            ),
        ),
        (
            "header a JSON array",
            format!("{}.{payload}.{signature}", encode_json(&json!(["EdDSA"]))),
        ),
        (
            "short signature",
            format!("{header}.{payload}.{}", &signature[..40]),
        ),
        (
            "signature not base64url",
            format!("{header}.{payload}.{}*", &signature[..85]),
        ),
        (
            "too long",
            format!("{header}.{}.{signature}", "A".repeat(9000)),
        ),
    ];
    for (case, token) in cases {
        assert!(
            matches!(verify(&minter, &token).await, Err(Malformed(_))),
            "{case}"
        );
    }
}

#[tokio::test]
async fn a_duplicated_header_member_is_malformed() {
    let minter = Minter::new();
    let header = format!(
        r#"{{"alg":"EdDSA","typ":"at+jwt","kid":"{}","alg":"none"}}"#,
        minter.kid()
    );
    let claims = encode_json(&minter.claims(METHOD, PATH, NOW));
    let token = format!(
        "{}.{claims}.{}",
        URL_SAFE_NO_PAD.encode(header),
        "A".repeat(86)
    );
    assert!(matches!(verify(&minter, &token).await, Err(Malformed(_))));
}

#[tokio::test]
async fn signed_claims_that_are_not_a_json_object_are_malformed() {
    let minter = Minter::new();
    let token = minter.sign(&minter.header(), &json!(["not", "claims"]));
    assert!(matches!(verify(&minter, &token).await, Err(Malformed(_))));
}

#[tokio::test]
async fn refusals_never_echo_the_token_or_key() {
    let minter = Minter::new();
    let token = with_claim(&minter, "aud", json!("billing"));
    let error = verify(&minter, &token).await.unwrap_err();
    let message = error.to_string();
    assert_eq!(message, "token audience does not match");
    assert!(!message.contains(minter.kid()));
    assert!(!message.contains(&minter.jwk().x));
}

// ---- DESIGN §15: single use and ended sessions ----

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
