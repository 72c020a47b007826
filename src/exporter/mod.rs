//! The exporter: the latest value of everything Lookout watches (`Snapshot`), kept current from
//! the bus, and its rendering in the Prometheus text format for `/metrics`; `rules`: the
//! configured alert rules as Prometheus alerting rules over those series; `remote_write`: the
//! same series pushed to Prometheus remote-write endpoints.
//!
//! A scrape only reads the snapshot; nothing is collected during a scrape. While Prometheus
//! scrapes, `MetricsPage` renders the page ahead of the scrapes.

pub mod health;
mod page;
mod pipeline;
mod prometheus_text;
pub mod receive;
pub mod remote_write;
pub mod rules;
mod snapshot;

pub use page::{MetricsPage, PageFormat};

/// The families `/metrics` computes when it is rendered (alerts, Lookout's own counters, remote
/// write, receive, maintenance, heartbeat), by name without `lookout_`; an entry also covers
/// the names it begins followed by `_` (`store` covers `store_flushes_total`). No probe series
/// is named so (a test holds the page to this list): a hub keeps these names of an agent's
/// series as sent (`receive::agent`), so they never clash with its own.
pub const COMPUTED_FAMILIES: &[&str] = &[
    "alerts",
    "build_info",
    "start_time_seconds",
    "schedule_lateness_seconds",
    "probe_duration_seconds",
    "observations_total",
    "samples_total",
    "store",
    "notices_held",
    "config_reloads_total",
    "config_reload",
    "heartbeat",
    "remote_write",
    "receive",
    "maintenance",
];
pub use pipeline::{HISTOGRAM_BUCKETS_MS, HeartbeatMetrics, MillisHistogram};
pub use prometheus_text::{
    ComputedSample, OPENMETRICS_CONTENT_TYPE, PREFIX as PREFIX_STR, TEXT_CONTENT_TYPE, render,
    to_openmetrics, wants_openmetrics,
};
pub use snapshot::{
    LatestValue, MaintenanceFigures, OpenMaintenance, SelfMetrics, Snapshot, StatusChange,
};
