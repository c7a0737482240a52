//! Per-account lockout (DESIGN §14): consecutive failed password sign-ins counted in the store,
//! per normalised email address whether or not an account has it, or per device cookie (see
//! `devices`). After `LOCKOUT_THRESHOLD` failures password sign-in is refused for
//! `LOCKOUT_DURATION`; once a lock has ended each further failure locks again at once for twice
//! the previous lock, at most `LOCKOUT_MAX`; a success resets the count and the lock length.
//!
//! An attempt is counted as a failure *before* its password is hashed, in one atomic statement
//! that also says whether the counter was locked: so a burst of parallel guesses cannot slip
//! more than the threshold past the check, and every replica agrees. A success then resets the
//! counter. The rule is `next_after_attempt`; the SQL below applies exactly it. Never logs an
//! address or a password.

use std::time::Duration;

use sqlx::{AnyPool, Row};

use crate::sessions::TokenHash;
use crate::users::Email;

/// The lockout's settings, in ms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LockoutPolicy {
    /// Failures before the first lock (`LOCKOUT_THRESHOLD`).
    pub threshold: i64,
    /// The first lock (`LOCKOUT_DURATION`).
    pub duration_ms: i64,
    /// The longest lock (`LOCKOUT_MAX`).
    pub max_ms: i64,
}

impl LockoutPolicy {
    /// Builds the policy from configured durations (saturating, never below 1 ms).
    pub fn new(threshold: u32, duration: Duration, max: Duration) -> LockoutPolicy {
        let ms = |d: Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 4).max(1);
        LockoutPolicy {
            threshold: i64::from(threshold.max(1)),
            duration_ms: ms(duration),
            max_ms: ms(max).max(ms(duration)),
        }
    }
}

/// One counter as stored.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counter {
    /// Attempts since the last success.
    pub failures: i64,
    /// Refused until this instant (ms); 0 when never locked.
    pub locked_until: i64,
    /// The last lock's length (ms); 0 before the first lock.
    pub lock_ms: i64,
}

/// What the counter says about an attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The password may be checked; the attempt is already counted as a failure.
    Allowed,
    /// Refused without checking; retry after this many whole seconds (at least 1).
    Locked {
        /// Seconds until the lock ends, rounded up.
        retry_after_secs: u64,
    },
}

/// The rule: the counter after an attempt at `now`, or `None` while it is locked (a refused
/// attempt changes nothing). The attempt is counted as a failure up front; a success resets.
pub fn next_after_attempt(counter: Counter, now: i64, policy: &LockoutPolicy) -> Option<Counter> {
    if counter.locked_until > now {
        return None;
    }
    let failures = counter.failures.saturating_add(1);
    let lock_ms = if counter.lock_ms > 0 {
        // A lock has ended: this failure locks again at once, for twice the last one.
        counter.lock_ms.saturating_mul(2).min(policy.max_ms)
    } else if failures >= policy.threshold {
        policy.duration_ms
    } else {
        0
    };
    let locked_until = if lock_ms > 0 {
        now.saturating_add(lock_ms)
    } else {
        counter.locked_until
    };
    Some(Counter {
        failures,
        locked_until,
        lock_ms,
    })
}

/// Seconds until `locked_until`, rounded up, at least 1 (what `Retry-After` says).
pub fn retry_after_secs(locked_until: i64, now: i64) -> u64 {
    let ms = locked_until.saturating_sub(now).max(1);
    u64::try_from(ms.saturating_add(999) / 1000)
        .unwrap_or(1)
        .max(1)
}

/// Whose counter an attempt runs on.
#[derive(Clone, Copy, Debug)]
pub enum Subject<'a> {
    /// Every client without a valid device cookie for the account: per normalised address.
    Address(&'a Email),
    /// A browser presenting a valid device cookie for the account (its hash).
    Device(&'a TokenHash),
}

/// The SQL form of `next_after_attempt` over the columns of the row being updated (`$now`,
/// `$threshold`, `$duration`, `$max` numbered from `first`). Shared by both tables.
fn next_counter_sql(table: &str, first: usize) -> String {
    let (now, threshold, duration, max) = (first, first + 1, first + 2, first + 3);
    let lock_ms = format!(
        "CASE WHEN {table}.lock_ms > 0 THEN \
             CASE WHEN {table}.lock_ms * 2 > ${max} THEN ${max} ELSE {table}.lock_ms * 2 END \
         WHEN {table}.failures + 1 >= ${threshold} THEN ${duration} ELSE 0 END"
    );
    format!(
        "failures = {table}.failures + 1, \
         locked_until = CASE WHEN ({lock_ms}) > 0 THEN ${now} + ({lock_ms}) ELSE {table}.locked_until END, \
         lock_ms = {lock_ms}"
    )
}

/// Counts an attempt on `subject` at `now` if it is not locked, atomically; says whether the
/// password may be checked.
pub async fn begin_attempt(
    pool: &AnyPool,
    subject: Subject<'_>,
    now: i64,
    policy: &LockoutPolicy,
) -> Result<Verdict, sqlx::Error> {
    let counted = match subject {
        Subject::Address(email) => {
            // A new row is an update of the all-zero counter; the first lock needs a threshold
            // of 1 to start here.
            let first_lock = if policy.threshold <= 1 {
                policy.duration_ms
            } else {
                0
            };
            let sql = format!(
                "INSERT INTO sign_in_failures (email, failures, locked_until, lock_ms, updated_at) \
                 VALUES ($1, 1, $2, $3, $4) \
                 ON CONFLICT (email) DO UPDATE SET {}, updated_at = $4 \
                 WHERE sign_in_failures.locked_until <= $4 \
                 RETURNING failures",
                next_counter_sql("sign_in_failures", 4)
            );
            let locked_until = if first_lock > 0 {
                now.saturating_add(first_lock)
            } else {
                0
            };
            sqlx::query(&sql)
                .bind(email.as_str())
                .bind(locked_until)
                .bind(first_lock)
                .bind(now)
                .bind(policy.threshold)
                .bind(policy.duration_ms)
                .bind(policy.max_ms)
                .fetch_optional(pool)
                .await?
        }
        Subject::Device(hash) => {
            let sql = format!(
                "UPDATE devices SET {} WHERE token_hash = $1 AND devices.locked_until <= $2 RETURNING failures",
                next_counter_sql("devices", 2)
            );
            sqlx::query(&sql)
                .bind(hash.as_str())
                .bind(now)
                .bind(policy.threshold)
                .bind(policy.duration_ms)
                .bind(policy.max_ms)
                .fetch_optional(pool)
                .await?
        }
    };
    if counted.is_some() {
        return Ok(Verdict::Allowed);
    }
    // Not counted: the counter is locked. Read until when, for Retry-After.
    let locked_until: Option<i64> = match subject {
        Subject::Address(email) => {
            sqlx::query("SELECT locked_until FROM sign_in_failures WHERE email = $1")
                .bind(email.as_str())
        }
        Subject::Device(hash) => {
            sqlx::query("SELECT locked_until FROM devices WHERE token_hash = $1")
                .bind(hash.as_str())
        }
    }
    .fetch_optional(pool)
    .await?
    .map(|row| row.try_get(0))
    .transpose()?;
    Ok(Verdict::Locked {
        retry_after_secs: retry_after_secs(locked_until.unwrap_or(now), now),
    })
}

/// A correct password: resets the subject's count and lock length.
pub async fn record_success(pool: &AnyPool, subject: Subject<'_>) -> Result<(), sqlx::Error> {
    match subject {
        Subject::Address(email) => {
            sqlx::query("DELETE FROM sign_in_failures WHERE email = $1")
                .bind(email.as_str())
                .execute(pool)
                .await?
        }
        Subject::Device(hash) => sqlx::query(
            "UPDATE devices SET failures = 0, locked_until = 0, lock_ms = 0 WHERE token_hash = $1",
        )
        .bind(hash.as_str())
        .execute(pool)
        .await?,
    };
    Ok(())
}

/// How long a counter is kept after its last counted attempt, once its lock has ended. After a
/// day of silence the address starts afresh; waiting for that gains an attacker nothing (38
/// guesses over the two days, against 24 a day for one who keeps guessing).
pub const IDLE_COUNTER_RETENTION: Duration = Duration::from_secs(24 * 60 * 60);

/// Deletes the per-address counters whose lock has ended by `now` and whose last counted attempt
/// was before `idle_before`; says how many. Devices keep their counters until they expire.
pub async fn prune(pool: &AnyPool, now: i64, idle_before: i64) -> Result<u64, sqlx::Error> {
    let pruned =
        sqlx::query("DELETE FROM sign_in_failures WHERE updated_at < $1 AND locked_until <= $2")
            .bind(idle_before)
            .bind(now)
            .execute(pool)
            .await?;
    Ok(pruned.rows_affected())
}

#[cfg(test)]
mod tests {
    use super::*;
    use service_kit::Clock;

    const MINUTE: i64 = 60_000;

    fn defaults() -> LockoutPolicy {
        LockoutPolicy::new(10, Duration::from_secs(60), Duration::from_secs(3_600))
    }

    /// Drives the rule like the store does: `true` when the attempt was allowed.
    fn attempt(counter: &mut Counter, clock: &Clock, policy: &LockoutPolicy) -> bool {
        match next_after_attempt(*counter, clock.now_millis(), policy) {
            Some(next) => {
                *counter = next;
                true
            }
            None => false,
        }
    }

    #[test]
    fn ten_failures_then_a_one_minute_lock() {
        let (clock, policy, mut counter) = (Clock::adjustable(), defaults(), Counter::default());
        for n in 1..=10 {
            assert!(
                attempt(&mut counter, &clock, &policy),
                "attempt {n} is checked"
            );
        }
        assert!(
            !attempt(&mut counter, &clock, &policy),
            "the 11th is refused"
        );
        let retry = retry_after_secs(counter.locked_until, clock.now_millis());
        assert!((59..=60).contains(&retry), "{retry}");
        clock.advance(Duration::from_secs(59));
        assert!(
            !attempt(&mut counter, &clock, &policy),
            "still locked after 59 s"
        );
        clock.advance(Duration::from_secs(1));
        assert!(
            attempt(&mut counter, &clock, &policy),
            "one guess once the lock has ended"
        );
        assert!(
            !attempt(&mut counter, &clock, &policy),
            "and that failure locks again at once"
        );
    }

    #[test]
    fn each_lock_after_the_first_doubles_up_to_the_maximum() {
        let (clock, policy, mut counter) = (Clock::adjustable(), defaults(), Counter::default());
        for _ in 0..10 {
            attempt(&mut counter, &clock, &policy);
        }
        let mut locks = vec![counter.lock_ms / MINUTE];
        for _ in 0..8 {
            clock.advance(Duration::from_millis(
                u64::try_from(counter.lock_ms).unwrap(),
            ));
            assert!(attempt(&mut counter, &clock, &policy));
            locks.push(counter.lock_ms / MINUTE);
        }
        assert_eq!(locks, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
    }

    #[test]
    fn a_refused_attempt_changes_nothing() {
        let (clock, policy) = (Clock::adjustable(), defaults());
        let locked = Counter {
            failures: 10,
            locked_until: clock.now_millis() + MINUTE,
            lock_ms: MINUTE,
        };
        assert_eq!(
            next_after_attempt(locked, clock.now_millis(), &policy),
            None
        );
    }

    #[test]
    fn the_sql_starts_every_new_address_as_the_rule_does() {
        // A new row is what the rule makes of the all-zero counter.
        let policy = defaults();
        let first = next_after_attempt(Counter::default(), 1_000, &policy).unwrap();
        assert_eq!(
            first,
            Counter {
                failures: 1,
                locked_until: 0,
                lock_ms: 0
            }
        );
        let one = LockoutPolicy::new(1, Duration::from_secs(60), Duration::from_secs(3_600));
        let first = next_after_attempt(Counter::default(), 1_000, &one).unwrap();
        assert_eq!(
            first,
            Counter {
                failures: 1,
                locked_until: 61_000,
                lock_ms: MINUTE
            }
        );
    }

    #[test]
    fn retry_after_rounds_up_and_is_never_zero() {
        assert_eq!(retry_after_secs(60_000, 0), 60);
        assert_eq!(retry_after_secs(60_001, 0), 61);
        assert_eq!(retry_after_secs(5, 5), 1);
        assert_eq!(retry_after_secs(0, 5), 1);
    }

    #[test]
    fn the_maximum_is_never_shorter_than_the_first_lock() {
        let policy = LockoutPolicy::new(0, Duration::from_secs(120), Duration::from_secs(60));
        assert_eq!((policy.threshold, policy.max_ms), (1, 120_000));
    }
}

/// The counters' SQL against real stores: pruning keeps what still matters.
#[cfg(test)]
mod store_tests {
    use std::time::Duration;

    use sqlx::{AnyPool, Row};
    use test_support::Store;

    use super::*;
    use crate::test_store::TestStore;
    use crate::users::Email;

    const HOUR: i64 = 3_600_000;

    async fn failures(pool: &AnyPool, email: &Email) -> Option<i64> {
        sqlx::query("SELECT failures FROM sign_in_failures WHERE email = $1")
            .bind(email.as_str())
            .fetch_optional(pool)
            .await
            .expect("read")
            .map(|row| row.get(0))
    }

    async fn pruning_keeps_running_locks_and_recent_counts(store: Store) {
        let Some(test) = TestStore::open(store).await else {
            return;
        };
        let pool = &test.pool;
        // Two failures lock for 16 h; the next lock is 30 h, longer than the retention.
        let policy = LockoutPolicy::new(
            2,
            Duration::from_secs(16 * 3_600),
            Duration::from_secs(30 * 3_600),
        );
        let email = |name: &str| Email::parse(&format!("{name}@example.com")).expect("email");
        let (ended, idle, recent, locked) = (
            email("ended"),
            email("idle"),
            email("recent"),
            email("locked"),
        );
        let t0 = 1_000 * HOUR;
        let attempt = |email: &Email, at: i64| {
            let email = email.clone();
            async move {
                begin_attempt(pool, Subject::Address(&email), at, &policy)
                    .await
                    .expect("counted")
            }
        };
        // `ended`: locked at t0 until t0 + 16 h. `idle`: one failure at t0.
        attempt(&ended, t0).await;
        attempt(&ended, t0).await;
        attempt(&idle, t0).await;
        // `locked`: its second lock, from t0, runs 30 h.
        attempt(&locked, t0 - 16 * HOUR).await;
        attempt(&locked, t0 - 16 * HOUR).await;
        attempt(&locked, t0).await;
        // `recent`: tried an hour ago.
        let now = t0 + 25 * HOUR;
        attempt(&recent, now - HOUR).await;
        assert!(
            matches!(attempt(&locked, now).await, Verdict::Locked { .. }),
            "still locked a day later"
        );

        let idle_before = now - i64::try_from(IDLE_COUNTER_RETENTION.as_millis()).unwrap();
        assert_eq!(prune(pool, now, idle_before).await.expect("pruned"), 2);
        assert_eq!(
            failures(pool, &ended).await,
            None,
            "an ended lock idle for a day goes"
        );
        assert_eq!(failures(pool, &idle).await, None, "an idle count goes");
        assert_eq!(
            failures(pool, &recent).await,
            Some(1),
            "a recent count stays"
        );
        assert_eq!(
            failures(pool, &locked).await,
            Some(3),
            "a running lock stays, with its escalation"
        );

        // The pruned address starts afresh: one failure, no lock.
        assert_eq!(attempt(&ended, now).await, Verdict::Allowed);
        assert_eq!(failures(pool, &ended).await, Some(1));
    }

    test_support::on_both_stores!(pruning_keeps_running_locks_and_recent_counts);
}
