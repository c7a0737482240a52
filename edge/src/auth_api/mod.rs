//! The Better-Auth-compatible JSON API under `/api/auth/` (better-auth-shapes.md): sign-up,
//! sign-in, get-session, sign-out and ok here, the signed-in user's sessions and account in
//! `account`, and the mail links (verification, password reset) in `mail_flows`. Handlers check
//! origin and body, call identity,
//! relay its refusals unchanged and set or clear the session cookie. The secret session token goes only into `Set-Cookie`, never into
//! a body.

mod account;
pub(crate) mod input;
mod mail_flows;
pub(crate) mod social;

use axum::extract::{Request, State};
use axum::handler::Handler;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post, MethodRouter};
use axum::{Json, Router};
use http::header::{CACHE_CONTROL, LOCATION, SET_COOKIE};
use http::request::Parts;
use http::{HeaderValue, StatusCode};
use serde::Serialize;
use serde_json::{json, Value};

use self::input::{SignInInput, SignOutInput, SignUpInput};
use crate::body::{parse_object, read_limited, Encodings, AUTH_BODY_LIMIT};
use crate::browser::{client_ip, user_agent};
use crate::error::EdgeError;
use crate::identity::{self, session_handle, IssuedSecret};
use crate::origin::{is_safe_callback, Endpoint, PublicOrigin};
use crate::AppState;

/// The `/api/auth/*` routes but the [`rate_limited_routes`]; anything else under `/api/auth` is
/// `404` with an empty body.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/auth/get-session", get_only(get_session))
        .route("/api/auth/sign-out", post_only(sign_out))
        .route("/api/auth/ok", get_only(ok))
        .route("/api/auth/list-sessions", get_only(account::list_sessions))
        .route(
            "/api/auth/revoke-session",
            post_only(account::revoke_session),
        )
        .route(
            "/api/auth/revoke-sessions",
            post_only(account::revoke_sessions),
        )
        .route(
            "/api/auth/revoke-other-sessions",
            post_only(account::revoke_other_sessions),
        )
        .route("/api/auth/update-user", post_only(account::update_user))
        .route("/api/auth/delete-user", post_only(account::delete_user))
        .route("/api/auth/verify-email", get_only(mail_flows::verify_email))
        .route(
            "/api/auth/reset-password/{token}",
            get_only(mail_flows::reset_password_link),
        )
        .merge(social::routes())
        .route("/api/auth", any(not_found))
        .route("/api/auth/", any(not_found))
        .route("/api/auth/{*rest}", any(not_found))
}

/// The routes that hash a password or send a mail, which edge puts behind the per-address limit
/// (DESIGN §14), social sign-in's start among them.
pub fn rate_limited_routes() -> Router<AppState> {
    Router::new()
        .route("/api/auth/sign-up/email", post_only(sign_up_email))
        .route("/api/auth/sign-in/email", post_only(sign_in_email))
        .route(
            "/api/auth/change-password",
            post_only(account::change_password),
        )
        .route(
            "/api/auth/send-verification-email",
            post_only(mail_flows::send_verification_email),
        )
        .route(
            "/api/auth/request-password-reset",
            post_only(mail_flows::request_password_reset),
        )
        .route(
            "/api/auth/reset-password",
            post_only(mail_flows::reset_password),
        )
        .merge(social::rate_limited_routes())
}

/// `POST /sign-up/email`: creates the account and signs in → `{token, user}` + cookie.
async fn sign_up_email(
    State(state): State<AppState>,
    request: Request,
) -> Result<Response, EdgeError> {
    let (parts, body) = origin_checked(&state, request, Endpoint::LoginForm)?;
    let input = SignUpInput::from_body(read_object(&parts, body, Encodings::JsonOrForm).await?)?;
    require_safe_callback(input.callback_url.as_deref(), &state.public_origin)?;

    let client_ip = client_ip(&parts.extensions)?;
    let signed_in = state
        .identity
        .sign_up(&identity::SignUp {
            name: &input.name,
            email: &input.email,
            password: input.password.expose_secret(),
            image: input.image.as_deref(),
            remember_me: input.remember_me.unwrap_or(true),
            client_ip: &client_ip,
            user_agent: user_agent(&parts.headers),
            previous_session_token: previous_session(&state, &parts),
        })
        .await?;

    // With REQUIRE_EMAIL_VERIFICATION identity starts no session: `{token: null, user}`, no
    // cookie (Better-Auth's answer).
    let Some(session_token) = &signed_in.session_token else {
        let body = SignedUpBody {
            token: Value::Null,
            user: signed_in.user,
        };
        return Ok(Json(body).into_response());
    };
    let (set_cookie, token) = session_cookie_and_handle(
        &state,
        &signed_in.session,
        session_token,
        signed_in.cookie_max_age,
    )?;
    let body = SignedUpBody {
        token,
        user: signed_in.user,
    };
    let mut response = ([(SET_COOKIE, set_cookie)], Json(body)).into_response();
    if let Some(device) = device_cookie(&state, signed_in.device_token.as_ref())? {
        response.headers_mut().append(SET_COOKIE, device);
    }
    Ok(response)
}

#[derive(Serialize)]
struct SignedUpBody {
    token: Value,
    user: Value,
}

/// `POST /sign-in/email`: checks the password and opens a new session (revoking the one the
/// browser presented) → `{redirect, token, url?, user}` + cookie.
async fn sign_in_email(
    State(state): State<AppState>,
    request: Request,
) -> Result<Response, EdgeError> {
    let (parts, body) = origin_checked(&state, request, Endpoint::LoginForm)?;
    let input = SignInInput::from_body(read_object(&parts, body, Encodings::JsonOrForm).await?)?;
    let location = require_safe_callback(input.callback_url.as_deref(), &state.public_origin)?;

    let client_ip = client_ip(&parts.extensions)?;
    let signed_in = state
        .identity
        .sign_in(&identity::SignIn {
            email: &input.email,
            password: input.password.expose_secret(),
            remember_me: input.remember_me.unwrap_or(true),
            client_ip: &client_ip,
            user_agent: user_agent(&parts.headers),
            previous_session_token: previous_session(&state, &parts),
            device_token: state
                .device_cookie
                .read(&parts.headers)
                .map(|token| token.expose_secret()),
        })
        .await?;

    let session_token = signed_in
        .session_token
        .as_ref()
        .ok_or_else(|| EdgeError::identity_contract("sign-in answered without a session"))?;
    let (set_cookie, token) = session_cookie_and_handle(
        &state,
        &signed_in.session,
        session_token,
        signed_in.cookie_max_age,
    )?;
    let body = SignedInBody {
        redirect: location.is_some(),
        token,
        url: input.callback_url.as_deref(),
        user: signed_in.user,
    };
    let mut response = ([(SET_COOKIE, set_cookie)], Json(body)).into_response();
    if let Some(device) = device_cookie(&state, signed_in.device_token.as_ref())? {
        response.headers_mut().append(SET_COOKIE, device);
    }
    if let Some(location) = location {
        response.headers_mut().insert(LOCATION, location);
    }
    Ok(response)
}

#[derive(Serialize)]
struct SignedInBody<'a> {
    redirect: bool,
    token: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<&'a str>,
    user: Value,
}

/// `GET /get-session`: `{session, user}`, or a literal `null` when signed out; never cached.
async fn get_session(State(state): State<AppState>, request: Request) -> Response {
    let (parts, _) = request.into_parts();
    let answer = current_session(&state, &parts).await;
    (
        [(CACHE_CONTROL, HeaderValue::from_static("no-store"))],
        answer,
    )
        .into_response()
}

async fn current_session(state: &AppState, parts: &Parts) -> Result<Response, EdgeError> {
    let Some(token) = state.cookie.read(&parts.headers) else {
        let unusable_cookie = state.cookie.is_sent(&parts.headers);
        return Ok(signed_out(state, unusable_cookie));
    };
    let client_ip = client_ip(&parts.extensions)?;
    let lookup = identity::SessionLookup {
        session_token: token.expose_secret(),
        client_ip: &client_ip,
        user_agent: user_agent(&parts.headers),
    };
    let Some(current) = state.identity.session(&lookup).await? else {
        return Ok(signed_out(state, true));
    };
    session_handle(&current.session, token.expose_secret())?;
    let refreshed_cookie = if current.refreshed {
        Some(
            state
                .cookie
                .set(token.expose_secret(), current.cookie_max_age)
                .ok_or(EdgeError::Internal(
                    "a plausible cookie token could not be set again",
                ))?,
        )
    } else {
        None
    };
    let mut response =
        Json(json!({ "session": current.session, "user": current.user })).into_response();
    if let Some(cookie) = refreshed_cookie {
        response.headers_mut().insert(SET_COOKIE, cookie);
    }
    Ok(response)
}

/// `200 null`, clearing the cookie when the browser sent one that is no longer good.
fn signed_out(state: &AppState, clear_cookie: bool) -> Response {
    let mut response = Json(Value::Null).into_response();
    if clear_cookie {
        response
            .headers_mut()
            .insert(SET_COOKIE, state.cookie.clear());
    }
    response
}

/// `POST /sign-out`: revokes the session if a cookie is present and always clears the cookie.
async fn sign_out(State(state): State<AppState>, request: Request) -> Result<Response, EdgeError> {
    let (parts, body) = origin_checked(&state, request, Endpoint::Other)?;
    let input = SignOutInput::from_body(read_object(&parts, body, Encodings::Json).await?)?;
    require_safe_callback(input.callback_url.as_deref(), &state.public_origin)?;

    let clear = [(SET_COOKIE, state.cookie.clear())];
    if let Some(token) = state.cookie.read(&parts.headers) {
        // If identity could not revoke the session, say so: a success here would promise that
        // the session is over.
        if let Err(err) = state.identity.sign_out(token).await {
            return Ok((clear, err).into_response());
        }
    }
    Ok((clear, Json(json!({ "success": true }))).into_response())
}

/// The first step of every state-changing auth request: only the public origin may make it
/// (by the rules for `endpoint`).
fn origin_checked(
    state: &AppState,
    request: Request,
    endpoint: Endpoint,
) -> Result<(Parts, axum::body::Body), EdgeError> {
    let (parts, body) = request.into_parts();
    state.public_origin.check(&parts, endpoint)?;
    Ok((parts, body))
}

/// An auth request's object body: within the limit, in one of `encodings`, empty meaning `{}`.
async fn read_object(
    parts: &Parts,
    body: axum::body::Body,
    encodings: Encodings,
) -> Result<serde_json::Map<String, Value>, EdgeError> {
    let bytes = read_limited(&parts.headers, body, AUTH_BODY_LIMIT).await?;
    parse_object(&parts.headers, &bytes, encodings)
}

/// `handler` for `POST`; any other method is `404` with an empty body, as Better-Auth answers.
fn post_only<H: Handler<T, AppState>, T: 'static>(handler: H) -> MethodRouter<AppState> {
    post(handler).fallback(not_found)
}

/// `handler` for `GET`; any other method is `404` with an empty body, as Better-Auth answers.
fn get_only<H: Handler<T, AppState>, T: 'static>(handler: H) -> MethodRouter<AppState> {
    get(handler).fallback(not_found)
}

/// `GET /ok`.
async fn ok() -> Json<Value> {
    Json(json!({ "ok": true }))
}

/// Unknown routes and wrong methods: `404` with an empty body.
async fn not_found() -> StatusCode {
    StatusCode::NOT_FOUND
}

/// The `Location` for a callback, refusing one that leaves the public origin.
fn require_safe_callback(
    callback: Option<&str>,
    public: &PublicOrigin,
) -> Result<Option<HeaderValue>, EdgeError> {
    let Some(callback) = callback else {
        return Ok(None);
    };
    if !is_safe_callback(callback, public) {
        return Err(EdgeError::InvalidCallbackUrl);
    }
    HeaderValue::from_str(callback)
        .map(Some)
        .map_err(|_| EdgeError::InvalidCallbackUrl)
}

/// The session the browser presents to sign-in or sign-up: identity revokes it (fixation).
fn previous_session<'a>(state: &AppState, parts: &'a Parts) -> Option<&'a str> {
    state
        .cookie
        .read(&parts.headers)
        .map(|token| token.expose_secret())
}

/// The `Set-Cookie` for a device token identity just issued (DESIGN §14), if it issued one.
fn device_cookie(
    state: &AppState,
    token: Option<&IssuedSecret>,
) -> Result<Option<HeaderValue>, EdgeError> {
    token
        .map(|token| {
            state
                .device_cookie
                .set(token.expose_secret(), Some(crate::cookie::DEVICE_MAX_AGE))
                .ok_or_else(|| {
                    EdgeError::identity_contract("issued device token is not cookie-safe")
                })
        })
        .transpose()
}

/// The `Set-Cookie` for a new session and the public handle that stands in for its token.
fn session_cookie_and_handle(
    state: &AppState,
    session: &Value,
    token: &IssuedSecret,
    cookie_max_age: Option<u64>,
) -> Result<(HeaderValue, Value), EdgeError> {
    let secret = token.expose_secret();
    let set_cookie = state
        .cookie
        .set(secret, cookie_max_age)
        .ok_or_else(|| EdgeError::identity_contract("issued session token is not cookie-safe"))?;
    Ok((set_cookie, session_handle(session, secret)?))
}
