//! The header's rules: the algorithm, `typ`, `kid` and no member that picks a key or demands an
//! extension.

use super::*;

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
