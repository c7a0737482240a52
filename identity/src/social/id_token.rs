//! Verifying a provider's ID token (OpenID Connect Core §3.1.3.7): the signature against the
//! provider's JWKS with an asymmetric algorithm it announces (never `none`, never HMAC), then
//! `iss`, `aud`, `exp` (and `iat`) and `nonce`, each check named in its failure. The clock is
//! an argument, so expiry is tested without waiting.

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use subtle::ConstantTimeEq;

/// Clock skew tolerated between the provider and identity (Better-Auth allows 30 s too).
pub const LEEWAY_SECS: i64 = 30;

/// Asymmetric algorithms accepted when the provider announces them (RS256 when it says nothing,
/// OpenID Connect Discovery's default).
const ASYMMETRIC: &[Algorithm] = &[
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// Why an ID token was refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum IdTokenError {
    #[error("malformed ID token or header: {0}")]
    Malformed(String),
    #[error("algorithm {0} is not accepted")]
    Algorithm(String),
    #[error("no key of the provider's JWKS matches the token's kid")]
    UnknownKey,
    #[error("signature does not verify")]
    Signature,
    #[error("iss is `{0}`, not the provider's issuer")]
    IssuerMismatch(String),
    #[error("aud does not contain the client id")]
    AudienceMismatch,
    #[error("expired")]
    Expired,
    #[error("issued in the future")]
    IssuedInFuture,
    #[error("nonce does not match the flow's")]
    NonceMismatch,
}

/// The claims Gatehouse reads.
#[derive(Clone, Debug, Deserialize)]
pub struct IdClaims {
    pub iss: String,
    pub sub: String,
    aud: Audience,
    exp: i64,
    #[serde(default)]
    iat: Option<i64>,
    #[serde(default)]
    nonce: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default, deserialize_with = "super::userinfo::lenient_bool")]
    pub email_verified: Option<bool>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub picture: Option<String>,
    /// Microsoft's tenant id (multi-tenant issuers name it).
    #[serde(default)]
    tid: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    fn contains(&self, client_id: &str) -> bool {
        match self {
            Audience::One(aud) => aud == client_id,
            Audience::Many(list) => list.iter().any(|aud| aud == client_id),
        }
    }
}

/// What the token must say.
pub struct Expected<'a> {
    /// The discovered issuer (may hold `{tenantid}` for Microsoft's multi-tenant endpoint).
    pub issuer: &'a str,
    pub client_id: &'a str,
    pub nonce: &'a str,
    /// Algorithms the provider announces (`id_token_signing_alg_values_supported`).
    pub announced_algs: &'a [String],
    /// Seconds since the epoch.
    pub now: i64,
}

/// The key id in the token's header, to decide whether the JWKS needs fetching again.
pub fn key_id(token: &str) -> Result<Option<String>, IdTokenError> {
    jsonwebtoken::decode_header(token)
        .map(|header| header.kid)
        .map_err(|error| IdTokenError::Malformed(error.to_string()))
}

/// Verifies `token` against `keys`; the claims when every check passes.
pub fn verify(
    token: &str,
    keys: &JwkSet,
    expected: &Expected<'_>,
) -> Result<IdClaims, IdTokenError> {
    // `alg: none` and unknown names fail to parse here: jsonwebtoken has no such algorithm.
    let header = jsonwebtoken::decode_header(token)
        .map_err(|error| IdTokenError::Malformed(error.to_string()))?;
    let alg = header.alg;
    let announced = expected.announced_algs.is_empty() && alg == Algorithm::RS256
        || expected
            .announced_algs
            .iter()
            .any(|name| name == &format!("{alg:?}"));
    if !ASYMMETRIC.contains(&alg) || !announced {
        return Err(IdTokenError::Algorithm(format!("{alg:?}")));
    }
    let jwk = match &header.kid {
        Some(kid) => keys.find(kid),
        None if keys.keys.len() == 1 => keys.keys.first(),
        None => None,
    }
    .ok_or(IdTokenError::UnknownKey)?;
    let key = DecodingKey::from_jwk(jwk).map_err(|_| IdTokenError::UnknownKey)?;

    // jsonwebtoken checks only the signature here; every claim is checked below, by name,
    // against identity's clock.
    let mut validation = Validation::new(alg);
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let claims = jsonwebtoken::decode::<IdClaims>(token, &key, &validation)
        .map_err(|error| match error.kind() {
            jsonwebtoken::errors::ErrorKind::InvalidSignature => IdTokenError::Signature,
            jsonwebtoken::errors::ErrorKind::InvalidAlgorithm => {
                IdTokenError::Algorithm(format!("{alg:?}"))
            }
            _ => IdTokenError::Malformed(error.to_string()),
        })?
        .claims;

    let issuer = match &claims.tid {
        Some(tid) => expected.issuer.replace("{tenantid}", tid),
        None => expected.issuer.to_owned(),
    };
    if claims.iss != issuer || issuer.contains("{tenantid}") {
        return Err(IdTokenError::IssuerMismatch(claims.iss));
    }
    if !claims.aud.contains(expected.client_id) {
        return Err(IdTokenError::AudienceMismatch);
    }
    if claims.exp + LEEWAY_SECS <= expected.now {
        return Err(IdTokenError::Expired);
    }
    if claims
        .iat
        .is_some_and(|iat| iat > expected.now + LEEWAY_SECS)
    {
        return Err(IdTokenError::IssuedInFuture);
    }
    let nonce_matches = claims
        .nonce
        .as_deref()
        .is_some_and(|nonce| bool::from(nonce.as_bytes().ct_eq(expected.nonce.as_bytes())));
    if !nonce_matches {
        return Err(IdTokenError::NonceMismatch);
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{encode, EncodingKey, Header};
    use serde_json::json;

    struct TestKey {
        der: Vec<u8>,
        x: String,
    }

    /// A fresh Ed25519 key per test run: no private key lives in the repository.
    fn test_key() -> &'static TestKey {
        static KEY: std::sync::OnceLock<TestKey> = std::sync::OnceLock::new();
        KEY.get_or_init(|| {
            use ed25519_dalek::pkcs8::EncodePrivateKey;
            let signing = ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng);
            let der = signing.to_pkcs8_der().unwrap().as_bytes().to_vec();
            use base64::Engine;
            let x = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(signing.verifying_key().as_bytes());
            TestKey { der, x }
        })
    }

    fn jwks() -> JwkSet {
        serde_json::from_value(json!({"keys": [{
            "kty": "OKP", "crv": "Ed25519", "x": test_key().x, "kid": "k1", "alg": "EdDSA", "use": "sig"
        }]}))
        .unwrap()
    }

    fn token(claims: serde_json::Value) -> String {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some("k1".into());
        encode(&header, &claims, &EncodingKey::from_ed_der(&test_key().der)).unwrap()
    }

    const NOW: i64 = 1_800_000_000;
    const ALGS: &[&str] = &["EdDSA"];

    fn check(claims: serde_json::Value) -> Result<IdClaims, IdTokenError> {
        let algs: Vec<String> = ALGS.iter().map(|alg| (*alg).to_owned()).collect();
        verify(
            &token(claims),
            &jwks(),
            &Expected {
                issuer: "https://op.example",
                client_id: "gatehouse",
                nonce: "n-123",
                announced_algs: &algs,
                now: NOW,
            },
        )
    }

    fn good() -> serde_json::Value {
        json!({"iss": "https://op.example", "sub": "u1", "aud": "gatehouse", "exp": NOW + 300,
               "iat": NOW, "nonce": "n-123", "email": "a@example.com", "email_verified": true})
    }

    fn with(key: &str, value: serde_json::Value) -> serde_json::Value {
        let mut claims = good();
        claims[key] = value;
        claims
    }

    #[test]
    fn a_good_token_gives_its_claims() {
        let claims = check(good()).unwrap();
        assert_eq!(
            (claims.sub.as_str(), claims.email_verified),
            ("u1", Some(true))
        );
        assert!(check(with("aud", json!(["other", "gatehouse"]))).is_ok());
    }

    #[test]
    fn each_claim_is_checked_by_name() {
        assert!(matches!(
            check(with("iss", json!("https://evil.example"))),
            Err(IdTokenError::IssuerMismatch(_))
        ));
        assert_eq!(
            check(with("aud", json!("someone-else"))).unwrap_err(),
            IdTokenError::AudienceMismatch
        );
        assert_eq!(
            check(with("exp", json!(NOW - LEEWAY_SECS))).unwrap_err(),
            IdTokenError::Expired
        );
        assert_eq!(
            check(with("iat", json!(NOW + 3600))).unwrap_err(),
            IdTokenError::IssuedInFuture
        );
        assert_eq!(
            check(with("nonce", json!("n-124"))).unwrap_err(),
            IdTokenError::NonceMismatch
        );
        let mut no_nonce = good();
        no_nonce.as_object_mut().unwrap().remove("nonce");
        assert_eq!(check(no_nonce).unwrap_err(), IdTokenError::NonceMismatch);
    }

    #[test]
    fn alg_none_hmac_and_a_bad_signature_are_refused() {
        let good_token = token(good());
        let (header_and_claims, _) = good_token.rsplit_once('.').unwrap();
        let (_, claims) = header_and_claims.split_once('.').unwrap();
        let algs = vec!["EdDSA".to_owned(), "HS256".to_owned()];
        let expected = Expected {
            issuer: "https://op.example",
            client_id: "gatehouse",
            nonce: "n-123",
            announced_algs: &algs,
            now: NOW,
        };
        use base64::Engine;
        let b64 = |v: serde_json::Value| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
        };
        let none = format!("{}.{claims}.", b64(json!({"alg": "none", "kid": "k1"})));
        assert!(matches!(
            verify(&none, &jwks(), &expected),
            Err(IdTokenError::Malformed(_))
        ));
        let hs = format!(
            "{}.{claims}.c2ln",
            b64(json!({"alg": "HS256", "kid": "k1"}))
        );
        assert!(matches!(
            verify(&hs, &jwks(), &expected),
            Err(IdTokenError::Algorithm(_))
        ));
        let tampered = good_token.replacen(claims, &b64(with("sub", json!("admin"))), 1);
        assert_eq!(
            verify(&tampered, &jwks(), &expected).unwrap_err(),
            IdTokenError::Signature
        );
    }

    #[test]
    fn microsofts_templated_issuer_takes_the_tenant() {
        let algs = vec!["EdDSA".to_owned()];
        let expected = Expected {
            issuer: "https://login.microsoftonline.com/{tenantid}/v2.0",
            client_id: "gatehouse",
            nonce: "n-123",
            announced_algs: &algs,
            now: NOW,
        };
        let mut claims = with("iss", json!("https://login.microsoftonline.com/t1/v2.0"));
        claims["tid"] = json!("t1");
        assert!(verify(&token(claims.clone()), &jwks(), &expected).is_ok());
        claims["tid"] = json!("t2");
        assert!(verify(&token(claims), &jwks(), &expected).is_err());
    }
}
