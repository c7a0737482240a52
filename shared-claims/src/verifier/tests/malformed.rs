//! Tokens that do not parse are refused as malformed, and no refusal echoes the token or key.

use super::*;

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
