//! Keys of `type = "dns"` checks.
//!
//! | key | default | meaning |
//! |---|---|---|
//! | `query` | required | the name to resolve, like `"app.example.org"` |
//! | `record_type` | `"A"` | `A`, `AAAA`, `CNAME`, `MX`, `NS` or `TXT` |
//! | `server` | the first `nameserver` of /etc/resolv.conf | `"ip"` or `"ip:port"` (port 53 by default) |
//! | `expect` | none: any answer | the answer, as a set: the check fails when the records differ |
//! | `response_time_warning`, `response_time_critical` | `"2s"`, `"5s"` | as for the other network checks |

use std::net::{IpAddr, SocketAddr};

use crate::checks::tcp::config::{ResponseTime, read_response_time};
use crate::base::schema::{required_string, string_list};
use crate::base::schema::string_setting;
use crate::base::schema::{Reader, Table};

/// The record types a dns check asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordType {
    A,
    Aaaa,
    Cname,
    Mx,
    Ns,
    Txt,
}

impl RecordType {
    pub const ALL: [RecordType; 6] = [
        RecordType::A,
        RecordType::Aaaa,
        RecordType::Cname,
        RecordType::Mx,
        RecordType::Ns,
        RecordType::Txt,
    ];

    pub fn name(self) -> &'static str {
        match self {
            RecordType::A => "A",
            RecordType::Aaaa => "AAAA",
            RecordType::Cname => "CNAME",
            RecordType::Mx => "MX",
            RecordType::Ns => "NS",
            RecordType::Txt => "TXT",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct DnsCheck {
    /// `query`: the name to resolve, without the final dot.
    pub query: String,
    /// `record_type` (default A).
    pub record_type: RecordType,
    /// `server`: where to ask; `None` asks the system's resolver (/etc/resolv.conf).
    pub server: Option<SocketAddr>,
    /// `expect`: the records the answer must hold, no more, no fewer, in their text form
    /// (addresses normalised, names lowercased without the final dot); empty accepts any
    /// answer that has at least one record.
    pub expect: Vec<String>,
    /// Thresholds on the time to the answer.
    pub response_time: ResponseTime,
}

impl DnsCheck {
    /// An A query for `query` to the system's resolver, every other key at its default.
    pub fn new(query: impl Into<String>) -> DnsCheck {
        DnsCheck {
            query: query.into(),
            record_type: RecordType::A,
            server: None,
            expect: Vec::new(),
            response_time: ResponseTime::default(),
        }
    }
}

pub(crate) fn read_dns(r: &mut Reader<'_>, table: &Table<'_, '_>) -> DnsCheck {
    let query = required_string(r, table, "query", "\"app.example.org\"");
    let query = query.trim().trim_end_matches('.').to_ascii_lowercase();
    if let Some(problem) = name_problem(&query) {
        let span = r.item(table, "query").map(|item| item.span);
        r.problem(span.as_ref(), &format!("{}.query", table.path), problem);
    }
    let record_type = string_setting(
        r,
        table,
        "record_type",
        RecordType::A,
        "a record type string",
        |text| {
            let wanted = text.value.trim().to_ascii_uppercase();
            RecordType::ALL
                .into_iter()
                .find(|t| t.name() == wanted)
                .ok_or_else(|| {
                    let names: Vec<String> = RecordType::ALL
                        .iter()
                        .map(|t| format!("{:?}", t.name()))
                        .collect();
                    format!(
                        "{} is not a record type this check asks for; expected one of {}",
                        text.quoted(),
                        names.join(", ")
                    )
                })
        },
    )
    .value;
    let server = string_setting(
        r,
        table,
        "server",
        None,
        "an address string like \"127.0.0.1:53\"",
        |text| parse_server(text.value.trim()).map(Some).map_err(|why| format!("{} {why}", text.quoted())),
    )
    .value;
    let mut expect = Vec::new();
    for (value, span, path) in string_list(r, table, "expect") {
        match normalise(record_type, &value) {
            Ok(value) => expect.push(value),
            Err(why) => r.problem(span.as_ref(), &path, format!("{value:?} {why}")),
        }
    }
    expect.sort();
    expect.dedup();
    DnsCheck {
        query,
        record_type,
        server,
        expect,
        response_time: read_response_time(r, table),
    }
}

/// `"ip"` or `"ip:port"` (`"[v6]:port"`); port 53 when none is written.
fn parse_server(text: &str) -> Result<SocketAddr, String> {
    if let Ok(address) = text.parse::<SocketAddr>() {
        if address.port() == 0 {
            return Err("has port 0; expected a port from 1 to 65535".into());
        }
        return Ok(address);
    }
    if let Ok(ip) = text.trim_matches(['[', ']']).parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, 53));
    }
    Err("is not an IP address with an optional port, like \"127.0.0.1:53\" or \"[::1]:5353\" \
         (a server is asked by address: its own name would need a resolver first)"
        .into())
}

/// Why `name` is not a domain name a query can carry, if it is not.
fn name_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        return None; // already reported as missing
    }
    if name.len() > 253 {
        return Some(format!(
            "is {} characters long; a domain name has at most 253",
            name.len()
        ));
    }
    for label in name.split('.') {
        if label.is_empty() {
            return Some(format!("{name:?} has an empty label (two dots in a row)"));
        }
        if label.len() > 63 {
            return Some(format!(
                "{name:?} has a label of {} characters; at most 63",
                label.len()
            ));
        }
        if !label
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Some(format!(
                "{name:?} is not a domain name; use letters, digits, - and _ between the dots \
                 (an internationalised name in its xn-- form)"
            ));
        }
    }
    None
}

/// The text form an answer's record is compared in: addresses as Rust prints them (so
/// "::0001" equals "::1"), names lowercased without the final dot, MX as "preference name".
pub fn normalise(record_type: RecordType, text: &str) -> Result<String, String> {
    let text = text.trim();
    let name = |text: &str| -> Result<String, String> {
        let name = text.trim_end_matches('.').to_ascii_lowercase();
        match name_problem(&name) {
            None if !name.is_empty() => Ok(name),
            None => Err("is empty; expected a domain name".into()),
            Some(problem) => Err(problem),
        }
    };
    match record_type {
        RecordType::A => text
            .parse::<std::net::Ipv4Addr>()
            .map(|ip| ip.to_string())
            .map_err(|_| "is not an IPv4 address, like \"192.0.2.10\"".into()),
        RecordType::Aaaa => text
            .parse::<std::net::Ipv6Addr>()
            .map(|ip| ip.to_string())
            .map_err(|_| "is not an IPv6 address, like \"2001:db8::10\"".into()),
        RecordType::Cname | RecordType::Ns => name(text),
        RecordType::Mx => {
            let (preference, exchange) = text
                .split_once(char::is_whitespace)
                .ok_or_else(|| "is not \"preference name\", like \"10 mail.example.org\"".to_string())?;
            let preference: u16 = preference
                .parse()
                .map_err(|_| "does not start with a preference from 0 to 65535, like \"10 mail.example.org\"".to_string())?;
            Ok(format!("{preference} {}", name(exchange.trim())?))
        }
        RecordType::Txt => Ok(text.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::CheckKind;
    use crate::checks::testing::{errors, read};
    use std::time::Duration;

    fn dns(keys: &str) -> DnsCheck {
        let text = format!("[[check]]\nname = \"dns\"\ntype = \"dns\"\n{keys}\n");
        match &read(&text, &|_| None)[0] {
            CheckKind::Dns(dns) => dns.clone(),
            other => panic!("not dns: {other:?}"),
        }
    }

    #[test]
    fn defaults_and_every_key() {
        let check = dns("query = \"App.Example.org.\"");
        assert_eq!(check, DnsCheck::new("app.example.org"));
        let check = dns(
            "query = \"app.test\"\nrecord_type = \"aaaa\"\nserver = \"[::1]:5353\"\n\
             expect = [\"2001:db8::0010\", \"2001:db8::10\", \"::1\"]\n\
             response_time_warning = \"100ms\"\nresponse_time_critical = \"1s\"",
        );
        assert_eq!(check.record_type, RecordType::Aaaa);
        assert_eq!(check.server, Some("[::1]:5353".parse().unwrap()));
        assert_eq!(check.expect, ["2001:db8::10", "::1"]);
        assert_eq!(check.response_time.warning, Duration::from_millis(100));
        assert_eq!(dns("query = \"a.test\"\nserver = \"10.0.0.2\"").server, Some("10.0.0.2:53".parse().unwrap()));
        assert_eq!(
            dns("query = \"a.test\"\nrecord_type = \"MX\"\nexpect = [\"10  Mail.Test.\"]").expect,
            ["10 mail.test"]
        );
    }

    #[test]
    fn golden_errors() {
        assert_eq!(
            errors(
                "[[check]]\nname = \"dns\"\ntype = \"dns\"\nquery = \"bad..name\"\nrecord_type = \"SRV\"\n\
                 server = \"ns1.example.org\"\nexpect = [\"300.1.2.3\"]\n\n\
                 [[check]]\nname = \"dns2\"\ntype = \"dns\"\nserver = \"127.0.0.1:0\"\n"
            ),
            "lookout.toml:4:9: check \"dns\".query: \"bad..name\" has an empty label (two dots in a row)\n\
             lookout.toml:5:15: check \"dns\".record_type: \"SRV\" is not a record type this check asks for; expected one of \"A\", \"AAAA\", \"CNAME\", \"MX\", \"NS\", \"TXT\"\n\
             lookout.toml:6:10: check \"dns\".server: \"ns1.example.org\" is not an IP address with an optional port, like \"127.0.0.1:53\" or \"[::1]:5353\" (a server is asked by address: its own name would need a resolver first)\n\
             lookout.toml:7:11: check \"dns\".expect[0]: \"300.1.2.3\" is not an IPv4 address, like \"192.0.2.10\"\n\
             lookout.toml:9:1: check \"dns2\".query: missing; this check type needs it, like query = \"app.example.org\"\n\
             lookout.toml:12:10: check \"dns2\".server: \"127.0.0.1:0\" has port 0; expected a port from 1 to 65535"
        );
    }
}
