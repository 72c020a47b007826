//! The notification outbox in the store (table `outbox`): rows the alert engine queued, claimed
//! by the outbox worker (`notify::outbox`) when due, marked delivered, retried or failed,
//! listed, and pruned by retention. Plain data in, plain data out.

use sqlx::Connection;
use sqlx::sqlite::{SqliteConnection, SqliteRow};

use super::rows::{column, decode_error, json_column, sql_limit, to_json};
use super::{Inner, Store, StoreError};
use crate::alert::records::{OutboxEntry, OutboxRow, OutboxState};
use crate::clock::UnixMillis;
use crate::model::AlertNotice;

/// Deletes the finished outbox rows older than ?1, except, for each alert still pending or
/// firing, the latest row delivered to each notifier: `outbox_still_firing` re-sends it, so an
/// alert firing longer than the retention (acknowledged: no repeats) is not forgotten.
pub(super) const PRUNE_OUTBOX_SQL: &str = "DELETE FROM outbox
     WHERE state <> 'pending' AND finished_ms < ?1
       AND id NOT IN (SELECT max(id) FROM outbox
                      WHERE state = 'delivered'
                        AND json_extract(notice, '$.alert_id') IN (SELECT id FROM alerts)
                      GROUP BY notifier, json_extract(notice, '$.alert_id'))";

pub(super) const OUTBOX_COLUMNS: &str = "id, notifier, group_key, group_labels, due_ms, notice, state, \
     attempts, next_attempt_ms, last_error, delivered_ms, created_ms, batch_key";

/// The due query of `outbox_due` (?1: now, ?2: limit).
pub(super) fn due_sql() -> String {
    format!(
        "SELECT {OUTBOX_COLUMNS} FROM outbox
         WHERE state = 'pending'
           AND (SELECT min(max(due_ms, next_attempt_ms)) FROM outbox
                WHERE state = 'pending') <= ?1
         ORDER BY id LIMIT ?2"
    )
}

pub(super) async fn insert_outbox(
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

pub(super) fn outbox_from_row(row: &SqliteRow, inner: &Inner) -> Result<OutboxRow, StoreError> {
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

pub(super) fn outbox_state(state: &str, inner: &Inner) -> Result<OutboxState, StoreError> {
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

impl Store {
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

    pub(super) async fn finish(
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

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use super::*;

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
                    muted_by: None,
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
