//! The pipeline's health verdict as published for readers: `/healthz` (web) reads it from the
//! snapshot; the daemon's health monitor (`daemon::health`) judges and sets it.

use std::sync::RwLock;

/// What the pipeline looks like now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Healthy,
    /// Still working, with a fault an operator must fix (the store cannot write).
    Degraded(String),
    /// Not working: a restart is the remedy.
    Stuck(String),
}

impl Verdict {
    /// Why it is not healthy.
    pub fn reason(&self) -> Option<&str> {
        match self {
            Verdict::Healthy => None,
            Verdict::Degraded(why) | Verdict::Stuck(why) => Some(why),
        }
    }

    /// Whether the systemd watchdog is fed: everything but stuck.
    pub fn feeds_watchdog(&self) -> bool {
        !matches!(self, Verdict::Stuck(_))
    }
}

/// The latest verdict, for `/healthz`; `None` until the first judgement (and in processes
/// without a monitor, e.g. the router's unit tests).
#[derive(Debug, Default)]
pub struct Published {
    verdict: RwLock<Option<Verdict>>,
}

impl Published {
    pub fn get(&self) -> Option<Verdict> {
        self.verdict.read().map(|v| v.clone()).unwrap_or_default()
    }

    /// Publishes a new judgement (the daemon's health monitor).
    pub fn set(&self, verdict: Verdict) {
        if let Ok(mut current) = self.verdict.write() {
            *current = Some(verdict);
        }
    }
}
