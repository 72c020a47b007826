//! `type = "prometheus"`: scrapes a Prometheus text endpoint and keeps the selected families
//! as series. `config.rs` reads its keys (the request keys are the http type's), `probe.rs`
//! scrapes, parses the text format and filters.

pub mod config;
pub mod probe;

pub use config::PrometheusCheck;

use super::{Cause, Chart, ChartUnit, Check, CheckType, Levels, Schedule};
use crate::base::schema::{Reader, Table};
use crate::base::secret::mask_url;

impl CheckType for PrometheusCheck {
    fn types() -> &'static [&'static str] {
        &["prometheus"]
    }

    fn template() -> &'static str {
        include_str!("template.toml")
    }

    fn read(_type_name: &str, r: &mut Reader<'_>, table: &Table<'_, '_>) -> PrometheusCheck {
        config::read_prometheus(r, table)
    }

    fn type_name(&self) -> &'static str {
        "prometheus"
    }

    fn target(&self) -> String {
        mask_url(&self.request.url)
    }

    fn charts(&self) -> Vec<Chart> {
        let rt = self.request.response_time;
        let mut charts = vec![
            Chart::new("Scrape time", "http_response_seconds", ChartUnit::Seconds)
                .levels(Levels::seconds(rt.warning, rt.critical)),
            Chart::new("Samples kept", "prometheus_scrape_samples", ChartUnit::Count),
        ];
        if super::http::is_https(&self.request.url) {
            charts.push(super::certificate_chart(&self.request.tls));
        }
        charts
    }

    fn build(&self, schedule: Schedule) -> Box<dyn Check> {
        Box::new(probe::PrometheusProbe::new(self.clone(), schedule.timeout))
    }

    fn hint(&self, cause: Cause) -> Option<String> {
        (cause == Cause::Auth).then(|| super::http::AUTH_HINT.to_string())
    }
}
