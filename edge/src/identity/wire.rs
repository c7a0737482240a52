//! identity's wire contract as edge speaks it: the body of each call edge makes and the answer
//! it reads back, with the secrets identity issues kept in a redacted type.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::EdgeError;

/// `POST /v1/sign-up` body.
#[derive(Serialize)]
pub struct SignUp<'a> {
    pub name: &'a str,
    pub email: &'a str,
    pub password: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<&'a str>,
    pub remember_me: bool,
    pub client_ip: &'a str,
    pub user_agent: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_session_token: Option<&'a str>,
}

/// `POST /v1/sign-in` body.
#[derive(Serialize)]
pub struct SignIn<'a> {
    pub email: &'a str,
    pub password: &'a str,
    pub remember_me: bool,
    pub client_ip: &'a str,
    pub user_agent: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_session_token: Option<&'a str>,
    /// The browser's device cookie (DESIGN §14), if it sent one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device_token: Option<&'a str>,
}

/// `POST /v1/session` body, and the caller part of every account endpoint's body.
#[derive(Serialize)]
pub struct SessionLookup<'a> {
    pub session_token: &'a str,
    pub client_ip: &'a str,
    pub user_agent: &'a str,
}

/// `POST /v1/sessions/revoke` body.
#[derive(Serialize)]
pub struct RevokeSession<'a> {
    #[serde(flatten)]
    pub caller: SessionLookup<'a>,
    /// The public handle of the session to revoke.
    pub session_id: &'a str,
}

/// `POST /v1/password/change` body.
#[derive(Serialize)]
pub struct ChangePassword<'a> {
    #[serde(flatten)]
    pub caller: SessionLookup<'a>,
    pub current_password: &'a str,
    pub new_password: &'a str,
    pub revoke_other_sessions: bool,
}

/// `POST /v1/user/update` body: absent fields are left as they are; `image: null` removes it.
#[derive(Serialize)]
pub struct UpdateUser<'a> {
    #[serde(flatten)]
    pub caller: SessionLookup<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<Option<&'a str>>,
    /// Whatever the browser sent as `email`, for identity to refuse.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<&'a Value>,
}

/// `POST /v1/user/delete` body.
#[derive(Serialize)]
pub struct DeleteUser<'a> {
    #[serde(flatten)]
    pub caller: SessionLookup<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<&'a str>,
}

/// `POST /v1/verification/send` body.
#[derive(Serialize)]
pub struct SendVerification<'a> {
    pub email: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub callback_url: Option<&'a str>,
}

/// `POST /v1/password/reset/request` body.
#[derive(Serialize)]
pub struct RequestReset<'a> {
    pub email: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redirect_to: Option<&'a str>,
}

/// `POST /v1/password/reset` body.
#[derive(Serialize)]
pub struct ResetPassword<'a> {
    pub token: &'a str,
    pub new_password: &'a str,
}

/// The body of the calls that carry just a link token.
#[derive(Serialize)]
pub(super) struct LinkToken<'a> {
    pub(super) token: &'a str,
}

/// identity's answer to a reset link check.
#[derive(Deserialize)]
pub(super) struct ResetLinkCheck {
    pub(super) valid: bool,
}

/// identity's development outbox, newest mail first.
#[derive(Deserialize)]
pub struct Outbox {
    pub messages: Vec<OutboxMail>,
}

/// One mail in the development outbox.
#[derive(Deserialize)]
pub struct OutboxMail {
    pub to: String,
    pub subject: String,
    pub sent_at: String,
    pub text: String,
    #[serde(default)]
    pub links: Vec<String>,
}

/// `POST /v1/sign-out` body.
#[derive(Serialize)]
pub(super) struct SignOut<'a> {
    pub(super) session_token: &'a str,
}

/// identity's answer to sign-up and sign-in.
#[derive(Deserialize)]
pub struct SignedIn {
    /// The user, Better-Auth shape.
    pub user: Value,
    /// The session, Better-Auth shape; its `token` is the public handle. `null` when sign-up
    /// started no session (REQUIRE_EMAIL_VERIFICATION).
    pub session: Value,
    /// The secret session token: it goes into the cookie and nowhere else. `None` when no
    /// session was started.
    pub session_token: Option<IssuedSecret>,
    /// Cookie lifetime in seconds; `None` for a browser-session cookie.
    pub cookie_max_age: Option<u64>,
    /// A new device token for the device cookie, when identity issued one.
    #[serde(default)]
    pub device_token: Option<IssuedSecret>,
}

/// identity's answer to a session lookup.
#[derive(Deserialize)]
pub struct CurrentSession {
    /// The user, Better-Auth shape.
    pub user: Value,
    /// The session, Better-Auth shape.
    pub session: Value,
    /// Cookie lifetime in seconds; `None` for a browser-session cookie.
    pub cookie_max_age: Option<u64>,
    /// Whether the expiry was extended (then the cookie is sent again).
    #[serde(default)]
    pub refreshed: bool,
}

/// identity's answer to a session listing.
#[derive(Deserialize)]
pub struct SessionList {
    /// The caller's live sessions, Better-Auth shape; each `token` is a public handle.
    pub sessions: Vec<Value>,
}

/// identity's answer to a revocation.
#[derive(Deserialize)]
pub struct Revoked {
    /// Whether the caller's own session is now revoked (then the cookie is cleared).
    pub revoked_current: bool,
}

/// identity's answer to a password change.
#[derive(Deserialize)]
pub struct PasswordChanged {
    /// The user, Better-Auth shape.
    pub user: Value,
    /// The new session, when every session was replaced.
    pub session: Option<Value>,
    /// The new session's secret token: it goes into the cookie and nowhere else.
    pub session_token: Option<IssuedSecret>,
    /// Cookie lifetime in seconds; `None` for a browser-session cookie.
    pub cookie_max_age: Option<u64>,
}

/// A secret identity just issued for a cookie (a session or device token). Its `Debug` is
/// redacted.
#[derive(Deserialize)]
#[serde(transparent)]
pub struct IssuedSecret(String);

impl IssuedSecret {
    /// The secret itself, for the `Set-Cookie` header.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for IssuedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("IssuedSecret(<redacted>)")
    }
}

/// The session's public handle (its `token` field, else its `id`), refusing one equal to the
/// secret: the secret never goes into a body.
pub fn session_handle(session: &Value, secret: &str) -> Result<Value, EdgeError> {
    let handle = session
        .get("token")
        .or_else(|| session.get("id"))
        .and_then(Value::as_str)
        .ok_or_else(|| EdgeError::identity_contract("session without a token handle"))?;
    if handle == secret {
        return Err(EdgeError::identity_contract(
            "session handle equals the secret token",
        ));
    }
    Ok(Value::String(handle.to_owned()))
}
