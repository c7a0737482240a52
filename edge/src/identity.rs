//! identity's internal API as edge calls it: one pooled client, endpoint URLs built once, typed
//! requests and answers, and the mapping of identity's failures to `EdgeError`; the token
//! exchange of the hot path answers a typed verdict (`exchange`).
//! Never logs a token or a password.

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use service_kit::metrics::prometheus::Histogram;
use service_kit::observe::RequestContext;
use url::Url;

use crate::cookie::CookieToken;
use crate::error::EdgeError;

mod exchange;
mod wire;

pub use exchange::{ExchangeRequest, ExchangeVerdict};
pub use wire::*;
use wire::{LinkToken, ResetLinkCheck, SignOut};

/// How long `/readyz` waits for identity's `/healthz`.
const READINESS_TIMEOUT: Duration = Duration::from_secs(1);

/// The client for identity's internal API.
#[derive(Debug)]
pub struct IdentityClient {
    http: reqwest::Client,
    token_url: Url,
    sign_up_url: Url,
    sign_in_url: Url,
    session_url: Url,
    sign_out_url: Url,
    list_sessions_url: Url,
    revoke_session_url: Url,
    revoke_other_sessions_url: Url,
    revoke_all_sessions_url: Url,
    change_password_url: Url,
    update_user_url: Url,
    delete_user_url: Url,
    send_verification_url: Url,
    verify_email_url: Url,
    request_reset_url: Url,
    check_reset_url: Url,
    reset_password_url: Url,
    outbox_url: Url,
    healthz_url: Url,
    /// identity's base URL (ending in `/`), for endpoints built where they are used.
    base: Url,
    /// Observes how long each call takes (`gatehouse_upstream_duration_seconds`).
    latency: Option<Histogram>,
}

impl IdentityClient {
    /// Builds the endpoint URLs under `base` (which may carry a path prefix).
    pub fn new(mut base: Url, http: reqwest::Client) -> Self {
        if !base.path().ends_with('/') {
            let with_slash = format!("{}/", base.path());
            base.set_path(&with_slash);
        }
        let endpoint = |path: &str| {
            base.join(path)
                .expect("invariant: a relative path joins onto an http(s) base URL")
        };
        IdentityClient {
            token_url: endpoint("v1/token"),
            sign_up_url: endpoint("v1/sign-up"),
            sign_in_url: endpoint("v1/sign-in"),
            session_url: endpoint("v1/session"),
            sign_out_url: endpoint("v1/sign-out"),
            list_sessions_url: endpoint("v1/sessions/list"),
            revoke_session_url: endpoint("v1/sessions/revoke"),
            revoke_other_sessions_url: endpoint("v1/sessions/revoke-others"),
            revoke_all_sessions_url: endpoint("v1/sessions/revoke-all"),
            change_password_url: endpoint("v1/password/change"),
            update_user_url: endpoint("v1/user/update"),
            delete_user_url: endpoint("v1/user/delete"),
            send_verification_url: endpoint("v1/verification/send"),
            verify_email_url: endpoint("v1/verification/verify"),
            request_reset_url: endpoint("v1/password/reset/request"),
            check_reset_url: endpoint("v1/password/reset/check"),
            reset_password_url: endpoint("v1/password/reset"),
            outbox_url: endpoint("v1/dev/outbox"),
            healthz_url: endpoint("healthz"),
            base: base.clone(),
            http,
            latency: None,
        }
    }

    /// The same client, observing each call's duration into `latency`.
    pub fn timed(mut self, latency: Histogram) -> Self {
        self.latency = Some(latency);
        self
    }

    /// A request carrying the served request's id and a new `traceparent` hop, so identity's
    /// lines of this call share its request id and trace id.
    fn request(&self, method: http::Method, url: &Url) -> reqwest::RequestBuilder {
        let mut request = self.http.request(method, url.clone());
        if let Some(context) = RequestContext::current() {
            for (name, value) in context.outgoing_headers() {
                request = request.header(name, value);
            }
        }
        request
    }

    /// `POST /v1/sign-up`: creates the user and signs them in.
    pub async fn sign_up(&self, request: &SignUp<'_>) -> Result<SignedIn, EdgeError> {
        self.post(&self.sign_up_url, request).await
    }

    /// `POST /v1/sign-in`: checks the password and opens a new session.
    pub async fn sign_in(&self, request: &SignIn<'_>) -> Result<SignedIn, EdgeError> {
        self.post(&self.sign_in_url, request).await
    }

    /// `POST /v1/session`: the session behind a token, or `None` when identity refuses it.
    pub async fn session(
        &self,
        request: &SessionLookup<'_>,
    ) -> Result<Option<CurrentSession>, EdgeError> {
        match self.post(&self.session_url, request).await {
            Ok(session) => Ok(Some(session)),
            Err(EdgeError::Relayed { status, .. }) if status == http::StatusCode::UNAUTHORIZED => {
                Ok(None)
            }
            Err(err) => Err(err),
        }
    }

    /// `POST /v1/sign-out`: revokes the session if it exists.
    pub async fn sign_out(&self, token: CookieToken<'_>) -> Result<(), EdgeError> {
        let request = SignOut {
            session_token: token.expose_secret(),
        };
        let _: Value = self.post(&self.sign_out_url, &request).await?;
        Ok(())
    }

    /// `POST /v1/sessions/list`: the caller's live sessions (a fresh session is required).
    pub async fn list_sessions(
        &self,
        caller: &SessionLookup<'_>,
    ) -> Result<SessionList, EdgeError> {
        self.post(&self.list_sessions_url, caller).await
    }

    /// `POST /v1/sessions/revoke`: revokes one of the caller's sessions by its public handle.
    pub async fn revoke_session(&self, request: &RevokeSession<'_>) -> Result<Revoked, EdgeError> {
        self.post(&self.revoke_session_url, request).await
    }

    /// `POST /v1/sessions/revoke-others`: revokes every session of the caller's user but theirs.
    pub async fn revoke_other_sessions(
        &self,
        caller: &SessionLookup<'_>,
    ) -> Result<Revoked, EdgeError> {
        self.post(&self.revoke_other_sessions_url, caller).await
    }

    /// `POST /v1/sessions/revoke-all`: revokes every session of the caller's user, theirs
    /// included (a fresh session is required).
    pub async fn revoke_all_sessions(
        &self,
        caller: &SessionLookup<'_>,
    ) -> Result<Revoked, EdgeError> {
        self.post(&self.revoke_all_sessions_url, caller).await
    }

    /// `POST /v1/password/change`: changes the password and revokes the other sessions (all of
    /// them and a new one started, with `revoke_other_sessions`).
    pub async fn change_password(
        &self,
        request: &ChangePassword<'_>,
    ) -> Result<PasswordChanged, EdgeError> {
        self.post(&self.change_password_url, request).await
    }

    /// `POST /v1/user/update`: changes the caller's name or image.
    pub async fn update_user(&self, request: &UpdateUser<'_>) -> Result<(), EdgeError> {
        let _: Value = self.post(&self.update_user_url, request).await?;
        Ok(())
    }

    /// `POST /v1/user/delete`: deletes the caller's account and every session of it.
    pub async fn delete_user(&self, request: &DeleteUser<'_>) -> Result<(), EdgeError> {
        let _: Value = self.post(&self.delete_user_url, request).await?;
        Ok(())
    }

    /// `POST /v1/verification/send`: mails a verification link if the address is a known,
    /// unverified one (identity answers the same either way).
    pub async fn send_verification_email(
        &self,
        request: &SendVerification<'_>,
    ) -> Result<(), EdgeError> {
        let _: Value = self.post(&self.send_verification_url, request).await?;
        Ok(())
    }

    /// `POST /v1/verification/verify`: uses a verification token up and marks the address
    /// verified; `401 INVALID_TOKEN`/`TOKEN_EXPIRED` are relayed.
    pub async fn verify_email(&self, token: &str) -> Result<(), EdgeError> {
        let _: Value = self
            .post(&self.verify_email_url, &LinkToken { token })
            .await?;
        Ok(())
    }

    /// `POST /v1/password/reset/request`: identity's answer, the same for every address.
    pub async fn request_password_reset(
        &self,
        request: &RequestReset<'_>,
    ) -> Result<Value, EdgeError> {
        self.post(&self.request_reset_url, request).await
    }

    /// `POST /v1/password/reset/check`: whether a reset token would work (it is not used up).
    pub async fn check_reset_token(&self, token: &str) -> Result<bool, EdgeError> {
        let check: ResetLinkCheck = self
            .post(&self.check_reset_url, &LinkToken { token })
            .await?;
        Ok(check.valid)
    }

    /// `POST /v1/password/reset`: uses the token up, sets the password, revokes every session.
    pub async fn reset_password(&self, request: &ResetPassword<'_>) -> Result<(), EdgeError> {
        let _: Value = self.post(&self.reset_password_url, request).await?;
        Ok(())
    }

    /// `GET /v1/dev/outbox`: the development outbox, or `None` when identity has none (it sends
    /// mail over SMTP).
    pub async fn outbox(&self) -> Result<Option<Outbox>, EdgeError> {
        let answer = self
            .request(http::Method::GET, &self.outbox_url)
            .send()
            .await
            .map_err(EdgeError::from_identity)?;
        match answer.status() {
            http::StatusCode::NOT_FOUND => Ok(None),
            status if status.is_success() => answer.json().await.map(Some).map_err(|err| {
                EdgeError::identity_contract(format!("/v1/dev/outbox answered {err}"))
            }),
            status => Err(EdgeError::IdentityUnavailable(
                format!("/v1/dev/outbox answered {status}").into(),
            )),
        }
    }

    /// Whether identity's `/healthz` answers `200` within a second; else why not.
    pub async fn check_health(&self) -> Result<(), String> {
        let answer = self
            .http
            .get(self.healthz_url.clone())
            .timeout(READINESS_TIMEOUT)
            .send()
            .await
            .map_err(|err| {
                if err.is_timeout() {
                    "identity is too slow"
                } else {
                    "identity is unreachable"
                }
            })?;
        if answer.status() == http::StatusCode::OK {
            Ok(())
        } else {
            Err(format!("identity answered {}", answer.status().as_u16()))
        }
    }

    /// The URL of identity's endpoint at `path` (relative, e.g. `v1/social/start`).
    pub(crate) fn endpoint(&self, path: &str) -> Result<Url, EdgeError> {
        self.base
            .join(path)
            .map_err(|_| EdgeError::Internal("an identity endpoint path does not join"))
    }

    /// GETs JSON; 2xx → the answer, anything else → unavailable.
    pub(crate) async fn get<T: DeserializeOwned>(&self, url: &Url) -> Result<T, EdgeError> {
        let timer = self.latency.as_ref().map(Histogram::start_timer);
        let answer = self
            .request(http::Method::GET, url)
            .send()
            .await
            .map_err(EdgeError::from_identity)?;
        drop(timer);
        if !answer.status().is_success() {
            return Err(EdgeError::IdentityUnavailable(
                format!("{} answered {}", url.path(), answer.status()).into(),
            ));
        }
        answer
            .json()
            .await
            .map_err(|err| EdgeError::identity_contract(format!("{} answered {err}", url.path())))
    }

    /// POSTs JSON; 2xx → the answer, 4xx → relayed as is, anything else → unavailable.
    pub(crate) async fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        url: &Url,
        body: &B,
    ) -> Result<T, EdgeError> {
        let timer = self.latency.as_ref().map(Histogram::start_timer);
        let answer = self
            .request(http::Method::POST, url)
            .json(body)
            .send()
            .await
            .map_err(EdgeError::from_identity)?;
        let status = answer.status();
        let retry_after = answer.headers().get(http::header::RETRY_AFTER).cloned();
        let bytes = answer.bytes().await.map_err(EdgeError::from_identity)?;
        drop(timer);
        if status.is_success() {
            return serde_json::from_slice(&bytes).map_err(|err| {
                EdgeError::identity_contract(format!("{} answered {err}", url.path()))
            });
        }
        if let Some(retry_after) = retry_later(status, retry_after.as_ref(), &bytes) {
            return Err(EdgeError::RetryLater {
                status,
                body: bytes,
                retry_after,
            });
        }
        if status.is_client_error() {
            // Relay only what has the contract's shape; anything else is a bug to log, not to show.
            let is_error_body = serde_json::from_slice::<Value>(&bytes)
                .is_ok_and(|body| body.get("code").is_some_and(Value::is_string));
            return if is_error_body {
                Err(EdgeError::Relayed {
                    status,
                    body: bytes,
                })
            } else {
                Err(EdgeError::identity_contract(format!(
                    "{} answered {status} without an error body",
                    url.path()
                )))
            };
        }
        Err(EdgeError::IdentityUnavailable(
            format!("{} answered {status}", url.path()).into(),
        ))
    }
}

/// identity's "come back later" answers — `429 TOO_MANY_ATTEMPTS` (a locked address or
/// device) and `503 SERVER_BUSY` (its hashing queue is full) — with a `Retry-After` of whole
/// seconds: that value, to relay to the browser. Any other answer is `None`.
fn retry_later(
    status: http::StatusCode,
    retry_after: Option<&http::HeaderValue>,
    body: &[u8],
) -> Option<http::HeaderValue> {
    let expected = match status {
        http::StatusCode::TOO_MANY_REQUESTS => "TOO_MANY_ATTEMPTS",
        http::StatusCode::SERVICE_UNAVAILABLE => "SERVER_BUSY",
        _ => return None,
    };
    // A social provider identity has not discovered yet is also a "come back later" (§17).
    let code_matches = serde_json::from_slice::<Value>(body).is_ok_and(|body| {
        let code = body.get("code").and_then(Value::as_str);
        code == Some(expected)
            || (status == http::StatusCode::SERVICE_UNAVAILABLE
                && code == Some("PROVIDER_UNAVAILABLE"))
    });
    let retry_after = retry_after?;
    let seconds = retry_after.to_str().ok()?.parse::<u32>().ok()?;
    code_matches.then(|| http::HeaderValue::from(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn endpoints_keep_a_path_prefix() {
        let client = IdentityClient::new(
            Url::parse("http://id:8081/internal").unwrap(),
            reqwest::Client::new(),
        );
        assert_eq!(
            client.token_url.as_str(),
            "http://id:8081/internal/v1/token"
        );
        let client = IdentityClient::new(
            Url::parse("http://id:8081").unwrap(),
            reqwest::Client::new(),
        );
        assert_eq!(client.sign_in_url.as_str(), "http://id:8081/v1/sign-in");
        assert_eq!(client.healthz_url.as_str(), "http://id:8081/healthz");
        assert_eq!(
            client.revoke_all_sessions_url.as_str(),
            "http://id:8081/v1/sessions/revoke-all"
        );
    }

    #[test]
    fn account_bodies_carry_the_caller_beside_their_fields() {
        let caller = || SessionLookup {
            session_token: "s3cret",
            client_ip: "127.0.0.1",
            user_agent: "ua",
        };
        let removal = UpdateUser {
            caller: caller(),
            name: None,
            image: Some(None),
            email: None,
        };
        assert_eq!(
            serde_json::to_value(&removal).unwrap(),
            json!({"session_token": "s3cret", "client_ip": "127.0.0.1", "user_agent": "ua", "image": null})
        );
        let revoke = RevokeSession {
            caller: caller(),
            session_id: "7d0f",
        };
        assert_eq!(serde_json::to_value(&revoke).unwrap()["session_id"], "7d0f");
    }

    #[test]
    fn the_handle_is_never_the_secret() {
        let session = json!({"id": "7d0f", "token": "7d0f"});
        assert_eq!(session_handle(&session, "s3cret").unwrap(), json!("7d0f"));
        let leaky = json!({"id": "7d0f", "token": "s3cret"});
        assert!(session_handle(&leaky, "s3cret").is_err());
    }

    #[test]
    fn only_a_lock_or_a_full_queue_with_a_retry_after_is_relayed_as_retry_later() {
        use http::{HeaderValue, StatusCode};
        let seconds = HeaderValue::from_static("42");
        let locked = br#"{"code":"TOO_MANY_ATTEMPTS","message":"x"}"#;
        let busy = br#"{"code":"SERVER_BUSY","message":"x"}"#;
        assert_eq!(
            retry_later(StatusCode::TOO_MANY_REQUESTS, Some(&seconds), locked),
            Some(seconds.clone())
        );
        assert_eq!(
            retry_later(StatusCode::SERVICE_UNAVAILABLE, Some(&seconds), busy),
            Some(seconds.clone())
        );
        assert_eq!(
            retry_later(StatusCode::SERVICE_UNAVAILABLE, Some(&seconds), locked),
            None
        );
        assert_eq!(
            retry_later(StatusCode::TOO_MANY_REQUESTS, None, locked),
            None
        );
        let odd = HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT");
        assert_eq!(
            retry_later(StatusCode::TOO_MANY_REQUESTS, Some(&odd), locked),
            None
        );
    }

    #[test]
    fn issued_secret_debug_is_redacted() {
        let token: IssuedSecret = serde_json::from_value(json!("s3cret")).unwrap();
        assert!(!format!("{token:?}").contains("s3cret"));
    }
}
