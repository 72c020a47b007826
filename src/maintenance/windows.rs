//! When the planned windows of the config (`[[maintenance.window]]`) are open: a one-off
//! start, or the occurrences of a cron expression in a time zone (so "every Sunday 02:00" stays
//! 02:00 local across daylight-saving changes). Pure: time comes in as `now_ms`.

use croner::Cron;
use croner::parser::CronParser;
use jiff::Timestamp;
use jiff::tz::TimeZone;

use crate::clock::UnixMillis;
use crate::config::maintenance::{WindowConfig, WindowSchedule};

/// The occurrence of `window` that is open at `now_ms`, as (start, end).
pub fn active_occurrence(
    window: &WindowConfig,
    now_ms: UnixMillis,
) -> Option<(UnixMillis, UnixMillis)> {
    let start = occurrence_start(window, now_ms, Direction::AtOrBefore)?;
    let end = start + window.duration.as_millis() as i64;
    (start <= now_ms && now_ms < end).then_some((start, end))
}

/// The next occurrence of `window` that starts after `now_ms`, as (start, end).
pub fn next_occurrence(
    window: &WindowConfig,
    now_ms: UnixMillis,
) -> Option<(UnixMillis, UnixMillis)> {
    let start = occurrence_start(window, now_ms, Direction::After)?;
    (start > now_ms).then_some((start, start + window.duration.as_millis() as i64))
}

/// The open occurrence, else the next one, as (start, end, open): what listings show.
pub fn current_or_next(
    window: &WindowConfig,
    now_ms: UnixMillis,
) -> Option<(UnixMillis, UnixMillis, bool)> {
    active_occurrence(window, now_ms)
        .map(|(start, end)| (start, end, true))
        .or_else(|| next_occurrence(window, now_ms).map(|(start, end)| (start, end, false)))
}

enum Direction {
    AtOrBefore,
    After,
}

fn occurrence_start(
    window: &WindowConfig,
    now_ms: UnixMillis,
    direction: Direction,
) -> Option<UnixMillis> {
    match &window.schedule {
        WindowSchedule::Once { start_ms } => Some(*start_ms),
        WindowSchedule::Cron {
            expression,
            timezone,
        } => {
            let (cron, zone) = compile(expression, timezone)?;
            let now = Timestamp::from_millisecond(now_ms).ok()?.to_zoned(zone);
            let found = match direction {
                Direction::AtOrBefore => cron.find_previous_occurrence(&now, true),
                Direction::After => cron.find_next_occurrence(&now, false),
            };
            Some(found.ok()?.timestamp().as_millisecond())
        }
    }
}

/// The config was validated, so neither fails in practice; a zone missing from this host's
/// tzdb (removed after start) makes the window never open rather than panic.
fn compile(expression: &str, timezone: &str) -> Option<(Cron, TimeZone)> {
    let cron = CronParser::new().parse(expression).ok()?;
    let zone = TimeZone::get(timezone).ok()?;
    Some((cron, zone))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::config::maintenance::Mode;

    fn at(text: &str) -> UnixMillis {
        text.parse::<Timestamp>().unwrap().as_millisecond()
    }

    fn cron(expression: &str, timezone: &str, duration: Duration) -> WindowConfig {
        WindowConfig {
            name: "w".into(),
            schedule: WindowSchedule::Cron {
                expression: expression.into(),
                timezone: timezone.into(),
            },
            duration,
            mode: Mode::Normal,
            reason: "patching".into(),
        }
    }

    const HOUR: Duration = Duration::from_secs(3600);

    #[test]
    fn every_sunday_at_two_for_an_hour() {
        let w = cron("0 2 * * SUN", "UTC", HOUR);
        // 2026-12-06 is a Sunday.
        assert_eq!(active_occurrence(&w, at("2026-12-06T01:59:59Z")), None);
        assert_eq!(
            active_occurrence(&w, at("2026-12-06T02:00:00Z")),
            Some((at("2026-12-06T02:00:00Z"), at("2026-12-06T03:00:00Z")))
        );
        assert!(active_occurrence(&w, at("2026-12-06T02:59:59.999Z")).is_some());
        assert_eq!(active_occurrence(&w, at("2026-12-06T03:00:00Z")), None);
        assert_eq!(
            next_occurrence(&w, at("2026-12-06T02:30:00Z")),
            Some((at("2026-12-13T02:00:00Z"), at("2026-12-13T03:00:00Z")))
        );
    }

    #[test]
    fn first_monday_of_the_month_in_a_time_zone() {
        let w = cron("0 2 * * MON#1", "Europe/Berlin", HOUR);
        // Monday 2027-01-04 02:00 in Berlin (UTC+1 in winter) is 01:00Z.
        assert_eq!(
            next_occurrence(&w, at("2026-12-15T00:00:00Z")),
            Some((at("2027-01-04T01:00:00Z"), at("2027-01-04T02:00:00Z")))
        );
        // Summer time: Monday 2027-06-07 02:00 CEST is 00:00Z.
        assert_eq!(
            next_occurrence(&w, at("2027-06-01T00:00:00Z")),
            Some((at("2027-06-07T00:00:00Z"), at("2027-06-07T01:00:00Z")))
        );
        assert!(active_occurrence(&w, at("2027-06-07T00:30:00Z")).is_some());
        assert!(
            active_occurrence(&w, at("2027-06-14T00:30:00Z")).is_none(),
            "the second Monday is not a window"
        );
    }

    #[test]
    fn a_one_off_window() {
        let w = WindowConfig {
            schedule: WindowSchedule::Once {
                start_ms: at("2026-12-24T02:00:00Z"),
            },
            ..cron("* * * * *", "UTC", 2 * HOUR)
        };
        assert_eq!(active_occurrence(&w, at("2026-12-24T01:00:00Z")), None);
        assert_eq!(
            next_occurrence(&w, at("2026-12-24T01:00:00Z")),
            Some((at("2026-12-24T02:00:00Z"), at("2026-12-24T04:00:00Z")))
        );
        assert!(active_occurrence(&w, at("2026-12-24T03:59:00Z")).is_some());
        assert_eq!(
            next_occurrence(&w, at("2026-12-24T03:00:00Z")),
            None,
            "past"
        );
        assert_eq!(active_occurrence(&w, at("2026-12-24T04:00:00Z")), None);
    }
}
