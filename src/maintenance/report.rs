//! The maintenance report (`lookout report`): what maintenance cost over a range, from the
//! stored periods and check history. Pure and exact: time comes in as the range, durations
//! are whole milliseconds until they are shown as seconds.
//!
//! Conventions, the same for every figure:
//! - The range is `[from, to)`; an open period runs to `to`.
//! - A period is *counted* (`count`, the buckets' `count`, `mean_seconds`, `longest`, the
//!   impact) by its start: only periods starting in the range, each in the bucket it starts
//!   in. Its duration for a mean is clipped to `to`.
//! - Maintenance *time* (`total_seconds`, planned/unplanned, emergency, overrun, the buckets'
//!   `total_seconds`) is the time within the range (and the bucket) of every period
//!   overlapping it, so a period across midnight adds to both days.
//! - Buckets are UTC: days, ISO weeks (Monday to Sunday, labelled with the ISO week-year) and
//!   calendar months; every bucket overlapping the range is listed, empty ones too.
//! - Availability is time-weighted over check history: each row's status holds until the next
//!   row; the status in force at `from` is the last row before it; the last row holds until
//!   `to`; before a check's first row it is not observed. Up is ok or warning; critical,
//!   unknown and maintenance are not. Excluding planned maintenance removes the time of planned
//!   periods from both the observed and the up time; unplanned maintenance stays downtime.

use super::{Mode, Origin, Period};
use crate::clock::{UnixMillis, format_rfc3339};
use crate::model::Status;

const DAY_MS: i64 = 86_400_000;

/// The longest range a report covers: 10 years (3660 days). A report lists every day of its
/// range, so its size grows with the range; the API and the CLI refuse longer ones, and
/// `report` itself clips the range to it.
pub const MAX_RANGE_MS: i64 = 3660 * DAY_MS;

/// One check's history: its name and its (time, status) rows.
pub type CheckHistory = (String, Vec<(UnixMillis, Status)>);

/// The whole report.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub from: String,
    pub to: String,
    pub periods: PeriodFigures,
    pub per_day: Vec<Bucket>,
    pub per_week: Vec<Bucket>,
    pub per_month: Vec<Bucket>,
    pub impact: ImpactTotals,
    pub availability: Availability,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PeriodFigures {
    /// Periods starting in the range.
    pub count: usize,
    /// Maintenance time within the range.
    pub total_seconds: f64,
    /// Mean duration of the periods counted (clipped to the end of the range); 0 without any.
    pub mean_seconds: f64,
    pub planned_seconds: f64,
    /// Maintenance no planned window covered.
    pub unplanned_seconds: f64,
    pub emergency_seconds: f64,
    /// Time past the planned ends.
    pub overrun_seconds: f64,
    /// The longest period counted.
    pub longest: Option<LongestPeriod>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LongestPeriod {
    pub id: i64,
    pub start: String,
    /// `None`: still open.
    pub end: Option<String>,
    /// Clipped to the end of the range.
    pub seconds: f64,
    pub mode: Mode,
    pub origin: Origin,
    pub planned: bool,
    pub reason: String,
}

/// One day, ISO week or month.
#[derive(Debug, Clone, PartialEq)]
pub struct Bucket {
    /// "2025-03-01", "2025-W09", "2025-03".
    pub label: String,
    /// Its first moment (UTC), RFC 3339.
    pub start: String,
    /// Periods starting in it.
    pub count: usize,
    /// Maintenance time within it (and within the range).
    pub total_seconds: f64,
    /// Mean duration of the periods starting in it; 0 without any.
    pub mean_seconds: f64,
}

/// User impact summed over the periods counted (unknown values add nothing).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImpactTotals {
    pub blocked_requests: u64,
    pub sessions_at_start: u64,
    pub invalidated_sessions: u64,
    pub active_jobs: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Availability {
    /// Every check together: sums of their seconds.
    pub overall: AvailabilityFigures,
    /// By check name.
    pub checks: Vec<CheckAvailability>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CheckAvailability {
    pub check: String,
    pub figures: AvailabilityFigures,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct AvailabilityFigures {
    pub observed_seconds: f64,
    pub up_seconds: f64,
    /// In status "maintenance".
    pub maintenance_seconds: f64,
    /// up / observed; `None` when nothing was observed.
    pub availability: Option<f64>,
    pub observed_outside_planned_seconds: f64,
    pub up_outside_planned_seconds: f64,
    /// Up / observed outside planned periods; `None` when nothing was observed there.
    pub availability_excluding_planned: Option<f64>,
}

/// The report over `[from_ms, to_ms)` of `periods` (those overlapping the range; others are
/// ignored) and `history` (per check, (time, status) rows: those before `from_ms` give the
/// status in force at `from_ms`, rows from `to_ms` on are ignored).
pub fn report(
    periods: &[Period],
    history: &[CheckHistory],
    from_ms: UnixMillis,
    to_ms: UnixMillis,
) -> Report {
    let to_ms = to_ms.max(from_ms);
    let from_ms = from_ms.max(to_ms - MAX_RANGE_MS);
    // Each period as [start, end) clipped to the range; `None` when it does not overlap.
    let clip = |p: &Period| -> Option<(i64, i64)> {
        let start = p.start_ms.max(from_ms);
        let end = p.end_ms.unwrap_or(to_ms).min(to_ms);
        (start < end || (p.start_ms >= from_ms && p.start_ms < to_ms)).then_some((start, end))
    };
    let overlapping: Vec<(&Period, (i64, i64))> = periods
        .iter()
        .filter_map(|p| clip(p).map(|span| (p, span)))
        .collect();
    let counted: Vec<(&Period, i64)> = overlapping
        .iter()
        .filter(|(p, _)| p.start_ms >= from_ms)
        .map(|(p, (start, end))| (*p, end - start))
        .collect();

    let mut figures = PeriodFigures {
        count: counted.len(),
        total_seconds: 0.0,
        mean_seconds: mean(counted.iter().map(|(_, ms)| *ms)),
        planned_seconds: 0.0,
        unplanned_seconds: 0.0,
        emergency_seconds: 0.0,
        overrun_seconds: 0.0,
        longest: None,
    };
    let (mut total, mut planned, mut unplanned, mut emergency, mut overrun) = (0, 0, 0, 0, 0);
    for (p, (start, end)) in &overlapping {
        let ms = end - start;
        total += ms;
        if p.planned {
            planned += ms;
        } else {
            unplanned += ms;
        }
        if p.mode == Mode::Emergency {
            emergency += ms;
        }
        if let Some(planned_end) = p.planned_end_ms {
            overrun += (end - planned_end.max(*start)).max(0);
        }
    }
    figures.total_seconds = seconds(total);
    figures.planned_seconds = seconds(planned);
    figures.unplanned_seconds = seconds(unplanned);
    figures.emergency_seconds = seconds(emergency);
    figures.overrun_seconds = seconds(overrun);
    // The first of equally long ones.
    figures.longest = counted
        .iter()
        .fold(None::<(&Period, i64)>, |best, &(p, ms)| match best {
            Some((_, best_ms)) if best_ms >= ms => best,
            _ => Some((p, ms)),
        })
        .map(|(p, ms)| LongestPeriod {
            id: p.id,
            start: format_rfc3339(p.start_ms),
            end: p.end_ms.map(format_rfc3339),
            seconds: seconds(ms),
            mode: p.mode,
            origin: p.origin,
            planned: p.planned,
            reason: p.reason.clone(),
        });

    let mut impact = ImpactTotals::default();
    for (p, _) in &counted {
        impact.blocked_requests += p.impact.blocked_requests;
        impact.sessions_at_start += p.impact.sessions_at_start.unwrap_or(0);
        impact.invalidated_sessions += p.impact.invalidated_sessions.unwrap_or(0);
        impact.active_jobs += p.impact.active_jobs.unwrap_or(0);
    }

    let spans: Vec<(i64, i64)> = overlapping.iter().map(|(_, span)| *span).collect();
    let buckets = |kind: BucketKind| {
        buckets(kind, from_ms, to_ms)
            .into_iter()
            .map(|(start, end)| {
                let starting: Vec<i64> = counted
                    .iter()
                    .filter(|(p, _)| start <= p.start_ms && p.start_ms < end)
                    .map(|(_, ms)| *ms)
                    .collect();
                Bucket {
                    label: kind.label(start),
                    start: format_rfc3339(start),
                    count: starting.len(),
                    total_seconds: seconds(
                        spans
                            .iter()
                            .map(|span| overlap(*span, (start.max(from_ms), end)))
                            .sum(),
                    ),
                    mean_seconds: mean(starting.into_iter()),
                }
            })
            .collect::<Vec<_>>()
    };

    let planned_spans = union(
        overlapping
            .iter()
            .filter(|(p, _)| p.planned)
            .map(|(_, span)| *span)
            .collect(),
    );
    let mut overall = Times::default();
    let checks = history
        .iter()
        .map(|(check, rows)| {
            let times = check_times(rows, from_ms, to_ms, &planned_spans);
            overall.add(&times);
            CheckAvailability {
                check: check.clone(),
                figures: times.figures(),
            }
        })
        .collect();

    Report {
        from: format_rfc3339(from_ms),
        to: format_rfc3339(to_ms),
        periods: figures,
        per_day: buckets(BucketKind::Day),
        per_week: buckets(BucketKind::Week),
        per_month: buckets(BucketKind::Month),
        impact,
        availability: Availability {
            overall: overall.figures(),
            checks,
        },
    }
}

fn seconds(ms: i64) -> f64 {
    ms as f64 / 1000.0
}

fn mean(durations: impl Iterator<Item = i64>) -> f64 {
    let (sum, n) = durations.fold((0i64, 0i64), |(sum, n), ms| (sum + ms, n + 1));
    if n == 0 {
        0.0
    } else {
        sum as f64 / 1000.0 / n as f64
    }
}

fn overlap(a: (i64, i64), b: (i64, i64)) -> i64 {
    (a.1.min(b.1) - a.0.max(b.0)).max(0)
}

/// Sorted, non-overlapping spans covering the same time as `spans`.
fn union(mut spans: Vec<(i64, i64)>) -> Vec<(i64, i64)> {
    spans.sort_unstable();
    let mut merged: Vec<(i64, i64)> = Vec::new();
    for (start, end) in spans {
        match merged.last_mut() {
            Some(last) if start <= last.1 => last.1 = last.1.max(end),
            _ => merged.push((start, end)),
        }
    }
    merged
}

/// Milliseconds of one check (or all of them).
#[derive(Debug, Default)]
struct Times {
    observed: i64,
    up: i64,
    maintenance: i64,
    observed_outside: i64,
    up_outside: i64,
}

impl Times {
    fn add(&mut self, other: &Times) {
        self.observed += other.observed;
        self.up += other.up;
        self.maintenance += other.maintenance;
        self.observed_outside += other.observed_outside;
        self.up_outside += other.up_outside;
    }

    fn figures(&self) -> AvailabilityFigures {
        let ratio = |part: i64, whole: i64| (whole > 0).then(|| part as f64 / whole as f64);
        AvailabilityFigures {
            observed_seconds: seconds(self.observed),
            up_seconds: seconds(self.up),
            maintenance_seconds: seconds(self.maintenance),
            availability: ratio(self.up, self.observed),
            observed_outside_planned_seconds: seconds(self.observed_outside),
            up_outside_planned_seconds: seconds(self.up_outside),
            availability_excluding_planned: ratio(self.up_outside, self.observed_outside),
        }
    }
}

fn check_times(
    rows: &[(UnixMillis, Status)],
    from_ms: UnixMillis,
    to_ms: UnixMillis,
    planned: &[(i64, i64)],
) -> Times {
    let mut rows: Vec<(UnixMillis, Status)> =
        rows.iter().copied().filter(|(at, _)| *at < to_ms).collect();
    rows.sort_by_key(|(at, _)| *at);
    let mut times = Times::default();
    for (i, (at, status)) in rows.iter().enumerate() {
        let next = rows.get(i + 1).map_or(to_ms, |(next, _)| *next);
        let span = ((*at).max(from_ms), next.min(to_ms));
        let ms = span.1 - span.0;
        if ms <= 0 {
            continue;
        }
        let inside: i64 = planned.iter().map(|p| overlap(span, *p)).sum();
        let up = matches!(status, Status::Ok | Status::Warning);
        times.observed += ms;
        times.observed_outside += ms - inside;
        if up {
            times.up += ms;
            times.up_outside += ms - inside;
        }
        if *status == Status::Maintenance {
            times.maintenance += ms;
        }
    }
    times
}

#[derive(Debug, Clone, Copy)]
enum BucketKind {
    Day,
    Week,
    Month,
}

impl BucketKind {
    /// The start of the bucket holding `ms`.
    fn start(self, ms: i64) -> i64 {
        let day = ms.div_euclid(DAY_MS);
        match self {
            BucketKind::Day => day * DAY_MS,
            // Day 0 (1970-01-01) was a Thursday: 3 days after a Monday.
            BucketKind::Week => (day - (day + 3).rem_euclid(7)) * DAY_MS,
            BucketKind::Month => {
                let (y, m, _) = civil_from_days(day);
                days_from_civil(y, m, 1) * DAY_MS
            }
        }
    }

    /// The start of the bucket after the one starting at `start`.
    fn next(self, start: i64) -> i64 {
        match self {
            BucketKind::Day => start + DAY_MS,
            BucketKind::Week => start + 7 * DAY_MS,
            BucketKind::Month => {
                let (y, m, _) = civil_from_days(start.div_euclid(DAY_MS));
                let (y, m) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
                days_from_civil(y, m, 1) * DAY_MS
            }
        }
    }

    fn label(self, start: i64) -> String {
        let day = start.div_euclid(DAY_MS);
        let (y, m, d) = civil_from_days(day);
        match self {
            BucketKind::Day => format!("{y:04}-{m:02}-{d:02}"),
            BucketKind::Month => format!("{y:04}-{m:02}"),
            BucketKind::Week => {
                // The ISO week-year is the year of the week's Thursday.
                let thursday = day + 3;
                let (year, _, _) = civil_from_days(thursday);
                let week = (thursday - days_from_civil(year, 1, 1)) / 7 + 1;
                format!("{year:04}-W{week:02}")
            }
        }
    }
}

/// Every bucket of `kind` overlapping `[from_ms, to_ms)`, as (start, next start).
fn buckets(kind: BucketKind, from_ms: i64, to_ms: i64) -> Vec<(i64, i64)> {
    let mut out = Vec::new();
    let mut start = kind.start(from_ms);
    while start < to_ms {
        let next = kind.next(start);
        out.push((start, next));
        start = next;
    }
    out
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day since 1970-01-01: (year, month 1-12, day 1-31).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// How far before the range a check's status is looked for (`Store::maintenance_report`) (the status in force at `from`;
/// check history holds a row per minute while a status holds, so an hour is ample).
pub const LOOKBACK_MS: i64 = 3_600_000;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::maintenance::Impact;

    const H: i64 = 3_600_000;
    const MIN: i64 = 60_000;

    /// "2025-02-20T02:00" (UTC) in Unix milliseconds.
    fn at(text: &str) -> i64 {
        let t = humantime::parse_rfc3339(&format!("{text}:00Z")).unwrap();
        t.duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
    }

    #[allow(clippy::too_many_arguments)]
    fn period(
        id: i64,
        start: &str,
        end: Option<&str>,
        planned_end: Option<&str>,
        mode: Mode,
        planned: bool,
        impact: Impact,
    ) -> Period {
        Period {
            id,
            start_ms: at(start),
            end_ms: end.map(at),
            planned_end_ms: planned_end.map(at),
            mode,
            reason: format!("period {id}"),
            origin: if planned {
                Origin::Planned
            } else {
                Origin::Detected
            },
            planned,
            impact,
            muted: Vec::new(),
        }
    }

    fn impact(
        blocked: u64,
        sessions: Option<u64>,
        invalidated: Option<u64>,
        jobs: Option<u64>,
    ) -> Impact {
        Impact {
            blocked_requests: blocked,
            sessions_at_start: sessions,
            invalidated_sessions: invalidated,
            active_jobs: jobs,
            ..Impact::default()
        }
    }

    /// Four weeks, 2025-02-15 (a Saturday) to 2025-03-15, across a month end.
    fn month() -> (Vec<Period>, Vec<CheckHistory>) {
        let periods = vec![
            // 1: began the day before the range, unplanned: 1 h in range, not counted.
            period(
                1,
                "2025-02-14T23:00",
                Some("2025-02-15T01:00"),
                None,
                Mode::Normal,
                false,
                impact(100, Some(100), Some(100), Some(100)),
            ),
            // 2: planned 30 min, took 1 h.
            period(
                2,
                "2025-02-20T02:00",
                Some("2025-02-20T03:00"),
                Some("2025-02-20T02:30"),
                Mode::Normal,
                true,
                impact(10, Some(5), None, Some(2)),
            ),
            // 3: unplanned emergency across midnight and the month end (Fri to Sat), 2.5 h.
            period(
                3,
                "2025-02-28T23:00",
                Some("2025-03-01T01:30"),
                None,
                Mode::Emergency,
                false,
                impact(7, Some(3), Some(4), None),
            ),
            // 4: planned test, 30 min, on time.
            period(
                4,
                "2025-03-03T10:00",
                Some("2025-03-03T10:30"),
                Some("2025-03-03T11:00"),
                Mode::Test,
                true,
                Impact::default(),
            ),
            // 5: planned, still open at the end of the range: 1 h so far, 30 min over.
            period(
                5,
                "2025-03-14T23:00",
                None,
                Some("2025-03-14T23:30"),
                Mode::Normal,
                true,
                impact(3, Some(10), None, None),
            ),
            // 6: after the range.
            period(
                6,
                "2025-03-15T00:00",
                Some("2025-03-15T02:00"),
                None,
                Mode::Emergency,
                false,
                impact(1000, None, None, None),
            ),
        ];
        let app = vec![
            (at("2025-02-10T00:00"), Status::Critical), // overridden before the range starts
            (at("2025-02-14T22:00"), Status::Ok),       // in force at `from`
            (at("2025-02-20T02:00"), Status::Maintenance),
            (at("2025-02-20T03:00"), Status::Ok),
            (at("2025-02-28T23:00"), Status::Critical),
            (at("2025-03-01T01:30"), Status::Ok),
            (at("2025-03-03T10:00"), Status::Warning), // up
            (at("2025-03-03T10:30"), Status::Ok),
            (at("2025-03-14T23:00"), Status::Maintenance), // to the end of the range
            (at("2025-03-15T00:00"), Status::Critical),    // after it
        ];
        let db = vec![
            // First seen on 1 March: not observed before.
            (at("2025-03-01T00:00"), Status::Ok),
            (at("2025-03-10T00:00"), Status::Unknown),
            (at("2025-03-10T00:01"), Status::Unknown), // one row a minute while it holds
            (at("2025-03-10T01:00"), Status::Ok),
        ];
        (periods, vec![("app".into(), app), ("db".into(), db)])
    }

    fn bucket(label: &str, start: &str, count: usize, total: f64, mean: f64) -> Bucket {
        Bucket {
            label: label.into(),
            start: format_rfc3339(at(start)),
            count,
            total_seconds: total,
            mean_seconds: mean,
        }
    }

    #[test]
    fn a_scripted_month_gives_every_figure_exactly() {
        let (periods, history) = month();
        let from = at("2025-02-15T00:00");
        let to = at("2025-03-15T00:00");
        let r = report(&periods, &history, from, to);
        assert_eq!(r.from, "2025-02-15T00:00:00.000Z");
        assert_eq!(r.to, "2025-03-15T00:00:00.000Z");

        // In range: 1: 1 h, 2: 1 h, 3: 2.5 h, 4: 0.5 h, 5: 1 h = 6 h. Counted: 2..5.
        assert_eq!(
            r.periods,
            PeriodFigures {
                count: 4,
                total_seconds: 21_600.0,
                mean_seconds: (3_600.0 + 9_000.0 + 1_800.0 + 3_600.0) / 4.0,
                planned_seconds: 3_600.0 + 1_800.0 + 3_600.0,
                unplanned_seconds: 3_600.0 + 9_000.0,
                emergency_seconds: 9_000.0,
                overrun_seconds: 1_800.0 + 1_800.0,
                longest: Some(LongestPeriod {
                    id: 3,
                    start: "2025-02-28T23:00:00.000Z".into(),
                    end: Some("2025-03-01T01:30:00.000Z".into()),
                    seconds: 9_000.0,
                    mode: Mode::Emergency,
                    origin: Origin::Detected,
                    planned: false,
                    reason: "period 3".into(),
                }),
            }
        );
        assert_eq!(
            r.impact,
            ImpactTotals {
                blocked_requests: 10 + 7 + 3,
                sessions_at_start: 5 + 3 + 10,
                invalidated_sessions: 4,
                active_jobs: 2,
            },
            "periods 2 to 5; 1 started before the range, 6 after it"
        );

        // Days: 28, empty ones included.
        assert_eq!(r.per_day.len(), 28);
        assert_eq!(r.per_day[0].label, "2025-02-15");
        assert_eq!(r.per_day[27].label, "2025-03-14");
        let busy: Vec<Bucket> = r
            .per_day
            .iter()
            .filter(|b| b.total_seconds > 0.0 || b.count > 0)
            .cloned()
            .collect();
        assert_eq!(
            busy,
            vec![
                bucket("2025-02-15", "2025-02-15T00:00", 0, 3_600.0, 0.0),
                bucket("2025-02-20", "2025-02-20T00:00", 1, 3_600.0, 3_600.0),
                bucket("2025-02-28", "2025-02-28T00:00", 1, 3_600.0, 9_000.0),
                bucket("2025-03-01", "2025-03-01T00:00", 0, 5_400.0, 0.0),
                bucket("2025-03-03", "2025-03-03T00:00", 1, 1_800.0, 1_800.0),
                bucket("2025-03-14", "2025-03-14T00:00", 1, 3_600.0, 3_600.0),
            ]
        );
        assert!(
            r.per_day
                .iter()
                .all(|b| b.start.ends_with("T00:00:00.000Z"))
        );
        // ISO weeks start on Monday; the first one (from Monday 10 February) is cut by the
        // range, so is the last (to Sunday 16 March).
        assert_eq!(
            r.per_week,
            vec![
                bucket("2025-W07", "2025-02-10T00:00", 0, 3_600.0, 0.0),
                bucket("2025-W08", "2025-02-17T00:00", 1, 3_600.0, 3_600.0),
                bucket("2025-W09", "2025-02-24T00:00", 1, 9_000.0, 9_000.0),
                bucket("2025-W10", "2025-03-03T00:00", 1, 1_800.0, 1_800.0),
                bucket("2025-W11", "2025-03-10T00:00", 1, 3_600.0, 3_600.0),
            ]
        );
        assert_eq!(
            r.per_month,
            vec![
                bucket(
                    "2025-02",
                    "2025-02-01T00:00",
                    2,
                    10_800.0,
                    (3_600.0 + 9_000.0) / 2.0
                ),
                bucket(
                    "2025-03",
                    "2025-03-01T00:00",
                    2,
                    10_800.0,
                    (1_800.0 + 3_600.0) / 2.0
                ),
            ]
        );

        // app: observed all 28 days (2,419,200 s); down: maintenance 1 h (period 2),
        // critical 2.5 h (period 3), maintenance 1 h (period 5). Planned periods: 2, 4, 5 =
        // 9,000 s, in which app was down 2 h; outside them only the critical 2.5 h.
        let app = AvailabilityFigures {
            observed_seconds: 2_419_200.0,
            up_seconds: 2_403_000.0,
            maintenance_seconds: 7_200.0,
            availability: Some(2_403_000.0 / 2_419_200.0),
            observed_outside_planned_seconds: 2_410_200.0,
            up_outside_planned_seconds: 2_401_200.0,
            availability_excluding_planned: Some(2_401_200.0 / 2_410_200.0),
        };
        // db: observed from 1 March (14 days, 1,209,600 s), unknown 1 h; planned periods 4
        // and 5 (5,400 s) fall in its observed time, while it was up.
        let db = AvailabilityFigures {
            observed_seconds: 1_209_600.0,
            up_seconds: 1_206_000.0,
            maintenance_seconds: 0.0,
            availability: Some(1_206_000.0 / 1_209_600.0),
            observed_outside_planned_seconds: 1_204_200.0,
            up_outside_planned_seconds: 1_200_600.0,
            availability_excluding_planned: Some(1_200_600.0 / 1_204_200.0),
        };
        let overall = AvailabilityFigures {
            observed_seconds: 3_628_800.0,
            up_seconds: 3_609_000.0,
            maintenance_seconds: 7_200.0,
            availability: Some(3_609_000.0 / 3_628_800.0),
            observed_outside_planned_seconds: 3_614_400.0,
            up_outside_planned_seconds: 3_601_800.0,
            availability_excluding_planned: Some(3_601_800.0 / 3_614_400.0),
        };
        assert_eq!(
            r.availability,
            Availability {
                overall,
                checks: vec![
                    CheckAvailability {
                        check: "app".into(),
                        figures: app
                    },
                    CheckAvailability {
                        check: "db".into(),
                        figures: db
                    },
                ],
            }
        );
    }

    #[test]
    fn nothing_to_report_gives_zeros_and_no_availability() {
        let from = at("2025-01-01T00:00");
        let r = report(&[], &[("app".into(), vec![])], from, from + H);
        assert_eq!(r.periods.count, 0);
        assert_eq!(r.periods.mean_seconds, 0.0);
        assert_eq!(r.periods.longest, None);
        assert_eq!(r.per_day.len(), 1);
        assert_eq!(r.per_week[0].label, "2025-W01", "Wednesday 1 January 2025");
        assert_eq!(r.per_week[0].start, "2024-12-30T00:00:00.000Z");
        assert_eq!(r.availability.overall.availability, None);
        assert_eq!(
            r.availability.checks[0]
                .figures
                .availability_excluding_planned,
            None
        );
    }

    #[test]
    fn overlapping_planned_periods_are_not_excluded_twice() {
        let from = at("2025-06-01T00:00");
        let to = from + 4 * H;
        let periods = vec![
            period(
                1,
                "2025-06-01T01:00",
                Some("2025-06-01T02:00"),
                None,
                Mode::Normal,
                true,
                Impact::default(),
            ),
            period(
                2,
                "2025-06-01T01:30",
                Some("2025-06-01T02:30"),
                None,
                Mode::Normal,
                true,
                Impact::default(),
            ),
        ];
        let history = vec![("app".to_string(), vec![(from, Status::Maintenance)])];
        let figures = &report(&periods, &history, from, to).availability.checks[0].figures;
        assert_eq!(
            figures.observed_outside_planned_seconds,
            (4 * H - 90 * MIN) as f64 / 1000.0
        );
        assert_eq!(figures.up_seconds, 0.0);
        assert_eq!(figures.availability_excluding_planned, Some(0.0));
    }

    #[test]
    fn iso_week_labels_follow_the_week_year() {
        for (day, label, start) in [
            ("2020-12-31T12:00", "2020-W53", "2020-12-28T00:00"),
            ("2021-01-03T12:00", "2020-W53", "2020-12-28T00:00"),
            ("2021-01-04T00:00", "2021-W01", "2021-01-04T00:00"),
            ("2024-12-30T00:00", "2025-W01", "2024-12-30T00:00"),
            ("2026-12-31T23:59", "2026-W53", "2026-12-28T00:00"),
        ] {
            let s = BucketKind::Week.start(at(day));
            assert_eq!(
                (BucketKind::Week.label(s).as_str(), s),
                (label, at(start)),
                "{day}"
            );
        }
        assert_eq!(
            BucketKind::Month.next(BucketKind::Month.start(at("2024-12-31T23:00"))),
            at("2025-01-01T00:00")
        );
        assert_eq!(
            BucketKind::Month.next(at("2024-02-01T00:00")) - at("2024-02-01T00:00"),
            29 * DAY_MS,
            "leap year"
        );
        for days in [-1_000_000, -1, 0, 59, 10_000, 20_000, 1_000_000] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }
}
