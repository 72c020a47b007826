//! Rate rules (`rate = "5m"`): the windows of `alert::rate` fed from the samples of the series
//! the rules watch (`evaluate::observe_samples` rates each sample as it arrives), and from the
//! store in cron mode, where no daemon saw the samples arrive.

use std::sync::Arc;
use std::time::Duration;

use super::Engine;
use crate::alert::matcher::all_match;
use crate::clock::UnixMillis;
use crate::config::RuleSource;
use crate::model::SeriesKey;

impl Engine {
    /// The longest `rate` window of the enabled rules on metric `name`, if any rates it: how
    /// far back cron mode reads its samples.
    pub fn rate_window(&self, name: &str) -> Option<Duration> {
        self.metric_rules
            .get(name)?
            .iter()
            .filter_map(|&index| match &self.rules[index].source {
                RuleSource::Metric { rate, .. } => *rate,
                _ => None,
            })
            .max()
    }

    /// Cron mode: the stored samples of `series` (oldest first, without the latest, which
    /// `observe` then rates) into the windows of the rate rules that match it. Nothing is
    /// evaluated.
    pub fn fill_rates(
        &mut self,
        series: &Arc<SeriesKey>,
        samples: &[(UnixMillis, f64)],
        now_ms: UnixMillis,
    ) {
        let Some(rules) = self.metric_rules.get(series.name()).cloned() else {
            return;
        };
        for index in rules.iter() {
            let RuleSource::Metric {
                matchers,
                rate: Some(window),
                ..
            } = &self.rules[*index].source
            else {
                continue;
            };
            if !all_match(matchers, &**series) {
                continue;
            }
            let window_ms = window.as_millis() as i64;
            for &(at_ms, value) in samples {
                self.rates.observe(window_ms, series, at_ms, value, now_ms);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;

    const RULE: &str = r#"
    [[alerts.rule]]
    name = "cpu_busy"
    metric = 'node_cpu_seconds_total{mode="idle"}'
    rate = "1m"
    comparison = "below"
    warning = "20%"
    critical = "5%"
    for = "30s"
    summary = "CPU {{labels.cpu}} idle {{value}} (level {{threshold}})"
    "#;

    /// The rule's alerts (the test config's checks have their own).
    fn busy(engine: &Engine) -> Vec<crate::alert::engine::AlertView> {
        let alerts = engine.alerts().into_iter();
        alerts.filter(|a| a.rule == "cpu_busy").collect()
    }

    fn idle(cpu: &str, value: f64, at: i64) -> Observation {
        let mut observation = sample(
            "node_cpu_seconds_total",
            &[("cpu", cpu), ("mode", "idle"), ("host", "web-2")],
            value,
            at,
        );
        observation.source = "receive:web-2".to_string();
        observation
    }

    /// Feeds one sample of CPU 0 every 10 s from `from` s, its counter growing by `step` each
    /// time; the notices (kind, severity, summary) told on the way.
    fn run(engine: &mut Engine, counter: &mut f64, from: i64, to: i64, step: f64) -> Vec<String> {
        let mut out = Vec::new();
        for t in (from..=to).step_by(10) {
            *counter += step;
            let batch = engine.observe(&idle("0", *counter, t * S), t * S);
            for h in &batch.history {
                out.push(format!(
                    "{t}s {:?} {:?}: {}",
                    h.notice.kind, h.notice.severity, h.notice.summary
                ));
            }
        }
        out
    }

    #[test]
    fn a_busy_cpu_fires_on_the_rate_of_its_idle_counter_and_resolves_when_it_recovers() {
        let mut engine = Engine::new(&config(RULE), 0);
        engine.notifiers = vec!["mail".to_string()];
        let mut counter = 1000.0;
        // Idle 95% of the time for a minute: nothing.
        assert!(run(&mut engine, &mut counter, 0, 60, 9.5).is_empty());
        assert!(busy(&engine).is_empty());
        // Busy from 60 s: idle 2% (0.2 s per 10 s). At 100 s the window (40 s, 100 s] still
        // holds idle time (20.6%); at 110 s it is 2%, critical, held 15 s (for_critical).
        let told = run(&mut engine, &mut counter, 70, 130, 0.2);
        assert_eq!(
            told,
            vec!["130s Firing Critical: CPU 0 idle 2.0% (level 5%)"]
        );
        let alert = &busy(&engine)[0];
        assert_eq!(
            alert.id,
            "cpu_busy:node_cpu_seconds_total{cpu=\"0\",host=\"web-2\",mode=\"idle\"}"
        );
        assert!((alert.value.unwrap() - 0.02).abs() < 1e-9, "{alert:?}");
        // Idle again: the window mixes both (20.6%: a warning past the 5% clear level), then
        // recovers.
        let told = run(&mut engine, &mut counter, 140, 150, 9.5);
        assert_eq!(
            told,
            vec![
                "140s DeEscalated Warning: CPU 0 idle 20.6% (level 20%)",
                "150s Resolved Warning: Resolved: CPU 0 idle 39.2% (level 20%)",
            ]
        );
        // node_exporter restarts: the counter starts again from 0, at the same 95% idle.
        counter = 0.0;
        assert!(run(&mut engine, &mut counter, 160, 300, 9.5).is_empty());
        assert!(busy(&engine).is_empty());
    }

    #[test]
    fn a_rate_rule_needs_two_samples_a_quarter_of_its_window_apart_and_forgets_a_silent_series() {
        let mut engine = Engine::new(&config(RULE), 0);
        // Two samples 10 s apart, idle 0%: under a quarter of 1m, no rate yet, no alert.
        engine.observe(&idle("1", 50.0, 0), 0);
        engine.observe(&idle("1", 50.0, 10 * S), 10 * S);
        assert!(busy(&engine).is_empty());
        let batch = engine.observe(&idle("1", 50.0, 20 * S), 20 * S);
        assert_eq!(batch.upserts[0].state, "pending", "20 s of 1m: a rate of 0");
        assert_eq!(engine.rates.series(), 1);
        // The series stops: its alert goes stale and resolves, its window is forgotten.
        let batch = engine.tick(20 * S + 5 * MIN + S);
        assert!(busy(&engine).is_empty(), "{batch:?}");
        assert_eq!(engine.rates.series(), 0);
    }

    #[test]
    fn a_backlog_is_rated_at_its_own_times_not_at_its_arrival() {
        let mut engine = Engine::new(&config(RULE), 0);
        let now = 3_600 * S;
        // A busy minute (idle not growing) measured an hour ago, all arriving now, oldest first:
        // rated over the samples' own times (at `now` they would be one instant, no rate).
        for t in (0..=60).step_by(10) {
            engine.observe(&idle("0", 500.0, t * S), now);
        }
        let alerts = busy(&engine);
        assert_eq!(alerts.len(), 1, "{alerts:?}");
        assert_eq!(
            (alerts[0].state.as_str(), alerts[0].value),
            ("pending", Some(0.0))
        );
    }

    #[test]
    fn cron_mode_fills_the_windows_from_the_store_then_rates_the_latest_at_its_time() {
        let mut engine = Engine::new(&config(RULE), 0);
        let now = 10 * MIN;
        assert_eq!(
            engine.rate_window("node_cpu_seconds_total"),
            Some(std::time::Duration::from_secs(60))
        );
        assert_eq!(engine.rate_window("cpu_usage_ratio"), None);
        let latest = idle("0", 100.6, now - 5 * S);
        let series = latest.samples[0].series.clone();
        // Stored a sample every 10 s, idle 1%: filled, nothing decided yet.
        let stored: Vec<(i64, f64)> = (1..=6)
            .map(|i| (now - 5 * S - i * 10 * S, 100.6 - i as f64 * 0.1))
            .collect();
        let stored: Vec<(i64, f64)> = stored.into_iter().rev().collect();
        engine.fill_rates(&series, &stored, now);
        assert!(busy(&engine).is_empty());
        engine.observe(&latest, now);
        let alerts = busy(&engine);
        assert_eq!(alerts.len(), 1, "{alerts:?}");
        assert!((alerts[0].value.unwrap() - 0.01).abs() < 1e-9, "{alerts:?}");
    }
}
