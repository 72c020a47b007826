//! Watching the watcher: `[heartbeat]` (a dead-man ping to a service such as Healthchecks.io,
//! sent only while Lookout's own pipeline is alive) and `[alerts.connectivity]` (canary checks
//! whose failing together means Lookout itself lost the network). The Watchdog and the
//! self-metric rules are built-in rules (`alerts.rs`). Every key is documented, with its
//! default, in `watch_template.toml` (part of `config init`).
//!
//! ```toml
//! [heartbeat]
//! url = "https://hc-ping.com/${HC_UUID}"
//! fail_url = "https://hc-ping.com/${HC_UUID}/fail"
//! interval = "1m"
//!
//! [alerts.connectivity]
//! canaries = ["gateway", "resolver"]
//! ```
//!
//! Read after `[[check]]` (the canaries are check names).

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Duration;

use toml::de::DeValue;

use super::checks::{CheckConfig, CheckKind};
use crate::base::schema::{Kind, Reader, Table, text_kind};
use crate::base::schema::{duration_setting, not_longer, positive, string_setting, unknown_name};
use crate::base::schema::{header_map, optional_http_url, optional_string, or_list, string_list};
use crate::base::secret::Secret;

/// The commented examples of `config init`: every key of `[heartbeat]` and
/// `[alerts.connectivity]`, with its default.
pub const TEMPLATE: &str = include_str!("watch_template.toml");

/// `[heartbeat]`: an outbound request every `interval` while Lookout is healthy, so that a
/// dead-man service notices when it stops.
#[derive(Debug, Clone, PartialEq)]
pub struct HeartbeatConfig {
    /// `url` (required): pinged while healthy; shown only as scheme://host:port.
    pub url: Secret,
    /// `fail_url`: pinged instead while Lookout sees itself failing (Healthchecks' `/fail`);
    /// without it, nothing is sent then and the service's grace runs out.
    pub fail_url: Option<Secret>,
    /// `interval` (default 1m).
    pub interval: Duration,
    /// `timeout` (default 10s, at most the interval).
    pub timeout: Duration,
    /// `method` (default "GET"): GET, HEAD, POST or PUT.
    pub method: String,
    /// `headers`: sent as written; values never print.
    pub headers: Vec<(String, Secret)>,
    /// `bearer_token`: sent as `Authorization: Bearer <token>`.
    pub bearer_token: Option<Secret>,
    /// `body`: sent with POST or PUT pings (a fail ping sends the reason instead).
    pub body: Option<String>,
    /// `ca_file`: PEM file of extra CA certificates, for a private ping service.
    pub ca_file: Option<PathBuf>,
}

pub const HEARTBEAT_METHODS: &[&str] = &["GET", "HEAD", "POST", "PUT"];
const PING_URL_EXAMPLE: &str = "https://hc-ping.com/<uuid>";
const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(60);
const HEARTBEAT_TIMEOUT: Duration = Duration::from_secs(10);
/// Headers the heartbeat sets itself (or that `bearer_token` is for).
const HEARTBEAT_RESERVED_HEADERS: &[&str] = &["host", "content-length"];

/// `[alerts.connectivity]`: when every canary fails at once, Lookout has lost the network.
/// One "monitoring connectivity lost" alert goes out instead of one per check, and the alerts
/// of the `held` checks are held until connectivity is back and `grace` has passed.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectivityConfig {
    /// `canaries` (required): checks of targets outside this host that are expected to be up
    /// (the gateway, a public resolver). Each is a network check.
    pub canaries: Vec<String>,
    /// `checks`: whose alerts are held; default every enabled network check (all types but
    /// `log` and `sqlite`, which read local files). The canaries always are.
    pub held: Vec<String>,
    /// `grace`: after connectivity returns, held alerts stay held this long so their checks
    /// can run again; only those still firing then are told. Default: long enough for the
    /// slowest held check to run `recover_after + 1` times.
    pub grace: Duration,
}

/// The check result the alert engine derives from the canaries (the `connectivity_lost` rule
/// watches it): critical while every canary fails.
pub const CONNECTIVITY_CHECK: &str = "lookout:connectivity";
/// The check result of the self probe (`daemon::own`): Lookout's own health.
pub const SELF_CHECK: &str = "lookout:self";
/// The self probe's check of the store: critical while it cannot write (`store_unwritable`).
pub const STORE_CHECK: &str = "lookout:store";
/// The self probe's series (the exporter adds `lookout_`).
pub const SELF_SCHEDULE_LATE: &str = "self_schedule_late_ratio";
pub const SELF_STORE_ERRORS: &str = "self_store_errors_per_minute";
pub const SELF_OUTBOX_PENDING: &str = "self_outbox_pending";
pub const SELF_OUTBOX_OLDEST: &str = "self_outbox_oldest_seconds";

/// `[heartbeat]`, if written.
pub(in crate::config) fn read_heartbeat(
    r: &mut Reader<'_>,
    root: &Table<'_, '_>,
) -> Option<HeartbeatConfig> {
    let table = r.table(root, "heartbeat");
    if !table.is_present() {
        return None;
    }
    let url = optional_http_url(r, &table, "url", PING_URL_EXAMPLE);
    r.require(&table, "url");
    if url.is_none() && r.item(&table, "url").is_none() {
        r.problem(
            table.span.as_ref(),
            &format!("{}.url", table.path),
            "missing; the heartbeat needs the URL to ping, like url = \"https://hc-ping.com/${HC_UUID}\"",
        );
    }
    let fail_url = optional_http_url(r, &table, "fail_url", PING_URL_EXAMPLE);
    let interval = duration_setting(r, &table, "interval", HEARTBEAT_INTERVAL, positive);
    let timeout = duration_setting(r, &table, "timeout", HEARTBEAT_TIMEOUT, positive);
    not_longer(r, &timeout, &interval, "expected timeout <= interval");
    let method = string_setting(
        r,
        &table,
        "method",
        "GET".to_string(),
        "a method string",
        |text| {
            let method = text.value.trim().to_ascii_uppercase();
            if HEARTBEAT_METHODS.contains(&method.as_str()) {
                Ok(method)
            } else {
                Err(format!(
                    "{} is not a heartbeat method; expected \"GET\", \"HEAD\", \"POST\" or \"PUT\"",
                    text.quoted()
                ))
            }
        },
    );
    let headers = header_map(r, &table, "headers", HEARTBEAT_RESERVED_HEADERS);
    let token = text_kind("a bearer token");
    let bearer_token = r.item_of(&table, "bearer_token", token).and_then(|item| {
        let text = r.text(&item, "a string")?;
        // A token: the message names the problem, never the value.
        if text.value.trim().is_empty() {
            r.problem(Some(&item.span), &item.path, "must not be empty");
            None
        } else if hyper::header::HeaderValue::from_str(&format!("Bearer {}", text.value)).is_err() {
            r.problem(
                Some(&item.span),
                &item.path,
                "cannot be sent in a header (control characters or non-ASCII)",
            );
            None
        } else {
            if headers
                .iter()
                .any(|(name, _)| name.eq_ignore_ascii_case("authorization"))
            {
                r.problem(
                    Some(&item.span),
                    &item.path,
                    "is set and so is headers.Authorization; keep one of them",
                );
            }
            Some(Secret::new(text.value))
        }
    });
    let body_kind = text_kind("a request body (POST or PUT)");
    let body = r.item_of(&table, "body", body_kind).and_then(|item| {
        let text = r.text(&item, "a string")?;
        if method.valid && !matches!(method.value.as_str(), "POST" | "PUT") {
            r.problem(
                Some(&item.span),
                &item.path,
                format!(
                    "a body is sent only with POST or PUT, and the method is {:?}; set method = \"POST\"",
                    method.value
                ),
            );
        }
        Some(text.value)
    });
    let ca_file = optional_string(r, &table, "ca_file").map(PathBuf::from);
    Some(HeartbeatConfig {
        url: url.unwrap_or_else(|| Secret::new("")),
        fail_url,
        interval: interval.value,
        timeout: timeout.value,
        method: method.value,
        headers,
        bearer_token,
        body,
        ca_file,
    })
}

/// `[alerts.connectivity]`, if written. `checks` are the `[[check]]`s read before.
pub(in crate::config) fn read_connectivity(
    r: &mut Reader<'_>,
    root: &Table<'_, '_>,
    checks: &[CheckConfig],
) -> Option<ConnectivityConfig> {
    // `[alerts]` of the wrong type is reported by its own reader.
    if !matches!(
        r.item(root, "alerts").map(|i| i.value),
        Some(DeValue::Table(_))
    ) {
        return None;
    }
    let alerts = r.table(root, "alerts");
    let table = r.table(&alerts, "connectivity");
    if !table.is_present() {
        return None;
    }
    let known: Vec<&str> = checks.iter().map(|c| c.name.as_str()).collect();
    let network_types: Vec<&str> = CheckKind::type_names()
        .into_iter()
        .filter(|t| CheckKind::is_network_type(t))
        .collect();
    let is_network = |check: &CheckConfig| check.kind.is_network();
    let names = |r: &mut Reader<'_>, key: &'static str, canary: bool| {
        let mut out: Vec<String> = Vec::new();
        for (name, span, path) in string_list(r, &table, key) {
            let name = name.trim().to_string();
            let Some(check) = checks.iter().find(|c| c.name == name) else {
                r.problem(span.as_ref(), &path, unknown_name(&name, "check", &known));
                continue;
            };
            if out.contains(&name) {
                r.problem(span.as_ref(), &path, format!("{name:?} is listed twice"));
            } else if canary && !is_network(check) {
                r.problem(
                    span.as_ref(),
                    &path,
                    format!(
                        "{name:?} is a {} check, which reads a local file; a canary must reach over the network: \
                         a check of type {}",
                        check.kind.type_name(),
                        or_list(&network_types)
                    ),
                );
            } else if canary && !check.enabled {
                r.problem(
                    span.as_ref(),
                    &path,
                    format!("{name:?} is disabled (enabled = false), so it never reports; enable it or pick another canary"),
                );
            } else {
                out.push(name);
            }
        }
        out
    };
    let canaries = names(r, "canaries", true);
    if r.item(&table, "canaries").is_none() {
        r.problem(
            table.span.as_ref(),
            &format!("{}.canaries", table.path),
            "missing; name the checks whose failing together means Lookout lost the network, \
             like canaries = [\"gateway\", \"resolver\"]",
        );
    }
    let held_kind = Kind::Texts {
        form: "a [[check]] name".to_string(),
    };
    let held = if r.item_of(&table, "checks", held_kind).is_some() {
        let mut held = names(r, "checks", false);
        for canary in &canaries {
            if !held.contains(canary) {
                held.push(canary.clone());
            }
        }
        held
    } else {
        checks
            .iter()
            .filter(|c| c.enabled && is_network(c))
            .map(|c| c.name.clone())
            .collect()
    };
    let held_set: HashSet<&str> = held.iter().map(String::as_str).collect();
    let default_grace = checks
        .iter()
        .filter(|c| held_set.contains(c.name.as_str()))
        .map(|c| c.interval * (c.recover_after + 1))
        .max()
        .unwrap_or(Duration::from_secs(60));
    let grace = duration_setting(r, &table, "grace", default_grace, |_| None);
    Some(ConnectivityConfig {
        canaries,
        held,
        grace: grace.value,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::config::from_str;
    use crate::config::test_support::errors;

    const CHECKS: &str = "[[check]]\nname = \"gw\"\ntype = \"tcp\"\naddress = \"10.0.0.1:53\"\ninterval = \"10s\"\n\
        [[check]]\nname = \"dns\"\ntype = \"tcp\"\naddress = \"9.9.9.9:53\"\ninterval = \"10s\"\n\
        [[check]]\nname = \"app\"\ntype = \"http\"\nurl = \"http://10.0.0.5/health\"\ninterval = \"1m\"\n\
        [[check]]\nname = \"applog\"\ntype = \"log\"\npath = \"/var/log/app.log\"\n\
        [[check.pattern]]\nname = \"e\"\nregex = \"ERROR\"\n";

    fn parse(text: &str) -> crate::config::Config {
        let env = |name: &str| (name == "HC").then(|| "abc-123".to_string());
        from_str(text, "lookout.toml", &env).unwrap_or_else(|e| panic!("{e}\n{text}"))
    }

    #[test]
    fn no_sections_means_no_heartbeat_and_no_gate() {
        let config = parse("");
        assert_eq!(config.heartbeat, None);
        assert_eq!(config.alerts.connectivity, None);
    }

    #[test]
    fn heartbeat_defaults_and_settings() {
        let config = parse("[heartbeat]\nurl = \"https://hc-ping.com/${HC}\"\n");
        let heartbeat = config.heartbeat.unwrap();
        assert_eq!(heartbeat.url.expose(), "https://hc-ping.com/abc-123");
        assert_eq!(
            (
                heartbeat.interval,
                heartbeat.timeout,
                heartbeat.method.as_str()
            ),
            (Duration::from_secs(60), Duration::from_secs(10), "GET")
        );
        assert_eq!(heartbeat.fail_url, None);
        let config = parse(
            "[heartbeat]\nurl = \"https://hc.example.org/ping/1\"\nfail_url = \"https://hc.example.org/ping/1/fail\"\n\
             interval = \"30s\"\ntimeout = \"5s\"\nmethod = \"post\"\nbearer_token = \"${HC}\"\nbody = \"alive\"\n\
             headers = { X-Source = \"lookout\" }\nca_file = \"/etc/ca.pem\"\n",
        );
        let heartbeat = config.heartbeat.unwrap();
        assert_eq!(heartbeat.method, "POST");
        assert_eq!(heartbeat.bearer_token.unwrap().expose(), "abc-123");
        assert_eq!(heartbeat.body.as_deref(), Some("alive"));
        assert_eq!(heartbeat.headers.len(), 1);
        assert_eq!(
            heartbeat.fail_url.unwrap().expose(),
            "https://hc.example.org/ping/1/fail"
        );
        assert_eq!(format!("{:?}", heartbeat.url), "***");
    }

    #[test]
    fn heartbeat_errors_name_the_key_and_never_the_url() {
        let text = "[heartbeat]\nurl = \"ftp://secret-uuid@host/x\"\ninterval = \"10s\"\ntimeout = \"20s\"\n\
                    method = \"PATCH\"\nbearer_token = \"\"\n";
        let shown = errors(text);
        assert!(!shown.contains("secret-uuid"), "{shown}");
        for expected in [
            "lookout.toml:2:7: heartbeat.url: is not an http(s) URL; expected http:// or https:// and a host",
            "lookout.toml:3:12: heartbeat.interval: \"10s\" is shorter than timeout (\"20s\"); expected timeout <= interval",
            "lookout.toml:5:10: heartbeat.method: \"PATCH\" is not a heartbeat method; expected \"GET\", \"HEAD\", \"POST\" or \"PUT\"",
            "lookout.toml:6:16: heartbeat.bearer_token: must not be empty",
        ] {
            assert!(
                shown.contains(expected),
                "missing {expected:?} in:\n{shown}"
            );
        }
        assert!(
            errors("[heartbeat]\nurl = \"https://x.org/1\"\nbody = \"x\"\n").contains(
                "lookout.toml:3:8: heartbeat.body: a body is sent only with POST or PUT, and the method is \"GET\"; set method = \"POST\""
            )
        );
        assert!(errors("[heartbeat]\ninterval = \"1m\"\n").contains(
            "lookout.toml:1:1: heartbeat.url: missing; the heartbeat needs the URL to ping"
        ));
        assert!(
            errors("[heartbeat]\nurl = \"https://x.org/1\"\nbearer_token = \"t\"\nheaders = { authorization = \"Bearer u\" }\n")
                .contains("heartbeat.bearer_token: is set and so is headers.Authorization; keep one of them")
        );
        assert!(
            errors("[heartbeat]\nurl = \"https://x.org/1\"\nsecret = 1\n")
                .contains("heartbeat.secret")
        );
    }

    #[test]
    fn connectivity_defaults_hold_every_network_check() {
        let config = parse(&format!(
            "{CHECKS}[alerts.connectivity]\ncanaries = [\"gw\", \"dns\"]\n"
        ));
        let gate = config.alerts.connectivity.unwrap();
        assert_eq!(gate.canaries, ["gw", "dns"]);
        assert_eq!(
            gate.held
                .iter()
                .map(String::as_str)
                .collect::<BTreeSet<_>>(),
            BTreeSet::from(["gw", "dns", "app"]),
            "the log check reads a local file: not held"
        );
        assert_eq!(
            gate.grace,
            Duration::from_secs(180),
            "app: 1m interval, recover_after 2: three runs"
        );
        let config = parse(&format!(
            "{CHECKS}[alerts.connectivity]\ncanaries = [\"gw\"]\nchecks = [\"app\", \"applog\"]\ngrace = \"45s\"\n"
        ));
        let gate = config.alerts.connectivity.unwrap();
        assert_eq!(
            gate.held,
            ["app", "applog", "gw"],
            "canaries are always held"
        );
        assert_eq!(gate.grace, Duration::from_secs(45));
    }

    #[test]
    fn connectivity_errors() {
        let shown = errors(&format!(
            "{CHECKS}[alerts.connectivity]\ncanaries = [\"gw\", \"applog\", \"nope\", \"gw\"]\nchecks = [\"nix\"]\ngrace = \"soon\"\n"
        ));
        for expected in [
            "alerts.connectivity.canaries[1]: \"applog\" is a log check, which reads a local file; a canary must reach over the network",
            "alerts.connectivity.canaries[2]: \"nope\" is not the name of any check; expected one of \"gw\", \"dns\", \"app\", \"applog\"",
            "alerts.connectivity.canaries[3]: \"gw\" is listed twice",
            "alerts.connectivity.checks[0]: \"nix\" is not the name of any check",
            "alerts.connectivity.grace: \"soon\" is not a duration",
        ] {
            assert!(
                shown.contains(expected),
                "missing {expected:?} in:\n{shown}"
            );
        }
        assert!(
            errors(&format!("{CHECKS}[alerts.connectivity]\ngrace = \"1m\"\n"))
                .contains("alerts.connectivity.canaries: missing; name the checks")
        );
        assert!(
            errors("[alerts.connectivity]\ncanary = [\"x\"]\n")
                .contains("alerts.connectivity.canary")
        );
    }

    #[test]
    fn the_watchdog_must_name_its_notifiers() {
        let shown = errors("[[alerts.rule]]\nname = \"Watchdog\"\nenabled = true\n");
        assert!(
            shown.contains(
                "lookout.toml:3:11: alerts.rule \"Watchdog\".enabled: the Watchdog fires all the time, so it must name where it goes, like notifiers = [\"am\"]"
            ),
            "{shown}"
        );
        let config = parse(
            "[[alerts.rule]]\nname = \"Watchdog\"\nenabled = true\nnotifiers = [\"am\"]\n\
             [[notifier]]\nname = \"am\"\ntype = \"alertmanager\"\nurls = [\"http://127.0.0.1:9093\"]\n",
        );
        let watchdog = config
            .alerts
            .rules
            .iter()
            .find(|r| r.name == "Watchdog")
            .unwrap();
        assert!(watchdog.enabled && watchdog.notifiers == ["am"]);
        assert!(
            errors("[[alerts.rule]]\nname = \"Watchdog\"\nmetric = 'cpu_usage_ratio'\nnotifiers = []\n")
                .contains("the built-in \"Watchdog\" is a watchdog rule; an override may change its matchers, not its kind")
        );
    }

    // ---- The template of `config init`.

    /// The fragment with its example blocks uncommented (from a "# [" line to a bare "#").
    fn uncommented() -> String {
        crate::config::test_support::uncomment(TEMPLATE, |line| line.starts_with("# ["))
    }

    #[test]
    fn every_template_example_uncommented_is_valid() {
        let text = format!("{CHECKS}{}", uncommented());
        let env = |_: &str| Some("x".to_string());
        let config = from_str(&text, "uncommented", &env).unwrap_or_else(|e| panic!("{e}\n{text}"));
        let heartbeat = config.heartbeat.expect("the heartbeat example");
        assert!(heartbeat.fail_url.is_some() && heartbeat.bearer_token.is_some());
        assert!(config.alerts.connectivity.is_some());
    }
}
