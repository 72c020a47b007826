//! `type = "http"`: one request judged by status, body, JSON assertions, response time and
//! certificate expiry. `config.rs` reads its keys (and the request keys the prometheus type
//! and the notifiers share), `probe.rs` makes the request and judges the answer.

pub mod config;
pub mod probe;

pub use config::HttpCheck;

use super::{Cause, Check, CheckType, Schedule};
use crate::base::schema::{Reader, Table};
use crate::base::secret::mask_url;

/// Advice when the service refuses the request's credentials (http and prometheus).
pub(super) const AUTH_HINT: &str = "the service refused the request's credentials: check the Authorization header (headers = { Authorization = \"Bearer ${TOKEN}\" })";

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

    fn build(&self, schedule: Schedule) -> Box<dyn Check> {
        Box::new(probe::HttpProbe::new(self.clone(), schedule.timeout))
    }

    fn hint(&self, cause: Cause) -> Option<String> {
        (cause == Cause::Auth).then(|| AUTH_HINT.to_string())
    }
}
