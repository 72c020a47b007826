//! The alert engine, pure (time comes in as `now_ms`): `state` (one alert's life: thresholds
//! with hysteresis, `for` and `for_critical`, escalation and de-escalation, cooldown-limited
//! repeats, resolution), `flap` (flap detection), `engine` (rules applied to observations,
//! split by job: `evaluate`, `holds`, `mute`, `route`, `lifecycle`, `rate`), `rate` (the
//! windows of rate rules: a counter's per-second rate), `group`, `inhibit`,
//! `connectivity`, `silence`, `matcher`, `mute`, `render` and `records` (what is persisted).
//! Its output, `AlertNotice`, is `model`'s: the outbox and the notifiers read it too. See
//! ARCHITECTURE.md.

pub mod connectivity;
pub mod engine;
pub mod flap;
pub mod group;
pub mod inhibit;
pub mod mute;
pub mod rate;
pub mod records;
pub mod render;
pub mod silence;
pub mod state;

/// Defined below the engine (the config and every notice use them); re-exported here, where
/// the engine's users look for them.
pub use crate::base::matcher;
pub use crate::config::alerts::{Comparison, Cooldowns};
pub use crate::model::Severity;
pub use engine::{AlertView, Engine};
pub use mute::MuteSource;
pub use state::{AlertState, AlertTracker, Notification, Thresholds};
