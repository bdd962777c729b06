//! Times as people write them: `250ms`, `4s`, `1.5s`, `2m`, `1h`. One parser for scenario
//! files, the `lab` command line and node flags, so a time means the same thing everywhere.
//!
//! A bare number is refused: "3" could be seconds or milliseconds, and guessing wrong turns a
//! one-second timeout into a seventeen-minute one. The message says to add a unit.

use std::time::Duration;

/// The longest time the lab accepts: a day. Longer is a typo, and would overflow the
/// arithmetic of schedules that count in nanoseconds.
pub const MAX: Duration = Duration::from_secs(86_400);

/// Parses `250ms`, `4s`, `1.5s`, `2m` or `1h` (0 is allowed: `0s`).
///
/// ```
/// use std::time::Duration;
/// assert_eq!(harness::duration::parse("1.5s"), Ok(Duration::from_millis(1500)));
/// assert!(harness::duration::parse("3").unwrap_err().contains("add a unit"));
/// ```
pub fn parse(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let number = number.trim();
    let example = "write e.g. \"250ms\", \"4s\", \"1.5s\" or \"2m\"";
    if number.is_empty() || !number.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return Err(format!("{text:?} is not a time; {example}"));
    }
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a time; {example}"))?;
    let scale = match unit {
        "ms" => 0.001,
        "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        "" => {
            return Err(format!(
                "{text:?} has no unit; add a unit: \"{number}s\" or \"{number}ms\""
            ));
        }
        other => {
            return Err(format!(
                "{text:?}: unknown unit {other:?}; use ms, s, m or h"
            ));
        }
    };
    let seconds = value * scale;
    if !(seconds.is_finite() && seconds <= MAX.as_secs_f64()) {
        return Err(format!("{text:?} is too long; at most a day (24h)"));
    }
    let parsed = Duration::from_secs_f64(seconds);
    // Below a millisecond nothing in the lab can tell the difference, and "0.0001ms" is a typo.
    if !parsed.is_zero() && parsed < Duration::from_millis(1) {
        return Err(format!(
            "{text:?} is below a millisecond; use 0s or at least 1ms"
        ));
    }
    Ok(parsed)
}

/// Like [`parse`], and the time must be more than zero (`what` names the field).
pub fn parse_positive(what: &str, text: &str) -> Result<Duration, String> {
    match parse(text)? {
        d if d.is_zero() => Err(format!("{what} = {text:?}: must be more than 0")),
        d => Ok(d),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_like_people_write_them() {
        assert_eq!(parse("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse(" 4s "), Ok(Duration::from_secs(4)));
        assert_eq!(parse("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse("0s"), Ok(Duration::ZERO));
    }

    #[test]
    fn a_bare_number_is_refused_with_a_unit_to_add() {
        let why = parse("3").unwrap_err();
        assert!(
            why.contains("add a unit") && why.contains("\"3s\""),
            "{why}"
        );
    }

    #[test]
    fn nonsense_is_refused_with_an_example() {
        for bad in ["", "s", "-1s", "1e300s", "abc", "1.2.3s", "NaNs", "infs"] {
            assert!(parse(bad).is_err(), "{bad:?} was accepted");
        }
        assert!(parse("5d").unwrap_err().contains("unknown unit"));
        assert!(parse("25h").unwrap_err().contains("at most a day"));
        assert!(
            parse("0.0001ms")
                .unwrap_err()
                .contains("below a millisecond")
        );
    }

    #[test]
    fn positive_times_refuse_zero_by_name() {
        assert!(
            parse_positive("timeout", "0ms")
                .unwrap_err()
                .contains("timeout")
        );
        assert_eq!(
            parse_positive("timeout", "1ms"),
            Ok(Duration::from_millis(1))
        );
    }
}
