//! The bodies of the Better-Auth endpoints, checked as Better-Auth's schemas check them: field
//! types and required fields here, with zod-style messages (`[body.email] Invalid input: …`);
//! formats and lengths (email, password) are identity's to judge. Unknown keys are ignored.

use std::fmt;

use serde_json::{Map, Value};

use crate::body::type_name;
use crate::error::EdgeError;

/// A password as the browser sent it. Its `Debug` is redacted.
pub struct Password(String);

impl Password {
    /// The password itself, for the one place that must send it (identity).
    pub fn expose_secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// `POST /sign-up/email`.
#[derive(Debug)]
pub struct SignUpInput {
    pub name: String,
    pub email: String,
    pub password: Password,
    pub image: Option<String>,
    pub callback_url: Option<String>,
    pub remember_me: Option<bool>,
}

impl SignUpInput {
    /// Checks a sign-up body; `emailVerified` may not be set by the client.
    pub fn from_body(mut body: Map<String, Value>) -> Result<Self, EdgeError> {
        let mut fields = Fields::new(&mut body);
        let input = SignUpInput {
            name: fields.required_string("name"),
            email: fields.required_string("email"),
            password: Password(fields.required_string("password")),
            image: fields.nullable_string("image"),
            callback_url: fields.optional_string("callbackURL"),
            remember_me: fields.optional_bool("rememberMe"),
        };
        fields.finish()?;
        if body.contains_key("emailVerified") {
            return Err(EdgeError::FieldNotAllowed);
        }
        Ok(input)
    }
}

/// `POST /sign-in/email`.
#[derive(Debug)]
pub struct SignInInput {
    pub email: String,
    pub password: Password,
    pub callback_url: Option<String>,
    pub remember_me: Option<bool>,
}

impl SignInInput {
    /// Checks a sign-in body.
    pub fn from_body(mut body: Map<String, Value>) -> Result<Self, EdgeError> {
        let mut fields = Fields::new(&mut body);
        let input = SignInInput {
            email: fields.required_string("email"),
            password: Password(fields.required_string("password")),
            callback_url: fields.optional_string("callbackURL"),
            remember_me: fields.optional_bool("rememberMe"),
        };
        fields.finish()?;
        Ok(input)
    }
}

/// `POST /sign-out`: every field is optional and only `callbackURL` matters (it is checked).
#[derive(Debug)]
pub struct SignOutInput {
    pub callback_url: Option<String>,
}

impl SignOutInput {
    /// Checks a sign-out body.
    pub fn from_body(mut body: Map<String, Value>) -> Result<Self, EdgeError> {
        let mut fields = Fields::new(&mut body);
        let input = SignOutInput {
            callback_url: fields.optional_string("callbackURL"),
        };
        fields.finish()?;
        Ok(input)
    }
}

/// `POST /revoke-session`: the handle of the session to revoke (the `token` of a listed session).
#[derive(Debug)]
pub struct RevokeSessionInput {
    pub token: String,
}

impl RevokeSessionInput {
    /// Checks a revoke-session body.
    pub fn from_body(mut body: Map<String, Value>) -> Result<Self, EdgeError> {
        let mut fields = Fields::new(&mut body);
        let input = RevokeSessionInput {
            token: fields.required_string("token"),
        };
        fields.finish()?;
        Ok(input)
    }
}

/// `POST /change-password`.
#[derive(Debug)]
pub struct ChangePasswordInput {
    pub new_password: Password,
    pub current_password: Password,
    pub revoke_other_sessions: Option<bool>,
}

impl ChangePasswordInput {
    /// Checks a change-password body; the passwords' lengths are identity's to judge.
    pub fn from_body(mut body: Map<String, Value>) -> Result<Self, EdgeError> {
        let mut fields = Fields::new(&mut body);
        let input = ChangePasswordInput {
            new_password: Password(fields.required_string("newPassword")),
            current_password: Password(fields.required_string("currentPassword")),
            revoke_other_sessions: fields.optional_bool("revokeOtherSessions"),
        };
        fields.finish()?;
        Ok(input)
    }
}

/// `POST /update-user`: `None` leaves a field as it is; `image: Some(None)` removes the image.
#[derive(Debug)]
pub struct UpdateUserInput {
    pub name: Option<String>,
    pub image: Option<Option<String>>,
    /// Whatever was sent as `email`: identity refuses any (`EMAIL_CAN_NOT_BE_UPDATED`).
    pub email: Option<Value>,
}

impl UpdateUserInput {
    /// Checks an update-user body.
    pub fn from_body(mut body: Map<String, Value>) -> Result<Self, EdgeError> {
        let email = body.remove("email");
        let mut fields = Fields::new(&mut body);
        let input = UpdateUserInput {
            name: fields.optional_string("name"),
            image: fields.optional_nullable_string("image"),
            email,
        };
        fields.finish()?;
        Ok(input)
    }
}

/// `POST /delete-user`: the password stands in for a fresh session. `token` (Better-Auth's
/// deletion-by-mail) is type-checked and otherwise unused.
#[derive(Debug)]
pub struct DeleteUserInput {
    pub password: Option<Password>,
    pub callback_url: Option<String>,
}

impl DeleteUserInput {
    /// Checks a delete-user body.
    pub fn from_body(mut body: Map<String, Value>) -> Result<Self, EdgeError> {
        let mut fields = Fields::new(&mut body);
        let input = DeleteUserInput {
            password: fields.optional_string("password").map(Password),
            callback_url: fields.optional_string("callbackURL"),
        };
        let _ = fields.optional_string("token");
        fields.finish()?;
        Ok(input)
    }
}

/// `POST /send-verification-email`.
#[derive(Debug)]
pub struct SendVerificationInput {
    pub email: String,
    pub callback_url: Option<String>,
}

impl SendVerificationInput {
    /// Checks a send-verification-email body.
    pub fn from_body(mut body: Map<String, Value>) -> Result<Self, EdgeError> {
        let mut fields = Fields::new(&mut body);
        let input = SendVerificationInput {
            email: fields.required_string("email"),
            callback_url: fields.optional_string("callbackURL"),
        };
        fields.finish()?;
        Ok(input)
    }
}

/// `POST /request-password-reset`.
#[derive(Debug)]
pub struct RequestResetInput {
    pub email: String,
    pub redirect_to: Option<String>,
}

impl RequestResetInput {
    /// Checks a request-password-reset body.
    pub fn from_body(mut body: Map<String, Value>) -> Result<Self, EdgeError> {
        let mut fields = Fields::new(&mut body);
        let input = RequestResetInput {
            email: fields.required_string("email"),
            redirect_to: fields.optional_string("redirectTo"),
        };
        fields.finish()?;
        Ok(input)
    }
}

/// `POST /reset-password`: the token may also come in the query (`?token=`).
#[derive(Debug)]
pub struct ResetPasswordInput {
    pub new_password: Password,
    pub token: Option<String>,
}

impl ResetPasswordInput {
    /// Checks a reset-password body; the password's length is identity's to judge.
    pub fn from_body(mut body: Map<String, Value>) -> Result<Self, EdgeError> {
        let mut fields = Fields::new(&mut body);
        let input = ResetPasswordInput {
            new_password: Password(fields.required_string("newPassword")),
            token: fields.optional_string("token"),
        };
        fields.finish()?;
        Ok(input)
    }
}

/// Takes fields out of a body, collecting every issue before failing.
struct Fields<'a> {
    body: &'a mut Map<String, Value>,
    issues: Vec<String>,
}

impl<'a> Fields<'a> {
    fn new(body: &'a mut Map<String, Value>) -> Self {
        Fields {
            body,
            issues: Vec::new(),
        }
    }

    fn required_string(&mut self, key: &str) -> String {
        match self.body.remove(key) {
            Some(Value::String(value)) => value,
            other => {
                self.wrong_type(key, "string", other.as_ref());
                String::new()
            }
        }
    }

    fn optional_string(&mut self, key: &str) -> Option<String> {
        match self.body.remove(key) {
            None => None,
            Some(Value::String(value)) => Some(value),
            Some(other) => {
                self.wrong_type(key, "string", Some(&other));
                None
            }
        }
    }

    fn nullable_string(&mut self, key: &str) -> Option<String> {
        match self.body.remove(key) {
            None | Some(Value::Null) => None,
            Some(Value::String(value)) => Some(value),
            Some(other) => {
                self.wrong_type(key, "string", Some(&other));
                None
            }
        }
    }

    /// Absent → `None`; `null` → `Some(None)`; a string → `Some(Some(_))`.
    fn optional_nullable_string(&mut self, key: &str) -> Option<Option<String>> {
        match self.body.remove(key) {
            None => None,
            Some(Value::Null) => Some(None),
            Some(Value::String(value)) => Some(Some(value)),
            Some(other) => {
                self.wrong_type(key, "string", Some(&other));
                None
            }
        }
    }

    /// A boolean; form bodies carry it as the text `true` or `false`.
    fn optional_bool(&mut self, key: &str) -> Option<bool> {
        match self.body.remove(key) {
            None => None,
            Some(Value::Bool(value)) => Some(value),
            Some(Value::String(text)) if text == "true" => Some(true),
            Some(Value::String(text)) if text == "false" => Some(false),
            Some(other) => {
                self.wrong_type(key, "boolean", Some(&other));
                None
            }
        }
    }

    fn wrong_type(&mut self, key: &str, expected: &str, got: Option<&Value>) {
        let received = got.map_or("undefined", type_name);
        self.issues.push(format!(
            "[body.{key}] Invalid input: expected {expected}, received {received}"
        ));
    }

    fn finish(self) -> Result<(), EdgeError> {
        if self.issues.is_empty() {
            Ok(())
        } else {
            Err(EdgeError::Validation(self.issues.join("; ")))
        }
    }
}

#[cfg(test)]
#[path = "input_tests.rs"]
mod tests;
