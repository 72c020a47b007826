//! What the alert engine persists (store tables from migration 0002): the live state of each
//! alert, its history of notices, and the outbox rows. Plain data; the store reads and writes
//! them, the engine and the CLI use them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Severity;
use super::mute::{MuteReason, Untold};
use crate::clock::UnixMillis;
use crate::model::AlertNotice;

/// The live state of one alert that is pending or firing (inactive alerts have no row).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredAlert {
    /// `alert::fingerprint(rule, labels)`.
    pub id: String,
    pub rule: String,
    pub labels: BTreeMap<String, String>,
    /// "pending" or "firing".
    pub state: String,
    pub severity: Severity,
    /// Pending: when the condition started; firing: when it started firing.
    pub since_ms: UnixMillis,
    /// Firing only: when its last notice was decided (cooldowns count from here).
    pub last_notified_ms: Option<UnixMillis>,
    pub value: Option<f64>,
    /// The latest rendered summary, for listings.
    pub summary: String,
    /// Why it is quiet right now (a silence, an inhibiting alert, maintenance, ...); `None`
    /// when it is not.
    pub muted_by: Option<MuteReason>,
    /// People were told it fires (its resolution is told whatever mutes it later).
    #[serde(default)]
    pub told: bool,
    /// It keeps changing between firing and not (see `alert::flap`): quiet until stable.
    #[serde(default)]
    pub flapping: bool,
    /// Who acknowledged it and when: someone is on it, so its repeats stop (until it
    /// escalates or resolves).
    pub acknowledged_by: Option<String>,
    pub acknowledged_ms: Option<UnixMillis>,
}

/// One notice in the alert history (also those that were muted and not sent).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub notice: AlertNotice,
    /// `None` when the notice was sent to the notifiers; otherwise why not.
    pub muted_by: Option<Untold>,
}

/// One notice for one notifier, waiting in (or done with) the outbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboxEntry {
    pub notifier: String,
    pub group_key: String,
    pub group_labels: BTreeMap<String, String>,
    /// Not sent before this time (grouping: `group_wait`, `group_interval`).
    pub due_ms: UnixMillis,
    pub notice: AlertNotice,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutboxState {
    /// Waiting for its due time or its next attempt.
    Pending,
    Delivered,
    /// Given up: a permanent error, or retried until `outbox::GIVE_UP_AFTER`.
    Failed,
}

/// An outbox row as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboxRow {
    pub id: i64,
    pub entry: OutboxEntry,
    pub state: OutboxState,
    pub attempts: u32,
    pub next_attempt_ms: UnixMillis,
    pub last_error: Option<String>,
    pub delivered_ms: Option<UnixMillis>,
    pub created_ms: UnixMillis,
    /// Set when the outbox worker first claims the row for a send, and kept by every retry:
    /// the rows sent together keep being sent together, under this idempotency key.
    pub batch_key: Option<String>,
}

/// Everything one evaluation decided, written in one transaction so that a crash leaves
/// either all of it or none: state, history and outbox never disagree.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AlertBatch {
    pub upserts: Vec<StoredAlert>,
    /// Ids of alerts that became inactive.
    pub removed: Vec<String>,
    pub history: Vec<HistoryEntry>,
    pub outbox: Vec<OutboxEntry>,
    /// Alerts whose not-yet-sent outbox rows are withdrawn: an alert that inhibits them
    /// started firing before they went out (committed before `outbox`, so only older rows go).
    pub retract: Vec<String>,
}

impl AlertBatch {
    pub fn is_empty(&self) -> bool {
        self.upserts.is_empty()
            && self.removed.is_empty()
            && self.history.is_empty()
            && self.outbox.is_empty()
            && self.retract.is_empty()
    }
}
