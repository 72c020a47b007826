//! Maintenance: knowing when the monitored app is in maintenance, recording each period, and
//! keeping alerts honest about it.
//!
//! sources (status endpoint, SQL, Redis; `source.rs`) + 503 answers of checks + planned
//! windows (`windows.rs`) + windows opened by hand (store) --> `tracker` (pure: periods,
//! started / ended / overrun) --> the daemon's maintenance loop (`daemon/maintenance.rs`)
//! stores periods, puts events on the bus, hands `notices` to the outbox and updates
//! `MaintenanceMute`: the alert engine's mute source and the marker of check results.
//!
//! Around it: `control` runs the configured steps that switch the app's own maintenance mode
//! (`lookout maintenance start|stop`), and `report` (pure) computes the figures of `lookout
//! report` from the stored periods and check history.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::alert::MuteSource;
use crate::alert::mute::MuteReason;
use crate::clock::{UnixMillis, format_rfc3339};
use crate::config::{Config, RuleConfig};
use crate::model::{Layer, Observation, Status};

pub mod control;
pub mod manual;
pub mod notices;
pub mod report;
pub mod source;
pub mod tracker;
pub mod windows;

pub use crate::config::maintenance::Mode;

/// How Lookout learnt of a period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    /// The app said so (its status source, or a 503 with X-Maintenance-Active).
    Detected,
    /// A `[[maintenance.window]]` of the config.
    Planned,
    /// `lookout maintenance start`.
    Cli,
    /// An admin on the dashboard.
    Dashboard,
}

impl Origin {
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Detected => "detected",
            Origin::Planned => "planned",
            Origin::Cli => "cli",
            Origin::Dashboard => "dashboard",
        }
    }

    pub fn parse(text: &str) -> Option<Origin> {
        match text {
            "detected" => Some(Origin::Detected),
            "planned" => Some(Origin::Planned),
            "cli" => Some(Origin::Cli),
            "dashboard" => Some(Origin::Dashboard),
            _ => None,
        }
    }
}

/// What a period cost the users, as far as Lookout could see. `None`: not known (no source
/// reports it).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Impact {
    /// Requests or operations refused: the app's own counter when its source reports one,
    /// otherwise the maintenance answers (503 + X-Maintenance-Active) Lookout's checks got.
    pub blocked_requests: u64,
    /// The maintenance answers (503 + X-Maintenance-Active) Lookout's own checks got.
    #[serde(default)]
    pub blocked_requests_seen: u64,
    /// Active sessions when the period started (the Redis session count).
    pub sessions_at_start: Option<u64>,
    /// Jobs running when the period started (the most the source reported).
    pub active_jobs: Option<u64>,
    /// Sessions the app invalidated (the most the source reported).
    pub invalidated_sessions: Option<u64>,
    /// Operation classes the app blocked (as its source reported them).
    pub blocked_operations: Vec<String>,
}

/// One maintenance period, open while `end_ms` is `None`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Period {
    /// The store's id; 0 until stored.
    pub id: i64,
    pub start_ms: UnixMillis,
    pub end_ms: Option<UnixMillis>,
    /// When it was planned to end (a window's end, or the app's estimated completion).
    pub planned_end_ms: Option<UnixMillis>,
    pub mode: Mode,
    pub reason: String,
    /// How Lookout first learnt of it.
    pub origin: Origin,
    /// A planned window (config, CLI or dashboard) covered it; otherwise it is "unplanned
    /// maintenance".
    pub planned: bool,
    pub impact: Impact,
    /// Summaries of the alerts muted because of it (filled in when it ends).
    pub muted: Vec<String>,
}

impl Period {
    /// How long past its planned end an open period runs at `now_ms` (zero when not).
    pub fn overrun(&self, now_ms: UnixMillis) -> Duration {
        let end = self.end_ms.unwrap_or(now_ms);
        match self.planned_end_ms {
            Some(planned) if end > planned => {
                Duration::from_millis(end.saturating_sub(planned) as u64)
            }
            _ => Duration::ZERO,
        }
    }

    /// How long it lasted (so far, for an open one).
    pub fn duration(&self, now_ms: UnixMillis) -> Duration {
        let end = self.end_ms.unwrap_or(now_ms);
        Duration::from_millis(end.saturating_sub(self.start_ms).max(0) as u64)
    }
}

/// A window opened by hand (`lookout maintenance start`, the dashboard); stored, so the
/// daemon and every CLI call see the same ones.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManualWindow {
    /// The store's id; 0 until stored.
    pub id: i64,
    pub start_ms: UnixMillis,
    /// The planned end (moved by `extend`).
    pub end_ms: UnixMillis,
    pub mode: Mode,
    pub reason: String,
    /// `Cli` or `Dashboard`.
    pub origin: Origin,
    /// Who opened it (the Unix user, or the dashboard user).
    pub author: String,
    /// Set by `stop`: the window ended early.
    pub stopped_ms: Option<UnixMillis>,
    pub created_ms: UnixMillis,
}

impl ManualWindow {
    /// Its effective end: stopped, or planned.
    pub fn ends_ms(&self) -> UnixMillis {
        self.stopped_ms.map_or(self.end_ms, |s| s.min(self.end_ms))
    }

    pub fn is_active(&self, now_ms: UnixMillis) -> bool {
        self.start_ms <= now_ms && now_ms < self.ends_ms()
    }
}

/// The maintenance state the pipeline reads: the open period, if any, when the last one
/// ended (alerts caused by maintenance may trail it by a little), and the checks it affects.
#[derive(Debug, Default)]
struct Current {
    open: Option<Period>,
    last_end_ms: Option<UnixMillis>,
    affected_checks: HashSet<String>,
    grace: Duration,
}

/// The maintenance state shared by the pipeline, written by the maintenance tracker:
/// - the `MuteSource` of the alert engine: rules marked `maintenance_affected` are muted while
///   a period is open and for the grace after it ends; every other rule keeps alerting;
/// - `mark`, applied to each observation before it is published: results of affected checks
///   carry status "maintenance" while a period is open (what the check found is kept in
///   `underlying`, which the alert engine goes by).
#[derive(Debug, Clone, Default)]
pub struct MaintenanceMute {
    current: Arc<RwLock<Current>>,
}

impl MaintenanceMute {
    pub fn new(grace: Duration) -> MaintenanceMute {
        let mute = MaintenanceMute::default();
        mute.configure(grace, HashSet::new());
        mute
    }

    /// The grace after a period and the checks it affects (from the config; again on reload).
    pub fn configure(&self, grace: Duration, affected_checks: HashSet<String>) {
        if let Ok(mut current) = self.current.write() {
            current.grace = grace;
            current.affected_checks = affected_checks;
        }
    }

    /// A period starts (or the open one is replaced: a mode change, a new reason).
    pub fn start(&self, period: Period) {
        if let Ok(mut current) = self.current.write() {
            current.open = Some(period);
        }
    }

    /// The open period ends at `at_ms`; returns it, closed.
    pub fn end(&self, at_ms: UnixMillis) -> Option<Period> {
        let mut current = self.current.write().ok()?;
        let mut period = current.open.take()?;
        period.end_ms = Some(at_ms);
        current.last_end_ms = Some(at_ms);
        Some(period)
    }

    pub fn open(&self) -> Option<Period> {
        self.current.read().ok().and_then(|c| c.open.clone())
    }

    /// Marks the results of affected checks as "maintenance" while a period is open.
    pub fn mark(&self, observation: &mut Observation) {
        let Ok(current) = self.current.read() else {
            return;
        };
        let Some(period) = &current.open else {
            return;
        };
        for result in &mut observation.checks {
            if result.underlying.is_some() || !current.affected_checks.contains(&result.check) {
                continue;
            }
            result.underlying = Some(result.status);
            if result.status != Status::Maintenance {
                result.detail = format!(
                    "maintenance ({} mode): {} {}",
                    period.mode.as_str(),
                    result.status.as_str(),
                    result.detail
                );
                result.status = Status::Maintenance;
            }
        }
    }
}

/// The checks maintenance affects: `maintenance.checks` when set; otherwise every
/// application-layer check and every check that depends on one, transitively.
pub fn affected_checks(config: &Config) -> HashSet<String> {
    if let Some(names) = &config.maintenance.checks {
        return names.iter().cloned().collect();
    }
    let mut affected: HashSet<String> = config
        .checks
        .iter()
        .filter(|c| c.layer == Layer::Application)
        .map(|c| c.name.clone())
        .collect();
    loop {
        let before = affected.len();
        for check in &config.checks {
            if check.depends_on.iter().any(|d| affected.contains(d)) {
                affected.insert(check.name.clone());
            }
        }
        if affected.len() == before {
            return affected;
        }
    }
}

impl MuteSource for MaintenanceMute {
    /// Mutes a `maintenance_affected` rule's alert unless it is about a check maintenance does
    /// not affect: a database or Redis check failing during maintenance is still told.
    fn mutes(
        &self,
        rule: &RuleConfig,
        labels: &BTreeMap<String, String>,
        now_ms: UnixMillis,
    ) -> Option<MuteReason> {
        if !rule.maintenance_affected {
            return None;
        }
        let current = self.current.read().ok()?;
        if let Some(check) = labels.get("check")
            && !current.affected_checks.contains(check)
        {
            return None;
        }
        if let Some(period) = &current.open {
            let until = period
                .planned_end_ms
                .map(|end| format!(", planned until {}", format_rfc3339(end)))
                .unwrap_or_default();
            return Some(MuteReason::Maintenance {
                detail: format!("({} mode: {}{until})", period.mode.as_str(), period.reason),
            });
        }
        let ended = current.last_end_ms?;
        let grace_ms = current.grace.as_millis() as i64;
        // A stable text (not "ended 10s ago"): the engine stores the reason when it changes.
        (now_ms < ended + grace_ms).then(|| MuteReason::Maintenance {
            detail: format!(
                "ended at {} (grace {}, until {})",
                format_rfc3339(ended),
                humantime::format_duration(current.grace),
                format_rfc3339(ended + grace_ms)
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::alerts::builtin_rules;

    const MIN: i64 = 60_000;

    fn rule(name: &str) -> RuleConfig {
        builtin_rules()
            .into_iter()
            .find(|r| r.name == name)
            .unwrap()
    }

    fn period(start_ms: i64) -> Period {
        Period {
            id: 0,
            start_ms,
            end_ms: None,
            planned_end_ms: Some(start_ms + 30 * MIN),
            mode: Mode::Normal,
            reason: "database upgrade".into(),
            origin: Origin::Cli,
            planned: true,
            impact: Impact::default(),
            muted: Vec::new(),
        }
    }

    #[test]
    fn mutes_affected_rules_while_open_and_for_the_grace_after() {
        let mute = MaintenanceMute::new(Duration::from_secs(120));
        let none = BTreeMap::new();
        let app = rule("check_failed");
        let disk = rule("disk_usage");
        assert_eq!(mute.mutes(&app, &none, 0), None, "no maintenance yet");
        mute.start(period(0));
        assert_eq!(
            mute.mutes(&app, &none, MIN)
                .map(|r| r.to_string())
                .as_deref(),
            Some(
                "maintenance (normal mode: database upgrade, planned until 1970-01-01T00:30:00.000Z)"
            )
        );
        assert_eq!(mute.mutes(&disk, &none, MIN), None, "disk keeps alerting");
        let db: BTreeMap<String, String> = [("check".to_string(), "db".to_string())].into();
        assert_eq!(
            mute.mutes(&app, &db, MIN),
            None,
            "a check maintenance does not affect keeps alerting"
        );
        let ended = mute.end(10 * MIN).unwrap();
        assert_eq!(ended.end_ms, Some(10 * MIN));
        assert_eq!(
            mute.mutes(&app, &none, 11 * MIN)
                .map(|r| r.to_string())
                .as_deref(),
            Some(
                "maintenance ended at 1970-01-01T00:10:00.000Z (grace 2m, until 1970-01-01T00:12:00.000Z)"
            )
        );
        assert_eq!(mute.mutes(&app, &none, 12 * MIN), None, "grace is over");
        assert!(mute.open().is_none());
    }

    #[test]
    fn overrun_is_the_time_past_the_planned_end() {
        let mut p = period(0);
        assert_eq!(p.overrun(20 * MIN), Duration::ZERO);
        assert_eq!(p.overrun(35 * MIN), Duration::from_secs(5 * 60));
        p.end_ms = Some(31 * MIN);
        assert_eq!(
            p.overrun(50 * MIN),
            Duration::from_secs(60),
            "a closed period stops counting"
        );
        p.planned_end_ms = None;
        assert_eq!(p.overrun(50 * MIN), Duration::ZERO, "unplanned: no overrun");
    }

    #[test]
    fn plugs_into_the_alert_engine() {
        // The engine asks its mute sources for every notice: a check failure during
        // maintenance is recorded as muted, a disk alert is not.
        let config = crate::config::embedded_default();
        let mut engine = crate::alert::Engine::new(&config, 0);
        let mute = MaintenanceMute::new(Duration::from_secs(120));
        mute.configure(Duration::from_secs(120), ["app".to_string()].into());
        mute.start(period(0));
        engine.add_mute_source(Arc::new(mute));
        let observation = crate::model::Observation {
            source: "check:app".into(),
            at_ms: MIN,
            samples: Vec::new(),
            checks: vec![crate::model::CheckResult {
                underlying: None,
                check: "app".into(),
                layer: crate::model::Layer::Application,
                status: crate::model::Status::Critical,
                value: None,
                detail: "HTTP 500".into(),
                at_ms: MIN,
            }],
        };
        // `app` is not a [[check]] of the default config: give it a type so check_failed applies.
        let mut config = config.clone();
        config.checks = crate::config::from_str(
            "[[check]]\nname = \"app\"\ntype = \"tcp\"\naddress = \"127.0.0.1:1\"\n",
            "t.toml",
            &crate::config::test_support::no_env,
        )
        .unwrap()
        .checks;
        engine.reconfigure(&config, MIN);
        let batch = engine.observe(&observation, MIN);
        assert_eq!(batch.history.len(), 1);
        let muted_by = crate::alert::mute::text(batch.history[0].muted_by.as_ref());
        assert!(
            muted_by.starts_with("maintenance (normal mode"),
            "{muted_by}"
        );
        assert!(batch.outbox.is_empty());
    }

    #[test]
    fn affected_checks_are_the_apps_and_what_depends_on_them_transitively() {
        let config = crate::config::from_str(
            "[[check]]\nname = \"app\"\ntype = \"http\"\nurl = \"http://127.0.0.1:1/\"\n\
             [[check]]\nname = \"worker\"\ntype = \"tcp\"\naddress = \"127.0.0.1:2\"\nlayer = \"business\"\ndepends_on = [\"app\"]\n\
             [[check]]\nname = \"signups\"\ntype = \"tcp\"\naddress = \"127.0.0.1:3\"\nlayer = \"business\"\ndepends_on = [\"worker\"]\n\
             [[check]]\nname = \"db\"\ntype = \"tcp\"\naddress = \"127.0.0.1:4\"\nlayer = \"database\"\n\
             [[check]]\nname = \"cache\"\ntype = \"tcp\"\naddress = \"127.0.0.1:5\"\nlayer = \"redis\"\n",
            "t.toml",
            &crate::config::test_support::no_env,
        )
        .unwrap();
        let affected = affected_checks(&config);
        let expected: HashSet<String> = ["app", "worker", "signups"]
            .into_iter()
            .map(String::from)
            .collect();
        assert_eq!(
            affected, expected,
            "the app, and what depends on it, not db or cache"
        );

        // `[maintenance] checks = [...]` names them instead.
        let mut named = config.clone();
        named.maintenance.checks = Some(vec!["db".into()]);
        assert_eq!(affected_checks(&named), ["db".to_string()].into());
    }
}
