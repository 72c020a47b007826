//! `type = "dns"`: one query to a DNS server (the configured one, else the first `nameserver`
//! of /etc/resolv.conf) over UDP, and over TCP when the answer comes back truncated. The
//! answer is judged: NXDOMAIN, SERVFAIL and any other error code are critical, so is an answer
//! without a record of the asked type or, with `expect`, one whose records differ; then the
//! response time grades it like the other network checks.
//!
//! | series | labels | meaning |
//! |---|---|---|
//! | `dns_response_seconds` | `check` | query sent to answer read (the headline value) |
//! | `dns_answer_records` | `check` | records of the asked type in the answer |
//!
//! The messages are built and parsed by `simple-dns` (a parser of DNS messages, not a
//! resolver): what the check asks and whom is exactly what is configured.

use std::hash::{BuildHasher, Hasher};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use simple_dns::rdata::RData;
use simple_dns::{CLASS, Name, Packet, PacketFlag, Question, RCODE, TYPE};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

use super::config::{DnsCheck, RecordType, normalise};
use crate::checks::http::probe::{own_deadline, seconds_text};
use crate::checks::{Check, CheckFuture, Outcome, grade};
use crate::clock::UnixMillis;
use crate::base::units::format_duration;
use crate::model::{SeriesKey, Status};

pub struct DnsProbe {
    config: DnsCheck,
    timeout: Duration,
    /// Where the system's resolver is configured (a test points it elsewhere).
    resolv_conf: std::path::PathBuf,
}

impl DnsProbe {
    pub fn new(config: DnsCheck, timeout: Duration) -> DnsProbe {
        DnsProbe {
            config,
            timeout,
            resolv_conf: "/etc/resolv.conf".into(),
        }
    }

    async fn run(&self) -> Outcome {
        let server = match self.config.server {
            Some(server) => server,
            None => match system_resolver(&self.resolv_conf) {
                Ok(server) => server,
                Err(reason) => return Outcome::unknown(reason),
            },
        };
        let deadline = own_deadline(self.timeout);
        let started = Instant::now();
        let answer = ask(server, &self.config, deadline).await;
        let answer = match answer {
            Ok(answer) => answer,
            Err(Failure::Timeout) => {
                return Outcome::critical(format!(
                    "timeout: no answer within {} from {server}",
                    format_duration(self.timeout)
                ));
            }
            Err(Failure::Other(reason)) => return Outcome::critical(reason),
        };
        judge(&self.config, server, &answer, started.elapsed().as_secs_f64())
    }
}

impl Check for DnsProbe {
    fn attempt(&mut self, _at_ms: UnixMillis) -> CheckFuture<'_> {
        Box::pin(self.run())
    }
}

/// What the server said: its response code and the records of the asked type, in the text
/// form `expect` is written in.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub rcode: RCODE,
    pub records: Vec<String>,
}

enum Failure {
    Timeout,
    Other(String),
}

/// The first `nameserver` of a resolv.conf, on port 53.
fn system_resolver(path: &std::path::Path) -> Result<SocketAddr, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}; set server = \"ip:port\"", path.display()))?;
    text.lines()
        .filter_map(|line| line.trim().strip_prefix("nameserver"))
        .filter_map(|rest| rest.trim().parse::<IpAddr>().ok())
        .map(|ip| SocketAddr::new(ip, 53))
        .next()
        .ok_or_else(|| {
            format!(
                "no nameserver in {}; set server = \"ip:port\"",
                path.display()
            )
        })
}

/// A query id nobody can guess from the outside (spoofed answers must match it).
fn query_id() -> u16 {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    hasher.finish() as u16
}

fn query_type(record_type: RecordType) -> TYPE {
    match record_type {
        RecordType::A => TYPE::A,
        RecordType::Aaaa => TYPE::AAAA,
        RecordType::Cname => TYPE::CNAME,
        RecordType::Mx => TYPE::MX,
        RecordType::Ns => TYPE::NS,
        RecordType::Txt => TYPE::TXT,
    }
}

/// The query in wire format.
fn build_query(id: u16, config: &DnsCheck) -> Result<Vec<u8>, String> {
    let name = Name::new(&config.query).map_err(|e| format!("{:?}: {e}", config.query))?;
    let mut packet = Packet::new_query(id);
    packet.set_flags(PacketFlag::RECURSION_DESIRED);
    packet.questions.push(Question::new(
        name,
        query_type(config.record_type).into(),
        CLASS::IN.into(),
        false,
    ));
    packet
        .build_bytes_vec()
        .map_err(|e| format!("cannot build the query for {:?}: {e}", config.query))
}

/// Sends the query and reads the answer, over TCP when the UDP answer was truncated.
async fn ask(
    server: SocketAddr,
    config: &DnsCheck,
    deadline: tokio::time::Instant,
) -> Result<Answer, Failure> {
    let id = query_id();
    let query = build_query(id, config).map_err(Failure::Other)?;
    let within = |future| async move {
        tokio::time::timeout_at(deadline, future)
            .await
            .map_err(|_| Failure::Timeout)?
    };
    let reply = within(Box::pin(udp_exchange(server, &query, id))).await?;
    let truncated = Packet::parse(&reply).is_ok_and(|p| p.has_flags(PacketFlag::TRUNCATION));
    let reply = if truncated {
        within(Box::pin(tcp_exchange(server, &query))).await?
    } else {
        reply
    };
    read_answer(&reply, id, config).map_err(|why| Failure::Other(format!("{server}: {why}")))
}

type Exchange<'a> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<Vec<u8>, Failure>> + Send + 'a>>;

fn io_failure(server: SocketAddr, error: std::io::Error) -> Failure {
    Failure::Other(match error.kind() {
        std::io::ErrorKind::ConnectionRefused => {
            format!("connection refused by {server}: no DNS server listens there")
        }
        _ => format!("{server}: {error}"),
    })
}

/// One UDP exchange: datagrams that are not the answer to this query (another id, not a
/// response) are ignored, as a resolver does.
fn udp_exchange<'a>(server: SocketAddr, query: &'a [u8], id: u16) -> Exchange<'a> {
    Box::pin(async move {
        let local: SocketAddr = if server.is_ipv4() {
            "0.0.0.0:0".parse().map_err(|_| Failure::Other("bad local address".into()))?
        } else {
            "[::]:0".parse().map_err(|_| Failure::Other("bad local address".into()))?
        };
        let socket = UdpSocket::bind(local).await.map_err(|e| io_failure(server, e))?;
        socket.connect(server).await.map_err(|e| io_failure(server, e))?;
        socket.send(query).await.map_err(|e| io_failure(server, e))?;
        let mut buffer = vec![0u8; 65_535];
        loop {
            let size = socket.recv(&mut buffer).await.map_err(|e| io_failure(server, e))?;
            let reply = &buffer[..size];
            let ours = reply.len() >= 3
                && u16::from_be_bytes([reply[0], reply[1]]) == id
                && reply[2] & 0x80 != 0;
            if ours {
                return Ok(reply.to_vec());
            }
        }
    })
}

/// One TCP exchange (RFC 1035 4.2.2: each message after its two-byte length).
fn tcp_exchange<'a>(server: SocketAddr, query: &'a [u8]) -> Exchange<'a> {
    Box::pin(async move {
        let mut stream = TcpStream::connect(server).await.map_err(|e| io_failure(server, e))?;
        let length = u16::try_from(query.len())
            .map_err(|_| Failure::Other("the query is too long".into()))?;
        let mut message = length.to_be_bytes().to_vec();
        message.extend_from_slice(query);
        stream.write_all(&message).await.map_err(|e| io_failure(server, e))?;
        let mut length = [0u8; 2];
        stream.read_exact(&mut length).await.map_err(|e| io_failure(server, e))?;
        let mut reply = vec![0u8; usize::from(u16::from_be_bytes(length))];
        stream.read_exact(&mut reply).await.map_err(|e| io_failure(server, e))?;
        Ok(reply)
    })
}

/// The answer in `reply`, the response to query `id`.
fn read_answer(reply: &[u8], id: u16, config: &DnsCheck) -> Result<Answer, String> {
    let packet = Packet::parse(reply).map_err(|e| format!("an answer that is not DNS ({e})"))?;
    if packet.id() != id {
        return Err("an answer to another query".into());
    }
    let wanted = query_type(config.record_type);
    let mut records = Vec::new();
    for record in &packet.answers {
        let text = match &record.rdata {
            RData::A(a) if wanted == TYPE::A => std::net::Ipv4Addr::from(a.address).to_string(),
            RData::AAAA(a) if wanted == TYPE::AAAA => {
                std::net::Ipv6Addr::from(a.address).to_string()
            }
            RData::CNAME(name) if wanted == TYPE::CNAME => name.0.to_string(),
            RData::NS(name) if wanted == TYPE::NS => name.0.to_string(),
            RData::MX(mx) if wanted == TYPE::MX => format!("{} {}", mx.preference, mx.exchange),
            RData::TXT(txt) if wanted == TYPE::TXT => {
                String::try_from(txt.clone()).unwrap_or_default()
            }
            _ => continue,
        };
        // The server's text in the form `expect` is written in; a record that does not
        // normalise (a bad name) is shown as it came.
        records.push(normalise(config.record_type, &text).unwrap_or(text));
    }
    records.sort();
    records.dedup();
    Ok(Answer {
        rcode: packet.rcode(),
        records,
    })
}

/// The verdict on one answer that took `seconds`. Pure.
pub fn judge(config: &DnsCheck, server: SocketAddr, answer: &Answer, seconds: f64) -> Outcome {
    let query = &config.query;
    let kind = config.record_type.name();
    let failed = |reason: String| {
        Outcome::critical(reason)
            .with_value(seconds)
            .sample(SeriesKey::new("dns_response_seconds"), seconds)
            .sample(
                SeriesKey::new("dns_answer_records"),
                answer.records.len() as f64,
            )
    };
    match answer.rcode {
        RCODE::NoError => {}
        RCODE::NameError => {
            return failed(format!("NXDOMAIN: {query} does not exist (asked {server})"));
        }
        RCODE::ServerFailure => {
            return failed(format!(
                "SERVFAIL: {server} could not resolve {query} (its upstream or DNSSEC failed)"
            ));
        }
        other => {
            return failed(format!("{other:?} from {server} for {query} {kind}"));
        }
    }
    if answer.records.is_empty() {
        return failed(format!("no {kind} record for {query} (asked {server})"));
    }
    let got = answer.records.join(", ");
    if !config.expect.is_empty() && answer.records != config.expect {
        return failed(format!(
            "{query} {kind} is {got}, expected {}",
            config.expect.join(", ")
        ));
    }
    let thresholds = config.response_time;
    let status = grade(
        seconds,
        Some(thresholds.warning.as_secs_f64()),
        Some(thresholds.critical.as_secs_f64()),
    );
    let mut reason = format!("{query} {kind} {got} in {}", seconds_text(seconds));
    if status != Status::Ok {
        let limit = if status == Status::Critical {
            thresholds.critical
        } else {
            thresholds.warning
        };
        reason = format!(
            "slow: {} (threshold {}); {reason}",
            seconds_text(seconds),
            format_duration(limit)
        );
    }
    let mut outcome = failed(reason);
    outcome.status = status;
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(rcode: RCODE, records: &[&str]) -> Answer {
        Answer {
            rcode,
            records: records.iter().map(|r| r.to_string()).collect(),
        }
    }

    fn check(expect: &[&str]) -> DnsCheck {
        let mut check = DnsCheck::new("app.test");
        check.expect = expect.iter().map(|e| e.to_string()).collect();
        check
    }

    #[test]
    fn every_verdict_in_one_line() {
        let server: SocketAddr = "127.0.0.1:5353".parse().unwrap();
        for (config, answer, seconds, status, reason) in [
            (check(&[]), answer(RCODE::NoError, &["192.0.2.10"]), 0.004, Status::Ok, "app.test A 192.0.2.10 in 4 ms"),
            (check(&["192.0.2.10", "192.0.2.11"]), answer(RCODE::NoError, &["192.0.2.10", "192.0.2.11"]), 0.004, Status::Ok, "app.test A 192.0.2.10, 192.0.2.11 in 4 ms"),
            (check(&["192.0.2.10"]), answer(RCODE::NoError, &["192.0.2.10", "192.0.2.11"]), 0.004, Status::Critical, "app.test A is 192.0.2.10, 192.0.2.11, expected 192.0.2.10"),
            (check(&[]), answer(RCODE::NoError, &[]), 0.004, Status::Critical, "no A record for app.test (asked 127.0.0.1:5353)"),
            (check(&[]), answer(RCODE::NameError, &[]), 0.004, Status::Critical, "NXDOMAIN: app.test does not exist (asked 127.0.0.1:5353)"),
            (check(&[]), answer(RCODE::ServerFailure, &[]), 0.004, Status::Critical, "SERVFAIL: 127.0.0.1:5353 could not resolve app.test (its upstream or DNSSEC failed)"),
            (check(&[]), answer(RCODE::Refused, &[]), 0.004, Status::Critical, "Refused from 127.0.0.1:5353 for app.test A"),
            (check(&[]), answer(RCODE::NoError, &["192.0.2.10"]), 2.5, Status::Warning, "slow: 2.50 s (threshold 2s); app.test A 192.0.2.10 in 2.50 s"),
            (check(&[]), answer(RCODE::NoError, &["192.0.2.10"]), 5.0, Status::Critical, "slow: 5.00 s (threshold 5s); app.test A 192.0.2.10 in 5.00 s"),
        ] {
            let outcome = judge(&config, server, &answer, seconds);
            assert_eq!((outcome.status, outcome.reason.as_str()), (status, reason));
            assert_eq!(outcome.value, Some(seconds));
        }
    }

    #[test]
    fn the_system_resolver_is_the_first_usable_nameserver() {
        let dir = std::env::temp_dir().join(format!("lookout-dns-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("resolv.conf");
        std::fs::write(&path, "# comment\nsearch example.org\nnameserver fe80::1%eth0\nnameserver 10.0.0.2\nnameserver 10.0.0.3\n").unwrap();
        assert_eq!(system_resolver(&path), Ok("10.0.0.2:53".parse().unwrap()));
        std::fs::write(&path, "search example.org\n").unwrap();
        assert_eq!(
            system_resolver(&path),
            Err(format!("no nameserver in {}; set server = \"ip:port\"", path.display()))
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn answers_are_read_in_the_form_expect_is_written_in() {
        let config = check(&[]);
        let mut reply = Packet::new_reply(7);
        for address in [[192, 0, 2, 11], [192, 0, 2, 10], [192, 0, 2, 10]] {
            reply.answers.push(simple_dns::ResourceRecord::new(
                Name::new("app.test").unwrap(),
                CLASS::IN,
                60,
                RData::A(simple_dns::rdata::A { address: u32::from_be_bytes(address) }),
            ));
        }
        let bytes = reply.build_bytes_vec().unwrap();
        assert_eq!(
            read_answer(&bytes, 7, &config),
            Ok(answer(RCODE::NoError, &["192.0.2.10", "192.0.2.11"]))
        );
        assert_eq!(read_answer(&bytes, 8, &config), Err("an answer to another query".into()));
        assert!(read_answer(b"\x00\x07", 7, &config).unwrap_err().starts_with("an answer that is not DNS"));
    }
}
