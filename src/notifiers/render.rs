//! The words of a notification: subject, plain-text body and HTML body of a `GroupMessage`,
//! shared by the email and webhook (Slack) notifiers. Pure: no I/O, no clock (relative times
//! are measured from each notice's own `at_ms`), so the same rows always render the same text —
//! a resend after a crash is byte-for-byte the message that may already have arrived.
//!
//! One template family for the seed's email cases: the notices are listed by `Category`
//! (critical failures, high resource use, performance degradation, maintenance events,
//! security incidents), each section opening with its heading and one intro line. The HTML is
//! a single table-free document with inline styles only (mail clients strip `<style>` and
//! block remote assets), and every piece of text in it is escaped.

use std::fmt::Write as _;
use std::time::Duration;

use super::GroupMessage;
use crate::base::units::format_duration;
use crate::clock::format_rfc3339;
use crate::model::{AlertNotice, Category, NoticeKind, Severity};

/// A message ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// The category sections in the order they are shown: what needs action first.
const CATEGORY_ORDER: [Category; 5] = [
    Category::Failure,
    Category::Security,
    Category::Resource,
    Category::Performance,
    Category::Maintenance,
];

/// The heading and intro line of a category's section.
pub fn category_heading(category: Category) -> (&'static str, &'static str) {
    match category {
        Category::Failure => (
            "Critical failures",
            "A service Lookout watches is failing or has stopped reporting.",
        ),
        Category::Resource => (
            "High resource use",
            "A machine is running short of CPU, memory or disk.",
        ),
        Category::Performance => (
            "Performance degradation",
            "Responses are slower, or fail more often, than the thresholds allow.",
        ),
        Category::Maintenance => (
            "Maintenance events",
            "Maintenance started, ended or needs attention.",
        ),
        Category::Security => (
            "Security incidents",
            "Something happened that may affect the security of the application.",
        ),
    }
}

/// How a notice's kind reads in a message.
pub fn kind_label(kind: NoticeKind) -> &'static str {
    match kind {
        NoticeKind::Firing => "firing",
        NoticeKind::Escalated => "escalated",
        NoticeKind::DeEscalated => "de-escalated",
        NoticeKind::Repeat => "still firing",
        NoticeKind::Resolved => "resolved",
        NoticeKind::Test => "test",
        NoticeKind::Flapping => "flapping",
    }
}

/// One alert's notices in a message, oldest first, and what they add up to.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertNews<'a> {
    /// Oldest first; never empty.
    pub notices: Vec<&'a AlertNotice>,
}

impl<'a> AlertNews<'a> {
    /// The newest notice: the alert's state as the message leaves it.
    pub fn latest(&self) -> &'a AlertNotice {
        self.notices[self.notices.len() - 1]
    }

    /// Still needs attention: its latest notice is not a resolution (nor a test).
    pub fn open(&self) -> bool {
        !matches!(self.latest().kind, NoticeKind::Resolved | NoticeKind::Test)
    }

    /// What the alert is called in a collapsed line: its check, else its rule.
    pub fn name(&self) -> &'a str {
        let latest = self.latest();
        latest
            .labels
            .get("check")
            .map_or(latest.rule.as_str(), String::as_str)
    }

    /// For several notices of the alert: "flapped 3 times, now firing" (it went back and
    /// forth) or "changed 2 times, now critical" (escalated, then again); `None` for one.
    pub fn collapsed(&self) -> Option<String> {
        let count = self.notices.len();
        if count < 2 {
            return None;
        }
        let latest = self.latest();
        let resolved = self.notices.iter().any(|n| n.kind == NoticeKind::Resolved);
        let fired = self
            .notices
            .iter()
            .any(|n| !matches!(n.kind, NoticeKind::Resolved | NoticeKind::Test));
        let verb = if resolved && fired {
            "flapped"
        } else {
            "changed"
        };
        let now = match latest.kind {
            NoticeKind::Resolved => "resolved".to_string(),
            NoticeKind::Flapping => "flapping".to_string(),
            NoticeKind::Firing | NoticeKind::Repeat if verb == "flapped" => "firing".to_string(),
            _ => latest.severity.as_str().to_string(),
        };
        Some(format!("{verb} {count} times, now {now}"))
    }

    /// The headline of the alert: its latest summary, or "app: flapped 3 times, now firing".
    pub fn headline(&self) -> String {
        match self.collapsed() {
            Some(collapsed) => format!("{}: {collapsed}", self.name()),
            None => self.latest().summary.clone(),
        }
    }

    /// The symptoms the alert explains (root cause), each once, in the order told.
    pub fn explains(&self) -> Vec<&'a str> {
        let mut out: Vec<&str> = Vec::new();
        for notice in &self.notices {
            for symptom in &notice.explains {
                if !out.contains(&symptom.as_str()) {
                    out.push(symptom);
                }
            }
        }
        out
    }
}

/// The alerts of a message in reading order: the ones still needing attention first (those
/// flapping after the others), worst severity first, then the oldest first (what has been
/// wrong longest), then by rule for a stable order. Each alert's notices oldest first.
pub fn alerts(message: &GroupMessage) -> Vec<AlertNews<'_>> {
    let mut alerts: Vec<AlertNews<'_>> = Vec::new();
    let mut notices: Vec<(usize, &AlertNotice)> = message.notices.iter().enumerate().collect();
    notices.sort_by_key(|(index, n)| (n.at_ms, *index));
    for (_, notice) in notices {
        match alerts
            .iter_mut()
            .find(|a| a.notices[0].alert_id == notice.alert_id)
        {
            Some(alert) => alert.notices.push(notice),
            None => alerts.push(AlertNews {
                notices: vec![notice],
            }),
        }
    }
    alerts.sort_by(|a, b| {
        let (la, lb) = (a.latest(), b.latest());
        (!a.open())
            .cmp(&!b.open())
            .then((la.kind == NoticeKind::Flapping).cmp(&(lb.kind == NoticeKind::Flapping)))
            .then(worst(b).cmp(&worst(a)))
            .then(a.notices[0].since_ms.cmp(&b.notices[0].since_ms))
            .then(la.rule.cmp(&lb.rule))
            .then(la.alert_id.cmp(&lb.alert_id))
    });
    alerts
}

/// The worst severity an alert had in the message.
fn worst(alert: &AlertNews<'_>) -> Severity {
    alert
        .notices
        .iter()
        .map(|n| n.severity)
        .max()
        .unwrap_or(Severity::Info)
}

/// True when every alert of the message ends resolved (the message is good news).
pub fn all_resolved(message: &GroupMessage) -> bool {
    !message.notices.is_empty()
        && alerts(message)
            .iter()
            .all(|a| a.latest().kind == NoticeKind::Resolved)
}

/// Every notice in reading order: alert by alert (`alerts`), each alert's oldest first.
pub fn ordered(message: &GroupMessage) -> Vec<&AlertNotice> {
    alerts(message)
        .into_iter()
        .flat_map(|a| a.notices)
        .collect()
}

/// `[CRITICAL] app is critical (+2 more) — web1` (+N: the other alerts); `[RESOLVED] ...`
/// when every alert ends resolved; `[FLAPPING] ...` when every open alert is flapping;
/// `[TEST] ...` for `lookout alerts test`. An alert told several times reads as its net state
/// ("app: flapped 3 times, now firing").
pub fn subject(message: &GroupMessage) -> String {
    let alerts = alerts(message);
    let Some(first) = alerts.first() else {
        return "[LOOKOUT] empty notification".to_string();
    };
    let open: Vec<&AlertNews<'_>> = alerts.iter().filter(|a| a.open()).collect();
    let tag = if all_resolved(message) {
        "RESOLVED".to_string()
    } else if alerts.iter().all(|a| a.latest().kind == NoticeKind::Test) {
        "TEST".to_string()
    } else if open.iter().all(|a| a.latest().kind == NoticeKind::Flapping) {
        "FLAPPING".to_string()
    } else {
        // The tag is the worst of what still needs attention: a resolved critical next to a
        // firing warning is good news about the critical, not a critical.
        open.iter()
            .filter(|a| a.latest().kind != NoticeKind::Flapping)
            .map(|a| a.latest().severity)
            .max()
            .unwrap_or_else(|| message.severity())
            .as_str()
            .to_ascii_uppercase()
    };
    let mut subject = format!("[{tag}] {}", one_line(&first.headline()));
    if alerts.len() > 1 {
        let _ = write!(subject, " (+{} more)", alerts.len() - 1);
    }
    let scope = group_scope(message);
    if !scope.is_empty() {
        let _ = write!(subject, " — {scope}");
    }
    subject
}

/// What the group is about, for the subject: its `host` first, then the other group label
/// values ("web1", "web1, eu-west").
fn group_scope(message: &GroupMessage) -> String {
    let mut values: Vec<&str> = Vec::new();
    if let Some(host) = message.group_labels.get("host") {
        values.push(host);
    }
    values.extend(
        message
            .group_labels
            .iter()
            .filter(|(name, _)| name.as_str() != "host")
            .map(|(_, value)| value.as_str()),
    );
    one_line(&values.join(", "))
}

/// Headers cannot hold line breaks, and a summary with one would be a header injection.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// "for 5m" while firing, "lasted 5m" once resolved; measured to the notice's own decision time.
pub fn duration_phrase(notice: &AlertNotice) -> String {
    let millis = notice.at_ms.saturating_sub(notice.since_ms).max(0) as u64;
    // Whole seconds: "for 5m 0.25s" is noise in a message.
    let elapsed = format_duration(Duration::from_secs(millis / 1000));
    if notice.kind == NoticeKind::Resolved {
        format!("lasted {elapsed}")
    } else {
        format!("for {elapsed}")
    }
}

/// The intro line above the sections; counts alerts, not notices.
fn intro(message: &GroupMessage) -> String {
    let alerts = alerts(message);
    let count = alerts.len();
    let noun = if count == 1 { "alert" } else { "alerts" };
    if all_resolved(message) {
        format!("{count} {noun} resolved.")
    } else {
        let open = alerts.iter().filter(|a| a.open()).count();
        let verb = if open == 1 { "needs" } else { "need" };
        format!(
            "{count} {noun} changed; {open} still {verb} attention (worst: {}).",
            message.severity().as_str()
        )
    }
}

/// Sections: each category present, in `CATEGORY_ORDER`, with its alerts in reading order
/// (an alert's section is its latest notice's category).
fn sections(message: &GroupMessage) -> Vec<(Category, Vec<AlertNews<'_>>)> {
    let alerts = alerts(message);
    CATEGORY_ORDER
        .iter()
        .filter_map(|category| {
            let of: Vec<AlertNews<'_>> = alerts
                .iter()
                .filter(|a| a.latest().category == *category)
                .cloned()
                .collect();
            (!of.is_empty()).then_some((*category, of))
        })
        .collect()
}

/// The title of an alert's entry: "[FIRING] app is critical", "[FIRING] app: flapped 3 times,
/// now firing" for several notices, with "(resolved while muted by maintenance)" when told so.
fn entry_title(alert: &AlertNews<'_>) -> String {
    let latest = alert.latest();
    let mut title = format!(
        "[{}] {}",
        kind_label(latest.kind).to_ascii_uppercase(),
        one_line(&alert.headline())
    );
    if alert.collapsed().is_some() {
        let _ = write!(title, " — {}", one_line(&latest.summary));
    }
    if let Some(reason) = latest
        .resolved_while_muted
        .as_deref()
        .filter(|_| latest.kind == NoticeKind::Resolved)
    {
        let _ = write!(title, " (resolved while muted by {})", one_line(reason));
    }
    title
}

fn severity_line(notice: &AlertNotice) -> String {
    match (notice.kind, notice.previous_severity) {
        (NoticeKind::Escalated | NoticeKind::DeEscalated, Some(before)) => {
            format!("{} (was {})", notice.severity.as_str(), before.as_str())
        }
        _ => notice.severity.as_str().to_string(),
    }
}

fn labels_line(notice: &AlertNotice) -> String {
    notice
        .labels
        .iter()
        .map(|(name, value)| format!("{name}={value:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The plain-text body.
pub fn text_body(message: &GroupMessage) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}\n", intro(message));
    for (category, notices) in sections(message) {
        let (heading, intro) = category_heading(category);
        let _ = writeln!(out, "== {heading} ==\n{intro}\n");
        for alert in notices {
            let notice = alert.latest();
            let _ = writeln!(out, "* {}", entry_title(&alert));
            let mut field = |name: &str, value: &str| {
                if !value.is_empty() {
                    let _ = writeln!(out, "  {name:<11}{value}");
                }
            };
            field("Severity:", &severity_line(notice));
            field("Value:", &notice.value);
            field("Threshold:", &notice.threshold);
            field(
                "Since:",
                &format!(
                    "{} ({})",
                    format_rfc3339(notice.since_ms),
                    duration_phrase(notice)
                ),
            );
            field("Rule:", &notice.rule);
            field("Labels:", &labels_line(notice));
            field(
                "Runbook:",
                notice.runbook_url.as_deref().unwrap_or_default(),
            );
            let explains = alert.explains();
            if !explains.is_empty() {
                let _ = writeln!(out, "  Also explains: {}", one_line(&explains.join(", ")));
            }
            for line in notice.description.lines() {
                let _ = writeln!(out, "  {line}");
            }
            out.push('\n');
        }
    }
    if let Some(url) = &message.dashboard_url {
        let _ = writeln!(out, "Dashboard: {url}");
    }
    let _ = writeln!(out, "-- \nSent by Lookout. Group: {}", message.group_key);
    out
}

/// Text made safe for HTML element content and attribute values.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A link only for http(s) URLs: a `javascript:` runbook must not become clickable.
fn html_link(url: &str) -> String {
    let lower = url.trim().to_ascii_lowercase();
    if lower.starts_with("http://") || lower.starts_with("https://") {
        format!(
            "<a href=\"{}\">{}</a>",
            escape_html(url.trim()),
            escape_html(url)
        )
    } else {
        escape_html(url)
    }
}

/// The colour of a severity (borders, Slack attachments); green once resolved.
pub fn colour(severity: Severity, resolved: bool) -> &'static str {
    match (resolved, severity) {
        (true, _) => "#2e7d32",
        (false, Severity::Critical) => "#c62828",
        (false, Severity::Warning) => "#ef6c00",
        (false, Severity::Info) => "#1565c0",
    }
}

/// The HTML body: the same content as the text body.
pub fn html_body(message: &GroupMessage) -> String {
    let mut out = String::from(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"></head>\n\
         <body style=\"font-family: sans-serif; font-size: 14px; color: #222;\">\n",
    );
    let _ = writeln!(out, "<p>{}</p>", escape_html(&intro(message)));
    for (category, notices) in sections(message) {
        let (heading, intro) = category_heading(category);
        let _ = writeln!(
            out,
            "<h2 style=\"font-size: 18px; margin: 16px 0 4px;\">{}</h2>\n<p style=\"margin: 0 0 8px; color: #555;\">{}</p>",
            escape_html(heading),
            escape_html(intro)
        );
        for alert in notices {
            let notice = alert.latest();
            let resolved = notice.kind == NoticeKind::Resolved;
            let _ = writeln!(
                out,
                "<div style=\"border-left: 4px solid {}; padding: 4px 12px; margin: 8px 0;\">\n\
                 <p style=\"margin: 0; font-weight: bold;\">{}</p>",
                colour(notice.severity, resolved),
                escape_html(&entry_title(&alert))
            );
            out.push_str("<ul style=\"margin: 4px 0; padding-left: 16px;\">\n");
            let mut item = |name: &str, value_html: String| {
                if !value_html.is_empty() {
                    let _ = writeln!(out, "<li>{name}: {value_html}</li>");
                }
            };
            item("Severity", escape_html(&severity_line(notice)));
            item("Value", escape_html(&notice.value));
            item("Threshold", escape_html(&notice.threshold));
            item(
                "Since",
                escape_html(&format!(
                    "{} ({})",
                    format_rfc3339(notice.since_ms),
                    duration_phrase(notice)
                )),
            );
            item("Rule", escape_html(&notice.rule));
            item("Labels", escape_html(&labels_line(notice)));
            item(
                "Runbook",
                notice
                    .runbook_url
                    .as_deref()
                    .map(html_link)
                    .unwrap_or_default(),
            );
            item("Also explains", escape_html(&alert.explains().join(", ")));
            out.push_str("</ul>\n");
            if !notice.description.is_empty() {
                let lines: Vec<String> = notice.description.lines().map(escape_html).collect();
                let _ = writeln!(
                    out,
                    "<p style=\"margin: 4px 0; white-space: pre-wrap;\">{}</p>",
                    lines.join("<br>\n")
                );
            }
            out.push_str("</div>\n");
        }
    }
    if let Some(url) = &message.dashboard_url {
        let _ = writeln!(out, "<p>Dashboard: {}</p>", html_link(url));
    }
    let _ = writeln!(
        out,
        "<p style=\"color: #777; font-size: 12px;\">Sent by Lookout. Group: {}</p>\n</body></html>",
        escape_html(&message.group_key)
    );
    out
}

pub fn render(message: &GroupMessage) -> Rendered {
    Rendered {
        subject: subject(message),
        text: text_body(message),
        html: html_body(message),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::collections::BTreeMap;

    pub(crate) fn notice(
        rule: &str,
        kind: NoticeKind,
        severity: Severity,
        category: Category,
    ) -> AlertNotice {
        AlertNotice {
            alert_id: format!("{rule}/web1"),
            rule: rule.to_string(),
            kind,
            severity,
            previous_severity: None,
            category,
            labels: BTreeMap::from([
                ("alertname".to_string(), rule.to_string()),
                ("host".to_string(), "web1".to_string()),
            ]),
            summary: format!("{rule} is {}", severity.as_str()),
            description: "First line.\nSecond line.".to_string(),
            value: "97.0%".to_string(),
            threshold: "95%".to_string(),
            since_ms: 1_700_000_000_000,
            at_ms: 1_700_000_300_000,
            runbook_url: None,
            explains: Vec::new(),
            resolved_while_muted: None,
        }
    }

    pub(crate) fn message(notices: Vec<AlertNotice>) -> GroupMessage {
        GroupMessage {
            idempotency_key: "k1".to_string(),
            group_key: "host=web1".to_string(),
            group_labels: BTreeMap::from([("host".to_string(), "web1".to_string())]),
            notices,
            dashboard_url: None,
            created_ms: 1_700_000_300_000,
        }
    }

    #[test]
    fn subjects_name_the_worst_alert_the_count_and_the_group() {
        use Category::*;
        use NoticeKind::*;
        use Severity::*;
        for (notices, expected) in [
            (
                vec![notice("app", Firing, Critical, Failure)],
                "[CRITICAL] app is critical — web1",
            ),
            (
                vec![
                    notice("cpu", Firing, Warning, Resource),
                    notice("app", Firing, Critical, Failure),
                    notice("disk", Resolved, Critical, Resource),
                ],
                "[CRITICAL] app is critical (+2 more) — web1",
            ),
            (
                // A resolved critical does not outrank a firing warning as the headline.
                vec![
                    notice("disk", Resolved, Critical, Resource),
                    notice("cpu", Repeat, Warning, Resource),
                ],
                "[WARNING] cpu is warning (+1 more) — web1",
            ),
            (
                vec![
                    notice("cpu", Resolved, Warning, Resource),
                    notice("app", Resolved, Critical, Failure),
                ],
                "[RESOLVED] app is critical (+1 more) — web1",
            ),
            (
                vec![notice("test", Test, Info, Failure)],
                "[TEST] test is info — web1",
            ),
        ] {
            assert_eq!(subject(&message(notices)), expected);
        }
    }

    #[test]
    fn subject_has_no_line_breaks_even_from_summaries() {
        let mut n = notice(
            "app",
            NoticeKind::Firing,
            Severity::Critical,
            Category::Failure,
        );
        n.summary = "bad\r\nBcc: x@example.org".to_string();
        let mut m = message(vec![n]);
        m.group_labels
            .insert("zone".to_string(), "eu\nwest".to_string());
        assert_eq!(
            subject(&m),
            "[CRITICAL] bad Bcc: x@example.org — web1, eu west"
        );
    }

    #[test]
    fn text_body_lists_every_notice_by_category() {
        let mut escalated = notice(
            "cpu",
            NoticeKind::Escalated,
            Severity::Critical,
            Category::Resource,
        );
        escalated.previous_severity = Some(Severity::Warning);
        escalated.runbook_url = Some("https://wiki.example.org/cpu".to_string());
        let mut m = message(vec![
            escalated,
            notice(
                "app",
                NoticeKind::Resolved,
                Severity::Critical,
                Category::Failure,
            ),
        ]);
        m.dashboard_url = Some("http://127.0.0.1:9898/".to_string());
        assert_eq!(
            text_body(&m),
            "2 alerts changed; 1 still needs attention (worst: critical).\n\n\
             == Critical failures ==\n\
             A service Lookout watches is failing or has stopped reporting.\n\n\
             * [RESOLVED] app is critical\n\
            \x20 Severity:  critical\n\
            \x20 Value:     97.0%\n\
            \x20 Threshold: 95%\n\
            \x20 Since:     2023-11-14T22:13:20.000Z (lasted 5m)\n\
            \x20 Rule:      app\n\
            \x20 Labels:    alertname=\"app\", host=\"web1\"\n\
            \x20 First line.\n\
            \x20 Second line.\n\n\
             == High resource use ==\n\
             A machine is running short of CPU, memory or disk.\n\n\
             * [ESCALATED] cpu is critical\n\
            \x20 Severity:  critical (was warning)\n\
            \x20 Value:     97.0%\n\
            \x20 Threshold: 95%\n\
            \x20 Since:     2023-11-14T22:13:20.000Z (for 5m)\n\
            \x20 Rule:      cpu\n\
            \x20 Labels:    alertname=\"cpu\", host=\"web1\"\n\
            \x20 Runbook:   https://wiki.example.org/cpu\n\
            \x20 First line.\n\
            \x20 Second line.\n\n\
             Dashboard: http://127.0.0.1:9898/\n\
             -- \nSent by Lookout. Group: host=web1\n"
        );
    }

    /// A notice of `rule` of `kind` decided at T0 + `secs` s.
    fn at(rule: &str, kind: NoticeKind, severity: Severity, secs: i64) -> AlertNotice {
        let mut n = notice(rule, kind, severity, Category::Failure);
        n.at_ms = 1_700_000_000_000 + secs * 1_000;
        if kind == NoticeKind::Resolved {
            n.summary = format!("{rule} is ok");
        }
        n
    }

    /// Regression (issue 16, finding 8): one alert's transitions in one mail were counted as
    /// that many alerts ("4 alerts changed; 2 still need attention") and listed one by one.
    #[test]
    fn an_alert_told_several_times_in_one_message_reads_as_its_net_state() {
        use NoticeKind::*;
        use Severity::*;
        let flapped = message(vec![
            at("app", Firing, Critical, 10),
            at("app", Resolved, Critical, 20),
            at("cpu", Firing, Warning, 25),
            at("app", Firing, Critical, 30),
        ]);
        assert_eq!(
            subject(&flapped),
            "[CRITICAL] app: flapped 3 times, now firing (+1 more) — web1"
        );
        let text = text_body(&flapped);
        assert!(
            text.starts_with("2 alerts changed; 2 still need attention (worst: critical).\n"),
            "{text}"
        );
        assert!(
            text.contains("\n* [FIRING] app: flapped 3 times, now firing — app is critical\n  Severity:  critical\n"),
            "{text}"
        );
        assert_eq!(
            text.matches("* [").count(),
            2,
            "one entry per alert: {text}"
        );
        let html = html_body(&flapped);
        assert!(
            html.contains(">[FIRING] app: flapped 3 times, now firing — app is critical</p>"),
            "{html}"
        );

        let ended = message(vec![
            at("app", Firing, Critical, 10),
            at("app", Resolved, Critical, 20),
        ]);
        assert_eq!(
            subject(&ended),
            "[RESOLVED] app: flapped 2 times, now resolved — web1"
        );
        assert!(text_body(&ended).starts_with("1 alert resolved.\n"));

        let mut escalated = at("cpu", Escalated, Critical, 20);
        escalated.previous_severity = Some(Warning);
        let worse = message(vec![at("cpu", Firing, Warning, 10), escalated]);
        assert_eq!(
            subject(&worse),
            "[CRITICAL] cpu: changed 2 times, now critical — web1"
        );
    }

    #[test]
    fn flapping_root_causes_and_resolutions_while_muted_are_told_as_such() {
        use NoticeKind::*;
        use Severity::*;
        let mut flapping = at("app", Flapping, Critical, 90);
        flapping.summary = "app is flapping: 23 changes in 90 s".to_string();
        let m = message(vec![flapping]);
        assert_eq!(
            subject(&m),
            "[FLAPPING] app is flapping: 23 changes in 90 s — web1"
        );
        assert!(
            text_body(&m).contains("\n* [FLAPPING] app is flapping: 23 changes in 90 s\n"),
            "{}",
            text_body(&m)
        );

        let mut db = at("db", Firing, Critical, 10);
        db.explains = vec![
            "app-ready is critical".to_string(),
            "app is critical".to_string(),
        ];
        let mut app = at("app", Resolved, Critical, 20);
        app.resolved_while_muted = Some("maintenance".to_string());
        let m = message(vec![db, app]);
        assert_eq!(subject(&m), "[CRITICAL] db is critical (+1 more) — web1");
        assert_eq!(
            text_body(&m),
            "2 alerts changed; 1 still needs attention (worst: critical).\n\n\
             == Critical failures ==\n\
             A service Lookout watches is failing or has stopped reporting.\n\n\
             * [FIRING] db is critical\n\
            \x20 Severity:  critical\n\
            \x20 Value:     97.0%\n\
            \x20 Threshold: 95%\n\
            \x20 Since:     2023-11-14T22:13:20.000Z (for 10s)\n\
            \x20 Rule:      db\n\
            \x20 Labels:    alertname=\"db\", host=\"web1\"\n\
            \x20 Also explains: app-ready is critical, app is critical\n\
            \x20 First line.\n\
            \x20 Second line.\n\n\
             * [RESOLVED] app is ok (resolved while muted by maintenance)\n\
            \x20 Severity:  critical\n\
            \x20 Value:     97.0%\n\
            \x20 Threshold: 95%\n\
            \x20 Since:     2023-11-14T22:13:20.000Z (lasted 20s)\n\
            \x20 Rule:      app\n\
            \x20 Labels:    alertname=\"app\", host=\"web1\"\n\
            \x20 First line.\n\
            \x20 Second line.\n\n\
             -- \nSent by Lookout. Group: host=web1\n"
        );
        let html = html_body(&m);
        for needle in [
            "<li>Also explains: app-ready is critical, app is critical</li>",
            ">[RESOLVED] app is ok (resolved while muted by maintenance)</p>",
        ] {
            assert!(html.contains(needle), "{needle} not in {html}");
        }
    }

    #[test]
    fn every_category_has_its_heading() {
        for (category, heading) in [
            (Category::Failure, "Critical failures"),
            (Category::Resource, "High resource use"),
            (Category::Maintenance, "Maintenance events"),
            (Category::Security, "Security incidents"),
            (Category::Performance, "Performance degradation"),
        ] {
            let m = message(vec![notice(
                "r",
                NoticeKind::Firing,
                Severity::Warning,
                category,
            )]);
            assert!(
                text_body(&m).contains(&format!("== {heading} ==")),
                "{category:?}"
            );
            assert!(
                html_body(&m).contains(&format!(">{heading}</h2>")),
                "{category:?}"
            );
        }
    }

    #[test]
    fn html_escapes_everything_and_links_only_http() {
        let mut n = notice(
            "x",
            NoticeKind::Firing,
            Severity::Critical,
            Category::Security,
        );
        n.summary = "<script>alert(1)</script>".to_string();
        n.description = "a & b\n\"quoted\" 'single'".to_string();
        n.labels
            .insert("path".to_string(), "<img src=x>".to_string());
        n.runbook_url = Some("javascript:alert(1)".to_string());
        let mut m = message(vec![n]);
        m.group_key = "<g>".to_string();
        m.dashboard_url = Some("https://dash.example.org/?a=1&b=\"2\"".to_string());
        let html = html_body(&m);
        assert!(
            !html.contains("<script>") && !html.contains("<img"),
            "{html}"
        );
        assert!(
            html.contains("[FIRING] &lt;script&gt;alert(1)&lt;/script&gt;"),
            "{html}"
        );
        assert!(
            html.contains("a &amp; b<br>\n&quot;quoted&quot; &#39;single&#39;"),
            "{html}"
        );
        assert!(
            html.contains("<li>Runbook: javascript:alert(1)</li>"),
            "{html}"
        );
        assert!(!html.contains("href=\"javascript"), "{html}");
        assert!(
            html.contains("<a href=\"https://dash.example.org/?a=1&amp;b=&quot;2&quot;\">"),
            "{html}"
        );
        assert!(html.contains("Group: &lt;g&gt;"), "{html}");
    }

    #[test]
    fn html_lists_every_field_of_every_notice() {
        let m = message(vec![
            notice(
                "cpu",
                NoticeKind::Repeat,
                Severity::Warning,
                Category::Resource,
            ),
            notice(
                "p95",
                NoticeKind::DeEscalated,
                Severity::Info,
                Category::Performance,
            ),
        ]);
        let html = html_body(&m);
        for needle in [
            "[STILL FIRING] cpu is warning",
            "[DE-ESCALATED] p95 is info",
            "<li>Value: 97.0%</li>",
            "<li>Threshold: 95%</li>",
            "<li>Since: 2023-11-14T22:13:20.000Z (for 5m)</li>",
            "<li>Labels: alertname=&quot;p95&quot;, host=&quot;web1&quot;</li>",
            "First line.<br>\nSecond line.",
            "border-left: 4px solid #ef6c00",
        ] {
            assert!(html.contains(needle), "{needle} not in {html}");
        }
    }
}
