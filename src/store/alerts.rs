//! The alert engine's persistent state (tables of migration 0002): live alerts and the history
//! of notices. The engine writes one evaluation's decisions with `commit_alerts` in one
//! transaction (state, history and the outbox rows of `outbox`), so they never disagree after a
//! crash. Silences, leases and the outbox queue have files of their own (`silences`, `leases`,
//! `outbox`); row helpers are in `rows`. Plain data in, plain data out: no alerting logic here.

use std::collections::BTreeMap;

use serde::Serialize;
use sqlx::Connection;
use sqlx::sqlite::{SqliteConnection, SqliteRow};

use super::outbox::{insert_outbox, outbox_state};
use super::rows::{
    column, decode_error, json_column, json_opt_column, opt_json, sql_limit, to_json,
};
use super::{Inner, Store, StoreError};
use crate::alert::Severity;
use crate::alert::records::{AlertBatch, HistoryEntry, OutboxState, StoredAlert};
use crate::clock::UnixMillis;

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
        if entry.muted_by.is_some() {
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

    /// Every pending or firing alert, by id.
    pub async fn load_alerts(&self) -> Result<Vec<StoredAlert>, StoreError> {
        self.inner.check_open()?;
        let inner = &*self.inner;
        let rows = sqlx::query(
            "SELECT id, rule, labels, state, severity, since_ms, last_notified_ms, value,
                    summary, mute, told, acknowledged_by, acknowledged_ms
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
            "SELECT notice, untold FROM alert_history WHERE at_ms >= ?
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
                    muted_by: json_opt_column(row, "untold", inner)?,
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
}

async fn upsert_alert(
    tx: &mut SqliteConnection,
    alert: &StoredAlert,
    inner: &Inner,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO alerts (id, rule, labels, state, severity, since_ms, last_notified_ms, value,
                             summary, mute, told, acknowledged_by, acknowledged_ms)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (id) DO UPDATE SET rule = excluded.rule, labels = excluded.labels,
             state = excluded.state, severity = excluded.severity, since_ms = excluded.since_ms,
             last_notified_ms = excluded.last_notified_ms, value = excluded.value,
             summary = excluded.summary, mute = excluded.mute, told = excluded.told,
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
    .bind(opt_json(alert.muted_by.as_ref(), inner)?)
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
        "INSERT INTO alert_history (at_ms, rule, alert_id, kind, severity, untold, notice)
         VALUES (?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(n.at_ms)
    .bind(&n.rule)
    .bind(&n.alert_id)
    .bind(n.kind.as_str())
    .bind(n.severity.as_str())
    .bind(opt_json(entry.muted_by.as_ref(), inner)?)
    .bind(to_json(n, inner)?)
    .execute(&mut *tx)
    .await
    .map_err(|e| inner.db(e))?;
    Ok(())
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
        muted_by: json_opt_column(row, "mute", inner)?,
        told: column(row, "told", inner)?,
        flapping: false,
        acknowledged_by: column(row, "acknowledged_by", inner)?,
        acknowledged_ms: column(row, "acknowledged_ms", inner)?,
    })
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use super::*;
    use crate::alert::mute::text;

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
        b_firing.muted_by = Some(MuteReason::Silence { id: "s1".into() });
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
                muted_by: (i == 3).then(|| {
                    MuteReason::Maintenance {
                        detail: String::new(),
                    }
                    .into()
                }),
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

    /// Migration 0007: a store written by the version before (schema 6, mute reasons as words)
    /// opens with each reason read into its kind, shown in the same words; the maintenance
    /// report finds the notices maintenance muted by that kind.
    #[tokio::test]
    async fn a_schema_6_store_keeps_what_its_mute_words_meant() {
        use sqlx::sqlite::SqliteConnectOptions;

        use crate::alert::mute::{GateHold, Untold};

        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::new(T0);
        let options = SqliteConnectOptions::new()
            .filename(dir.path().join(super::super::DB_FILE))
            .create_if_missing(true);
        let mut conn = SqliteConnection::connect_with(&options).await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "PRAGMA application_id = {}",
            super::super::APPLICATION_ID
        )))
        .execute(&mut conn)
        .await
        .unwrap();
        super::super::open::migrator()
            .run_direct(Some(6), &mut conn, false)
            .await
            .unwrap();

        let maintenance = |detail: &str| MuteReason::Maintenance {
            detail: detail.into(),
        };
        let inhibited = |rule: &str, check: Option<&str>| MuteReason::Inhibited {
            rule: rule.into(),
            check: check.map(str::to_string),
        };
        // (the words schema 6 stored for a live alert, what they meant)
        let alerts: Vec<(&str, Option<MuteReason>)> = vec![
            ("", None),
            (
                "silenced by s1",
                Some(MuteReason::Silence { id: "s1".into() }),
            ),
            (
                "inhibited by check_failed{check=db}",
                Some(inhibited("check_failed", Some("db"))),
            ),
            ("inhibited by cpu_high", Some(inhibited("cpu_high", None))),
            (
                "held: monitoring connectivity lost",
                Some(MuteReason::Gate {
                    hold: GateHold::Lost,
                }),
            ),
            (
                "held: connectivity back, re-checking",
                Some(MuteReason::Gate {
                    hold: GateHold::Returning,
                }),
            ),
            (
                "maintenance (normal mode: upgrade, planned until 2023-11-14T23:00:00.000Z)",
                Some(maintenance(
                    "(normal mode: upgrade, planned until 2023-11-14T23:00:00.000Z)",
                )),
            ),
            ("maintenance", Some(maintenance(""))),
            (
                "flapping: 7 changes in 1m 30s",
                Some(MuteReason::Flapping {
                    changes: 7,
                    over: "1m 30s".into(),
                }),
            ),
            (
                "silence abc",
                Some(MuteReason::Recorded {
                    text: "silence abc".into(),
                }),
            ),
        ];
        for (i, (words, _)) in alerts.iter().enumerate() {
            sqlx::query(
                "INSERT INTO alerts (id, rule, labels, state, severity, since_ms, last_notified_ms,
                                     value, summary, muted_by, told, acknowledged_by,
                                     acknowledged_ms)
                 VALUES (?, 'cpu_high', '{}', 'firing', 'critical', ?, ?, NULL, 'CPU high', ?, 1,
                         NULL, NULL)",
            )
            .bind(format!("a{i:02}"))
            .bind(T0)
            .bind(T0)
            .bind(*words)
            .execute(&mut conn)
            .await
            .unwrap();
        }
        // (the words schema 6 stored for a notice not sent, why it was not)
        let history: Vec<(&str, Option<Untold>)> = vec![
            ("", None),
            (
                "maintenance ended at 2023-11-14T22:10:00.000Z (grace 2m, until 2023-11-14T22:12:00.000Z)",
                Some(maintenance(
                    "ended at 2023-11-14T22:10:00.000Z (grace 2m, until 2023-11-14T22:12:00.000Z)",
                ).into()),
            ),
            (
                "silenced by s2",
                Some(MuteReason::Silence { id: "s2".into() }.into()),
            ),
            (
                "inhibited by check_failed{check=db} (withdrawn before sending)",
                Some(Untold::Withdrawn {
                    reason: inhibited("check_failed", Some("db")),
                }),
            ),
            (
                "held: monitoring connectivity lost (withdrawn before sending)",
                Some(Untold::Withdrawn {
                    reason: MuteReason::Gate {
                        hold: GateHold::Lost,
                    },
                }),
            ),
            (
                "resolved before its firing went out",
                Some(Untold::ResolvedBeforeFiringSent),
            ),
            ("send_resolved = false", Some(Untold::SendResolvedOff)),
            ("its firing was not told", Some(Untold::FiringNotTold)),
            (
                "continues the firing told before (its resolution was withdrawn before it went out)",
                Some(Untold::ContinuesFiring),
            ),
            (
                "Maintenance by hand",
                Some(
                    MuteReason::Recorded {
                        text: "Maintenance by hand".into(),
                    }
                    .into(),
                ),
            ),
        ];
        for (i, (words, _)) in history.iter().enumerate() {
            let at_ms = T0 + i as i64;
            let n = notice(
                &format!("h{i:02}"),
                NoticeKind::Firing,
                Severity::Critical,
                at_ms,
            );
            sqlx::query(
                "INSERT INTO alert_history (at_ms, rule, alert_id, kind, severity, muted_by, notice)
                 VALUES (?, ?, ?, 'firing', 'critical', ?, ?)",
            )
            .bind(at_ms)
            .bind(&n.rule)
            .bind(&n.alert_id)
            .bind(*words)
            .bind(serde_json::to_string(&n).unwrap())
            .execute(&mut conn)
            .await
            .unwrap();
        }
        conn.close().await.unwrap();

        let store = open(dir.path(), &clock).await;
        let loaded = store.load_alerts().await.unwrap();
        assert_eq!(loaded.len(), alerts.len());
        for (alert, (words, meant)) in loaded.iter().zip(&alerts) {
            assert_eq!(&alert.muted_by, meant, "{words:?}");
            assert_eq!(text(alert.muted_by.as_ref()), *words, "the same words");
        }
        let mut read = store.alert_history(T0, 100).await.unwrap();
        read.reverse();
        assert_eq!(read.len(), history.len());
        for (entry, (words, meant)) in read.iter().zip(&history) {
            assert_eq!(&entry.muted_by, meant, "{words:?}");
            assert_eq!(text(entry.muted_by.as_ref()), *words, "the same words");
        }
        let muted = store.maintenance_muted(T0, T0 + 100).await.unwrap();
        assert_eq!(
            muted,
            vec![read[1].clone()],
            "by kind, not by its first word"
        );
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
                muted_by: None,
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
}
