//! The failed-run ratio of a check over a sliding window (`error_window`, default 5 min).
//! Pure: time comes in as `now`.

use std::collections::VecDeque;

use crate::clock::UnixMillis;

#[derive(Debug, Clone)]
pub struct ErrorWindow {
    window_ms: i64,
    runs: VecDeque<(UnixMillis, bool)>,
}

impl ErrorWindow {
    pub fn new(window: std::time::Duration) -> ErrorWindow {
        ErrorWindow {
            window_ms: window.as_millis().max(1) as i64,
            runs: VecDeque::new(),
        }
    }

    /// Records a run and returns the share of failed runs within the window ending at `now`.
    pub fn record(&mut self, now: UnixMillis, failed: bool) -> f64 {
        self.runs.push_back((now, failed));
        while self
            .runs
            .front()
            .is_some_and(|(at, _)| *at <= now - self.window_ms)
        {
            self.runs.pop_front();
        }
        let failures = self.runs.iter().filter(|(_, failed)| *failed).count();
        failures as f64 / self.runs.len() as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn ratio_covers_only_the_window() {
        let mut window = ErrorWindow::new(Duration::from_secs(60));
        assert_eq!(window.record(0, true), 1.0);
        assert_eq!(window.record(30_000, false), 0.5);
        assert_eq!(window.record(45_000, false), 1.0 / 3.0);
        // At 60 s the run at 0 s leaves the window.
        assert_eq!(window.record(60_000, false), 0.0);
    }
}
