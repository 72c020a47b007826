//! Why an alert is not told right now: a silence, an inhibition, or a mute source such as
//! maintenance. Muted notices are still recorded in the history; when the mute lifts while the
//! alert still fires, the engine tells it then.

use std::collections::BTreeMap;

use crate::clock::UnixMillis;
use crate::config::RuleConfig;

/// Something outside the engine that can ask for alerts to be muted (maintenance tracking
/// plugs in here). Answers with the reason, e.g. "maintenance (planned, until 02:30)".
pub trait MuteSource: Send + Sync {
    fn mutes(
        &self,
        rule: &RuleConfig,
        labels: &BTreeMap<String, String>,
        now_ms: UnixMillis,
    ) -> Option<String>;
}
