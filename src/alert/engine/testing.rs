//! What the engine's tests share: a config with the checks `db` and `app` (which depends on
//! `db`), engines made from it, observations, and a `Receiver` that applies outbox rows as
//! the store and the outbox worker do.

pub(super) use std::collections::BTreeMap;
pub(super) use std::sync::Arc;

pub(super) use super::Engine;
pub(super) use crate::alert::Severity;
pub(super) use crate::alert::matcher::Matcher;
pub(super) use crate::alert::mute::{MuteReason, MuteSource, text};
pub(super) use crate::alert::records::{AlertBatch, OutboxEntry};
pub(super) use crate::alert::silence::Silence;
pub(super) use crate::clock::UnixMillis;
pub(super) use crate::config::test_support::no_env;
pub(super) use crate::config::{Config, RuleConfig};
pub(super) use crate::model::{AlertNotice, NoticeKind};
pub(super) use crate::model::{CheckResult, Layer, Observation, Sample, SeriesKey, Status};

pub(super) const S: i64 = 1_000;
pub(super) const MIN: i64 = 60 * S;

pub(super) fn config(extra: &str) -> Config {
    let text = format!(
        r#"
[[check]]
name = "db"
type = "tcp"
address = "127.0.0.1:5432"
interval = "30s"

[[check]]
name = "app"
type = "tcp"
address = "127.0.0.1:5000"
interval = "30s"
depends_on = ["db"]
{extra}
"#
    );
    let mut config = crate::config::from_str(&text, "lookout.toml", &no_env).unwrap();
    config.alerts.host = "web1".to_string();
    config
}

pub(super) fn engine(now_ms: i64) -> Engine {
    let mut engine = Engine::new(&config(""), now_ms);
    engine.notifiers = vec!["mail".to_string(), "hook".to_string()];
    engine
}

pub(super) fn sample(name: &str, labels: &[(&str, &str)], value: f64, at_ms: i64) -> Observation {
    let mut key = SeriesKey::new(name);
    for (k, v) in labels {
        key = key.with(*k, *v);
    }
    Observation {
        source: "system".to_string(),
        at_ms,
        samples: vec![Sample {
            series: Arc::new(key),
            value,
        }],
        checks: Vec::new(),
    }
}

pub(super) fn check(name: &str, status: Status, at_ms: i64) -> Observation {
    Observation {
        source: format!("check:{name}"),
        at_ms,
        samples: Vec::new(),
        checks: vec![CheckResult {
            underlying: None,
            check: name.to_string(),
            layer: Layer::Application,
            status,
            value: None,
            detail: format!("{name} said {status}"),
            at_ms,
        }],
    }
}

/// (kind, severity, muted_by) of each notice in the batch's history.
pub(super) fn told(batch: &AlertBatch) -> Vec<(NoticeKind, Severity, String)> {
    batch
        .history
        .iter()
        .map(|h| (h.notice.kind, h.notice.severity, text(h.muted_by.as_ref())))
        .collect()
}

/// `told`, for one rule only (ticks also run "no data" for the checks a test ignores).
pub(super) fn told_by(batch: &AlertBatch, rule: &str) -> Vec<(NoticeKind, Severity, String)> {
    batch
        .history
        .iter()
        .filter(|h| h.notice.rule == rule)
        .map(|h| (h.notice.kind, h.notice.severity, text(h.muted_by.as_ref())))
        .collect()
}

pub(super) fn result(name: &str, status: Status, at_ms: i64) -> Observation {
    let mut observation = check(name, status, at_ms);
    observation.checks[0].detail = format!("{name} {status}");
    observation
}

/// db, app (depends on db), and the canaries gw and dns, every 10 s; grace 30 s.
pub(super) fn gated_engine() -> Engine {
    let extra = "[[check]]\nname = \"gw\"\ntype = \"tcp\"\naddress = \"10.0.0.1:53\"\ninterval = \"10s\"\n\
                 [[check]]\nname = \"dns\"\ntype = \"tcp\"\naddress = \"9.9.9.9:53\"\ninterval = \"10s\"\n\
                 [alerts.connectivity]\ncanaries = [\"gw\", \"dns\"]\ngrace = \"30s\"\n";
    let mut engine = Engine::new(&config(extra), 0);
    engine.notifiers = vec!["hook".to_string()];
    for name in ["db", "app", "gw", "dns"] {
        engine.observe(&result(name, Status::Ok, 0), 0);
    }
    engine
}

/// (rule, check, kind) of the notices the batch sends.
pub(super) fn sent(batch: &AlertBatch) -> Vec<(String, String, NoticeKind)> {
    batch
        .outbox
        .iter()
        .map(|e| {
            let n = &e.notice;
            let check = n.labels.get("check").cloned().unwrap_or_default();
            (n.rule.clone(), check, n.kind)
        })
        .collect()
}

/// What receivers get: the engine's outbox rows applied as the store and outbox worker
/// do (a retraction withdraws rows not yet due; due rows go out at the next `flush`).
#[derive(Default)]
pub(super) struct Receiver {
    pub(super) queued: Vec<OutboxEntry>,
    pub(super) sent: Vec<(i64, AlertNotice)>,
}

impl Receiver {
    pub(super) fn take(&mut self, batch: AlertBatch, now_ms: i64) {
        self.flush(now_ms - 1);
        self.queued
            .retain(|e| !(batch.retract.contains(&e.notice.alert_id) && e.due_ms > now_ms - 1));
        // The checks a test does not run would add their "no data" alerts.
        self.queued.extend(
            batch
                .outbox
                .into_iter()
                .filter(|e| e.notifier == "mail" && !e.notice.summary.starts_with("No data from")),
        );
        self.flush(now_ms);
    }

    pub(super) fn flush(&mut self, now_ms: i64) {
        let (due, later): (Vec<OutboxEntry>, Vec<OutboxEntry>) =
            self.queued.drain(..).partition(|e| e.due_ms <= now_ms);
        self.queued = later;
        self.sent
            .extend(due.into_iter().map(|e| (e.due_ms, e.notice)));
    }

    /// (due s, kind, summary), for failure messages.
    pub(super) fn log(&self) -> Vec<(i64, NoticeKind, String)> {
        self.sent
            .iter()
            .map(|(at, n)| (at / S, n.kind, n.summary.clone()))
            .collect()
    }

    pub(super) fn kinds(&self) -> Vec<(NoticeKind, String)> {
        self.sent
            .iter()
            .map(|(_, n)| (n.kind, n.labels.get("check").cloned().unwrap_or_default()))
            .collect()
    }
}

/// Runs `app`'s statuses, one per second from `start_s`, with ticks in between.
pub(super) fn run(
    engine: &mut Engine,
    receiver: &mut Receiver,
    check_name: &str,
    statuses: impl IntoIterator<Item = Status>,
    start_s: i64,
) -> i64 {
    let mut at = start_s * S;
    for status in statuses {
        let batch = engine.observe(&check(check_name, status, at), at);
        receiver.take(batch, at);
        let batch = engine.tick(at + S / 2);
        receiver.take(batch, at + S / 2);
        at += S;
    }
    at
}

pub(super) fn lone_engine(extra: &str) -> Engine {
    let text = format!(
        "[alerts]\ngroup_wait = \"10s\"\n{extra}\n[[check]]\nname = \"web\"\ntype = \"tcp\"\n\
         address = \"127.0.0.1:5000\"\ninterval = \"1s\"\ntimeout = \"1s\"\n"
    );
    let mut engine = Engine::new(&config(&text), 0);
    engine.notifiers = vec!["mail".to_string()];
    engine
}

pub(super) fn flapping(period_s: usize, for_s: usize) -> Vec<Status> {
    (0..for_s)
        .map(|i| {
            if (i / period_s).is_multiple_of(2) {
                Status::Critical
            } else {
                Status::Ok
            }
        })
        .collect()
}
