//! The caller's app profile: created the first time a user calls for it, then stable. Identity
//! facts (email, verification, session) come from the verified token, never from the request.

use axum::extract::State;
use axum::Json;
use serde::Serialize;
use sqlx::AnyPool;

use crate::caller::AuthenticatedUser;
use crate::error::ApiError;
use crate::AppState;

/// `GET /api/profile` answer.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct ProfileView {
    /// The token's `sub`.
    pub user_id: String,
    /// The address in the current token.
    pub email: String,
    /// Whether identity has verified it.
    pub email_verified: bool,
    /// The session the token was exchanged from (`sid`).
    pub session_id: String,
    /// When the profile was created (RFC 3339).
    pub created_at: String,
}

/// `GET /api/profile`.
pub async fn show_profile(
    State(state): State<AppState>,
    caller: AuthenticatedUser,
) -> Result<Json<ProfileView>, ApiError> {
    let claims = &caller.0;
    let created_at = ensure_profile(
        &state.db.pool,
        &claims.sub,
        &claims.email,
        state.clock.now_millis(),
    )
    .await?;
    Ok(Json(ProfileView {
        user_id: claims.sub.clone(),
        email: claims.email.clone(),
        email_verified: claims.email_verified,
        session_id: claims.sid.clone(),
        created_at: service_kit::timefmt::rfc3339_millis(created_at),
    }))
}

/// Returns the profile's creation time (ms), creating the profile at `now_ms` if it is missing.
///
/// The common case is a read and no write (SQLite has one writer). Creation is an insert that
/// ignores a conflict, so two first calls racing each other both end with the same single row.
pub async fn ensure_profile(
    pool: &AnyPool,
    user_id: &str,
    email: &str,
    now_ms: i64,
) -> Result<i64, sqlx::Error> {
    if let Some(created_at) = find_created_at(pool, user_id).await? {
        return Ok(created_at);
    }
    sqlx::query(
        "INSERT INTO profiles (user_id, email, created_at) VALUES ($1, $2, $3) \
         ON CONFLICT (user_id) DO NOTHING",
    )
    .bind(user_id)
    .bind(email)
    .bind(now_ms)
    .execute(pool)
    .await?;
    find_created_at(pool, user_id)
        .await?
        .ok_or(sqlx::Error::RowNotFound)
}

async fn find_created_at(pool: &AnyPool, user_id: &str) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar("SELECT created_at FROM profiles WHERE user_id = $1")
        .bind(user_id)
        .fetch_optional(pool)
        .await
}
