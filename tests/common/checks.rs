//! A check as the check tests (`checks_*`) run it: its one `[[check]]` parsed, a probe of it,
//! and the samples of a run.
#![allow(dead_code)]

use lookout::config::from_str;
use lookout::model::Observation;
use lookout::probes::checks::CheckProbe;

/// A probe of the one `[[check]]` of `text`, its `${VARS}` from `env`; panics with the text
/// when it is not a valid config.
pub fn probe(text: &str, env: &dyn Fn(&str) -> Option<String>) -> CheckProbe {
    let config = from_str(text, "t.toml", env).unwrap_or_else(|e| panic!("{e}\n{text}"));
    CheckProbe::from_config(&config.checks[0])
}

/// The value of the series `name` in `o` (its first sample).
pub fn sample(o: &Observation, name: &str) -> Option<f64> {
    o.samples
        .iter()
        .find(|s| s.series.name() == name)
        .map(|s| s.value)
}
