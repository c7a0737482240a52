//! The JSON body of every error a Gatehouse service answers: DESIGN's `{code, message}`, so the
//! three services cannot drift apart in shape.

use std::borrow::Cow;

use serde::Serialize;

/// `{"code": "UPPER_SNAKE", "message": "…"}`: a stable code clients match on, and a sentence
/// that names the rule broken, never an internal cause.
#[derive(Debug, Serialize)]
pub struct ErrorBody<'a> {
    /// The stable machine-readable code.
    pub code: &'a str,
    /// The human-readable sentence.
    pub message: Cow<'a, str>,
}

/// The code of every internal failure, in every service.
pub const INTERNAL_SERVER_ERROR: &str = "INTERNAL_SERVER_ERROR";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_is_code_and_message_only() {
        let body = ErrorBody {
            code: "NOT_FOUND",
            message: "Not found.".into(),
        };
        assert_eq!(
            serde_json::to_value(&body).expect("serialises"),
            serde_json::json!({"code": "NOT_FOUND", "message": "Not found."})
        );
    }
}
