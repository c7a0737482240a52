//! The axum extractor: a thin adapter that hands the bearer token, the method and the ORIGINAL
//! request path to [`Verifier::verify`]. No token rule lives here.

use axum::extract::{FromRef, FromRequestParts, OriginalUri};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::http::HeaderMap;

use crate::{Claims, Verifier, VerifyError};

/// Axum extractor: `Authenticated(claims)`; state must provide `Verifier` via `FromRef`.
#[derive(Clone, Debug)]
pub struct Authenticated(pub Claims);

impl<S> FromRequestParts<S> for Authenticated
where
    Verifier: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = VerifyError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let verifier = Verifier::from_ref(state);
        let Some(token) = bearer_token(&parts.headers) else {
            return Err(verifier.refused_without_token(VerifyError::MissingBearer));
        };
        // Under a nested router `parts.uri` has lost its prefix; the token names the full path.
        let path = match parts.extensions.get::<OriginalUri>() {
            Some(OriginalUri(original)) => original.path(),
            None => parts.uri.path(),
        };
        verifier
            .verify(token, parts.method.as_str(), path)
            .await
            .map(Authenticated)
    }
}

/// The credentials of an `Authorization: Bearer <token>` header (scheme case-insensitive).
fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::{header, Request, StatusCode};
    use axum::response::Response;
    use axum::routing::{get, post};
    use axum::{Json, Router};
    use serde_json::{json, Value};
    use tower::ServiceExt;

    use super::*;
    use crate::test_support::Minter;
    use crate::VerifierConfig;

    async fn whoami(Authenticated(claims): Authenticated) -> Json<Value> {
        Json(json!({ "sub": claims.sub }))
    }

    /// core-api's shape: the protected routes nested under `/api`.
    fn app(minter: &Minter) -> Router {
        let config = VerifierConfig::new(
            "unused",
            crate::test_support::ISSUER,
            crate::test_support::AUDIENCE,
        );
        let verifier = Verifier::with_keys(config, minter.jwks());
        let api = Router::new()
            .route("/orders", get(whoami))
            .route("/orders", post(whoami));
        Router::new().nest("/api", api).with_state(verifier)
    }

    async fn call(app: Router, method: &str, authorization: Option<String>) -> Response {
        let mut request = Request::builder().method(method).uri("/api/orders?page=2");
        if let Some(value) = authorization {
            request = request.header(header::AUTHORIZATION, value);
        }
        app.oneshot(request.body(Body::empty()).unwrap())
            .await
            .unwrap()
    }

    async fn body_of(response: Response) -> Value {
        let bytes = axum::body::to_bytes(response.into_body(), 64 * 1024)
            .await
            .unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    fn challenge(response: &Response) -> &str {
        response.headers()[header::WWW_AUTHENTICATE]
            .to_str()
            .unwrap()
    }

    fn now() -> i64 {
        clock::Clock::system().now_unix()
    }

    #[tokio::test]
    async fn a_token_for_the_original_nested_path_is_accepted() {
        let minter = Minter::new();
        let token = minter.token_for("GET", "/api/orders", now());
        let response = call(app(&minter), "GET", Some(format!("Bearer {token}"))).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(body_of(response).await["sub"], crate::test_support::SUBJECT);
    }

    #[tokio::test]
    async fn the_bearer_scheme_is_case_insensitive() {
        let minter = Minter::new();
        let token = minter.token_for("GET", "/api/orders", now());
        let response = call(app(&minter), "GET", Some(format!("bEaReR {token}"))).await;
        assert_eq!(response.status(), StatusCode::OK);
    }

    #[tokio::test]
    async fn a_token_for_the_path_inside_the_nested_router_is_refused() {
        let minter = Minter::new();
        let token = minter.token_for("GET", "/orders", now());
        let response = call(app(&minter), "GET", Some(format!("Bearer {token}"))).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            body_of(response).await["message"],
            "token is for another path"
        );
    }

    #[tokio::test]
    async fn a_token_for_another_method_is_refused() {
        let minter = Minter::new();
        let token = minter.token_for("GET", "/api/orders", now());
        let response = call(app(&minter), "POST", Some(format!("Bearer {token}"))).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            body_of(response).await["message"],
            "token is for another method"
        );
    }

    #[tokio::test]
    async fn no_authorization_header_gets_a_bare_bearer_challenge() {
        let minter = Minter::new();
        let response = call(app(&minter), "GET", None).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(challenge(&response), "Bearer");
        assert_eq!(body_of(response).await["code"], "UNAUTHORIZED");
    }

    #[tokio::test]
    async fn another_scheme_counts_as_no_bearer_token() {
        let minter = Minter::new();
        let response = call(app(&minter), "GET", Some("Basic dXNlcjpwYXNz".into())).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(challenge(&response), "Bearer");
    }

    #[tokio::test]
    async fn a_bad_token_gets_an_invalid_token_challenge() {
        let minter = Minter::new();
        let response = call(app(&minter), "GET", Some("Bearer not.a-token".into())).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(challenge(&response), r#"Bearer error="invalid_token""#);
        let body = body_of(response).await;
        assert_eq!(body["code"], "INVALID_TOKEN");
        assert_eq!(
            body["message"],
            "token is malformed: token does not have three parts"
        );
    }
}
