//! `identity keys verify`: an operator's offline check of one token against the ring. It runs the
//! same verifier core-api runs (`shared_claims::Verifier`) over the keys published now, and when
//! that refuses the token's key it reads `keys.json` to say whether the key was revoked, retired
//! past publication, or never known. It names the failed check; it never prints key material.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Serialize;
use serde_json::Value;
use service_kit::timefmt::rfc3339_millis;
use shared_claims::{Claims, JwkSet, Verifier, VerifierConfig, VerifyError};

use super::schedule::{KeyState, Schedule};
use super::Kid;

/// The audience checked when `--audience` is not given.
pub const DEFAULT_AUDIENCE: &str = "core-api";

/// What a token must say besides what every token must say; `None` leaves a check out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expectations {
    /// The audience `aud` must contain.
    pub audience: String,
    /// The issuer `iss` must equal (not checked when `None`).
    pub issuer: Option<String>,
    /// The method `htm` must equal (not checked when `None`).
    pub method: Option<String>,
    /// The path `htu` must equal (not checked when `None`).
    pub path: Option<String>,
}

impl Default for Expectations {
    fn default() -> Self {
        Expectations {
            audience: DEFAULT_AUDIENCE.to_owned(),
            issuer: None,
            method: None,
            path: None,
        }
    }
}

impl Expectations {
    /// The checks left out because nothing was expected of them.
    fn not_checked(&self) -> Vec<&'static str> {
        [
            ("iss", self.issuer.is_none()),
            ("htm", self.method.is_none()),
            ("htu", self.path.is_none()),
        ]
        .into_iter()
        .filter_map(|(check, skipped)| skipped.then_some(check))
        .collect()
    }
}

/// A token that passed every check.
#[derive(Clone, Debug, Serialize)]
pub struct Verified {
    /// The key that signed it.
    pub kid: String,
    /// That key's state now.
    pub key_state: KeyState,
    /// The decoded header.
    pub header: Value,
    /// The verified claims.
    pub claims: Claims,
    /// The checks left out (`iss`, `htm`, `htu` when not asked for).
    pub not_checked: Vec<&'static str>,
}

/// Why a token fails; [`Refused::check`] names the failed check.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// A check of DESIGN §4 failed, as the verifier says.
    #[error("check `{check}` failed: {error}{detail}")]
    Check {
        /// The check's short name (`alg`, `signature`, `exp`, `aud`…).
        check: &'static str,
        /// The verifier's refusal.
        error: VerifyError,
        /// What the token said, when it helps (e.g. `(exp … is before now …)`).
        detail: String,
    },
    /// The key was revoked: verifiers dropped it from the JWKS.
    #[error("check `kid` failed: key {kid} was revoked at {revoked_at} (reason: {reason})")]
    RevokedKey {
        /// The token's kid.
        kid: String,
        /// When, RFC 3339.
        revoked_at: String,
        /// Why, as the operator said.
        reason: String,
    },
    /// The key is in `keys.json` but no longer published (retired past its window).
    #[error("check `kid` failed: key {kid} is {} and no longer published", state.as_str())]
    UnpublishedKey {
        /// The token's kid.
        kid: String,
        /// The key's state now.
        state: KeyState,
    },
    /// `keys.json` does not list the key: not made here, or pruned.
    #[error(
        "check `kid` failed: key {kid} is not in keys.json (not one of these keys, or pruned)"
    )]
    UnknownKey {
        /// The token's kid.
        kid: String,
    },
    /// The verifier wanted to wait (it never should over a fixed key set).
    #[error("check `kid` failed: the verifier did not finish without fetching keys")]
    Unfinished,
}

impl Refused {
    /// The failed check's short name.
    pub fn check(&self) -> &'static str {
        match self {
            Refused::Check { check, .. } => check,
            Refused::RevokedKey { .. }
            | Refused::UnpublishedKey { .. }
            | Refused::UnknownKey { .. }
            | Refused::Unfinished => "kid",
        }
    }
}

/// The short name of the check behind each verifier refusal.
fn check_name(error: &VerifyError) -> &'static str {
    match error {
        VerifyError::MissingBearer | VerifyError::Malformed(_) => "format",
        VerifyError::UnsupportedAlgorithm => "alg",
        VerifyError::WrongType => "typ",
        VerifyError::ForbiddenHeader(_) => "header",
        VerifyError::MissingKid | VerifyError::UnknownKey => "kid",
        VerifyError::BadSignature => "signature",
        VerifyError::IssuerMismatch => "iss",
        VerifyError::AudienceMismatch => "aud",
        VerifyError::NotYetValid => "nbf",
        VerifyError::IssuedInFuture => "iat",
        VerifyError::Expired => "exp",
        VerifyError::LifetimeTooLong => "lifetime",
        VerifyError::MissingClaim(_) => "claims",
        VerifyError::MethodMismatch => "htm",
        VerifyError::PathMismatch => "htu",
        VerifyError::SessionRevoked => "sid",
        VerifyError::Replayed | VerifyError::ReplayStoreUnavailable => "jti",
    }
}

/// Checks `token` against the keys `published` now and every rule of DESIGN §4 that makes sense
/// offline, at `now_millis`; `schedule` explains a key the published set lacks.
pub fn verify_token(
    token: &str,
    expected: &Expectations,
    schedule: &Schedule,
    published: &JwkSet,
    now_millis: i64,
) -> Result<Verified, Refused> {
    let token = token.trim();
    let (header, claims) = peek(token);
    let claim = |name: &str| {
        claims
            .get(name)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    // The verifier always checks iss, htm and htu; a check not asked for is given the token's own
    // value, which it trivially passes. Nothing here is trusted before the signature verifies.
    let issuer = expected.issuer.clone().unwrap_or_else(|| claim("iss"));
    let method = expected.method.clone().unwrap_or_else(|| claim("htm"));
    let path = expected.path.clone().unwrap_or_else(|| claim("htu"));
    let config = VerifierConfig::new("", issuer, expected.audience.clone());
    let verifier = Verifier::with_keys(config, published.clone());
    let now_unix = now_millis.div_euclid(1000);
    let outcome = complete_at_once(verifier.verify_at(token, &method, &path, now_unix))
        .ok_or(Refused::Unfinished)?;
    let kid = header
        .get("kid")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    match outcome {
        Ok(claims) => Ok(Verified {
            key_state: key_state(schedule, &kid, now_millis).unwrap_or(KeyState::Active),
            kid,
            header,
            claims,
            not_checked: expected.not_checked(),
        }),
        Err(VerifyError::UnknownKey) => Err(explain_unknown_key(schedule, kid, now_millis)),
        Err(error) => Err(Refused::Check {
            check: check_name(&error),
            detail: detail(&error, &header, &claims, expected, now_unix),
            error,
        }),
    }
}

/// Says why a kid the published set lacks is not there, from `keys.json`.
fn explain_unknown_key(schedule: &Schedule, kid: String, now_millis: i64) -> Refused {
    match schedule.keys.iter().find(|k| k.kid.as_str() == kid) {
        Some(key) if key.revoked_at.is_some() => Refused::RevokedKey {
            revoked_at: key.revoked_at.map(rfc3339_millis).unwrap_or_default(),
            reason: key
                .revoked_reason
                .clone()
                .unwrap_or_else(|| "none given".to_owned()),
            kid,
        },
        Some(_) => Refused::UnpublishedKey {
            state: key_state(schedule, &kid, now_millis).unwrap_or(KeyState::Retired),
            kid,
        },
        // Shown as is only when it has a kid's shape: a token's header is not to be trusted to
        // be fit for a terminal.
        None => Refused::UnknownKey {
            kid: match Kid::parse(&kid) {
                Ok(_) => kid,
                Err(_) => format!("{:?}", kid.chars().take(64).collect::<String>()),
            },
        },
    }
}

fn key_state(schedule: &Schedule, kid: &str, now_millis: i64) -> Option<KeyState> {
    let index = schedule.keys.iter().position(|k| k.kid.as_str() == kid)?;
    Some(schedule.state(index, now_millis))
}

/// What the token said about the failed check, for the operator (it is their token).
fn detail(
    error: &VerifyError,
    header: &Value,
    claims: &Value,
    expected: &Expectations,
    now: i64,
) -> String {
    let time = |name: &str| {
        claims
            .get(name)
            .and_then(Value::as_i64)
            .map(|s| rfc3339_millis(s.saturating_mul(1000)))
    };
    let now_text = rfc3339_millis(now.saturating_mul(1000));
    let said = |value: Option<&Value>| value.map_or_else(|| "nothing".to_owned(), Value::to_string);
    match error {
        VerifyError::Expired => time("exp").map(|exp| format!(" (exp {exp}, now {now_text})")),
        VerifyError::NotYetValid => time("nbf").map(|nbf| format!(" (nbf {nbf}, now {now_text})")),
        VerifyError::IssuedInFuture => {
            time("iat").map(|iat| format!(" (iat {iat}, now {now_text})"))
        }
        VerifyError::AudienceMismatch => Some(format!(
            " (aud {}, expected \"{}\")",
            said(claims.get("aud")),
            expected.audience
        )),
        VerifyError::IssuerMismatch => Some(format!(
            " (iss {}, expected \"{}\")",
            said(claims.get("iss")),
            expected.issuer.as_deref().unwrap_or_default()
        )),
        VerifyError::MethodMismatch => Some(format!(
            " (htm {}, expected \"{}\")",
            said(claims.get("htm")),
            expected.method.as_deref().unwrap_or_default()
        )),
        VerifyError::PathMismatch => Some(format!(
            " (htu {}, expected \"{}\")",
            said(claims.get("htu")),
            expected.path.as_deref().unwrap_or_default()
        )),
        VerifyError::UnsupportedAlgorithm => Some(format!(" (alg {})", said(header.get("alg")))),
        VerifyError::WrongType => Some(format!(" (typ {})", said(header.get("typ")))),
        VerifyError::BadSignature => header
            .get("kid")
            .and_then(Value::as_str)
            .map(|kid| format!(" (not signed by the private key of {kid})")),
        _ => None,
    }
    .unwrap_or_default()
}

/// The header and claims as JSON, decoded without any check; `Null` for a part that is not JSON.
fn peek(token: &str) -> (Value, Value) {
    let mut parts = token.split('.');
    let mut decode = || {
        parts
            .next()
            .and_then(|part| URL_SAFE_NO_PAD.decode(part).ok())
            .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok())
            .filter(Value::is_object)
            .unwrap_or(Value::Null)
    };
    let header = decode();
    let claims = decode();
    (header, claims)
}

/// Polls `future` once. A verifier over a fixed key set never fetches, so its verification is
/// done at the first poll; `None` if it were not. (No runtime needed: this runs inside or outside
/// one.)
fn complete_at_once<F: Future>(future: F) -> Option<F::Output> {
    let mut context = Context::from_waker(Waker::noop());
    match pin!(future).poll(&mut context) {
        Poll::Ready(output) => Some(output),
        Poll::Pending => None,
    }
}

#[cfg(test)]
#[path = "verify_tests.rs"]
mod tests;
