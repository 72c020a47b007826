//! The alert engine (issue "Alert manager"), being built bottom-up. So far: the pure state
//! machine of one alert (`state`): thresholds with hysteresis, `for`, escalation and
//! de-escalation, cooldown-limited repeats, resolution. Rules, grouping, inhibition, silences,
//! the outbox and the notifiers are still to come; nothing here is wired into the daemon yet.

pub mod state;

pub use state::{
    AlertState, AlertTracker, Comparison, Cooldowns, Notification, Severity, Thresholds,
};
