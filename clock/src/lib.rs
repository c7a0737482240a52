//! The one place a service reads the time, so tests can set it instead of sleeping.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use time::OffsetDateTime;

/// A source of "now": the system clock, or a manual one that tests move by hand.
#[derive(Clone, Debug, Default)]
pub struct Clock {
    /// Offset added to the system time, in milliseconds; `None` means the plain system clock.
    manual: Option<Arc<AtomicI64>>,
}

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Self { manual: None }
    }

    /// A clock that runs with the system clock but can be moved forward with [`Clock::advance`].
    pub fn adjustable() -> Self {
        Self {
            manual: Some(Arc::new(AtomicI64::new(0))),
        }
    }

    /// Moves an adjustable clock forward; does nothing on the system clock.
    pub fn advance(&self, by: std::time::Duration) {
        if let Some(offset) = &self.manual {
            let millis = i64::try_from(by.as_millis()).unwrap_or(i64::MAX / 2);
            offset.fetch_add(millis, Ordering::SeqCst);
        }
    }

    /// Now, as a UTC date-time.
    pub fn now(&self) -> OffsetDateTime {
        #[allow(clippy::disallowed_methods)] // this is the Clock
        let system = OffsetDateTime::now_utc();
        match &self.manual {
            None => system,
            Some(offset) => system + time::Duration::milliseconds(offset.load(Ordering::SeqCst)),
        }
    }

    /// Now, in milliseconds since the Unix epoch (how the stores keep times).
    pub fn now_millis(&self) -> i64 {
        millis(self.now())
    }

    /// Now, in whole seconds since the Unix epoch (how JWTs keep times).
    pub fn now_unix(&self) -> i64 {
        self.now().unix_timestamp()
    }
}

/// A date-time in milliseconds since the Unix epoch.
pub fn millis(at: OffsetDateTime) -> i64 {
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adjustable_clock_moves_forward_by_what_it_is_told() {
        let clock = Clock::adjustable();
        let before = clock.now_millis();
        clock.advance(std::time::Duration::from_secs(3_600));
        let after = clock.now_millis();
        assert!(after - before >= 3_600_000 && after - before < 3_700_000);
    }
}
