//! An in-process cache of live sessions for the token exchange, the hot path: a hit skips the
//! store lookup. It is correct only while this process is the one writing identity's store
//! (the embedded SQLite default), because revocation must take effect on the very next call:
//! every request that may change a session or a user (anything but the exchange, get-session and
//! reads) invalidates the whole cache before its answer is sent, and an entry cached by a lookup
//! that raced with such a write is stale at birth (it carries the generation it read under).
//! Only positive answers are served from it: an entry that looks expired, or whose sliding
//! extension is due, goes back to the store.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{PoisonError, RwLock};

use sqlx::AnyPool;

use super::{
    check_client, check_live, sliding_expiry, use_session, Client, LiveSession, SessionError,
    SessionPolicy, TokenHash, UsedSession,
};

/// Sessions kept at most; past it the cache starts over (a few MB at most).
const CAPACITY: usize = 10_000;

/// The cache; disabled, it passes every use to the store.
#[derive(Debug)]
pub struct SessionCache {
    enabled: bool,
    generation: AtomicU64,
    entries: RwLock<HashMap<TokenHash, Cached>>,
}

#[derive(Debug)]
struct Cached {
    generation: u64,
    live: LiveSession,
}

impl SessionCache {
    /// A cache, used only when `enabled`.
    pub fn new(enabled: bool) -> SessionCache {
        SessionCache {
            enabled,
            generation: AtomicU64::new(0),
            entries: RwLock::new(HashMap::new()),
        }
    }

    /// Whether lookups may be served from memory.
    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// Forgets every session: called after any request that may have changed sessions or users.
    pub fn invalidate(&self) {
        if self.enabled {
            self.generation.fetch_add(1, Ordering::SeqCst);
            self.entries
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .clear();
        }
    }

    /// [`use_session`], answered from memory when a fresh entry allows it.
    pub async fn use_session(
        &self,
        pool: &AnyPool,
        token: &str,
        client: &Client,
        now: i64,
        policy: &SessionPolicy,
    ) -> Result<UsedSession, SessionError> {
        if !self.enabled {
            return use_session(pool, token, client, now, policy).await;
        }
        let Some(token_hash) = TokenHash::of_presented(token) else {
            return use_session(pool, token, client, now, policy).await;
        };
        // Read before the lookup: a write that lands after this makes what we cache stale.
        let generation = self.generation.load(Ordering::SeqCst);
        if let Some(live) = self.fresh(&token_hash, generation) {
            let still_live = check_live(&live.session.times, now).is_ok();
            if still_live && sliding_expiry(&live.session.times, now, policy).is_none() {
                check_client(&live.session, client, policy)?;
                return Ok(UsedSession {
                    live,
                    refreshed: false,
                });
            }
        }
        let used = use_session(pool, token, client, now, policy).await?;
        self.remember(token_hash, generation, used.live.clone());
        Ok(used)
    }

    fn fresh(&self, token_hash: &TokenHash, generation: u64) -> Option<LiveSession> {
        let entries = self.entries.read().unwrap_or_else(PoisonError::into_inner);
        entries
            .get(token_hash)
            .filter(|cached| cached.generation == generation)
            .map(|cached| cached.live.clone())
    }

    fn remember(&self, token_hash: TokenHash, generation: u64, live: LiveSession) {
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        if self.generation.load(Ordering::SeqCst) != generation {
            return;
        }
        if entries.len() >= CAPACITY {
            entries.clear();
        }
        entries.insert(token_hash, Cached { generation, live });
    }
}
