//! The in-memory buffer between `ingest()` and `flush()`: samples per series, check results,
//! and the events whose own write failed.
//!
//! A flush copies what is buffered (every entry has a sequence number), writes the copy, and
//! only after the commit removes what it wrote. Until then queries still see it, and a failed
//! flush loses nothing. The buffer is bounded: past its limit (`StoreOptions::
//! max_buffered_samples`, default [`DEFAULT_MAX_SAMPLES`]) the oldest samples go (counted in
//! `dropped_samples`), and so do the oldest check results past [`MAX_CHECKS`] and events past
//! [`MAX_EVENTS`], so a store that cannot write for a long time cannot eat the memory.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

use crate::model::{CheckResult, Event, Observation, SeriesKey};

/// At most this many buffered samples by default: `storage.max_buffered_samples`'s default.
pub const DEFAULT_MAX_SAMPLES: usize = crate::config::DEFAULT_MAX_BUFFERED_SAMPLES as usize;
/// At most this many buffered check results.
pub const MAX_CHECKS: usize = 100_000;
/// At most this many events waiting to be written again.
pub const MAX_EVENTS: usize = 10_000;

#[derive(Debug, Default)]
pub struct SeriesBuf {
    /// Sequence number of `ts[0]`.
    pub first_seq: u64,
    pub ts: Vec<i64>,
    pub vals: Vec<f64>,
}

#[derive(Debug)]
pub struct Buffer {
    pub series: HashMap<Arc<SeriesKey>, SeriesBuf, foldhash::fast::RandomState>,
    pub checks: Vec<CheckResult>,
    pub checks_first_seq: u64,
    pub samples: usize,
    /// Most samples kept (at least 1).
    pub max_samples: usize,
    pub dropped_samples: u64,
    pub dropped_checks: u64,
    /// Events whose write failed, oldest first, to be written by the next flush.
    pub events: VecDeque<Event>,
    pub events_first_seq: u64,
    pub dropped_events: u64,
}

impl Default for Buffer {
    fn default() -> Buffer {
        Buffer::with_limit(DEFAULT_MAX_SAMPLES)
    }
}

/// One series' samples copied by a flush, and the sequence number just past them.
#[derive(Debug)]
pub struct TakenSeries {
    pub key: Arc<SeriesKey>,
    pub ts: Vec<i64>,
    pub vals: Vec<f64>,
    pub end_seq: u64,
}

/// What a flush took: copies, plus where each series' copy ends (to remove it after commit).
#[derive(Debug, Default)]
pub struct Taken {
    pub series: Vec<TakenSeries>,
    pub checks: Vec<CheckResult>,
    pub checks_end_seq: u64,
    pub events: Vec<Event>,
    pub events_end_seq: u64,
}

impl Taken {
    pub fn samples(&self) -> usize {
        self.series.iter().map(|s| s.ts.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.series.is_empty() && self.checks.is_empty() && self.events.is_empty()
    }
}

impl Buffer {
    pub fn with_limit(max_samples: usize) -> Buffer {
        Buffer {
            series: HashMap::default(),
            checks: Vec::new(),
            checks_first_seq: 0,
            samples: 0,
            max_samples: max_samples.max(1),
            dropped_samples: 0,
            dropped_checks: 0,
            events: VecDeque::new(),
            events_first_seq: 0,
            dropped_events: 0,
        }
    }

    /// Keeps an event whose write failed for the next flush; past [`MAX_EVENTS`] the oldest
    /// goes (counted).
    pub fn keep_event(&mut self, event: Event) {
        self.events.push_back(event);
        if self.events.len() > MAX_EVENTS {
            self.events.pop_front();
            self.events_first_seq += 1;
            self.dropped_events += 1;
        }
    }

    pub fn ingest(&mut self, obs: &Observation) {
        for s in &obs.samples {
            let buf = match self.series.get_mut(&*s.series) {
                Some(b) => b,
                None => self.series.entry(s.series.clone()).or_default(),
            };
            buf.ts.push(obs.at_ms);
            buf.vals.push(s.value);
        }
        self.samples += obs.samples.len();
        self.checks.extend(obs.checks.iter().cloned());
        while self.samples > self.max_samples {
            self.drop_oldest_samples();
        }
        if self.checks.len() > MAX_CHECKS {
            let n = self.checks.len() - MAX_CHECKS;
            self.checks.drain(..n);
            self.checks_first_seq += n as u64;
            self.dropped_checks += n as u64;
            tracing::warn!(
                dropped = n,
                "store buffer full: oldest check results dropped"
            );
        }
    }

    /// Drops the oldest tenth of every series (samples arrive in time order per series).
    fn drop_oldest_samples(&mut self) {
        let mut dropped = 0;
        for buf in self.series.values_mut() {
            let n = buf.ts.len().div_ceil(10);
            buf.ts.drain(..n);
            buf.vals.drain(..n);
            buf.first_seq += n as u64;
            dropped += n;
        }
        self.samples -= dropped;
        self.dropped_samples += dropped as u64;
        tracing::warn!(
            dropped,
            total_dropped = self.dropped_samples,
            "store buffer full: oldest samples dropped"
        );
    }

    /// Copies everything buffered for a flush.
    pub fn take(&self) -> Taken {
        Taken {
            series: self
                .series
                .iter()
                .filter(|(_, b)| !b.ts.is_empty())
                .map(|(k, b)| TakenSeries {
                    key: k.clone(),
                    ts: b.ts.clone(),
                    vals: b.vals.clone(),
                    end_seq: b.first_seq + b.ts.len() as u64,
                })
                .collect(),
            checks: self.checks.clone(),
            checks_end_seq: self.checks_first_seq + self.checks.len() as u64,
            events: self.events.iter().cloned().collect(),
            events_end_seq: self.events_first_seq + self.events.len() as u64,
        }
    }

    /// Removes what a committed flush wrote (what was dropped meanwhile is already gone).
    pub fn remove_flushed(&mut self, taken: &Taken) {
        for TakenSeries { key, end_seq, .. } in &taken.series {
            if let Some(buf) = self.series.get_mut(&**key) {
                let n = (end_seq.saturating_sub(buf.first_seq) as usize).min(buf.ts.len());
                buf.ts.drain(..n);
                buf.vals.drain(..n);
                buf.first_seq += n as u64;
                self.samples -= n;
                if buf.ts.is_empty() {
                    // Keep the entry (and its Arc) while the series is active; a later flush
                    // skips empty ones. Drop entries idle for a whole flush to bound the map.
                    buf.ts.shrink_to(64);
                    buf.vals.shrink_to(64);
                }
            }
        }
        let flushed: HashSet<*const SeriesKey, foldhash::fast::RandomState> =
            taken.series.iter().map(|t| Arc::as_ptr(&t.key)).collect();
        self.series
            .retain(|key, b| !b.ts.is_empty() || flushed.contains(&Arc::as_ptr(key)));
        let n = (taken.checks_end_seq.saturating_sub(self.checks_first_seq) as usize)
            .min(self.checks.len());
        self.checks.drain(..n);
        self.checks_first_seq += n as u64;
        let n = (taken.events_end_seq.saturating_sub(self.events_first_seq) as usize)
            .min(self.events.len());
        self.events.drain(..n);
        self.events_first_seq += n as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Sample;

    fn obs(at_ms: i64, keys: &[Arc<SeriesKey>], v: f64) -> Observation {
        Observation {
            source: "t".into(),
            at_ms,
            samples: keys
                .iter()
                .map(|k| Sample {
                    series: k.clone(),
                    value: v,
                })
                .collect(),
            checks: vec![],
        }
    }

    #[test]
    fn samples_ingested_during_a_flush_stay_buffered() {
        let k = Arc::new(SeriesKey::new("a"));
        let mut b = Buffer::default();
        b.ingest(&obs(1, std::slice::from_ref(&k), 1.0));
        b.ingest(&obs(2, std::slice::from_ref(&k), 2.0));
        let taken = b.take();
        assert_eq!(taken.samples(), 2);
        b.ingest(&obs(3, std::slice::from_ref(&k), 3.0)); // arrives while the flush runs
        b.remove_flushed(&taken);
        assert_eq!(b.samples, 1);
        assert_eq!(b.series[&*k].ts, vec![3]);
    }

    #[test]
    fn a_failed_flush_keeps_everything() {
        let k = Arc::new(SeriesKey::new("a"));
        let mut b = Buffer::default();
        b.ingest(&obs(1, std::slice::from_ref(&k), 1.0));
        let _taken = b.take(); // the flush fails: nothing is removed
        assert_eq!(b.take().samples(), 1);
    }

    #[test]
    fn overflow_drops_the_oldest_and_counts_them() {
        let keys: Vec<Arc<SeriesKey>> = (0..1000)
            .map(|i| Arc::new(SeriesKey::new(format!("s{i}"))))
            .collect();
        let mut b = Buffer::with_limit(20_000);
        let ticks = 20_000 / 1000 + 1;
        for t in 0..ticks as i64 {
            b.ingest(&obs(t, &keys, t as f64));
        }
        assert!(b.samples <= 20_000);
        assert_eq!(b.samples as u64 + b.dropped_samples, (ticks * 1000) as u64);
        // what remains is the newest
        assert_eq!(*b.series[&*keys[0]].ts.last().unwrap(), ticks as i64 - 1);
        assert!(b.series[&*keys[0]].ts[0] > 0);
    }

    #[test]
    fn events_kept_for_the_next_flush_are_bounded_and_removed_once_written() {
        let event = |i: i64| Event {
            at_ms: i,
            kind: crate::model::EventKind::Alert,
            subject: "s".into(),
            message: format!("e{i}"),
        };
        let mut b = Buffer::with_limit(1_000);
        for i in 0..(MAX_EVENTS as i64 + 3) {
            b.keep_event(event(i));
        }
        assert_eq!(b.events.len(), MAX_EVENTS);
        assert_eq!(b.dropped_events, 3);
        assert_eq!(b.events[0].at_ms, 3, "the oldest went first");
        let taken = b.take();
        assert!(!taken.is_empty());
        b.keep_event(event(-1)); // failed while the flush ran: stays
        b.remove_flushed(&taken);
        assert_eq!(b.events.len(), 1);
        assert_eq!(b.events[0].at_ms, -1);
    }

    #[test]
    fn drops_during_a_flush_do_not_remove_unflushed_samples() {
        let k = Arc::new(SeriesKey::new("a"));
        let mut b = Buffer::default();
        for t in 0..10 {
            b.ingest(&obs(t, std::slice::from_ref(&k), 0.0));
        }
        let taken = b.take();
        // simulate the cap dropping 5 samples (all flushed ones) meanwhile, then 3 new ones
        {
            let s = b.series.get_mut(&*k).unwrap();
            s.ts.drain(..5);
            s.vals.drain(..5);
            s.first_seq += 5;
            b.samples -= 5;
        }
        for t in 10..13 {
            b.ingest(&obs(t, std::slice::from_ref(&k), 0.0));
        }
        b.remove_flushed(&taken);
        assert_eq!(b.series[&*k].ts, vec![10, 11, 12]);
        assert_eq!(b.samples, 3);
    }
}
