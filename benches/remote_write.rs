//! Remote write: how fast observations become request bodies, how small they are, and how
//! fast the durable queue takes and gives back batches. Run with
//! `cargo bench --bench remote_write` (≈ 10 s after the build).
//!
//! Data: `lookout::store::synth::SystemSim`, 54 series shaped like the system probe's, one
//! observation per simulated second; batches of 2,000 samples (the default `batch_size`).

use std::time::Instant;

use lookout::clock::ManualClock;
use lookout::exporter::remote_write::{Batcher, Shaping, proto, samples_of};
use lookout::store::{NewBatch, Store, StoreOptions, synth::SystemSim};

const TICKS: i64 = 20_000;
const BATCH: usize = 2_000;

fn main() {
    let shaping = Shaping {
        labels: [("instance".to_string(), "web1".to_string())].into(),
        name_prefixes: Vec::new(),
    };
    let mut sim = SystemSim::new(7);
    let t0 = 1_700_000_000_000;
    let observations: Vec<_> = (0..TICKS)
        .map(|i| sim.tick(t0 + i * 1_000, 1_000))
        .collect();

    // Observations -> labelled samples -> batches -> protobuf + snappy bodies.
    let started = Instant::now();
    let mut batcher = Batcher::new(BATCH);
    let mut bodies = Vec::new();
    let mut samples = 0usize;
    for observation in &observations {
        for sample in samples_of(observation, &shaping) {
            batcher.push(sample);
            samples += 1;
        }
        for batch in batcher.take_full() {
            bodies.push((batch.len(), batch.encode()));
        }
    }
    for batch in batcher.take_all() {
        bodies.push((batch.len(), batch.encode()));
    }
    let encode_s = started.elapsed().as_secs_f64();
    let bytes: usize = bodies.iter().map(|(_, body)| body.len()).sum();
    let raw: usize = bodies
        .iter()
        .map(|(_, body)| snap::raw::decompress_len(body).unwrap_or(0))
        .sum();
    println!(
        "encode: {samples} samples in {} bodies, {:.0} samples/s ({:.2} s); {:.2} B/sample on the wire (protobuf {:.1} B/sample, snappy {:.1}x)",
        bodies.len(),
        samples as f64 / encode_s,
        encode_s,
        bytes as f64 / samples as f64,
        raw as f64 / samples as f64,
        raw as f64 / bytes as f64
    );

    let started = Instant::now();
    let mut decoded = 0usize;
    for (_, body) in &bodies {
        let request = proto::decode(body).expect("decodes");
        decoded += request
            .timeseries
            .iter()
            .map(|s| s.samples.len())
            .sum::<usize>();
    }
    assert_eq!(decoded, samples);
    println!(
        "decode (what a receiver does): {:.0} samples/s",
        samples as f64 / started.elapsed().as_secs_f64()
    );

    // The queue: append every batch (one transaction each, as a flush does), then drain.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open(dir.path(), StoreOptions::default(), ManualClock::new(t0))
            .await
            .expect("store");
        let started = Instant::now();
        for (count, body) in &bodies {
            store
                .rw_append(
                    "bench",
                    &[NewBatch {
                        first_ms: t0,
                        last_ms: t0,
                        samples: *count as u64,
                        body: body.clone(),
                    }],
                    10_000_000,
                )
                .await
                .expect("append");
        }
        let append_s = started.elapsed().as_secs_f64();
        let started = Instant::now();
        while let Some(batch) = store.rw_oldest("bench").await.expect("oldest") {
            store.rw_remove(batch.id).await.expect("remove");
        }
        let drain_s = started.elapsed().as_secs_f64();
        println!(
            "queue: append {:.2} ms per batch ({:.0} samples/s), read + delete {:.2} ms per batch ({:.0} samples/s)",
            append_s * 1000.0 / bodies.len() as f64,
            samples as f64 / append_s,
            drain_s * 1000.0 / bodies.len() as f64,
            samples as f64 / drain_s
        );
        store.close().await.expect("close");
    });
}
