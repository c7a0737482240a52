//! Single-use mail links (DESIGN §6): email verification (`verification`) and password reset
//! (`reset`). A link's token is 32 CSPRNG bytes in base64url, stored only as its SHA-256 in
//! `verification_tokens`, bound to one purpose and one user, expiring, and used up by exactly one
//! atomic `UPDATE … WHERE used_at IS NULL`. Requests about an unknown address answer as for a
//! known one and send nothing; `quota` caps the mails per address. A link's mail is written to
//! the outbox in the transaction that stores its token. The token is never logged.

pub mod quota;
mod reset;
mod verification;

pub use reset::{check_reset_token, request_password_reset, reset_password};
pub use verification::{
    notify_owner_of_sign_up_attempt, send_verification_after_sign_up, send_verification_email,
    verify_email,
};

use std::time::Duration;

use serde::Deserialize;
// `super::millis` for reset and verification.
use service_kit::duration::millis;
use sqlx::{Any, AnyPool, Executor};

use crate::error::ApiError;
use crate::mail::{compose, Mail, MailKind};
use crate::sessions::{SessionToken, TokenHash};
use crate::users::User;
use crate::AppState;

/// The longest callback a link may carry (edge has already checked it is on the public origin).
const CALLBACK_MAX_CHARS: usize = 2048;

/// What a link is good for, and only that.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// Proves the user receives mail at their address.
    VerifyEmail,
    /// Lets the user choose a new password.
    ResetPassword,
}

impl Purpose {
    /// The stored form (also the mail kind of the quota).
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::VerifyEmail => "verify-email",
            Purpose::ResetPassword => "reset-password",
        }
    }
}

/// A new link token. Its `Debug` is redacted; `expose_secret` puts it into the mail only.
#[derive(Debug)]
pub struct LinkToken(SessionToken);

impl LinkToken {
    /// 32 fresh bytes from the OS CSPRNG.
    pub fn generate() -> LinkToken {
        LinkToken(SessionToken::generate())
    }

    /// The token in clear, for the link.
    pub fn expose_secret(&self) -> &str {
        self.0.expose_secret()
    }
}

/// Why a presented token does not work.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Unknown, already used, or for another purpose.
    Invalid,
    /// Known and unused, but past its expiry.
    Expired,
}

/// Stores a new token for `user_id` and `purpose`, valid until `now + ttl_ms` (in the caller's
/// transaction, beside the mail that carries it).
pub async fn issue<'e>(
    executor: impl Executor<'e, Database = Any>,
    purpose: Purpose,
    user_id: &str,
    now: i64,
    ttl_ms: i64,
) -> Result<LinkToken, sqlx::Error> {
    let token = LinkToken::generate();
    sqlx::query(
        "INSERT INTO verification_tokens (token_hash, purpose, user_id, expires_at, used_at, created_at) \
         VALUES ($1, $2, $3, $4, NULL, $5)",
    )
    .bind(token.0.hash().as_str())
    .bind(purpose.as_str())
    .bind(user_id)
    .bind(now.saturating_add(ttl_ms))
    .bind(now)
    .execute(executor)
    .await?;
    Ok(token)
}

/// Uses a presented token up: of any number of concurrent uses exactly one gets the user id.
pub async fn consume<'e>(
    executor: impl Executor<'e, Database = Any>,
    presented: &str,
    purpose: Purpose,
    now: i64,
) -> Result<Option<String>, sqlx::Error> {
    let Some(hash) = TokenHash::of_presented(presented) else {
        return Ok(None);
    };
    sqlx::query_scalar(
        "UPDATE verification_tokens SET used_at = $1 \
         WHERE token_hash = $2 AND purpose = $3 AND used_at IS NULL AND expires_at > $1 RETURNING user_id",
    )
    .bind(now)
    .bind(hash.as_str())
    .bind(purpose.as_str())
    .fetch_optional(executor)
    .await
}

/// Why a token that could not be used was refused (read after a failed `consume`).
pub async fn refusal(
    pool: &AnyPool,
    presented: &str,
    purpose: Purpose,
    now: i64,
) -> Result<Refusal, sqlx::Error> {
    let Some(hash) = TokenHash::of_presented(presented) else {
        return Ok(Refusal::Invalid);
    };
    let expires_at: Option<i64> = sqlx::query_scalar(
        "SELECT expires_at FROM verification_tokens WHERE token_hash = $1 AND purpose = $2 AND used_at IS NULL",
    )
    .bind(hash.as_str())
    .bind(purpose.as_str())
    .fetch_optional(pool)
    .await?;
    Ok(match expires_at {
        Some(expires_at) if expires_at <= now => Refusal::Expired,
        _ => Refusal::Invalid,
    })
}

/// Whether a token would be accepted now, without using it up.
pub async fn is_usable(
    pool: &AnyPool,
    presented: &str,
    purpose: Purpose,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let Some(hash) = TokenHash::of_presented(presented) else {
        return Ok(false);
    };
    let found: Option<String> = sqlx::query_scalar(
        "SELECT user_id FROM verification_tokens \
         WHERE token_hash = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > $3",
    )
    .bind(hash.as_str())
    .bind(purpose.as_str())
    .bind(now)
    .fetch_optional(pool)
    .await?;
    Ok(found.is_some())
}

/// Marks every unused token of `user_id` for `purpose` used (after one of them was used).
pub async fn retire_all<'e>(
    executor: impl Executor<'e, Database = Any>,
    user_id: &str,
    purpose: Purpose,
    now: i64,
) -> Result<u64, sqlx::Error> {
    let result = sqlx::query(
        "UPDATE verification_tokens SET used_at = $1 WHERE user_id = $2 AND purpose = $3 AND used_at IS NULL",
    )
    .bind(now)
    .bind(user_id)
    .bind(purpose.as_str())
    .execute(executor)
    .await?;
    Ok(result.rows_affected())
}

/// A link mail: its purpose, its lifetime, its kind in the outbox, and how it is written from
/// the public URL, the address, the token, the callback and the lifetime in words.
struct LinkMail {
    purpose: Purpose,
    ttl: Duration,
    kind: MailKind,
    compose: fn(&str, &str, &str, &str, &str) -> Mail,
}

/// Issues a link token for `user` and writes its mail to the outbox in the same transaction,
/// then wakes the sender.
async fn mail_link(
    state: &AppState,
    user: &User,
    link: LinkMail,
    callback: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    let mailer = state.mailer();
    let mut transaction = state.pool().begin().await?;
    let token = issue(
        &mut *transaction,
        link.purpose,
        &user.id,
        now,
        millis(link.ttl),
    )
    .await?;
    let mail = (link.compose)(
        mailer.public_url(),
        &user.email,
        token.expose_secret(),
        callback,
        &compose::ttl_text(link.ttl),
    );
    mailer
        .write(
            &mut *transaction,
            &mail,
            link.kind,
            now,
            now.saturating_add(millis(link.ttl)),
        )
        .await?;
    transaction.commit().await?;
    mailer.wake();
    Ok(())
}

/// A body carrying just a token (verify, check a reset link).
#[derive(Deserialize)]
pub struct TokenRequest {
    token: secrecy::SecretString,
}

/// Checks the callback a link should carry: `default` when none, else at most 2048 characters.
fn callback_or(callback: Option<&str>, default: &str) -> Result<String, ApiError> {
    match callback {
        None => Ok(default.to_owned()),
        Some(callback) if callback.is_empty() || callback.chars().count() > CALLBACK_MAX_CHARS => {
            Err(ApiError::Validation(format!(
                "[body.callback_url] Must be 1 to {CALLBACK_MAX_CHARS} characters."
            )))
        }
        Some(callback) => Ok(callback.to_owned()),
    }
}

#[cfg(test)]
mod tests;
