//! Keys of `type = "prometheus"` checks: the request keys, TLS and response-time thresholds
//! shared with http checks (read by `checks::http`), and `families`, `prefix` and
//! `max_samples`.

use crate::base::schema::{Kind, Reader, Table, anchored, pattern_list, string_setting};
use crate::checks::http::config::{
    DEFAULT_SCRAPE_MAX_BODY, HttpRequest, Pattern, integer, read_request,
};

#[derive(Debug, Clone, PartialEq)]
pub struct PrometheusCheck {
    pub request: HttpRequest,
    /// `families`: regexes (whole-name) of the metric families to keep; empty keeps all.
    pub families: Vec<Pattern>,
    /// `prefix`: put before each kept series name (default "", names kept as-is).
    pub prefix: String,
    /// `max_samples`: the most samples kept from one scrape (default 10000).
    pub max_samples: usize,
}

impl PrometheusCheck {
    pub fn new(url: impl Into<String>) -> PrometheusCheck {
        PrometheusCheck {
            request: HttpRequest::new(url, DEFAULT_SCRAPE_MAX_BODY),
            families: Vec::new(),
            prefix: String::new(),
            max_samples: 10_000,
        }
    }
}

pub(crate) fn read_prometheus(r: &mut Reader<'_>, table: &Table<'_, '_>) -> PrometheusCheck {
    let request = read_request(
        r,
        table,
        "\"http://127.0.0.1:5000/metrics\"",
        DEFAULT_SCRAPE_MAX_BODY,
    );
    let families = pattern_list(r, table, "families", &[], anchored)
        .into_iter()
        .map(Pattern)
        .collect();
    let prefix = string_setting(r, table, "prefix", String::new(), "a string", |text| {
        let ok = text.value.chars().enumerate().all(|(i, c)| {
            c.is_ascii_alphabetic() || c == '_' || c == ':' || (i > 0 && c.is_ascii_digit())
        });
        if ok {
            Ok(text.value.clone())
        } else {
            Err(format!(
                "{} is not a metric name prefix; use letters, digits and _, like \"app_\"",
                text.quoted()
            ))
        }
    })
    .value;
    let kind = Kind::Integer {
        min: 1,
        max: 1_000_000,
    };
    let max_samples = match r.item_of(table, "max_samples", kind) {
        None => 10_000,
        Some(item) => match integer(&item) {
            Some(n) if (1..=1_000_000).contains(&n) => n as usize,
            Some(n) => {
                r.problem(
                    Some(&item.span),
                    &item.path,
                    format!("{n} is out of range; expected 1 to 1000000"),
                );
                10_000
            }
            None => {
                r.wrong_type(&item, "a whole number");
                10_000
            }
        },
    };
    PrometheusCheck {
        request,
        families,
        prefix,
        max_samples,
    }
}
