//! Why an alert is not told right now, as data: `MuteReason` (a silence, an inhibiting alert,
//! the connectivity gate, a mute source such as maintenance, flapping; `None` when it is not
//! muted), and `Untold`, why a decided notice was not sent (muted, withdrawn before it went
//! out, or a resolution nobody needs). Like Alertmanager's `SilencedBy`/`InhibitedBy`, the
//! kind is stored and queried as such; `Display` gives the words people read (the CLI, the
//! API, mails), which are those of the free-text reasons this replaced.
//!
//! Muted notices are still recorded in the history; when the mute lifts while the alert still
//! fires, the engine tells it then.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::clock::UnixMillis;
use crate::config::RuleConfig;

/// Something outside the engine that can ask for alerts to be muted (maintenance tracking
/// plugs in here). Answers with the reason, e.g. `MuteReason::Maintenance`.
pub trait MuteSource: Send + Sync {
    fn mutes(
        &self,
        rule: &RuleConfig,
        labels: &BTreeMap<String, String>,
        now_ms: UnixMillis,
    ) -> Option<MuteReason>;
}

/// Why the connectivity gate holds an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GateHold {
    /// Every canary fails: Lookout lost the network.
    Lost,
    /// A canary answers again: the held checks run again for the grace.
    Returning,
}

impl GateHold {
    pub fn as_str(self) -> &'static str {
        match self {
            GateHold::Lost => "held: monitoring connectivity lost",
            GateHold::Returning => "held: connectivity back, re-checking",
        }
    }
}

/// Why an alert is quiet now. `Option<MuteReason>`: `None` is "not muted".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum MuteReason {
    /// A silence matches it ("silenced by <id>"; the first one when several do).
    Silence { id: String },
    /// A firing alert inhibits it: the inhibiting alert's rule and check
    /// ("inhibited by check_failed{check=db}").
    Inhibited {
        rule: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        check: Option<String>,
    },
    /// The connectivity gate holds it.
    Gate { hold: GateHold },
    /// Maintenance mutes it; `detail` is the tracker's account ("(normal mode: upgrade)",
    /// "ended at ... (grace 5m, until ...)"), empty when it has none.
    Maintenance {
        #[serde(default)]
        detail: String,
    },
    /// It keeps changing between firing and not: quiet until stable
    /// ("flapping: 7 changes in 12s").
    Flapping { changes: u32, over: String },
    /// A reason an older Lookout stored in words this one does not read (migration 0007):
    /// shown as it was written.
    Recorded { text: String },
}

impl MuteReason {
    /// The kind of `Maintenance`, as queries select it.
    pub const MAINTENANCE: &'static str = "maintenance";

    /// The kind, as stored (`kind` of the JSON) and as queries select it.
    pub fn kind(&self) -> &'static str {
        match self {
            MuteReason::Silence { .. } => "silence",
            MuteReason::Inhibited { .. } => "inhibited",
            MuteReason::Gate { .. } => "gate",
            MuteReason::Maintenance { .. } => MuteReason::MAINTENANCE,
            MuteReason::Flapping { .. } => "flapping",
            MuteReason::Recorded { .. } => "recorded",
        }
    }

    /// The reason of the alerts inhibited by an alert with `labels`.
    pub fn inhibited_by(labels: &BTreeMap<String, String>) -> MuteReason {
        MuteReason::Inhibited {
            rule: labels.get("alertname").cloned().unwrap_or_default(),
            check: labels.get("check").cloned(),
        }
    }
}

impl fmt::Display for MuteReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MuteReason::Silence { id } => write!(f, "silenced by {id}"),
            MuteReason::Inhibited { rule, check } => {
                write!(f, "inhibited by {rule}")?;
                match check {
                    Some(check) => write!(f, "{{check={check}}}"),
                    None => Ok(()),
                }
            }
            MuteReason::Gate { hold } => f.write_str(hold.as_str()),
            MuteReason::Maintenance { detail } if detail.is_empty() => f.write_str("maintenance"),
            MuteReason::Maintenance { detail } => write!(f, "maintenance {detail}"),
            MuteReason::Flapping { changes, over } => {
                write!(f, "flapping: {changes} changes in {over}")
            }
            MuteReason::Recorded { text } => f.write_str(text),
        }
    }
}

/// Why a notice the engine decided was not sent. `Option<Untold>`: `None` is "sent".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Untold {
    /// Muted when it was decided.
    Muted { reason: MuteReason },
    /// Told, then taken back before it went out, because of `reason`.
    Withdrawn { reason: MuteReason },
    /// A resolution that came before its firing went out: neither is sent.
    ResolvedBeforeFiringSent,
    /// A resolution, with `send_resolved = false`.
    SendResolvedOff,
    /// A resolution of a firing nobody was told about.
    FiringNotTold,
    /// A firing again while its told resolution had not gone out: that resolution was
    /// withdrawn and the firing told before goes on.
    ContinuesFiring,
}

impl Untold {
    /// The mute behind it, if a mute kept it back.
    pub fn mute(&self) -> Option<&MuteReason> {
        match self {
            Untold::Muted { reason } | Untold::Withdrawn { reason } => Some(reason),
            _ => None,
        }
    }
}

impl From<MuteReason> for Untold {
    fn from(reason: MuteReason) -> Untold {
        Untold::Muted { reason }
    }
}

impl fmt::Display for Untold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Untold::Muted { reason } => reason.fmt(f),
            Untold::Withdrawn { reason } => write!(f, "{reason} (withdrawn before sending)"),
            Untold::ResolvedBeforeFiringSent => f.write_str("resolved before its firing went out"),
            Untold::SendResolvedOff => f.write_str("send_resolved = false"),
            Untold::FiringNotTold => f.write_str("its firing was not told"),
            Untold::ContinuesFiring => f.write_str(
                "continues the firing told before (its resolution was withdrawn before it went out)",
            ),
        }
    }
}

/// The words of an optional reason: empty when there is none (not muted, or sent), as the
/// CLI and the API show it.
pub fn text<T: fmt::Display>(reason: Option<&T>) -> String {
    reason.map(ToString::to_string).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// The words are those of the free-text reasons the typed ones replaced: people (CLI,
    /// API, mails) read the same as before.
    #[test]
    fn reasons_read_as_the_old_free_text() {
        let cases: Vec<(Untold, &str)> = vec![
            (
                MuteReason::Silence { id: "s1".into() }.into(),
                "silenced by s1",
            ),
            (
                MuteReason::inhibited_by(&labels(&[
                    ("alertname", "check_failed"),
                    ("check", "db"),
                ]))
                .into(),
                "inhibited by check_failed{check=db}",
            ),
            (
                MuteReason::inhibited_by(&labels(&[("alertname", "cpu_high")])).into(),
                "inhibited by cpu_high",
            ),
            (
                MuteReason::Gate {
                    hold: GateHold::Lost,
                }
                .into(),
                "held: monitoring connectivity lost",
            ),
            (
                MuteReason::Gate {
                    hold: GateHold::Returning,
                }
                .into(),
                "held: connectivity back, re-checking",
            ),
            (
                MuteReason::Maintenance {
                    detail: String::new(),
                }
                .into(),
                "maintenance",
            ),
            (
                MuteReason::Maintenance {
                    detail: "(normal mode: upgrade)".into(),
                }
                .into(),
                "maintenance (normal mode: upgrade)",
            ),
            (
                MuteReason::Flapping {
                    changes: 7,
                    over: "12s".into(),
                }
                .into(),
                "flapping: 7 changes in 12s",
            ),
            (
                Untold::Withdrawn {
                    reason: MuteReason::Gate {
                        hold: GateHold::Lost,
                    },
                },
                "held: monitoring connectivity lost (withdrawn before sending)",
            ),
            (
                Untold::ResolvedBeforeFiringSent,
                "resolved before its firing went out",
            ),
            (Untold::SendResolvedOff, "send_resolved = false"),
            (Untold::FiringNotTold, "its firing was not told"),
            (
                Untold::ContinuesFiring,
                "continues the firing told before (its resolution was withdrawn before it went out)",
            ),
        ];
        for (reason, words) in cases {
            assert_eq!(reason.to_string(), words);
            // Stored as data, read back the same.
            let json = serde_json::to_string(&reason).unwrap();
            assert_eq!(
                serde_json::from_str::<Untold>(&json).unwrap(),
                reason,
                "{json}"
            );
        }
        assert_eq!(text::<MuteReason>(None), "");
    }

    #[test]
    fn the_kind_is_stored_as_a_field() {
        let reason = MuteReason::Maintenance {
            detail: "(test mode: drill)".into(),
        };
        let json: serde_json::Value = serde_json::to_value(&reason).unwrap();
        assert_eq!(json["kind"], reason.kind());
        let untold: serde_json::Value = serde_json::to_value(Untold::from(reason)).unwrap();
        assert_eq!(untold["kind"], "muted");
        assert_eq!(untold["reason"]["kind"], "maintenance");
    }
}
