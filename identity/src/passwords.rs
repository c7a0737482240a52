//! Password hashing: argon2id with the OWASP parameters of `Argon2::default()` (m=19456, t=2,
//! p=1), run on the blocking pool behind a semaphore sized to the cores so a burst of sign-ins
//! queues instead of starving the runtime. Sign-in with an unknown email verifies against a dummy
//! hash so it takes as long as a wrong password. It never logs or returns a password.

use std::sync::Arc;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::Argon2;
use tokio::sync::Semaphore;

use crate::users::Password;

/// Why hashing or verifying could not run.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    /// argon2 refused (a malformed stored hash, for instance).
    #[error("argon2: {0}")]
    Argon2(argon2::password_hash::Error),
    /// The blocking task died.
    #[error("hashing task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
    /// The semaphore was closed (never happens while the hasher lives).
    #[error("hashing pool closed")]
    Closed,
}

/// Hashes and verifies passwords off the async runtime.
#[derive(Clone, Debug)]
pub struct Hasher {
    permits: Arc<Semaphore>,
    /// A hash of a random password, verified against when the email is unknown.
    dummy_hash: Arc<str>,
}

impl Hasher {
    /// Sizes the pool to the machine and computes the dummy hash once.
    pub async fn new() -> Result<Hasher, PasswordError> {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let dummy_hash = tokio::task::spawn_blocking(|| {
            let salt = SaltString::generate(&mut OsRng);
            let random = SaltString::generate(&mut OsRng);
            hash_blocking(random.as_str(), &salt)
        })
        .await??;
        Ok(Hasher {
            permits: Arc::new(Semaphore::new(cores)),
            dummy_hash: dummy_hash.into(),
        })
    }

    /// The argon2id PHC string of a new password.
    pub async fn hash(&self, password: Password) -> Result<String, PasswordError> {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| PasswordError::Closed)?;
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let salt = SaltString::generate(&mut OsRng);
            hash_blocking(password.expose_secret(), &salt)
        })
        .await?
    }

    /// Whether `attempt` matches `stored`; with no stored hash (unknown email) it does the same
    /// work against the dummy hash and answers `false`.
    pub async fn verify(&self, attempt: Password, stored: Option<String>) -> Result<bool, PasswordError> {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| PasswordError::Closed)?;
        let known = stored.is_some();
        let hash = stored.unwrap_or_else(|| self.dummy_hash.to_string());
        let matches = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let parsed = PasswordHash::new(&hash).map_err(PasswordError::Argon2)?;
            match Argon2::default().verify_password(attempt.expose_secret().as_bytes(), &parsed) {
                Ok(()) => Ok(true),
                Err(argon2::password_hash::Error::Password) => Ok(false),
                Err(other) => Err(PasswordError::Argon2(other)),
            }
        })
        .await??;
        Ok(known && matches)
    }
}

fn hash_blocking(password: &str, salt: &SaltString) -> Result<String, PasswordError> {
    Argon2::default()
        .hash_password(password.as_bytes(), salt)
        .map(|hash| hash.to_string())
        .map_err(PasswordError::Argon2)
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::SecretString;

    fn password(text: &str) -> Password {
        Password::parse(SecretString::from(text)).expect("valid test password")
    }

    #[tokio::test]
    async fn hashes_with_argon2id_owasp_parameters_and_verifies() {
        let hasher = Hasher::new().await.unwrap();
        let hash = hasher.hash(password("correct horse")).await.unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{hash}");
        assert!(hasher
            .verify(password("correct horse"), Some(hash.clone()))
            .await
            .unwrap());
        assert!(!hasher.verify(password("wrong horse!"), Some(hash)).await.unwrap());
    }

    #[tokio::test]
    async fn an_unknown_email_never_matches_even_the_dummy_password() {
        let hasher = Hasher::new().await.unwrap();
        assert!(!hasher.verify(password("anything at all"), None).await.unwrap());
    }
}
