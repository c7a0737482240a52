//! The caller's own sessions: listing them (fresh session required) and revoking one by its
//! public handle, all but the current one, or all of them (both fresh session required). A caller
//! can only ever see or revoke sessions of their own user; a listing carries each session's
//! public handle in `token`, never a secret.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};

use super::{authenticate, Credentials};
use crate::error::ApiError;
use crate::json::JsonBody;
use crate::sessions::{self, SessionJson};
use crate::AppState;

/// The longest handle looked at: handles are UUIDs (36 characters); anything much longer is not
/// one and is refused rather than looked up.
const HANDLE_MAX_CHARS: usize = 128;

/// `POST /v1/sessions/list`, `/v1/sessions/revoke-others` and `/v1/sessions/revoke-all` body.
#[derive(Deserialize)]
pub struct CallerRequest {
    #[serde(flatten)]
    credentials: Credentials,
}

/// `POST /v1/sessions/revoke` body.
#[derive(Deserialize)]
pub struct RevokeRequest {
    #[serde(flatten)]
    credentials: Credentials,
    /// The public handle (id) of the session to revoke.
    session_id: String,
}

/// What the listing answers.
#[derive(Serialize)]
pub struct SessionList<'a> {
    /// The user's live sessions, newest first.
    sessions: Vec<SessionJson<'a>>,
    /// The handle of the caller's own session (one of `sessions`).
    current_session_id: &'a str,
}

/// What a revocation answers.
#[derive(Serialize)]
pub struct Revoked {
    status: bool,
    /// Whether the caller's own session is now revoked (edge then clears the cookie).
    revoked_current: bool,
}

/// Checks a session handle's shape: a non-empty string of bounded length. Whether it names one
/// of the caller's sessions is for the store to say.
fn parse_handle(handle: &str) -> Result<&str, ApiError> {
    match handle.chars().count() {
        0 => Err(ApiError::Validation(
            "[body.token] Session token must not be empty.".into(),
        )),
        n if n > HANDLE_MAX_CHARS => Err(ApiError::Validation(format!(
            "[body.token] Session token must be at most {HANDLE_MAX_CHARS} characters."
        ))),
        _ => Ok(handle),
    }
}

/// `POST /v1/sessions/list`: the caller's live sessions. Needs a fresh session.
pub async fn list_sessions(
    State(state): State<AppState>,
    JsonBody(request): JsonBody<CallerRequest>,
) -> Result<Response, ApiError> {
    let caller = authenticate(&state, &request.credentials).await?;
    caller.require_fresh(state.session_policy())?;
    let sessions = state
        .sessions()
        .list_live(&caller.live.user.id, caller.now)
        .await?;
    let list = SessionList {
        sessions: sessions.iter().map(sessions::Session::to_json).collect(),
        current_session_id: &caller.live.session.id,
    };
    Ok(Json(list).into_response())
}

/// `POST /v1/sessions/revoke`: revokes one of the caller's sessions by handle. Answers the same
/// whether or not the handle named one (Better-Auth does too).
pub async fn revoke_session(
    State(state): State<AppState>,
    JsonBody(request): JsonBody<RevokeRequest>,
) -> Result<Json<Revoked>, ApiError> {
    let handle = parse_handle(&request.session_id)?;
    let caller = authenticate(&state, &request.credentials).await?;
    let user_id = &caller.live.user.id;
    let mut change = state.sessions().begin().await?;
    let revoked = change.end_by_id(user_id, handle, caller.now).await?;
    change.commit().await?;
    if revoked {
        tracing::info!(
            event = "session.revoked",
            user_id = %user_id,
            session_id = %handle,
            client_ip = %caller.client.ip,
            user_agent = caller.client.user_agent.as_str(),
            "session revoked by its user"
        );
    }
    Ok(Json(Revoked {
        status: true,
        revoked_current: revoked && handle == caller.live.session.id,
    }))
}

/// `POST /v1/sessions/revoke-others`: revokes every session of the caller's user but the
/// caller's own. Needs a fresh session (DESIGN §6), so a stolen old cookie cannot sign the owner
/// out everywhere else.
pub async fn revoke_other_sessions(
    State(state): State<AppState>,
    JsonBody(request): JsonBody<CallerRequest>,
) -> Result<Json<Revoked>, ApiError> {
    revoke_many(&state, &request, Scope::Others).await
}

/// `POST /v1/sessions/revoke-all`: revokes every session of the caller's user, the caller's
/// own included. Needs a fresh session (DESIGN §6).
pub async fn revoke_all_sessions(
    State(state): State<AppState>,
    JsonBody(request): JsonBody<CallerRequest>,
) -> Result<Json<Revoked>, ApiError> {
    revoke_many(&state, &request, Scope::All).await
}

/// Which of the caller's user's sessions a revocation ends.
#[derive(Clone, Copy)]
enum Scope {
    /// All but the caller's own.
    Others,
    /// All, the caller's own included.
    All,
}

/// Ends the sessions of `scope` for a fresh caller.
async fn revoke_many(
    state: &AppState,
    request: &CallerRequest,
    scope: Scope,
) -> Result<Json<Revoked>, ApiError> {
    let caller = authenticate(state, &request.credentials).await?;
    caller.require_fresh(state.session_policy())?;
    let user_id = &caller.live.user.id;
    let mut change = state.sessions().begin().await?;
    let count = match scope {
        Scope::Others => {
            change
                .end_all_but(user_id, &caller.live.session.id, caller.now)
                .await?
        }
        Scope::All => change.end_all(user_id, caller.now).await?,
    };
    change.commit().await?;
    let (scope_name, message) = match scope {
        Scope::Others => ("others", "other sessions revoked by their user"),
        Scope::All => ("all", "all sessions revoked by their user"),
    };
    tracing::info!(
        event = "session.revoked",
        scope = scope_name,
        user_id = %user_id,
        count,
        client_ip = %caller.client.ip,
        user_agent = caller.client.user_agent.as_str(),
        "{message}"
    );
    Ok(Json(Revoked {
        status: true,
        revoked_current: matches!(scope, Scope::All),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_handle_is_a_non_empty_string_of_bounded_length() {
        assert_eq!(
            parse_handle("0b8f6a5e-2d1c-4c55-9c1d-6f0e7a1b2c3d")
                .unwrap()
                .len(),
            36
        );
        assert!(
            parse_handle("not-a-uuid-but-harmless").is_ok(),
            "the store decides what it names"
        );
        assert!(matches!(parse_handle(""), Err(ApiError::Validation(_))));
        assert!(parse_handle(&"é".repeat(128)).is_ok());
        assert!(matches!(
            parse_handle(&"x".repeat(129)),
            Err(ApiError::Validation(_))
        ));
    }
}
