//! The store across processes: a writer killed with SIGKILL at random moments (mid-flush,
//! mid-seal) leaves a store that reopens cleanly with everything up to its last completed
//! flush; and two processes writing and maintaining one store at once lose nothing.
//!
//! The test binary re-executes itself as the child process (`LOOKOUT_STORE_CHILD` says which
//! part to play), so the children run exactly the store code under test.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lookout::clock::{ManualClock, SharedClock};
use lookout::model::{Observation, Sample, SeriesKey};
use lookout::store::{Store, StoreOptions, Tier};

const CHILD: &str = "LOOKOUT_STORE_CHILD";
const T0: i64 = 1_700_000_000_000 / 3_600_000 * 3_600_000;
const SERIES: usize = 5;
const FLUSH_EVERY: i64 = 10;

fn keys(prefix: &str) -> Vec<Arc<SeriesKey>> {
    (0..SERIES)
        .map(|j| Arc::new(SeriesKey::new(format!("{prefix}_{j}")).with("host", "h1")))
        .collect()
}

/// The value series `j` has at `tick`: exact, so any damaged sample shows.
fn value(j: usize, tick: i64) -> f64 {
    tick as f64 * (j as f64 + 1.0) + 0.25
}

fn at(tick: i64) -> i64 {
    T0 + tick * 1_000
}

fn child_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

fn spawn_child(test: &str, role: &str, dir: &Path, start: i64, ticks: i64) -> std::process::Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(CHILD, role)
        .env("LOOKOUT_STORE_DIR", dir)
        .env("LOOKOUT_STORE_START", start.to_string())
        .env("LOOKOUT_STORE_TICKS", ticks.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap()
}

/// A child: writes `ticks` ticks of `SERIES` series from `start`, flushing every 10 ticks and
/// printing `flushed <tick>` after each completed flush; maintains every 100 ticks. As
/// "cron", it reopens the store for every flush, like `lookout collect` run by cron.
fn run_child(role: &str) {
    let dir = child_env("LOOKOUT_STORE_DIR").unwrap();
    let start: i64 = child_env("LOOKOUT_STORE_START").unwrap().parse().unwrap();
    let ticks: i64 = child_env("LOOKOUT_STORE_TICKS").unwrap().parse().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let clock = ManualClock::new(at(start));
        let shared: SharedClock = clock.clone();
        let open = || Store::open(Path::new(&dir), StoreOptions::default(), shared.clone());
        let keys = keys(if role == "cron" { "cron" } else { "metric" });
        let mut store = open().await.unwrap();
        let mut out = std::io::stdout();
        for tick in start..start + ticks {
            clock.set(at(tick));
            store.ingest(&Observation {
                source: role.into(),
                at_ms: at(tick),
                samples: keys
                    .iter()
                    .enumerate()
                    .map(|(j, k)| Sample {
                        series: k.clone(),
                        value: value(j, tick),
                    })
                    .collect(),
                checks: vec![],
            });
            if (tick + 1) % FLUSH_EVERY == 0 {
                store.flush().await.unwrap();
                writeln!(out, "flushed {tick}").unwrap();
                out.flush().unwrap();
                if role == "cron" {
                    store.close().await.unwrap();
                    store = open().await.unwrap();
                }
            }
            if (tick + 1) % 100 == 0 {
                store.maintain().await.unwrap();
            }
        }
        store.close().await.unwrap();
    });
}

/// Every tick in `ticks` of the series with `prefix` is present with its exact value.
async fn assert_present(store: &Store, prefix: &str, ticks: std::ops::Range<i64>) -> usize {
    let mut found = 0;
    for (j, k) in keys(prefix).iter().enumerate() {
        let mut expected = ticks.start;
        let mut from = at(ticks.start);
        while from < at(ticks.end) {
            let to = (from + 900_000 - 1).min(at(ticks.end) - 1);
            let q = store
                .query(k.name(), &[("host".into(), "h1".into())], from, to, 1000)
                .await
                .unwrap();
            assert_eq!(q.tier, Tier::Raw);
            for p in &q.series[0].points {
                assert_eq!(p.at_ms, at(expected), "{k}: tick {expected} missing");
                assert_eq!(p.last, value(j, expected), "{k}: tick {expected} damaged");
                expected += 1;
                found += 1;
            }
            from = to + 1;
        }
        assert_eq!(
            expected, ticks.end,
            "{k}: ticks {expected}..{} missing",
            ticks.end
        );
    }
    found
}

/// Ticks stored for series 0 of `prefix` from `from_tick` on (any beyond the last reported
/// flush: a flush that committed just before the kill, not yet reported).
async fn stored_after(store: &Store, prefix: &str, from_tick: i64) -> i64 {
    let q = store
        .query(
            &format!("{prefix}_0"),
            &[],
            at(from_tick),
            at(from_tick + 10_000),
            1_000_000,
        )
        .await
        .unwrap();
    q.series.first().map_or(0, |s| s.points.len() as i64)
}

/// The tick of a `flushed <tick>` line (libtest may print `test <name> ... ` before it).
fn flushed_tick(line: &str) -> Option<i64> {
    line.rsplit_once("flushed ")?.1.trim().parse().ok()
}

fn seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

#[test]
fn kill9_at_random_moments_loses_at_most_the_unflushed_tail() {
    let _machine = crate::common::machine::shared();
    if let Some(role) = child_env(CHILD) {
        return run_child(&role);
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut rng = seed();
    eprintln!("kill -9 test seed {rng}");
    let mut next_tick = 0i64;
    for round in 0..8 {
        let mut child = spawn_child(
            &crate::common::test_name(
                module_path!(),
                "kill9_at_random_moments_loses_at_most_the_unflushed_tail",
            ),
            "writer",
            dir,
            next_tick,
            1_000_000,
        );
        let stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .filter_map(|l| flushed_tick(&l))
                .collect::<Vec<i64>>()
        });
        // Let it run a random while: from just after opening to well into sealing.
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let wait = Duration::from_millis(150 + rng % 1200);
        let started = Instant::now();
        std::thread::sleep(wait);
        // SAFETY: kill(2) on our own child's pid.
        assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGKILL) }, 0);
        let status = child.wait().unwrap();
        assert!(
            !status.success(),
            "round {round}: the child ended by itself"
        );
        let flushed = reader.join().unwrap();
        let last = flushed.last().copied();
        eprintln!(
            "round {round}: killed after {:?}, {} flushes, last tick flushed {last:?}",
            started.elapsed(),
            flushed.len()
        );

        rt.block_on(async {
            let clock: SharedClock = ManualClock::new(at(next_tick));
            let store = Store::open(dir, StoreOptions::default(), clock)
                .await
                .unwrap();
            store.check_integrity().await.unwrap();
            let reported_end = last.map_or(next_tick, |t| t + 1);
            assert_present(&store, "metric", 0..reported_end).await;
            // At most one more flush may have committed without being reported.
            let extra = stored_after(&store, "metric", reported_end).await;
            assert!(
                extra == 0 || extra == FLUSH_EVERY,
                "round {round}: {extra} unreported ticks"
            );
            if extra > 0 {
                assert_present(&store, "metric", 0..reported_end + extra).await;
            }
            next_tick = reported_end + extra;
            store.close().await.unwrap();
        });
    }
    assert!(next_tick > 0, "the children never completed a flush");
}

#[test]
fn two_processes_writing_and_maintaining_one_store_lose_nothing() {
    let _machine = crate::common::machine::shared();
    if let Some(role) = child_env(CHILD) {
        return run_child(&role);
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let test = &crate::common::test_name(
        module_path!(),
        "two_processes_writing_and_maintaining_one_store_lose_nothing",
    );
    let ticks = 4_000; // more than an hour: both processes seal windows
    let mut daemon = spawn_child(test, "daemon", dir, 0, ticks);
    let mut cron = spawn_child(test, "cron", dir, 0, ticks / 4);
    let cron_out = cron.stdout.take().unwrap();
    let daemon_out = daemon.stdout.take().unwrap();
    let count = |out| {
        std::thread::spawn(move || {
            BufReader::new(out)
                .lines()
                .map_while(Result::ok)
                .filter(|l| flushed_tick(l).is_some())
                .count()
        })
    };
    let (cron_lines, daemon_lines) = (count(cron_out), count(daemon_out));
    assert!(cron.wait().unwrap().success(), "the cron process failed");
    assert!(
        daemon.wait().unwrap().success(),
        "the daemon process failed"
    );
    assert_eq!(cron_lines.join().unwrap() as i64, ticks / 4 / FLUSH_EVERY);
    assert_eq!(daemon_lines.join().unwrap() as i64, ticks / FLUSH_EVERY);

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let clock: SharedClock = ManualClock::new(at(ticks) + 3 * 3_600_000);
        let store = Store::open(dir, StoreOptions::default(), clock)
            .await
            .unwrap();
        store.maintain().await.unwrap();
        assert_eq!(
            assert_present(&store, "metric", 0..ticks).await,
            SERIES * ticks as usize
        );
        assert_eq!(
            assert_present(&store, "cron", 0..ticks / 4).await,
            SERIES * (ticks / 4) as usize
        );
        let stats = store.stats().await.unwrap();
        assert_eq!(stats.head_chunks, 0);
        assert_eq!(
            stats.raw.samples,
            (SERIES as i64 * (ticks + ticks / 4)) as u64
        );
        store.check_integrity().await.unwrap();
    });
}
