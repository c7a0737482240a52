//! The user's profile and the account itself: changing the name or image (never the email
//! address here), and deleting the account with every session (DESIGN §6: a fresh session, or
//! the password). Never logs or returns a password.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use secrecy::SecretString;
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};

use super::{authenticate, present, Credentials};
use crate::error::ApiError;
use crate::json::JsonBody;
use crate::users::{self, Password, ProfileChange};
use crate::AppState;

/// `POST /v1/user/update` body: absent fields stay as they are; `"image": null` removes it.
#[derive(Deserialize)]
pub struct UpdateUserRequest {
    #[serde(flatten)]
    credentials: Credentials,
    #[serde(default)]
    name: Option<String>,
    #[serde(default, deserialize_with = "present")]
    image: Option<Option<String>>,
    /// Present (with any value) only to be refused: the address is not changed here.
    #[serde(default, deserialize_with = "present")]
    email: Option<IgnoredAny>,
}

/// `POST /v1/user/delete` body.
#[derive(Deserialize)]
pub struct DeleteUserRequest {
    #[serde(flatten)]
    credentials: Credentials,
    /// The password, which stands in for a fresh session.
    #[serde(default)]
    password: Option<SecretString>,
}

/// What the profile change answers.
#[derive(Serialize)]
pub struct Updated<'a> {
    user: users::UserJson<'a>,
}

/// What the deletion answers.
#[derive(Serialize)]
pub struct Deleted {
    success: bool,
}

/// How the caller confirmed a deletion.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Confirmation {
    /// No password was given.
    None,
    /// A password was given and it is the user's.
    CorrectPassword,
    /// A password was given and it is not the user's.
    WrongPassword,
}

/// Deleting an account needs the password or, without one, a fresh session. A wrong password is
/// refused even on a fresh session: the caller asked for it to be checked.
fn may_delete(confirmation: Confirmation, fresh: bool) -> Result<(), ApiError> {
    match confirmation {
        Confirmation::CorrectPassword => Ok(()),
        Confirmation::WrongPassword => Err(ApiError::InvalidPassword),
        Confirmation::None if fresh => Ok(()),
        Confirmation::None => Err(ApiError::SessionNotFresh),
    }
}

/// `POST /v1/user/update` → `{user}`.
pub async fn update_user(
    State(state): State<AppState>,
    JsonBody(request): JsonBody<UpdateUserRequest>,
) -> Result<Response, ApiError> {
    let caller = authenticate(&state, &request.credentials).await?;
    let change = ProfileChange::parse(
        request.name.as_deref(),
        request.image,
        request.email.is_some(),
    )?;
    let user_id = &caller.live.user.id;
    let mut write = state.sessions().begin().await?;
    let user = users::update_profile(write.connection(), user_id, &change, caller.now)
        .await?
        .ok_or(ApiError::Unauthorized)?;
    write.user_changed(user_id);
    write.commit().await?;
    tracing::info!(user_id = %user_id, "profile changed");
    Ok(Json(Updated {
        user: user.to_json(),
    })
    .into_response())
}

/// `POST /v1/user/delete` → `{success: true}`: the user, their sessions and tokens are gone.
pub async fn delete_user(
    State(state): State<AppState>,
    JsonBody(request): JsonBody<DeleteUserRequest>,
) -> Result<Json<Deleted>, ApiError> {
    let caller = authenticate(&state, &request.credentials).await?;
    let user_id = caller.live.user.id.as_str();
    let confirmation = match request.password {
        None => Confirmation::None,
        Some(password) => {
            let stored = users::password_hash(state.pool(), user_id)
                .await?
                .ok_or(ApiError::Unauthorized)?;
            // A password outside the limits was never accepted, so it cannot match.
            let matches = match Password::parse(password) {
                Ok(attempt) => state.hasher().verify(attempt, Some(stored)).await?,
                Err(_) => false,
            };
            if matches {
                Confirmation::CorrectPassword
            } else {
                Confirmation::WrongPassword
            }
        }
    };
    may_delete(confirmation, caller.is_fresh(&state)).inspect_err(|_| {
        tracing::info!(user_id, ?confirmation, "account deletion refused");
    })?;
    let mut write = state.sessions().begin().await?;
    let deleted = users::delete(write.connection(), user_id).await?;
    if deleted {
        write.user_deleted(user_id, caller.now);
    }
    write.commit().await?;
    if deleted {
        tracing::info!(
            event = "account.deleted",
            user_id,
            session_id = %caller.live.session.id,
            client_ip = %caller.client.ip,
            user_agent = caller.client.user_agent.as_str(),
            "account deleted with its sessions"
        );
    }
    Ok(Json(Deleted { success: true }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deletion_needs_the_password_or_a_fresh_session() {
        assert!(may_delete(Confirmation::None, true).is_ok());
        assert!(matches!(
            may_delete(Confirmation::None, false),
            Err(ApiError::SessionNotFresh)
        ));
        assert!(may_delete(Confirmation::CorrectPassword, false).is_ok());
        assert!(may_delete(Confirmation::CorrectPassword, true).is_ok());
    }

    #[test]
    fn a_wrong_password_is_refused_even_on_a_fresh_session() {
        assert!(matches!(
            may_delete(Confirmation::WrongPassword, true),
            Err(ApiError::InvalidPassword)
        ));
        assert!(matches!(
            may_delete(Confirmation::WrongPassword, false),
            Err(ApiError::InvalidPassword)
        ));
    }

    #[test]
    fn an_update_tells_a_removed_image_from_an_untouched_one() {
        let base = r#""session_token":"t","client_ip":"127.0.0.1","user_agent":"ua""#;
        let untouched: UpdateUserRequest =
            serde_json::from_str(&format!(r#"{{{base},"name":"Ada"}}"#)).unwrap();
        assert_eq!(
            (untouched.name.as_deref(), untouched.image),
            (Some("Ada"), None)
        );
        let removed: UpdateUserRequest =
            serde_json::from_str(&format!(r#"{{{base},"image":null}}"#)).unwrap();
        assert_eq!(removed.image, Some(None));
        let email: UpdateUserRequest =
            serde_json::from_str(&format!(r#"{{{base},"email":null}}"#)).unwrap();
        assert!(email.email.is_some());
    }
}
