//! `type = "dns"`: resolves a name (A, AAAA, CNAME, MX, NS or TXT) against a given server or
//! the system's resolver, and judges the answer: NXDOMAIN, SERVFAIL and timeouts are critical,
//! so are records that differ from `expect`; the response time grades it. `config.rs` reads
//! its keys, `probe.rs` asks and judges.

pub mod config;
pub mod probe;

pub use config::DnsCheck;

use super::{Cause, Chart, ChartUnit, Check, CheckType, Levels, Schedule};
use crate::base::schema::{Reader, Table};

impl CheckType for DnsCheck {
    fn types() -> &'static [&'static str] {
        &["dns"]
    }

    fn template() -> &'static str {
        include_str!("template.toml")
    }

    fn read(_type_name: &str, r: &mut Reader<'_>, table: &Table<'_, '_>) -> DnsCheck {
        config::read_dns(r, table)
    }

    fn series_help(series: &str) -> Option<&'static str> {
        match series {
            "dns_response_seconds" => Some("Query sent to answer read of the dns check."),
            "dns_answer_records" => Some("Records of the asked type in the dns check's answer."),
            _ => None,
        }
    }

    fn type_name(&self) -> &'static str {
        "dns"
    }

    fn target(&self) -> String {
        let server = self
            .server
            .map_or_else(|| "the system resolver".to_string(), |s| s.to_string());
        format!("{} {} at {server}", self.query, self.record_type.name())
    }

    fn charts(&self) -> Vec<Chart> {
        let rt = self.response_time;
        vec![
            Chart::new("Response time", "dns_response_seconds", ChartUnit::Seconds)
                .levels(Levels::seconds(rt.warning, rt.critical)),
            Chart::new("Answer records", "dns_answer_records", ChartUnit::Count),
        ]
    }

    fn build(&self, schedule: Schedule) -> Box<dyn Check> {
        Box::new(probe::DnsProbe::new(self.clone(), schedule.timeout))
    }

    fn what(&self) -> &'static str {
        "the DNS server"
    }

    fn hint(&self, cause: Cause) -> Option<String> {
        match cause {
            Cause::Refused => Some(
                "nothing answers DNS there: is the DNS server running, and are the address and port of server right (or, without server, the nameserver of /etc/resolv.conf)?".into(),
            ),
            Cause::Other | Cause::Dns | Cause::Missing => Some(
                "the DNS server answered, not as expected: NXDOMAIN means the name does not exist in its zone (check query and the zone), SERVFAIL that it could not resolve it (its upstream or DNSSEC), other records that the zone changed (check it, then expect)".into(),
            ),
            _ => None,
        }
    }
}
