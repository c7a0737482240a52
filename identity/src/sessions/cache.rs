//! An in-process cache of live sessions for the token exchange, the hot path: a hit skips the
//! store lookup. Only [`Sessions`](super::Sessions) reaches it, and every change to a session or
//! a user goes through `Sessions`, which drops what it changed here — and, on PostgreSQL, in every
//! other replica's cache — before its answer leaves (DESIGN §15).
//!
//! Two guards keep a hit from outliving a revocation:
//! - the **generation**: bumped by every invalidation; a lookup remembers its result only if no
//!   invalidation happened while it read the store (what it read may be stale at birth);
//! - the **gate**: hits are served only while it is open. A single-process store opens it for
//!   good; on PostgreSQL it is the replica's lease, held open only while its LISTEN connection is
//!   known to deliver (see `cluster`). Closing it clears the cache; reopening bumps the
//!   generation, so nothing read while it was closed is ever remembered.
//!
//! Only positive answers are served from memory: an entry that looks expired, or whose sliding
//! extension is due, goes back to the store.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{PoisonError, RwLock};
use std::time::{Duration, Instant};

use super::{check_live, sliding_expiry, LiveSession, SessionPolicy, TokenHash};

/// Sessions kept at most; past it the cache starts over (a few MB at most).
const CAPACITY: usize = 10_000;

/// The cache; disabled, it holds nothing and every use goes to the store.
#[derive(Debug)]
pub struct SessionCache {
    enabled: bool,
    generation: AtomicU64,
    entries: RwLock<HashMap<TokenHash, LiveSession>>,
    gate: Gate,
}

/// What a lookup must carry from before its store read to [`SessionCache::remember`].
#[derive(Clone, Copy, Debug)]
pub struct Ticket {
    generation: u64,
    open: bool,
}

impl SessionCache {
    /// A cache, used only when `enabled`; its gate starts closed.
    pub fn new(enabled: bool) -> SessionCache {
        SessionCache {
            enabled,
            generation: AtomicU64::new(0),
            entries: RwLock::new(HashMap::new()),
            gate: Gate::new(),
        }
    }

    /// Whether this cache ever answers.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// The entry for `token_hash` if it may answer at `now` under `policy`: gate open, present,
    /// still live and not due for a sliding extension.
    pub fn hit(
        &self,
        token_hash: &TokenHash,
        now: i64,
        policy: &SessionPolicy,
    ) -> Option<LiveSession> {
        if !self.enabled || !self.gate.is_open() {
            return None;
        }
        let entries = self.entries.read().unwrap_or_else(PoisonError::into_inner);
        let live = entries.get(token_hash)?;
        let usable = check_live(&live.session.times, now).is_ok()
            && sliding_expiry(&live.session.times, now, policy).is_none();
        usable.then(|| live.clone())
    }

    /// Taken before a store read whose result may be remembered.
    pub fn ticket(&self) -> Ticket {
        Ticket {
            generation: self.generation.load(Ordering::SeqCst),
            open: self.gate.is_open(),
        }
    }

    /// Keeps what a lookup read, unless anything was invalidated since its ticket was taken or
    /// the gate was closed then.
    pub fn remember(&self, token_hash: TokenHash, ticket: Ticket, live: LiveSession) {
        if !self.enabled || !ticket.open {
            return;
        }
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        if self.generation.load(Ordering::SeqCst) != ticket.generation {
            return;
        }
        if entries.len() >= CAPACITY {
            entries.clear();
        }
        entries.insert(token_hash, live);
    }

    /// Drops the entries of these sessions (by public id) and of these users.
    pub fn invalidate(&self, session_ids: &[String], user_ids: &[String]) {
        if !self.enabled {
            return;
        }
        self.generation.fetch_add(1, Ordering::SeqCst);
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        entries.retain(|_, live| {
            !session_ids.contains(&live.session.id) && !user_ids.contains(&live.user.id)
        });
    }

    /// Forgets everything.
    pub fn clear(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.entries
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    /// Opens the gate for good: this process is the only writer of its store.
    pub fn open_for_good(&self) {
        self.open_until(Instant::now() + Duration::from_secs(100 * 365 * 24 * 3600));
    }

    /// Opens (or keeps open) the gate until `deadline`, never shortening it. Opening a closed
    /// gate bumps the generation, so lookups that read while it was closed remember nothing.
    pub fn open_until(&self, deadline: Instant) {
        if !self.gate.is_open() {
            self.generation.fetch_add(1, Ordering::SeqCst);
        }
        self.gate.extend_to(deadline);
    }

    /// Closes the gate and forgets everything: the replica may have missed an invalidation.
    pub fn close(&self) {
        self.gate.close();
        self.clear();
    }

    /// Whether hits may be served now.
    pub fn is_open(&self) -> bool {
        self.gate.is_open()
    }
}

/// Hits allowed until a monotonic deadline (milliseconds since `origin`; 0 = closed).
#[derive(Debug)]
struct Gate {
    origin: Instant,
    open_until_ms: AtomicU64,
}

impl Gate {
    fn new() -> Gate {
        Gate {
            origin: Instant::now(),
            open_until_ms: AtomicU64::new(0),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn is_open(&self) -> bool {
        self.now_ms() < self.open_until_ms.load(Ordering::SeqCst)
    }

    fn extend_to(&self, deadline: Instant) {
        let ms = u64::try_from(deadline.saturating_duration_since(self.origin).as_millis())
            .unwrap_or(u64::MAX);
        self.open_until_ms.fetch_max(ms, Ordering::SeqCst);
    }

    fn close(&self) {
        self.open_until_ms.store(0, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sessions::{Session, SessionTimes};
    use crate::users::User;

    fn live(session_id: &str, user_id: &str) -> LiveSession {
        LiveSession {
            session: Session {
                id: session_id.into(),
                user_id: user_id.into(),
                ip_address: "203.0.113.9".into(),
                user_agent: "test".into(),
                times: SessionTimes {
                    created_at: 0,
                    expires_at: 1_000_000,
                    extended_at: 0,
                    max_expires_at: 1_000_000,
                    remember: true,
                    revoked_at: None,
                },
            },
            user: User {
                id: user_id.into(),
                email: format!("{user_id}@example.com"),
                name: "Test".into(),
                email_verified: true,
                image: None,
                created_at: 0,
                updated_at: 0,
            },
        }
    }

    fn hash(byte: u8) -> TokenHash {
        TokenHash::of_presented(&base64_token(byte)).expect("well-formed token")
    }

    fn base64_token(byte: u8) -> String {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode([byte; 32])
    }

    fn policy() -> SessionPolicy {
        SessionPolicy {
            ttl_ms: 1_000_000,
            update_age_ms: 1_000_000,
            max_age_ms: 1_000_000,
            fresh_age_ms: 1_000,
            bind_ip: false,
        }
    }

    #[test]
    fn nothing_is_served_while_the_gate_is_closed() {
        let cache = SessionCache::new(true);
        let ticket = cache.ticket();
        cache.remember(hash(1), ticket, live("s1", "u1"));
        assert!(
            cache.hit(&hash(1), 10, &policy()).is_none(),
            "closed at birth"
        );

        cache.open_for_good();
        let ticket = cache.ticket();
        cache.remember(hash(1), ticket, live("s1", "u1"));
        assert!(cache.hit(&hash(1), 10, &policy()).is_some());

        cache.close();
        assert!(cache.hit(&hash(1), 10, &policy()).is_none());
        cache.open_for_good();
        assert!(
            cache.hit(&hash(1), 10, &policy()).is_none(),
            "closing forgot it"
        );
    }

    #[test]
    fn a_read_that_raced_an_invalidation_is_not_remembered() {
        let cache = SessionCache::new(true);
        cache.open_for_good();
        let ticket = cache.ticket();
        cache.invalidate(&["s9".into()], &[]);
        cache.remember(hash(1), ticket, live("s1", "u1"));
        assert!(cache.hit(&hash(1), 10, &policy()).is_none());
    }

    #[test]
    fn a_read_taken_while_closed_is_not_remembered_after_reopening() {
        let cache = SessionCache::new(true);
        let ticket = cache.ticket();
        cache.open_for_good();
        cache.remember(hash(1), ticket, live("s1", "u1"));
        assert!(cache.hit(&hash(1), 10, &policy()).is_none());
    }

    #[test]
    fn invalidation_drops_the_named_sessions_and_users_only() {
        let cache = SessionCache::new(true);
        cache.open_for_good();
        for (byte, session, user) in [
            (1, "s1", "u1"),
            (2, "s2", "u1"),
            (3, "s3", "u2"),
            (4, "s4", "u3"),
        ] {
            let ticket = cache.ticket();
            cache.remember(hash(byte), ticket, live(session, user));
        }
        cache.invalidate(&["s3".into()], &["u1".into()]);
        let kept: Vec<bool> = (1..=4)
            .map(|b| cache.hit(&hash(b), 10, &policy()).is_some())
            .collect();
        assert_eq!(kept, [false, false, false, true]);
    }

    #[test]
    fn an_expired_lease_stops_hits() {
        let cache = SessionCache::new(true);
        cache.open_until(Instant::now() + Duration::from_secs(60));
        let ticket = cache.ticket();
        cache.remember(hash(1), ticket, live("s1", "u1"));
        assert!(cache.hit(&hash(1), 10, &policy()).is_some());
        // The lease ends now: the entry is still there, but no longer served.
        cache
            .gate
            .open_until_ms
            .store(cache.gate.now_ms(), Ordering::SeqCst);
        assert!(cache.hit(&hash(1), 10, &policy()).is_none());
    }

    #[test]
    fn a_disabled_cache_never_answers() {
        let cache = SessionCache::new(false);
        cache.open_for_good();
        let ticket = cache.ticket();
        cache.remember(hash(1), ticket, live("s1", "u1"));
        assert!(cache.hit(&hash(1), 10, &policy()).is_none());
    }
}
