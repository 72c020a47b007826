//! A Lookout agent's series under the hub's own names (pure).
//!
//! An agent (or a Prometheus scraping a Lookout) sends what its `/metrics` shows:
//! `lookout_cpu_usage_ratio`, `lookout_check_status{check,layer,status}`, ... The hub files
//! them as its own probes would, with the agent's `host` label: `cpu_usage_ratio{host="web-1"}`,
//! so one rule, one chart and one query cover every host, and the hub's `/metrics` shows
//! `lookout_cpu_usage_ratio{host="web-1"}` rather than `lookout_lookout_...`.
//!
//! - A `check` label becomes `<host>/<check>` (`web-1/app`): an agent's check is a check of
//!   the hub under that name, apart from the hub's own `app`.
//! - `lookout_check_status` (1 for the status the check is in) and `lookout_check_value`
//!   become the check's results (`model::CheckResult`), which the alert engine, the snapshot
//!   and the store take like local ones.
//! - The families an agent's `/metrics` computes at render time (`lookout_alerts`,
//!   `lookout_remote_write_*`, ...) keep their names: under the hub's name they would clash
//!   with the hub's own family of that name on its `/metrics`.

use std::collections::BTreeMap;

use crate::clock::UnixMillis;
use crate::exporter::COMPUTED_FAMILIES;
use crate::model::{CheckResult, Layer, Status};

const PREFIX: &str = "lookout_";

/// What the hub makes of one received series name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Name {
    /// Filed under this name (the agent's, without `lookout_`).
    Series(String),
    /// `lookout_check_status`: part of a check result.
    CheckStatus,
    /// `lookout_check_value`: a check result's value.
    CheckValue,
    /// Kept as sent (not a Lookout series, or a computed family of the agent).
    Keep,
}

/// The hub's name for a received series named `name`.
pub fn name_of(name: &str) -> Name {
    let Some(rest) = name.strip_prefix(PREFIX) else {
        return Name::Keep;
    };
    match rest {
        "check_status" => Name::CheckStatus,
        "check_value" => Name::CheckValue,
        "" => Name::Keep,
        _ if COMPUTED_FAMILIES
            .iter()
            .any(|family| rest == *family || rest.starts_with(&format!("{family}_"))) =>
        {
            Name::Keep
        }
        _ => Name::Series(rest.to_string()),
    }
}

/// The hub's name of the check `check` an agent on `host` runs.
pub fn check_name(host: &str, check: &str) -> String {
    format!("{host}/{check}")
}

fn layer_of(text: &str) -> Option<Layer> {
    [
        Layer::System,
        Layer::Application,
        Layer::Database,
        Layer::Redis,
        Layer::Business,
    ]
    .into_iter()
    .find(|layer| layer.as_str() == text)
}

fn status_of(text: &str) -> Option<Status> {
    Status::ALL
        .into_iter()
        .find(|status| status.as_str() == text)
}

/// The check results carried by `lookout_check_status` / `lookout_check_value` samples,
/// gathered per (time, check) while a request is read.
#[derive(Debug, Default)]
pub struct Checks {
    by_time: BTreeMap<(UnixMillis, String), Partial>,
}

#[derive(Debug, Default)]
struct Partial {
    host: String,
    layer: Option<Layer>,
    status: Option<Status>,
    value: Option<f64>,
}

/// Checks a request may carry, at most: past it, further check samples are stored as series
/// only (bounded memory for a request the series limits let through).
const MAX_RESULTS: usize = 100_000;

impl Checks {
    /// One sample of `lookout_check_status{check,layer,status}` (`labels` with the hub's
    /// `host` already set; `check` still the agent's name). Returns false when the labels do
    /// not make a check result (the sample is then kept as a series).
    pub fn status(
        &mut self,
        labels: &BTreeMap<String, String>,
        at_ms: UnixMillis,
        value: f64,
    ) -> bool {
        let (Some(host), Some(check), Some(layer), Some(status)) = (
            labels.get("host"),
            labels.get("check"),
            labels.get("layer").and_then(|l| layer_of(l)),
            labels.get("status").and_then(|s| status_of(s)),
        ) else {
            return false;
        };
        let Some(partial) = self.entry(host, check, at_ms) else {
            return false;
        };
        partial.layer = Some(layer);
        if value == 1.0 {
            partial.status = Some(status);
        }
        true
    }

    /// One sample of `lookout_check_value{check}`.
    pub fn value(
        &mut self,
        labels: &BTreeMap<String, String>,
        at_ms: UnixMillis,
        value: f64,
    ) -> bool {
        let (Some(host), Some(check)) = (labels.get("host"), labels.get("check")) else {
            return false;
        };
        let Some(partial) = self.entry(host, check, at_ms) else {
            return false;
        };
        partial.value = Some(value);
        true
    }

    fn entry(&mut self, host: &str, check: &str, at_ms: UnixMillis) -> Option<&mut Partial> {
        let key = (at_ms, check_name(host, check));
        if !self.by_time.contains_key(&key) && self.by_time.len() >= MAX_RESULTS {
            return None;
        }
        let partial = self.by_time.entry(key).or_default();
        if partial.host.is_empty() {
            partial.host = host.to_string();
        }
        Some(partial)
    }

    /// The results, oldest first: one per (time, check) whose status series said which status
    /// it is in.
    pub fn results(self) -> Vec<CheckResult> {
        self.by_time
            .into_iter()
            .filter_map(|((at_ms, check), partial)| {
                let status = partial.status?;
                let layer = partial.layer?;
                Some(CheckResult {
                    check,
                    layer,
                    status,
                    value: partial.value,
                    detail: format!("{status} on {}, as its agent reports", partial.host),
                    at_ms,
                    underlying: None,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_agents_names_become_the_hubs_and_computed_families_keep_theirs() {
        assert_eq!(
            name_of("lookout_cpu_usage_ratio"),
            Name::Series("cpu_usage_ratio".into())
        );
        assert_eq!(
            name_of("lookout_self_schedule_late_ratio"),
            Name::Series("self_schedule_late_ratio".into())
        );
        assert_eq!(name_of("lookout_check_status"), Name::CheckStatus);
        assert_eq!(name_of("lookout_check_value"), Name::CheckValue);
        for kept in [
            "lookout_alerts",
            "lookout_alerts_flapping",
            "lookout_build_info",
            "lookout_remote_write_samples_total",
            "lookout_receive_requests_total",
            "lookout_maintenance_mode",
            "node_cpu_seconds_total",
            "lookout_",
        ] {
            assert_eq!(name_of(kept), Name::Keep, "{kept}");
        }
    }

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn status_series_make_one_result_per_time_and_check() {
        let mut checks = Checks::default();
        for (status, value) in [("ok", 0.0), ("critical", 1.0), ("warning", 0.0)] {
            let l = labels(&[
                ("host", "web-1"),
                ("check", "app"),
                ("layer", "application"),
                ("status", status),
            ]);
            assert!(checks.status(&l, 2_000, value));
            assert!(checks.status(&l, 1_000, if status == "ok" { 1.0 } else { 0.0 }));
        }
        assert!(checks.value(&labels(&[("host", "web-1"), ("check", "app")]), 2_000, 0.25));
        // Not a check result: no layer, an unknown status, no status at all.
        assert!(!checks.status(&labels(&[("host", "h"), ("check", "x")]), 0, 1.0));
        assert!(!checks.status(
            &labels(&[
                ("host", "h"),
                ("check", "x"),
                ("layer", "system"),
                ("status", "bad")
            ]),
            0,
            1.0
        ));
        let results = checks.results();
        let got: Vec<(i64, &str, Status, Option<f64>)> = results
            .iter()
            .map(|r| (r.at_ms, r.check.as_str(), r.status, r.value))
            .collect();
        assert_eq!(
            got,
            [
                (1_000, "web-1/app", Status::Ok, None),
                (2_000, "web-1/app", Status::Critical, Some(0.25)),
            ]
        );
        assert_eq!(results[1].layer, Layer::Application);
        assert_eq!(results[1].detail, "critical on web-1, as its agent reports");
    }
}
