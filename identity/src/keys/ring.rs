//! The loaded key ring the service signs with: which key signs and which are published are
//! computed per call from the loaded files and the clock, so replicas sharing a directory agree.
//! A watcher reloads on change and keeps the last good ring when a change is invalid. It never
//! writes to the directory.

use std::fmt;
use std::path::Path;
use std::sync::{Arc, PoisonError, RwLock, Weak};
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use service_kit::Clock;
use shared_claims::{Claims, Jwk, JwkSet};

use super::material::PrivateKey;
use super::schedule::Schedule;
use super::store::{Fingerprint, KeyDir};
use super::KeyError;

/// Margin added after a retired key's last token expires and the JWKS caches have turned over,
/// before the key leaves the JWKS.
const RETIRED_MARGIN: Duration = Duration::from_secs(60);

/// The timings the ring's rules depend on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyRingConfig {
    /// `Cache-Control: max-age` of the JWKS (`JWKS_MAX_AGE`, 60 s).
    pub jwks_max_age: Duration,
    /// How often verifiers refresh the JWKS (30 s).
    pub verifier_refresh: Duration,
}

impl Default for KeyRingConfig {
    fn default() -> Self {
        KeyRingConfig {
            jwks_max_age: Duration::from_secs(60),
            verifier_refresh: Duration::from_secs(30),
        }
    }
}

impl KeyRingConfig {
    /// How long a retired key stays published after it last signed: token lifetime + JWKS
    /// max-age + margin, so every token it signed expires while verifiers still know it.
    pub fn retired_window(&self) -> Duration {
        let token_lifetime = Duration::from_secs(shared_claims::TOKEN_LIFETIME_SECS.unsigned_abs());
        token_lifetime + self.jwks_max_age + RETIRED_MARGIN
    }

    /// The shortest safe lead for a new key: max-age + verifier refresh, so every verifier has
    /// fetched it before it signs.
    pub fn minimum_lead(&self) -> Duration {
        self.jwks_max_age + self.verifier_refresh
    }

    /// The lead `rotate` uses when none is given: twice the minimum.
    pub fn default_lead(&self) -> Duration {
        self.minimum_lead() * 2
    }

    pub(crate) fn retired_window_ms(&self) -> i64 {
        millis(self.retired_window())
    }
}

/// A duration in milliseconds, saturating.
pub(crate) fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// The signing keys of identity (clone freely: an `Arc` inside).
#[derive(Clone)]
pub struct KeyRing {
    inner: Arc<Inner>,
}

struct Inner {
    dir: KeyDir,
    config: KeyRingConfig,
    clock: Clock,
    current: RwLock<Arc<Loaded>>,
}

/// One consistent reading of the directory.
struct Loaded {
    schedule: Schedule,
    /// Parallel to `schedule.keys`: the key of every key not revoked, `None` for revoked ones.
    signers: Vec<Option<Signer>>,
    /// The directory as it was just before it was read.
    fingerprint: Fingerprint,
}

/// A private key ready to sign, with what is constant per key precomputed.
struct Signer {
    key: PrivateKey,
    /// base64url of `{"alg":"EdDSA","typ":"at+jwt","kid":…}`.
    header_b64: String,
    jwk: Jwk,
}

impl Signer {
    fn new(key: PrivateKey) -> Signer {
        let header = serde_json::json!({"alg": "EdDSA", "typ": shared_claims::TOKEN_TYPE, "kid": key.kid().as_str()});
        let header_b64 = URL_SAFE_NO_PAD.encode(header.to_string());
        let jwk = Jwk::ed25519(&key.public_key());
        Signer {
            key,
            header_b64,
            jwk,
        }
    }
}

fn load_keys(dir: &KeyDir) -> Result<Loaded, KeyError> {
    let _lock = dir.lock_shared()?;
    let fingerprint = dir.fingerprint();
    let schedule = dir.read_schedule()?;
    dir.check_pem_permissions()?;
    let signers = schedule
        .keys
        .iter()
        .map(|meta| match meta.revoked_at {
            Some(_) => Ok(None),
            None => dir
                .read_private_key(&meta.kid)
                .map(|key| Some(Signer::new(key))),
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Loaded {
        schedule,
        signers,
        fingerprint,
    })
}

impl KeyRing {
    /// Loads the directory, refusing it (naming the file) if anything in it is invalid.
    pub fn load(dir: &Path, config: KeyRingConfig, clock: Clock) -> Result<KeyRing, KeyError> {
        let dir = KeyDir::new(dir);
        let loaded = load_keys(&dir)?;
        let current = RwLock::new(Arc::new(loaded));
        Ok(KeyRing {
            inner: Arc::new(Inner {
                dir,
                config,
                clock,
                current,
            }),
        })
    }

    /// Reads the directory again and, if it is valid, switches to it; if not, keeps the ring
    /// it had and says why.
    pub fn reload(&self) -> Result<(), KeyError> {
        let loaded = load_keys(&self.inner.dir)?;
        let kids: Vec<&str> = loaded
            .schedule
            .keys
            .iter()
            .map(|k| k.kid.as_str())
            .collect();
        tracing::info!(dir = %self.inner.dir.path().display(), ?kids, "signing keys reloaded");
        *self
            .inner
            .current
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Arc::new(loaded);
        Ok(())
    }

    /// Polls the directory every `interval` and reloads when it changed; an invalid change is
    /// logged at error level and the last good ring kept. Stops when the last ring is dropped.
    pub fn spawn_watcher(&self, interval: Duration) -> tokio::task::JoinHandle<()> {
        let ring: Weak<Inner> = Arc::downgrade(&self.inner);
        let mut seen = self.current().fingerprint.clone();
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticker.tick().await;
                let Some(inner) = ring.upgrade() else { return };
                let now = inner.dir.fingerprint();
                if now == seen {
                    continue;
                }
                seen = now;
                let ring = KeyRing { inner };
                let dir = ring.inner.dir.path().display().to_string();
                match tokio::task::spawn_blocking(move || ring.reload()).await {
                    Ok(Ok(())) => {}
                    Ok(Err(error)) => {
                        tracing::error!(%dir, %error, "invalid change to the key directory; keeping the last good key ring");
                    }
                    Err(error) => {
                        tracing::error!(%dir, %error, "key reload task failed; keeping the last good key ring")
                    }
                }
            }
        })
    }

    /// Signs `claims` as a JWS compact token with the key active now.
    pub fn sign(&self, claims: &Claims) -> Result<String, KeyError> {
        let loaded = self.current();
        let index = loaded
            .schedule
            .signer_index(self.inner.clock.now_millis())
            .ok_or(KeyError::NoSigningKey)?;
        // Only revoked keys lack a signer, and a revoked key never signs.
        let signer = loaded.signers[index]
            .as_ref()
            .ok_or(KeyError::NoSigningKey)?;
        let payload = serde_json::to_vec(claims).map_err(|e| KeyError::Encoding(e.to_string()))?;
        let mut token = String::with_capacity(signer.header_b64.len() + payload.len() * 4 / 3 + 96);
        token.push_str(&signer.header_b64);
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(&payload, &mut token);
        let signature = signer.key.sign(token.as_bytes());
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(signature.to_bytes(), &mut token);
        Ok(token)
    }

    /// The published set now: pending, active and recently retired keys; never revoked ones.
    pub fn jwks(&self) -> JwkSet {
        self.published(&self.current())
    }

    /// The schedule and the set published now, from one reading of the directory (what
    /// `identity keys verify` checks a token against).
    pub(super) fn schedule_and_jwks(&self) -> (Schedule, JwkSet) {
        let loaded = self.current();
        (loaded.schedule.clone(), self.published(&loaded))
    }

    fn published(&self, loaded: &Loaded) -> JwkSet {
        let now = self.inner.clock.now_millis();
        let keys = loaded
            .schedule
            .published(now, self.inner.config.retired_window_ms())
            .filter_map(|i| loaded.signers[i].as_ref().map(|s| s.jwk.clone()))
            .collect();
        JwkSet { keys }
    }

    /// Whether a key signs now (identity's `/readyz`).
    pub fn has_signing_key(&self) -> bool {
        self.current()
            .schedule
            .signer_index(self.inner.clock.now_millis())
            .is_some()
    }

    /// The kid of the key that signs now.
    pub fn signing_kid(&self) -> Option<String> {
        let loaded = self.current();
        loaded
            .schedule
            .signer(self.inner.clock.now_millis())
            .map(|k| k.kid.to_string())
    }

    /// The timings this ring was loaded with.
    pub fn config(&self) -> KeyRingConfig {
        self.inner.config
    }

    fn current(&self) -> Arc<Loaded> {
        Arc::clone(
            &self
                .inner
                .current
                .read()
                .unwrap_or_else(PoisonError::into_inner),
        )
    }
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let loaded = self.current();
        let kids: Vec<&str> = loaded
            .schedule
            .keys
            .iter()
            .map(|k| k.kid.as_str())
            .collect();
        f.debug_struct("KeyRing")
            .field("dir", &self.inner.dir.path())
            .field("kids", &kids)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
#[path = "ring_tests.rs"]
mod tests;
