//! The dashboard's pages (issue "Web dashboard"): one HTML shell for every page route, the
//! embedded assets (`assets/app.js`, `assets/app.css`), and a server-rendered summary inside
//! the shell so the page says something useful before (or without) JavaScript.
//! The JavaScript renders the page named by `location.pathname`, so every URL is a deep link.

use std::fmt::Write;

use axum::extract::{Path, State};
use axum::http::{Method, StatusCode, Uri, header};
use axum::response::{Html, IntoResponse, Response};
use axum::{Extension, Json};

use crate::clock::format_rfc3339;

use super::auth::Principal;
use super::{AppState, VERSION};
use crate::model::{CheckResult, Status};

/// The pages of the dashboard: route and the name its title starts with.
const PAGES: &[(&str, &str)] = &[
    ("/", "Overview"),
    ("/system", "System"),
    ("/checks", "Checks"),
    ("/database", "Database"),
    ("/redis", "Redis"),
    ("/maintenance", "Maintenance"),
    ("/alerts", "Alerts"),
    ("/events", "Events"),
];

/// The `<title>` of a page: "Checks · Lookout", "app · Checks · Lookout"; `None` for a path
/// that is no page.
pub fn title(path: &str) -> Option<String> {
    if let Some(check) = path.strip_prefix("/checks/")
        && !check.is_empty()
        && !check.contains('/')
    {
        let check = percent_decode(check);
        return Some(format!("{check} · Checks · Lookout"));
    }
    PAGES
        .iter()
        .find(|(route, _)| *route == path)
        .map(|(_, name)| format!("{name} · Lookout"))
}

/// `%XX` escapes of a path segment decoded (as axum's `Path` does); invalid ones kept.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && let (Some(h), Some(l)) = (
                bytes.get(i + 1).copied().and_then(hex),
                bytes.get(i + 2).copied().and_then(hex),
            )
        {
            out.push((h * 16 + l) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Rows of the no-script summary in the shell.
const SUMMARY_ROWS: usize = 50;

const SHELL: &str = include_str!("assets/index.html");
const APP_JS: &str = include_str!("assets/app.js");
const CHARTS_JS: &str = include_str!("assets/charts.js");
const CHARTS_CSS: &str = include_str!("assets/charts.css");
/// uPlot (MIT), the charts' engine, vendored as published (see `assets/vendor/README.md`).
const UPLOT_JS: &str = include_str!("assets/vendor/uPlot.iife.min.js");
const UPLOT_CSS: &str = include_str!("assets/vendor/uPlot.min.css");
const UPLOT_LICENSE: &str = include_str!("assets/vendor/LICENSE-uPlot");
const APP_CSS: &str = include_str!("assets/app.css");
const ICON_SVG: &str = include_str!("assets/icon.svg");

/// Debug builds only: with `LOOKOUT_DEV_ASSETS=<dir>` the assets and the shell are read from
/// that directory on every request, so the dashboard's script and style can be edited without
/// rebuilding. Release builds always serve the embedded copies.
fn dev_asset(file: &str, embedded: &'static str) -> std::borrow::Cow<'static, str> {
    #[cfg(debug_assertions)]
    if let Some(dir) = std::env::var_os("LOOKOUT_DEV_ASSETS") {
        if let Ok(text) = std::fs::read_to_string(std::path::Path::new(&dir).join(file)) {
            return std::borrow::Cow::Owned(text);
        }
    }
    let _ = file;
    std::borrow::Cow::Borrowed(embedded)
}

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

/// `/assets/{file}`: the embedded script, style sheet and icon.
pub async fn asset(Path(file): Path<String>) -> Response {
    let (content_type, embedded) = match file.as_str() {
        "app.js" => ("text/javascript; charset=utf-8", APP_JS),
        "charts.js" => ("text/javascript; charset=utf-8", CHARTS_JS),
        "app.css" => ("text/css; charset=utf-8", APP_CSS),
        "charts.css" => ("text/css; charset=utf-8", CHARTS_CSS),
        "uPlot.iife.min.js" => ("text/javascript; charset=utf-8", UPLOT_JS),
        "uPlot.min.css" => ("text/css; charset=utf-8", UPLOT_CSS),
        "LICENSE-uPlot" => ("text/plain; charset=utf-8", UPLOT_LICENSE),
        "icon.svg" => ("image/svg+xml", ICON_SVG),
        _ => return (StatusCode::NOT_FOUND, "no such asset").into_response(),
    };
    let body = dev_asset(&file, embedded);
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
        .into_response()
}

/// Any other path: a JSON 404 under `/api/`, the shell with a "not found" page elsewhere
/// (status 404 either way; the access guard runs first, as for every route).
pub async fn not_found(method: Method, uri: Uri) -> Response {
    let path = uri.path();
    if path.starts_with("/api/") || path == "/api" {
        return (
            StatusCode::NOT_FOUND,
            Json(serde_json::json!({
                "error": format!("no such endpoint: {method} {path}; the API is under /api/v1/ (see the README's API section)")
            })),
        )
            .into_response();
    }
    let mut html = String::with_capacity(1024);
    let _ = write!(
        html,
        "<section class=\"not-found\" data-status=\"404\"><h1>Page not found</h1>\
         <p>There is no page at <code>{}</code>.</p><p>Go to the <a href=\"/\">overview</a>, \
         the <a href=\"/checks\">checks</a>, the <a href=\"/alerts\">alerts</a> or the \
         <a href=\"/events\">events</a>.</p></section>",
        escape(path)
    );
    page(StatusCode::NOT_FOUND, "Not found · Lookout", &html)
}

/// The shell around `summary`, with its headers.
fn page(status: StatusCode, title: &str, summary: &str) -> Response {
    let page = dev_asset("index.html", SHELL)
        .replace("{{TITLE}}", &escape(title))
        .replace("{{VERSION}}", VERSION)
        .replace("{{SUMMARY}}", summary);
    (
        status,
        [
            (header::CACHE_CONTROL, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        Html(page),
    )
        .into_response()
}

/// Whether the dashboard has a check of this name (configured, or one Lookout makes).
fn check_exists(state: &AppState, name: &str) -> bool {
    state.config.get().checks.iter().any(|c| c.name == name)
        || state.snapshot.checks().iter().any(|c| c.check == name)
}

/// Every page route: the shell, with a server-rendered summary that the script replaces.
/// A check page of an unknown check is a 404.
pub async fn shell(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    principal: Option<Extension<Principal>>,
) -> Response {
    let Some(title) = title(uri.path()) else {
        return not_found(method, uri).await;
    };
    if let Some(check) = uri.path().strip_prefix("/checks/")
        && !check_exists(&state, &percent_decode(check))
    {
        return not_found(method, uri).await;
    }
    // From the snapshot itself (typed statuses, sorted by severity), not from the API's view.
    let checks = state.snapshot.checks();
    let overall = Status::worst(checks.iter().map(|c| c.status));
    let now = state.clock.now_ms();
    let events = state
        .store
        .events(now - 86_400_000, now, 20)
        .await
        .unwrap_or_default();

    let mut html = String::with_capacity(8192);
    let _ = write!(
        html,
        "<h1>Lookout <span class=\"badge s-{class}\">{overall}</span></h1>\
         <p class=muted>Generated {generated}. Version {VERSION}. \
         The dashboard needs JavaScript; this summary refreshes every 30 s.</p>",
        class = overall.as_str(),
        generated = escape(&format_rfc3339(now)),
    );
    // Logging out without the script: the same form the script shows, with this session's
    // CSRF token (the guard checks the form field as it checks the script's header).
    if let Some(Extension(principal)) = &principal
        && let Some(csrf) = principal.csrf_token()
    {
        let _ = write!(
            html,
            "<form class=\"logout-nojs\" method=\"post\" action=\"/logout\">\
             <input type=\"hidden\" name=\"csrf_token\" value=\"{}\">\
             <span class=muted>Logged in as {}.</span> <button type=\"submit\">Log out</button></form>",
            escape(csrf),
            escape(&principal.name),
        );
    }
    firing_alerts(&state, &mut html);

    // The worst checks first, at most SUMMARY_ROWS of them: with thousands of checks a full
    // table would make the shell megabytes long and delay the dashboard itself by seconds.
    let mut shown: Vec<&CheckResult> = checks.iter().collect();
    shown.sort_by(|a, b| b.status.cmp(&a.status).then_with(|| a.check.cmp(&b.check)));
    let hidden = shown.len().saturating_sub(SUMMARY_ROWS);
    shown.truncate(SUMMARY_ROWS);
    let _ = write!(
        html,
        "<h2>Checks</h2><p class=muted>{} checks, {} not ok.</p>\
         <table><tr><th>Layer</th><th>Check</th><th>Status</th><th>Detail</th><th>At</th></tr>",
        checks.len(),
        checks.iter().filter(|c| c.status != Status::Ok).count()
    );
    for check in shown {
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{}</td><td><span class=\"badge s-{}\">{}</span></td><td>{}</td><td class=muted>{}</td></tr>",
            check.layer,
            escape(&check.check),
            check.status.as_str(),
            check.status,
            escape(&check.detail),
            escape(&format_rfc3339(check.at_ms)),
        );
    }
    if checks.is_empty() {
        html.push_str("<tr><td colspan=5 class=muted>No check has run yet.</td></tr>");
    }
    html.push_str("</table>");
    if hidden > 0 {
        let _ = write!(
            html,
            "<p class=muted>And {hidden} more (the best off); the dashboard lists them all.</p>"
        );
    }

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
    html.push_str("</table>");

    page(StatusCode::OK, &title, &html)
}

/// The firing alerts, worst first: those someone is told of, then the muted and silenced
/// ones marked as such.
fn firing_alerts(state: &AppState, html: &mut String) {
    let mut alerts: Vec<_> = state
        .alerting
        .as_ref()
        .map(|a| a.alerts())
        .unwrap_or_default()
        .into_iter()
        .filter(|a| a.state == "firing")
        .collect();
    alerts.sort_by(|a, b| {
        a.muted_by
            .is_some()
            .cmp(&b.muted_by.is_some())
            .then(b.severity.cmp(&a.severity))
            .then(a.since_ms.cmp(&b.since_ms))
    });
    let told = alerts.iter().filter(|a| a.muted_by.is_none()).count();
    let _ = write!(
        html,
        "<h2>Firing alerts</h2><p class=muted>{told} firing, {} muted or silenced.</p>",
        alerts.len() - told
    );
    if alerts.is_empty() {
        return;
    }
    html.push_str(
        "<table><tr><th>Severity</th><th>Alert</th><th>Summary</th><th>Since</th><th>Muted</th></tr>",
    );
    for alert in alerts.iter().take(SUMMARY_ROWS) {
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td class=muted>{}</td><td>{}</td></tr>",
            escape(alert.severity.as_str()),
            escape(&alert.rule),
            escape(&alert.summary),
            escape(&format_rfc3339(alert.since_ms)),
            escape(&crate::alert::mute::text(alert.muted_by.as_ref())),
        );
    }
    html.push_str("</table>");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn serves_the_embedded_assets_with_their_types_and_nothing_else() {
        for (file, want) in [
            ("app.js", "text/javascript; charset=utf-8"),
            ("charts.js", "text/javascript; charset=utf-8"),
            ("app.css", "text/css; charset=utf-8"),
            ("charts.css", "text/css; charset=utf-8"),
            ("uPlot.iife.min.js", "text/javascript; charset=utf-8"),
            ("uPlot.min.css", "text/css; charset=utf-8"),
            ("LICENSE-uPlot", "text/plain; charset=utf-8"),
            ("icon.svg", "image/svg+xml"),
        ] {
            let response = asset(Path(file.to_string())).await;
            assert_eq!(response.status(), StatusCode::OK, "{file}");
            assert_eq!(response.headers()[header::CONTENT_TYPE], want, "{file}");
        }
        for unknown in ["../Cargo.toml", "vendor", "uPlot.js", "LICENSE"] {
            let response = asset(Path(unknown.to_string())).await;
            assert_eq!(response.status(), StatusCode::NOT_FOUND, "{unknown}");
        }
        // The shell names the assets it needs and has a place for the summary.
        assert!(SHELL.contains("/assets/app.js") && SHELL.contains("{{SUMMARY}}"));
        // No CDN: everything the page loads is ours.
        assert!(
            !SHELL.contains("https://")
                && !APP_JS.contains("https://")
                && !CHARTS_JS.contains("https://")
        );
        // ... uPlot included: the shell loads it, then charts.js, then app.js, from /assets/.
        let at = |needle: &str| SHELL.find(needle).unwrap_or_else(|| panic!("{needle}"));
        assert!(at("/assets/uPlot.iife.min.js") < at("/assets/charts.js"));
        assert!(at("/assets/charts.js") < at("/assets/app.js"));
        assert!(at("/assets/uPlot.min.css") < at("/assets/charts.css"));
        for attr in [" src=\"", " href=\""] {
            for (i, _) in SHELL.match_indices(attr) {
                let url = &SHELL[i + attr.len()..];
                assert!(
                    (url.starts_with('/') || url.starts_with('#')) && !url.starts_with("//"),
                    "{}",
                    &url[..40.min(url.len())]
                );
            }
        }
    }

    #[test]
    fn the_vendored_uplot_is_the_version_its_readme_records_with_its_licence() {
        let readme = include_str!("assets/vendor/README.md");
        let version = readme
            .split("uPlot ")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .expect("the README names the uPlot version");
        assert!(
            UPLOT_JS.starts_with(&format!(
                "/*! https://github.com/leeoniya/uPlot (v{version}) */"
            )),
            "uPlot.iife.min.js is not {version}"
        );
        assert!(
            UPLOT_LICENSE.starts_with("The MIT License") && UPLOT_LICENSE.contains("Leon Sorokin")
        );
    }

    #[test]
    fn escapes_markup_in_untrusted_text() {
        assert_eq!(
            escape("<script>alert('x')</script> & \"y\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;y&quot;"
        );
    }
}
