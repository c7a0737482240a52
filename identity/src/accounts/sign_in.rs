//! Signing in and out: sign-up, sign-in, the session check and sign-out. The secret session token
//! appears only in the `session_token` field of sign-up and sign-in answers.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use super::{parse_client, Credentials, NewSession, SignedIn};
use crate::devices;
use crate::error::ApiError;
use crate::json::JsonBody;
use crate::lockout::{self, Subject, Verdict};
use crate::metrics::SignInOutcome;
use crate::passwords::Claim;
use crate::sessions::{cookie_max_age, Client, SessionJson, SessionToken};
use crate::users::{self, CreateUserError, Email, Name, NewUser, Password, User, UserJson};
use crate::AppState;

/// `POST /v1/sign-up` body (unknown keys are ignored).
#[derive(Deserialize)]
pub struct SignUpRequest {
    name: String,
    email: String,
    password: SecretString,
    #[serde(default)]
    image: Option<String>,
    #[serde(default)]
    remember_me: Option<bool>,
    client_ip: String,
    user_agent: String,
    #[serde(default)]
    previous_session_token: Option<SecretString>,
}

/// `POST /v1/sign-in` body.
#[derive(Deserialize)]
pub struct SignInRequest {
    email: String,
    password: SecretString,
    #[serde(default)]
    remember_me: Option<bool>,
    client_ip: String,
    user_agent: String,
    #[serde(default)]
    previous_session_token: Option<SecretString>,
    /// The browser's device cookie, if it sent one (DESIGN §14).
    #[serde(default)]
    device_token: Option<SecretString>,
}

/// `POST /v1/sign-out` body.
#[derive(Deserialize)]
pub struct SignOutRequest {
    #[serde(default)]
    session_token: Option<SecretString>,
}

/// What `/v1/session` answers.
#[derive(Serialize)]
pub struct CurrentSession<'a> {
    user: UserJson<'a>,
    session: SessionJson<'a>,
    cookie_max_age: Option<i64>,
    /// Whether this check extended the expiry (edge then re-sends the cookie).
    refreshed: bool,
}

/// What sign-out answers.
#[derive(Serialize)]
pub struct SignedOut {
    success: bool,
}

/// Starts a session for `user`, revoking the one the client presented first (session fixation).
async fn start_session(
    state: &AppState,
    user: &User,
    client: &Client,
    remember: bool,
    previous: Option<&SecretString>,
) -> Result<NewSession, ApiError> {
    let now = state.clock().now_millis();
    let token = SessionToken::generate();
    let mut change = state.sessions().begin().await?;
    if let Some(previous) = previous {
        change.end_by_token(previous.expose_secret(), now).await?;
    }
    let session = change
        .create(&user.id, &token.hash(), client, remember, now)
        .await?;
    change.commit().await?;
    Ok(NewSession { session, token })
}

/// `POST /v1/sign-up`: creates the user and, unless email verification is required, signs in.
/// With verification required, a taken address gets the same answer as a new one.
pub async fn sign_up(
    State(state): State<AppState>,
    JsonBody(request): JsonBody<SignUpRequest>,
) -> Result<Response, ApiError> {
    let email = Email::parse(&request.email)?;
    let password = Password::parse(request.password)?;
    let name = Name::parse(&request.name)?;
    let client = parse_client(&request.client_ip, &request.user_agent)?;

    let password_hash = state.hasher().hash(password).await?;
    let new_user = NewUser {
        email: &email,
        name: &name,
        password_hash: &password_hash,
        image: request.image.as_deref(),
    };
    let now = state.clock().now_millis();
    let user = match users::create(
        state.pool(),
        new_user,
        uuid::Uuid::new_v4().to_string(),
        now,
    )
    .await
    {
        Ok(user) => user,
        // DESIGN §14: with verification required, sign-up for a taken address answers exactly as
        // for a new one (no session either way; the password was hashed all the same) and the
        // owner gets a notice instead of a verification link.
        Err(CreateUserError::EmailTaken) if state.require_email_verification() => {
            crate::links::notify_owner_of_sign_up_attempt(&state, &email).await;
            let as_if_new = User {
                id: uuid::Uuid::new_v4().to_string(),
                email: email.as_str().to_owned(),
                name: name.as_str().to_owned(),
                email_verified: false,
                image: request.image,
                created_at: now,
                updated_at: now,
            };
            return Ok(Json(SignedIn::new(&as_if_new, None, now)).into_response());
        }
        Err(err) => return Err(err.into()),
    };
    tracing::info!(user_id = %user.id, "user signed up");
    crate::links::send_verification_after_sign_up(&state, &user).await;

    let (new_session, device) = if state.require_email_verification() {
        (None, None)
    } else {
        let remember = request.remember_me.unwrap_or(true);
        let previous = request.previous_session_token.as_ref();
        let new_session = start_session(&state, &user, &client, remember, previous).await?;
        // Signing up signs this browser in: it is the owner's first device.
        (
            Some(new_session),
            Some(devices::issue(state.pool(), &user.id, now).await?),
        )
    };
    Ok(
        Json(SignedIn::new(&user, new_session.as_ref(), now).with_device(device.as_ref()))
            .into_response(),
    )
}

/// `POST /v1/sign-in`: one answer for an unknown email and a wrong password, in the same time.
/// The lockout (DESIGN §14) runs first: a full hashing queue answers `503 SERVER_BUSY` and a
/// locked address or device `429 TOO_MANY_ATTEMPTS`, both before any password is looked at;
/// otherwise the attempt is counted, then the password checked.
pub async fn sign_in(
    State(state): State<AppState>,
    JsonBody(request): JsonBody<SignInRequest>,
) -> Result<Response, ApiError> {
    let email = Email::parse(&request.email)?;
    let client = parse_client(&request.client_ip, &request.user_agent)?;
    let now = state.clock().now_millis();

    // The device first (one indexed lookup, only when a cookie was presented): its owner may use
    // the places in the hashing queue that a flood from elsewhere cannot take.
    let device = match &request.device_token {
        Some(presented) => {
            devices::recognise(state.pool(), presented.expose_secret(), &email, now).await?
        }
        None => None,
    };
    // Then a place in the hashing queue, so a busy server counts no failure against anyone.
    let claim = if device.is_some() {
        Claim::Owner
    } else {
        Claim::Anyone
    };
    let slot = state
        .hasher()
        .reserve(claim)
        .inspect_err(|_| state.metrics().sign_in(SignInOutcome::Busy))?;
    let subject = match &device {
        Some(hash) => Subject::Device(hash),
        None => Subject::Address(&email),
    };
    let verdict =
        lockout::begin_attempt(state.pool(), subject, now, state.lockout_policy()).await?;
    if let Verdict::Locked { retry_after_secs } = verdict {
        state.metrics().sign_in(SignInOutcome::Locked);
        tracing::info!(
            event = "sign_in.locked",
            device = device.is_some(),
            client_ip = %client.ip,
            user_agent = client.user_agent.as_str(),
            "sign-in refused: locked"
        );
        return Err(ApiError::TooManyAttempts { retry_after_secs });
    }
    // A password outside the limits was never accepted at sign-up, so it cannot match; refusing
    // it here depends on nothing about the account (the attempt is already counted).
    let attempt =
        Password::parse(request.password).map_err(|_| ApiError::InvalidEmailOrPassword)?;

    let (user, stored_hash) = users::find_by_email(state.pool(), &email)
        .await?
        .map(|found| (found.user, found.password_hash))
        .unzip();
    let matches = slot.verify(attempt, stored_hash).await?;
    let user = match user {
        Some(user) if matches => user,
        known => {
            state.metrics().sign_in(SignInOutcome::BadCredentials);
            tracing::info!(
                event = "sign_in.failed",
                reason = "bad_credentials",
                user_id = known.as_ref().map(|user| user.id.as_str()),
                client_ip = %client.ip,
                user_agent = client.user_agent.as_str(),
                "sign-in refused: unknown email or wrong password"
            );
            return Err(ApiError::InvalidEmailOrPassword);
        }
    };
    // The right password: the owner's success resets their device's count, or the address's.
    lockout::record_success(state.pool(), subject).await?;
    if state.require_email_verification() && !user.email_verified {
        tracing::info!(
            event = "sign_in.failed",
            reason = "email_not_verified",
            user_id = %user.id,
            client_ip = %client.ip,
            user_agent = client.user_agent.as_str(),
            "sign-in refused: email not verified"
        );
        return Err(ApiError::EmailNotVerified);
    }

    let remember = request.remember_me.unwrap_or(true);
    let new_session = start_session(
        &state,
        &user,
        &client,
        remember,
        request.previous_session_token.as_ref(),
    )
    .await?;
    state.metrics().sign_in(SignInOutcome::Success);
    service_kit::observe::record_caller(&user.id, &new_session.session.id);
    tracing::info!(
        event = "sign_in.succeeded",
        user_id = %user.id,
        session_id = %new_session.session.id,
        client_ip = %client.ip,
        user_agent = client.user_agent.as_str(),
        "user signed in"
    );
    let now = new_session.session.times.created_at;
    let new_device = match device {
        Some(_) => None,
        None => Some(devices::issue(state.pool(), &user.id, now).await?),
    };
    Ok(
        Json(SignedIn::new(&user, Some(&new_session), now).with_device(new_device.as_ref()))
            .into_response(),
    )
}

/// `POST /v1/session`: the session behind a cookie, with sliding expiry applied.
pub async fn current_session(
    State(state): State<AppState>,
    JsonBody(request): JsonBody<Credentials>,
) -> Result<Response, ApiError> {
    let client = parse_client(&request.client_ip, &request.user_agent)?;
    let now = state.clock().now_millis();
    let used = state
        .sessions()
        .use_stored(request.session_token.expose_secret(), &client, now)
        .await?;
    let live = &used.live;
    service_kit::observe::record_caller(&live.user.id, &live.session.id);
    let body = CurrentSession {
        user: live.user.to_json(),
        session: live.session.to_json(),
        cookie_max_age: cookie_max_age(&live.session.times, now),
        refreshed: used.refreshed,
    };
    Ok(Json(body).into_response())
}

/// `POST /v1/sign-out`: revokes the session if it exists; always succeeds.
pub async fn sign_out(
    State(state): State<AppState>,
    JsonBody(request): JsonBody<SignOutRequest>,
) -> Result<Json<SignedOut>, ApiError> {
    if let Some(token) = &request.session_token {
        let now = state.clock().now_millis();
        let mut change = state.sessions().begin().await?;
        let ended = change.end_by_token(token.expose_secret(), now).await?;
        change.commit().await?;
        if ended {
            tracing::info!(
                event = "session.revoked",
                reason = "sign_out",
                "session signed out"
            );
        }
    }
    Ok(Json(SignedOut { success: true }))
}
