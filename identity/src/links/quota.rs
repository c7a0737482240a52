//! The mail quota (DESIGN §6): at most 3 mails of each kind per address per 10 minutes. Each
//! (address, kind) owns 3 slots; a mail claims a slot that is empty or whose mail has left the
//! window, in one atomic statement, so concurrent requests cannot exceed the limit either.

use sqlx::AnyPool;

use super::Purpose;

/// Mails of one kind an address may get per window.
pub const MAILS_PER_WINDOW: i64 = 3;
/// The window, in ms.
pub const WINDOW_MS: i64 = 10 * 60 * 1000;

/// Whether a slot whose last mail went out at `last_sent_at` may take a new mail at `now`: only
/// once that mail has left the window. This is the rule the SQL below applies.
pub fn slot_reusable(last_sent_at: i64, now: i64) -> bool {
    last_sent_at <= reuse_cutoff(now)
}

/// The latest send time a reusable slot may hold.
fn reuse_cutoff(now: i64) -> i64 {
    now - WINDOW_MS
}

/// Claims a slot for a mail of `purpose` to `email` at `now`; `false` when the quota is spent.
pub async fn claim(
    pool: &AnyPool,
    email: &str,
    purpose: Purpose,
    now: i64,
) -> Result<bool, sqlx::Error> {
    for slot in 0..MAILS_PER_WINDOW {
        let claimed = sqlx::query(
            "INSERT INTO mail_quota (email, kind, slot, sent_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (email, kind, slot) DO UPDATE SET sent_at = excluded.sent_at \
             WHERE mail_quota.sent_at <= $5",
        )
        .bind(email)
        .bind(purpose.as_str())
        .bind(slot)
        .bind(now)
        .bind(reuse_cutoff(now))
        .execute(pool)
        .await?
        .rows_affected();
        if claimed > 0 {
            return Ok(true);
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The slot algorithm over plain memory: `claim` as the SQL performs it.
    fn claim_in(slots: &mut [Option<i64>; 3], now: i64) -> bool {
        for slot in slots.iter_mut() {
            if slot.is_none_or(|last| slot_reusable(last, now)) {
                *slot = Some(now);
                return true;
            }
        }
        false
    }

    #[test]
    fn three_mails_then_none_until_the_first_leaves_the_window() {
        let mut slots = [None; 3];
        let minute = 60_000;
        assert!(claim_in(&mut slots, 0));
        assert!(claim_in(&mut slots, minute));
        assert!(claim_in(&mut slots, 2 * minute));
        assert!(
            !claim_in(&mut slots, 3 * minute),
            "a fourth mail within 10 minutes"
        );
        assert!(!claim_in(&mut slots, WINDOW_MS - 1));
        assert!(
            claim_in(&mut slots, WINDOW_MS),
            "the first mail has left the window"
        );
        assert!(!claim_in(&mut slots, WINDOW_MS + 1));
    }

    #[test]
    fn no_window_ever_holds_more_than_three() {
        let mut slots = [None; 3];
        let mut sent = Vec::new();
        for now in (0..40 * 60_000).step_by(7_000) {
            if claim_in(&mut slots, now) {
                sent.push(now);
            }
        }
        for &start in &sent {
            let inside = sent
                .iter()
                .filter(|&&at| at >= start && at < start + WINDOW_MS)
                .count();
            assert!(
                inside as i64 <= MAILS_PER_WINDOW,
                "{inside} mails in the window from {start}"
            );
        }
        assert!(sent.len() >= 12, "the quota refills: {}", sent.len());
    }
}
