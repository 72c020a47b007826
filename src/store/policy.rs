//! The store's decisions, pure and with `now` as an argument: window arithmetic, when a window
//! may be sealed, retention cut-offs, which tier answers a query, the downsampling step, what
//! the size cap drops, and which check results are kept in history.

use std::time::Duration;

use crate::config::Retention;
use crate::model::Status;

use super::Tier;

/// Raw samples are grouped in aligned windows of this span: one sealed chunk per series per
/// window. Chosen on measurements (BENCHMARKS.md): 1 h gives 0.66 B/sample on realistic system
/// metrics against 0.58 B at 6 h, while keeping the unsealed (bigger, uncompressed) part short.
pub const RAW_WINDOW_MS: i64 = 3_600_000;
/// A window is sealed this long after it ends, so that late flushes (a cron-mode `collect`, a
/// flush retried after a lock) usually land before it. Later ones are merged in by a re-seal.
pub const SEAL_GRACE_MS: i64 = 120_000;
pub const MINUTE_MS: i64 = 60_000;
pub const HOUR_MS: i64 = 3_600_000;
/// One rollup row holds this span of buckets (1,440 minute or 168 hour buckets), so that a
/// query reads few rows; a seal rewrites the row that holds its window.
pub const MINUTE_ROW_MS: i64 = 86_400_000;
pub const HOUR_ROW_MS: i64 = 7 * 86_400_000;
/// The tier choice aims at no more than this many points per series before downsampling.
pub const TIER_POINTS: u64 = 1_000;

/// Start of the aligned span of width `span` that holds `ts`.
pub fn align(ts: i64, span: i64) -> i64 {
    ts.div_euclid(span) * span
}

/// Windows starting at or before this may be sealed at `now`.
pub fn last_sealable_window(now: i64) -> i64 {
    align(now - SEAL_GRACE_MS, RAW_WINDOW_MS) - RAW_WINDOW_MS
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Oldest times each tier keeps at `now`: a chunk or row is dropped once all it covers is
/// older than its tier's cut-off (so a tier may hold up to one row span more than asked).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cutoffs {
    pub raw: i64,
    pub minute: i64,
    pub hour: i64,
}

impl Cutoffs {
    pub fn at(now: i64, retention: &Retention) -> Cutoffs {
        Cutoffs {
            raw: now.saturating_sub(ms(retention.raw)),
            minute: now.saturating_sub(ms(retention.minute)),
            hour: now.saturating_sub(ms(retention.hour)),
        }
    }

    /// Raw windows starting before this are dropped.
    pub fn raw_window_before(&self) -> i64 {
        self.raw.saturating_sub(RAW_WINDOW_MS)
    }

    /// Rollup rows (of the given bucket step) starting before this are dropped.
    pub fn rollup_row_before(&self, step_ms: i64) -> i64 {
        if step_ms == MINUTE_MS {
            self.minute.saturating_sub(MINUTE_ROW_MS)
        } else {
            self.hour.saturating_sub(HOUR_ROW_MS)
        }
    }
}

/// What one series holds for a query range, as far as the tier choice needs to know.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TierFacts {
    /// Raw samples (stored and buffered) in the range, estimated from chunk metadata.
    pub raw_points: u64,
    /// Oldest timestamp each tier holds for this series (raw, minute, hour).
    pub oldest: [Option<i64>; 3],
}

/// Buckets of `step` that the range `[from, to]` touches.
pub fn buckets_in(from: i64, to: i64, step: i64) -> u64 {
    if to < from {
        return 0;
    }
    (align(to, step) - align(from, step)) as u64 / step as u64 + 1
}

/// The finest tier that answers `[from, to]` with at most [`TIER_POINTS`] points and that
/// reaches back to `from` (or that no coarser tier reaches further back than).
pub fn choose_tier(from: i64, to: i64, facts: &TierFacts) -> Tier {
    let oldest = facts.oldest;
    let usable = |t: usize| -> bool {
        if oldest[t].is_some_and(|o| o <= from) {
            return true;
        }
        // It starts after `from`: use it unless a coarser tier holds older data, that is a
        // bucket before the one this tier's first sample falls in (a bucket is stamped with
        // its start: the hour a young series began in is not older than its first minute).
        !(t + 1..3).any(|c| match (oldest[c], oldest[t]) {
            (Some(co), Some(o)) => co < align(o, [1, MINUTE_MS, HOUR_MS][c]),
            (Some(_), None) => true,
            (None, _) => false,
        })
    };
    if facts.raw_points <= TIER_POINTS && usable(0) {
        Tier::Raw
    } else if buckets_in(from, to, MINUTE_MS) <= TIER_POINTS && usable(1) {
        Tier::Minute
    } else {
        Tier::Hour
    }
}

/// Buckets for the answer: `(origin, step)` with `step` a multiple of `resolution`, `origin`
/// aligned to `resolution`, such that `[from, to]` touches at most `max_points` buckets.
pub fn downsample_step(from: i64, to: i64, resolution: i64, max_points: usize) -> (i64, i64) {
    let max_points = max_points.max(1) as i64;
    let origin = align(from, resolution);
    let span = (to.max(from) - origin).saturating_add(1);
    let min_step = ceil_div(span, max_points).max(1);
    let step = ceil_div(min_step, resolution).saturating_mul(resolution);
    (origin, step)
}

/// `a / b` rounded up, for positive `b`.
fn ceil_div(a: i64, b: i64) -> i64 {
    a / b + i64::from(a % b > 0)
}

/// The bucket resolution of raw points when they must be downsampled: whole seconds when the
/// buckets are wider than a second, else milliseconds.
pub fn raw_resolution(from: i64, to: i64, max_points: usize) -> i64 {
    if (to - from) / (max_points.max(1) as i64) >= 1_000 {
        1_000
    } else {
        1
    }
}

/// Bytes held by the rows of one tier that start at `start_ms` (a raw window or a rollup row).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub start_ms: i64,
    pub bytes: u64,
}

/// What the size cap drops: in each tier, every row starting before the given time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SizeCapPlan {
    pub raw_before: Option<i64>,
    pub minute_before: Option<i64>,
    pub hour_before: Option<i64>,
    pub bytes: u64,
}

/// Drops the oldest spans of the finest tier first (raw, then minute, then hour) until at
/// least `excess` bytes are planned. Spans are sorted oldest first.
pub fn plan_size_cap(excess: u64, tiers: [&[Span]; 3]) -> SizeCapPlan {
    let mut plan = SizeCapPlan::default();
    for (t, spans) in tiers.into_iter().enumerate() {
        for (i, s) in spans.iter().enumerate() {
            if plan.bytes >= excess {
                return plan;
            }
            plan.bytes += s.bytes;
            let before = spans.get(i + 1).map_or(i64::MAX, |next| next.start_ms);
            match t {
                0 => plan.raw_before = Some(before),
                1 => plan.minute_before = Some(before),
                _ => plan.hour_before = Some(before),
            }
        }
    }
    plan
}

/// Check history keeps every status change and, while the status holds, one result per minute
/// (the minute tier's resolution); the latest result of each check is always kept apart.
pub const CHECK_HISTORY_EVERY_MS: i64 = MINUTE_MS;

pub fn keep_in_history(last_kept: Option<(Status, i64)>, status: Status, at_ms: i64) -> bool {
    match last_kept {
        None => true,
        Some((s, at)) => s != status || at_ms - at >= CHECK_HISTORY_EVERY_MS || at_ms < at,
    }
}

/// Check history is rolled up by the hour (`check_rollup`) for long `check_summaries` ranges.
pub const CHECK_ROLLUP_MS: i64 = HOUR_MS;

/// In the cost estimate of a summary plan: a range (per check a seek and a subquery) costs
/// about as much as reading this many rows. Measured (BENCHMARKS.md): with 24 h in 48 buckets
/// of half an hour, reading about half the raw rows in 25 ranges was no faster than all of
/// them in one; the estimate keeps such plans raw.
const SEEK_ROWS: i64 = 30;

/// The bucket of `t` (in `[from, to]`) among `buckets` equal slices of `[from, to]`, as
/// `check_summaries` numbers them: `(t - from) * buckets / (to - from + 1)`.
pub fn summary_bucket(t: i64, from: i64, to: i64, buckets: i64) -> i64 {
    let span = i128::from((to - from).max(0)) + 1;
    (i128::from(t - from) * i128::from(buckets) / span) as i64
}

/// The first time of bucket `b` (for `b == buckets`: `to + 1`), the least `t` whose
/// `summary_bucket` is `b`.
pub fn summary_bucket_start(from: i64, to: i64, buckets: i64, b: i64) -> i64 {
    let span = i128::from((to - from).max(0)) + 1;
    let n = i128::from(b) * span;
    let d = i128::from(buckets);
    from + ((n + d - 1) / d) as i64
}

/// How `check_summaries` reads `[from, to]` from the hourly rollup: every rolled-up hour whose
/// middle lies in the range counts whole in the bucket of its middle; raw rows are read
/// where that is not exact. Each raw row in `raw` counts in its own bucket (when in the
/// range) and, when it lies in one of `hours`, is taken back from that hour's bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SummaryPlan {
    /// Starts of the first and last hour read from the rollup.
    pub hours: (i64, i64),
    /// Inclusive ranges of raw rows to read, sorted and apart: the range outside `hours`, and
    /// the parts of those hours on the other side of a bucket boundary, of `from` or of `to`
    /// than their middle (the smaller part, so at most half an hour each).
    pub raw: Vec<(i64, i64)>,
}

/// The plan for `[from, to]` in `buckets` slices, with the hours `[rolled.0, rolled.1)` rolled
/// up, when it costs less than reading the raw rows (not so for buckets narrower than an hour,
/// a short range, little rolled up).
pub fn summary_plan(from: i64, to: i64, buckets: i64, rolled: (i64, i64)) -> Option<SummaryPlan> {
    rollup_plan(from, to, buckets, rolled).filter(|plan| plan.pays(from, to))
}

/// The plan for `[from, to]` in `buckets` slices with the hours `[rolled.0, rolled.1)` rolled
/// up, whatever it costs; `None` when no rolled-up hour has its middle in the range.
pub fn rollup_plan(from: i64, to: i64, buckets: i64, rolled: (i64, i64)) -> Option<SummaryPlan> {
    const H: i64 = CHECK_ROLLUP_MS;
    if to < from || buckets < 1 {
        return None;
    }
    let up = |t: i64| align(t.saturating_add(H - 1), H);
    let first = up(rolled.0).max(up(from.saturating_sub(H / 2)));
    let last = (align(rolled.1, H) - H).min(align(to.saturating_sub(H / 2), H));
    if first > last {
        return None;
    }
    let mut raw = Vec::new();
    if from < first {
        raw.push((from, first - 1));
    }
    for b in 0..=buckets {
        let t = summary_bucket_start(from, to, buckets, b);
        let hour = align(t, H);
        if t == hour || hour < first || hour > last {
            continue;
        }
        raw.push(if t <= hour + H / 2 {
            (hour, t - 1)
        } else {
            (t, hour + H - 1)
        });
    }
    if last + H <= to {
        raw.push((last + H, to));
    }
    raw.sort_unstable();
    let mut merged: Vec<(i64, i64)> = Vec::with_capacity(raw.len());
    for (lo, hi) in raw {
        match merged.last_mut() {
            Some(prev) if lo <= prev.1.saturating_add(1) => prev.1 = prev.1.max(hi),
            _ => merged.push((lo, hi)),
        }
    }
    Some(SummaryPlan {
        hours: (first, last),
        raw: merged,
    })
}

impl SummaryPlan {
    /// Whether the plan reads less than the raw rows of `[from, to]` would: a rollup row, a
    /// raw row (about one a minute, as `keep_in_history` keeps them) and [`SEEK_ROWS`] per
    /// range.
    pub fn pays(&self, from: i64, to: i64) -> bool {
        let raw_rows: i64 = self
            .raw
            .iter()
            .map(|&(lo, hi)| (hi - lo) / MINUTE_MS + 1)
            .sum();
        let hours = (self.hours.1 - self.hours.0) / CHECK_ROLLUP_MS + 1;
        let cost = hours + raw_rows + SEEK_ROWS * self.raw.len() as i64;
        cost < (to - from) / MINUTE_MS + 1 + SEEK_ROWS
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    const H: i64 = HOUR_MS;
    const D: i64 = 86_400_000;

    #[test]
    fn sealing_waits_for_the_window_end_plus_grace() {
        // now, last window start that may be sealed
        for (now, want) in [
            (H + SEAL_GRACE_MS - 1, -H),
            (H + SEAL_GRACE_MS, 0),
            (2 * H - 1, 0),
            (2 * H + SEAL_GRACE_MS, H),
        ] {
            assert_eq!(last_sealable_window(now), want, "now {now}");
        }
    }

    #[test]
    fn retention_cutoffs_follow_each_tier() {
        let retention = Retention {
            raw: Duration::from_secs(7 * 86_400),
            minute: Duration::from_secs(90 * 86_400),
            hour: Duration::from_secs(730 * 86_400),
        };
        let now = 1_000 * D;
        let c = Cutoffs::at(now, &retention);
        assert_eq!(c.raw, now - 7 * D);
        assert_eq!(c.minute, now - 90 * D);
        assert_eq!(c.hour, now - 730 * D);
        // a raw window is dropped only once it ends at or before the cut-off
        assert_eq!(c.raw_window_before(), now - 7 * D - H);
        assert_eq!(c.rollup_row_before(MINUTE_MS), now - 91 * D);
        assert_eq!(c.rollup_row_before(HOUR_MS), now - 737 * D);
        // absurd retentions saturate instead of overflowing
        let huge = Retention {
            raw: Duration::MAX,
            minute: Duration::MAX,
            hour: Duration::MAX,
        };
        let c = Cutoffs::at(now, &huge);
        assert!(c.raw_window_before() < -1_000_000 * D && c.rollup_row_before(HOUR_MS) < 0);
    }

    #[test]
    fn buckets_in_counts_touched_buckets() {
        for (from, to, step, want) in [
            (0, 0, 60, 1),
            (0, 59, 60, 1),
            (0, 60, 60, 2),
            (59, 61, 60, 2),
            (10, 5, 60, 0),
            (-1, 0, 60, 2),
        ] {
            assert_eq!(buckets_in(from, to, step), want, "{from}..{to} by {step}");
        }
    }

    #[test]
    fn tier_choice_table() {
        let now = 100 * D;
        let all = [Some(now - 7 * D), Some(now - 90 * D), Some(now - 700 * D)];
        type Case = (&'static str, i64, i64, u64, [Option<i64>; 3], Tier);
        let cases: &[Case] = &[
            (
                "last 10 min at 1 s: raw",
                now - 600_000,
                now,
                600,
                all,
                Tier::Raw,
            ),
            (
                "exactly 1000 raw points: raw",
                now - 999_000,
                now,
                1000,
                all,
                Tier::Raw,
            ),
            (
                "last hour at 1 s: minute",
                now - H,
                now,
                3600,
                all,
                Tier::Minute,
            ),
            (
                "last 16 h: 961 minutes",
                now - 16 * H,
                now,
                57_600,
                all,
                Tier::Minute,
            ),
            ("last day: hour", now - D, now, 86_400, all, Tier::Hour),
            ("30 days: hour", now - 30 * D, now, 604_800, all, Tier::Hour),
            (
                "sparse series, 6 h at 60 s: raw",
                now - 6 * H,
                now,
                360,
                all,
                Tier::Raw,
            ),
            (
                "10 min a month ago: raw expired, minute answers",
                now - 30 * D,
                now - 30 * D + 600_000,
                0,
                all,
                Tier::Minute,
            ),
            (
                "10 min a year ago: only hour reaches",
                now - 365 * D,
                now - 365 * D + 600_000,
                0,
                all,
                Tier::Hour,
            ),
            (
                "new series, only buffered: raw",
                now - 600_000,
                now,
                10,
                [None, None, None],
                Tier::Raw,
            ),
            (
                "new series, 1 h range, not sealed yet: minute",
                now - H,
                now,
                3600,
                [Some(now - 2 * H), None, None],
                Tier::Minute,
            ),
            (
                "a young series, 1 h 46 min from the hour it began: its minutes, not 2 hours",
                now - 2 * H,
                now - 2 * H + 106 * 60_000,
                4260,
                [
                    Some(now - 2 * H + 35 * 60_000 + 500),
                    Some(now - 2 * H + 35 * 60_000),
                    Some(now - 2 * H),
                ],
                Tier::Minute,
            ),
            (
                "a young series, 10 min: raw, though its first minute is stamped earlier",
                now - 600_000,
                now,
                600,
                [Some(now - 600_000 + 700), Some(now - 600_000), None],
                Tier::Raw,
            ),
            (
                "minutes expired, hours reach further back: hour",
                now - 5 * D,
                now - 5 * D + 10 * H,
                0,
                [None, Some(now - 4 * D), Some(now - 90 * D)],
                Tier::Hour,
            ),
            (
                "raw starts after from, nothing older elsewhere: raw",
                now - 600_000,
                now,
                100,
                [Some(now - 300_000), None, None],
                Tier::Raw,
            ),
        ];
        for (name, from, to, raw_points, oldest, want) in cases {
            let facts = TierFacts {
                raw_points: *raw_points,
                oldest: *oldest,
            };
            assert_eq!(choose_tier(*from, *to, &facts), *want, "{name}");
        }
    }

    #[test]
    fn downsample_step_never_exceeds_max_points() {
        let ranges = [
            (0i64, 0i64),
            (0, 1),
            (59, 61),
            (1_700_000_000_123, 1_700_000_000_123 + 30 * D),
            (-5 * D - 7, 3 * H + 11),
            (1_000_000_000_000 - 1, 1_000_000_000_001),
            (5, 4),
        ];
        for (from, to) in ranges {
            for res in [1, 1_000, MINUTE_MS, HOUR_MS] {
                for max_points in [0usize, 1, 2, 3, 7, 100, 999, 1000, 10_000] {
                    let (origin, step) = downsample_step(from, to, res, max_points);
                    assert!(step > 0 && step % res == 0);
                    assert_eq!(origin % res, 0);
                    assert!(origin <= from);
                    let first = align(from - origin, step);
                    let last = align(to.max(from) - origin, step);
                    let n = (last - first) / step + 1;
                    assert!(
                        n as usize <= max_points.max(1),
                        "{from}..{to} res {res} max {max_points}: {n} buckets of {step}"
                    );
                }
            }
        }
    }

    #[test]
    fn downsample_step_is_as_fine_as_allowed() {
        // 30 days of hour buckets into 1000 points: the hour buckets themselves
        let from = 1_700_000_000_000 / H * H;
        assert_eq!(downsample_step(from, from + 30 * D, H, 1000), (from, H));
        // into 100 points: 8 h buckets (720 / 100 rounded up to whole hours)
        assert_eq!(downsample_step(from, from + 30 * D, H, 100).1, 8 * H);
        assert_eq!(raw_resolution(0, 600_000, 1000), 1);
        assert_eq!(raw_resolution(0, 6 * H, 1000), 1_000);
    }

    #[test]
    fn size_cap_drops_raw_first_then_minute_then_hour() {
        let raw = [
            Span {
                start_ms: 0,
                bytes: 100,
            },
            Span {
                start_ms: 10,
                bytes: 100,
            },
        ];
        let minute = [
            Span {
                start_ms: 0,
                bytes: 50,
            },
            Span {
                start_ms: 20,
                bytes: 50,
            },
        ];
        let hour = [Span {
            start_ms: 0,
            bytes: 10,
        }];
        let cases = [
            (0, SizeCapPlan::default()),
            (
                1,
                SizeCapPlan {
                    raw_before: Some(10),
                    bytes: 100,
                    ..Default::default()
                },
            ),
            (
                150,
                SizeCapPlan {
                    raw_before: Some(i64::MAX),
                    bytes: 200,
                    ..Default::default()
                },
            ),
            (
                201,
                SizeCapPlan {
                    raw_before: Some(i64::MAX),
                    minute_before: Some(20),
                    bytes: 250,
                    ..Default::default()
                },
            ),
            (
                10_000,
                SizeCapPlan {
                    raw_before: Some(i64::MAX),
                    minute_before: Some(i64::MAX),
                    hour_before: Some(i64::MAX),
                    bytes: 310,
                },
            ),
        ];
        for (excess, want) in cases {
            assert_eq!(
                plan_size_cap(excess, [&raw, &minute, &hour]),
                want,
                "excess {excess}"
            );
        }
    }

    #[test]
    fn check_history_keeps_changes_and_one_per_minute() {
        use Status::*;
        let cases = [
            (None, Ok, 0, true),
            (Some((Ok, 0)), Ok, 10_000, false),
            (Some((Ok, 0)), Ok, 59_999, false),
            (Some((Ok, 0)), Ok, 60_000, true),
            (Some((Ok, 0)), Warning, 10_000, true),
            (Some((Critical, 0)), Ok, 1, true),
            (Some((Ok, 100_000)), Ok, 50_000, true),
        ];
        for (last, status, at, want) in cases {
            assert_eq!(
                keep_in_history(last, status, at),
                want,
                "{last:?} {status} {at}"
            );
        }
    }

    /// A small deterministic generator for the randomised tests (splitmix64).
    pub(crate) struct Rng(pub u64);

    impl Rng {
        pub fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }

        /// Uniform in `[lo, hi]`.
        pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
            lo + (self.next() % (hi - lo + 1) as u64) as i64
        }
    }

    #[test]
    fn summary_buckets_start_where_the_bucket_formula_changes() {
        let mut rng = Rng(7);
        for _ in 0..2_000 {
            let from = rng.range(0, 10 * D);
            let to = from + rng.range(-1, 40 * D);
            let buckets = rng.range(1, 200);
            for b in 0..=buckets {
                let t = summary_bucket_start(from, to, buckets, b);
                if b == buckets {
                    assert_eq!(t, to.max(from - 1) + 1);
                    continue;
                }
                assert_eq!(summary_bucket(t, from, to, buckets), b);
                if b > 0 {
                    assert_eq!(summary_bucket(t - 1, from, to, buckets), b - 1);
                }
            }
        }
    }

    /// The plan's arithmetic, without a database: rows at random times counted per bucket
    /// directly, and as the plan counts them (whole hours in the bucket of their middle, raw
    /// rows moved from there to their own bucket), agree for every range, bucket count and
    /// rolled-up span.
    #[test]
    fn summary_plans_count_every_row_in_its_own_bucket() {
        let mut rng = Rng(18);
        let mut planned = 0;
        for round in 0..3_000 {
            let from = rng.range(0, 3 * D);
            let to = from
                + [
                    rng.range(0, 3 * H),
                    rng.range(0, 2 * D),
                    rng.range(0, 40 * D),
                ][round % 3];
            let buckets = [1, 48, rng.range(1, 400)][round % 3];
            let lo = align(rng.range(0, 3 * D), H);
            let rolled = (lo, lo + align(rng.range(0, 50 * D), H));
            let rows: Vec<i64> = (0..rng.range(0, 300))
                .map(|_| rng.range(from.saturating_sub(2 * H).max(0), to + 2 * H))
                .collect();
            let mut direct = std::collections::BTreeMap::<i64, i64>::new();
            for &t in &rows {
                if t >= from && t <= to {
                    *direct
                        .entry(summary_bucket(t, from, to, buckets))
                        .or_default() += 1;
                }
            }
            let Some(plan) = rollup_plan(from, to, buckets, rolled) else {
                continue;
            };
            planned += 1;
            let (first, last) = plan.hours;
            assert!(
                first >= rolled.0 && last + H <= rolled.1,
                "{plan:?} {rolled:?}"
            );
            for w in plan.raw.windows(2) {
                assert!(w[0].1 + 1 < w[1].0, "sorted and apart: {plan:?}");
            }
            let mut counted = std::collections::BTreeMap::<i64, i64>::new();
            for &t in &rows {
                let hour = align(t, H);
                let in_hours = hour >= first && hour <= last;
                if in_hours {
                    let mid = summary_bucket(hour + H / 2, from, to, buckets);
                    *counted.entry(mid).or_default() += 1;
                }
                if plan.raw.iter().any(|&(lo, hi)| t >= lo && t <= hi) {
                    if t >= from && t <= to {
                        *counted
                            .entry(summary_bucket(t, from, to, buckets))
                            .or_default() += 1;
                    }
                    if in_hours {
                        let mid = summary_bucket(hour + H / 2, from, to, buckets);
                        *counted.entry(mid).or_default() -= 1;
                    }
                }
            }
            counted.retain(|_, n| *n != 0);
            assert_eq!(
                counted, direct,
                "from {from} to {to} buckets {buckets} rolled {rolled:?}: {plan:?}"
            );
        }
        assert!(planned > 500, "{planned} plans");
    }

    #[test]
    fn summary_plans_read_a_few_raw_rows_around_each_boundary() {
        let now = 1_700_000_123_456;
        let rolled = (0, align(now, H));
        // 30 days in 48 buckets: 720 hours, a raw range per boundary (each within an hour).
        let plan = summary_plan(now - 30 * D, now, 48, rolled).expect("rolled up");
        assert_eq!((plan.hours.1 - plan.hours.0) / H + 1, 720);
        assert!(plan.raw.len() <= 50, "{}", plan.raw.len());
        assert!(plan.raw.iter().all(|r| r.1 - r.0 < H));
        let raw_ms: i64 = plan.raw.iter().map(|r| r.1 - r.0 + 1).sum();
        assert!(raw_ms < 49 * H / 2, "{raw_ms}");
        // One bucket over a day: the edges only.
        let plan = summary_plan(now - D, now, 1, rolled).expect("rolled up");
        assert_eq!(plan.raw.len(), 2);
        // Nothing rolled up, an hour's range, buckets of half an hour: raw rows.
        assert_eq!(summary_plan(now - D, now, 48, rolled), None);
        assert_eq!(summary_plan(now - 30 * D, now, 48, (0, 0)), None);
        assert_eq!(summary_plan(now - H, now, 48, rolled), None);
        assert_eq!(summary_plan(now, now - 1, 48, rolled), None);
    }
}
