//! Accounts over JSON for edge, with Better-Auth's shapes and error codes: signing in and out
//! (`sign_in`), the caller's sessions and their revocation (`session_list`), the password
//! (`password`), the profile and the account's deletion (`profile`). Handlers only translate:
//! the rules live in `users`, `passwords` and `sessions`. Every endpoint past sign-in
//! authenticates its caller by session token and client exactly as `/v1/session` does (expiry,
//! revocation, User-Agent binding) and refuses with `401 UNAUTHORIZED` otherwise. The secret
//! session token appears only in the `session_token` field of answers that start a session,
//! never in a session object or a log.

mod password;
mod profile;
mod session_list;
mod sign_in;

pub use password::change_password;
pub use profile::{delete_user, update_user};
pub use session_list::{list_sessions, revoke_all_sessions, revoke_other_sessions, revoke_session};
pub use sign_in::{current_session, sign_in, sign_out, sign_up};

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer, Serialize};

use crate::error::ApiError;
use crate::sessions::{
    cookie_max_age, is_fresh, Client, LiveSession, Session, SessionJson, SessionPolicy,
    SessionToken,
};
use crate::users::{User, UserJson};
use crate::AppState;

/// Who is calling: the session token behind edge's cookie and the browser presenting it. Every
/// account endpoint's body carries these three fields (and `/v1/session`'s is exactly this), and
/// so do social's endpoints for a signed-in caller.
#[derive(Deserialize)]
pub struct Credentials {
    session_token: SecretString,
    client_ip: String,
    user_agent: String,
}

/// A caller whose session checked out.
pub(crate) struct Caller {
    /// The session and its user, as of `now`.
    pub(crate) live: LiveSession,
    /// The browser, as edge reports it.
    pub(crate) client: Client,
    /// The time the session was checked at (ms since the epoch).
    pub(crate) now: i64,
}

impl Caller {
    /// Sensitive changes need a session signed in less than `SESSION_FRESH_AGE` ago.
    fn require_fresh(&self, policy: &SessionPolicy) -> Result<(), ApiError> {
        if is_fresh(&self.live.session.times, self.now, policy) {
            Ok(())
        } else {
            tracing::info!(session_id = %self.live.session.id, "sensitive change refused: session not fresh");
            Err(ApiError::SessionNotFresh)
        }
    }

    /// Whether the caller's session signed in less than `SESSION_FRESH_AGE` ago.
    fn is_fresh(&self, state: &AppState) -> bool {
        is_fresh(&self.live.session.times, self.now, state.session_policy())
    }
}

/// Authenticates the caller without changing the session (no sliding extension: edge would
/// have to send the cookie again).
pub(crate) async fn authenticate(
    state: &AppState,
    credentials: &Credentials,
) -> Result<Caller, ApiError> {
    let client = parse_client(&credentials.client_ip, &credentials.user_agent)?;
    let now = state.clock().now_millis();
    let live = state
        .sessions()
        .authenticate(credentials.session_token.expose_secret(), &client, now)
        .await?;
    service_kit::observe::record_caller(&live.user.id, &live.session.id);
    Ok(Caller { live, client, now })
}

/// The browser as edge reports it; an address that is not one is a validation error.
pub(crate) fn parse_client(ip: &str, user_agent: &str) -> Result<Client, ApiError> {
    Client::parse(ip, user_agent)
        .ok_or_else(|| ApiError::Validation("[body.client_ip] Invalid IP address.".into()))
}

/// A new session and its secret token.
pub(crate) struct NewSession {
    session: Session,
    token: SessionToken,
}

/// What an endpoint that may start a session answers (sign-up, sign-in, password change).
#[derive(Serialize)]
pub struct SignedIn<'a> {
    user: UserJson<'a>,
    /// `null` when no session was started.
    session: Option<SessionJson<'a>>,
    /// The secret token, for edge's cookie only.
    session_token: Option<&'a str>,
    /// Cookie `Max-Age` in seconds; `null` for a browser-session cookie (or no session).
    cookie_max_age: Option<i64>,
    /// A new device token for edge's device cookie (DESIGN §14), when one was issued.
    #[serde(skip_serializing_if = "Option::is_none")]
    device_token: Option<&'a str>,
}

impl<'a> SignedIn<'a> {
    fn new(user: &'a User, new: Option<&'a NewSession>, now: i64) -> SignedIn<'a> {
        SignedIn {
            user: user.to_json(),
            session: new.map(|new| new.session.to_json()),
            session_token: new.map(|new| new.token.expose_secret()),
            cookie_max_age: new.and_then(|new| cookie_max_age(&new.session.times, now)),
            device_token: None,
        }
    }

    /// Hands edge a new device token for its cookie.
    fn with_device(mut self, device: Option<&'a crate::devices::DeviceToken>) -> SignedIn<'a> {
        self.device_token = device.map(|token| token.expose_secret());
        self
    }
}

/// Deserializes a field that may be absent, `null` or a value into `Option<T>` such that only
/// absence is `None` (used with `#[serde(default)]`), so `"image": null` can mean "remove".
fn present<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::de::IgnoredAny;

    #[derive(Deserialize)]
    struct Probe {
        #[serde(default, deserialize_with = "present")]
        image: Option<Option<String>>,
        #[serde(default, deserialize_with = "present")]
        email: Option<IgnoredAny>,
    }

    #[test]
    fn absent_null_and_a_value_are_told_apart() {
        let absent: Probe = serde_json::from_str("{}").unwrap();
        assert_eq!(absent.image, None);
        assert!(absent.email.is_none());
        let null: Probe = serde_json::from_str(r#"{"image": null, "email": null}"#).unwrap();
        assert_eq!(null.image, Some(None));
        assert!(
            null.email.is_some(),
            "an email key of any value counts as sent"
        );
        let value: Probe = serde_json::from_str(r#"{"image": "a.png", "email": 5}"#).unwrap();
        assert_eq!(value.image, Some(Some("a.png".into())));
        assert!(serde_json::from_str::<Probe>(r#"{"image": 5}"#).is_err());
    }
}
