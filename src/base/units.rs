//! The units config values are written in: durations ("500ms", "10s", "1h30m", "7d"), sizes
//! ("512MiB", "1GiB", "100MB") and percents ("80%"). Parsing is strict (no guessing of a
//! missing unit) and formatting is its inverse, so `parse(format(x)) == x`: the template and the
//! summary print values with these functions.
//!
//! Pure functions; the messages that quote the offending text live in `base::schema::settings`.

use std::time::Duration;

/// What a number measures, so that it can be shown in its unit: an alert rule's `unit`, a
/// check's headline value (`alert::render::format_value` writes it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueUnit {
    /// A ratio 0..1, shown as a percent.
    Percent,
    Seconds,
    Bytes,
    /// A check status as a number (`config::status_value`).
    Status,
    /// A count or a plain number.
    Number,
}

/// Why a unit string was rejected; `base::schema::settings` turns it into a message with the key and value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnitError {
    /// Not of the expected form at all ("10 parsecs").
    Malformed,
    /// Well formed but beyond what the type can hold ("99999999999999999999d").
    TooLarge,
    /// Well formed but outside the allowed range ("120%").
    OutOfRange,
}

/// The longest duration any key takes: 100 years. Longer is never meant, and the bound is
/// what lets `serve` use any duration without overflow: multiplied by any count config
/// allows (at most 100,000), added to a time in milliseconds, converted to nanoseconds.
pub const MAX_DURATION: Duration = Duration::from_secs(100 * 365 * 86_400);
/// [`MAX_DURATION`] as messages state it.
pub const MAX_DURATION_TEXT: &str = "36500d (100 years)";

const NANOS_PER_MILLI: u128 = 1_000_000;
const NANOS_PER_SECOND: u128 = 1_000_000_000;

/// Duration units. A unit is the whole run of letters after a number, so "ms" never reads as "m".
const DURATION_UNITS: &[(&str, u128)] = &[
    ("ms", NANOS_PER_MILLI),
    ("s", NANOS_PER_SECOND),
    ("m", 60 * NANOS_PER_SECOND),
    ("h", 3600 * NANOS_PER_SECOND),
    ("d", 86_400 * NANOS_PER_SECOND),
    ("w", 7 * 86_400 * NANOS_PER_SECOND),
];

/// A non-negative decimal number kept exact (no floats), e.g. "1.5" = 15 / 10^1.
#[derive(Debug, Clone, Copy)]
struct Decimal {
    whole: u128,
    fraction: u128,
    fraction_digits: u32,
}

impl Decimal {
    /// `self * unit`, rounded down; `None` on overflow.
    fn times(self, unit: u128) -> Option<u128> {
        let whole = self.whole.checked_mul(unit)?;
        let fraction = self.fraction.checked_mul(unit)? / 10u128.pow(self.fraction_digits);
        whole.checked_add(fraction)
    }
}

/// Splits a leading decimal number ("12", "1.5") off `text`. Rejects signs, exponents, "inf"
/// and "nan" on purpose: `f64::from_str` would accept those.
fn split_decimal(text: &str) -> Result<(Decimal, &str), UnitError> {
    let end = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, rest) = text.split_at(end);
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    // At least one digit before the point ("0.5", not ".5"), and digits after it if present.
    if whole.is_empty() || (number.contains('.') && fraction.is_empty()) || fraction.contains('.') {
        return Err(UnitError::Malformed);
    }
    // More than 18 fractional digits is never meant; the limit keeps 10^digits in range.
    if fraction.len() > 18 {
        return Err(UnitError::Malformed);
    }
    let whole: u128 = whole.parse().map_err(|_| UnitError::TooLarge)?;
    let fraction_value: u128 = if fraction.is_empty() {
        0
    } else {
        fraction.parse().map_err(|_| UnitError::Malformed)?
    };
    let decimal = Decimal {
        whole,
        fraction: fraction_value,
        fraction_digits: fraction.len() as u32,
    };
    Ok((decimal, rest))
}

/// Parses "500ms", "10s", "5m", "1h", "7d", "2w" and sums of them ("1h30m", "1h 30m").
/// Decimals are allowed ("1.5h"). A bare number is rejected: the unit is never guessed.
/// Longer than [`MAX_DURATION`] is `TooLarge`.
pub fn parse_duration(text: &str) -> Result<Duration, UnitError> {
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err(UnitError::Malformed);
    }
    let mut total_nanos: u128 = 0;
    while !rest.is_empty() {
        let (number, after) = split_decimal(rest)?;
        let after = after.trim_start();
        let unit_len = after
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_len);
        let unit_nanos = DURATION_UNITS
            .iter()
            .find(|(name, _)| *name == unit)
            .map(|(_, nanos)| *nanos)
            .ok_or(UnitError::Malformed)?;
        let part = number.times(unit_nanos).ok_or(UnitError::TooLarge)?;
        total_nanos = total_nanos.checked_add(part).ok_or(UnitError::TooLarge)?;
        rest = after.trim_start();
    }
    if total_nanos > MAX_DURATION.as_nanos() {
        return Err(UnitError::TooLarge);
    }
    let seconds = u64::try_from(total_nanos / NANOS_PER_SECOND).map_err(|_| UnitError::TooLarge)?;
    Ok(Duration::new(
        seconds,
        (total_nanos % NANOS_PER_SECOND) as u32,
    ))
}

/// Formats a duration the way it would be written in the file: "10s", "1h30m", "730d", "500ms".
/// Days are the largest unit because retention is thought of in days ("730d", not "104w2d").
pub fn format_duration(duration: Duration) -> String {
    let mut nanos = duration.as_nanos();
    if nanos == 0 {
        return "0s".to_string();
    }
    let mut out = String::new();
    for (name, unit) in [
        ("d", 86_400 * NANOS_PER_SECOND),
        ("h", 3600 * NANOS_PER_SECOND),
        ("m", 60 * NANOS_PER_SECOND),
        ("s", NANOS_PER_SECOND),
    ] {
        if nanos >= unit {
            out.push_str(&format!("{}{name}", nanos / unit));
            nanos %= unit;
        }
    }
    if nanos > 0 {
        let millis = nanos / NANOS_PER_MILLI;
        let sub_milli = nanos % NANOS_PER_MILLI;
        if sub_milli == 0 {
            out.push_str(&format!("{millis}ms"));
        } else {
            let fraction = format!("{sub_milli:06}");
            out.push_str(&format!("{millis}.{}ms", fraction.trim_end_matches('0')));
        }
    }
    out
}

/// Size units, compared case-insensitively. Decimal (kB = 1000) and binary (KiB = 1024) units
/// both exist because people write both; "B" alone is bytes.
const SIZE_UNITS: &[(&str, u64)] = &[
    ("b", 1),
    ("kb", 1_000),
    ("mb", 1_000_000),
    ("gb", 1_000_000_000),
    ("tb", 1_000_000_000_000),
    ("kib", 1 << 10),
    ("mib", 1 << 20),
    ("gib", 1 << 30),
    ("tib", 1 << 40),
];

/// Parses "512MiB", "1GiB", "100MB", "1.5GiB", "4096B" or a bare number of bytes ("4096").
pub fn parse_size(text: &str) -> Result<u64, UnitError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(UnitError::Malformed);
    }
    let (number, unit) = split_decimal(text)?;
    let unit = unit.trim_start().to_ascii_lowercase();
    let multiplier = if unit.is_empty() {
        1
    } else {
        SIZE_UNITS
            .iter()
            .find(|(name, _)| *name == unit)
            .map(|(_, bytes)| *bytes)
            .ok_or(UnitError::Malformed)?
    };
    let bytes = number
        .times(u128::from(multiplier))
        .ok_or(UnitError::TooLarge)?;
    u64::try_from(bytes).map_err(|_| UnitError::TooLarge)
}

/// Formats a size with the largest unit that divides it exactly ("1GiB", "256MiB", "100MB"),
/// else in bytes ("1234B").
pub fn format_size(bytes: u64) -> String {
    const DISPLAY_ORDER: &[(&str, u64)] = &[
        ("TiB", 1 << 40),
        ("GiB", 1 << 30),
        ("MiB", 1 << 20),
        ("KiB", 1 << 10),
        ("TB", 1_000_000_000_000),
        ("GB", 1_000_000_000),
        ("MB", 1_000_000),
        ("kB", 1_000),
    ];
    if bytes == 0 {
        return "0B".to_string();
    }
    DISPLAY_ORDER
        .iter()
        .find(|(_, unit)| bytes.is_multiple_of(*unit))
        .map(|(name, unit)| format!("{}{name}", bytes / unit))
        .unwrap_or_else(|| format!("{bytes}B"))
}

/// Parses "80%" or "99.5%" into a ratio (0.8, 0.995). The percent sign is required so that
/// "0.8" and "80" cannot be confused; the value must lie in 0%..=100%.
pub fn parse_percent(text: &str) -> Result<f64, UnitError> {
    let number = text
        .trim()
        .strip_suffix('%')
        .ok_or(UnitError::Malformed)?
        .trim_end();
    let (decimal, rest) = split_decimal(number)?;
    if !rest.is_empty() {
        return Err(UnitError::Malformed);
    }
    if decimal.whole > 100 || (decimal.whole == 100 && decimal.fraction > 0) {
        return Err(UnitError::OutOfRange);
    }
    // Exact for the digits people write: `number` is a plain decimal, so f64 parsing succeeds;
    // dividing by 100 gives the same double as writing the ratio literally (80/100 == 0.8).
    let percent: f64 = number.parse().map_err(|_| UnitError::Malformed)?;
    Ok(percent / 100.0)
}

/// Formats a ratio as a percent: 0.8 -> "80%", 0.995 -> "99.5%".
pub fn format_percent(ratio: f64) -> String {
    // Round away float noise (0.95 * 100 = 94.99999999999999) to six decimals.
    let percent = (ratio * 100.0 * 1e6).round() / 1e6;
    format!("{percent}%")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn durations_parse() {
        let cases: &[(&str, Result<Duration, UnitError>)] = &[
            ("500ms", Ok(Duration::from_millis(500))),
            ("10s", Ok(secs(10))),
            ("5m", Ok(secs(300))),
            ("1h", Ok(secs(3600))),
            ("7d", Ok(secs(7 * 86_400))),
            ("2w", Ok(secs(14 * 86_400))),
            ("1h30m", Ok(secs(5400))),
            ("1h 30m", Ok(secs(5400))),
            ("1d2h3m4s5ms", Ok(Duration::new(93_784, 5_000_000))),
            ("1.5h", Ok(secs(5400))),
            ("0.5s", Ok(Duration::from_millis(500))),
            ("10 s", Ok(secs(10))),
            (" 10s ", Ok(secs(10))),
            ("0s", Ok(Duration::ZERO)),
            ("730d", Ok(secs(730 * 86_400))),
            ("", Err(UnitError::Malformed)),
            ("10", Err(UnitError::Malformed)),
            ("s", Err(UnitError::Malformed)),
            ("10 parsecs", Err(UnitError::Malformed)),
            ("10S", Err(UnitError::Malformed)),
            ("-5s", Err(UnitError::Malformed)),
            ("+5s", Err(UnitError::Malformed)),
            (".5s", Err(UnitError::Malformed)),
            ("5.s", Err(UnitError::Malformed)),
            ("1.2.3s", Err(UnitError::Malformed)),
            ("1e3s", Err(UnitError::Malformed)),
            ("infs", Err(UnitError::Malformed)),
            ("10s5", Err(UnitError::Malformed)),
            ("5min", Err(UnitError::Malformed)),
            (
                "99999999999999999999999999999999999999999d",
                Err(UnitError::TooLarge),
            ),
            ("999999999999999999999d", Err(UnitError::TooLarge)),
            ("6148914691236517206s", Err(UnitError::TooLarge)),
            ("36500d", Ok(secs(36_500 * 86_400))),
            ("36500d1ms", Err(UnitError::TooLarge)),
            ("5214w", Ok(secs(5214 * 7 * 86_400))),
            ("5214w3d", Err(UnitError::TooLarge)),
            ("١٠s", Err(UnitError::Malformed)),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_duration(text), *expected, "parse_duration({text:?})");
        }
    }

    #[test]
    fn durations_format_and_round_trip() {
        let cases: &[(Duration, &str)] = &[
            (Duration::ZERO, "0s"),
            (Duration::from_millis(500), "500ms"),
            (secs(10), "10s"),
            (secs(90), "1m30s"),
            (secs(3600), "1h"),
            (secs(5400), "1h30m"),
            (secs(7 * 86_400), "7d"),
            (secs(730 * 86_400), "730d"),
            (Duration::new(1, 500_000_000), "1s500ms"),
            (Duration::from_micros(1500), "1.5ms"),
            (Duration::from_nanos(1), "0.000001ms"),
        ];
        for (duration, text) in cases {
            assert_eq!(format_duration(*duration), *text);
            assert_eq!(parse_duration(text), Ok(*duration), "round trip of {text}");
        }
    }

    #[test]
    fn sizes_parse() {
        let cases: &[(&str, Result<u64, UnitError>)] = &[
            ("512MiB", Ok(512 << 20)),
            ("1GiB", Ok(1 << 30)),
            ("1gib", Ok(1 << 30)),
            ("100MB", Ok(100_000_000)),
            ("100 MB", Ok(100_000_000)),
            ("1.5GiB", Ok(3 << 29)),
            ("4096B", Ok(4096)),
            ("4096", Ok(4096)),
            ("2kB", Ok(2000)),
            ("1TiB", Ok(1 << 40)),
            ("0", Ok(0)),
            ("", Err(UnitError::Malformed)),
            ("GiB", Err(UnitError::Malformed)),
            ("1 GB-ish", Err(UnitError::Malformed)),
            ("1G", Err(UnitError::Malformed)),
            ("-1GiB", Err(UnitError::Malformed)),
            ("1PiB", Err(UnitError::Malformed)),
            ("20000000TiB", Err(UnitError::TooLarge)),
            ("18446744073709551616", Err(UnitError::TooLarge)),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_size(text), *expected, "parse_size({text:?})");
        }
    }

    #[test]
    fn sizes_format_and_round_trip() {
        let cases: &[(u64, &str)] = &[
            (0, "0B"),
            (1 << 30, "1GiB"),
            (256 << 20, "256MiB"),
            (100_000_000, "100MB"),
            (1536, "1536B"),
            (1234, "1234B"),
            (u64::MAX, "18446744073709551615B"),
        ];
        for (bytes, text) in cases {
            assert_eq!(format_size(*bytes), *text);
            assert_eq!(parse_size(text), Ok(*bytes), "round trip of {text}");
        }
    }

    #[test]
    fn percents_parse() {
        let cases: &[(&str, Result<f64, UnitError>)] = &[
            ("80%", Ok(0.8)),
            ("95%", Ok(0.95)),
            ("99.5%", Ok(0.995)),
            ("0%", Ok(0.0)),
            ("100%", Ok(1.0)),
            ("100.0%", Ok(1.0)),
            (" 80 %", Ok(0.8)),
            ("80", Err(UnitError::Malformed)),
            ("0.8", Err(UnitError::Malformed)),
            ("%", Err(UnitError::Malformed)),
            ("-5%", Err(UnitError::Malformed)),
            ("nan%", Err(UnitError::Malformed)),
            ("inf%", Err(UnitError::Malformed)),
            ("1e2%", Err(UnitError::Malformed)),
            ("80%%", Err(UnitError::Malformed)),
            ("100.5%", Err(UnitError::OutOfRange)),
            ("120%", Err(UnitError::OutOfRange)),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_percent(text), *expected, "parse_percent({text:?})");
        }
    }

    #[test]
    fn percents_format_and_round_trip() {
        let cases: &[(f64, &str)] = &[
            (0.8, "80%"),
            (0.95, "95%"),
            (0.995, "99.5%"),
            (0.0, "0%"),
            (1.0, "100%"),
        ];
        for (ratio, text) in cases {
            assert_eq!(format_percent(*ratio), *text);
            assert_eq!(parse_percent(text), Ok(*ratio), "round trip of {text}");
        }
    }
}
