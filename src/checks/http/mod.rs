//! `type = "http"`: one request judged by status, body, JSON assertions, response time and
//! certificate expiry. `config.rs` reads its keys (and the request keys the prometheus type
//! and the notifiers share), `probe.rs` makes the request and judges the answer.

pub mod config;
pub mod probe;

pub use config::HttpCheck;

use super::{Cause, Chart, ChartUnit, Check, CheckType, Levels, Schedule};
use crate::base::schema::{Reader, Table};
use crate::base::secret::mask_url;

/// Advice when the service refuses the request's credentials (http and prometheus).
pub(super) const AUTH_HINT: &str = "the service refused the request's credentials: check the Authorization header (headers = { Authorization = \"Bearer ${TOKEN}\" })";

/// The URL is fetched over TLS (its certificate is graded).
pub(crate) fn is_https(url: &str) -> bool {
    url.get(..8)
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case("https://"))
}

impl CheckType for HttpCheck {
    fn types() -> &'static [&'static str] {
        &["http"]
    }

    fn template() -> &'static str {
        include_str!("template.toml")
    }

    fn read(_type_name: &str, r: &mut Reader<'_>, table: &Table<'_, '_>) -> HttpCheck {
        config::read_http(r, table)
    }

    fn type_name(&self) -> &'static str {
        "http"
    }

    fn target(&self) -> String {
        mask_url(&self.request.url)
    }

    fn charts(&self) -> Vec<Chart> {
        let rt = self.request.response_time;
        let mut charts = vec![
            Chart::new("Response time", "http_response_seconds", ChartUnit::Seconds)
                .levels(Levels::seconds(rt.warning, rt.critical)),
        ];
        if is_https(&self.request.url) {
            charts.push(super::certificate_chart(&self.request.tls));
        }
        for extract in &self.extracts {
            charts.push(
                Chart::new(extract.name.clone(), "http_extract", ChartUnit::Count)
                    .label("name", &extract.name),
            );
        }
        charts
    }

    fn build(&self, schedule: Schedule) -> Box<dyn Check> {
        Box::new(probe::HttpProbe::new(self.clone(), schedule.timeout))
    }

    fn hint(&self, cause: Cause) -> Option<String> {
        (cause == Cause::Auth).then(|| AUTH_HINT.to_string())
    }
}
