//! Password reset: the request (same answer, known address or not; a mail only for a known one,
//! within the quota), the link check (does not use the token up) and the reset itself, which
//! uses the token up, stores the new hash and revokes every session of the user, all in one
//! transaction. Never logs a password or a token.

use axum::extract::State;
use axum::Json;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use super::{
    callback_or, consume, is_usable, issue, millis, quota, retire_all, Purpose, TokenRequest,
};
use crate::error::ApiError;
use crate::json::JsonBody;
use crate::mail::compose::{self, DEFAULT_RESET_CALLBACK};
use crate::mail::MailKind;
use crate::users::{self, Email, Password};
use crate::AppState;

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
    let ttl = state.reset_ttl();
    let mailer = state.mailer();
    let mut transaction = state.pool().begin().await?;
    let token = issue(
        &mut *transaction,
        Purpose::ResetPassword,
        &user.id,
        now,
        millis(ttl),
    )
    .await?;
    let mail = compose::reset_mail(
        mailer.public_url(),
        &user.email,
        token.expose_secret(),
        callback,
        &compose::ttl_text(ttl),
    );
    mailer
        .write(
            &mut *transaction,
            &mail,
            MailKind::PasswordReset,
            now,
            now.saturating_add(millis(ttl)),
        )
        .await?;
    transaction.commit().await?;
    mailer.wake();
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
/// INVALID_TOKEN` (unknown, used, expired), `PASSWORD_TOO_SHORT`/`LONG`. Of two concurrent
/// resets with one token exactly one succeeds; every session of the user is revoked.
pub async fn reset_password(
    State(state): State<AppState>,
    JsonBody(request): JsonBody<NewPasswordRequest>,
) -> Result<Json<PasswordReset>, ApiError> {
    let password = Password::parse(request.new_password)?;
    let token = request.token.expose_secret();
    // A cheap look first, so a dead link costs no hashing; the use itself is decided below.
    if !is_usable(
        state.pool(),
        token,
        Purpose::ResetPassword,
        state.clock().now_millis(),
    )
    .await?
    {
        return Err(ApiError::InvalidResetToken);
    }
    let new_hash = state.hasher().hash(password).await?;

    let now = state.clock().now_millis();
    // The first statement writes, so SQLite takes the write lock at once.
    let mut write = state.sessions().begin().await?;
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
    Ok(Json(PasswordReset { status: true }))
}
