//! Flap detection: one alert that keeps changing between firing and not firing is told once,
//! not at every change.
//!
//! The measure is the same for every kind of alert (check results, thresholds, no data): the
//! changes of the alert's firing state — it starts firing, it stops — counted over a sliding
//! time window (`[alerts.flapping] window`, default 10 m). At `changes` changes in the window
//! (default 5: fired, resolved, fired, resolved, fired) the alert is flapping. It stays
//! flapping until it has gone `stable_for` (default 2 m) without a change; then its final
//! state is told once. A count over time, rather than Nagios' percent of the last 21 results,
//! so the verdict does not depend on how often the source is checked: five changes in ten
//! minutes are a flap for a 1 s check and for a 1 m one.
//!
//! Pure: time comes in as `now_ms`.

use std::collections::VecDeque;
use std::time::Duration;

use super::mute::MuteReason;
use crate::clock::UnixMillis;
use crate::config::FlapConfig;

/// What a change did to the verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlapChange {
    /// Not flapping (or flapping detection is off).
    Steady,
    /// This change made it a flap.
    Started,
    /// Already flapping.
    Flapping,
}

/// One alert's recent changes.
#[derive(Debug, Clone, Default)]
pub struct FlapTracker {
    /// Times of the changes within the window, oldest first.
    changes: VecDeque<UnixMillis>,
    /// Since when it has been flapping, if it is.
    flapping_since_ms: Option<UnixMillis>,
    /// Changes counted since the flap began (including the ones that started it).
    flap_changes: u32,
    /// When the first of those changes happened.
    flap_first_ms: UnixMillis,
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

impl FlapTracker {
    /// The alert started or stopped firing at `now_ms`.
    pub fn record(&mut self, settings: &FlapConfig, now_ms: UnixMillis) -> FlapChange {
        if !settings.enabled {
            return FlapChange::Steady;
        }
        let window_ms = millis(settings.window);
        while self
            .changes
            .front()
            .is_some_and(|&at| now_ms.saturating_sub(at) > window_ms)
        {
            self.changes.pop_front();
        }
        self.changes.push_back(now_ms);
        // Bounded: no more than the threshold is ever needed.
        while self.changes.len() > settings.changes.max(2) as usize {
            self.changes.pop_front();
        }
        if self.flapping_since_ms.is_some() {
            self.flap_changes = self.flap_changes.saturating_add(1);
            return FlapChange::Flapping;
        }
        if self.changes.len() >= settings.changes as usize {
            self.flapping_since_ms = Some(now_ms);
            self.flap_changes = self.changes.len() as u32;
            self.flap_first_ms = self.changes.front().copied().unwrap_or(now_ms);
            return FlapChange::Started;
        }
        FlapChange::Steady
    }

    pub fn is_flapping(&self) -> bool {
        self.flapping_since_ms.is_some()
    }

    fn last_change_ms(&self) -> Option<UnixMillis> {
        self.changes.back().copied()
    }

    /// "23 changes in 1m 30s": the flap so far (or, once ended, the whole flap).
    pub fn describe(&self) -> String {
        let (changes, over) = self.extent();
        format!("{changes} changes in {over}")
    }

    /// The mute reason of a flapping alert: "flapping: 23 changes in 1m 30s".
    pub fn mute_reason(&self) -> MuteReason {
        let (changes, over) = self.extent();
        MuteReason::Flapping { changes, over }
    }

    /// The flap's changes so far, and the time they span ("1m 30s").
    fn extent(&self) -> (u32, String) {
        let span_ms = self
            .last_change_ms()
            .unwrap_or(self.flap_first_ms)
            .saturating_sub(self.flap_first_ms)
            .max(0);
        let over = humantime::format_duration(Duration::from_secs((span_ms / 1000) as u64));
        (self.flap_changes, over.to_string())
    }

    /// A flap that has been stable for `stable_for` ends: returns its description.
    pub fn settle(&mut self, settings: &FlapConfig, now_ms: UnixMillis) -> Option<String> {
        self.flapping_since_ms?;
        let last = self.last_change_ms()?;
        if now_ms.saturating_sub(last) < millis(settings.stable_for) && settings.enabled {
            return None;
        }
        let description = self.describe();
        self.flapping_since_ms = None;
        self.flap_changes = 0;
        self.changes.clear();
        Some(description)
    }

    /// Nothing left to remember: not flapping, and no change within the window.
    pub fn is_idle(&self, settings: &FlapConfig, now_ms: UnixMillis) -> bool {
        self.flapping_since_ms.is_none()
            && self
                .last_change_ms()
                .is_none_or(|last| now_ms.saturating_sub(last) > millis(settings.window))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000;

    fn settings() -> FlapConfig {
        FlapConfig {
            enabled: true,
            window: Duration::from_secs(600),
            changes: 5,
            stable_for: Duration::from_secs(120),
        }
    }

    #[test]
    fn five_changes_within_the_window_are_a_flap_that_ends_after_stable_for() {
        let settings = settings();
        let mut flap = FlapTracker::default();
        let verdicts: Vec<FlapChange> = (0..7).map(|i| flap.record(&settings, i * 2 * S)).collect();
        assert_eq!(
            verdicts,
            vec![
                FlapChange::Steady,
                FlapChange::Steady,
                FlapChange::Steady,
                FlapChange::Steady,
                FlapChange::Started,
                FlapChange::Flapping,
                FlapChange::Flapping,
            ]
        );
        assert!(flap.is_flapping());
        assert_eq!(flap.describe(), "7 changes in 12s");
        assert_eq!(
            flap.settle(&settings, 12 * S + 119 * S),
            None,
            "not stable yet"
        );
        assert!(!flap.is_idle(&settings, 12 * S + 119 * S));
        assert_eq!(
            flap.settle(&settings, 12 * S + 120 * S),
            Some("7 changes in 12s".to_string())
        );
        assert!(!flap.is_flapping());
        assert!(flap.is_idle(&settings, 12 * S + 120 * S));
    }

    #[test]
    fn changes_spread_wider_than_the_window_are_not_a_flap() {
        let settings = settings();
        let mut flap = FlapTracker::default();
        // A real incident every 3 minutes: never 5 within 10 minutes.
        for i in 0..20 {
            assert_eq!(flap.record(&settings, i * 180 * S), FlapChange::Steady);
        }
        assert!(flap.changes.len() <= 5, "bounded");
    }

    #[test]
    fn disabled_detection_never_flaps() {
        let settings = FlapConfig {
            enabled: false,
            ..settings()
        };
        let mut flap = FlapTracker::default();
        for i in 0..50 {
            assert_eq!(flap.record(&settings, i * S), FlapChange::Steady);
        }
        assert!(flap.is_idle(&settings, 50 * S + 601 * S));
    }
}
