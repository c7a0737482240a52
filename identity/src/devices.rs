//! Device cookies (OWASP "slow down online guessing with device cookies", DESIGN §14): a browser
//! that signed in to an account gets a token of 32 CSPRNG bytes, stored only as its SHA-256 and
//! bound to that account, valid for a year. Presented again with the account's address, its
//! failures count on the device alone (see `lockout::Subject::Device`). Password reset and
//! account deletion drop the account's devices. The token is never logged or stored in clear.

use std::time::Duration;

use sqlx::{Any, AnyPool, Executor, Row};

use crate::sessions::{SessionToken, TokenHash};
use crate::users::Email;

/// How long a device cookie is honoured (its `Max-Age`).
pub const DEVICE_TTL: Duration = Duration::from_secs(365 * 86_400);

/// A device token is drawn and hashed exactly like a session token (32 bytes, base64url,
/// SHA-256), so the same type serves.
pub type DeviceToken = SessionToken;

/// The device a browser presents when it is valid for the account with address `email` at
/// `now`: its hash. The query is the same whether or not the address has an account, so the
/// answer's timing tells nothing.
pub async fn recognise(
    pool: &AnyPool,
    presented: &str,
    email: &Email,
    now: i64,
) -> Result<Option<TokenHash>, sqlx::Error> {
    let Some(hash) = TokenHash::of_presented(presented) else {
        return Ok(None);
    };
    let found = sqlx::query(
        "SELECT d.token_hash FROM devices d JOIN users u ON u.id = d.user_id \
         WHERE d.token_hash = $1 AND u.email = $2 AND d.expires_at > $3",
    )
    .bind(hash.as_str())
    .bind(email.as_str())
    .bind(now)
    .fetch_optional(pool)
    .await?;
    Ok(found.is_some().then_some(hash))
}

/// Registers a new device for `user_id` at `now` and returns its token (for the cookie, once);
/// drops the user's expired devices on the way.
pub async fn issue(pool: &AnyPool, user_id: &str, now: i64) -> Result<DeviceToken, sqlx::Error> {
    sqlx::query("DELETE FROM devices WHERE user_id = $1 AND expires_at <= $2")
        .bind(user_id)
        .bind(now)
        .execute(pool)
        .await?;
    let token = DeviceToken::generate();
    let ttl_ms = i64::try_from(DEVICE_TTL.as_millis()).unwrap_or(i64::MAX / 4);
    sqlx::query(
        "INSERT INTO devices (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(token.hash().as_str())
    .bind(user_id)
    .bind(now)
    .bind(now.saturating_add(ttl_ms))
    .execute(pool)
    .await?;
    Ok(token)
}

/// Drops every device of `user_id` (password reset; deletion cascades in the store).
pub async fn drop_all<'e>(
    executor: impl Executor<'e, Database = Any>,
    user_id: &str,
) -> Result<u64, sqlx::Error> {
    let result = sqlx::query("DELETE FROM devices WHERE user_id = $1")
        .bind(user_id)
        .execute(executor)
        .await?;
    Ok(result.rows_affected())
}

/// How many devices `user_id` has (tests and diagnostics).
pub async fn count(pool: &AnyPool, user_id: &str) -> Result<i64, sqlx::Error> {
    sqlx::query("SELECT COUNT(*) FROM devices WHERE user_id = $1")
        .bind(user_id)
        .fetch_one(pool)
        .await?
        .try_get(0)
}
