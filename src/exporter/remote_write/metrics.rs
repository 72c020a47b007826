//! Remote write's own metrics, per endpoint, served on /metrics (rendered by
//! `exporter::prometheus_text`): samples sent, failed (refused for good), retried, dropped
//! (queue over its cap), queued now, and when a batch was last delivered. Counted where the
//! same events are logged, so logs and /metrics agree.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use crate::clock::UnixMillis;

/// The counters of one endpoint.
#[derive(Debug, Default)]
pub struct EndpointMetrics {
    pub samples_sent: AtomicU64,
    pub samples_failed: AtomicU64,
    pub samples_retried: AtomicU64,
    pub samples_dropped: AtomicU64,
    pub samples_queued: AtomicU64,
    /// Unix milliseconds of the last 2xx; 0 before the first.
    pub last_success_ms: AtomicI64,
}

/// A copy of one endpoint's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EndpointFigures {
    pub samples_sent: u64,
    pub samples_failed: u64,
    pub samples_retried: u64,
    pub samples_dropped: u64,
    pub samples_queued: u64,
    pub last_success_ms: UnixMillis,
}

impl EndpointMetrics {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub fn figures(&self) -> EndpointFigures {
        EndpointFigures {
            samples_sent: self.samples_sent.load(Ordering::Relaxed),
            samples_failed: self.samples_failed.load(Ordering::Relaxed),
            samples_retried: self.samples_retried.load(Ordering::Relaxed),
            samples_dropped: self.samples_dropped.load(Ordering::Relaxed),
            samples_queued: self.samples_queued.load(Ordering::Relaxed),
            last_success_ms: self.last_success_ms.load(Ordering::Relaxed),
        }
    }
}

/// Every configured endpoint's counters, by endpoint label.
#[derive(Debug, Default)]
pub struct RemoteWriteMetrics {
    endpoints: RwLock<BTreeMap<String, Arc<EndpointMetrics>>>,
}

impl RemoteWriteMetrics {
    /// The counters of `endpoint`, created at zero on first use.
    pub fn endpoint(&self, endpoint: &str) -> Arc<EndpointMetrics> {
        if let Some(found) = self
            .endpoints
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(endpoint)
        {
            return found.clone();
        }
        self.endpoints
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .entry(endpoint.to_string())
            .or_default()
            .clone()
    }

    /// Forgets the counters of endpoints no longer configured, so /metrics stops serving them.
    pub fn retain(&self, endpoints: &[String]) {
        self.endpoints
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|name, _| endpoints.contains(name));
    }

    /// Every endpoint's figures, sorted by endpoint.
    pub fn snapshot(&self) -> BTreeMap<String, EndpointFigures> {
        self.endpoints
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(name, metrics)| (name.clone(), metrics.figures()))
            .collect()
    }
}
