//! Access control of the dashboard and API: one middleware (`guard`) over the whole router,
//! login/logout and the session endpoint.
//!
//! - Who: a login session (cookie `lookout_session`; the store keeps only its SHA-256) or an
//!   API token (`Authorization: Bearer <token>`; only its SHA-256 is kept).
//! - What: `ACCESS`, a table "method class + path → required role"; the first matching row
//!   decides, and anything not listed needs a viewer at least, so new routes are protected by
//!   default. State-changing methods need an admin.
//! - CSRF: a state-changing request authenticated by cookie must carry `X-CSRF-Token` (or a
//!   form field `csrf_token`) equal to its session's token; bearer tokens are exempt. Requests
//!   that `Origin` or `Sec-Fetch-Site` mark as cross-site are refused before anything else.
//! - Logins are throttled per (user, client address) and per address, with progressive
//!   delays and lockouts that never lock a user out of other addresses (`limiter`); a lockout
//!   or a password spray is a security event and the check result `security:login` (critical
//!   while it lasts). The client address is the connection's, or, from a proxy listed in
//!   `server.trusted_proxies`, the one `X-Forwarded-For` names (`client_ip`).
//! - Passwords are verified by a small pool with a bounded queue (`verifier`): a login spray
//!   costs a bounded amount of CPU and memory and is answered 503 past it.
//!
//! Passwords, session ids and tokens never reach a log, an error or an API answer.

pub mod limiter;
pub mod secret;
pub mod verifier;

use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Json;
use axum::Router;
use axum::extract::{ConnectInfo, Form, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::AppState;
use crate::clock::{UnixMillis, format_rfc3339};
use crate::model::{CheckResult, Event, EventKind, Layer, Observation, Status};
use crate::store::Role;
use limiter::{Admission, Incident, Limiter, Limits};
use verifier::{Lane, Verifier, VerifyError};

pub const SESSION_COOKIE: &str = "lookout_session";
pub const CSRF_HEADER: &str = "x-csrf-token";
pub const SECURITY_CHECK: &str = "security:login";

/// How the guard treats requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Enforce,
    /// Unit tests of the other routes: every request is an admin. Not reachable from config.
    #[cfg(test)]
    TrustAll,
}

/// Access-control settings and the login limiter; shared by every request.
#[derive(Debug)]
pub struct Auth {
    #[cfg_attr(not(test), allow(dead_code))]
    mode: Mode,
    secure_cookies: bool,
    idle_ms: i64,
    max_age_ms: i64,
    limiter: Mutex<Limiter>,
    verifier: Verifier,
    /// `server.trusted_proxies`: peers whose `X-Forwarded-For` names the client.
    trusted_proxies: Vec<ipnet::IpNet>,
    /// Whether the last published `security:login` result was critical.
    alarm: AtomicBool,
    /// Whether the log already said that a proxy's `X-Forwarded-For` is being ignored.
    warned_untrusted_proxy: AtomicBool,
    /// The `Authorization` values /metrics accepts (bearer, basic); empty: /metrics is open.
    metrics_credentials: Vec<String>,
}

impl Auth {
    pub fn new(
        secure_cookies: bool,
        idle: std::time::Duration,
        max_age: std::time::Duration,
    ) -> Auth {
        Auth {
            mode: Mode::Enforce,
            secure_cookies,
            idle_ms: idle.as_millis() as i64,
            max_age_ms: max_age.as_millis() as i64,
            limiter: Mutex::new(Limiter::new(Limits::default())),
            verifier: Verifier::default(),
            trusted_proxies: Vec::new(),
            alarm: AtomicBool::new(false),
            warned_untrusted_proxy: AtomicBool::new(false),
            metrics_credentials: Vec::new(),
        }
    }

    pub fn from_config(server: &crate::config::ServerConfig) -> Auth {
        use base64::Engine as _;
        let tls = server.tls_cert.is_some() && server.tls_key.is_some();
        let mut auth = Auth::new(tls, server.session_idle_timeout, server.session_max_age);
        auth.trusted_proxies = server.trusted_proxies.clone();
        if let Some(token) = &server.metrics_token {
            auth.metrics_credentials
                .push(format!("Bearer {}", token.expose()));
        }
        if let Some((user, password)) = &server.metrics_basic_auth {
            let pair = format!("{user}:{}", password.expose());
            auth.metrics_credentials.push(format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(pair)
            ));
        }
        auth
    }

    /// Whether a request may read /metrics: always when no credentials are configured,
    /// otherwise with one of them (compared in constant time).
    pub fn metrics_allowed(&self, authorization: Option<&str>) -> bool {
        if self.metrics_credentials.is_empty() {
            return true;
        }
        let Some(given) = authorization else {
            return false;
        };
        self.metrics_credentials.iter().fold(false, |ok, expected| {
            ok | (expected.len() == given.len()
                && expected
                    .bytes()
                    .zip(given.bytes())
                    .fold(0u8, |diff, (a, b)| diff | (a ^ b))
                    == 0)
        })
    }

    #[cfg(test)]
    pub fn trust_all() -> Auth {
        Auth {
            mode: Mode::TrustAll,
            ..Auth::new(
                false,
                std::time::Duration::from_secs(1800),
                std::time::Duration::from_secs(43_200),
            )
        }
    }

    fn limiter(&self) -> std::sync::MutexGuard<'_, Limiter> {
        self.limiter.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Who is asking.
#[derive(Debug, Clone)]
pub struct Principal {
    pub name: String,
    pub role: Role,
    /// The token's name (`token create --name`) when a bearer token authenticated the
    /// request: an agent's sender name on the receivers.
    pub token_name: Option<String>,
    /// The session's CSRF token; `None` for bearer tokens.
    csrf_token: Option<String>,
}

impl Principal {
    /// The session's CSRF token, for a form the server renders (`None` for bearer tokens).
    pub fn csrf_token(&self) -> Option<&str> {
        self.csrf_token.as_deref()
    }
}

// ---- The table of access.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Methods {
    /// GET, HEAD, OPTIONS.
    Read,
    /// Everything else: POST, PUT, PATCH, DELETE, ...
    Write,
    Any,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Need {
    Nobody,
    Role(Role),
}

/// The receivers' paths (`web::receive`).
pub const RECEIVE_REMOTE_WRITE: &str = "/api/v1/write";
pub const RECEIVE_OTLP: &str = "/v1/metrics";

/// Why `role` may not do what `required` may, in one line.
fn refusal(role: Role, required: Role) -> String {
    match (role, required) {
        (_, Role::Agent) => format!(
            "this endpoint takes agent tokens only (lookout token create --role agent --name <host>); your role is {}",
            role.as_str()
        ),
        (Role::Agent, _) => {
            format!("an agent token may only POST to {RECEIVE_REMOTE_WRITE} and {RECEIVE_OTLP}")
        }
        (role, required) => format!(
            "this needs the {} role; your role is {}",
            required.as_str(),
            role.as_str()
        ),
    }
}

/// First match wins. A path ending in "/" is a prefix; any other is exact.
const ACCESS: &[(Methods, &str, Need)] = &[
    (Methods::Any, "/login", Need::Nobody),
    (Methods::Read, "/healthz", Need::Nobody),
    (Methods::Read, "/metrics", Need::Nobody),
    // The dashboard's embedded assets (CSS, JS, icon): the login page uses them too.
    (Methods::Read, "/assets/", Need::Nobody),
    (Methods::Write, "/logout", Need::Role(Role::Viewer)),
    // The receivers (`[receive]`): agent tokens only, and an agent may do nothing else.
    (
        Methods::Write,
        RECEIVE_REMOTE_WRITE,
        Need::Role(Role::Agent),
    ),
    (Methods::Write, RECEIVE_OTLP, Need::Role(Role::Agent)),
    (Methods::Write, "/", Need::Role(Role::Admin)),
    (Methods::Read, "/", Need::Role(Role::Viewer)),
];

fn is_read(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

fn need(method: &Method, path: &str) -> Need {
    ACCESS
        .iter()
        .find(|(methods, pattern, _)| {
            let methods_match = match methods {
                Methods::Any => true,
                Methods::Read => is_read(method),
                Methods::Write => !is_read(method),
            };
            let path_match = if pattern.ends_with('/') {
                path.starts_with(pattern)
            } else {
                path == *pattern
            };
            methods_match && path_match
        })
        .map_or(Need::Role(Role::Admin), |row| row.2)
}

/// Whether `method path` is answered without credentials.
pub fn is_public(method: &Method, path: &str) -> bool {
    need(method, path) == Need::Nobody
}

// ---- The guard.

fn json_error(status: StatusCode, message: &str) -> Response {
    (status, Json(serde_json::json!({ "error": message }))).into_response()
}

/// Why a request is cross-site, if `Sec-Fetch-Site` or `Origin` says it is.
fn cross_site(headers: &HeaderMap) -> Option<&'static str> {
    if let Some(site) = headers.get("sec-fetch-site")
        && !matches!(site.to_str(), Ok("same-origin" | "none"))
    {
        return Some("cross-site request refused (Sec-Fetch-Site)");
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or("null");
        let authority = origin
            .strip_prefix("https://")
            .or_else(|| origin.strip_prefix("http://"));
        let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
        match (authority, host) {
            (Some(authority), Some(host)) if authority.eq_ignore_ascii_case(host) => {}
            _ => return Some("cross-site request refused (Origin does not match Host)"),
        }
    }
    None
}

fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// The caller, from a bearer token or a session cookie. `Err` is an answer to send as is.
async fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<Principal>, Response> {
    let unavailable = |error: crate::store::StoreError| {
        tracing::error!(%error, "cannot check credentials");
        json_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "cannot check credentials now; try again",
        )
    };
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let Some(token) = value.to_str().ok().and_then(|v| v.strip_prefix("Bearer ")) else {
            return Err(json_error(
                StatusCode::UNAUTHORIZED,
                "unsupported Authorization header; send \"Authorization: Bearer <token>\"",
            ));
        };
        let record = state
            .store
            .token_by_hash(&secret::sha256_hex(token.trim()))
            .await
            .map_err(unavailable)?;
        return match record {
            Some(record) => Ok(Some(Principal {
                name: format!("token {} ({})", record.id, record.name),
                role: record.role,
                token_name: Some(record.name),
                csrf_token: None,
            })),
            None => Err(json_error(
                StatusCode::UNAUTHORIZED,
                "invalid or revoked API token",
            )),
        };
    }
    let Some(id) = cookie(headers, SESSION_COOKIE) else {
        return Ok(None);
    };
    let id_hash = secret::sha256_hex(id);
    let Some(session) = state.store.session(&id_hash).await.map_err(unavailable)? else {
        return Ok(None);
    };
    let now = state.clock.now_ms();
    let auth = &state.auth;
    if now - session.last_seen_ms > auth.idle_ms || now - session.created_ms > auth.max_age_ms {
        let _ = state.store.delete_session(&id_hash).await;
        return Ok(None);
    }
    if now - session.last_seen_ms >= 1_000 {
        state
            .store
            .touch_session(&id_hash, now)
            .await
            .map_err(unavailable)?;
    }
    Ok(Some(Principal {
        name: session.user,
        role: session.role,
        token_name: None,
        csrf_token: Some(session.csrf_token),
    }))
}

/// Percent-encodes everything but unreserved characters and "/".
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn wants_html(method: &Method, headers: &HeaderMap) -> bool {
    is_read(method)
        && headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|accept| accept.contains("text/html"))
}

fn redirect(location: &str) -> Response {
    (
        StatusCode::SEE_OTHER,
        [(header::LOCATION, location.to_string())],
    )
        .into_response()
}

/// The one middleware over the whole router.
pub async fn guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let headers = request.headers();
    let is_upgrade = headers.contains_key(header::UPGRADE);
    if (!is_read(&method) || is_upgrade)
        && let Some(why) = cross_site(headers)
    {
        return json_error(StatusCode::FORBIDDEN, why);
    }
    let required = match need(&method, &path) {
        Need::Nobody => return next.run(request).await,
        Need::Role(role) => role,
    };
    #[cfg(test)]
    if state.auth.mode == Mode::TrustAll {
        let mut request = request;
        request.extensions_mut().insert(Principal {
            name: "test".into(),
            role: if required == Role::Agent {
                Role::Agent
            } else {
                Role::Admin
            },
            token_name: Some("test".into()),
            csrf_token: None,
        });
        return next.run(request).await;
    }
    if required == Role::Agent {
        // The receivers count the requests the guard refuses, like those they refuse.
        let protocol = if path == RECEIVE_OTLP {
            crate::receive::Protocol::Otlp
        } else {
            crate::receive::Protocol::RemoteWrite
        };
        let response = admit(&state, request, next, &method, required).await;
        let outcome = match response.status() {
            StatusCode::UNAUTHORIZED => Some(crate::receive::Outcome::Unauthenticated),
            StatusCode::FORBIDDEN => Some(crate::receive::Outcome::Forbidden),
            _ => None,
        };
        if let Some(outcome) = outcome
            && response.extensions().get::<Refused>().is_some()
        {
            state.receiver.refused(
                protocol,
                &crate::receive::Refusal::new(
                    response.status().as_u16(),
                    outcome,
                    "refused by the guard",
                ),
            );
        }
        return response;
    }
    admit(&state, request, next, &method, required).await
}

/// Marks an answer the guard gave itself (not the handler's).
#[derive(Debug, Clone, Copy)]
struct Refused;

/// Authenticates, authorises and checks CSRF for a request that needs `required`.
async fn admit(
    state: &AppState,
    request: Request,
    next: Next,
    method: &Method,
    required: Role,
) -> Response {
    let mut refused = guarded(state, request, next, method, required).await;
    if let Err(response) = &mut refused {
        response.extensions_mut().insert(Refused);
    }
    refused.unwrap_or_else(|response| response)
}

async fn guarded(
    state: &AppState,
    request: Request,
    next: Next,
    method: &Method,
    required: Role,
) -> Result<Response, Response> {
    let headers = request.headers();
    let principal = match authenticate(state, headers).await {
        Err(response) => return Err(response),
        Ok(Some(principal)) => principal,
        Ok(None) if wants_html(method, headers) => {
            let target = request.uri().path_and_query().map_or("/", |pq| pq.as_str());
            return Err(redirect(&format!("/login?next={}", encode(target))));
        }
        Ok(None) => {
            return Err(json_error(
                StatusCode::UNAUTHORIZED,
                "authentication required: log in at /login, or send \"Authorization: Bearer <token>\"",
            ));
        }
    };
    if !principal.role.grants(required) {
        return Err(json_error(
            StatusCode::FORBIDDEN,
            &refusal(principal.role, required),
        ));
    }
    let mut request = request;
    if !is_read(method)
        && let Some(expected) = principal.csrf_token.clone()
    {
        let header_token = request
            .headers()
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let (token, rebuilt) = match header_token {
            Some(token) => (Some(token), request),
            None => form_csrf_token(request).await,
        };
        request = rebuilt;
        if !token.is_some_and(|token| secret::same(&token, &expected)) {
            return Err(json_error(
                StatusCode::FORBIDDEN,
                "missing or wrong CSRF token: send the header X-CSRF-Token with the csrf_token of GET /api/v1/session",
            ));
        }
    }
    request.extensions_mut().insert(principal);
    Ok(next.run(request).await)
}

/// The `csrf_token` field of an HTML form body, and the request with its body put back.
async fn form_csrf_token(request: Request) -> (Option<String>, Request) {
    let is_form = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return (None, request);
    }
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, 64 * 1024)
        .await
        .unwrap_or_default();
    let token = std::str::from_utf8(&bytes).ok().and_then(|text| {
        text.split('&')
            .filter_map(|pair| pair.split_once('='))
            .find(|(key, _)| *key == "csrf_token")
            .map(|(_, value)| value.to_string())
    });
    (
        token,
        Request::from_parts(parts, axum::body::Body::from(bytes)),
    )
}

// ---- Login, logout, session.

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
        .route("/api/v1/session", get(session))
}

/// `next` if it is a same-site relative path, else "/".
fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(next)
            if next.starts_with('/')
                && !next.starts_with("//")
                && !next.contains('\\')
                && !next.chars().any(char::is_control) =>
        {
            next
        }
        _ => "/",
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn login_form(status: StatusCode, message: Option<&str>, next: &str) -> Response {
    let message = message.map_or(String::new(), |m| {
        format!("<p role=\"alert\" id=\"login-error\">{}</p>\n", escape(m))
    });
    let body = format!(
        r#"<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Log in · Lookout</title>
<link rel="stylesheet" href="{css}"></head>
<body class="login">
<main id="main">
<h1>Log in to Lookout</h1>
{message}<form method="post" action="/login">
<input type="hidden" name="next" value="{next}">
<p><label for="user">User name</label><br>
<input id="user" name="user" autocomplete="username" required autofocus></p>
<p><label for="password">Password</label><br>
<input id="password" name="password" type="password" autocomplete="current-password" required></p>
<p><button type="submit">Log in</button></p>
</form>
</main>
</body>
</html>
"#,
        next = escape(next),
        // The content-hashed URL the dashboard's pages use too: cached here, ready there.
        css = super::page::asset_url("app.css"),
    );
    let mut response = (status, Html(body)).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[derive(Debug, Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

async fn login_page(Query(query): Query<NextQuery>) -> Response {
    login_form(StatusCode::OK, None, safe_next(query.next.as_deref()))
}

#[derive(Deserialize)]
pub struct LoginForm {
    user: String,
    password: String,
    next: Option<String>,
}

impl std::fmt::Debug for LoginForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginForm")
            .field("user", &self.user)
            .field("password", &"***")
            .finish()
    }
}

/// The client's IP address: the connection's peer, or, when the peer is a trusted proxy, the
/// nearest address in `X-Forwarded-For` that is not one ("unknown" without a connection, as in
/// unit tests).
pub struct ClientAddr(String);

impl axum::extract::FromRequestParts<AppState> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        let forwarded = parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect::<Vec<_>>()
            .join(",");
        let auth = &state.auth;
        if let Some(peer) = peer
            && !forwarded.is_empty()
            && auth.trusted_proxies.is_empty()
            && !auth.warned_untrusted_proxy.swap(true, Ordering::Relaxed)
        {
            tracing::warn!(
                proxy = %peer,
                "logins arrive with X-Forwarded-For but server.trusted_proxies is empty: \
                 the login limits count every client as {peer}; list the proxy there"
            );
        }
        Ok(ClientAddr(match peer {
            Some(peer) => limiter_key(client_ip(peer, &forwarded, &auth.trusted_proxies)),
            None => "unknown".to_string(),
        }))
    }
}

/// Who the client is: `peer`, unless `peer` is a trusted proxy; then `X-Forwarded-For` is read
/// from the right (each proxy appends the address it got the request from) and the first
/// address that is not a trusted proxy is the client. An untrusted peer's header is ignored,
/// so nobody can pick an address to escape the limits.
pub fn client_ip(peer: IpAddr, forwarded_for: &str, trusted: &[ipnet::IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&canonical(peer)) {
        return peer;
    }
    let mut client = peer;
    for hop in forwarded_for.rsplit(',') {
        let Ok(ip) = hop.trim().parse::<IpAddr>() else {
            break; // a garbled hop: trust nothing further left
        };
        client = canonical(ip);
        if !is_trusted(&client) {
            break;
        }
    }
    client
}

/// IPv4-mapped IPv6 addresses as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The key the limiter counts an address under: IPv4 as is, IPv6 by its /64 (one host
/// usually has a whole /64, so single addresses would be free to rotate).
fn limiter_key(ip: IpAddr) -> String {
    match canonical(ip) {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
    }
}

const WRONG_CREDENTIALS: &str = "Wrong user name or password.";

async fn login(
    State(state): State<AppState>,
    ClientAddr(addr): ClientAddr,
    Form(form): Form<LoginForm>,
) -> Response {
    let now = state.clock.now_ms();
    sweep(&state);
    let next = safe_next(form.next.as_deref()).to_string();
    match state.auth.limiter().admission(&form.user, &addr, now) {
        Admission::Allowed => {}
        Admission::Throttled { until_ms } | Admission::Locked { until_ms } => {
            let seconds = ((until_ms - now).max(1) + 999) / 1000;
            let message = format!(
                "Too many failed logins. Try again in {}.",
                wait_words(seconds)
            );
            return retry_later(StatusCode::TOO_MANY_REQUESTS, &message, &next, seconds);
        }
    }
    let credentials = match state.store.user_credentials(&form.user).await {
        Ok(credentials) => credentials,
        Err(error) => {
            tracing::error!(%error, "cannot check credentials");
            return login_form(
                StatusCode::SERVICE_UNAVAILABLE,
                Some("Cannot check credentials now; try again."),
                &next,
            );
        }
    };
    // The same work whether the user exists or not: a dummy hash stands in for a missing one.
    let (role, hash) = match &credentials {
        Some((role, hash)) => (Some(*role), Some(hash.clone())),
        None => (None, None),
    };
    let lane = if state.auth.limiter().is_clean(&form.user, &addr) {
        Lane::Clean
    } else {
        Lane::Suspect
    };
    let matches = match state
        .auth
        .verifier
        .verify(form.password.clone(), hash, lane)
        .await
    {
        Ok(matches) => matches,
        Err(VerifyError::Busy) => {
            tracing::warn!(user = %form.user, client = %addr, "login refused: password checks are saturated");
            let message = "Too many logins are being checked right now; try again in a moment.";
            return retry_later(StatusCode::SERVICE_UNAVAILABLE, message, &next, 1);
        }
    };
    if !(matches && role.is_some()) {
        let started = state.auth.limiter().failure(&form.user, &addr, now);
        tracing::info!(user = %form.user, client = %addr, "failed login");
        report_incidents(&state, &started, now);
        return login_form(StatusCode::UNAUTHORIZED, Some(WRONG_CREDENTIALS), &next);
    }
    state.auth.limiter().success(&form.user, &addr);
    let id = secret::random_hex(32);
    let csrf = secret::random_hex(32);
    if let Err(error) = state
        .store
        .create_session(&secret::sha256_hex(&id), &form.user, &csrf, now)
        .await
    {
        tracing::error!(%error, "cannot create a session");
        return login_form(
            StatusCode::SERVICE_UNAVAILABLE,
            Some("Cannot log in now; try again."),
            &next,
        );
    }
    tracing::info!(user = %form.user, client = %addr, "login");
    let mut response = redirect(&next);
    let cookie = session_cookie(&state.auth, &id, state.auth.max_age_ms / 1000);
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&cookie).expect("hex cookie is a valid header"),
    );
    response
}

fn session_cookie(auth: &Auth, value: &str, max_age_s: i64) -> String {
    let secure = if auth.secure_cookies { "; Secure" } else { "" };
    format!(
        "{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age_s}{secure}"
    )
}

async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(id) = cookie(&headers, SESSION_COOKIE) {
        let _ = state.store.delete_session(&secret::sha256_hex(id)).await;
    }
    let mut response = if wants_html(&Method::GET, &headers) {
        redirect("/login")
    } else {
        StatusCode::NO_CONTENT.into_response()
    };
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&session_cookie(&state.auth, "", 0)).expect("valid header"),
    );
    response
}

async fn session(request: Request) -> Response {
    match request.extensions().get::<Principal>() {
        Some(principal) => Json(serde_json::json!({
            "user": principal.name,
            "role": principal.role,
            "csrf_token": principal.csrf_token,
        }))
        .into_response(),
        None => json_error(StatusCode::UNAUTHORIZED, "not logged in"),
    }
}

// ---- Security events.

fn security_result(status: Status, detail: String, now: UnixMillis) -> Observation {
    Observation {
        source: "security".into(),
        at_ms: now,
        samples: Vec::new(),
        checks: vec![CheckResult {
            underlying: None,
            check: SECURITY_CHECK.into(),
            layer: Layer::Application,
            status,
            value: None,
            detail,
            at_ms: now,
        }],
    }
}

/// The login form with `message` and a `Retry-After` of `seconds`.
fn retry_later(status: StatusCode, message: &str, next: &str, seconds: i64) -> Response {
    let mut response = login_form(status, Some(message), next);
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    response
}

/// "1 second", "2 minutes": how long to wait, for the login page.
fn wait_words(seconds: i64) -> String {
    match seconds {
        1 => "1 second".into(),
        s if s < 120 => format!("{s} seconds"),
        s => format!("{} minutes", (s + 59) / 60),
    }
}

fn report_incidents(state: &AppState, started: &[Incident], now: UnixMillis) {
    for incident in started {
        let detail = incident.describe(format_rfc3339);
        tracing::warn!(detail = %detail, "login security incident");
        state.auth.alarm.store(true, Ordering::SeqCst);
        if let Some(bus) = &state.bus {
            bus.publish_event(Event {
                at_ms: now,
                kind: EventKind::Security,
                subject: "login".into(),
                message: detail.clone(),
            });
            bus.publish_observation(security_result(Status::Critical, detail, now));
        }
    }
}

/// Publishes `security:login` OK once the last lockout is over; call it now and then.
pub fn sweep(state: &AppState) {
    let now = state.clock.now_ms();
    if state.auth.alarm.load(Ordering::SeqCst) && !state.auth.limiter().any_incident(now) {
        state.auth.alarm.store(false, Ordering::SeqCst);
        if let Some(bus) = &state.bus {
            bus.publish_observation(security_result(
                Status::Ok,
                "no login lockout or spray in force".into(),
                now,
            ));
        }
    }
}

#[cfg(test)]
mod tests;
