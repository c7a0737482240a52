//! The JSON body extractor of identity's API: like `axum::Json`, but a body that is malformed,
//! of the wrong shape or over the size limit becomes an `ApiError` (`400`), never a plain-text
//! rejection or a `500`.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};

use crate::error::ApiError;

/// The largest JSON body any endpoint accepts (DESIGN §6).
pub const BODY_LIMIT_BYTES: usize = 64 * 1024;

/// A JSON request body deserialized into `T`.
pub struct JsonBody<T>(pub T);

impl<S, T> FromRequest<S> for JsonBody<T>
where
    axum::Json<T>: FromRequest<S, Rejection = JsonRejection>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(request, state).await {
            Ok(axum::Json(value)) => Ok(JsonBody(value)),
            Err(rejection) => Err(rejection_to_error(&rejection)),
        }
    }
}

/// Maps axum's rejection to the Better-Auth answer for it.
fn rejection_to_error(rejection: &JsonRejection) -> ApiError {
    match rejection {
        JsonRejection::JsonDataError(error) => {
            let detail = std::error::Error::source(error)
                .map(ToString::to_string)
                .unwrap_or_else(|| "wrong shape".to_owned());
            ApiError::Validation(format!("[body] {detail}"))
        }
        JsonRejection::JsonSyntaxError(_) => ApiError::MalformedJson,
        JsonRejection::MissingJsonContentType(_) => ApiError::UnsupportedMediaType,
        // Reading the body failed: almost always because it exceeds the limit.
        JsonRejection::BytesRejection(_) => ApiError::Validation(format!(
            "[body] The request body must be at most {} KiB.",
            BODY_LIMIT_BYTES / 1024
        )),
        other => ApiError::Validation(format!("[body] {}", other.body_text())),
    }
}
