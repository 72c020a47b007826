//! The receivers' own metrics (`[receive]`, `crate::receive`), served on /metrics as
//! `lookout_receive_*`: requests by protocol and outcome, samples by protocol and what became
//! of them, and the live series of each sender. Counted where the same decisions are made (and
//! logged), so logs and /metrics agree.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

#[derive(Debug, Default)]
struct Counts {
    /// (protocol, outcome) -> requests.
    requests: BTreeMap<(&'static str, &'static str), u64>,
    /// (protocol, outcome) -> samples.
    samples: BTreeMap<(&'static str, &'static str), u64>,
    /// sender -> live series.
    series: BTreeMap<String, u64>,
}

/// Shared by the web's receivers (which count) and the exporter (which renders).
#[derive(Debug, Default)]
pub struct ReceiveMetrics {
    counts: Mutex<Counts>,
}

/// A copy of the counters, for rendering.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReceiveFigures {
    pub requests: Vec<((&'static str, &'static str), u64)>,
    pub samples: Vec<((&'static str, &'static str), u64)>,
    pub series: Vec<(String, u64)>,
}

impl ReceiveMetrics {
    fn counts(&self) -> MutexGuard<'_, Counts> {
        self.counts.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn request(&self, protocol: &'static str, outcome: &'static str) {
        *self
            .counts()
            .requests
            .entry((protocol, outcome))
            .or_default() += 1;
    }

    pub fn samples(&self, protocol: &'static str, outcome: &'static str, n: u64) {
        if n > 0 {
            *self
                .counts()
                .samples
                .entry((protocol, outcome))
                .or_default() += n;
        }
    }

    /// The live series of each sender now (a sender with none is left out).
    pub fn set_series(&self, series: impl IntoIterator<Item = (String, u64)>) {
        self.counts().series = series.into_iter().filter(|(_, n)| *n > 0).collect();
    }

    pub fn figures(&self) -> ReceiveFigures {
        let counts = self.counts();
        ReceiveFigures {
            requests: counts.requests.iter().map(|(k, v)| (*k, *v)).collect(),
            samples: counts.samples.iter().map(|(k, v)| (*k, *v)).collect(),
            series: counts.series.iter().map(|(k, v)| (k.clone(), *v)).collect(),
        }
    }

    /// Requests of `protocol` with `outcome` so far (tests, benchmarks).
    pub fn requests_of(&self, protocol: &str, outcome: &str) -> u64 {
        self.counts()
            .requests
            .iter()
            .filter(|((p, o), _)| *p == protocol && *o == outcome)
            .map(|(_, n)| *n)
            .sum()
    }
}
