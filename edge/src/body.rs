//! Request bodies: reading them within a limit, and turning an auth endpoint's JSON or form body
//! into a JSON object (Better-Auth §1's content-type and malformed-JSON rules). Knows nothing of
//! any endpoint's fields.

use axum::body::Body;
use bytes::Bytes;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use http::HeaderMap;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde_json::{Map, Value};

use crate::error::EdgeError;

/// Largest body an auth endpoint accepts (DESIGN §6: any JSON body ≤ 64 KiB).
pub const AUTH_BODY_LIMIT: usize = 64 * 1024;

/// Reads the whole body, refusing it (`413`) once it is over `limit` bytes — at once when its
/// `Content-Length` says so.
pub async fn read_limited(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<Bytes, EdgeError> {
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        return Err(EdgeError::PayloadTooLarge);
    }
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(err) if err.is::<LengthLimitError>() => Err(EdgeError::PayloadTooLarge),
        Err(_) => Err(EdgeError::UnreadableBody),
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
