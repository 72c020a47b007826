//! Notices held in memory while the store cannot write (a full or read-only disk, a damaged
//! file): the outbox's fallback, so that an alert raised during the episode still reaches
//! people.
//!
//! The alert loop commits each decision (state, history, outbox rows) in one transaction.
//! When that commit fails, it hands the batch's outbox rows here (`hold`) and keeps the rest
//! to commit later. The outbox worker (`Outbox::deliver_held`, every pass) first tries to
//! write the held rows back to the store as they stand (`Store::outbox_adopt`): pending ones
//! as pending (with their attempts and batch key, so a retry keeps its idempotency key),
//! delivered and failed ones as such. Only while that fails does it send the due ones from
//! here, with the same grouping (`plan`), claim-before-send, backoff and give-up rules as the
//! store's rows. Invariants:
//!
//! - **Never twice.** A held row is either adopted by the store (then forgotten here, and sent
//!   only by the store's path) or sent from here (then adopted as delivered, which nothing
//!   sends again). Both steps run in the one worker task, one after the other, so they cannot
//!   overlap; the alert loop only adds rows and withdraws rows never attempted.
//! - **Bounded.** At most [`MAX_HELD`] rows; past it the oldest go, logged and counted
//!   (`dropped`). Held rows live only in memory: a restart during the episode loses those not
//!   adopted yet (the store could not have kept them either).
//! - **In order.** The rows of an alert that still has older rows pending in the store wait
//!   here (and go to the store with the others): the store's rows cannot be sent while it
//!   cannot write, and a newer notice must not overtake them. Keys are digests of the message
//!   content, so a held batch adopted by the store keeps its key.
//! - Held rows get negative ids, never equal to the store's (positive) row ids.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use crate::alert::records::{OutboxEntry, OutboxRow, OutboxState};
use crate::clock::UnixMillis;

/// At most this many rows are held; the oldest go first.
pub const MAX_HELD: usize = 1_000;

/// The held rows, shared by the alert loop (which holds and withdraws) and the outbox worker
/// (which sends, marks and hands them back to the store). Survives reloads: the daemon keeps
/// one for every outbox worker it starts.
#[derive(Debug, Default)]
pub struct HeldOutbox {
    rows: tokio::sync::Mutex<Held>,
    /// Mirrors of the counts, readable without the lock (for /metrics and /healthz).
    len: AtomicUsize,
    dropped: AtomicU64,
}

impl HeldOutbox {
    /// Rows held now.
    pub fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Rows dropped so far because `MAX_HELD` were held.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Holds the rows of a batch that could not be committed, created at `now_ms`.
    pub async fn hold(&self, entries: Vec<OutboxEntry>, now_ms: UnixMillis) {
        if entries.is_empty() {
            return;
        }
        let mut held = self.rows.lock().await;
        let dropped = held.hold(entries, now_ms);
        if dropped > 0 {
            tracing::error!(
                dropped,
                "outbox: too many notices held in memory while the store cannot write; the oldest were dropped"
            );
        }
        self.sync(&held);
    }

    /// Withdraws the rows never attempted of these alerts (as `AlertBatch::retract` does in
    /// the store).
    pub async fn retract(&self, alert_ids: &[String]) {
        if alert_ids.is_empty() || self.is_empty() {
            return;
        }
        let mut held = self.rows.lock().await;
        held.retract(alert_ids);
        self.sync(&held);
    }

    /// Runs `f` on the rows under the lock (the outbox worker's steps).
    pub(super) async fn with<T>(&self, f: impl FnOnce(&mut Held) -> T) -> T {
        let mut held = self.rows.lock().await;
        let out = f(&mut held);
        self.sync(&held);
        out
    }

    fn sync(&self, held: &Held) {
        self.len.store(held.rows.len(), Ordering::Relaxed);
        self.dropped.store(held.dropped, Ordering::Relaxed);
    }
}

/// The rows themselves; pure, so every step is tested with tables.
#[derive(Debug, Default)]
pub struct Held {
    rows: VecDeque<OutboxRow>,
    /// The id the next row gets: -1, -2, ...
    last_id: i64,
    dropped: u64,
}

impl Held {
    /// Holds `entries` as pending rows created at `now_ms`; returns how many old rows were
    /// dropped to stay within [`MAX_HELD`].
    pub fn hold(&mut self, entries: Vec<OutboxEntry>, now_ms: UnixMillis) -> usize {
        for entry in entries {
            self.last_id -= 1;
            self.rows.push_back(OutboxRow {
                id: self.last_id,
                next_attempt_ms: entry.due_ms,
                entry,
                state: OutboxState::Pending,
                attempts: 0,
                last_error: None,
                delivered_ms: None,
                created_ms: now_ms,
                batch_key: None,
            });
        }
        let over = self.rows.len().saturating_sub(MAX_HELD);
        self.rows.drain(..over);
        self.dropped += over as u64;
        over
    }

    pub fn retract(&mut self, alert_ids: &[String]) {
        self.rows.retain(|r| {
            !(r.state == OutboxState::Pending
                && r.attempts == 0
                && alert_ids.contains(&r.entry.notice.alert_id))
        });
    }

    /// A copy of every row, to hand to the store.
    pub fn rows(&self) -> Vec<OutboxRow> {
        self.rows.iter().cloned().collect()
    }

    /// Forgets the rows the store adopted.
    pub fn forget(&mut self, ids: &[i64]) {
        self.rows.retain(|r| !ids.contains(&r.id));
    }

    /// The batches due at `now_ms`, by the store's rules (`plan::due_batches`: claimed rows
    /// together, an alert's older rows with its newer ones). The rows of the alerts in
    /// `waiting` ((notifier, alert id) with older rows pending in the store) are left out: they
    /// go to the store and out in order from there.
    pub fn due_groups(
        &self,
        now_ms: UnixMillis,
        waiting: &[(String, String)],
    ) -> Vec<Vec<OutboxRow>> {
        let rows: Vec<OutboxRow> = self
            .rows
            .iter()
            .filter(|r| {
                !waiting
                    .iter()
                    .any(|(n, a)| *n == r.entry.notifier && *a == r.entry.notice.alert_id)
            })
            .cloned()
            .collect();
        super::plan::due_batches(&rows, now_ms, usize::MAX)
    }

    /// Before a send: one more attempt, no other before `next_attempt_ms`, the batch key kept.
    pub fn claim(&mut self, ids: &[i64], next_attempt_ms: UnixMillis, batch_key: &str) {
        for row in self.pending_mut(ids) {
            row.attempts += 1;
            row.next_attempt_ms = next_attempt_ms;
            row.batch_key = Some(batch_key.to_string());
        }
    }

    pub fn delivered(&mut self, ids: &[i64], now_ms: UnixMillis) {
        for row in self.pending_mut(ids) {
            row.state = OutboxState::Delivered;
            row.delivered_ms = Some(now_ms);
        }
    }

    pub fn failed(&mut self, ids: &[i64], error: &str) {
        for row in self.pending_mut(ids) {
            row.state = OutboxState::Failed;
            row.last_error = Some(error.to_string());
        }
    }

    pub fn retry(&mut self, ids: &[i64], error: &str, next_attempt_ms: UnixMillis) {
        for row in self.pending_mut(ids) {
            row.last_error = Some(error.to_string());
            row.next_attempt_ms = next_attempt_ms;
        }
    }

    fn pending_mut<'a>(&'a mut self, ids: &'a [i64]) -> impl Iterator<Item = &'a mut OutboxRow> {
        self.rows
            .iter_mut()
            .filter(move |r| r.state == OutboxState::Pending && ids.contains(&r.id))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::model::{AlertNotice, Category, NoticeKind, Severity};

    fn entry(alert: &str, notifier: &str, due_ms: UnixMillis) -> OutboxEntry {
        OutboxEntry {
            notifier: notifier.into(),
            group_key: "{}".into(),
            group_labels: BTreeMap::new(),
            due_ms,
            notice: AlertNotice {
                alert_id: alert.into(),
                rule: "check_failed".into(),
                labels: BTreeMap::new(),
                kind: NoticeKind::Firing,
                severity: Severity::Critical,
                previous_severity: None,
                category: Category::Failure,
                summary: format!("{alert} is critical"),
                description: String::new(),
                value: "critical".into(),
                threshold: String::new(),
                since_ms: 0,
                at_ms: 0,
                runbook_url: None,
                explains: Vec::new(),
                resolved_while_muted: None,
            },
        }
    }

    fn ids(groups: &[Vec<OutboxRow>]) -> Vec<Vec<i64>> {
        groups
            .iter()
            .map(|g| g.iter().map(|r| r.id).collect())
            .collect()
    }

    #[test]
    fn held_rows_go_out_when_due_and_each_outcome_is_kept() {
        let mut held = Held::default();
        held.hold(vec![entry("a", "mail", 100), entry("b", "mail", 100)], 50);
        held.hold(vec![entry("c", "hook", 300)], 60);
        // (now, due groups)
        let steps: [(UnixMillis, Vec<Vec<i64>>); 3] = [
            (99, vec![]),
            (100, vec![vec![-1, -2]]),
            (300, vec![vec![-1, -2], vec![-3]]),
        ];
        for (now, expected) in steps {
            assert_eq!(ids(&held.due_groups(now, &[])), expected, "at {now}");
        }

        held.claim(&[-1, -2], 5_300, "lookout-k");
        assert_eq!(
            ids(&held.due_groups(300, &[])),
            vec![vec![-3]],
            "claimed: waits"
        );
        held.retry(&[-1, -2], "timeout", 5_300);
        let again = held.due_groups(5_300, &[]);
        assert_eq!(ids(&again), vec![vec![-1, -2], vec![-3]]);
        assert_eq!(again[0][0].batch_key.as_deref(), Some("lookout-k"));
        assert_eq!(again[0][0].attempts, 1);

        held.delivered(&[-1, -2], 5_400);
        held.failed(&[-3], "permanent error: 550");
        assert!(held.due_groups(10_000, &[]).is_empty());
        let rows = held.rows();
        assert_eq!(rows[0].state, OutboxState::Delivered);
        assert_eq!(rows[0].delivered_ms, Some(5_400));
        assert_eq!(rows[2].state, OutboxState::Failed);
        // A delivered row is never marked again.
        held.retry(&[-1], "late", 9_000);
        assert_eq!(held.rows()[0].state, OutboxState::Delivered);

        held.forget(&[-1, -3]);
        assert_eq!(held.rows().iter().map(|r| r.id).collect::<Vec<_>>(), [-2]);
    }

    #[test]
    fn a_newer_held_notice_takes_the_older_one_along_or_waits_for_the_store() {
        let mut held = Held::default();
        held.hold(vec![entry("a", "mail", 0)], 0);
        held.claim(&[-1], 5_000, "lookout-k1");
        held.retry(&[-1], "503", 5_000);
        let mut resolved = entry("a", "mail", 100);
        resolved.notice.kind = NoticeKind::Resolved;
        resolved.notice.at_ms = 100;
        held.hold(vec![resolved], 100);
        assert_eq!(
            ids(&held.due_groups(100, &[])),
            vec![vec![-1, -2]],
            "the resolution goes with the firing still in its backoff, never before it"
        );
        assert!(
            held.due_groups(100, &[("mail".to_string(), "a".to_string())])
                .is_empty(),
            "older rows of the alert in the store: the held ones wait for them"
        );
        assert_eq!(
            ids(&held.due_groups(100, &[("hook".to_string(), "a".to_string())])),
            vec![vec![-1, -2]],
            "another notifier's rows do not hold these"
        );
    }

    #[test]
    fn retract_withdraws_only_rows_never_attempted() {
        let mut held = Held::default();
        held.hold(
            vec![
                entry("a", "mail", 0),
                entry("a", "hook", 0),
                entry("b", "mail", 0),
            ],
            0,
        );
        held.claim(&[-2], 5_000, "k");
        held.retract(&["a".to_string()]);
        assert_eq!(
            held.rows().iter().map(|r| r.id).collect::<Vec<_>>(),
            [-2, -3],
            "the attempted row of a may have reached its receiver: kept"
        );
    }

    #[test]
    fn past_the_bound_the_oldest_rows_go_and_are_counted() {
        let mut held = Held::default();
        let dropped = held.hold(
            (0..MAX_HELD + 5)
                .map(|i| entry(&format!("a{i}"), "mail", 0))
                .collect(),
            0,
        );
        assert_eq!(dropped, 5);
        assert_eq!(held.dropped, 5);
        let rows = held.rows();
        assert_eq!(rows.len(), MAX_HELD);
        assert_eq!(rows[0].entry.notice.alert_id, "a5");
    }
}
