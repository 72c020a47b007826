//! Notifier kinds: one folder per `type` of `[[notifier]]`, each a vertical slice holding the
//! kind's config struct and its reading (`config.rs`), its sending (`send.rs`), its example for
//! `config init` (`template.toml`) and, in its `mod.rs`, its `NotifierType`: the type name, the
//! summary line's target, where a test message goes, how to build the notifier, how `lookout
//! doctor` reaches the receiver without sending, and the kind's own doctor hints.
//!
//! `notifier_kinds!` below registers the kinds, one line each, making the closed enum
//! `NotifierKind`; `kinds.rs` holds the one `match` that dispatches to `NotifierType`: adding a
//! kind is one folder here and one line below. Nothing else lists the kinds: the `type` values
//! and their did-you-mean and the template ask `NotifierKind`.
//!
//! What the kinds share lives here too: `GroupMessage` (what a notifier sends at once: the due
//! notices of one group), the `Notifier` trait (one delivery, no retry: the outbox retries),
//! `NotifyError` (whether trying again can help), `render` (the words of a message, shared by
//! the email and the Slack webhook) and `http` (the POST and the doctor's reach of the HTTP
//! kinds). The outbox (`notify`) plans the messages and calls the notifiers through
//! `Notifier`; this module knows nothing of the outbox, the store or the alert engine: it
//! reads `model`'s `AlertNotice`, `base` (`net` for HTTP and TLS, `schema` to read its keys),
//! `clock`, and the error causes of `checks::hint`.

pub mod http;
#[macro_use]
mod kinds;
pub mod render;

// The notifier kinds: one line each, `Variant(folder::ConfigStruct)` (see `kinds.rs`).
notifier_kinds! {
    Email(email::EmailConfig),
    Webhook(webhook::WebhookConfig),
    Alertmanager(alertmanager::AlertmanagerConfig),
}

#[cfg(test)]
pub(crate) use kinds::testing;

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::base::schema::{Reader, Table, required_text};
use crate::checks::Cause;
use crate::clock::UnixMillis;
use crate::model::{AlertNotice, Category, NoticeKind, Severity};

/// The extension points of one notifier kind. Implemented by the kind's config struct (what
/// `NotifierKind` holds); `NotifierKind` dispatches to it.
pub(crate) trait NotifierType: Send + Sync + 'static {
    /// The `type` this kind is written as.
    fn type_name() -> &'static str
    where
        Self: Sized;

    /// Reads the kind's own keys of one `[[notifier]]` table (`name` and `type` are the
    /// config's). Problems go to the reader; the result holds defaults where a value was wrong.
    fn read(r: &mut Reader<'_>, table: &Table<'_, '_>) -> Self
    where
        Self: Sized;

    /// Its example for the `config init` template: commented lines ending with one
    /// `# [[notifier]]` block holding every key the kind reads (`{notifier_types}` stands for
    /// the list of types).
    fn template() -> &'static str
    where
        Self: Sized;

    /// Where it sends, for the `config check` summary (no secret).
    fn summary(&self) -> String;

    /// Where a test message went, for `lookout doctor --send-test` (no secret).
    fn destination(&self) -> String;

    /// The notifier called `name`. Building does no I/O (files such as `ca_file` are read at
    /// each send, so fixing one needs no restart), hence no error.
    fn build(&self, name: &str) -> Arc<dyn Notifier>;

    /// Doctor without `--send-test`: reaches the receiver as a send would, without sending.
    /// `Ok` says what answered ("SMTP mail:587 accepted the login as ops"); `Err` why not.
    fn reach<'a>(&'a self, name: &'a str) -> ReachFuture<'a>;

    /// Doctor: the kind's own advice for `cause` (after "alerts not sent: "), instead of the
    /// general advice for receivers over HTTP.
    fn hint(&self, _cause: Cause) -> Option<&'static str> {
        None
    }
}

pub type ReachFuture<'a> = Pin<Box<dyn Future<Output = Result<String, String>> + Send + 'a>>;

/// `timeout` of every kind: the longest one delivery may take.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// A required string of a notifier; a missing one is a problem naming an example.
fn required(r: &mut Reader<'_>, table: &Table<'_, '_>, key: &'static str, example: &str) -> String {
    let why = format!("this notifier type needs it, like {key} = {example}");
    required_text(r, table, key, &why)
        .map(|(value, _)| value)
        .unwrap_or_default()
}

/// What one notifier sends at once: every due notice of one group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupMessage {
    /// A digest of the message's content (`notify::plan::idempotency_key`): the same for every
    /// attempt to deliver the same rows, different for any other content. Receivers dedupe on
    /// it (email Message-ID, webhook `Idempotency-Key`), so a crash between "sent" and "marked"
    /// does not turn into a storm, and a deduping receiver never drops a message it has not
    /// seen.
    pub idempotency_key: String,
    pub group_key: String,
    /// The labels the group is formed by, e.g. {host="web1"}.
    pub group_labels: BTreeMap<String, String>,
    pub notices: Vec<AlertNotice>,
    /// `alerts.dashboard_url`, for links.
    pub dashboard_url: Option<String>,
    pub created_ms: UnixMillis,
}

impl GroupMessage {
    /// The worst severity among the notices (resolved ones count as what they were).
    pub fn severity(&self) -> Severity {
        self.notices
            .iter()
            .map(|n| n.severity)
            .max()
            .unwrap_or(Severity::Info)
    }
}

/// Why a send failed, and whether trying again later can help (a refused connection can; a
/// rejected recipient or a 400 cannot).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct NotifyError {
    pub retryable: bool,
    /// Plain words, no secrets: "SMTP: authentication failed for ops@example.org".
    pub message: String,
}

impl NotifyError {
    pub fn retryable(message: impl Into<String>) -> NotifyError {
        NotifyError {
            retryable: true,
            message: message.into(),
        }
    }

    pub fn permanent(message: impl Into<String>) -> NotifyError {
        NotifyError {
            retryable: false,
            message: message.into(),
        }
    }
}

pub type NotifyFuture<'a> = Pin<Box<dyn Future<Output = Result<(), NotifyError>> + Send + 'a>>;

/// One configured notifier, ready to deliver.
pub trait Notifier: Send + Sync {
    /// The `name` from `[[notifier]]`.
    fn name(&self) -> &str;
    /// Deliver once (no retry here: the outbox retries). Must finish within its own timeout.
    fn send<'a>(&'a self, message: &'a GroupMessage) -> NotifyFuture<'a>;
    /// For a receiver that forgets an alert it is not told about again (Alertmanager): how
    /// often the outbox worker sends it the alerts still firing (`notify::outbox::Outbox::resend`).
    fn resend_interval(&self) -> Option<Duration> {
        None
    }
}

/// The message of `lookout alerts test` and `lookout doctor --send-test`: one info notice that
/// says it is a test, grouped by `host`.
pub fn test_message(host: &str, dashboard_url: Option<String>, now: UnixMillis) -> GroupMessage {
    let labels: BTreeMap<String, String> = [
        ("alertname".to_string(), "lookout_test".to_string()),
        ("host".to_string(), host.to_string()),
        ("severity".to_string(), "info".to_string()),
    ]
    .into_iter()
    .collect();
    GroupMessage {
        idempotency_key: format!("test-{now}"),
        group_key: format!("{{host={host}}}"),
        group_labels: [("host".to_string(), host.to_string())]
            .into_iter()
            .collect(),
        notices: vec![AlertNotice {
            alert_id: "lookout_test".into(),
            rule: "lookout_test".into(),
            kind: NoticeKind::Test,
            severity: Severity::Info,
            previous_severity: None,
            category: Category::Failure,
            labels,
            summary: format!("Test message from Lookout on {host}"),
            description: "If you can read this, Lookout can reach you. Nothing is wrong.".into(),
            value: String::new(),
            threshold: String::new(),
            since_ms: now,
            at_ms: now,
            runbook_url: None,
            explains: Vec::new(),
            resolved_while_muted: None,
        }],
        dashboard_url,
        created_ms: now,
    }
}
