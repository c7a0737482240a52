//! Social sign-in's public endpoints (DESIGN §17, better-auth-shapes.md's last section):
//! sign-in/social, link-social, the provider's callback (GET, and POST for `form_post`),
//! list-accounts and unlink-account. edge checks where the browser may be sent (every callback
//! URL, like any other redirect), keeps the flow's state in a short-lived cookie and sets the
//! session cookie; identity does the protocol work, because it holds the client secrets, the
//! database and the egress to providers. No provider token ever reaches edge.

use axum::extract::{Path, RawQuery, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use http::header::{CACHE_CONTROL, LOCATION, SET_COOKIE};
use http::request::Parts;
use http::{HeaderValue, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::account::{state_change, unless_session_refused, SignedInBrowser};
use super::{get_only, not_found, origin_checked, post_only, read_object};
use crate::body::{read_limited, Encodings, AUTH_BODY_LIMIT};
use crate::browser::{client_ip, user_agent};
use crate::cookie::{SessionCookie, STATE_MAX_AGE};
use crate::error::EdgeError;
use crate::identity::SessionLookup;
use crate::origin::{is_safe_callback, Endpoint};
use crate::AppState;

/// Where the browser goes when a callback cannot say better (the error page).
const ERROR_PAGE: &str = "/api/auth/error";

/// The social routes that need a session or none, as one block.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/auth/link-social", post_only(link_social))
        .route(
            "/api/auth/callback/{provider}",
            get(callback).post(form_post_callback).fallback(not_found),
        )
        .route("/api/auth/list-accounts", get_only(list_accounts))
        .route("/api/auth/unlink-account", post_only(unlink_account))
}

/// sign-in/social, behind the per-address limit with the other sign-ins (DESIGN §14).
pub fn rate_limited_routes() -> Router<AppState> {
    Router::new().route("/api/auth/sign-in/social", post_only(sign_in_social))
}

/// The body of sign-in/social and link-social (unknown keys ignored).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SocialInput {
    provider: String,
    #[serde(default, rename = "callbackURL")]
    callback_url: Option<String>,
    #[serde(default, rename = "errorCallbackURL")]
    error_callback_url: Option<String>,
    #[serde(default, rename = "newUserCallbackURL")]
    new_user_callback_url: Option<String>,
    #[serde(default)]
    disable_redirect: Option<bool>,
    #[serde(default)]
    scopes: Vec<String>,
    #[serde(default)]
    login_hint: Option<String>,
    /// Better-Auth's `idToken` branch (sign in with a token the app already has) is not offered.
    #[serde(default)]
    id_token: Option<Value>,
}

impl SocialInput {
    pub(crate) fn parse(body: Map<String, Value>) -> Result<SocialInput, EdgeError> {
        serde_json::from_value(Value::Object(body))
            .map_err(|error| EdgeError::Validation(format!("[body] {error}")))
    }

    /// Every URL the flow may send the browser to, checked like any other redirect.
    fn check_urls(&self, state: &AppState) -> Result<(), EdgeError> {
        let safe = |url: &Option<String>| {
            url.as_deref()
                .is_none_or(|url| is_safe_callback(url, &state.public_origin))
        };
        if !safe(&self.callback_url) {
            return Err(EdgeError::InvalidCallbackUrl);
        }
        if !safe(&self.error_callback_url) {
            return Err(EdgeError::InvalidErrorCallbackUrl);
        }
        if !safe(&self.new_user_callback_url) {
            return Err(EdgeError::InvalidNewUserCallbackUrl);
        }
        Ok(())
    }
}

/// identity's `/v1/social/start` body.
#[derive(Serialize)]
struct Start<'a> {
    provider: &'a str,
    callback_url: &'a str,
    error_callback_url: Option<&'a str>,
    new_user_callback_url: Option<&'a str>,
    scopes: &'a [String],
    login_hint: Option<&'a str>,
    link: Option<SessionLookup<'a>>,
}

#[derive(Deserialize)]
struct Started {
    url: String,
    state: String,
}

/// Starts a flow at identity and answers `{url, redirect}` (+ `Location` unless
/// `disableRedirect`) with the state cookie.
async fn start(
    state: &AppState,
    input: &SocialInput,
    link: Option<SessionLookup<'_>>,
) -> Result<Response, EdgeError> {
    if input.id_token.is_some() {
        return Err(EdgeError::Validation(
            "[body.idToken] Signing in with an ID token is not supported; use the redirect flow."
                .into(),
        ));
    }
    input.check_urls(state)?;
    let request = Start {
        provider: &input.provider,
        callback_url: input.callback_url.as_deref().unwrap_or("/"),
        error_callback_url: input.error_callback_url.as_deref(),
        new_user_callback_url: input.new_user_callback_url.as_deref(),
        scopes: &input.scopes,
        login_hint: input.login_hint.as_deref(),
        link,
    };
    let url = state.identity.endpoint("v1/social/start")?;
    let started: Started = state.identity.post(&url, &request).await?;
    let state_cookie = SessionCookie::oauth_state(state.public_origin.is_secure())
        .set(&started.state, Some(STATE_MAX_AGE))
        .ok_or_else(|| EdgeError::identity_contract("flow state is not cookie-safe"))?;
    let redirect = !input.disable_redirect.unwrap_or(false);
    let mut response = (
        [(SET_COOKIE, state_cookie)],
        Json(json!({ "url": started.url, "redirect": redirect })),
    )
        .into_response();
    if redirect {
        let location = HeaderValue::from_str(&started.url)
            .map_err(|_| EdgeError::identity_contract("authorization URL is not a header value"))?;
        response.headers_mut().insert(LOCATION, location);
    }
    Ok(response)
}

/// `POST /sign-in/social`: the provider's authorization URL for a new flow.
async fn sign_in_social(
    State(state): State<AppState>,
    request: Request,
) -> Result<Response, EdgeError> {
    let (parts, body) = origin_checked(&state, request, Endpoint::LoginForm)?;
    let object = read_object(&parts, body, Encodings::Json).await?;
    start(&state, &SocialInput::parse(object)?, None).await
}

/// `POST /link-social` (signed in): a flow whose callback links the account to this user.
async fn link_social(
    State(state): State<AppState>,
    request: Request,
) -> Result<Response, EdgeError> {
    let (parts, input) = state_change(&state, request, SocialInput::parse).await?;
    let caller = SignedInBrowser::of(&state, &parts)?;
    start(&state, &input, Some(caller.lookup()))
        .await
        .map_err(unless_session_refused(&state))
}

/// identity's `/v1/social/callback` body.
#[derive(Serialize)]
struct Callback<'a> {
    provider: &'a str,
    query: Map<String, Value>,
    state_cookie: Option<&'a str>,
    client_ip: &'a str,
    user_agent: &'a str,
    session_token: Option<&'a str>,
}

#[derive(Deserialize)]
struct CallbackAnswer {
    location: String,
    #[serde(default)]
    session_token: Option<crate::identity::IssuedSecret>,
    #[serde(default)]
    cookie_max_age: Option<u64>,
}

/// The callback parameters edge passes on (others are dropped, never reflected).
const CALLBACK_PARAMS: &[&str] = &["code", "state", "iss", "error", "error_description"];

fn callback_params<'a>(
    pairs: impl Iterator<Item = (std::borrow::Cow<'a, str>, std::borrow::Cow<'a, str>)>,
) -> Map<String, Value> {
    let mut query = Map::new();
    for (key, value) in pairs {
        if CALLBACK_PARAMS.contains(&key.as_ref()) && !query.contains_key(key.as_ref()) {
            query.insert(key.into_owned(), Value::String(value.into_owned()));
        }
    }
    query
}

/// `GET /callback/<provider>`: identity finishes the flow; the browser is sent on with the new
/// session cookie (if one began) and the state cookie cleared, or to the error URL.
async fn callback(
    State(state): State<AppState>,
    Path(provider): Path<String>,
    RawQuery(raw): RawQuery,
    parts: Parts,
) -> Result<Response, EdgeError> {
    let query = callback_params(form_urlencoded::parse(
        raw.as_deref().unwrap_or("").as_bytes(),
    ));
    let state_cookie = SessionCookie::oauth_state(state.public_origin.is_secure());
    let client_ip = client_ip(&parts.extensions)?;
    let request = Callback {
        provider: &provider,
        query,
        state_cookie: state_cookie
            .read(&parts.headers)
            .map(|token| token.expose_secret()),
        client_ip: &client_ip,
        user_agent: user_agent(&parts.headers),
        session_token: state
            .cookie
            .read(&parts.headers)
            .map(|token| token.expose_secret()),
    };
    let url = state.identity.endpoint("v1/social/callback")?;
    // The browser arrives here by a navigation from the provider: whatever goes wrong, it gets a
    // page, not a JSON error.
    let answer: CallbackAnswer = match state.identity.post(&url, &request).await {
        Ok(answer) => answer,
        Err(error) => {
            tracing::warn!(%error, "social callback: identity could not finish the flow");
            CallbackAnswer {
                location: format!("{ERROR_PAGE}?error=internal_server_error"),
                session_token: None,
                cookie_max_age: None,
            }
        }
    };
    // identity only names URLs edge checked when the flow began; checked again all the same.
    let location = if is_safe_callback(&answer.location, &state.public_origin) {
        answer.location
    } else {
        format!("{ERROR_PAGE}?error=invalid_callback_request")
    };
    let mut response = (
        StatusCode::FOUND,
        [(
            LOCATION,
            HeaderValue::from_str(&location).map_err(|_| EdgeError::InvalidCallbackUrl)?,
        )],
    )
        .into_response();
    response
        .headers_mut()
        .append(SET_COOKIE, state_cookie.clear());
    if let Some(token) = &answer.session_token {
        let cookie = state
            .cookie
            .set(token.expose_secret(), answer.cookie_max_age)
            .ok_or_else(|| {
                EdgeError::identity_contract("issued session token is not cookie-safe")
            })?;
        response.headers_mut().append(SET_COOKIE, cookie);
    }
    Ok(response)
}

/// `POST /callback/<provider>` (`response_mode=form_post`): `302` to the GET callback with the
/// form's fields, so the browser's `SameSite=Lax` cookies travel with it.
async fn form_post_callback(
    Path(provider): Path<String>,
    RawQuery(raw): RawQuery,
    request: Request,
) -> Result<Response, EdgeError> {
    let (parts, body) = request.into_parts();
    let bytes = read_limited(&parts.headers, body, AUTH_BODY_LIMIT).await?;
    let mut merged = callback_params(form_urlencoded::parse(&bytes));
    for (key, value) in callback_params(form_urlencoded::parse(
        raw.as_deref().unwrap_or("").as_bytes(),
    )) {
        merged.entry(key).or_insert(value);
    }
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (key, value) in &merged {
        query.append_pair(key, value.as_str().unwrap_or_default());
    }
    let provider: String = form_urlencoded::byte_serialize(provider.as_bytes()).collect();
    let location = format!("/api/auth/callback/{provider}?{}", query.finish());
    let location = HeaderValue::from_str(&location).map_err(|_| EdgeError::InvalidCallbackUrl)?;
    Ok((StatusCode::FOUND, [(LOCATION, location)]).into_response())
}

/// `GET /list-accounts` (signed in): the password account (`credential`) and linked providers.
async fn list_accounts(
    State(state): State<AppState>,
    request: Request,
) -> Result<Response, EdgeError> {
    let (parts, _) = request.into_parts();
    let caller = SignedInBrowser::of(&state, &parts)?;
    let url = state.identity.endpoint("v1/accounts/list")?;
    let accounts: Vec<Value> = state
        .identity
        .post(&url, &caller.lookup())
        .await
        .map_err(unless_session_refused(&state))?;
    Ok((
        [(CACHE_CONTROL, HeaderValue::from_static("no-store"))],
        Json(accounts),
    )
        .into_response())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UnlinkInput {
    #[serde(default)]
    account_id: Option<String>,
    #[serde(default)]
    provider_id: Option<String>,
}

impl UnlinkInput {
    /// `accountId` (1.7) or `providerId` (≤1.6) must be there.
    pub(crate) fn parse(body: Map<String, Value>) -> Result<UnlinkInput, EdgeError> {
        let input: UnlinkInput = serde_json::from_value(Value::Object(body))
            .map_err(|error| EdgeError::Validation(format!("[body] {error}")))?;
        if input.account_id.is_none() && input.provider_id.is_none() {
            return Err(EdgeError::Validation(
                "[body.accountId] Invalid input: expected string, received undefined".into(),
            ));
        }
        Ok(input)
    }
}

#[derive(Serialize)]
struct Unlink<'a> {
    #[serde(flatten)]
    caller: SessionLookup<'a>,
    account_id: Option<&'a str>,
    provider_id: Option<&'a str>,
}

/// `POST /unlink-account {accountId}` (signed in, fresh): never the last way to sign in.
async fn unlink_account(
    State(state): State<AppState>,
    request: Request,
) -> Result<Response, EdgeError> {
    let (parts, input) = state_change(&state, request, UnlinkInput::parse).await?;
    let caller = SignedInBrowser::of(&state, &parts)?;
    let url = state.identity.endpoint("v1/accounts/unlink")?;
    let answer: Value = state
        .identity
        .post(
            &url,
            &Unlink {
                caller: caller.lookup(),
                account_id: input.account_id.as_deref(),
                provider_id: input.provider_id.as_deref(),
            },
        )
        .await
        .map_err(unless_session_refused(&state))?;
    Ok(Json(answer).into_response())
}

/// A configured provider, for the pages.
#[derive(Clone, Debug, Deserialize)]
pub struct ProviderLink {
    pub id: String,
    pub name: String,
}

/// The configured providers (none when identity cannot say: the pages still render).
pub async fn providers(state: &AppState) -> Vec<ProviderLink> {
    let listed = match state.identity.endpoint("v1/social/providers") {
        Ok(url) => state.identity.get::<Vec<ProviderLink>>(&url).await,
        Err(error) => Err(error),
    };
    listed.unwrap_or_else(|error| {
        tracing::warn!(%error, "cannot list the social providers");
        Vec::new()
    })
}
