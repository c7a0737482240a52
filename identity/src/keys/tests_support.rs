//! Helpers shared by the key module's unit tests.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;

/// Fails if `shown` contains any rendering of the private key: PEM body, or the seed as hex,
/// base64 or a byte list.
pub fn assert_no_secret(shown: &str, pem: &str, seed: &[u8; 32]) {
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    assert!(!shown.contains(&body[..16]), "PEM in {shown}");
    let hex: String = seed.iter().map(|b| format!("{b:02x}")).collect();
    for rendering in [
        hex,
        STANDARD.encode(seed),
        URL_SAFE_NO_PAD.encode(seed),
        format!("{:?}", &seed[..8]).trim_end_matches(']').to_owned(),
    ] {
        assert!(!shown.contains(&rendering), "seed ({rendering}) in {shown}");
    }
}
