//! Grouping: when each notice may go out, so that alerts starting together arrive as one
//! message. Decided when the notice is written to the outbox (as its `due_ms`); the outbox
//! sends the due rows of one group and notifier as one message.
//!
//! - A group with nothing sent in the last `group_interval` opens a batch due `group_wait`
//!   later (`group_wait_critical` when the notice is critical: a failure is told at once);
//!   notices arriving before it is due join it.
//! - After a batch, the group's next batch is due no sooner than `group_interval` after it.
//!
//! Pure: time comes in as `now_ms`.

use std::collections::BTreeMap;
use std::collections::HashMap;
use std::time::Duration;

use super::Severity;
use crate::clock::UnixMillis;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupTiming {
    pub group_wait: Duration,
    pub group_wait_critical: Duration,
    pub group_interval: Duration,
}

#[derive(Debug, Default, Clone)]
pub struct Grouper {
    /// Group key -> due time of its latest batch.
    batches: HashMap<String, UnixMillis>,
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
    /// When a notice of `severity` for group `key`, decided at `now_ms`, is due.
    pub fn due(
        &mut self,
        key: &str,
        severity: Severity,
        timing: &GroupTiming,
        now_ms: UnixMillis,
    ) -> UnixMillis {
        let wait = if severity == Severity::Critical {
            timing.group_wait_critical
        } else {
            timing.group_wait
        };
        let wait_ms = wait.as_millis() as i64;
        let interval_ms = timing.group_interval.as_millis() as i64;
        let due = match self.batches.get(key).copied() {
            // A batch not yet sent: join it (sooner if this notice cannot wait that long).
            Some(batch) if batch > now_ms => batch.min(now_ms + wait_ms).max(now_ms),
            // Sent recently: the next batch waits for the group interval.
            Some(batch) if now_ms < batch + interval_ms => batch + interval_ms,
            _ => now_ms + wait_ms,
        };
        self.batches.insert(key.to_string(), due);
        due
    }

    /// Forgets groups idle for longer than `group_interval` (bounded memory).
    pub fn prune(&mut self, timing: &GroupTiming, now_ms: UnixMillis) {
        let interval_ms = timing.group_interval.as_millis() as i64;
        self.batches.retain(|_, due| *due + interval_ms > now_ms);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Severity::*;

    const S: i64 = 1_000;

    #[test]
    fn notices_of_one_group_share_batches_spaced_by_the_group_interval() {
        let timing = GroupTiming {
            group_wait: Duration::from_secs(10),
            group_wait_critical: Duration::ZERO,
            group_interval: Duration::from_secs(60),
        };
        let mut grouper = Grouper::default();
        // (group, severity, now, expected due, why)
        let cases = [
            ("a", Warning, 0, 10 * S, "new group waits group_wait"),
            ("a", Warning, 4 * S, 10 * S, "joins the open batch"),
            (
                "b",
                Warning,
                5 * S,
                15 * S,
                "another group has its own batch",
            ),
            (
                "a",
                Warning,
                20 * S,
                70 * S,
                "after a batch, the next waits group_interval",
            ),
            (
                "a",
                Critical,
                30 * S,
                30 * S,
                "a critical pulls the open batch to now",
            ),
            (
                "a",
                Warning,
                31 * S,
                90 * S,
                "then the group interval applies again",
            ),
            (
                "c",
                Critical,
                40 * S,
                40 * S,
                "a new group with a critical goes at once",
            ),
            (
                "a",
                Warning,
                200 * S,
                210 * S,
                "an idle group starts over with group_wait",
            ),
        ];
        for (group, severity, now, expected, why) in cases {
            assert_eq!(
                grouper.due(group, severity, &timing, now),
                expected,
                "{why}"
            );
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
