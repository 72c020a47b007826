//! The webhook notifier: one HTTP POST per `GroupMessage`, over the same phase-timed hyper
//! client as the http checks (`base::net`, rustls, no redirects).
//!
//! # Payload (`format = "json"`, version 1)
//!
//! ```json
//! {
//!   "version": 1,
//!   "idempotency_key": "…",            // a digest of this message: dedupe on it (below)
//!   "group_key": "host=web1",
//!   "group_labels": {"host": "web1"},
//!   "status": "firing",                 // "resolved" when every alert ends resolved
//!   "severity": "critical",             // the worst of the notices: info, warning, critical
//!   "created_at": "2025-01-01T00:00:00.000Z",
//!   "dashboard_url": "http://…" | null,
//!   "notices": [{
//!     "alert_id": "…", "rule": "cpu", "kind": "firing",   // firing, escalated, de_escalated,
//!                                                          // repeat, resolved, test, flapping
//!     "severity": "critical", "previous_severity": "warning" | null,
//!     "category": "resource",   // failure, resource, performance, maintenance, security
//!     "labels": {"alertname": "cpu", "host": "web1"},
//!     "summary": "…", "description": "…", "value": "97.0%", "threshold": "95%",
//!     "since": "RFC 3339", "since_ms": 0, "at": "RFC 3339", "at_ms": 0,
//!     "runbook_url": "https://…" | null,
//!     "explains": ["app-ready is critical"],   // root cause: the symptoms it explains
//!     "resolved_while_muted": "maintenance" | null  // resolved although muted now (why)
//!   }]
//! }
//! ```
//!
//! `notices` holds every notice of the message, alert by alert, each alert's notices oldest
//! first: an alert that changed several times before the message went (firing, resolved,
//! firing) is listed with each change, and its last notice is its state now. Nothing is
//! collapsed in the JSON (the email and Slack text say "flapped 3 times, now firing").
//!
//! # Idempotency
//!
//! `idempotency_key` (also the `Idempotency-Key` header) is a digest of the message: a retry
//! of the same message (after a timeout, a 5xx, a restart) carries the same key and the very
//! same body, so a receiver should drop a key it has already accepted. A message whose content
//! changed — a newer notice of one of its alerts joined it while it was being retried — is a
//! new message with a new key, holding the older notices too; so deduping never drops news,
//! and an alert's notices never arrive out of order (Lookout never sends an alert's newer
//! notice before an older one that is still undelivered).
//!
//! `format = "slack"` sends a Slack incoming-webhook message instead: `text` (the subject) and
//! one attachment per notice, coloured by severity (green once resolved).
//!
//! # Headers
//!
//! `Content-Type: application/json`, `Idempotency-Key`, `User-Agent: lookout/VERSION`, the
//! configured `headers`, and with a `secret`: `X-Lookout-Timestamp` (Unix seconds at sending)
//! and `X-Lookout-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>`. The
//! timestamp is signed so a captured request cannot be replayed later: receivers should
//! refuse one more than a few minutes old.
//!
//! # Outcome
//!
//! 2xx is delivered; 408, 429, 5xx and transport errors (refused, timeout, TLS) are worth
//! retrying; any other answer is permanent. Errors show the status and the start of the body,
//! and the URL only as scheme://host:port (a chat webhook URL is a credential).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use super::config::{WebhookConfig, WebhookFormat};
use crate::base::net::{self, TlsSettings};
use crate::base::secret::{Secret, url_origin};
use crate::clock::format_rfc3339;
use crate::model::{AlertNotice, NoticeKind};
use crate::notifiers::render::{self, colour};
use crate::notifiers::http::post;
use crate::notifiers::{GroupMessage, Notifier, NotifyError, NotifyFuture};

pub const PAYLOAD_VERSION: u32 = 1;

/// The JSON document of `format = "json"`; a wire type, separate from `GroupMessage` so the
/// internal types can change without breaking receivers.
#[derive(Debug, Serialize)]
pub struct Payload<'a> {
    pub version: u32,
    pub idempotency_key: &'a str,
    pub group_key: &'a str,
    pub group_labels: &'a BTreeMap<String, String>,
    pub status: &'static str,
    pub severity: &'static str,
    pub created_at: String,
    pub dashboard_url: Option<&'a str>,
    pub notices: Vec<NoticePayload<'a>>,
}

#[derive(Debug, Serialize)]
pub struct NoticePayload<'a> {
    pub alert_id: &'a str,
    pub rule: &'a str,
    pub kind: &'static str,
    pub severity: &'static str,
    pub previous_severity: Option<&'static str>,
    pub category: &'static str,
    pub labels: &'a BTreeMap<String, String>,
    pub summary: &'a str,
    pub description: &'a str,
    pub value: &'a str,
    pub threshold: &'a str,
    pub since: String,
    pub since_ms: i64,
    pub at: String,
    pub at_ms: i64,
    pub runbook_url: Option<&'a str>,
    pub explains: &'a [String],
    pub resolved_while_muted: Option<&'a str>,
}

impl<'a> NoticePayload<'a> {
    fn from(notice: &'a AlertNotice) -> Self {
        NoticePayload {
            alert_id: &notice.alert_id,
            rule: &notice.rule,
            kind: notice.kind.as_str(),
            severity: notice.severity.as_str(),
            previous_severity: notice.previous_severity.map(|s| s.as_str()),
            category: notice.category.as_str(),
            labels: &notice.labels,
            summary: &notice.summary,
            description: &notice.description,
            value: &notice.value,
            threshold: &notice.threshold,
            since: format_rfc3339(notice.since_ms),
            since_ms: notice.since_ms,
            at: format_rfc3339(notice.at_ms),
            at_ms: notice.at_ms,
            runbook_url: notice.runbook_url.as_deref(),
            explains: &notice.explains,
            resolved_while_muted: notice.resolved_while_muted.as_deref(),
        }
    }
}

/// The JSON body of `format = "json"`.
pub fn json_body(message: &GroupMessage) -> String {
    let payload = Payload {
        version: PAYLOAD_VERSION,
        idempotency_key: &message.idempotency_key,
        group_key: &message.group_key,
        group_labels: &message.group_labels,
        status: if render::all_resolved(message) {
            "resolved"
        } else {
            "firing"
        },
        severity: message.severity().as_str(),
        created_at: format_rfc3339(message.created_ms),
        dashboard_url: message.dashboard_url.as_deref(),
        notices: render::ordered(message)
            .into_iter()
            .map(NoticePayload::from)
            .collect(),
    };
    // Serializing strings and maps of strings cannot fail.
    serde_json::to_string(&payload).unwrap_or_default()
}

/// Slack's mrkdwn needs only these three escaped; anything else shows as written.
fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The body of `format = "slack"`: a Slack incoming-webhook message.
pub fn slack_body(message: &GroupMessage) -> String {
    let attachments: Vec<serde_json::Value> = render::ordered(message)
        .into_iter()
        .map(|notice| {
            let resolved = notice.kind == NoticeKind::Resolved;
            let mut fields = vec![
                serde_json::json!({"title": "Severity", "value": notice.severity.as_str(), "short": true}),
                serde_json::json!({"title": "Value", "value": slack_escape(&notice.value), "short": true}),
            ];
            if !notice.threshold.is_empty() {
                fields.push(serde_json::json!({"title": "Threshold", "value": slack_escape(&notice.threshold), "short": true}));
            }
            fields.push(serde_json::json!({
                "title": "Since",
                "value": format!("{} ({})", format_rfc3339(notice.since_ms), render::duration_phrase(notice)),
                "short": true
            }));
            let mut text = slack_escape(&notice.description);
            if let Some(runbook) = &notice.runbook_url {
                text.push_str(&format!("\nRunbook: <{}|runbook>", slack_escape(runbook)));
            }
            serde_json::json!({
                "color": colour(notice.severity, resolved),
                "fallback": format!("[{}] {}", render::kind_label(notice.kind), notice.summary),
                "title": format!(
                    "[{}] {}",
                    render::kind_label(notice.kind).to_ascii_uppercase(),
                    slack_escape(&notice.summary)
                ),
                "text": text,
                "fields": fields,
                "footer": render::category_heading(notice.category).0,
                "ts": notice.at_ms / 1000,
            })
        })
        .collect();
    let mut text = slack_escape(&render::subject(message));
    if let Some(url) = &message.dashboard_url {
        text.push_str(&format!(" <{}|dashboard>", slack_escape(url)));
    }
    serde_json::json!({ "text": text, "attachments": attachments }).to_string()
}

/// `sha256=<hex>` of HMAC-SHA256(`secret`, `timestamp + "." + body`).
pub fn signature(secret: &str, timestamp: u64, body: &str) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    let mut context = ring::hmac::Context::with_key(&key);
    context.update(timestamp.to_string().as_bytes());
    context.update(b".");
    context.update(body.as_bytes());
    let tag = context.sign();
    let mut hex = String::with_capacity(7 + 64);
    hex.push_str("sha256=");
    for byte in tag.as_ref() {
        hex.push_str(&format!("{byte:02x}"));
    }
    hex
}

pub struct WebhookNotifier {
    name: String,
    config: WebhookConfig,
}

impl WebhookNotifier {
    pub fn new(name: impl Into<String>, config: WebhookConfig) -> WebhookNotifier {
        WebhookNotifier {
            name: name.into(),
            config,
        }
    }

    fn body(&self, message: &GroupMessage) -> String {
        match self.config.format {
            WebhookFormat::Json => json_body(message),
            WebhookFormat::Slack => slack_body(message),
        }
    }

    async fn deliver(&self, message: &GroupMessage) -> Result<(), NotifyError> {
        let where_ = format!(
            "webhook {} ({})",
            self.name,
            url_origin(self.config.url.expose())
        );
        let body = self.body(message);
        let mut headers: Vec<(String, Secret)> = vec![
            ("Content-Type".to_string(), Secret::new("application/json")),
            (
                "Idempotency-Key".to_string(),
                Secret::new(message.idempotency_key.clone()),
            ),
        ];
        if let Some(secret) = &self.config.secret {
            let timestamp = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            headers.push((
                "X-Lookout-Timestamp".to_string(),
                Secret::new(timestamp.to_string()),
            ));
            headers.push((
                "X-Lookout-Signature".to_string(),
                Secret::new(signature(secret.expose(), timestamp, &body)),
            ));
        }
        headers.extend(self.config.headers.iter().cloned());
        let request = net::Request {
            url: self.config.url.expose().to_string(),
            method: "POST".to_string(),
            headers,
            body: Some(body),
            // A redirect of a POST is a misconfiguration; following it could resend the
            // payload (and its signature) to a place nobody configured.
            follow_redirects: 0,
            max_body: 4096,
        };
        let tls = TlsSettings {
            ca_file: self.config.ca_file.clone(),
            ..TlsSettings::default()
        };
        post(request, tls, self.config.timeout, &where_)
            .await
            .map_err(|mut error| {
                // A receiver might echo the request: never let a configured secret through.
                for secret in self
                    .config
                    .secret
                    .iter()
                    .chain(self.config.headers.iter().map(|(_, value)| value))
                    .chain(std::iter::once(&self.config.url))
                {
                    if !secret.is_empty() {
                        error.message = error.message.replace(secret.expose(), "***");
                    }
                }
                error
            })
    }
}

impl Notifier for WebhookNotifier {
    fn name(&self) -> &str {
        &self.name
    }

    fn send<'a>(&'a self, message: &'a GroupMessage) -> NotifyFuture<'a> {
        Box::pin(async move {
            // fetch bounds every phase by the deadline; this is a second fence so that a bug
            // there can never hold the outbox worker.
            let limit = self.config.timeout + Duration::from_secs(1);
            match tokio::time::timeout(limit, self.deliver(message)).await {
                Ok(outcome) => outcome,
                Err(_) => Err(NotifyError::retryable(format!(
                    "webhook {} ({}): no answer within {}",
                    self.name,
                    url_origin(self.config.url.expose()),
                    crate::base::units::format_duration(self.config.timeout)
                ))),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Category, Severity};
    use crate::notifiers::render::tests::{message, notice};

    #[test]
    fn signature_is_the_hex_hmac_of_timestamp_dot_body() {
        // Reference value: printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac s3cret
        assert_eq!(
            signature("s3cret", 1_700_000_000, "{\"a\":1}"),
            "sha256=1698a50bc74d1ff1db85c4e0a5297c2ad9fdba245d5737cdb789e4cc6e098940"
        );
    }

    /// One alert told three times in one message: every notice, oldest first, and the status
    /// is the alert's state at the end (not "firing" because some notice was a firing).
    #[test]
    fn json_lists_each_alert_s_notices_oldest_first_and_the_status_is_the_net_state() {
        let at = |kind: NoticeKind, at_ms: i64| {
            let mut n = notice("app", kind, Severity::Critical, Category::Failure);
            n.at_ms = at_ms;
            n
        };
        let body = |notices: Vec<AlertNotice>| -> serde_json::Value {
            serde_json::from_str(&json_body(&message(notices))).unwrap()
        };
        let kinds = |v: &serde_json::Value| -> Vec<String> {
            v["notices"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| format!("{}@{}", n["kind"].as_str().unwrap(), n["at_ms"]))
                .collect()
        };
        let flipped = body(vec![
            at(NoticeKind::Firing, 3),
            at(NoticeKind::Resolved, 2),
            at(NoticeKind::Firing, 1),
        ]);
        assert_eq!(kinds(&flipped), ["firing@1", "resolved@2", "firing@3"]);
        assert_eq!(flipped["status"], "firing");
        let ended = body(vec![at(NoticeKind::Firing, 1), at(NoticeKind::Resolved, 2)]);
        assert_eq!(ended["status"], "resolved");
    }

    #[test]
    fn json_payload_carries_every_notice_field() {
        let mut n = notice(
            "cpu",
            NoticeKind::Escalated,
            Severity::Critical,
            Category::Resource,
        );
        n.previous_severity = Some(Severity::Warning);
        n.runbook_url = Some("https://wiki/cpu".to_string());
        n.explains = vec!["app-ready is critical".to_string()];
        let m = message(vec![n]);
        let value: serde_json::Value = serde_json::from_str(&json_body(&m)).unwrap();
        assert_eq!(
            value,
            serde_json::json!({
                "version": 1,
                "idempotency_key": "k1",
                "group_key": "host=web1",
                "group_labels": {"host": "web1"},
                "status": "firing",
                "severity": "critical",
                "created_at": "2023-11-14T22:18:20.000Z",
                "dashboard_url": null,
                "notices": [{
                    "alert_id": "cpu/web1",
                    "rule": "cpu",
                    "kind": "escalated",
                    "severity": "critical",
                    "previous_severity": "warning",
                    "category": "resource",
                    "labels": {"alertname": "cpu", "host": "web1"},
                    "summary": "cpu is critical",
                    "description": "First line.\nSecond line.",
                    "value": "97.0%",
                    "threshold": "95%",
                    "since": "2023-11-14T22:13:20.000Z",
                    "since_ms": 1_700_000_000_000i64,
                    "at": "2023-11-14T22:18:20.000Z",
                    "at_ms": 1_700_000_300_000i64,
                    "runbook_url": "https://wiki/cpu",
                    "explains": ["app-ready is critical"],
                    "resolved_while_muted": null
                }]
            })
        );
    }

    #[test]
    fn slack_payload_has_text_and_coloured_attachments() {
        let mut n = notice(
            "app",
            NoticeKind::Firing,
            Severity::Critical,
            Category::Failure,
        );
        n.summary = "a <b> & c".to_string();
        let m = message(vec![
            n,
            notice(
                "cpu",
                NoticeKind::Resolved,
                Severity::Warning,
                Category::Resource,
            ),
        ]);
        let value: serde_json::Value = serde_json::from_str(&slack_body(&m)).unwrap();
        assert_eq!(
            value["text"],
            "[CRITICAL] a &lt;b&gt; &amp; c (+1 more) — web1"
        );
        let attachments = value["attachments"].as_array().unwrap();
        assert_eq!(attachments.len(), 2);
        assert_eq!(attachments[0]["color"], "#c62828");
        assert_eq!(attachments[0]["title"], "[FIRING] a &lt;b&gt; &amp; c");
        assert_eq!(attachments[1]["color"], "#2e7d32");
        assert_eq!(attachments[1]["footer"], "High resource use");
    }
}
