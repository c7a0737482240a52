//! The loaded key ring the service signs with: which key signs and which are published are
//! computed per call from the loaded files and the clock, so replicas sharing a directory agree.
//! A watcher reloads on change and keeps the last good ring when a change is invalid — except
//! that a revocation in a `keys.json` that parses is always applied, and a change whose listed
//! files are good is applied even when an unlisted file is bad. It never writes to the directory.

use std::fmt;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError, RwLock, Weak};
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use service_kit::duration::millis;
use service_kit::Clock;
use shared_claims::{Claims, Jwk, JwkSet};

use super::material::PrivateKey;
use super::schedule::Schedule;
use super::store::{Fingerprint, KeyDir};
use super::KeyError;

/// Margin added after a retired key's last token expires and the JWKS caches have turned over,
/// before the key leaves the JWKS.
const RETIRED_MARGIN: Duration = Duration::from_secs(60);

/// The timings the ring's rules depend on, and how strict it is about key file modes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyRingConfig {
    /// `Cache-Control: max-age` of the JWKS (`JWKS_MAX_AGE`, 60 s).
    pub jwks_max_age: Duration,
    /// How often verifiers refresh the JWKS (30 s).
    pub verifier_refresh: Duration,
    /// Accept private key files readable by their group (`KEYS_GROUP_READABLE`, false).
    pub group_readable: bool,
}

impl Default for KeyRingConfig {
    fn default() -> Self {
        KeyRingConfig {
            jwks_max_age: Duration::from_secs(60),
            verifier_refresh: Duration::from_secs(30),
            group_readable: false,
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
    /// What is wrong with the directory as last read, while the ring serves anyway (`/readyz`).
    problem: RwLock<Option<String>>,
    /// The directory as [`KeyRing::check_for_change`] last saw it; held while it reloads, so
    /// checks run one at a time.
    seen: Mutex<Fingerprint>,
}

/// What one look at the key directory ([`KeyRing::check_for_change`]) found.
#[derive(Debug)]
pub enum Reload {
    /// Nothing changed since the last look: nothing was read.
    Unchanged,
    /// The directory changed and the ring now serves it.
    Reloaded,
    /// The directory changed to something invalid: the last good ring serves, with every
    /// revocation the change carried.
    Invalid(KeyError),
}

/// One consistent reading of the directory.
struct Loaded {
    schedule: Schedule,
    /// Parallel to `schedule.keys`: the key of every key not revoked, `None` for revoked ones.
    signers: Vec<Option<Arc<Signer>>>,
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

/// Reads `keys.json` and the keys it lists (each checked: mode, format, thumbprint). Unlisted
/// files are not read here; [`KeyDir::check_pem_permissions`] judges those.
fn load_listed(dir: &KeyDir) -> Result<Loaded, KeyError> {
    let _lock = dir.lock_shared()?;
    let fingerprint = dir.fingerprint();
    let schedule = dir.read_schedule()?;
    let signers = schedule
        .keys
        .iter()
        .map(|meta| match meta.revoked_at {
            Some(_) => Ok(None),
            None => dir
                .read_private_key(&meta.kid)
                .map(|key| Some(Arc::new(Signer::new(key)))),
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
        let dir = KeyDir::new(dir).group_readable(config.group_readable);
        let loaded = load_listed(&dir)?;
        dir.check_pem_permissions()?;
        let seen = Mutex::new(loaded.fingerprint.clone());
        let current = RwLock::new(Arc::new(loaded));
        Ok(KeyRing {
            inner: Arc::new(Inner {
                dir,
                config,
                clock,
                current,
                problem: RwLock::new(None),
                seen,
            }),
        })
    }

    /// Reads the directory again. When `keys.json` and the keys it lists are good, switches to
    /// them (a bad unlisted file is reported, not fatal). Otherwise keeps the last good ring but
    /// still applies every revocation of a `keys.json` that parses, and returns why. Either way,
    /// what is wrong is kept for [`KeyRing::problem`].
    pub fn reload(&self) -> Result<(), KeyError> {
        let dir = &self.inner.dir;
        let loaded = match load_listed(dir) {
            Ok(loaded) => loaded,
            Err(error) => {
                if let Ok(schedule) = dir.read_schedule() {
                    self.apply_revocations(&schedule);
                }
                self.set_problem(Some(error.to_string()));
                return Err(error);
            }
        };
        let unlisted = dir
            .check_pem_permissions()
            .err()
            .map(|error| error.to_string());
        if let Some(problem) = &unlisted {
            tracing::error!(dir = %dir.path().display(), %problem, "key directory has a bad file; the change it lists is applied anyway");
        }
        self.set_problem(unlisted);
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

    /// What is wrong with the key directory while the last good ring serves, if anything.
    pub fn problem(&self) -> Option<String> {
        self.inner
            .problem
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn set_problem(&self, problem: Option<String>) {
        *self
            .inner
            .problem
            .write()
            .unwrap_or_else(PoisonError::into_inner) = problem;
    }

    /// The current ring with every key that `schedule` revokes revoked too: it stops signing and
    /// leaves the JWKS at once, whatever else is wrong with the directory.
    fn apply_revocations(&self, schedule: &Schedule) {
        let mut lock = self
            .inner
            .current
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let mut schedule_now = lock.schedule.clone();
        let mut signers = lock.signers.clone();
        let mut applied = Vec::new();
        for (index, meta) in schedule_now.keys.iter_mut().enumerate() {
            let revoked = schedule
                .keys
                .iter()
                .find(|k| k.kid == meta.kid && k.revoked_at.is_some());
            if let (Some(revoked), None) = (revoked, meta.revoked_at) {
                meta.revoked_at = revoked.revoked_at;
                meta.revoked_reason = revoked.revoked_reason.clone();
                signers[index] = None;
                applied.push(meta.kid.to_string());
            }
        }
        if applied.is_empty() {
            return;
        }
        tracing::error!(dir = %self.inner.dir.path().display(), ?applied, "key directory invalid; applied its revocations to the last good key ring");
        *lock = Arc::new(Loaded {
            schedule: schedule_now,
            signers,
            fingerprint: lock.fingerprint.clone(),
        });
    }

    /// One step of the watcher, which tests can take themselves: when the directory's fingerprint
    /// differs from the one last seen, reloads it. Blocking (it reads files).
    pub fn check_for_change(&self) -> Reload {
        let mut seen = self
            .inner
            .seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let now = self.inner.dir.fingerprint();
        if now == *seen {
            return Reload::Unchanged;
        }
        *seen = now;
        match self.reload() {
            Ok(()) => Reload::Reloaded,
            Err(error) => Reload::Invalid(error),
        }
    }

    /// Polls the directory every `interval` ([`KeyRing::check_for_change`]); an invalid change is
    /// logged at error level and the last good ring kept. Stops when the last ring is dropped.
    pub fn spawn_watcher(&self, interval: Duration) -> tokio::task::JoinHandle<()> {
        let ring: Weak<Inner> = Arc::downgrade(&self.inner);
        let dir = self.inner.dir.path().display().to_string();
        let watching = async move {
            let mut ticker = tokio::time::interval(interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticker.tick().await;
                let Some(inner) = ring.upgrade() else { return };
                let ring = KeyRing { inner };
                match tokio::task::spawn_blocking(move || ring.check_for_change()).await {
                    Ok(Reload::Unchanged | Reload::Reloaded) => {}
                    Ok(Reload::Invalid(error)) => {
                        // Logged here once per change; `/readyz` keeps reporting it.
                        tracing::error!(%dir, %error, "invalid change to the key directory; keeping the last good key ring");
                    }
                    Err(error) => {
                        tracing::error!(%dir, %error, "key reload task failed; keeping the last good key ring")
                    }
                }
            }
        };
        // In the caller's span, so the watcher's lines name their service.
        tokio::spawn(tracing::Instrument::in_current_span(watching))
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

    /// How long ago (ms) the key that signs at `now` was created; `None` when no key signs.
    pub fn signing_key_age_ms(&self, now: i64) -> Option<i64> {
        self.current()
            .schedule
            .signer(now)
            .map(|key| now.saturating_sub(key.created_at).max(0))
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
