//! Why a request's internal token was refused, and the RFC 6750 `401` each reason becomes.
//! Messages name the failed check only: never the token, a key, or anything the client sent.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

/// Why a token was refused; each check of DESIGN §4 has its own variant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The request carries no `Authorization: Bearer` credentials at all.
    #[error("request has no bearer token")]
    MissingBearer,
    /// Not a well-formed JWS compact token; the reason says which part.
    #[error("token is malformed: {0}")]
    Malformed(&'static str),
    /// `alg` is missing or is not `EdDSA`/`Ed25519`.
    #[error("token algorithm is not accepted")]
    UnsupportedAlgorithm,
    /// `typ` is missing or is not `at+jwt`.
    #[error("token type is not at+jwt")]
    WrongType,
    /// The header carries a member that could redirect key selection (`jku`, `jwk`, `x5u`,
    /// `x5c`) or demand extensions (`crit`).
    #[error("token header {0} is not allowed")]
    ForbiddenHeader(&'static str),
    /// The header has no `kid`.
    #[error("token has no key id")]
    MissingKid,
    /// `kid` names no Ed25519 key of the JWKS, even after a refetch.
    #[error("token key id is unknown")]
    UnknownKey,
    /// The Ed25519 signature does not verify under the named key.
    #[error("token signature is invalid")]
    BadSignature,
    /// `iss` is not the configured issuer.
    #[error("token issuer does not match")]
    IssuerMismatch,
    /// `aud` does not contain the configured audience.
    #[error("token audience does not match")]
    AudienceMismatch,
    /// `nbf` is in the future beyond the leeway.
    #[error("token is not yet valid")]
    NotYetValid,
    /// `iat` is in the future beyond the leeway.
    #[error("token is issued in the future")]
    IssuedInFuture,
    /// `exp` has passed beyond the leeway.
    #[error("token has expired")]
    Expired,
    /// `exp - iat` exceeds the 60-second token lifetime.
    #[error("token lifetime is too long")]
    LifetimeTooLong,
    /// A required claim is absent or empty; names the claim.
    #[error("token claim {0} is missing")]
    MissingClaim(&'static str),
    /// `htm` is not the method of the request being served.
    #[error("token is for another method")]
    MethodMismatch,
    /// `htu` is not the path of the request being served.
    #[error("token is for another path")]
    PathMismatch,
    /// The token's session has ended (its `sid` was revoked, or its `sub` lost every session
    /// issued before the token) — published by identity's revocation stream (DESIGN §15).
    #[error("token session has ended")]
    SessionRevoked,
    /// The token's `jti` was already accepted once: tokens are single-use (DESIGN §15).
    #[error("token jti was already used")]
    Replayed,
    /// The store of used `jti`s cannot be reached, so single use cannot be checked: `503`.
    #[error("token jti store is unavailable")]
    ReplayStoreUnavailable,
}

impl VerifyError {
    /// The stable `code` of the response body.
    pub fn code(&self) -> &'static str {
        match self {
            VerifyError::MissingBearer => "UNAUTHORIZED",
            VerifyError::ReplayStoreUnavailable => "SERVICE_UNAVAILABLE",
            _ => "INVALID_TOKEN",
        }
    }

    /// The check that failed, in snake case (`audience_mismatch`): a bounded metric label.
    pub fn check(&self) -> &'static str {
        match self {
            VerifyError::MissingBearer => "missing_bearer",
            VerifyError::Malformed(_) => "malformed",
            VerifyError::UnsupportedAlgorithm => "unsupported_algorithm",
            VerifyError::WrongType => "wrong_type",
            VerifyError::ForbiddenHeader(_) => "forbidden_header",
            VerifyError::MissingKid => "missing_kid",
            VerifyError::UnknownKey => "unknown_key",
            VerifyError::BadSignature => "bad_signature",
            VerifyError::IssuerMismatch => "issuer_mismatch",
            VerifyError::AudienceMismatch => "audience_mismatch",
            VerifyError::NotYetValid => "not_yet_valid",
            VerifyError::IssuedInFuture => "issued_in_future",
            VerifyError::Expired => "expired",
            VerifyError::LifetimeTooLong => "lifetime_too_long",
            VerifyError::MissingClaim(_) => "missing_claim",
            VerifyError::MethodMismatch => "method_mismatch",
            VerifyError::PathMismatch => "path_mismatch",
            VerifyError::SessionRevoked => "session_revoked",
            VerifyError::Replayed => "jti_replayed",
            VerifyError::ReplayStoreUnavailable => "jti_store_unavailable",
        }
    }

    /// Every check's name, for a metric's label set made before the first refusal.
    pub const CHECKS: [&'static str; 20] = [
        "missing_bearer",
        "malformed",
        "unsupported_algorithm",
        "wrong_type",
        "forbidden_header",
        "missing_kid",
        "unknown_key",
        "bad_signature",
        "issuer_mismatch",
        "audience_mismatch",
        "not_yet_valid",
        "issued_in_future",
        "expired",
        "lifetime_too_long",
        "missing_claim",
        "method_mismatch",
        "path_mismatch",
        "session_revoked",
        "jti_replayed",
        "jti_store_unavailable",
    ];

    /// The `WWW-Authenticate` challenge (RFC 6750 §3): bare when no credentials were sent.
    fn challenge(&self) -> HeaderValue {
        match self {
            VerifyError::MissingBearer => HeaderValue::from_static("Bearer"),
            _ => HeaderValue::from_static(r#"Bearer error="invalid_token""#),
        }
    }
}

/// The JSON body of every refusal.
#[derive(Serialize)]
struct ErrorBody {
    code: &'static str,
    message: String,
}

impl IntoResponse for VerifyError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            code: self.code(),
            message: self.to_string(),
        };
        if self == VerifyError::ReplayStoreUnavailable {
            // Not the token's fault: a failing dependency is a 5xx (DESIGN §2).
            return (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response();
        }
        (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, self.challenge())],
            Json(body),
        )
            .into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn parts_of(error: VerifyError) -> (StatusCode, String, serde_json::Value) {
        let response = error.into_response();
        let status = response.status();
        let challenge = response.headers()[header::WWW_AUTHENTICATE]
            .to_str()
            .unwrap()
            .to_owned();
        let bytes = axum::body::to_bytes(response.into_body(), 4096)
            .await
            .unwrap();
        (status, challenge, serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test]
    async fn a_failed_check_answers_invalid_token_naming_the_check() {
        let (status, challenge, body) = parts_of(VerifyError::AudienceMismatch).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(challenge, r#"Bearer error="invalid_token""#);
        assert_eq!(
            body,
            serde_json::json!({"code": "INVALID_TOKEN", "message": "token audience does not match"})
        );
    }

    #[test]
    fn every_check_has_a_listed_label() {
        let errors = [
            VerifyError::MissingBearer,
            VerifyError::Malformed("x"),
            VerifyError::UnsupportedAlgorithm,
            VerifyError::WrongType,
            VerifyError::ForbiddenHeader("jku"),
            VerifyError::MissingKid,
            VerifyError::UnknownKey,
            VerifyError::BadSignature,
            VerifyError::IssuerMismatch,
            VerifyError::AudienceMismatch,
            VerifyError::NotYetValid,
            VerifyError::IssuedInFuture,
            VerifyError::Expired,
            VerifyError::LifetimeTooLong,
            VerifyError::MissingClaim("sub"),
            VerifyError::MethodMismatch,
            VerifyError::PathMismatch,
            VerifyError::SessionRevoked,
            VerifyError::Replayed,
            VerifyError::ReplayStoreUnavailable,
        ];
        let checks: Vec<&str> = errors.iter().map(VerifyError::check).collect();
        assert_eq!(checks, VerifyError::CHECKS);
    }

    #[tokio::test]
    async fn no_credentials_answer_a_bare_bearer_challenge() {
        let (status, challenge, body) = parts_of(VerifyError::MissingBearer).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(challenge, "Bearer");
        assert_eq!(body["code"], "UNAUTHORIZED");
    }
}
