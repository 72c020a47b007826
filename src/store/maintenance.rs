//! Maintenance's persistent state (tables of migration 0004): the periods Lookout saw (the
//! open one included) and the windows opened by hand (`lookout maintenance start`, the
//! dashboard; stopped ones kept), plus the reads the maintenance report needs: the alerts
//! maintenance muted and the check statuses over a range. Plain data in, plain data out: when
//! a period starts or ends is the tracker's business (`maintenance::tracker`), not this file's.

use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use super::rows::{column, decode_error, json_column, json_opt_column, sql_limit, to_json};
use super::write::parse_status;
use super::{Inner, Store, StoreError};
use crate::alert::mute::MuteReason;
use crate::alert::records::HistoryEntry;
use crate::clock::UnixMillis;
use crate::maintenance::manual::{Windows, WindowsError};
use crate::maintenance::report::{self, CheckHistory, Report};
use crate::maintenance::{ManualWindow, Mode, Origin, Period};

const PERIOD_COLUMNS: &str =
    "id, start_ms, end_ms, planned_end_ms, mode, reason, origin, planned, impact, muted";
const WINDOW_COLUMNS: &str =
    "id, start_ms, end_ms, mode, reason, origin, author, stopped_ms, created_ms";
/// A window's effective end in SQL (`ManualWindow::ends_ms`): stopped, or planned.
const WINDOW_ENDS: &str = "min(end_ms, coalesce(stopped_ms, end_ms))";
/// Retention (`maintain`, with the cut-off of the longest tier, as for events and the alert
/// history): periods that ended before the cut-off; the open one is never pruned.
pub(super) const PRUNE_PERIODS_SQL: &str =
    "DELETE FROM maintenance_periods WHERE end_ms IS NOT NULL AND end_ms < ?";
/// ... and windows opened by hand that ended (or were stopped) before it.
pub(super) const PRUNE_WINDOWS_SQL: &str =
    "DELETE FROM maintenance_windows WHERE min(end_ms, coalesce(stopped_ms, end_ms)) < ?";

/// `maintenance::manual` keeps its windows here.
impl Windows for Store {
    async fn record_window(&self, window: &ManualWindow) -> Result<i64, WindowsError> {
        Ok(self.add_window(window).await?)
    }

    async fn stop_active_windows(
        &self,
        now_ms: UnixMillis,
    ) -> Result<Vec<ManualWindow>, WindowsError> {
        Ok(self.stop_windows(now_ms).await?)
    }

    async fn extend_active_window(
        &self,
        by_ms: i64,
        now_ms: UnixMillis,
    ) -> Result<Option<ManualWindow>, WindowsError> {
        Ok(self.extend_window(by_ms, now_ms).await?)
    }
}

impl Store {
    /// The maintenance report over `[from_ms, to_ms)` from what the store holds (the CLI and
    /// the dashboard): `maintenance::report` over the periods and the check statuses.
    pub async fn maintenance_report(
        &self,
        from_ms: UnixMillis,
        to_ms: UnixMillis,
    ) -> Result<Report, StoreError> {
        let periods = self.periods(from_ms, to_ms).await?;
        let history = self
            .check_statuses(from_ms, to_ms, report::LOOKBACK_MS)
            .await?;
        Ok(report::report(&periods, &history, from_ms, to_ms))
    }

    /// Stores `period`: a new row when `id == 0` (returns the new id), otherwise every
    /// column of row `id` (written anew if it is gone; returns `id`).
    pub async fn save_period(&self, period: &Period) -> Result<i64, StoreError> {
        self.inner.check_open()?;
        let inner = &*self.inner;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO maintenance_periods (id, start_ms, end_ms, planned_end_ms, mode, reason,
                                              origin, planned, impact, muted)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (id) DO UPDATE SET start_ms = excluded.start_ms,
                 end_ms = excluded.end_ms, planned_end_ms = excluded.planned_end_ms,
                 mode = excluded.mode, reason = excluded.reason, origin = excluded.origin,
                 planned = excluded.planned, impact = excluded.impact, muted = excluded.muted
             RETURNING id",
        )
        // NULL makes SQLite pick the next rowid.
        .bind((period.id != 0).then_some(period.id))
        .bind(period.start_ms)
        .bind(period.end_ms)
        .bind(period.planned_end_ms)
        .bind(period.mode.as_str())
        .bind(&period.reason)
        .bind(period.origin.as_str())
        .bind(period.planned)
        .bind(to_json(&period.impact, inner)?)
        .bind(to_json(&period.muted, inner)?)
        .fetch_one(&inner.pool)
        .await
        .map_err(|e| inner.db(e))?;
        Ok(id)
    }

    /// The open period (no end yet); should there be several, the newest.
    pub async fn open_period(&self) -> Result<Option<Period>, StoreError> {
        self.inner.check_open()?;
        let inner = &*self.inner;
        let sql = format!(
            "SELECT {PERIOD_COLUMNS} FROM maintenance_periods WHERE end_ms IS NULL
             ORDER BY start_ms DESC, id DESC LIMIT 1"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_optional(&inner.pool)
            .await
            .map_err(|e| inner.db(e))?;
        row.map(|row| period_from_row(&row, inner)).transpose()
    }

    /// Every period overlapping `[from_ms, to_ms)` (an open one runs to the store clock's
    /// now; one of no length counts when it starts in the range), oldest first.
    pub async fn periods(
        &self,
        from_ms: UnixMillis,
        to_ms: UnixMillis,
    ) -> Result<Vec<Period>, StoreError> {
        self.inner.check_open()?;
        let inner = &*self.inner;
        let sql = format!(
            "SELECT {PERIOD_COLUMNS} FROM maintenance_periods
             WHERE start_ms < ?2 AND (coalesce(end_ms, ?3) > ?1 OR start_ms >= ?1)
             ORDER BY start_ms, id"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(from_ms)
            .bind(to_ms)
            .bind(inner.clock.now_ms())
            .fetch_all(&inner.pool)
            .await
            .map_err(|e| inner.db(e))?;
        rows.iter().map(|row| period_from_row(row, inner)).collect()
    }

    /// Stores a new manual window (its `id` is ignored); returns its id.
    pub async fn add_window(&self, window: &ManualWindow) -> Result<i64, StoreError> {
        self.inner.check_open()?;
        let inner = &*self.inner;
        let done = sqlx::query(
            "INSERT INTO maintenance_windows (start_ms, end_ms, mode, reason, origin, author,
                                              stopped_ms, created_ms)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(window.start_ms)
        .bind(window.end_ms)
        .bind(window.mode.as_str())
        .bind(&window.reason)
        .bind(window.origin.as_str())
        .bind(&window.author)
        .bind(window.stopped_ms)
        .bind(window.created_ms)
        .execute(&inner.pool)
        .await
        .map_err(|e| inner.db(e))?;
        Ok(done.last_insert_rowid())
    }

    /// Manual windows active at `now_ms` or still to come, soonest first.
    pub async fn windows(&self, now_ms: UnixMillis) -> Result<Vec<ManualWindow>, StoreError> {
        self.inner.check_open()?;
        let inner = &*self.inner;
        // `end_ms > now` first: the index narrows to the few windows not over yet.
        let sql = format!(
            "SELECT {WINDOW_COLUMNS} FROM maintenance_windows
             WHERE end_ms > ?1 AND {WINDOW_ENDS} > ?1
             ORDER BY start_ms, id"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(now_ms)
            .fetch_all(&inner.pool)
            .await
            .map_err(|e| inner.db(e))?;
        rows.iter().map(|row| window_from_row(row, inner)).collect()
    }

    /// Manual windows, past ones and stopped ones included, newest (latest start) first, at
    /// most `limit`.
    pub async fn window_history(&self, limit: usize) -> Result<Vec<ManualWindow>, StoreError> {
        self.inner.check_open()?;
        let inner = &*self.inner;
        let sql = format!(
            "SELECT {WINDOW_COLUMNS} FROM maintenance_windows
             ORDER BY start_ms DESC, id DESC LIMIT ?"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(sql_limit(limit))
            .fetch_all(&inner.pool)
            .await
            .map_err(|e| inner.db(e))?;
        rows.iter().map(|row| window_from_row(row, inner)).collect()
    }

    /// Stops every manual window active at `now_ms` (`stopped_ms = now`) and returns them,
    /// stopped, soonest first; empty when none was active. Windows still to come stay.
    pub async fn stop_windows(&self, now_ms: UnixMillis) -> Result<Vec<ManualWindow>, StoreError> {
        self.inner.check_open()?;
        let inner = &*self.inner;
        let sql = format!(
            "UPDATE maintenance_windows SET stopped_ms = ?1
             WHERE end_ms > ?1 AND start_ms <= ?1 AND {WINDOW_ENDS} > ?1
             RETURNING {WINDOW_COLUMNS}"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(now_ms)
            .fetch_all(&inner.pool)
            .await
            .map_err(|e| inner.db(e))?;
        let mut stopped = rows
            .iter()
            .map(|row| window_from_row(row, inner))
            .collect::<Result<Vec<_>, _>>()?;
        stopped.sort_by_key(|w| (w.start_ms, w.id));
        Ok(stopped)
    }

    /// Moves the planned end of the active manual window that ends last by `by_ms`; returns
    /// it, moved. `None` when no manual window is active at `now_ms`.
    pub async fn extend_window(
        &self,
        by_ms: i64,
        now_ms: UnixMillis,
    ) -> Result<Option<ManualWindow>, StoreError> {
        self.inner.check_open()?;
        let inner = &*self.inner;
        // One statement: the choice and the change happen under one write lock.
        let sql = format!(
            "UPDATE maintenance_windows SET end_ms = min(end_ms + ?2, {max})
             WHERE id = (SELECT id FROM maintenance_windows
                         WHERE end_ms > ?1 AND start_ms <= ?1 AND {WINDOW_ENDS} > ?1
                         ORDER BY {WINDOW_ENDS} DESC, id DESC LIMIT 1)
             RETURNING {WINDOW_COLUMNS}",
            // Extended again and again, a window still ends at a time that can be shown.
            max = crate::clock::MAX_TIME_MS
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(now_ms)
            .bind(by_ms)
            .fetch_optional(&inner.pool)
            .await
            .map_err(|e| inner.db(e))?;
        row.map(|row| window_from_row(&row, inner)).transpose()
    }

    /// Alert notices decided in `[from_ms, to_ms)` that maintenance muted (their reason's
    /// kind is `maintenance`, see `alert::mute`), oldest first.
    pub async fn maintenance_muted(
        &self,
        from_ms: UnixMillis,
        to_ms: UnixMillis,
    ) -> Result<Vec<HistoryEntry>, StoreError> {
        self.inner.check_open()?;
        let inner = &*self.inner;
        let rows = sqlx::query(
            "SELECT notice, untold FROM alert_history
             WHERE at_ms >= ? AND at_ms < ? AND json_extract(untold, '$.reason.kind') = ?
             ORDER BY at_ms, id",
        )
        .bind(from_ms)
        .bind(to_ms)
        .bind(MuteReason::MAINTENANCE)
        .fetch_all(&inner.pool)
        .await
        .map_err(|e| inner.db(e))?;
        rows.iter()
            .map(|row| {
                Ok(HistoryEntry {
                    notice: json_column(row, "notice", inner)?,
                    muted_by: json_opt_column(row, "untold", inner)?,
                })
            })
            .collect()
    }

    /// The stored statuses of every check over `[from_ms, to_ms)`, for availability: per
    /// check (by name), its rows in the range, preceded by its last row in
    /// `[from_ms - lookback_ms, from_ms)` (the status in force at `from_ms`), oldest first.
    /// Checks without a row in `[from_ms - lookback_ms, to_ms)` are left out.
    pub async fn check_statuses(
        &self,
        from_ms: UnixMillis,
        to_ms: UnixMillis,
        lookback_ms: i64,
    ) -> Result<Vec<CheckHistory>, StoreError> {
        self.inner.check_open()?;
        let inner = &*self.inner;
        // Per check, one index seek for the row in force at `from`, then a range scan.
        let rows: Vec<(String, i64, String)> = sqlx::query_as(
            "WITH firsts AS (
                 SELECT c.id AS check_id, c.name AS name,
                        (SELECT max(p.at_ms) FROM check_history p
                         WHERE p.check_id = c.id AND p.at_ms < ?1 AND p.at_ms >= ?3) AS first_ms
                 FROM checks c
             )
             SELECT f.name, h.at_ms, h.status
             FROM firsts f JOIN check_history h ON h.check_id = f.check_id
             WHERE h.at_ms >= coalesce(f.first_ms, ?1) AND h.at_ms < ?2
             ORDER BY f.name, h.at_ms",
        )
        .bind(from_ms)
        .bind(to_ms)
        .bind(from_ms.saturating_sub(lookback_ms))
        .fetch_all(&inner.pool)
        .await
        .map_err(|e| inner.db(e))?;
        let mut checks: Vec<CheckHistory> = Vec::new();
        for (name, at_ms, status) in rows {
            let status = parse_status(&status).ok_or_else(|| {
                decode_error(inner, "status", format!("unknown check status {status:?}"))
            })?;
            match checks.last_mut() {
                Some((last, statuses)) if *last == name => statuses.push((at_ms, status)),
                _ => checks.push((name, vec![(at_ms, status)])),
            }
        }
        Ok(checks)
    }
}

fn mode_column(row: &SqliteRow, inner: &Inner) -> Result<Mode, StoreError> {
    let text: String = column(row, "mode", inner)?;
    Mode::parse(&text)
        .ok_or_else(|| decode_error(inner, "mode", format!("unknown maintenance mode {text:?}")))
}

fn origin_column(row: &SqliteRow, inner: &Inner) -> Result<Origin, StoreError> {
    let text: String = column(row, "origin", inner)?;
    Origin::parse(&text).ok_or_else(|| {
        decode_error(
            inner,
            "origin",
            format!("unknown maintenance origin {text:?}"),
        )
    })
}

fn period_from_row(row: &SqliteRow, inner: &Inner) -> Result<Period, StoreError> {
    Ok(Period {
        id: column(row, "id", inner)?,
        start_ms: column(row, "start_ms", inner)?,
        end_ms: column(row, "end_ms", inner)?,
        planned_end_ms: column(row, "planned_end_ms", inner)?,
        mode: mode_column(row, inner)?,
        reason: column(row, "reason", inner)?,
        origin: origin_column(row, inner)?,
        planned: row.try_get("planned").map_err(|e| inner.db(e))?,
        impact: json_column(row, "impact", inner)?,
        muted: json_column(row, "muted", inner)?,
    })
}

fn window_from_row(row: &SqliteRow, inner: &Inner) -> Result<ManualWindow, StoreError> {
    Ok(ManualWindow {
        id: column(row, "id", inner)?,
        start_ms: column(row, "start_ms", inner)?,
        end_ms: column(row, "end_ms", inner)?,
        mode: mode_column(row, inner)?,
        reason: column(row, "reason", inner)?,
        origin: origin_column(row, inner)?,
        author: column(row, "author", inner)?,
        stopped_ms: column(row, "stopped_ms", inner)?,
        created_ms: column(row, "created_ms", inner)?,
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::alert::Severity;
    use crate::alert::mute::Untold;
    use crate::alert::records::AlertBatch;
    use crate::clock::ManualClock;
    use crate::maintenance::Impact;
    use crate::model::{AlertNotice, Category, NoticeKind};
    use crate::model::{CheckResult, Layer, Observation, Status};
    use crate::store::StoreOptions;

    const T0: i64 = 1_700_000_000_000;
    const MIN: i64 = 60_000;

    async fn open(dir: &std::path::Path, clock: &Arc<ManualClock>) -> Store {
        Store::open(dir, StoreOptions::default(), clock.clone())
            .await
            .expect("open store")
    }

    fn period(start_ms: i64, end_ms: Option<i64>) -> Period {
        Period {
            id: 0,
            start_ms,
            end_ms,
            planned_end_ms: Some(start_ms + 30 * MIN),
            mode: Mode::Normal,
            reason: "database upgrade".into(),
            origin: Origin::Detected,
            planned: false,
            impact: Impact::default(),
            muted: Vec::new(),
        }
    }

    fn window(start_ms: i64, end_ms: i64) -> ManualWindow {
        ManualWindow {
            id: 0,
            start_ms,
            end_ms,
            mode: Mode::Emergency,
            reason: "disk \"full\"".into(),
            origin: Origin::Cli,
            author: "ops".into(),
            stopped_ms: None,
            created_ms: start_ms,
        }
    }

    #[tokio::test]
    async fn retention_prunes_ended_maintenance_and_silences_with_the_hour_tier() {
        const HOUR: i64 = 60 * MIN;
        const DAY: i64 = 24 * HOUR;
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::new(T0);
        let store = open(dir.path(), &clock).await;
        let mut ids = Vec::new();
        for p in [
            period(T0, Some(T0 + 40 * MIN)),
            period(T0 + 50 * MIN, None),
            period(T0 + 10 * DAY, Some(T0 + 10 * DAY + 30 * MIN)),
        ] {
            ids.push(store.save_period(&p).await.unwrap());
        }
        let stopped_early = ManualWindow {
            stopped_ms: Some(T0 + 5 * MIN),
            ..window(T0, T0 + 20 * DAY)
        };
        let mut window_ids = Vec::new();
        for w in [
            window(T0, T0 + 30 * MIN),
            stopped_early,
            window(T0 + 10 * DAY, T0 + 10 * DAY + HOUR),
        ] {
            window_ids.push(store.add_window(&w).await.unwrap());
        }
        for (id, ends_ms) in [("old", T0 + HOUR), ("recent", T0 + 10 * DAY + HOUR)] {
            let silence = crate::alert::silence::Silence {
                id: id.into(),
                matchers: Vec::new(),
                starts_ms: T0,
                ends_ms,
                author: "ops".into(),
                comment: String::new(),
            };
            store.add_silence(&silence).await.unwrap();
        }

        // Two years (the hour tier's retention) after the first end: nothing has ended before
        // the cut-off yet.
        clock.set(T0 + 5 * MIN + 730 * DAY);
        let m = store.maintain().await.unwrap();
        assert_eq!((m.expired_maintenance, m.expired_silences), (0, 0));
        assert_eq!(store.window_history(10).await.unwrap().len(), 3);

        // Past two years after the old ones ended: they go; the open period never does.
        clock.set(T0 + HOUR + 730 * DAY + 1);
        let m = store.maintain().await.unwrap();
        assert_eq!((m.expired_maintenance, m.expired_silences), (3, 1));
        let periods: Vec<i64> = store
            .periods(0, i64::MAX)
            .await
            .unwrap()
            .iter()
            .map(|p| p.id)
            .collect();
        assert_eq!(periods, [ids[1], ids[2]]);
        let windows: Vec<i64> = store
            .window_history(10)
            .await
            .unwrap()
            .iter()
            .map(|w| w.id)
            .collect();
        assert_eq!(windows, [window_ids[2]]);
        let silences: Vec<String> = store
            .silences()
            .await
            .unwrap()
            .into_iter()
            .map(|s| s.id)
            .collect();
        assert_eq!(silences, ["recent"]);
    }

    /// Regression: the size cap drops the hour tier's rows "before i64::MAX" once it drops
    /// them all, and the timelines that follow it went with them up to that time, so an
    /// active silence or maintenance window (what is in force, not history) was deleted.
    #[tokio::test]
    async fn the_size_cap_drops_old_timelines_with_the_hour_tier_but_nothing_in_force() {
        const HOUR: i64 = 60 * MIN;
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::new(T0);
        let store = open(dir.path(), &clock).await;
        let key = Arc::new(crate::model::SeriesKey::new("v"));
        for i in 0..120 {
            store.ingest(&Observation {
                source: "t".into(),
                at_ms: T0 + i * MIN,
                samples: vec![crate::model::Sample {
                    series: key.clone(),
                    value: i as f64,
                }],
                checks: Vec::new(),
            });
        }
        store.flush().await.unwrap();
        store
            .record_event(&crate::model::Event {
                at_ms: T0 + MIN,
                kind: crate::model::EventKind::Started,
                subject: "lookout".into(),
                message: "started".into(),
            })
            .await
            .unwrap();
        store
            .commit_alerts(&AlertBatch {
                history: vec![HistoryEntry {
                    notice: notice("a", T0 + 2 * MIN),
                    muted_by: None,
                }],
                ..AlertBatch::default()
            })
            .await
            .unwrap();
        let now = T0 + 3 * HOUR;
        let ended = store
            .save_period(&period(T0, Some(T0 + 10 * MIN)))
            .await
            .unwrap();
        let open_period = store.save_period(&period(now - MIN, None)).await.unwrap();
        store.add_window(&window(T0, T0 + 30 * MIN)).await.unwrap();
        let active = store
            .add_window(&window(now - MIN, now + HOUR))
            .await
            .unwrap();
        for (id, ends_ms) in [("expired", T0 + HOUR), ("active", now + HOUR)] {
            let silence = crate::alert::silence::Silence {
                id: id.into(),
                matchers: Vec::new(),
                starts_ms: T0,
                ends_ms,
                author: "ops".into(),
                comment: String::new(),
            };
            store.add_silence(&silence).await.unwrap();
        }
        clock.set(now);
        store.maintain().await.unwrap();
        store.close().await.unwrap();

        // A cap far below what is there: every tier goes, and the timelines up to now.
        let capped = StoreOptions {
            max_size: 4096,
            ..StoreOptions::default()
        };
        let store = Store::open(dir.path(), capped, clock.clone())
            .await
            .unwrap();
        let m = store.maintain().await.unwrap();
        assert!(m.capped_rollups > 0, "{m:?}");
        // The event, the alert history entry, the ended period and window, the expired silence.
        assert_eq!(m.capped_records, 5, "{m:?}");
        assert!(store.alert_history(0, 10).await.unwrap().is_empty());
        let periods: Vec<i64> = store
            .periods(0, i64::MAX)
            .await
            .unwrap()
            .iter()
            .map(|p| p.id)
            .collect();
        assert_eq!(periods, [open_period]);
        assert_ne!(ended, open_period);
        let windows: Vec<i64> = store
            .window_history(10)
            .await
            .unwrap()
            .iter()
            .map(|w| w.id)
            .collect();
        assert_eq!(windows, [active]);
        let silences: Vec<String> = store
            .silences()
            .await
            .unwrap()
            .into_iter()
            .map(|s| s.id)
            .collect();
        assert_eq!(silences, ["active"]);
    }

    #[tokio::test]
    async fn periods_are_inserted_updated_and_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::new(T0);
        let store = open(dir.path(), &clock).await;
        assert_eq!(store.open_period().await.unwrap(), None);

        let mut p = period(T0, None);
        p.id = store.save_period(&p).await.unwrap();
        assert!(p.id > 0);
        assert_eq!(store.open_period().await.unwrap(), Some(p.clone()));

        // An update writes every column and keeps the id.
        p.end_ms = Some(T0 + 40 * MIN);
        p.mode = Mode::Emergency;
        p.reason = "still upgrading".into();
        p.origin = Origin::Dashboard;
        p.planned = true;
        p.planned_end_ms = None;
        p.impact = Impact {
            blocked_requests: 12,
            blocked_requests_seen: 3,
            sessions_at_start: Some(40),
            active_jobs: Some(2),
            invalidated_sessions: None,
            blocked_operations: vec!["upload".into(), "login".into()],
        };
        p.muted = vec!["critical check_failed: app down".into()];
        assert_eq!(store.save_period(&p).await.unwrap(), p.id);
        assert_eq!(store.open_period().await.unwrap(), None, "it ended");
        store.close().await.unwrap();

        let store = open(dir.path(), &clock).await;
        assert_eq!(store.periods(0, i64::MAX).await.unwrap(), vec![p.clone()]);
        // A second one, then a third open one: the newest open one is "the" open period.
        let mut older_open = period(T0 + 50 * MIN, None);
        older_open.id = store.save_period(&older_open).await.unwrap();
        let mut newest = period(T0 + 60 * MIN, None);
        newest.id = store.save_period(&newest).await.unwrap();
        assert!(newest.id > older_open.id && older_open.id > p.id);
        assert_eq!(store.open_period().await.unwrap(), Some(newest));
    }

    #[tokio::test]
    async fn periods_overlapping_a_range_oldest_first_open_ones_run_to_now() {
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::new(T0 + 100 * MIN);
        let store = open(dir.path(), &clock).await;
        let mut saved = Vec::new();
        for (start, end) in [
            (T0 + 50 * MIN, Some(T0 + 60 * MIN)), // 0: inside
            (T0, Some(T0 + 10 * MIN)),            // 1: ends where the range starts
            (T0 + 5 * MIN, Some(T0 + 20 * MIN)),  // 2: straddles the start
            (T0 + 90 * MIN, Some(T0 + 95 * MIN)), // 3: starts where the range ends
            (T0 + 80 * MIN, None),                // 4: open: runs to now
            (T0 + 30 * MIN, Some(T0 + 30 * MIN)), // 5: no length, inside
        ] {
            let mut p = period(start, end);
            p.id = store.save_period(&p).await.unwrap();
            saved.push(p);
        }
        let ids = |periods: Vec<Period>| periods.iter().map(|p| p.id).collect::<Vec<_>>();
        let from = T0 + 10 * MIN;
        let to = T0 + 90 * MIN;
        assert_eq!(
            ids(store.periods(from, to).await.unwrap()),
            vec![saved[2].id, saved[5].id, saved[0].id, saved[4].id]
        );
        assert_eq!(
            ids(store.periods(T0 + 99 * MIN, T0 + 200 * MIN).await.unwrap()),
            vec![saved[4].id],
            "the open period is still running at now"
        );
        clock.set(T0 + 85 * MIN);
        assert!(
            store
                .periods(T0 + 86 * MIN, T0 + 89 * MIN)
                .await
                .unwrap()
                .is_empty(),
            "an open period has not reached past now"
        );
    }

    #[tokio::test]
    async fn windows_are_listed_stopped_and_extended() {
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::new(T0);
        let store = open(dir.path(), &clock).await;
        let now = T0 + 100 * MIN;
        let past = window(T0, T0 + 30 * MIN);
        let short = window(now - 10 * MIN, now + 20 * MIN);
        let long = window(now - 5 * MIN, now + 60 * MIN);
        let later = window(now + 120 * MIN, now + 180 * MIN);
        let mut stopped = window(now - 20 * MIN, now + 40 * MIN);
        stopped.stopped_ms = Some(now - MIN);
        let mut ids = Vec::new();
        for w in [&past, &short, &long, &later, &stopped] {
            ids.push(store.add_window(w).await.unwrap());
        }
        let with_id = |w: &ManualWindow, id: i64| ManualWindow { id, ..w.clone() };

        assert_eq!(
            store.windows(now).await.unwrap(),
            vec![
                with_id(&short, ids[1]),
                with_id(&long, ids[2]),
                with_id(&later, ids[3])
            ],
            "active and upcoming, soonest first; past and stopped ones are not"
        );
        let history = store.window_history(10).await.unwrap();
        assert_eq!(
            history.iter().map(|w| w.id).collect::<Vec<_>>(),
            vec![ids[3], ids[2], ids[1], ids[4], ids[0]],
            "newest first, every one"
        );
        assert_eq!(history[3], with_id(&stopped, ids[4]));
        assert_eq!(store.window_history(2).await.unwrap().len(), 2);

        // Extend moves the active window that ends last.
        let extended = store.extend_window(15 * MIN, now).await.unwrap().unwrap();
        assert_eq!(extended.id, ids[2]);
        assert_eq!(extended.end_ms, now + 75 * MIN);
        assert_eq!(store.windows(now).await.unwrap()[1], extended);

        // Stop ends the active ones now and leaves the upcoming one.
        let stopped_now = store.stop_windows(now).await.unwrap();
        assert_eq!(
            stopped_now,
            vec![
                ManualWindow {
                    stopped_ms: Some(now),
                    ..with_id(&short, ids[1])
                },
                ManualWindow {
                    stopped_ms: Some(now),
                    ..extended
                },
            ]
        );
        assert!(stopped_now.iter().all(|w| !w.is_active(now)));
        assert_eq!(
            store.windows(now).await.unwrap(),
            vec![with_id(&later, ids[3])]
        );
        assert!(store.stop_windows(now).await.unwrap().is_empty());
        assert_eq!(
            store.extend_window(15 * MIN, now).await.unwrap(),
            None,
            "nothing active: an upcoming window is not extended"
        );
        assert_eq!(store.windows(now).await.unwrap()[0].end_ms, later.end_ms);
        store.close().await.unwrap();
        let store = open(dir.path(), &clock).await;
        assert_eq!(store.window_history(10).await.unwrap().len(), 5);
    }

    fn notice(alert_id: &str, at_ms: i64) -> AlertNotice {
        AlertNotice {
            alert_id: alert_id.into(),
            rule: "check_failed".into(),
            kind: NoticeKind::Firing,
            severity: Severity::Critical,
            previous_severity: None,
            category: Category::Failure,
            labels: Default::default(),
            summary: format!("{alert_id} failed"),
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

    #[tokio::test]
    async fn alerts_muted_by_maintenance_in_a_range_oldest_first() {
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::new(T0);
        let store = open(dir.path(), &clock).await;
        let entry = |id: &str, at_ms: i64, muted_by: Option<Untold>| HistoryEntry {
            notice: notice(id, at_ms),
            muted_by,
        };
        let maintenance = |detail: &str| {
            Some(Untold::from(MuteReason::Maintenance {
                detail: detail.into(),
            }))
        };
        let history = vec![
            entry("a", T0 + 2 * MIN, maintenance("(normal mode: upgrade)")),
            entry("b", T0 + MIN, maintenance("ended 1m ago (grace 2m)")),
            entry("c", T0 + MIN, None),
            entry(
                "d",
                T0 + MIN,
                Some(MuteReason::Silence { id: "s1".into() }.into()),
            ),
            entry("e", T0 - 1, maintenance("(normal mode: upgrade)")),
            entry("f", T0 + 3 * MIN, maintenance("(normal mode: upgrade)")),
            // Words that only read like maintenance are not maintenance.
            entry(
                "g",
                T0 + MIN,
                Some(
                    MuteReason::Recorded {
                        text: "maintenance by hand".into(),
                    }
                    .into(),
                ),
            ),
            entry("h", T0 + MIN, Some(Untold::FiringNotTold)),
        ];
        store
            .commit_alerts(&AlertBatch {
                history: history.clone(),
                ..AlertBatch::default()
            })
            .await
            .unwrap();
        assert_eq!(
            store.maintenance_muted(T0, T0 + 3 * MIN).await.unwrap(),
            vec![history[1].clone(), history[0].clone()]
        );
    }

    #[tokio::test]
    async fn check_statuses_start_with_the_status_in_force_at_from() {
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::new(T0);
        let store = open(dir.path(), &clock).await;
        let result = |check: &str, at_ms: i64, status: Status| CheckResult {
            check: check.into(),
            layer: Layer::Application,
            status,
            value: None,
            detail: String::new(),
            at_ms,
            underlying: None,
        };
        // "old" last reported 3 hours before; "app" changes every 10 minutes from T0.
        store.ingest(&Observation {
            source: "check:old".into(),
            at_ms: T0 - 3 * 3_600_000,
            samples: Vec::new(),
            checks: vec![result("old", T0 - 3 * 3_600_000, Status::Critical)],
        });
        let mut at = T0;
        for status in [
            Status::Ok,
            Status::Critical,
            Status::Ok,
            Status::Maintenance,
        ] {
            store.ingest(&Observation {
                source: "check:app".into(),
                at_ms: at,
                samples: Vec::new(),
                checks: vec![result("app", at, status)],
            });
            store.flush().await.unwrap();
            at += 10 * MIN;
        }
        let got = store
            .check_statuses(T0 + 15 * MIN, T0 + 30 * MIN, 3_600_000)
            .await
            .unwrap();
        assert_eq!(
            got,
            vec![(
                "app".to_string(),
                vec![
                    (T0 + 10 * MIN, Status::Critical),
                    (T0 + 20 * MIN, Status::Ok)
                ]
            )],
            "the row before `from`, rows up to `to` excluded; \"old\" is past the lookback"
        );
        let got = store
            .check_statuses(T0 + 10 * MIN, T0 + 11 * MIN, 0)
            .await
            .unwrap();
        assert_eq!(got[0].1, vec![(T0 + 10 * MIN, Status::Critical)]);
        assert!(
            store
                .check_statuses(T0 - 5 * MIN, T0 - MIN, 60_000)
                .await
                .unwrap()
                .is_empty()
        );
    }
}
