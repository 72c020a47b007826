//! Time as an argument: everything time-dependent asks a `Clock`, so tests drive time exactly.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

/// Milliseconds since the Unix epoch, UTC. The one time unit inside Lookout.
pub type UnixMillis = i64;

pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now_ms(&self) -> UnixMillis;
}

pub type SharedClock = Arc<dyn Clock>;

#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> UnixMillis {
        let since = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        since.as_millis() as UnixMillis
    }
}

pub fn system_clock() -> SharedClock {
    Arc::new(SystemClock)
}

/// A clock that only moves when told to: for tests of retention, rollups and anything timed.
#[derive(Debug, Default)]
pub struct ManualClock {
    now: AtomicI64,
}

impl ManualClock {
    pub fn new(start_ms: UnixMillis) -> Arc<Self> {
        Arc::new(ManualClock {
            now: AtomicI64::new(start_ms),
        })
    }

    pub fn set(&self, ms: UnixMillis) {
        self.now.store(ms, Ordering::SeqCst);
    }

    pub fn advance(&self, by: std::time::Duration) {
        self.now.fetch_add(by.as_millis() as i64, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> UnixMillis {
        self.now.load(Ordering::SeqCst)
    }
}

/// The earliest time Lookout accepts from a person or shows: the Unix epoch.
pub const MIN_TIME_MS: UnixMillis = 0;
/// The latest: 9999-12-31T23:59:59.999Z (RFC 3339 has four-digit years; later times cannot
/// be written, so they are refused on input and clamped on output).
pub const MAX_TIME_MS: UnixMillis = 253_402_300_799_999;
/// The accepted range of times, as error messages state it.
pub const TIME_RANGE: &str = "1970-01-01T00:00:00Z to 9999-12-31T23:59:59Z";

/// RFC 3339 text for a timestamp, for APIs and the CLI. Total: a stored value outside
/// [`MIN_TIME_MS`, `MAX_TIME_MS`] (from an older version, or a bug) is shown clamped to the
/// range, never a panic.
pub fn format_rfc3339(ms: UnixMillis) -> String {
    let ms = ms.clamp(MIN_TIME_MS, MAX_TIME_MS);
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms as u64);
    humantime::format_rfc3339_millis(t).to_string()
}

/// A point in time written by a person (an API parameter, a CLI flag): `now`, `now-1h` or
/// `-1h` (relative), RFC 3339 (`2026-11-27T10:00:00Z`), or Unix seconds (`1764237600`,
/// fractions allowed). Anything outside [`TIME_RANGE`] is refused with that range, so every
/// time that gets in can be added to, subtracted from and formatted without overflow.
pub fn parse_time(text: &str, now_ms: UnixMillis) -> Result<UnixMillis, String> {
    let text = text.trim();
    let not_a_time =
        || format!("\"{text}\" is not a time; expected \"now\", \"-1h\", RFC 3339 or Unix seconds");
    let out_of_range = || format!("\"{text}\" is out of range; expected a time from {TIME_RANGE}");
    let in_range = |ms: Option<i64>| {
        ms.filter(|ms| (MIN_TIME_MS..=MAX_TIME_MS).contains(ms))
            .ok_or_else(out_of_range)
    };
    if text == "now" {
        return in_range(Some(now_ms));
    }
    if let Some(ago) = text.strip_prefix("now-").or_else(|| text.strip_prefix('-')) {
        let d = humantime::parse_duration(ago).map_err(|e| match e {
            humantime::DurationError::NumberOverflow => out_of_range(),
            _ => not_a_time(),
        })?;
        return in_range(
            i64::try_from(d.as_millis())
                .ok()
                .and_then(|ms| now_ms.checked_sub(ms)),
        );
    }
    if let Ok(seconds) = text.parse::<f64>()
        && seconds.is_finite()
    {
        let ms = (seconds * 1000.0).round();
        // Compared as floats first: `as` saturates, and a saturated value must not pass.
        let fits = (MIN_TIME_MS as f64..=MAX_TIME_MS as f64).contains(&ms);
        return in_range(fits.then_some(ms as i64));
    }
    let t = humantime::parse_rfc3339_weak(text).map_err(|e| match e {
        humantime::TimestampError::OutOfRange => out_of_range(),
        _ => not_a_time(),
    })?;
    in_range(
        t.duration_since(std::time::UNIX_EPOCH)
            .ok()
            .and_then(|d| i64::try_from(d.as_millis()).ok()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let clock = ManualClock::new(1_000);
        assert_eq!(clock.now_ms(), 1_000);
        clock.advance(std::time::Duration::from_secs(2));
        assert_eq!(clock.now_ms(), 3_000);
        clock.set(5);
        assert_eq!(clock.now_ms(), 5);
    }

    #[test]
    fn rfc3339_is_utc_with_millis() {
        assert_eq!(format_rfc3339(1_500), "1970-01-01T00:00:01.500Z");
    }

    #[test]
    fn formatting_is_total_out_of_range_values_are_clamped() {
        assert_eq!(format_rfc3339(i64::MAX), "9999-12-31T23:59:59.999Z");
        assert_eq!(format_rfc3339(MAX_TIME_MS + 1), "9999-12-31T23:59:59.999Z");
        assert_eq!(format_rfc3339(i64::MIN), "1970-01-01T00:00:00.000Z");
    }

    #[test]
    fn parses_every_documented_time_form() {
        let now = 1_764_237_600_000;
        assert_eq!(parse_time("now", now), Ok(now));
        assert_eq!(parse_time("-1h", now), Ok(now - 3_600_000));
        assert_eq!(parse_time("now-90s", now), Ok(now - 90_000));
        assert_eq!(parse_time("1764237600", now), Ok(1_764_237_600_000));
        assert_eq!(parse_time("1764237600.5", now), Ok(1_764_237_600_500));
        assert_eq!(
            parse_time("2025-11-27T10:00:00Z", now),
            Ok(1_764_237_600_000)
        );
        assert_eq!(parse_time("0", now), Ok(0));
        assert_eq!(parse_time("253402300799.999", now), Ok(MAX_TIME_MS));
        assert!(
            parse_time("yesterday", now)
                .unwrap_err()
                .contains("not a time")
        );
    }

    #[test]
    fn times_outside_the_range_are_refused_with_the_range() {
        let now = 1_764_237_600_000;
        for text in [
            "253402300800",
            "99999999999999999",
            "1e300",
            "-3000000d",
            "now-99999999999999999999d",
            "-600000000000000000s",
            "1969-12-31T23:59:59Z",
        ] {
            let error = parse_time(text, now).unwrap_err();
            assert!(
                error.contains("out of range") && error.contains(TIME_RANGE),
                "{text}: {error}"
            );
        }
    }
}
