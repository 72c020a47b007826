//! The dashboard's pages (issue "Web dashboard"): one HTML shell for every page route, the
//! embedded assets (`assets/app.js`, `assets/app.css`), and a server-rendered summary inside
//! the shell so the page says something useful before (or without) JavaScript.
//! The JavaScript renders the page named by `location.pathname`, so every URL is a deep link.

use std::fmt::Write;

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

use crate::clock::format_rfc3339;

use super::{AppState, VERSION};
use crate::model::{CheckResult, Status};

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

/// Every page route: the shell, with a server-rendered summary that the script replaces.
pub async fn shell(State(state): State<AppState>) -> Response {
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

    let page = dev_asset("index.html", SHELL)
        .replace("{{TITLE}}", &format!("Lookout: {overall}"))
        .replace("{{VERSION}}", VERSION)
        .replace("{{SUMMARY}}", &html);
    (
        [
            (header::CACHE_CONTROL, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        Html(page),
    )
        .into_response()
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
