//! The HTTP face of Lookout: `router(state) -> Router`, testable without a socket.
//! The API (`/api/v1/*`), `/healthz`, `/metrics`, and the dashboard: page shell and embedded
//! assets (`page.rs`, `assets/`: content-hashed asset URLs, ETags, 304s), its read-only helpers (`dashboard_api.rs`) and the WebSocket
//! live feed (`live.rs`).
//!
//! Handlers translate internal types into the views of `crate::views`, shared with the CLI's
//! `--json`; the wire format is defined there and nowhere else.

mod alerts;
mod api;
// Access control (issue "Web dashboard", Access control): one guard over every route.
pub mod auth;
// Dashboard (issue "Web dashboard"): pages, embedded assets, read-only helpers, live feed.
mod dashboard_api;
// The running daemon's loops as the web reaches them (alert board, maintenance state).
pub mod handles;
// Hosts (issue 19): this Lookout and every host the receivers heard.
mod hosts;
pub mod live;
mod maintenance;
mod page;
mod params;
// The hub's receivers (`[receive]`): remote write and OTLP in, to the bus.
mod receive;

use std::sync::Arc;

use axum::Router;
use axum::http::Method;
use axum::routing::{delete, get, post};

use crate::clock::{SharedClock, UnixMillis};
use crate::exporter::Snapshot;
use crate::store::Store;

pub use crate::clock::parse_time;

#[derive(Clone)]
pub struct AppState {
    pub snapshot: Arc<Snapshot>,
    pub store: Store,
    pub clock: SharedClock,
    pub started_at_ms: UnixMillis,
    /// The running alert engine; `None` in tests and one-shot tools (reads fall back to the store).
    pub alerting: Option<handles::AlertingHandle>,
    /// The pipeline's bus (security events of `auth`, the live feed); `None` in some tests.
    pub bus: Option<crate::bus::Bus>,
    /// Access control: sessions, tokens, login limits (`auth`).
    pub auth: Arc<auth::Auth>,
    /// The running maintenance tracker; `None` in tests and one-shot tools (reads fall back
    /// to the store).
    pub maintenance: Option<handles::MaintenanceHandle>,
    /// /metrics as served: rendered ahead while Prometheus scrapes (`exporter::MetricsPage`).
    pub metrics_page: Arc<crate::exporter::MetricsPage>,
    /// The running config (checks, rules, notifiers) for the dashboard's numbers.
    pub config: handles::ConfigHandle,
    /// The live feed's shared greeting and client count (`live::Feed`).
    pub live: Arc<live::Feed>,
    /// The receivers' series book and counters (`[receive]`; its metrics are the snapshot's).
    pub receiver: Arc<crate::receive::Receiver>,
}

pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Every route of `router`, for the access-control test that walks them (`auth` guards every
/// route, listed or not; list a new route here so the test checks it too).
pub const ROUTES: &[(&str, Method)] = &[
    ("/", Method::GET),
    ("/system", Method::GET),
    ("/checks", Method::GET),
    ("/checks/{name}", Method::GET),
    ("/database", Method::GET),
    ("/redis", Method::GET),
    ("/maintenance", Method::GET),
    ("/alerts", Method::GET),
    ("/events", Method::GET),
    ("/hosts", Method::GET),
    ("/hosts/{name}", Method::GET),
    ("/assets/{file}", Method::GET),
    ("/api/v1/live", Method::GET),
    ("/api/v1/checks/{name}/history", Method::GET),
    ("/api/v1/checks", Method::GET),
    ("/api/v1/checks/{name}", Method::GET),
    ("/api/v1/thresholds", Method::GET),
    ("/api/v1/hosts", Method::GET),
    ("/api/v1/hosts/{name}", Method::GET),
    ("/healthz", Method::GET),
    ("/api/v1/status", Method::GET),
    ("/api/v1/series", Method::GET),
    ("/api/v1/events", Method::GET),
    ("/api/v1/alerts", Method::GET),
    ("/api/v1/alerts/history", Method::GET),
    ("/api/v1/alerts/ack", Method::POST),
    ("/api/v1/silences", Method::GET),
    ("/api/v1/silences", Method::POST),
    ("/api/v1/silences/{id}", Method::DELETE),
    ("/api/v1/outbox", Method::GET),
    ("/api/v1/maintenance", Method::GET),
    ("/api/v1/maintenance/report", Method::GET),
    ("/api/v1/maintenance/start", Method::POST),
    ("/api/v1/maintenance/stop", Method::POST),
    ("/api/v1/maintenance/extend", Method::POST),
    ("/metrics", Method::GET),
    ("/login", Method::GET),
    ("/login", Method::POST),
    ("/logout", Method::POST),
    ("/api/v1/session", Method::GET),
    ("/api/v1/write", Method::POST),
    ("/v1/metrics", Method::POST),
];

/// The router of `server.metrics_listen`: /metrics only (no dashboard, no API, no login).
pub fn metrics_router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(api::metrics))
        .with_state(state)
}

pub fn router(state: AppState) -> Router {
    Router::new()
        // Dashboard (issue "Web dashboard"): its read-only helpers (its pages: below).
        .route(
            "/api/v1/checks/{name}/history",
            get(dashboard_api::check_history),
        )
        .route("/api/v1/checks", get(dashboard_api::checks))
        .route("/api/v1/checks/{name}", get(dashboard_api::check))
        .route("/api/v1/thresholds", get(dashboard_api::thresholds))
        .route("/api/v1/hosts", get(hosts::hosts))
        .route("/api/v1/hosts/{name}", get(hosts::host))
        // End of dashboard routes.
        .route("/healthz", get(api::healthz))
        .route("/api/v1/status", get(api::status))
        .route("/api/v1/series", get(api::series))
        .route("/api/v1/events", get(api::events))
        .route("/api/v1/alerts", get(alerts::alerts))
        .route("/api/v1/alerts/history", get(alerts::history))
        .route("/api/v1/alerts/ack", post(alerts::acknowledge))
        .route(
            "/api/v1/silences",
            get(alerts::silences).post(alerts::add_silence),
        )
        .route("/api/v1/silences/{id}", delete(alerts::expire_silence))
        .route("/api/v1/outbox", get(alerts::outbox))
        .route("/api/v1/maintenance", get(maintenance::status))
        .route("/api/v1/maintenance/report", get(maintenance::report))
        .route("/api/v1/maintenance/start", post(maintenance::start))
        .route("/api/v1/maintenance/stop", post(maintenance::stop))
        .route("/api/v1/maintenance/extend", post(maintenance::extend))
        // Anything else: a 404 page, or a JSON 404 under /api/ (the guard covers it too).
        .fallback(page::not_found)
        // The API above is gzip'd for clients that accept it: the checks list of 1,000 checks
        // is ~500 KB of JSON, ~10x less compressed (BENCHMARKS.md). Not /metrics (a scrape
        // stays as cheap as it was; Prometheus' own choice) nor the live feed's upgrade, nor
        // the pages and assets, added after: they gzip themselves (`page.rs`, assets once)
        // with an ETag per representation, which this layer would keep for both bodies.
        .layer(tower_http::compression::CompressionLayer::new())
        // Dashboard (issue "Web dashboard"): one HTML shell for every page route, revalidated
        // on each navigation; assets by content-hashed URLs, cached for good.
        .route("/", get(page::shell))
        .route("/system", get(page::shell))
        .route("/checks", get(page::shell))
        .route("/checks/{name}", get(page::shell))
        .route("/database", get(page::shell))
        .route("/redis", get(page::shell))
        .route("/maintenance", get(page::shell))
        .route("/alerts", get(page::shell))
        .route("/events", get(page::shell))
        .route("/hosts", get(page::shell))
        .route("/hosts/{name}", get(page::shell))
        .route("/assets/{file}", get(page::asset))
        .route("/api/v1/live", get(live::live))
        // The receivers (`[receive]`): agent tokens only; their answers are small.
        .route(auth::RECEIVE_REMOTE_WRITE, post(receive::remote_write))
        .route(auth::RECEIVE_OTLP, post(receive::otlp_metrics))
        .route("/metrics", get(api::metrics))
        // --- access control: its routes, then the guard over every route (keep last) ---
        .merge(auth::routes())
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::guard,
        ))
        .with_state(state)
}

#[cfg(test)]
mod tests;
