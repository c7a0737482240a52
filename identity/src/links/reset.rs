//! Password reset: the request (same answer, known address or not; a mail only for a known one,
//! within the quota), the link check (does not use the token up) and the reset itself, which
//! uses the token up, stores the new hash and revokes every session of the user, all in one
//! transaction. Never logs a password or a token.

use axum::extract::State;
use axum::Json;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use super::{
    callback_or, consume, is_usable, mail_link, quota, retire_all, LinkMail, Purpose, TokenRequest,
};
use crate::error::ApiError;
use crate::json::JsonBody;
use crate::mail::compose::{self, DEFAULT_RESET_CALLBACK};
use crate::mail::MailKind;
use crate::passwords::Hasher;
use crate::sessions::Sessions;
use crate::social;
use crate::users::{self, Email, Password};
use crate::AppState;
use service_kit::Clock;

/// Better-Auth's answer to every reset request.
pub const RESET_REQUESTED_MESSAGE: &str =
    "If this email exists in our system, check your email for the reset link";

/// `POST /v1/password/reset/request` body.
#[derive(Deserialize)]
pub struct ResetRequest {
    email: String,
    #[serde(default)]
    redirect_to: Option<String>,
}

/// `POST /v1/password/reset` body.
#[derive(Deserialize)]
pub struct NewPasswordRequest {
    token: SecretString,
    new_password: SecretString,
}

/// The answer to a reset request, the same for every address.
#[derive(Serialize)]
pub struct ResetRequested {
    status: bool,
    message: &'static str,
}

/// Whether a reset link would work.
#[derive(Serialize)]
pub struct ResetLinkCheck {
    valid: bool,
}

/// `{"status": true}`.
#[derive(Serialize)]
pub struct PasswordReset {
    status: bool,
}

/// `POST /v1/password/reset/request` → always `200 {status:true, message}` for a valid address.
/// The answer does not wait for the lookup or the mail, so neither it nor its timing tells a
/// known address from an unknown one.
pub async fn request_password_reset(
    State(state): State<AppState>,
    JsonBody(request): JsonBody<ResetRequest>,
) -> Result<Json<ResetRequested>, ApiError> {
    let email = Email::parse(&request.email)?;
    let callback = callback_or(request.redirect_to.as_deref(), DEFAULT_RESET_CALLBACK)?;
    let now = state.clock().now_millis();
    state.mailer().clone().spawn_after_answer(async move {
        if let Err(err) = mail_reset_link(&state, &email, &callback, now).await {
            tracing::error!(error = %err, "password reset mail not sent");
        }
    });
    Ok(Json(ResetRequested {
        status: true,
        message: RESET_REQUESTED_MESSAGE,
    }))
}

/// Mails a reset link if `email` is a known address whose quota is not spent.
async fn mail_reset_link(
    state: &AppState,
    email: &Email,
    callback: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    let Some(found) = users::find_by_email(state.pool(), email).await? else {
        return Ok(());
    };
    let user = found.user;
    if !quota::claim(state.pool(), &user.email, Purpose::ResetPassword, now).await? {
        tracing::info!(user_id = %user.id, "password reset mail not sent: quota spent");
        return Ok(());
    }
    // A user who signs in only through a provider is setting a first password, not resetting one.
    let compose = if social::accounts::has_password(state.pool(), &user.id).await? {
        compose::reset_mail
    } else {
        compose::set_password_mail
    };
    let link = LinkMail {
        purpose: Purpose::ResetPassword,
        ttl: state.reset_ttl(),
        kind: MailKind::PasswordReset,
        compose,
    };
    mail_link(state, &user, link, callback, now).await?;
    tracing::info!(user_id = %user.id, "password reset mail queued");
    Ok(())
}

/// `POST /v1/password/reset/check` `{token}` → `200 {"valid": bool}`; the token stays usable.
pub async fn check_reset_token(
    State(state): State<AppState>,
    JsonBody(request): JsonBody<TokenRequest>,
) -> Result<Json<ResetLinkCheck>, ApiError> {
    let now = state.clock().now_millis();
    let valid = is_usable(
        state.pool(),
        request.token.expose_secret(),
        Purpose::ResetPassword,
        now,
    )
    .await?;
    Ok(Json(ResetLinkCheck { valid }))
}

/// `POST /v1/password/reset` `{token, new_password}` → `200 {"status":true}`; `400
/// INVALID_TOKEN` (unknown, used, expired), `PASSWORD_TOO_SHORT`/`LONG`.
pub async fn reset_password(
    State(state): State<AppState>,
    JsonBody(request): JsonBody<NewPasswordRequest>,
) -> Result<Json<PasswordReset>, ApiError> {
    let token = request.token.expose_secret();
    reset_password_with(
        token,
        request.new_password,
        state.hasher(),
        state.sessions(),
        state.clock(),
    )
    .await?;
    Ok(Json(PasswordReset { status: true }))
}

/// What a reset did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct PasswordWasReset {
    /// Whose password it was.
    pub(crate) user_id: String,
    /// How many sessions ended.
    pub(crate) revoked: u64,
}

/// Uses the reset `token` up and stores `new_password`, revoking every session of its user and
/// forgetting their browsers, all in one transaction; an unknown, used or expired token changes
/// nothing. Of two concurrent resets with one token exactly one succeeds.
pub(crate) async fn reset_password_with(
    token: &str,
    new_password: SecretString,
    hasher: &Hasher,
    sessions: &Sessions,
    clock: &Clock,
) -> Result<PasswordWasReset, ApiError> {
    let password = Password::parse(new_password)?;
    // A cheap look first, so a dead link costs no hashing; the use itself is decided below.
    if !is_usable(
        sessions.pool(),
        token,
        Purpose::ResetPassword,
        clock.now_millis(),
    )
    .await?
    {
        return Err(ApiError::InvalidResetToken);
    }
    let new_hash = hasher.hash(password).await?;

    let now = clock.now_millis();
    // The first statement writes, so SQLite takes the write lock at once.
    let mut write = sessions.begin().await?;
    let Some(user_id) = consume(write.connection(), token, Purpose::ResetPassword, now).await?
    else {
        return Err(ApiError::InvalidResetToken);
    };
    if !users::set_password_hash(write.connection(), &user_id, &new_hash, now).await? {
        return Err(ApiError::InvalidResetToken);
    }
    write.user_changed(&user_id);
    retire_all(write.connection(), &user_id, Purpose::ResetPassword, now).await?;
    let revoked = write.end_all(&user_id, now).await?;
    // A reset means the password may be known to someone else: no browser keeps a pass round
    // the lockout (DESIGN §14).
    crate::devices::drop_all(write.connection(), &user_id).await?;
    write.commit().await?;
    tracing::info!(
        event = "password.reset",
        user_id,
        revoked,
        "password reset; every session revoked"
    );
    Ok(PasswordWasReset { user_id, revoked })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::links::{issue, LinkToken};
    use crate::test_store::TestStore;
    use crate::users::User;
    use test_support::Store;

    const OLD: &str = "correct horse battery";
    const HOUR_MS: i64 = 3_600_000;

    /// A store with a user whose password is `OLD`, and a reset token for them valid for an hour.
    async fn with_reset_token(store: Store) -> Option<(TestStore, User, LinkToken)> {
        let store = TestStore::open(store).await?;
        let user = store.user("ada@example.com", OLD).await;
        let now = store.clock.now_millis();
        let token = issue(&store.pool, Purpose::ResetPassword, &user.id, now, HOUR_MS)
            .await
            .unwrap();
        Some((store, user, token))
    }

    async fn reset(
        store: &TestStore,
        token: &str,
        password: &str,
    ) -> Result<PasswordWasReset, ApiError> {
        let password = SecretString::from(password.to_owned());
        reset_password_with(
            token,
            password,
            &store.hasher,
            &store.sessions,
            &store.clock,
        )
        .await
    }

    async fn a_reset_changes_the_password_and_ends_every_session(store: Store) {
        let Some((store, user, token)) = with_reset_token(store).await else {
            return;
        };
        let (one, two) = (store.sign_in(&user).await, store.sign_in(&user).await);

        let done = reset(&store, token.expose_secret(), "a new staple")
            .await
            .unwrap();

        assert_eq!(
            done,
            PasswordWasReset {
                user_id: user.id.clone(),
                revoked: 2
            }
        );
        assert!(store.password_is(&user.id, "a new staple").await);
        assert!(store.live(&one).await.is_none());
        assert!(store.live(&two).await.is_none());
    }

    async fn a_used_token_changes_nothing(store: Store) {
        let Some((store, user, token)) = with_reset_token(store).await else {
            return;
        };
        reset(&store, token.expose_secret(), "the first new one")
            .await
            .unwrap();
        let session = store.sign_in(&user).await;
        let before = store.stored_hash(&user.id).await;

        let again = reset(&store, token.expose_secret(), "the second new one").await;

        assert!(matches!(again, Err(ApiError::InvalidResetToken)));
        assert_eq!(store.stored_hash(&user.id).await, before);
        assert!(store.password_is(&user.id, "the first new one").await);
        assert!(store.live(&session).await.is_some(), "no session ends");
    }

    async fn an_expired_token_changes_nothing(store: Store) {
        let Some((store, user, token)) = with_reset_token(store).await else {
            return;
        };
        let session = store.sign_in(&user).await;
        store.clock.advance(Duration::from_millis(HOUR_MS as u64));
        let before = store.stored_hash(&user.id).await;

        let late = reset(&store, token.expose_secret(), "too late a password").await;

        assert!(matches!(late, Err(ApiError::InvalidResetToken)));
        assert_eq!(store.stored_hash(&user.id).await, before);
        assert!(store.password_is(&user.id, OLD).await);
        assert!(store.live(&session).await.is_some(), "no session ends");
        let unused: Option<i64> =
            sqlx::query_scalar("SELECT used_at FROM verification_tokens WHERE user_id = $1")
                .bind(&user.id)
                .fetch_one(&store.pool)
                .await
                .unwrap();
        assert_eq!(unused, None, "the token is not used up");
    }

    test_support::on_both_stores!(
        a_reset_changes_the_password_and_ends_every_session,
        a_used_token_changes_nothing,
        an_expired_token_changes_nothing,
    );
}
