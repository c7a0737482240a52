//! The errors of identity's JSON API: each variant knows its status and stable Better-Auth
//! `code`; the client sees `{code, message}`, an internal cause is logged here, once, and never
//! sent. The OAuth errors of `/v1/token` have their own shape (see `exchange`).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use service_kit::ErrorBody;

use crate::keys::KeyError;
use crate::passwords::PasswordError;
use crate::sessions::SessionError;

/// Every way a JSON endpoint can fail.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The body has the wrong shape or a field breaks an input limit.
    #[error("{0}")]
    Validation(String),
    /// The body is not JSON at all.
    #[error("Invalid JSON in request body.")]
    MalformedJson,
    /// The body is not declared as JSON.
    #[error("Expected a request with Content-Type: application/json.")]
    UnsupportedMediaType,
    /// The email address is not a valid address.
    #[error("Invalid email.")]
    InvalidEmail,
    /// The new password has fewer than 8 characters.
    #[error("Password too short.")]
    PasswordTooShort,
    /// The new password has more than 128 characters.
    #[error("Password too long.")]
    PasswordTooLong,
    /// Another user has this email address.
    #[error("User already exists. Use another email.")]
    UserAlreadyExists,
    /// Unknown email or wrong password: one answer for both.
    #[error("Invalid email or password.")]
    InvalidEmailOrPassword,
    /// Sign-in needs a verified email address and this one is not.
    #[error("Email not verified.")]
    EmailNotVerified,
    /// No live session for the token presented.
    #[error("Unauthorized.")]
    Unauthorized,
    /// The change needs a session signed in less than `SESSION_FRESH_AGE` ago.
    #[error("Session is not fresh. Sign in again.")]
    SessionNotFresh,
    /// The current password given to confirm a change is wrong.
    #[error("Invalid password.")]
    InvalidPassword,
    /// A profile change tried to change the email address.
    #[error("Email can not be updated.")]
    EmailCanNotBeUpdated,
    /// A password-reset link's token is unknown, used up or expired.
    #[error("Invalid token.")]
    InvalidResetToken,
    /// An email-verification link's token is unknown, used up or for another purpose.
    #[error("Invalid token.")]
    InvalidVerificationToken,
    /// An email-verification link's token is past its expiry.
    #[error("Token expired.")]
    VerificationTokenExpired,
    /// No such route.
    #[error("Not found.")]
    NotFound,
    /// Password sign-in to this address (or from this device) is locked for a while.
    #[error("Too many failed sign-in attempts. Try again later.")]
    TooManyAttempts {
        /// Seconds until the lock ends.
        retry_after_secs: u64,
    },
    /// The password-hashing queue is full.
    #[error("The server is busy. Try again shortly.")]
    ServerBusy,
    /// The store failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Hashing or verifying a password failed.
    #[error("password hashing failed: {0}")]
    Password(PasswordError),
    /// Signing failed.
    #[error("signing failed: {0}")]
    Signing(#[from] KeyError),
}

impl ApiError {
    /// The HTTP status Better-Auth answers with.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Validation(_)
            | ApiError::MalformedJson
            | ApiError::InvalidEmail
            | ApiError::PasswordTooShort
            | ApiError::PasswordTooLong
            | ApiError::InvalidPassword
            | ApiError::EmailCanNotBeUpdated
            | ApiError::InvalidResetToken => StatusCode::BAD_REQUEST,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::UserAlreadyExists => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::InvalidEmailOrPassword
            | ApiError::Unauthorized
            | ApiError::InvalidVerificationToken
            | ApiError::VerificationTokenExpired => StatusCode::UNAUTHORIZED,
            ApiError::EmailNotVerified | ApiError::SessionNotFresh => StatusCode::FORBIDDEN,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::TooManyAttempts { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::ServerBusy => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Database(_) | ApiError::Password(_) | ApiError::Signing(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }

    /// The stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Validation(_) => "VALIDATION_ERROR",
            ApiError::MalformedJson => "BAD_REQUEST",
            ApiError::UnsupportedMediaType => "UNSUPPORTED_MEDIA_TYPE",
            ApiError::InvalidEmail => "INVALID_EMAIL",
            ApiError::PasswordTooShort => "PASSWORD_TOO_SHORT",
            ApiError::PasswordTooLong => "PASSWORD_TOO_LONG",
            ApiError::UserAlreadyExists => "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL",
            ApiError::InvalidEmailOrPassword => "INVALID_EMAIL_OR_PASSWORD",
            ApiError::EmailNotVerified => "EMAIL_NOT_VERIFIED",
            ApiError::Unauthorized => "UNAUTHORIZED",
            ApiError::SessionNotFresh => "SESSION_NOT_FRESH",
            ApiError::InvalidPassword => "INVALID_PASSWORD",
            ApiError::EmailCanNotBeUpdated => "EMAIL_CAN_NOT_BE_UPDATED",
            ApiError::InvalidResetToken | ApiError::InvalidVerificationToken => "INVALID_TOKEN",
            ApiError::VerificationTokenExpired => "TOKEN_EXPIRED",
            ApiError::NotFound => "NOT_FOUND",
            ApiError::TooManyAttempts { .. } => "TOO_MANY_ATTEMPTS",
            ApiError::ServerBusy => "SERVER_BUSY",
            ApiError::Database(_) | ApiError::Password(_) | ApiError::Signing(_) => {
                service_kit::error_body::INTERNAL_SERVER_ERROR
            }
        }
    }

    fn is_internal(&self) -> bool {
        self.status().is_server_error() && !matches!(self, ApiError::ServerBusy)
    }

    /// Seconds for `Retry-After`/`X-Retry-After`, for the refusals that have one.
    fn retry_after_secs(&self) -> Option<u64> {
        match self {
            ApiError::TooManyAttempts { retry_after_secs } => Some(*retry_after_secs),
            ApiError::ServerBusy => Some(crate::passwords::BUSY_RETRY_AFTER_SECS),
            _ => None,
        }
    }
}

impl From<PasswordError> for ApiError {
    /// A full queue is the client's to retry; anything else is internal.
    fn from(error: PasswordError) -> Self {
        match error {
            PasswordError::Busy => ApiError::ServerBusy,
            other => ApiError::Password(other),
        }
    }
}

impl From<SessionError> for ApiError {
    /// Every session refusal is one answer (the reason is already logged); a store failure stays
    /// internal.
    fn from(error: SessionError) -> Self {
        match error {
            SessionError::Refused(_) => ApiError::Unauthorized,
            SessionError::Database(error) => ApiError::Database(error),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let message = if self.is_internal() {
            tracing::error!(error = %self, "request failed");
            "Something went wrong on our side.".to_owned()
        } else {
            self.to_string()
        };
        let body = ErrorBody {
            code: self.code(),
            message: message.into(),
        };
        let mut response = (self.status(), Json(body)).into_response();
        if let Some(seconds) = self.retry_after_secs() {
            let value = axum::http::HeaderValue::from(seconds);
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, value.clone());
            response.headers_mut().insert("x-retry-after", value);
        }
        response
    }
}

/// Unknown routes answer `404 {"code":"NOT_FOUND"}`.
pub async fn not_found() -> ApiError {
    ApiError::NotFound
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn internal_causes_are_not_sent_to_the_client() {
        let error = ApiError::Database(sqlx::Error::Protocol("secret detail".into()));
        assert_eq!(error.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let response = error.into_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("the body is read");
        let text = String::from_utf8_lossy(&body);
        assert!(!text.contains("secret detail"), "{text}");
        let json: serde_json::Value = serde_json::from_slice(&body).expect("the body is JSON");
        assert_eq!(
            json,
            serde_json::json!({"code": "INTERNAL_SERVER_ERROR", "message": "Something went wrong on our side."})
        );
    }

    #[test]
    fn duplicate_email_is_422_with_the_better_auth_code() {
        assert_eq!(
            ApiError::UserAlreadyExists.status(),
            StatusCode::UNPROCESSABLE_ENTITY
        );
        assert_eq!(
            ApiError::UserAlreadyExists.code(),
            "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL"
        );
    }

    #[test]
    fn sensitive_changes_on_a_stale_session_are_403_session_not_fresh() {
        assert_eq!(ApiError::SessionNotFresh.status(), StatusCode::FORBIDDEN);
        assert_eq!(ApiError::SessionNotFresh.code(), "SESSION_NOT_FRESH");
        assert_eq!(
            (
                ApiError::InvalidPassword.status(),
                ApiError::InvalidPassword.code()
            ),
            (StatusCode::BAD_REQUEST, "INVALID_PASSWORD")
        );
    }

    #[test]
    fn dead_links_answer_as_better_auth_does() {
        let pairs = |error: ApiError| (error.status(), error.code());
        assert_eq!(
            pairs(ApiError::InvalidResetToken),
            (StatusCode::BAD_REQUEST, "INVALID_TOKEN")
        );
        assert_eq!(
            pairs(ApiError::InvalidVerificationToken),
            (StatusCode::UNAUTHORIZED, "INVALID_TOKEN")
        );
        assert_eq!(
            pairs(ApiError::VerificationTokenExpired),
            (StatusCode::UNAUTHORIZED, "TOKEN_EXPIRED")
        );
    }

    #[test]
    fn a_lock_and_a_full_queue_say_when_to_come_back() {
        let locked = ApiError::TooManyAttempts {
            retry_after_secs: 42,
        }
        .into_response();
        assert_eq!(locked.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(locked.headers()["retry-after"], "42");
        assert_eq!(locked.headers()["x-retry-after"], "42");
        let busy = ApiError::from(PasswordError::Busy);
        assert_eq!(
            (busy.status(), busy.code()),
            (StatusCode::SERVICE_UNAVAILABLE, "SERVER_BUSY")
        );
        assert!(busy.into_response().headers().contains_key("retry-after"));
    }

    #[test]
    fn every_session_refusal_is_unauthorized() {
        let refused = ApiError::from(SessionError::Refused(
            crate::sessions::Refusal::UserAgentMismatch,
        ));
        assert_eq!(
            (refused.status(), refused.code()),
            (StatusCode::UNAUTHORIZED, "UNAUTHORIZED")
        );
    }
}
