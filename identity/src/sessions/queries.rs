//! The statements that end sessions, each answering which sessions it ended (id, user), and the
//! record of ended sessions the revocation stream reads. Only [`Change`](super::Change) runs
//! them, inside its transaction.

use sqlx::{AnyConnection, Row};

use super::TokenHash;

/// `(session id, user id)` of each session a statement ended.
type EndedRows = Vec<(String, String)>;

async fn ending<'q>(
    connection: &mut AnyConnection,
    query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
) -> Result<EndedRows, sqlx::Error> {
    let rows = query.fetch_all(connection).await?;
    rows.iter()
        .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
        .collect()
}

/// Ends the live session with this token hash.
pub(super) async fn end_by_token(
    connection: &mut AnyConnection,
    token_hash: &TokenHash,
    now: i64,
) -> Result<EndedRows, sqlx::Error> {
    let query = sqlx::query(
        "UPDATE sessions SET revoked_at = $1 WHERE token_hash = $2 AND revoked_at IS NULL \
         RETURNING id, user_id",
    )
    .bind(now)
    .bind(token_hash.as_str().to_owned());
    ending(connection, query).await
}

/// Ends a live session of `user_id` by its public id.
pub(super) async fn end_by_id(
    connection: &mut AnyConnection,
    user_id: &str,
    session_id: &str,
    now: i64,
) -> Result<EndedRows, sqlx::Error> {
    let query = sqlx::query(
        "UPDATE sessions SET revoked_at = $1 WHERE id = $2 AND user_id = $3 AND revoked_at IS NULL \
         RETURNING id, user_id",
    )
    .bind(now)
    .bind(session_id.to_owned())
    .bind(user_id.to_owned());
    ending(connection, query).await
}

/// Ends every live session of `user_id` except `keep_id`.
pub(super) async fn end_all_but(
    connection: &mut AnyConnection,
    user_id: &str,
    keep_id: &str,
    now: i64,
) -> Result<EndedRows, sqlx::Error> {
    let query = sqlx::query(
        "UPDATE sessions SET revoked_at = $1 WHERE user_id = $2 AND id <> $3 AND revoked_at IS NULL \
         RETURNING id, user_id",
    )
    .bind(now)
    .bind(user_id.to_owned())
    .bind(keep_id.to_owned());
    ending(connection, query).await
}

/// Ends every live session of `user_id`.
pub(super) async fn end_all(
    connection: &mut AnyConnection,
    user_id: &str,
    now: i64,
) -> Result<EndedRows, sqlx::Error> {
    let query = sqlx::query(
        "UPDATE sessions SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL \
         RETURNING id, user_id",
    )
    .bind(now)
    .bind(user_id.to_owned());
    ending(connection, query).await
}

/// Records an ended session (or, without `session_id`, every session of a deleted user) for the
/// revocation stream.
pub(super) async fn record_revocation(
    connection: &mut AnyConnection,
    session_id: Option<&str>,
    user_id: &str,
    at: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO revocations (session_id, user_id, at) VALUES ($1, $2, $3)")
        .bind(session_id.map(str::to_owned))
        .bind(user_id.to_owned())
        .bind(at)
        .execute(connection)
        .await?;
    Ok(())
}
