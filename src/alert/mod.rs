//! The alert engine (issue "Alert manager"), being built bottom-up, pure parts first:
//! `state` (one alert's life: thresholds with hysteresis, `for`, escalation and
//! de-escalation, cooldown-limited repeats, resolution), `matcher` (Prometheus-style label
//! matchers) and `silence` (matchers + time window + author + comment). Rules, grouping,
//! inhibition, the outbox and the notifiers are still to come; nothing here is wired into the
//! daemon yet.

pub mod connectivity;
pub mod engine;
pub mod group;
pub mod inhibit;
pub mod matcher;
pub mod mute;
pub mod records;
pub mod render;
pub mod silence;
pub mod state;

pub use engine::{AlertView, Engine};
pub use mute::MuteSource;
pub use state::{
    AlertState, AlertTracker, Comparison, Cooldowns, Notification, Severity, Thresholds,
};
