//! Single-use tokens (DESIGN §15): a token's `jti` is accepted once. [`MemoryReplayStore`] (the
//! default) remembers the `jti`s this process accepted, until their tokens expire; a service with
//! several replicas plugs in a shared store (core-api's `JTI_STORE=postgres`) through
//! [`ReplayStore`].

use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::hash::BuildHasher;
use std::pin::Pin;
use std::sync::{Mutex, PoisonError};

/// What [`ReplayStore::first_use`] returns.
pub type ReplayFuture<'a> =
    Pin<Box<dyn Future<Output = Result<bool, ReplayStoreError>> + Send + 'a>>;

/// Why single use could not be checked; the request gets `503`, never a pass.
#[derive(Debug, thiserror::Error)]
pub enum ReplayStoreError {
    /// The memory store is at its capacity.
    #[error("the jti store is full")]
    Full,
    /// A shared store failed.
    #[error("the jti store failed: {0}")]
    Store(String),
}

/// Where accepted `jti`s are kept until their tokens expire.
pub trait ReplayStore: Send + Sync {
    /// Records `jti` of a token expiring at `exp` (seconds), at `now` (seconds); `Ok(true)` the
    /// first time, `Ok(false)` for a replay.
    fn first_use<'a>(&'a self, jti: &'a str, exp: i64, now: i64) -> ReplayFuture<'a>;
}

/// Seconds of expiry per bucket: a bucket is dropped whole once every token in it has expired.
const BUCKET_SECS: i64 = 10;
/// The verifier's leeway past `exp`.
const LEEWAY_SECS: i64 = 5;

/// The default store: 64-bit keyed fingerprints of the `jti`s this process accepted, bucketed
/// by expiry (about 16 bytes a token: 7 000 tokens/s for 65 s is under 8 MB). A fingerprint
/// collision refuses a token (fails closed); with random 128-bit `jti`s it does not happen.
pub struct MemoryReplayStore {
    keys: std::hash::RandomState,
    capacity: usize,
    buckets: Mutex<Buckets>,
}

/// The fingerprints by expiry bucket, and how many there are in all (kept as buckets are filled
/// and dropped, so the bound is checked without counting).
#[derive(Default)]
struct Buckets {
    by_expiry: BTreeMap<i64, HashSet<u64>>,
    held: usize,
}

impl MemoryReplayStore {
    /// A store holding at most `capacity` live `jti`s; past it, tokens are refused with `503`.
    pub fn new(capacity: usize) -> MemoryReplayStore {
        MemoryReplayStore {
            keys: std::hash::RandomState::new(),
            capacity,
            buckets: Mutex::new(Buckets::default()),
        }
    }

    /// The default: two million tokens.
    pub fn with_default_capacity() -> MemoryReplayStore {
        MemoryReplayStore::new(2_000_000)
    }

    fn record(&self, jti: &str, exp: i64, now: i64) -> Result<bool, ReplayStoreError> {
        let fingerprint = self.keys.hash_one(jti);
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        let expired_before = now.saturating_sub(LEEWAY_SECS).div_euclid(BUCKET_SECS);
        while let Some(entry) = buckets.by_expiry.first_entry() {
            if *entry.key() >= expired_before {
                break;
            }
            buckets.held -= entry.remove().len();
        }
        let bucket = exp.div_euclid(BUCKET_SECS);
        if buckets
            .by_expiry
            .get(&bucket)
            .is_some_and(|set| set.contains(&fingerprint))
        {
            return Ok(false);
        }
        if buckets.held >= self.capacity {
            return Err(ReplayStoreError::Full);
        }
        buckets
            .by_expiry
            .entry(bucket)
            .or_default()
            .insert(fingerprint);
        buckets.held += 1;
        Ok(true)
    }
}

impl ReplayStore for MemoryReplayStore {
    fn first_use<'a>(&'a self, jti: &'a str, exp: i64, now: i64) -> ReplayFuture<'a> {
        let recorded = self.record(jti, exp, now);
        Box::pin(std::future::ready(recorded))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_jti_is_accepted_once() {
        let store = MemoryReplayStore::new(10);
        assert!(store.first_use("a", 1060, 1000).await.unwrap());
        assert!(!store.first_use("a", 1060, 1001).await.unwrap());
        assert!(store.first_use("b", 1060, 1001).await.unwrap());
    }

    #[tokio::test]
    async fn entries_go_with_their_tokens_and_the_store_is_bounded() {
        let store = MemoryReplayStore::new(2);
        assert!(store.first_use("a", 1060, 1000).await.unwrap());
        assert!(store.first_use("b", 1060, 1000).await.unwrap());
        assert!(matches!(
            store.first_use("c", 1060, 1000).await,
            Err(ReplayStoreError::Full)
        ));
        // Once a and b have expired (past the leeway and their bucket), there is room again.
        assert!(store.first_use("c", 1200, 1100).await.unwrap());
    }

    #[tokio::test]
    async fn the_bound_holds_after_buckets_expire_and_are_filled_again() {
        let store = MemoryReplayStore::new(3);
        for round in 0..4_i64 {
            // Each round starts after the previous round's tokens (and bucket) have expired, so
            // the room they took is free again, and no more.
            let now = 1000 + round * 100;
            let exp = now + 60;
            for jti in ["a", "b", "c"] {
                assert!(
                    store.first_use(jti, exp, now).await.unwrap(),
                    "round {round}: {jti}"
                );
            }
            assert!(
                matches!(
                    store.first_use("d", exp, now).await,
                    Err(ReplayStoreError::Full)
                ),
                "round {round}: the fourth is refused"
            );
            assert!(
                !store.first_use("a", exp, now).await.unwrap(),
                "round {round}: a replay"
            );
        }
        // Tokens of one bucket drop together, and only once all of it has expired.
        let store = MemoryReplayStore::new(2);
        assert!(store.first_use("early", 1061, 1000).await.unwrap());
        assert!(store.first_use("late", 1069, 1000).await.unwrap());
        assert!(matches!(
            store.first_use("x", 1069, 1066).await,
            Err(ReplayStoreError::Full)
        ));
        assert!(store.first_use("x", 1200, 1075).await.unwrap());
        assert!(store.first_use("y", 1200, 1075).await.unwrap());
        assert!(matches!(
            store.first_use("z", 1200, 1075).await,
            Err(ReplayStoreError::Full)
        ));
    }
}
