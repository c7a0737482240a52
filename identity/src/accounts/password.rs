//! Changing the password (DESIGN §3, §6): needs a fresh session and the current password; the
//! new hash, and the revocation of the user's other sessions, commit together or not at all.
//! With `revoke_other_sessions` every session goes, the caller's included, and the caller gets a
//! new one (Better-Auth's behaviour). Never logs or returns a password.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use secrecy::SecretString;
use serde::Deserialize;

use super::{authenticate, Caller, Credentials, NewSession, SignedIn};
use crate::error::ApiError;
use crate::json::JsonBody;
use crate::passwords::Hasher;
use crate::sessions::{SessionToken, Sessions};
use crate::users::{self, Password, User};
use crate::AppState;

/// `POST /v1/password/change` body.
#[derive(Deserialize)]
pub struct ChangePasswordRequest {
    #[serde(flatten)]
    credentials: Credentials,
    current_password: SecretString,
    new_password: SecretString,
    /// Also end the caller's own session and start a new one.
    #[serde(default)]
    revoke_other_sessions: bool,
}

/// What becomes of the user's sessions when the password changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SessionsAfterChange {
    /// The caller's session stays; every other one is revoked.
    KeepCurrent,
    /// Every session is revoked and the caller gets a new one.
    ReplaceAll,
}

impl SessionsAfterChange {
    /// A password change always ends the other sessions (DESIGN §3); asked to, the current too.
    fn asked(revoke_other_sessions: bool) -> SessionsAfterChange {
        if revoke_other_sessions {
            SessionsAfterChange::ReplaceAll
        } else {
            SessionsAfterChange::KeepCurrent
        }
    }
}

/// `POST /v1/password/change` → `{user, session, session_token, cookie_max_age}`, the last three
/// `null` unless a new session was started.
pub async fn change_password(
    State(state): State<AppState>,
    JsonBody(request): JsonBody<ChangePasswordRequest>,
) -> Result<Response, ApiError> {
    let caller = authenticate(&state, &request.credentials).await?;
    let change = PasswordChange {
        current_password: request.current_password,
        new_password: request.new_password,
        sessions_after: SessionsAfterChange::asked(request.revoke_other_sessions),
    };
    let changed = change_password_of(&caller, change, state.hasher(), state.sessions()).await?;
    let new_session = changed.new_session.as_ref();
    Ok(Json(SignedIn::new(&changed.user, new_session, caller.now)).into_response())
}

/// A change of password, as the caller asked for it.
pub(crate) struct PasswordChange {
    /// The password the caller says is the current one.
    pub(crate) current_password: SecretString,
    /// The password to store.
    pub(crate) new_password: SecretString,
    /// Whether the caller's own session goes too.
    pub(crate) sessions_after: SessionsAfterChange,
}

/// What a password change leaves behind.
pub(crate) struct PasswordChanged {
    /// The user, as updated.
    pub(crate) user: User,
    /// The caller's new session, when every session was replaced.
    pub(crate) new_session: Option<NewSession>,
}

/// Changes the caller's password: the session must be fresh and `current_password` right; the
/// new hash and the end of the other sessions (of every session, and a new one for the caller,
/// with [`SessionsAfterChange::ReplaceAll`]) commit together, or nothing changes.
pub(crate) async fn change_password_of(
    caller: &Caller,
    change: PasswordChange,
    hasher: &Hasher,
    sessions: &Sessions,
) -> Result<PasswordChanged, ApiError> {
    caller.require_fresh(sessions.policy())?;
    let new_password = Password::parse(change.new_password)?;
    let user_id = caller.live.user.id.as_str();

    // A current password outside the limits was never accepted, so it cannot match.
    let current =
        Password::parse(change.current_password).map_err(|_| ApiError::InvalidPassword)?;
    let stored = users::password_hash(sessions.pool(), user_id)
        .await?
        .ok_or(ApiError::Unauthorized)?;
    if !hasher.verify(current, Some(stored.clone())).await? {
        tracing::info!(user_id, "password change refused: wrong current password");
        return Err(ApiError::InvalidPassword);
    }
    let new_hash = hasher.hash(new_password).await?;

    // The transaction's first statement writes, so SQLite takes the write lock at once (waiting
    // out another writer) instead of failing a read-to-write upgrade.
    let now = caller.now;
    let mut write = sessions.begin().await?;
    let Some(user) =
        users::replace_password_hash(write.connection(), user_id, &stored, &new_hash, now).await?
    else {
        // Another change won the race since the current password was checked.
        return Err(ApiError::InvalidPassword);
    };
    write.user_changed(user_id);
    let new_session = match change.sessions_after {
        SessionsAfterChange::KeepCurrent => {
            write
                .end_all_but(user_id, &caller.live.session.id, now)
                .await?;
            None
        }
        SessionsAfterChange::ReplaceAll => {
            write.end_all(user_id, now).await?;
            let token = SessionToken::generate();
            let remember = caller.live.session.times.remember;
            let session = write
                .create(user_id, &token.hash(), &caller.client, remember, now)
                .await?;
            Some(NewSession { session, token })
        }
    };
    write.commit().await?;
    tracing::info!(
        event = "password.changed",
        user_id,
        session_id = %caller.live.session.id,
        new_session = new_session.is_some(),
        client_ip = %caller.client.ip,
        user_agent = caller.client.user_agent.as_str(),
        "password changed; other sessions revoked"
    );
    Ok(PasswordChanged { user, new_session })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_change_always_ends_the_other_sessions_and_the_current_only_when_asked() {
        assert_eq!(
            SessionsAfterChange::asked(false),
            SessionsAfterChange::KeepCurrent
        );
        assert_eq!(
            SessionsAfterChange::asked(true),
            SessionsAfterChange::ReplaceAll
        );
    }

    #[test]
    fn the_request_needs_both_passwords_and_defaults_to_keeping_the_session() {
        let body = r#"{"session_token":"t","client_ip":"127.0.0.1","user_agent":"ua",
                      "current_password":"old password","new_password":"new password"}"#;
        let request: ChangePasswordRequest = serde_json::from_str(body).unwrap();
        assert!(!request.revoke_other_sessions);
        let missing =
            r#"{"session_token":"t","client_ip":"127.0.0.1","user_agent":"ua","new_password":"x"}"#;
        assert!(serde_json::from_str::<ChangePasswordRequest>(missing).is_err());
    }

    use crate::test_store::{client, TestStore};
    use test_support::Store;

    const OLD: &str = "correct horse battery";
    const NEW: &str = "a new staple entirely";

    /// The caller behind `token`, as `authenticate` would make it.
    async fn caller(store: &TestStore, token: &SessionToken) -> Caller {
        Caller {
            live: store.live(token).await.expect("signed in"),
            client: client(),
            now: store.clock.now_millis(),
        }
    }

    /// A store whose user, with the password `OLD`, is signed in twice: the caller's session
    /// and another.
    async fn signed_in_twice(
        store: Store,
    ) -> Option<(TestStore, User, SessionToken, SessionToken)> {
        let store = TestStore::open(store).await?;
        let user = store.user("ada@example.com", OLD).await;
        let (mine, other) = (store.sign_in(&user).await, store.sign_in(&user).await);
        Some((store, user, mine, other))
    }

    fn change(current: &str, sessions_after: SessionsAfterChange) -> PasswordChange {
        PasswordChange {
            current_password: SecretString::from(current.to_owned()),
            new_password: SecretString::from(NEW.to_owned()),
            sessions_after,
        }
    }

    async fn a_wrong_current_password_changes_nothing(store: Store) {
        let Some((store, user, mine, other)) = signed_in_twice(store).await else {
            return;
        };
        let before = store.stored_hash(&user.id).await;

        for sessions_after in [
            SessionsAfterChange::KeepCurrent,
            SessionsAfterChange::ReplaceAll,
        ] {
            let me = caller(&store, &mine).await;
            let refused = change_password_of(
                &me,
                change("not the password", sessions_after),
                &store.hasher,
                &store.sessions,
            )
            .await;
            assert!(matches!(refused, Err(ApiError::InvalidPassword)));
        }

        assert_eq!(store.stored_hash(&user.id).await, before);
        assert!(store.password_is(&user.id, OLD).await);
        assert!(
            store.live(&mine).await.is_some(),
            "the caller's session stays"
        );
        assert!(
            store.live(&other).await.is_some(),
            "the other session stays"
        );
    }

    async fn a_change_revokes_the_other_sessions_and_keeps_the_callers(store: Store) {
        let Some((store, user, mine, other)) = signed_in_twice(store).await else {
            return;
        };
        let me = caller(&store, &mine).await;

        let changed = change_password_of(
            &me,
            change(OLD, SessionsAfterChange::KeepCurrent),
            &store.hasher,
            &store.sessions,
        )
        .await
        .expect("the change is made");

        assert!(changed.new_session.is_none());
        assert!(store.password_is(&user.id, NEW).await);
        assert!(
            store.live(&mine).await.is_some(),
            "the caller's session stays"
        );
        assert!(store.live(&other).await.is_none(), "the other session ends");
    }

    async fn a_change_replacing_all_ends_every_old_session_and_opens_one(store: Store) {
        let Some((store, user, mine, other)) = signed_in_twice(store).await else {
            return;
        };
        let me = caller(&store, &mine).await;

        let changed = change_password_of(
            &me,
            change(OLD, SessionsAfterChange::ReplaceAll),
            &store.hasher,
            &store.sessions,
        )
        .await
        .expect("the change is made");

        let new = changed.new_session.expect("a new session for the caller");
        assert!(store.password_is(&user.id, NEW).await);
        assert!(store.live(&mine).await.is_none());
        assert!(store.live(&other).await.is_none());
        let live = store.live(&new.token).await.expect("the new session works");
        assert_eq!(live.session.id, new.session.id);
    }

    test_support::on_both_stores!(
        a_wrong_current_password_changes_nothing,
        a_change_revokes_the_other_sessions_and_keeps_the_callers,
        a_change_replacing_all_ends_every_old_session_and_opens_one,
    );
}
