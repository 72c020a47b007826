//! The plain HTML status page: server-rendered, no JavaScript, refreshes itself every 30 s.

use std::fmt::Write;

use axum::extract::State;
use axum::response::Html;

use crate::clock::format_rfc3339;
use crate::model::Status;

use super::api::status_dto;
use super::{AppState, VERSION};

fn escape(text: &str) -> String {
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

fn status_class(status: Status) -> &'static str {
    match status {
        Status::Ok => "ok",
        Status::Maintenance => "maint",
        Status::Warning => "warn",
        Status::Unknown => "unknown",
        Status::Critical => "crit",
    }
}

const STYLE: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222;background:#fafafa}\
h1{font-size:1.4em}h2{font-size:1.1em;margin-top:1.5em}table{border-collapse:collapse;min-width:40em}\
td,th{padding:.3em .8em;border-bottom:1px solid #ddd;text-align:left}th{background:#eee}\
.badge{display:inline-block;padding:.1em .6em;border-radius:.8em;font-weight:600;color:#fff}\
.ok{background:#2e7d32}.maint{background:#1565c0}.warn{background:#ef6c00}.unknown{background:#6d6d6d}.crit{background:#c62828}\
.muted{color:#777}";

pub async fn status_page(State(state): State<AppState>) -> Html<String> {
    let status = status_dto(&state);
    let now = state.clock.now_ms();
    let events = state
        .store
        .events(now - 86_400_000, now, 20)
        .await
        .unwrap_or_default();

    let mut html = String::with_capacity(8192);
    let _ = write!(
        html,
        "<!doctype html><html lang=en><head><meta charset=utf-8>\
         <meta http-equiv=refresh content=30><meta name=viewport content=\"width=device-width\">\
         <title>Lookout: {overall}</title><style>{STYLE}</style></head><body>\
         <h1>Lookout <span class=\"badge {class}\">{overall}</span></h1>\
         <p class=muted>Generated {generated}; refreshes every 30 s. Version {VERSION}.</p>",
        overall = status.overall,
        class = status_class(status.overall),
        generated = escape(&status.generated_at),
    );

    html.push_str("<h2>Layers</h2><table><tr><th>Layer</th><th>Status</th><th>Checks</th></tr>");
    for layer in &status.layers {
        let _ = write!(
            html,
            "<tr><td>{}</td><td><span class=\"badge {}\">{}</span></td><td>{}</td></tr>",
            layer.layer,
            status_class(layer.status),
            layer.status,
            layer.checks
        );
    }
    html.push_str("</table>");

    html.push_str(
        "<h2>Checks</h2><table><tr><th>Layer</th><th>Check</th><th>Status</th><th>Detail</th><th>At</th></tr>",
    );
    for check in &status.checks {
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{}</td><td><span class=\"badge {}\">{}</span></td><td>{}</td><td class=muted>{}</td></tr>",
            check.layer,
            escape(&check.check),
            status_class(check.status),
            check.status,
            escape(&check.detail),
            escape(&check.at),
        );
    }
    if status.checks.is_empty() {
        html.push_str("<tr><td colspan=5 class=muted>No check has run yet.</td></tr>");
    }
    html.push_str("</table>");

    html.push_str("<h2>Recent events</h2><table><tr><th>At</th><th>Kind</th><th>Subject</th><th>Message</th></tr>");
    for event in &events {
        let _ = write!(
            html,
            "<tr><td class=muted>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            format_rfc3339(event.at_ms),
            event.kind.as_str(),
            escape(&event.subject),
            escape(&event.message),
        );
    }
    if events.is_empty() {
        html.push_str("<tr><td colspan=4 class=muted>No events in the last 24 hours.</td></tr>");
    }
    html.push_str(
        "</table><p class=muted>API: <a href=\"/api/v1/status\">/api/v1/status</a> · \
         <a href=\"/api/v1/events\">/api/v1/events</a> · <a href=\"/metrics\">/metrics</a> · \
         <a href=\"/healthz\">/healthz</a></p></body></html>",
    );
    Html(html)
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn escapes_markup_in_untrusted_text() {
        assert_eq!(
            escape("<script>alert('x')</script> & \"y\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;y&quot;"
        );
    }
}
