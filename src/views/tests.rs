//! Golden JSON of every view, built from fixed internal values. These strings are the API
//! (and the CLI's `--json`) as published: a change to a stored or internal type that would
//! change them fails here. Change a string only to change the API on purpose.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::alerts::*;
use super::history::*;
use super::live::LiveMessage;
use super::maintenance::*;
use super::silences::*;
use super::status::*;
use crate::alert::Severity;
use crate::alert::matcher::Matcher;
use crate::alert::records::{HistoryEntry, OutboxEntry, OutboxRow, OutboxState, StoredAlert};
use crate::alert::silence::Silence;
use crate::config::maintenance::{MaintenanceConfig, Mode, WindowConfig, WindowSchedule};
use crate::maintenance::{Impact, ManualWindow, Origin, Period, report};
use crate::model::{AlertNotice, Category, NoticeKind};
use crate::model::{CheckResult, Event, EventKind, Layer, Observation, Sample, SeriesKey, Status};
use crate::store::NoticeDelivery;

/// 2026-03-01T10:00:00Z.
const T0: i64 = 1_772_359_200_000;
const MIN: i64 = 60_000;

fn json(value: &impl serde::Serialize) -> String {
    serde_json::to_string(value).unwrap()
}

fn labels() -> BTreeMap<String, String> {
    BTreeMap::from([("check".to_string(), "app".to_string())])
}

fn stored_alert() -> StoredAlert {
    StoredAlert {
        id: "check_failed{check=app}".into(),
        rule: "check_failed".into(),
        labels: labels(),
        state: "firing".into(),
        severity: Severity::Critical,
        since_ms: T0,
        last_notified_ms: Some(T0),
        value: Some(f64::NAN),
        summary: "app is down".into(),
        muted_by: Some(crate::alert::mute::MuteReason::Recorded {
            text: "silence abc".into(),
        }),
        told: true,
        flapping: false,
        acknowledged_by: Some("ops".into()),
        acknowledged_ms: Some(T0 + MIN),
    }
}

fn notice() -> AlertNotice {
    AlertNotice {
        alert_id: "check_failed{check=app}".into(),
        rule: "check_failed".into(),
        kind: NoticeKind::DeEscalated,
        severity: Severity::Warning,
        previous_severity: Some(Severity::Critical),
        category: Category::Failure,
        labels: labels(),
        summary: "app is slow".into(),
        description: "responds in 2.1 s".into(),
        value: "2.1 s".into(),
        threshold: "1 s".into(),
        since_ms: T0,
        at_ms: T0 + MIN,
        runbook_url: None,
        explains: Vec::new(),
        resolved_while_muted: None,
    }
}

fn history_entry() -> HistoryEntry {
    HistoryEntry {
        notice: notice(),
        muted_by: None,
    }
}

fn delivery(state: OutboxState) -> NoticeDelivery {
    NoticeDelivery {
        alert_id: "check_failed{check=app}".into(),
        at_ms: T0 + MIN,
        kind: "de_escalated".into(),
        notifier: "ops-mail".into(),
        state,
        attempts: 2,
        last_error: Some("HTTP 503".into()),
        delivered_ms: None,
    }
}

fn outbox_row(state: OutboxState) -> OutboxRow {
    OutboxRow {
        id: 7,
        entry: OutboxEntry {
            notifier: "ops-hook".into(),
            group_key: "g".into(),
            group_labels: BTreeMap::new(),
            due_ms: T0 + 2 * MIN,
            notice: notice(),
        },
        state,
        attempts: 3,
        next_attempt_ms: T0 + 3 * MIN,
        last_error: Some("HTTP 503".into()),
        delivered_ms: None,
        created_ms: T0 + MIN,
        batch_key: None,
    }
}

fn period(open: bool) -> Period {
    Period {
        id: 4,
        start_ms: T0,
        end_ms: (!open).then_some(T0 + 90 * MIN),
        planned_end_ms: Some(T0 + 60 * MIN),
        mode: Mode::Emergency,
        reason: "disk full".into(),
        origin: Origin::Detected,
        planned: false,
        impact: Impact {
            blocked_requests: 40,
            blocked_requests_seen: 3,
            sessions_at_start: Some(12),
            active_jobs: None,
            invalidated_sessions: Some(5),
            blocked_operations: vec!["uploads".into()],
        },
        muted: vec!["critical check_failed: app returned 503".into()],
    }
}

fn manual_window() -> ManualWindow {
    ManualWindow {
        id: 2,
        start_ms: T0 + 30 * MIN,
        end_ms: T0 + 150 * MIN,
        mode: Mode::Normal,
        reason: "upgrade".into(),
        origin: Origin::Cli,
        author: "alice".into(),
        stopped_ms: Some(T0 + 120 * MIN),
        created_ms: T0,
    }
}

fn maintenance_config() -> MaintenanceConfig {
    let mut config = MaintenanceConfig::default();
    config.windows.push(WindowConfig {
        name: "nightly".into(),
        schedule: WindowSchedule::Once { start_ms: T0 },
        duration: std::time::Duration::from_secs(3600),
        mode: Mode::Test,
        reason: "planned window nightly".into(),
    });
    config
}

fn check_result() -> CheckResult {
    CheckResult {
        check: "app".into(),
        layer: Layer::Application,
        status: Status::Critical,
        value: Some(0.25),
        detail: "HTTP 503".into(),
        at_ms: T0,
        underlying: None,
    }
}

#[test]
fn silences() {
    let silence = Silence {
        id: "abc".into(),
        matchers: vec![
            Matcher::parse("check=\"app\"").unwrap(),
            Matcher::parse("severity=~\"crit.*\"").unwrap(),
        ],
        starts_ms: T0,
        ends_ms: T0 + 120 * MIN,
        author: "alice".into(),
        comment: "deploy".into(),
    };
    let view = SilenceView::new(&silence, T0 + MIN);
    assert_eq!(json(&view), GOLDEN_SILENCE);
    assert_eq!(SilenceView::new(&silence, T0 - 1).state, "pending");
    assert_eq!(SilenceView::new(&silence, T0 + 120 * MIN).state, "expired");
    assert_eq!(
        json(&SilencesView {
            silences: vec![view]
        }),
        format!("{{\"silences\":[{GOLDEN_SILENCE}]}}")
    );
}

const GOLDEN_SILENCE: &str = r#"{"id":"abc","state":"active","matchers":["check=\"app\"","severity=~\"crit.*\""],"starts_at":"2026-03-01T10:00:00.000Z","ends_at":"2026-03-01T12:00:00.000Z","author":"alice","comment":"deploy"}"#;

#[test]
fn alerts() {
    let alert = ActiveAlertView::from(&stored_alert());
    assert_eq!(json(&alert), GOLDEN_ALERT);
    assert_eq!(json(&ActiveAlertLineView::from(alert)), GOLDEN_ALERT_LINE);
    let deliveries = [delivery(OutboxState::Pending)];
    assert_eq!(
        json(&NoticeView::new(&history_entry(), &deliveries)),
        GOLDEN_NOTICE
    );
    assert_eq!(
        json(&NoticeLineView::new(&history_entry(), &deliveries)),
        GOLDEN_NOTICE_LINE
    );
    assert_eq!(
        json(&OutboxRowView::from(&outbox_row(OutboxState::Pending))),
        GOLDEN_OUTBOX_ROW
    );
    assert_eq!(
        json(&OutboxLineView::from(&outbox_row(OutboxState::Pending))),
        GOLDEN_OUTBOX_LINE
    );
    let failed = OutboxLineView::from(&outbox_row(OutboxState::Failed));
    assert_eq!((failed.state, failed.next_attempt), ("failed", None));
}

const GOLDEN_ALERT: &str = r#"{"id":"check_failed{check=app}","rule":"check_failed","state":"firing","severity":"critical","since":"2026-03-01T10:00:00.000Z","value":null,"summary":"app is down","muted_by":"silence abc","flapping":false,"labels":{"check":"app"},"acknowledged_by":"ops","acknowledged_at":"2026-03-01T10:01:00.000Z"}"#;
const GOLDEN_ALERT_LINE: &str = r#"{"id":"check_failed{check=app}","rule":"check_failed","state":"firing","severity":"critical","since":"2026-03-01T10:00:00.000Z","value":null,"summary":"app is down","muted_by":"silence abc","labels":{"check":"app"}}"#;
const GOLDEN_NOTICE: &str = r#"{"at":"2026-03-01T10:01:00.000Z","kind":"de_escalated","severity":"warning","rule":"check_failed","alert_id":"check_failed{check=app}","summary":"app is slow","value":"2.1 s","sent":false,"muted_by":"","delivery":"pending","labels":{"check":"app"}}"#;
const GOLDEN_NOTICE_LINE: &str = r#"{"at":"2026-03-01T10:01:00.000Z","kind":"de_escalated","severity":"warning","rule":"check_failed","alert_id":"check_failed{check=app}","summary":"app is slow","value":"2.1 s","sent":false,"muted_by":"","delivery":"pending","deliveries":[{"notifier":"ops-mail","state":"pending","attempts":2,"last_error":"HTTP 503","delivered_at":null}]}"#;
const GOLDEN_OUTBOX_ROW: &str = r#"{"id":7,"notifier":"ops-hook","state":"pending","attempts":3,"created":"2026-03-01T10:01:00.000Z","delivered":null,"last_error":"HTTP 503","kind":"de_escalated","severity":"warning","summary":"app is slow"}"#;
const GOLDEN_OUTBOX_LINE: &str = r#"{"id":7,"notifier":"ops-hook","state":"pending","attempts":3,"created":"2026-03-01T10:01:00.000Z","next_attempt":"2026-03-01T10:03:00.000Z","delivered":null,"last_error":"HTTP 503","summary":"app is slow","kind":"de_escalated","severity":"warning"}"#;

#[test]
fn maintenance() {
    let now = T0 + 100 * MIN;
    let closed = PeriodView::new(&period(false), now);
    assert_eq!(json(&closed), GOLDEN_PERIOD);
    assert_eq!(json(&PeriodLineView::from(closed)), GOLDEN_PERIOD_LINE);
    let open = PeriodView::new(&period(true), now);
    assert_eq!((open.end.as_deref(), open.duration_seconds), (None, 6000));
    let windows = WindowView::all(&[manual_window()], &maintenance_config(), T0 + 45 * MIN);
    assert_eq!(json(&windows), GOLDEN_WINDOWS);
    let status = MaintenanceStatusView::new(
        &maintenance_config(),
        Some(&period(true)),
        &[manual_window()],
        now,
    );
    assert_eq!(json(&status), GOLDEN_MAINTENANCE_STATUS);
    assert_eq!(
        json(&MaintenanceNowView::from(&period(true))),
        GOLDEN_MAINTENANCE_NOW
    );
}

const GOLDEN_PERIOD: &str = r#"{"id":4,"start":"2026-03-01T10:00:00.000Z","start_ms":1772359200000,"end":"2026-03-01T11:30:00.000Z","end_ms":1772364600000,"planned_end":"2026-03-01T11:00:00.000Z","planned_end_ms":1772362800000,"mode":"emergency","reason":"disk full","origin":"detected","planned":false,"duration_seconds":5400,"overrun_seconds":1800,"impact":{"blocked_requests":40,"blocked_requests_seen":3,"sessions_at_start":12,"active_jobs":null,"invalidated_sessions":5,"blocked_operations":["uploads"]},"muted":["critical check_failed: app returned 503"]}"#;
const GOLDEN_PERIOD_LINE: &str = r#"{"id":4,"start":"2026-03-01T10:00:00.000Z","end":"2026-03-01T11:30:00.000Z","planned_end":"2026-03-01T11:00:00.000Z","duration_seconds":5400,"overrun_seconds":1800,"mode":"emergency","reason":"disk full","origin":"detected","planned":false,"impact":{"blocked_requests":40,"blocked_requests_seen":3,"sessions_at_start":12,"active_jobs":null,"invalidated_sessions":5,"blocked_operations":["uploads"]},"muted":["critical check_failed: app returned 503"]}"#;
const GOLDEN_WINDOWS: &str = r#"[{"id":null,"name":"nightly","start":"2026-03-01T10:00:00.000Z","end":"2026-03-01T11:00:00.000Z","mode":"test","reason":"planned window nightly","origin":"planned","author":"config","active":true},{"id":2,"name":null,"start":"2026-03-01T10:30:00.000Z","end":"2026-03-01T12:00:00.000Z","mode":"normal","reason":"upgrade","origin":"cli","author":"alice","active":true}]"#;
const GOLDEN_MAINTENANCE_STATUS: &str = r#"{"active":true,"period":{"id":4,"start":"2026-03-01T10:00:00.000Z","end":null,"planned_end":"2026-03-01T11:00:00.000Z","duration_seconds":6000,"overrun_seconds":2400,"mode":"emergency","reason":"disk full","origin":"detected","planned":false,"impact":{"blocked_requests":40,"blocked_requests_seen":3,"sessions_at_start":12,"active_jobs":null,"invalidated_sessions":5,"blocked_operations":["uploads"]},"muted":["critical check_failed: app returned 503"]},"windows":[{"id":2,"name":null,"start":"2026-03-01T10:30:00.000Z","end":"2026-03-01T12:00:00.000Z","mode":"normal","reason":"upgrade","origin":"cli","author":"alice","active":true}],"control":false}"#;
const GOLDEN_MAINTENANCE_NOW: &str = r#"{"mode":"emergency","reason":"disk full","planned":false,"since":"2026-03-01T10:00:00.000Z","planned_end":"2026-03-01T11:00:00.000Z"}"#;

#[test]
fn maintenance_report() {
    let history = vec![(
        "app".to_string(),
        vec![(T0 - 60 * MIN, Status::Ok), (T0, Status::Maintenance)],
    )];
    let report = report::report(&[period(false)], &history, T0 - 1440 * MIN, T0 + 1440 * MIN);
    assert_eq!(json(&ReportView::from(&report)), GOLDEN_REPORT);
}

const GOLDEN_REPORT: &str = r#"{"from":"2026-02-28T10:00:00.000Z","to":"2026-03-02T10:00:00.000Z","periods":{"count":1,"total_seconds":5400.0,"mean_seconds":5400.0,"planned_seconds":0.0,"unplanned_seconds":5400.0,"emergency_seconds":5400.0,"overrun_seconds":1800.0,"longest":{"id":4,"start":"2026-03-01T10:00:00.000Z","end":"2026-03-01T11:30:00.000Z","seconds":5400.0,"mode":"emergency","origin":"detected","planned":false,"reason":"disk full"}},"per_day":[{"label":"2026-02-28","start":"2026-02-28T00:00:00.000Z","count":0,"total_seconds":0.0,"mean_seconds":0.0},{"label":"2026-03-01","start":"2026-03-01T00:00:00.000Z","count":1,"total_seconds":5400.0,"mean_seconds":5400.0},{"label":"2026-03-02","start":"2026-03-02T00:00:00.000Z","count":0,"total_seconds":0.0,"mean_seconds":0.0}],"per_week":[{"label":"2026-W09","start":"2026-02-23T00:00:00.000Z","count":1,"total_seconds":5400.0,"mean_seconds":5400.0},{"label":"2026-W10","start":"2026-03-02T00:00:00.000Z","count":0,"total_seconds":0.0,"mean_seconds":0.0}],"per_month":[{"label":"2026-02","start":"2026-02-01T00:00:00.000Z","count":0,"total_seconds":0.0,"mean_seconds":0.0},{"label":"2026-03","start":"2026-03-01T00:00:00.000Z","count":1,"total_seconds":5400.0,"mean_seconds":5400.0}],"impact":{"blocked_requests":40,"sessions_at_start":12,"invalidated_sessions":5,"active_jobs":0},"availability":{"overall":{"observed_seconds":90000.0,"up_seconds":3600.0,"maintenance_seconds":86400.0,"availability":0.04,"observed_outside_planned_seconds":90000.0,"up_outside_planned_seconds":3600.0,"availability_excluding_planned":0.04},"checks":[{"check":"app","observed_seconds":90000.0,"up_seconds":3600.0,"maintenance_seconds":86400.0,"availability":0.04,"observed_outside_planned_seconds":90000.0,"up_outside_planned_seconds":3600.0,"availability_excluding_planned":0.04}]}}"#;

#[test]
fn status_and_history() {
    let check = CheckView::from(&check_result());
    assert_eq!(json(&check), GOLDEN_CHECK);
    let results = [check_result()];
    let refs: Vec<&CheckResult> = results.iter().collect();
    assert_eq!(
        json(&CheckReportView::new(Status::Critical, &refs)),
        GOLDEN_CHECK_REPORT
    );
    let event = Event {
        at_ms: T0,
        kind: EventKind::ReloadFailed,
        subject: "lookout".into(),
        message: "reload rejected".into(),
    };
    assert_eq!(json(&EventView::from(&event)), GOLDEN_EVENT);
    let observation = Observation {
        source: "system".into(),
        at_ms: T0,
        samples: vec![Sample {
            series: Arc::new(SeriesKey::new("load1").with("host", "a")),
            value: f64::INFINITY,
        }],
        checks: vec![check_result()],
    };
    assert_eq!(
        json(&LiveMessage::observation(&observation)),
        GOLDEN_LIVE_OBSERVATION
    );
    assert_eq!(json(&LiveMessage::event(&event)), GOLDEN_LIVE_EVENT);
}

const GOLDEN_CHECK: &str = r#"{"check":"app","layer":"application","status":"critical","value":0.25,"detail":"HTTP 503","at":"2026-03-01T10:00:00.000Z"}"#;
const GOLDEN_CHECK_REPORT: &str = r#"{"status":"critical","checks":[{"layer":"application","check":"app","status":"critical","value":0.25,"detail":"HTTP 503","at":"2026-03-01T10:00:00.000Z"}]}"#;
const GOLDEN_EVENT: &str = r#"{"at":"2026-03-01T10:00:00.000Z","kind":"reload_failed","subject":"lookout","message":"reload rejected"}"#;
const GOLDEN_LIVE_OBSERVATION: &str = r#"{"type":"observation","source":"system","at":1772359200000,"samples":[{"name":"load1","labels":{"host":"a"},"value":null}],"checks":[{"check":"app","layer":"application","status":"critical","value":0.25,"detail":"HTTP 503","at":"2026-03-01T10:00:00.000Z"}]}"#;
const GOLDEN_LIVE_EVENT: &str = r#"{"type":"event","at":1772359200000,"kind":"reload_failed","subject":"lookout","message":"reload rejected"}"#;

#[test]
fn store_maintenance_pass() {
    let stats = crate::store::MaintainStats {
        sealed_windows: 1,
        sealed_samples: 2,
        expired_raw_chunks: 3,
        expired_rollups: 4,
        expired_check_results: 5,
        expired_events: 6,
        expired_outbox_rows: 7,
        expired_maintenance: 8,
        expired_silences: 9,
        capped_raw_chunks: 10,
        capped_rollups: 11,
        capped_records: 12,
        bytes_before: 13,
        bytes_after: 14,
    };
    assert_eq!(
        json(&super::store::MaintainStatsView::from(&stats)),
        GOLDEN_MAINTAIN_STATS
    );
}

const GOLDEN_MAINTAIN_STATS: &str = r#"{"sealed_windows":1,"sealed_samples":2,"expired_raw_chunks":3,"expired_rollups":4,"expired_check_results":5,"expired_events":6,"expired_outbox_rows":7,"expired_maintenance":8,"expired_silences":9,"capped_raw_chunks":10,"capped_rollups":11,"capped_records":12,"bytes_before":13,"bytes_after":14}"#;
