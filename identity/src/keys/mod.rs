//! The signing-key ring: the key directory (`KEYS_DIR`), the lifecycle rules (pending → active →
//! retired, or revoked), signing internal tokens, the published JWKS and the `identity keys` CLI
//! (with `verify`, an offline check of a token against the ring).
//! Private key material never leaves this module except as a token signature; nothing here prints
//! or logs it.

mod audit;
pub mod cli;
mod error;
#[doc(hidden)]
pub mod fuzzing;
mod kid;
pub mod lifecycle;
mod material;
mod ring;
mod schedule;
mod store;
mod verify;

pub use cli::{run, KeysArgs, KeysCommand};
pub use error::KeyError;
pub use kid::Kid;
pub use lifecycle::ensure_initialized;
pub use ring::{KeyRing, KeyRingConfig, Reload};
pub use schedule::KeyState;

#[cfg(test)]
mod tests_support;
