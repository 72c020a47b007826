//! The HTTP face of Lookout: `router(state) -> Router`, testable without a socket.
//! First cut of the API (`/api/v1/*`), `/healthz`, `/metrics` and a plain HTML status page;
//! the full dashboard is its own piece of work.
//!
//! Handlers translate internal types into the DTOs of `api.rs`; the wire format is defined
//! there and nowhere else.

mod api;
mod page;

use std::sync::Arc;

use axum::Router;
use axum::routing::get;

use crate::clock::{SharedClock, UnixMillis};
use crate::exporter::Snapshot;
use crate::store::Store;

pub use api::parse_time;

#[derive(Clone)]
pub struct AppState {
    pub snapshot: Arc<Snapshot>,
    pub store: Store,
    pub clock: SharedClock,
    pub started_at_ms: UnixMillis,
}

pub const VERSION: &str = env!("CARGO_PKG_VERSION");

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(page::status_page))
        .route("/healthz", get(api::healthz))
        .route("/api/v1/status", get(api::status))
        .route("/api/v1/series", get(api::series))
        .route("/api/v1/events", get(api::events))
        .route("/metrics", get(api::metrics))
        .with_state(state)
}

#[cfg(test)]
mod tests;
