//! The Alertmanager notifier: each notice becomes an alert as Prometheus would post it, sent
//! to `POST /api/v2/alerts` of every member of the cluster (members share notification state,
//! not alerts: Prometheus, too, posts to every one), over the same hyper client as the webhook.
//!
//! # Payload
//!
//! A JSON array, one element per notice:
//!
//! ```json
//! [{
//!   "labels": {"alertname": "cpu_usage", "severity": "critical", "host": "web1", …},
//!   "annotations": {"summary": "…", "description": "…", "runbook_url": "…",
//!                   "value": "97.0%", "threshold": "95%"},          // empty ones left out
//!   "startsAt": "2025-01-01T00:00:00.000Z",                        // when it started firing
//!   "endsAt": "2025-01-01T00:05:00.000Z",                          // resolved notices only
//!   "generatorURL": "http://dashboard/alerts"                      // with alerts.dashboard_url
//! }]
//! ```
//!
//! Alertmanager identifies an alert by its labels. `severity` is one of them (so routes and
//! inhibitions can use it, as with Prometheus rules), hence an escalated or de-escalated notice
//! also posts the alert under its previous severity with `endsAt`: that one is over. Label
//! names Alertmanager would refuse are rewritten the Prometheus way (`a-b` -> `a_b`); labels
//! with an empty value are left out (empty means absent there).
//!
//! # Still firing
//!
//! Alertmanager resolves an alert that is not posted again within its `resolve_timeout`. The
//! engine repeats a notice only after its cooldown, so the outbox worker re-posts, every
//! `resend_interval` (`Notifier::resend_interval`), the last notice this notifier delivered
//! for each alert still firing (`Store::outbox_still_firing`, see `outbox::Outbox::resend`).
//! Being read from the store, that survives restarts and reloads. News that is not an alert
//! (maintenance notices, `lookout alerts test`) is posted once; Alertmanager resolves it after
//! its `resolve_timeout`.
//!
//! # Outcome
//!
//! Delivered when every member answered 2xx. A member failing with 408, 429, 5xx or a
//! transport error makes the whole message retryable, any other answer permanent. A retry
//! posts to every member again, also those that accepted: harmless, since Alertmanager dedupes
//! alerts by their labels and merely refreshes the one it has. Errors name each failing member
//! by its URL (which holds no credentials: refused in the config), never a header value or
//! the password.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;
use tokio::task::JoinSet;

use super::config::{ALERTMANAGER_ALERTS_PATH, AlertmanagerConfig};
use crate::base::net::{self, TlsSettings};
use crate::base::secret::Secret;
use crate::clock::format_rfc3339;
use crate::model::{AlertNotice, NoticeKind};
use crate::notifiers::http::post;
use crate::notifiers::{GroupMessage, Notifier, NotifyError, NotifyFuture};

/// One element of the body of `POST /api/v2/alerts` (Alertmanager's `postableAlert`); a wire
/// type, so internal types can change without changing what Alertmanager gets.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PostableAlert {
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub starts_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ends_at: Option<String>,
    #[serde(rename = "generatorURL", skip_serializing_if = "Option::is_none")]
    pub generator_url: Option<String>,
}

/// A label name Alertmanager accepts (`[a-zA-Z_][a-zA-Z0-9_]*`): other characters become `_`,
/// and a leading digit gets a `_` before it.
pub fn label_name(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

/// The labels of `notice` under `severity`.
fn labels(notice: &AlertNotice, severity: &str) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    for (name, value) in &notice.labels {
        if !value.is_empty() {
            labels
                .entry(label_name(name))
                .or_insert_with(|| value.clone());
        }
    }
    labels.insert("alertname".to_string(), notice.rule.clone());
    labels.insert("severity".to_string(), severity.to_string());
    labels
}

fn annotations(notice: &AlertNotice) -> BTreeMap<String, String> {
    [
        ("summary", Some(&notice.summary)),
        ("description", Some(&notice.description)),
        ("runbook_url", notice.runbook_url.as_ref()),
        ("value", Some(&notice.value)),
        ("threshold", Some(&notice.threshold)),
    ]
    .into_iter()
    .filter_map(|(name, value)| {
        value
            .filter(|v| !v.is_empty())
            .map(|v| (name.to_string(), v.clone()))
    })
    .collect()
}

/// The alerts one message posts: one per notice, plus the previous severity's, ended, for
/// an escalation or de-escalation.
pub fn alerts(message: &GroupMessage) -> Vec<PostableAlert> {
    let generator_url = message
        .dashboard_url
        .as_deref()
        .map(|url| format!("{}/alerts", url.trim_end_matches('/')));
    let mut out = Vec::with_capacity(message.notices.len());
    for notice in &message.notices {
        let alert = |severity: &str, ends_at: Option<String>| PostableAlert {
            labels: labels(notice, severity),
            annotations: annotations(notice),
            starts_at: format_rfc3339(notice.since_ms),
            ends_at,
            generator_url: generator_url.clone(),
        };
        let resolved = notice.kind == NoticeKind::Resolved;
        out.push(alert(
            notice.severity.as_str(),
            resolved.then(|| format_rfc3339(notice.at_ms)),
        ));
        let changed = matches!(notice.kind, NoticeKind::Escalated | NoticeKind::DeEscalated);
        if let Some(previous) = notice
            .previous_severity
            .filter(|p| changed && *p != notice.severity)
        {
            out.push(alert(previous.as_str(), Some(format_rfc3339(notice.at_ms))));
        }
    }
    out
}

/// The JSON body of `POST /api/v2/alerts`.
pub fn body(message: &GroupMessage) -> String {
    // Strings and maps of strings always serialize.
    serde_json::to_string(&alerts(message)).unwrap_or_default()
}

/// Where a member takes alerts: its base URL + `/api/v2/alerts`.
pub fn endpoint(base: &str) -> String {
    format!("{}{ALERTMANAGER_ALERTS_PATH}", base.trim_end_matches('/'))
}

/// Standard base64 with padding (RFC 4648), for `Authorization: Basic`; a dependency for
/// these few lines would not pay for itself.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

pub struct AlertmanagerNotifier {
    name: String,
    config: AlertmanagerConfig,
}

impl AlertmanagerNotifier {
    pub fn new(name: impl Into<String>, config: AlertmanagerConfig) -> AlertmanagerNotifier {
        AlertmanagerNotifier {
            name: name.into(),
            config,
        }
    }

    /// Every header of a POST: content type, then the configured ones.
    fn headers(&self) -> Vec<(String, Secret)> {
        let mut headers = vec![("Content-Type".to_string(), Secret::new("application/json"))];
        if let Some(user) = &self.config.basic_auth_user {
            let password = self
                .config
                .basic_auth_password
                .as_ref()
                .map_or("", Secret::expose);
            headers.push((
                "Authorization".to_string(),
                Secret::new(format!(
                    "Basic {}",
                    base64(format!("{user}:{password}").as_bytes())
                )),
            ));
        }
        headers.extend(self.config.headers.iter().cloned());
        headers
    }

    /// Posts `body` to every member at once; the error covers every member that failed.
    async fn deliver(&self, body: String) -> Result<(), NotifyError> {
        let headers = self.headers();
        let timeout = self.config.timeout;
        let mut posts = JoinSet::new();
        for (index, base) in self.config.urls.iter().enumerate() {
            let request = net::Request {
                url: endpoint(base),
                method: "POST".to_string(),
                headers: headers.clone(),
                body: Some(body.clone()),
                // A redirect of a POST is a misconfiguration; never follow one.
                follow_redirects: 0,
                max_body: 4096,
            };
            let tls = TlsSettings {
                ca_file: self.config.ca_file.clone(),
                ..TlsSettings::default()
            };
            let where_ = format!("alertmanager {} ({base})", self.name);
            posts.spawn(async move { (index, post(request, tls, timeout, &where_).await) });
        }
        let mut failures: Vec<(usize, NotifyError)> = Vec::new();
        while let Some(joined) = posts.join_next().await {
            match joined {
                Ok((_, Ok(()))) => {}
                Ok((index, Err(error))) => failures.push((index, error)),
                Err(_) => failures.push((
                    usize::MAX,
                    NotifyError::retryable(format!("alertmanager {}: a post panicked", self.name)),
                )),
            }
        }
        if failures.is_empty() {
            return Ok(());
        }
        failures.sort_by_key(|(index, _)| *index);
        let retryable = failures.iter().any(|(_, e)| e.retryable);
        let mut text = failures
            .iter()
            .map(|(_, e)| e.message.as_str())
            .collect::<Vec<_>>()
            .join("; ");
        let members = self.config.urls.len();
        if members > 1 {
            text.push_str(&format!(
                " ({} of {members} members accepted)",
                members - failures.len()
            ));
        }
        // A member might echo the request: never let a configured secret through.
        for (_, value) in &headers[1..] {
            if !value.is_empty() {
                text = text.replace(value.expose(), "***");
            }
        }
        if let Some(password) = self.config.basic_auth_password.as_ref()
            && !password.is_empty()
        {
            text = text.replace(password.expose(), "***");
        }
        Err(NotifyError {
            retryable,
            message: text,
        })
    }
}

impl Notifier for AlertmanagerNotifier {
    fn name(&self) -> &str {
        &self.name
    }

    fn send<'a>(&'a self, message: &'a GroupMessage) -> NotifyFuture<'a> {
        Box::pin(async move {
            let body = body(message);
            // Members are posted to at once, each bounded by the timeout; this is a second
            // fence so that a bug there can never hold the outbox worker.
            let limit = self.config.timeout + Duration::from_secs(1);
            match tokio::time::timeout(limit, self.deliver(body)).await {
                Ok(outcome) => outcome,
                Err(_) => Err(NotifyError::retryable(format!(
                    "alertmanager {}: no answer within {}",
                    self.name,
                    crate::base::units::format_duration(self.config.timeout)
                ))),
            }
        })
    }

    fn resend_interval(&self) -> Option<Duration> {
        Some(self.config.resend_interval)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Category, Severity};
    use crate::notifiers::render::tests::{message, notice};

    #[test]
    fn a_firing_notice_is_an_alert_with_labels_annotations_and_no_end() {
        let mut n = notice(
            "cpu_usage",
            NoticeKind::Firing,
            Severity::Critical,
            Category::Resource,
        );
        n.runbook_url = Some("https://wiki/cpu".to_string());
        n.labels.insert("mount-point".to_string(), "/".to_string());
        n.labels.insert("9lives".to_string(), "x".to_string());
        n.labels.insert("empty".to_string(), String::new());
        let mut m = message(vec![n]);
        m.dashboard_url = Some("http://dash.example.org/lookout/".to_string());
        let value: serde_json::Value = serde_json::from_str(&body(&m)).unwrap();
        assert_eq!(
            value,
            serde_json::json!([{
                "labels": {
                    "alertname": "cpu_usage",
                    "severity": "critical",
                    "host": "web1",
                    "mount_point": "/",
                    "_9lives": "x"
                },
                "annotations": {
                    "summary": "cpu_usage is critical",
                    "description": "First line.\nSecond line.",
                    "runbook_url": "https://wiki/cpu",
                    "value": "97.0%",
                    "threshold": "95%"
                },
                "startsAt": "2023-11-14T22:13:20.000Z",
                "generatorURL": "http://dash.example.org/lookout/alerts"
            }])
        );
    }

    #[test]
    fn a_resolved_notice_ends_at_its_time_and_empty_annotations_are_left_out() {
        let mut n = notice(
            "check_failed",
            NoticeKind::Resolved,
            Severity::Critical,
            Category::Failure,
        );
        n.threshold = String::new();
        let [alert] = alerts(&message(vec![n])).try_into().unwrap();
        assert_eq!(alert.starts_at, "2023-11-14T22:13:20.000Z");
        assert_eq!(alert.ends_at.as_deref(), Some("2023-11-14T22:18:20.000Z"));
        assert_eq!(alert.generator_url, None);
        assert!(!alert.annotations.contains_key("threshold"));
        assert!(!alert.annotations.contains_key("runbook_url"));
        assert_eq!(alert.labels["severity"], "critical");
    }

    #[test]
    fn an_escalation_ends_the_alert_under_its_previous_severity() {
        let mut n = notice(
            "cpu_usage",
            NoticeKind::Escalated,
            Severity::Critical,
            Category::Resource,
        );
        n.previous_severity = Some(Severity::Warning);
        let posted = alerts(&message(vec![n]));
        let shown: Vec<(&str, Option<&str>)> = posted
            .iter()
            .map(|a| (a.labels["severity"].as_str(), a.ends_at.as_deref()))
            .collect();
        assert_eq!(
            shown,
            [
                ("critical", None),
                ("warning", Some("2023-11-14T22:18:20.000Z"))
            ]
        );
        // A repeat is just the alert again, whatever it says about the past.
        let mut n = notice(
            "cpu_usage",
            NoticeKind::Repeat,
            Severity::Critical,
            Category::Resource,
        );
        n.previous_severity = Some(Severity::Warning);
        assert_eq!(alerts(&message(vec![n])).len(), 1);
    }

    #[test]
    fn label_names_are_made_acceptable() {
        for (name, expected) in [
            ("check", "check"),
            ("mount-point", "mount_point"),
            ("a.b", "a_b"),
            ("1x", "_1x"),
            ("", "_"),
            ("é", "_"),
        ] {
            assert_eq!(label_name(name), expected, "{name}");
        }
    }

    #[test]
    fn endpoints_add_the_api_path_to_the_base() {
        assert_eq!(
            endpoint("http://127.0.0.1:9093"),
            "http://127.0.0.1:9093/api/v2/alerts"
        );
        assert_eq!(
            endpoint("https://am.example.org/alertmanager/"),
            "https://am.example.org/alertmanager/api/v2/alerts"
        );
    }

    #[test]
    fn base64_is_rfc_4648() {
        for (text, expected) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("Aladdin:open sesame", "QWxhZGRpbjpvcGVuIHNlc2FtZQ=="),
        ] {
            assert_eq!(base64(text.as_bytes()), expected, "{text:?}");
        }
    }
}
