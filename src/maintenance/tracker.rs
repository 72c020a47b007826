//! The maintenance tracker: what is known (the app's status source, 503 + X-Maintenance-Active
//! answers of its checks, planned windows of the config, windows opened by hand) turned into
//! maintenance periods, and the changes people must hear about: started, ended, overrun.
//! Pure: every input is a value and time comes in as `now_ms`, so a scheduled window opening
//! and closing by itself is tested exactly.
//!
//! A period is open while any reason holds: a planned window is open, or the app says it is in
//! maintenance. A planned window that ends while the app still says so keeps the period open
//! (that is an overrun). A change of mode ends the period and starts another, so each period
//! has one mode (and time in emergency mode is exact).

use std::collections::{BTreeMap, HashSet};

use super::windows::active_occurrence;
use super::{Impact, ManualWindow, Mode, Origin, Period};
use crate::clock::UnixMillis;
use crate::config::maintenance::MaintenanceConfig;
use crate::model::{CheckResult, Status};

/// What the app's status source said at one poll.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Reading {
    pub active: bool,
    pub mode: Option<Mode>,
    pub reason: Option<String>,
    pub started_at_ms: Option<UnixMillis>,
    pub estimated_end_ms: Option<UnixMillis>,
    pub blocked_operations: Vec<String>,
    pub active_jobs: Option<u64>,
    pub invalidated_sessions: Option<u64>,
    /// The app's own (cumulative) count of refused requests.
    pub blocked_requests: Option<u64>,
}

/// News about maintenance, for the store, the timeline and the notifiers.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// A period opened (store it: it has no id yet).
    Started(Period),
    /// The open period's planned end, impact or planned flag changed (save it).
    Updated(Period),
    /// Still in maintenance past the planned end + `overrun_tolerance` (told once per planned end).
    Overrun(Period),
    /// The period closed.
    Ended(Period),
}

/// Why maintenance is on right now, if it is.
#[derive(Debug, Clone, PartialEq)]
struct Wanted {
    origin: Origin,
    mode: Mode,
    reason: String,
    /// `reason` only repeats what the app answered (no one gave a reason).
    generic_reason: bool,
    planned: bool,
    planned_end_ms: Option<UnixMillis>,
}

pub struct Tracker {
    config: MaintenanceConfig,
    /// The latest reading of the status source (kept while the source cannot be read: an app
    /// that is down in the middle of its maintenance is still in maintenance).
    reading: Option<Reading>,
    /// The app's refused-request counter when the open period started.
    blocked_base: Option<u64>,
    /// Checks whose latest result says the app answered "in maintenance", with that answer.
    answering_maintenance: BTreeMap<String, String>,
    /// The app's checks (`maintenance::affected_checks`): only their answers speak for the app.
    app_checks: HashSet<String>,
    manual: Vec<ManualWindow>,
    /// The latest session count (sum over the session checks).
    sessions: BTreeMap<String, f64>,
    open: Option<Period>,
    /// The planned end the overrun was told for (a later one, after `extend`, is told again).
    overrun_told_for: Option<UnixMillis>,
    /// A period restored at start-up is not closed before this: its source has not been read
    /// yet, and closing on no news would end a period that is still on.
    hold_until_ms: UnixMillis,
}

impl Tracker {
    pub fn new(config: &MaintenanceConfig) -> Tracker {
        Tracker {
            config: config.clone(),
            reading: None,
            blocked_base: None,
            answering_maintenance: BTreeMap::new(),
            app_checks: HashSet::new(),
            manual: Vec::new(),
            sessions: BTreeMap::new(),
            open: None,
            overrun_told_for: None,
            hold_until_ms: 0,
        }
    }

    pub fn reconfigure(&mut self, config: &MaintenanceConfig) {
        if config.source.is_none() {
            self.reading = None;
        }
        self.config = config.clone();
    }

    /// Carries on with the period that was open when Lookout stopped; it is not ended before
    /// `hold_until_ms` (the first reading of the source and of the checks).
    pub fn restore(&mut self, open: Option<Period>, hold_until_ms: UnixMillis) {
        self.overrun_told_for = open
            .as_ref()
            .and_then(|p| p.planned_end_ms)
            .filter(|end| hold_until_ms > end + self.tolerance_ms());
        self.open = open;
        self.hold_until_ms = hold_until_ms;
    }

    /// The store gave the open period its id.
    pub fn stored(&mut self, id: i64) {
        if let Some(period) = &mut self.open {
            period.id = id;
        }
    }

    pub fn open(&self) -> Option<&Period> {
        self.open.as_ref()
    }

    /// A new reading of the status source.
    pub fn read(&mut self, reading: Reading) {
        self.reading = Some(reading);
    }

    pub fn set_manual_windows(&mut self, windows: Vec<ManualWindow>) {
        self.manual = windows;
    }

    /// The app's checks: a maintenance answer of another check (another app behind the same
    /// Lookout) says nothing about this app.
    pub fn set_app_checks(&mut self, checks: HashSet<String>) {
        self.answering_maintenance
            .retain(|check, _| checks.contains(check));
        self.app_checks = checks;
    }

    /// A check result as the check found it (before maintenance marked it): an answer saying
    /// "in maintenance" means the app is in maintenance, and is one refused request.
    pub fn observe_check(&mut self, result: &CheckResult) {
        if !self.app_checks.contains(&result.check) {
            return;
        }
        if result.found() == Status::Maintenance {
            self.answering_maintenance
                .insert(result.check.clone(), result.detail.clone());
            if let Some(period) = &mut self.open {
                period.impact.blocked_requests_seen += 1;
            }
        } else {
            self.answering_maintenance.remove(&result.check);
        }
    }

    /// A session count of a session check (`redis_sessions` of check `check`).
    pub fn observe_sessions(&mut self, check: &str, count: f64) {
        let counted = match &self.config.sessions_check {
            Some(name) => name == check,
            None => true,
        };
        if counted {
            self.sessions.insert(check.to_string(), count);
        }
    }

    fn tolerance_ms(&self) -> i64 {
        self.config.overrun_tolerance.as_millis() as i64
    }

    /// The app says it is in maintenance while no period is open yet: a window may have just
    /// been opened by hand for it (re-read them first, or the period would start unplanned).
    pub fn about_to_detect(&self) -> bool {
        self.open.is_none()
            && (self.reading.as_ref().is_some_and(|r| r.active)
                || !self.answering_maintenance.is_empty())
    }

    /// Moves time on: opens, updates, ends periods.
    pub fn evaluate(&mut self, now_ms: UnixMillis) -> Vec<Change> {
        let mut changes = Vec::new();
        let wanted = self.wanted(now_ms);
        match (self.open.take(), wanted) {
            (None, None) => {}
            (None, Some(wanted)) => changes.push(self.start(wanted, now_ms)),
            (Some(period), None) if now_ms < self.hold_until_ms => self.open = Some(period),
            (Some(period), None) => changes.push(self.end(period, now_ms)),
            (Some(period), Some(wanted)) if wanted.mode != period.mode => {
                changes.push(self.end(period, now_ms));
                changes.push(self.start(wanted, now_ms));
            }
            (Some(mut period), Some(wanted)) => {
                let before = period.clone();
                period.planned |= wanted.planned;
                // A planned window keeps its end even after it closed: the period is past it.
                if wanted.planned_end_ms.is_some() {
                    period.planned_end_ms = wanted.planned_end_ms;
                }
                // The best reason known now: the app's own, else a window's (an admin who plans
                // a detected period after the fact names it), else what the app answered.
                if !wanted.generic_reason {
                    period.reason = wanted.reason;
                }
                self.update_impact(&mut period);
                if period != before {
                    changes.push(Change::Updated(period.clone()));
                }
                self.open = Some(period);
            }
        }
        if let Some(period) = &self.open
            && let Some(planned_end) = period.planned_end_ms
            && now_ms >= planned_end + self.tolerance_ms()
            && self.overrun_told_for != Some(planned_end)
        {
            self.overrun_told_for = Some(planned_end);
            changes.push(Change::Overrun(period.clone()));
        }
        changes
    }

    fn start(&mut self, wanted: Wanted, now_ms: UnixMillis) -> Change {
        let reading = self.reading.as_ref().filter(|r| r.active);
        // The app may know better when it started (it was seen one poll later).
        let start_ms = reading
            .and_then(|r| r.started_at_ms)
            .filter(|at| *at <= now_ms && now_ms - at <= 10 * 60_000)
            .filter(|_| wanted.origin == Origin::Detected)
            .unwrap_or(now_ms);
        self.blocked_base = reading.and_then(|r| r.blocked_requests);
        let mut period = Period {
            id: 0,
            start_ms,
            end_ms: None,
            planned_end_ms: wanted.planned_end_ms,
            mode: wanted.mode,
            reason: wanted.reason,
            origin: wanted.origin,
            planned: wanted.planned,
            impact: Impact {
                sessions_at_start: (!self.sessions.is_empty())
                    .then(|| self.sessions.values().sum::<f64>().max(0.0) as u64),
                ..Impact::default()
            },
            muted: Vec::new(),
        };
        self.update_impact(&mut period);
        self.overrun_told_for = None;
        self.open = Some(period.clone());
        Change::Started(period)
    }

    fn end(&mut self, mut period: Period, now_ms: UnixMillis) -> Change {
        self.update_impact(&mut period);
        period.end_ms = Some(now_ms);
        self.blocked_base = None;
        Change::Ended(period)
    }

    /// What the source says about the users, folded into the period: the most jobs and
    /// invalidated sessions it reported, the refused requests since the start.
    fn update_impact(&self, period: &mut Period) {
        let Some(reading) = self.reading.as_ref().filter(|r| r.active) else {
            period.impact.blocked_requests = period.impact.blocked_requests_seen;
            return;
        };
        let impact = &mut period.impact;
        impact.active_jobs = max_known(impact.active_jobs, reading.active_jobs);
        impact.invalidated_sessions =
            max_known(impact.invalidated_sessions, reading.invalidated_sessions);
        for operation in &reading.blocked_operations {
            if !impact.blocked_operations.contains(operation) {
                impact.blocked_operations.push(operation.clone());
            }
        }
        impact.blocked_requests = match (reading.blocked_requests, self.blocked_base) {
            (Some(now), Some(base)) => now.saturating_sub(base),
            (Some(now), None) => now,
            _ => impact.blocked_requests_seen,
        };
    }

    /// Why maintenance should be on now, strongest reason first: the app's own word gives
    /// the mode; an open planned window gives the planned end and makes it planned.
    fn wanted(&self, now_ms: UnixMillis) -> Option<Wanted> {
        let manual = self
            .manual
            .iter()
            .filter(|w| w.is_active(now_ms))
            .max_by_key(|w| w.ends_ms());
        let configured = self
            .config
            .windows
            .iter()
            .filter_map(|w| active_occurrence(w, now_ms).map(|(_, end)| (w, end)))
            .max_by_key(|(_, end)| *end);
        let reading = self.reading.as_ref().filter(|r| r.active);
        let answering = self.answering_maintenance.iter().next();
        let planned_end_ms = match (manual, configured) {
            (Some(m), Some((_, end))) => Some(m.ends_ms().max(end)),
            (Some(m), None) => Some(m.ends_ms()),
            (None, Some((_, end))) => Some(end),
            (None, None) => None,
        };
        let planned = planned_end_ms.is_some();
        let (origin, window_mode, window_reason) = if let Some(m) = manual {
            (m.origin, Some(m.mode), Some(m.reason.clone()))
        } else if let Some((w, _)) = configured {
            (Origin::Planned, Some(w.mode), Some(w.reason.clone()))
        } else if reading.is_some() || answering.is_some() {
            (Origin::Detected, None, None)
        } else {
            return None;
        };
        let mode = reading
            .and_then(|r| r.mode)
            .or(window_mode)
            .or_else(|| answering.and_then(|(_, detail)| mode_in_detail(detail)))
            .unwrap_or(Mode::Normal);
        let given = reading
            .and_then(|r| r.reason.clone())
            .filter(|r| !r.trim().is_empty())
            .or(window_reason);
        let generic_reason = given.is_none();
        let reason = given.unwrap_or_else(|| match answering {
            Some((check, detail)) => format!("the app answers {check}: {detail}"),
            None => "the app reports maintenance".to_string(),
        });
        Some(Wanted {
            origin,
            mode,
            reason,
            generic_reason,
            planned,
            planned_end_ms: planned_end_ms.or_else(|| reading.and_then(|r| r.estimated_end_ms)),
        })
    }
}

fn max_known(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

/// "in maintenance (mode emergency, retry after 1800 s)" -> emergency.
fn mode_in_detail(detail: &str) -> Option<Mode> {
    let rest = detail.split("mode ").nth(1)?;
    Mode::parse(rest.split([',', ')', ' ']).next()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::maintenance::{WindowConfig, WindowSchedule};
    use crate::model::Layer;
    use std::time::Duration;

    const MIN: i64 = 60_000;

    fn tracker() -> Tracker {
        let mut tracker = Tracker::new(&MaintenanceConfig::default());
        tracker.set_app_checks(["app".to_string()].into());
        tracker
    }

    fn reading(active: bool, mode: Mode) -> Reading {
        Reading {
            active,
            mode: Some(mode),
            reason: Some("database upgrade".into()),
            active_jobs: Some(3),
            ..Reading::default()
        }
    }

    fn result(status: Status, detail: &str) -> CheckResult {
        CheckResult {
            check: "app".into(),
            layer: Layer::Application,
            status,
            value: None,
            detail: detail.into(),
            at_ms: 0,
            underlying: None,
        }
    }

    fn started(changes: &[Change]) -> &Period {
        match changes {
            [Change::Started(p)] => p,
            other => panic!("expected one start, got {other:?}"),
        }
    }

    fn ended(changes: &[Change]) -> &Period {
        match changes {
            [Change::Ended(p)] => p,
            other => panic!("expected one end, got {other:?}"),
        }
    }

    #[test]
    fn the_apps_own_word_opens_and_closes_an_unplanned_period() {
        let mut t = tracker();
        t.observe_sessions("redis", 42.0);
        assert!(t.evaluate(0).is_empty());
        t.read(reading(true, Mode::Emergency));
        let p = started(&t.evaluate(MIN)).clone();
        assert_eq!(
            (p.start_ms, p.mode, p.origin, p.planned, p.reason.as_str()),
            (
                MIN,
                Mode::Emergency,
                Origin::Detected,
                false,
                "database upgrade"
            )
        );
        assert_eq!(p.impact.sessions_at_start, Some(42));
        assert_eq!(p.impact.active_jobs, Some(3));
        assert!(t.evaluate(2 * MIN).is_empty(), "nothing new");
        t.read(reading(false, Mode::Emergency));
        let p = ended(&t.evaluate(11 * MIN)).clone();
        assert_eq!(
            (p.end_ms, p.duration(0)),
            (Some(11 * MIN), Duration::from_secs(600))
        );
        assert!(t.open().is_none());
    }

    #[test]
    fn the_apps_start_time_and_estimated_end_shape_the_detected_period() {
        // Seen one poll late: the app's own started_at is when it began, and its estimated
        // end is the planned end the overrun warning is measured against.
        let mut t = tracker();
        t.read(Reading {
            started_at_ms: Some(3 * MIN),
            estimated_end_ms: Some(34 * MIN),
            ..reading(true, Mode::Normal)
        });
        let p = started(&t.evaluate(4 * MIN)).clone();
        assert_eq!(
            (p.start_ms, p.planned_end_ms, p.origin, p.planned),
            (3 * MIN, Some(34 * MIN), Origin::Detected, false)
        );
        assert!(
            t.evaluate(33 * MIN).is_empty(),
            "not overrun before the end"
        );
        assert!(
            t.evaluate(40 * MIN)
                .iter()
                .any(|c| matches!(c, Change::Overrun(_))),
            "overrun is measured against the app's estimated end"
        );

        // A start time from the future, or from long before it was seen, is not believed.
        for started_at in [5 * MIN, -20 * MIN] {
            let mut t = tracker();
            t.read(Reading {
                started_at_ms: Some(started_at),
                ..reading(true, Mode::Normal)
            });
            assert_eq!(started(&t.evaluate(4 * MIN)).start_ms, 4 * MIN);
        }
    }

    #[test]
    fn a_503_maintenance_answer_is_maintenance_and_counts_as_a_refused_request() {
        let mut t = tracker();
        t.observe_check(&result(
            Status::Maintenance,
            "in maintenance (mode test, HTTP 503)",
        ));
        let p = started(&t.evaluate(0)).clone();
        assert_eq!((p.mode, p.origin), (Mode::Test, Origin::Detected));
        assert_eq!(
            p.reason,
            "the app answers app: in maintenance (mode test, HTTP 503)"
        );
        t.observe_check(&result(
            Status::Maintenance,
            "in maintenance (mode test, HTTP 503)",
        ));
        t.observe_check(&result(Status::Ok, "HTTP 200"));
        let p = ended(&t.evaluate(MIN)).clone();
        assert_eq!(
            p.impact.blocked_requests, 1,
            "the second answer; the first opened it"
        );
    }

    #[test]
    fn another_apps_maintenance_answer_is_not_this_apps_maintenance() {
        let mut t = tracker();
        let mut other = result(Status::Maintenance, "in maintenance (HTTP 503)");
        other.check = "shop".into();
        t.observe_check(&other);
        assert!(t.evaluate(0).is_empty());
    }

    #[test]
    fn a_result_marked_by_maintenance_does_not_keep_maintenance_on() {
        let mut t = tracker();
        let mut marked = result(
            Status::Maintenance,
            "maintenance (normal mode): critical HTTP 500",
        );
        marked.underlying = Some(Status::Critical);
        t.observe_check(&marked);
        assert!(t.evaluate(0).is_empty());
    }

    #[test]
    fn a_scheduled_window_opens_and_closes_by_itself() {
        let config = MaintenanceConfig {
            windows: vec![WindowConfig {
                name: "weekly".into(),
                schedule: WindowSchedule::Cron {
                    expression: "0 2 * * SUN".into(),
                    timezone: "UTC".into(),
                },
                duration: Duration::from_secs(3600),
                mode: Mode::Normal,
                reason: "weekly patching".into(),
            }],
            ..MaintenanceConfig::default()
        };
        let mut t = Tracker::new(&config);
        let sunday_2am: i64 = "2026-12-06T02:00:00Z"
            .parse::<jiff::Timestamp>()
            .unwrap()
            .as_millisecond();
        assert!(t.evaluate(sunday_2am - 1).is_empty());
        let p = started(&t.evaluate(sunday_2am)).clone();
        assert_eq!(
            (p.origin, p.planned, p.planned_end_ms, p.reason.as_str()),
            (
                Origin::Planned,
                true,
                Some(sunday_2am + 60 * MIN),
                "weekly patching"
            )
        );
        assert!(t.evaluate(sunday_2am + 59 * MIN).is_empty());
        let p = ended(&t.evaluate(sunday_2am + 60 * MIN)).clone();
        assert_eq!(p.overrun(0), Duration::ZERO);
    }

    #[test]
    fn overrun_is_told_once_per_planned_end_and_the_app_keeps_the_period_open() {
        let mut t = tracker();
        t.set_manual_windows(vec![ManualWindow {
            id: 1,
            start_ms: 0,
            end_ms: 30 * MIN,
            mode: Mode::Normal,
            reason: "upgrade".into(),
            origin: Origin::Cli,
            author: "ops".into(),
            stopped_ms: None,
            created_ms: 0,
        }]);
        t.read(reading(true, Mode::Normal));
        let p = started(&t.evaluate(0)).clone();
        assert_eq!(
            (p.origin, p.planned, p.reason.as_str()),
            (Origin::Cli, true, "database upgrade")
        );
        // The window closed at 30 min but the app is still in maintenance: tolerance 5 min.
        assert!(t.evaluate(34 * MIN).is_empty());
        match t.evaluate(35 * MIN).as_slice() {
            [Change::Overrun(p)] => assert_eq!(p.overrun(35 * MIN), Duration::from_secs(300)),
            other => panic!("{other:?}"),
        }
        assert!(t.evaluate(36 * MIN).is_empty(), "told once");
        t.read(reading(false, Mode::Normal));
        let p = ended(&t.evaluate(40 * MIN)).clone();
        assert_eq!(p.overrun(0), Duration::from_secs(600));
    }

    #[test]
    fn a_mode_change_ends_one_period_and_starts_another() {
        let mut t = tracker();
        t.read(reading(true, Mode::Normal));
        started(&t.evaluate(0));
        t.read(reading(true, Mode::Emergency));
        match t.evaluate(MIN).as_slice() {
            [Change::Ended(a), Change::Started(b)] => {
                assert_eq!((a.mode, a.end_ms), (Mode::Normal, Some(MIN)));
                assert_eq!((b.mode, b.start_ms), (Mode::Emergency, MIN));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_restored_period_waits_for_the_first_readings_before_ending() {
        let mut t = tracker();
        t.restore(
            Some(Period {
                id: 7,
                start_ms: 0,
                end_ms: None,
                planned_end_ms: None,
                mode: Mode::Normal,
                reason: "upgrade".into(),
                origin: Origin::Detected,
                planned: false,
                impact: Impact::default(),
                muted: Vec::new(),
            }),
            MIN,
        );
        assert!(t.evaluate(MIN - 1).is_empty(), "no news yet is not the end");
        assert_eq!(ended(&t.evaluate(MIN)).id, 7);
    }

    #[test]
    fn the_apps_refused_request_counter_counts_from_the_start() {
        let mut t = tracker();
        t.read(Reading {
            blocked_requests: Some(100),
            ..reading(true, Mode::Normal)
        });
        started(&t.evaluate(0));
        t.read(Reading {
            blocked_requests: Some(130),
            ..reading(true, Mode::Normal)
        });
        match t.evaluate(MIN).as_slice() {
            [Change::Updated(p)] => assert_eq!(p.impact.blocked_requests, 30),
            other => panic!("{other:?}"),
        }
    }
}
