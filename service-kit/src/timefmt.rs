//! Times on the wire: RFC 3339 in UTC with exactly three fractional digits
//! (`2025-01-01T12:00:00.000Z`), the form Better-Auth's client turns into a `Date`.

use time::format_description::FormatItem;
use time::macros::format_description;
use time::OffsetDateTime;

/// `YYYY-MM-DDTHH:MM:SS.mmmZ`; the fraction is cut, not rounded, to milliseconds.
const RFC3339_MILLIS: &[FormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");

/// Formats milliseconds since the Unix epoch as `YYYY-MM-DDTHH:MM:SS.mmmZ`; a time out of
/// `time`'s range as the epoch.
pub fn rfc3339_millis(millis: i64) -> String {
    let at = OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    format_utc(at)
}

/// Formats a UTC time, dropping what is below the millisecond.
fn format_utc(at: OffsetDateTime) -> String {
    at.format(RFC3339_MILLIS).expect(
        "an OffsetDateTime has every component of the description, and a String takes any output",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_with_milliseconds_and_z() {
        assert_eq!(rfc3339_millis(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            rfc3339_millis(1_735_732_800_123),
            "2025-01-01T12:00:00.123Z"
        );
    }

    #[test]
    fn formats_the_last_millisecond_of_year_9999() {
        assert_eq!(
            rfc3339_millis(253_402_300_799_999),
            "9999-12-31T23:59:59.999Z"
        );
    }

    #[test]
    fn cuts_what_is_below_the_millisecond_without_rounding() {
        let at = OffsetDateTime::from_unix_timestamp_nanos(1_735_732_800_123_999_999).unwrap();
        assert_eq!(format_utc(at), "2025-01-01T12:00:00.123Z");
        let at = OffsetDateTime::from_unix_timestamp_nanos(999_999).unwrap();
        assert_eq!(format_utc(at), "1970-01-01T00:00:00.000Z");
    }

    #[test]
    fn a_time_before_the_epoch_counts_back() {
        assert_eq!(rfc3339_millis(-1), "1969-12-31T23:59:59.999Z");
    }
}
