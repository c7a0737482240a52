//! Server-side sessions: creation, the one-query lookup by token hash (joined with the user),
//! the use of a session (liveness, binding, sliding expiry) shared by the token exchange and
//! `/v1/session`, a user's list of live sessions, ending sessions (one, all but one, all), and
//! the Better-Auth session JSON. [`Sessions`] owns it all with the exchange's cache; nothing
//! else reads or writes the `sessions` table. It never stores, logs or returns the secret token;
//! only its SHA-256 reaches the store.

mod cache;
mod cluster;
mod queries;
mod rules;
mod store;
mod token;

pub use store::{Change, Ended, Sessions};

pub use rules::{
    check_binding, check_live, cookie_max_age, is_fresh, new_session_times, sliding_expiry,
    Binding, Client, Refusal, SessionPolicy, SessionTimes,
};
pub use token::{SessionToken, TokenHash};

use serde::Serialize;
use service_kit::timefmt::rfc3339_millis;
use sqlx::any::AnyRow;
use sqlx::{Any, AnyPool, Executor, Row};

use crate::users::User;

/// A stored session (without its token hash).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    /// Public id (UUID): listings, logs, the `sid` claim, the `token` field of the JSON.
    pub id: String,
    /// Owner.
    pub user_id: String,
    /// IP address at sign-in.
    pub ip_address: String,
    /// User-Agent at sign-in.
    pub user_agent: String,
    /// Its times.
    pub times: SessionTimes,
}

/// A session together with its user, as the single lookup returns them.
#[derive(Clone, Debug)]
pub struct LiveSession {
    /// The session.
    pub session: Session,
    /// Its user.
    pub user: User,
}

/// Why using a session failed.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// A session problem: the client gets one answer whatever the reason.
    #[error("session refused: {0}")]
    Refused(Refusal),
    /// The store failed.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// The result of a successful use.
#[derive(Debug)]
pub struct UsedSession {
    /// The session (with its expiry as extended) and its user.
    pub live: LiveSession,
    /// Whether this use extended the expiry.
    pub refreshed: bool,
}

/// Creates a session for `user_id` at `now` (on the pool, or inside a caller's transaction).
async fn create<'e>(
    executor: impl Executor<'e, Database = Any>,
    user_id: &str,
    token_hash: &TokenHash,
    client: &Client,
    remember: bool,
    now: i64,
    policy: &SessionPolicy,
) -> Result<Session, sqlx::Error> {
    let session = Session {
        id: uuid::Uuid::new_v4().to_string(),
        user_id: user_id.to_owned(),
        ip_address: client.ip.clone(),
        user_agent: client.user_agent.clone(),
        times: new_session_times(now, remember, policy),
    };
    sqlx::query(
        "INSERT INTO sessions (id, token_hash, user_id, ip_address, user_agent, created_at, expires_at, \
         extended_at, max_expires_at, remember) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(&session.id)
    .bind(token_hash.as_str())
    .bind(&session.user_id)
    .bind(&session.ip_address)
    .bind(&session.user_agent)
    .bind(session.times.created_at)
    .bind(session.times.expires_at)
    .bind(session.times.extended_at)
    .bind(session.times.max_expires_at)
    .bind(i64::from(session.times.remember))
    .execute(executor)
    .await?;
    Ok(session)
}

/// The lookup of every session use: one indexed query by token hash, joined with the user.
const FIND_BY_TOKEN_HASH: &str =
    "SELECT s.id, s.user_id, s.ip_address, s.user_agent, s.created_at, \
     s.expires_at, s.extended_at, s.max_expires_at, s.remember, s.revoked_at, \
     u.id, u.email, u.name, u.email_verified, u.image, u.created_at, u.updated_at \
     FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = $1";

/// The session columns `session_from_row` reads, in order (ten of them).
const SESSION_COLUMNS: &str = "s.id, s.user_id, s.ip_address, s.user_agent, s.created_at, \
     s.expires_at, s.extended_at, s.max_expires_at, s.remember, s.revoked_at";

fn session_from_row(row: &AnyRow) -> Result<Session, sqlx::Error> {
    Ok(Session {
        id: row.try_get(0)?,
        user_id: row.try_get(1)?,
        ip_address: row.try_get(2)?,
        user_agent: row.try_get(3)?,
        times: SessionTimes {
            created_at: row.try_get(4)?,
            expires_at: row.try_get(5)?,
            extended_at: row.try_get(6)?,
            max_expires_at: row.try_get(7)?,
            remember: row.try_get::<i64, _>(8)? != 0,
            revoked_at: row.try_get(9)?,
        },
    })
}

fn live_session_from_row(row: &AnyRow) -> Result<LiveSession, sqlx::Error> {
    Ok(LiveSession {
        session: session_from_row(row)?,
        user: User::from_row(row, 10)?,
    })
}

/// The live session with this token hash: unknown, revoked and expired ones are refused (and
/// the reason logged).
async fn find_live(
    pool: &AnyPool,
    token_hash: &TokenHash,
    now: i64,
) -> Result<LiveSession, SessionError> {
    let row = sqlx::query(FIND_BY_TOKEN_HASH)
        .bind(token_hash.as_str())
        .fetch_optional(pool)
        .await?
        .ok_or_else(|| refuse(Refusal::Unknown, None))?;
    let live = live_session_from_row(&row)?;
    check_live(&live.session.times, now)
        .map_err(|reason| refuse(reason, Some(&live.session.id)))?;
    Ok(live)
}

/// Logs why a session was refused — never the token — and makes the error.
fn refuse(reason: Refusal, session_id: Option<&str>) -> SessionError {
    tracing::info!(%reason, session_id = %session_id.unwrap_or("-"), "session refused");
    SessionError::Refused(reason)
}

/// Authenticates a session presented by `client`: looks it up and checks liveness and binding,
/// changing nothing. The account endpoints use it; every refusal is logged with its reason.
async fn authenticate_in_store(
    pool: &AnyPool,
    token: &str,
    client: &Client,
    now: i64,
    policy: &SessionPolicy,
) -> Result<LiveSession, SessionError> {
    let token_hash =
        TokenHash::of_presented(token).ok_or_else(|| refuse(Refusal::Unknown, None))?;
    let live = find_live(pool, &token_hash, now).await?;
    check_client(&live.session, client, policy)?;
    Ok(live)
}

/// The binding rule for one use: a different User-Agent is refused, a different IP logged (and
/// refused with `SESSION_BIND_IP`).
fn check_client(
    session: &Session,
    client: &Client,
    policy: &SessionPolicy,
) -> Result<(), SessionError> {
    match check_binding(
        &session.ip_address,
        &session.user_agent,
        client,
        policy.bind_ip,
    ) {
        Ok(Binding::Same) => Ok(()),
        Ok(Binding::IpChanged) => {
            tracing::info!(
                session_id = %session.id, session_ip = %session.ip_address, client_ip = %client.ip,
                "session used from another IP address"
            );
            Ok(())
        }
        Err(reason) => Err(refuse(reason, Some(&session.id))),
    }
}

/// Uses a session presented by `client`: authenticates it, then applies sliding expiry (one
/// UPDATE, only when due).
async fn use_in_store(
    pool: &AnyPool,
    token_hash: &TokenHash,
    client: &Client,
    now: i64,
    policy: &SessionPolicy,
) -> Result<UsedSession, SessionError> {
    let mut live = find_live(pool, token_hash, now).await?;
    check_client(&live.session, client, policy)?;
    let session = &live.session;
    let mut refreshed = false;
    if let Some(expires_at) = sliding_expiry(&session.times, now, policy) {
        if !extend(pool, &session.id, expires_at, now).await? {
            return Err(refuse(Refusal::Revoked, Some(&session.id)));
        }
        live.session.times.expires_at = expires_at;
        live.session.times.extended_at = now;
        refreshed = true;
    }
    Ok(UsedSession { live, refreshed })
}

/// Sets a new expiry; `false` when the session was revoked in the meantime.
async fn extend(
    pool: &AnyPool,
    session_id: &str,
    expires_at: i64,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let result =
        sqlx::query("UPDATE sessions SET expires_at = $1, extended_at = $2 WHERE id = $3 AND revoked_at IS NULL")
            .bind(expires_at)
            .bind(now)
            .bind(session_id)
            .execute(pool)
            .await?;
    Ok(result.rows_affected() == 1)
}

/// The user's live sessions (neither revoked nor expired at `now`), newest first.
async fn list_live(pool: &AnyPool, user_id: &str, now: i64) -> Result<Vec<Session>, sqlx::Error> {
    let rows = sqlx::query(&format!(
        "SELECT {SESSION_COLUMNS} FROM sessions s WHERE s.user_id = $1 AND s.revoked_at IS NULL \
         AND s.expires_at > $2 AND s.max_expires_at > $2 ORDER BY s.created_at DESC, s.id"
    ))
    .bind(user_id)
    .bind(now)
    .fetch_all(pool)
    .await?;
    rows.iter().map(session_from_row).collect()
}

impl Session {
    /// The Better-Auth JSON form; `token` carries the public id, never the secret.
    pub fn to_json(&self) -> SessionJson<'_> {
        SessionJson {
            id: &self.id,
            token: &self.id,
            user_id: &self.user_id,
            expires_at: rfc3339_millis(self.times.expires_at),
            created_at: rfc3339_millis(self.times.created_at),
            updated_at: rfc3339_millis(self.times.extended_at),
            ip_address: &self.ip_address,
            user_agent: &self.user_agent,
        }
    }
}

/// Better-Auth's session object.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionJson<'a> {
    id: &'a str,
    token: &'a str,
    user_id: &'a str,
    expires_at: String,
    created_at: String,
    updated_at: String,
    ip_address: &'a str,
    user_agent: &'a str,
}
