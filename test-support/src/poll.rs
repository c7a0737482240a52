//! The one poller: tests wait for a condition by asking again, never by sleeping a guessed time.

use std::fmt::Display;
use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

/// How long a poll waits before asking again.
pub const POLL: Duration = Duration::from_millis(20);

/// What a poll's attempt answers: `true`, `Some(value)` or `Ok(value)` ends the wait; an `Err`
/// says what was seen instead, for the failure message.
pub trait Answer {
    /// What the wait returns.
    type Value;
    /// The value, or what was seen instead.
    fn into_result(self) -> Result<Self::Value, String>;
}

impl Answer for bool {
    type Value = ();
    fn into_result(self) -> Result<(), String> {
        if self {
            Ok(())
        } else {
            Err("still false".to_owned())
        }
    }
}

impl<T> Answer for Option<T> {
    type Value = T;
    fn into_result(self) -> Result<T, String> {
        self.ok_or_else(|| "still nothing".to_owned())
    }
}

impl<T, E: Display> Answer for Result<T, E> {
    type Value = T;
    fn into_result(self) -> Result<T, String> {
        self.map_err(|error| error.to_string())
    }
}

/// Asks `attempt` every [`POLL`] until its answer holds, and returns the answer's value; after
/// `within`, fails the test naming `what` and the last answer.
pub async fn eventually<A, F, Fut>(within: Duration, what: &str, attempt: F) -> A::Value
where
    A: Answer,
    F: FnMut() -> Fut,
    Fut: Future<Output = A>,
{
    match poll_until(within, attempt).await {
        Ok(value) => value,
        Err(last) => panic!("not within {within:?}: {what} ({last})"),
    }
}

/// Asks `attempt` every [`POLL`] until its answer holds; after `within`, returns what the last
/// answer saw (for a test with more to report before failing, e.g. a screenshot).
pub async fn poll_until<A, F, Fut>(within: Duration, mut attempt: F) -> Result<A::Value, String>
where
    A: Answer,
    F: FnMut() -> Fut,
    Fut: Future<Output = A>,
{
    let deadline = Instant::now() + within;
    loop {
        match attempt().await.into_result() {
            Ok(value) => return Ok(value),
            Err(seen) if Instant::now() >= deadline => return Err(seen),
            Err(_) => tokio::time::sleep(POLL).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[tokio::test]
    async fn eventually_returns_the_first_value_that_holds() {
        let calls = AtomicU32::new(0);
        let value = eventually(Duration::from_secs(5), "the third call", || async {
            let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
            if n == 3 {
                Ok(n)
            } else {
                Err(format!("call {n}"))
            }
        })
        .await;
        assert_eq!(value, 3);
        let calls = AtomicU32::new(0);
        eventually(Duration::from_secs(5), "a true", || async {
            calls.fetch_add(1, Ordering::SeqCst) == 1
        })
        .await;
    }

    #[tokio::test]
    async fn poll_until_gives_what_the_last_answer_saw() {
        let last = poll_until(Duration::from_millis(50), || async { None::<()> }).await;
        assert_eq!(last, Err("still nothing".to_owned()));
    }

    #[tokio::test]
    #[should_panic(expected = "the impossible (still no)")]
    async fn eventually_fails_naming_what_and_the_last_answer() {
        eventually(Duration::from_millis(50), "the impossible", || async {
            Err::<(), _>("still no")
        })
        .await;
    }
}
