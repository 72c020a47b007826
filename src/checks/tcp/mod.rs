//! `type = "tcp"`: connects to a port, optionally completes a TLS handshake. `config.rs` reads
//! its keys and the TLS and response-time keys every network type shares; `probe.rs`
//! connects.

pub mod config;
pub mod probe;

pub use config::TcpCheck;

use super::{Chart, ChartUnit, Check, CheckType, Levels, Schedule};
use crate::base::schema::{Reader, Table};

impl CheckType for TcpCheck {
    fn types() -> &'static [&'static str] {
        &["tcp"]
    }

    fn template() -> &'static str {
        include_str!("template.toml")
    }

    fn read(_type_name: &str, r: &mut Reader<'_>, table: &Table<'_, '_>) -> TcpCheck {
        config::read_tcp(r, table)
    }

    fn type_name(&self) -> &'static str {
        "tcp"
    }

    fn target(&self) -> String {
        self.address.clone()
    }

    fn charts(&self) -> Vec<Chart> {
        let rt = self.response_time;
        let mut charts = vec![
            Chart::new("Connect time", "tcp_connect_seconds", ChartUnit::Seconds)
                .levels(Levels::seconds(rt.warning, rt.critical)),
        ];
        if self.tls {
            charts.push(Chart::new(
                "TLS handshake",
                "tcp_tls_seconds",
                ChartUnit::Seconds,
            ));
            charts.push(super::certificate_chart(&self.tls_settings));
        }
        charts
    }

    fn build(&self, schedule: Schedule) -> Box<dyn Check> {
        Box::new(probe::TcpProbe::new(self.clone(), schedule.timeout))
    }
}
