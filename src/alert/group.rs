//! Grouping: when each notice may go out, so that alerts starting together arrive as one
//! message. Decided when the notice is written to the outbox (as its `due_ms`); the outbox
//! sends the due rows of one group and notifier as one message.
//!
//! - A group with nothing sent in the last `group_interval` opens a batch due `group_wait`
//!   later; notices arriving before it is due join it.
//! - After a batch, the group's next batch is due no sooner than `group_interval` after it.
//! - Urgent news (a critical firing or escalating) does not wait for that: it is due after
//!   `group_wait_critical` (default at once), and pulls the group's open batch with it; only
//!   a burst is held together — no more than one urgent batch per `group_wait` per group.
//! - A resolution waits `resolve_wait` (so an alert firing again meanwhile just goes on
//!   firing), and the resolution of a group's only incident no longer: not `group_interval`
//!   after its firing, so a short outage's all-clear comes within seconds. A resolution next
//!   to other firing alerts of its group is batched as usual.
//!
//! Pure: time comes in as `now_ms`.

use std::collections::BTreeMap;
use std::collections::HashMap;
use std::time::Duration;

use crate::clock::UnixMillis;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupTiming {
    pub group_wait: Duration,
    pub group_wait_critical: Duration,
    pub group_interval: Duration,
}

#[derive(Debug, Default, Clone)]
pub struct Grouper {
    /// Group key -> due time of its latest batch, and of its latest urgent batch.
    batches: HashMap<String, (UnixMillis, Option<UnixMillis>)>,
}

/// The group key for `labels`: the values of the `group_by` labels, e.g. `{host="web1"}`.
pub fn group_labels(
    group_by: &[String],
    labels: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    group_by
        .iter()
        .map(|name| (name.clone(), labels.get(name).cloned().unwrap_or_default()))
        .collect()
}

pub fn group_key(group_labels: &BTreeMap<String, String>) -> String {
    let pairs: Vec<String> = group_labels
        .iter()
        .map(|(k, v)| format!("{k}={}", crate::model::escape_label_value(v)))
        .collect();
    format!("{{{}}}", pairs.join(","))
}

impl Grouper {
    /// When a notice for group `key`, decided at `now_ms`, is due. `urgent`: a critical
    /// alert firing or escalating.
    pub fn due(
        &mut self,
        key: &str,
        urgent: bool,
        timing: &GroupTiming,
        now_ms: UnixMillis,
    ) -> UnixMillis {
        let wait_ms = timing.group_wait.as_millis() as i64;
        let interval_ms = timing.group_interval.as_millis() as i64;
        let (batch, last_urgent) = match self.batches.get(key).copied() {
            Some((batch, last_urgent)) => (Some(batch), last_urgent),
            None => (None, None),
        };
        let due = if urgent {
            let soonest = now_ms + timing.group_wait_critical.as_millis() as i64;
            let burst_limit = last_urgent.map_or(soonest, |last| last + wait_ms);
            let due = soonest.max(burst_limit);
            match batch {
                // An open batch due sooner anyway: join it.
                Some(batch) if batch > now_ms && batch < due => batch,
                _ => due,
            }
        } else {
            match batch {
                // A batch not yet sent: join it.
                Some(batch) if batch > now_ms => batch,
                // Sent recently: the next batch waits for the group interval.
                Some(batch) if now_ms < batch + interval_ms => batch + interval_ms,
                _ => now_ms + wait_ms,
            }
        };
        let entry = self.batches.entry(key.to_string()).or_insert((due, None));
        // An urgent notice moves the group's open batch (the outbox sends a due group's rows
        // together); a later one does not push an earlier batch back.
        entry.0 = if urgent || batch.is_none_or(|b| b <= now_ms) {
            due
        } else {
            entry.0.max(due)
        };
        if urgent {
            entry.1 = Some(due);
        }
        due
    }

    /// When a resolution for group `key` is due, no sooner than `not_before` (`resolve_wait`
    /// after it was decided); `lone`: no other told alert of the group still fires.
    pub fn due_resolution(
        &mut self,
        key: &str,
        lone: bool,
        not_before: UnixMillis,
        timing: &GroupTiming,
        now_ms: UnixMillis,
    ) -> UnixMillis {
        if !lone {
            let due = self.due(key, false, timing, now_ms).max(not_before);
            if let Some(entry) = self.batches.get_mut(key) {
                entry.0 = entry.0.max(due);
            }
            return due;
        }
        // An open batch due later anyway takes it along.
        let open = self
            .batches
            .get(key)
            .map(|(batch, _)| *batch)
            .filter(|batch| *batch > not_before);
        let due = open.unwrap_or(not_before);
        let entry = self.batches.entry(key.to_string()).or_insert((due, None));
        entry.0 = due;
        due
    }

    /// Forgets groups idle for longer than `group_interval` (bounded memory).
    pub fn prune(&mut self, timing: &GroupTiming, now_ms: UnixMillis) {
        let interval_ms = timing.group_interval.as_millis() as i64;
        self.batches
            .retain(|_, (due, _)| *due + interval_ms > now_ms);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000;

    #[test]
    fn a_lone_resolution_waits_group_wait_not_the_group_interval() {
        let timing = GroupTiming {
            group_wait: Duration::from_secs(10),
            group_wait_critical: Duration::ZERO,
            group_interval: Duration::from_secs(60),
        };
        let mut grouper = Grouper::default();
        let key = "{host=web1}";
        // A critical firing at 0 goes at once; its recovery at 20 s is told at 30 s (its
        // `resolve_wait` of 10 s), not 60 s.
        assert_eq!(grouper.due(key, true, &timing, 0), 0);
        assert_eq!(
            grouper.due_resolution(key, true, 30 * S, &timing, 20 * S),
            30 * S
        );
        // Next to other firing alerts it is batched: the group interval after that batch.
        assert_eq!(
            grouper.due_resolution(key, false, 45 * S, &timing, 35 * S),
            90 * S
        );
        // A lone one joins a batch that is open anyway, if it is due after its wait.
        let mut grouper = Grouper::default();
        assert_eq!(grouper.due(key, false, &timing, 0), 10 * S);
        assert_eq!(
            grouper.due_resolution(key, true, 5 * S, &timing, 4 * S),
            10 * S
        );
        assert_eq!(
            grouper.due_resolution(key, true, 14 * S, &timing, 4 * S),
            14 * S
        );
    }

    #[test]
    fn notices_of_one_group_share_batches_spaced_by_the_group_interval() {
        let timing = GroupTiming {
            group_wait: Duration::from_secs(10),
            group_wait_critical: Duration::ZERO,
            group_interval: Duration::from_secs(60),
        };
        let mut grouper = Grouper::default();
        const URGENT: bool = true;
        const CALM: bool = false;
        // (group, urgent, now, expected due, why)
        let cases = [
            ("a", CALM, 0, 10 * S, "new group waits group_wait"),
            ("a", CALM, 4 * S, 10 * S, "joins the open batch"),
            ("b", CALM, 5 * S, 15 * S, "another group has its own batch"),
            (
                "a",
                CALM,
                20 * S,
                70 * S,
                "after a batch, the next waits group_interval",
            ),
            (
                "a",
                URGENT,
                30 * S,
                30 * S,
                "a critical goes at once, pulling the open batch",
            ),
            (
                "a",
                CALM,
                31 * S,
                90 * S,
                "then the group interval applies again",
            ),
            (
                "a",
                URGENT,
                32 * S,
                40 * S,
                "a burst of criticals: one message per group_wait",
            ),
            ("a", URGENT, 35 * S, 40 * S, "joins the held urgent batch"),
            (
                "a",
                URGENT,
                55 * S,
                55 * S,
                "after group_wait, at once again",
            ),
            (
                "c",
                URGENT,
                40 * S,
                40 * S,
                "a new group with a critical goes at once",
            ),
            (
                "a",
                CALM,
                200 * S,
                210 * S,
                "an idle group starts over with group_wait",
            ),
        ];
        for (group, urgent, now, expected, why) in cases {
            assert_eq!(grouper.due(group, urgent, &timing, now), expected, "{why}");
        }
        grouper.prune(&timing, 400 * S);
        assert!(grouper.batches.is_empty());
    }

    #[test]
    fn group_key_is_made_of_the_group_by_labels() {
        let labels: BTreeMap<String, String> = [("host", "web1"), ("check", "app")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let by = vec!["host".to_string(), "missing".to_string()];
        assert_eq!(
            group_key(&group_labels(&by, &labels)),
            "{host=web1,missing=}"
        );
    }
}
