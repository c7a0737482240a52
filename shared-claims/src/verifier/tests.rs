//! Each test breaks exactly one rule of DESIGN §4 and expects exactly that rule's error.

mod accepted;
mod claims;
mod header;
mod malformed;
mod signature;
mod single_use_and_revocation;

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
