//! The Gatehouse internal token: the claims identity signs, the JWKS types it publishes, and the
//! verifier (JWKS cache plus every check of DESIGN §4) with an axum extractor, so any Rust service
//! becomes a verifier in a few lines. It never holds a private key.

pub mod claims;
pub mod error;
pub mod extract;
pub mod jwk;
pub mod verifier;

#[cfg(test)]
mod test_support;

pub use claims::{Audience, Claims, TOKEN_LIFETIME_SECS, TOKEN_TYPE};
pub use error::VerifyError;
pub use extract::Authenticated;
pub use jwk::{Jwk, JwkSet};
pub use verifier::{
    MemoryReplayStore, ReplayFuture, ReplayStore, ReplayStoreError, Verifier, VerifierConfig,
    VerifierObserver,
};
