//! What the daemon's parts publish for /metrics, held by the `Snapshot`: the
//! probe runs' lateness and durations (`MillisHistogram`), the dead-man heartbeat's pings
//! (`HeartbeatMetrics`); the health verdict is `exporter::health`'s. The daemon writes them
//! (`daemon::scheduler`, `daemon::heartbeat`); the exporter reads them.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};

/// A histogram of milliseconds (how late runs start after their tick, how long they take),
/// for /metrics and the benchmarks.
#[derive(Debug, Default)]
pub struct MillisHistogram {
    /// Counts of runs at most `HISTOGRAM_BUCKETS_MS[i]` late (non-cumulative), last = +Inf.
    buckets: [AtomicU64; HISTOGRAM_BUCKETS_MS.len() + 1],
    sum_ms: AtomicU64,
}

pub const HISTOGRAM_BUCKETS_MS: [u64; 10] = [1, 5, 10, 25, 50, 100, 250, 1000, 5000, 10000];

impl MillisHistogram {
    pub fn record(&self, late_ms: u64) {
        let index = HISTOGRAM_BUCKETS_MS
            .iter()
            .position(|bound| late_ms <= *bound)
            .unwrap_or(HISTOGRAM_BUCKETS_MS.len());
        self.buckets[index].fetch_add(1, Ordering::Relaxed);
        self.sum_ms.fetch_add(late_ms, Ordering::Relaxed);
    }

    /// Cumulative counts per bucket bound (seconds), ending with +Inf; and the sum in seconds.
    pub fn cumulative(&self) -> (Vec<(Option<f64>, u64)>, f64) {
        let mut total = 0;
        let mut out = Vec::with_capacity(self.buckets.len());
        for (index, bucket) in self.buckets.iter().enumerate() {
            total += bucket.load(Ordering::Relaxed);
            let bound = HISTOGRAM_BUCKETS_MS
                .get(index)
                .map(|ms| *ms as f64 / 1000.0);
            out.push((bound, total));
        }
        (out, self.sum_ms.load(Ordering::Relaxed) as f64 / 1000.0)
    }
}

/// Pings by outcome, for /metrics; `enabled` while a heartbeat is configured.
#[derive(Debug, Default)]
pub struct HeartbeatMetrics {
    pub enabled: AtomicBool,
    /// Alive pings accepted (2xx).
    pub ok: AtomicU64,
    /// Pings not accepted: no answer, or not 2xx.
    pub error: AtomicU64,
    /// Fail pings accepted: the service knows Lookout sees itself failing.
    pub fail: AtomicU64,
    /// Failing, with no `fail_url`: nothing sent.
    pub withheld: AtomicU64,
    /// When a ping (alive or fail) was last accepted; 0 before.
    pub last_success_ms: AtomicI64,
}
