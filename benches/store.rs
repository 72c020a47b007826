//! Store benchmark: `cargo bench --bench store` (release build; takes a few minutes).
//!
//! 1. ingest rate: `ingest()` of one probe tick (54 series) at a time + `flush()` every
//!    10 ticks (and, for comparison, every 100), samples/s;
//! 2. bytes per sample after one simulated day of system metrics at 1 s, maintained every
//!    simulated minute as the daemon does; plus the chunk span experiment behind
//!    `RAW_WINDOW_MS`;
//! 3. range queries over 30 days of the same metrics at 10 s, median and p95.
//!
//! Options (after `--`): `ingest`, `day`, `query`, `spans` to run only some parts.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lookout::clock::{ManualClock, SharedClock};
use lookout::model::Observation;
use lookout::store::codec::encode_raw;
use lookout::store::rollup::{bucketize, encode_buckets};
use lookout::store::synth::SystemSim;
use lookout::store::{Store, StoreOptions};

const T0: i64 = 1_700_006_400_000 / 86_400_000 * 86_400_000; // a midnight, UTC
const SEC: i64 = 1_000;
const MIN: i64 = 60 * SEC;
const HOUR: i64 = 60 * MIN;
const DAY: i64 = 24 * HOUR;

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let want = |part: &str| args.is_empty() || args.iter().any(|a| a == part);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    println!(
        "# Store benchmark ({} CPUs available)",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    if want("ingest") {
        rt.block_on(ingest(10));
        rt.block_on(ingest(100));
    }
    if want("spans") {
        spans();
    }
    if want("day") {
        rt.block_on(one_day());
    }
    if want("query") {
        rt.block_on(query_30_days());
    }
}

async fn open(dir: &Path, clock: &Arc<ManualClock>) -> Store {
    let clock: SharedClock = clock.clone();
    Store::open(dir, StoreOptions::default(), clock)
        .await
        .unwrap()
}

fn ticks(n: i64, every: i64) -> Vec<Observation> {
    let mut sim = SystemSim::new(7);
    (0..n).map(|i| sim.tick(T0 + i * every, every)).collect()
}

async fn ingest(flush_every: usize) {
    let tmp = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let store = open(tmp.path(), &clock).await;
    let observations = ticks(20_000, SEC);
    let samples: usize = observations.iter().map(|o| o.samples.len()).sum();
    // warm up: series ids, statement cache
    store.ingest(&observations[0]);
    store.flush().await.unwrap();
    let started = Instant::now();
    let mut flush_time = Duration::ZERO;
    for (i, o) in observations.iter().enumerate().skip(1) {
        store.ingest(o);
        if i % flush_every == 0 {
            let f = Instant::now();
            store.flush().await.unwrap();
            flush_time += f.elapsed();
        }
    }
    store.flush().await.unwrap();
    let elapsed = started.elapsed();
    let per_tick = samples / observations.len();
    println!(
        "ingest: {} ticks x {per_tick} series, flush every {flush_every} ticks ({} samples per transaction): {:.2} M samples/s ({:.0} ms, of which flush {:.0} ms)",
        observations.len() - 1,
        per_tick * flush_every,
        (samples - per_tick) as f64 / elapsed.as_secs_f64() / 1e6,
        elapsed.as_secs_f64() * 1e3,
        flush_time.as_secs_f64() * 1e3,
    );
    store.close().await.unwrap();
}

/// Compressed bytes per sample of one day of metrics at 1 s, per raw chunk span, and of the
/// minute rollups per row span (codec only, no SQLite).
fn spans() {
    let observations = ticks(86_400, SEC);
    let n_series = observations[0].samples.len();
    let ts: Vec<i64> = observations.iter().map(|o| o.at_ms).collect();
    let cols: Vec<Vec<f64>> = (0..n_series)
        .map(|j| observations.iter().map(|o| o.samples[j].value).collect())
        .collect();
    let total = (n_series * ts.len()) as f64;
    println!("raw chunk span -> pco bytes/sample ({n_series} series x 86,400 s):");
    for span in [600usize, 1_800, 3_600, 7_200, 21_600, 86_400] {
        let started = Instant::now();
        let mut bytes = 0;
        for c in &cols {
            for w in (0..ts.len()).step_by(span) {
                let e = (w + span).min(ts.len());
                bytes += encode_raw(&ts[w..e], &c[w..e]).unwrap().len();
            }
        }
        println!(
            "  {:>5} s: {:.3} B/sample (encode {:.0} ms)",
            span,
            bytes as f64 / total,
            started.elapsed().as_secs_f64() * 1e3
        );
    }
    // Values as pco gets them (f64), against the codec's integer detection (above, 1 h).
    let mut as_f64 = 0;
    for c in &cols {
        for w in (0..ts.len()).step_by(3_600) {
            let e = (w + 3_600).min(ts.len());
            let config = pco::ChunkConfig::default();
            as_f64 += pco::standalone::simple_compress(&ts[w..e], &config)
                .unwrap()
                .len()
                + pco::standalone::simple_compress(&c[w..e], &config)
                    .unwrap()
                    .len();
        }
    }
    println!(
        "  1 h, values left as f64: {:.3} B/sample",
        as_f64 as f64 / total
    );

    for span_min in [60usize, 360, 1_440] {
        let mut bytes = 0;
        let mut buckets = 0;
        for c in &cols {
            let all = bucketize(&ts, c, 0, MIN);
            for row in all.chunks(span_min) {
                bytes += encode_buckets(row).unwrap().len();
                buckets += row.len();
            }
        }
        println!(
            "  {:>5} min: {:.2} B/bucket",
            span_min,
            bytes as f64 / buckets as f64
        );
    }
}

async fn one_day() {
    let tmp = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let store = open(tmp.path(), &clock).await;
    let mut sim = SystemSim::new(7);
    let n_series = sim.keys().len();
    let started = Instant::now();
    let mut maintain_time = Duration::ZERO;
    for i in 0..86_400i64 {
        let at = T0 + i * SEC;
        clock.set(at);
        store.ingest(&sim.tick(at, SEC));
        if i % 10 == 9 {
            store.flush().await.unwrap();
        }
        if i % 60 == 59 {
            let m = Instant::now();
            store.maintain().await.unwrap();
            maintain_time += m.elapsed();
        }
    }
    store.flush().await.unwrap();
    let elapsed = started.elapsed();
    // The last hour is still open: 360 head rows of 540 samples each, read by any query of it.
    let m = [("device".to_string(), "eth0".to_string())];
    let now = T0 + DAY - SEC;
    for (label, span) in [("last hour (open window)", HOUR), ("last 10 min", 10 * MIN)] {
        let times = time_query(&store, "net_receive_bytes_total", &m, now - span, now, 1000).await;
        println!("  query {label}: {}", times);
    }
    clock.set(T0 + DAY + 3 * MIN);
    store.maintain().await.unwrap();
    let s = store.stats().await.unwrap();
    let samples = (n_series * 86_400) as f64;
    println!(
        "one day at 1 s, {n_series} series, {} samples, simulated in {:.1} s (maintain {:.1} s)",
        samples,
        elapsed.as_secs_f64(),
        maintain_time.as_secs_f64()
    );
    println!(
        "  lookout.db {} bytes + WAL {} bytes: {:.3} B/sample (file), {:.3} B/sample (file + WAL)",
        s.file_bytes,
        s.wal_bytes,
        s.file_bytes as f64 / samples,
        (s.file_bytes + s.wal_bytes) as f64 / samples
    );
    println!(
        "  raw: {} chunks, {} bytes of blobs ({:.3} B/sample); minute: {} rows, {} buckets, {} bytes; hour: {} rows, {} bytes; free {} bytes",
        s.raw.chunks,
        s.raw.bytes,
        s.raw.bytes as f64 / samples,
        s.minute.chunks,
        s.minute.samples,
        s.minute.bytes,
        s.hour.chunks,
        s.hour.bytes,
        s.free_bytes
    );
    store.close().await.unwrap();
}

/// Runs a query 200 times: "tier, points, median, p95".
async fn time_query(
    store: &Store,
    name: &str,
    m: &[(String, String)],
    from: i64,
    to: i64,
    max_points: usize,
) -> String {
    let mut times = Vec::new();
    let mut last = None;
    for _ in 0..200 {
        let t = Instant::now();
        let q = store.query(name, m, from, to, max_points).await.unwrap();
        times.push(t.elapsed());
        last = Some(q);
    }
    times.sort();
    let q = last.unwrap();
    format!(
        "tier {:<6} {:>4} points: median {:>6.2} ms, p95 {:>6.2} ms",
        q.tier.as_str(),
        q.series[0].points.len(),
        times[times.len() / 2].as_secs_f64() * 1e3,
        times[times.len() * 95 / 100].as_secs_f64() * 1e3,
    )
}

async fn query_30_days() {
    let tmp = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let store = open(tmp.path(), &clock).await;
    let mut sim = SystemSim::new(11);
    let n_series = sim.keys().len();
    let every = 10 * SEC;
    let started = Instant::now();
    let end = T0 + 30 * DAY;
    let mut at = T0;
    while at < end {
        clock.set(at);
        store.ingest(&sim.tick(at, every));
        // Flush every minute while populating (faster), every tick (10 s, as the daemon
        // does) on the last day, so that the open window holds as many head rows as live.
        if (at - T0) % MIN == 0 || at >= end - DAY {
            store.flush().await.unwrap();
        }
        if (at - T0) % HOUR == 0 {
            store.maintain().await.unwrap();
        }
        at += every;
    }
    // The last 20 minutes stay unflushed in the buffer, as they would in a running daemon.
    let stop_flushing = end;
    for _ in 0..120 {
        clock.set(at);
        store.ingest(&sim.tick(at, every));
        at += every;
    }
    let now = at;
    println!(
        "30 days at 10 s, {n_series} series ({} samples) populated in {:.1} s; buffer holds the last {} s",
        n_series as i64 * (now - T0) / every,
        started.elapsed().as_secs_f64(),
        (now - stop_flushing) / SEC
    );
    let s = store.stats().await.unwrap();
    println!(
        "  file {} bytes; raw {} chunks (oldest {} days ago), minute {} rows, hour {} rows",
        s.file_bytes,
        s.raw.chunks,
        s.raw.oldest_ms.map_or(0, |o| (now - o) / DAY),
        s.minute.chunks,
        s.hour.chunks
    );
    let name = "net_receive_bytes_total";
    let m = [("device".to_string(), "eth0".to_string())];
    for (label, span, max_points) in [
        ("30 days", 30 * DAY, 1000),
        ("30 days -> 200 points", 30 * DAY, 200),
        ("7 days", 7 * DAY, 1000),
        ("1 day", DAY, 1000),
        ("6 hours", 6 * HOUR, 1000),
        ("1 hour", HOUR, 1000),
        ("10 minutes", 10 * MIN, 1000),
    ] {
        let mut times = Vec::new();
        let mut last = None;
        for _ in 0..200 {
            let t = Instant::now();
            let q = store
                .query(name, &m, now - span, now, max_points)
                .await
                .unwrap();
            times.push(t.elapsed());
            last = Some(q);
        }
        times.sort();
        let q = last.unwrap();
        println!(
            "  query {label:<22} tier {:<6} {:>4} points: median {:>6.2} ms, p95 {:>6.2} ms",
            q.tier.as_str(),
            q.series[0].points.len(),
            times[times.len() / 2].as_secs_f64() * 1e3,
            times[times.len() * 95 / 100].as_secs_f64() * 1e3,
        );
    }
    store.close().await.unwrap();
}
