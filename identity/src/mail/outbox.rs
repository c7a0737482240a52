//! The `mail_outbox` table (DESIGN §14): every mail is written here in the transaction that
//! creates its link, then claimed, delivered and marked by `sender`; with `DEV_MAILBOX=true` it
//! is kept instead, and listed newest first at `GET /v1/dev/outbox` for edge's `/dev/mailbox`
//! (`404` otherwise). A pending row holds its link in clear, so the bodies are wiped as soon as a
//! mail is sent or given up, and finished rows are pruned later. Nothing here logs a body.

use axum::extract::State;
use axum::Json;
use serde::Serialize;
use service_kit::db::Backend;
use service_kit::timefmt::rfc3339_millis;
use sqlx::{Any, AnyPool, Executor, Row};

use super::{Mail, MailKind};
use crate::error::ApiError;
use crate::AppState;

/// Mails the development mailbox keeps; older ones are pruned.
pub const DEV_CAPACITY: i64 = 200;

/// The state of a row that waits for a sender.
const PENDING: &str = "pending";
/// The state of a row kept for the development mailbox, never sent.
const DEV: &str = "dev";

/// Writes `mail` in the caller's transaction: `pending` for the sender, or `dev` (kept, never
/// sent) in development mode. The sender gives it up if it is still unsent at `expires_at`.
pub async fn write<'e>(
    executor: impl Executor<'e, Database = Any>,
    mail: &Mail,
    kind: MailKind,
    keep_for_dev: bool,
    now: i64,
    expires_at: i64,
) -> Result<(), sqlx::Error> {
    let links = serde_json::to_string(&mail.links).unwrap_or_else(|_| "[]".to_owned());
    sqlx::query(
        "INSERT INTO mail_outbox (kind, priority, recipient, subject, text_body, html_body, links, state, \
         attempts, next_attempt_at, lease_until, expires_at, created_at, finished_at, last_error) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0, $9, NULL, $10, $9, NULL, NULL)",
    )
    .bind(kind.as_str())
    .bind(kind.priority())
    .bind(&mail.to)
    .bind(&mail.subject)
    .bind(&mail.text)
    .bind(&mail.html)
    .bind(links)
    .bind(if keep_for_dev { DEV } else { PENDING })
    .bind(now)
    .bind(expires_at)
    .execute(executor)
    .await?;
    Ok(())
}

/// A mail a sender has claimed: it holds the row until `lease_until`.
pub struct Claimed {
    /// The row.
    pub id: i64,
    /// What it is (for logs).
    pub kind: String,
    /// The mail itself.
    pub mail: Mail,
    /// Attempts so far, this one included.
    pub attempts: i64,
    /// When the link stops working.
    pub expires_at: i64,
    /// The lease this claim holds; outcomes are recorded only under it.
    pub lease_until: i64,
}

/// Claims the due pending mail of highest priority (at most `max_priority`), oldest first, for
/// `lease_ms`, counting the attempt; `None` when nothing is due. One statement: on PostgreSQL the
/// row is locked with `FOR UPDATE SKIP LOCKED`, so concurrent senders (other replicas included)
/// take different rows; SQLite runs one writing statement at a time.
pub async fn claim(
    pool: &AnyPool,
    backend: Backend,
    max_priority: i64,
    now: i64,
    lease_ms: i64,
) -> Result<Option<Claimed>, sqlx::Error> {
    let lock = match backend {
        Backend::Postgres => " FOR UPDATE SKIP LOCKED",
        Backend::Sqlite => "",
    };
    let lease_until = now.saturating_add(lease_ms);
    let row = sqlx::query(&format!(
        "UPDATE mail_outbox SET lease_until = $1, attempts = attempts + 1 \
         WHERE id = (SELECT id FROM mail_outbox \
                     WHERE state = 'pending' AND priority <= $2 AND next_attempt_at <= $3 \
                       AND (lease_until IS NULL OR lease_until <= $3) \
                     ORDER BY priority, next_attempt_at, id LIMIT 1{lock}) \
         RETURNING id, kind, recipient, subject, text_body, html_body, attempts, expires_at"
    ))
    .bind(lease_until)
    .bind(max_priority)
    .bind(now)
    .fetch_optional(pool)
    .await?;
    row.map(|row| {
        Ok(Claimed {
            id: row.try_get(0)?,
            kind: row.try_get(1)?,
            mail: Mail {
                to: row.try_get(2)?,
                subject: row.try_get(3)?,
                text: row.try_get(4)?,
                html: row.try_get(5)?,
                links: Vec::new(),
            },
            attempts: row.try_get(6)?,
            expires_at: row.try_get(7)?,
            lease_until,
        })
    })
    .transpose()
}

/// Marks a claimed mail sent and wipes its bodies; `false` when the lease was lost meanwhile.
pub async fn mark_sent(pool: &AnyPool, claimed: &Claimed, now: i64) -> Result<bool, sqlx::Error> {
    finish(pool, claimed, "sent", None, now).await
}

/// Gives a claimed mail up (logged by the caller) and wipes its bodies.
pub async fn mark_failed(
    pool: &AnyPool,
    claimed: &Claimed,
    error: &str,
    now: i64,
) -> Result<bool, sqlx::Error> {
    finish(pool, claimed, "failed", Some(error), now).await
}

async fn finish(
    pool: &AnyPool,
    claimed: &Claimed,
    state: &str,
    error: Option<&str>,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let updated = sqlx::query(
        "UPDATE mail_outbox SET state = $1, finished_at = $2, lease_until = NULL, last_error = $3, \
         text_body = '', html_body = '', links = '[]' WHERE id = $4 AND lease_until = $5",
    )
    .bind(state)
    .bind(now)
    .bind(error)
    .bind(claimed.id)
    .bind(claimed.lease_until)
    .execute(pool)
    .await?;
    Ok(updated.rows_affected() > 0)
}

/// Releases a claimed mail for another attempt at `next_attempt_at`.
pub async fn retry_at(
    pool: &AnyPool,
    claimed: &Claimed,
    error: &str,
    next_attempt_at: i64,
) -> Result<bool, sqlx::Error> {
    let updated = sqlx::query(
        "UPDATE mail_outbox SET lease_until = NULL, next_attempt_at = $1, last_error = $2 \
         WHERE id = $3 AND lease_until = $4",
    )
    .bind(next_attempt_at)
    .bind(error)
    .bind(claimed.id)
    .bind(claimed.lease_until)
    .execute(pool)
    .await?;
    Ok(updated.rows_affected() > 0)
}

/// Mails waiting to be sent (retries included). One count over the `state` index: cheap enough
/// for a metric (`gatehouse_mail_outbox_pending`).
pub async fn pending_count(pool: &AnyPool) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT COUNT(*) FROM mail_outbox WHERE state = 'pending'")
        .fetch_one(pool)
        .await
}

/// Deletes sent and failed rows finished before `finished_before`, and development mails beyond
/// the newest `DEV_CAPACITY`; returns how many rows went.
pub async fn prune(pool: &AnyPool, finished_before: i64) -> Result<u64, sqlx::Error> {
    let finished = sqlx::query(
        "DELETE FROM mail_outbox WHERE state IN ('sent', 'failed') AND finished_at < $1",
    )
    .bind(finished_before)
    .execute(pool)
    .await?
    .rows_affected();
    let dev = sqlx::query(
        "DELETE FROM mail_outbox WHERE state = 'dev' AND id <= \
         (SELECT id FROM mail_outbox WHERE state = 'dev' ORDER BY id DESC LIMIT 1 OFFSET $1)",
    )
    .bind(DEV_CAPACITY)
    .execute(pool)
    .await?
    .rows_affected();
    Ok(finished + dev)
}

/// One listed mail.
#[derive(Serialize)]
struct OutboxMail {
    to: String,
    subject: String,
    sent_at: String,
    text: String,
    html: String,
    links: Vec<String>,
}

/// `GET /v1/dev/outbox` body.
#[derive(Serialize)]
pub struct OutboxListing {
    messages: Vec<OutboxMail>,
}

/// The development mails, newest first (at most `DEV_CAPACITY`).
async fn list_dev(pool: &AnyPool) -> Result<Vec<OutboxMail>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT recipient, subject, created_at, text_body, html_body, links FROM mail_outbox \
         WHERE state = 'dev' ORDER BY id DESC LIMIT $1",
    )
    .bind(DEV_CAPACITY)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|row| {
            let links: String = row.try_get(5)?;
            Ok(OutboxMail {
                to: row.try_get(0)?,
                subject: row.try_get(1)?,
                sent_at: rfc3339_millis(row.try_get(2)?),
                text: row.try_get(3)?,
                html: row.try_get(4)?,
                links: serde_json::from_str(&links).unwrap_or_default(),
            })
        })
        .collect()
}

/// `GET /v1/dev/outbox` → `{"messages":[{to, subject, sent_at, text, html, links}]}`, newest
/// first; `404` unless `DEV_MAILBOX=true`.
pub async fn list_outbox(State(state): State<AppState>) -> Result<Json<OutboxListing>, ApiError> {
    if !state.mailer().dev_mailbox() {
        return Err(ApiError::NotFound);
    }
    let messages = list_dev(state.pool()).await?;
    Ok(Json(OutboxListing { messages }))
}

#[cfg(test)]
pub(crate) mod tests;
