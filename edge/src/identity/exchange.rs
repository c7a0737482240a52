//! identity's token exchange (RFC 8693, DESIGN §5) as edge calls it on the hot path: the form
//! edge sends, and identity's answer read once into a typed verdict. Identity being down or
//! breaking its contract stays an `EdgeError`; a refused session is a verdict, for the caller
//! to answer. Never logs the session or the access token.

use std::borrow::Cow;
use std::fmt;

use http::header::CONTENT_TYPE;
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use serde::Deserialize;
use service_kit::metrics::prometheus::Histogram;

use super::IdentityClient;
use crate::cookie::CookieToken;
use crate::error::EdgeError;

const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const SESSION_TOKEN_TYPE: &str = "urn:gatehouse:token-type:session";
const AUDIENCE: &str = "core-api";
const FORM: HeaderValue = HeaderValue::from_static("application/x-www-form-urlencoded");

/// One exchange: the session, and the request the token will be bound to.
pub struct ExchangeRequest<'a> {
    /// The browser's session token.
    pub session: CookieToken<'a>,
    /// The method of the request to forward.
    pub method: &'a Method,
    /// The exact path core-api will serve.
    pub path: &'a str,
    /// The browser's address.
    pub client_ip: &'a str,
    /// The browser's `User-Agent`.
    pub user_agent: &'a str,
}

/// What identity made of the session.
#[derive(Debug)]
pub enum ExchangeVerdict {
    /// A token for this request.
    Issued(IssuedToken),
    /// identity refused the session (`invalid_grant`): gone, expired or bound elsewhere.
    SessionRejected,
}

/// identity's successful exchange answer, as much of it as edge uses.
#[derive(Debug)]
pub struct IssuedToken {
    /// The access token, ready to forward.
    pub access_token: Bearer,
    /// Present when this exchange extended the session: the cookie's new Max-Age.
    pub session_expires_in: Option<u64>,
}

/// `Authorization: Bearer <access token>`, marked sensitive; its `Debug` is redacted.
pub struct Bearer(HeaderValue);

impl Bearer {
    /// The `Authorization` header value.
    pub fn into_header(self) -> HeaderValue {
        self.0
    }
}

impl fmt::Debug for Bearer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Bearer(<redacted>)")
    }
}

impl IdentityClient {
    /// `POST /v1/token`: exchanges the session for a token bound to the request, with the
    /// served request's `trace` headers.
    pub async fn exchange(
        &self,
        request: &ExchangeRequest<'_>,
        trace: HeaderMap,
    ) -> Result<ExchangeVerdict, EdgeError> {
        let timer = self.latency.as_ref().map(Histogram::start_timer);
        let answer = self
            .http
            .post(self.token_url.clone())
            .headers(trace)
            .header(CONTENT_TYPE, FORM)
            .body(request.form())
            .send()
            .await
            .map_err(EdgeError::from_identity)?;
        let status = answer.status();
        let answer = answer.bytes().await.map_err(EdgeError::from_identity)?;
        drop(timer);
        verdict(status, &answer)
    }
}

impl ExchangeRequest<'_> {
    /// The RFC 8693 exchange form (DESIGN §5).
    fn form(&self) -> String {
        let mut form = form_urlencoded::Serializer::new(String::with_capacity(384));
        form.append_pair("grant_type", GRANT_TYPE)
            .append_pair("subject_token", self.session.expose_secret())
            .append_pair("subject_token_type", SESSION_TOKEN_TYPE)
            .append_pair("audience", AUDIENCE)
            .append_pair("request_method", self.method.as_str())
            .append_pair("request_path", self.path)
            .append_pair("client_ip", self.client_ip)
            .append_pair("user_agent", self.user_agent);
        form.finish()
    }
}

/// identity's answer to an exchange: `200` → issued; `400 invalid_grant` → the session is
/// refused; another `4xx` or an unreadable `200` → a contract violation; anything else →
/// identity is unavailable.
fn verdict(status: StatusCode, answer: &[u8]) -> Result<ExchangeVerdict, EdgeError> {
    match status {
        StatusCode::OK => Ok(ExchangeVerdict::Issued(
            Issued::parse(answer)?.into_token()?,
        )),
        StatusCode::BAD_REQUEST if oauth_error(answer) == "invalid_grant" => {
            Ok(ExchangeVerdict::SessionRejected)
        }
        status if status.is_client_error() => {
            let error = oauth_error(answer);
            Err(EdgeError::identity_contract(format!(
                "token exchange answered {status} {error}"
            )))
        }
        status => Err(EdgeError::IdentityUnavailable(
            format!("token exchange answered {status}").into(),
        )),
    }
}

/// The `200` answer's wire shape; the token is borrowed from the answer when it has no escapes.
#[derive(Deserialize)]
struct Issued<'a> {
    #[serde(borrow)]
    access_token: Cow<'a, str>,
    #[serde(default)]
    session_expires_in: Option<u64>,
}

impl<'a> Issued<'a> {
    fn parse(answer: &'a [u8]) -> Result<Issued<'a>, EdgeError> {
        serde_json::from_slice(answer)
            .map_err(|err| EdgeError::identity_contract(format!("token exchange answer: {err}")))
    }

    /// The token as `Bearer <access_token>`, refusing one that is not a header value.
    fn into_token(self) -> Result<IssuedToken, EdgeError> {
        let mut value = String::with_capacity(7 + self.access_token.len());
        value.push_str("Bearer ");
        value.push_str(&self.access_token);
        let mut header = HeaderValue::try_from(value)
            .map_err(|_| EdgeError::identity_contract("access token is not a header value"))?;
        header.set_sensitive(true);
        Ok(IssuedToken {
            access_token: Bearer(header),
            session_expires_in: self.session_expires_in,
        })
    }
}

/// The `error` of an RFC 6749 error answer, or `""`.
fn oauth_error(answer: &[u8]) -> Cow<'_, str> {
    #[derive(Deserialize)]
    struct OAuthError<'a> {
        #[serde(borrow)]
        error: Cow<'a, str>,
    }
    serde_json::from_slice::<OAuthError>(answer)
        .map(|e| e.error)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bad_gateway(result: Result<ExchangeVerdict, EdgeError>) -> String {
        match result {
            Err(EdgeError::BadGateway(_, cause)) => cause.to_string(),
            other => panic!("expected a contract violation, got {other:?}"),
        }
    }

    #[test]
    fn a_200_issues_the_bearer_and_the_new_max_age() {
        let answer =
            br#"{"access_token":"eyJ.a.b","token_type":"Bearer","session_expires_in":600}"#;
        let Ok(ExchangeVerdict::Issued(token)) = verdict(StatusCode::OK, answer) else {
            panic!("expected a token");
        };
        assert_eq!(token.session_expires_in, Some(600));
        let header = token.access_token.into_header();
        assert_eq!(header, "Bearer eyJ.a.b");
        assert!(header.is_sensitive());

        let unextended = br#"{"access_token":"eyJ.a.b"}"#;
        let Ok(ExchangeVerdict::Issued(token)) = verdict(StatusCode::OK, unextended) else {
            panic!("expected a token");
        };
        assert_eq!(token.session_expires_in, None);
    }

    #[test]
    fn invalid_grant_rejects_the_session() {
        let answer = br#"{"error":"invalid_grant","error_description":"session expired"}"#;
        assert!(matches!(
            verdict(StatusCode::BAD_REQUEST, answer),
            Ok(ExchangeVerdict::SessionRejected)
        ));
    }

    #[test]
    fn other_client_errors_break_the_contract() {
        let answer = br#"{"error":"invalid_request"}"#;
        assert_eq!(
            bad_gateway(verdict(StatusCode::BAD_REQUEST, answer)),
            "token exchange answered 400 Bad Request invalid_request"
        );
        assert_eq!(
            bad_gateway(verdict(StatusCode::UNAUTHORIZED, b"nope")),
            "token exchange answered 401 Unauthorized "
        );
    }

    #[test]
    fn server_errors_mean_identity_is_unavailable() {
        for status in [StatusCode::INTERNAL_SERVER_ERROR, StatusCode::BAD_GATEWAY] {
            match verdict(status, b"{}") {
                Err(EdgeError::IdentityUnavailable(cause)) => {
                    assert_eq!(
                        cause.to_string(),
                        format!("token exchange answered {status}")
                    );
                }
                other => panic!("expected unavailable, got {other:?}"),
            }
        }
    }

    #[test]
    fn an_unreadable_200_breaks_the_contract() {
        for answer in [
            &b"not json"[..],
            br#"{"token_type":"Bearer"}"#,
            br#"{"access_token":"a\nb"}"#,
        ] {
            bad_gateway(verdict(StatusCode::OK, answer));
        }
    }

    #[test]
    fn the_bearer_debug_is_redacted() {
        let Ok(ExchangeVerdict::Issued(token)) =
            verdict(StatusCode::OK, br#"{"access_token":"s3cret"}"#)
        else {
            panic!("expected a token");
        };
        assert!(!format!("{token:?}").contains("s3cret"));
    }

    #[test]
    fn the_exchange_form_binds_method_path_and_client() {
        let request = ExchangeRequest {
            session: CookieToken::parse("tok_en-1").unwrap(),
            method: &Method::DELETE,
            path: "/api/orders/1",
            client_ip: "10.0.0.1",
            user_agent: "Mozilla/5.0 (X11)",
        };
        let form = request.form();
        let pairs: Vec<(String, String)> = form_urlencoded::parse(form.as_bytes())
            .into_owned()
            .collect();
        let get = |k: &str| {
            pairs
                .iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("grant_type"), Some(GRANT_TYPE));
        assert_eq!(get("subject_token"), Some("tok_en-1"));
        assert_eq!(get("subject_token_type"), Some(SESSION_TOKEN_TYPE));
        assert_eq!(get("audience"), Some("core-api"));
        assert_eq!(get("request_method"), Some("DELETE"));
        assert_eq!(get("request_path"), Some("/api/orders/1"));
        assert_eq!(get("client_ip"), Some("10.0.0.1"));
        assert_eq!(get("user_agent"), Some("Mozilla/5.0 (X11)"));
    }
}
