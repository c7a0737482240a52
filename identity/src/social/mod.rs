//! Social sign-in (DESIGN §17) over identity's internal API, for edge: the configured providers,
//! starting a flow (`/v1/social/start`), finishing it at the callback (`/v1/social/callback`:
//! sign-in, first sign-in, linking), and a user's linked accounts (list, unlink). identity does
//! the protocol work because it holds the client secrets, the database and the egress; edge
//! only checks redirect targets, keeps the state cookie and sets the session cookie. Provider
//! tokens are used once and never stored; the secret session token appears only in the
//! `session_token` field of a callback answer that starts a session.

pub mod accounts;
mod flow;
pub mod id_token;
pub mod provider;
pub mod settings;
mod userinfo;

pub use provider::Providers;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::error::ApiError;
use crate::json::JsonBody;
use crate::metrics::SignInOutcome;
use crate::sessions::{self, cookie_max_age, is_fresh, Client, LiveSession, SessionToken};
use crate::users::{self, Email, Name, User};
use crate::AppState;

use self::accounts::Unlinked;
use self::flow::{CallbackQuery, Destinations};
use self::userinfo::ProviderProfile;

/// Where a callback goes when no flow could be read (Better-Auth's error page, served by edge).
const DEFAULT_ERROR_URL: &str = "/api/auth/error";

/// identity's social routes, one block for the router.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/social/providers", get(list_providers))
        .route("/v1/social/start", post(start_flow))
        .route("/v1/social/callback", post(finish_flow))
        .route("/v1/accounts/list", post(list_accounts))
        .route("/v1/accounts/unlink", post(unlink_account))
}

/// A failed callback: where the browser goes and with which `error`.
#[derive(Debug)]
pub struct CallbackError {
    error_url: String,
    code: String,
}

impl CallbackError {
    /// A failure before the flow's own error URL is known.
    fn early(code: &str) -> CallbackError {
        CallbackError::to(DEFAULT_ERROR_URL, code)
    }

    fn to(error_url: &str, code: &str) -> CallbackError {
        CallbackError {
            error_url: error_url.to_owned(),
            code: code.to_owned(),
        }
    }

    fn database(error: sqlx::Error) -> CallbackError {
        tracing::error!(%error, "social callback: store failed");
        CallbackError::early("internal_server_error")
    }

    /// `<errorURL>?error=<code>` (`&` when it has a query already).
    fn location(&self) -> String {
        let separator = if self.error_url.contains('?') {
            '&'
        } else {
            '?'
        };
        let code: String = form_urlencoded::byte_serialize(self.code.as_bytes()).collect();
        format!("{}{separator}error={code}", self.error_url)
    }
}

/// Errors of the JSON endpoints: identity's own, plus the social ones.
#[derive(Debug)]
enum SocialError {
    Api(ApiError),
    ProviderNotFound,
    ProviderUnavailable,
    LastAccount,
    AccountNotFound,
}

impl<E: Into<ApiError>> From<E> for SocialError {
    fn from(error: E) -> Self {
        SocialError::Api(error.into())
    }
}

impl IntoResponse for SocialError {
    fn into_response(self) -> Response {
        use axum::http::StatusCode;
        let (status, code, message) = match self {
            SocialError::Api(error) => return error.into_response(),
            SocialError::ProviderNotFound => (
                StatusCode::NOT_FOUND,
                "PROVIDER_NOT_FOUND",
                "Provider not found",
            ),
            SocialError::ProviderUnavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "PROVIDER_UNAVAILABLE",
                "The provider cannot be reached yet. Try again shortly.",
            ),
            SocialError::LastAccount => (
                StatusCode::BAD_REQUEST,
                "FAILED_TO_UNLINK_LAST_ACCOUNT",
                "You can't unlink your last account",
            ),
            SocialError::AccountNotFound => (
                StatusCode::BAD_REQUEST,
                "ACCOUNT_NOT_FOUND",
                "Account not found",
            ),
        };
        let mut response =
            (status, Json(json!({ "code": code, "message": message }))).into_response();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(5),
            );
        }
        response
    }
}

/// The caller of an account endpoint, as edge reports it.
#[derive(Deserialize)]
struct Credentials {
    session_token: SecretString,
    client_ip: String,
    user_agent: String,
}

fn parse_client(ip: &str, user_agent: &str) -> Result<Client, ApiError> {
    Client::parse(ip, user_agent)
        .ok_or_else(|| ApiError::Validation("[body.client_ip] Invalid IP address.".into()))
}

/// The live session behind `credentials` (no sliding extension), and the time it was checked.
async fn authenticate(
    state: &AppState,
    credentials: &Credentials,
) -> Result<(LiveSession, i64), ApiError> {
    let client = parse_client(&credentials.client_ip, &credentials.user_agent)?;
    let now = state.clock().now_millis();
    let live = sessions::authenticate(
        state.pool(),
        credentials.session_token.expose_secret(),
        &client,
        now,
        state.session_policy(),
    )
    .await?;
    service_kit::observe::record_caller(&live.user.id, &live.session.id);
    Ok((live, now))
}

/// A session opened by a social sign-in.
struct Opened {
    session: sessions::Session,
    token: SessionToken,
}

/// The one place social sign-in creates a session: exactly as password sign-in does — the
/// session the browser presented is revoked first (fixation), then a new one bound to this
/// client (DESIGN §3, §6).
async fn open_session(
    state: &AppState,
    user: &User,
    client: &Client,
    previous: Option<&SecretString>,
) -> Result<Opened, sqlx::Error> {
    let now = state.clock().now_millis();
    if let Some(previous) = previous {
        sessions::revoke_by_token(state.pool(), previous.expose_secret(), now).await?;
    }
    let token = SessionToken::generate();
    let session = sessions::create(
        state.pool(),
        &user.id,
        &token.hash(),
        client,
        true,
        now,
        state.session_policy(),
    )
    .await?;
    Ok(Opened { session, token })
}

#[derive(Serialize)]
struct ProviderJson<'a> {
    id: &'a str,
    name: &'a str,
    /// Whether discovery has succeeded (sign-in answers `503` until it has).
    ready: bool,
}

/// `GET /v1/social/providers`: the configured providers, for edge's pages.
async fn list_providers(State(state): State<AppState>) -> Response {
    let providers = state.social();
    let list: Vec<ProviderJson<'_>> = providers
        .iter()
        .map(|provider| ProviderJson {
            id: &provider.settings.id,
            name: &provider.settings.name,
            ready: provider.endpoints().is_some(),
        })
        .collect();
    Json(list).into_response()
}

/// `POST /v1/social/start` body; the URLs were checked by edge.
#[derive(Deserialize)]
struct StartRequest {
    provider: String,
    callback_url: String,
    #[serde(default)]
    error_callback_url: Option<String>,
    #[serde(default)]
    new_user_callback_url: Option<String>,
    #[serde(default)]
    scopes: Vec<String>,
    #[serde(default)]
    login_hint: Option<String>,
    /// link-social: the signed-in caller whose user the account will be linked to.
    #[serde(default)]
    link: Option<Credentials>,
}

/// `POST /v1/social/start`: `{url, state}`.
async fn start_flow(
    State(state): State<AppState>,
    JsonBody(request): JsonBody<StartRequest>,
) -> Result<Response, SocialError> {
    let provider = state
        .social()
        .get(&request.provider)
        .ok_or(SocialError::ProviderNotFound)?;
    let link_user_id = match &request.link {
        Some(credentials) => Some(authenticate(&state, credentials).await?.0.user.id),
        None => None,
    };
    let endpoints = provider
        .endpoints()
        .ok_or(SocialError::ProviderUnavailable)?;
    let bounded = |text: &str| text.len() <= 256 && !text.contains(char::is_control);
    if !request
        .scopes
        .iter()
        .all(|scope| bounded(scope) && !scope.contains(' '))
        || !request.login_hint.as_deref().is_none_or(bounded)
    {
        return Err(
            ApiError::Validation("[body.scopes] Invalid scope or login hint.".into()).into(),
        );
    }
    let destinations = Destinations {
        callback_url: request.callback_url,
        error_url: request
            .error_callback_url
            .unwrap_or_else(|| DEFAULT_ERROR_URL.to_owned()),
        new_user_url: request.new_user_callback_url,
        link_user_id,
    };
    let started = flow::start(
        state.pool(),
        provider,
        &endpoints.authorization,
        &flow::redirect_uri(state.public_url(), &provider.settings.id),
        &destinations,
        &request.scopes,
        request.login_hint.as_deref(),
        state.clock().now_millis(),
    )
    .await?;
    Ok(Json(json!({ "url": started.url, "state": started.state })).into_response())
}

/// `POST /v1/social/callback` body.
#[derive(Deserialize)]
struct CallbackRequest {
    provider: String,
    query: CallbackQuery,
    #[serde(default)]
    state_cookie: Option<String>,
    client_ip: String,
    user_agent: String,
    /// The session cookie the browser presented: revoked by a sign-in (fixation), and the
    /// session a link flow must still be signed in with.
    #[serde(default)]
    session_token: Option<SecretString>,
}

/// What the callback answers: always where to send the browser, and a session when one began.
#[derive(Serialize)]
struct CallbackAnswer<'a> {
    location: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    session_token: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cookie_max_age: Option<i64>,
}

/// `POST /v1/social/callback`: finishes the flow; every failure is a redirect to the flow's
/// error URL with `?error=<code>` and no session.
async fn finish_flow(
    State(state): State<AppState>,
    JsonBody(request): JsonBody<CallbackRequest>,
) -> Result<Response, ApiError> {
    let client = parse_client(&request.client_ip, &request.user_agent)?;
    let answer = match callback(&state, &request, &client).await {
        Ok(Ended::SignedIn { location, opened }) => {
            let now = opened.session.times.created_at;
            return Ok(Json(CallbackAnswer {
                location,
                session_token: Some(opened.token.expose_secret()),
                cookie_max_age: cookie_max_age(&opened.session.times, now),
            })
            .into_response());
        }
        Ok(Ended::Linked(location)) => CallbackAnswer {
            location,
            session_token: None,
            cookie_max_age: None,
        },
        Err(error) => {
            tracing::info!(
                event = "sign_in.failed",
                reason = %error.code,
                provider = %request.provider,
                client_ip = %client.ip,
                "social sign-in refused"
            );
            CallbackAnswer {
                location: error.location(),
                session_token: None,
                cookie_max_age: None,
            }
        }
    };
    Ok(Json(answer).into_response())
}

/// How a callback that worked ends.
enum Ended {
    /// A session began; the browser goes to `location`.
    SignedIn { location: String, opened: Opened },
    /// link-social: the account was linked, the session is unchanged.
    Linked(String),
}

/// The callback's rules, in order: the flow, the provider's answer, then linking or signing in.
async fn callback(
    state: &AppState,
    request: &CallbackRequest,
    client: &Client,
) -> Result<Ended, CallbackError> {
    let provider = state
        .social()
        .get(&request.provider)
        .ok_or_else(|| CallbackError::early("oauth_provider_not_found"))?;
    let now = state.clock().now_millis();
    let resumed = flow::resume(
        state.pool(),
        &provider.settings.id,
        &request.query,
        request.state_cookie.as_deref(),
        now,
    )
    .await?;
    let redirect_uri = flow::redirect_uri(state.public_url(), &provider.settings.id);
    let finished = flow::finish(
        provider,
        &redirect_uri,
        &resumed,
        &request.query,
        now / 1000,
    )
    .await?;
    let destinations = &resumed.destinations;
    let fail = |code: &str| CallbackError::to(&destinations.error_url, code);
    let store = |error: sqlx::Error| {
        tracing::error!(%error, "social callback: store failed");
        fail("internal_server_error")
    };
    let profile = &finished.profile;

    if let Some(link_user_id) = &destinations.link_user_id {
        link_to_signed_in_user(
            state,
            request,
            client,
            link_user_id,
            profile,
            &finished.scopes,
        )
        .await
        .map_err(|code| fail(code))?;
        return Ok(Ended::Linked(destinations.callback_url.clone()));
    }

    let (user, created) =
        match accounts::find_user_by_account(state.pool(), &provider.settings.id, &profile.subject)
            .await
            .map_err(store)?
        {
            Some(user) => (user, false),
            None => first_sign_in(state, &provider.settings.id, profile, &finished.scopes)
                .await
                .map_err(|code| fail(code))?,
        };
    let user = if profile.email_verified
        && !user.email_verified
        && profile
            .email
            .as_deref()
            .is_some_and(|email| Email::parse(email).is_ok_and(|e| e.as_str() == user.email))
    {
        accounts::mark_verified(state.pool(), &user.id, now)
            .await
            .map_err(store)?;
        User {
            email_verified: true,
            ..user
        }
    } else {
        user
    };
    if state.require_email_verification() && !user.email_verified {
        return Err(fail("email_not_verified"));
    }
    let opened = open_session(state, &user, client, request.session_token.as_ref())
        .await
        .map_err(store)?;
    state.metrics().sign_in(SignInOutcome::Success);
    service_kit::observe::record_caller(&user.id, &opened.session.id);
    tracing::info!(
        event = "sign_in.succeeded",
        method = "social",
        provider = %provider.settings.id,
        user_id = %user.id,
        session_id = %opened.session.id,
        client_ip = %client.ip,
        user_agent = client.user_agent.as_str(),
        "user signed in"
    );
    let location = match (&destinations.new_user_url, created) {
        (Some(new_user_url), true) => new_user_url.clone(),
        _ => destinations.callback_url.clone(),
    };
    Ok(Ended::SignedIn { location, opened })
}

/// A provider account seen for the first time: a new user, or the existing user with that
/// address when both sides have verified it (DESIGN §17); `account_not_linked` otherwise.
async fn first_sign_in(
    state: &AppState,
    provider_id: &str,
    profile: &ProviderProfile,
    scopes: &str,
) -> Result<(User, bool), &'static str> {
    let store = |error: sqlx::Error| {
        tracing::error!(%error, "social first sign-in: store failed");
        "internal_server_error"
    };
    let email = profile
        .email
        .as_deref()
        .ok_or("email_not_found")
        .and_then(|email| Email::parse(email).map_err(|_| "email_not_found"))?;
    let now = state.clock().now_millis();
    let (user, created) = match users::find_by_email(state.pool(), &email)
        .await
        .map_err(store)?
    {
        Some(existing) if profile.email_verified && existing.user.email_verified => {
            (existing.user, false)
        }
        Some(existing) => {
            tracing::info!(user_id = %existing.user.id, provider = provider_id, "social account not linked: an address is unverified");
            return Err("account_not_linked");
        }
        None => {
            let fallback = email
                .as_str()
                .split('@')
                .next()
                .unwrap_or("user")
                .to_owned();
            let name = profile
                .name
                .as_deref()
                .and_then(|name| Name::parse(name).ok())
                .or_else(|| Name::parse(&fallback).ok())
                .ok_or("unable_to_create_user")?;
            let image = profile.image.as_deref().filter(|image| image.len() <= 2048);
            match accounts::create_user(
                state.pool(),
                &email,
                &name,
                image,
                profile.email_verified,
                now,
            )
            .await
            {
                Ok(user) => (user, true),
                Err(error) => {
                    tracing::warn!(%error, "social sign-in could not create the user");
                    return Err("unable_to_create_user");
                }
            }
        }
    };
    if !accounts::link(
        state.pool(),
        &user.id,
        provider_id,
        &profile.subject,
        scopes,
        now,
    )
    .await
    .map_err(store)?
    {
        // Another callback linked this provider account in the meantime: sign in as its user.
        return accounts::find_user_by_account(state.pool(), provider_id, &profile.subject)
            .await
            .map_err(store)?
            .map(|user| (user, false))
            .ok_or("unable_to_link_account");
    }
    tracing::info!(user_id = %user.id, provider = provider_id, created, "social account linked");
    Ok((user, created))
}

/// link-social's callback: the browser must still be signed in as the user who started it, and
/// the provider must assert that user's own address as verified.
async fn link_to_signed_in_user(
    state: &AppState,
    request: &CallbackRequest,
    client: &Client,
    link_user_id: &str,
    profile: &ProviderProfile,
    scopes: &str,
) -> Result<(), &'static str> {
    let now = state.clock().now_millis();
    let signed_in = match &request.session_token {
        Some(token) => sessions::authenticate(
            state.pool(),
            token.expose_secret(),
            client,
            now,
            state.session_policy(),
        )
        .await
        .ok(),
        None => None,
    };
    let user = signed_in
        .map(|live| live.user)
        .filter(|user| user.id == link_user_id)
        .ok_or("unable_to_link_account")?;
    if !profile.email_verified {
        return Err("unable_to_link_account");
    }
    let same_email = profile
        .email
        .as_deref()
        .and_then(|email| Email::parse(email).ok())
        .is_some_and(|email| email.as_str() == user.email);
    if !same_email {
        return Err("email_does_not_match");
    }
    let provider_id = &request.provider;
    let store = |error: sqlx::Error| {
        tracing::error!(%error, "social link: store failed");
        "internal_server_error"
    };
    if accounts::link(
        state.pool(),
        &user.id,
        provider_id,
        &profile.subject,
        scopes,
        now,
    )
    .await
    .map_err(store)?
    {
        tracing::info!(user_id = %user.id, provider = %provider_id, "social account linked");
        return Ok(());
    }
    match accounts::find_user_by_account(state.pool(), provider_id, &profile.subject)
        .await
        .map_err(store)?
    {
        Some(owner) if owner.id == user.id => Ok(()),
        _ => Err("account_already_linked_to_different_user"),
    }
}

/// `POST /v1/accounts/list`: the password "account" (`credential`) if the user has a password,
/// then each linked provider account.
async fn list_accounts(
    State(state): State<AppState>,
    JsonBody(request): JsonBody<Credentials>,
) -> Result<Response, SocialError> {
    let (live, _) = authenticate(&state, &request).await?;
    let mut listed = Vec::new();
    if accounts::has_password(state.pool(), &live.user.id).await? {
        listed.push(accounts::credential_json(&live.user));
    }
    for account in accounts::list(state.pool(), &live.user.id).await? {
        listed.push(account.to_json());
    }
    Ok(Json(listed).into_response())
}

/// `POST /v1/accounts/unlink` body: Better-Auth 1.7's `accountId` (the list's `id`), or ≤1.6's
/// `providerId` with the provider's subject as `accountId`.
#[derive(Deserialize)]
struct UnlinkRequest {
    #[serde(flatten)]
    credentials: Credentials,
    #[serde(default)]
    account_id: Option<String>,
    #[serde(default)]
    provider_id: Option<String>,
}

/// `POST /v1/accounts/unlink`: needs a fresh session; the last way to sign in stays.
async fn unlink_account(
    State(state): State<AppState>,
    JsonBody(request): JsonBody<UnlinkRequest>,
) -> Result<Response, SocialError> {
    let (live, now) = authenticate(&state, &request.credentials).await?;
    if !is_fresh(&live.session.times, now, state.session_policy()) {
        return Err(ApiError::SessionNotFresh.into());
    }
    let user_id = &live.user.id;
    let linked = accounts::list(state.pool(), user_id).await?;
    let target = linked.iter().find(|account| match &request.provider_id {
        Some(provider_id) => {
            &account.provider_id == provider_id
                && request
                    .account_id
                    .as_ref()
                    .is_none_or(|subject| &account.account_id == subject)
        }
        None => request.account_id.as_ref() == Some(&account.id),
    });
    let Some(target) = target else {
        return Err(SocialError::AccountNotFound);
    };
    let keeps_password = accounts::has_password(state.pool(), user_id).await?;
    match accounts::unlink(state.pool(), user_id, &target.id, keeps_password).await? {
        Unlinked::Done => {
            tracing::info!(user_id = %user_id, provider = %target.provider_id, "social account unlinked");
            Ok(Json(json!({ "status": true })).into_response())
        }
        Unlinked::LastAccount => Err(SocialError::LastAccount),
        Unlinked::NotFound => Err(SocialError::AccountNotFound),
    }
}
