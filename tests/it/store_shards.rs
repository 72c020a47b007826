//! Head rows cut by series shard (schema version 10, issue 19): a hub's flush of thousands of
//! series is written as many small rows, a query of one host's series reads the rows of its
//! shard only, and sealing goes shard group by shard group without losing or changing a sample,
//! also over rows written before version 10 (which cover every shard).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use lookout::clock::{ManualClock, SharedClock};
use lookout::model::{Observation, Sample, SeriesKey};
use lookout::store::{Store, StoreOptions, Tier};

const T0: i64 = 1_700_000_000_000 / 86_400_000 * 86_400_000; // a midnight, UTC
const SEC: i64 = 1_000;
const MIN: i64 = 60 * SEC;
const HOUR: i64 = 60 * MIN;

const HOSTS: usize = 60;
const PER_HOST: usize = 150;

/// `HOSTS` hosts × `PER_HOST` series: 10 names, 15 series of each name per host; and
/// `rare_metric` on the first and the last host only.
fn hub_keys() -> Vec<Vec<Arc<SeriesKey>>> {
    (0..HOSTS)
        .map(|h| {
            let key = |name: String, cpu: usize| {
                let mut labels = BTreeMap::new();
                labels.insert("host".to_string(), format!("host-{h:03}"));
                labels.insert("cpu".to_string(), cpu.to_string());
                Arc::new(SeriesKey::from_map(name, &labels))
            };
            let mut keys: Vec<_> = (0..PER_HOST)
                .map(|i| key(format!("node_metric_{}", i / 15), i % 15))
                .collect();
            if h == 0 || h == HOSTS - 1 {
                keys.push(key("rare_metric".into(), 0));
            }
            keys
        })
        .collect()
}

const RARE: usize = 2;

fn value(h: usize, i: usize, tick: i64) -> f64 {
    (h * 1_000 + i) as f64 + tick as f64 * 0.5
}

/// One observation per host and tick (as the receiver publishes), a flush per tick.
async fn write_ticks(store: &Store, keys: &[Vec<Arc<SeriesKey>>], ticks: std::ops::Range<i64>) {
    for tick in ticks {
        for (h, host) in keys.iter().enumerate() {
            store.ingest(&Observation {
                source: "test".into(),
                at_ms: T0 + tick * 10 * SEC,
                samples: host
                    .iter()
                    .enumerate()
                    .map(|(i, k)| Sample {
                        series: k.clone(),
                        value: value(h, i, tick),
                    })
                    .collect(),
                checks: vec![],
            });
        }
        store.flush().await.unwrap();
    }
}

async fn open(dir: &Path, clock: &Arc<ManualClock>, opts: StoreOptions) -> Store {
    let clock: SharedClock = clock.clone();
    Store::open(dir, opts, clock).await.unwrap()
}

/// Every series' raw samples over `ticks`, as (timestamp, value bits), compared with what was
/// written.
async fn assert_all_read_back(store: &Store, keys: &[Vec<Arc<SeriesKey>>], ticks: i64) {
    for (h, host) in keys.iter().enumerate() {
        // One query per name and host (15 series), as a host page asks.
        for name in 0..PER_HOST / 15 {
            let name = format!("node_metric_{name}");
            let q = store
                .query(
                    &name,
                    &[("host".into(), format!("host-{h:03}"))],
                    T0,
                    T0 + ticks * 10 * SEC - 1,
                    10_000,
                )
                .await
                .unwrap();
            assert_eq!(q.tier, Tier::Raw);
            assert_eq!(q.series.len(), 15, "{name} of host-{h:03}");
            for s in &q.series {
                let i = host.iter().position(|k| **k == s.key).unwrap();
                let got: Vec<(i64, u64)> = s
                    .points
                    .iter()
                    .map(|p| (p.at_ms, p.last.to_bits()))
                    .collect();
                let want: Vec<(i64, u64)> = (0..ticks)
                    .map(|t| (T0 + t * 10 * SEC, value(h, i, t).to_bits()))
                    .collect();
                assert_eq!(got, want, "{} of host-{h:03}", s.key);
            }
        }
    }
}

#[tokio::test]
async fn a_hub_flush_is_cut_by_shard_and_a_query_of_one_host_reads_a_few_rows() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0 + 10 * MIN);
    let store = open(dir.path(), &clock, StoreOptions::default()).await;
    let keys = hub_keys();
    write_ticks(&store, &keys, 0..6).await;

    let heads = store.stats().await.unwrap().head_chunks;
    // 9,000 series a flush, ≈ 250 KB: cut into rows of about 32 KB at shard boundaries.
    assert!(
        (6 * 5..=6 * 40).contains(&heads),
        "head rows after 6 flushes of 9,000 series: {heads}"
    );

    // One name of one host (15 series): the rows of one shard, not every row.
    let before = store.head_rows_read();
    let k = &keys[7][3 * 15];
    let q = store
        .query(
            k.name(),
            &[("host".into(), "host-007".into())],
            T0,
            T0 + HOUR,
            1_000,
        )
        .await
        .unwrap();
    assert_eq!(q.series.len(), 15);
    assert!(q.series.iter().all(|s| s.points.len() == 6));
    let read = store.head_rows_read() - before;
    assert!(
        (6..=12).contains(&read),
        "a query of one host's series read {read} of {heads} head rows"
    );

    // One name of every host: many shards, the rows of those shards fetched by id.
    let before = store.head_rows_read();
    let q = store
        .query("node_metric_4", &[], T0, T0 + HOUR, 1_000)
        .await
        .unwrap();
    assert_eq!(q.series.len(), HOSTS * 15);
    for s in &q.series {
        let h: usize = s.key.label("host").unwrap()[5..].parse().unwrap();
        let i = keys[h].iter().position(|k| **k == s.key).unwrap();
        let got: Vec<f64> = s.points.iter().map(|p| p.last).collect();
        assert_eq!(
            got,
            (0..6).map(|t| value(h, i, t)).collect::<Vec<_>>(),
            "{}",
            s.key
        );
    }
    assert_eq!(
        store.head_rows_read() - before,
        heads,
        "every row has a host of it"
    );

    // Two hosts' series of one name: two shards, and the rows between them not read.
    let before = store.head_rows_read();
    let q = store
        .query("rare_metric", &[], T0, T0 + HOUR, 1_000)
        .await
        .unwrap();
    assert_eq!(q.series.len(), RARE);
    for s in &q.series {
        let h: usize = s.key.label("host").unwrap()[5..].parse().unwrap();
        let got: Vec<f64> = s.points.iter().map(|p| p.last).collect();
        assert_eq!(
            got,
            (0..6).map(|t| value(h, PER_HOST, t)).collect::<Vec<_>>()
        );
    }
    let read = store.head_rows_read() - before;
    assert!(
        (6..=12).contains(&read),
        "two hosts' series of one name read {read} of {heads} head rows"
    );

    assert_all_read_back(&store, &keys, 6).await;
}

#[tokio::test]
async fn sealing_in_many_shard_groups_keeps_every_sample_and_rows_from_before_shards() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0 + 10 * MIN);
    let keys = hub_keys();
    // A store whose heads predate shards: rows covering every shard, as version 9 wrote them.
    {
        let store = open(dir.path(), &clock, StoreOptions::default()).await;
        write_ticks(&store, &keys, 0..3).await;
        store.close().await.unwrap();
        let url = format!("sqlite://{}", dir.path().join("lookout.db").display());
        let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
        // Merge the three flushes' rows into one wide row per flush, as before version 10.
        let rows: Vec<(i64, i64)> = sqlx::query_as("SELECT id, window_ms FROM raw_heads")
            .fetch_all(&pool)
            .await
            .unwrap();
        assert!(rows.len() > 3, "{} rows", rows.len());
        sqlx::query("UPDATE raw_heads SET shard_lo = 0, shard_hi = 255")
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
    }
    // Sealing groups of about 20 KB of head rows: a dozen groups for this hour.
    let opts = StoreOptions {
        seal_group_bytes: 20 << 10,
        ..StoreOptions::default()
    };
    let store = open(dir.path(), &clock, opts).await;
    write_ticks(&store, &keys, 3..6).await;
    assert_all_read_back(&store, &keys, 6).await;

    clock.set(T0 + HOUR + 5 * MIN);
    let m = store.maintain().await.unwrap();
    let series = HOSTS * PER_HOST + RARE;
    assert_eq!(m.sealed_windows, series, "every series sealed once");
    assert_eq!(m.sealed_samples, series * 6);
    assert_eq!(store.stats().await.unwrap().head_chunks, 0);
    assert_all_read_back(&store, &keys, 6).await;
    assert_eq!(
        store.maintain().await.unwrap().sealed_windows,
        0,
        "sealing again: no-op"
    );

    // The rollups are whole too: one minute bucket and one hour bucket of 6 samples a series.
    let stats = store.stats().await.unwrap();
    assert_eq!(stats.minute.chunks, series as u64);
    assert_eq!(
        stats.minute.samples, series as u64,
        "one minute bucket each"
    );
    assert_eq!(stats.hour.samples, series as u64, "one hour bucket each");
}

#[tokio::test]
async fn a_query_narrowed_by_its_host_in_sql_finds_values_that_json_escapes() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0 + 10 * MIN);
    let store = open(dir.path(), &clock, StoreOptions::default()).await;
    let odd = ["web \"1\"", "back\\slash", "été\t", "%_*", ""];
    let keys: Vec<Arc<SeriesKey>> = odd
        .iter()
        .map(|host| {
            let mut labels = BTreeMap::new();
            labels.insert("host".to_string(), host.to_string());
            labels.insert("a".to_string(), "x".to_string());
            Arc::new(SeriesKey::from_map("m", &labels))
        })
        .collect();
    store.ingest(&Observation {
        source: "test".into(),
        at_ms: T0,
        samples: keys
            .iter()
            .enumerate()
            .map(|(i, k)| Sample {
                series: k.clone(),
                value: i as f64,
            })
            .collect(),
        checks: vec![],
    });
    store.flush().await.unwrap();
    for (i, host) in odd.iter().enumerate() {
        let q = store
            .query(
                "m",
                &[("a".into(), "x".into()), ("host".into(), host.to_string())],
                T0,
                T0 + MIN,
                100,
            )
            .await
            .unwrap();
        assert_eq!(q.series.len(), 1, "host {host:?}");
        assert_eq!(q.series[0].points[0].last, i as f64, "host {host:?}");
    }
    let q = store
        .query("m", &[("host".into(), "web".into())], T0, T0 + MIN, 100)
        .await
        .unwrap();
    assert!(q.series.is_empty(), "a prefix is not a match");
}

#[tokio::test]
async fn a_series_made_before_shards_is_found_by_its_host_whatever_its_id() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0 + 10 * MIN);
    let mut labels = BTreeMap::new();
    labels.insert("host".to_string(), "web-1".to_string());
    let old = Arc::new(SeriesKey::from_map("m", &labels));
    {
        let store = open(dir.path(), &clock, StoreOptions::default()).await;
        store.close().await.unwrap();
        // As version 9 left it: the series' id says nothing of its shard.
        let url = format!("sqlite://{}", dir.path().join("lookout.db").display());
        let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
        // Low byte 7: not the shard a new series of this name and host would get.
        sqlx::query(
            "INSERT INTO series (id, key, name, labels) VALUES (7, ?, 'm', '{\"host\":\"web-1\"}')",
        )
        .bind(old.to_string())
        .execute(&pool)
        .await
        .unwrap();
        sqlx::query("UPDATE meta SET value = '1000' WHERE key = 'sharded_from_id'")
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
    }
    let store = open(dir.path(), &clock, StoreOptions::default()).await;
    store.ingest(&Observation {
        source: "test".into(),
        at_ms: T0,
        samples: vec![Sample {
            series: old.clone(),
            value: 4.0,
        }],
        checks: vec![],
    });
    store.flush().await.unwrap();
    let q = store
        .query("m", &[("host".into(), "web-1".into())], T0, T0 + MIN, 100)
        .await
        .unwrap();
    assert_eq!(q.series.len(), 1);
    assert_eq!(q.series[0].points[0].last, 4.0);
}
