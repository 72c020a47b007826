//! Per-second rates of counters over a window, for metric rules with `rate = "5m"` (issue 19:
//! node_exporter's counters, `node_cpu_seconds_total{mode="idle"}`, alerted on). Pure: time
//! comes in as the sample's own timestamp (`at_ms`, so an agent's backlog, arriving late and
//! oldest first, is rated at the times it was measured) and `now_ms` (only to forget series
//! that stopped).
//!
//! What is computed, per series and window, each time a sample arrives: over the samples of
//! the series whose time is within the window ending at the newest one (`t > t_last - window`),
//!
//! ```text
//! rate = (last - first + resets) / (t_last - t_first)      per second
//! ```
//!
//! where a drop of the value is a counter reset (the process restarted from 0) and `resets` is
//! the sum of the values just before each drop, as Prometheus' `rate()` counts them; unlike
//! Prometheus, nothing is extrapolated to the window's edges. There is no value until the
//! window holds 2 samples spanning at least a quarter of it (Prometheus needs 2 samples; the
//! quarter keeps a rate over two samples a second apart, a restart's first scrapes, from
//! deciding an alert). A sample older than the newest one kept for its series (out of order),
//! or at its time with another value, is left out, as Prometheus' store refuses it; the newest
//! sample again gives the same rate again.
//!
//! Memory is bounded: a series keeps at most about `MAX_POINTS` points (a sample closer than
//! `window / MAX_POINTS`, and 1 s, to the point before the newest replaces the newest; each
//! point carries the reset-adjusted total, so the rate between any two kept points stays
//! exact); all series together keep at most `MAX_SERIES` series and about `POINT_BUDGET`
//! points (past it a series that grows is thinned to every other point instead, and a new
//! series is not tracked: it has no rate); a series unseen for its window (and at least
//! `stale_ms`) is forgotten. Only series that match a rate rule get here.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

use crate::clock::UnixMillis;
use crate::model::SeriesKey;

/// The shortest and longest `rate` window a rule may have (read by the config).
pub use crate::config::alerts::RATE_WINDOWS;
/// Points one series keeps for its window, at most (plus the newest and the oldest).
pub const MAX_POINTS: i64 = 720;
/// Series all rate windows keep at most.
pub const MAX_SERIES: usize = 50_000;
/// Points all rate windows keep, about (24 bytes each: 24 MB).
pub const POINT_BUDGET: usize = 1_000_000;

#[derive(Debug, Clone, Copy, PartialEq)]
struct Point {
    at_ms: UnixMillis,
    /// The counter as sent.
    raw: f64,
    /// The counter with every reset before this point undone (its increase since the series'
    /// first point): the increase between two points is the difference of their totals.
    total: f64,
}

#[derive(Debug, Clone, Default)]
struct Window {
    points: VecDeque<Point>,
    /// When a sample of the series last arrived (the engine's clock, not the sample's time).
    seen_ms: UnixMillis,
}

/// The rate windows of every series a rate rule watches, keyed by window length and series.
#[derive(Debug)]
pub struct Rates {
    windows: HashMap<(i64, Arc<SeriesKey>), Window>,
    points: usize,
    /// Samples of series not tracked because the bounds were reached.
    refused: u64,
    max_series: usize,
    point_budget: usize,
}

impl Default for Rates {
    fn default() -> Self {
        Rates::with_bounds(MAX_SERIES, POINT_BUDGET)
    }
}

impl Rates {
    /// Rate windows keeping at most `max_series` series and about `point_budget` points.
    pub fn with_bounds(max_series: usize, point_budget: usize) -> Rates {
        Rates {
            windows: HashMap::new(),
            points: 0,
            refused: 0,
            max_series,
            point_budget,
        }
    }

    /// Adds a sample of `series` taken at `at_ms` to its `window_ms` window; the rate over the
    /// window after it, if there is one (see the module doc). `None` for a sample that changes
    /// nothing (out of order, not finite, a series over the bounds) or a window still too thin.
    pub fn observe(
        &mut self,
        window_ms: i64,
        series: &Arc<SeriesKey>,
        at_ms: UnixMillis,
        value: f64,
        now_ms: UnixMillis,
    ) -> Option<f64> {
        if !value.is_finite() || window_ms <= 0 {
            return None;
        }
        let key = (window_ms, series.clone());
        if !self.windows.contains_key(&key) {
            if self.windows.len() >= self.max_series || self.points >= self.point_budget {
                self.refused += 1;
                return None;
            }
            self.windows.insert(key.clone(), Window::default());
        }
        let over_budget = self.points >= self.point_budget;
        let window = self.windows.get_mut(&key)?;
        window.seen_ms = window.seen_ms.max(now_ms);
        let before = window.points.len();
        let total = match window.points.back() {
            // The same sample again (a second rule with this window, a resend): the same rate.
            Some(last) if at_ms == last.at_ms && value == last.raw => {
                return rate_of(&window.points, window_ms);
            }
            Some(last) if at_ms <= last.at_ms => return None,
            Some(last) if value >= last.raw => last.total + (value - last.raw),
            // A drop: the counter restarted from 0 and counted `value` since.
            Some(last) => last.total + value,
            None => 0.0,
        };
        let point = Point {
            at_ms,
            raw: value,
            total,
        };
        let min_gap = (window_ms / MAX_POINTS).max(1_000);
        let points = &mut window.points;
        let n = points.len();
        if n >= 2 && points[n - 1].at_ms - points[n - 2].at_ms < min_gap {
            points[n - 1] = point;
        } else {
            points.push_back(point);
        }
        while points.front().is_some_and(|p| p.at_ms <= at_ms - window_ms) {
            points.pop_front();
        }
        if over_budget && points.len() > 4 {
            thin(points);
        }
        let after = points.len();
        let rate = rate_of(points, window_ms);
        // This window's points are part of the sum: it cannot go below `before`.
        self.points = (self.points + after).saturating_sub(before);
        rate
    }

    /// Forgets the series whose last sample arrived more than their window (and at least
    /// `stale_ms`) before `now_ms`: they stopped, and a sample after that long would find
    /// nothing of theirs left in its window.
    pub fn prune(&mut self, now_ms: UnixMillis, stale_ms: i64) {
        self.windows
            .retain(|(window_ms, _), window| now_ms - window.seen_ms <= stale_ms.max(*window_ms));
        self.recount();
    }

    /// Keeps only the windows of these lengths (the rules' after a reload).
    pub fn retain_windows(&mut self, windows: &HashSet<i64>) {
        self.windows
            .retain(|(window_ms, _), _| windows.contains(window_ms));
        self.recount();
    }

    fn recount(&mut self) {
        self.points = self.windows.values().map(|w| w.points.len()).sum();
    }

    /// Series tracked now.
    pub fn series(&self) -> usize {
        self.windows.len()
    }

    /// Points kept now, all series together.
    pub fn points(&self) -> usize {
        self.points
    }

    /// Samples left without a rate because the bounds were reached.
    pub fn refused(&self) -> u64 {
        self.refused
    }
}

/// The rate over the points, once they span a quarter of the window.
fn rate_of(points: &VecDeque<Point>, window_ms: i64) -> Option<f64> {
    let (first, last) = (points.front()?, points.back()?);
    let span_ms = last.at_ms - first.at_ms;
    if points.len() < 2 || span_ms <= 0 || span_ms * 4 < window_ms {
        return None;
    }
    Some((last.total - first.total) / (span_ms as f64 / 1000.0))
}

/// Every other point between the first and the newest goes: the rate between the points
/// kept is unchanged (their totals carry the resets in between).
fn thin(points: &mut VecDeque<Point>) {
    let last = points.len() - 1;
    let mut index = 0;
    points.retain(|_| {
        let keep = index == 0 || index == last || index % 2 == 0;
        index += 1;
        keep
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000;
    const MIN: i64 = 60 * S;

    fn key(labels: &[(&str, &str)]) -> Arc<SeriesKey> {
        let mut key = SeriesKey::new("node_cpu_seconds_total");
        for (k, v) in labels {
            key = key.with(*k, *v);
        }
        Arc::new(key)
    }

    /// Feeds (at, value) samples arriving at their own time; the rate after each.
    fn feed(
        rates: &mut Rates,
        window_ms: i64,
        series: &Arc<SeriesKey>,
        samples: &[(i64, f64)],
    ) -> Vec<Option<f64>> {
        samples
            .iter()
            .map(|&(at, value)| rates.observe(window_ms, series, at, value, at))
            .collect()
    }

    #[test]
    fn the_rate_is_the_increase_over_the_span_of_the_samples_in_the_window() {
        let mut rates = Rates::default();
        let idle = key(&[("cpu", "0"), ("mode", "idle")]);
        // 1m window, a sample every 10 s: idle 0.9 s per second, then 0.02.
        let got = feed(
            &mut rates,
            MIN,
            &idle,
            &[
                (0, 100.0),
                (10 * S, 109.0),
                (20 * S, 118.0),
                (60 * S, 154.0),
                // The window ending at 70 s is (10 s, 70 s]: the 0 s and 10 s samples left it.
                (70 * S, 154.2),
            ],
        );
        assert_eq!(got[0], None, "one sample is no rate");
        assert_eq!(got[1], None, "10 s spans less than a quarter of 1m");
        assert_eq!(got[2], Some(0.9), "(118 - 100) / 20 s");
        assert_eq!(got[3], Some(0.9), "(154 - 100) / 60 s");
        let last = got[4].unwrap();
        assert!(
            (last - 36.2 / 50.0).abs() < 1e-9,
            "(154.2 - 118) / 50 s, got {last}"
        );
        assert_eq!(rates.series(), 1);
        assert_eq!(rates.points(), 3);
    }

    #[test]
    fn a_drop_is_a_counter_reset_counted_as_a_restart_from_zero() {
        let mut rates = Rates::default();
        let series = key(&[("mode", "user")]);
        // 5m window; the process restarts between 60 s and 90 s.
        let got = feed(
            &mut rates,
            5 * MIN,
            &series,
            &[
                (0, 1000.0),
                (60 * S, 1600.0),
                (90 * S, 50.0),
                (120 * S, 350.0),
            ],
        );
        assert_eq!(got[1], None, "60 s is less than a quarter of 5m");
        // (350 - 1000 + 1600) / 120 s: the 1600 before the drop is counted, as Prometheus does.
        assert_eq!(got[2], Some((50.0 - 1000.0 + 1600.0) / 90.0));
        assert_eq!(got[3], Some((350.0 - 1000.0 + 1600.0) / 120.0));
        // Once the samples before the reset leave the window, only what followed counts.
        let got = feed(&mut rates, 5 * MIN, &series, &[(390 * S, 3050.0)]);
        assert_eq!(got[0], Some((3050.0 - 350.0) / 270.0), "120 s .. 390 s");
    }

    #[test]
    fn a_backlog_is_rated_at_the_times_it_was_measured_and_late_samples_are_left_out() {
        let mut rates = Rates::default();
        let series = key(&[]);
        let now = 3_600 * S;
        // An agent cut off for an hour sends its backlog at `now`, oldest first.
        let backlog: Vec<Option<f64>> = (0..=6)
            .map(|i| rates.observe(MIN, &series, i * 10 * S, i as f64 * 5.0, now))
            .collect();
        assert_eq!(
            backlog[6],
            Some(0.5),
            "5 per 10 s, from the samples' own times"
        );
        // Out of order (older than the newest) and a duplicate: nothing changes.
        assert_eq!(rates.observe(MIN, &series, 35 * S, 1e9, now), None);
        assert_eq!(rates.observe(MIN, &series, 60 * S, 1e9, now), None);
        // The newest sample again (two rules with this window): its rate again.
        assert_eq!(rates.observe(MIN, &series, 60 * S, 30.0, now), Some(0.5));
        assert_eq!(rates.observe(MIN, &series, 70 * S, 35.0, now), Some(0.5));
        // Not finite: ignored.
        assert_eq!(rates.observe(MIN, &series, 80 * S, f64::NAN, now), None);
    }

    #[test]
    fn a_series_that_stops_is_forgotten_after_its_window_and_a_gap_starts_afresh() {
        let mut rates = Rates::default();
        let (a, b) = (key(&[("cpu", "0")]), key(&[("cpu", "1")]));
        feed(&mut rates, MIN, &a, &[(0, 0.0), (30 * S, 3.0)]);
        feed(&mut rates, 10 * MIN, &b, &[(0, 0.0), (30 * S, 3.0)]);
        rates.prune(30 * S + 5 * MIN, 5 * MIN);
        assert_eq!(rates.series(), 2, "5 minutes of silence is not yet stale");
        rates.prune(30 * S + 5 * MIN + 1, 5 * MIN);
        assert_eq!(
            rates.series(),
            1,
            "the 1m window is gone after 5m; the 10m one waits"
        );
        rates.prune(30 * S + 10 * MIN + 1, 5 * MIN);
        assert_eq!(rates.series(), 0);
        assert_eq!(rates.points(), 0);
        // Back after a gap longer than the window: no rate from before the gap.
        let got = feed(
            &mut rates,
            MIN,
            &a,
            &[(20 * MIN, 500.0), (20 * MIN + 10 * S, 501.0)],
        );
        assert_eq!(got, vec![None, None]);
        rates.retain_windows(&HashSet::from([10 * MIN]));
        assert_eq!(rates.series(), 0, "no rule has a 1m window any more");
    }

    #[test]
    fn a_series_keeps_a_bounded_number_of_points_and_the_rate_stays_exact() {
        let mut rates = Rates::default();
        let series = key(&[]);
        // A sample a second for 2 hours into a 1h window: 120 points at most (one per 5 s).
        let mut last = None;
        for i in 0..7_200i64 {
            last = rates.observe(3_600 * S, &series, i * S, (i * 3) as f64, i * S);
        }
        assert!(rates.points() <= 722, "{} points", rates.points());
        assert!(rates.points() >= 700, "{} points", rates.points());
        assert_eq!(last, Some(3.0));
    }

    #[test]
    fn all_series_together_stay_within_their_bounds() {
        // 3 series at most, about 25 points: the third grows by thinning, a fourth is refused.
        let mut rates = Rates::with_bounds(3, 25);
        let keys: Vec<Arc<SeriesKey>> = (0..4).map(|i| key(&[("cpu", &i.to_string())])).collect();
        for i in 0..10i64 {
            rates.observe(10 * MIN, &keys[0], i * 10 * S, i as f64, i * 10 * S);
            rates.observe(10 * MIN, &keys[1], i * 10 * S, i as f64, i * 10 * S);
        }
        assert_eq!(rates.points(), 20);
        let mut last = None;
        for i in 0..30i64 {
            last = rates.observe(10 * MIN, &keys[2], i * 10 * S, 2.0 * i as f64, i * 10 * S);
        }
        assert!(rates.points() <= 26, "{} points", rates.points());
        assert_eq!(last, Some(0.2), "thinned, the rate is still exact");
        assert_eq!(rates.observe(10 * MIN, &keys[3], 0, 0.0, 0), None);
        assert_eq!(rates.series(), 3);
        assert_eq!(rates.refused(), 1);
    }

    #[test]
    fn thinning_keeps_the_ends_and_the_totals() {
        let mut points: VecDeque<Point> = (0..7)
            .map(|i| Point {
                at_ms: i * S,
                raw: i as f64,
                total: i as f64,
            })
            .collect();
        thin(&mut points);
        let kept: Vec<i64> = points.iter().map(|p| p.at_ms / S).collect();
        assert_eq!(kept, vec![0, 2, 4, 6]);
        assert_eq!(rate_of(&points, 10 * S), Some(1.0));
    }
}
