//! Query parameters of the API, parsed in one place: times, time ranges, counts, flags and
//! the check for unknown parameters. Every handler reads its parameters through [`Params`], so
//! every out-of-range value is a 400 naming the field and the accepted range — never a panic
//! (a time past year 9999, an overflowing subtraction) or an allocation that grows with the
//! value (a report over thousands of years).

use std::collections::HashMap;

use super::api::ApiError;
use crate::clock::{UnixMillis, parse_time};

pub const HOUR_MS: i64 = 3_600_000;
pub const DAY_MS: i64 = 86_400_000;

/// A time range `[from, to]` read from `from`/`to` (or `since`, up to now).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    pub from_ms: UnixMillis,
    pub to_ms: UnixMillis,
}

/// The query parameters of one request, consumed as they are read.
pub struct Params {
    map: HashMap<String, String>,
    now_ms: UnixMillis,
}

impl Params {
    pub fn new(map: HashMap<String, String>, now_ms: UnixMillis) -> Params {
        Params { map, now_ms }
    }

    /// The time in `key`, or `None` when absent.
    pub fn time(&mut self, key: &str) -> Result<Option<UnixMillis>, ApiError> {
        match self.map.remove(key) {
            None => Ok(None),
            Some(text) => parse_time(&text, self.now_ms)
                .map(Some)
                .map_err(|e| ApiError::bad_request(format!("{key}: {e}"))),
        }
    }

    /// `from` and `to` (default: now, and `default_span_ms` before `to`), with `from <= to`
    /// and at most `max_span_ms` between them when given.
    pub fn range(
        &mut self,
        default_span_ms: i64,
        max_span_ms: Option<i64>,
    ) -> Result<Range, ApiError> {
        let to_ms = self.time("to")?.unwrap_or(self.now_ms);
        let from_ms = match self.time("from")? {
            Some(from) => from,
            None => to_ms.saturating_sub(default_span_ms).max(0),
        };
        if from_ms > to_ms {
            return Err(ApiError::bad_request("from: must not be later than to"));
        }
        let range = Range { from_ms, to_ms };
        check_span("from", range, max_span_ms)?;
        Ok(range)
    }

    /// `since` (default `default_span_ms` ago) up to now, at most `max_span_ms` long when
    /// given. A `since` in the future is an empty range.
    pub fn since(
        &mut self,
        default_span_ms: i64,
        max_span_ms: Option<i64>,
    ) -> Result<Range, ApiError> {
        let from_ms = match self.time("since")? {
            Some(since) => since.min(self.now_ms),
            None => self.now_ms.saturating_sub(default_span_ms).max(0),
        };
        let range = Range {
            from_ms,
            to_ms: self.now_ms,
        };
        check_span("since", range, max_span_ms)?;
        Ok(range)
    }

    /// A whole number in `1..=max` (default `default`).
    pub fn count(&mut self, key: &str, default: usize, max: usize) -> Result<usize, ApiError> {
        match self.map.remove(key) {
            None => Ok(default),
            Some(v) => match v.trim().parse::<usize>() {
                Ok(n) if (1..=max).contains(&n) => Ok(n),
                _ => Err(ApiError::bad_request(format!(
                    "{key}: \"{v}\" is not a whole number from 1 to {max}"
                ))),
            },
        }
    }

    /// A whole number in `0..=max` (default 0): where a page of a list starts.
    pub fn offset(&mut self, key: &str, max: usize) -> Result<usize, ApiError> {
        match self.map.remove(key) {
            None => Ok(0),
            Some(v) => match v.trim().parse::<usize>() {
                Ok(n) if n <= max => Ok(n),
                _ => Err(ApiError::bad_request(format!(
                    "{key}: \"{v}\" is not a whole number from 0 to {max}"
                ))),
            },
        }
    }

    /// A flag: absent, `false` or `0` is false; `true` or `1` is true; anything else is an
    /// error naming the forms.
    pub fn flag(&mut self, key: &str) -> Result<bool, ApiError> {
        match self.map.remove(key).as_deref() {
            None | Some("false" | "0") => Ok(false),
            Some("true" | "1" | "") => Ok(true),
            Some(other) => Err(ApiError::bad_request(format!(
                "{key}: \"{other}\" is not a flag; expected true or false"
            ))),
        }
    }

    /// The text of `key`, taken as it is (validated by the caller), or `None` when absent.
    pub fn take(&mut self, key: &str) -> Option<String> {
        self.map.remove(key)
    }

    /// The parameters not read yet (the label matchers of `/api/v1/series`).
    pub fn rest(self) -> HashMap<String, String> {
        self.map
    }

    /// Refuses any parameter not read: `expected` lists the known ones.
    pub fn finish(self, expected: &str) -> Result<(), ApiError> {
        let mut unknown: Vec<&String> = self.map.keys().collect();
        unknown.sort();
        match unknown.first() {
            Some(key) => Err(ApiError::bad_request(format!(
                "{key}: unknown parameter; expected {expected}"
            ))),
            None => Ok(()),
        }
    }
}

fn check_span(field: &str, range: Range, max_span_ms: Option<i64>) -> Result<(), ApiError> {
    match max_span_ms {
        Some(max) if range.to_ms - range.from_ms > max => Err(ApiError::bad_request(format!(
            "{field}: the range is {}, longer than the {} this endpoint answers; ask for a shorter range",
            describe_span(range.to_ms - range.from_ms),
            describe_span(max)
        ))),
        _ => Ok(()),
    }
}

/// "3650 days", "36 hours": a span as an error message states it.
pub fn describe_span(ms: i64) -> String {
    if ms >= 2 * DAY_MS {
        format!("{} days", ms / DAY_MS)
    } else {
        format!("{} hours", ms / HOUR_MS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_764_237_600_000;

    fn params(pairs: &[(&str, &str)]) -> Params {
        Params::new(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            NOW,
        )
    }

    fn message(e: ApiError) -> String {
        e.message().to_string()
    }

    #[test]
    fn ranges_default_and_validate() {
        assert_eq!(
            params(&[]).range(HOUR_MS, None).unwrap(),
            Range {
                from_ms: NOW - HOUR_MS,
                to_ms: NOW
            }
        );
        let e = message(
            params(&[("to", "253402300800")])
                .range(HOUR_MS, None)
                .unwrap_err(),
        );
        assert!(e.starts_with("to: ") && e.contains("9999-12-31"), "{e}");
        let e = message(
            params(&[("from", "-1h"), ("to", "-2h")])
                .range(HOUR_MS, None)
                .unwrap_err(),
        );
        assert_eq!(e, "from: must not be later than to");
        let e = message(
            params(&[("from", "0")])
                .range(HOUR_MS, Some(3650 * DAY_MS))
                .unwrap_err(),
        );
        assert!(
            e.starts_with("from: the range is ") && e.contains("3650 days"),
            "{e}"
        );
        // A default span reaching before 1970 starts at 1970.
        let early = Params::new(HashMap::new(), 1_000)
            .range(DAY_MS, None)
            .unwrap();
        assert_eq!(early.from_ms, 0);
    }

    #[test]
    fn since_is_clipped_to_now_and_bounded() {
        let r = params(&[("since", "99999999999")])
            .since(DAY_MS, None)
            .unwrap();
        assert_eq!(r.from_ms, NOW);
        let e = message(
            params(&[("since", "99999999999999999")])
                .since(DAY_MS, None)
                .unwrap_err(),
        );
        assert!(
            e.starts_with("since: ") && e.contains("out of range"),
            "{e}"
        );
        let e = message(
            params(&[("since", "-3000000d")])
                .since(DAY_MS, None)
                .unwrap_err(),
        );
        assert!(e.starts_with("since: ") && e.contains("1970-01-01"), "{e}");
        let e = message(
            params(&[("since", "-4000d")])
                .since(DAY_MS, Some(3660 * DAY_MS))
                .unwrap_err(),
        );
        assert!(e.contains("4000 days") && e.contains("3660 days"), "{e}");
    }

    #[test]
    fn counts_flags_and_unknown_parameters() {
        let mut p = params(&[("limit", "0"), ("all", "yes"), ("x", "1")]);
        assert!(message(p.count("limit", 10, 100).unwrap_err()).contains("from 1 to 100"));
        assert!(message(p.flag("all").unwrap_err()).contains("true or false"));
        assert_eq!(
            message(p.finish("limit or all").unwrap_err()),
            "x: unknown parameter; expected limit or all"
        );
        let mut p = params(&[("limit", "7"), ("all", "true")]);
        assert_eq!(p.count("limit", 10, 100).unwrap(), 7);
        assert!(p.flag("all").unwrap());
        assert!(p.finish("").is_ok());
    }
}
