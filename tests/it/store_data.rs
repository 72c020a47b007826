//! The store's data path against a real SQLite file: flush, query (tiers, downsampling, the
//! buffer), sealing, rollups, retention, the size cap, check results, events, several writers.

use std::path::Path;
use std::sync::Arc;

use lookout::clock::{ManualClock, SharedClock};
use lookout::config::Retention;
use lookout::model::{
    CheckResult, Event, EventKind, Layer, Observation, Sample, SeriesKey, Status,
};
use lookout::store::synth::SystemSim;
use lookout::store::{Point, Store, StoreError, StoreOptions, Tier};

const T0: i64 = 1_700_000_000_000 / 86_400_000 * 86_400_000; // a midnight, UTC
const SEC: i64 = 1_000;
const MIN: i64 = 60 * SEC;
const HOUR: i64 = 60 * MIN;
const DAY: i64 = 24 * HOUR;

fn key(name: &str) -> Arc<SeriesKey> {
    Arc::new(SeriesKey::new(name))
}

fn obs(at_ms: i64, samples: &[(&Arc<SeriesKey>, f64)]) -> Observation {
    Observation {
        source: "test".into(),
        at_ms,
        samples: samples
            .iter()
            .map(|(k, v)| Sample {
                series: (*k).clone(),
                value: *v,
            })
            .collect(),
        checks: vec![],
    }
}

async fn open_at(dir: &Path, clock: &Arc<ManualClock>, opts: StoreOptions) -> Store {
    let clock: SharedClock = clock.clone();
    Store::open(dir, opts, clock).await.unwrap()
}

/// A new store with the default options in a temporary directory (deleted when dropped, after
/// the store), on a manual clock at `now`.
async fn new_store(now: i64) -> (tempfile::TempDir, Arc<ManualClock>, Store) {
    let tmp = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(now);
    let store = open_at(tmp.path(), &clock, StoreOptions::default()).await;
    (tmp, clock, store)
}

fn bits(points: &[Point]) -> Vec<(i64, u64)> {
    points.iter().map(|p| (p.at_ms, p.last.to_bits())).collect()
}

/// Writes `n` samples of `k` every `every` ms from `from`, value = f(i), flushing every 10.
async fn write_series(
    store: &Store,
    k: &Arc<SeriesKey>,
    from: i64,
    every: i64,
    n: i64,
    f: impl Fn(i64) -> f64,
) {
    for i in 0..n {
        store.ingest(&obs(from + i * every, &[(k, f(i))]));
        if i % 10 == 9 {
            store.flush().await.unwrap();
        }
    }
    store.flush().await.unwrap();
}

#[tokio::test]
async fn query_sees_unflushed_samples_then_flushed_ones_once() {
    let _machine = crate::common::machine::shared();
    let (_tmp, _clock, store) = new_store(T0 + 10 * MIN).await;
    let k = key("temp");
    for i in 0..5 {
        store.ingest(&obs(T0 + i * SEC, &[(&k, i as f64)]));
    }
    let q = store.query("temp", &[], T0, T0 + MIN, 1000).await.unwrap();
    assert_eq!(q.tier, Tier::Raw);
    assert_eq!(q.step_ms, 0);
    assert_eq!(q.series.len(), 1);
    assert_eq!(q.series[0].points.len(), 5, "buffered samples are visible");
    assert_eq!(store.series().await.unwrap(), vec![(*k).clone()]);

    let stats = store.flush().await.unwrap();
    assert_eq!((stats.samples, stats.series, stats.chunks), (5, 1, 1));
    store.ingest(&obs(T0 + 5 * SEC, &[(&k, 5.0)]));
    let q = store.query("temp", &[], T0, T0 + MIN, 1000).await.unwrap();
    let values: Vec<f64> = q.series[0].points.iter().map(|p| p.last).collect();
    assert_eq!(values, vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
    assert_eq!(q.series[0].points[2].count, 1);
}

#[tokio::test]
async fn label_matchers_select_series() {
    let _machine = crate::common::machine::shared();
    let (_tmp, _clock, store) = new_store(T0 + HOUR).await;
    let user = Arc::new(SeriesKey::new("cpu_ratio").with("mode", "user"));
    let idle = Arc::new(SeriesKey::new("cpu_ratio").with("mode", "idle"));
    let other = key("load");
    store.ingest(&obs(T0, &[(&user, 0.25), (&idle, 0.75), (&other, 1.0)]));
    store.flush().await.unwrap();
    store.ingest(&obs(T0 + SEC, &[(&user, 0.5), (&idle, 0.5)]));
    let all = store
        .query("cpu_ratio", &[], T0, T0 + MIN, 100)
        .await
        .unwrap();
    assert_eq!(
        all.series.iter().map(|s| s.key.clone()).collect::<Vec<_>>(),
        vec![(*idle).clone(), (*user).clone()]
    );
    let m = [("mode".to_string(), "user".to_string())];
    let one = store
        .query("cpu_ratio", &m, T0, T0 + MIN, 100)
        .await
        .unwrap();
    assert_eq!(one.series.len(), 1);
    assert_eq!(
        one.series[0]
            .points
            .iter()
            .map(|p| p.avg)
            .collect::<Vec<_>>(),
        vec![0.25, 0.5]
    );
    let none = store
        .query(
            "cpu_ratio",
            &[("mode".into(), "steal".into())],
            T0,
            T0 + MIN,
            100,
        )
        .await
        .unwrap();
    assert!(none.series.is_empty());
}

#[tokio::test]
async fn sealing_preserves_every_sample_exactly() {
    let _machine = crate::common::machine::shared();
    let (_tmp, clock, store) = new_store(T0).await;
    let mut sim = SystemSim::new(42);
    let keys = sim.keys().to_vec();
    let mut expected: Vec<Vec<(i64, u64)>> = vec![Vec::new(); keys.len()];
    for i in 0..(2 * 3600 + 600) {
        let at = T0 + i * SEC;
        let o = sim.tick(at, SEC);
        for (j, s) in o.samples.iter().enumerate() {
            expected[j].push((at, s.value.to_bits()));
        }
        store.ingest(&o);
        if i % 10 == 9 {
            store.flush().await.unwrap();
        }
    }
    // Special values survive too.
    let odd = key("odd");
    let specials = [
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        -0.0,
        1e-300,
        f64::MAX,
    ];
    for (i, v) in specials.iter().enumerate() {
        store.ingest(&obs(T0 + i as i64 * 7 * MIN, &[(&odd, *v)]));
    }
    store.flush().await.unwrap();

    let read_all = |store: Store, keys: Vec<Arc<SeriesKey>>| async move {
        let mut got = Vec::new();
        for k in &keys {
            let mut pts = Vec::new();
            let mut from = T0;
            while from < T0 + 3 * HOUR {
                // 15-minute slices: 900 points, answered from the raw tier
                let q = store
                    .query(k.name(), &matchers(k), from, from + 15 * MIN - 1, 1000)
                    .await
                    .unwrap();
                assert_eq!(q.tier, Tier::Raw);
                pts.extend(bits(&q.series[0].points));
                from += 15 * MIN;
            }
            got.push(pts);
        }
        got
    };
    let before = read_all(store.clone(), keys.clone()).await;
    assert_eq!(before, expected);

    clock.set(T0 + 2 * HOUR + 5 * MIN);
    let m = store.maintain().await.unwrap();
    assert_eq!(
        m.sealed_windows,
        2 * keys.len() + 1,
        "two closed hours per series, odd: 1"
    );
    let stats = store.stats().await.unwrap();
    assert_eq!(
        stats.head_chunks, 60,
        "the open hour stays in head rows: one per flush"
    );
    let after = read_all(store.clone(), keys.clone()).await;
    assert_eq!(after, expected, "sealing changed a sample");

    clock.set(T0 + 4 * HOUR);
    store.maintain().await.unwrap();
    assert_eq!(store.stats().await.unwrap().head_chunks, 0);
    assert_eq!(read_all(store.clone(), keys.clone()).await, expected);
    // sealing again is a no-op
    assert_eq!(store.maintain().await.unwrap().sealed_windows, 0);

    let q = store.query("odd", &[], T0, T0 + HOUR, 1000).await.unwrap();
    let got: Vec<u64> = q.series[0]
        .points
        .iter()
        .map(|p| p.last.to_bits())
        .collect();
    assert_eq!(
        got,
        specials.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
    );
}

fn matchers(k: &SeriesKey) -> Vec<(String, String)> {
    k.labels()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[tokio::test]
async fn rollups_summarise_minutes_and_hours() {
    let _machine = crate::common::machine::shared();
    let (_tmp, clock, store) = new_store(T0).await;
    let k = key("v");
    // value = second of the minute: min 0, max 59, avg 29.5, last 59 in each full minute
    write_series(&store, &k, T0, SEC, 2 * 3600, |i| (i % 60) as f64).await;
    clock.set(T0 + 2 * HOUR + 3 * MIN);
    store.maintain().await.unwrap();

    let q = store
        .query("v", &[], T0, T0 + 2 * HOUR - 1, 1000)
        .await
        .unwrap();
    assert_eq!((q.tier, q.step_ms), (Tier::Minute, MIN));
    let pts = &q.series[0].points;
    assert_eq!(pts.len(), 120);
    for (i, p) in pts.iter().enumerate() {
        assert_eq!(
            (p.at_ms, p.min, p.max, p.avg, p.count, p.last),
            (T0 + i as i64 * MIN, 0.0, 59.0, 29.5, 60, 59.0)
        );
    }
    // Downsampled to 10 points: 12-minute buckets, weighted.
    let q = store
        .query("v", &[], T0, T0 + 2 * HOUR - 1, 10)
        .await
        .unwrap();
    assert_eq!((q.tier, q.step_ms), (Tier::Minute, 12 * MIN));
    assert_eq!(q.series[0].points.len(), 10);
    assert!(
        q.series[0]
            .points
            .iter()
            .all(|p| p.count == 720 && p.avg == 29.5)
    );

    // Two days later: raw is still there, but a two-day range reads the hour tier.
    clock.set(T0 + 2 * DAY);
    let q = store.query("v", &[], T0, T0 + 2 * DAY, 1000).await.unwrap();
    assert_eq!((q.tier, q.step_ms), (Tier::Hour, HOUR));
    assert_eq!(
        q.series[0]
            .points
            .iter()
            .map(|p| (p.count, p.avg))
            .collect::<Vec<_>>(),
        vec![(3600, 29.5), (3600, 29.5)]
    );
}

#[tokio::test]
async fn rollup_tiers_include_data_not_sealed_yet() {
    let _machine = crate::common::machine::shared();
    let (_tmp, clock, store) = new_store(T0).await;
    let k = key("v");
    write_series(&store, &k, T0, SEC, 90 * 60, |_| 1.0).await; // 1 h 30 min, flushed
    store.ingest(&obs(T0 + 90 * MIN, &[(&k, 100.0)])); // buffered
    clock.set(T0 + 61 * MIN);
    let m = store.maintain().await.unwrap();
    assert_eq!(
        m.sealed_windows, 0,
        "the first hour is sealed 2 minutes after it ends"
    );
    let q = store
        .query("v", &[], T0, T0 + 90 * MIN, 1000)
        .await
        .unwrap();
    assert_eq!(q.tier, Tier::Minute);
    let pts = &q.series[0].points;
    assert_eq!(pts.len(), 91);
    assert_eq!(pts.iter().map(|p| p.count).sum::<u64>(), 90 * 60 + 1);
    assert_eq!(pts[90].max, 100.0);

    // A range starting mid-minute: its first bucket is the whole minute, heads included.
    let q = store
        .query("v", &[], T0 + 30 * SEC, T0 + 90 * MIN, 1000)
        .await
        .unwrap();
    assert_eq!(q.tier, Tier::Minute);
    assert_eq!(
        (q.series[0].points[0].at_ms, q.series[0].points[0].count),
        (T0, 60)
    );

    clock.set(T0 + 90 * MIN + 10 * MIN);
    assert!(store.maintain().await.unwrap().sealed_windows > 0);
    let q2 = store
        .query("v", &[], T0, T0 + 90 * MIN, 1000)
        .await
        .unwrap();
    assert_eq!(
        q2, q,
        "the same answer from rollups + heads as from heads alone"
    );
}

#[tokio::test]
async fn late_samples_are_merged_into_a_sealed_window() {
    let _machine = crate::common::machine::shared();
    let (_tmp, clock, store) = new_store(T0).await;
    let k = key("v");
    write_series(&store, &k, T0, 2 * SEC, 1800, |_| 1.0).await; // even seconds of hour 0
    clock.set(T0 + HOUR + 5 * MIN);
    assert_eq!(store.maintain().await.unwrap().sealed_windows, 1);
    // A cron-mode writer flushes a sample of that hour late, at an odd second.
    store.ingest(&obs(T0 + 61 * SEC, &[(&k, 7.0)]));
    store.flush().await.unwrap();
    assert_eq!(store.maintain().await.unwrap().sealed_windows, 1);
    let q = store
        .query("v", &[], T0 + MIN, T0 + 2 * MIN - 1, 1000)
        .await
        .unwrap();
    assert_eq!(q.series[0].points.len(), 31);
    let q = store
        .query("v", &[], T0, T0 + HOUR - 1, 1000)
        .await
        .unwrap();
    assert_eq!(q.tier, Tier::Minute);
    let minute1 = q.series[0].points[1];
    assert_eq!((minute1.count, minute1.max, minute1.min), (31, 7.0, 1.0));
    assert!((minute1.avg - 37.0 / 31.0).abs() < 1e-12);
    let stats = store.stats().await.unwrap();
    assert_eq!(
        (stats.raw.chunks, stats.raw.samples, stats.head_chunks),
        (1, 1801, 0)
    );
}

#[tokio::test]
async fn downsampling_never_exceeds_max_points() {
    let _machine = crate::common::machine::shared();
    let (_tmp, clock, store) = new_store(T0).await;
    let k = key("v");
    // 3 days at 60 s, sealed hour by hour as the daemon would
    for h in 0..72 {
        write_series(&store, &k, T0 + h * HOUR, MIN, 60, |i| (h * 60 + i) as f64).await;
        clock.set(T0 + (h + 1) * HOUR + 3 * MIN);
        store.maintain().await.unwrap();
    }
    let ranges = [
        (T0, T0 + 10 * MIN),
        (T0 + 17 * SEC, T0 + 17 * HOUR + 3),
        (T0, T0 + 72 * HOUR),
        (T0 + DAY + 1, T0 + 3 * DAY - 1),
        (T0 - DAY, T0 + DAY),
    ];
    for (from, to) in ranges {
        for max_points in [1, 2, 3, 7, 10, 100, 999, 1000, 5000] {
            let q = store.query("v", &[], from, to, max_points).await.unwrap();
            let pts = &q.series[0].points;
            assert!(
                pts.len() <= max_points,
                "{from}..{to} max {max_points}: {} points ({:?}, step {})",
                pts.len(),
                q.tier,
                q.step_ms
            );
            assert!(pts.windows(2).all(|w| w[0].at_ms < w[1].at_ms));
            // every sample of the buckets touched is counted exactly once, whatever the tier
            let (lo, hi) = match q.tier {
                Tier::Raw => (from, to),
                t => {
                    let s = t.step_ms();
                    (from.div_euclid(s) * s, to.div_euclid(s) * s + s - 1)
                }
            };
            let want = (0..72 * 60)
                .map(|k| T0 + k * MIN)
                .filter(|t| (lo..=hi).contains(t))
                .count();
            let counted: u64 = pts.iter().map(|p| p.count).sum();
            assert_eq!(
                counted, want as u64,
                "{from}..{to} max {max_points} {:?}",
                q.tier
            );
        }
    }
    let q = store
        .query("v", &[], T0, T0 + 10 * MIN, 1000)
        .await
        .unwrap();
    assert_eq!((q.tier, q.series[0].points.len()), (Tier::Raw, 11));
    let q = store
        .query("v", &[], T0, T0 + 12 * HOUR, 1000)
        .await
        .unwrap();
    assert_eq!(q.tier, Tier::Raw, "720 raw points at 60 s");
    let q = store
        .query("v", &[], T0, T0 + 72 * HOUR, 1000)
        .await
        .unwrap();
    assert_eq!((q.tier, q.series[0].points.len()), (Tier::Hour, 72));
}

fn retention() -> Retention {
    StoreOptions::default().retention
}

#[tokio::test]
async fn retention_drops_raw_after_7_days_and_rollups_still_answer() {
    let _machine = crate::common::machine::shared();
    let (_tmp, clock, store) = new_store(T0).await;
    let k = key("v");
    write_series(&store, &k, T0, SEC, 2 * 3600, |i| (i % 60) as f64).await;
    let checks = [
        result("disk", Status::Ok, T0),
        result("disk", Status::Warning, T0 + MIN),
    ];
    store.ingest(&Observation {
        checks: checks.to_vec(),
        ..Default::default()
    });
    store.flush().await.unwrap();
    store.record_event(&event(T0, "started")).await.unwrap();
    clock.set(T0 + 3 * HOUR);
    store.maintain().await.unwrap();
    let s = store.stats().await.unwrap();
    assert_eq!(
        (s.raw.chunks, s.minute.samples, s.hour.samples),
        (2, 120, 2)
    );

    clock.set(T0 + 8 * DAY);
    let m = store.maintain().await.unwrap();
    assert_eq!(m.expired_raw_chunks, 2);
    let s = store.stats().await.unwrap();
    assert_eq!((s.raw.chunks, s.minute.samples), (0, 120));
    // a 10-minute range a week ago: raw is gone, the minute tier answers
    let q = store
        .query("v", &[], T0, T0 + 10 * MIN - 1, 1000)
        .await
        .unwrap();
    assert_eq!(q.tier, Tier::Minute);
    assert_eq!(q.series[0].points.len(), 10);
    assert!(
        q.series[0]
            .points
            .iter()
            .all(|p| p.count == 60 && p.avg == 29.5)
    );
    assert_eq!(
        store
            .check_history("disk", 0, i64::MAX, 10)
            .await
            .unwrap()
            .len(),
        2
    );

    clock.set(T0 + 92 * DAY);
    store.maintain().await.unwrap();
    let s = store.stats().await.unwrap();
    assert_eq!((s.minute.chunks, s.hour.samples), (0, 2));
    let q = store
        .query("v", &[], T0, T0 + 10 * MIN - 1, 1000)
        .await
        .unwrap();
    assert_eq!(q.tier, Tier::Hour);
    assert_eq!(q.series[0].points[0].count, 3600);
    assert!(
        store
            .check_history("disk", 0, i64::MAX, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store.latest_checks().await.unwrap().len(),
        1,
        "the latest result stays"
    );
    assert_eq!(store.events(0, i64::MAX, 10).await.unwrap().len(), 1);

    clock.set(T0 + 740 * DAY);
    store.maintain().await.unwrap();
    let s = store.stats().await.unwrap();
    assert_eq!((s.hour.chunks, s.events), (0, 0));
    assert!(
        store
            .query("v", &[], T0, T0 + HOUR, 1000)
            .await
            .unwrap()
            .series[0]
            .points
            .is_empty()
    );
}

/// Noise that does not compress, so a few days take megabytes.
fn noise(i: i64) -> f64 {
    let mut x = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x ^= x >> 29;
    (x % 1_000_000_007) as f64 / 7.0
}

#[tokio::test]
async fn size_cap_drops_raw_first_then_minute_and_the_file_shrinks() {
    let _machine = crate::common::machine::shared();
    let (tmp, clock, store) = new_store(T0).await;
    let keys: Vec<Arc<SeriesKey>> = (0..10).map(|i| key(&format!("s{i}"))).collect();
    for h in 0..36 {
        for i in 0..720 {
            let at = T0 + h * HOUR + i * 5 * SEC;
            let samples: Vec<(&Arc<SeriesKey>, f64)> = keys
                .iter()
                .enumerate()
                .map(|(j, k)| (k, noise(at + j as i64)))
                .collect();
            store.ingest(&obs(at, &samples));
        }
        store.flush().await.unwrap();
        clock.set(T0 + (h + 1) * HOUR + 3 * MIN);
        store.maintain().await.unwrap();
    }
    store.close().await.unwrap();
    let db = tmp.path().join("lookout.db");
    let full = std::fs::metadata(&db).unwrap().len();
    let open_capped = |max_size: u64| {
        let clock = clock.clone();
        let dir = tmp.path().to_path_buf();
        async move {
            open_at(
                &dir,
                &clock,
                StoreOptions {
                    max_size,
                    retention: retention(),
                    ..StoreOptions::default()
                },
            )
            .await
        }
    };

    // Cap at 70%: only raw data goes, oldest first.
    let cap = full * 7 / 10;
    let store = open_capped(cap).await;
    let before = store.stats().await.unwrap();
    let m = store.maintain().await.unwrap();
    let after = store.stats().await.unwrap();
    assert!(m.capped_raw_chunks > 0 && m.capped_rollups == 0, "{m:?}");
    assert!(after.raw.oldest_ms > before.raw.oldest_ms);
    assert!(after.raw.chunks > 0);
    assert_eq!(after.minute, before.minute);
    assert_eq!(after.hour, before.hour);
    let size = std::fs::metadata(&db).unwrap().len();
    assert!(size <= cap, "file {size} > cap {cap}");
    assert_eq!(m.bytes_after, size);
    // the newest raw data is still there
    let q = store
        .query("s0", &[], T0 + 35 * HOUR, T0 + 35 * HOUR + 10 * MIN, 1000)
        .await
        .unwrap();
    assert_eq!(q.tier, Tier::Raw);
    assert_eq!(q.series[0].points.len(), 121);
    store.close().await.unwrap();

    // Cap below what the rollups alone take: raw goes entirely, then the oldest minutes
    // (a row of minute buckets spans a day: the first day goes, the hours stay). What is
    // neither raw nor minute data (hours, the schema's other tables) stays within the cap,
    // so adding tables to the schema does not change what this tests.
    let fixed = size - after.raw.bytes - after.minute.bytes;
    let store = open_capped(fixed + before.minute.bytes * 9 / 10).await;
    let m = store.maintain().await.unwrap();
    let after2 = store.stats().await.unwrap();
    assert!(m.capped_rollups > 0, "{m:?}");
    assert_eq!(after2.raw.chunks, 0);
    assert_eq!(after2.minute.oldest_ms, Some(T0 + DAY));
    assert_eq!(after2.hour, before.hour);
    let shrunk = std::fs::metadata(&db).unwrap().len();
    assert!(shrunk < size, "file did not shrink: {shrunk} >= {size}");
    store.close().await.unwrap();
}

fn result(check: &str, status: Status, at_ms: i64) -> CheckResult {
    CheckResult {
        underlying: None,
        check: check.into(),
        layer: Layer::System,
        status,
        value: Some(0.5),
        detail: format!("{check} is {status}"),
        at_ms,
    }
}

fn event(at_ms: i64, message: &str) -> Event {
    Event {
        at_ms,
        kind: EventKind::Started,
        subject: "lookout".into(),
        message: message.into(),
    }
}

#[tokio::test]
async fn check_results_keep_the_latest_and_a_minute_resolution_history() {
    let _machine = crate::common::machine::shared();
    let (_tmp, _clock, store) = new_store(T0).await;
    // disk every 10 s for 3 minutes, warning from 2:00 on
    let mut all = Vec::new();
    for i in 0..18 {
        let status = if i >= 12 { Status::Warning } else { Status::Ok };
        all.push(result("disk", status, T0 + i * 10 * SEC));
    }
    all.push(result("cpu", Status::Ok, T0));
    store.ingest(&Observation {
        checks: all[..10].to_vec(),
        ..Default::default()
    });
    store.flush().await.unwrap();
    store.ingest(&Observation {
        checks: all[10..].to_vec(),
        ..Default::default()
    });
    // buffered results show in latest_checks
    let latest = store.latest_checks().await.unwrap();
    assert_eq!(
        latest.iter().map(|r| r.check.as_str()).collect::<Vec<_>>(),
        vec!["cpu", "disk"]
    );
    assert_eq!(latest[1], all[17]);
    store.flush().await.unwrap();
    assert_eq!(store.latest_checks().await.unwrap()[1], all[17]);
    let history = store
        .check_history("disk", T0, T0 + HOUR, 100)
        .await
        .unwrap();
    let at: Vec<i64> = history.iter().map(|r| (r.at_ms - T0) / SEC).collect();
    // newest first: the change to warning at 120 s, and once a minute before
    assert_eq!(at, vec![120, 60, 0]);
    assert_eq!(history[0], all[12]);
    assert_eq!(
        store
            .check_history("disk", T0, T0 + HOUR, 1)
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(
        store
            .check_history("nope", 0, i64::MAX, 10)
            .await
            .unwrap()
            .is_empty()
    );
    // A result older than the latest does not replace it.
    store.ingest(&Observation {
        checks: vec![result("disk", Status::Critical, T0 + 5 * SEC)],
        ..Default::default()
    });
    store.flush().await.unwrap();
    assert_eq!(store.latest_checks().await.unwrap()[1], all[17]);
}

#[tokio::test]
async fn events_come_newest_first_within_range_and_limit() {
    let _machine = crate::common::machine::shared();
    let (_tmp, _clock, store) = new_store(T0).await;
    for i in 0..5 {
        store
            .record_event(&event(T0 + i * SEC, &format!("e{i}")))
            .await
            .unwrap();
    }
    let got = store.events(T0 + SEC, T0 + 3 * SEC, 10).await.unwrap();
    assert_eq!(
        got.iter().map(|e| e.message.as_str()).collect::<Vec<_>>(),
        vec!["e3", "e2", "e1"]
    );
    assert_eq!(store.events(0, i64::MAX, 2).await.unwrap()[0].message, "e4");
    assert_eq!(got[0].kind, EventKind::Started);
}

#[tokio::test]
async fn reopening_after_a_drop_without_close_keeps_what_was_flushed() {
    let _machine = crate::common::machine::shared();
    let tmp = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let k = key("v");
    {
        let store = open_at(tmp.path(), &clock, StoreOptions::default()).await;
        write_series(&store, &k, T0, SEC, 100, |i| i as f64).await;
        store.ingest(&obs(T0 + 100 * SEC, &[(&k, -1.0)])); // never flushed
        // dropped here without close(): like a crash after the last flush
    }
    let store = open_at(tmp.path(), &clock, StoreOptions::default()).await;
    let q = store.query("v", &[], T0, T0 + HOUR, 1000).await.unwrap();
    let values: Vec<f64> = q.series[0].points.iter().map(|p| p.last).collect();
    assert_eq!(values, (0..100).map(|i| i as f64).collect::<Vec<_>>());
    store.check_integrity().await.unwrap();
}

#[tokio::test]
async fn a_flush_that_cannot_get_the_lock_keeps_the_samples() {
    let _machine = crate::common::machine::shared();
    use sqlx::{ConnectOptions, Connection};
    let (tmp, clock, store) = new_store(T0).await;
    let k = key("v");
    store.ingest(&obs(T0, &[(&k, 1.0)]));
    // Another process holds the write lock longer than the busy timeout.
    let mut other = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(store.path())
        .connect()
        .await
        .unwrap();
    let tx = other.begin_with("BEGIN IMMEDIATE").await.unwrap();
    let err = store.flush().await.unwrap_err();
    assert!(err.is_transient(), "{err:?}");
    assert!(matches!(err, StoreError::Busy { .. }));
    assert_eq!(
        store.query("v", &[], T0, T0, 10).await.unwrap().series[0]
            .points
            .len(),
        1
    );
    tx.rollback().await.unwrap();
    assert_eq!(store.flush().await.unwrap().samples, 1);
    drop(store);
    let store = open_at(tmp.path(), &clock, StoreOptions::default()).await;
    assert_eq!(
        store.query("v", &[], T0, T0, 10).await.unwrap().series[0]
            .points
            .len(),
        1
    );
}

#[tokio::test]
async fn a_closed_store_says_so() {
    let _machine = crate::common::machine::shared();
    let (tmp, clock, store) = new_store(T0).await;
    let k = key("v");
    store.ingest(&obs(T0, &[(&k, 1.0)]));
    let clone = store.clone();
    store.close().await.unwrap();
    let err = clone.query("v", &[], T0, T0, 10).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("the store at {} is closed", store.path().display())
    );
    store.close().await.unwrap();
    let store = open_at(tmp.path(), &clock, StoreOptions::default()).await;
    assert_eq!(
        store.query("v", &[], T0, T0, 10).await.unwrap().series[0]
            .points
            .len(),
        1,
        "close() flushed"
    );
}

/// A daemon and cron-mode runs, each with its own `Store` (own connections, like separate
/// processes), writing and maintaining the same store at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_writers_on_one_store_lose_nothing_and_never_fail() {
    let _machine = crate::common::machine::shared();
    let tmp = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let dir = tmp.path().to_path_buf();
    let daemon = open_at(&dir, &clock, StoreOptions::default()).await;
    let ticks = 1_200i64;
    let d = daemon.clone();
    let clock_d = clock.clone();
    let daemon_task = tokio::spawn(async move {
        let mut sim = SystemSim::new(1);
        for i in 0..ticks {
            let at = T0 + i * 3 * SEC; // one hour of samples
            d.ingest(&sim.tick(at, 3 * SEC));
            clock_d.set(at);
            if i % 10 == 9 {
                d.flush().await.unwrap();
            }
            if i % 100 == 99 {
                d.maintain().await.unwrap();
            }
        }
        d.flush().await.unwrap();
    });
    let cron_task = tokio::spawn({
        let dir = dir.clone();
        let clock = clock.clone();
        async move {
            let k = key("cron_metric");
            for run in 0..40i64 {
                let store = open_at(&dir, &clock, StoreOptions::default()).await;
                store.ingest(&Observation {
                    source: "cron".into(),
                    at_ms: T0 + run * 90 * SEC,
                    samples: vec![Sample {
                        series: k.clone(),
                        value: run as f64,
                    }],
                    checks: vec![result("cron_check", Status::Ok, T0 + run * 90 * SEC)],
                });
                store.flush().await.unwrap();
                store
                    .record_event(&event(T0 + run, &format!("run {run}")))
                    .await
                    .unwrap();
                store.maintain().await.unwrap();
                store.close().await.unwrap();
            }
        }
    });
    daemon_task.await.unwrap();
    cron_task.await.unwrap();
    clock.set(T0 + 2 * HOUR);
    daemon.maintain().await.unwrap();

    let sim = SystemSim::new(1);
    for k in sim.keys() {
        let mut n = 0;
        for slice in 0..4 {
            let from = T0 + slice * 15 * MIN;
            let q = daemon
                .query(k.name(), &matchers(k), from, from + 15 * MIN - 1, 1000)
                .await
                .unwrap();
            n += q.series[0].points.len();
        }
        assert_eq!(n as i64, ticks, "{k}");
    }
    let q = daemon
        .query("cron_metric", &[], T0, T0 + HOUR, 1000)
        .await
        .unwrap();
    assert_eq!(q.series[0].points.len(), 40);
    assert_eq!(daemon.events(0, i64::MAX, 100).await.unwrap().len(), 40);
    daemon.check_integrity().await.unwrap();
}

#[tokio::test]
async fn stats_report_tiers_and_sizes() {
    let _machine = crate::common::machine::shared();
    let (_tmp, clock, store) = new_store(T0).await;
    let k = key("v");
    write_series(&store, &k, T0, SEC, 3600, |i| i as f64).await;
    store.ingest(&obs(T0 + HOUR, &[(&k, 0.0)]));
    clock.set(T0 + HOUR + 5 * MIN);
    store.maintain().await.unwrap();
    let s = store.stats().await.unwrap();
    assert_eq!(
        (s.series, s.raw.chunks, s.raw.samples, s.head_chunks),
        (1, 1, 3600, 0)
    );
    assert_eq!(s.raw.oldest_ms, Some(T0));
    assert_eq!(
        (s.minute.chunks, s.minute.samples, s.minute.oldest_ms),
        (1, 60, Some(T0))
    );
    assert_eq!((s.hour.chunks, s.hour.samples), (1, 1));
    assert!(
        s.raw.bytes < 3600 / 2,
        "a counter costs well under a byte per sample: {}",
        s.raw.bytes
    );
    assert_eq!(s.buffered_samples, 1);
    assert!(s.file_bytes > 0);
}

/// Every future of the store's API is `Send`, so the daemon can spawn tasks that use it.
#[allow(dead_code, clippy::let_underscore_future)]
fn store_futures_are_send(store: Store, clock: SharedClock) {
    fn send<T: Send>(_: T) {}
    fn shared<T: Send + Sync + Clone + 'static>() {}
    shared::<Store>();
    send(Store::open(Path::new("x"), StoreOptions::default(), clock));
    send(store.flush());
    send(store.maintain());
    send(store.query("x", &[], 0, 0, 1));
    send(store.series());
    send(store.latest_checks());
    send(store.check_history("x", 0, 0, 1));
    send(store.events(0, 0, 1));
    send(store.record_event(&event(0, "x")));
    send(store.stats());
    send(store.close());
    send(store.check_integrity());
}
