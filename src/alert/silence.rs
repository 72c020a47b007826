//! Silences: matchers + start + end + author + comment. A silence mutes every alert whose
//! labels all its matchers match, while `start <= now < end`; expired silences are kept for
//! audit. Pure: time comes in as `now`.

use std::collections::BTreeMap;

use super::matcher::{Matcher, all_match};
use crate::clock::UnixMillis;

#[derive(Debug, Clone, PartialEq)]
pub struct Silence {
    pub id: String,
    pub matchers: Vec<Matcher>,
    pub starts_ms: UnixMillis,
    pub ends_ms: UnixMillis,
    pub author: String,
    pub comment: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SilenceState {
    Pending,
    Active,
    Expired,
}

impl Silence {
    pub fn state(&self, now_ms: UnixMillis) -> SilenceState {
        if now_ms < self.starts_ms {
            SilenceState::Pending
        } else if now_ms < self.ends_ms {
            SilenceState::Active
        } else {
            SilenceState::Expired
        }
    }

    /// Mutes `labels` now? A silence without matchers mutes nothing (it would mute everything
    /// by accident).
    pub fn mutes(&self, labels: &BTreeMap<String, String>, now_ms: UnixMillis) -> bool {
        self.state(now_ms) == SilenceState::Active
            && !self.matchers.is_empty()
            && all_match(&self.matchers, labels)
    }
}

/// The active silences that mute `labels` now (ids, for showing why an alert is quiet).
pub fn muting<'a>(
    silences: &'a [Silence],
    labels: &BTreeMap<String, String>,
    now_ms: UnixMillis,
) -> Vec<&'a str> {
    silences
        .iter()
        .filter(|s| s.mutes(labels, now_ms))
        .map(|s| s.id.as_str())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn silence(id: &str, matchers: &[&str], starts_ms: i64, ends_ms: i64) -> Silence {
        Silence {
            id: id.into(),
            matchers: matchers
                .iter()
                .map(|m| Matcher::parse(m).unwrap())
                .collect(),
            starts_ms,
            ends_ms,
            author: "ops".into(),
            comment: "deploy".into(),
        }
    }

    #[test]
    fn mutes_only_matching_alerts_while_active() {
        let alert: BTreeMap<String, String> = [("check", "app"), ("severity", "warning")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let silences = [
            silence("a", &["check=\"app\""], 100, 200),
            silence("b", &["check=\"db\""], 100, 200),
            silence("c", &["severity=~\"warn.*\"", "check=\"app\""], 150, 300),
            silence("empty", &[], 0, 1_000),
        ];
        assert_eq!(muting(&silences, &alert, 99), Vec::<&str>::new());
        assert_eq!(muting(&silences, &alert, 100), vec!["a"]);
        assert_eq!(muting(&silences, &alert, 150), vec!["a", "c"]);
        assert_eq!(
            muting(&silences, &alert, 200),
            vec!["c"],
            "end is exclusive"
        );
        assert_eq!(muting(&silences, &alert, 300), Vec::<&str>::new());
        assert_eq!(silences[0].state(250), SilenceState::Expired);
        assert_eq!(silences[2].state(120), SilenceState::Pending);
    }
}
