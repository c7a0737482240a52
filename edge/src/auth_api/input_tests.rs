//! Unit tests of the auth API's input parsing: each body's rules, and secrets kept redacted.

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
        SignInInput::from_body(object(json!({"email": "a@b.c", "password": "hunter22"}))).unwrap();
    assert!(!format!("{input:?}").contains("hunter22"));
}

#[test]
fn revoke_session_needs_a_string_token() {
    let input = RevokeSessionInput::from_body(object(json!({"token": "7d0f"}))).unwrap();
    assert_eq!(input.token, "7d0f");
    let message = validation_message(RevokeSessionInput::from_body(object(json!({}))));
    assert_eq!(
        message,
        "[body.token] Invalid input: expected string, received undefined"
    );
    assert!(RevokeSessionInput::from_body(object(json!({"token": 7}))).is_err());
}

#[test]
fn change_password_needs_both_passwords_and_keeps_them_redacted() {
    let input = ChangePasswordInput::from_body(object(json!({
        "newPassword": "new hunter22", "currentPassword": "old hunter22",
        "revokeOtherSessions": true
    })))
    .unwrap();
    assert_eq!(input.new_password.expose_secret(), "new hunter22");
    assert_eq!(input.revoke_other_sessions, Some(true));
    assert!(!format!("{input:?}").contains("hunter22"));
    let message = validation_message(ChangePasswordInput::from_body(object(
        json!({"newPassword": "x", "revokeOtherSessions": "yes"}),
    )));
    assert!(
        message
            .contains("[body.currentPassword] Invalid input: expected string, received undefined"),
        "{message}"
    );
    assert!(
        message.contains("[body.revokeOtherSessions] Invalid input: expected boolean"),
        "{message}"
    );
}

#[test]
fn update_user_tells_a_removed_image_from_an_untouched_one_and_passes_email_on() {
    let input = UpdateUserInput::from_body(object(json!({"name": "Ada"}))).unwrap();
    assert_eq!((input.name.as_deref(), input.image), (Some("Ada"), None));
    let input = UpdateUserInput::from_body(object(json!({"image": null}))).unwrap();
    assert_eq!(input.image, Some(None));
    let input = UpdateUserInput::from_body(object(json!({"email": null}))).unwrap();
    assert_eq!(input.email, Some(Value::Null));
    let message = validation_message(UpdateUserInput::from_body(object(
        json!({"name": null, "image": 1}),
    )));
    assert!(
        message.contains("[body.name]") && message.contains("[body.image]"),
        "{message}"
    );
}

#[test]
fn mail_flow_bodies_check_their_types() {
    let input =
        SendVerificationInput::from_body(object(json!({"email": "a@b.co", "callbackURL": "/x"})))
            .unwrap();
    assert_eq!(
        (input.email.as_str(), input.callback_url.as_deref()),
        ("a@b.co", Some("/x"))
    );
    assert!(SendVerificationInput::from_body(object(json!({}))).is_err());
    let input =
        RequestResetInput::from_body(object(json!({"email": "a@b.co", "redirectTo": "/r"})))
            .unwrap();
    assert_eq!(input.redirect_to.as_deref(), Some("/r"));
    assert!(
        RequestResetInput::from_body(object(json!({"email": "a@b.co", "redirectTo": 1}))).is_err()
    );
    let input = ResetPasswordInput::from_body(object(json!({"newPassword": "hunter22"}))).unwrap();
    assert!(input.token.is_none());
    assert!(!format!("{input:?}").contains("hunter22"));
    assert!(ResetPasswordInput::from_body(object(json!({"token": "t"}))).is_err());
}

#[test]
fn delete_user_takes_an_optional_password() {
    let input = DeleteUserInput::from_body(object(json!({}))).unwrap();
    assert!(input.password.is_none());
    let input = DeleteUserInput::from_body(object(json!({"password": "hunter22"}))).unwrap();
    assert!(!format!("{input:?}").contains("hunter22"));
    assert!(DeleteUserInput::from_body(object(json!({"password": 5}))).is_err());
    assert!(DeleteUserInput::from_body(object(json!({"token": 5}))).is_err());
}
