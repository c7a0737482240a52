//! `EdgeError`: every way an edge request can fail, each with its status and stable code. Clients
//! see `{code, message}` (or, for identity's refusals, identity's own body); causes are logged
//! here, once, and never sent.

use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use http::header::{CONNECTION, CONTENT_TYPE, RETRY_AFTER, SET_COOKIE};
use http::{HeaderName, HeaderValue, StatusCode};
use service_kit::ErrorBody;

use crate::origin::OriginRejection;

/// The seconds-to-wait header Better-Auth's client reads.
const X_RETRY_AFTER: HeaderName = HeaderName::from_static("x-retry-after");

/// Any error's cause, kept for the log.
pub type Cause = Box<dyn std::error::Error + Send + Sync>;

/// Which upstream a failure came from (for the log and the client's message).
#[derive(Clone, Copy, Debug)]
pub enum Upstream {
    /// The identity service.
    Identity,
    /// The core-api service.
    CoreApi,
}

/// An edge request that cannot be answered as asked.
#[derive(Debug, thiserror::Error)]
pub enum EdgeError {
    /// No usable session.
    #[error("Unauthorized")]
    Unauthorized,
    /// identity refused the session: `401` and the cookie is cleared.
    #[error("Unauthorized")]
    SessionRejected {
        /// The `Set-Cookie` value that clears the session cookie.
        clear_cookie: HeaderValue,
    },
    /// The request comes from the wrong place.
    #[error(transparent)]
    Origin(#[from] OriginRejection),
    /// A `callbackURL` that leaves the public origin.
    #[error("Invalid callbackURL")]
    InvalidCallbackUrl,
    /// An `errorCallbackURL` that leaves the public origin.
    #[error("Invalid errorCallbackURL")]
    InvalidErrorCallbackUrl,
    /// A `newUserCallbackURL` that leaves the public origin.
    #[error("Invalid newUserCallbackURL")]
    InvalidNewUserCallbackUrl,
    /// The body is not valid JSON.
    #[error("Invalid JSON in request body")]
    MalformedJson,
    /// The body does not have the endpoint's shape; the message lists every issue.
    #[error("{0}")]
    Validation(String),
    /// The body sets a field clients may not set.
    #[error("Field not allowed to be set")]
    FieldNotAllowed,
    /// The body is neither JSON nor (where accepted) a form.
    #[error("Unsupported media type")]
    UnsupportedMediaType,
    /// The body could not be read (the client went away mid-way).
    #[error("Could not read the request body")]
    UnreadableBody,
    /// The body is over the limit.
    #[error("Payload too large")]
    PayloadTooLarge,
    /// The client took longer than `BODY_TIMEOUT` to send the body: `408`, connection closed.
    #[error("Request timeout")]
    BodyTimeout,
    /// Over the per-address limit (DESIGN §14): `429` with `Retry-After` and `X-Retry-After`.
    #[error("Too many requests. Please try again later.")]
    TooManyRequests {
        /// Seconds until the next request would be allowed.
        retry_after_secs: u64,
    },
    /// No such route (answered with an empty body, as Better-Auth does).
    #[error("Not found")]
    NotFound,
    /// identity refused the request; its status and JSON body are relayed unchanged.
    #[error("identity answered {status}")]
    Relayed {
        /// identity's status.
        status: StatusCode,
        /// identity's JSON body.
        body: Bytes,
    },
    /// identity refused for now and said when to come back (`429 TOO_MANY_ATTEMPTS`, `503
    /// SERVER_BUSY`): its status and body are relayed with `Retry-After` and `X-Retry-After`.
    #[error("identity answered {status}; retry later")]
    RetryLater {
        /// identity's status.
        status: StatusCode,
        /// identity's JSON body.
        body: Bytes,
        /// Seconds, as identity's `Retry-After` said.
        retry_after: HeaderValue,
    },
    /// identity cannot be reached or cannot work right now.
    #[error("Identity service unavailable")]
    IdentityUnavailable(#[source] Cause),
    /// An upstream did not answer in time.
    #[error("Gateway timeout")]
    GatewayTimeout(Upstream, #[source] Cause),
    /// core-api cannot be reached, or an upstream answered what edge cannot use (a bug).
    #[error("Bad gateway")]
    BadGateway(Upstream, #[source] Cause),
    /// A wiring mistake inside edge; the detail goes to the log only.
    #[error("Internal server error")]
    Internal(&'static str),
}

impl EdgeError {
    /// Maps a failed call to identity: too slow → `504`, anything else → `503`.
    pub fn from_identity(err: reqwest::Error) -> Self {
        if err.is_timeout() {
            EdgeError::GatewayTimeout(Upstream::Identity, err.without_url().into())
        } else {
            EdgeError::IdentityUnavailable(err.without_url().into())
        }
    }

    /// Maps a failed call to core-api: too slow → `504`, anything else → `502`.
    pub fn from_core_api(err: reqwest::Error) -> Self {
        if err.is_timeout() {
            EdgeError::GatewayTimeout(Upstream::CoreApi, err.without_url().into())
        } else {
            // Without the URL: it holds the browser's query string, which no log line may.
            EdgeError::BadGateway(Upstream::CoreApi, err.without_url().into())
        }
    }

    /// identity answered something edge does not understand (a contract bug).
    pub fn identity_contract(what: impl Into<String>) -> Self {
        EdgeError::BadGateway(Upstream::Identity, what.into().into())
    }

    /// The HTTP status of this error.
    pub fn status(&self) -> StatusCode {
        match self {
            EdgeError::Unauthorized | EdgeError::SessionRejected { .. } => StatusCode::UNAUTHORIZED,
            EdgeError::Origin(_)
            | EdgeError::InvalidCallbackUrl
            | EdgeError::InvalidErrorCallbackUrl
            | EdgeError::InvalidNewUserCallbackUrl => StatusCode::FORBIDDEN,
            EdgeError::MalformedJson
            | EdgeError::UnreadableBody
            | EdgeError::Validation(_)
            | EdgeError::FieldNotAllowed => StatusCode::BAD_REQUEST,
            EdgeError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            EdgeError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            EdgeError::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            EdgeError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            EdgeError::NotFound => StatusCode::NOT_FOUND,
            EdgeError::Relayed { status, .. } | EdgeError::RetryLater { status, .. } => *status,
            EdgeError::IdentityUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            EdgeError::GatewayTimeout(..) => StatusCode::GATEWAY_TIMEOUT,
            EdgeError::BadGateway(..) => StatusCode::BAD_GATEWAY,
            EdgeError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable machine-readable code of this error.
    pub fn code(&self) -> &'static str {
        match self {
            EdgeError::Unauthorized | EdgeError::SessionRejected { .. } => "UNAUTHORIZED",
            EdgeError::Origin(OriginRejection::MissingOrNullOrigin) => "MISSING_OR_NULL_ORIGIN",
            EdgeError::Origin(OriginRejection::InvalidOrigin) => "INVALID_ORIGIN",
            EdgeError::Origin(OriginRejection::CrossSiteNavigationLoginBlocked) => {
                "CROSS_SITE_NAVIGATION_LOGIN_BLOCKED"
            }
            EdgeError::InvalidCallbackUrl => "INVALID_CALLBACK_URL",
            EdgeError::InvalidErrorCallbackUrl => "INVALID_ERROR_CALLBACK_URL",
            EdgeError::InvalidNewUserCallbackUrl => "INVALID_NEW_USER_CALLBACK_URL",
            EdgeError::MalformedJson | EdgeError::UnreadableBody => "BAD_REQUEST",
            EdgeError::Validation(_) => "VALIDATION_ERROR",
            EdgeError::FieldNotAllowed => "FIELD_NOT_ALLOWED",
            EdgeError::UnsupportedMediaType => "UNSUPPORTED_MEDIA_TYPE",
            EdgeError::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            EdgeError::BodyTimeout => "REQUEST_TIMEOUT",
            EdgeError::TooManyRequests { .. } => "TOO_MANY_REQUESTS",
            EdgeError::NotFound => "NOT_FOUND",
            EdgeError::Relayed { .. } | EdgeError::RetryLater { .. } => "RELAYED",
            EdgeError::IdentityUnavailable(_) => "IDENTITY_UNAVAILABLE",
            EdgeError::GatewayTimeout(..) => "GATEWAY_TIMEOUT",
            EdgeError::BadGateway(..) => "BAD_GATEWAY",
            EdgeError::Internal(_) => service_kit::error_body::INTERNAL_SERVER_ERROR,
        }
    }

    /// Logs the cause of a failure that is edge's or an upstream's, not the client's.
    fn log(&self) {
        match self {
            EdgeError::IdentityUnavailable(cause) => {
                tracing::warn!(error = %cause, "identity unavailable");
            }
            EdgeError::GatewayTimeout(upstream, cause) => {
                tracing::warn!(?upstream, error = %cause, "upstream timed out");
            }
            EdgeError::BadGateway(upstream, cause) => {
                tracing::error!(?upstream, error = %cause, "bad gateway");
            }
            EdgeError::Internal(what) => tracing::error!(error = what, "internal error"),
            _ => {}
        }
    }
}

impl IntoResponse for EdgeError {
    fn into_response(self) -> Response {
        self.log();
        match self {
            EdgeError::NotFound => StatusCode::NOT_FOUND.into_response(),
            EdgeError::Relayed { status, body } => (
                status,
                [(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
                body,
            )
                .into_response(),
            EdgeError::RetryLater {
                status,
                body,
                retry_after,
            } => (
                status,
                [
                    (CONTENT_TYPE, HeaderValue::from_static("application/json")),
                    (RETRY_AFTER, retry_after.clone()),
                    (X_RETRY_AFTER, retry_after),
                ],
                body,
            )
                .into_response(),
            EdgeError::TooManyRequests { retry_after_secs } => {
                let seconds = HeaderValue::from(retry_after_secs);
                (
                    self.status(),
                    [(RETRY_AFTER, seconds.clone()), (X_RETRY_AFTER, seconds)],
                    self.body(),
                )
                    .into_response()
            }
            // The rest of a body that came too slowly is not worth waiting for: close.
            EdgeError::BodyTimeout => (
                self.status(),
                [(CONNECTION, HeaderValue::from_static("close"))],
                self.body(),
            )
                .into_response(),
            EdgeError::SessionRejected { ref clear_cookie } => {
                let cookie = clear_cookie.clone();
                (self.status(), [(SET_COOKIE, cookie)], self.body()).into_response()
            }
            _ => (self.status(), self.body()).into_response(),
        }
    }
}

impl EdgeError {
    fn body(&self) -> Json<ErrorBody<'static>> {
        Json(ErrorBody {
            code: self.code(),
            message: self.to_string().into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_failures_never_show_their_cause() {
        let err = EdgeError::BadGateway(Upstream::CoreApi, "connection refused at 10.0.0.7".into());
        assert_eq!(err.status(), StatusCode::BAD_GATEWAY);
        assert_eq!(err.code(), "BAD_GATEWAY");
        assert!(!err.to_string().contains("10.0.0.7"));
    }

    #[test]
    fn too_many_requests_says_when_to_retry_in_both_headers() {
        let response = EdgeError::TooManyRequests {
            retry_after_secs: 4,
        }
        .into_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()["retry-after"], "4");
        assert_eq!(response.headers()["x-retry-after"], "4");
    }

    #[test]
    fn a_body_timeout_closes_the_connection() {
        let response = EdgeError::BodyTimeout.into_response();
        assert_eq!(response.status(), StatusCode::REQUEST_TIMEOUT);
        assert_eq!(response.headers()["connection"], "close");
    }

    #[test]
    fn origin_rejections_are_forbidden_with_better_auth_codes() {
        let err = EdgeError::from(OriginRejection::MissingOrNullOrigin);
        assert_eq!(
            (err.status(), err.code()),
            (StatusCode::FORBIDDEN, "MISSING_OR_NULL_ORIGIN")
        );
    }
}
