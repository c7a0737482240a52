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
mod tests {
    use super::*;
    use serde_json::json;

    fn object(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => unreachable!("test bodies are objects"),
        }
    }

    fn validation_message(result: Result<impl fmt::Debug, EdgeError>) -> String {
        match result {
            Err(EdgeError::Validation(message)) => message,
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn sign_up_takes_its_fields_and_ignores_unknown_ones() {
        let input = SignUpInput::from_body(object(json!({
            "name": "Ada", "email": "ada@example.com", "password": "correct horse",
            "image": null, "rememberMe": false, "favouriteColour": "green"
        })))
        .unwrap();
        assert_eq!(
            (input.name.as_str(), input.email.as_str()),
            ("Ada", "ada@example.com")
        );
        assert_eq!(input.password.expose_secret(), "correct horse");
        assert_eq!((input.image, input.remember_me), (None, Some(false)));
    }

    #[test]
    fn every_issue_is_listed_with_its_path() {
        let message = validation_message(SignUpInput::from_body(object(
            json!({"name": 5, "password": "x"}),
        )));
        assert_eq!(
            message,
            "[body.name] Invalid input: expected string, received number; \
             [body.email] Invalid input: expected string, received undefined"
        );
    }

    #[test]
    fn email_verified_may_not_be_set_at_sign_up() {
        let body =
            json!({"name": "A", "email": "a@b.c", "password": "p4ssword", "emailVerified": true});
        assert!(matches!(
            SignUpInput::from_body(object(body)),
            Err(EdgeError::FieldNotAllowed)
        ));
    }

    #[test]
    fn sign_in_checks_types_and_reads_form_booleans() {
        let input = SignInInput::from_body(object(
            json!({"email": "a@b.c", "password": "p", "rememberMe": "false"}),
        ))
        .unwrap();
        assert_eq!(input.remember_me, Some(false));
        let message = validation_message(SignInInput::from_body(object(
            json!({"email": "a@b.c", "password": null, "callbackURL": 1}),
        )));
        assert!(
            message.contains("[body.password] Invalid input: expected string, received null"),
            "{message}"
        );
        assert!(
            message.contains("[body.callbackURL] Invalid input: expected string, received number"),
            "{message}"
        );
    }

    #[test]
    fn password_debug_is_redacted() {
        let input =
            SignInInput::from_body(object(json!({"email": "a@b.c", "password": "hunter22"})))
                .unwrap();
        assert!(!format!("{input:?}").contains("hunter22"));
    }
}
