//! Request bodies: the time a client may take to send one (`BODY_TIMEOUT`), reading one within a
//! limit, streaming one to core-api within a limit, and turning an auth endpoint's JSON or form
//! body into a JSON object (Better-Auth §1's content-type and malformed-JSON rules). Knows nothing
//! of any endpoint's fields.

use std::error::Error as StdError;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use bytes::Bytes;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use http::HeaderMap;
use http_body::{Body as _, Frame, SizeHint};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde_json::{Map, Value};
use sync_wrapper::SyncWrapper;
use tokio::time::{Instant, Sleep};

use crate::error::EdgeError;
use crate::AppState;

/// Largest body an auth endpoint accepts (DESIGN §6: any JSON body ≤ 64 KiB).
pub const AUTH_BODY_LIMIT: usize = 64 * 1024;

/// Middleware on every route: a request body must have arrived `BODY_TIMEOUT` after its headers;
/// reading past that fails with [`BodyTimedOut`] (answered `408`, connection closed). A body
/// known to be empty (most GETs) is left as it is.
pub async fn bound_body_time(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let deadline = Instant::now() + state.body_timeout;
    let request = request.map(|body| {
        if body.is_end_stream() {
            body
        } else {
            Body::new(DeadlineBody {
                inner: body,
                deadline,
                timer: None,
            })
        }
    });
    next.run(request).await
}

/// The body was still arriving at its deadline.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive within BODY_TIMEOUT")]
pub struct BodyTimedOut;

/// A body that fails with [`BodyTimedOut`] when polled past its deadline. The timer is only
/// armed when the client keeps edge waiting.
struct DeadlineBody {
    inner: Body,
    deadline: Instant,
    timer: Option<Pin<Box<Sleep>>>,
}

impl http_body::Body for DeadlineBody {
    type Data = Bytes;
    type Error = Box<dyn StdError + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|frame| frame.map_err(Into::into)));
        }
        let deadline = this.deadline;
        let timer = this
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        ready!(timer.as_mut().poll(cx));
        Poll::Ready(Some(Err(BodyTimedOut.into())))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Whether a declared `Content-Length` is over `limit`: such a body is refused before anything
/// else is done for it.
pub fn declared_over_limit(headers: &HeaderMap, limit: usize) -> bool {
    headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .is_some_and(|length| length > limit as u64)
}

/// Reads the whole body, refusing it (`413`) once it is over `limit` bytes — at once when its
/// `Content-Length` says so — and `408` when it comes too slowly.
pub async fn read_limited(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<Bytes, EdgeError> {
    if declared_over_limit(headers, limit) {
        return Err(EdgeError::PayloadTooLarge);
    }
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(err) => Err(body_failure(&*err).unwrap_or(EdgeError::UnreadableBody)),
    }
}

/// A proxied request's body as it streams to core-api: cut off with an error past `limit` bytes
/// (so core-api never receives it as a complete request) and, through [`bound_body_time`], past
/// `BODY_TIMEOUT`. Its length, when declared, is passed on.
pub fn stream_limited(body: Body, limit: usize) -> reqwest::Body {
    let size_hint = body.size_hint();
    reqwest::Body::wrap(ForwardedBody {
        inner: SyncWrapper::new(Limited::new(body, limit)),
        size_hint,
    })
}

/// Why a body could not be read or forwarded, if it was the body's fault: over the limit
/// (`413`) or too slow (`408`). Looks through the error's causes, as an upstream client wraps
/// them.
pub fn body_failure(err: &(dyn StdError + 'static)) -> Option<EdgeError> {
    let mut cause = Some(err);
    while let Some(err) = cause {
        if err.is::<LengthLimitError>() {
            return Some(EdgeError::PayloadTooLarge);
        }
        if err.is::<BodyTimedOut>() {
            return Some(EdgeError::BodyTimeout);
        }
        cause = err.source();
    }
    None
}

/// [`Limited`] made `Sync` for the upstream client (it is only ever polled through `&mut`).
struct ForwardedBody {
    inner: SyncWrapper<Limited<Body>>,
    size_hint: SizeHint,
}

impl http_body::Body for ForwardedBody {
    type Data = Bytes;
    type Error = Box<dyn StdError + Send + Sync>;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Pin::new(self.get_mut().inner.get_mut()).poll_frame(cx)
    }

    fn size_hint(&self) -> SizeHint {
        self.size_hint
    }
}

/// Which body encodings an endpoint takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encodings {
    /// `application/json` only.
    Json,
    /// `application/json` or `application/x-www-form-urlencoded` (sign-in and sign-up forms).
    JsonOrForm,
}

/// Parses a body into a JSON object. An empty body is `{}`; a body without a content type, or
/// with one the endpoint does not take, is `415`; invalid JSON is `400 BAD_REQUEST`; JSON that
/// is not an object is a validation error.
pub fn parse_object(
    headers: &HeaderMap,
    bytes: &[u8],
    accepted: Encodings,
) -> Result<Map<String, Value>, EdgeError> {
    if bytes.is_empty() {
        return Ok(Map::new());
    }
    let essence = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or("").trim());
    match essence {
        Some(t) if t.eq_ignore_ascii_case("application/json") => {
            match serde_json::from_slice(bytes) {
                Ok(Value::Object(object)) => Ok(object),
                Ok(other) => Err(EdgeError::Validation(format!(
                    "[body] Invalid input: expected object, received {}",
                    type_name(&other)
                ))),
                Err(_) => Err(EdgeError::MalformedJson),
            }
        }
        Some(t)
            if accepted == Encodings::JsonOrForm
                && t.eq_ignore_ascii_case("application/x-www-form-urlencoded") =>
        {
            Ok(form_urlencoded::parse(bytes)
                .map(|(key, value)| (key.into_owned(), Value::String(value.into_owned())))
                .collect())
        }
        _ => Err(EdgeError::UnsupportedMediaType),
    }
}

/// The JSON type name zod uses in its messages.
pub fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn with_type(content_type: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
        headers
    }

    #[tokio::test]
    async fn the_limit_holds_with_or_without_a_content_length() {
        let declared = with_type("application/json");
        let mut too_long = declared.clone();
        too_long.insert(CONTENT_LENGTH, HeaderValue::from_static("11"));
        assert!(matches!(
            read_limited(&too_long, Body::from("x"), 10).await,
            Err(EdgeError::PayloadTooLarge)
        ));
        assert!(matches!(
            read_limited(&declared, Body::from("x".repeat(11)), 10).await,
            Err(EdgeError::PayloadTooLarge)
        ));
        assert_eq!(
            read_limited(&declared, Body::from("x".repeat(10)), 10)
                .await
                .unwrap()
                .len(),
            10
        );
    }

    #[tokio::test]
    async fn a_body_still_arriving_at_its_deadline_is_a_timeout() {
        /// A client that sent its headers and nothing since.
        struct Stalled;
        impl http_body::Body for Stalled {
            type Data = Bytes;
            type Error = std::convert::Infallible;
            fn poll_frame(
                self: Pin<&mut Self>,
                _: &mut Context<'_>,
            ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
                Poll::Pending
            }
        }
        let body = Body::new(DeadlineBody {
            inner: Body::new(Stalled),
            deadline: Instant::now(),
            timer: None,
        });
        let err = read_limited(&HeaderMap::new(), body, 10).await.unwrap_err();
        assert!(matches!(err, EdgeError::BodyTimeout), "{err:?}");
    }

    #[tokio::test]
    async fn a_body_in_time_is_read_whole() {
        let body = Body::new(DeadlineBody {
            inner: Body::from("0123456789"),
            deadline: Instant::now(),
            timer: None,
        });
        let read = read_limited(&HeaderMap::new(), body, 10).await.unwrap();
        assert_eq!(read.len(), 10, "a body already there is never late");
    }

    #[test]
    fn json_with_a_charset_parses() {
        let object = parse_object(
            &with_type("application/json; charset=utf-8"),
            br#"{"a":1}"#,
            Encodings::Json,
        )
        .unwrap();
        assert_eq!(object["a"], 1);
    }

    #[test]
    fn forms_only_where_accepted() {
        let headers = with_type("application/x-www-form-urlencoded");
        let object = parse_object(
            &headers,
            b"email=a%40b.c&rememberMe=false",
            Encodings::JsonOrForm,
        )
        .unwrap();
        assert_eq!(object["email"], "a@b.c");
        assert!(matches!(
            parse_object(&headers, b"a=b", Encodings::Json),
            Err(EdgeError::UnsupportedMediaType)
        ));
    }

    #[test]
    fn other_or_missing_content_types_are_unsupported() {
        for headers in [
            with_type("text/plain"),
            with_type("multipart/form-data; boundary=x"),
            HeaderMap::new(),
        ] {
            assert!(matches!(
                parse_object(&headers, b"{}", Encodings::JsonOrForm),
                Err(EdgeError::UnsupportedMediaType)
            ));
        }
    }

    #[test]
    fn malformed_json_and_non_objects_are_told_apart() {
        let json = with_type("application/json");
        assert!(matches!(
            parse_object(&json, b"{nope", Encodings::Json),
            Err(EdgeError::MalformedJson)
        ));
        assert!(
            matches!(parse_object(&json, b"[1]", Encodings::Json), Err(EdgeError::Validation(m)) if m.contains("received array"))
        );
        assert!(parse_object(&json, b"", Encodings::Json)
            .unwrap()
            .is_empty());
    }
}
