//! The store's reads: range queries over the tiers (with buffered samples), series, check
//! results, events, statistics.

use std::collections::{BTreeMap, HashMap};

use sqlx::sqlite::SqliteConnection;
use sqlx::{Connection, Row};

use crate::model::{CheckResult, Event, EventKind, Layer, SeriesKey, Status};

use super::check_rollup;
use super::codec;
use super::error::StoreError;
use super::policy::{self, RAW_WINDOW_MS, TierFacts};
use super::rollup::{self, Bucket, decode_buckets};
use super::shard;
use super::write::parse_status;
use super::{Inner, Point, QueryResult, SeriesPoints, StoreStats, Tier, TierStats};

/// One series matched by a query: its id when stored, its samples in range that are not in
/// sealed chunks yet (head rows, then the buffer; sorted later).
struct Matched {
    key: SeriesKey,
    id: Option<i64>,
    buf_ts: Vec<i64>,
    buf_vals: Vec<f64>,
}

/// Head rows hold every series flushed together: read them once per query.
async fn load_heads(
    inner: &Inner,
    conn: &mut SqliteConnection,
    matched: &mut BTreeMap<SeriesKey, Matched>,
    from: i64,
    to: i64,
) -> Result<(), StoreError> {
    let ids: HashMap<i64, SeriesKey> = matched
        .values()
        .filter_map(|m| Some((m.id?, m.key.clone())))
        .collect();
    if ids.is_empty() {
        return Ok(());
    }
    // Looked up for every series of every head row: a sorted list beats hashing.
    let mut wanted: Vec<i64> = ids.keys().copied().collect();
    wanted.sort_unstable();
    let mut shards: Vec<i64> = wanted.iter().map(|&id| shard::of_id(id)).collect();
    shards.sort_unstable();
    shards.dedup();
    // The rows of the wanted shards only (the index covers this), then their data.
    let bind = |sql: &'static str| {
        sqlx::query(sql)
            .bind(policy::align(from, RAW_WINDOW_MS))
            .bind(to)
            .bind(shards[shards.len() - 1])
            .bind(shards[0])
            .bind(from)
            .bind(to)
    };
    let candidates: Vec<(i64, i64, i64)> = bind(
        "SELECT id, shard_lo, shard_hi FROM raw_heads WHERE window_ms >= ? AND window_ms <= ?
              AND shard_lo <= ? AND shard_hi >= ? AND last_ms >= ? AND first_ms <= ?",
    )
    .fetch_all(&mut *conn)
    .await
    .map_err(|e| inner.db(e))?
    .iter()
    .map(|r| (r.get(0), r.get(1), r.get(2)))
    .collect();
    let mut row_ids: Vec<i64> = candidates
        .iter()
        .filter(|&&(_, lo, hi)| shard::overlaps(&shards, lo, hi))
        .map(|&(id, _, _)| id)
        .collect();
    // In the order they were written: a later row wins a timestamp tie.
    row_ids.sort_unstable();
    inner
        .head_rows_read
        .fetch_add(row_ids.len() as u64, std::sync::atomic::Ordering::Relaxed);
    // Every candidate wanted (one shard, or a small store's rows that cover every shard): one
    // statement; else by id, a few hundred a statement.
    let mut blobs: Vec<Vec<u8>> = Vec::with_capacity(row_ids.len());
    if row_ids.len() == candidates.len() {
        for r in bind(
            "SELECT data FROM raw_heads WHERE window_ms >= ? AND window_ms <= ?
             AND shard_lo <= ? AND shard_hi >= ? AND last_ms >= ? AND first_ms <= ? ORDER BY id",
        )
        .fetch_all(&mut *conn)
        .await
        .map_err(|e| inner.db(e))?
        {
            blobs.push(r.get(0));
        }
    } else {
        for ids in row_ids.chunks(500) {
            let mut q = sqlx::QueryBuilder::new("SELECT data FROM raw_heads WHERE id IN (");
            let mut list = q.separated(",");
            for &id in ids {
                list.push_bind(id);
            }
            q.push(") ORDER BY id");
            for r in q
                .build()
                .fetch_all(&mut *conn)
                .await
                .map_err(|e| inner.db(e))?
            {
                blobs.push(r.get(0));
            }
        }
    }
    let mut heads: HashMap<i64, (Vec<i64>, Vec<f64>)> = HashMap::new();
    for data in blobs {
        let parts = codec::decode_batch(&data, |id| wanted.binary_search(&id).is_ok())
            .map_err(|e| StoreError::bad_chunk(&inner.path, "head row", e))?;
        for (id, ts, vals) in parts {
            let h = heads.entry(id).or_default();
            for (t, v) in ts.into_iter().zip(vals) {
                if t >= from && t <= to {
                    h.0.push(t);
                    h.1.push(v);
                }
            }
        }
    }
    for (id, (mut ts, mut vals)) in heads {
        let m = matched.get_mut(&ids[&id]).expect("matched");
        // Head samples come before the buffered ones: the buffer wins a timestamp tie.
        ts.append(&mut m.buf_ts);
        vals.append(&mut m.buf_vals);
        m.buf_ts = ts;
        m.buf_vals = vals;
    }
    Ok(())
}

pub async fn query(
    inner: &Inner,
    name: &str,
    matchers: &[(String, String)],
    from: i64,
    to: i64,
    max_points: usize,
) -> Result<QueryResult, StoreError> {
    let db = |e| inner.db(e);
    // The buffer is read before the database: a flush committing in between then shows its
    // samples twice (removed by the timestamp de-duplication), never zero times.
    let mut matched: BTreeMap<SeriesKey, Matched> = BTreeMap::new();
    {
        let buffer = inner.buffer();
        for (key, buf) in &buffer.series {
            if !key.matches(name, matchers) {
                continue;
            }
            // From the start of the first hour bucket: any tier's first bucket is whole.
            let (lo, hi) = range_of(&buf.ts, policy::align(from, policy::HOUR_MS), to);
            matched.insert(
                (**key).clone(),
                Matched {
                    key: (**key).clone(),
                    id: None,
                    buf_ts: buf.ts[lo..hi].to_vec(),
                    buf_vals: buf.vals[lo..hi].to_vec(),
                },
            );
        }
    }
    let mut conn = inner.pool.acquire().await.map_err(db)?;
    // One matcher (`host`, else the first) narrows in SQL (its `"label":"value"` pair as the
    // labels' JSON spells it), so a hub's query of one host does not parse every host's labels;
    // the matchers are applied exactly below.
    let host = matchers.iter().find(|(k, _)| k == "host");
    let pair = host.or(matchers.first()).map_or(String::new(), |(k, v)| {
        let json = |s: &str| serde_json::to_string(s).expect("a string serializes");
        format!("{}:{}", json(k), json(v))
    });
    // With a host, series made since schema version 10 are of one shard (their id's low byte):
    // the others are skipped on the index (which holds the id), without reading their labels.
    let (sharded_from, host_shard) = match host {
        Some((_, host)) => {
            let from: Option<String> =
                sqlx::query_scalar("SELECT value FROM meta WHERE key = 'sharded_from_id'")
                    .fetch_optional(&mut *conn)
                    .await
                    .map_err(db)?;
            let key = SeriesKey::new(name).with("host", host);
            (
                from.and_then(|v| v.parse().ok()).unwrap_or(i64::MAX),
                shard::of_key(&key),
            )
        }
        None => (i64::MAX, -1),
    };
    let rows: Vec<(i64, String)> = sqlx::query_as(
        "SELECT id, labels FROM series WHERE name = ? AND (id < ? OR (id & 255) = ?)
         AND instr(labels, ?) > 0",
    )
    .bind(name)
    .bind(sharded_from)
    .bind(host_shard)
    .bind(&pair)
    .fetch_all(&mut *conn)
    .await
    .map_err(db)?;
    for (id, labels) in rows {
        let labels: BTreeMap<String, String> =
            serde_json::from_str(&labels).map_err(|e| StoreError::Corrupt {
                path: inner.path.clone(),
                detail: format!("labels of series {id}: {e}"),
            })?;
        let key = SeriesKey::from_map(name, &labels);
        if !key.matches(name, matchers) {
            continue;
        }
        matched
            .entry(key.clone())
            .or_insert_with(|| Matched {
                key,
                id: None,
                buf_ts: Vec::new(),
                buf_vals: Vec::new(),
            })
            .id = Some(id);
    }

    load_heads(inner, &mut conn, &mut matched, from, to).await?;

    let mut tier = Tier::Raw;
    let stored_facts = stored_tier_facts(&mut conn, &matched, from, to)
        .await
        .map_err(db)?;
    for m in matched.values() {
        let facts = tier_facts(m, from, to, m.id.and_then(|id| stored_facts.get(&id)));
        tier = tier.max(policy::choose_tier(from, to, &facts));
    }

    // A rollup tier's first bucket starts before `from`: its head samples are needed too.
    let first_bucket = policy::align(from, tier.step_ms().max(1));
    if first_bucket < from {
        load_heads(inner, &mut conn, &mut matched, first_bucket, from - 1).await?;
    }

    let mut step_ms = 0;
    let mut series = Vec::with_capacity(matched.len());
    for m in matched.into_values() {
        let (points, step) = match tier {
            Tier::Raw => raw_points(inner, &mut conn, &m, from, to, max_points).await?,
            t => rollup_points(inner, &mut conn, &m, t, from, to, max_points).await?,
        };
        step_ms = step_ms.max(step);
        series.push(SeriesPoints { key: m.key, points });
    }
    if tier != Tier::Raw {
        step_ms = step_ms.max(tier.step_ms());
    }
    Ok(QueryResult {
        tier,
        step_ms,
        series,
    })
}

/// Index range of the sorted-by-time part of `ts` within `[from, to]` (the buffer is in
/// arrival order, which is time order per series in practice; a stray is filtered later).
fn range_of(ts: &[i64], from: i64, to: i64) -> (usize, usize) {
    if ts.windows(2).all(|w| w[0] <= w[1]) {
        (
            ts.partition_point(|&t| t < from),
            ts.partition_point(|&t| t <= to),
        )
    } else {
        (0, ts.len())
    }
}

/// What the store holds of a series for choosing a tier: sealed raw samples in `[from, to]`
/// (chunks that stick out of it prorated; a lower bound once past `TIER_POINTS`), and the
/// oldest timestamp of each tier.
struct StoredFacts {
    sealed: f64,
    oldest: [Option<i64>; 3],
}

/// The stored facts of every matched series, in one statement (a few index seeks per series).
async fn stored_tier_facts(
    conn: &mut SqliteConnection,
    matched: &BTreeMap<SeriesKey, Matched>,
    from: i64,
    to: i64,
) -> Result<HashMap<i64, StoredFacts>, sqlx::Error> {
    let ids: Vec<i64> = matched.values().filter_map(|m| m.id).collect();
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    // Only whether a series has more than TIER_POINTS raw samples in range matters: the newest
    // SEALED_PEEK chunks in range tell that for any series sampled more than once a minute or so,
    // without reading a week of chunk rows per series; the others are summed whole below.
    const SEALED_PEEK: i64 = 8;
    type Row = (i64, f64, i64, Option<i64>, Option<i64>, Option<i64>);
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT j.value,
           (SELECT coalesce(sum(n * (min(last_ms, ?1) - max(first_ms, ?2) + 1.0) / (last_ms - first_ms + 1)), 0.0)
              FROM (SELECT n, first_ms, last_ms FROM raw_chunks WHERE series_id = j.value
                    AND window_ms >= ?4 AND window_ms <= ?1 AND last_ms >= ?2 AND first_ms <= ?1
                    ORDER BY window_ms DESC LIMIT ?7)),
           (SELECT count(*) FROM (SELECT 1 FROM raw_chunks WHERE series_id = j.value
                    AND window_ms >= ?4 AND window_ms <= ?1 AND last_ms >= ?2 AND first_ms <= ?1
                    ORDER BY window_ms DESC LIMIT ?7)),
           (SELECT first_ms FROM raw_chunks WHERE series_id = j.value ORDER BY window_ms LIMIT 1),
           (SELECT first_ms FROM rollups WHERE series_id = j.value AND step_ms = ?5 ORDER BY row_ms LIMIT 1),
           (SELECT first_ms FROM rollups WHERE series_id = j.value AND step_ms = ?6 ORDER BY row_ms LIMIT 1)
         FROM json_each(?3) AS j",
    )
    .bind(to)
    .bind(from)
    .bind(serde_json::to_string(&ids).expect("ids serialize"))
    .bind(policy::align(from, RAW_WINDOW_MS))
    .bind(policy::MINUTE_MS)
    .bind(policy::HOUR_MS)
    .bind(SEALED_PEEK)
    .fetch_all(&mut *conn)
    .await?;
    let mut facts = HashMap::with_capacity(rows.len());
    for (id, mut sealed, peeked, raw, minute, hour) in rows {
        if peeked == SEALED_PEEK && sealed <= policy::TIER_POINTS as f64 {
            sealed = sqlx::query_scalar(
                "SELECT coalesce(sum(n * (min(last_ms, ?1) - max(first_ms, ?2) + 1.0) / (last_ms - first_ms + 1)), 0.0)
                 FROM raw_chunks WHERE series_id = ?3 AND window_ms >= ?4 AND window_ms <= ?1
                 AND last_ms >= ?2 AND first_ms <= ?1",
            )
            .bind(to)
            .bind(from)
            .bind(id)
            .bind(policy::align(from, RAW_WINDOW_MS))
            .fetch_one(&mut *conn)
            .await?;
        }
        facts.insert(
            id,
            StoredFacts {
                sealed,
                oldest: [raw, minute, hour],
            },
        );
    }
    Ok(facts)
}

fn tier_facts(m: &Matched, from: i64, to: i64, stored: Option<&StoredFacts>) -> TierFacts {
    let buffered = m.buf_ts.iter().filter(|&&t| t >= from && t <= to).count() as u64;
    let buf_oldest = m.buf_ts.iter().min().copied();
    let Some(stored) = stored else {
        return TierFacts {
            raw_points: buffered,
            oldest: [buf_oldest, None, None],
        };
    };
    let raw_points = buffered as f64 + stored.sealed.max(0.0);
    let [raw_oldest, minute, hour] = stored.oldest;
    TierFacts {
        raw_points: raw_points.round() as u64,
        oldest: [
            match (raw_oldest, buf_oldest) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            },
            minute,
            hour,
        ],
    }
}

/// Raw samples of `[from, to]`: sealed chunks (unless `unsealed_only`), plus head rows and the
/// buffer; sorted, one per timestamp.
async fn raw_samples(
    inner: &Inner,
    conn: &mut SqliteConnection,
    m: &Matched,
    from: i64,
    to: i64,
    unsealed_only: bool,
) -> Result<(Vec<i64>, Vec<f64>), StoreError> {
    let mut ts = Vec::new();
    let mut vals = Vec::new();
    if let (Some(id), false) = (m.id, unsealed_only) {
        let rows: Vec<Vec<u8>> = sqlx::query_scalar(
            "SELECT data FROM raw_chunks WHERE series_id = ? AND window_ms >= ? AND window_ms <= ?
             AND last_ms >= ? AND first_ms <= ? ORDER BY window_ms",
        )
        .bind(id)
        .bind(policy::align(from, RAW_WINDOW_MS))
        .bind(to)
        .bind(from)
        .bind(to)
        .fetch_all(&mut *conn)
        .await
        .map_err(|e| inner.db(e))?;
        for data in rows {
            let (t, v) = codec::decode_raw(&data)
                .map_err(|e| StoreError::bad_chunk(&inner.path, "raw chunk", e))?;
            let (lo, hi) = range_of(&t, from, to);
            ts.extend_from_slice(&t[lo..hi]);
            vals.extend_from_slice(&v[lo..hi]);
        }
    }
    for (&t, &v) in m.buf_ts.iter().zip(&m.buf_vals) {
        if t >= from && t <= to {
            ts.push(t);
            vals.push(v);
        }
    }
    rollup::sort_dedup(&mut ts, &mut vals);
    Ok((ts, vals))
}

async fn raw_points(
    inner: &Inner,
    conn: &mut SqliteConnection,
    m: &Matched,
    from: i64,
    to: i64,
    max_points: usize,
) -> Result<(Vec<Point>, i64), StoreError> {
    let (ts, vals) = raw_samples(inner, conn, m, from, to, false).await?;
    if ts.len() <= max_points.max(1) {
        let points = ts
            .iter()
            .zip(&vals)
            .map(|(&t, &v)| Point {
                at_ms: t,
                avg: v,
                min: v,
                max: v,
                count: 1,
                last: v,
            })
            .collect();
        return Ok((points, 0));
    }
    let res = policy::raw_resolution(from, to, max_points);
    let (origin, step) = policy::downsample_step(from, to, res, max_points);
    let buckets = rollup::bucketize(&ts, &vals, origin, step);
    Ok((buckets.iter().map(Bucket::to_point).collect(), step))
}

async fn rollup_points(
    inner: &Inner,
    conn: &mut SqliteConnection,
    m: &Matched,
    tier: Tier,
    from: i64,
    to: i64,
    max_points: usize,
) -> Result<(Vec<Point>, i64), StoreError> {
    let step = tier.step_ms();
    let row_span = if tier == Tier::Minute {
        policy::MINUTE_ROW_MS
    } else {
        policy::HOUR_ROW_MS
    };
    let first_bucket = policy::align(from, step);
    let mut stored = Vec::new();
    if let Some(id) = m.id {
        let rows: Vec<Vec<u8>> = sqlx::query_scalar(
            "SELECT data FROM rollups WHERE series_id = ? AND step_ms = ? AND row_ms >= ? AND row_ms <= ?
             AND last_ms >= ? AND first_ms <= ? ORDER BY row_ms",
        )
        .bind(id)
        .bind(step)
        .bind(policy::align(from, row_span))
        .bind(to)
        .bind(first_bucket)
        .bind(to)
        .fetch_all(&mut *conn)
        .await
        .map_err(|e| inner.db(e))?;
        for data in rows {
            let buckets = decode_buckets(&data)
                .map_err(|e| StoreError::bad_chunk(&inner.path, "rollup row", e))?;
            stored.extend(
                buckets
                    .into_iter()
                    .filter(|b| b.at_ms >= first_bucket && b.at_ms <= to),
            );
        }
    }
    // Samples not rolled up yet (unsealed windows, the buffer) are bucketed on the fly.
    let (ts, vals) = raw_samples(inner, conn, m, first_bucket, to, true).await?;
    let fresh = rollup::bucketize(&ts, &vals, 0, step);
    let buckets = rollup::merge(stored, fresh);
    if buckets.len() <= max_points.max(1)
        && policy::buckets_in(from, to, step) <= max_points.max(1) as u64
    {
        return Ok((buckets.iter().map(Bucket::to_point).collect(), step));
    }
    let (origin, wide) = policy::downsample_step(from, to, step, max_points);
    let merged = rollup::downsample(&buckets, origin, wide);
    Ok((merged.iter().map(Bucket::to_point).collect(), wide))
}

pub async fn series(inner: &Inner) -> Result<Vec<SeriesKey>, StoreError> {
    let mut keys: Vec<SeriesKey> = inner
        .buffer()
        .series
        .keys()
        .map(|k| (**k).clone())
        .collect();
    let rows: Vec<(i64, String, String)> = sqlx::query_as("SELECT id, name, labels FROM series")
        .fetch_all(&inner.pool)
        .await
        .map_err(|e| inner.db(e))?;
    for (id, name, labels) in rows {
        let labels: BTreeMap<String, String> =
            serde_json::from_str(&labels).map_err(|e| StoreError::Corrupt {
                path: inner.path.clone(),
                detail: format!("labels of series {id}: {e}"),
            })?;
        keys.push(SeriesKey::from_map(name, &labels));
    }
    keys.sort();
    keys.dedup();
    Ok(keys)
}

fn parse_layer(inner: &Inner, s: &str) -> Result<Layer, StoreError> {
    serde_json::from_value(serde_json::Value::String(s.to_string())).map_err(|_| {
        StoreError::Corrupt {
            path: inner.path.clone(),
            detail: format!("unknown layer {s:?}"),
        }
    })
}

fn check_result(inner: &Inner, row: &sqlx::sqlite::SqliteRow) -> Result<CheckResult, StoreError> {
    let status: String = row.get("status");
    Ok(CheckResult {
        underlying: None,
        check: row.get("name"),
        layer: parse_layer(inner, row.get("layer"))?,
        status: parse_status(&status).ok_or_else(|| StoreError::Corrupt {
            path: inner.path.clone(),
            detail: format!("unknown status {status:?}"),
        })?,
        value: row.get("value"),
        detail: row.get("detail"),
        at_ms: row.get("at_ms"),
    })
}

pub async fn latest_checks(inner: &Inner) -> Result<Vec<CheckResult>, StoreError> {
    let rows = sqlx::query("SELECT name, layer, status, value, detail, at_ms FROM checks")
        .fetch_all(&inner.pool)
        .await
        .map_err(|e| inner.db(e))?;
    let mut latest: BTreeMap<String, CheckResult> = BTreeMap::new();
    for row in &rows {
        let r = check_result(inner, row)?;
        latest.insert(r.check.clone(), r);
    }
    for r in &inner.buffer().checks {
        match latest.get(&r.check) {
            Some(have) if have.at_ms > r.at_ms => {}
            _ => {
                latest.insert(r.check.clone(), r.clone());
            }
        }
    }
    Ok(latest.into_values().collect())
}

pub async fn check_history(
    inner: &Inner,
    check: &str,
    from: i64,
    to: i64,
    limit: usize,
) -> Result<Vec<CheckResult>, StoreError> {
    let rows = sqlx::query(
        "SELECT c.name AS name, c.layer AS layer, h.status AS status, h.value AS value,
                h.detail AS detail, h.at_ms AS at_ms
         FROM check_history h JOIN checks c ON c.id = h.check_id
         WHERE c.name = ? AND h.at_ms >= ? AND h.at_ms <= ?
         ORDER BY h.at_ms DESC LIMIT ?",
    )
    .bind(check)
    .bind(from)
    .bind(to)
    .bind(limit.min(i64::MAX as usize) as i64)
    .fetch_all(&inner.pool)
    .await
    .map_err(|e| inner.db(e))?;
    rows.iter().map(|row| check_result(inner, row)).collect()
}

/// One check's results over a range, by bucket (see `Store::check_summaries`).
#[derive(Debug, Clone, PartialEq)]
pub struct CheckSummary {
    pub check: String,
    /// (bucket index, worst status, results up, results that count), buckets with a result
    /// only, in order. Up is ok or warning (degraded, but it answered); critical and unknown
    /// are down. Results in maintenance do not count: planned downtime is not downtime.
    pub buckets: Vec<(u32, Status, u64, u64)>,
}

impl CheckSummary {
    /// Results up (ok or warning) of the results that count (not in maintenance), or `None`
    /// without any.
    pub fn uptime(&self) -> Option<f64> {
        let (ok, all) = self
            .buckets
            .iter()
            .fold((0, 0), |(ok, all), b| (ok + b.2, all + b.3));
        (all > 0).then(|| ok as f64 / all as f64)
    }
}

/// Statuses by rank, as `check_summaries` orders them in SQL (the order of `Status`).
const RANKED: [Status; 5] = [
    Status::Ok,
    Status::Maintenance,
    Status::Warning,
    Status::Unknown,
    Status::Critical,
];

/// Per check, one index range of its history (the primary key `(check_id, at_ms)`), grouped
/// into buckets: `?1` from, `?2` to, `?3` buckets, `?4` the span, `?5` one check or NULL.
const SUMMARIES_SQL: &str = "SELECT c.name, (h.at_ms - ?1) * ?3 / ?4 AS bucket,
        max(CASE h.status WHEN 'ok' THEN 0 WHEN 'maintenance' THEN 1
            WHEN 'warning' THEN 2 WHEN 'unknown' THEN 3 ELSE 4 END),
        sum(h.status IN ('ok', 'warning')), sum(h.status <> 'maintenance')
 FROM checks c JOIN check_history h ON h.check_id = c.id
 WHERE h.at_ms >= ?1 AND h.at_ms <= ?2 AND (?5 IS NULL OR c.name = ?5)
 GROUP BY c.name, bucket
 ORDER BY c.name, bucket";

pub async fn check_summaries(
    inner: &Inner,
    from: i64,
    to: i64,
    buckets: u32,
    only: Option<&str>,
) -> Result<Vec<CheckSummary>, StoreError> {
    let db = |e| inner.db(e);
    // Times lie in TIME_RANGE (< 2^48 ms): (at - from) * buckets fits SQLite's i64 for
    // buckets up to 2^15.
    let buckets = i64::from(buckets.clamp(1, 1 << 15));
    let mut conn = inner.pool.acquire().await.map_err(db)?;
    // One snapshot: the rolled-up span, the rollup and the raw rows as of one commit.
    let mut tx = conn.begin().await.map_err(db)?;
    let plan = check_rollup::rolled(&mut tx)
        .await
        .map_err(db)?
        .and_then(|rolled| policy::summary_plan(from, to, buckets, rolled));
    let summaries = match plan {
        Some(plan) => summaries_of(
            check_rollup::summary_counts(&mut tx, from, to, buckets, only, &plan)
                .await
                .map_err(db)?,
        ),
        None => raw_summaries(&mut tx, from, to, buckets, only)
            .await
            .map_err(db)?,
    };
    tx.commit().await.map_err(db)?;
    Ok(summaries)
}

/// The summaries from every raw row of the range (`SUMMARIES_SQL`).
pub(super) async fn raw_summaries(
    conn: &mut SqliteConnection,
    from: i64,
    to: i64,
    buckets: i64,
    only: Option<&str>,
) -> Result<Vec<CheckSummary>, sqlx::Error> {
    let span = (to - from).max(0) + 1;
    let rows: Vec<(String, i64, i64, i64, i64)> = sqlx::query_as(SUMMARIES_SQL)
        .bind(from)
        .bind(to)
        .bind(buckets)
        .bind(span)
        .bind(only)
        .fetch_all(&mut *conn)
        .await?;
    let mut out: Vec<CheckSummary> = Vec::new();
    for (name, bucket, rank, ok, all) in rows {
        let entry = (
            bucket.clamp(0, buckets - 1) as u32,
            RANKED[rank.clamp(0, 4) as usize],
            ok.max(0) as u64,
            all.max(0) as u64,
        );
        match out.last_mut() {
            Some(last) if last.check == name => last.buckets.push(entry),
            _ => out.push(CheckSummary {
                check: name,
                buckets: vec![entry],
            }),
        }
    }
    Ok(out)
}

/// The summaries from results counted by rank (the rollup's plan): per bucket with a
/// result, the worst rank with one, the ok ones, all but those in maintenance.
pub(super) fn summaries_of(counts: check_rollup::Counts) -> Vec<CheckSummary> {
    let mut out = Vec::with_capacity(counts.len());
    for (check, by_bucket) in counts {
        let mut buckets = Vec::with_capacity(by_bucket.len());
        for (bucket, n) in by_bucket {
            debug_assert!(n.iter().all(|&n| n >= 0), "{check} {bucket}: {n:?}");
            let n = n.map(|n| n.max(0) as u64);
            let Some(worst) = (0..5).rev().find(|&r| n[r] > 0) else {
                continue;
            };
            let all: u64 = n.iter().sum();
            // Up: ok and warning (ranks 0 and 2); maintenance (1) does not count.
            buckets.push((bucket as u32, RANKED[worst], n[0] + n[2], all - n[1]));
        }
        if !buckets.is_empty() {
            out.push(CheckSummary { check, buckets });
        }
    }
    out
}

pub async fn events(
    inner: &Inner,
    from: i64,
    to: i64,
    limit: usize,
    kinds: &[EventKind],
    subject: Option<&str>,
) -> Result<Vec<Event>, StoreError> {
    // The kinds as one comma-separated list (their words have no comma), matched with instr.
    let kinds = (!kinds.is_empty()).then(|| {
        let words: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
        format!(",{},", words.join(","))
    });
    let rows: Vec<(i64, String, String, String)> = sqlx::query_as(
        "SELECT at_ms, kind, subject, message FROM events WHERE at_ms >= ?1 AND at_ms <= ?2
           AND (?4 IS NULL OR instr(?4, ',' || kind || ',') > 0)
           AND (?5 IS NULL OR subject = ?5)
         ORDER BY at_ms DESC, id DESC LIMIT ?3",
    )
    .bind(from)
    .bind(to)
    .bind(limit.min(i64::MAX as usize) as i64)
    .bind(kinds)
    .bind(subject)
    .fetch_all(&inner.pool)
    .await
    .map_err(|e| inner.db(e))?;
    rows.into_iter()
        .map(|(at_ms, kind, subject, message)| {
            Ok(Event {
                at_ms,
                kind: EventKind::parse(&kind).ok_or_else(|| StoreError::Corrupt {
                    path: inner.path.clone(),
                    detail: format!("unknown event kind {kind:?}"),
                })?,
                subject,
                message,
            })
        })
        .collect()
}

pub async fn stats(inner: &Inner) -> Result<StoreStats, StoreError> {
    let db = |e| inner.db(e);
    let mut conn = inner.pool.acquire().await.map_err(db)?;
    let tier_row = |r: (i64, i64, i64, Option<i64>)| TierStats {
        chunks: r.0 as u64,
        samples: r.1 as u64,
        bytes: r.2 as u64,
        oldest_ms: r.3,
    };
    let mut raw: (i64, i64, i64, Option<i64>) = (0, 0, 0, None);
    let mut head_chunks = 0;
    for (i, sql) in [
        "SELECT count(*), coalesce(sum(n), 0), coalesce(sum(length(data)), 0), min(first_ms) FROM raw_chunks",
        "SELECT count(*), coalesce(sum(n), 0), coalesce(sum(length(data)), 0), min(first_ms) FROM raw_heads",
    ]
    .into_iter()
    .enumerate()
    {
        let r: (i64, i64, i64, Option<i64>) =
            sqlx::query_as(sql).fetch_one(&mut *conn).await.map_err(db)?;
        raw = (
            raw.0 + r.0,
            raw.1 + r.1,
            raw.2 + r.2,
            match (raw.3, r.3) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            },
        );
        if i == 1 {
            head_chunks = r.0;
        }
    }
    let mut rollups = Vec::new();
    for step in [policy::MINUTE_MS, policy::HOUR_MS] {
        let r: (i64, i64, i64, Option<i64>) = sqlx::query_as(
            "SELECT count(*), coalesce(sum(n), 0), coalesce(sum(length(data)), 0), min(first_ms)
             FROM rollups WHERE step_ms = ?",
        )
        .bind(step)
        .fetch_one(&mut *conn)
        .await
        .map_err(db)?;
        rollups.push(tier_row(r));
    }
    let count = |sql: &'static str| sqlx::query_scalar::<_, i64>(sql);
    let series = count("SELECT count(*) FROM series")
        .fetch_one(&mut *conn)
        .await
        .map_err(db)?;
    let checks = count("SELECT count(*) FROM checks")
        .fetch_one(&mut *conn)
        .await
        .map_err(db)?;
    let check_results = count("SELECT count(*) FROM check_history")
        .fetch_one(&mut *conn)
        .await
        .map_err(db)?;
    let events = count("SELECT count(*) FROM events")
        .fetch_one(&mut *conn)
        .await
        .map_err(db)?;
    let free: i64 = sqlx::query_scalar("PRAGMA freelist_count")
        .fetch_one(&mut *conn)
        .await
        .map_err(db)?;
    let page_size: i64 = sqlx::query_scalar("PRAGMA page_size")
        .fetch_one(&mut *conn)
        .await
        .map_err(db)?;
    drop(conn);
    let len = |p: &std::path::Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    let mut wal = inner.path.clone().into_os_string();
    wal.push("-wal");
    let (buffered_samples, dropped_samples) = {
        let b = inner.buffer();
        (b.samples as u64, b.dropped_samples)
    };
    let mut rollups = rollups.into_iter();
    Ok(StoreStats {
        path: inner.path.clone(),
        file_bytes: len(&inner.path),
        wal_bytes: len(std::path::Path::new(&wal)),
        free_bytes: (free * page_size) as u64,
        series: series as u64,
        raw: tier_row(raw),
        minute: rollups.next().unwrap_or_default(),
        hour: rollups.next().unwrap_or_default(),
        head_chunks: head_chunks as u64,
        checks: checks as u64,
        check_results: check_results as u64,
        events: events as u64,
        buffered_samples,
        dropped_samples,
    })
}

pub async fn check_integrity(inner: &Inner) -> Result<(), StoreError> {
    let problems: Vec<String> = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_all(&inner.pool)
        .await
        .map_err(|e| inner.db(e))?;
    if problems.len() == 1 && problems[0] == "ok" {
        Ok(())
    } else {
        Err(StoreError::Corrupt {
            path: inner.path.clone(),
            detail: problems.join("; "),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::model::Observation;
    use crate::store::{Store, StoreOptions};

    const T0: i64 = 1_700_000_000_000;
    const MIN: i64 = 60_000;

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

    fn sample(key: &std::sync::Arc<SeriesKey>, at_ms: i64, value: f64) -> Observation {
        Observation {
            source: "receive:web-1".into(),
            at_ms,
            samples: vec![crate::model::Sample {
                series: key.clone(),
                value,
            }],
            checks: Vec::new(),
        }
    }

    /// An agent cut off from the hub sends its backlog when it comes back: samples older than
    /// what the series already has, in the buffer, in head rows and in a window sealed
    /// already. Each is kept, once, in time order, in the raw tier and in the rollups.
    #[tokio::test]
    async fn late_samples_are_stored_in_time_order_whatever_the_chunking() {
        use std::sync::Arc;
        let dir = tempfile::tempdir().unwrap();
        let hour = policy::HOUR_MS;
        let h = policy::align(T0, hour);
        let clock = ManualClock::new(h + 40 * MIN);
        let store = Store::open(dir.path(), StoreOptions::default(), clock.clone())
            .await
            .unwrap();
        let key = Arc::new(SeriesKey::new("node_load1").with("host", "web-1"));
        let raw = |store: Store| async move {
            let result = store
                .query("node_load1", &[], h, h + 10 * MIN, 100_000)
                .await
                .unwrap();
            assert_eq!(result.tier, Tier::Raw);
            result.series[0]
                .points
                .iter()
                .map(|p| (p.at_ms - h, p.avg))
                .collect::<Vec<_>>()
        };
        // 40 minutes, one sample a second, with a hole from 60s to 120s.
        for s in (0..2400).filter(|s| !(60..120).contains(s)) {
            store.ingest(&sample(&key, h + s * 1000, 1.0));
        }
        // Late, still in the buffer.
        store.ingest(&sample(&key, h + 61_000, 2.0));
        let points = raw(store.clone()).await;
        let at_61 = points
            .iter()
            .position(|p| p.0 == 61_000)
            .expect("late sample in the buffer");
        assert_eq!(
            (points[at_61 - 1].0, points[at_61 + 1].0),
            (59_000, 120_000)
        );
        // Late, in a head row of its own.
        store.flush().await.unwrap();
        store.ingest(&sample(&key, h + 62_000, 3.0));
        store.flush().await.unwrap();
        let points = raw(store.clone()).await;
        let times: Vec<i64> = points.iter().map(|p| p.0).collect();
        assert!(
            times.windows(2).all(|w| w[0] < w[1]),
            "not in time order: {times:?}"
        );
        assert!(times.contains(&61_000) && times.contains(&62_000));
        // The window sealed, then later samples of it.
        clock.set(h + 3 * hour);
        store.maintain().await.unwrap();
        store.ingest(&sample(&key, h + 63_000, 1000.0));
        store.flush().await.unwrap();
        let minute_max = |store: Store| async move {
            let result = store
                .query("node_load1", &[], h, h + 40 * MIN - 1, 1_000)
                .await
                .unwrap();
            assert_eq!(result.tier, Tier::Minute);
            let bucket = result.series[0]
                .points
                .iter()
                .find(|p| p.at_ms == h + MIN)
                .copied();
            bucket.map(|b| (b.max, b.count))
        };
        assert_eq!(
            minute_max(store.clone()).await,
            Some((1000.0, 3)),
            "rollup with the head row"
        );
        let points = raw(store.clone()).await;
        assert_eq!(points.iter().filter(|p| p.0 == 63_000).count(), 1);
        store.maintain().await.unwrap();
        assert_eq!(
            minute_max(store.clone()).await,
            Some((1000.0, 3)),
            "rollup after resealing"
        );
        let points = raw(store.clone()).await;
        let times: Vec<i64> = points.iter().map(|p| p.0).collect();
        assert!(
            times.windows(2).all(|w| w[0] < w[1]),
            "not in time order: {times:?}"
        );
        assert_eq!(&times[58..63], [58_000, 59_000, 61_000, 62_000, 63_000]);
        assert_eq!(points.len(), 601 - 60 + 3);
    }

    #[tokio::test]
    async fn uptime_leaves_out_results_in_maintenance() {
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::new(T0 + 60 * MIN);
        let store = Store::open(dir.path(), StoreOptions::default(), clock.clone())
            .await
            .unwrap();
        // "a": 30 minutes ok, 20 in planned maintenance, 10 critical; "m": in maintenance
        // throughout.
        for minute in 0..60 {
            let at = T0 + minute * MIN;
            let a = match minute {
                0..30 => Status::Ok,
                30..50 => Status::Maintenance,
                _ => Status::Critical,
            };
            store.ingest(&result("a", a, at));
            store.ingest(&result("m", Status::Maintenance, at));
        }
        store.flush().await.unwrap();
        let summaries = store
            .check_summaries(T0, T0 + 60 * MIN - 1, 4, None)
            .await
            .unwrap();
        assert_eq!(summaries[0].check, "a");
        assert_eq!(
            summaries[0].uptime(),
            Some(0.75),
            "30 ok of the 40 that count"
        );
        assert_eq!(summaries[1].check, "m");
        assert_eq!(summaries[1].uptime(), None, "nothing counts in maintenance");
    }

    /// Found: a database check warning on a business query (or a site slower than its warning
    /// level, or a certificate 20 days from expiry) showed 0.00 % uptime while it answered
    /// every probe. Uptime is availability: ok and warning are up; critical and unknown are
    /// down; maintenance does not count. Both paths (raw rows, hourly rollup) say so.
    #[tokio::test]
    async fn a_check_that_warns_is_up_and_one_that_is_unknown_is_down() {
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::new(T0);
        let store = Store::open(dir.path(), StoreOptions::default(), clock.clone())
            .await
            .unwrap();
        // Three days: "w" warning throughout; "u" ok, then unknown for the last quarter.
        let minutes = 3 * 24 * 60;
        for minute in 0..minutes {
            let at = T0 + minute * MIN;
            store.ingest(&result("w", Status::Warning, at));
            let u = if minute < minutes * 3 / 4 {
                Status::Ok
            } else {
                Status::Unknown
            };
            store.ingest(&result("u", u, at));
            if minute % 60 == 59 {
                clock.set(at + MIN);
                store.flush().await.unwrap();
            }
        }
        clock.set(T0 + minutes * MIN + 10 * MIN);
        store.flush().await.unwrap();
        for _ in 0..20 {
            store.maintain().await.unwrap();
        }
        for buckets in [1, 48] {
            let summaries = store
                .check_summaries(T0, T0 + minutes * MIN - 1, buckets, None)
                .await
                .unwrap();
            let uptime: Vec<(&str, Option<f64>)> = summaries
                .iter()
                .map(|s| (s.check.as_str(), s.uptime()))
                .collect();
            assert_eq!(
                uptime,
                [("u", Some(0.75)), ("w", Some(1.0))],
                "{buckets} buckets"
            );
        }
    }

    #[tokio::test]
    async fn check_summaries_bucket_every_check_in_one_query_by_its_primary_key() {
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::new(T0 + 60 * MIN);
        let store = Store::open(dir.path(), StoreOptions::default(), clock.clone())
            .await
            .unwrap();
        // One result a minute for an hour: "a" ok then critical for the last 15 minutes; "b"
        // ok throughout.
        for minute in 0..60 {
            let at = T0 + minute * MIN;
            let a = if minute < 45 {
                Status::Ok
            } else {
                Status::Critical
            };
            store.ingest(&result("a", a, at));
            store.ingest(&result("b", Status::Ok, at));
        }
        store.flush().await.unwrap();
        let summaries = store
            .check_summaries(T0, T0 + 60 * MIN - 1, 4, None)
            .await
            .unwrap();
        assert_eq!(summaries.len(), 2);
        let a = &summaries[0];
        assert_eq!(a.check, "a");
        let worst: Vec<(u32, Status)> = a.buckets.iter().map(|b| (b.0, b.1)).collect();
        assert_eq!(
            worst,
            [
                (0, Status::Ok),
                (1, Status::Ok),
                (2, Status::Ok),
                (3, Status::Critical)
            ]
        );
        assert_eq!(a.uptime(), Some(0.75));
        assert_eq!(summaries[1].uptime(), Some(1.0));
        let only = store
            .check_summaries(T0, T0 + 60 * MIN, 1, Some("b"))
            .await
            .unwrap();
        assert_eq!(only.len(), 1);
        assert_eq!(only[0].buckets, [(0, Status::Ok, 60, 60)]);
        // The plan reads each check's range through the primary key, never the whole table.
        let plan: Vec<(i64, i64, i64, String)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "EXPLAIN QUERY PLAN {SUMMARIES_SQL}"
        )))
        .bind(T0)
        .bind(T0 + 60 * MIN)
        .bind(48)
        .bind(60 * MIN)
        .bind(None::<String>)
        .fetch_all(&store.inner.pool)
        .await
        .unwrap();
        let plan: Vec<String> = plan.into_iter().map(|row| row.3).collect();
        assert!(
            plan.iter().any(|step| step
                .contains("SEARCH h USING PRIMARY KEY (check_id=? AND at_ms>? AND at_ms<?)")),
            "{plan:?}"
        );
        assert!(
            !plan.iter().any(|step| step.starts_with("SCAN h")),
            "{plan:?}"
        );
    }

    /// The figures of BENCHMARKS.md (issue 18): 1,000 checks, 100 of them with 30 days of
    /// history (one row a minute, as `keep_in_history` keeps it), written as a store from
    /// before the rollup holds them; the maintenance runs that fill the rollup; the summaries
    /// of the last 24 h and of the 30 days from the raw rows and through the rollup; a flush
    /// of one minute of results of the 1,000 checks; the bytes of each table.
    /// `cargo test --lib -- --ignored check_summaries_at_scale --nocapture`.
    #[tokio::test]
    #[ignore = "a measurement: fills 4.3 million rows"]
    async fn check_summaries_at_scale() {
        use std::time::Instant;
        const DAY: i64 = 1440 * MIN;
        let dir = tempfile::tempdir().unwrap();
        let now = T0 + 30 * DAY;
        let clock = ManualClock::new(now);
        let store = Store::open(dir.path(), StoreOptions::default(), clock.clone())
            .await
            .unwrap();
        let pool = &store.inner.pool;
        sqlx::query(
            "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 999)
             INSERT INTO checks (name, layer, status, value, detail, at_ms)
             SELECT printf('app-%04d', i), 'application', 'ok', 0.05, 'HTTP 200', ?1 FROM n",
        )
        .bind(now)
        .execute(pool)
        .await
        .unwrap();
        let started = Instant::now();
        sqlx::query(
            "WITH RECURSIVE m(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM m WHERE k < 43199)
             INSERT INTO check_history (check_id, at_ms, status, value, detail)
             SELECT c.id, ?1 + m.k * 60000,
                    CASE WHEN m.k % 997 = 0 THEN 'critical' ELSE 'ok' END, 0.05, 'HTTP 200'
             FROM checks c, m WHERE c.id <= 100",
        )
        .bind(T0)
        .execute(pool)
        .await
        .unwrap();
        eprintln!("filled 4,320,000 rows in {:?}", started.elapsed());

        let measure = async |what: &str| {
            for (span, range) in [(DAY, "24 h"), (30 * DAY, "30 days")] {
                let mut times = Vec::new();
                let mut summaries = Vec::new();
                for _ in 0..5 {
                    let started = Instant::now();
                    summaries = store
                        .check_summaries(now - span, now, 48, None)
                        .await
                        .unwrap();
                    times.push(started.elapsed());
                }
                assert_eq!(summaries.len(), 100);
                let mut sorted = times.clone();
                sorted.sort();
                eprintln!(
                    "check_summaries over {range}, {what}: median {:?} of {times:?}",
                    sorted[2]
                );
            }
        };
        measure("raw rows (before the rollup)").await;

        // The rollup filled as the daemon's maintenance does it, a bounded step a run.
        let started = Instant::now();
        let mut runs = Vec::new();
        loop {
            let run = Instant::now();
            store.maintain().await.unwrap();
            runs.push(run.elapsed());
            let mut conn = pool.acquire().await.unwrap();
            if check_rollup::rolled(&mut conn).await.unwrap().unwrap().0 == 0 {
                break;
            }
        }
        let longest = runs.iter().max().unwrap();
        eprintln!(
            "rollup filled by {} maintenance runs in {:?} (longest run {longest:?})",
            runs.len(),
            started.elapsed()
        );
        measure("through the rollup").await;
        for (span, range) in [(DAY, "24 h"), (30 * DAY, "30 days")] {
            let mut conn = pool.acquire().await.unwrap();
            let want = raw_summaries(&mut conn, now - span, now, 48, None)
                .await
                .unwrap();
            drop(conn);
            let got = store
                .check_summaries(now - span, now, 48, None)
                .await
                .unwrap();
            assert_eq!(got, want, "{range}");
        }

        // A flush of one minute of the 1,000 checks' results, on time (after the rollup's
        // hours) and late (each into a rolled-up hour).
        for (what, at) in [("on time", now + 30_000), ("late", now - 3 * DAY)] {
            let mut times = Vec::new();
            for minute in 0..5 {
                for i in 0..1000 {
                    store.ingest(&result(
                        &format!("app-{i:04}"),
                        Status::Ok,
                        at + minute * MIN,
                    ));
                }
                let started = Instant::now();
                store.flush().await.unwrap();
                times.push(started.elapsed());
            }
            eprintln!("flush of 1,000 check results, {what}: {times:?}");
        }

        let bytes: Vec<(String, i64)> = sqlx::query_as(
            "SELECT name, sum(pgsize) FROM dbstat
             WHERE name IN ('check_history', 'check_rollup') GROUP BY name",
        )
        .fetch_all(pool)
        .await
        .unwrap();
        let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM check_rollup")
            .fetch_one(pool)
            .await
            .unwrap();
        eprintln!("bytes: {bytes:?}; {rows} rollup rows (100 checks x 30 days)");
    }
}
