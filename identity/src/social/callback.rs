//! The callback of a social flow: the flow resumed and finished (`flow`), then the rules of
//! DESIGN §17 — a known provider account signs in its user; a new one creates a user or links
//! to the user with that address only when both sides have verified it; link-social's flow
//! links to the still signed-in user. Every failure is a redirect to the flow's error URL with
//! `?error=<code>` and no session.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use super::accounts::{self, Linking};
use super::flow::{self, CallbackQuery};
use super::userinfo::ProviderProfile;
use super::{open_session, parse_client, CallbackError, Opened};
use crate::error::ApiError;
use crate::json::JsonBody;
use crate::metrics::SignInOutcome;
use crate::sessions::{cookie_max_age, Client};
use crate::users::{self, Email, Name, User};
use crate::AppState;

/// `POST /v1/social/callback` body.
#[derive(Deserialize)]
pub(super) struct CallbackRequest {
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
pub(super) struct CallbackAnswer<'a> {
    location: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    session_token: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cookie_max_age: Option<i64>,
}

/// `POST /v1/social/callback`: finishes the flow; every failure is a redirect to the flow's
/// error URL with `?error=<code>` and no session.
pub(super) async fn finish_flow(
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
        .map_err(&fail)?;
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
                .map_err(&fail)?,
        };
    let user = if profile.email_verified
        && !user.email_verified
        && profile
            .email
            .as_deref()
            .is_some_and(|email| Email::parse(email).is_ok_and(|e| e.as_str() == user.email))
    {
        // A change to the user: through the session store, so no cached session keeps the old
        // email_verified (DESIGN §15).
        let mut write = state.sessions().begin().await.map_err(store)?;
        accounts::mark_verified(write.connection(), &user.id, now)
            .await
            .map_err(store)?;
        write.user_changed(&user.id);
        write.commit().await.map_err(store)?;
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
    let subject = &profile.subject;
    match accounts::link_or_find_owner(state.pool(), &user.id, provider_id, subject, scopes, now)
        .await
        .map_err(store)?
    {
        Linking::Linked => {}
        // Another callback linked this provider account in the meantime: sign in as its user.
        Linking::AlreadyLinkedTo(owner) => {
            return owner
                .map(|user| (user, false))
                .ok_or("unable_to_link_account")
        }
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
        Some(token) => state
            .sessions()
            .authenticate(token.expose_secret(), client, now)
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
    let subject = &profile.subject;
    match accounts::link_or_find_owner(state.pool(), &user.id, provider_id, subject, scopes, now)
        .await
        .map_err(store)?
    {
        Linking::Linked => {
            tracing::info!(user_id = %user.id, provider = %provider_id, "social account linked");
            Ok(())
        }
        Linking::AlreadyLinkedTo(Some(owner)) if owner.id == user.id => Ok(()),
        Linking::AlreadyLinkedTo(_) => Err("account_already_linked_to_different_user"),
    }
}
