//! `GET /v1/revocations` (DESIGN §15): a `text/event-stream` of ended sessions, so verifiers can
//! refuse tokens minted before the end. Each `data:` line is `{"sid","at"}` for one ended session,
//! or `{"sub","before"}` when a user and every session of theirs went with the account. A new
//! subscriber first gets the last two minutes (longer than any token lives), then each end as it
//! is committed — by this replica or any other: the feed reads the `revocations` table, woken by
//! this process's commits and by other replicas' announcements, and every second regardless.

use std::collections::{HashMap, HashSet};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::stream::{self, Stream, StreamExt};
use serde::Serialize;
use service_kit::timefmt::rfc3339_millis;
use service_kit::Clock;
use sqlx::{AnyPool, Row};
use tokio::sync::{broadcast, Notify};

use crate::error::ApiError;
use crate::AppState;

/// What a new subscriber is replayed: longer than a token lives, with room for clock skew.
const REPLAY_MS: i64 = 2 * 60 * 1000;
/// How often the feed reads the table when nothing woke it.
const POLL: Duration = Duration::from_secs(1);
/// Rows older than this are deleted (the stream never replays them).
const KEEP_MS: i64 = 10 * 60 * 1000;
/// Ends a slow subscriber may fall behind by before its stream is closed (it reconnects and
/// replays).
const BACKLOG: usize = 4096;
/// A comment line this often keeps proxies and the subscriber's read timeout content.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// One ended session, or every session of a deleted user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Revocation {
    /// The row's id (the event's `id:`).
    pub id: i64,
    /// The ended session's public id; `None` for a deleted user.
    pub session_id: Option<String>,
    /// Its user.
    pub user_id: String,
    /// When, ms.
    pub at: i64,
}

#[derive(Serialize)]
#[serde(untagged)]
enum Data<'a> {
    Session { sid: &'a str, at: String },
    User { sub: &'a str, before: String },
}

impl Revocation {
    /// The event's JSON.
    pub fn data(&self) -> String {
        let data = match &self.session_id {
            Some(sid) => Data::Session {
                sid,
                at: rfc3339_millis(self.at),
            },
            None => Data::User {
                sub: &self.user_id,
                before: rfc3339_millis(self.at),
            },
        };
        serde_json::to_string(&data).unwrap_or_default()
    }

    fn event(&self) -> Event {
        Event::default().id(self.id.to_string()).data(self.data())
    }
}

/// The feed every subscriber of this replica reads.
pub struct RevocationFeed {
    pool: AnyPool,
    clock: Clock,
    sender: broadcast::Sender<Arc<Revocation>>,
    wake: Notify,
}

impl RevocationFeed {
    /// A feed over the store; [`RevocationFeed::run`] makes it move.
    pub fn new(pool: AnyPool, clock: Clock) -> Arc<RevocationFeed> {
        Arc::new(RevocationFeed {
            pool,
            clock,
            sender: broadcast::channel(BACKLOG).0,
            wake: Notify::new(),
        })
    }

    /// Something may have ended: read the table now.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// The ends recorded at or after `since` (ms), oldest first.
    pub async fn since(&self, since: i64) -> Result<Vec<Revocation>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT id, session_id, user_id, at FROM revocations WHERE at >= $1 ORDER BY id",
        )
        .bind(since)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(Revocation {
                    id: row.try_get(0)?,
                    session_id: row.try_get(1)?,
                    user_id: row.try_get(2)?,
                    at: row.try_get(3)?,
                })
            })
            .collect()
    }

    /// Reads the table whenever woken (and every second), sending each end once; prunes old rows.
    pub async fn run(self: Arc<Self>) {
        let mut sent: HashMap<i64, i64> = HashMap::new();
        let mut last_read: Option<i64> = None;
        for round in 0u64.. {
            let now = self.clock.now_millis();
            // Rows commit out of id order across replicas, so read a window, not "after id N".
            let since =
                last_read.map_or(now - REPLAY_MS, |last| (last - 10_000).max(now - REPLAY_MS));
            match self.since(since).await {
                Ok(rows) => {
                    last_read = Some(now);
                    for row in rows {
                        if sent.insert(row.id, row.at).is_none() {
                            let _ = self.sender.send(Arc::new(row));
                        }
                    }
                    sent.retain(|_, at| *at >= now - 2 * REPLAY_MS);
                }
                Err(error) => tracing::warn!(%error, "cannot read the revocations"),
            }
            if round % 60 == 0 {
                let pruned = sqlx::query("DELETE FROM revocations WHERE at < $1")
                    .bind(now - KEEP_MS)
                    .execute(&self.pool)
                    .await;
                if let Err(error) = pruned {
                    tracing::warn!(%error, "cannot prune the revocations");
                }
            }
            let _ = tokio::time::timeout(POLL, self.wake.notified()).await;
        }
    }

    fn subscribe(&self) -> broadcast::Receiver<Arc<Revocation>> {
        self.sender.subscribe()
    }
}

/// `GET /v1/revocations`.
pub async fn stream_revocations(State(state): State<AppState>) -> Result<Response, ApiError> {
    let feed = state.sessions().feed();
    let live = feed.subscribe();
    let replay = feed.since(state.clock().now_millis() - REPLAY_MS).await?;
    let replayed: HashSet<i64> = replay.iter().map(|row| row.id).collect();
    let events = stream::iter(replay.iter().map(Revocation::event).collect::<Vec<_>>())
        .chain(live_events(live, replayed))
        .map(Ok::<_, Infallible>);
    Ok(Sse::new(events)
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
        .into_response())
}

/// The live part: ends as the feed sends them, skipping what the replay already gave; ends the
/// stream if the subscriber fell too far behind (it reconnects and is replayed).
fn live_events(
    live: broadcast::Receiver<Arc<Revocation>>,
    replayed: HashSet<i64>,
) -> impl Stream<Item = Event> {
    stream::unfold((live, replayed), |(mut live, replayed)| async move {
        loop {
            match live.recv().await {
                Ok(row) if replayed.contains(&row.id) => continue,
                Ok(row) => return Some((row.event(), (live, replayed))),
                Err(broadcast::error::RecvError::Lagged(_))
                | Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    })
}
