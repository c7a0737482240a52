//! `JTI_STORE=postgres`: the token ids every replica accepted, in core-api's database, so a token
//! used at one replica is refused at all the others (DESIGN §15). One insert per verified
//! token; a conflict is a replay. Expired ids are deleted every few seconds.

use std::time::Duration;

use shared_claims::{ReplayFuture, ReplayStore, ReplayStoreError};
use sqlx::AnyPool;

/// Past `exp` by more than the verifier's leeway, an id can be dropped.
const LEEWAY_SECS: i64 = 5;
/// How often expired ids are deleted.
const PRUNE_EVERY: Duration = Duration::from_secs(10);

/// The shared store.
pub struct PostgresReplayStore {
    pool: AnyPool,
    pruning: tokio::task::AbortHandle,
}

impl PostgresReplayStore {
    /// A store over core-api's pool, pruning in the background until dropped.
    pub fn start(pool: AnyPool, clock: service_kit::Clock) -> PostgresReplayStore {
        let pruner = pool.clone();
        let pruning = tokio::spawn(async move {
            let mut ticks = tokio::time::interval(PRUNE_EVERY);
            loop {
                ticks.tick().await;
                let pruned = sqlx::query("DELETE FROM used_tokens WHERE expires_at < $1")
                    .bind(clock.now_unix() - LEEWAY_SECS)
                    .execute(&pruner)
                    .await;
                if let Err(error) = pruned {
                    tracing::warn!(%error, "cannot prune used token ids");
                }
            }
        })
        .abort_handle();
        PostgresReplayStore { pool, pruning }
    }
}

impl Drop for PostgresReplayStore {
    fn drop(&mut self) {
        self.pruning.abort();
    }
}

impl ReplayStore for PostgresReplayStore {
    fn first_use<'a>(&'a self, jti: &'a str, exp: i64, _now: i64) -> ReplayFuture<'a> {
        Box::pin(async move {
            let inserted = sqlx::query(
                "INSERT INTO used_tokens (jti, expires_at) VALUES ($1, $2) ON CONFLICT (jti) DO NOTHING",
            )
            .bind(jti)
            .bind(exp)
            .execute(&self.pool)
            .await
            .map_err(|error| ReplayStoreError::Store(error.to_string()))?;
            Ok(inserted.rows_affected() == 1)
        })
    }
}
