//! The signed-in user's endpoints (better-auth-shapes.md §3): list-sessions, revoke-session,
//! revoke-sessions, revoke-other-sessions, change-password, update-user and delete-user. Each
//! needs the session cookie (none → `401` without asking identity) and passes it, with the
//! client, to identity, which decides everything; a session identity refuses gets `401` and the
//! cookie cleared. Listings carry public handles only: a body never holds a secret token.

use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use http::header::{CACHE_CONTROL, SET_COOKIE};
use http::request::Parts;
use http::{HeaderMap, HeaderValue, StatusCode};
use serde_json::{json, Map, Value};

use super::input::{ChangePasswordInput, DeleteUserInput, RevokeSessionInput, UpdateUserInput};
use super::{require_safe_callback, session_cookie_and_handle};
use crate::body::Encodings;
use crate::browser::{client_ip, user_agent};
use crate::cookie::CookieToken;
use crate::error::EdgeError;
use crate::identity::{self, session_handle, SessionLookup};
use crate::origin::Endpoint;
use crate::AppState;

/// The signed-in browser behind a request, as identity needs to know it.
pub(super) struct SignedInBrowser<'a> {
    token: CookieToken<'a>,
    client_ip: String,
    user_agent: &'a str,
}

impl<'a> SignedInBrowser<'a> {
    /// The caller of an endpoint that needs a session (see [`session_cookie`]).
    pub(super) fn of(state: &AppState, parts: &'a Parts) -> Result<Self, EdgeError> {
        Ok(SignedInBrowser {
            token: session_cookie(state, &parts.headers)?,
            client_ip: client_ip(&parts.extensions)?,
            user_agent: user_agent(&parts.headers),
        })
    }

    /// The caller fields of identity's account endpoints.
    pub(super) fn lookup(&self) -> SessionLookup<'_> {
        SessionLookup {
            session_token: self.token.expose_secret(),
            client_ip: &self.client_ip,
            user_agent: self.user_agent,
        }
    }
}

/// The session token in the cookie: no cookie → `401` at once, identity not asked; a cookie that
/// cannot be a session token → `401` and the cookie cleared.
fn session_cookie<'a>(
    state: &AppState,
    headers: &'a HeaderMap,
) -> Result<CookieToken<'a>, EdgeError> {
    state.cookie.read(headers).ok_or_else(|| {
        if state.cookie.is_sent(headers) {
            session_rejected(state)
        } else {
            EdgeError::Unauthorized
        }
    })
}

fn session_rejected(state: &AppState) -> EdgeError {
    EdgeError::SessionRejected {
        clear_cookie: state.cookie.clear(),
    }
}

/// identity's `401` means the session is no longer good: answer `401` and clear the cookie, as
/// get-session does. Every other refusal is relayed unchanged.
pub(super) fn unless_session_refused(state: &AppState) -> impl Fn(EdgeError) -> EdgeError + '_ {
    move |err| match err {
        EdgeError::Relayed { status, .. } if status == StatusCode::UNAUTHORIZED => {
            session_rejected(state)
        }
        other => other,
    }
}

/// A state-changing request's parts and its body as `parse` reads it: the origin is checked
/// first, then that there is a session cookie at all, then the body (JSON only, within the
/// limit, empty meaning `{}`).
pub(super) async fn state_change<T>(
    state: &AppState,
    request: Request,
    parse: impl FnOnce(Map<String, Value>) -> Result<T, EdgeError>,
) -> Result<(Parts, T), EdgeError> {
    let (parts, body) = super::origin_checked(state, request, Endpoint::Other)?;
    session_cookie(state, &parts.headers)?;
    let object = super::read_object(&parts, body, Encodings::Json).await?;
    Ok((parts, parse(object)?))
}

/// `{"status": true}`, optionally clearing the cookie.
fn status_true(clear_cookie: Option<HeaderValue>) -> Response {
    let mut response = Json(json!({ "status": true })).into_response();
    if let Some(clear) = clear_cookie {
        response.headers_mut().insert(SET_COOKIE, clear);
    }
    response
}

/// `GET /list-sessions` → the caller's live sessions, each `token` a public handle; the current
/// one has the handle get-session shows. Needs a fresh session (`403 SESSION_NOT_FRESH`).
pub async fn list_sessions(
    State(state): State<AppState>,
    request: Request,
) -> Result<Response, EdgeError> {
    let (parts, _) = request.into_parts();
    let caller = SignedInBrowser::of(&state, &parts)?;
    let list = state
        .identity
        .list_sessions(&caller.lookup())
        .await
        .map_err(unless_session_refused(&state))?;
    for session in &list.sessions {
        session_handle(session, caller.token.expose_secret())?;
    }
    Ok((
        [(CACHE_CONTROL, HeaderValue::from_static("no-store"))],
        Json(list.sessions),
    )
        .into_response())
}

/// `POST /revoke-session {token}` → `{status: true}` whether or not the handle named one of the
/// caller's sessions; clears the cookie when it named the caller's own.
pub async fn revoke_session(
    State(state): State<AppState>,
    request: Request,
) -> Result<Response, EdgeError> {
    let (parts, input) = state_change(&state, request, RevokeSessionInput::from_body).await?;
    let caller = SignedInBrowser::of(&state, &parts)?;
    let revoked = state
        .identity
        .revoke_session(&identity::RevokeSession {
            caller: caller.lookup(),
            session_id: &input.token,
        })
        .await
        .map_err(unless_session_refused(&state))?;
    Ok(status_true(
        revoked.revoked_current.then(|| state.cookie.clear()),
    ))
}

/// `POST /revoke-sessions` → every session of the user ends, the caller's too; the cookie is
/// cleared. Needs a fresh session (DESIGN §6).
pub async fn revoke_sessions(
    State(state): State<AppState>,
    request: Request,
) -> Result<Response, EdgeError> {
    let (parts, _) = state_change(&state, request, Ok).await?;
    let caller = SignedInBrowser::of(&state, &parts)?;
    state
        .identity
        .revoke_all_sessions(&caller.lookup())
        .await
        .map_err(unless_session_refused(&state))?;
    Ok(status_true(Some(state.cookie.clear())))
}

/// `POST /revoke-other-sessions` → every session of the user but the caller's ends.
pub async fn revoke_other_sessions(
    State(state): State<AppState>,
    request: Request,
) -> Result<Response, EdgeError> {
    let (parts, _) = state_change(&state, request, Ok).await?;
    let caller = SignedInBrowser::of(&state, &parts)?;
    state
        .identity
        .revoke_other_sessions(&caller.lookup())
        .await
        .map_err(unless_session_refused(&state))?;
    Ok(status_true(None))
}

/// `POST /change-password {newPassword, currentPassword, revokeOtherSessions?}` → `{token,
/// user}`. The other sessions always end; with `revokeOtherSessions: true` the caller's too, and
/// a new session comes with a new cookie (`token` its handle), else `token` is `null`.
pub async fn change_password(
    State(state): State<AppState>,
    request: Request,
) -> Result<Response, EdgeError> {
    let (parts, input) = state_change(&state, request, ChangePasswordInput::from_body).await?;
    let caller = SignedInBrowser::of(&state, &parts)?;
    let changed = state
        .identity
        .change_password(&identity::ChangePassword {
            caller: caller.lookup(),
            current_password: input.current_password.expose_secret(),
            new_password: input.new_password.expose_secret(),
            revoke_other_sessions: input.revoke_other_sessions.unwrap_or(false),
        })
        .await
        .map_err(unless_session_refused(&state))?;

    let (set_cookie, token) = match (&changed.session, &changed.session_token) {
        (Some(session), Some(secret)) => {
            let (set_cookie, handle) =
                session_cookie_and_handle(&state, session, secret, changed.cookie_max_age)?;
            (Some(set_cookie), handle)
        }
        _ => (None, Value::Null),
    };
    let mut response = Json(json!({ "token": token, "user": changed.user })).into_response();
    if let Some(set_cookie) = set_cookie {
        response.headers_mut().insert(SET_COOKIE, set_cookie);
    }
    Ok(response)
}

/// `POST /update-user {name?, image?}` → `{status: true}`. The email address cannot be changed
/// here (`400 EMAIL_CAN_NOT_BE_UPDATED`, identity's word).
pub async fn update_user(
    State(state): State<AppState>,
    request: Request,
) -> Result<Response, EdgeError> {
    let (parts, input) = state_change(&state, request, UpdateUserInput::from_body).await?;
    let caller = SignedInBrowser::of(&state, &parts)?;
    state
        .identity
        .update_user(&identity::UpdateUser {
            caller: caller.lookup(),
            name: input.name.as_deref(),
            image: input.image.as_ref().map(Option::as_deref),
            email: input.email.as_ref(),
        })
        .await
        .map_err(unless_session_refused(&state))?;
    Ok(status_true(None))
}

/// `POST /delete-user {password?}` → `{success: true, message: "User deleted"}`: the account and
/// every session of it are gone and the cookie is cleared. Needs a fresh session or the
/// password.
pub async fn delete_user(
    State(state): State<AppState>,
    request: Request,
) -> Result<Response, EdgeError> {
    let (parts, input) = state_change(&state, request, DeleteUserInput::from_body).await?;
    require_safe_callback(input.callback_url.as_deref(), &state.public_origin)?;
    let caller = SignedInBrowser::of(&state, &parts)?;
    state
        .identity
        .delete_user(&identity::DeleteUser {
            caller: caller.lookup(),
            password: input.password.as_ref().map(|p| p.expose_secret()),
        })
        .await
        .map_err(unless_session_refused(&state))?;
    Ok((
        [(SET_COOKIE, state.cookie.clear())],
        Json(json!({ "success": true, "message": "User deleted" })),
    )
        .into_response())
}
