//! Changing the password (DESIGN §3, §6): needs a fresh session and the current password; the
//! new hash, and the revocation of the user's other sessions, commit together or not at all.
//! With `revoke_other_sessions` every session goes, the caller's included, and the caller gets a
//! new one (Better-Auth's behaviour). Never logs or returns a password.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use secrecy::SecretString;
use serde::Deserialize;

use super::{authenticate, Credentials, NewSession, SignedIn};
use crate::error::ApiError;
use crate::json::JsonBody;
use crate::sessions::SessionToken;
use crate::users::{self, Password};
use crate::AppState;

/// `POST /v1/password/change` body.
#[derive(Deserialize)]
pub struct ChangePasswordRequest {
    #[serde(flatten)]
    credentials: Credentials,
    current_password: SecretString,
    new_password: SecretString,
    /// Also end the caller's own session and start a new one.
    #[serde(default)]
    revoke_other_sessions: bool,
}

/// What becomes of the user's sessions when the password changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SessionsAfterChange {
    /// The caller's session stays; every other one is revoked.
    KeepCurrent,
    /// Every session is revoked and the caller gets a new one.
    ReplaceAll,
}

impl SessionsAfterChange {
    /// A password change always ends the other sessions (DESIGN §3); asked to, the current too.
    fn asked(revoke_other_sessions: bool) -> SessionsAfterChange {
        if revoke_other_sessions {
            SessionsAfterChange::ReplaceAll
        } else {
            SessionsAfterChange::KeepCurrent
        }
    }
}

/// `POST /v1/password/change` → `{user, session, session_token, cookie_max_age}`, the last three
/// `null` unless a new session was started.
pub async fn change_password(
    State(state): State<AppState>,
    JsonBody(request): JsonBody<ChangePasswordRequest>,
) -> Result<Response, ApiError> {
    let caller = authenticate(&state, &request.credentials).await?;
    caller.require_fresh(&state)?;
    let new_password = Password::parse(request.new_password)?;
    let user_id = caller.live.user.id.as_str();

    // A current password outside the limits was never accepted, so it cannot match.
    let current =
        Password::parse(request.current_password).map_err(|_| ApiError::InvalidPassword)?;
    let stored = users::password_hash(state.pool(), user_id)
        .await?
        .ok_or(ApiError::Unauthorized)?;
    if !state.hasher().verify(current, Some(stored.clone())).await? {
        tracing::info!(user_id, "password change refused: wrong current password");
        return Err(ApiError::InvalidPassword);
    }
    let new_hash = state.hasher().hash(new_password).await?;

    // The transaction's first statement writes, so SQLite takes the write lock at once (waiting
    // out another writer) instead of failing a read-to-write upgrade.
    let now = caller.now;
    let mut write = state.sessions().begin().await?;
    let Some(user) =
        users::replace_password_hash(write.connection(), user_id, &stored, &new_hash, now).await?
    else {
        // Another change won the race since the current password was checked.
        return Err(ApiError::InvalidPassword);
    };
    write.user_changed(user_id);
    let new_session = match SessionsAfterChange::asked(request.revoke_other_sessions) {
        SessionsAfterChange::KeepCurrent => {
            write
                .end_all_but(user_id, &caller.live.session.id, now)
                .await?;
            None
        }
        SessionsAfterChange::ReplaceAll => {
            write.end_all(user_id, now).await?;
            let token = SessionToken::generate();
            let remember = caller.live.session.times.remember;
            let session = write
                .create(user_id, &token.hash(), &caller.client, remember, now)
                .await?;
            Some(NewSession { session, token })
        }
    };
    write.commit().await?;
    tracing::info!(
        event = "password.changed",
        user_id,
        session_id = %caller.live.session.id,
        new_session = new_session.is_some(),
        client_ip = %caller.client.ip,
        user_agent = caller.client.user_agent.as_str(),
        "password changed; other sessions revoked"
    );
    Ok(Json(SignedIn::new(&user, new_session.as_ref(), now)).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_change_always_ends_the_other_sessions_and_the_current_only_when_asked() {
        assert_eq!(
            SessionsAfterChange::asked(false),
            SessionsAfterChange::KeepCurrent
        );
        assert_eq!(
            SessionsAfterChange::asked(true),
            SessionsAfterChange::ReplaceAll
        );
    }

    #[test]
    fn the_request_needs_both_passwords_and_defaults_to_keeping_the_session() {
        let body = r#"{"session_token":"t","client_ip":"127.0.0.1","user_agent":"ua",
                      "current_password":"old password","new_password":"new password"}"#;
        let request: ChangePasswordRequest = serde_json::from_str(body).unwrap();
        assert!(!request.revoke_other_sessions);
        let missing =
            r#"{"session_token":"t","client_ip":"127.0.0.1","user_agent":"ua","new_password":"x"}"#;
        assert!(serde_json::from_str::<ChangePasswordRequest>(missing).is_err());
    }
}
