//! The sender: background tasks that deliver the outbox to the SMTP server. Delivery is
//! at-least-once: a mail is claimed with a lease, sent, then marked sent; a sender that dies
//! between the send and the mark leaves the lease to run out, and the mail goes again. A failed
//! attempt is retried with exponential backoff until `MAX_ATTEMPTS`, a permanent refusal or the
//! link's expiry, then the row is marked failed and logged. Password-reset mail has a lane of
//! its own and is claimed first by every other lane, so no flood of other mail delays it. Senders
//! wake on every commit of this process and poll for the rest (other replicas, retries).

use std::sync::Arc;
use std::time::Duration;

use service_kit::db::Database;
use service_kit::Clock;
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;

use super::outbox::{self, Claimed};
use super::smtp::{self, Smtp};
use super::MailKind;

/// Attempts per mail before it is given up.
pub const MAX_ATTEMPTS: i64 = 12;
/// The wait after the first failed attempt; it doubles after each further one…
const FIRST_BACKOFF_MS: i64 = 1_000;
/// …up to this.
const MAX_BACKOFF_MS: i64 = 10 * 60 * 1000;
/// How long a claim holds a mail: longer than one attempt may take.
const LEASE_MS: i64 = 2 * 60 * 1000;
/// How often an idle sender looks for due mail it was not woken for.
const POLL: Duration = Duration::from_secs(1);
/// Lanes that take any mail (reset first); the reset lane comes on top.
const GENERAL_LANES: usize = 2;
/// How long finished rows are kept (wiped) before they are deleted.
const RETENTION_MS: i64 = 7 * 24 * 3_600 * 1000;
/// How often old rows are pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(60);
/// How long a stopping identity waits for attempts in flight before abandoning them (their
/// leases run out and another sender sends them again).
const STOP_GRACE: Duration = Duration::from_secs(10);

/// The wait after failed attempt number `attempts` (1, 2, …): 1 s, 2 s, 4 s, … at most 10 min.
pub fn backoff_ms(attempts: i64) -> i64 {
    let doublings = u32::try_from(attempts.saturating_sub(1).clamp(0, 30)).unwrap_or(30);
    FIRST_BACKOFF_MS
        .saturating_mul(1_i64 << doublings)
        .min(MAX_BACKOFF_MS)
}

/// What to do after a failed attempt.
#[derive(Debug, PartialEq, Eq)]
pub enum AfterFailure {
    /// Try again at this time.
    RetryAt(i64),
    /// Give up: no later attempt can or may succeed.
    GiveUp,
}

/// The retry rule: again after the backoff, unless the refusal is permanent, the attempts are
/// spent, or the link will have expired by then.
pub fn after_failure(attempts: i64, permanent: bool, now: i64, expires_at: i64) -> AfterFailure {
    let next = now.saturating_add(backoff_ms(attempts));
    if permanent || attempts >= MAX_ATTEMPTS || next >= expires_at {
        AfterFailure::GiveUp
    } else {
        AfterFailure::RetryAt(next)
    }
}

/// The highest priority (lowest number) a lane takes, and its name for logs.
#[derive(Clone, Copy)]
struct Lane {
    max_priority: i64,
    name: &'static str,
}

/// What every sender task shares.
#[derive(Clone)]
struct Worker {
    db: Database,
    smtp: Smtp,
    clock: Clock,
    wake: Arc<Notify>,
}

/// The running sender tasks. Dropping the last handle tells them to stop.
pub(super) struct Senders {
    stop: watch::Sender<bool>,
    tasks: std::sync::Mutex<Vec<JoinHandle<()>>>,
}

impl Senders {
    /// Starts the reset lane, the general lanes and the pruner.
    pub(super) fn start(db: Database, smtp: Smtp, clock: Clock, wake: Arc<Notify>) -> Senders {
        let (stop, stopped) = watch::channel(false);
        let worker = Worker {
            db,
            smtp,
            clock,
            wake,
        };
        let urgent = Lane {
            max_priority: MailKind::PasswordReset.priority(),
            name: "reset",
        };
        let general = Lane {
            max_priority: i64::MAX,
            name: "general",
        };
        let mut tasks = vec![tokio::spawn(worker.clone().run(urgent, stopped.clone()))];
        for _ in 0..GENERAL_LANES {
            tasks.push(tokio::spawn(worker.clone().run(general, stopped.clone())));
        }
        tasks.push(tokio::spawn(prune_periodically(worker, stopped)));
        Senders {
            stop,
            tasks: std::sync::Mutex::new(tasks),
        }
    }

    /// Tells the tasks to stop after the attempt in hand and waits for them (at most
    /// `STOP_GRACE`; an abandoned attempt's mail goes again once its lease runs out).
    pub(super) async fn stop(&self) {
        let _ = self.stop.send(true);
        let tasks = std::mem::take(
            &mut *self
                .tasks
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        for mut task in tasks {
            if tokio::time::timeout(STOP_GRACE, &mut task).await.is_err() {
                tracing::warn!(
                    "mail sender did not stop in time; its mail is sent again after the lease"
                );
                task.abort();
            }
        }
    }
}

impl Worker {
    /// Claims and delivers due mail until told to stop; sleeps until woken or `POLL` when idle.
    async fn run(self, lane: Lane, mut stopped: watch::Receiver<bool>) {
        loop {
            if *stopped.borrow() {
                return;
            }
            // Registered before the claim, so a wake between the claim and the wait is kept.
            let woken = self.wake.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            let now = self.clock.now_millis();
            match outbox::claim(
                &self.db.pool,
                self.db.backend,
                lane.max_priority,
                now,
                LEASE_MS,
            )
            .await
            {
                Ok(Some(claimed)) => {
                    self.deliver(claimed, lane).await;
                    continue;
                }
                Ok(None) => {}
                Err(err) => {
                    tracing::error!(lane = lane.name, error = %err, "mail outbox: claim failed")
                }
            }
            tokio::select! {
                _ = woken => {}
                _ = tokio::time::sleep(POLL) => {}
                changed = stopped.changed() => if changed.is_err() { return },
            }
        }
    }

    /// One attempt, and its outcome recorded under the claim's lease.
    async fn deliver(&self, claimed: Claimed, lane: Lane) {
        let (id, kind, attempt) = (claimed.id, claimed.kind.as_str(), claimed.attempts);
        let now = self.clock.now_millis();
        let result = if claimed.expires_at <= now {
            Err(smtp::SendError {
                permanent: true,
                reason: "its link expired before it could be sent".into(),
            })
        } else {
            self.smtp.send(&claimed.mail).await
        };
        let now = self.clock.now_millis();
        let recorded = match result {
            Ok(()) => {
                tracing::info!(
                    mail_id = id,
                    kind,
                    attempt,
                    lane = lane.name,
                    "mail delivered"
                );
                outbox::mark_sent(&self.db.pool, &claimed, now).await
            }
            Err(err) => match after_failure(attempt, err.permanent, now, claimed.expires_at) {
                AfterFailure::RetryAt(at) => {
                    tracing::warn!(mail_id = id, kind, attempt, error = %err.reason, retry_in_ms = at - now, "mail delivery failed; will retry");
                    outbox::retry_at(&self.db.pool, &claimed, &err.reason, at).await
                }
                AfterFailure::GiveUp => {
                    tracing::error!(mail_id = id, kind, attempt, error = %err.reason, "mail delivery failed; giving up");
                    outbox::mark_failed(&self.db.pool, &claimed, &err.reason, now).await
                }
            },
        };
        match recorded {
            Ok(true) => {}
            Ok(false) => tracing::warn!(
                mail_id = id,
                "mail outbox: the lease ran out before the outcome was recorded"
            ),
            Err(err) => {
                tracing::error!(mail_id = id, error = %err, "mail outbox: outcome not recorded; the mail may go again")
            }
        }
    }
}

/// Deletes finished rows after `RETENTION_MS` and development mail beyond the newest ones.
async fn prune_periodically(worker: Worker, mut stopped: watch::Receiver<bool>) {
    loop {
        let before = worker.clock.now_millis().saturating_sub(RETENTION_MS);
        match outbox::prune(&worker.db.pool, before).await {
            Ok(0) => {}
            Ok(pruned) => tracing::debug!(pruned, "mail outbox pruned"),
            Err(err) => tracing::error!(error = %err, "mail outbox: pruning failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(PRUNE_EVERY) => {}
            _ = stopped.changed() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_a_second_up_to_ten_minutes() {
        assert_eq!(backoff_ms(1), 1_000);
        assert_eq!(backoff_ms(2), 2_000);
        assert_eq!(backoff_ms(5), 16_000);
        assert_eq!(backoff_ms(11), MAX_BACKOFF_MS);
        assert_eq!(backoff_ms(i64::MAX), MAX_BACKOFF_MS);
        assert_eq!(backoff_ms(0), 1_000);
    }

    #[test]
    fn a_failure_is_retried_until_the_attempts_the_link_or_the_server_say_no() {
        let hour = 3_600_000;
        assert_eq!(
            after_failure(1, false, 0, hour),
            AfterFailure::RetryAt(1_000)
        );
        assert_eq!(
            after_failure(3, false, 10, hour),
            AfterFailure::RetryAt(4_010)
        );
        assert_eq!(
            after_failure(1, true, 0, hour),
            AfterFailure::GiveUp,
            "a permanent refusal"
        );
        assert_eq!(
            after_failure(MAX_ATTEMPTS, false, 0, hour),
            AfterFailure::GiveUp,
            "attempts spent"
        );
        assert_eq!(
            after_failure(2, false, 0, 1_500),
            AfterFailure::GiveUp,
            "the link expires before the retry"
        );
    }

    #[test]
    fn the_attempts_span_about_half_an_hour() {
        let waited: i64 = (1..MAX_ATTEMPTS).map(backoff_ms).sum();
        assert!((20 * 60_000..40 * 60_000).contains(&waited), "{waited} ms");
    }
}
