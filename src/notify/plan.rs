//! Which pending outbox rows go out together in one pass, in which order, and under which
//! idempotency key. Pure (rows and `now` in, batches out), so the store's rows and the rows
//! held in memory (`held`) follow the very same rules, tested with tables.
//!
//! Rules, for the rows of one notifier:
//!
//! - **Due.** A pass starts from the rows whose due time and next attempt have come (at most
//!   `limit` of them, oldest first). A due row never tried takes along the rows of its group
//!   never tried either, even those not due yet: alerts that start while a batch is open join
//!   that message instead of trailing it by their own group wait.
//! - **Per-alert order.** A row takes along every older pending row of the same alert (older
//!   by decision time, then by id), even one waiting for its backoff: a notifier is never told
//!   an alert's newer notice before an older one, so a stale state cannot arrive last. The
//!   notices of one alert then go out in one message, oldest first (`message_notices`); the
//!   renderers collapse them to the net state ("flapped 3 times, now firing"), the webhook
//!   JSON lists each one.
//! - **Together once claimed.** Rows claimed together (the same recorded batch key) are always
//!   sent together again, so a retry is the same message.
//! - **One key per content.** The idempotency key is a digest of the message itself
//!   (`idempotency_key`): a retry of the same rows is byte-for-byte the same message under the
//!   same key; a batch whose rows changed (a newer notice of one of its alerts joined it) is a
//!   different message and gets a different key. A key never stands for two contents.

use std::collections::{BTreeMap, BTreeSet};

use crate::alert::records::{OutboxRow, OutboxState};
use crate::clock::UnixMillis;
use crate::model::AlertNotice;
use crate::notifiers::GroupMessage;

/// The batches of one pass: each a list of rows of one notifier to send as one message.
/// `pending` is every pending row there is (others are ignored); only batches holding at
/// least one due row are returned, each in the order the rows were written, the batches by
/// their first row.
pub fn due_batches(pending: &[OutboxRow], now_ms: UnixMillis, limit: usize) -> Vec<Vec<OutboxRow>> {
    let mut rows: Vec<&OutboxRow> = pending
        .iter()
        .filter(|r| r.state == OutboxState::Pending)
        .collect();
    rows.sort_by_key(|r| r.id.unsigned_abs());
    let due = |r: &OutboxRow| r.entry.due_ms <= now_ms && r.next_attempt_ms <= now_ms;
    let fresh = |r: &OutboxRow| r.batch_key.is_none() && r.attempts == 0;

    let mut chosen: BTreeSet<usize> = rows
        .iter()
        .enumerate()
        .filter(|(_, r)| due(r))
        .map(|(i, _)| i)
        .take(limit)
        .collect();
    if chosen.is_empty() {
        return Vec::new();
    }
    // Fresh due rows take along the fresh rows of their group.
    let fresh_groups: BTreeSet<(&str, &str)> = chosen
        .iter()
        .map(|&i| rows[i])
        .filter(|r| fresh(r))
        .map(|r| (r.entry.notifier.as_str(), r.entry.group_key.as_str()))
        .collect();
    for (i, r) in rows.iter().enumerate() {
        if fresh(r)
            && fresh_groups.contains(&(r.entry.notifier.as_str(), r.entry.group_key.as_str()))
        {
            chosen.insert(i);
        }
    }
    // Closure: batch mates, and older rows of the same alert, until nothing changes.
    loop {
        let keys: BTreeSet<(&str, &str)> = chosen
            .iter()
            .filter_map(|&i| {
                Some((
                    rows[i].entry.notifier.as_str(),
                    rows[i].batch_key.as_deref()?,
                ))
            })
            .collect();
        let mut newest: BTreeMap<(&str, &str, &str), (UnixMillis, u64)> = BTreeMap::new();
        for &i in &chosen {
            let at = order(rows[i]);
            newest
                .entry(queue(rows[i]))
                .and_modify(|n| *n = (*n).max(at))
                .or_insert(at);
        }
        let more: Vec<usize> = rows
            .iter()
            .enumerate()
            .filter(|(i, _)| !chosen.contains(i))
            .filter(|(_, r)| {
                let notifier = r.entry.notifier.as_str();
                r.batch_key
                    .as_deref()
                    .is_some_and(|key| keys.contains(&(notifier, key)))
                    || newest.get(&queue(r)).is_some_and(|&n| order(r) < n)
            })
            .map(|(i, _)| i)
            .collect();
        if more.is_empty() {
            break;
        }
        chosen.extend(more);
    }

    // Batches: the chosen rows connected by batch key, alert, or (fresh) group.
    let chosen: Vec<usize> = chosen.into_iter().collect();
    let mut parent: Vec<usize> = (0..chosen.len()).collect();
    // (kind of link, notifier, group or batch key, alert id)
    let mut first_of: BTreeMap<(u8, &str, &str, &str), usize> = BTreeMap::new();
    for (slot, &i) in chosen.iter().enumerate() {
        let r = rows[i];
        let (notifier, group, alert) = queue(r);
        let mut links = vec![(0, notifier, group, alert)];
        if let Some(key) = r.batch_key.as_deref() {
            links.push((1, notifier, key, ""));
        }
        if fresh(r) {
            links.push((2, notifier, group, ""));
        }
        for link in links {
            match first_of.get(&link) {
                Some(&other) => union(&mut parent, slot, other),
                None => {
                    first_of.insert(link, slot);
                }
            }
        }
    }
    let mut batches: BTreeMap<usize, Vec<OutboxRow>> = BTreeMap::new();
    for (slot, &i) in chosen.iter().enumerate() {
        let root = find(&mut parent, slot);
        batches.entry(root).or_default().push(rows[i].clone());
    }
    batches.into_values().collect()
}

/// The queue a row waits in: its alert's rows for one notifier (and group: an alert's group
/// changes only when `group_by` is reconfigured; rows queued before that go on their own).
fn queue(row: &OutboxRow) -> (&str, &str, &str) {
    (
        row.entry.notifier.as_str(),
        row.entry.group_key.as_str(),
        row.entry.notice.alert_id.as_str(),
    )
}

/// The order of an alert's notices: by decision time, then as written (store ids count up,
/// held ids down from -1: both are written in the order of their absolute value).
fn order(row: &OutboxRow) -> (UnixMillis, u64) {
    (row.entry.notice.at_ms, row.id.unsigned_abs())
}

fn find(parent: &mut [usize], mut x: usize) -> usize {
    while parent[x] != x {
        parent[x] = parent[parent[x]];
        x = parent[x];
    }
    x
}

fn union(parent: &mut [usize], a: usize, b: usize) {
    let (a, b) = (find(parent, a), find(parent, b));
    if a != b {
        parent[a.max(b)] = a.min(b);
    }
}

/// The notices of a batch in message order: alert by alert (the alert with the worst severity
/// first, then the one decided first), each alert's notices oldest first. Depends on the rows'
/// content (and their relative order), not on their ids, so rows handed from memory to the
/// store make the same message.
pub fn message_notices(rows: &[OutboxRow]) -> Vec<AlertNotice> {
    let mut sorted: Vec<&OutboxRow> = rows.iter().collect();
    sorted.sort_by_key(|r| order(r));
    let mut alerts: Vec<(&str, Vec<&AlertNotice>)> = Vec::new();
    for row in sorted {
        let notice = &row.entry.notice;
        match alerts.iter_mut().find(|(id, _)| *id == notice.alert_id) {
            Some((_, notices)) => notices.push(notice),
            None => alerts.push((&notice.alert_id, vec![notice])),
        }
    }
    // Stable: alerts of the same rank keep the order of their first notice.
    alerts.sort_by_key(|(_, notices)| std::cmp::Reverse(notices.iter().map(|n| n.severity).max()));
    alerts
        .into_iter()
        .flat_map(|(_, notices)| notices.into_iter().cloned())
        .collect()
}

/// The idempotency key of a message: a digest of the notifier and everything the message says
/// (its key field left empty), so the same content always has the same key and different
/// content a different one.
pub fn idempotency_key(notifier: &str, message: &GroupMessage) -> String {
    let mut unkeyed = message.clone();
    unkeyed.idempotency_key = String::new();
    // Plain data (strings, numbers, maps of strings): serializing cannot fail.
    let json = serde_json::to_vec(&unkeyed).unwrap_or_default();
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(notifier.as_bytes());
    ctx.update(&[0]);
    ctx.update(&json);
    let digest = ctx.finish();
    let hex: String = digest.as_ref()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("lookout-{hex}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::records::OutboxEntry;
    use crate::model::{Category, NoticeKind, Severity};

    const T0: i64 = 1_700_000_000_000;

    /// A pending row: (id, alert, kind, decided at, due at); group "g", notifier "hook".
    fn row(id: i64, alert: &str, kind: NoticeKind, at_ms: i64, due_ms: i64) -> OutboxRow {
        OutboxRow {
            id,
            entry: OutboxEntry {
                notifier: "hook".into(),
                group_key: "g".into(),
                group_labels: BTreeMap::new(),
                due_ms,
                notice: AlertNotice {
                    alert_id: alert.into(),
                    rule: "check_failed".into(),
                    kind,
                    severity: Severity::Critical,
                    previous_severity: None,
                    category: Category::Failure,
                    labels: BTreeMap::new(),
                    summary: format!("{alert} {}", kind.as_str()),
                    description: String::new(),
                    value: String::new(),
                    threshold: String::new(),
                    since_ms: at_ms,
                    at_ms,
                    runbook_url: None,
                    explains: Vec::new(),
                    resolved_while_muted: None,
                },
            },
            state: OutboxState::Pending,
            attempts: 0,
            next_attempt_ms: due_ms,
            last_error: None,
            delivered_ms: None,
            created_ms: at_ms,
            batch_key: None,
        }
    }

    /// Claimed once under `key`, retried at `next_ms`.
    fn tried(mut r: OutboxRow, key: &str, next_ms: i64) -> OutboxRow {
        r.attempts = 1;
        r.batch_key = Some(key.into());
        r.next_attempt_ms = next_ms;
        r
    }

    fn ids(batches: &[Vec<OutboxRow>]) -> Vec<Vec<i64>> {
        batches
            .iter()
            .map(|b| b.iter().map(|r| r.id).collect())
            .collect()
    }

    #[test]
    fn batches_keep_claimed_rows_together_and_each_alert_in_order() {
        use NoticeKind::*;
        // (why, rows, now, expected batches)
        type Case = (&'static str, Vec<OutboxRow>, i64, Vec<Vec<i64>>);
        let cases: Vec<Case> = vec![
            (
                "nothing due",
                vec![row(1, "a", Firing, T0, T0 + 10)],
                T0,
                vec![],
            ),
            (
                "a due fresh row takes its fresh group along",
                vec![
                    row(1, "a", Firing, T0, T0),
                    row(2, "b", Firing, T0, T0 + 10_000),
                ],
                T0,
                vec![vec![1, 2]],
            ),
            (
                "a claimed batch stays whole although one row is not due by its group time",
                vec![
                    tried(row(1, "a", Firing, T0, T0), "k1", T0 + 5_000),
                    tried(row(2, "b", Resolved, T0, T0 + 10_000), "k1", T0 + 5_000),
                ],
                T0 + 5_000,
                vec![vec![1, 2]],
            ),
            (
                "a claimed batch waits for its backoff; a fresh row of another alert goes alone",
                vec![
                    tried(row(1, "a", Firing, T0, T0), "k1", T0 + 5_000),
                    row(2, "b", Firing, T0 + 1_000, T0 + 1_000),
                ],
                T0 + 1_000,
                vec![vec![2]],
            ),
            (
                "a newer notice takes the older ones of its alert, and their batch, along",
                vec![
                    tried(row(1, "a", Firing, T0, T0), "k1", T0 + 5_000),
                    tried(row(2, "b", Firing, T0, T0), "k1", T0 + 5_000),
                    tried(
                        row(3, "a", Resolved, T0 + 2_000, T0 + 2_000),
                        "k2",
                        T0 + 7_000,
                    ),
                    row(4, "a", Firing, T0 + 4_000, T0 + 4_000),
                ],
                T0 + 4_000,
                vec![vec![1, 2, 3, 4]],
            ),
            (
                "an older notice due does not wait for a newer one",
                vec![
                    row(1, "a", Firing, T0, T0),
                    tried(
                        row(2, "a", Resolved, T0 + 1_000, T0 + 1_000),
                        "k2",
                        T0 + 9_000,
                    ),
                ],
                T0 + 1_000,
                vec![vec![1]],
            ),
            (
                "decision time orders an alert's rows, not the id (rows adopted from memory)",
                vec![
                    tried(
                        row(1, "a", Resolved, T0 + 2_000, T0 + 2_000),
                        "k2",
                        T0 + 9_000,
                    ),
                    row(2, "a", Firing, T0, T0),
                ],
                T0 + 2_000,
                vec![vec![2]],
            ),
            (
                "other notifiers and groups are separate messages",
                vec![
                    row(1, "a", Firing, T0, T0),
                    OutboxRow {
                        entry: OutboxEntry {
                            notifier: "mail".into(),
                            ..row(2, "a", Firing, T0, T0).entry
                        },
                        ..row(2, "a", Firing, T0, T0)
                    },
                    OutboxRow {
                        entry: OutboxEntry {
                            group_key: "other".into(),
                            ..row(3, "c", Firing, T0, T0).entry
                        },
                        ..row(3, "c", Firing, T0, T0)
                    },
                ],
                T0,
                vec![vec![1], vec![2], vec![3]],
            ),
        ];
        for (why, rows, now, expected) in cases {
            assert_eq!(ids(&due_batches(&rows, now, 500)), expected, "{why}");
        }
    }

    #[test]
    fn the_limit_counts_due_rows_and_never_cuts_an_alert_or_a_batch() {
        use NoticeKind::*;
        let rows = vec![
            tried(row(1, "a", Firing, T0, T0), "k1", T0),
            tried(row(2, "b", Firing, T0, T0), "k1", T0),
            row(3, "c", Firing, T0, T0),
        ];
        assert_eq!(ids(&due_batches(&rows, T0, 1)), vec![vec![1, 2]]);
    }

    /// The scenario of issue 16 (finding 6), pass by pass: the receiver answers 503 while the
    /// check goes down, up, down. Every message is either an earlier one again (same rows,
    /// same key) or new rows under a new key, and the alert's notices go out in order.
    #[test]
    fn down_up_down_while_the_receiver_fails_keeps_keys_and_order() {
        use NoticeKind::*;
        let mut rows = vec![row(1, "a", Firing, T0, T0)];
        let mut sent: Vec<(String, Vec<i64>)> = Vec::new();
        let mut pass = |rows: &mut Vec<OutboxRow>, now: i64, ok: bool| {
            for batch in due_batches(rows, now, 500) {
                let message = GroupMessage {
                    idempotency_key: String::new(),
                    group_key: "g".into(),
                    group_labels: BTreeMap::new(),
                    notices: message_notices(&batch),
                    dashboard_url: None,
                    created_ms: batch.iter().map(|r| r.created_ms).min().unwrap(),
                };
                let key = idempotency_key("hook", &message);
                let ids: Vec<i64> = batch.iter().map(|r| r.id).collect();
                sent.push((key.clone(), ids.clone()));
                for r in rows.iter_mut().filter(|r| ids.contains(&r.id)) {
                    r.attempts += 1;
                    r.batch_key = Some(key.clone());
                    r.next_attempt_ms = now + 5_000 * i64::from(r.attempts);
                    if ok {
                        r.state = OutboxState::Delivered;
                    }
                }
            }
        };
        pass(&mut rows, T0, false);
        // Up: the resolution waits for the group interval (10 s).
        rows.push(row(2, "a", Resolved, T0 + 2_000, T0 + 12_000));
        pass(&mut rows, T0 + 2_000, false);
        // Down again: urgent.
        rows.push(row(3, "a", Firing, T0 + 4_000, T0 + 4_000));
        pass(&mut rows, T0 + 4_000, false);
        for now in (T0 + 5_000..T0 + 40_000).step_by(1_000) {
            pass(&mut rows, now, false);
        }
        pass(&mut rows, T0 + 60_000, true);
        assert!(rows.iter().all(|r| r.state == OutboxState::Delivered));

        let mut by_key: BTreeMap<&str, &Vec<i64>> = BTreeMap::new();
        for (key, ids) in &sent {
            let first = by_key.entry(key).or_insert(ids);
            assert_eq!(*first, ids, "one key, one message: {sent:?}");
        }
        assert_eq!(sent.first().unwrap().1, [1]);
        assert_eq!(
            sent.last().unwrap().1,
            [1, 2, 3],
            "in one message: {sent:?}"
        );
    }

    #[test]
    fn an_alert_s_notices_stay_in_order_in_the_message_worst_alert_first() {
        use NoticeKind::*;
        let mut warning = row(1, "w", Firing, T0 - 5_000, T0);
        warning.entry.notice.severity = Severity::Warning;
        let mut de_escalated = row(4, "a", DeEscalated, T0 + 3_000, T0);
        de_escalated.entry.notice.severity = Severity::Warning;
        let rows = vec![
            warning,
            row(2, "a", Firing, T0, T0),
            row(3, "a", Resolved, T0 + 1_000, T0),
            de_escalated,
        ];
        let order: Vec<(String, NoticeKind)> = message_notices(&rows)
            .into_iter()
            .map(|n| (n.alert_id, n.kind))
            .collect();
        assert_eq!(
            order,
            [
                ("a".to_string(), Firing),
                ("a".to_string(), Resolved),
                ("a".to_string(), DeEscalated),
                ("w".to_string(), Firing),
            ]
        );
    }

    #[test]
    fn the_key_follows_the_content_not_the_row_ids() {
        use NoticeKind::*;
        let message = |rows: &[OutboxRow]| GroupMessage {
            idempotency_key: String::new(),
            group_key: "g".into(),
            group_labels: BTreeMap::new(),
            notices: message_notices(rows),
            dashboard_url: None,
            created_ms: T0,
        };
        let held = [row(-1, "a", Firing, T0, T0), row(-2, "b", Firing, T0, T0)];
        let adopted = [row(7, "a", Firing, T0, T0), row(8, "b", Firing, T0, T0)];
        let key = idempotency_key("hook", &message(&held));
        assert_eq!(key, idempotency_key("hook", &message(&adopted)));
        assert!(key.starts_with("lookout-") && key.len() == 8 + 32, "{key}");
        assert_ne!(key, idempotency_key("mail", &message(&held)));
        assert_ne!(key, idempotency_key("hook", &message(&held[..1])));
        let mut other = message(&held);
        other.dashboard_url = Some("https://dash".into());
        assert_ne!(key, idempotency_key("hook", &other));
    }
}
