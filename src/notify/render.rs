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

use super::{AlertNotice, Category, GroupMessage, NoticeKind};
use crate::alert::Severity;
use crate::clock::format_rfc3339;
use crate::config::units::format_duration;

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

/// True when every notice of the message is a resolution (the message is good news).
pub fn all_resolved(message: &GroupMessage) -> bool {
    !message.notices.is_empty()
        && message
            .notices
            .iter()
            .all(|n| n.kind == NoticeKind::Resolved)
}

/// The notices in reading order: still-firing before resolved, worst severity first, then
/// the oldest first (what has been wrong longest), then by rule for a stable order.
pub fn ordered(message: &GroupMessage) -> Vec<&AlertNotice> {
    let mut notices: Vec<&AlertNotice> = message.notices.iter().collect();
    notices.sort_by(|a, b| {
        (a.kind == NoticeKind::Resolved)
            .cmp(&(b.kind == NoticeKind::Resolved))
            .then(b.severity.cmp(&a.severity))
            .then(a.since_ms.cmp(&b.since_ms))
            .then(a.rule.cmp(&b.rule))
            .then(a.alert_id.cmp(&b.alert_id))
    });
    notices
}

/// `[CRITICAL] app is critical (+2 more) — web1`; `[RESOLVED] ...` when everything resolved;
/// `[TEST] ...` for `lookout alerts test`.
pub fn subject(message: &GroupMessage) -> String {
    let notices = ordered(message);
    let Some(first) = notices.first() else {
        return "[LOOKOUT] empty notification".to_string();
    };
    let tag = if all_resolved(message) {
        "RESOLVED".to_string()
    } else if notices.iter().all(|n| n.kind == NoticeKind::Test) {
        "TEST".to_string()
    } else {
        // The tag is the worst of what still needs attention: a resolved critical next to a
        // firing warning is good news about the critical, not a critical.
        notices
            .iter()
            .filter(|n| n.kind != NoticeKind::Resolved)
            .map(|n| n.severity)
            .max()
            .unwrap_or_else(|| message.severity())
            .as_str()
            .to_ascii_uppercase()
    };
    let mut subject = format!("[{tag}] {}", one_line(&first.summary));
    if notices.len() > 1 {
        let _ = write!(subject, " (+{} more)", notices.len() - 1);
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

/// The intro line above the sections.
fn intro(message: &GroupMessage) -> String {
    let count = message.notices.len();
    let alerts = if count == 1 { "alert" } else { "alerts" };
    if all_resolved(message) {
        format!("{count} {alerts} resolved.")
    } else {
        let open = message
            .notices
            .iter()
            .filter(|n| n.kind != NoticeKind::Resolved)
            .count();
        format!(
            "{count} {alerts} changed; {open} still need attention (worst: {}).",
            message.severity().as_str()
        )
    }
}

/// Sections: each category present, in `CATEGORY_ORDER`, with its notices in reading order.
fn sections(message: &GroupMessage) -> Vec<(Category, Vec<&AlertNotice>)> {
    let notices = ordered(message);
    CATEGORY_ORDER
        .iter()
        .filter_map(|category| {
            let of: Vec<&AlertNotice> = notices
                .iter()
                .copied()
                .filter(|n| n.category == *category)
                .collect();
            (!of.is_empty()).then_some((*category, of))
        })
        .collect()
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
        for notice in notices {
            let _ = writeln!(
                out,
                "* [{}] {}",
                kind_label(notice.kind).to_ascii_uppercase(),
                one_line(&notice.summary)
            );
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
        for notice in notices {
            let resolved = notice.kind == NoticeKind::Resolved;
            let _ = writeln!(
                out,
                "<div style=\"border-left: 4px solid {}; padding: 4px 12px; margin: 8px 0;\">\n\
                 <p style=\"margin: 0; font-weight: bold;\">[{}] {}</p>",
                colour(notice.severity, resolved),
                escape_html(&kind_label(notice.kind).to_ascii_uppercase()),
                escape_html(&notice.summary)
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
            "2 alerts changed; 1 still need attention (worst: critical).\n\n\
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
