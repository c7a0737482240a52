//! Replays every kept input — `corpus/<target>/` (seeds and what fuzzing found interesting) and
//! `regressions/<target>/` (every input that ever failed) — through its target, as the fuzzer
//! runs it, so CI checks them all without AFL.

use std::fs;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

use gatehouse_fuzz::TARGETS;

/// Files of `dir`, sorted; none if it does not exist.
fn inputs(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.is_file())
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

#[test]
fn every_kept_input_runs_through_its_target_without_a_panic() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut failed = Vec::new();
    for (name, target) in TARGETS {
        let corpus = inputs(&root.join("corpus").join(name));
        assert!(!corpus.is_empty(), "fuzz/corpus/{name}/ has no seeds");
        for file in corpus
            .iter()
            .chain(&inputs(&root.join("regressions").join(name)))
        {
            let bytes = fs::read(file).expect("a kept input is readable");
            if catch_unwind(AssertUnwindSafe(|| target(&bytes))).is_err() {
                failed.push(file.display().to_string());
            }
        }
    }
    assert!(failed.is_empty(), "inputs that panic: {failed:#?}");
}

#[test]
fn the_fixture_token_verifies_so_the_checks_past_the_signature_are_reached() {
    let fixture = gatehouse_fuzz::fixture();
    let claims = gatehouse_fuzz::valid_claims();
    assert!(gatehouse_fuzz::verifies(
        &fixture.sign(&fixture.header(), &claims)
    ));
    let other_path = String::from_utf8(claims)
        .expect("JSON is UTF-8")
        .replace("/api/me", "/api/other");
    assert!(!gatehouse_fuzz::verifies(
        &fixture.sign(&fixture.header(), other_path.as_bytes())
    ));
}

#[test]
fn a_key_generated_now_runs_through_the_key_dir_target() {
    use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
    use ed25519_dalek::pkcs8::EncodePrivateKey;
    // Made at run time from the OS's randomness: no private key is committed as a seed.
    let mut seed = [0u8; 32];
    std::io::Read::read_exact(
        &mut fs::File::open("/dev/urandom").expect("urandom"),
        &mut seed,
    )
    .expect("32 bytes");
    let pem = ed25519_dalek::SigningKey::from_bytes(&seed)
        .to_pkcs8_pem(LineEnding::LF)
        .expect("PEM");
    let mut input = vec![1u8];
    input.extend_from_slice(pem.as_bytes());
    let (_, target) = TARGETS
        .iter()
        .find(|(name, _)| *name == "key_dir")
        .expect("key_dir target");
    target(&input);
}
