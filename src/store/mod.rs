//! The store owns Lookout's history: samples of every series, check results and the event
//! timeline, in one SQLite file (`lookout.db`, WAL) in the data directory. It does not know
//! where samples come from or who reads them.
//!
//! - Writing: `ingest()` only buffers (cheap, sync); `flush()` writes the buffer in one
//!   transaction as one small "head" row holding every series' new samples (call it every
//!   ≤ 10 s: that is what a crash can lose); `maintain()` (every minute) seals each closed
//!   1-hour window into one pco-compressed chunk per series, computes the 1-minute and 1-hour
//!   rollups from it, applies retention and the size cap, and gives free pages back.
//! - Reading: `query()` picks the tier (raw, minute, hour) that answers a range with about
//!   1,000 points or fewer per series, then downsamples to `max_points`; samples not sealed
//!   yet (head rows, the buffer) are included, bucketed on the fly for the rollup tiers.
//! - Retention: raw 7 days, minute 90 days, hour 2 years by default. Check history follows
//!   the minute tier (90 days; it keeps every status change and one result per minute), the
//!   event timeline, the alert history, maintenance periods and windows and expired silences
//!   the hour tier (2 years; so a silence is kept for audit until two years after it ended).
//!   Past `max_size`, the oldest data of the finest tier goes first: raw, then minute (with
//!   check history), then hour (with those timelines). `usage()` (`stats`) tells the size and
//!   the oldest data of each; `vacuum()` gives free pages back on demand.
//! - Check history is also rolled up by the hour (`check_rollup`: per check and hour, results
//!   by status rank), exact for every hour of its rolled-up span, so that `check_summaries`
//!   over long ranges reads 24 rows a day per check plus a few raw rows at bucket edges; it is
//!   kept and trimmed with the raw history.
//! - Several processes (the daemon, cron-mode `collect`/`check`) may use one store at once:
//!   every write transaction is `BEGIN IMMEDIATE` with a 5 s busy timeout, and maintenance is
//!   transactional and idempotent.
//! - Faults (a full or read-only disk) degrade, never wedge: the pool never reuses a
//!   connection left inside a failed transaction (`open::pool_options`), so writes succeed
//!   again as soon as the disk allows; every database error is classified and recorded in
//!   `WriteHealth` (`write_health()`), cleared by the next commit; what could not be written
//!   waits in the bounded buffer (samples, check results, events) for the next flush.
//!
//! Pure decisions live in `policy` (tiers, steps, retention, size cap, history), `rollup`
//! (bucket math) and `codec` (blob formats); `open`, `write` and `read` do the I/O;
//! `check_rollup` keeps the hourly check rollup and reads summaries through it. The alert
//! engine's tables have one file per job: `alerts` (state, history), `silences`, `leases`,
//! `outbox`; `rows` holds the row helpers every table file shares.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sqlx::sqlite::SqlitePool;

use crate::clock::{SharedClock, UnixMillis};
use crate::config::Retention;
use crate::model::{CheckResult, Event, EventKind, Observation, SeriesKey};

mod alerts;
mod buffer;
mod check_rollup;
pub mod codec;
mod error;
#[cfg(test)]
mod fixtures;
mod hosts;
mod leases;
mod maintenance;
mod open;
mod outbox;
pub mod policy;
mod read;
pub use read::CheckSummary;
mod remote_write;
pub mod rollup;
mod rows;
mod shard;
mod silences;
mod stats;
#[doc(hidden)]
pub mod synth;
mod users;
mod write;

pub use alerts::{Delivery, NoticeDelivery};
pub use error::{StoreError, WriteFault};
pub use hosts::StoredHost;
pub use open::{APPLICATION_ID, BUSY_TIMEOUT, DB_FILE};
pub use remote_write::{NewBatch, QueueState, QueuedBatch};
pub use stats::{RecordUsage, StoreUsage, TierUsage, VacuumStats, file_len, wal_path};
pub use users::{Role, SessionRecord, TokenRecord, UserRecord};

/// How the store keeps data: retention per tier and a total size cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreOptions {
    /// Upper bound on the database's size in bytes; past it, the oldest data of the finest
    /// tier goes first (raw, then minute, then hour).
    pub max_size: u64,
    pub retention: Retention,
    /// At most this many samples wait in memory for a flush (a store that cannot write for
    /// long); past it the oldest go, counted in `dropped_samples`.
    pub max_buffered_samples: usize,
    /// Sealing a window reads about this many bytes of head rows per transaction (a group of
    /// shards); not a config key: tests make it small to seal in many groups.
    pub seal_group_bytes: u64,
}

impl Default for StoreOptions {
    /// 1 GiB; raw 7 days, 1-minute rollups 90 days, 1-hour rollups 2 years; 4 million
    /// buffered samples (~64 MB).
    fn default() -> Self {
        const DAY: u64 = 86_400;
        StoreOptions {
            max_buffered_samples: buffer::DEFAULT_MAX_SAMPLES,
            seal_group_bytes: shard::SEAL_GROUP_BYTES,
            max_size: 1 << 30,
            retention: Retention {
                raw: Duration::from_secs(7 * DAY),
                minute: Duration::from_secs(90 * DAY),
                hour: Duration::from_secs(730 * DAY),
            },
        }
    }
}

/// A resolution the store keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    Raw,
    Minute,
    Hour,
}

impl Tier {
    pub const ALL: [Tier; 3] = [Tier::Raw, Tier::Minute, Tier::Hour];

    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Raw => "raw",
            Tier::Minute => "minute",
            Tier::Hour => "hour",
        }
    }

    /// Bucket width of a rollup tier; 0 for raw.
    pub fn step_ms(self) -> i64 {
        match self {
            Tier::Raw => 0,
            Tier::Minute => policy::MINUTE_MS,
            Tier::Hour => policy::HOUR_MS,
        }
    }
}

/// The answer to a range query.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueryResult {
    /// The tier the points come from.
    pub tier: Tier,
    /// Width of each point's bucket; 0 when every point is one raw sample.
    pub step_ms: i64,
    pub series: Vec<SeriesPoints>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SeriesPoints {
    pub key: SeriesKey,
    pub points: Vec<Point>,
}

/// One bucket (or one raw sample, with count 1) of a series.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Point {
    /// Start of the bucket, or the sample's time.
    pub at_ms: i64,
    /// sum / count over the bucket's samples (weighted when buckets are merged).
    pub avg: f64,
    pub min: f64,
    pub max: f64,
    pub count: u64,
    /// The bucket's last value.
    pub last: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FlushStats {
    pub samples: usize,
    pub series: usize,
    /// Head rows written (one per window the samples fall in: usually one).
    pub chunks: usize,
    pub checks: usize,
    /// Samples dropped so far because the buffer was full (a long-failing flush).
    pub dropped_samples: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MaintainStats {
    /// (series, window) pairs sealed into one compressed chunk.
    pub sealed_windows: usize,
    pub sealed_samples: usize,
    /// Rows deleted by retention.
    pub expired_raw_chunks: u64,
    pub expired_rollups: u64,
    pub expired_check_results: u64,
    /// Events and alert history entries.
    pub expired_events: u64,
    /// Delivered or failed notifications older than the raw retention.
    pub expired_outbox_rows: u64,
    /// Maintenance periods and windows opened by hand that ended before the hour tier's
    /// cut-off (kept as long as the events).
    pub expired_maintenance: u64,
    /// Silences that ended before the hour tier's cut-off.
    pub expired_silences: u64,
    /// Rows deleted to respect `max_size`.
    pub capped_raw_chunks: u64,
    pub capped_rollups: u64,
    /// Check results and timeline rows (events, alert history, maintenance, silences)
    /// deleted with the oldest rollups, to respect `max_size`.
    pub capped_records: u64,
    /// Database size before and after (pages in use plus free pages), in bytes.
    pub bytes_before: u64,
    pub bytes_after: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TierStats {
    /// Rows: sealed chunks plus head rows for raw, rows of buckets for rollups.
    pub chunks: u64,
    /// Raw samples, or buckets for rollup tiers.
    pub samples: u64,
    /// Bytes of compressed data (without SQLite's page overhead).
    pub bytes: u64,
    pub oldest_ms: Option<UnixMillis>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct StoreStats {
    pub path: PathBuf,
    /// Size of `lookout.db` and of its WAL file.
    pub file_bytes: u64,
    pub wal_bytes: u64,
    /// Pages not in use (returned to the file system by the next maintenance that vacuums).
    pub free_bytes: u64,
    pub series: u64,
    pub raw: TierStats,
    pub minute: TierStats,
    pub hour: TierStats,
    /// Head rows not sealed yet (per flush and window, one per run of shards of about 32 KB;
    /// counted in `raw` too).
    pub head_chunks: u64,
    pub checks: u64,
    pub check_results: u64,
    pub events: u64,
    pub buffered_samples: u64,
    pub dropped_samples: u64,
}

impl StoreStats {
    pub fn tier(&self, tier: Tier) -> &TierStats {
        match tier {
            Tier::Raw => &self.raw,
            Tier::Minute => &self.minute,
            Tier::Hour => &self.hour,
        }
    }
}

/// Whether the store keeps what it is given: tracked where every database error is
/// classified (`Inner::db`) and where writes commit, read by the self probe (the check
/// `lookout:store`) and by /healthz. Busy locks held by another process do not count.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct WriteHealth {
    /// Since when operations fail: the first failure after the last write that committed;
    /// `None` while writes succeed.
    pub failing_since_ms: Option<UnixMillis>,
    /// Why, in a few words: "disk full", "read-only file system", ... (the latest failure).
    pub reason: String,
    /// The latest error in full.
    pub last_error: String,
    /// Failed operations since the store was opened.
    pub failures: u64,
    /// Samples waiting in memory for a flush, and those dropped so far because the buffer
    /// was full (see `StoreOptions::max_buffered_samples`).
    pub buffered_samples: u64,
    pub dropped_samples: u64,
    /// Events kept in memory because writing them failed, and those dropped (buffer full).
    pub buffered_events: u64,
    pub dropped_events: u64,
}

/// Lookout's history. Cheap to clone; every clone is the same store.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.inner.path)
            .finish_non_exhaustive()
    }
}

/// The store's id of each series it has written, by key (hashed with foldhash: SipHash over
/// 150,000 keys a flush was a tenth of a hub's CPU).
type SeriesIds = HashMap<Arc<SeriesKey>, i64, foldhash::fast::RandomState>;

struct Inner {
    pool: SqlitePool,
    path: PathBuf,
    opts: StoreOptions,
    clock: SharedClock,
    buffer: Mutex<buffer::Buffer>,
    series_ids: Mutex<SeriesIds>,
    flush_lock: tokio::sync::Mutex<()>,
    maintain_lock: tokio::sync::Mutex<()>,
    closed: AtomicBool,
    /// Head rows read by queries since the store opened (how well shards keep queries small).
    head_rows_read: std::sync::atomic::AtomicU64,
    health: Mutex<WriteHealth>,
}

impl Inner {
    fn buffer(&self) -> MutexGuard<'_, buffer::Buffer> {
        // A panic while holding the lock cannot leave the buffer inconsistent enough to matter.
        self.buffer.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn ids(&self) -> MutexGuard<'_, SeriesIds> {
        self.series_ids.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Classifies a database error and notes it in the write health.
    fn db(&self, e: sqlx::Error) -> StoreError {
        let error = StoreError::db(&self.path, e);
        self.note_failure(&error);
        error
    }

    fn health(&self) -> MutexGuard<'_, WriteHealth> {
        self.health.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn note_failure(&self, error: &StoreError) {
        let Some(reason) = error.fault() else {
            return;
        };
        let now = self.clock.now_ms();
        let mut health = self.health();
        health.failures += 1;
        health.failing_since_ms.get_or_insert(now);
        health.reason = reason;
        health.last_error = error.to_string();
    }

    /// A write committed: the store takes writes (again).
    fn note_write(&self) {
        let mut health = self.health();
        if let Some(since) = health.failing_since_ms.take() {
            let down_ms = self.clock.now_ms().saturating_sub(since);
            tracing::warn!(
                down_s = down_ms as f64 / 1000.0,
                reason = %health.reason,
                "store writes again"
            );
        }
    }

    fn check_open(&self) -> Result<(), StoreError> {
        if self.closed.load(Ordering::Acquire) {
            Err(StoreError::Closed {
                path: self.path.clone(),
            })
        } else {
            Ok(())
        }
    }
}

impl Store {
    /// Opens the store in `dir` (creating the directory, 0700, and `lookout.db`, 0600), after
    /// checking that an existing file is Lookout's; brings its schema up to date.
    pub async fn open(
        dir: &Path,
        opts: StoreOptions,
        clock: SharedClock,
    ) -> Result<Store, StoreError> {
        let (pool, path) = open::open_pool(dir).await?;
        tracing::debug!(path = %path.display(), "store opened");
        Ok(Store {
            inner: Arc::new(Inner {
                pool,
                path,
                opts,
                clock,
                buffer: Mutex::new(buffer::Buffer::with_limit(opts.max_buffered_samples)),
                series_ids: Mutex::new(SeriesIds::default()),
                flush_lock: tokio::sync::Mutex::new(()),
                maintain_lock: tokio::sync::Mutex::new(()),
                closed: AtomicBool::new(false),
                head_rows_read: std::sync::atomic::AtomicU64::new(0),
                health: Mutex::new(WriteHealth::default()),
            }),
        })
    }

    /// Path of the database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    pub fn options(&self) -> &StoreOptions {
        &self.inner.opts
    }

    /// Head rows (the open hour's flushes) that queries have read since the store opened.
    pub fn head_rows_read(&self) -> u64 {
        self.inner.head_rows_read.load(Ordering::Relaxed)
    }

    /// Whether writes succeed, and what waits in memory. Cheap: a lock and a copy.
    pub fn write_health(&self) -> WriteHealth {
        let mut health = self.inner.health().clone();
        let buffer = self.inner.buffer();
        health.buffered_samples = buffer.samples as u64;
        health.dropped_samples = buffer.dropped_samples;
        health.buffered_events = buffer.events.len() as u64;
        health.dropped_events = buffer.dropped_events;
        health
    }

    /// Buffers an observation's samples and check results; `flush()` writes them.
    pub fn ingest(&self, obs: &Observation) {
        self.inner.buffer().ingest(obs);
    }

    /// Writes everything buffered in one transaction. On failure everything stays buffered
    /// (bounded; see `FlushStats::dropped_samples`) for the next flush.
    pub async fn flush(&self) -> Result<FlushStats, StoreError> {
        self.inner.check_open()?;
        write::flush(&self.inner).await
    }

    /// Writes one event to the timeline now. When that fails, the event is kept in memory
    /// (bounded) and written by the next `flush()` that succeeds.
    pub async fn record_event(&self, event: &Event) -> Result<(), StoreError> {
        self.inner.check_open()?;
        write::record_event(&self.inner, event).await
    }

    /// Seals closed windows (compress + rollups), applies retention and the size cap.
    /// Safe to run from several processes at once. Call it about every minute.
    pub async fn maintain(&self) -> Result<MaintainStats, StoreError> {
        self.inner.check_open()?;
        write::maintain(&self.inner).await
    }

    /// Points of every series named `name` whose labels include `matchers`, over
    /// `[from_ms, to_ms]`, at most `max_points` per series.
    pub async fn query(
        &self,
        name: &str,
        matchers: &[(String, String)],
        from_ms: i64,
        to_ms: i64,
        max_points: usize,
    ) -> Result<QueryResult, StoreError> {
        self.inner.check_open()?;
        read::query(&self.inner, name, matchers, from_ms, to_ms, max_points).await
    }

    /// Every series known, stored or buffered, sorted.
    pub async fn series(&self) -> Result<Vec<SeriesKey>, StoreError> {
        self.inner.check_open()?;
        read::series(&self.inner).await
    }

    /// The latest result of every check (buffered ones included), sorted by check name.
    pub async fn latest_checks(&self) -> Result<Vec<CheckResult>, StoreError> {
        self.inner.check_open()?;
        read::latest_checks(&self.inner).await
    }

    /// Stored results of one check in `[from_ms, to_ms]`, newest first: every status change
    /// and one result per minute while the status holds.
    pub async fn check_history(
        &self,
        check: &str,
        from_ms: i64,
        to_ms: i64,
        limit: usize,
    ) -> Result<Vec<CheckResult>, StoreError> {
        self.inner.check_open()?;
        read::check_history(&self.inner, check, from_ms, to_ms, limit).await
    }

    /// Every check's stored results in `[from_ms, to_ms]` summed up in one query: per check
    /// (by name, sorted), per bucket of `buckets` equal slices of the range that has a result,
    /// the worst status and how many results were ok of how many. For the checks list: a
    /// status strip and the uptime of a thousand checks without a query per check. `only`:
    /// one check's.
    pub async fn check_summaries(
        &self,
        from_ms: i64,
        to_ms: i64,
        buckets: u32,
        only: Option<&str>,
    ) -> Result<Vec<read::CheckSummary>, StoreError> {
        self.inner.check_open()?;
        read::check_summaries(&self.inner, from_ms, to_ms, buckets, only).await
    }

    /// Events in `[from_ms, to_ms]`, newest first.
    pub async fn events(
        &self,
        from_ms: i64,
        to_ms: i64,
        limit: usize,
    ) -> Result<Vec<Event>, StoreError> {
        self.inner.check_open()?;
        read::events(&self.inner, from_ms, to_ms, limit, &[], None).await
    }

    /// Events in `[from_ms, to_ms]` of one of `kinds` (any when empty) and about `subject`
    /// (any when `None`), newest first: the limit counts only those.
    pub async fn events_where(
        &self,
        from_ms: i64,
        to_ms: i64,
        limit: usize,
        kinds: &[EventKind],
        subject: Option<&str>,
    ) -> Result<Vec<Event>, StoreError> {
        self.inner.check_open()?;
        read::events(&self.inner, from_ms, to_ms, limit, kinds, subject).await
    }

    /// Sizes and ages. Scans the chunk tables: tens of milliseconds on a large store.
    pub async fn stats(&self) -> Result<StoreStats, StoreError> {
        self.inner.check_open()?;
        read::stats(&self.inner).await
    }

    /// Full `PRAGMA integrity_check` (reads the whole file): `Ok(())` or a `Corrupt` error.
    pub async fn check_integrity(&self) -> Result<(), StoreError> {
        self.inner.check_open()?;
        read::check_integrity(&self.inner).await
    }

    /// Flushes, runs maintenance if nobody did for 10 minutes (so that cron-only setups are
    /// maintained too), and closes the connections. Later calls on any clone fail with
    /// `Closed` (and `ingest` only buffers).
    pub async fn close(&self) -> Result<(), StoreError> {
        if self.inner.closed.load(Ordering::Acquire) {
            return Ok(());
        }
        let flushed = write::flush(&self.inner).await;
        let maintained = match &flushed {
            Ok(_) => write::maintain_if_due(&self.inner).await,
            Err(_) => Ok(()),
        };
        self.inner.closed.store(true, Ordering::Release);
        self.inner.pool.close().await;
        flushed?;
        maintained
    }
}
