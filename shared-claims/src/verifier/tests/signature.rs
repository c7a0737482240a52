//! The signature covers header and claims under our key.

use super::*;

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
