//! Durable mail and the sign-up enumeration rule (DESIGN §14, §8), against a real SMTP server
//! (aiosmtpd, see `mail`) on both stores: mail written while the server is down goes out once it
//! is up; an answered request's mail is delivered by the next identity on the same store; a flood
//! of verification mail does not hold back a reset mail; sign-up for a taken address answers as
//! for a new one and mails the owner a notice; the development mailbox reads the outbox table.
//! The outbox is read straight from the store to see what identity wrote before it answered.
//! Backoffs are skipped by moving the shared test clock, never by sleeping.

mod delivery;
mod dev_mailbox;
mod enumeration;

use std::time::Duration;

use serde_json::Value;
use sqlx::{AnyPool, Row};
use stack::{Running, Stack};
use test_support::eventually;

use crate::mail::{link_in, smtp_url_on, SmtpSink, MAIL_DEADLINE};
use crate::support::{Setup, Store, TestStack};

const NOTICE_SUBJECT: &str = "Sign-up attempt with your email address";
/// Longer than any backoff (at most 10 minutes) and shorter than a reset link's life (1 hour).
const PAST_ANY_BACKOFF: Duration = Duration::from_secs(11 * 60);

/// One row of identity's `mail_outbox`.
#[derive(Debug)]
pub(crate) struct OutboxRow {
    pub(crate) kind: String,
    pub(crate) recipient: String,
    pub(crate) state: String,
    pub(crate) attempts: i64,
}

/// identity's outbox table, read from its store.
pub(crate) struct OutboxTable {
    pool: AnyPool,
    table: &'static str,
}

impl OutboxTable {
    /// Opens the store of a running identity (which has created it).
    pub(crate) async fn open(database_url: &str) -> OutboxTable {
        sqlx::any::install_default_drivers();
        let pool = AnyPool::connect(database_url)
            .await
            .expect("identity's store opens");
        let table = if database_url.starts_with("postgres") {
            "auth.mail_outbox"
        } else {
            "mail_outbox"
        };
        OutboxTable { pool, table }
    }

    /// Every row, oldest first.
    pub(crate) async fn rows(&self) -> Vec<OutboxRow> {
        let query = format!(
            "SELECT kind, recipient, state, attempts FROM {} ORDER BY id",
            self.table
        );
        let rows = sqlx::query(&query)
            .fetch_all(&self.pool)
            .await
            .expect("the outbox is readable");
        rows.iter()
            .map(|row| OutboxRow {
                kind: row.get(0),
                recipient: row.get(1),
                state: row.get(2),
                attempts: row.get(3),
            })
            .collect()
    }

    /// Polls until `done` holds for the rows; returns them.
    pub(crate) async fn wait_until(
        &self,
        what: &str,
        done: impl Fn(&[OutboxRow]) -> bool,
    ) -> Vec<OutboxRow> {
        eventually(MAIL_DEADLINE, what, || async {
            let rows = self.rows().await;
            if done(&rows) {
                Ok(rows)
            } else {
                Err(format!("the outbox holds {rows:?}"))
            }
        })
        .await
    }
}

/// A stack whose identity mails to `127.0.0.1:port`, where nothing listens yet; with the
/// configuration to start another identity on the same store later.
async fn stack_with_mail_server_down(
    store: Store,
    port: u16,
) -> Option<(TestStack, identity::Config, OutboxTable)> {
    if !SmtpSink::available() {
        return None;
    }
    let mut setup = Setup::new(store).await?;
    setup.use_smtp(smtp_url_on(port));
    let identity_config = setup.identity.clone();
    let stack = setup.start().await;
    let outbox = OutboxTable::open(identity_config.database_url.expose_secret()).await;
    Some((stack, identity_config, outbox))
}

/// Stops the stack's identity and lets go of its store (a SQLite file has one identity at a time),
/// so that another identity can start on it; edge and core-api, returned, keep running.
async fn stop_identity(services: Stack) -> (Running, Running) {
    let Stack {
        identity,
        identity_state,
        core_api,
        edge,
    } = services;
    identity.stop().await.expect("identity stops");
    // The state held for counters holds the store too.
    drop(identity_state);
    (edge, core_api)
}

/// The token of a mailed reset link (`…/reset-password/<token>?callbackURL=…`).
fn reset_token_in(mail: &Value) -> String {
    let link = link_in(
        mail["text"].as_str().expect("text"),
        "/api/auth/reset-password/",
    );
    let after = link
        .split("/reset-password/")
        .nth(1)
        .expect("a token segment");
    after.split('?').next().expect("a token").to_owned()
}
