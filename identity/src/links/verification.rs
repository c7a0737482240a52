//! Email verification: the mail at sign-up and on request, and the link's use, which marks the
//! address verified. An unknown or already verified address gets the same answer and no mail;
//! with verification required, sign-up for a taken address mails its owner a notice instead.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};

use super::{
    callback_or, consume, mail_link, millis, quota, refusal, retire_all, LinkMail, Purpose,
    Refusal, TokenRequest,
};
use crate::error::ApiError;
use crate::json::JsonBody;
use crate::mail::compose::{self, DEFAULT_VERIFY_CALLBACK};
use crate::mail::MailKind;
use crate::users::{self, Email, User, UserJson};
use crate::AppState;

/// `POST /v1/verification/send` body.
#[derive(Deserialize)]
pub struct SendVerificationRequest {
    email: String,
    #[serde(default)]
    callback_url: Option<String>,
}

/// `{"status": true}`.
#[derive(Serialize)]
pub struct StatusTrue {
    status: bool,
}

/// What a used verification link answers.
#[derive(Serialize)]
pub struct Verified<'a> {
    status: bool,
    user: UserJson<'a>,
}

/// `POST /v1/verification/send` → `200 {"status":true}` whether or not a mail goes out. The
/// answer does not wait for the lookup or the mail, so neither it nor its timing tells a known,
/// unverified address from another.
pub async fn send_verification_email(
    State(state): State<AppState>,
    JsonBody(request): JsonBody<SendVerificationRequest>,
) -> Result<Json<StatusTrue>, ApiError> {
    let email = Email::parse(&request.email)?;
    let callback = callback_or(request.callback_url.as_deref(), DEFAULT_VERIFY_CALLBACK)?;
    let now = state.clock().now_millis();
    state.mailer().clone().spawn_after_answer(async move {
        let mailed = match users::find_by_email(state.pool(), &email).await {
            Ok(Some(found)) if !found.user.email_verified => {
                mail_verification_link(&state, &found.user, &callback, now).await
            }
            Ok(_) => Ok(()),
            Err(err) => Err(err),
        };
        if let Err(err) = mailed {
            tracing::error!(error = %err, "verification mail not sent");
        }
    });
    Ok(Json(StatusTrue { status: true }))
}

/// Sends the verification mail of a new user; a failure is logged and does not fail sign-up.
pub async fn send_verification_after_sign_up(state: &AppState, user: &User) {
    let now = state.clock().now_millis();
    if let Err(err) = mail_verification_link(state, user, DEFAULT_VERIFY_CALLBACK, now).await {
        tracing::error!(user_id = %user.id, error = %err, "verification mail not sent");
    }
}

/// Issues a token and queues its mail, unless the address has had its quota of such mails.
async fn mail_verification_link(
    state: &AppState,
    user: &User,
    callback: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    if !quota::claim(state.pool(), &user.email, Purpose::VerifyEmail, now).await? {
        tracing::info!(user_id = %user.id, "verification mail not sent: quota spent");
        return Ok(());
    }
    let link = LinkMail {
        purpose: Purpose::VerifyEmail,
        ttl: state.verification_ttl(),
        kind: MailKind::EmailVerification,
        compose: compose::verification_mail,
    };
    mail_link(state, user, link, callback, now).await?;
    tracing::info!(user_id = %user.id, "verification mail queued");
    Ok(())
}

/// Sign-up for an address that already has an account, with verification required (DESIGN
/// §14): instead of a verification link, the owner gets a notice. It counts against the same
/// quota as the verification mail a new address gets, so the two cases stay alike; a failure is
/// logged and changes no answer.
pub async fn notify_owner_of_sign_up_attempt(state: &AppState, email: &Email) {
    let now = state.clock().now_millis();
    let mailed = async {
        if !quota::claim(state.pool(), email.as_str(), Purpose::VerifyEmail, now).await? {
            tracing::info!("sign-up notice not sent: quota spent");
            return Ok(());
        }
        let mailer = state.mailer();
        let mail = compose::sign_up_notice_mail(mailer.public_url(), email.as_str());
        let expires_at = now.saturating_add(millis(state.verification_ttl()));
        let mut transaction = state.pool().begin().await?;
        mailer
            .write(
                &mut *transaction,
                &mail,
                MailKind::SignUpNotice,
                now,
                expires_at,
            )
            .await?;
        transaction.commit().await?;
        mailer.wake();
        tracing::info!("sign-up for a taken address: notice queued for its owner");
        Ok::<(), sqlx::Error>(())
    };
    if let Err(err) = mailed.await {
        tracing::error!(error = %err, "sign-up notice not sent");
    }
}

/// `POST /v1/verification/verify` `{token}` → `200 {"status":true,"user"}` and the address is
/// verified; `401 INVALID_TOKEN` (unknown, used, other purpose) or `401 TOKEN_EXPIRED`.
pub async fn verify_email(
    State(state): State<AppState>,
    JsonBody(request): JsonBody<TokenRequest>,
) -> Result<Response, ApiError> {
    let token = request.token.expose_secret();
    let now = state.clock().now_millis();
    // The first statement writes, so SQLite takes the write lock at once.
    let mut write = state.sessions().begin().await?;
    let Some(user_id) = consume(write.connection(), token, Purpose::VerifyEmail, now).await? else {
        drop(write);
        return Err(
            match refusal(state.pool(), token, Purpose::VerifyEmail, now).await? {
                Refusal::Invalid => ApiError::InvalidVerificationToken,
                Refusal::Expired => ApiError::VerificationTokenExpired,
            },
        );
    };
    let Some(user) = users::mark_email_verified(write.connection(), &user_id, now).await? else {
        return Err(ApiError::InvalidVerificationToken);
    };
    write.user_changed(&user_id);
    retire_all(write.connection(), &user_id, Purpose::VerifyEmail, now).await?;
    write.commit().await?;
    tracing::info!(user_id = %user.id, "email address verified");
    Ok(Json(Verified {
        status: true,
        user: user.to_json(),
    })
    .into_response())
}
