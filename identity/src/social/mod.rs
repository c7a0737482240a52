//! Social sign-in (DESIGN §17) over identity's internal API, for edge: the configured providers,
//! starting a flow (`/v1/social/start`), finishing it at the callback (`/v1/social/callback`:
//! sign-in, first sign-in, linking), and a user's linked accounts (list, unlink). identity does
//! the protocol work because it holds the client secrets, the database and the egress; edge
//! only checks redirect targets, keeps the state cookie and sets the session cookie. Provider
//! tokens are used once and never stored; the secret session token appears only in the
//! `session_token` field of a callback answer that starts a session.

pub mod accounts;
mod callback;
mod flow;
pub mod id_token;
mod linked;
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

use crate::accounts::{authenticate, parse_client, Credentials};
use crate::error::ApiError;
use crate::json::JsonBody;
use crate::sessions::{self, Client, SessionToken};
use crate::users::User;
use crate::AppState;

use self::flow::Destinations;

/// Where a callback goes when no flow could be read (Better-Auth's error page, served by edge).
const DEFAULT_ERROR_URL: &str = "/api/auth/error";

/// identity's social routes, one block for the router.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/social/providers", get(list_providers))
        .route("/v1/social/start", post(start_flow))
        .route("/v1/social/callback", post(callback::finish_flow))
        .route("/v1/accounts/list", post(linked::list_accounts))
        .route("/v1/accounts/unlink", post(linked::unlink_account))
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
pub(super) enum SocialError {
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

/// A session opened by a social sign-in.
pub(super) struct Opened {
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
    let token = SessionToken::generate();
    let mut write = state.sessions().begin().await?;
    if let Some(previous) = previous {
        write.end_by_token(previous.expose_secret(), now).await?;
    }
    let session = write
        .create(&user.id, &token.hash(), client, true, now)
        .await?;
    write.commit().await?;
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
        Some(credentials) => Some(authenticate(&state, credentials).await?.live.user.id),
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
