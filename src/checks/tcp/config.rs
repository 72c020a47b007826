//! Keys of `type = "tcp"` checks, and the settings every network check shares: TLS
//! (`ca_file`, `client_cert`, `client_key`, `server_name`, `insecure_skip_verify`,
//! `cert_expiry_warning`, `cert_expiry_critical`) and response-time thresholds
//! (`response_time_warning`, `response_time_critical`). The http and prometheus readers reuse
//! `read_tls` and `read_response_time`.

use std::path::PathBuf;
use std::time::Duration;

use crate::base::net::TlsSettings;
use crate::base::schema::{Field, Reader, Table};
use crate::base::schema::{bool_setting, duration_setting, positive};
use crate::base::schema::{optional_string, required_string};
use crate::base::units::format_duration;

/// `response_time_warning` / `response_time_critical`: the headline time at which the check
/// warns / goes critical (defaults 2s / 5s).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ResponseTime {
    pub warning: Duration,
    pub critical: Duration,
}

impl Default for ResponseTime {
    fn default() -> Self {
        ResponseTime {
            warning: Duration::from_secs(2),
            critical: Duration::from_secs(5),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct TcpCheck {
    /// `address`: "host:port" to connect to.
    pub address: String,
    /// `tls`: also complete a TLS handshake and report the certificate (default false).
    pub tls: bool,
    pub tls_settings: TlsSettings,
    /// Thresholds on the connect (+ handshake) time.
    pub response_time: ResponseTime,
}

impl TcpCheck {
    /// A plain connect check of `address` with every other setting at its default.
    pub fn new(address: impl Into<String>) -> TcpCheck {
        TcpCheck {
            address: address.into(),
            tls: false,
            tls_settings: TlsSettings::default(),
            response_time: ResponseTime::default(),
        }
    }
}

pub(crate) fn read_tcp(r: &mut Reader<'_>, table: &Table<'_, '_>) -> TcpCheck {
    let address = required_string(r, table, "address", "\"127.0.0.1:5432\"");
    if !address.is_empty() && !address.contains(':') {
        let path = format!("{}.address", table.path);
        let span = r.item(table, "address").map(|item| item.span);
        r.problem(
            span.as_ref(),
            &path,
            format!("{address:?} has no port; expected \"host:port\", like \"127.0.0.1:5432\""),
        );
    } else if let Some(problem) = crate::base::schema::port_problem(&format!("tcp://{address}")) {
        let path = format!("{}.address", table.path);
        let span = r.item(table, "address").map(|item| item.span);
        r.problem(
            span.as_ref(),
            &path,
            format!("{address:?} {problem}, like \"127.0.0.1:5432\""),
        );
    }
    TcpCheck {
        address,
        tls: bool_setting(r, table, "tls", false).value,
        tls_settings: read_tls(r, table),
        response_time: read_response_time(r, table),
    }
}

/// The TLS keys of a network check.
pub(crate) fn read_tls(r: &mut Reader<'_>, table: &Table<'_, '_>) -> TlsSettings {
    let default = TlsSettings::default();
    let client_cert = optional_string(r, table, "client_cert").map(PathBuf::from);
    let client_key = optional_string(r, table, "client_key").map(PathBuf::from);
    if client_cert.is_some() != client_key.is_some() {
        let (present, missing) = if client_cert.is_some() {
            ("client_cert", "client_key")
        } else {
            ("client_key", "client_cert")
        };
        r.problem(
            None,
            &format!("{}.{missing}", table.path),
            format!("missing; {present} is set, and a client certificate needs both"),
        );
    }
    let warning = duration_setting(
        r,
        table,
        "cert_expiry_warning",
        default.cert_expiry_warning,
        |_| None,
    );
    let critical = duration_setting(
        r,
        table,
        "cert_expiry_critical",
        default.cert_expiry_critical,
        |_| None,
    );
    ordered(
        r,
        &critical,
        &warning,
        "a certificate must reach warning before critical",
    );
    TlsSettings {
        server_name: optional_string(r, table, "server_name"),
        ca_file: optional_string(r, table, "ca_file").map(PathBuf::from),
        client_cert,
        client_key,
        insecure_skip_verify: bool_setting(r, table, "insecure_skip_verify", false).value,
        cert_expiry_warning: warning.value,
        cert_expiry_critical: critical.value,
    }
}

/// `response_time_warning` and `response_time_critical`.
pub(crate) fn read_response_time(r: &mut Reader<'_>, table: &Table<'_, '_>) -> ResponseTime {
    let default = ResponseTime::default();
    let warning = duration_setting(r, table, "response_time_warning", default.warning, positive);
    let critical = duration_setting(
        r,
        table,
        "response_time_critical",
        default.critical,
        positive,
    );
    ordered(
        r,
        &warning,
        &critical,
        "the warning threshold must be below the critical one",
    );
    ResponseTime {
        warning: warning.value,
        critical: critical.value,
    }
}

/// `low` must be below `high`; the problem goes to the one the user wrote.
fn ordered(r: &mut Reader<'_>, low: &Field<Duration>, high: &Field<Duration>, rule: &str) {
    if !(low.valid && high.valid) || low.value < high.value {
        return;
    }
    let name = |field: &Field<Duration>| {
        field
            .path
            .rsplit('.')
            .next()
            .unwrap_or(&field.path)
            .to_string()
    };
    let (blamed, other) = if high.span.is_some() {
        (high, low)
    } else {
        (low, high)
    };
    let default = if other.span.is_none() {
        ", the default"
    } else {
        ""
    };
    let message = format!(
        "\"{}\" conflicts with {} (\"{}\"{default}); {rule}",
        format_duration(blamed.value),
        name(other),
        format_duration(other.value)
    );
    r.problem(blamed.span.as_ref(), &blamed.path, message);
}
