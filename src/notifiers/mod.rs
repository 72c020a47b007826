//! Notifier kinds: what one `[[notifier]]` is and how it delivers. The kinds' shared
//! vocabulary lives here: `GroupMessage` (what a notifier sends at once: the due notices of
//! one group), the `Notifier` trait (one delivery, no retry: the outbox retries), `NotifyError`
//! (whether trying again can help) and `render` (the words of a message, shared by the email
//! and the Slack webhook).
//!
//! The outbox (`notify`) plans the messages and calls the notifiers through `Notifier`; this
//! module knows nothing of the outbox, the store or the alert engine: it reads `model`'s
//! `AlertNotice`, `base::net` for HTTP and TLS, and `clock`.

pub mod render;

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::clock::UnixMillis;
use crate::model::{AlertNotice, Category, NoticeKind, Severity};

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
