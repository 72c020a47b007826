//! `lookout store stats` and `lookout store compact` on a real store with data in every tier
//! and every kind of record, some of it past its retention: stats shows sizes and the oldest
//! data per tier (text and --json), compact drops what expired, gives the space back, and
//! works beside a running daemon.

use std::path::Path;
use std::sync::Arc;

use lookout::alert::Severity;
use lookout::alert::records::{AlertBatch, HistoryEntry, OutboxEntry};
use lookout::alert::silence::Silence;
use lookout::clock::{ManualClock, UnixMillis, format_rfc3339};
use lookout::maintenance::{Impact, ManualWindow, Mode, Origin, Period};
use lookout::model::{AlertNotice, Category, NoticeKind};
use lookout::model::{
    CheckResult, Event, EventKind, Layer, Observation, Sample, SeriesKey, Status,
};
use lookout::store::{Store, StoreOptions};
use serde_json::Value;

use crate::common::{Daemon, lookout, output, text, write_config};

const SEC: i64 = 1_000;
const MIN: i64 = 60 * SEC;
const HOUR: i64 = 60 * MIN;
const DAY: i64 = 24 * HOUR;

/// The real time, floored to the hour: the CLI runs on the system clock.
fn now_hour() -> UnixMillis {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    now / HOUR * HOUR
}

/// A value that does not compress.
fn noise(x: u64) -> f64 {
    let mut x = x.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x ^= x >> 29;
    (x % 1_000_000_007) as f64 / 7.0
}

fn notice(id: &str, at_ms: UnixMillis) -> AlertNotice {
    AlertNotice {
        alert_id: id.into(),
        rule: "check_failed".into(),
        kind: NoticeKind::Firing,
        severity: Severity::Critical,
        previous_severity: None,
        category: Category::Failure,
        labels: Default::default(),
        summary: format!("{id} failed"),
        description: String::new(),
        value: String::new(),
        threshold: String::new(),
        since_ms: at_ms,
        at_ms,
        runbook_url: None,
        explains: Vec::new(),
        resolved_while_muted: None,
    }
}

fn period(start_ms: UnixMillis, end_ms: UnixMillis) -> Period {
    Period {
        id: 0,
        start_ms,
        end_ms: Some(end_ms),
        planned_end_ms: None,
        mode: Mode::Normal,
        reason: "upgrade".into(),
        origin: Origin::Detected,
        planned: false,
        impact: Impact::default(),
        muted: Vec::new(),
    }
}

fn window(start_ms: UnixMillis, end_ms: UnixMillis) -> ManualWindow {
    ManualWindow {
        id: 0,
        start_ms,
        end_ms,
        mode: Mode::Normal,
        reason: "patching".into(),
        origin: Origin::Cli,
        author: "ops".into(),
        stopped_ms: None,
        created_ms: start_ms,
    }
}

fn silence(id: &str, starts_ms: UnixMillis, ends_ms: UnixMillis) -> Silence {
    Silence {
        id: id.into(),
        matchers: Vec::new(),
        starts_ms,
        ends_ms,
        author: "ops".into(),
        comment: String::new(),
    }
}

/// Series written: enough (of values that do not compress) that a block of two hours takes
/// many pages, so dropping one frees whole pages.
const SERIES: u64 = 40;

/// Two hours of samples (one a minute, of each series) and check results from `start`,
/// sealed and rolled up by maintenance at `start + 3h`, as a daemon running then would have.
async fn two_hours_at(store: &Store, clock: &ManualClock, start: UnixMillis) {
    let keys: Vec<Arc<SeriesKey>> = (0..SERIES)
        .map(|n| Arc::new(SeriesKey::new(format!("series_{n}"))))
        .collect();
    clock.set(start);
    for i in 0..120 {
        let at_ms = start + i * MIN;
        store.ingest(&Observation {
            source: "system".into(),
            at_ms,
            samples: keys
                .iter()
                .enumerate()
                .map(|(n, key)| Sample {
                    series: key.clone(),
                    value: noise(at_ms as u64 + n as u64),
                })
                .collect(),
            checks: vec![CheckResult {
                check: "app".into(),
                layer: Layer::Application,
                status: if i % 60 == 0 {
                    Status::Critical
                } else {
                    Status::Ok
                },
                value: None,
                detail: String::new(),
                at_ms,
                underlying: None,
            }],
        });
        if i % 10 == 9 {
            store.flush().await.unwrap();
        }
    }
    store.flush().await.unwrap();
    clock.set(start + 3 * HOUR);
    store.maintain().await.unwrap();
}

/// What a daemon would have left: samples and check results from 3 hours, 10 days and 100
/// days ago; events, alert history, maintenance and silences from 800 days ago (past the
/// hour tier's two years) and recent ones; a pending notification. The recent samples are
/// written first: maintenance run at an earlier time drops nothing newer.
async fn seed(data: &Path, now: UnixMillis) {
    let clock = ManualClock::new(now);
    let store = Store::open(data, StoreOptions::default(), clock.clone())
        .await
        .unwrap();
    let (old, ancient) = (now - 100 * DAY, now - 800 * DAY);
    two_hours_at(&store, &clock, now - 5 * HOUR).await;
    two_hours_at(&store, &clock, now - 10 * DAY).await;
    two_hours_at(&store, &clock, old).await;
    // The timelines last: no maintenance runs after them.
    for at_ms in [ancient, now - 100 * DAY + MIN, now - HOUR] {
        store
            .record_event(&Event {
                at_ms,
                kind: EventKind::Started,
                subject: "lookout".into(),
                message: "started".into(),
            })
            .await
            .unwrap();
    }
    store
        .commit_alerts(&AlertBatch {
            history: [ancient, now - HOUR]
                .iter()
                .map(|&at| HistoryEntry {
                    notice: notice("app", at),
                    muted_by: None,
                })
                .collect(),
            outbox: vec![OutboxEntry {
                notifier: "ops".into(),
                group_key: "app".into(),
                group_labels: Default::default(),
                due_ms: now + DAY,
                notice: notice("app", now - HOUR),
            }],
            ..AlertBatch::default()
        })
        .await
        .unwrap();
    store
        .save_period(&period(ancient, ancient + HOUR))
        .await
        .unwrap();
    store
        .save_period(&period(now - 2 * HOUR, now - HOUR))
        .await
        .unwrap();
    store
        .add_window(&window(ancient, ancient + HOUR))
        .await
        .unwrap();
    store
        .add_silence(&silence("ancient", ancient, ancient + HOUR))
        .await
        .unwrap();
    store
        .add_silence(&silence("active", now - HOUR, now + DAY))
        .await
        .unwrap();
    store.close().await.unwrap();
}

fn cli(config: &Path, args: &[&str]) -> std::process::Output {
    output(lookout().arg("--config").arg(config).args(args))
}

fn json(config: &Path, args: &[&str]) -> Value {
    let out = cli(config, args);
    assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {}", text(&out.stdout)))
}

fn named<'a>(list: &'a Value, name: &str) -> &'a Value {
    list.as_array()
        .unwrap()
        .iter()
        .find(|item| item["name"] == name)
        .unwrap_or_else(|| panic!("no {name} in {list}"))
}

fn span(item: &Value) -> (u64, Option<i64>, Option<i64>) {
    (
        item["rows"].as_u64().unwrap(),
        item["oldest_ms"].as_i64(),
        item["newest_ms"].as_i64(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn stats_shows_every_tier_and_compact_drops_what_expired() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), 0, "");
    let now = now_hour();
    let (old, ancient) = (now - 100 * DAY, now - 800 * DAY);

    // Before anything was collected: a plain error, exit 2.
    let out = cli(&config, &["store", "stats"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("no store at") && text(&out.stderr).contains("lookout.db"),
        "{}",
        text(&out.stderr)
    );

    seed(&dir.path().join("data"), now).await;

    let stats = json(&config, &["store", "stats", "--json"]);
    let tiers = &stats["tiers"];
    // Raw keeps 7 days, but nothing has pruned the 10 and 100 days old samples yet.
    let raw = named(tiers, "raw");
    assert_eq!(raw["samples"], 3 * 120 * SERIES, "{raw}");
    assert_eq!(raw["oldest_ms"], old);
    assert_eq!(raw["newest_ms"], now - 5 * HOUR + 119 * MIN);
    assert_eq!(raw["retention"], "7d");
    assert_eq!(raw["retention_seconds"], 7 * 86_400);
    assert_eq!(raw["oldest"], format_rfc3339(old));
    let minute = named(tiers, "minute");
    assert_eq!(
        minute["samples"],
        3 * 120 * SERIES,
        "a bucket a minute: {minute}"
    );
    assert_eq!(minute["oldest_ms"], old);
    let hour = named(tiers, "hour");
    assert_eq!(hour["samples"], 3 * 2 * SERIES, "{hour}");
    assert_eq!(hour["oldest_ms"], old);
    assert_eq!(hour["newest_ms"], now - 4 * HOUR);
    for tier in tiers.as_array().unwrap() {
        let disk = tier["disk_bytes"].as_u64().unwrap();
        let data = tier["data_bytes"].as_u64().unwrap();
        assert!(data > 0 && disk >= data, "{tier}");
    }
    let records = &stats["records"];
    assert_eq!(
        span(named(records, "events")),
        (3, Some(ancient), Some(now - HOUR))
    );
    assert_eq!(named(records, "events")["follows"], "hour");
    assert_eq!(
        span(named(records, "alert_history")),
        (2, Some(ancient), Some(now - HOUR))
    );
    assert_eq!(span(named(records, "maintenance_periods")).0, 2);
    assert_eq!(
        span(named(records, "maintenance_windows")),
        (1, Some(ancient), Some(ancient + HOUR))
    );
    assert_eq!(span(named(records, "silences")).0, 2);
    assert_eq!(span(named(records, "outbox")).0, 1);
    let checks = named(records, "check_results");
    assert_eq!(checks["follows"], "minute");
    assert_eq!(checks["oldest_ms"], old);
    // Every page is somewhere: tiers, records and the rest add up to the pages in use.
    let sum = |list: &Value| -> u64 {
        list.as_array()
            .unwrap()
            .iter()
            .map(|i| i["disk_bytes"].as_u64().unwrap())
            .sum()
    };
    let used = (stats["pages"].as_u64().unwrap() - stats["free_pages"].as_u64().unwrap())
        * stats["page_size"].as_u64().unwrap();
    assert_eq!(
        sum(tiers) + sum(records) + stats["other_bytes"].as_u64().unwrap(),
        used
    );
    assert!(stats["file_bytes"].as_u64().unwrap() >= used);

    // The same as a table.
    let out = cli(&config, &["store", "stats"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let table = text(&out.stdout);
    for want in [
        "TIER ",
        "raw ",
        "minute ",
        "hour ",
        "events ",
        "alert history ",
        "maintenance windows ",
        &format_rfc3339(old),
        &format_rfc3339(ancient),
    ] {
        assert!(table.contains(want), "{want:?} missing:\n{table}");
    }
    // stats only reads: a second look sees the same store.
    assert_eq!(
        json(&config, &["store", "stats", "--json"])["tiers"],
        stats["tiers"]
    );

    // compact: retention now (raw past 7 days, minute past 90, timelines past two years),
    // then the freed pages go back to the file system.
    let compact = json(&config, &["store", "compact", "--json"]);
    let m = &compact["maintenance"];
    assert!(m["expired_raw_chunks"].as_u64().unwrap() > 0, "{compact}");
    assert!(m["expired_rollups"].as_u64().unwrap() > 0, "{compact}");
    assert!(
        m["expired_check_results"].as_u64().unwrap() > 0,
        "{compact}"
    );
    assert_eq!(m["expired_events"], 2, "an event and an alert: {compact}");
    assert_eq!(
        m["expired_maintenance"], 2,
        "a period and a window: {compact}"
    );
    assert_eq!(m["expired_silences"], 1, "{compact}");
    let (before, after) = (
        compact["bytes_before"].as_u64().unwrap(),
        compact["bytes_after"].as_u64().unwrap(),
    );
    assert!(after < before, "{compact}");
    assert_eq!(compact["freed_bytes"].as_u64().unwrap(), before - after);

    let stats = json(&config, &["store", "stats", "--json"]);
    let tiers = &stats["tiers"];
    assert_eq!(named(tiers, "raw")["oldest_ms"], now - 5 * HOUR);
    assert_eq!(named(tiers, "raw")["samples"], 120 * SERIES);
    assert_eq!(named(tiers, "minute")["oldest_ms"], now - 10 * DAY);
    assert_eq!(
        named(tiers, "hour")["oldest_ms"],
        old,
        "the hour tier keeps 2 years"
    );
    let records = &stats["records"];
    assert_eq!(
        span(named(records, "events")),
        (2, Some(old + MIN), Some(now - HOUR))
    );
    assert_eq!(span(named(records, "alert_history")).0, 1);
    assert_eq!(span(named(records, "maintenance_periods")).0, 1);
    assert_eq!(span(named(records, "maintenance_windows")).0, 0);
    assert_eq!(
        span(named(records, "silences")).0,
        1,
        "the active one stays"
    );
    assert_eq!(span(named(records, "outbox")).0, 1, "pending: never pruned");
    assert_eq!(named(records, "check_results")["oldest_ms"], now - 10 * DAY);
    assert!(stats["free_pages"].as_u64().unwrap() * 10 <= stats["pages"].as_u64().unwrap());

    // In words; again there is nothing left to expire. --quiet: nothing on success.
    let out = cli(&config, &["store", "compact"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let said = text(&out.stdout);
    assert!(said.starts_with("compacted "), "{said}");
    assert!(said.contains("retention: nothing had expired"), "{said}");
    let out = cli(&config, &["--quiet", "store", "compact", "--full"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "");

    // Beside a running daemon (which writes every second): both commands work.
    let daemon = Daemon::start(&config);
    let stats = json(&config, &["store", "stats", "--json"]);
    assert!(named(&stats["tiers"], "raw")["rows"].as_u64().unwrap() > 0);
    let compact = json(&config, &["store", "compact", "--json", "--wait", "10s"]);
    assert_eq!(compact["full"], false);
    let compact = json(
        &config,
        &["store", "compact", "--full", "--json", "--wait", "10s"],
    );
    assert_eq!(compact["full"], true);
    drop(daemon);
}
