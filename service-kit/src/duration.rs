//! Durations as written in configuration: `90s`, `10m`, `2h`, `7d`, and `500ms` for timeouts.

use std::time::Duration;

/// Parses a positive duration written as a whole number and one unit (`s`, `m`, `h`, `d`).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("`{text}` has no unit: write e.g. 90s, 10m, 2h or 7d"))?;
    let (number, unit) = text.split_at(split);
    let value: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` does not start with a whole number"))?;
    let seconds_per_unit = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        _ => return Err(format!("`{text}` has an unknown unit: use s, m, h or d")),
    };
    let seconds = value
        .checked_mul(seconds_per_unit)
        .ok_or_else(|| format!("`{text}` is too long"))?;
    if seconds == 0 {
        return Err(format!("`{text}` must be positive"));
    }
    Ok(Duration::from_secs(seconds))
}

/// Parses a timeout: whole milliseconds (`500ms`) or any duration [`parse_duration`] accepts
/// (`10s`), for the limits where less than a second makes sense.
pub fn parse_timeout(text: &str) -> Result<Duration, String> {
    match text.trim().strip_suffix("ms") {
        Some(millis) => match millis.parse::<u64>() {
            Ok(0) => Err(format!("`{text}` must be positive")),
            Ok(millis) => Ok(Duration::from_millis(millis)),
            Err(_) => Err(format!("`{text}` does not start with a whole number")),
        },
        None => parse_duration(text),
    }
}

/// A duration in whole milliseconds, as the stores keep times. Saturates at a quarter of
/// `i64::MAX` (73 million years), so adding it to a time in milliseconds cannot overflow.
pub fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).map_or(i64::MAX / 4, |ms| ms.min(i64::MAX / 4))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_each_unit() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7_200)));
        assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(604_800)));
    }

    #[test]
    fn refuses_zero_missing_unit_and_garbage() {
        for bad in [
            "0s",
            "10",
            "s",
            "-5s",
            "5w",
            "1.5h",
            "",
            "99999999999999999999d",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn timeouts_take_milliseconds_or_durations() {
        assert_eq!(parse_timeout("300ms"), Ok(Duration::from_millis(300)));
        assert_eq!(parse_timeout("10s"), Ok(Duration::from_secs(10)));
        for bad in ["0ms", "ms", "1.5ms", "10", "0s"] {
            assert!(parse_timeout(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn millis_is_exact_and_saturates_far_from_overflow() {
        assert_eq!(millis(Duration::from_millis(1_500)), 1_500);
        let huge = millis(Duration::MAX);
        assert_eq!(huge, i64::MAX / 4);
        assert!(huge.checked_add(huge).is_some());
    }
}
