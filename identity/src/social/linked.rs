//! A signed-in user's ways to sign in: list-accounts (the password, as Better-Auth's
//! `credential`, then each linked provider) and unlink-account (fresh session; never the last).

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;

use super::accounts::{self, Unlinked};
use super::{authenticate, Credentials, SocialError};
use crate::error::ApiError;
use crate::json::JsonBody;
use crate::sessions::is_fresh;
use crate::AppState;

/// `POST /v1/accounts/list`: the password "account" (`credential`) if the user has a password,
/// then each linked provider account.
pub(super) async fn list_accounts(
    State(state): State<AppState>,
    JsonBody(request): JsonBody<Credentials>,
) -> Result<Response, SocialError> {
    let live = authenticate(&state, &request).await?.live;
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
pub(super) struct UnlinkRequest {
    #[serde(flatten)]
    credentials: Credentials,
    #[serde(default)]
    account_id: Option<String>,
    #[serde(default)]
    provider_id: Option<String>,
}

/// `POST /v1/accounts/unlink`: needs a fresh session; the last way to sign in stays.
pub(super) async fn unlink_account(
    State(state): State<AppState>,
    JsonBody(request): JsonBody<UnlinkRequest>,
) -> Result<Response, SocialError> {
    let caller = authenticate(&state, &request.credentials).await?;
    let (live, now) = (caller.live, caller.now);
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
