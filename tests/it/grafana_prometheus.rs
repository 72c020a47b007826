//! The Grafana dashboards of `deploy/grafana/` against a real Prometheus (Debian package
//! `prometheus`: /usr/bin/prometheus, /usr/bin/promtool) scraping a real `lookout serve`: every
//! panel query, annotation query and variable query of every dashboard returns data, and
//! `promtool check metrics` finds nothing to say about /metrics.
//!
//! The daemon has what the dashboards show: an http check on an in-test server, an https check
//! on an in-test TLS server (TLS timings, certificate expiry), a PostgreSQL check with a query,
//! a Redis check counting sessions, a tcp check on a closed port (a critical alert for the alert
//! history), a webhook notifier (notification counters) and a maintenance window that opens a
//! few seconds after the start (maintenance series and annotations, sessions at its start).
//! Prometheus and promtool must be installed: without them these tests fail, they do not pass
//! silently.

use crate::common::{self, alerting, prometheus};

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::Daemon;
use alerting::{FlipServer, closed_port, http_check};
use prometheus::Prometheus;
use serde_json::Value;

const PROMTOOL: &str = "/usr/bin/promtool";
/// How long every query of every dashboard has to return data, once Prometheus scrapes Lookout.
const LIMIT: Duration = Duration::from_secs(60);
const PG: &str = "postgres://postgres@127.0.0.1:5432/test";
/// A Redis database of its own: other tests flush theirs.
const REDIS: &str = "redis://127.0.0.1:6379/14";
const SESSIONS: &str = "lookout-grafana-test:session:";

const DASHBOARDS: [&str; 4] = [
    "lookout-system-overview.json",
    "lookout-application-performance.json",
    "lookout-maintenance.json",
    "lookout-alert-history.json",
];

/// Grafana's interval variables as the test substitutes them: the scrape interval is 1 s, so
/// 5 s windows hold several samples.
const BUILTINS: [(&str, &str); 3] = [
    ("__rate_interval", "5s"),
    ("__interval", "5s"),
    ("__range", "1h"),
];

/// An HTTPS server answering `200 ok` to everything, with the certificates of
/// `common::tls::make_certs` in `dir`.
fn tls_server(dir: &Path) -> SocketAddr {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(dir.join("leaf.pem"))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(dir.join("leaf.key")).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = Arc::new(
        rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .unwrap(),
    );
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let config = config.clone();
            std::thread::spawn(move || {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                let Ok(connection) = rustls::ServerConnection::new(config) else {
                    return;
                };
                let mut tls = rustls::StreamOwned::new(connection, stream);
                let mut request = Vec::new();
                let mut buffer = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buffer) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buffer[..n]),
                    }
                }
                let _ = tls.write_all(
                    b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                );
                tls.conn.send_close_notify();
                let _ = tls.flush();
            });
        }
    });
    addr
}

/// Sends Redis inline commands and reads one reply line per command.
fn redis(commands: &[&str]) {
    let mut stream = TcpStream::connect("127.0.0.1:6379")
        .expect("Redis is needed on 127.0.0.1:6379 for this test (.ci/run starts it)");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut all = String::new();
    for command in commands {
        all.push_str(command);
        all.push_str("\r\n");
    }
    stream.write_all(all.as_bytes()).unwrap();
    let mut replies = String::new();
    let mut buffer = [0u8; 512];
    while replies.matches("\r\n").count() < commands.len() {
        let n = stream.read(&mut buffer).expect("Redis answers");
        assert!(n > 0, "Redis closed the connection after: {replies}");
        replies.push_str(&String::from_utf8_lossy(&buffer[..n]));
    }
    assert!(!replies.contains("-ERR"), "{commands:?}: {replies}");
}

/// The daemon's checks, notifier, rules and maintenance window (see the module doc).
fn daemon_config(app: &FlipServer, hook: &FlipServer, https: SocketAddr, ca: &Path) -> String {
    let window_start = jiff::Timestamp::now()
        .checked_add(jiff::SignedDuration::from_secs(5))
        .unwrap()
        .round(jiff::Unit::Second)
        .unwrap();
    format!(
        "\n[alerts]\ngroup_wait = \"1s\"\ngroup_interval = \"1s\"\n\
         [[alerts.rule]]\nname = \"cpu_usage\"\nenabled = false\n\
         [[alerts.rule]]\nname = \"memory_usage\"\nenabled = false\n\
         [[alerts.rule]]\nname = \"disk_usage\"\nenabled = false\n\n\
         [[notifier]]\nname = \"hook\"\ntype = \"webhook\"\nurl = \"http://{hook}/hook\"\ntimeout = \"5s\"\n\
         {app}{secure}\
         [[check]]\nname = \"db\"\ntype = \"postgres\"\ndsn = \"{PG}\"\ninterval = \"2s\"\ntimeout = \"2s\"\n\
         [[check.query]]\nname = \"one\"\nsql = \"SELECT 1\"\n\n\
         [[check]]\nname = \"cache\"\ntype = \"redis\"\nurl = \"{REDIS}\"\ninterval = \"2s\"\n\
         timeout = \"2s\"\nsession_pattern = \"{SESSIONS}*\"\n\n\
         [[check]]\nname = \"gone\"\ntype = \"tcp\"\naddress = \"127.0.0.1:{closed}\"\n\
         layer = \"database\"\ninterval = \"1s\"\ntimeout = \"1s\"\nretries = 0\n\n\
         [maintenance]\nchecks = [\"app\", \"secure\"]\n\n\
         [[maintenance.window]]\nname = \"release\"\nstart = \"{window_start}\"\nduration = \"1h\"\n",
        hook = hook.addr,
        app = http_check("app", &app.url(), ""),
        secure = http_check(
            "secure",
            &format!("https://{https}/"),
            &format!("ca_file = \"{}\"", ca.display())
        ),
        closed = closed_port(),
    )
}

/// One query of a dashboard, with where it comes from.
struct Query {
    dashboard: String,
    what: String,
    expr: String,
}

/// `text` with every `$name` and `${name}` replaced; a variable it does not know is an error.
fn substitute(text: &str, values: &[(String, String)]) -> Result<String, String> {
    let mut out = text.to_string();
    let mut sorted: Vec<&(String, String)> = values.iter().collect();
    // Longest first: $__rate_interval before $__range, $__interval_ms before $__interval.
    sorted.sort_by_key(|(name, _)| std::cmp::Reverse(name.len()));
    for (name, value) in sorted {
        out = out.replace(&format!("${{{name}}}"), value);
        out = out.replace(&format!("${name}"), value);
    }
    match out.find('$') {
        Some(at) => Err(format!("unknown variable at {:?}", &out[at..])),
        None => Ok(out),
    }
}

/// Every panel target, annotation and query variable of the dashboards, with the variables
/// substituted: `instance` by Lookout's instance, a multi-value variable by its "All" value.
fn dashboard_queries(instance: &str) -> Vec<Query> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/grafana/dashboards");
    let mut queries = Vec::new();
    for name in DASHBOARDS {
        let body = std::fs::read_to_string(dir.join(name)).unwrap();
        let d: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{name}: {e}"));
        let title = d["title"].as_str().unwrap().to_string();
        let mut values: Vec<(String, String)> = BUILTINS
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let variables = d["templating"]["list"].as_array().unwrap();
        for variable in variables {
            let var = variable["name"].as_str().unwrap().to_string();
            let value = match var.as_str() {
                "datasource" => continue,
                "instance" => instance.to_string(),
                _ => variable["allValue"]
                    .as_str()
                    .unwrap_or_else(|| {
                        panic!("{title}: variable {var} has no allValue for this test to use")
                    })
                    .to_string(),
            };
            values.push((var, value));
        }
        let mut add = |what: String, expr: &str| {
            let expr = substitute(expr, &values)
                .unwrap_or_else(|e| panic!("{title} / {what}: {expr}: {e}"));
            queries.push(Query {
                dashboard: title.clone(),
                what,
                expr,
            });
        };
        for variable in variables.iter().filter(|v| v["type"] == "query") {
            let query = variable["query"]
                .as_str()
                .or_else(|| variable["query"]["query"].as_str())
                .unwrap();
            // label_values(SELECTOR, LABEL): the selector has data with that label.
            let inner = query
                .strip_prefix("label_values(")
                .and_then(|q| q.strip_suffix(')'))
                .unwrap_or_else(|| panic!("{title}: variable query {query} is not label_values"));
            let (selector, label) = inner.rsplit_once(',').unwrap();
            add(
                format!("variable {}", variable["name"]),
                &format!("count by ({}) ({selector})", label.trim()),
            );
        }
        for annotation in d["annotations"]["list"].as_array().unwrap() {
            if let Some(expr) = annotation["expr"].as_str() {
                add(format!("annotation {}", annotation["name"]), expr);
            }
        }
        let mut panels: Vec<&Value> = Vec::new();
        for panel in d["panels"].as_array().unwrap() {
            panels.push(panel);
            panels.extend(panel["panels"].as_array().into_iter().flatten());
        }
        let mut count = 0;
        for panel in panels {
            for target in panel["targets"].as_array().into_iter().flatten() {
                let expr = target["expr"].as_str().unwrap_or_else(|| {
                    panic!("{title} / {}: a target without expr", panel["title"])
                });
                add(
                    format!("panel {} ({})", panel["title"], target["refId"]),
                    expr,
                );
                count += 1;
            }
        }
        assert!(count > 5, "{title}: only {count} panel queries");
    }
    queries
}

#[test]
fn every_query_of_every_dashboard_has_data_in_a_real_prometheus_and_promtool_likes_metrics() {
    let _machine = crate::common::machine::shared();
    assert!(
        Path::new(PROMTOOL).exists(),
        "{PROMTOOL} is needed for this test (apt install prometheus)"
    );
    // Sessions for the session count, and a miss so the keyspace hit ratio has something to
    // divide.
    let session = format!("{SESSIONS}1");
    redis(&[
        "SELECT 14",
        &format!("SET {session} x EX 600"),
        "GET lookout-grafana-test:missing",
    ]);
    let certs = tempfile::tempdir().unwrap();
    common::tls::make_certs(certs.path(), 30);
    let https = tls_server(certs.path());
    let app = FlipServer::start(200);
    let hook = FlipServer::start(200);
    let dir = tempfile::tempdir().unwrap();
    let config = common::write_config(
        dir.path(),
        0,
        &daemon_config(&app, &hook, https, &certs.path().join("ca.pem")),
    );
    let daemon = Daemon::start(&config);
    let prometheus = Prometheus::start(daemon.addr);

    let started = Instant::now();
    let up = "up{job=\"lookout\"} == 1";
    loop {
        if prometheus.query(up).unwrap().0 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "Prometheus did not scrape Lookout within 30 s: {:?}\ntargets: {:?}\n{}",
            prometheus.query("up"),
            prometheus.api("/api/v1/targets"),
            prometheus.log()
        );
        std::thread::sleep(Duration::from_millis(250));
    }

    let queries = dashboard_queries(&daemon.addr.to_string());
    let deadline = Instant::now() + LIMIT;
    let mut waiting: Vec<&Query> = queries.iter().collect();
    loop {
        let mut still = Vec::new();
        for query in waiting {
            match prometheus.query(&query.expr) {
                Ok((true, _)) => {}
                Ok((false, _)) => still.push(query),
                Err(error) => panic!(
                    "{} / {}: Prometheus refuses {}: {error}",
                    query.dashboard, query.what, query.expr
                ),
            }
        }
        waiting = still;
        if waiting.is_empty() {
            break;
        }
        if Instant::now() > deadline {
            let list: Vec<String> = waiting
                .iter()
                .map(|q| format!("{} / {}: {}", q.dashboard, q.what, q.expr))
                .collect();
            panic!(
                "no data within {LIMIT:?} ({} of {} queries) for:\n{}\n\n/metrics:\n{}",
                list.len(),
                queries.len(),
                list.join("\n"),
                daemon.get("/metrics").1
            );
        }
        std::thread::sleep(Duration::from_millis(500));
    }

    // promtool on what Prometheus just scraped, with everything of the config present.
    let (status, metrics) = daemon.get("/metrics");
    assert_eq!(status, 200, "{metrics}");
    for family in [
        "lookout_check_up",
        "lookout_http_tls_seconds",
        "lookout_db_query_value",
        "lookout_redis_sessions",
        "lookout_notifications_total",
        "lookout_maintenance_sessions_at_start",
    ] {
        assert!(
            metrics.contains(&format!("# TYPE {family} ")),
            "{family} missing"
        );
    }
    let mut promtool = Command::new(PROMTOOL)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {PROMTOOL}: {e}"));
    promtool
        .stdin
        .take()
        .unwrap()
        .write_all(metrics.as_bytes())
        .unwrap();
    let output = promtool.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success() && said.trim().is_empty(),
        "promtool check metrics ({}):\n{said}",
        output.status
    );
    redis(&["SELECT 14", &format!("DEL {session}")]);
}
