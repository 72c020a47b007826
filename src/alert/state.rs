//! One alert's life, as pure functions of (value, previous state, `now`): no I/O, no clock.
//!
//! - `Thresholds::classify` turns a value into the severity it asks for, with hysteresis: an
//!   alert fires at its threshold but clears only below a lower "clear" level (fire above 80 %,
//!   clear below 75 %), so a value hovering at the threshold does not flap. Hysteresis is for
//!   firing alerts only: a pending alert whose value goes back under the threshold is reset.
//! - `AlertTracker::step` moves inactive -> pending -> firing -> (resolved) inactive, holding
//!   pending for `for` — or for the shorter `for_critical` while the value is critical, so a
//!   short critical spike is told — and says which notification is due: the first firing, an escalation or
//!   de-escalation (at once), a repeat of a still-firing alert (no sooner than its severity's
//!   cooldown), or the resolution.

use std::time::Duration;

use crate::clock::UnixMillis;
use crate::config::alerts::{Comparison, Cooldowns};
use crate::model::Severity;

/// Warning and critical levels of one rule, and where each clears.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    pub comparison: Comparison,
    pub warning: Option<f64>,
    pub critical: Option<f64>,
    /// Where a firing warning clears; default: 1/16 of the threshold back (80 % -> 75 %).
    pub warning_clear: Option<f64>,
    pub critical_clear: Option<f64>,
}

/// The default hysteresis: a sixteenth of the threshold's size (80 % clears at 75 %,
/// 2 s at 1.875 s), toward the good side.
pub fn default_clear(threshold: f64, comparison: Comparison) -> f64 {
    let margin = threshold.abs() / 16.0;
    match comparison {
        Comparison::Above => threshold - margin,
        Comparison::Below => threshold + margin,
    }
}

impl Thresholds {
    pub fn above(warning: Option<f64>, critical: Option<f64>) -> Thresholds {
        Thresholds {
            comparison: Comparison::Above,
            warning,
            critical,
            warning_clear: None,
            critical_clear: None,
        }
    }

    /// `value` is at least as bad as `level`.
    fn reaches(&self, value: f64, level: f64) -> bool {
        match self.comparison {
            Comparison::Above => value >= level,
            Comparison::Below => value <= level,
        }
    }

    /// `value` is still on the bad side of the clear level.
    fn holds(&self, value: f64, clear: f64) -> bool {
        match self.comparison {
            Comparison::Above => value > clear,
            Comparison::Below => value < clear,
        }
    }

    /// The severity `value` asks for, given the severity the alert has now (for hysteresis).
    /// NaN asks for nothing: a missing value is the "no data" rule's business.
    pub fn classify(&self, value: f64, current: Option<Severity>) -> Option<Severity> {
        if value.is_nan() {
            return None;
        }
        let level_holds = |level: Option<f64>, clear: Option<f64>, held: bool| {
            level.is_some_and(|level| {
                self.reaches(value, level)
                    || (held
                        && self.holds(
                            value,
                            clear.unwrap_or_else(|| default_clear(level, self.comparison)),
                        ))
            })
        };
        if level_holds(
            self.critical,
            self.critical_clear,
            current == Some(Severity::Critical),
        ) {
            Some(Severity::Critical)
        } else if level_holds(
            self.warning,
            self.warning_clear,
            current >= Some(Severity::Warning),
        ) {
            Some(Severity::Warning)
        } else {
            None
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertState {
    Inactive,
    /// The condition holds but not yet for `for` (nor critical for `for_critical`).
    Pending {
        since_ms: UnixMillis,
        severity: Severity,
        /// Since when the value has been critical without a break, if it is.
        critical_since_ms: Option<UnixMillis>,
    },
    Firing {
        since_ms: UnixMillis,
        severity: Severity,
        last_notified_ms: UnixMillis,
    },
}

/// A notification the alert is due to send now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notification {
    Firing(Severity),
    Escalated {
        from: Severity,
        to: Severity,
    },
    DeEscalated {
        from: Severity,
        to: Severity,
    },
    /// Still firing; the cooldown since the last notification has passed.
    Repeat(Severity),
    Resolved {
        was: Severity,
    },
}

#[derive(Debug, Clone)]
pub struct AlertTracker {
    pub state: AlertState,
    pub hold_for: Duration,
    /// `for_critical`: the hold while the value is critical (no longer than `hold_for`).
    pub hold_for_critical: Duration,
    pub cooldowns: Cooldowns,
}

impl AlertTracker {
    pub fn new(hold_for: Duration, cooldowns: Cooldowns) -> AlertTracker {
        AlertTracker {
            state: AlertState::Inactive,
            hold_for,
            hold_for_critical: hold_for,
            cooldowns,
        }
    }

    /// With a shorter hold for critical values (`for_critical`).
    pub fn with_critical_hold(mut self, hold_for_critical: Duration) -> AlertTracker {
        self.hold_for_critical = hold_for_critical.min(self.hold_for);
        self
    }

    /// The severity the alert fires with, if it fires: the one hysteresis keeps. A pending
    /// alert has none, so it resets as soon as its value is back under the threshold.
    pub fn firing_severity(&self) -> Option<Severity> {
        match self.state {
            AlertState::Firing { severity, .. } => Some(severity),
            _ => None,
        }
    }

    /// The severity the alert holds now, for `Thresholds::classify`'s hysteresis.
    pub fn severity(&self) -> Option<Severity> {
        match self.state {
            AlertState::Inactive => None,
            AlertState::Pending { severity, .. } | AlertState::Firing { severity, .. } => {
                Some(severity)
            }
        }
    }

    /// Advance with the severity the latest evaluation asks for (`None`: condition clear).
    pub fn step(&mut self, wanted: Option<Severity>, now_ms: UnixMillis) -> Option<Notification> {
        let hold_ms = self.hold_for.as_millis() as i64;
        let critical_hold_ms = self.hold_for_critical.min(self.hold_for).as_millis() as i64;
        let (next, notification) = match (self.state, wanted) {
            (AlertState::Inactive, None) => (AlertState::Inactive, None),
            (AlertState::Inactive, Some(severity)) => {
                let pending = AlertState::Pending {
                    since_ms: now_ms,
                    severity,
                    critical_since_ms: (severity == Severity::Critical).then_some(now_ms),
                };
                let ready =
                    hold_ms == 0 || (severity == Severity::Critical && critical_hold_ms == 0);
                if ready {
                    self.state = pending;
                    return self.step(wanted, now_ms);
                }
                (pending, None)
            }
            (AlertState::Pending { .. }, None) => (AlertState::Inactive, None),
            (
                AlertState::Pending {
                    since_ms,
                    critical_since_ms,
                    ..
                },
                Some(severity),
            ) => {
                let critical_since_ms = match severity {
                    Severity::Critical => Some(critical_since_ms.unwrap_or(now_ms)),
                    _ => None,
                };
                let held_long_enough = now_ms - since_ms >= hold_ms
                    || critical_since_ms.is_some_and(|at| now_ms - at >= critical_hold_ms);
                if held_long_enough {
                    (
                        AlertState::Firing {
                            since_ms: now_ms,
                            severity,
                            last_notified_ms: now_ms,
                        },
                        Some(Notification::Firing(severity)),
                    )
                } else {
                    (
                        AlertState::Pending {
                            since_ms,
                            severity,
                            critical_since_ms,
                        },
                        None,
                    )
                }
            }
            (AlertState::Firing { severity, .. }, None) => (
                AlertState::Inactive,
                Some(Notification::Resolved { was: severity }),
            ),
            (
                AlertState::Firing {
                    since_ms,
                    severity: from,
                    last_notified_ms,
                },
                Some(to),
            ) => {
                let notified = |notification| {
                    (
                        AlertState::Firing {
                            since_ms,
                            severity: to,
                            last_notified_ms: now_ms,
                        },
                        Some(notification),
                    )
                };
                if to > from {
                    notified(Notification::Escalated { from, to })
                } else if to < from {
                    notified(Notification::DeEscalated { from, to })
                } else if now_ms - last_notified_ms >= self.cooldowns.of(to).as_millis() as i64 {
                    notified(Notification::Repeat(to))
                } else {
                    (self.state, None)
                }
            }
        };
        self.state = next;
        notification
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Severity::*;

    const MIN: i64 = 60_000;

    fn seed_cpu() -> Thresholds {
        Thresholds::above(Some(0.80), Some(0.95))
    }

    #[test]
    fn classify_fires_at_the_threshold_and_clears_below_the_clear_level() {
        let t = seed_cpu();
        let cases = [
            // (value, current, expected)
            (0.79, None, None),
            (0.80, None, Some(Warning)),
            (0.95, None, Some(Critical)),
            (0.76, Some(Warning), Some(Warning)), // above 75 %: still warning
            (0.75, Some(Warning), None),          // at the clear level: clear
            (0.90, Some(Critical), Some(Critical)), // above 95 - 5.9375 %
            (0.89, Some(Critical), Some(Warning)), // de-escalates, not clear
            (0.50, Some(Critical), None),
            (f64::NAN, Some(Critical), None),
        ];
        for (value, current, expected) in cases {
            assert_eq!(
                t.classify(value, current),
                expected,
                "{value} from {current:?}"
            );
        }
    }

    #[test]
    fn classify_respects_explicit_clear_levels_and_lower_is_worse() {
        let mut t = Thresholds::above(Some(2.0), None);
        t.warning_clear = Some(1.0);
        assert_eq!(t.classify(1.5, Some(Warning)), Some(Warning));
        assert_eq!(t.classify(1.0, Some(Warning)), None);

        let free = Thresholds {
            comparison: Comparison::Below,
            warning: Some(0.10),
            critical: Some(0.05),
            warning_clear: None,
            critical_clear: None,
        };
        assert_eq!(free.classify(0.20, None), None);
        assert_eq!(free.classify(0.10, None), Some(Warning));
        assert_eq!(free.classify(0.04, None), Some(Critical));
        assert_eq!(free.classify(0.105, Some(Warning)), Some(Warning)); // clears at 0.10625
        assert_eq!(free.classify(0.11, Some(Warning)), None);
    }

    /// Runs a timeline of (minute, wanted severity) through a tracker; returns the
    /// notifications with their minute.
    fn timeline(hold: Duration, steps: &[(i64, Option<Severity>)]) -> Vec<(i64, Notification)> {
        let mut tracker = AlertTracker::new(hold, Cooldowns::default());
        steps
            .iter()
            .filter_map(|(minute, wanted)| {
                tracker.step(*wanted, minute * MIN).map(|n| (*minute, n))
            })
            .collect()
    }

    #[test]
    fn pending_holds_for_the_duration_and_a_blip_never_fires() {
        let two_minutes = Duration::from_secs(120);
        assert_eq!(
            timeline(
                two_minutes,
                &[(0, Some(Warning)), (1, Some(Warning)), (2, Some(Warning))]
            ),
            vec![(2, Notification::Firing(Warning))]
        );
        assert_eq!(
            timeline(
                two_minutes,
                &[
                    (0, Some(Warning)),
                    (1, None),
                    (2, Some(Warning)),
                    (3, Some(Warning))
                ]
            ),
            vec![],
            "the clear at minute 1 restarts the wait"
        );
    }

    #[test]
    fn without_for_an_alert_fires_at_once() {
        assert_eq!(
            timeline(Duration::ZERO, &[(0, Some(Critical))]),
            vec![(0, Notification::Firing(Critical))]
        );
    }

    #[test]
    fn escalation_and_de_escalation_notify_at_once_repeats_wait_for_the_cooldown() {
        let steps = [
            (0, Some(Warning)),
            (1, Some(Warning)),  // firing warning
            (2, Some(Critical)), // escalation, at once
            (4, Some(Critical)), // 2 min since the last: within critical's 5 min
            (7, Some(Critical)), // 5 min since the escalation: repeat
            (8, Some(Warning)),  // de-escalation, at once
            (30, Some(Warning)), // 22 min: within warning's 30 min
            (38, Some(Warning)), // 30 min: repeat
            (39, None),          // resolved, once
            (40, None),
        ];
        assert_eq!(
            timeline(Duration::from_secs(60), &steps),
            vec![
                (1, Notification::Firing(Warning)),
                (
                    2,
                    Notification::Escalated {
                        from: Warning,
                        to: Critical
                    }
                ),
                (7, Notification::Repeat(Critical)),
                (
                    8,
                    Notification::DeEscalated {
                        from: Critical,
                        to: Warning
                    }
                ),
                (38, Notification::Repeat(Warning)),
                (39, Notification::Resolved { was: Warning }),
            ]
        );
    }

    #[test]
    fn info_alerts_repeat_after_the_default_cooldown() {
        let steps = [(0, Some(Info)), (14, Some(Info)), (15, Some(Info))];
        assert_eq!(
            timeline(Duration::ZERO, &steps),
            vec![
                (0, Notification::Firing(Info)),
                (15, Notification::Repeat(Info))
            ]
        );
    }

    #[test]
    fn a_critical_spike_fires_after_for_critical_a_warning_waits_for_for() {
        const S: i64 = 1_000;
        let tracker = || {
            AlertTracker::new(Duration::from_secs(120), Cooldowns::default())
                .with_critical_hold(Duration::from_secs(15))
        };
        // A 30 s rise to critical, sampled every 10 s: told at the second critical sample.
        let mut spike = tracker();
        let told: Vec<(i64, Notification)> = [
            (0, Some(Critical)),
            (10, Some(Critical)),
            (20, Some(Critical)),
            (30, None),
        ]
        .iter()
        .filter_map(|(s, w)| spike.step(*w, s * S).map(|n| (*s, n)))
        .collect();
        assert_eq!(
            told,
            vec![
                (20, Notification::Firing(Critical)),
                (30, Notification::Resolved { was: Critical })
            ]
        );
        // Warning first, then critical: the critical clock starts at the first critical value.
        let mut rise = tracker();
        let told: Vec<(i64, Notification)> = [
            (0, Some(Warning)),
            (10, Some(Critical)),
            (20, Some(Warning)),
            (30, Some(Critical)),
            (40, Some(Critical)),
            (50, Some(Critical)),
        ]
        .iter()
        .filter_map(|(s, w)| rise.step(*w, s * S).map(|n| (*s, n)))
        .collect();
        assert_eq!(told, vec![(50, Notification::Firing(Critical))]);
        // A warning alone waits for the whole `for`.
        let mut warning = tracker();
        let told: Vec<(i64, Notification)> = (0..=12)
            .filter_map(|i| warning.step(Some(Warning), i * 10 * S).map(|n| (i * 10, n)))
            .collect();
        assert_eq!(told, vec![(120, Notification::Firing(Warning))]);
        // `for_critical` of 0: at once.
        let mut at_once = AlertTracker::new(Duration::from_secs(120), Cooldowns::default())
            .with_critical_hold(Duration::ZERO);
        assert_eq!(
            at_once.step(Some(Critical), 0),
            Some(Notification::Firing(Critical))
        );
    }

    #[test]
    fn a_pending_alert_resets_when_its_value_goes_back_under_the_threshold() {
        // 78-82 around an 80 % threshold with a 2 m `for`: pending never lasts 2 m.
        let t = seed_cpu();
        let mut tracker = AlertTracker::new(Duration::from_secs(120), Cooldowns::default());
        let mut told = Vec::new();
        for i in 0..60 {
            let value = if i % 2 == 0 { 0.82 } else { 0.78 };
            let wanted = t.classify(value, tracker.firing_severity());
            if let Some(n) = tracker.step(wanted, i * 5_000) {
                told.push(n);
            }
        }
        assert_eq!(
            told,
            vec![],
            "below the threshold half the time: never 2 m above it"
        );
        // Once firing, hysteresis keeps it firing across the same noise.
        let mut firing = AlertTracker::new(Duration::ZERO, Cooldowns::default());
        let mut told = Vec::new();
        for (i, value) in [0.85, 0.78, 0.82, 0.78, 0.82].iter().enumerate() {
            let wanted = t.classify(*value, firing.firing_severity());
            if let Some(n) = firing.step(wanted, i as i64 * 5_000) {
                told.push(n);
            }
        }
        assert_eq!(told, vec![Notification::Firing(Warning)]);
    }

    #[test]
    fn hysteresis_and_tracker_together_do_not_flap_around_the_threshold() {
        let t = seed_cpu();
        let mut tracker = AlertTracker::new(Duration::ZERO, Cooldowns::default());
        let mut notifications = Vec::new();
        for (minute, value) in [0.81, 0.79, 0.80, 0.78, 0.81, 0.77].iter().enumerate() {
            let wanted = t.classify(*value, tracker.firing_severity());
            if let Some(n) = tracker.step(wanted, minute as i64 * MIN) {
                notifications.push(n);
            }
        }
        assert_eq!(notifications, vec![Notification::Firing(Warning)]);
    }
}
