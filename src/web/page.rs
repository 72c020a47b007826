//! The dashboard's pages (issue "Web dashboard"): one HTML shell for every page route, the
//! embedded assets (`assets/app.js`, `assets/app.css`), and a server-rendered summary inside
//! the shell so the page says something useful before (or without) JavaScript.
//! The JavaScript renders the page named by `location.pathname`, so every URL is a deep link.

use std::fmt::Write;

use std::sync::{LazyLock, OnceLock};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
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
    ("/hosts", "Hosts"),
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
    if let Some(host) = path.strip_prefix("/hosts/")
        && !host.is_empty()
        && !host.contains('/')
    {
        let host = percent_decode(host);
        return Some(format!("{host} · Hosts · Lookout"));
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

/// The assets under `/assets/`: file name, content type, embedded bytes.
const ASSETS: &[(&str, &str, &str)] = &[
    ("app.js", "text/javascript; charset=utf-8", APP_JS),
    ("charts.js", "text/javascript; charset=utf-8", CHARTS_JS),
    ("app.css", "text/css; charset=utf-8", APP_CSS),
    ("charts.css", "text/css; charset=utf-8", CHARTS_CSS),
    (
        "uPlot.iife.min.js",
        "text/javascript; charset=utf-8",
        UPLOT_JS,
    ),
    ("uPlot.min.css", "text/css; charset=utf-8", UPLOT_CSS),
    ("LICENSE-uPlot", "text/plain; charset=utf-8", UPLOT_LICENSE),
    ("icon.svg", "image/svg+xml", ICON_SVG),
];

/// An asset at a URL that names its content (`app.<hash>.js`): the same bytes forever, so
/// browsers and proxies keep it a year and never ask again.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// Everything else is revalidated on every use (a 304 while its ETag still matches).
const REVALIDATE: &str = "no-cache";
/// The shell carries the session's name and CSRF token: for this browser only.
const SHELL_CACHE: &str = "private, no-cache";
/// Hex digits of SHA-256 in asset URLs and ETags (64 bits: no collision between versions).
const HASH_HEX: usize = 16;

/// The first `HASH_HEX` hex digits of the SHA-256 of `bytes`.
fn content_hash(bytes: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, bytes);
    let mut hex = String::with_capacity(HASH_HEX);
    for b in &digest.as_ref()[..HASH_HEX / 2] {
        let _ = write!(hex, "{b:02x}");
    }
    hex
}

fn gzip(bytes: &[u8]) -> Bytes {
    use std::io::Write as _;
    // flate2 writes no time or name in the header: the same input, the same output, so the
    // gzip representation's ETag (derived from the content's) is a strong one.
    let mut encoder =
        flate2::write::GzEncoder::new(Vec::with_capacity(bytes.len() / 3), Default::default());
    encoder.write_all(bytes).expect("gzip into memory");
    Bytes::from(encoder.finish().expect("gzip into memory"))
}

/// One asset as served: its bytes, their hash, and its gzip'd bytes once asked for.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: Bytes,
    hash: String,
    gzip: OnceLock<Option<Bytes>>,
}

impl Asset {
    fn new(name: &'static str, content_type: &'static str, body: Bytes) -> Asset {
        Asset {
            name,
            content_type,
            hash: content_hash(&body),
            body,
            gzip: OnceLock::new(),
        }
    }

    /// `(prefix, suffix)` around the hash in the asset's hashed name: `app.` and `.js` for
    /// `app.js`, `LICENSE-uPlot.` and nothing for a name without an extension.
    fn hashed_parts(&self) -> (String, String) {
        match self.name.rsplit_once('.') {
            Some((stem, ext)) => (format!("{stem}."), format!(".{ext}")),
            None => (format!("{}.", self.name), String::new()),
        }
    }

    /// `/assets/app.<hash>.js`.
    fn url(&self) -> String {
        let (prefix, suffix) = self.hashed_parts();
        format!("/assets/{prefix}{}{suffix}", self.hash)
    }

    /// The gzip'd bytes, made once; `None` when gzip does not pay (tiny files).
    fn gzipped(&self) -> Option<Bytes> {
        self.gzip
            .get_or_init(|| {
                let zipped = gzip(&self.body);
                (self.body.len() >= 1024 && zipped.len() < self.body.len()).then_some(zipped)
            })
            .clone()
    }
}

/// One version of the dashboard's assets: what `/assets/` serves and the shell that links
/// to them by content-hashed URLs. The embedded one is made once, at the first request.
pub(crate) struct AssetSet {
    assets: Vec<Asset>,
    /// `index.html` with every `"/assets/NAME"` replaced by the asset's hashed URL.
    shell: String,
    /// Read from `LOOKOUT_DEV_ASSETS`: files change under the daemon, so nothing is
    /// cached for good (the hashed URLs still change with the files).
    dev: bool,
}

impl AssetSet {
    fn new(assets: Vec<Asset>, template: &str, dev: bool) -> AssetSet {
        let mut shell = template.to_string();
        for asset in &assets {
            shell = shell.replace(
                &format!("\"/assets/{}\"", asset.name),
                &format!("\"{}\"", asset.url()),
            );
        }
        AssetSet { assets, shell, dev }
    }

    fn embedded() -> AssetSet {
        let assets = ASSETS
            .iter()
            .map(|(name, content_type, body)| {
                Asset::new(name, content_type, Bytes::from_static(body.as_bytes()))
            })
            .collect();
        AssetSet::new(assets, SHELL, false)
    }

    /// The assets and the shell as the files in `dir` are now; a file missing there is the
    /// embedded one. Debug builds only (`LOOKOUT_DEV_ASSETS`), and the tests.
    #[cfg(any(debug_assertions, test))]
    pub(crate) fn from_dir(dir: &std::path::Path) -> AssetSet {
        let read = |name: &str| std::fs::read(dir.join(name)).ok();
        let assets = ASSETS
            .iter()
            .map(|(name, content_type, body)| {
                let bytes =
                    read(name).map_or_else(|| Bytes::from_static(body.as_bytes()), Bytes::from);
                Asset::new(name, content_type, bytes)
            })
            .collect();
        let template = read("index.html")
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .unwrap_or_else(|| SHELL.to_string());
        AssetSet::new(assets, &template, true)
    }

    /// The asset a request's file names, and whether it named it by its current hash.
    /// `app.js` (revalidated) and `app.<16 hex digits>.js` name app.js; the digits may be
    /// an older version's.
    fn resolve(&self, file: &str) -> Option<(&Asset, bool)> {
        if let Some(asset) = self.assets.iter().find(|a| a.name == file) {
            return Some((asset, false));
        }
        self.assets.iter().find_map(|asset| {
            let (prefix, suffix) = asset.hashed_parts();
            let hash = file.strip_prefix(&prefix)?.strip_suffix(&suffix)?;
            let hex = hash.len() == HASH_HEX
                && hash
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
            hex.then_some((asset, hash == asset.hash))
        })
    }

    /// The URL to link `name` by (the plain one for a name that is no asset).
    pub(crate) fn url(&self, name: &str) -> String {
        self.assets
            .iter()
            .find(|a| a.name == name)
            .map_or_else(|| format!("/assets/{name}"), Asset::url)
    }
}

static EMBEDDED: LazyLock<AssetSet> = LazyLock::new(AssetSet::embedded);

/// Runs `f` with the assets to serve: the embedded ones, or in debug builds with
/// `LOOKOUT_DEV_ASSETS=<dir>` those of that directory as they are at this request, so the
/// dashboard's script and style can be edited without rebuilding. Release builds always
/// serve the embedded copies.
fn with_assets<R>(f: impl FnOnce(&AssetSet) -> R) -> R {
    #[cfg(debug_assertions)]
    if let Some(dir) = std::env::var_os("LOOKOUT_DEV_ASSETS") {
        return f(&AssetSet::from_dir(std::path::Path::new(&dir)));
    }
    f(&EMBEDDED)
}

/// The URL pages link the asset `name` by (the login page's style sheet).
pub(crate) fn asset_url(name: &str) -> String {
    with_assets(|set| set.url(name))
}

/// Whether the request accepts gzip (`Accept-Encoding`, with its q-values: `gzip;q=0` and
/// `*;q=0` refuse it).
fn accepts_gzip(headers: &HeaderMap) -> bool {
    let (mut gzip, mut any) = (None, None);
    for value in headers.get_all(header::ACCEPT_ENCODING) {
        let Ok(value) = value.to_str() else { continue };
        for item in value.split(',') {
            let mut parts = item.split(';');
            let coding = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let q = parts
                .filter_map(|p| {
                    let (k, v) = p.split_once('=')?;
                    k.trim()
                        .eq_ignore_ascii_case("q")
                        .then(|| v.trim().parse::<f32>().ok())?
                })
                .next()
                .unwrap_or(1.0);
            match coding.as_str() {
                "gzip" | "x-gzip" => gzip = Some(q > 0.0),
                "*" => any = Some(q > 0.0),
                _ => {}
            }
        }
    }
    gzip.or(any).unwrap_or(false)
}

/// Whether `If-None-Match` names `etag` (weak comparison, as RFC 9110 asks for this header)
/// or is `*`.
fn none_match(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == etag)
}

/// A cacheable GET answer: gzip'd when the client takes it and `gzipped` gives bytes, with
/// the strong ETag of what is sent (the content's hash, `-gzip` for the gzip'd bytes) and
/// `Vary: Accept-Encoding`; a 304 without a body when `If-None-Match` already names it.
/// Outside the router's compression layer (which would reuse one ETag for two bodies).
fn cacheable(
    request: &HeaderMap,
    content_type: &'static str,
    cache_control: &'static str,
    hash: &str,
    body: Bytes,
    gzipped: impl FnOnce() -> Option<Bytes>,
) -> Response {
    let zipped = if accepts_gzip(request) {
        gzipped()
    } else {
        None
    };
    let etag = if zipped.is_some() {
        format!("\"{hash}-gzip\"")
    } else {
        format!("\"{hash}\"")
    };
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(cache_control),
    );
    headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::ETAG,
        HeaderValue::from_str(&etag).expect("hex in quotes"),
    );
    if none_match(request, &etag) {
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    let body = match zipped {
        Some(zipped) => {
            headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            zipped
        }
        None => body,
    };
    (StatusCode::OK, headers, body).into_response()
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

/// `/assets/{file}`: the script, style sheets and icon, by their plain name (revalidated) or
/// their content-hashed one (kept for good). A hash that is not the current content's gets the
/// current asset, revalidated: never cached for good under a name that promises other bytes
/// (a page of the previous daemon still loading, a hand-made URL). Unknown files: 404.
pub async fn asset(Path(file): Path<String>, headers: HeaderMap) -> Response {
    with_assets(|set| {
        let Some((asset, current_hash)) = set.resolve(&file) else {
            return (StatusCode::NOT_FOUND, "no such asset").into_response();
        };
        let cache = if current_hash && !set.dev {
            IMMUTABLE
        } else {
            REVALIDATE
        };
        cacheable(
            &headers,
            asset.content_type,
            cache,
            &asset.hash,
            asset.body.clone(),
            || asset.gzipped(),
        )
    })
}

/// Any other path: a JSON 404 under `/api/`, the shell with a "not found" page elsewhere
/// (status 404 either way; the access guard runs first, as for every route).
pub async fn not_found(method: Method, uri: Uri, headers: HeaderMap) -> Response {
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
    page(
        &headers,
        StatusCode::NOT_FOUND,
        "Not found · Lookout",
        &html,
    )
}

/// The shell around `summary`, with its headers: revalidated on every navigation (so a new
/// daemon's shell, with its new asset URLs, is used at once), with the strong ETag of its
/// bytes; a 404 page has no ETag.
fn page(request: &HeaderMap, status: StatusCode, title: &str, summary: &str) -> Response {
    let page = with_assets(|set| {
        set.shell
            .replace("{{TITLE}}", &escape(title))
            .replace("{{VERSION}}", VERSION)
            .replace("{{SUMMARY}}", summary)
    });
    let body = Bytes::from(page);
    let mut response = if status == StatusCode::OK {
        let hash = content_hash(&body);
        cacheable(
            request,
            "text/html; charset=utf-8",
            SHELL_CACHE,
            &hash,
            body.clone(),
            || Some(gzip(&body)),
        )
    } else {
        let zipped = accepts_gzip(request).then(|| gzip(&body));
        let mut response = (status, Html(body)).into_response();
        if let Some(zipped) = zipped {
            response
                .headers_mut()
                .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            *response.body_mut() = axum::body::Body::from(zipped);
        }
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static(SHELL_CACHE));
        response
            .headers_mut()
            .insert(header::VARY, HeaderValue::from_static("accept-encoding"));
        response
    };
    response.headers_mut().insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
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
    headers: HeaderMap,
    principal: Option<Extension<Principal>>,
) -> Response {
    let Some(title) = title(uri.path()) else {
        return not_found(method, uri, headers).await;
    };
    if let Some(check) = uri.path().strip_prefix("/checks/")
        && !check_exists(&state, &percent_decode(check))
    {
        return not_found(method, uri, headers).await;
    }
    if let Some(host) = uri.path().strip_prefix("/hosts/")
        && super::hosts::choose(&state, Some(percent_decode(host).as_str())).is_err()
    {
        return not_found(method, uri, headers).await;
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

    // As of the newest result shown, not of this request: an unchanged summary is the same
    // bytes, so a browser revalidating the shell gets a 304 (its ETag is the bytes' hash).
    let as_of = checks.iter().map(|c| c.at_ms).max().map_or_else(
        || "No check has run yet".to_string(),
        |at| format!("Latest result {}", escape(&format_rfc3339(at))),
    );
    let mut html = String::with_capacity(8192);
    let _ = write!(
        html,
        "<h1>Lookout <span class=\"badge s-{class}\">{overall}</span></h1>\
         <p class=muted>{as_of}. Version {VERSION}. \
         The dashboard needs JavaScript; this summary refreshes every 30 s.</p>",
        class = overall.as_str(),
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

    page(&headers, StatusCode::OK, &title, &html)
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
            let response = asset(Path(file.to_string()), HeaderMap::new()).await;
            assert_eq!(response.status(), StatusCode::OK, "{file}");
            assert_eq!(response.headers()[header::CONTENT_TYPE], want, "{file}");
        }
        for unknown in ["../Cargo.toml", "vendor", "uPlot.js", "LICENSE"] {
            let response = asset(Path(unknown.to_string()), HeaderMap::new()).await;
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

    /// What `LOOKOUT_DEV_ASSETS` serves: a changed file gets a new URL in the shell (the old
    /// one then serves the new bytes, revalidated), and nothing is cached for good there.
    #[tokio::test]
    async fn a_changed_asset_gets_a_new_url_and_dev_assets_are_never_immutable() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("app.css"), "body { color: red }").unwrap();
        let before = AssetSet::from_dir(dir.path());
        std::fs::write(dir.path().join("app.css"), "body { color: blue }").unwrap();
        let after = AssetSet::from_dir(dir.path());
        let (old, new) = (before.url("app.css"), after.url("app.css"));
        assert_ne!(old, new);
        assert!(
            before.shell.contains(&format!("href=\"{old}\"")),
            "{}",
            before.shell
        );
        assert!(
            after.shell.contains(&format!("href=\"{new}\"")),
            "{}",
            after.shell
        );
        // Files the directory does not have are the embedded ones, at the embedded URLs.
        assert_eq!(after.url("app.js"), EMBEDDED.url("app.js"));
        assert_ne!(EMBEDDED.url("app.css"), new);
        let file = old.strip_prefix("/assets/").unwrap();
        let (asset, current) = after.resolve(file).unwrap();
        assert!(!current && asset.body == "body { color: blue }");
        let (_, current) = after
            .resolve(new.strip_prefix("/assets/").unwrap())
            .unwrap();
        assert!(current && after.dev && !EMBEDDED.dev);
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
