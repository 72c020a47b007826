//! Time as an argument: everything time-dependent asks a `Clock`, so tests drive time exactly.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

/// Milliseconds since the Unix epoch, UTC. The one time unit inside Lookout.
pub type UnixMillis = i64;

pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now_ms(&self) -> UnixMillis;
}

pub type SharedClock = Arc<dyn Clock>;

#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> UnixMillis {
        let since = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        since.as_millis() as UnixMillis
    }
}

pub fn system_clock() -> SharedClock {
    Arc::new(SystemClock)
}

/// A clock that only moves when told to: for tests of retention, rollups and anything timed.
#[derive(Debug, Default)]
pub struct ManualClock {
    now: AtomicI64,
}

impl ManualClock {
    pub fn new(start_ms: UnixMillis) -> Arc<Self> {
        Arc::new(ManualClock {
            now: AtomicI64::new(start_ms),
        })
    }

    pub fn set(&self, ms: UnixMillis) {
        self.now.store(ms, Ordering::SeqCst);
    }

    pub fn advance(&self, by: std::time::Duration) {
        self.now.fetch_add(by.as_millis() as i64, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> UnixMillis {
        self.now.load(Ordering::SeqCst)
    }
}

/// RFC 3339 text for a timestamp, for APIs and the CLI.
pub fn format_rfc3339(ms: UnixMillis) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms.max(0) as u64);
    humantime::format_rfc3339_millis(t).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let clock = ManualClock::new(1_000);
        assert_eq!(clock.now_ms(), 1_000);
        clock.advance(std::time::Duration::from_secs(2));
        assert_eq!(clock.now_ms(), 3_000);
        clock.set(5);
        assert_eq!(clock.now_ms(), 5);
    }

    #[test]
    fn rfc3339_is_utc_with_millis() {
        assert_eq!(format_rfc3339(1_500), "1970-01-01T00:00:01.500Z");
    }
}
