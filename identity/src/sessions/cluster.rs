//! Replicas on one PostgreSQL keep their session caches honest with LISTEN/NOTIFY, leases and
//! acknowledgements (DESIGN §15; README "Replicas" says why no window remains).
//!
//! - **Changes are announced in their own transaction**: `pg_notify` on [`CHANNEL`] runs inside
//!   the transaction that ends sessions or changes users, so every replica listening at commit
//!   time receives the announcement, in commit order with every other notification.
//! - **A cache answers only under a lease.** Each second a replica writes `lease_until` (the
//!   database's clock + [`LEASE`]) into `cache_replicas`, then sends a ping to its own channel. When
//!   its LISTEN connection delivers that ping, every announcement committed before the ping has
//!   been delivered (and handled) before it, so the gate may open until *the instant the renewal
//!   started* + `LEASE` — never later than the `lease_until` the other replicas read. A lost
//!   connection closes the gate and clears the cache.
//! - **Whoever commits a change waits** for an acknowledgement from every other replica whose
//!   lease is live in the table, or at most until its own commit + `LEASE`: a replica that did not
//!   acknowledge has by then stopped answering from memory, because any ping it handled was
//!   committed before the change (else it would have handled the change first).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use sqlx::postgres::PgListener;
use sqlx::{AnyConnection, AnyPool};
use tokio::sync::mpsc;

use super::cache::SessionCache;
use crate::revocations::RevocationFeed;

/// Where changes are announced.
const CHANNEL: &str = "gatehouse_sessions";
/// How long a delivered ping lets a replica's cache answer.
const LEASE: Duration = Duration::from_secs(3);
/// How often a replica renews its lease.
const HEARTBEAT: Duration = Duration::from_secs(1);
/// The longest wait between two attempts to reconnect the LISTEN connection.
const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// A payload larger than this becomes "forget everything" (PostgreSQL's limit is 8000 bytes).
const MAX_PAYLOAD: usize = 7_000;
/// `lease_until` of a replica that has left: never live, and never renewed again.
const LEFT: i64 = 0;
/// The database's clock in milliseconds: leases are written and compared on this one clock.
const DB_NOW_MS: &str = "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)";

/// This replica's part in the protocol.
pub(crate) struct Cluster {
    id: String,
    pool: AnyPool,
    cache: Arc<SessionCache>,
    feed: Arc<RevocationFeed>,
    /// Pings sent and not yet delivered: number → when the renewal before it started.
    pings: Mutex<HashMap<u64, Instant>>,
    /// Changes committed here awaiting acknowledgements: token → where acks go.
    waiters: Mutex<HashMap<String, mpsc::UnboundedSender<String>>>,
    tasks: Mutex<Vec<tokio::task::AbortHandle>>,
}

/// An announced change, to wait on after commit.
pub(crate) struct Published {
    token: String,
    acks: mpsc::UnboundedReceiver<String>,
}

/// What [`CHANNEL`] carries.
#[derive(Serialize, Deserialize)]
struct Announcement {
    /// Acknowledge to `from` with this.
    ack: String,
    from: String,
    #[serde(default)]
    sessions: Vec<String>,
    #[serde(default)]
    users: Vec<String>,
    /// Too much to name: forget everything.
    #[serde(default)]
    all: bool,
}

impl Cluster {
    /// Starts listening and renewing; the cache stays closed until the first lease.
    pub(crate) fn start(
        pool: AnyPool,
        database_url: &str,
        cache: Arc<SessionCache>,
        feed: Arc<RevocationFeed>,
    ) -> Arc<Cluster> {
        let cluster = Arc::new(Cluster {
            id: uuid::Uuid::new_v4().simple().to_string(),
            pool,
            cache,
            feed,
            pings: Mutex::new(HashMap::new()),
            waiters: Mutex::new(HashMap::new()),
            tasks: Mutex::new(Vec::new()),
        });
        let listener = tokio::spawn(listen(Arc::clone(&cluster), database_url.to_owned()));
        let heartbeat = tokio::spawn(renew(Arc::clone(&cluster)));
        cluster
            .tasks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend([listener.abort_handle(), heartbeat.abort_handle()]);
        cluster
    }

    /// Leaves the cluster at shutdown: stops answering from memory, then ends this replica's
    /// lease, so nobody waits for its acknowledgement (or for the lease to lapse) meanwhile.
    ///
    /// The lease is ended with a tombstone ([`LEFT`]) rather than deleted: a renewal that was in
    /// flight when the heartbeat was stopped may still reach the database after this, on another
    /// connection, and it must not bring the lease back. Renewals never overwrite a tombstone;
    /// the hourly prune removes it.
    pub(crate) async fn leave(&self) {
        self.stop();
        self.cache.close();
        let left = sqlx::query(
            "INSERT INTO cache_replicas (id, lease_until) VALUES ($1, $2) \
             ON CONFLICT (id) DO UPDATE SET lease_until = EXCLUDED.lease_until",
        )
        .bind(&self.id)
        .bind(LEFT)
        .execute(&self.pool)
        .await;
        if let Err(error) = left {
            tracing::warn!(%error, "cannot end this replica's lease; it lapses in 3 s");
        }
    }

    /// Stops both tasks (the lease then runs out by itself).
    pub(crate) fn stop(&self) {
        for task in self
            .tasks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .drain(..)
        {
            task.abort();
        }
    }

    fn ping_channel(&self) -> String {
        format!("gatehouse_ping_{}", self.id)
    }

    fn ack_channel(id: &str) -> String {
        format!("gatehouse_ack_{id}")
    }

    /// Announces a change inside its transaction and gets ready for the acknowledgements.
    pub(crate) async fn publish(
        &self,
        transaction: &mut AnyConnection,
        sessions: &[String],
        users: &[String],
    ) -> Result<Published, sqlx::Error> {
        let token = uuid::Uuid::new_v4().simple().to_string();
        let mut announcement = Announcement {
            ack: token.clone(),
            from: self.id.clone(),
            sessions: sessions.to_vec(),
            users: users.to_vec(),
            all: false,
        };
        let mut payload = serde_json::to_string(&announcement).unwrap_or_default();
        if payload.len() > MAX_PAYLOAD {
            announcement.sessions.clear();
            announcement.users.clear();
            announcement.all = true;
            payload = serde_json::to_string(&announcement).unwrap_or_default();
        }
        let (sender, acks) = mpsc::unbounded_channel();
        self.waiters
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(token.clone(), sender);
        let notified = sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(payload)
            .execute(transaction)
            .await;
        if let Err(error) = notified {
            self.forget_waiter(&token);
            return Err(error);
        }
        Ok(Published { token, acks })
    }

    /// After the commit at `committed`: returns once every other replica holding a live lease
    /// has acknowledged, or when no replica that did not can still answer from memory.
    pub(crate) async fn await_replicas(&self, mut published: Published, committed: Instant) {
        let deadline = committed + LEASE + LEASE / 20;
        let expected = self.replicas_with_live_leases().await;
        let mut acked = HashSet::new();
        if let Some(expected) = &expected {
            while !expected.is_subset(&acked) {
                match tokio::time::timeout_at(deadline.into(), published.acks.recv()).await {
                    Ok(Some(replica)) => {
                        acked.insert(replica);
                    }
                    Ok(None) | Err(_) => break,
                }
            }
        }
        let complete = expected.as_ref().is_some_and(|e| e.is_subset(&acked));
        if !complete {
            tracing::warn!(
                acknowledged = acked.len(),
                expected = expected.as_ref().map_or(0, HashSet::len),
                "a replica did not acknowledge a session change; waiting out its lease"
            );
            tokio::time::sleep_until(deadline.into()).await;
        }
        self.forget_waiter(&published.token);
    }

    async fn replicas_with_live_leases(&self) -> Option<HashSet<String>> {
        let rows: Result<Vec<String>, _> = sqlx::query_scalar(&format!(
            "SELECT id FROM cache_replicas WHERE lease_until > {DB_NOW_MS} AND id <> $1"
        ))
        .bind(&self.id)
        .fetch_all(&self.pool)
        .await;
        match rows {
            Ok(rows) => Some(rows.into_iter().collect()),
            Err(error) => {
                tracing::warn!(%error, "cannot read the replicas' leases");
                None
            }
        }
    }

    fn forget_waiter(&self, token: &str) {
        self.waiters
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(token);
    }

    /// One notification from the LISTEN connection.
    fn handle(self: &Arc<Self>, channel: &str, payload: &str) {
        if channel == CHANNEL {
            let Ok(announcement) = serde_json::from_str::<Announcement>(payload) else {
                tracing::warn!("unreadable session announcement; forgetting every cached session");
                self.cache.clear();
                return;
            };
            if announcement.all {
                self.cache.clear();
            } else {
                self.cache
                    .invalidate(&announcement.sessions, &announcement.users);
            }
            self.feed.wake();
            if announcement.from != self.id {
                let cluster = Arc::clone(self);
                tokio::spawn(async move { cluster.acknowledge(announcement).await });
            }
        } else if channel == self.ping_channel() {
            let started = payload.parse::<u64>().ok().and_then(|number| {
                self.pings
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .remove(&number)
            });
            if let Some(started) = started {
                self.cache.open_until(started + LEASE);
            }
        } else if channel == Cluster::ack_channel(&self.id) {
            if let Some((token, replica)) = payload.split_once(' ') {
                let waiters = self.waiters.lock().unwrap_or_else(PoisonError::into_inner);
                if let Some(sender) = waiters.get(token) {
                    let _ = sender.send(replica.to_owned());
                }
            }
        }
    }

    async fn acknowledge(&self, announcement: Announcement) {
        let sent = sqlx::query("SELECT pg_notify($1, $2)")
            .bind(Cluster::ack_channel(&announcement.from))
            .bind(format!("{} {}", announcement.ack, self.id))
            .execute(&self.pool)
            .await;
        if let Err(error) = sent {
            tracing::warn!(%error, "cannot acknowledge a session change");
        }
    }

    /// One renewal: the lease row, then the ping that will open the gate when delivered.
    async fn renew_once(&self, number: u64) -> Result<(), sqlx::Error> {
        let started = Instant::now();
        self.pings
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|_, sent| sent.elapsed() < LEASE);
        let lease_ms = i64::try_from(LEASE.as_millis()).unwrap_or(i64::MAX);
        sqlx::query(&format!(
            "INSERT INTO cache_replicas (id, lease_until) VALUES ($1, {DB_NOW_MS} + $2) \
             ON CONFLICT (id) DO UPDATE SET lease_until = EXCLUDED.lease_until \
             WHERE cache_replicas.lease_until <> $3"
        ))
        .bind(&self.id)
        .bind(lease_ms)
        .bind(LEFT)
        .execute(&self.pool)
        .await?;
        self.pings
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(number, started);
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(self.ping_channel())
            .bind(number.to_string())
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

/// Keeps the lease: a renewal every [`HEARTBEAT`]; now and then, drops long-dead replicas' rows.
async fn renew(cluster: Arc<Cluster>) {
    let mut ticks = tokio::time::interval(HEARTBEAT);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    for number in 1u64.. {
        ticks.tick().await;
        if let Err(error) = cluster.renew_once(number).await {
            tracing::warn!(%error, "cannot renew the session cache's lease");
        }
        if number % 600 == 0 {
            let pruned = sqlx::query(&format!(
                "DELETE FROM cache_replicas WHERE lease_until < {DB_NOW_MS} - 3600000"
            ))
            .execute(&cluster.pool)
            .await;
            if let Err(error) = pruned {
                tracing::warn!(%error, "cannot prune dead replicas' leases");
            }
        }
    }
}

/// Holds the LISTEN connection; whenever it is (re)made, the cache is closed and cleared first.
async fn listen(cluster: Arc<Cluster>, database_url: String) {
    let mut backoff = Duration::from_millis(100);
    loop {
        cluster.cache.close();
        let channels = [
            CHANNEL.to_owned(),
            cluster.ping_channel(),
            Cluster::ack_channel(&cluster.id),
        ];
        let connected = async {
            let mut listener = PgListener::connect(&database_url).await?;
            listener
                .listen_all(channels.iter().map(String::as_str))
                .await?;
            Ok::<_, sqlx::Error>(listener)
        }
        .await;
        let mut listener = match connected {
            Ok(listener) => listener,
            Err(error) => {
                tracing::warn!(%error, "cannot LISTEN for session changes; the cache stays closed");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
        };
        backoff = Duration::from_millis(100);
        loop {
            match listener.try_recv().await {
                Ok(Some(notification)) => {
                    cluster.handle(notification.channel(), notification.payload());
                }
                Ok(None) => {
                    tracing::warn!("the LISTEN connection was lost; closing the session cache");
                    break;
                }
                Err(error) => {
                    tracing::warn!(%error, "the LISTEN connection failed; closing the session cache");
                    break;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use test_support::{eventually, TestDatabase};

    async fn live_leases(pool: &AnyPool) -> i64 {
        sqlx::query_scalar(&format!(
            "SELECT COUNT(*) FROM cache_replicas WHERE lease_until > {DB_NOW_MS}"
        ))
        .fetch_one(pool)
        .await
        .expect("leases")
    }

    #[tokio::test]
    async fn a_renewal_that_lands_after_leaving_does_not_bring_the_lease_back() {
        let Some(database) = TestDatabase::create().await else {
            return;
        };
        let store = crate::test_store::migrated(database.url()).await;
        let pool = store.pool.clone();
        let cluster = Cluster::start(
            pool.clone(),
            database.url(),
            Arc::new(SessionCache::new(true)),
            RevocationFeed::new(pool.clone(), service_kit::Clock::system()),
        );
        eventually(Duration::from_secs(10), "the first lease", || async {
            live_leases(&pool).await == 1
        })
        .await;

        cluster.leave().await;
        assert_eq!(live_leases(&pool).await, 0, "leaving ends the lease");
        // What a renewal already sent when the heartbeat was stopped does when it arrives.
        cluster
            .renew_once(u64::MAX)
            .await
            .expect("the renewal runs");
        assert_eq!(
            live_leases(&pool).await,
            0,
            "a late renewal leaves the lease ended"
        );
        pool.close().await;
    }
}
