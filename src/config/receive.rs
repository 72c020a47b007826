//! `[receive]`: the hub's receivers (Prometheus remote write 1.0 at `/api/v1/write`, OTLP/HTTP
//! metrics at `/v1/metrics`), off unless the section is written. Senders authenticate with a
//! token of the `agent` role (`lookout token create --role agent --name web-1`). Every key is
//! documented, with its default, in `receive_template.toml` (part of `config init`).
//!
//! ```toml
//! [receive]
//! max_series_per_sender = 20000
//! ```
//!
//! The limits keep a sender from costing the hub more than it should: a request past a limit
//! is refused whole (nothing of it is stored) with the limit named in the answer.

use std::time::Duration;

use crate::base::schema::{Reader, Table};
use crate::base::schema::{bool_setting, duration_setting, size_setting, whole_setting, within};
use crate::base::units::format_size;

/// The commented example of `config init`.
pub const TEMPLATE: &str = include_str!("receive_template.toml");

pub const DEFAULT_MAX_REQUEST_BYTES: u64 = 4 << 20;
pub const DEFAULT_MAX_DECOMPRESSED_BYTES: u64 = 32 << 20;
/// Sizes read into memory are at most 1 GiB (ARCHITECTURE.md, "Bounds on input").
const MIN_BYTES: u64 = 1 << 10;
const MAX_BYTES: u64 = 1 << 30;
pub const DEFAULT_MAX_SAMPLES_PER_REQUEST: u64 = 100_000;
pub const DEFAULT_MAX_SERIES_PER_SENDER: u64 = 20_000;
pub const DEFAULT_MAX_SERIES_TOTAL: u64 = 200_000;
const MAX_SERIES: u64 = 10_000_000;
pub const DEFAULT_MAX_FUTURE_SKEW: Duration = Duration::from_secs(5 * 60);
pub const DEFAULT_SERIES_IDLE: Duration = Duration::from_secs(60 * 60);

/// `[receive]`, when written.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceiveConfig {
    /// `remote_write` (default true): accept Prometheus remote write 1.0 at `/api/v1/write`.
    pub remote_write: bool,
    /// `otlp` (default true): accept OTLP/HTTP metrics (protobuf) at `/v1/metrics`.
    pub otlp: bool,
    /// `max_request_bytes` (default 4MiB, 1KiB to 1GiB): the largest body as sent
    /// (compressed); larger is refused with 413 before it is read.
    pub max_request_bytes: u64,
    /// `max_decompressed_bytes` (default 32MiB, 1KiB to 1GiB): the largest body once
    /// decompressed; checked before decompressing (snappy states the length, gzip is read
    /// with a limit), so a compression bomb costs nothing.
    pub max_decompressed_bytes: u64,
    /// `max_samples_per_request` (default 100,000; 1 to 10,000,000).
    pub max_samples_per_request: u64,
    /// `max_series_per_sender` (default 20,000; 1 to 10,000,000): series one agent token may
    /// have live (seen within `series_idle`).
    pub max_series_per_sender: u64,
    /// `max_series_total` (default 200,000; 1 to 10,000,000, at least
    /// `max_series_per_sender`): series every sender together may have live.
    pub max_series_total: u64,
    /// `max_future_skew` (default 5m, 0s to 1d): a sample stamped further ahead of the hub's
    /// clock refuses its request (a sender with a wrong clock).
    pub max_future_skew: Duration,
    /// `series_idle` (default 1h, 1m to 30d): a series not received this long no longer
    /// counts towards the series limits.
    pub series_idle: Duration,
}

impl Default for ReceiveConfig {
    fn default() -> Self {
        ReceiveConfig {
            remote_write: true,
            otlp: true,
            max_request_bytes: DEFAULT_MAX_REQUEST_BYTES,
            max_decompressed_bytes: DEFAULT_MAX_DECOMPRESSED_BYTES,
            max_samples_per_request: DEFAULT_MAX_SAMPLES_PER_REQUEST,
            max_series_per_sender: DEFAULT_MAX_SERIES_PER_SENDER,
            max_series_total: DEFAULT_MAX_SERIES_TOTAL,
            max_future_skew: DEFAULT_MAX_FUTURE_SKEW,
            series_idle: DEFAULT_SERIES_IDLE,
        }
    }
}

/// `[receive]`, if written.
pub(in crate::config) fn read_receive(
    r: &mut Reader<'_>,
    root: &Table<'_, '_>,
) -> Option<ReceiveConfig> {
    let table = r.table(root, "receive");
    if !table.is_present() {
        return None;
    }
    let d = ReceiveConfig::default();
    let remote_write = bool_setting(r, &table, "remote_write", d.remote_write);
    let otlp = bool_setting(r, &table, "otlp", d.otlp);
    let bytes = |r: &mut Reader<'_>, key: &'static str, default: u64| {
        size_setting(r, &table, key, default, |n| {
            (!(MIN_BYTES..=MAX_BYTES).contains(n)).then(|| {
                format!(
                    "is out of range; expected from {} to {}",
                    format_size(MIN_BYTES),
                    format_size(MAX_BYTES)
                )
            })
        })
    };
    let max_request_bytes = bytes(r, "max_request_bytes", d.max_request_bytes);
    let max_decompressed_bytes = bytes(r, "max_decompressed_bytes", d.max_decompressed_bytes);
    let max_samples_per_request = whole_setting(
        r,
        &table,
        "max_samples_per_request",
        d.max_samples_per_request,
        1..=MAX_SERIES,
    );
    let max_series_per_sender = whole_setting(
        r,
        &table,
        "max_series_per_sender",
        d.max_series_per_sender,
        1..=MAX_SERIES,
    );
    let max_series_total = whole_setting(
        r,
        &table,
        "max_series_total",
        d.max_series_total,
        1..=MAX_SERIES,
    );
    if max_series_per_sender.valid
        && max_series_total.valid
        && max_series_total.value < max_series_per_sender.value
    {
        let blamed = if max_series_total.span.is_some() {
            &max_series_total
        } else {
            &max_series_per_sender
        };
        r.problem(
            blamed.span.as_ref(),
            &blamed.path,
            format!(
                "max_series_total ({}) is below max_series_per_sender ({}); one sender could never reach its own limit",
                max_series_total.value, max_series_per_sender.value
            ),
        );
    }
    let max_future_skew = duration_setting(
        r,
        &table,
        "max_future_skew",
        d.max_future_skew,
        within(Duration::ZERO, Duration::from_secs(86_400), "a clock skew"),
    );
    let series_idle = duration_setting(
        r,
        &table,
        "series_idle",
        d.series_idle,
        within(
            Duration::from_secs(60),
            Duration::from_secs(30 * 86_400),
            "how long a silent series still counts",
        ),
    );
    Some(ReceiveConfig {
        remote_write: remote_write.value,
        otlp: otlp.value,
        max_request_bytes: max_request_bytes.value,
        max_decompressed_bytes: max_decompressed_bytes.value,
        max_samples_per_request: max_samples_per_request.value,
        max_series_per_sender: max_series_per_sender.value,
        max_series_total: max_series_total.value,
        max_future_skew: max_future_skew.value,
        series_idle: series_idle.value,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::from_str;
    use crate::config::test_support::{errors, no_env, uncomment};

    fn parse(text: &str) -> crate::config::Config {
        from_str(text, "lookout.toml", &no_env).unwrap_or_else(|e| panic!("{e}\n{text}"))
    }

    #[test]
    fn off_unless_written_and_defaults_when_written() {
        assert_eq!(parse("").receive, None);
        assert_eq!(parse("[receive]\n").receive, Some(ReceiveConfig::default()));
        let config = parse(
            "[receive]\nremote_write = true\notlp = false\nmax_request_bytes = \"1MiB\"\n\
             max_decompressed_bytes = \"8MiB\"\nmax_samples_per_request = 5000\n\
             max_series_per_sender = 100\nmax_series_total = 1000\nmax_future_skew = \"1m\"\n\
             series_idle = \"10m\"\n",
        )
        .receive
        .unwrap();
        assert_eq!(
            config,
            ReceiveConfig {
                remote_write: true,
                otlp: false,
                max_request_bytes: 1 << 20,
                max_decompressed_bytes: 8 << 20,
                max_samples_per_request: 5000,
                max_series_per_sender: 100,
                max_series_total: 1000,
                max_future_skew: Duration::from_secs(60),
                series_idle: Duration::from_secs(600),
            }
        );
    }

    #[test]
    fn errors_name_file_line_column_key_and_range() {
        let shown = errors(
            "[receive]\notlp = \"yes\"\nmax_request_bytes = \"2GiB\"\nmax_decompressed_bytes = 12\n\
             max_series_per_sender = 0\nmax_future_skew = \"2d\"\nseries_idle = \"1s\"\nmax_sample = 3\n",
        );
        for expected in [
            "lookout.toml:2:8: receive.otlp: expected a boolean (true or false), found a string",
            "lookout.toml:3:21: receive.max_request_bytes: \"2GiB\" is out of range; expected from 1KiB to 1GiB",
            "lookout.toml:4:26: receive.max_decompressed_bytes: 12 is out of range; expected from 1KiB to 1GiB",
            "lookout.toml:5:25: receive.max_series_per_sender: 0 is out of range; expected a whole number from 1 to 10000000",
            "lookout.toml:6:19: receive.max_future_skew: \"2d\" is out of range; expected from \"0s\" to \"1d\" (a clock skew)",
            "lookout.toml:7:15: receive.series_idle: \"1s\" is out of range; expected from \"1m\" to \"30d\"",
            "lookout.toml:8:1: receive.max_sample: unknown key",
        ] {
            assert!(
                shown.contains(expected),
                "missing {expected:?} in:\n{shown}"
            );
        }
        assert!(
            errors("[receive]\nmax_series_per_sender = 500\nmax_series_total = 100\n").contains(
                "lookout.toml:3:20: receive.max_series_total: max_series_total (100) is below max_series_per_sender (500)"
            )
        );
    }

    #[test]
    fn the_template_example_uncommented_is_the_defaults() {
        let text = uncomment(TEMPLATE, |line| line.trim_end() == "# [receive]");
        assert_eq!(parse(&text).receive, Some(ReceiveConfig::default()));
    }
}
