//! Writes the seed inputs of every target into `fuzz/corpus/<target>/seed-*`: a few valid
//! inputs each (a token from the fuzzing key, real cookie headers, bodies, forms, durations, a
//! keys.json and a PEM). Run once after changing a parser's format:
//! `cargo run --manifest-path fuzz/Cargo.toml --bin seeds`.

use std::fs;
use std::path::Path;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::EncodePrivateKey;
use ed25519_dalek::SigningKey;
use gatehouse_fuzz::{fixture, valid_claims, NOW};
use serde_json::json;

const TOKEN: &str = "q1w2e3r4t5y6u7i8o9p0a1s2d3f4g5h6j7k8l9z0x1c";

fn main() -> std::io::Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    for (target, seeds) in seeds()? {
        let dir = root.join(target);
        fs::create_dir_all(&dir)?;
        for (name, bytes) in seeds {
            fs::write(dir.join(format!("seed-{name}")), bytes)?;
        }
    }
    Ok(())
}

fn with_mode(mode: u8, rest: &[u8]) -> Vec<u8> {
    let mut bytes = vec![mode];
    bytes.extend_from_slice(rest);
    bytes
}

/// Each target's name with its named seed inputs.
type Seeds = Vec<(&'static str, Vec<(&'static str, Vec<u8>)>)>;

fn seeds() -> std::io::Result<Seeds> {
    let f = fixture();
    let claims = valid_claims();
    let token = f.sign(&f.header(), &claims);
    let mut forged = token.clone();
    forged.replace_range(forged.len() - 4.., "AAAA");
    let expired = json!({"iss": "http://127.0.0.1:8081", "sub": "u", "aud": ["core-api", "x"], "iat": NOW - 120,
        "nbf": NOW - 120, "exp": NOW - 60, "jti": "j", "sid": "s", "client_id": "edge", "email": "a@b.c",
        "email_verified": false, "htm": "GET", "htu": "/api/me"});
    let mut header_then_claims = f.header();
    header_then_claims.push(0);
    header_then_claims.extend_from_slice(&claims);
    let public = f.signing_key().verifying_key();
    let jwks = json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "x": URL_SAFE_NO_PAD.encode(public.as_bytes()),
        "kid": f.kid(), "use": "sig", "alg": "EdDSA"}]});

    let kid = f.kid();
    let keys_json = json!({"version": 1, "keys": [{"kid": kid, "created_at": "2025-01-01T12:00:00.123Z",
        "activates_at": "2025-01-01T12:00:00.123Z", "retires_at": null, "revoked_at": null, "revoked_reason": null}]});
    let other_kid = gatehouse_kid(&[9; 32]);
    let rotated = json!({"version": 1, "keys": [
        {"kid": kid, "created_at": "2025-01-01T12:00:00.000Z", "activates_at": "2025-01-01T12:00:00.000Z",
         "retires_at": "2025-01-02T12:00:00+01:00", "revoked_at": null, "revoked_reason": null},
        {"kid": other_kid, "created_at": "2025-01-01T13:00:00.000Z", "activates_at": "2025-01-01T13:05:00Z",
         "retires_at": null, "revoked_at": "2025-01-03T00:00:00.5Z", "revoked_reason": "leaked"}]});
    // A key made now from the OS's randomness: no private key is ever committed (the file this
    // seed becomes is ignored by git; fuzz/run.sh and fuzz/ci.sh write the seeds before a run).
    let mut seed = [0u8; 32];
    fs::File::open("/dev/urandom")
        .and_then(|mut random| std::io::Read::read_exact(&mut random, &mut seed))?;
    let pem = SigningKey::from_bytes(&seed)
        .to_pkcs8_pem(LineEnding::LF)
        .map(|pem| pem.to_string())
        .unwrap_or_default();

    let form = |ip: &str, ua: &str| {
        format!(
            "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange&subject_token={TOKEN}\
             &subject_token_type=urn%3Agatehouse%3Atoken-type%3Asession&audience=core-api\
             &request_method=GET&request_path=%2Fapi%2Fme&client_ip={ip}&user_agent={ua}"
        )
        .into_bytes()
    };

    Ok(vec![
        ("verifier", vec![
            ("token", with_mode(0, token.as_bytes())),
            ("forged", with_mode(0, forged.as_bytes())),
            ("three-parts", with_mode(0, b"eyJhbGciOiJFZERTQSJ9.e30.AAAA")),
            ("header-nul-claims", with_mode(1, &header_then_claims)),
            ("claims", with_mode(2, &claims)),
            ("claims-expired", with_mode(2, expired.to_string().as_bytes())),
            ("jwks", with_mode(3, jwks.to_string().as_bytes())),
        ]),
        ("cookie_header", vec![
            ("plain", format!("better-auth.session_token={TOKEN}").into_bytes()),
            ("among-others", format!("theme=dark; better-auth.session_token={TOKEN}; z=1").into_bytes()),
            ("host", format!("a=b\n__Host-better-auth.session_token={TOKEN}").into_bytes()),
            ("implausible", b"better-auth.session_token=abc.def; better-auth.session_token=".to_vec()),
        ]),
        ("auth_json", vec![
            ("sign-up", with_mode(0, br#"{"name":"Ada","email":"ada@example.com","password":"correct horse","image":null,"callbackURL":"/","rememberMe":true}"#)),
            ("sign-up-form", with_mode(0x80, b"name=Ada&email=ada%40example.com&password=correct+horse&rememberMe=false")),
            ("sign-in", with_mode(1, br#"{"email":"ada@example.com","password":"correct horse","rememberMe":"false"}"#)),
            ("sign-in-form", with_mode(0x81, b"email=ada%40example.com&password=correct+horse")),
            ("sign-out", with_mode(2, br#"{"callbackURL":"/signed-out"}"#)),
            ("revoke-session", with_mode(3, br#"{"token":"7a2d9a54-0c1b-4b8e-8f0e-5e6a1b2c3d4e"}"#)),
            ("change-password", with_mode(4, br#"{"newPassword":"new hunter22","currentPassword":"old hunter22","revokeOtherSessions":true}"#)),
            ("update-user", with_mode(5, br#"{"name":"Ada L.","image":null,"email":5}"#)),
            ("delete-user", with_mode(6, br#"{"password":"hunter22","callbackURL":"/bye","token":"t"}"#)),
            ("send-verification", with_mode(7, br#"{"email":"ada@example.com","callbackURL":"/verified"}"#)),
            ("request-reset", with_mode(8, br#"{"email":"ada@example.com","redirectTo":"/reset"}"#)),
            ("reset-password", with_mode(9, br#"{"newPassword":"hunter22","token":"abc"}"#)),
            ("no-fields", with_mode(10, b"{}")),
        ]),
        ("exchange_form", vec![
            ("v4", form("203.0.113.9", "Mozilla%2F5.0")),
            ("v6-no-agent", form("%5B2001%3Adb8%3A%3A1%5D%3A443", "")),
        ]),
        ("duration", vec![
            ("seconds", b"90s".to_vec()),
            ("minutes", b"10m".to_vec()),
            ("hours", b" 2h ".to_vec()),
            ("days", b"7d".to_vec()),
        ]),
        ("key_dir", vec![
            ("keys-json", with_mode(0, keys_json.to_string().as_bytes())),
            ("keys-json-rotated", with_mode(0, serde_json::to_string_pretty(&rotated).unwrap_or_default().as_bytes())),
            ("pem-generated-key", with_mode(1, pem.as_bytes())),
        ]),
    ])
}

/// The RFC 7638 thumbprint of an Ed25519 public key made from `seed`.
fn gatehouse_kid(seed: &[u8; 32]) -> String {
    let public = SigningKey::from_bytes(seed).verifying_key();
    shared_claims::Jwk::ed25519(public.as_bytes())
        .kid
        .unwrap_or_default()
}
