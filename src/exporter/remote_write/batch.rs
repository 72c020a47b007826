//! From bus observations to remote-write batches (pure, no I/O).
//!
//! Each observation becomes samples named exactly as `/metrics` names them: every sample of
//! the observation (`lookout_` + its series name, e.g. `lookout_cpu_usage_ratio`,
//! `lookout_check_up{check,type}`), and for every check result `lookout_check_status{check,
//! layer,status}` (1 for the status it is in, 0 for the others) and `lookout_check_value
//! {check}` when the check has a value. All at the observation's time (check results at their
//! own). The endpoint's external labels are added (a series' own label of the same name wins,
//! as in Prometheus), and its name-prefix filter applied.
//!
//! A `Batch` groups samples by series (labels sorted by name, so `__name__` comes first for
//! the lowercase names Lookout uses) and encodes to a request body; `Batcher` cuts the stream
//! into batches of at most `batch_size` samples.

use std::collections::BTreeMap;

use super::proto::{self, Label, Sample, TimeSeries, WriteRequest};
use crate::clock::UnixMillis;
use crate::exporter::PREFIX_STR as PREFIX;
use crate::model::{Observation, Status};

/// What an endpoint adds to and keeps of the samples.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Shaping {
    /// External labels, added to every series that does not have the label itself.
    pub labels: BTreeMap<String, String>,
    /// Only series whose full name (`lookout_...`) starts with one of these; all when empty.
    pub name_prefixes: Vec<String>,
}

impl Shaping {
    fn keeps(&self, full_name: &str) -> bool {
        self.name_prefixes.is_empty()
            || self
                .name_prefixes
                .iter()
                .any(|prefix| full_name.starts_with(prefix.as_str()))
    }

    /// The full label set of a series: `__name__`, the external labels, its own labels.
    fn labels<'a>(
        &self,
        full_name: String,
        own: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Vec<(String, String)> {
        let mut all: BTreeMap<String, String> = self.labels.clone();
        for (name, value) in own {
            all.insert(name.to_string(), value.to_string());
        }
        all.insert("__name__".to_string(), full_name);
        all.into_iter().collect()
    }
}

/// One sample with its series' full label set.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelledSample {
    /// Sorted by name, `__name__` included.
    pub labels: Vec<(String, String)>,
    pub at_ms: UnixMillis,
    pub value: f64,
}

/// The samples of the families /metrics computes at render time (alerts, maintenance,
/// Lookout's own counters, ...), shaped for one endpoint and stamped `at_ms`.
pub fn computed_samples_of(
    computed: &[crate::exporter::ComputedSample],
    at_ms: UnixMillis,
    shaping: &Shaping,
) -> Vec<LabelledSample> {
    computed
        .iter()
        .filter(|sample| shaping.keeps(&sample.name))
        .map(|sample| LabelledSample {
            labels: shaping.labels(
                sample.name.clone(),
                sample.labels.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            ),
            at_ms,
            value: sample.value,
        })
        .collect()
}

/// The samples `observation` contributes, shaped for one endpoint, in a stable order.
pub fn samples_of(observation: &Observation, shaping: &Shaping) -> Vec<LabelledSample> {
    let mut out = Vec::with_capacity(observation.samples.len() + 6 * observation.checks.len());
    for sample in &observation.samples {
        let full_name = format!("{PREFIX}{}", sample.series.name());
        if !shaping.keeps(&full_name) {
            continue;
        }
        let own = sample.series.labels();
        out.push(LabelledSample {
            labels: shaping.labels(full_name, own),
            at_ms: observation.at_ms,
            value: sample.value,
        });
    }
    let status_name = format!("{PREFIX}check_status");
    let value_name = format!("{PREFIX}check_value");
    for result in &observation.checks {
        if shaping.keeps(&status_name) {
            for status in Status::ALL {
                let own = [
                    ("check", result.check.as_str()),
                    ("layer", result.layer.as_str()),
                    ("status", status.as_str()),
                ];
                out.push(LabelledSample {
                    labels: shaping.labels(status_name.clone(), own),
                    at_ms: result.at_ms,
                    value: f64::from(u8::from(result.status == status)),
                });
            }
        }
        if let Some(value) = result.value.filter(|_| shaping.keeps(&value_name)) {
            out.push(LabelledSample {
                labels: shaping.labels(value_name.clone(), [("check", result.check.as_str())]),
                at_ms: result.at_ms,
                value,
            });
        }
    }
    out
}

/// A series' full label set, sorted by name.
pub type Labels = Vec<(String, String)>;

/// Samples grouped by series, ready to encode as one request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Batch {
    series: BTreeMap<Labels, Vec<(UnixMillis, f64)>>,
    samples: usize,
    first_ms: Option<UnixMillis>,
    last_ms: Option<UnixMillis>,
}

impl Batch {
    pub fn push(&mut self, sample: LabelledSample) {
        self.series
            .entry(sample.labels)
            .or_default()
            .push((sample.at_ms, sample.value));
        self.samples += 1;
        self.first_ms = Some(self.first_ms.map_or(sample.at_ms, |t| t.min(sample.at_ms)));
        self.last_ms = Some(self.last_ms.map_or(sample.at_ms, |t| t.max(sample.at_ms)));
    }

    pub fn len(&self) -> usize {
        self.samples
    }

    pub fn is_empty(&self) -> bool {
        self.samples == 0
    }

    /// Oldest and newest sample time; `(0, 0)` when empty.
    pub fn span_ms(&self) -> (UnixMillis, UnixMillis) {
        (self.first_ms.unwrap_or(0), self.last_ms.unwrap_or(0))
    }

    /// The protobuf message: series in label order, each one's samples in time order (a
    /// receiver such as Prometheus refuses a sample older than one it already has).
    pub fn to_request(&self) -> WriteRequest {
        let timeseries = self
            .series
            .iter()
            .map(|(labels, points)| {
                let mut samples: Vec<Sample> = points
                    .iter()
                    .map(|&(timestamp, value)| Sample { value, timestamp })
                    .collect();
                samples.sort_by_key(|s| s.timestamp);
                TimeSeries {
                    labels: labels
                        .iter()
                        .map(|(name, value)| Label {
                            name: name.clone(),
                            value: value.clone(),
                        })
                        .collect(),
                    samples,
                }
            })
            .collect();
        WriteRequest { timeseries }
    }

    /// The request body: protobuf, snappy block-compressed.
    pub fn encode(&self) -> Vec<u8> {
        proto::encode(&self.to_request())
    }
}

/// Cuts a stream of samples into batches of at most `batch_size` samples.
#[derive(Debug)]
pub struct Batcher {
    batch_size: usize,
    open: Batch,
    full: Vec<Batch>,
}

impl Batcher {
    pub fn new(batch_size: usize) -> Batcher {
        Batcher {
            batch_size: batch_size.max(1),
            open: Batch::default(),
            full: Vec::new(),
        }
    }

    pub fn push(&mut self, sample: LabelledSample) {
        self.open.push(sample);
        if self.open.len() >= self.batch_size {
            self.full.push(std::mem::take(&mut self.open));
        }
    }

    /// Whether some batch is full (worth writing before the flush interval is up).
    pub fn has_full(&self) -> bool {
        !self.full.is_empty()
    }

    /// Samples held, full batches and the open one.
    pub fn pending(&self) -> usize {
        self.full.iter().map(Batch::len).sum::<usize>() + self.open.len()
    }

    /// The full batches only.
    pub fn take_full(&mut self) -> Vec<Batch> {
        std::mem::take(&mut self.full)
    }

    /// Every batch, the open one included (if not empty).
    pub fn take_all(&mut self) -> Vec<Batch> {
        let mut all = std::mem::take(&mut self.full);
        if !self.open.is_empty() {
            all.push(std::mem::take(&mut self.open));
        }
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{CheckResult, Layer, SeriesKey};
    use std::sync::Arc;

    fn observation() -> Observation {
        Observation {
            source: "checks".into(),
            at_ms: 2_000,
            samples: vec![
                crate::model::Sample {
                    series: Arc::new(SeriesKey::new("cpu_usage_ratio")),
                    value: 0.5,
                },
                crate::model::Sample {
                    series: Arc::new(
                        SeriesKey::new("check_up")
                            .with("check", "app")
                            .with("type", "http")
                            .with("instance", "own"),
                    ),
                    value: 1.0,
                },
            ],
            checks: vec![CheckResult {
                check: "app".into(),
                layer: Layer::Application,
                status: Status::Warning,
                value: Some(0.25),
                detail: String::new(),
                at_ms: 1_990,
                underlying: None,
            }],
        }
    }

    fn names(samples: &[LabelledSample]) -> Vec<String> {
        samples
            .iter()
            .map(|s| {
                s.labels
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .collect()
    }

    #[test]
    fn samples_are_named_as_metrics_names_them_with_external_labels() {
        let shaping = Shaping {
            labels: BTreeMap::from([("instance".to_string(), "web1".to_string())]),
            name_prefixes: Vec::new(),
        };
        let samples = samples_of(&observation(), &shaping);
        assert_eq!(
            names(&samples),
            [
                "__name__=lookout_cpu_usage_ratio,instance=web1",
                // The series' own label wins over the external one.
                "__name__=lookout_check_up,check=app,instance=own,type=http",
                "__name__=lookout_check_status,check=app,instance=web1,layer=application,status=ok",
                "__name__=lookout_check_status,check=app,instance=web1,layer=application,status=maintenance",
                "__name__=lookout_check_status,check=app,instance=web1,layer=application,status=warning",
                "__name__=lookout_check_status,check=app,instance=web1,layer=application,status=unknown",
                "__name__=lookout_check_status,check=app,instance=web1,layer=application,status=critical",
                "__name__=lookout_check_value,check=app,instance=web1",
            ]
        );
        let values: Vec<(i64, f64)> = samples.iter().map(|s| (s.at_ms, s.value)).collect();
        assert_eq!(
            values,
            [
                (2_000, 0.5),
                (2_000, 1.0),
                (1_990, 0.0),
                (1_990, 0.0),
                (1_990, 1.0),
                (1_990, 0.0),
                (1_990, 0.0),
                (1_990, 0.25)
            ]
        );
    }

    #[test]
    fn the_name_prefix_filter_keeps_only_matching_series() {
        let shaping = Shaping {
            labels: BTreeMap::new(),
            name_prefixes: vec!["lookout_check_up".into(), "lookout_check_value".into()],
        };
        assert_eq!(
            names(&samples_of(&observation(), &shaping)),
            [
                "__name__=lookout_check_up,check=app,instance=own,type=http",
                "__name__=lookout_check_value,check=app",
            ]
        );
    }

    #[test]
    fn a_batch_groups_by_series_with_samples_in_time_order() {
        let mut batch = Batch::default();
        let labels = vec![("__name__".to_string(), "lookout_load1".to_string())];
        for (at_ms, value) in [(3_000, 3.0), (1_000, 1.0), (2_000, 2.0)] {
            batch.push(LabelledSample {
                labels: labels.clone(),
                at_ms,
                value,
            });
        }
        batch.push(LabelledSample {
            labels: vec![("__name__".to_string(), "lookout_cpus".to_string())],
            at_ms: 500,
            value: 2.0,
        });
        assert_eq!(batch.len(), 4);
        assert_eq!(batch.span_ms(), (500, 3_000));
        let request = proto::decode(&batch.encode()).unwrap();
        assert_eq!(request, batch.to_request());
        let series: Vec<(String, Vec<i64>)> = request
            .timeseries
            .iter()
            .map(|s| {
                (
                    s.labels[0].value.clone(),
                    s.samples.iter().map(|p| p.timestamp).collect(),
                )
            })
            .collect();
        assert_eq!(
            series,
            [
                ("lookout_cpus".to_string(), vec![500]),
                ("lookout_load1".to_string(), vec![1_000, 2_000, 3_000]),
            ]
        );
    }

    #[test]
    fn the_batcher_cuts_at_batch_size_and_keeps_the_rest_open() {
        let mut batcher = Batcher::new(3);
        for n in 0..7 {
            batcher.push(LabelledSample {
                labels: vec![("__name__".to_string(), format!("s{n}"))],
                at_ms: n,
                value: 0.0,
            });
        }
        assert!(batcher.has_full());
        assert_eq!(batcher.pending(), 7);
        let full = batcher.take_full();
        assert_eq!(full.iter().map(Batch::len).collect::<Vec<_>>(), [3, 3]);
        assert_eq!(batcher.pending(), 1);
        let rest = batcher.take_all();
        assert_eq!(rest.iter().map(Batch::len).collect::<Vec<_>>(), [1]);
        assert_eq!(batcher.pending(), 0);
        assert!(batcher.take_all().is_empty());
    }
}
