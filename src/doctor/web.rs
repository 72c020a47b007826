//! Lookout as others reach it: the dashboard (`/healthz` answers, and it is Lookout answering),
//! the listeners' exposure (plain HTTP off loopback, /metrics without credentials, weak
//! metrics credentials) and Prometheus (its `up` has a target that is this Lookout, at 1).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use super::{Finding, hints, plural};
use crate::base::net::tls::grade_expiry;
use crate::base::net::{self, TlsClient, TlsSettings};
use crate::base::net::{Response, fetch};
use crate::base::secret::mask_url;
use crate::clock::UnixMillis;
use crate::config::Config;
use crate::web::VERSION;
use crate::web::auth::secret::MIN_PASSWORD_CHARS;

/// How long the dashboard and Prometheus get to answer.
const TIMEOUT: Duration = Duration::from_secs(5);

/// The URL the dashboard is reached at from this machine: `server.listen` with an unspecified
/// address replaced by loopback, https when TLS is configured.
pub fn local_url(config: &Config) -> String {
    let listen = config.server.listen;
    let ip = match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    let scheme = if config.server.tls_cert.is_some() {
        "https"
    } else {
        "http"
    };
    format!("{scheme}://{}", SocketAddr::new(ip, listen.port()))
}

async fn get(url: &str, tls: TlsSettings) -> Result<Response, String> {
    let request = net::Request {
        url: url.to_string(),
        method: "GET".into(),
        headers: Vec::new(),
        body: None,
        follow_redirects: 0,
        max_body: 4 << 20,
    };
    let mut client = TlsClient::new(tls, Some(b"http/1.1"));
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    fetch(&request, &mut client, deadline, TIMEOUT).await
}

/// GET /healthz at `--dashboard` or at `server.listen`.
pub async fn dashboard(config: &Config, url: Option<&str>, now_ms: UnixMillis) -> Finding {
    let base = url
        .map(|u| u.trim_end_matches('/').to_string())
        .unwrap_or_else(|| local_url(config));
    // Our own listener on loopback is trusted as is (its name rarely matches the certificate);
    // a URL given by the user is verified, with the configured certificate trusted too (a
    // self-signed one).
    let tls = TlsSettings {
        insecure_skip_verify: url.is_none(),
        ca_file: config.server.tls_cert.clone(),
        ..TlsSettings::default()
    };
    let shown = mask_url(&base);
    let response = match get(&format!("{base}/healthz"), tls.clone()).await {
        Ok(response) => response,
        Err(error) => {
            let hint = if hints::cause(&error) == hints::Cause::Tls {
                "browsers will not trust it either (unless they trust the CA that signed it): serve the whole chain in server.tls_cert, from a CA browsers know, for the name in the URL"
            } else {
                hints::DASHBOARD_DOWN
            };
            return Finding::fail("dashboard", format!("no answer at {shown}: {error}"), hint);
        }
    };
    let health: Option<serde_json::Value> = serde_json::from_slice(&response.body).ok();
    // Lookout, but not healthy (/healthz answers 503 with the reason).
    if let Some(h) = health
        .as_ref()
        .filter(|h| matches!(h["status"].as_str(), Some("degraded" | "stuck")))
        .filter(|h| h["version"].is_string())
    {
        return Finding::fail(
            "dashboard",
            format!(
                "Lookout at {shown} is {}: {}",
                h["status"].as_str().unwrap_or_default(),
                h["reason"].as_str().unwrap_or("no reason given")
            ),
            "its log says more; a store that cannot write needs space on its disk (or the disk writable again) and catches up by itself",
        );
    }
    let version = health
        .as_ref()
        .filter(|h| h["status"] == "ok")
        .and_then(|h| h["version"].as_str().map(str::to_string));
    let Some(version) = version else {
        return Finding::fail(
            "dashboard",
            format!(
                "something other than Lookout answers at {shown}: HTTP {} to /healthz",
                response.status
            ),
            "another program holds that port (ss -ltnp shows which), or the URL is not Lookout's",
        );
    };
    let uptime = health
        .as_ref()
        .and_then(|h| h["uptime_seconds"].as_f64())
        .map(|s| humantime::format_duration(Duration::from_secs(s as u64)).to_string())
        .unwrap_or_default();
    let mut detail = format!("answers at {shown} (Lookout {version}, up {uptime})");
    if let Some(cert) = &response.cert {
        let (status, text) = grade_expiry(cert, now_ms / 1000, &tls);
        detail.push_str(&format!("; {text}"));
        let renew = "renew server.tls_cert and server.tls_key, then restart Lookout";
        match status {
            crate::model::Status::Ok => {}
            crate::model::Status::Warning => return Finding::warn("dashboard", detail, renew),
            _ => return Finding::fail("dashboard", detail, renew),
        }
    }
    if version != VERSION {
        return Finding::warn(
            "dashboard",
            format!("{detail}; this binary is {VERSION}"),
            "restart Lookout to run the installed version (systemctl restart lookout)",
        );
    }
    Finding::ok("dashboard", detail)
}

/// Plain HTTP off loopback, /metrics open to the network, weak metrics credentials.
pub fn listen_security(config: &Config) -> Vec<Finding> {
    let server = &config.server;
    let tls = server.tls_cert.is_some() && server.tls_key.is_some();
    let listen = server.listen;
    let mut findings = vec![if listen.ip().is_loopback() {
        Finding::ok(
            "security: listen",
            format!("dashboard and API listen on loopback only ({listen})"),
        )
    } else if tls {
        Finding::ok(
            "security: listen",
            format!("dashboard and API served over HTTPS on {listen}"),
        )
    } else {
        Finding::fail(
            "security: listen",
            format!(
                "dashboard and API served over plain HTTP on {listen} (server.insecure_http = true): passwords and session cookies cross the network readable"
            ),
            "set server.tls_cert and server.tls_key; behind a TLS proxy on this host, set server.listen = \"127.0.0.1:PORT\" instead",
        )
    }];

    let exposed: Vec<SocketAddr> = std::iter::once(listen)
        .chain(server.metrics_listen)
        .filter(|addr| !addr.ip().is_loopback())
        .collect();
    let credentials = server.metrics_token.is_some() || server.metrics_basic_auth.is_some();
    let mut weak = Vec::new();
    if let Some(token) = &server.metrics_token
        && token.expose().chars().count() < MIN_PASSWORD_CHARS
    {
        weak.push("server.metrics_token");
    }
    if let Some((_, password)) = &server.metrics_basic_auth
        && password.expose().chars().count() < MIN_PASSWORD_CHARS
    {
        weak.push("server.metrics_password");
    }
    if !weak.is_empty() {
        findings.push(Finding::fail(
            "security: metrics",
            format!(
                "{} shorter than {MIN_PASSWORD_CHARS} characters: a weak credential",
                weak.join(" and ")
            ),
            "use a long random value, e.g. `openssl rand -hex 32`, in the config and the Prometheus scrape job",
        ));
    } else if !exposed.is_empty() && !credentials {
        let addresses: Vec<String> = exposed.iter().map(|a| a.to_string()).collect();
        findings.push(Finding::warn(
            "security: metrics",
            format!(
                "/metrics is open to anyone who reaches {} (no server.metrics_token)",
                addresses.join(" and ")
            ),
            "set server.metrics_token (or metrics_user and metrics_password) and the same credential in the Prometheus scrape job, or let a firewall admit only Prometheus",
        ));
    }
    findings
}

/// Whether `ip` is an address of this machine: loopback, unspecified, or one a socket can be
/// bound to.
fn is_local(ip: IpAddr) -> bool {
    ip.is_loopback()
        || ip.is_unspecified()
        || std::net::UdpSocket::bind(SocketAddr::new(ip, 0)).is_ok()
}

async fn host_is_local(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return is_local(ip);
    }
    match tokio::time::timeout(TIMEOUT, tokio::net::lookup_host((bare, 0))).await {
        Ok(Ok(mut found)) => found.any(|addr| is_local(addr.ip())),
        _ => false,
    }
}

/// One series of `up`, as Prometheus's query API gives it.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub job: String,
    pub instance: String,
    pub up: bool,
}

/// The series of an `up` query answer (`/api/v1/query`), or why the answer is not one.
pub fn parse_up(body: &[u8]) -> Result<Vec<Target>, String> {
    let answer: serde_json::Value =
        serde_json::from_slice(body).map_err(|_| "the answer is not JSON".to_string())?;
    if answer["status"] != "success" {
        return Err(format!(
            "the query failed: {}",
            answer["error"].as_str().unwrap_or("no reason given")
        ));
    }
    let results = answer["data"]["result"]
        .as_array()
        .ok_or("the answer has no data.result")?;
    Ok(results
        .iter()
        .map(|r| Target {
            job: r["metric"]["job"].as_str().unwrap_or_default().to_string(),
            instance: r["metric"]["instance"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            up: r["value"][1].as_str() == Some("1"),
        })
        .collect())
}

/// Splits "host:port" / "[v6]:port".
fn host_port(instance: &str) -> Option<(&str, u16)> {
    let (host, port) = instance.rsplit_once(':')?;
    Some((host, port.parse().ok()?))
}

/// The ports Prometheus may scrape this Lookout on.
fn our_ports(config: &Config) -> Vec<u16> {
    std::iter::once(config.server.listen)
        .chain(config.server.metrics_listen)
        .map(|a| a.port())
        .collect()
}

/// Asks Prometheus at `base` whether it scrapes this Lookout, and how that went.
pub async fn prometheus(config: &Config, base: &str) -> Finding {
    let base = base.trim_end_matches('/');
    let shown = mask_url(base);
    let tls = TlsSettings::default();
    let answer = match get(&format!("{base}/api/v1/query?query=up"), tls.clone()).await {
        Ok(response) if response.status == 200 => parse_up(&response.body),
        Ok(response) => Err(format!("HTTP {} to /api/v1/query", response.status)),
        Err(error) => Err(error),
    };
    let targets = match answer {
        Ok(targets) => targets,
        Err(error) => {
            return Finding::fail(
                "prometheus",
                format!("cannot ask Prometheus at {shown}: {error}"),
                "give its web address (e.g. --prometheus http://127.0.0.1:9090) and check that it runs (systemctl status prometheus)",
            );
        }
    };
    let ports = our_ports(config);
    let mut ours = Vec::new();
    for target in &targets {
        if let Some((host, port)) = host_port(&target.instance)
            && ports.contains(&port)
            && host_is_local(host).await
        {
            ours.push(target);
        }
    }
    let port_list = ports
        .iter()
        .map(|p| p.to_string())
        .collect::<Vec<_>>()
        .join(" or ");
    if let Some(up) = ours.iter().find(|t| t.up) {
        return Finding::ok(
            "prometheus",
            format!(
                "{shown} scrapes this Lookout: job \"{}\", instance \"{}\", up",
                up.job, up.instance
            ),
        );
    }
    if let Some(down) = ours.first() {
        let reason = last_error(base, &down.instance)
            .await
            .unwrap_or_else(|| "no reason given".into());
        let hint = if reason.contains("401") || reason.contains("403") {
            "/metrics wants credentials: give the scrape job authorization: { credentials: TOKEN } (server.metrics_token) or basic_auth"
        } else {
            "is `lookout serve` running, and can Prometheus reach that address (firewall)? /metrics is served on server.listen and server.metrics_listen"
        };
        return Finding::fail(
            "prometheus",
            format!(
                "{shown} scrapes this Lookout (job \"{}\", instance \"{}\") but the last scrape failed: {reason}",
                down.job, down.instance
            ),
            hint,
        );
    }
    let others: Vec<&str> = targets.iter().map(|t| t.instance.as_str()).collect();
    let listed = if others.is_empty() {
        String::new()
    } else {
        format!(": {}", others.join(", "))
    };
    Finding::fail(
        "prometheus",
        format!(
            "{shown} does not scrape this Lookout (no target on port {port_list} of this host among its {}{listed})",
            plural(targets.len(), "target")
        ),
        format!(
            "add a scrape job for this host's port {port_list} to prometheus.yml (README: Prometheus) and reload Prometheus"
        ),
    )
}

/// The `lastError` Prometheus recorded for the target `instance`.
async fn last_error(base: &str, instance: &str) -> Option<String> {
    let response = get(
        &format!("{base}/api/v1/targets?state=active"),
        TlsSettings::default(),
    )
    .await
    .ok()?;
    let answer: serde_json::Value = serde_json::from_slice(&response.body).ok()?;
    answer["data"]["activeTargets"]
        .as_array()?
        .iter()
        .find(|t| t["labels"]["instance"] == instance)
        .and_then(|t| t["lastError"].as_str())
        .filter(|e| !e.is_empty())
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::from_str;
    use crate::doctor::Level;

    fn config(text: &str) -> Config {
        from_str(text, "t.toml", &|_| None).unwrap()
    }

    #[test]
    fn the_local_url_replaces_unspecified_addresses() {
        let c = config("[server]\nlisten = \"0.0.0.0:9000\"\ninsecure_http = true\n");
        assert_eq!(local_url(&c), "http://127.0.0.1:9000");
        let c = config("[server]\nlisten = \"[::]:9000\"\ninsecure_http = true\n");
        assert_eq!(local_url(&c), "http://[::1]:9000");
        assert_eq!(local_url(&config("")), "http://127.0.0.1:9898");
    }

    #[test]
    fn plain_http_off_loopback_fails_and_open_metrics_warn() {
        let statuses = |text: &str| -> Vec<(String, Level)> {
            listen_security(&config(text))
                .into_iter()
                .map(|f| (f.item, f.status))
                .collect()
        };
        assert_eq!(statuses(""), [("security: listen".to_string(), Level::Ok)]);
        assert_eq!(
            statuses("[server]\nlisten = \"0.0.0.0:9000\"\ninsecure_http = true\n"),
            [
                ("security: listen".to_string(), Level::Fail),
                ("security: metrics".to_string(), Level::Warn)
            ]
        );
        assert_eq!(
            statuses(
                "[server]\nlisten = \"0.0.0.0:9000\"\ninsecure_http = true\nmetrics_token = \"0123456789abcdef\"\n"
            ),
            [("security: listen".to_string(), Level::Fail)]
        );
        assert_eq!(
            statuses("[server]\nmetrics_listen = \"0.0.0.0:9100\"\nmetrics_token = \"short\"\n"),
            [
                ("security: listen".to_string(), Level::Ok),
                ("security: metrics".to_string(), Level::Fail)
            ]
        );
    }

    #[test]
    fn up_answers_are_read() {
        let body = br#"{"status":"success","data":{"resultType":"vector","result":[
            {"metric":{"__name__":"up","instance":"127.0.0.1:9898","job":"lookout"},"value":[1700000000.1,"1"]},
            {"metric":{"__name__":"up","instance":"db:9187","job":"pg"},"value":[1700000000.1,"0"]}]}}"#;
        assert_eq!(
            parse_up(body).unwrap(),
            [
                Target {
                    job: "lookout".into(),
                    instance: "127.0.0.1:9898".into(),
                    up: true
                },
                Target {
                    job: "pg".into(),
                    instance: "db:9187".into(),
                    up: false
                }
            ]
        );
        assert_eq!(
            parse_up(br#"{"status":"error","error":"parse error"}"#),
            Err("the query failed: parse error".to_string())
        );
        assert_eq!(host_port("[::1]:9898"), Some(("[::1]", 9898)));
    }

    #[test]
    fn local_addresses_are_recognised() {
        assert!(is_local("127.0.0.1".parse().unwrap()));
        assert!(is_local("::1".parse().unwrap()));
        // TEST-NET-3: never assigned to a machine.
        assert!(!is_local("203.0.113.7".parse().unwrap()));
    }
}
