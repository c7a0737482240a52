//! The one error type of core-api's HTTP boundary: each variant knows its status and stable
//! `code`; the client sees `{code, message}` and never an internal detail, the cause is logged.
//! Token failures are not here: shared-claims answers those itself.

use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use service_kit::ErrorBody;

/// Everything a core-api handler can answer instead of success.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No verified caller reached the handler (a route outside the token layer fails closed).
    #[error("a verified token is required")]
    Unauthorized,
    /// The resource does not exist, or is not the caller's: both answer the same.
    #[error("not found")]
    NotFound,
    /// The route exists but not for this method.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// A path id that is not a UUID.
    #[error("the id is not a UUID")]
    InvalidId,
    /// The body is not JSON (or not the JSON object expected).
    #[error("malformed request body: {0}")]
    BadRequest(String),
    /// The body is JSON of the right shape but a value breaks a rule.
    #[error("{0}")]
    Validation(String),
    /// The order names a product that is not in the catalog.
    #[error("unknown product")]
    UnknownProduct,
    /// The body is not declared as `application/json`.
    #[error("the body must be application/json")]
    UnsupportedMediaType,
    /// The body is larger than the limit.
    #[error("the body is too large")]
    PayloadTooLarge,
    /// The store is unreachable or failed; the cause is logged, never sent.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

impl ApiError {
    /// The HTTP status of this error.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::InvalidId | ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Validation(_) | ApiError::UnknownProduct => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            // A store that cannot be reached or ended the connection (a pool that cannot hand one
            // out, a server restarting) is an outage, not a bug: callers may retry.
            ApiError::Database(error) if service_kit::db::is_unavailable(error) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ApiError::Database(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable machine-readable code clients match on.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Unauthorized => "UNAUTHORIZED",
            ApiError::NotFound => "NOT_FOUND",
            ApiError::MethodNotAllowed => "METHOD_NOT_ALLOWED",
            ApiError::InvalidId => "INVALID_ID",
            ApiError::BadRequest(_) => "BAD_REQUEST",
            ApiError::Validation(_) => "VALIDATION_ERROR",
            ApiError::UnknownProduct => "UNKNOWN_PRODUCT",
            ApiError::UnsupportedMediaType => "UNSUPPORTED_MEDIA_TYPE",
            ApiError::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            ApiError::Database(error) if service_kit::db::is_unavailable(error) => "UNAVAILABLE",
            ApiError::Database(_) => service_kit::error_body::INTERNAL_SERVER_ERROR,
        }
    }

    /// The sentence the client sees: the rule broken, never an internal cause.
    fn message(&self) -> String {
        match self {
            ApiError::Unauthorized => "A valid bearer token is required.".into(),
            ApiError::NotFound => "Not found.".into(),
            ApiError::MethodNotAllowed => "Method not allowed for this resource.".into(),
            ApiError::InvalidId => "The id must be a UUID.".into(),
            // axum's text names the position and what was expected, never server state.
            ApiError::BadRequest(detail) => detail.clone(),
            ApiError::Validation(rule) => rule.clone(),
            ApiError::UnknownProduct => "No product has this id.".into(),
            ApiError::UnsupportedMediaType => "The body must be sent as application/json.".into(),
            ApiError::PayloadTooLarge => "The body is too large.".into(),
            ApiError::Database(error) if service_kit::db::is_unavailable(error) => {
                "The service is temporarily unavailable.".into()
            }
            ApiError::Database(_) => "Internal error.".into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        // Logged here, once, inside the request's span; the client gets only code and message.
        if status.is_server_error() {
            tracing::error!(error = %self, code = self.code(), "request failed");
        } else {
            tracing::debug!(error = %self, code = self.code(), "request refused");
        }
        let body = Json(ErrorBody {
            code: self.code(),
            message: self.message().into(),
        });
        if status == StatusCode::UNAUTHORIZED {
            // RFC 6750 §3.1: a request without usable credentials gets a bare challenge.
            return (status, [(header::WWW_AUTHENTICATE, "Bearer")], body).into_response();
        }
        (status, body).into_response()
    }
}

/// Maps axum's JSON body rejections onto the codes clients see.
impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        match rejection {
            JsonRejection::JsonSyntaxError(e) => ApiError::BadRequest(e.body_text()),
            // Valid JSON of the wrong shape: a missing field, a string for a number, a number
            // beyond range — the request is understood but its content is unacceptable.
            JsonRejection::JsonDataError(e) => ApiError::Validation(e.body_text()),
            JsonRejection::MissingJsonContentType(_) => ApiError::UnsupportedMediaType,
            other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge,
            other => ApiError::BadRequest(other.body_text()),
        }
    }
}

/// A path segment that cannot even be decoded is as malformed as a non-UUID id.
impl From<PathRejection> for ApiError {
    fn from(_: PathRejection) -> Self {
        ApiError::InvalidId
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_failures_never_reach_the_client() {
        let error = ApiError::Database(sqlx::Error::Protocol("secret table layout".into()));
        assert_eq!(error.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!error.message().contains("secret"));
    }

    #[test]
    fn an_exhausted_pool_is_an_outage_not_a_bug() {
        let error = ApiError::Database(sqlx::Error::PoolTimedOut);
        assert_eq!(error.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(error.code(), "UNAVAILABLE");
        let lost = std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "server closed");
        let error = ApiError::Database(sqlx::Error::Io(lost));
        assert_eq!(error.status(), StatusCode::SERVICE_UNAVAILABLE);
    }

    #[test]
    fn client_mistakes_are_4xx() {
        for error in [
            ApiError::NotFound,
            ApiError::InvalidId,
            ApiError::BadRequest("x".into()),
            ApiError::Validation("x".into()),
            ApiError::UnknownProduct,
            ApiError::UnsupportedMediaType,
            ApiError::PayloadTooLarge,
            ApiError::MethodNotAllowed,
        ] {
            assert!(error.status().is_client_error(), "{error:?}");
        }
    }
}
