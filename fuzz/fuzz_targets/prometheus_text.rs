//! Fuzz target `prometheus_text`: any scraped body through the `prometheus` check's parser
//! and what the check makes of it (family filter, prefix, label renaming, `max_samples`), as
//! after a 200 answer. Nothing may panic, and the outcome keeps its promises: at most
//! `max_samples` kept samples, only finite values, every bad line counted.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use lookout::config::{self, CheckKind};
use lookout::checks::prometheus::probe::{PrometheusProbe, parse};

/// Two checks: one keeping everything (at most 50 samples), one keeping a few families
/// under a prefix.
const CONFIG: &str = r#"
[[check]]
name = "all"
type = "prometheus"
url = "http://127.0.0.1:9100/metrics"
max_samples = 50

[[check]]
name = "some"
type = "prometheus"
url = "http://127.0.0.1:9100/metrics"
families = ["node_cpu_.*", "go_.*", "[a-z]+_total", "check"]
prefix = "app_"
max_samples = 10000
"#;

fn probes() -> &'static [(PrometheusProbe, usize)] {
    static PROBES: OnceLock<Vec<(PrometheusProbe, usize)>> = OnceLock::new();
    PROBES.get_or_init(|| {
        let config = config::from_str(CONFIG, "fuzz.toml", &|_| None).expect("a valid config");
        config
            .checks
            .into_iter()
            .map(|check| match check.kind {
                CheckKind::Prometheus(prometheus) => {
                    let max = prometheus.max_samples;
                    (PrometheusProbe::new(prometheus, check.timeout), max)
                }
                _ => unreachable!("only prometheus checks"),
            })
            .collect()
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, body)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(body);
    let parsed = parse(&text);
    assert!(parsed.samples.len() + parsed.bad_lines <= text.lines().count());

    let probes = probes();
    let (probe, max_samples) = &probes[usize::from(flags & 1)];
    let truncated = flags & 2 != 0;
    let outcome = probe.judge_body(body, truncated);
    let value = |name: &str| {
        outcome
            .samples
            .iter()
            .find(|(key, _)| key.name() == name)
            .map(|(_, v)| *v)
    };
    let kept = value("prometheus_scrape_samples").expect("the kept-samples series");
    assert!(kept <= *max_samples as f64, "{kept} > max_samples");
    assert!(value("prometheus_scrape_bad_lines").is_some());
    assert!(outcome.samples.iter().all(|(_, v)| v.is_finite()));
});
