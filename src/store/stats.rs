//! What the store holds and what it costs on disk, for `lookout store stats`, and vacuuming on
//! demand, for `lookout store compact`.
//!
//! `usage()` reads, per tier, the rows, samples, data bytes and the oldest and newest data, and
//! per kind of record (check results, events, alert history, maintenance, silences, outbox) the
//! rows and their time span, with the retention that applies to each; the bytes on disk come
//! from SQLite's `dbstat` table (pages per table and its indexes). The two rollup tiers share
//! one table: its pages are split between them in proportion to their data bytes.
//!
//! `vacuum()` gives free pages back to the file system now (`PRAGMA incremental_vacuum`), or
//! rebuilds the whole file (`VACUUM`: also packs half-empty pages; needs free disk space the
//! size of the store), then checkpoints the WAL into the file and truncates it. Both need the
//! write lock: they wait for it up to `wait`, so a daemon's short write transactions only
//! delay them, and while a full `VACUUM` runs the daemon's writes wait (its samples stay
//! buffered and are written after).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;
use sqlx::Connection;

use super::{Inner, Store, StoreError, Tier, policy};
use crate::clock::UnixMillis;

/// Sizes and ages of everything in the store.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoreUsage {
    pub path: PathBuf,
    /// `lookout.db` and `lookout.db-wal`, as the file system sees them.
    pub file_bytes: u64,
    pub wal_bytes: u64,
    pub page_size: u64,
    /// Pages of the database (as of the last commit, WAL included), and the free ones among
    /// them (given back to the file system by the next vacuum).
    pub pages: u64,
    pub free_pages: u64,
    /// `storage.max_size`.
    pub max_size: u64,
    /// Raw, minute, hour.
    pub tiers: Vec<TierUsage>,
    /// Check results, events, alert history, maintenance periods and windows, silences, outbox.
    pub records: Vec<RecordUsage>,
    /// Pages in use by everything else: series, latest check results, alert state, users,
    /// tokens, sessions, the schema, pointer maps.
    pub other_bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TierUsage {
    pub tier: Tier,
    /// How long the tier is kept (`storage.retention`).
    pub retention: Duration,
    /// Rows: sealed chunks and head rows for raw, rows of buckets for rollups.
    pub rows: u64,
    /// Raw samples; buckets for the rollup tiers.
    pub samples: u64,
    /// Compressed data (blobs), without SQLite's page overhead.
    pub data_bytes: u64,
    /// Pages of the tier's tables and indexes.
    pub disk_bytes: u64,
    /// First sample (bucket start) and last sample (bucket start).
    pub oldest_ms: Option<UnixMillis>,
    pub newest_ms: Option<UnixMillis>,
}

/// One kind of record kept over time.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecordUsage {
    /// "check_results", "events", "alert_history", "maintenance_periods",
    /// "maintenance_windows", "silences", "outbox".
    pub name: &'static str,
    /// The tier whose retention applies (check results: minute; outbox: raw; others: hour).
    pub follows: Tier,
    pub retention: Duration,
    pub rows: u64,
    pub disk_bytes: u64,
    pub oldest_ms: Option<UnixMillis>,
    pub newest_ms: Option<UnixMillis>,
}

/// What `vacuum` did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VacuumStats {
    /// `VACUUM` (the file rebuilt) rather than `incremental_vacuum`.
    pub full: bool,
    /// The WAL could not be copied into the file yet (another process was reading): the file
    /// shrinks at the next checkpoint.
    pub checkpoint_postponed: bool,
}

/// (name, table, tier followed, SQL of rows, oldest, newest).
const RECORDS: &[(&str, &str, Tier, &str)] = &[
    (
        "check_results",
        "check_history",
        Tier::Minute,
        "SELECT count(*), min(at_ms), max(at_ms) FROM check_history",
    ),
    (
        "events",
        "events",
        Tier::Hour,
        "SELECT count(*), min(at_ms), max(at_ms) FROM events",
    ),
    (
        "alert_history",
        "alert_history",
        Tier::Hour,
        "SELECT count(*), min(at_ms), max(at_ms) FROM alert_history",
    ),
    (
        "maintenance_periods",
        "maintenance_periods",
        Tier::Hour,
        "SELECT count(*), min(start_ms), max(coalesce(end_ms, start_ms)) FROM maintenance_periods",
    ),
    (
        "maintenance_windows",
        "maintenance_windows",
        Tier::Hour,
        "SELECT count(*), min(start_ms), max(min(end_ms, coalesce(stopped_ms, end_ms))) FROM maintenance_windows",
    ),
    (
        "silences",
        "silences",
        Tier::Hour,
        "SELECT count(*), min(starts_ms), max(ends_ms) FROM silences",
    ),
    (
        "outbox",
        "outbox",
        Tier::Raw,
        "SELECT count(*), min(created_ms), max(created_ms) FROM outbox",
    ),
];

impl Store {
    /// Sizes and ages of everything in the store. Reads every page's header (`dbstat`):
    /// about a second per GiB.
    pub async fn usage(&self) -> Result<StoreUsage, StoreError> {
        self.inner.check_open()?;
        usage(&self.inner).await
    }

    /// Gives free pages back to the file system now (`full`: rebuilds the file with `VACUUM`),
    /// then checkpoints and truncates the WAL. Waits up to `wait` for the write lock; a
    /// `Busy` error means another process held it all that time.
    pub async fn vacuum(&self, full: bool, wait: Duration) -> Result<VacuumStats, StoreError> {
        self.inner.check_open()?;
        vacuum(&self.inner, full, wait).await
    }

    /// Closes like `close`, but without the maintenance `close` runs when it is due: for a
    /// command that only reads (`lookout store stats`) and must not write.
    pub async fn close_without_maintenance(&self) {
        if self.inner.closed.load(std::sync::atomic::Ordering::Acquire) {
            return;
        }
        if self.inner.buffer().samples > 0 {
            let _ = super::write::flush(&self.inner).await;
        }
        self.inner
            .closed
            .store(true, std::sync::atomic::Ordering::Release);
        self.inner.pool.close().await;
    }
}

async fn usage(inner: &Inner) -> Result<StoreUsage, StoreError> {
    let db = |e| inner.db(e);
    let mut conn = inner.pool.acquire().await.map_err(db)?;
    // One read transaction: every figure from the same snapshot.
    let mut tx = conn.begin().await.map_err(db)?;
    let pragma = |name: &'static str| sqlx::query_scalar::<_, i64>(name);
    let pages = pragma("PRAGMA page_count")
        .fetch_one(&mut *tx)
        .await
        .map_err(db)? as u64;
    let free_pages = pragma("PRAGMA freelist_count")
        .fetch_one(&mut *tx)
        .await
        .map_err(db)? as u64;
    let page_size = pragma("PRAGMA page_size")
        .fetch_one(&mut *tx)
        .await
        .map_err(db)? as u64;
    let disk: Vec<(String, i64)> = sqlx::query_as(
        "SELECT m.tbl_name, sum(s.pgsize) FROM dbstat AS s
         JOIN sqlite_master AS m ON m.name = s.name GROUP BY m.tbl_name",
    )
    .fetch_all(&mut *tx)
    .await
    .map_err(db)?;
    let disk_of = |table: &str| {
        disk.iter()
            .find(|(name, _)| name == table)
            .map_or(0, |(_, bytes)| (*bytes).max(0) as u64)
    };

    type Row = (i64, i64, i64, Option<i64>, Option<i64>);
    let raw: Row = sqlx::query_as(
        "SELECT sum(rows), sum(n), sum(bytes), min(oldest), max(newest) FROM (
             SELECT count(*) AS rows, coalesce(sum(n), 0) AS n,
                    coalesce(sum(length(data)), 0) AS bytes,
                    min(first_ms) AS oldest, max(last_ms) AS newest FROM raw_chunks
             UNION ALL
             SELECT count(*), coalesce(sum(n), 0), coalesce(sum(length(data)), 0),
                    min(first_ms), max(last_ms) FROM raw_heads)",
    )
    .fetch_one(&mut *tx)
    .await
    .map_err(db)?;
    let mut rollups = Vec::new();
    for step in [policy::MINUTE_MS, policy::HOUR_MS] {
        let row: Row = sqlx::query_as(
            "SELECT count(*), coalesce(sum(n), 0), coalesce(sum(length(data)), 0),
                    min(first_ms), max(last_ms) FROM rollups WHERE step_ms = ?",
        )
        .bind(step)
        .fetch_one(&mut *tx)
        .await
        .map_err(db)?;
        rollups.push(row);
    }
    let mut records = Vec::new();
    for &(name, table, follows, sql) in RECORDS {
        let (rows, oldest_ms, newest_ms): (i64, Option<i64>, Option<i64>) =
            sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .fetch_one(&mut *tx)
                .await
                .map_err(db)?;
        records.push(RecordUsage {
            name,
            follows,
            retention: retention(inner, follows),
            rows: rows as u64,
            disk_bytes: disk_of(table),
            oldest_ms,
            newest_ms,
        });
    }
    tx.rollback().await.map_err(db)?;
    drop(conn);

    let rollup_disk = disk_of("rollups");
    let (minute_data, hour_data) = (rollups[0].2.max(0) as u64, rollups[1].2.max(0) as u64);
    // Pages of an empty rollup table (its root and indexes) count as "other".
    let (minute_disk, hour_disk) = if minute_data + hour_data == 0 {
        (0, 0)
    } else {
        let minute =
            (rollup_disk as u128 * minute_data as u128 / (minute_data + hour_data) as u128) as u64;
        (minute, rollup_disk - minute)
    };
    let tier = |tier: Tier, row: Row, disk_bytes: u64| TierUsage {
        tier,
        retention: retention(inner, tier),
        rows: row.0.max(0) as u64,
        samples: row.1.max(0) as u64,
        data_bytes: row.2.max(0) as u64,
        disk_bytes,
        oldest_ms: row.3,
        newest_ms: row.4,
    };
    let tiers = vec![
        tier(Tier::Raw, raw, disk_of("raw_chunks") + disk_of("raw_heads")),
        tier(Tier::Minute, rollups[0], minute_disk),
        tier(Tier::Hour, rollups[1], hour_disk),
    ];
    let accounted: u64 = tiers.iter().map(|t| t.disk_bytes).sum::<u64>()
        + records.iter().map(|r| r.disk_bytes).sum::<u64>();
    let used = pages.saturating_sub(free_pages) * page_size;
    Ok(StoreUsage {
        path: inner.path.clone(),
        file_bytes: file_len(&inner.path),
        wal_bytes: file_len(&wal_path(&inner.path)),
        page_size,
        pages,
        free_pages,
        max_size: inner.opts.max_size,
        tiers,
        records,
        other_bytes: used.saturating_sub(accounted),
    })
}

fn retention(inner: &Inner, tier: Tier) -> Duration {
    let retention = &inner.opts.retention;
    match tier {
        Tier::Raw => retention.raw,
        Tier::Minute => retention.minute,
        Tier::Hour => retention.hour,
    }
}

/// The size of a file, 0 when it is not there.
pub fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

/// `lookout.db-wal` beside `lookout.db`.
pub fn wal_path(db: &Path) -> PathBuf {
    let mut wal = db.as_os_str().to_owned();
    wal.push("-wal");
    PathBuf::from(wal)
}

async fn vacuum(inner: &Inner, full: bool, wait: Duration) -> Result<VacuumStats, StoreError> {
    let db = |e| inner.db(e);
    let mut conn = inner.pool.acquire().await.map_err(db)?.detach();
    let result = async {
        let wait_ms = wait.as_millis().min(i32::MAX as u128);
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "PRAGMA busy_timeout = {wait_ms}"
        )))
        .execute(&mut conn)
        .await
        .map_err(db)?;
        if full {
            // The copy VACUUM makes goes to a temporary file, not memory (the pool keeps
            // temporary data in memory, which for a whole store could be gigabytes).
            sqlx::query("PRAGMA temp_store = FILE")
                .execute(&mut conn)
                .await
                .map_err(db)?;
            sqlx::query("VACUUM").execute(&mut conn).await.map_err(db)?;
        } else {
            sqlx::query("PRAGMA incremental_vacuum")
                .execute(&mut conn)
                .await
                .map_err(db)?;
        }
        let (busy, _, _): (i64, i64, i64) = sqlx::query_as("PRAGMA wal_checkpoint(TRUNCATE)")
            .fetch_one(&mut conn)
            .await
            .map_err(db)?;
        Ok(VacuumStats {
            full,
            checkpoint_postponed: busy != 0,
        })
    }
    .await;
    // Not returned to the pool: its busy timeout and temp_store are not the pool's.
    let _ = conn.close().await;
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::model::{Event, EventKind, Observation, Sample, SeriesKey};
    use crate::store::StoreOptions;
    use std::sync::Arc;

    const T0: i64 = 1_700_000_000_000 / 86_400_000 * 86_400_000;
    const SEC: i64 = 1_000;
    const HOUR: i64 = 3_600_000;

    #[tokio::test]
    async fn usage_counts_tiers_and_records_and_splits_the_pages() {
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::new(T0);
        let store = Store::open(dir.path(), StoreOptions::default(), clock.clone())
            .await
            .unwrap();
        let empty = store.usage().await.unwrap();
        assert!(
            empty
                .tiers
                .iter()
                .all(|t| t.rows == 0 && t.oldest_ms.is_none())
        );
        assert!(empty.records.iter().all(|r| r.rows == 0));

        let key = Arc::new(SeriesKey::new("v"));
        for i in 0..7200 {
            store.ingest(&Observation {
                source: "t".into(),
                at_ms: T0 + i * SEC,
                samples: vec![Sample {
                    series: key.clone(),
                    value: i as f64,
                }],
                checks: vec![],
            });
        }
        store.flush().await.unwrap();
        store
            .record_event(&Event {
                at_ms: T0 + 5 * SEC,
                kind: EventKind::Started,
                subject: "lookout".into(),
                message: "started".into(),
            })
            .await
            .unwrap();
        clock.set(T0 + 3 * HOUR);
        store.maintain().await.unwrap();

        let usage = store.usage().await.unwrap();
        let raw = &usage.tiers[0];
        assert_eq!((raw.tier, raw.rows, raw.samples), (Tier::Raw, 2, 7200));
        assert_eq!(
            (raw.oldest_ms, raw.newest_ms),
            (Some(T0), Some(T0 + 7199 * SEC))
        );
        assert_eq!(raw.retention, Duration::from_secs(7 * 86_400));
        let minute = &usage.tiers[1];
        assert_eq!((minute.samples, minute.oldest_ms), (120, Some(T0)));
        assert_eq!(minute.newest_ms, Some(T0 + 2 * HOUR - 60 * SEC));
        let hour = &usage.tiers[2];
        assert_eq!((hour.samples, hour.newest_ms), (2, Some(T0 + HOUR)));
        assert!(raw.disk_bytes >= raw.data_bytes && raw.data_bytes > 0);
        assert!(minute.disk_bytes > 0 && hour.disk_bytes > 0);
        let events = usage.records.iter().find(|r| r.name == "events").unwrap();
        assert_eq!(
            (
                events.rows,
                events.oldest_ms,
                events.newest_ms,
                events.follows
            ),
            (1, Some(T0 + 5 * SEC), Some(T0 + 5 * SEC), Tier::Hour)
        );
        // No page is counted twice: tiers and records fit in the pages in use, and the rest
        // (series, checks, the schema) is there too.
        let counted: u64 = usage.tiers.iter().map(|t| t.disk_bytes).sum::<u64>()
            + usage.records.iter().map(|r| r.disk_bytes).sum::<u64>();
        let used = (usage.pages - usage.free_pages) * usage.page_size;
        assert!(counted < used, "{counted} >= {used}");
        assert_eq!(usage.other_bytes, used - counted);
        assert!(usage.file_bytes + usage.wal_bytes > 0);
    }
}
