//! The token exchange (DESIGN §5, RFC 8693): edge trades a session token for a 60-second
//! internal token bound to one audience, method and path. This is the product's hot path: one
//! indexed lookup, an UPDATE only when sliding expiry is due, one signature, no argon2.
//! It never tells the client why a session was refused (that goes to the log) and never logs
//! the session token.

use std::borrow::Cow;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::rngs::OsRng;
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use shared_claims::{Audience, Claims, TOKEN_LIFETIME_SECS};

use crate::keys::KeyError;
use crate::sessions::{cookie_max_age, Client, LiveSession, SessionError};
use crate::AppState;

/// The only grant type accepted.
pub const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
/// The only subject token type accepted: a Gatehouse session token.
pub const SUBJECT_TOKEN_TYPE: &str = "urn:gatehouse:token-type:session";
/// The type of token issued.
pub const ISSUED_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
/// The `client_id` claim: the only exchanging client is edge.
pub const CLIENT_ID: &str = "edge";

/// An RFC 6749 §5.2 error of the token endpoint.
#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    /// A parameter is missing, repeated or malformed.
    #[error("{0}")]
    InvalidRequest(String),
    /// The grant type is not token exchange.
    #[error("Only the token-exchange grant type is supported.")]
    UnsupportedGrantType,
    /// The audience is not in `TOKEN_AUDIENCES`.
    #[error("The requested audience is not allowed.")]
    InvalidTarget,
    /// Any session problem: one answer for all of them.
    #[error("The session is invalid or has expired.")]
    InvalidGrant,
    /// The store or the key ring failed (logged, not described).
    #[error("The token could not be issued.")]
    ServerError(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl OAuthError {
    fn code(&self) -> &'static str {
        match self {
            OAuthError::InvalidRequest(_) => "invalid_request",
            OAuthError::UnsupportedGrantType => "unsupported_grant_type",
            OAuthError::InvalidTarget => "invalid_target",
            OAuthError::InvalidGrant => "invalid_grant",
            OAuthError::ServerError(_) => "server_error",
        }
    }
}

impl From<SessionError> for OAuthError {
    fn from(error: SessionError) -> Self {
        match error {
            SessionError::Refused(_) => OAuthError::InvalidGrant,
            SessionError::Database(error) => OAuthError::ServerError(Box::new(error)),
        }
    }
}

impl From<KeyError> for OAuthError {
    fn from(error: KeyError) -> Self {
        OAuthError::ServerError(Box::new(error))
    }
}

#[derive(Serialize)]
struct OAuthErrorBody<'a> {
    error: &'a str,
    error_description: &'a str,
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let status = match &self {
            OAuthError::ServerError(cause) => {
                tracing::error!(error = %cause, "token exchange failed");
                StatusCode::INTERNAL_SERVER_ERROR
            }
            _ => StatusCode::BAD_REQUEST,
        };
        let description = self.to_string();
        let body = OAuthErrorBody {
            error: self.code(),
            error_description: &description,
        };
        (status, no_store(), Json(body)).into_response()
    }
}

/// Token responses must not be cached (RFC 6749 §5.1).
fn no_store() -> [(header::HeaderName, HeaderValue); 1] {
    [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))]
}

/// A checked exchange request.
#[derive(Debug)]
pub struct ExchangeRequest {
    /// The session token (secret; redacted `Debug`).
    pub subject_token: SecretString,
    /// The service the token is for.
    pub audience: String,
    /// The `htm` claim: the HTTP method of the proxied call.
    pub request_method: String,
    /// The `htu` claim: the core-api path (no query) of the proxied call.
    pub request_path: String,
    /// The browser behind edge.
    pub client: Client,
}

/// The form parameters, in the order their slots are kept.
const PARAMETERS: [&str; 8] = [
    "grant_type",
    "subject_token",
    "subject_token_type",
    "audience",
    "request_method",
    "request_path",
    "client_ip",
    "user_agent",
];

impl ExchangeRequest {
    /// Parses the form body. Every parameter is required exactly once (an empty value counts as
    /// missing, RFC 6749 §3.1, except `user_agent`: a browser may send none); unknown
    /// parameters are ignored (RFC 6749 §3.2).
    pub fn parse(body: &[u8]) -> Result<ExchangeRequest, OAuthError> {
        let mut slots: [Option<Cow<'_, str>>; 8] = Default::default();
        for (name, value) in form_urlencoded::parse(body) {
            let Some(index) = PARAMETERS.iter().position(|known| *known == name) else {
                continue;
            };
            if slots[index].replace(value).is_some() {
                return Err(invalid_request(format!(
                    "The {} parameter is repeated.",
                    PARAMETERS[index]
                )));
            }
        }
        let [grant_type, subject_token, subject_token_type, audience, request_method, request_path, client_ip, user_agent] =
            slots;

        if required(grant_type, 0)? != GRANT_TYPE {
            return Err(OAuthError::UnsupportedGrantType);
        }
        let subject_token = required(subject_token, 1)?;
        if required(subject_token_type, 2)? != SUBJECT_TOKEN_TYPE {
            return Err(invalid_request(format!(
                "The subject_token_type must be {SUBJECT_TOKEN_TYPE}."
            )));
        }
        let audience = required(audience, 3)?;
        let request_method = required(request_method, 4)?;
        if !is_upper_case_http_token(&request_method) {
            return Err(invalid_request(
                "The request_method must be an upper-case HTTP method.".into(),
            ));
        }
        let request_path = required(request_path, 5)?;
        if !is_request_path(&request_path) {
            return Err(invalid_request(
                "The request_path must start with / and carry no query or fragment.".into(),
            ));
        }
        let client_ip = required(client_ip, 6)?;
        let user_agent = user_agent
            .ok_or_else(|| invalid_request("The user_agent parameter is missing.".into()))?;
        let client = Client::parse(&client_ip, &user_agent)
            .ok_or_else(|| invalid_request("The client_ip must be an IP address.".into()))?;

        Ok(ExchangeRequest {
            subject_token: SecretString::from(subject_token.into_owned()),
            audience: audience.into_owned(),
            request_method: request_method.into_owned(),
            request_path: request_path.into_owned(),
            client,
        })
    }
}

/// The value of a required parameter; empty counts as missing.
fn required(slot: Option<Cow<'_, str>>, index: usize) -> Result<Cow<'_, str>, OAuthError> {
    slot.filter(|value| !value.is_empty())
        .ok_or_else(|| invalid_request(format!("The {} parameter is missing.", PARAMETERS[index])))
}

fn invalid_request(description: String) -> OAuthError {
    OAuthError::InvalidRequest(description)
}

/// An HTTP method as RFC 9110 spells a token, in upper case (`GET`, `POST`, `PATCH` …).
fn is_upper_case_http_token(method: &str) -> bool {
    method.len() <= 32
        && method.bytes().all(|b| {
            b.is_ascii_uppercase() || b.is_ascii_digit() || b"!#$%&'*+-.^_`|~".contains(&b)
        })
}

/// An origin-form path without query or fragment and without spaces or control characters.
fn is_request_path(path: &str) -> bool {
    path.starts_with('/')
        && !path
            .bytes()
            .any(|b| b == b'?' || b == b'#' || b <= b' ' || b == 0x7f)
}

/// The claims of DESIGN §4 for one call, issued at `now_unix`.
pub fn mint_claims(
    live: &LiveSession,
    request: ExchangeRequest,
    issuer: &str,
    now_unix: i64,
) -> Claims {
    let mut jti = [0u8; 16];
    OsRng.fill_bytes(&mut jti);
    Claims {
        iss: issuer.to_owned(),
        sub: live.user.id.clone(),
        aud: Audience::One(request.audience),
        iat: now_unix,
        nbf: now_unix,
        exp: now_unix + TOKEN_LIFETIME_SECS,
        jti: URL_SAFE_NO_PAD.encode(jti),
        sid: live.session.id.clone(),
        client_id: CLIENT_ID.to_owned(),
        email: live.user.email.clone(),
        email_verified: live.user.email_verified,
        htm: request.request_method,
        htu: request.request_path,
    }
}

/// The success body (RFC 8693 §2.2.1), with one extension member (RFC 8693 §2.2.1 allows them):
/// `session_expires_in`, the session's new cookie lifetime in seconds, present only when this
/// exchange extended the session, so edge can send the cookie again (DESIGN §3).
#[derive(Serialize)]
pub struct IssuedToken {
    access_token: String,
    issued_token_type: &'static str,
    token_type: &'static str,
    expires_in: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    session_expires_in: Option<i64>,
}

impl IntoResponse for IssuedToken {
    fn into_response(self) -> Response {
        (no_store(), Json(self)).into_response()
    }
}

/// `POST /v1/token`, counted by outcome (`gatehouse_token_exchanges_total`).
pub async fn exchange_session_for_token(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<IssuedToken, OAuthError> {
    let outcome = exchange(&state, &headers, body).await;
    state
        .metrics()
        .token_exchange(outcome.as_ref().map_or_else(OAuthError::code, |_| "issued"));
    outcome
}

async fn exchange(
    state: &AppState,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<IssuedToken, OAuthError> {
    if !is_form(headers) {
        return Err(invalid_request(
            "The body must be application/x-www-form-urlencoded.".into(),
        ));
    }
    let body =
        body.map_err(|_| invalid_request("The body could not be read or is too large.".into()))?;
    let request = ExchangeRequest::parse(&body)?;
    if !state.audience_allowed(&request.audience) {
        tracing::info!(audience = %request.audience, "token exchange for an audience not allowed");
        return Err(OAuthError::InvalidTarget);
    }
    let now = state.clock().now_millis();
    let used = state
        .sessions()
        .exchange(request.subject_token.expose_secret(), &request.client, now)
        .await?;
    let session_expires_in = used
        .refreshed
        .then(|| cookie_max_age(&used.live.session.times, now))
        .flatten();
    service_kit::observe::record_caller(&used.live.user.id, &used.live.session.id);
    let claims = mint_claims(&used.live, request, state.issuer(), now.div_euclid(1000));
    let access_token = state.keyring().sign(&claims)?;
    Ok(IssuedToken {
        access_token,
        issued_token_type: ISSUED_TOKEN_TYPE,
        token_type: "Bearer",
        expires_in: TOKEN_LIFETIME_SECS,
        session_expires_in,
    })
}

fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|mime| {
            mime.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

    fn body(overrides: &[(&str, Option<&str>)]) -> String {
        let defaults = [
            ("grant_type", GRANT_TYPE),
            ("subject_token", TOKEN),
            ("subject_token_type", SUBJECT_TOKEN_TYPE),
            ("audience", "core-api"),
            ("request_method", "GET"),
            ("request_path", "/api/orders/42"),
            ("client_ip", "203.0.113.7"),
            ("user_agent", "Mozilla/5.0 (X11)"),
        ];
        let mut form = form_urlencoded::Serializer::new(String::new());
        for (name, value) in defaults {
            match overrides.iter().find(|(n, _)| *n == name) {
                Some((_, Some(v))) => form.append_pair(name, v),
                Some((_, None)) => &mut form,
                None => form.append_pair(name, value),
            };
        }
        form.finish()
    }

    fn description(error: OAuthError) -> String {
        match error {
            OAuthError::InvalidRequest(d) => d,
            other => panic!("expected invalid_request, got {other:?}"),
        }
    }

    #[test]
    fn a_complete_request_parses() {
        let request = ExchangeRequest::parse(body(&[]).as_bytes()).unwrap();
        assert_eq!(request.subject_token.expose_secret(), TOKEN);
        assert_eq!(request.audience, "core-api");
        assert_eq!(request.request_method, "GET");
        assert_eq!(request.request_path, "/api/orders/42");
        assert_eq!(request.client.ip, "203.0.113.7");
        assert_eq!(request.client.user_agent, "Mozilla/5.0 (X11)");
    }

    #[test]
    fn each_missing_parameter_is_invalid_request_naming_it() {
        for name in PARAMETERS {
            let error = ExchangeRequest::parse(body(&[(name, None)]).as_bytes()).unwrap_err();
            assert!(description(error).contains(name), "{name}");
        }
    }

    #[test]
    fn an_empty_value_counts_as_missing_except_the_user_agent() {
        let error = ExchangeRequest::parse(body(&[("audience", Some(""))]).as_bytes()).unwrap_err();
        assert!(description(error).contains("audience"));
        let request = ExchangeRequest::parse(body(&[("user_agent", Some(""))]).as_bytes()).unwrap();
        assert_eq!(request.client.user_agent, "");
    }

    #[test]
    fn each_repeated_parameter_is_invalid_request_naming_it() {
        for name in PARAMETERS {
            let repeated = format!("{}&{name}=again", body(&[]));
            let error = ExchangeRequest::parse(repeated.as_bytes()).unwrap_err();
            assert!(description(error).contains("repeated"), "{name}");
        }
    }

    #[test]
    fn unknown_parameters_are_ignored() {
        let extra = format!("{}&scope=x&resource=y", body(&[]));
        assert!(ExchangeRequest::parse(extra.as_bytes()).is_ok());
    }

    #[test]
    fn another_grant_type_is_unsupported() {
        let error = ExchangeRequest::parse(body(&[("grant_type", Some("password"))]).as_bytes())
            .unwrap_err();
        assert!(matches!(error, OAuthError::UnsupportedGrantType));
    }

    #[test]
    fn another_subject_token_type_is_invalid_request() {
        let other = "urn:ietf:params:oauth:token-type:jwt";
        let error = ExchangeRequest::parse(body(&[("subject_token_type", Some(other))]).as_bytes())
            .unwrap_err();
        assert!(description(error).contains("subject_token_type"));
    }

    #[test]
    fn the_method_must_be_an_upper_case_token() {
        for good in ["GET", "POST", "DELETE", "PATCH", "M-SEARCH"] {
            assert!(
                ExchangeRequest::parse(body(&[("request_method", Some(good))]).as_bytes()).is_ok(),
                "{good}"
            );
        }
        for bad in ["get", "Get", "GE T", "GET\n", "(GET)"] {
            let error = ExchangeRequest::parse(body(&[("request_method", Some(bad))]).as_bytes())
                .unwrap_err();
            assert!(description(error).contains("request_method"), "{bad:?}");
        }
    }

    #[test]
    fn the_path_must_be_a_bare_absolute_path() {
        for bad in [
            "api/orders",
            "/api/orders?x=1",
            "/api#top",
            "/a b",
            "http://x/api",
        ] {
            let error = ExchangeRequest::parse(body(&[("request_path", Some(bad))]).as_bytes())
                .unwrap_err();
            assert!(description(error).contains("request_path"), "{bad:?}");
        }
    }

    #[test]
    fn the_client_ip_must_be_an_address() {
        let error = ExchangeRequest::parse(body(&[("client_ip", Some("somewhere"))]).as_bytes())
            .unwrap_err();
        assert!(description(error).contains("client_ip"));
    }

    #[test]
    fn the_subject_token_is_redacted_in_debug() {
        let request = ExchangeRequest::parse(body(&[]).as_bytes()).unwrap();
        assert!(!format!("{request:?}").contains(TOKEN));
    }

    #[test]
    fn the_session_lifetime_is_announced_only_when_the_exchange_extended_it() {
        let issued = |session_expires_in| IssuedToken {
            access_token: "t".into(),
            issued_token_type: ISSUED_TOKEN_TYPE,
            token_type: "Bearer",
            expires_in: TOKEN_LIFETIME_SECS,
            session_expires_in,
        };
        let plain = serde_json::to_value(issued(None)).unwrap();
        assert!(plain.get("session_expires_in").is_none(), "{plain}");
        let extended = serde_json::to_value(issued(Some(604_800))).unwrap();
        assert_eq!(extended["session_expires_in"], 604_800);
    }

    #[test]
    fn only_form_bodies_are_accepted() {
        let mut headers = HeaderMap::new();
        assert!(!is_form(&headers));
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        assert!(!is_form(&headers));
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded; charset=UTF-8"),
        );
        assert!(is_form(&headers));
    }
}
