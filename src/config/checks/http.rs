//! Keys of `type = "http"` and `type = "prometheus"` checks.

use super::super::reader::{Reader, Table};
use super::common::required_string;

#[derive(Debug, Clone, PartialEq)]
pub struct HttpCheck {
    /// `url`: what to request, e.g. "http://127.0.0.1:5000/health".
    pub url: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PrometheusCheck {
    /// `url`: the Prometheus text endpoint, e.g. "http://127.0.0.1:5000/metrics".
    pub url: String,
}

pub(in crate::config) fn read_http(r: &mut Reader<'_>, table: &Table<'_, '_>) -> HttpCheck {
    HttpCheck {
        url: required_string(r, table, "url", "\"http://127.0.0.1:5000/health\""),
    }
}

pub(in crate::config) fn read_prometheus(
    r: &mut Reader<'_>,
    table: &Table<'_, '_>,
) -> PrometheusCheck {
    PrometheusCheck {
        url: required_string(r, table, "url", "\"http://127.0.0.1:5000/metrics\""),
    }
}
