//! dns checks against a real DNS server (dnslib, `tests/support/dns_server.py`) that each
//! test starts on a port the server picks itself: the right and wrong addresses, NXDOMAIN,
//! SERVFAIL, a server that is down (refused), one that never answers (timeout) and a slow
//! answer (warning).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use lookout::model::{Observation, Status};
use lookout::probes::Probe;

use crate::common::checks::{probe, sample};

/// The test's DNS server; killed when dropped.
struct DnsServer {
    child: Child,
    port: u16,
}

impl DnsServer {
    fn start(args: &[&str]) -> DnsServer {
        let script =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/dns_server.py");
        let mut child = Command::new("python3")
            .arg(script)
            .args(args)
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs tests/support/dns_server.py (pip install dnslib)");
        let mut line = String::new();
        let stdout = child.stdout.take().expect("piped stdout");
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("the DNS server prints its port");
        let port = line
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("the DNS server did not start: {line:?}"));
        DnsServer { child, port }
    }

    fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn zone() -> DnsServer {
    DnsServer::start(&[
        "--record",
        "app.test",
        "A",
        "192.0.2.10",
        "--record",
        "app.test",
        "A",
        "192.0.2.11",
        "--record",
        "app.test",
        "AAAA",
        "2001:db8::10",
        "--record",
        "app.test",
        "MX",
        "10 mail.test.",
        "--servfail",
        "broken.test",
        "--record",
        "slow.test",
        "A",
        "192.0.2.20",
        "--delay",
        "slow.test",
        "0.4",
        "--record",
        "lost.test",
        "A",
        "192.0.2.30",
        "--silent",
        "lost.test",
    ])
}

async fn run(keys: &str) -> Observation {
    let text = format!("[[check]]\nname = \"dns\"\ntype = \"dns\"\nretries = 0\n{keys}\n");
    probe(&text, &|_| None).run(1_900_000_000_000).await
}

fn verdict(o: &Observation) -> (Status, &str) {
    (o.checks[0].status, o.checks[0].detail.as_str())
}

#[tokio::test]
async fn the_right_addresses_are_ok_and_others_are_critical() {
    let _machine = crate::common::machine::shared();
    let dns = zone();
    let server = dns.address();
    let o = run(&format!(
        "query = \"app.test\"\nserver = \"{server}\"\nexpect = [\"192.0.2.11\", \"192.0.2.10\"]"
    ))
    .await;
    assert_eq!(o.checks[0].status, Status::Ok, "{}", o.checks[0].detail);
    assert!(
        o.checks[0]
            .detail
            .starts_with("app.test A 192.0.2.10, 192.0.2.11 in "),
        "{}",
        o.checks[0].detail
    );
    assert_eq!(sample(&o, "dns_answer_records"), Some(2.0));
    let seconds = sample(&o, "dns_response_seconds").unwrap();
    assert!((0.0..1.0).contains(&seconds), "{seconds}");
    assert_eq!(o.checks[0].value, Some(seconds));
    assert_eq!(sample(&o, "check_up"), Some(1.0));

    let o = run(&format!(
        "query = \"app.test\"\nserver = \"{server}\"\nexpect = [\"192.0.2.10\", \"192.0.2.99\"]"
    ))
    .await;
    assert_eq!(
        verdict(&o),
        (
            Status::Critical,
            "app.test A is 192.0.2.10, 192.0.2.11, expected 192.0.2.10, 192.0.2.99"
        )
    );
    assert_eq!(sample(&o, "check_up"), Some(0.0));

    let o = run(&format!(
        "query = \"app.test\"\nrecord_type = \"AAAA\"\nserver = \"{server}\"\nexpect = [\"2001:db8:0::10\"]"
    ))
    .await;
    assert_eq!(o.checks[0].status, Status::Ok, "{}", o.checks[0].detail);
    let o = run(&format!(
        "query = \"app.test\"\nrecord_type = \"MX\"\nserver = \"{server}\"\nexpect = [\"10 mail.test\"]"
    ))
    .await;
    assert_eq!(o.checks[0].status, Status::Ok, "{}", o.checks[0].detail);
    // A name that exists without a record of the asked type.
    let o = run(&format!(
        "query = \"slow.test\"\nrecord_type = \"AAAA\"\nserver = \"{server}\"\nresponse_time_warning = \"2s\""
    ))
    .await;
    assert_eq!(
        verdict(&o),
        (
            Status::Critical,
            format!("no AAAA record for slow.test (asked {server})").as_str()
        )
    );
}

#[tokio::test]
async fn nxdomain_and_servfail_are_critical_in_one_line() {
    let _machine = crate::common::machine::shared();
    let dns = zone();
    let server = dns.address();
    let o = run(&format!("query = \"nope.test\"\nserver = \"{server}\"")).await;
    assert_eq!(
        verdict(&o),
        (
            Status::Critical,
            format!("NXDOMAIN: nope.test does not exist (asked {server})").as_str()
        )
    );
    let o = run(&format!("query = \"broken.test\"\nserver = \"{server}\"")).await;
    assert_eq!(
        verdict(&o),
        (
            Status::Critical,
            format!(
                "SERVFAIL: {server} could not resolve broken.test (its upstream or DNSSEC failed)"
            )
            .as_str()
        )
    );
}

#[tokio::test]
async fn a_server_that_is_down_or_silent_is_critical() {
    let _machine = crate::common::machine::shared();
    // Down: nothing listens on the port (the kernel answers "port unreachable").
    let closed = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let closed_address = closed.local_addr().unwrap();
    drop(closed);
    let o = run(&format!(
        "query = \"app.test\"\nserver = \"{closed_address}\""
    ))
    .await;
    assert_eq!(
        verdict(&o),
        (
            Status::Critical,
            format!("connection refused by {closed_address}: no DNS server listens there").as_str()
        )
    );
    // Up, but the query is never answered.
    let dns = zone();
    let server = dns.address();
    let started = std::time::Instant::now();
    let o = run(&format!(
        "query = \"lost.test\"\nserver = \"{server}\"\ninterval = \"10s\"\ntimeout = \"1s\""
    ))
    .await;
    assert_eq!(
        verdict(&o),
        (
            Status::Critical,
            format!("timeout: no answer within 1s from {server}").as_str()
        )
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(3));
}

#[tokio::test]
async fn a_slow_answer_warns() {
    let _machine = crate::common::machine::shared();
    let dns = zone();
    let server = dns.address();
    let o = run(&format!(
        "query = \"slow.test\"\nserver = \"{server}\"\nexpect = [\"192.0.2.20\"]\n\
         response_time_warning = \"200ms\"\nresponse_time_critical = \"3s\""
    ))
    .await;
    assert_eq!(
        o.checks[0].status,
        Status::Warning,
        "{}",
        o.checks[0].detail
    );
    assert!(
        o.checks[0].detail.starts_with("slow: 0.4")
            && o.checks[0]
                .detail
                .contains("(threshold 200ms); slow.test A 192.0.2.20 in 0.4"),
        "{}",
        o.checks[0].detail
    );
    assert!(sample(&o, "dns_response_seconds").unwrap() >= 0.4);
}
