//! The fuzz targets: one function per parser that takes attacker bytes (DESIGN §14). Each takes
//! the fuzzer's bytes, drives the parser exactly as the service does, and panics only when an
//! invariant the service relies on breaks; a panic in the parser itself is the bug to find.
//! `src/bin/<target>.rs` hands these to AFL; `tests/replay.rs` replays the kept inputs.

use std::future::Future;
use std::sync::OnceLock;
use std::task::{Context, Poll, Waker};

use axum::response::IntoResponse;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ed25519_dalek::{Signer, SigningKey};
use http::header::COOKIE;
use http::{HeaderMap, HeaderValue};
use identity::exchange::ExchangeRequest;
use shared_claims::{
    Claims, Jwk, JwkSet, ReplayFuture, ReplayStore, Verifier, VerifierConfig, VerifyError,
};

/// One fuzz target: takes the fuzzer's bytes, panics only when an invariant breaks.
pub type Target = fn(&[u8]);

/// Every target by name, as `fuzz/corpus/<name>/` and `fuzz/regressions/<name>/` are named.
pub const TARGETS: [(&str, Target); 6] = [
    ("verifier", verifier),
    ("cookie_header", cookie_header),
    ("auth_json", auth_json),
    ("exchange_form", exchange_form),
    ("duration", duration),
    ("key_dir", key_dir),
];

/// "Now" for every verification, so a kept token verifies (or not) the same way forever.
pub const NOW: i64 = 1_767_225_600;
/// The issuer the fuzzed verifier expects.
pub const ISSUER: &str = "http://127.0.0.1:8081";
/// The audience the fuzzed verifier is.
pub const AUDIENCE: &str = "core-api";
/// The request every token is verified against.
pub const METHOD: &str = "GET";
/// The request every token is verified against.
pub const PATH: &str = "/api/me";

/// The fuzzing key: a fixed, published seed, so it signs nothing anyone trusts.
const FUZZ_KEY_SEED: [u8; 32] = [7; 32];

/// The verifier's fixture: the fuzzing key, its JWKS and a verifier over it (built once).
pub struct Fixture {
    signing: SigningKey,
    kid: String,
    verifier: Verifier,
}

/// The fixture, built on first use.
pub fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let signing = SigningKey::from_bytes(&FUZZ_KEY_SEED);
        let jwk = Jwk::ed25519(signing.verifying_key().as_bytes());
        let kid = jwk.kid.clone().unwrap_or_default();
        let verifier = fuzz_verifier(JwkSet { keys: vec![jwk] });
        Fixture {
            signing,
            kid,
            verifier,
        }
    })
}

/// A verifier over `keys` that judges every input on its own: single use (DESIGN §15) would make
/// one input pass once and fail after, which AFL reads as instability (the `jti` store has its own
/// tests in shared-claims).
fn fuzz_verifier(keys: JwkSet) -> Verifier {
    Verifier::with_keys(verifier_config(), keys)
        .with_replay_store(std::sync::Arc::new(EveryUseFirst))
}

/// A `jti` store for which every use is the first.
struct EveryUseFirst;

impl ReplayStore for EveryUseFirst {
    fn first_use<'a>(&'a self, _: &'a str, _: i64, _: i64) -> ReplayFuture<'a> {
        Box::pin(std::future::ready(Ok(true)))
    }
}

fn verifier_config() -> VerifierConfig {
    VerifierConfig::new("http://127.0.0.1:9/never-fetched", ISSUER, AUDIENCE)
}

impl Fixture {
    /// The fuzzing key's `kid`.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The fuzzing key, for seeds.
    pub fn signing_key(&self) -> &SigningKey {
        &self.signing
    }

    /// The header identity writes, as JSON bytes.
    pub fn header(&self) -> Vec<u8> {
        serde_json::json!({ "alg": "EdDSA", "typ": "at+jwt", "kid": self.kid })
            .to_string()
            .into_bytes()
    }

    /// `b64(header).b64(claims).b64(signature)` with the fuzzing key, whatever the bytes say.
    pub fn sign(&self, header: &[u8], claims: &[u8]) -> String {
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(claims)
        );
        let signature = self.signing.sign(input.as_bytes());
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()))
    }
}

/// Claims identity would sign for `METHOD PATH` at `NOW`, as JSON bytes.
pub fn valid_claims() -> Vec<u8> {
    serde_json::json!({
        "iss": ISSUER, "sub": "5d4c3a0e-1f6b-4c1e-9a63-2f0b7d9e8c11", "aud": AUDIENCE,
        "iat": NOW, "nbf": NOW, "exp": NOW + 60, "jti": "AAECAwQFBgcICQoLDA0ODw",
        "sid": "7a2d9a54-0c1b-4b8e-8f0e-5e6a1b2c3d4e", "client_id": "edge",
        "email": "ada@example.com", "email_verified": true, "htm": METHOD, "htu": PATH,
    })
    .to_string()
    .into_bytes()
}

/// The verifier (shared-claims): JWS parsing and every claims check. The first byte picks the
/// mode (`% 4`): 0 — the rest is a token string; 1 — the rest is `header NUL claims`, signed
/// with the fuzzing key so the checks past the signature are reached; 2 — the rest is the claims
/// under identity's header, signed; 3 — the rest is a JWKS, and the verifier built over it
/// checks a valid token.
pub fn verifier(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let fixture = fixture();
    match mode % 4 {
        0 => {
            if let Ok(token) = std::str::from_utf8(rest) {
                check_token(&fixture.verifier, token);
            }
        }
        1 => {
            let (header, claims) = match rest.iter().position(|&b| b == 0) {
                Some(nul) => (&rest[..nul], &rest[nul + 1..]),
                None => (rest, &[][..]),
            };
            check_token(&fixture.verifier, &fixture.sign(header, claims));
        }
        2 => check_token(&fixture.verifier, &fixture.sign(&fixture.header(), rest)),
        _ => {
            let Ok(keys) = serde_json::from_slice::<JwkSet>(rest) else {
                return;
            };
            let ours = keys.keys.iter().any(|jwk| {
                jwk.kid.as_deref() == Some(fixture.kid())
                    && jwk.x == URL_SAFE_NO_PAD.encode(fixture.signing.verifying_key().as_bytes())
            });
            let verifier = fuzz_verifier(keys);
            let token = fixture.sign(&fixture.header(), &valid_claims());
            let verified = verify(&verifier, &token);
            assert!(
                verified.is_err() || ours,
                "a token verified under a key set without its key"
            );
        }
    }
}

/// Verifies `token` against `METHOD PATH` at `NOW`; what passes must satisfy DESIGN §4.
fn check_token(verifier: &Verifier, token: &str) {
    match verify(verifier, token) {
        Ok(claims) => assert_claims_hold(&claims),
        Err(error) => drop(error.to_string()),
    }
}

fn assert_claims_hold(claims: &Claims) {
    assert_eq!(claims.iss, ISSUER);
    assert!(claims.aud.contains(AUDIENCE));
    assert!(
        claims.nbf <= NOW + 5 && claims.iat <= NOW + 5,
        "accepted before its time"
    );
    assert!(NOW < claims.exp.saturating_add(5), "accepted after expiry");
    assert!(
        claims.exp.saturating_sub(claims.iat) <= 60,
        "accepted a lifetime over 60 s"
    );
    assert!(!claims.sub.is_empty() && !claims.jti.is_empty() && !claims.sid.is_empty());
    assert_eq!((claims.htm.as_str(), claims.htu.as_str()), (METHOD, PATH));
}

/// Whether the fixture's verifier accepts `token` for `METHOD PATH` at `NOW`.
pub fn verifies(token: &str) -> bool {
    verify(&fixture().verifier, token).is_ok()
}

fn verify(verifier: &Verifier, token: &str) -> Result<Claims, VerifyError> {
    ready(verifier.verify_at(token, METHOD, PATH, NOW))
}

/// The output of a future that never waits (a verifier over a fixed key set fetches nothing).
fn ready<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("a verifier over a fixed key set waited"),
    }
}

/// edge's session cookie read from `Cookie` headers: the bytes are split at `\n` into up to 8
/// header values. What is read must be a plausible token that `set` can write back.
pub fn cookie_header(data: &[u8]) {
    let mut headers = HeaderMap::new();
    for line in data.split(|&b| b == b'\n').take(8) {
        if let Ok(value) = HeaderValue::from_bytes(line) {
            headers.append(COOKIE, value);
        }
    }
    for secure in [false, true] {
        let cookie = edge::SessionCookie::new(secure);
        if let Some(token) = cookie.read(&headers) {
            let token = token.expose_secret();
            assert!(is_plausible_token(token), "read an implausible token");
            assert!(cookie.is_sent(&headers));
            let set = cookie
                .set(token, Some(604_800))
                .map(|v| v.as_bytes().to_vec());
            let prefix = format!("{}={token};", cookie.name()).into_bytes();
            assert!(
                set.is_some_and(|set| set.starts_with(&prefix)),
                "a read token is not written back"
            );
        }
        if let Ok(text) = std::str::from_utf8(data) {
            if cookie.set(text, None).is_some() {
                assert!(
                    is_plausible_token(text),
                    "wrote an implausible token into Set-Cookie"
                );
            }
        }
    }
}

fn is_plausible_token(token: &str) -> bool {
    (1..=128).contains(&token.len())
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Every auth API body edge accepts: the first byte picks the endpoint and the encoding (see
/// `edge::fuzzing::parse_auth_body`), the rest is the body; the same bytes are also read as a
/// social sign-in body (`edge::fuzzing::parse_social_body`).
pub fn auth_json(data: &[u8]) {
    let Some((&kind, body)) = data.split_first() else {
        return;
    };
    edge::fuzzing::parse_auth_body(kind, body);
    edge::fuzzing::parse_social_body(kind, body);
}

/// identity's token-exchange form. What is accepted must satisfy what the claims rely on, and
/// the session token's `Debug` must not show it.
pub fn exchange_form(data: &[u8]) {
    match ExchangeRequest::parse(data) {
        Ok(request) => {
            assert!(
                request.request_path.starts_with('/') && !request.request_path.contains(['?', '#'])
            );
            assert!(!request.request_method.is_empty() && !request.audience.is_empty());
            let secret = secrecy::ExposeSecret::expose_secret(&request.subject_token);
            let redacted = format!("{:?}", request.subject_token);
            assert!(
                redacted.contains("REDACTED")
                    && (!redacted.contains(secret)
                        || "SecretBox<str>([REDACTED])".contains(secret))
            );
        }
        Err(error) => drop(error.into_response()),
    }
}

/// `service_kit::parse_duration`, as configuration values are read. An accepted duration is
/// positive and reads back the same when written in seconds.
pub fn duration(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(parsed) = service_kit::parse_duration(text) {
        assert!(parsed.as_secs() > 0);
        assert_eq!(
            service_kit::parse_duration(&format!("{}s", parsed.as_secs())),
            Ok(parsed)
        );
    }
}

/// The key directory's files, as UTF-8 text like the loader reads them: the first byte picks
/// `keys.json` (even) or a `<kid>.pem` (odd).
pub fn key_dir(data: &[u8]) {
    let Some((&kind, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    if kind % 2 == 0 {
        identity::keys::fuzzing::keys_json(text);
    } else {
        identity::keys::fuzzing::private_key_pem(text);
    }
}
