//! The per-address limit on the auth endpoints that cost identity a password hash or a mail
//! (DESIGN §14): at most `AUTH_RATE_LIMIT` requests per client address in any 60 seconds. A
//! refused request is answered `429` before its body is read or identity is called: it costs
//! one table lookup and nothing else. The table of addresses has a fixed capacity, so an attacker
//! with many addresses cannot grow edge's memory with it.
//!
//! The arithmetic is governor's GCRA; the table is ours (a sharded LRU), because governor's own
//! keyed stores grow with every new key until pruned.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::net::IpAddr;
use std::num::NonZeroUsize;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::StateStore;
use governor::{Quota, RateLimiter};
use lru::LruCache;

use crate::browser::client_address;
use crate::error::EdgeError;
use crate::AppState;

/// The window the limit counts in.
const WINDOW: Duration = Duration::from_secs(60);
/// Addresses remembered at most (about 80 bytes each: a few MB at the cap). When full, the
/// address least recently seen is forgotten, which can only give that address a fresh budget.
pub const MAX_TRACKED_ADDRESSES: usize = 100_000;
/// Independent locks, so concurrent requests from different addresses rarely wait on each other.
const SHARDS: usize = 16;

/// `AUTH_RATE_LIMIT` in force; `None` when it is `0` (off).
#[derive(Debug)]
pub struct AuthRateLimit(Option<Limiter<DefaultClock>>);

impl AuthRateLimit {
    /// A limit of `per_minute` requests per address in any 60 seconds; `0` turns it off.
    pub fn new(per_minute: u32) -> AuthRateLimit {
        AuthRateLimit(Limiter::new(
            per_minute,
            MAX_TRACKED_ADDRESSES,
            DefaultClock::default(),
        ))
    }
}

/// Middleware on the limited routes: counts the request against its client's address and
/// refuses it (`429`, `Retry-After`) when over the limit, before anything else runs.
pub async fn limit_auth_requests(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    if let Some(limiter) = &state.auth_rate_limit.0 {
        let client = match client_address(request.extensions()) {
            Ok(client) => client,
            Err(err) => return err.into_response(),
        };
        if let Err(retry_after) = limiter.check(client.limit_key()) {
            // debug, not info: a flood must not become a flood of log lines as well.
            tracing::debug!(client_ip = %client.ip(), "auth rate limit reached");
            state.metrics().rate_limited();
            return EdgeError::TooManyRequests {
                retry_after_secs: retry_after_secs(retry_after),
            }
            .into_response();
        }
    }
    next.run(request).await
}

/// Whole seconds to wait, rounded up and at least 1 (a client told `0` would retry at once).
fn retry_after_secs(wait: Duration) -> u64 {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    secs.max(1)
}

/// GCRA over a bounded table. §14 says "at most N in any 60 seconds", and GCRA with a burst of N
/// refilling N per minute would let a client send N at once and then one more every 60/N s —
/// nearly 2N in a minute. So the burst is half of N and the other half refills over the window:
/// a burst of b then one every 60/(N−b+1) s gives at most b + (N−b) = N in any 60 s.
#[derive(Debug)]
struct Limiter<C: Clock> {
    limiter: RateLimiter<IpAddr, AddressTable, C, NoOpMiddleware<C::Instant>>,
}

impl<C: Clock> Limiter<C> {
    fn new(per_window: u32, capacity: usize, clock: C) -> Option<Limiter<C>> {
        let quota = window_quota(per_window)?;
        let table = AddressTable::new(capacity);
        Some(Limiter {
            limiter: RateLimiter::new(quota, table, clock),
        })
    }

    /// Counts one request from `key`; `Err(wait)` when it is over the limit.
    fn check(&self, key: IpAddr) -> Result<(), Duration> {
        self.limiter
            .check_key(&key)
            .map_err(|not_until| not_until.wait_time_from(self.limiter.clock().now()))
    }
}

/// The quota giving at most `per_window` cells in any [`WINDOW`]; `None` for `0`.
fn window_quota(per_window: u32) -> Option<Quota> {
    let burst = per_window.div_ceil(2);
    let refills = per_window - burst + 1;
    let burst = std::num::NonZeroU32::new(burst)?;
    let quota = Quota::with_period(WINDOW / refills)?;
    Some(quota.allow_burst(burst))
}

/// The per-address GCRA states in [`SHARDS`] least-recently-used tables of fixed capacity.
struct AddressTable {
    shards: Vec<Mutex<LruCache<IpAddr, Nanos>>>,
    hasher: RandomState,
}

impl AddressTable {
    fn new(capacity: usize) -> AddressTable {
        // Rounded down, so the whole table never holds more than `capacity`.
        let per_shard = NonZeroUsize::new(capacity / SHARDS).unwrap_or(NonZeroUsize::MIN);
        AddressTable {
            shards: (0..SHARDS)
                .map(|_| Mutex::new(LruCache::new(per_shard)))
                .collect(),
            // Seeded per process, so an attacker cannot aim all its addresses at one shard.
            hasher: RandomState::new(),
        }
    }

    fn shard(&self, key: &IpAddr) -> &Mutex<LruCache<IpAddr, Nanos>> {
        let index = self.hasher.hash_one(key) as usize % self.shards.len();
        &self.shards[index]
    }

    /// Addresses currently remembered.
    fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|shard| shard.lock().unwrap_or_else(PoisonError::into_inner).len())
            .sum()
    }
}

impl std::fmt::Debug for AddressTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AddressTable")
            .field("len", &self.len())
            .finish()
    }
}

impl StateStore for AddressTable {
    type Key = IpAddr;

    fn measure_and_replace<T, F, E>(&self, key: &IpAddr, f: F) -> Result<T, E>
    where
        F: Fn(Option<Nanos>) -> Result<(T, Nanos), E>,
    {
        // The lock is held across the decision, so two requests from one address cannot both
        // take the last cell.
        let mut shard = self
            .shard(key)
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let (outcome, next) = f(shard.get(key).copied())?;
        shard.put(*key, next);
        Ok(outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use governor::clock::FakeRelativeClock;
    use std::collections::VecDeque;

    fn limiter(per_window: u32) -> Limiter<FakeRelativeClock> {
        Limiter::new(per_window, 1_000, FakeRelativeClock::default()).unwrap()
    }

    fn address(n: u32) -> IpAddr {
        IpAddr::from(n.to_be_bytes())
    }

    #[test]
    fn zero_turns_the_limit_off() {
        assert!(window_quota(0).is_none());
        assert!(AuthRateLimit::new(0).0.is_none());
        assert!(AuthRateLimit::new(30).0.is_some());
    }

    #[test]
    fn a_greedy_client_never_gets_more_than_the_limit_in_any_window() {
        for per_window in [1, 2, 3, 30, 31, 100] {
            let limiter = limiter(per_window);
            let clock = limiter.limiter.clock().clone();
            let key = address(1);
            // Try every 250 ms for five minutes; remember when requests were let through.
            let mut admitted: VecDeque<Duration> = VecDeque::new();
            let mut total = 0;
            let step = Duration::from_millis(250);
            let mut now = Duration::ZERO;
            while now < Duration::from_secs(300) {
                if limiter.check(key).is_ok() {
                    admitted.push_back(now);
                    total += 1;
                }
                while admitted.front().is_some_and(|&t| now - t >= WINDOW) {
                    admitted.pop_front();
                }
                assert!(
                    admitted.len() <= per_window as usize,
                    "{per_window}: {} in a window",
                    admitted.len()
                );
                clock.advance(step);
                now += step;
            }
            // …and still gets a fair share: more than half the limit per minute on average.
            assert!(
                total * 2 > per_window * 5,
                "{per_window}: only {total} in five minutes"
            );
        }
    }

    #[test]
    fn the_refusal_says_when_to_retry_and_the_budget_comes_back() {
        let limiter = limiter(30);
        let clock = limiter.limiter.clock().clone();
        let key = address(7);
        for _ in 0..15 {
            assert!(limiter.check(key).is_ok());
        }
        let wait = limiter.check(key).expect_err("the burst is spent");
        assert!(wait > Duration::ZERO && wait <= WINDOW, "{wait:?}");
        assert!(
            limiter.check(address(8)).is_ok(),
            "another address has its own budget"
        );
        clock.advance(wait);
        assert!(
            limiter.check(key).is_ok(),
            "allowed again after the advertised wait"
        );
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(3_750)), 4);
        assert_eq!(retry_after_secs(Duration::from_secs(4)), 4);
    }

    #[test]
    fn many_addresses_cannot_grow_the_table_past_its_capacity() {
        let capacity = 1_000;
        let limiter = limiter(30);
        for n in 0..50_000 {
            let _ = limiter.check(address(n));
        }
        let table = limiter.limiter.into_state_store();
        assert!(table.len() <= capacity, "{} addresses kept", table.len());
        assert!(
            table.len() >= capacity - SHARDS,
            "the table is used: {}",
            table.len()
        );
    }

    #[test]
    fn an_address_in_use_is_not_forgotten_while_others_churn() {
        // A limited address that keeps trying stays the most recently used in its shard.
        let limiter = limiter(2);
        let attacker = address(u32::MAX);
        while limiter.check(attacker).is_ok() {}
        for n in 0..5_000 {
            let _ = limiter.check(address(n));
            assert!(
                limiter.check(attacker).is_err(),
                "forgotten after {n} other addresses"
            );
        }
    }
}
