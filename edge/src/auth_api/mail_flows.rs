//! The mail-link endpoints (better-auth-shapes.md §3): send-verification-email, verify-email,
//! request-password-reset, the reset link `GET /reset-password/:token`, and reset-password.
//! Every callback (`callbackURL`, `redirectTo`) must stay on the public origin (`403
//! INVALID_CALLBACK_URL`). identity decides; its refusals are relayed, or turned into
//! `callbackURL?error=CODE` redirects where Better-Auth redirects. Tokens are never logged.

use axum::extract::{Path, Request, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use http::header::{CACHE_CONTROL, LOCATION};
use http::request::Parts;
use http::{HeaderValue, StatusCode, Uri};
use serde_json::{json, Value};

use super::input::{RequestResetInput, ResetPasswordInput, SendVerificationInput};
use super::require_safe_callback;
use crate::body::Encodings;
use crate::error::EdgeError;
use crate::identity;
use crate::origin::{is_safe_callback, Endpoint};
use crate::AppState;

/// A token longer than this cannot be one of identity's (they are 43 characters).
const TOKEN_MAX_CHARS: usize = 512;

/// `POST /send-verification-email {email, callbackURL?}` → `200 {"status":true}`, whether or not
/// the address is known (or already verified).
pub async fn send_verification_email(
    State(state): State<AppState>,
    request: Request,
) -> Result<Response, EdgeError> {
    let (_parts, object) = json_state_change(&state, request).await?;
    let input = SendVerificationInput::from_body(object)?;
    require_safe_callback(input.callback_url.as_deref(), &state.public_origin)?;
    state
        .identity
        .send_verification_email(&identity::SendVerification {
            email: &input.email,
            callback_url: input.callback_url.as_deref(),
        })
        .await?;
    Ok(Json(json!({ "status": true })).into_response())
}

/// `GET /verify-email?token&callbackURL`: uses the link. With a callback: `302` to it, or to
/// `callbackURL?error=INVALID_TOKEN|TOKEN_EXPIRED`; without: `200 {"status":true,"user":null}` or
/// identity's `401 {code}`.
pub async fn verify_email(
    State(state): State<AppState>,
    request: Request,
) -> Result<Response, EdgeError> {
    let (parts, _) = request.into_parts();
    let callback = query_param(&parts.uri, "callbackURL");
    if let Some(callback) = &callback {
        if !is_safe_callback(callback, &state.public_origin) {
            return Err(EdgeError::InvalidCallbackUrl);
        }
    }
    let Some(token) = query_param(&parts.uri, "token") else {
        return Err(missing_query("token"));
    };
    let verified = if token.chars().count() > TOKEN_MAX_CHARS {
        Err(invalid_token_relayed())
    } else {
        state.identity.verify_email(&token).await
    };
    match (verified, callback) {
        (Ok(()), Some(callback)) => redirect(&callback),
        (Ok(()), None) => Ok(no_store(
            Json(json!({ "status": true, "user": null })).into_response(),
        )),
        (Err(EdgeError::Relayed { body, .. }), Some(callback)) => {
            let code = relayed_code(&body).unwrap_or("INVALID_TOKEN");
            redirect(&with_query(&callback, "error", code))
        }
        (Err(err), _) => Err(err),
    }
}

/// `POST /request-password-reset {email, redirectTo?}` → always `200 {status:true, message}`
/// (the same whether or not the address is known).
pub async fn request_password_reset(
    State(state): State<AppState>,
    request: Request,
) -> Result<Response, EdgeError> {
    let (_parts, object) = json_state_change(&state, request).await?;
    let input = RequestResetInput::from_body(object)?;
    require_safe_callback(input.redirect_to.as_deref(), &state.public_origin)?;
    let answer = state
        .identity
        .request_password_reset(&identity::RequestReset {
            email: &input.email,
            redirect_to: input.redirect_to.as_deref(),
        })
        .await?;
    Ok(Json(answer).into_response())
}

/// `GET /reset-password/:token?callbackURL` (the mailed link): `302` to `callbackURL?token=…`
/// when the token would work (it is not used up here), else `callbackURL?error=INVALID_TOKEN`.
/// No callbackURL → `400 VALIDATION_ERROR`.
pub async fn reset_password_link(
    State(state): State<AppState>,
    token: Result<Path<String>, axum::extract::rejection::PathRejection>,
    request: Request,
) -> Result<Response, EdgeError> {
    let (parts, _) = request.into_parts();
    let Some(callback) = query_param(&parts.uri, "callbackURL") else {
        return Err(missing_query("callbackURL"));
    };
    if !is_safe_callback(&callback, &state.public_origin) {
        return Err(EdgeError::InvalidCallbackUrl);
    }
    let token = token.map(|Path(token)| token).unwrap_or_default();
    let valid = !token.is_empty()
        && token.chars().count() <= TOKEN_MAX_CHARS
        && state.identity.check_reset_token(&token).await?;
    if valid {
        redirect(&with_query(&callback, "token", &token))
    } else {
        redirect(&with_query(&callback, "error", "INVALID_TOKEN"))
    }
}

/// `POST /reset-password {newPassword, token?}` (or `?token=`) → `200 {"status":true}`; identity's
/// `400 INVALID_TOKEN`, `PASSWORD_TOO_SHORT`, `PASSWORD_TOO_LONG` are relayed. No cookie is set:
/// every session of the user has just been revoked.
pub async fn reset_password(
    State(state): State<AppState>,
    request: Request,
) -> Result<Response, EdgeError> {
    let (parts, object) = json_state_change(&state, request).await?;
    let input = ResetPasswordInput::from_body(object)?;
    // A missing token is identity's to refuse (`INVALID_TOKEN`), like an unknown one.
    let token = input
        .token
        .or_else(|| query_param(&parts.uri, "token"))
        .unwrap_or_default();
    if token.chars().count() > TOKEN_MAX_CHARS {
        return Err(invalid_token_relayed_as(StatusCode::BAD_REQUEST));
    }
    state
        .identity
        .reset_password(&identity::ResetPassword {
            token: &token,
            new_password: input.new_password.expose_secret(),
        })
        .await?;
    Ok(Json(json!({ "status": true })).into_response())
}

/// A state-changing request's parts and JSON object body (origin checked first; no session
/// needed).
async fn json_state_change(
    state: &AppState,
    request: Request,
) -> Result<(Parts, serde_json::Map<String, Value>), EdgeError> {
    let (parts, body) = super::origin_checked(state, request, Endpoint::Other)?;
    let object = super::read_object(&parts, body, Encodings::Json).await?;
    Ok((parts, object))
}

/// The first value of a query parameter, percent-decoded.
fn query_param(uri: &Uri, name: &str) -> Option<String> {
    let query = uri.query()?;
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

fn missing_query(name: &str) -> EdgeError {
    EdgeError::Validation(format!(
        "[query.{name}] Invalid input: expected string, received undefined"
    ))
}

/// `callback` with `key=value` appended to its query (before any fragment), value encoded.
fn with_query(callback: &str, key: &str, value: &str) -> String {
    let (base, fragment) = match callback.split_once('#') {
        Some((base, fragment)) => (base, Some(fragment)),
        None => (callback, None),
    };
    let separator = if base.contains('?') { '&' } else { '?' };
    let value: String = url::form_urlencoded::byte_serialize(value.as_bytes()).collect();
    let mut target = format!("{base}{separator}{key}={value}");
    if let Some(fragment) = fragment {
        target.push('#');
        target.push_str(fragment);
    }
    target
}

/// `302 Found` to a checked target, empty body.
fn redirect(target: &str) -> Result<Response, EdgeError> {
    let location = HeaderValue::from_str(target).map_err(|_| EdgeError::InvalidCallbackUrl)?;
    Ok(no_store(
        (StatusCode::FOUND, [(LOCATION, location)]).into_response(),
    ))
}

/// Link answers depend on one-time state: never cached.
fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The `code` of a relayed identity error body.
fn relayed_code(body: &[u8]) -> Option<&'static str> {
    let value: Value = serde_json::from_slice(body).ok()?;
    match value.get("code")?.as_str()? {
        "TOKEN_EXPIRED" => Some("TOKEN_EXPIRED"),
        "INVALID_TOKEN" => Some("INVALID_TOKEN"),
        _ => None,
    }
}

/// identity's answer to a token that cannot be one of its own, without asking it.
fn invalid_token_relayed() -> EdgeError {
    invalid_token_relayed_as(StatusCode::UNAUTHORIZED)
}

fn invalid_token_relayed_as(status: StatusCode) -> EdgeError {
    EdgeError::Relayed {
        status,
        body: bytes::Bytes::from_static(br#"{"code":"INVALID_TOKEN","message":"Invalid token."}"#),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_appended_to_the_callbacks_query() {
        assert_eq!(
            with_query("/reset-password", "token", "abc"),
            "/reset-password?token=abc"
        );
        assert_eq!(
            with_query("/r?x=1", "error", "INVALID_TOKEN"),
            "/r?x=1&error=INVALID_TOKEN"
        );
        assert_eq!(
            with_query("https://a.example/r#top", "token", "a b&"),
            "https://a.example/r?token=a+b%26#top"
        );
    }

    #[test]
    fn query_parameters_are_decoded() {
        let uri: Uri = "/api/auth/verify-email?token=t%2Bx&callbackURL=%2Fverify-email"
            .parse()
            .unwrap();
        assert_eq!(query_param(&uri, "token").as_deref(), Some("t+x"));
        assert_eq!(
            query_param(&uri, "callbackURL").as_deref(),
            Some("/verify-email")
        );
        assert_eq!(query_param(&uri, "other"), None);
    }

    #[test]
    fn only_link_codes_are_put_into_redirects() {
        assert_eq!(
            relayed_code(br#"{"code":"TOKEN_EXPIRED"}"#),
            Some("TOKEN_EXPIRED")
        );
        assert_eq!(relayed_code(br#"{"code":"<script>"}"#), None);
        assert_eq!(relayed_code(b"not json"), None);
    }
}
