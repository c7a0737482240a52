//! The verifier's copy of identity's JWKS: Ed25519 keys by `kid`, fetched at start, refreshed in
//! the background and on an unknown `kid` (single-flight, rate-limited). A failed fetch keeps the
//! last good set; a successful one replaces it, so unpublished keys stop verifying. It never holds
//! a lock across an await, and never trusts a key a token points at.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock, Weak};
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ed25519_dalek::VerifyingKey;
use serde::Deserialize;
use tokio::time::{Instant, MissedTickBehavior};

use crate::{Jwk, JwkSet};

/// How long one JWKS fetch may take before it counts as failed.
const FETCH_TIMEOUT: Duration = Duration::from_secs(3);

/// The keys, and which fetch produced them.
#[derive(Default)]
struct KeySet {
    /// Sequence number of the fetch this set came from (0: the initial set).
    generation: u64,
    by_kid: HashMap<String, VerifyingKey>,
}

/// Where and how to fetch the JWKS.
struct Source {
    url: String,
    http: reqwest::Client,
    /// Numbers fetches in the order they start, so a slow older fetch never overwrites a newer one.
    fetches_started: AtomicU64,
    min_refetch_interval: Duration,
    /// When a token last made us fetch; held while fetching so concurrent misses share one fetch.
    last_on_demand_fetch: tokio::sync::Mutex<Option<Instant>>,
    /// Told of each fetch's outcome.
    observer: Arc<dyn super::VerifierObserver>,
}

/// Verifying keys by `kid`.
pub(super) struct JwksCache {
    current: RwLock<KeySet>,
    /// `None` for a fixed set that is never fetched.
    source: Option<Source>,
}

impl JwksCache {
    /// A set that never changes.
    pub(super) fn fixed(keys: &JwkSet) -> Self {
        let by_kid = keys.keys.iter().filter_map(usable_key).collect();
        JwksCache {
            current: RwLock::new(KeySet {
                generation: 0,
                by_kid,
            }),
            source: None,
        }
    }

    /// An empty set, filled from `url` by [`JwksCache::refresh`].
    pub(super) fn remote(
        url: String,
        http: reqwest::Client,
        min_refetch_interval: Duration,
        observer: Arc<dyn super::VerifierObserver>,
    ) -> Self {
        JwksCache {
            current: RwLock::new(KeySet::default()),
            source: Some(Source {
                url,
                http,
                fetches_started: AtomicU64::new(0),
                min_refetch_interval,
                last_on_demand_fetch: tokio::sync::Mutex::new(None),
                observer,
            }),
        }
    }

    /// The key named `kid`, from the current set only.
    pub(super) fn get(&self, kid: &str) -> Option<VerifyingKey> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .by_kid
            .get(kid)
            .copied()
    }

    /// Whether at least one key is known.
    pub(super) fn has_keys(&self) -> bool {
        !self
            .current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .by_kid
            .is_empty()
    }

    /// The key named `kid`, refetching the set once if it is unknown and no token made us fetch
    /// within `min_refetch_interval`. A caller waits on at most one fetch.
    pub(super) async fn key_for(&self, kid: &str) -> Option<VerifyingKey> {
        if let Some(key) = self.get(kid) {
            return Some(key);
        }
        let source = self.source.as_ref()?;
        let mut last_fetch = source.last_on_demand_fetch.lock().await;
        // Another request may have fetched while this one waited for the lock.
        if let Some(key) = self.get(kid) {
            return Some(key);
        }
        if last_fetch.is_some_and(|at| at.elapsed() < source.min_refetch_interval) {
            tracing::debug!(?kid, "unknown kid; JWKS fetched too recently to refetch");
            return None;
        }
        *last_fetch = Some(Instant::now());
        tracing::info!(?kid, "unknown kid; refetching the JWKS");
        self.refresh().await;
        self.get(kid)
    }

    /// Fetches the set and replaces the current one; on failure logs and keeps the current one.
    pub(super) async fn refresh(&self) {
        let Some(source) = &self.source else { return };
        let generation = source.fetches_started.fetch_add(1, Ordering::Relaxed) + 1;
        match fetch(source).await {
            Ok(by_kid) => {
                self.replace(generation, by_kid);
                source.observer.jwks_refreshed(true);
            }
            Err(error) => {
                tracing::warn!(
                    url = %source.url,
                    error = %error,
                    "JWKS fetch failed; keeping the last good key set"
                );
                source.observer.jwks_refreshed(false);
            }
        }
    }

    fn replace(&self, generation: u64, by_kid: HashMap<String, VerifyingKey>) {
        let count = by_kid.len();
        let mut current = self.current.write().unwrap_or_else(PoisonError::into_inner);
        if generation < current.generation {
            return;
        }
        let changed = current.by_kid.len() != count
            || current.by_kid.keys().any(|kid| !by_kid.contains_key(kid));
        *current = KeySet { generation, by_kid };
        drop(current);
        if changed {
            tracing::info!(keys = count, "JWKS key set changed");
        } else {
            tracing::debug!(keys = count, "JWKS refreshed, unchanged");
        }
    }
}

/// Refreshes `cache` every `every` until the cache is gone (the last Verifier clone dropped).
pub(super) fn spawn_periodic_refresh(cache: Weak<JwksCache>, every: Duration) {
    // In the span of whoever started the verifier, so its lines name their service.
    let refreshing = async move {
        let mut ticks = tokio::time::interval_at(Instant::now() + every, every);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let Some(cache) = cache.upgrade() else { return };
            cache.refresh().await;
        }
    };
    tokio::spawn(tracing::Instrument::in_current_span(refreshing));
}

/// A JWKS document whose keys are parsed one by one, so one odd key does not reject the others.
#[derive(Deserialize)]
struct RawJwkSet {
    keys: Vec<serde_json::Value>,
}

#[derive(Debug, thiserror::Error)]
enum FetchError {
    #[error("request failed: {0}")]
    Http(#[from] reqwest::Error),
    #[error("not a JWK Set: {0}")]
    NotAJwkSet(#[from] serde_json::Error),
}

async fn fetch(source: &Source) -> Result<HashMap<String, VerifyingKey>, FetchError> {
    let body = source
        .http
        .get(&source.url)
        .timeout(FETCH_TIMEOUT)
        .send()
        .await?
        .error_for_status()?
        .bytes()
        .await?;
    let raw: RawJwkSet = serde_json::from_slice(&body)?;
    Ok(raw
        .keys
        .iter()
        .filter_map(|value| Jwk::deserialize(value).ok())
        .filter_map(|jwk| usable_key(&jwk))
        .collect())
}

/// The key's `kid` and Ed25519 public key, if it is an OKP Ed25519 signing key with a `kid` and
/// a valid, non-weak 32-byte `x`; any other key is skipped.
fn usable_key(jwk: &Jwk) -> Option<(String, VerifyingKey)> {
    let is_ed25519_signing_key = jwk.kty == "OKP"
        && jwk.crv == "Ed25519"
        && jwk.use_.as_deref().is_none_or(|use_| use_ == "sig")
        && jwk
            .alg
            .as_deref()
            .is_none_or(|alg| matches!(alg, "EdDSA" | "Ed25519"));
    let Some(kid) = jwk
        .kid
        .as_ref()
        .filter(|kid| is_ed25519_signing_key && !kid.is_empty())
    else {
        tracing::debug!(kid = ?jwk.kid, "skipping a JWK that is not an Ed25519 signing key with a kid");
        return None;
    };
    let x: [u8; 32] = URL_SAFE_NO_PAD.decode(&jwk.x).ok()?.try_into().ok()?;
    let key = VerifyingKey::from_bytes(&x)
        .ok()
        .filter(|key| !key.is_weak())?;
    Some((kid.clone(), key))
}

#[cfg(test)]
mod tests;
