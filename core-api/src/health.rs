//! Liveness and readiness for orchestrators and `stack`: `/healthz` says the process answers,
//! `/readyz` says it can serve (store reachable, at least one token-signing key known). They
//! reveal no configuration and need no token.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::AppState;

/// `GET /healthz` → `200 {"status":"ok"}`.
pub async fn healthz() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

/// `GET /readyz` → `200 {"status":"ready"}` or `503 {"status":"unavailable","reason":…}`.
pub async fn readyz(State(state): State<AppState>) -> Response {
    if let Err(error) = sqlx::query("SELECT 1").execute(&state.db.pool).await {
        tracing::warn!(%error, "readiness: database unreachable");
        return unavailable("database unreachable");
    }
    if !state.verifier.has_keys() {
        return unavailable("no token-signing keys known yet (JWKS not fetched)");
    }
    Json(json!({ "status": "ready" })).into_response()
}

fn unavailable(reason: &str) -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(json!({ "status": "unavailable", "reason": reason })),
    )
        .into_response()
}
