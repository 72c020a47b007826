//! The store's writes: flush (buffer -> head chunks, check results), events, and maintenance
//! (seal windows and roll them up, retention, size cap, vacuum). Every write transaction is
//! `BEGIN IMMEDIATE`, so a transaction never has to upgrade a read lock (the source of
//! SQLITE_BUSY failures that a busy timeout cannot wait out).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use sqlx::sqlite::SqliteConnection;
use sqlx::{Connection, Row};

use crate::model::{CheckResult, Event, SeriesKey, Status};

use super::buffer::Taken;
use super::check_rollup;
use super::codec::{self, SeriesSlices};
use super::error::StoreError;
use super::policy::{self, Cutoffs, HOUR_MS, MINUTE_MS, RAW_WINDOW_MS, Span};
use super::rollup::{self, Bucket, decode_buckets, encode_buckets};
use super::shard;
use super::{FlushStats, Inner, MaintainStats};

/// Vacuum when this share of the file is free pages.
const VACUUM_FREE_RATIO: f64 = 0.2;
/// The size cap, once exceeded, trims down to this share of `max_size`.
const SIZE_CAP_LOW_WATER: f64 = 0.9;
/// `close()` maintains when the last maintenance is older than this.
const MAINTAIN_DUE_MS: i64 = 600_000;

/// One head row: the samples of the series flushed together that fall in one window and in one
/// run of shards.
#[derive(Debug)]
struct HeadRow {
    window_ms: i64,
    shard_lo: i64,
    shard_hi: i64,
    first_ms: i64,
    last_ms: i64,
    n: i64,
    data: Vec<u8>,
}

/// Runs `f` on tokio's blocking threads: a hub's flush copies, encodes and removes 150,000
/// series (tens of milliseconds of CPU each), which on a runtime worker would hold up the
/// requests queued behind it.
async fn off_runtime<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    match tokio::task::spawn_blocking(f).await {
        Ok(v) => v,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

pub async fn flush(inner: &Arc<Inner>) -> Result<FlushStats, StoreError> {
    let _one_at_a_time = inner.flush_lock.lock().await;
    let copy = inner.clone();
    let taken = Arc::new(off_runtime(move || copy.buffer().take()).await);
    if taken.is_empty() {
        return Ok(FlushStats {
            dropped_samples: inner.buffer().dropped_samples,
            ..FlushStats::default()
        });
    }
    match write_taken(inner, &taken).await {
        Ok(mut stats) => {
            let copy = inner.clone();
            stats.dropped_samples = off_runtime(move || {
                let mut buffer = copy.buffer();
                buffer.remove_flushed(&taken);
                buffer.dropped_samples
            })
            .await;
            Ok(stats)
        }
        Err(e) => {
            tracing::warn!(error = %e, samples = taken.samples(), "store flush failed; kept in memory");
            Err(e)
        }
    }
}

/// New series get their ids in transactions of at most this many: a hub's first flush of
/// 150,000 series must not hold the write lock for seconds (the alerting lease, the received
/// hosts and the other writers wait at most 5 s).
const NEW_SERIES_PER_TX: usize = 1_000;

async fn write_taken(inner: &Inner, taken: &Arc<Taken>) -> Result<FlushStats, StoreError> {
    let db = |e| inner.db(e);
    let mut conn = inner.pool.acquire().await.map_err(db)?;

    // 1. Each series' id: from the cache in one pass; the series the store has none for get
    // theirs in bounded transactions, cached as each commits.
    let mut ids: Vec<i64> = Vec::with_capacity(taken.series.len());
    let mut new: Vec<usize> = Vec::new();
    {
        let cached = inner.ids();
        for (i, t) in taken.series.iter().enumerate() {
            ids.push(cached.get(&*t.key).copied().unwrap_or_else(|| {
                new.push(i);
                0
            }));
        }
    }
    for chunk in new.chunks(NEW_SERIES_PER_TX) {
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await.map_err(db)?;
        let mut max: i64 = sqlx::query_scalar("SELECT coalesce(max(id), 0) FROM series")
            .fetch_one(&mut *tx)
            .await
            .map_err(db)?;
        let mut made = Vec::with_capacity(chunk.len());
        for &i in chunk {
            let key = &taken.series[i].key;
            let id = series_id(&mut tx, key, max).await.map_err(db)?;
            max = max.max(id);
            ids[i] = id;
            made.push((key.clone(), id));
        }
        tx.commit().await.map_err(db)?;
        inner.ids().extend(made);
    }

    // 2. The samples as head rows, the check results and the events: one transaction.
    let mut tx = conn.begin_with("BEGIN IMMEDIATE").await.map_err(db)?;
    let copy = taken.clone();
    let rows = off_runtime(move || {
        let parts: Vec<SeriesSlices<'_>> = copy
            .series
            .iter()
            .zip(ids)
            .map(|(t, id)| (id, &t.ts[..], &t.vals[..]))
            .collect();
        head_rows(&parts)
    })
    .await;
    let chunks = rows.len();
    for r in rows {
        sqlx::query(
            "INSERT INTO raw_heads (window_ms, shard_lo, shard_hi, first_ms, last_ms, n, data)
             VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(r.window_ms)
        .bind(r.shard_lo)
        .bind(r.shard_hi)
        .bind(r.first_ms)
        .bind(r.last_ms)
        .bind(r.n)
        .bind(r.data)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
    }
    write_checks(&mut tx, &taken.checks).await.map_err(db)?;
    for event in &taken.events {
        insert_event(&mut tx, event).await.map_err(db)?;
    }
    tx.commit().await.map_err(db)?;
    inner.note_write();
    Ok(FlushStats {
        samples: taken.samples(),
        series: taken.series.len(),
        chunks,
        checks: taken.checks.len(),
        dropped_samples: 0,
    })
}

/// One head row per window that the samples touch (one, unless a flush spans a window end).
fn head_rows(parts: &[SeriesSlices<'_>]) -> Vec<HeadRow> {
    let mut by_window: BTreeMap<i64, Vec<SeriesSlices<'_>>> = BTreeMap::new();
    for &(id, ts, vals) in parts {
        let mut i = 0;
        while i < ts.len() {
            let window_ms = policy::align(ts[i], RAW_WINDOW_MS);
            let mut j = i + 1;
            while j < ts.len() && policy::align(ts[j], RAW_WINDOW_MS) == window_ms {
                j += 1;
            }
            by_window
                .entry(window_ms)
                .or_default()
                .push((id, &ts[i..j], &vals[i..j]));
            i = j;
        }
    }
    let mut rows = Vec::new();
    for (window_ms, mut parts) in by_window {
        parts.sort_unstable_by_key(|p| (shard::of_id(p.0), p.0));
        // Cut at the first shard boundary past ROW_BYTES (a plain chunk's size, estimated).
        let mut start = 0;
        let mut bytes = 0;
        for i in 0..parts.len() {
            bytes += 16 + 12 * parts[i].1.len();
            let last = i + 1 == parts.len();
            if last
                || (bytes >= shard::ROW_BYTES
                    && shard::of_id(parts[i + 1].0) != shard::of_id(parts[i].0))
            {
                let run = &parts[start..=i];
                let all = || run.iter().flat_map(|p| p.1.iter().copied());
                rows.push(HeadRow {
                    window_ms,
                    // The first row starts at shard 0 and the last ends at the last shard, so
                    // the rows of a flush cover every shard.
                    shard_lo: if start == 0 {
                        0
                    } else {
                        shard::of_id(run[0].0)
                    },
                    shard_hi: if last {
                        shard::LAST
                    } else {
                        shard::of_id(parts[i].0)
                    },
                    first_ms: all().min().expect("non-empty"),
                    last_ms: all().max().expect("non-empty"),
                    n: all().count() as i64,
                    data: codec::encode_batch(run),
                });
                start = i + 1;
                bytes = 0;
            }
        }
    }
    rows
}

/// The id of `key`, created (above `max_id`, in its shard) when the store has none.
async fn series_id(
    conn: &mut SqliteConnection,
    key: &SeriesKey,
    max_id: i64,
) -> Result<i64, sqlx::Error> {
    let text = key.to_string();
    let labels = key.labels_json();
    let made: Option<i64> = sqlx::query_scalar(
        "INSERT INTO series (id, key, name, labels) VALUES (?, ?, ?, ?)
         ON CONFLICT (key) DO NOTHING RETURNING id",
    )
    .bind(shard::new_id(max_id, 0, shard::of_key(key)))
    .bind(&text)
    .bind(key.name())
    .bind(labels)
    .fetch_optional(&mut *conn)
    .await?;
    match made {
        Some(id) => Ok(id),
        // Made by another process meanwhile.
        None => {
            sqlx::query_scalar("SELECT id FROM series WHERE key = ?")
                .bind(&text)
                .fetch_one(&mut *conn)
                .await
        }
    }
}

/// Latest result per check, and the history: status changes plus one result per minute.
async fn write_checks(
    conn: &mut SqliteConnection,
    results: &[CheckResult],
) -> Result<(), sqlx::Error> {
    struct State {
        id: i64,
        latest_ms: i64,
        kept: Option<(Status, i64)>,
    }
    let mut states: HashMap<&str, State> = HashMap::new();
    // The rolled-up span as this transaction sees it, read with the first result kept.
    let mut rolled: Option<Option<(i64, i64)>> = None;
    for r in results {
        if !states.contains_key(r.check.as_str()) {
            sqlx::query(
                "INSERT INTO checks (name, layer, status, value, detail, at_ms) VALUES (?, ?, ?, ?, ?, ?)
                 ON CONFLICT (name) DO NOTHING",
            )
            .bind(&r.check)
            .bind(r.layer.as_str())
            .bind(r.status.as_str())
            .bind(r.value)
            .bind(&r.detail)
            .bind(r.at_ms)
            .execute(&mut *conn)
            .await?;
            let row = sqlx::query(
                "SELECT id, at_ms, history_status, history_at_ms FROM checks WHERE name = ?",
            )
            .bind(&r.check)
            .fetch_one(&mut *conn)
            .await?;
            let kept_status: Option<String> = row.get(2);
            let kept_at: Option<i64> = row.get(3);
            let kept = match (kept_status.as_deref().and_then(parse_status), kept_at) {
                (Some(s), Some(at)) => Some((s, at)),
                _ => None,
            };
            states.insert(
                &r.check,
                State {
                    id: row.get(0),
                    latest_ms: row.get(1),
                    kept,
                },
            );
        }
        let state = states.get_mut(r.check.as_str()).expect("inserted above");
        if r.at_ms >= state.latest_ms {
            sqlx::query(
                "UPDATE checks SET layer = ?, status = ?, value = ?, detail = ?, at_ms = ? WHERE id = ?",
            )
            .bind(r.layer.as_str())
            .bind(r.status.as_str())
            .bind(r.value)
            .bind(&r.detail)
            .bind(r.at_ms)
            .bind(state.id)
            .execute(&mut *conn)
            .await?;
            state.latest_ms = r.at_ms;
        }
        if policy::keep_in_history(state.kept, r.status, r.at_ms) {
            let rolled = match rolled {
                Some(span) => span,
                None => *rolled.insert(check_rollup::rolled(&mut *conn).await?),
            };
            check_rollup::note_result(&mut *conn, rolled, state.id, r.at_ms, r.status).await?;
            sqlx::query(
                "INSERT OR REPLACE INTO check_history (check_id, at_ms, status, value, detail)
                 VALUES (?, ?, ?, ?, ?)",
            )
            .bind(state.id)
            .bind(r.at_ms)
            .bind(r.status.as_str())
            .bind(r.value)
            .bind(&r.detail)
            .execute(&mut *conn)
            .await?;
            sqlx::query("UPDATE checks SET history_status = ?, history_at_ms = ? WHERE id = ?")
                .bind(r.status.as_str())
                .bind(r.at_ms)
                .bind(state.id)
                .execute(&mut *conn)
                .await?;
            state.kept = Some((r.status, r.at_ms));
        }
    }
    Ok(())
}

pub fn parse_status(s: &str) -> Option<Status> {
    Status::ALL.into_iter().find(|x| x.as_str() == s)
}

/// Writes `event` now; when that fails, keeps it in the buffer for the next flush.
pub async fn record_event(inner: &Inner, event: &Event) -> Result<(), StoreError> {
    let written = async {
        let mut conn = inner.pool.acquire().await?;
        insert_event(&mut conn, event).await
    }
    .await;
    match written {
        Ok(()) => {
            inner.note_write();
            Ok(())
        }
        Err(e) => {
            let error = inner.db(e);
            if !matches!(error, StoreError::Closed { .. }) {
                inner.buffer().keep_event(event.clone());
            }
            Err(error)
        }
    }
}

async fn insert_event(conn: &mut SqliteConnection, event: &Event) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO events (at_ms, kind, subject, message) VALUES (?, ?, ?, ?)")
        .bind(event.at_ms)
        .bind(event.kind.as_str())
        .bind(&event.subject)
        .bind(&event.message)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

pub async fn maintain_if_due(inner: &Inner) -> Result<(), StoreError> {
    let last: Option<String> =
        sqlx::query_scalar("SELECT value FROM meta WHERE key = 'last_maintain_ms'")
            .fetch_optional(&inner.pool)
            .await
            .map_err(|e| inner.db(e))?;
    let last = last.and_then(|v| v.parse::<i64>().ok());
    let now = inner.clock.now_ms();
    if last.is_none_or(|l| now - l >= MAINTAIN_DUE_MS || now < l) {
        maintain(inner).await?;
    }
    Ok(())
}

/// What follows the minute tier, by retention and by the size cap: check results older than
/// the cut-off (`?`).
const MINUTE_RECORDS: [&str; 1] =
    ["DELETE FROM check_history WHERE check_id IN (SELECT id FROM checks) AND at_ms < ?"];
/// ... and the hour tier: the event timeline, the alert history, maintenance periods and
/// windows, silences.
const HOUR_RECORDS: [&str; 5] = [
    "DELETE FROM events WHERE at_ms < ?",
    "DELETE FROM alert_history WHERE at_ms < ?",
    super::maintenance::PRUNE_PERIODS_SQL,
    super::maintenance::PRUNE_WINDOWS_SQL,
    super::silences::PRUNE_SILENCES_SQL,
];

pub async fn maintain(inner: &Inner) -> Result<MaintainStats, StoreError> {
    let _one_at_a_time = inner.maintain_lock.lock().await;
    let now = inner.clock.now_ms();
    let db = |e| inner.db(e);
    let mut stats = MaintainStats {
        bytes_before: file_size(inner).await?,
        ..MaintainStats::default()
    };
    let mut conn = inner.pool.acquire().await.map_err(db)?;

    // 1. Seal closed windows, a group of shards per transaction.
    let last_window = policy::last_sealable_window(now);
    loop {
        let window: Option<i64> =
            sqlx::query_scalar("SELECT min(window_ms) FROM raw_heads WHERE window_ms <= ?")
                .bind(last_window)
                .fetch_one(&mut *conn)
                .await
                .map_err(db)?;
        let Some(window_ms) = window else {
            break;
        };
        let (series, samples) = seal_window(inner, &mut conn, window_ms).await?;
        stats.sealed_windows += series;
        stats.sealed_samples += samples;
    }

    // 2. Retention.
    let cut = Cutoffs::at(now, &inner.opts.retention);
    let mut tx = conn.begin_with("BEGIN IMMEDIATE").await.map_err(db)?;
    for sql in [
        "DELETE FROM raw_chunks WHERE window_ms < ?",
        "DELETE FROM raw_heads WHERE window_ms < ?",
    ] {
        stats.expired_raw_chunks += exec(&mut tx, sql, cut.raw_window_before())
            .await
            .map_err(db)?;
    }
    for step in [MINUTE_MS, HOUR_MS] {
        stats.expired_rollups +=
            sqlx::query("DELETE FROM rollups WHERE step_ms = ? AND row_ms < ?")
                .bind(step)
                .bind(cut.rollup_row_before(step))
                .execute(&mut *tx)
                .await
                .map_err(db)?
                .rows_affected();
    }
    stats.expired_check_results = exec(&mut tx, MINUTE_RECORDS[0], cut.minute)
        .await
        .map_err(db)?;
    check_rollup::prune(&mut tx, cut.minute).await.map_err(db)?;
    // The alert history, maintenance periods, windows opened by hand and expired silences
    // are timelines like the events: kept as long. A delivered or failed outbox row is only
    // worth keeping while someone may ask "was it sent?" (or while its alert fires: the
    // notice Alertmanager is re-sent).
    let [events, alert_history, periods, windows, silences] = HOUR_RECORDS;
    for sql in [events, alert_history] {
        stats.expired_events += exec(&mut tx, sql, cut.hour).await.map_err(db)?;
    }
    for sql in [periods, windows] {
        stats.expired_maintenance += exec(&mut tx, sql, cut.hour).await.map_err(db)?;
    }
    stats.expired_silences = exec(&mut tx, silences, cut.hour).await.map_err(db)?;
    stats.expired_outbox_rows = exec(&mut tx, super::outbox::PRUNE_OUTBOX_SQL, cut.raw)
        .await
        .map_err(db)?;
    tx.commit().await.map_err(db)?;

    // 3. Roll closed hours of check history up, and older ones back while it is young.
    let hours = check_rollup::advance(inner, &mut conn, now, check_rollup::ADVANCE_BUDGET).await?;
    if hours > 0 {
        tracing::debug!(hours, "check history rolled up");
    }

    // 4. Size cap, then give free pages back to the file system.
    let mut capped = false;
    for _ in 0..4 {
        if !size_cap(inner, &mut conn, &mut stats).await? {
            break;
        }
        capped = true;
        vacuum(inner, &mut conn).await?;
    }
    let (pages, free, _) = pages(&mut conn).await.map_err(db)?;
    if !capped && free > 0 && free as f64 >= pages as f64 * VACUUM_FREE_RATIO {
        vacuum(inner, &mut conn).await?;
    }

    sqlx::query("INSERT INTO meta (key, value) VALUES ('last_maintain_ms', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value")
        .bind(now.to_string())
        .execute(&mut *conn)
        .await
        .map_err(db)?;
    drop(conn);
    stats.bytes_after = file_size(inner).await?;
    if stats.sealed_windows > 0 || stats.capped_raw_chunks + stats.capped_rollups > 0 {
        tracing::debug!(?stats, "store maintained");
    }
    Ok(stats)
}

async fn exec(
    conn: &mut SqliteConnection,
    sql: &'static str,
    arg: i64,
) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query(sql)
        .bind(arg)
        .execute(conn)
        .await?
        .rows_affected())
}

/// Merges a window's head rows into one sealed chunk per series (with the chunk sealed
/// before, if late samples came) and refreshes that window's rollups, a group of shards (about
/// [`shard::SEAL_GROUP_BYTES`] of head rows) per transaction, so memory and the write lock stay
/// bounded. Idempotent: sealing again after late samples, or after a crash between groups,
/// gives what sealing once with all of them would have. Rows written while it runs are left for
/// the next round. Returns (series sealed, samples in their sealed chunks).
async fn seal_window(
    inner: &Inner,
    conn: &mut SqliteConnection,
    window_ms: i64,
) -> Result<(usize, usize), StoreError> {
    let db = |e| inner.db(e);
    let rows: Vec<(i64, i64, i64, i64)> = sqlx::query_as(
        "SELECT id, shard_lo, shard_hi, length(data) FROM raw_heads WHERE window_ms = ? ORDER BY id",
    )
    .bind(window_ms)
    .fetch_all(&mut *conn)
    .await
    .map_err(db)?;
    let sizes: Vec<(i64, i64, u64)> = rows
        .iter()
        .map(|&(_, lo, hi, bytes)| (lo, hi, bytes.max(0) as u64))
        .collect();
    let (mut series, mut samples) = (0, 0);
    for (a, b) in shard::seal_groups(&sizes, inner.opts.seal_group_bytes.max(1)) {
        let group: Vec<(i64, i64)> = rows
            .iter()
            .filter(|&&(_, lo, hi, _)| lo <= b && hi >= a)
            .map(|&(id, _, hi, _)| (id, hi))
            .collect();
        if group.is_empty() {
            continue;
        }
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await.map_err(db)?;
        let (n, s) = seal_group(inner, &mut tx, window_ms, (a, b), &group).await?;
        tx.commit().await.map_err(db)?;
        series += n;
        samples += s;
    }
    Ok((series, samples))
}

/// Seals the series of shards `a..=b` found in the head rows `group` (id, last shard), then
/// deletes the rows whose shards are all sealed now.
async fn seal_group(
    inner: &Inner,
    conn: &mut SqliteConnection,
    window_ms: i64,
    (a, b): (i64, i64),
    group: &[(i64, i64)],
) -> Result<(usize, usize), StoreError> {
    let db = |e| inner.db(e);
    let bad = |what| move |e| StoreError::bad_chunk(&inner.path, what, e);
    let mut by_series: BTreeMap<i64, (Vec<i64>, Vec<f64>)> = BTreeMap::new();
    for &(row_id, _) in group {
        // Gone if another process sealed it meanwhile.
        let data: Option<Vec<u8>> = sqlx::query_scalar("SELECT data FROM raw_heads WHERE id = ?")
            .bind(row_id)
            .fetch_optional(&mut *conn)
            .await
            .map_err(db)?;
        let Some(data) = data else { continue };
        let wanted = |id: i64| (a..=b).contains(&shard::of_id(id));
        for (id, ts, vals) in codec::decode_batch(&data, wanted).map_err(bad("head row"))? {
            let e = by_series.entry(id).or_default();
            e.0.extend(ts);
            e.1.extend(vals);
        }
    }
    let mut sealed_samples = 0;
    for (&series_id, (head_ts, head_vals)) in &by_series {
        let sealed: Option<Vec<u8>> =
            sqlx::query_scalar("SELECT data FROM raw_chunks WHERE series_id = ? AND window_ms = ?")
                .bind(series_id)
                .bind(window_ms)
                .fetch_optional(&mut *conn)
                .await
                .map_err(db)?;
        let had_sealed = sealed.is_some();
        let (mut ts, mut vals) = match &sealed {
            Some(data) => codec::decode_raw(data).map_err(bad("raw chunk"))?,
            None => (Vec::new(), Vec::new()),
        };
        ts.extend_from_slice(head_ts);
        vals.extend_from_slice(head_vals);
        rollup::sort_dedup(&mut ts, &mut vals);
        let data = codec::encode_raw(&ts, &vals).map_err(bad("encoding"))?;
        sqlx::query(
            "INSERT INTO raw_chunks (series_id, window_ms, first_ms, last_ms, n, data)
             VALUES (?, ?, ?, ?, ?, ?)
             ON CONFLICT (series_id, window_ms) DO UPDATE SET
               first_ms = excluded.first_ms, last_ms = excluded.last_ms, n = excluded.n,
               data = excluded.data",
        )
        .bind(series_id)
        .bind(window_ms)
        .bind(ts[0])
        .bind(ts[ts.len() - 1])
        .bind(ts.len() as i64)
        .bind(data)
        .execute(&mut *conn)
        .await
        .map_err(db)?;
        let window = (window_ms, window_ms + RAW_WINDOW_MS);
        for (step, row_span) in [
            (MINUTE_MS, policy::MINUTE_ROW_MS),
            (HOUR_MS, policy::HOUR_ROW_MS),
        ] {
            let fresh = rollup::bucketize(&ts, &vals, 0, step);
            // With the window's sealed chunk at hand the fresh buckets are complete and replace
            // the stored ones; without it (never sealed, or expired and then late samples
            // came) they are added to them.
            upsert_rollup(
                inner, conn, series_id, step, row_span, window, &fresh, had_sealed,
            )
            .await?;
        }
        sealed_samples += ts.len();
    }
    for &(row_id, hi) in group {
        if hi <= b {
            sqlx::query("DELETE FROM raw_heads WHERE id = ?")
                .bind(row_id)
                .execute(&mut *conn)
                .await
                .map_err(db)?;
        }
    }
    Ok((by_series.len(), sealed_samples))
}

#[allow(clippy::too_many_arguments)]
async fn upsert_rollup(
    inner: &Inner,
    conn: &mut SqliteConnection,
    series_id: i64,
    step: i64,
    row_span: i64,
    window: (i64, i64),
    fresh: &[Bucket],
    replace: bool,
) -> Result<(), StoreError> {
    let db = |e| inner.db(e);
    let row_ms = policy::align(window.0, row_span);
    let existing: Option<Vec<u8>> = sqlx::query_scalar(
        "SELECT data FROM rollups WHERE series_id = ? AND step_ms = ? AND row_ms = ?",
    )
    .bind(series_id)
    .bind(step)
    .bind(row_ms)
    .fetch_optional(&mut *conn)
    .await
    .map_err(db)?;
    let stored = match &existing {
        Some(data) => {
            decode_buckets(data).map_err(|e| StoreError::bad_chunk(&inner.path, "rollup row", e))?
        }
        None => Vec::new(),
    };
    let buckets = if replace {
        rollup::splice(stored, window.0, window.1, fresh)
    } else {
        rollup::merge(stored, fresh.to_vec())
    };
    if buckets.is_empty() {
        if existing.is_some() {
            sqlx::query("DELETE FROM rollups WHERE series_id = ? AND step_ms = ? AND row_ms = ?")
                .bind(series_id)
                .bind(step)
                .bind(row_ms)
                .execute(&mut *conn)
                .await
                .map_err(db)?;
        }
        return Ok(());
    }
    let data =
        encode_buckets(&buckets).map_err(|e| StoreError::bad_chunk(&inner.path, "encoding", e))?;
    let samples: u64 = buckets.iter().map(|b| b.count).sum();
    sqlx::query(
        "INSERT INTO rollups (series_id, step_ms, row_ms, first_ms, last_ms, n, samples, data)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (series_id, step_ms, row_ms) DO UPDATE SET
           first_ms = excluded.first_ms, last_ms = excluded.last_ms, n = excluded.n,
           samples = excluded.samples, data = excluded.data",
    )
    .bind(series_id)
    .bind(step)
    .bind(row_ms)
    .bind(buckets[0].at_ms)
    .bind(buckets[buckets.len() - 1].at_ms)
    .bind(buckets.len() as i64)
    .bind(samples as i64)
    .bind(data)
    .execute(&mut *conn)
    .await
    .map_err(db)?;
    Ok(())
}

/// (page count, free pages, page size).
async fn pages(conn: &mut SqliteConnection) -> Result<(u64, u64, u64), sqlx::Error> {
    let pages: i64 = sqlx::query_scalar("PRAGMA page_count")
        .fetch_one(&mut *conn)
        .await?;
    let free: i64 = sqlx::query_scalar("PRAGMA freelist_count")
        .fetch_one(&mut *conn)
        .await?;
    let size: i64 = sqlx::query_scalar("PRAGMA page_size")
        .fetch_one(&mut *conn)
        .await?;
    Ok((pages as u64, free as u64, size as u64))
}

async fn file_size(inner: &Inner) -> Result<u64, StoreError> {
    let mut conn = inner.pool.acquire().await.map_err(|e| inner.db(e))?;
    let (pages, _, size) = pages(&mut conn).await.map_err(|e| inner.db(e))?;
    Ok(pages * size)
}

/// Drops the oldest data, finest tier first, when the pages in use exceed `max_size`.
/// Measures and deletes in one transaction, so two processes do not both trim.
/// Returns whether it deleted anything.
async fn size_cap(
    inner: &Inner,
    conn: &mut SqliteConnection,
    stats: &mut MaintainStats,
) -> Result<bool, StoreError> {
    let db = |e| inner.db(e);
    let mut tx = conn.begin_with("BEGIN IMMEDIATE").await.map_err(db)?;
    let (pages, free, page_size) = pages(&mut tx).await.map_err(db)?;
    let used = (pages - free) * page_size;
    if used <= inner.opts.max_size {
        tx.rollback().await.map_err(db)?;
        return Ok(false);
    }
    let target = (inner.opts.max_size as f64 * SIZE_CAP_LOW_WATER) as u64;
    let excess = used - target;
    // Row overhead beyond the blob: the row's other columns plus its index entries.
    const ROW_OVERHEAD: i64 = 60;
    let raw = spans(
        &mut tx,
        "SELECT window_ms, sum(length(data) + ?) FROM raw_chunks
         GROUP BY window_ms ORDER BY window_ms",
        ROW_OVERHEAD,
        None,
    )
    .await
    .map_err(db)?;
    let rollup_sql = "SELECT row_ms, sum(length(data) + ?) FROM rollups WHERE step_ms = ?
                      GROUP BY row_ms ORDER BY row_ms";
    let minute = spans(&mut tx, rollup_sql, ROW_OVERHEAD, Some(MINUTE_MS))
        .await
        .map_err(db)?;
    let hour = spans(&mut tx, rollup_sql, ROW_OVERHEAD, Some(HOUR_MS))
        .await
        .map_err(db)?;
    let plan = policy::plan_size_cap(excess, [&raw, &minute, &hour]);
    let mut deleted = 0;
    if let Some(before) = plan.raw_before {
        let n = exec(
            &mut tx,
            "DELETE FROM raw_chunks WHERE window_ms < ?",
            before,
        )
        .await
        .map_err(db)?;
        stats.capped_raw_chunks += n;
        deleted += n;
    }
    for (step, before, also) in [
        (MINUTE_MS, plan.minute_before, &MINUTE_RECORDS[..]),
        (HOUR_MS, plan.hour_before, &HOUR_RECORDS[..]),
    ] {
        if let Some(before) = before {
            let n = sqlx::query("DELETE FROM rollups WHERE step_ms = ? AND row_ms < ?")
                .bind(step)
                .bind(before)
                .execute(&mut *tx)
                .await
                .map_err(db)?
                .rows_affected();
            stats.capped_rollups += n;
            deleted += n;
            // Check history follows the minute tier, events and the other timelines the
            // hour tier; never past now: an active silence or maintenance window is not
            // history but what is in force (the last span's `before` is i64::MAX).
            let before = before.min(inner.clock.now_ms());
            for sql in also {
                let n = exec(&mut tx, sql, before).await.map_err(db)?;
                stats.capped_records += n;
                deleted += n;
            }
            if step == MINUTE_MS {
                check_rollup::prune(&mut tx, before).await.map_err(db)?;
            }
        }
    }
    tx.commit().await.map_err(db)?;
    tracing::warn!(
        used,
        max_size = inner.opts.max_size,
        raw_before = plan.raw_before,
        minute_before = plan.minute_before,
        hour_before = plan.hour_before,
        "store over its size cap: oldest data dropped"
    );
    Ok(deleted > 0)
}

async fn spans(
    conn: &mut SqliteConnection,
    sql: &'static str,
    overhead: i64,
    step: Option<i64>,
) -> Result<Vec<Span>, sqlx::Error> {
    let mut q = sqlx::query_as::<_, (i64, i64)>(sql).bind(overhead);
    if let Some(step) = step {
        q = q.bind(step);
    }
    Ok(q.fetch_all(conn)
        .await?
        .into_iter()
        .map(|(start_ms, bytes)| Span {
            start_ms,
            bytes: bytes.max(0) as u64,
        })
        .collect())
}

/// Returns free pages to the file system: incremental vacuum, then a checkpoint that copies
/// the WAL into the (now shorter) file and truncates the WAL.
async fn vacuum(inner: &Inner, conn: &mut SqliteConnection) -> Result<(), StoreError> {
    let db = |e| inner.db(e);
    sqlx::query("PRAGMA incremental_vacuum")
        .execute(&mut *conn)
        .await
        .map_err(db)?;
    let (busy, _, _): (i64, i64, i64) = sqlx::query_as("PRAGMA wal_checkpoint(TRUNCATE)")
        .fetch_one(&mut *conn)
        .await
        .map_err(db)?;
    if busy != 0 {
        tracing::debug!("store checkpoint postponed: readers active");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_rows_split_at_window_boundaries() {
        let h = RAW_WINDOW_MS;
        let a_ts = [h - 2000, h - 1000, h, h + 1000, 3 * h];
        let b_ts = [h - 1000, h];
        let vals = [1.0, 2.0, 3.0, 4.0, 5.0];
        let rows = head_rows(&[(7, &a_ts, &vals), (8, &b_ts, &vals[..2])]);
        let got: Vec<(i64, i64, i64, i64)> = rows
            .iter()
            .map(|r| (r.window_ms, r.first_ms, r.last_ms, r.n))
            .collect();
        assert_eq!(
            got,
            vec![
                (0, h - 2000, h - 1000, 3),
                (h, h, h + 1000, 3),
                (3 * h, 3 * h, 3 * h, 1)
            ]
        );
        let second = codec::decode_batch(&rows[1].data, |_| true).unwrap();
        assert_eq!(second[0], (7, vec![h, h + 1000], vec![3.0, 4.0]));
        assert_eq!(second[1], (8, vec![h], vec![2.0]));
    }
}
