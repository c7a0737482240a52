//! Liveness and readiness: `/healthz` answers as soon as the server serves; `/readyz` only when
//! identity can do its work (the database answers and a key is active for signing). Never
//! behind authentication, never revealing more than which part is missing.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

use crate::AppState;

/// `GET /healthz`.
pub async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// `GET /readyz`.
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    if let Err(error) = sqlx::query("SELECT 1").execute(state.pool()).await {
        tracing::warn!(%error, "readiness: database unreachable");
        return unavailable("database unreachable");
    }
    if !state.keyring().has_signing_key() {
        return unavailable("no active signing key");
    }
    // Still ready: the last good ring signs. Saying what is wrong (rather than going unready)
    // keeps replicas sharing one directory from all leaving the load balancer at once.
    let mut body = json!({ "status": "ready", "session_cache": session_cache(&state) });
    if let Some(problem) = state.keyring().problem() {
        body["keys_problem"] = json!(problem);
    }
    (StatusCode::OK, Json(body))
}

/// Whether the exchange's cache answers now: `off` (`SESSION_CACHE=off`), `answering`, or
/// `closed` (a replica whose lease has lapsed: every exchange reads the store meanwhile).
fn session_cache(state: &AppState) -> &'static str {
    let sessions = state.sessions();
    if !sessions.cache_enabled() {
        "off"
    } else if sessions.cache_answers() {
        "answering"
    } else {
        "closed"
    }
}

fn unavailable(reason: &str) -> (StatusCode, Json<Value>) {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(json!({ "status": "unavailable", "reason": reason })),
    )
}
