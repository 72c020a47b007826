//! Check history rolled up by the hour (`check_rollup`, migration 0008), so that
//! `check_summaries` over long ranges reads 24 rows a day per check instead of one a minute.
//!
//! Invariant: for every hour in the rolled-up span `[from, to)` (meta `check_rollup_from_ms`,
//! `check_rollup_to_ms`), the row of (check, hour) holds exactly how many of that check's
//! `check_history` rows in the hour have each status rank (no row: none). Everything that
//! writes either table keeps it, in the transaction of its write:
//! - `advance` (maintenance) rolls closed hours up (`to` follows the clock, two minutes after
//!   the hour, as windows are sealed) and, in the background, fills older hours back until
//!   the oldest row (`from` falls to 0): per chunk one transaction that recomputes the hours
//!   from the raw rows and moves the span, so a crash (kill -9) leaves either both or neither,
//!   and running it again gives the same rows. A fill is bounded per call (`ADVANCE_BUDGET`),
//!   so a large store that predates the rollup is filled over a few maintenance runs, never
//!   while the daemon starts; until then its summaries read raw rows where nothing is rolled up.
//! - `note_result` (flush): a result written into a rolled-up hour (a late one, or a cron
//!   `check` whose flush waited) adds to that hour's counts, less the row it replaces.
//! - `prune` (retention, size cap): the raw rows before a cut-off go with their hours; the
//!   hour the cut-off falls in is recomputed from what is left. The rollup is kept exactly as
//!   long as the raw history (the minute tier's retention, 90 days by default): an answer
//!   from the rollup is always the answer the raw rows give.
//!
//! Reading (`summary_counts`) follows `policy::summary_plan`: the rolled-up hours count whole
//! in the bucket of their middle, and raw rows are read only where that is not exact (the
//! range's edges, the part of an hour across a bucket boundary), all in one read transaction.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use sqlx::Connection;
use sqlx::sqlite::SqliteConnection;

use crate::model::Status;

use super::Inner;
use super::error::StoreError;
use super::policy::{self, CHECK_ROLLUP_MS, SummaryPlan};

// The SQL below spells the hour out.
const _: () = assert!(CHECK_ROLLUP_MS == 3_600_000);

const FROM_KEY: &str = "check_rollup_from_ms";
const TO_KEY: &str = "check_rollup_to_ms";
/// Hours recomputed per transaction by `advance`: short enough that a flush waiting for the
/// write lock is not held long (1,000 checks: 360,000 rows).
const CHUNK_MS: i64 = 6 * CHECK_ROLLUP_MS;
/// How long one `maintain()` may spend rolling up (at least one chunk).
pub const ADVANCE_BUDGET: Duration = Duration::from_secs(1);

/// A status's rank in the rollup's columns, as `check_summaries` ranks them.
pub fn rank(status: Status) -> usize {
    match status {
        Status::Ok => 0,
        Status::Maintenance => 1,
        Status::Warning => 2,
        Status::Unknown => 3,
        Status::Critical => 4,
    }
}

/// The rank of a stored status word: a word it does not know counts as critical, as in SQL.
fn rank_of_word(word: &str) -> usize {
    match word {
        "ok" => 0,
        "maintenance" => 1,
        "warning" => 2,
        "unknown" => 3,
        _ => 4,
    }
}

/// The rolled-up span `[from, to)`; `None` before the first maintenance.
pub async fn rolled(conn: &mut SqliteConnection) -> Result<Option<(i64, i64)>, sqlx::Error> {
    let (from, to): (Option<String>, Option<String>) = sqlx::query_as(
        "SELECT (SELECT value FROM meta WHERE key = ?1), (SELECT value FROM meta WHERE key = ?2)",
    )
    .bind(FROM_KEY)
    .bind(TO_KEY)
    .fetch_one(&mut *conn)
    .await?;
    Ok(
        match (
            from.and_then(|v| v.parse().ok()),
            to.and_then(|v| v.parse().ok()),
        ) {
            (Some(from), Some(to)) => Some((from, to)),
            _ => None,
        },
    )
}

async fn set_rolled(conn: &mut SqliteConnection, span: (i64, i64)) -> Result<(), sqlx::Error> {
    for (key, value) in [(FROM_KEY, span.0), (TO_KEY, span.1)] {
        sqlx::query(
            "INSERT INTO meta (key, value) VALUES (?, ?)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .bind(key)
        .bind(value.to_string())
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Recomputes the rows of the hours in `[from, to)` (aligned, `from` ≥ 0) from the raw rows:
/// per check one range of each table's primary key.
async fn roll(conn: &mut SqliteConnection, from: i64, to: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "DELETE FROM check_rollup
         WHERE check_id IN (SELECT id FROM checks) AND hour_ms >= ? AND hour_ms < ?",
    )
    .bind(from)
    .bind(to)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "INSERT INTO check_rollup (check_id, hour_ms, ok, maintenance, warning, unknown, critical)
         SELECT check_id, at_ms / 3600000 * 3600000 AS hour, sum(status = 'ok'),
                sum(status = 'maintenance'), sum(status = 'warning'), sum(status = 'unknown'),
                sum(status NOT IN ('ok', 'maintenance', 'warning', 'unknown'))
         FROM check_history
         WHERE check_id IN (SELECT id FROM checks) AND at_ms >= ? AND at_ms < ?
         GROUP BY check_id, hour",
    )
    .bind(from)
    .bind(to)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Rolls the hours closed at `now` up, then fills older hours back, one chunk per
/// transaction, until done or `budget` is spent (at least one chunk). Returns the hours
/// recomputed.
pub async fn advance(
    inner: &Inner,
    conn: &mut SqliteConnection,
    now: i64,
    budget: Duration,
) -> Result<i64, StoreError> {
    let db = |e| inner.db(e);
    let started = Instant::now();
    let target = policy::align(now.saturating_sub(policy::SEAL_GRACE_MS), CHECK_ROLLUP_MS).max(0);
    let mut hours = 0;
    loop {
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await.map_err(db)?;
        let (from, to) = rolled(&mut tx)
            .await
            .map_err(db)?
            .unwrap_or((target, target));
        let (span, rolled_ms) = if to < target {
            let end = target.min(to + CHUNK_MS);
            roll(&mut tx, to, end).await.map_err(db)?;
            ((from, end), end - to)
        } else if from > 0 {
            // Down to the newest hour with a row before `from`: gaps cost nothing.
            let newest: Option<i64> = sqlx::query_scalar(
                "SELECT max((SELECT max(at_ms) FROM check_history h
                             WHERE h.check_id = c.id AND h.at_ms < ?)) FROM checks c",
            )
            .bind(from)
            .fetch_one(&mut *tx)
            .await
            .map_err(db)?;
            match newest {
                Some(t) if t >= 0 => {
                    let start =
                        (policy::align(t, CHECK_ROLLUP_MS) + CHECK_ROLLUP_MS - CHUNK_MS).max(0);
                    roll(&mut tx, start, from).await.map_err(db)?;
                    ((start, to), CHUNK_MS)
                }
                // Nothing older (times before 1970 are never rolled up): done.
                _ => ((0, to), 0),
            }
        } else {
            tx.rollback().await.map_err(db)?;
            break;
        };
        set_rolled(&mut tx, span).await.map_err(db)?;
        tx.commit().await.map_err(db)?;
        hours += rolled_ms / CHECK_ROLLUP_MS;
        if started.elapsed() >= budget {
            break;
        }
    }
    Ok(hours)
}

/// After the raw rows before `before` were deleted (retention, size cap), in the same
/// transaction: their hours go too, and the hour `before` falls in is recomputed from the
/// rows left in it.
pub async fn prune(conn: &mut SqliteConnection, before: i64) -> Result<u64, sqlx::Error> {
    let hour = policy::align(before, CHECK_ROLLUP_MS);
    let deleted = sqlx::query(
        "DELETE FROM check_rollup WHERE check_id IN (SELECT id FROM checks) AND hour_ms < ?",
    )
    .bind(hour)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if before > hour
        && let Some((from, to)) = rolled(conn).await?
        && hour >= from
        && hour < to
    {
        roll(conn, hour, hour + CHECK_ROLLUP_MS).await?;
    }
    Ok(deleted)
}

/// Before a result of `check_id` at `at_ms` is written into `check_history` (inserted, or
/// replacing the row at that time) during a flush whose transaction saw the rolled-up span
/// `rolled`: keeps a rolled-up hour's counts exact.
pub async fn note_result(
    conn: &mut SqliteConnection,
    rolled: Option<(i64, i64)>,
    check_id: i64,
    at_ms: i64,
    status: Status,
) -> Result<(), sqlx::Error> {
    let Some((from, to)) = rolled else {
        return Ok(());
    };
    if at_ms < from.max(0) || at_ms >= to {
        return Ok(());
    }
    let replaced: Option<String> =
        sqlx::query_scalar("SELECT status FROM check_history WHERE check_id = ? AND at_ms = ?")
            .bind(check_id)
            .bind(at_ms)
            .fetch_optional(&mut *conn)
            .await?;
    let hour = policy::align(at_ms, CHECK_ROLLUP_MS);
    sqlx::query(
        "INSERT INTO check_rollup (check_id, hour_ms, ok, maintenance, warning, unknown, critical)
         VALUES (?, ?, 0, 0, 0, 0, 0) ON CONFLICT (check_id, hour_ms) DO NOTHING",
    )
    .bind(check_id)
    .bind(hour)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "UPDATE check_rollup SET ok = ok + (?3 = 0) - (?4 = 0),
           maintenance = maintenance + (?3 = 1) - (?4 = 1), warning = warning + (?3 = 2) - (?4 = 2),
           unknown = unknown + (?3 = 3) - (?4 = 3), critical = critical + (?3 = 4) - (?4 = 4)
         WHERE check_id = ?1 AND hour_ms = ?2",
    )
    .bind(check_id)
    .bind(hour)
    .bind(rank(status) as i64)
    .bind(replaced.as_deref().map_or(-1, |w| rank_of_word(w) as i64))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Per check (by name) and bucket, results by rank: what `check_summaries` sums up.
pub type Counts = BTreeMap<String, BTreeMap<i64, [i64; 5]>>;

/// Rolled-up hours, per check and bucket of the hours' middle: `?1` one check or NULL,
/// `[?2, ?3]` the hours, `?4` a JSON array of `[bucket, first hour, last hour]`. One sum per
/// check and bucket, its five counts as text: no sort of the hourly rows (`GROUP BY` would
/// sort them all). Checks without a rolled-up hour in the range are left out first.
const HOURS_SQL: &str = "WITH active AS MATERIALIZED (
     SELECT c.id, c.name FROM checks c
     WHERE (?1 IS NULL OR c.name = ?1) AND EXISTS (SELECT 1 FROM check_rollup e
           WHERE e.check_id = c.id AND e.hour_ms >= ?2 AND e.hour_ms <= ?3)),
 spans AS MATERIALIZED (
     SELECT value ->> 0 AS bucket, value ->> 1 AS lo, value ->> 2 AS hi FROM json_each(?4))
 SELECT c.name, s.bucket,
        (SELECT sum(r.ok) || ' ' || sum(r.maintenance) || ' ' || sum(r.warning) || ' '
                || sum(r.unknown) || ' ' || sum(r.critical)
         FROM check_rollup r WHERE r.check_id = c.id AND r.hour_ms >= s.lo AND r.hour_ms <= s.hi)
 FROM active c CROSS JOIN spans s";

/// Raw rows, per check and piece of the plan's raw ranges (`?4`, a JSON array of `[first,
/// last]`), their five counts by rank as text: one seek and no sort per check and piece.
/// `?1` one check or NULL; checks without a row in `[?2, ?3]` (from the first piece to the
/// last) are left out first, with one seek each.
pub const RAW_SQL: &str = "WITH active AS MATERIALIZED (
     SELECT c.id, c.name FROM checks c
     WHERE (?1 IS NULL OR c.name = ?1) AND EXISTS (SELECT 1 FROM check_history e
           WHERE e.check_id = c.id AND e.at_ms >= ?2 AND e.at_ms <= ?3)),
 pieces AS MATERIALIZED (
     SELECT key AS piece, value ->> 0 AS lo, value ->> 1 AS hi FROM json_each(?4))
 SELECT c.name, p.piece,
        (SELECT sum(h.status = 'ok') || ' ' || sum(h.status = 'maintenance') || ' '
                || sum(h.status = 'warning') || ' ' || sum(h.status = 'unknown') || ' '
                || sum(h.status NOT IN ('ok', 'maintenance', 'warning', 'unknown'))
         FROM check_history h WHERE h.check_id = c.id AND h.at_ms >= p.lo AND h.at_ms <= p.hi)
 FROM active c CROSS JOIN pieces p";

/// The plan's raw ranges cut where the bucket or the hour changes, each piece with the bucket
/// its rows count in (`None` outside the range) and the bucket of the rolled-up hour they are
/// taken out of (`None` outside the plan's hours). Pieces where both are the same (rows that
/// would be added and taken back) are left out.
pub fn pieces(
    plan: &SummaryPlan,
    from: i64,
    to: i64,
    buckets: i64,
) -> Vec<(i64, i64, Option<i64>, Option<i64>)> {
    const H: i64 = CHECK_ROLLUP_MS;
    let (first, last) = plan.hours;
    let mut out = Vec::new();
    for &(lo, hi) in &plan.raw {
        let mut at = lo;
        while at <= hi {
            let hour = policy::align(at, H);
            let (plus, bucket_end) = if at < from {
                (None, from)
            } else if at > to {
                (None, i64::MAX)
            } else {
                let b = policy::summary_bucket(at, from, to, buckets);
                (
                    Some(b),
                    policy::summary_bucket_start(from, to, buckets, b + 1),
                )
            };
            let rolled = hour >= first && hour <= last;
            let minus = rolled.then(|| policy::summary_bucket(hour + H / 2, from, to, buckets));
            // Where `minus` may change: the next hour within the plan's hours, their start.
            let hour_end = if rolled {
                hour + H
            } else if at < first {
                first
            } else {
                i64::MAX
            };
            let end = bucket_end.min(hour_end).min(hi + 1);
            if plus != minus {
                out.push((at, end - 1, plus, minus));
            }
            at = end;
        }
    }
    out
}

/// The counts of `check_summaries` over `[from, to]` in `buckets` slices, read as `plan`
/// says, in one read transaction (one snapshot of both tables and of the span).
pub async fn summary_counts(
    conn: &mut SqliteConnection,
    from: i64,
    to: i64,
    buckets: i64,
    only: Option<&str>,
    plan: &SummaryPlan,
) -> Result<Counts, sqlx::Error> {
    let (first, last) = plan.hours;
    let mut counts = Counts::new();
    // The hours whose middle falls in each bucket: one run of hours a bucket.
    let mut spans: Vec<(i64, i64, i64)> = Vec::new();
    let mut hour = first;
    while hour <= last {
        let b = policy::summary_bucket(hour + CHECK_ROLLUP_MS / 2, from, to, buckets);
        match spans.last_mut() {
            Some(s) if s.0 == b => s.2 = hour,
            _ => spans.push((b, hour, hour)),
        }
        hour += CHECK_ROLLUP_MS;
    }
    let hours: Vec<(String, i64, Option<String>)> = sqlx::query_as(HOURS_SQL)
        .bind(only)
        .bind(first)
        .bind(last)
        .bind(serde_json::to_string(&spans).expect("integers serialize"))
        .fetch_all(&mut *conn)
        .await?;
    for (name, bucket, sums) in hours {
        let Some(sums) = sums else {
            continue;
        };
        let c = counts.entry(name).or_default().entry(bucket).or_default();
        for (r, n) in sums.split(' ').enumerate().take(5) {
            c[r] += n.parse::<i64>().unwrap_or(0);
        }
    }
    let pieces = pieces(plan, from, to, buckets);
    let Some((lo, hi)) = pieces.first().zip(pieces.last()).map(|(a, b)| (a.0, b.1)) else {
        return Ok(counts);
    };
    let ranges: Vec<(i64, i64)> = pieces.iter().map(|p| (p.0, p.1)).collect();
    let raw: Vec<(String, i64, Option<String>)> = sqlx::query_as(RAW_SQL)
        .bind(only)
        .bind(lo)
        .bind(hi)
        .bind(serde_json::to_string(&ranges).expect("integers serialize"))
        .fetch_all(&mut *conn)
        .await?;
    for (name, piece, sums) in raw {
        let Some(sums) = sums else {
            continue;
        };
        let (_, _, plus, minus) = pieces[piece as usize];
        let check = counts.entry(name).or_default();
        for (r, n) in sums.split(' ').enumerate().take(5) {
            let n = n.parse::<i64>().unwrap_or(0);
            if let Some(b) = plus {
                check.entry(b).or_default()[r] += n;
            }
            if let Some(b) = minus {
                check.entry(b).or_default()[r] -= n;
            }
        }
    }
    Ok(counts)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::clock::Clock;
    use crate::clock::ManualClock;
    use crate::model::{CheckResult, Layer, Observation};
    use crate::store::policy::tests::Rng;
    use crate::store::read::{self, CheckSummary};
    use crate::store::{Store, StoreOptions};

    const T0: i64 = 1_700_000_000_000;
    const MIN: i64 = 60_000;
    const H: i64 = CHECK_ROLLUP_MS;
    const D: i64 = 24 * H;

    async fn open(dir: &std::path::Path, clock: &Arc<ManualClock>, opts: StoreOptions) -> Store {
        Store::open(dir, opts, clock.clone()).await.unwrap()
    }

    /// Checks `c0`, `c1`, ... (ids 1, 2, ...), as the at-scale test makes them.
    async fn add_checks(store: &Store, n: usize) {
        for i in 0..n {
            sqlx::query(
                "INSERT INTO checks (name, layer, status, value, detail, at_ms)
                 VALUES (?, 'application', 'ok', NULL, '', ?)",
            )
            .bind(format!("c{i}"))
            .bind(T0)
            .execute(&store.inner.pool)
            .await
            .unwrap();
        }
    }

    /// Rows straight into `check_history` (as a store written before the rollup holds them).
    async fn insert_rows(store: &Store, rows: &[(i64, i64, &str)]) {
        let json = serde_json::to_string(rows).unwrap();
        sqlx::query(
            "INSERT OR REPLACE INTO check_history (check_id, at_ms, status, value, detail)
             SELECT value ->> 0, value ->> 1, value ->> 2, NULL, '' FROM json_each(?)",
        )
        .bind(json)
        .execute(&store.inner.pool)
        .await
        .unwrap();
    }

    /// Per check: a result about every minute (some seconds apart, status changes in bursts),
    /// gaps of minutes to a day, statuses held for a while; now and then a word the store
    /// does not know (ranked critical).
    fn random_history(
        rng: &mut Rng,
        checks: i64,
        from: i64,
        to: i64,
    ) -> Vec<(i64, i64, &'static str)> {
        let mut rows = Vec::new();
        for id in 1..=checks {
            let mut t = from + rng.range(0, H);
            let mut status = "ok";
            while t < to {
                rows.push((id, t, status));
                if rng.range(0, 20) == 0 {
                    status = match rng.range(0, 30) {
                        0..=9 => "ok",
                        10..=15 => "maintenance",
                        16..=20 => "warning",
                        21..=24 => "unknown",
                        25..=28 => "critical",
                        _ => "bogus",
                    };
                }
                t += match rng.range(0, 100) {
                    0..=79 => MIN + rng.range(-2_000, 2_000),
                    80..=89 => rng.range(1, 20_000),
                    90..=97 => rng.range(MIN, 3 * H),
                    _ => rng.range(3 * H, D),
                };
            }
        }
        rows
    }

    async fn raw(
        store: &Store,
        from: i64,
        to: i64,
        buckets: i64,
        only: Option<&str>,
    ) -> Vec<CheckSummary> {
        let mut conn = store.inner.pool.acquire().await.unwrap();
        read::raw_summaries(&mut conn, from, to, buckets, only)
            .await
            .unwrap()
    }

    /// The summaries through the rollup whatever the plan costs; `None` without a rolled-up
    /// hour in the range.
    async fn through_rollup(
        store: &Store,
        from: i64,
        to: i64,
        buckets: i64,
        only: Option<&str>,
    ) -> Option<Vec<CheckSummary>> {
        let mut conn = store.inner.pool.acquire().await.unwrap();
        let rolled = rolled(&mut conn).await.unwrap()?;
        let plan = policy::rollup_plan(from, to, buckets, rolled)?;
        let counts = summary_counts(&mut conn, from, to, buckets, only, &plan)
            .await
            .unwrap();
        Some(read::summaries_of(counts))
    }

    /// Raw rows, the rollup, and what `check_summaries` answers agree; returns whether the
    /// rollup had a say.
    async fn assert_same(
        store: &Store,
        from: i64,
        to: i64,
        buckets: i64,
        only: Option<&str>,
    ) -> bool {
        let want = raw(store, from, to, buckets, only).await;
        let got = store
            .check_summaries(from, to, buckets as u32, only)
            .await
            .unwrap();
        assert_eq!(
            got, want,
            "check_summaries({from}, {to}, {buckets}, {only:?})"
        );
        match through_rollup(store, from, to, buckets, only).await {
            Some(rolled) => {
                assert_eq!(
                    rolled, want,
                    "through the rollup ({from}, {to}, {buckets}, {only:?})"
                );
                true
            }
            None => false,
        }
    }

    type Row = (i64, i64, i64, i64, i64, i64, i64);

    /// The invariant: in the rolled-up span, the rollup's rows (all but empty ones) are the
    /// raw rows counted by check and hour; outside it, none. Returns the rows.
    async fn assert_invariant(store: &Store) -> Vec<Row> {
        let (from, to) = span(store).await.unwrap_or((0, 0));
        let stored: Vec<Row> = sqlx::query_as(
            "SELECT * FROM check_rollup
             WHERE ok + maintenance + warning + unknown + critical > 0 OR hour_ms < ?1 OR hour_ms >= ?2
             ORDER BY check_id, hour_ms",
        )
        .bind(from)
        .bind(to)
        .fetch_all(&store.inner.pool)
        .await
        .unwrap();
        let want: Vec<Row> = sqlx::query_as(
            "SELECT check_id, at_ms / 3600000 * 3600000 AS hour, sum(status = 'ok'),
                    sum(status = 'maintenance'), sum(status = 'warning'), sum(status = 'unknown'),
                    sum(status NOT IN ('ok', 'maintenance', 'warning', 'unknown'))
             FROM check_history WHERE at_ms >= ?1 AND at_ms < ?2
             GROUP BY check_id, hour ORDER BY check_id, hour",
        )
        .bind(from)
        .bind(to)
        .fetch_all(&store.inner.pool)
        .await
        .unwrap();
        assert_eq!(stored, want, "rolled-up span {from}..{to}");
        stored
    }

    async fn span(store: &Store) -> Option<(i64, i64)> {
        let mut conn = store.inner.pool.acquire().await.unwrap();
        rolled(&mut conn).await.unwrap()
    }

    fn result(check: &str, status: Status, at_ms: i64) -> Observation {
        Observation {
            source: format!("check:{check}"),
            at_ms,
            samples: Vec::new(),
            checks: vec![CheckResult {
                underlying: None,
                check: check.into(),
                layer: Layer::Application,
                status,
                value: None,
                detail: String::new(),
                at_ms,
            }],
        }
    }

    /// Ranges not aligned to hours, 1, 48 and many buckets, one check or all, over random
    /// histories with gaps, bursts and every status; then late results (some replacing a
    /// stored one) flushed into rolled-up hours, and a retention cut-off inside an hour.
    #[tokio::test]
    async fn the_rollup_answers_as_the_raw_rows_do_on_random_histories() {
        let dir = tempfile::tempdir().unwrap();
        let now = T0 + 12 * D + 17 * MIN + 4_321;
        let clock = ManualClock::new(now);
        let mut opts = StoreOptions::default();
        // The cut-off falls inside an hour, 10 days back.
        opts.retention.minute = Duration::from_millis((10 * D + 41 * MIN) as u64);
        let store = open(dir.path(), &clock, opts).await;
        add_checks(&store, 5).await;
        let mut rng = Rng(2026);
        let rows = random_history(&mut rng, 5, T0, now);
        insert_rows(&store, &rows).await;
        store.maintain().await.unwrap();
        let (from, to) = span(&store).await.unwrap();
        assert_eq!(from, 0, "filled back to the start");
        assert_eq!(to, policy::align(now - policy::SEAL_GRACE_MS, H));

        let queries = async |rng: &mut Rng, rounds: usize| {
            let mut rolled = 0;
            for round in 0..rounds {
                let from = rng.range(T0 - D, now);
                let to = from
                    + [
                        rng.range(0, 3 * H),
                        rng.range(0, 2 * D),
                        rng.range(0, 14 * D),
                    ][round % 3];
                let buckets = [1, 48, rng.range(2, 400)][(round / 3) % 3];
                let only = (round % 5 == 4).then(|| format!("c{}", rng.range(0, 5)));
                rolled += assert_same(&store, from, to, buckets, only.as_deref()).await as usize;
            }
            rolled
        };
        assert!(queries(&mut rng, 90).await > 45);
        // The checks list's 30 days and a check page's uptimes.
        assert!(assert_same(&store, now - 30 * D, now, 48, None).await);
        for days in [1, 7, 30] {
            assert!(assert_same(&store, now - days * D, now, 1, Some("c2")).await);
        }

        // Late results into rolled-up hours: new times, and times already stored (replaced).
        for i in 0..40 {
            let check = format!("c{}", i % 5);
            let at = if i % 2 == 0 {
                rng.range(now - 9 * D, now - 2 * H)
            } else {
                let kept: Vec<i64> = rows
                    .iter()
                    .filter(|r| r.0 == (i % 5) as i64 + 1 && r.1 > now - 9 * D)
                    .map(|r| r.1)
                    .collect();
                kept[rng.range(0, kept.len() as i64 - 1) as usize]
            };
            let status = [
                Status::Ok,
                Status::Critical,
                Status::Maintenance,
                Status::Warning,
            ][i % 4];
            store.ingest(&result(&check, status, at));
            store.flush().await.unwrap();
        }
        assert!(queries(&mut rng, 30).await > 10);

        // Later: retention cuts inside an hour (a row on each side of it), new hours roll up.
        let later = now + 7 * H + 29 * MIN;
        let cut = later - (10 * D + 41 * MIN);
        let cut_hour = policy::align(cut, H);
        assert!(cut - 10 * MIN > cut_hour && cut + 10 * MIN < cut_hour + H);
        for at in [cut - 10 * MIN, cut + 10 * MIN] {
            store.ingest(&result("c0", Status::Critical, at));
        }
        store.flush().await.unwrap();
        let counts_of_cut_hour = async || -> Vec<(i64, i64)> {
            sqlx::query_as(
                "SELECT ok + maintenance + warning + unknown + critical, critical
                 FROM check_rollup WHERE check_id = 1 AND hour_ms = ?",
            )
            .bind(cut_hour)
            .fetch_all(&store.inner.pool)
            .await
            .unwrap()
        };
        let before = counts_of_cut_hour().await;
        clock.set(later);
        store.maintain().await.unwrap();
        assert_eq!(
            span(&store).await.unwrap().1,
            policy::align(later - policy::SEAL_GRACE_MS, H)
        );
        let oldest: i64 = sqlx::query_scalar("SELECT min(at_ms) FROM check_history")
            .fetch_one(&store.inner.pool)
            .await
            .unwrap();
        assert_eq!(oldest, cut + 10 * MIN);
        let after = counts_of_cut_hour().await;
        assert_eq!(after, vec![(1, 1)], "before the cut-off: {before:?}");
        let expired: i64 =
            sqlx::query_scalar("SELECT count(*) FROM check_rollup WHERE hour_ms < ?")
                .bind(cut_hour)
                .fetch_one(&store.inner.pool)
                .await
                .unwrap();
        assert_eq!(expired, 0);
        assert!(assert_same(&store, cut - H, cut + 2 * D + 5, 48, None).await);
        assert!(assert_same(&store, cut - 3 * D, now, 1, None).await);
        assert!(queries(&mut rng, 30).await > 10);
    }

    /// A store with `checks` checks and random history over `[T0, now)`, not rolled up yet.
    async fn store_with_history(
        dir: &std::path::Path,
        clock: &Arc<ManualClock>,
        checks: usize,
        seed: u64,
    ) -> Store {
        let store = open(dir, clock, StoreOptions::default()).await;
        add_checks(&store, checks).await;
        let rows = random_history(&mut Rng(seed), checks as i64, T0, clock.now_ms());
        insert_rows(&store, &rows).await;
        store
    }

    async fn explain(store: &Store, sql: &str) -> Vec<String> {
        let query = sqlx::AssertSqlSafe(format!("EXPLAIN QUERY PLAN {sql}"));
        // Both take: one check or NULL, a span, a JSON array of pieces.
        let rows: Vec<(i64, i64, i64, String)> = sqlx::query_as(query)
            .bind(None::<String>)
            .bind(T0)
            .bind(T0 + 30 * D)
            .bind("[[0, 0, 1]]")
            .fetch_all(&store.inner.pool)
            .await
            .unwrap();
        rows.into_iter().map(|r| r.3).collect()
    }

    /// The checks list over 30 days reads the hourly rows (per check one range of their
    /// primary key) and a few raw rows (per check and range, a range of the history's).
    #[tokio::test]
    async fn a_30_day_summary_reads_hourly_rows_by_their_primary_key() {
        let dir = tempfile::tempdir().unwrap();
        let now = T0 + 31 * D + 5 * MIN;
        let clock = ManualClock::new(now);
        let store = store_with_history(dir.path(), &clock, 3, 30).await;
        store.maintain().await.unwrap();

        let hours = explain(&store, HOURS_SQL).await;
        assert!(
            hours.iter().any(|step| step
                .contains("SEARCH r USING PRIMARY KEY (check_id=? AND hour_ms>? AND hour_ms<?)")),
            "{hours:?}"
        );
        let rows = explain(&store, RAW_SQL).await;
        assert!(
            rows.iter().any(|step| step
                .contains("SEARCH h USING PRIMARY KEY (check_id=? AND at_ms>? AND at_ms<?)")),
            "{rows:?}"
        );
        for step in hours.iter().chain(&rows) {
            assert!(
                !step.starts_with("SCAN h") && !step.starts_with("SCAN r"),
                "{step}"
            );
        }

        // It answers from the hourly rows: counts changed behind the store's back (breaking
        // the invariant on purpose) show in the 30 days, not in the raw rows' answer.
        let total =
            |s: &[CheckSummary]| -> u64 { s.iter().flat_map(|c| &c.buckets).map(|b| b.3).sum() };
        let before = store
            .check_summaries(now - 30 * D, now, 48, None)
            .await
            .unwrap();
        assert_eq!(before, raw(&store, now - 30 * D, now, 48, None).await);
        let hour: i64 = sqlx::query_scalar(
            "SELECT hour_ms FROM check_rollup WHERE check_id = 1 AND hour_ms > ? ORDER BY hour_ms LIMIT 1",
        )
        .bind(now - 20 * D)
        .fetch_one(&store.inner.pool)
        .await
        .unwrap();
        assert!(hour < now - 10 * D);
        sqlx::query(
            "UPDATE check_rollup SET critical = critical + 1000 WHERE check_id = 1 AND hour_ms = ?",
        )
        .bind(hour)
        .execute(&store.inner.pool)
        .await
        .unwrap();
        let after = store
            .check_summaries(now - 30 * D, now, 48, None)
            .await
            .unwrap();
        assert_eq!(total(&after), total(&before) + 1000);
        assert_eq!(raw(&store, now - 30 * D, now, 48, None).await, before);
    }

    /// Rolling up is idempotent and each step one transaction: a fill cut short before its
    /// commit (a process killed mid-chunk) changed nothing, hours rolled up again are replaced,
    /// not added to.
    #[tokio::test]
    async fn a_fill_cut_short_or_run_again_counts_each_row_once() {
        let dir = tempfile::tempdir().unwrap();
        let now = T0 + 3 * D + 5 * MIN;
        let clock = ManualClock::new(now);
        let store = store_with_history(dir.path(), &clock, 4, 31).await;

        // A chunk rolled up on another connection that never commits (killed: SQLite drops an
        // uncommitted transaction when its connection goes).
        let options = sqlx::sqlite::SqliteConnectOptions::new().filename(store.path());
        let mut other = SqliteConnection::connect_with(&options).await.unwrap();
        let mut tx = other.begin_with("BEGIN IMMEDIATE").await.unwrap();
        let hour = policy::align(now - D, H);
        roll(&mut tx, hour, hour + CHUNK_MS).await.unwrap();
        set_rolled(&mut tx, (hour, hour + CHUNK_MS)).await.unwrap();
        std::mem::forget(tx);
        drop(other);
        assert_eq!(span(&store).await, None);
        assert!(assert_invariant(&store).await.is_empty());

        // One chunk per call: every step leaves the invariant holding.
        let mut conn = store.inner.pool.acquire().await.unwrap();
        let mut steps = 0;
        while span(&store).await.is_none_or(|s| s.0 > 0) {
            advance(&store.inner, &mut conn, now, Duration::ZERO)
                .await
                .unwrap();
            assert_invariant(&store).await;
            steps += 1;
            assert!(steps < 100);
        }
        assert!(steps >= 12, "3 days in chunks of 6 hours: {steps} steps");
        let rows = assert_invariant(&store).await;

        // Hours rolled up again (the span set back) are recomputed, not counted twice.
        let (from, to) = span(&store).await.unwrap();
        set_rolled(&mut conn, (policy::align(now - D, H), to - 2 * CHUNK_MS))
            .await
            .unwrap();
        for _ in 0..3 {
            advance(&store.inner, &mut conn, now, Duration::MAX)
                .await
                .unwrap();
            assert_eq!(span(&store).await, Some((from, to)));
            assert_eq!(assert_invariant(&store).await, rows);
        }
        assert_eq!(
            advance(&store.inner, &mut conn, now, Duration::MAX)
                .await
                .unwrap(),
            0
        );
    }

    const CHILD: &str = "LOOKOUT_CHECK_ROLLUP_CHILD";
    const KILLED_NOW: i64 = T0 + 4 * D + 5 * MIN;

    /// The child: late results flushed into rolled-up hours and chunks of the fill, printing
    /// `step N` after each, until killed.
    async fn fill_until_killed(dir: &str) {
        let clock = ManualClock::new(KILLED_NOW);
        let store = open(std::path::Path::new(dir), &clock, StoreOptions::default()).await;
        let mut conn = store.inner.pool.acquire().await.unwrap();
        let mut rng = Rng(std::process::id() as u64);
        for step in 0.. {
            for _ in 0..5 {
                let at = rng.range(KILLED_NOW - 4 * D, KILLED_NOW - 3 * H);
                let status = [Status::Ok, Status::Critical, Status::Maintenance][step % 3];
                store.ingest(&result(&format!("c{}", rng.range(0, 7)), status, at));
            }
            store.flush().await.unwrap();
            advance(&store.inner, &mut conn, KILLED_NOW, Duration::ZERO)
                .await
                .unwrap();
            println!("step {step}");
        }
    }

    /// kill -9 at any moment of the fill or of a flush into rolled-up hours: the store
    /// reopens with the invariant holding, and the fill goes on from where it was.
    #[tokio::test]
    async fn a_fill_killed_at_any_moment_counts_each_row_once() {
        use std::io::BufRead;
        if let Ok(dir) = std::env::var(CHILD) {
            return fill_until_killed(&dir).await;
        }
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::new(KILLED_NOW);
        let store = store_with_history(dir.path(), &clock, 8, 32).await;
        store.close().await.unwrap();
        // Closing maintained it: back to a store that has not been rolled up.
        let options =
            sqlx::sqlite::SqliteConnectOptions::new().filename(dir.path().join("lookout.db"));
        let mut conn = SqliteConnection::connect_with(&options).await.unwrap();
        for sql in [
            "DELETE FROM check_rollup",
            "DELETE FROM meta WHERE key LIKE 'check_rollup_%'",
        ] {
            sqlx::query(sql).execute(&mut conn).await.unwrap();
        }
        conn.close().await.unwrap();
        let mut spans = Vec::new();
        for round in 0..5 {
            let mut child = std::process::Command::new(std::env::current_exe().unwrap())
                .args([
                    "--exact",
                    "store::check_rollup::tests::a_fill_killed_at_any_moment_counts_each_row_once",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env(CHILD, dir.path())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            // The first "step" follows the harness's "test ... " on the same line.
            let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
            let step = |line: &str| -> Option<usize> { line.rsplit("step ").next()?.parse().ok() };
            loop {
                let line = lines.next().expect("the child runs").unwrap();
                if step(&line).is_some_and(|n| n >= round % 3) {
                    break;
                }
            }
            child.kill().unwrap();
            child.wait().unwrap();
            let store = open(dir.path(), &clock, StoreOptions::default()).await;
            assert_invariant(&store).await;
            spans.push(span(&store).await.unwrap());
            store.close().await.unwrap();
        }
        assert!(spans.windows(2).all(|w| w[1].0 <= w[0].0), "{spans:?}");
        let store = open(dir.path(), &clock, StoreOptions::default()).await;
        while span(&store).await.unwrap().0 > 0 {
            store.maintain().await.unwrap();
        }
        assert_invariant(&store).await;
        assert!(assert_same(&store, KILLED_NOW - 5 * D, KILLED_NOW, 48, None).await);
    }

    /// A store written before the rollup existed (schema 7): opening it adds the table at
    /// once; until maintenance fills it, answers come from the raw rows; the fill goes in
    /// bounded steps, newest hours first, each step's answers exact.
    #[tokio::test]
    async fn a_store_from_before_the_rollup_is_filled_in_steps() {
        let dir = tempfile::tempdir().unwrap();
        let now = T0 + 20 * D + 5 * MIN;
        let clock = ManualClock::new(now);
        let store = store_with_history(dir.path(), &clock, 3, 33).await;
        store.close().await.unwrap();
        let options =
            sqlx::sqlite::SqliteConnectOptions::new().filename(dir.path().join("lookout.db"));
        let mut conn = SqliteConnection::connect_with(&options).await.unwrap();
        for sql in [
            "DROP TABLE check_rollup",
            "DELETE FROM meta WHERE key LIKE 'check_rollup_%'",
            "DELETE FROM _sqlx_migrations WHERE version = 8",
        ] {
            sqlx::query(sql).execute(&mut conn).await.unwrap();
        }
        conn.close().await.unwrap();

        let store = open(dir.path(), &clock, StoreOptions::default()).await;
        assert_eq!(span(&store).await, None);
        assert!(assert_invariant(&store).await.is_empty());
        assert!(!assert_same(&store, now - 30 * D, now, 48, None).await);

        let mut conn = store.inner.pool.acquire().await.unwrap();
        let mut spans = Vec::new();
        while span(&store).await.is_none_or(|s| s.0 > 0) {
            advance(&store.inner, &mut conn, now, Duration::ZERO)
                .await
                .unwrap();
            spans.push(span(&store).await.unwrap());
            assert_same(&store, now - 30 * D, now, 48, None).await;
            assert_same(&store, now - 7 * D, now, 1, Some("c1")).await;
            assert!(spans.len() < 200);
        }
        let target = policy::align(now - policy::SEAL_GRACE_MS, H);
        assert_eq!(
            spans[0].1, target,
            "rolled up to the clock's last closed hour"
        );
        assert!(
            target - spans[0].0 <= CHUNK_MS,
            "then one chunk back: {:?}",
            spans[0]
        );
        assert!(
            spans
                .windows(2)
                .all(|w| w[1].0 < w[0].0 && w[1].1 == target),
            "newest first"
        );
        assert!(
            spans.len() > 40,
            "20 days in chunks of 6 hours: {} steps",
            spans.len()
        );
        assert_invariant(&store).await;
        assert!(assert_same(&store, now - 30 * D, now, 48, None).await);
    }
}
