//! Tokens that break no rule, including the forms the rules tolerate, are accepted.

use super::*;

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
