//! Entry points for the fuzz targets in `fuzz/` (not an API): every auth API body edge accepts,
//! read from bytes exactly as its handler reads it.

use axum::response::IntoResponse;
use http::header::CONTENT_TYPE;
use http::{HeaderMap, HeaderValue};

use crate::auth_api::input::*;
use crate::body::{parse_object, Encodings};
use crate::error::EdgeError;

/// The bodies `parse_auth_body` can read, in the order `kind` picks them (`kind % 11`); the last
/// is the body of the endpoints that take no fields (it is only parsed).
pub const AUTH_BODIES: [&str; 11] = [
    "sign-up/email",
    "sign-in/email",
    "sign-out",
    "revoke-session",
    "change-password",
    "update-user",
    "delete-user",
    "send-verification-email",
    "request-password-reset",
    "reset-password",
    "no fields",
];

/// Reads `bytes` as the body of the endpoint `kind % 11` picks, sent as JSON, or as a form when
/// `kind` has its top bit set; a refusal is turned into its response as the handler would.
pub fn parse_auth_body(kind: u8, bytes: &[u8]) {
    let content_type = if kind & 0x80 == 0 {
        "application/json"
    } else {
        "application/x-www-form-urlencoded"
    };
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Err(error) = read_body(kind % 11, &headers, bytes) {
        drop(error.into_response());
    }
}

/// Reads `bytes` as the JSON body of sign-in/social and link-social (`kind` even) or
/// unlink-account (`kind` odd), a refusal turned into its response as the handler would.
pub fn parse_social_body(kind: u8, bytes: &[u8]) {
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    let read = parse_object(&headers, bytes, Encodings::Json).and_then(|body| {
        if kind.is_multiple_of(2) {
            crate::auth_api::social::SocialInput::parse(body).map(drop)
        } else {
            crate::auth_api::social::UnlinkInput::parse(body).map(drop)
        }
    });
    if let Err(error) = read {
        drop(error.into_response());
    }
}

fn read_body(kind: u8, headers: &HeaderMap, bytes: &[u8]) -> Result<(), EdgeError> {
    let encodings = if kind < 2 {
        Encodings::JsonOrForm
    } else {
        Encodings::Json
    };
    let body = parse_object(headers, bytes, encodings)?;
    match kind {
        0 => drop(SignUpInput::from_body(body)?),
        1 => drop(SignInInput::from_body(body)?),
        2 => drop(SignOutInput::from_body(body)?),
        3 => drop(RevokeSessionInput::from_body(body)?),
        4 => drop(ChangePasswordInput::from_body(body)?),
        5 => drop(UpdateUserInput::from_body(body)?),
        6 => drop(DeleteUserInput::from_body(body)?),
        7 => drop(SendVerificationInput::from_body(body)?),
        8 => drop(RequestResetInput::from_body(body)?),
        9 => drop(ResetPasswordInput::from_body(body)?),
        _ => drop(body),
    }
    Ok(())
}
