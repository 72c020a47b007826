//! docs/metrics.md against what /metrics really serves: a daemon runs every kind of probe and
//! check (HTTP with an extract, TCP, Prometheus, PostgreSQL, MariaDB, SQLite, Redis, a log
//! file, a notifier, a heartbeat), and its scrape must match the document family by family — type, label
//! names and help — in both directions. The same scrape must pass the real
//! `promtool check metrics` (Debian's `prometheus` package), and its OpenMetrics form must
//! name each family once.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{self, Daemon, http_get, write_config};

const PG: &str = "postgres://postgres@127.0.0.1:5432/test";
const MY: &str = "mysql://root@127.0.0.1:3306/test";

#[derive(Debug, Default, PartialEq)]
struct Family {
    kind: String,
    labels: BTreeSet<String>,
    help: String,
}

/// Families of a text-format scrape: TYPE, HELP and the label names of every sample.
fn served_families(text: &str) -> BTreeMap<String, Family> {
    let mut families: BTreeMap<String, Family> = BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').unwrap_or((rest, ""));
            families.entry(name.to_string()).or_default().help = help.to_string();
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or((rest, ""));
            families.entry(name.to_string()).or_default().kind = kind.to_string();
        } else if !line.is_empty() && !line.starts_with('#') {
            let end = line.find(['{', ' ']).unwrap_or(line.len());
            let mut name = &line[..end];
            if !families.contains_key(name) {
                for suffix in ["_bucket", "_sum", "_count"] {
                    if let Some(base) = name.strip_suffix(suffix)
                        && families.contains_key(base)
                    {
                        name = base;
                    }
                }
            }
            let family = families
                .get_mut(name)
                .unwrap_or_else(|| panic!("sample without HELP/TYPE: {line}"));
            if let Some(labels) = line[end..]
                .strip_prefix('{')
                .and_then(|r| r.split_once('}'))
            {
                for pair in labels.0.split("\",") {
                    let key = pair.split('=').next().unwrap().trim();
                    if !key.is_empty() && key != "le" {
                        family.labels.insert(key.to_string());
                    }
                }
            }
        }
    }
    families
}

/// The document's rows: family -> (family, served column).
fn documented_families() -> BTreeMap<String, (Family, String)> {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/metrics.md"))
        .expect("docs/metrics.md");
    let mut rows = BTreeMap::new();
    for (number, line) in doc.lines().enumerate() {
        if !line.starts_with("| `lookout_") {
            continue;
        }
        let cells: Vec<&str> = line
            .trim_matches('|')
            .split(" | ")
            .map(|c| c.trim())
            .collect();
        assert_eq!(
            cells.len(),
            5,
            "docs/metrics.md:{}: a row has 5 cells (family, type, labels, help, served): {line}",
            number + 1
        );
        let name = cells[0].trim_matches('`').to_string();
        let labels = cells[2]
            .split(',')
            .map(|l| l.trim().trim_matches('`').to_string())
            .filter(|l| !l.is_empty())
            .collect();
        let family = Family {
            kind: cells[1].to_string(),
            labels,
            help: cells[3].to_string(),
        };
        let previous = rows.insert(name.clone(), (family, cells[4].to_string()));
        assert!(previous.is_none(), "docs/metrics.md lists {name} twice");
    }
    rows
}

fn scrape(addr: SocketAddr, accept: &str) -> String {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "GET /metrics HTTP/1.0\r\nHost: {addr}\r\nAccept: {accept}\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").expect("an HTTP response");
    assert!(
        head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200"),
        "{head}"
    );
    body.to_string()
}

/// Families that a `prometheus` check re-serves from its target, under its `prefix`.
const SCRAPED_PREFIX: &str = "lookout_scraped_";

#[test]
fn docs_metrics_md_matches_what_metrics_serves() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    std::fs::write(&log, "start\nERROR first\n").unwrap();
    let sqlite = dir.path().join("app.db");
    std::fs::write(&sqlite, b"").unwrap();
    // The daemon checks itself (its own port in the config): a free port, another if the
    // daemon could not bind it.
    let extra = |port: u16| {
        format!(
            r#"per_core = true

[[check]]
name = "web"
type = "http"
url = "http://127.0.0.1:{port}/healthz"
interval = "1s"
[[check.extract]]
name = "uptime"
json_pointer = "/uptime_seconds"

[[check]]
name = "port"
type = "tcp"
address = "127.0.0.1:{port}"
interval = "1s"

[[check]]
name = "exporter"
type = "prometheus"
url = "http://127.0.0.1:{port}/metrics"
interval = "1s"
families = ["lookout_build_info"]
prefix = "scraped_"

[[check]]
name = "pg"
type = "postgres"
dsn = "{PG}"
interval = "1s"
[[check.query]]
name = "one"
sql = "SELECT 1"

[[check]]
name = "maria"
type = "mysql"
dsn = "{MY}"
interval = "1s"

[[check]]
name = "lite"
type = "sqlite"
dsn = "sqlite://{sqlite}"
integrity_check = true
interval = "1s"

[[check]]
name = "cache"
type = "redis"
url = "redis://127.0.0.1:6379/0"
session_pattern = "metrics-doc-test:session:*"
interval = "1s"

[[check]]
name = "applog"
type = "log"
path = "{log}"
interval = "1s"
[[check.pattern]]
name = "errors"
regex = "ERROR"

[[notifier]]
name = "hook"
type = "webhook"
url = "http://127.0.0.1:9/hook"

[[remote_write]]
name = "nowhere"
url = "http://127.0.0.1:9/api/v1/write"

[heartbeat]
url = "http://127.0.0.1:{port}/healthz"
interval = "1s"
timeout = "1s"
"#,
            sqlite = sqlite.display(),
            log = log.display(),
        )
    };
    let daemon = common::with_free_port("lookout serve", |port| {
        Daemon::try_start(&write_config(dir.path(), port, &extra(port)))
    });
    let documented = documented_families();

    // Everything the document says is always served, or served with what this config has,
    // must show up; a slow database first connection gets 30 s.
    let expected: BTreeSet<&String> = documented
        .iter()
        .filter(|(_, (_, served))| !served.starts_with("only"))
        .map(|(name, _)| name)
        .collect();
    let mut text = String::new();
    let started = Instant::now();
    let missing = loop {
        if let Some((200, body)) = http_get(daemon.addr, "/metrics") {
            text = body;
        }
        let served = served_families(&text);
        let missing: Vec<&&String> = expected
            .iter()
            .filter(|name| !served.contains_key(name.as_str()))
            .collect();
        if missing.is_empty() || started.elapsed() > Duration::from_secs(30) {
            break format!("{missing:?}");
        }
        std::thread::sleep(Duration::from_millis(250));
    };
    assert_eq!(
        missing,
        "[]",
        "documented as served but not in /metrics after 30 s\nlog:\n{}",
        daemon.log()
    );

    let served = served_families(&text);
    let mut problems = Vec::new();
    for (name, family) in &served {
        if name.starts_with(SCRAPED_PREFIX) {
            continue;
        }
        match documented.get(name) {
            None => problems.push(format!(
                "{name} is served but not in docs/metrics.md: | `{name}` | {} | {} | {} | always |",
                family.kind,
                family
                    .labels
                    .iter()
                    .map(|l| format!("`{l}`"))
                    .collect::<Vec<_>>()
                    .join(", "),
                family.help
            )),
            Some((doc, _)) if doc != family => problems.push(format!(
                "{name} differs:\n  served:     {family:?}\n  documented: {doc:?}"
            )),
            Some(_) => {}
        }
    }
    assert!(
        served.keys().any(|n| n.starts_with(SCRAPED_PREFIX)),
        "the prometheus check's families are served under its prefix"
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));

    // promtool's linter on the very same text.
    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("promtool is needed (apt install prometheus): {e}"));
    promtool
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let output = promtool.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "promtool check metrics:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );

    // OpenMetrics: counters lose `_total` in their family name, so no two families may
    // end up with the same name (a gauge `x` beside a counter `x_total` would).
    let open = scrape(daemon.addr, "application/openmetrics-text; version=1.0.0");
    assert!(open.ends_with("# EOF\n"));
    let mut seen = BTreeSet::new();
    for line in open.lines().filter(|l| l.starts_with("# TYPE ")) {
        let name = line.split(' ').nth(2).unwrap().to_string();
        assert!(seen.insert(name.clone()), "OpenMetrics family {name} twice");
    }
}
