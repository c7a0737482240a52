//! Who is calling: the only way into `/api`. A layer over every /api route (and the /api
//! fallback) runs shared-claims' `Authenticated` extractor, so each request's token is verified
//! exactly once, against that request's method and path; handlers read the verified claims with
//! [`AuthenticatedUser`]. No token rule lives here, and no header other than the bearer token is
//! trusted.

use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::Response;
use shared_claims::{Authenticated, Claims};

use crate::error::ApiError;

/// The verified claims of the request's token.
#[derive(Clone, Debug)]
pub struct AuthenticatedUser(pub Claims);

impl AuthenticatedUser {
    /// The user the token was issued for (`sub`).
    pub fn user_id(&self) -> &str {
        &self.0.sub
    }
}

/// Middleware: refuses the request (shared-claims' 401) unless its token verifies, then hands
/// the claims to the handler. Axum runs the extractor before this body, so a request that reaches
/// `next` has a verified token.
pub async fn require_token(
    Authenticated(claims): Authenticated,
    mut request: Request,
    next: Next,
) -> Response {
    service_kit::observe::record_caller(&claims.sub, &claims.sid);
    request.extensions_mut().insert(AuthenticatedUser(claims));
    next.run(request).await
}

impl<S: Send + Sync> FromRequestParts<S> for AuthenticatedUser {
    type Rejection = ApiError;

    /// Fails closed: a handler mounted outside the token layer gets a 401, never a caller.
    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        parts
            .extensions
            .get::<AuthenticatedUser>()
            .cloned()
            .ok_or(ApiError::Unauthorized)
    }
}
