//! [`Sessions`]: the one owner of the session store, its policy and its cache. Every read of a
//! session goes through it, and every change to a session or a user goes through a [`Change`]
//! (one transaction) whose commit drops what it changed from this process's cache, publishes the
//! ended sessions (the `revocations` table and `GET /v1/revocations`) and, on PostgreSQL, waits
//! until every other replica has dropped them too — so once the answer leaves, no replica
//! serves an ended session from memory (DESIGN §15).

use std::sync::Arc;
use std::time::Instant;

use sqlx::{Any, AnyConnection, AnyPool, Transaction};

use super::cache::SessionCache;
use super::cluster::Cluster;
use super::{
    authenticate_in_store, check_client, create, list_live, queries, refuse, use_in_store, Client,
    LiveSession, Refusal, Session, SessionError, SessionPolicy, TokenHash, UsedSession,
};
use crate::revocations::RevocationFeed;
use crate::store_lock::StoreLock;

/// The session store (cheap to clone).
#[derive(Clone)]
pub struct Sessions {
    inner: Arc<Inner>,
}

struct Inner {
    pool: AnyPool,
    policy: SessionPolicy,
    cache: Arc<SessionCache>,
    cluster: Option<Arc<Cluster>>,
    feed: Arc<RevocationFeed>,
    feeding: tokio::task::AbortHandle,
    _lock: Option<StoreLock>,
}

impl Sessions {
    /// The store of a single identity process (SQLite): its own commits are the only writes, so
    /// its cache (when `cached`) answers for good.
    pub fn single_process(
        pool: AnyPool,
        policy: SessionPolicy,
        cached: bool,
        feed: Arc<RevocationFeed>,
        lock: Option<StoreLock>,
    ) -> Sessions {
        let cache = Arc::new(SessionCache::new(cached));
        cache.open_for_good();
        Sessions::over(pool, policy, cache, None, feed, lock)
    }

    /// The store shared by replicas (PostgreSQL): the cache (when `cached`) answers only while
    /// this replica's lease holds, and every change waits for the other replicas.
    pub fn replicated(
        pool: AnyPool,
        policy: SessionPolicy,
        cached: bool,
        feed: Arc<RevocationFeed>,
        database_url: &str,
    ) -> Sessions {
        let cache = Arc::new(SessionCache::new(cached));
        let cluster = Cluster::start(
            pool.clone(),
            database_url,
            Arc::clone(&cache),
            Arc::clone(&feed),
        );
        Sessions::over(pool, policy, cache, Some(cluster), feed, None)
    }

    fn over(
        pool: AnyPool,
        policy: SessionPolicy,
        cache: Arc<SessionCache>,
        cluster: Option<Arc<Cluster>>,
        feed: Arc<RevocationFeed>,
        lock: Option<StoreLock>,
    ) -> Sessions {
        let feeding = tokio::spawn(Arc::clone(&feed).run()).abort_handle();
        Sessions {
            inner: Arc::new(Inner {
                pool,
                policy,
                cache,
                cluster,
                feed,
                feeding,
                _lock: lock,
            }),
        }
    }

    /// At shutdown, after the last request: a replica stops answering from memory and gives up
    /// its lease, so the others' changes need not wait for it.
    pub async fn leave(&self) {
        if let Some(cluster) = &self.inner.cluster {
            cluster.leave().await;
        }
    }

    /// The store's pool, for reads outside a [`Change`].
    pub fn pool(&self) -> &AnyPool {
        &self.inner.pool
    }

    /// The session rules in force.
    pub fn policy(&self) -> &SessionPolicy {
        &self.inner.policy
    }

    /// The feed of ended sessions (`GET /v1/revocations`).
    pub fn feed(&self) -> &Arc<RevocationFeed> {
        &self.inner.feed
    }

    /// Whether `SESSION_CACHE` is on.
    pub fn cache_enabled(&self) -> bool {
        self.inner.cache.enabled()
    }

    /// Whether the exchange's cache may answer right now (`/readyz` says so).
    pub fn cache_answers(&self) -> bool {
        self.inner.cache.enabled() && self.inner.cache.is_open()
    }

    /// The token exchange's use of a session: from memory when a usable entry is there, else
    /// from the store (applying sliding expiry), remembering what it read.
    pub async fn exchange(
        &self,
        token: &str,
        client: &Client,
        now: i64,
    ) -> Result<UsedSession, SessionError> {
        let cache = &self.inner.cache;
        let Some(token_hash) = TokenHash::of_presented(token) else {
            return Err(refuse(Refusal::Unknown, None));
        };
        if let Some(live) = cache.hit(&token_hash, now, &self.inner.policy) {
            check_client(&live.session, client, &self.inner.policy)?;
            return Ok(UsedSession {
                live,
                refreshed: false,
            });
        }
        let ticket = cache.ticket();
        let used = use_in_store(
            &self.inner.pool,
            &token_hash,
            client,
            now,
            &self.inner.policy,
        )
        .await?;
        cache.remember(token_hash, ticket, used.live.clone());
        Ok(used)
    }

    /// Uses a session from the store (never the cache): liveness, binding, sliding expiry.
    /// `/v1/session` uses it, so it always reflects the store.
    pub async fn use_stored(
        &self,
        token: &str,
        client: &Client,
        now: i64,
    ) -> Result<UsedSession, SessionError> {
        let token_hash =
            TokenHash::of_presented(token).ok_or_else(|| refuse(Refusal::Unknown, None))?;
        use_in_store(
            &self.inner.pool,
            &token_hash,
            client,
            now,
            &self.inner.policy,
        )
        .await
    }

    /// Authenticates a session for an account endpoint, changing nothing.
    pub async fn authenticate(
        &self,
        token: &str,
        client: &Client,
        now: i64,
    ) -> Result<LiveSession, SessionError> {
        authenticate_in_store(&self.inner.pool, token, client, now, &self.inner.policy).await
    }

    /// The user's live sessions, newest first.
    pub async fn list_live(&self, user_id: &str, now: i64) -> Result<Vec<Session>, sqlx::Error> {
        list_live(&self.inner.pool, user_id, now).await
    }

    /// Starts a change: one transaction, whose first statement must write (so SQLite takes its
    /// write lock at once instead of failing a read-to-write upgrade).
    pub async fn begin(&self) -> Result<Change<'_>, sqlx::Error> {
        Ok(Change {
            sessions: self,
            transaction: self.inner.pool.begin().await?,
            ended: Vec::new(),
            users_changed: Vec::new(),
            users_deleted: Vec::new(),
        })
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.feeding.abort();
        if let Some(cluster) = &self.cluster {
            cluster.stop();
        }
    }
}

/// One transaction over sessions and users; see [`Sessions::begin`]. Dropped without
/// [`Change::commit`], it rolls back and publishes nothing.
pub struct Change<'s> {
    sessions: &'s Sessions,
    transaction: Transaction<'static, Any>,
    ended: Vec<Ended>,
    users_changed: Vec<String>,
    users_deleted: Vec<(String, i64)>,
}

/// A session this change ended.
#[derive(Clone, Debug)]
pub struct Ended {
    /// Its public id.
    pub session_id: String,
    /// Its user.
    pub user_id: String,
    /// When, ms.
    pub at: i64,
}

impl Change<'_> {
    /// The transaction, for the statements of the change that are not about sessions (users,
    /// single-use links). A statement that changes a user must be followed by
    /// [`Change::user_changed`].
    pub fn connection(&mut self) -> &mut AnyConnection {
        &mut self.transaction
    }

    /// Creates a session.
    pub async fn create(
        &mut self,
        user_id: &str,
        token_hash: &TokenHash,
        client: &Client,
        remember: bool,
        now: i64,
    ) -> Result<Session, sqlx::Error> {
        let policy = &self.sessions.inner.policy;
        create(
            &mut *self.transaction,
            user_id,
            token_hash,
            client,
            remember,
            now,
            policy,
        )
        .await
    }

    /// Ends the session with this token, if there is a live one; answers whether one ended.
    pub async fn end_by_token(&mut self, token: &str, now: i64) -> Result<bool, sqlx::Error> {
        let Some(token_hash) = TokenHash::of_presented(token) else {
            return Ok(false);
        };
        let ended = queries::end_by_token(&mut self.transaction, &token_hash, now).await?;
        Ok(self.record(ended, now) > 0)
    }

    /// Ends a session of `user_id` by its public id; answers whether one ended.
    pub async fn end_by_id(
        &mut self,
        user_id: &str,
        session_id: &str,
        now: i64,
    ) -> Result<bool, sqlx::Error> {
        let ended = queries::end_by_id(&mut self.transaction, user_id, session_id, now).await?;
        Ok(self.record(ended, now) > 0)
    }

    /// Ends every session of `user_id` but `keep_id`; answers how many ended.
    pub async fn end_all_but(
        &mut self,
        user_id: &str,
        keep_id: &str,
        now: i64,
    ) -> Result<u64, sqlx::Error> {
        let ended = queries::end_all_but(&mut self.transaction, user_id, keep_id, now).await?;
        Ok(self.record(ended, now))
    }

    /// Ends every session of `user_id`; answers how many ended.
    pub async fn end_all(&mut self, user_id: &str, now: i64) -> Result<u64, sqlx::Error> {
        let ended = queries::end_all(&mut self.transaction, user_id, now).await?;
        Ok(self.record(ended, now))
    }

    /// Says that this change changed the user (its cached sessions carry the old record).
    pub fn user_changed(&mut self, user_id: &str) {
        self.users_changed.push(user_id.to_owned());
    }

    /// Says that this change deleted the user with every session (the store cascades them away),
    /// so tokens of that user issued before `now` are published as refused.
    pub fn user_deleted(&mut self, user_id: &str, now: i64) {
        self.users_deleted.push((user_id.to_owned(), now));
    }

    fn record(&mut self, ended: Vec<(String, String)>, at: i64) -> u64 {
        let count = ended.len() as u64;
        self.ended
            .extend(ended.into_iter().map(|(session_id, user_id)| Ended {
                session_id,
                user_id,
                at,
            }));
        count
    }

    /// Commits; then no cache of any replica serves what it ended or changed. Returns once every
    /// replica holding a lease has acknowledged (or its lease has run out).
    pub async fn commit(mut self) -> Result<(), sqlx::Error> {
        let nothing_published =
            self.ended.is_empty() && self.users_changed.is_empty() && self.users_deleted.is_empty();
        if nothing_published {
            return self.transaction.commit().await;
        }
        for ended in &self.ended {
            queries::record_revocation(
                &mut self.transaction,
                Some(&ended.session_id),
                &ended.user_id,
                ended.at,
            )
            .await?;
        }
        for (user_id, at) in &self.users_deleted {
            queries::record_revocation(&mut self.transaction, None, user_id, *at).await?;
        }
        let session_ids: Vec<String> = self.ended.iter().map(|e| e.session_id.clone()).collect();
        let mut user_ids = self.users_changed.clone();
        user_ids.extend(
            self.users_deleted
                .iter()
                .map(|(user_id, _)| user_id.clone()),
        );

        let inner = &self.sessions.inner;
        let published = match &inner.cluster {
            Some(cluster) => Some(
                cluster
                    .publish(&mut self.transaction, &session_ids, &user_ids)
                    .await?,
            ),
            None => None,
        };
        self.transaction.commit().await?;
        let committed = Instant::now();
        inner.cache.invalidate(&session_ids, &user_ids);
        inner.feed.wake();
        if let (Some(cluster), Some(published)) = (&inner.cluster, published) {
            cluster.await_replicas(published, committed).await;
        }
        Ok(())
    }
}
