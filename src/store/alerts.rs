//! The alert engine's persistent state (tables of migration 0002): live alerts, the history of
//! notices, silences (expired ones kept for audit) and the notification outbox. The engine
//! writes one evaluation's decisions with `commit_alerts` in one transaction, so state,
//! history and outbox never disagree after a crash; the outbox worker (`notify::outbox`)
//! reads and marks rows with the `outbox_*` methods. Plain data in, plain data out: no
//! alerting logic here.

use std::collections::BTreeMap;

use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::sqlite::{SqliteConnection, SqliteRow};
use sqlx::{Connection, Row};

use super::{Inner, Store, StoreError};
use crate::alert::Severity;
use crate::alert::matcher::Matcher;
use crate::alert::records::{
    AlertBatch, HistoryEntry, OutboxEntry, OutboxRow, OutboxState, StoredAlert,
};
use crate::alert::silence::Silence;
use crate::clock::UnixMillis;
use crate::notify::AlertNotice;

/// Deletes the finished outbox rows older than ?1, except, for each alert still pending or
/// firing, the latest row delivered to each notifier: `outbox_still_firing` re-sends it, so an
/// alert firing longer than the retention (acknowledged: no repeats) is not forgotten.
pub(super) const PRUNE_OUTBOX_SQL: &str = "DELETE FROM outbox
     WHERE state <> 'pending' AND finished_ms < ?1
       AND id NOT IN (SELECT max(id) FROM outbox
                      WHERE state = 'delivered'
                        AND json_extract(notice, '$.alert_id') IN (SELECT id FROM alerts)
                      GROUP BY notifier, json_extract(notice, '$.alert_id'))";

/// Retention (`maintain`, with the cut-off of the longest tier): silences that ended before
/// it. Expired ones are kept until then for the audit trail.
pub(super) const PRUNE_SILENCES_SQL: &str = "DELETE FROM silences WHERE ends_ms < ?";

const OUTBOX_COLUMNS: &str = "id, notifier, group_key, group_labels, due_ms, notice, state, \
     attempts, next_attempt_ms, last_error, delivered_ms, created_ms, batch_key";

/// One outbox row of a notice, as `alerts history` shows it: which notifier, and what became
/// of it. The notice is known by (alert id, decision time, kind).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoticeDelivery {
    pub alert_id: String,
    pub at_ms: UnixMillis,
    /// `NoticeKind::as_str`.
    pub kind: String,
    pub notifier: String,
    pub state: OutboxState,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub delivered_ms: Option<UnixMillis>,
}

/// What became of one history entry's notice, in one word (`alerts history`, the API).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Delivery {
    /// Delivered to every notifier it was queued for.
    Delivered,
    /// Some notifier has not taken it yet (waiting for its group, or retrying).
    Pending,
    /// Some notifier never will (a permanent error, or given up after 24 h).
    Failed,
    /// Muted: never queued (the entry says why).
    Muted,
    /// No outbox row: no notifier, or the rows were pruned by retention.
    NotQueued,
}

impl Delivery {
    pub fn as_str(self) -> &'static str {
        match self {
            Delivery::Delivered => "delivered",
            Delivery::Pending => "pending",
            Delivery::Failed => "failed",
            Delivery::Muted => "muted",
            Delivery::NotQueued => "not queued",
        }
    }
}

impl NoticeDelivery {
    /// The rows (from `Store::notice_deliveries`) of one history entry's notice.
    pub fn of<'a>(entry: &HistoryEntry, all: &'a [NoticeDelivery]) -> Vec<&'a NoticeDelivery> {
        all.iter()
            .filter(|d| {
                d.alert_id == entry.notice.alert_id
                    && d.at_ms == entry.notice.at_ms
                    && d.kind == entry.notice.kind.as_str()
            })
            .collect()
    }

    /// Muted (never queued), else the worst state of its rows (failed, then pending), else
    /// delivered; not queued without rows.
    pub fn summary(entry: &HistoryEntry, rows: &[&NoticeDelivery]) -> Delivery {
        if !entry.muted_by.is_empty() {
            Delivery::Muted
        } else if rows.is_empty() {
            Delivery::NotQueued
        } else if rows.iter().any(|d| d.state == OutboxState::Failed) {
            Delivery::Failed
        } else if rows.iter().any(|d| d.state == OutboxState::Pending) {
            Delivery::Pending
        } else {
            Delivery::Delivered
        }
    }
}

impl Store {
    /// Writes everything one evaluation decided in one transaction: upserts `upserts` (by
    /// id), deletes `removed`, appends `history`, inserts `outbox` rows (pending, created now)
    /// and returns the new outbox row ids in the order of `batch.outbox`. All or nothing.
    pub async fn commit_alerts(&self, batch: &AlertBatch) -> Result<Vec<i64>, StoreError> {
        self.inner.check_open()?;
        let inner = &*self.inner;
        let db = |e| inner.db(e);
        let now = inner.clock.now_ms();
        let mut conn = inner.pool.acquire().await.map_err(db)?;
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await.map_err(db)?;
        for alert in &batch.upserts {
            upsert_alert(&mut tx, alert, inner).await?;
        }
        for id in &batch.removed {
            sqlx::query("DELETE FROM alerts WHERE id = ?")
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
        }
        for entry in &batch.history {
            insert_history(&mut tx, entry, inner).await?;
        }
        for alert_id in &batch.retract {
            // Only rows never tried: one already attempted may have reached its receiver.
            sqlx::query(
                "DELETE FROM outbox WHERE state = 'pending' AND attempts = 0
                   AND json_extract(notice, '$.alert_id') = ?",
            )
            .bind(alert_id)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        }
        let mut ids = Vec::with_capacity(batch.outbox.len());
        for entry in &batch.outbox {
            ids.push(insert_outbox(&mut tx, entry, now, inner).await?);
        }
        tx.commit().await.map_err(db)?;
        inner.note_write();
        Ok(ids)
    }

    /// Writes outbox rows the outbox worker held in memory while the store could not write
    /// (`notify::held`), each as it stands: pending ones with their attempts, next attempt and
    /// batch key (a retry keeps its idempotency key), delivered and failed ones finished (so
    /// they are never sent again). Their ids are new. All or nothing.
    pub async fn outbox_adopt(&self, rows: &[OutboxRow]) -> Result<(), StoreError> {
        self.inner.check_open()?;
        if rows.is_empty() {
            return Ok(());
        }
        let inner = &*self.inner;
        let db = |e| inner.db(e);
        let now = inner.clock.now_ms();
        let mut conn = inner.pool.acquire().await.map_err(db)?;
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await.map_err(db)?;
        for row in rows {
            let state = match row.state {
                OutboxState::Pending => "pending",
                OutboxState::Delivered => "delivered",
                OutboxState::Failed => "failed",
            };
            let finished_ms = match row.state {
                OutboxState::Pending => None,
                OutboxState::Delivered => Some(row.delivered_ms.unwrap_or(now)),
                OutboxState::Failed => Some(now),
            };
            sqlx::query(
                "INSERT INTO outbox (notifier, group_key, group_labels, due_ms, notice, state,
                                     attempts, next_attempt_ms, batch_key, last_error,
                                     delivered_ms, finished_ms, created_ms)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(&row.entry.notifier)
            .bind(&row.entry.group_key)
            .bind(to_json(&row.entry.group_labels, inner)?)
            .bind(row.entry.due_ms)
            .bind(to_json(&row.entry.notice, inner)?)
            .bind(state)
            .bind(row.attempts)
            .bind(row.next_attempt_ms)
            .bind(&row.batch_key)
            .bind(&row.last_error)
            .bind(row.delivered_ms)
            .bind(finished_ms)
            .bind(row.created_ms)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        }
        tx.commit().await.map_err(db)?;
        inner.note_write();
        Ok(())
    }

    /// Every pending or firing alert, by id.
    pub async fn load_alerts(&self) -> Result<Vec<StoredAlert>, StoreError> {
        self.inner.check_open()?;
        let inner = &*self.inner;
        let rows = sqlx::query(
            "SELECT id, rule, labels, state, severity, since_ms, last_notified_ms, value,
                    summary, muted_by, told, acknowledged_by, acknowledged_ms
             FROM alerts ORDER BY id",
        )
        .fetch_all(&inner.pool)
        .await
        .map_err(|e| inner.db(e))?;
        rows.iter().map(|row| alert_from_row(row, inner)).collect()
    }

    /// Notices decided at or after `since_ms`, newest first, at most `limit`.
    pub async fn alert_history(
        &self,
        since_ms: UnixMillis,
        limit: usize,
    ) -> Result<Vec<HistoryEntry>, StoreError> {
        self.inner.check_open()?;
        let inner = &*self.inner;
        let rows = sqlx::query(
            "SELECT notice, muted_by FROM alert_history WHERE at_ms >= ?
             ORDER BY at_ms DESC, id DESC LIMIT ?",
        )
        .bind(since_ms)
        .bind(sql_limit(limit))
        .fetch_all(&inner.pool)
        .await
        .map_err(|e| inner.db(e))?;
        rows.iter()
            .map(|row| {
                Ok(HistoryEntry {
                    notice: json_column(row, "notice", inner)?,
                    muted_by: column(row, "muted_by", inner)?,
                })
            })
            .collect()
    }

    /// What became of the notices decided at or after `since_ms`, per notifier: one entry per
    /// outbox row (oldest first), to tell a history entry that was delivered from one that is
    /// still pending or failed. Rows pruned by retention are not in it.
    pub async fn notice_deliveries(
        &self,
        since_ms: UnixMillis,
    ) -> Result<Vec<NoticeDelivery>, StoreError> {
        self.inner.check_open()?;
        let inner = &*self.inner;
        let rows = sqlx::query(
            "SELECT notifier, state, attempts, last_error, delivered_ms,
                    json_extract(notice, '$.alert_id') AS alert_id,
                    json_extract(notice, '$.at_ms') AS at_ms,
                    json_extract(notice, '$.kind') AS kind
             FROM outbox WHERE json_extract(notice, '$.at_ms') >= ? ORDER BY id",
        )
        .bind(since_ms)
        .fetch_all(&inner.pool)
        .await
        .map_err(|e| inner.db(e))?;
        rows.iter()
            .map(|row| {
                let state: String = column(row, "state", inner)?;
                let attempts: i64 = column(row, "attempts", inner)?;
                Ok(NoticeDelivery {
                    alert_id: column(row, "alert_id", inner)?,
                    at_ms: column(row, "at_ms", inner)?,
                    kind: column(row, "kind", inner)?,
                    notifier: column(row, "notifier", inner)?,
                    state: outbox_state(&state, inner)?,
                    attempts: attempts.clamp(0, u32::MAX as i64) as u32,
                    last_error: column(row, "last_error", inner)?,
                    delivered_ms: column(row, "delivered_ms", inner)?,
                })
            })
            .collect()
    }

    /// Stores a new silence. Its id must be new: a silence is changed by expiring it and
    /// adding another, so the audit trail keeps what was in force when.
    pub async fn add_silence(&self, silence: &Silence) -> Result<(), StoreError> {
        self.inner.check_open()?;
        let inner = &*self.inner;
        let matchers: Vec<String> = silence.matchers.iter().map(ToString::to_string).collect();
        sqlx::query(
            "INSERT INTO silences (id, matchers, starts_ms, ends_ms, author, comment, created_ms)
             VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&silence.id)
        .bind(to_json(&matchers, inner)?)
        .bind(silence.starts_ms)
        .bind(silence.ends_ms)
        .bind(&silence.author)
        .bind(&silence.comment)
        .bind(inner.clock.now_ms())
        .execute(&inner.pool)
        .await
        .map_err(|e| inner.db(e))?;
        Ok(())
    }

    /// Every silence, expired ones included, newest (last added) first.
    pub async fn silences(&self) -> Result<Vec<Silence>, StoreError> {
        self.inner.check_open()?;
        let inner = &*self.inner;
        let rows = sqlx::query(
            "SELECT id, matchers, starts_ms, ends_ms, author, comment FROM silences
             ORDER BY seq DESC",
        )
        .fetch_all(&inner.pool)
        .await
        .map_err(|e| inner.db(e))?;
        rows.iter()
            .map(|row| {
                let id: String = column(row, "id", inner)?;
                let texts: Vec<String> = json_column(row, "matchers", inner)?;
                let matchers = texts
                    .iter()
                    .map(|t| {
                        Matcher::parse(t).map_err(|e| {
                            decode_error(inner, "matchers", format!("silence {id}: {e}"))
                        })
                    })
                    .collect::<Result<_, _>>()?;
                Ok(Silence {
                    matchers,
                    starts_ms: column(row, "starts_ms", inner)?,
                    ends_ms: column(row, "ends_ms", inner)?,
                    author: column(row, "author", inner)?,
                    comment: column(row, "comment", inner)?,
                    id,
                })
            })
            .collect()
    }

    /// Takes or renews the lease `name` for `holder` until `now + ttl`. Returns `None` when
    /// `holder` has it now, or the other holder that has it. A lease past its expiry, or one
    /// `is_gone(holder)` says is dead, is taken over.
    pub async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        ttl_ms: i64,
        is_gone: impl Fn(&str) -> bool,
    ) -> Result<Option<String>, StoreError> {
        self.inner.check_open()?;
        let inner = &*self.inner;
        let db = |e| inner.db(e);
        let now = inner.clock.now_ms();
        let mut conn = inner.pool.acquire().await.map_err(db)?;
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await.map_err(db)?;
        let current: Option<(String, i64)> =
            sqlx::query_as("SELECT holder, expires_ms FROM leases WHERE name = ?")
                .bind(name)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db)?;
        if let Some((other, expires_ms)) = current
            && other != holder
            && expires_ms > now
            && !is_gone(&other)
        {
            return Ok(Some(other));
        }
        sqlx::query(
            "INSERT INTO leases (name, holder, expires_ms) VALUES (?, ?, ?)
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder,
                 expires_ms = excluded.expires_ms",
        )
        .bind(name)
        .bind(holder)
        .bind(now.saturating_add(ttl_ms))
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(None)
    }

    /// Gives the lease `name` up if `holder` has it.
    pub async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        self.inner.check_open()?;
        let inner = &*self.inner;
        sqlx::query("DELETE FROM leases WHERE name = ? AND holder = ?")
            .bind(name)
            .bind(holder)
            .execute(&inner.pool)
            .await
            .map_err(|e| inner.db(e))?;
        Ok(())
    }

    /// Ends silence `id` now if it is active or pending (a pending one also starts now, so it
    /// reads as expired rather than pending forever). False when there is no such silence or
    /// it has already expired. The row is kept.
    pub async fn expire_silence(&self, id: &str, now_ms: UnixMillis) -> Result<bool, StoreError> {
        self.inner.check_open()?;
        let inner = &*self.inner;
        let done = sqlx::query(
            "UPDATE silences SET ends_ms = ?1, starts_ms = min(starts_ms, ?1)
             WHERE id = ?2 AND ends_ms > ?1",
        )
        .bind(now_ms)
        .bind(id)
        .execute(&inner.pool)
        .await
        .map_err(|e| inner.db(e))?;
        Ok(done.rows_affected() > 0)
    }

    /// Every pending row (the first `limit`, oldest first) when at least one is due at
    /// `now_ms` (its due time and next attempt have both come), else none: the outbox plans a
    /// pass from all of them (`notify::plan`), because a due row takes along the rest of its
    /// batch and the older rows of its alert, due or not.
    pub async fn outbox_due(
        &self,
        now_ms: UnixMillis,
        limit: usize,
    ) -> Result<Vec<OutboxRow>, StoreError> {
        self.inner.check_open()?;
        let inner = &*self.inner;
        // The literal 'pending' (not a parameter) lets SQLite use the partial index.
        let sql = due_sql();
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(now_ms)
            .bind(sql_limit(limit))
            .fetch_all(&inner.pool)
            .await
            .map_err(|e| inner.db(e))?;
        rows.iter().map(|row| outbox_from_row(row, inner)).collect()
    }

    /// (notifier, alert id) of every alert with a pending row: the rows held in memory of
    /// these alerts wait for the store (`notify::held`), so they cannot overtake older ones.
    pub async fn outbox_pending_alerts(&self) -> Result<Vec<(String, String)>, StoreError> {
        self.inner.check_open()?;
        let inner = &*self.inner;
        sqlx::query_as(
            "SELECT DISTINCT notifier, json_extract(notice, '$.alert_id') FROM outbox
             WHERE state = 'pending'",
        )
        .fetch_all(&inner.pool)
        .await
        .map_err(|e| inner.db(e))
    }

    /// The earliest time a pending row becomes due (the later of its due time and its next
    /// attempt), or `None` when nothing is pending.
    pub async fn outbox_next_wakeup(&self) -> Result<Option<UnixMillis>, StoreError> {
        self.inner.check_open()?;
        let inner = &*self.inner;
        sqlx::query_scalar(
            "SELECT min(max(due_ms, next_attempt_ms)) FROM outbox WHERE state = 'pending'",
        )
        .fetch_one(&inner.pool)
        .await
        .map_err(|e| inner.db(e))
    }

    /// Marks pending rows as being sent, before the send: one more attempt, no new attempt
    /// before `next_attempt_ms`, and `batch_key` recorded. A crash during the send thus brings
    /// the rows back only after their backoff, under the same key. Returns the ids claimed
    /// (rows no longer pending are skipped).
    pub async fn outbox_claim(
        &self,
        ids: &[i64],
        now_ms: UnixMillis,
        next_attempt_ms: UnixMillis,
        batch_key: &str,
    ) -> Result<Vec<i64>, StoreError> {
        self.inner.check_open()?;
        let inner = &*self.inner;
        let mut claimed: Vec<i64> = sqlx::query_scalar(
            "UPDATE outbox SET attempts = attempts + 1, last_attempt_ms = ?, next_attempt_ms = ?,
                    batch_key = ?
             WHERE state = 'pending' AND id IN (SELECT value FROM json_each(?))
             RETURNING id",
        )
        .bind(now_ms)
        .bind(next_attempt_ms)
        .bind(batch_key)
        .bind(to_json(ids, inner)?)
        .fetch_all(&inner.pool)
        .await
        .map_err(|e| inner.db(e))?;
        claimed.sort_unstable();
        Ok(claimed)
    }

    /// Marks rows delivered at `now_ms`; returns how many were pending.
    pub async fn outbox_delivered(
        &self,
        ids: &[i64],
        now_ms: UnixMillis,
    ) -> Result<u64, StoreError> {
        self.finish(ids, "delivered", None, Some(now_ms), now_ms)
            .await
    }

    /// Records a failed attempt that will be tried again at `next_attempt_ms`.
    pub async fn outbox_retry(
        &self,
        ids: &[i64],
        error: &str,
        next_attempt_ms: UnixMillis,
    ) -> Result<u64, StoreError> {
        self.inner.check_open()?;
        let inner = &*self.inner;
        let done = sqlx::query(
            "UPDATE outbox SET last_error = ?, next_attempt_ms = ?
             WHERE state = 'pending' AND id IN (SELECT value FROM json_each(?))",
        )
        .bind(error)
        .bind(next_attempt_ms)
        .bind(to_json(ids, inner)?)
        .execute(&inner.pool)
        .await
        .map_err(|e| inner.db(e))?;
        Ok(done.rows_affected())
    }

    /// Gives rows up: they are never sent again and stay listed with `error`.
    pub async fn outbox_failed(&self, ids: &[i64], error: &str) -> Result<u64, StoreError> {
        let now = self.inner.clock.now_ms();
        self.finish(ids, "failed", Some(error), None, now).await
    }

    async fn finish(
        &self,
        ids: &[i64],
        state: &str,
        error: Option<&str>,
        delivered_ms: Option<UnixMillis>,
        now_ms: UnixMillis,
    ) -> Result<u64, StoreError> {
        self.inner.check_open()?;
        let inner = &*self.inner;
        let done = sqlx::query(
            "UPDATE outbox SET state = ?, last_error = coalesce(?, last_error), delivered_ms = ?,
                    finished_ms = ?
             WHERE state = 'pending' AND id IN (SELECT value FROM json_each(?))",
        )
        .bind(state)
        .bind(error)
        .bind(delivered_ms)
        .bind(now_ms)
        .bind(to_json(ids, inner)?)
        .execute(&inner.pool)
        .await
        .map_err(|e| inner.db(e))?;
        Ok(done.rows_affected())
    }

    /// For each alert still firing, the latest notice delivered to `notifier` in its current
    /// firing (the notice's `since_ms` is the alert's), unless that notice says resolved:
    /// what a notifier whose receiver forgets unrepeated alerts (Alertmanager) sends again.
    /// Alerts that resolved (and whose resolution went out), or whose firing was never told
    /// to `notifier`, are not in it; one whose resolution still waits (`resolve_wait`) is.
    /// Oldest first.
    pub async fn outbox_still_firing(
        &self,
        notifier: &str,
    ) -> Result<Vec<AlertNotice>, StoreError> {
        self.inner.check_open()?;
        let inner = &*self.inner;
        let rows = sqlx::query(
            "SELECT o.notice FROM outbox o
             JOIN (SELECT max(id) AS id FROM outbox WHERE notifier = ?1 AND state = 'delivered'
                   GROUP BY json_extract(notice, '$.alert_id')) latest ON latest.id = o.id
             LEFT JOIN alerts a ON a.id = json_extract(o.notice, '$.alert_id')
             WHERE json_extract(o.notice, '$.kind') <> 'resolved'
               AND ((a.state = 'firing' AND json_extract(o.notice, '$.since_ms') = a.since_ms)
                    -- Recovered, but its resolution waits (`resolve_wait`): still firing
                    -- for the receiver until that goes out.
                    OR EXISTS (SELECT 1 FROM outbox r
                               WHERE r.notifier = ?1 AND r.state = 'pending'
                                 AND json_extract(r.notice, '$.alert_id')
                                     = json_extract(o.notice, '$.alert_id')
                                 AND json_extract(r.notice, '$.kind') = 'resolved'))
             ORDER BY o.id",
        )
        .bind(notifier)
        .fetch_all(&inner.pool)
        .await
        .map_err(|e| inner.db(e))?;
        rows.iter()
            .map(|row| json_column(row, "notice", inner))
            .collect()
    }

    /// The backlog of the outbox at `now_ms`: how many pending rows are due (not merely
    /// waiting for their group or a dependency), and the due time of the oldest of them.
    pub async fn outbox_backlog(
        &self,
        now_ms: UnixMillis,
    ) -> Result<(u64, Option<UnixMillis>), StoreError> {
        self.inner.check_open()?;
        let inner = &*self.inner;
        let (count, oldest): (i64, Option<i64>) = sqlx::query_as(
            "SELECT count(*), min(due_ms) FROM outbox WHERE state = 'pending' AND due_ms <= ?1",
        )
        .bind(now_ms)
        .fetch_one(&inner.pool)
        .await
        .map_err(|e| inner.db(e))?;
        Ok((count.max(0) as u64, oldest))
    }

    /// Outbox rows, newest first: pending and failed ones, plus delivered ones when asked.
    pub async fn outbox_list(
        &self,
        include_delivered: bool,
        limit: usize,
    ) -> Result<Vec<OutboxRow>, StoreError> {
        self.inner.check_open()?;
        let inner = &*self.inner;
        let sql = format!(
            "SELECT {OUTBOX_COLUMNS} FROM outbox WHERE ?1 OR state <> 'delivered'
             ORDER BY id DESC LIMIT ?2"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(include_delivered)
            .bind(sql_limit(limit))
            .fetch_all(&inner.pool)
            .await
            .map_err(|e| inner.db(e))?;
        rows.iter().map(|row| outbox_from_row(row, inner)).collect()
    }

    /// Deletes delivered and failed rows finished before `older_than_ms` (but the latest
    /// delivered per notifier of a live alert: see `PRUNE_OUTBOX_SQL`); pending rows are never
    /// pruned. Returns how many rows went.
    pub async fn outbox_prune(&self, older_than_ms: UnixMillis) -> Result<u64, StoreError> {
        self.inner.check_open()?;
        let inner = &*self.inner;
        let done = sqlx::query(PRUNE_OUTBOX_SQL)
            .bind(older_than_ms)
            .execute(&inner.pool)
            .await
            .map_err(|e| inner.db(e))?;
        Ok(done.rows_affected())
    }
}

/// The due query of `outbox_due` (?1: now, ?2: limit).
fn due_sql() -> String {
    format!(
        "SELECT {OUTBOX_COLUMNS} FROM outbox
         WHERE state = 'pending'
           AND (SELECT min(max(due_ms, next_attempt_ms)) FROM outbox
                WHERE state = 'pending') <= ?1
         ORDER BY id LIMIT ?2"
    )
}

async fn upsert_alert(
    tx: &mut SqliteConnection,
    alert: &StoredAlert,
    inner: &Inner,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO alerts (id, rule, labels, state, severity, since_ms, last_notified_ms, value,
                             summary, muted_by, told, acknowledged_by, acknowledged_ms)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (id) DO UPDATE SET rule = excluded.rule, labels = excluded.labels,
             state = excluded.state, severity = excluded.severity, since_ms = excluded.since_ms,
             last_notified_ms = excluded.last_notified_ms, value = excluded.value,
             summary = excluded.summary, muted_by = excluded.muted_by, told = excluded.told,
             acknowledged_by = excluded.acknowledged_by,
             acknowledged_ms = excluded.acknowledged_ms",
    )
    .bind(&alert.id)
    .bind(&alert.rule)
    .bind(to_json(&alert.labels, inner)?)
    .bind(&alert.state)
    .bind(alert.severity.as_str())
    .bind(alert.since_ms)
    .bind(alert.last_notified_ms)
    .bind(alert.value)
    .bind(&alert.summary)
    .bind(&alert.muted_by)
    .bind(alert.told)
    .bind(&alert.acknowledged_by)
    .bind(alert.acknowledged_ms)
    .execute(&mut *tx)
    .await
    .map_err(|e| inner.db(e))?;
    Ok(())
}

async fn insert_history(
    tx: &mut SqliteConnection,
    entry: &HistoryEntry,
    inner: &Inner,
) -> Result<(), StoreError> {
    let n = &entry.notice;
    sqlx::query(
        "INSERT INTO alert_history (at_ms, rule, alert_id, kind, severity, muted_by, notice)
         VALUES (?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(n.at_ms)
    .bind(&n.rule)
    .bind(&n.alert_id)
    .bind(n.kind.as_str())
    .bind(n.severity.as_str())
    .bind(&entry.muted_by)
    .bind(to_json(n, inner)?)
    .execute(&mut *tx)
    .await
    .map_err(|e| inner.db(e))?;
    Ok(())
}

async fn insert_outbox(
    tx: &mut SqliteConnection,
    entry: &OutboxEntry,
    now_ms: UnixMillis,
    inner: &Inner,
) -> Result<i64, StoreError> {
    let done = sqlx::query(
        "INSERT INTO outbox (notifier, group_key, group_labels, due_ms, notice, next_attempt_ms,
                             created_ms)
         VALUES (?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&entry.notifier)
    .bind(&entry.group_key)
    .bind(to_json(&entry.group_labels, inner)?)
    .bind(entry.due_ms)
    .bind(to_json(&entry.notice, inner)?)
    .bind(entry.due_ms)
    .bind(now_ms)
    .execute(&mut *tx)
    .await
    .map_err(|e| inner.db(e))?;
    Ok(done.last_insert_rowid())
}

fn alert_from_row(row: &SqliteRow, inner: &Inner) -> Result<StoredAlert, StoreError> {
    let severity: String = column(row, "severity", inner)?;
    Ok(StoredAlert {
        id: column(row, "id", inner)?,
        rule: column(row, "rule", inner)?,
        labels: json_column::<BTreeMap<String, String>>(row, "labels", inner)?,
        state: column(row, "state", inner)?,
        severity: Severity::parse(&severity).ok_or_else(|| {
            decode_error(inner, "severity", format!("unknown severity {severity:?}"))
        })?,
        since_ms: column(row, "since_ms", inner)?,
        last_notified_ms: column(row, "last_notified_ms", inner)?,
        value: column(row, "value", inner)?,
        summary: column(row, "summary", inner)?,
        muted_by: column(row, "muted_by", inner)?,
        told: column(row, "told", inner)?,
        flapping: false,
        acknowledged_by: column(row, "acknowledged_by", inner)?,
        acknowledged_ms: column(row, "acknowledged_ms", inner)?,
    })
}

fn outbox_from_row(row: &SqliteRow, inner: &Inner) -> Result<OutboxRow, StoreError> {
    let state: String = column(row, "state", inner)?;
    let state = outbox_state(&state, inner)?;
    let attempts: i64 = column(row, "attempts", inner)?;
    Ok(OutboxRow {
        id: column(row, "id", inner)?,
        entry: OutboxEntry {
            notifier: column(row, "notifier", inner)?,
            group_key: column(row, "group_key", inner)?,
            group_labels: json_column(row, "group_labels", inner)?,
            due_ms: column(row, "due_ms", inner)?,
            notice: json_column::<AlertNotice>(row, "notice", inner)?,
        },
        state,
        attempts: attempts.clamp(0, u32::MAX as i64) as u32,
        next_attempt_ms: column(row, "next_attempt_ms", inner)?,
        last_error: column(row, "last_error", inner)?,
        delivered_ms: column(row, "delivered_ms", inner)?,
        created_ms: column(row, "created_ms", inner)?,
        batch_key: column(row, "batch_key", inner)?,
    })
}

fn outbox_state(state: &str, inner: &Inner) -> Result<OutboxState, StoreError> {
    match state {
        "pending" => Ok(OutboxState::Pending),
        "delivered" => Ok(OutboxState::Delivered),
        "failed" => Ok(OutboxState::Failed),
        other => Err(decode_error(
            inner,
            "state",
            format!("unknown outbox state {other:?}"),
        )),
    }
}

pub(super) fn column<'r, T>(row: &'r SqliteRow, name: &str, inner: &Inner) -> Result<T, StoreError>
where
    T: sqlx::Decode<'r, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite>,
{
    row.try_get(name).map_err(|e| inner.db(e))
}

pub(super) fn json_column<T: DeserializeOwned>(
    row: &SqliteRow,
    name: &str,
    inner: &Inner,
) -> Result<T, StoreError> {
    let text: String = column(row, name, inner)?;
    serde_json::from_str(&text)
        .map_err(|e| decode_error(inner, name, format!("not the JSON Lookout writes: {e}")))
}

pub(super) fn decode_error(inner: &Inner, column: &str, message: String) -> StoreError {
    inner.db(sqlx::Error::ColumnDecode {
        index: column.to_string(),
        source: message.into(),
    })
}

pub(super) fn to_json<T: Serialize + ?Sized>(
    value: &T,
    inner: &Inner,
) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| inner.db(sqlx::Error::Encode(Box::new(e))))
}

pub(super) fn sql_limit(limit: usize) -> i64 {
    limit.min(i64::MAX as usize) as i64
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::alert::silence::SilenceState;
    use crate::clock::ManualClock;
    use crate::notify::{Category, NoticeKind};
    use crate::store::StoreOptions;

    const T0: i64 = 1_700_000_000_000;

    async fn open(dir: &std::path::Path, clock: &Arc<ManualClock>) -> Store {
        Store::open(dir, StoreOptions::default(), clock.clone())
            .await
            .expect("open store")
    }

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn notice(alert_id: &str, kind: NoticeKind, severity: Severity, at_ms: i64) -> AlertNotice {
        AlertNotice {
            alert_id: alert_id.into(),
            rule: "cpu_high".into(),
            kind,
            severity,
            previous_severity: None,
            category: Category::Resource,
            labels: labels(&[("alertname", "cpu_high"), ("host", "web1")]),
            summary: format!("CPU high ({alert_id})"),
            description: "line one\nline two".into(),
            value: "97.0%".into(),
            threshold: "95%".into(),
            since_ms: at_ms - 60_000,
            at_ms,
            runbook_url: Some("https://runbooks.example.org/cpu".into()),
            explains: Vec::new(),
            resolved_while_muted: None,
        }
    }

    fn alert(id: &str, state: &str, severity: Severity) -> StoredAlert {
        StoredAlert {
            id: id.into(),
            rule: "cpu_high".into(),
            labels: labels(&[("host", id)]),
            state: state.into(),
            severity,
            since_ms: T0 - 120_000,
            last_notified_ms: (state == "firing").then_some(T0 - 60_000),
            value: Some(97.5),
            summary: format!("CPU 97.5% on {id}"),
            muted_by: String::new(),
            acknowledged_by: None,
            acknowledged_ms: None,
            told: true,
            flapping: false,
        }
    }

    fn entry(notifier: &str, group: &str, alert_id: &str, due_ms: i64) -> OutboxEntry {
        OutboxEntry {
            notifier: notifier.into(),
            group_key: group.into(),
            group_labels: labels(&[("host", group)]),
            due_ms,
            notice: notice(alert_id, NoticeKind::Firing, Severity::Critical, T0),
        }
    }

    #[tokio::test]
    async fn alert_state_survives_a_reopen_and_removed_alerts_go() {
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::new(T0);
        let store = open(dir.path(), &clock).await;
        let (a, b) = (
            alert("a", "firing", Severity::Critical),
            alert("b", "pending", Severity::Warning),
        );
        store
            .commit_alerts(&AlertBatch {
                upserts: vec![b.clone(), a.clone()],
                ..AlertBatch::default()
            })
            .await
            .unwrap();
        store.close().await.unwrap();

        let store = open(dir.path(), &clock).await;
        assert_eq!(store.load_alerts().await.unwrap(), vec![a.clone(), b]);
        let mut b_firing = alert("b", "firing", Severity::Critical);
        b_firing.value = None;
        b_firing.muted_by = "silence s1".into();
        store
            .commit_alerts(&AlertBatch {
                upserts: vec![b_firing.clone()],
                removed: vec!["a".into()],
                ..AlertBatch::default()
            })
            .await
            .unwrap();
        store.close().await.unwrap();
        let store = open(dir.path(), &clock).await;
        assert_eq!(store.load_alerts().await.unwrap(), vec![b_firing]);
    }

    #[tokio::test]
    async fn history_is_newest_first_from_since_with_a_limit() {
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::new(T0);
        let store = open(dir.path(), &clock).await;
        let history: Vec<HistoryEntry> = (0..5)
            .map(|i| HistoryEntry {
                notice: notice(
                    &format!("a{i}"),
                    NoticeKind::Firing,
                    Severity::Warning,
                    T0 + i,
                ),
                muted_by: if i == 3 {
                    "maintenance".into()
                } else {
                    String::new()
                },
            })
            .collect();
        store
            .commit_alerts(&AlertBatch {
                history: history.clone(),
                ..AlertBatch::default()
            })
            .await
            .unwrap();
        let got = store.alert_history(T0 + 1, 3).await.unwrap();
        assert_eq!(
            got,
            vec![history[4].clone(), history[3].clone(), history[2].clone()]
        );
        assert_eq!(store.alert_history(T0 + 1, 10).await.unwrap().len(), 4);
    }

    #[tokio::test]
    async fn commit_is_all_or_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::new(T0);
        let store = open(dir.path(), &clock).await;
        // A trigger stands in for any failure in the middle of the transaction.
        sqlx::query(
            "CREATE TRIGGER reject_boom BEFORE INSERT ON outbox WHEN NEW.notifier = 'boom'
             BEGIN SELECT RAISE(ABORT, 'rejected by the test'); END",
        )
        .execute(&store.inner.pool)
        .await
        .unwrap();
        let batch = AlertBatch {
            upserts: vec![alert("a", "firing", Severity::Critical)],
            removed: vec![],
            history: vec![HistoryEntry {
                notice: notice("a", NoticeKind::Firing, Severity::Critical, T0),
                muted_by: String::new(),
            }],
            outbox: vec![
                entry("mail", "web1", "a", T0),
                entry("boom", "web1", "a", T0),
            ],
            retract: vec![],
        };
        let err = store.commit_alerts(&batch).await.unwrap_err();
        assert!(err.to_string().contains("rejected by the test"), "{err}");
        assert!(store.load_alerts().await.unwrap().is_empty());
        assert!(store.alert_history(0, 10).await.unwrap().is_empty());
        assert!(store.outbox_list(true, 10).await.unwrap().is_empty());

        // The same batch without the failing part lands whole, and a reopened store sees it.
        let mut ok = batch.clone();
        ok.outbox.pop();
        let ids = store.commit_alerts(&ok).await.unwrap();
        assert_eq!(ids.len(), 1);
        store.close().await.unwrap();
        let store = open(dir.path(), &clock).await;
        assert_eq!(store.load_alerts().await.unwrap(), ok.upserts);
        assert_eq!(store.alert_history(0, 10).await.unwrap(), ok.history);
        let rows = store.outbox_list(true, 10).await.unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].id, ids[0]);
        assert_eq!(rows[0].entry, ok.outbox[0]);
        assert_eq!(rows[0].state, OutboxState::Pending);
        assert_eq!(rows[0].created_ms, T0);
    }

    #[tokio::test]
    async fn silences_round_trip_and_expired_ones_stay_listed() {
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::new(T0);
        let store = open(dir.path(), &clock).await;
        let silence = |id: &str, matchers: &[&str], starts_ms, ends_ms| Silence {
            id: id.into(),
            matchers: matchers
                .iter()
                .map(|m| Matcher::parse(m).unwrap())
                .collect(),
            starts_ms,
            ends_ms,
            author: "ops@example.org".into(),
            comment: "deploy \"v2\"".into(),
        };
        let active = silence(
            "s1",
            &[
                "host=~\"web[0-9]+|db\"",
                "severity!~\"info\"",
                "check!=\"x\"",
            ],
            T0 - 1_000,
            T0 + 3_600_000,
        );
        let pending = silence("s2", &["rule=\"cpu_high\""], T0 + 60_000, T0 + 120_000);
        let old = silence("s0", &["host=\"web9\""], T0 - 9_000, T0 - 5_000);
        for s in [&old, &active, &pending] {
            store.add_silence(s).await.unwrap();
        }
        let dup = store.add_silence(&active).await.unwrap_err();
        assert!(dup.to_string().contains("UNIQUE"), "{dup}");
        store.close().await.unwrap();

        let store = open(dir.path(), &clock).await;
        let listed = store.silences().await.unwrap();
        assert_eq!(listed, vec![pending.clone(), active.clone(), old.clone()]);
        let web3 = labels(&[("host", "web3"), ("severity", "critical")]);
        assert!(
            listed[1].mutes(&web3, T0),
            "the regex matcher survives the round trip"
        );

        let now = T0 + 10_000;
        assert!(store.expire_silence("s1", now).await.unwrap());
        assert!(
            !store.expire_silence("s1", now + 1).await.unwrap(),
            "already expired"
        );
        assert!(
            !store.expire_silence("s0", now).await.unwrap(),
            "expired long ago"
        );
        assert!(!store.expire_silence("nope", now).await.unwrap());
        assert!(
            store.expire_silence("s2", now).await.unwrap(),
            "a pending one"
        );

        let listed = store.silences().await.unwrap();
        assert_eq!(listed.len(), 3, "expired silences are kept");
        assert!(listed.iter().all(|s| s.state(now) == SilenceState::Expired));
        assert_eq!((listed[1].starts_ms, listed[1].ends_ms), (T0 - 1_000, now));
        assert_eq!((listed[0].starts_ms, listed[0].ends_ms), (now, now));
        assert_eq!(listed[2], old);
    }

    #[tokio::test]
    async fn outbox_rows_are_due_claimed_marked_listed_and_pruned() {
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::new(T0);
        let store = open(dir.path(), &clock).await;
        let ids = store
            .commit_alerts(&AlertBatch {
                outbox: vec![
                    entry("mail", "web1", "a", T0),
                    entry("mail", "web2", "b", T0 + 30_000),
                    entry("hook", "web1", "a", T0),
                ],
                ..AlertBatch::default()
            })
            .await
            .unwrap();
        let due_ids = |rows: Vec<OutboxRow>| rows.iter().map(|r| r.id).collect::<Vec<_>>();
        // Something is due: every pending row, for the outbox to plan with, up to the limit.
        assert_eq!(due_ids(store.outbox_due(T0, 10).await.unwrap()), ids);
        assert_eq!(
            due_ids(store.outbox_due(T0, 1).await.unwrap()),
            vec![ids[0]]
        );
        assert!(store.outbox_due(T0 - 1, 10).await.unwrap().is_empty());
        let mut alerts = store.outbox_pending_alerts().await.unwrap();
        alerts.sort();
        assert_eq!(
            alerts,
            [("hook", "a"), ("mail", "a"), ("mail", "b")]
                .map(|(n, a)| (n.to_string(), a.to_string()))
        );
        assert_eq!(store.outbox_next_wakeup().await.unwrap(), Some(T0));

        // A claim pushes the next attempt back and records the batch key.
        let claimed = store
            .outbox_claim(&[ids[2], ids[0]], T0, T0 + 5_000, "k1")
            .await
            .unwrap();
        assert_eq!(claimed, vec![ids[0], ids[2]]);
        assert!(store.outbox_due(T0 + 4_999, 10).await.unwrap().is_empty());
        assert_eq!(store.outbox_next_wakeup().await.unwrap(), Some(T0 + 5_000));
        let due = store.outbox_due(T0 + 30_000, 10).await.unwrap();
        assert_eq!(due_ids(due.clone()), ids);
        assert_eq!((due[0].attempts, due[0].next_attempt_ms), (1, T0 + 5_000));
        assert_eq!(due[0].batch_key.as_deref(), Some("k1"));
        assert_eq!(due[1].batch_key, None);

        assert_eq!(
            store
                .outbox_retry(&[ids[0]], "refused", T0 + 10_000)
                .await
                .unwrap(),
            1
        );
        assert_eq!(
            store.outbox_delivered(&[ids[2]], T0 + 1_000).await.unwrap(),
            1
        );
        clock.set(T0 + 2_000);
        assert_eq!(
            store
                .outbox_failed(&[ids[1]], "notifier mail is not configured")
                .await
                .unwrap(),
            1
        );
        // Finished rows are not claimed or marked again.
        assert!(
            store
                .outbox_claim(&[ids[1], ids[2]], T0, T0, "k2")
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(store.outbox_delivered(&[ids[1]], T0).await.unwrap(), 0);

        let all = store.outbox_list(true, 10).await.unwrap();
        assert_eq!(due_ids(all.clone()), vec![ids[2], ids[1], ids[0]]);
        assert_eq!(all[0].state, OutboxState::Delivered);
        assert_eq!(all[0].delivered_ms, Some(T0 + 1_000));
        assert_eq!(all[1].state, OutboxState::Failed);
        assert_eq!(
            all[1].last_error.as_deref(),
            Some("notifier mail is not configured")
        );
        assert_eq!(all[2].state, OutboxState::Pending);
        assert_eq!(all[2].last_error.as_deref(), Some("refused"));
        assert_eq!(all[2].next_attempt_ms, T0 + 10_000);
        assert_eq!(
            due_ids(store.outbox_list(false, 10).await.unwrap()),
            vec![ids[1], ids[0]]
        );

        // What became of each notice, per notifier, for `alerts history`.
        let deliveries = store.notice_deliveries(T0).await.unwrap();
        let states: Vec<(&str, &str, OutboxState, u32)> = deliveries
            .iter()
            .map(|d| {
                (
                    d.notifier.as_str(),
                    d.alert_id.as_str(),
                    d.state,
                    d.attempts,
                )
            })
            .collect();
        assert_eq!(
            states,
            [
                ("mail", "a", OutboxState::Pending, 1),
                ("mail", "b", OutboxState::Failed, 0),
                ("hook", "a", OutboxState::Delivered, 1),
            ]
        );
        assert_eq!(deliveries[0].last_error.as_deref(), Some("refused"));
        assert_eq!(
            (deliveries[0].at_ms, deliveries[0].kind.as_str()),
            (T0, "firing")
        );
        assert!(store.notice_deliveries(T0 + 1).await.unwrap().is_empty());

        // Pruning goes by when rows finished and never touches pending ones.
        assert_eq!(store.outbox_prune(T0 + 1_000).await.unwrap(), 0);
        assert_eq!(store.outbox_prune(T0 + 1_001).await.unwrap(), 1);
        assert_eq!(store.outbox_prune(i64::MAX).await.unwrap(), 1);
        assert_eq!(
            due_ids(store.outbox_list(true, 10).await.unwrap()),
            vec![ids[0]]
        );
    }

    #[tokio::test]
    async fn still_firing_is_the_latest_delivered_notice_of_each_firing_alert() {
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::new(T0);
        let store = open(dir.path(), &clock).await;
        // alert() fires since T0 - 120 s; notice(.., at) started at `at` - 60 s.
        let told = T0 - 60_000;
        let row = |notifier: &str, id: &str, kind: NoticeKind, severity: Severity, at: i64| {
            let mut entry = entry(notifier, "web1", id, T0);
            entry.notice = notice(id, kind, severity, at);
            entry
        };
        let ids = store
            .commit_alerts(&AlertBatch {
                upserts: vec![
                    alert("a", "firing", Severity::Critical),
                    alert("b", "firing", Severity::Critical),
                    alert("c", "pending", Severity::Warning),
                    alert("e", "firing", Severity::Critical),
                ],
                outbox: vec![
                    row("am", "a", NoticeKind::Firing, Severity::Warning, told),
                    row("am", "a", NoticeKind::Escalated, Severity::Critical, told),
                    // An earlier firing of b, told before it resolved unseen (muted).
                    row(
                        "am",
                        "b",
                        NoticeKind::Firing,
                        Severity::Critical,
                        T0 - 600_000,
                    ),
                    row("am", "c", NoticeKind::Firing, Severity::Warning, told),
                    // d resolved: no alert row.
                    row("am", "d", NoticeKind::Firing, Severity::Critical, told),
                    // e's firing is not delivered yet.
                    row("am", "e", NoticeKind::Firing, Severity::Critical, told),
                    row("mail", "b", NoticeKind::Firing, Severity::Critical, told),
                ],
                ..AlertBatch::default()
            })
            .await
            .unwrap();
        store.outbox_delivered(&ids[..5], T0).await.unwrap();
        store.outbox_delivered(&ids[6..], T0).await.unwrap();
        let shown = |notices: Vec<AlertNotice>| -> Vec<(String, NoticeKind)> {
            notices.into_iter().map(|n| (n.alert_id, n.kind)).collect()
        };
        assert_eq!(
            shown(store.outbox_still_firing("am").await.unwrap()),
            vec![("a".to_string(), NoticeKind::Escalated)]
        );
        assert_eq!(
            shown(store.outbox_still_firing("mail").await.unwrap()),
            vec![("b".to_string(), NoticeKind::Firing)]
        );
        assert!(store.outbox_still_firing("hook").await.unwrap().is_empty());

        // Past the retention, the latest delivered row of a live alert stays for the resends;
        // the rest goes.
        clock.advance(std::time::Duration::from_secs(8 * 86_400));
        let stats = store.maintain().await.unwrap();
        assert_eq!(stats.expired_outbox_rows, 2, "a's firing and d's");
        assert_eq!(
            shown(store.outbox_still_firing("am").await.unwrap()),
            vec![("a".to_string(), NoticeKind::Escalated)]
        );
        assert_eq!(
            shown(store.outbox_still_firing("mail").await.unwrap()),
            vec![("b".to_string(), NoticeKind::Firing)]
        );
    }

    #[tokio::test]
    async fn maintenance_drops_old_finished_notifications_and_keeps_pending_ones() {
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::new(T0);
        let store = open(dir.path(), &clock).await;
        let ids = store
            .commit_alerts(&AlertBatch {
                outbox: vec![
                    entry("mail", "web1", "a", T0),
                    entry("mail", "web2", "b", T0),
                ],
                history: vec![HistoryEntry {
                    notice: notice("a", NoticeKind::Firing, Severity::Critical, T0),
                    muted_by: String::new(),
                }],
                ..AlertBatch::default()
            })
            .await
            .unwrap();
        store.outbox_delivered(&[ids[0]], T0).await.unwrap();
        clock.advance(std::time::Duration::from_secs(8 * 86_400));
        let stats = store.maintain().await.unwrap();
        assert_eq!(
            stats.expired_outbox_rows, 1,
            "delivered 8 days ago: past raw retention"
        );
        let left: Vec<i64> = store
            .outbox_list(true, 10)
            .await
            .unwrap()
            .iter()
            .map(|r| r.id)
            .collect();
        assert_eq!(left, vec![ids[1]], "a pending row is never dropped");
        assert_eq!(
            store.alert_history(0, 10).await.unwrap().len(),
            1,
            "history is kept 2 years"
        );
    }

    #[tokio::test]
    async fn a_lease_has_one_holder_until_it_expires_is_released_or_its_holder_is_gone() {
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::new(T0);
        let store = open(dir.path(), &clock).await;
        let alive = |_: &str| false;
        assert_eq!(
            store
                .acquire_lease("alerting", "a", 30_000, alive)
                .await
                .unwrap(),
            None
        );
        assert_eq!(
            store
                .acquire_lease("alerting", "b", 30_000, alive)
                .await
                .unwrap(),
            Some("a".to_string())
        );
        assert_eq!(
            store
                .acquire_lease("alerting", "a", 30_000, alive)
                .await
                .unwrap(),
            None,
            "renewal"
        );
        assert_eq!(
            store
                .acquire_lease("alerting", "b", 30_000, |h| h == "a")
                .await
                .unwrap(),
            None,
            "a holder that is gone is taken over"
        );
        clock.advance(std::time::Duration::from_secs(31));
        assert_eq!(
            store
                .acquire_lease("alerting", "a", 30_000, alive)
                .await
                .unwrap(),
            None,
            "expired"
        );
        store.release_lease("alerting", "b").await.unwrap();
        assert_eq!(
            store
                .acquire_lease("alerting", "b", 30_000, alive)
                .await
                .unwrap(),
            Some("a".to_string()),
            "only the holder can release"
        );
        store.release_lease("alerting", "a").await.unwrap();
        assert_eq!(
            store
                .acquire_lease("alerting", "b", 30_000, alive)
                .await
                .unwrap(),
            None
        );
    }

    #[tokio::test]
    async fn the_due_query_uses_the_pending_index() {
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::new(T0);
        let store = open(dir.path(), &clock).await;
        let plan: Vec<(i64, i64, i64, String)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "EXPLAIN QUERY PLAN {}",
            due_sql()
        )))
        .bind(T0)
        .bind(10)
        .fetch_all(&store.inner.pool)
        .await
        .unwrap();
        let plan: Vec<String> = plan.into_iter().map(|r| r.3).collect();
        assert!(
            plan.iter()
                .filter(|d| d.starts_with("SCAN outbox") || d.starts_with("SEARCH outbox"))
                .all(|d| d.contains("INDEX outbox_pending")),
            "only pending rows are read: {plan:?}"
        );
        let plan: Vec<(i64, i64, i64, String)> = sqlx::query_as(
            "EXPLAIN QUERY PLAN SELECT min(max(due_ms, next_attempt_ms)) FROM outbox
             WHERE state = 'pending'",
        )
        .fetch_all(&store.inner.pool)
        .await
        .unwrap();
        let plan: Vec<String> = plan.into_iter().map(|r| r.3).collect();
        assert!(
            plan.iter()
                .any(|d| d.contains("COVERING INDEX outbox_pending")),
            "{plan:?}"
        );
    }
}
