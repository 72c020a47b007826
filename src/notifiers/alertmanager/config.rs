//! Keys of `type = "alertmanager"`: `urls` (every member of the cluster, base URLs),
//! `basic_auth_user` and `basic_auth_password` or `headers`, `timeout`, `resend_interval` and
//! `ca_file`.

use std::path::PathBuf;
use std::time::Duration;

use toml::de::DeValue;

use super::super::DEFAULT_TIMEOUT;
use crate::base::schema::{Reader, Table};
use crate::base::schema::{check_http_url, duration_setting, header_map, optional_string};
use crate::base::schema::{positive, string_list};
use crate::base::secret::Secret;

/// How often an Alertmanager is told again about the alerts still firing: well within its
/// `resolve_timeout` (5m by default), past which it resolves an alert nobody re-posted.
pub const DEFAULT_RESEND_INTERVAL: Duration = Duration::from_secs(60);

/// Prometheus Alertmanager (API v2).
#[derive(Debug, Clone, PartialEq)]
pub struct AlertmanagerConfig {
    /// `urls`: the base URL of every member of the Alertmanager cluster, http:// or https://,
    /// with the path prefix it is served under, if any (`--web.route-prefix`). Each member
    /// gets every alert, as Prometheus does it: members share notifications, not alerts.
    /// They hold no credentials (refused there: see `basic_auth_*`), so they can be shown.
    pub urls: Vec<String>,
    /// `headers = { Authorization = "Bearer ${TOKEN}" }`: sent as written, values never shown.
    pub headers: Vec<(String, Secret)>,
    /// `basic_auth_user` and `basic_auth_password`: HTTP basic authentication; none by default.
    pub basic_auth_user: Option<String>,
    pub basic_auth_password: Option<Secret>,
    /// `timeout`: the longest one POST to one member may take, answer included (default 10s).
    pub timeout: Duration,
    /// `resend_interval`: how often the alerts still firing are posted again (default 1m).
    pub resend_interval: Duration,
    /// `ca_file`: PEM of extra CAs trusted besides the public roots.
    pub ca_file: Option<PathBuf>,
}

/// Headers the Alertmanager notifier sets itself.
const ALERTMANAGER_RESERVED_HEADERS: &[&str] = &["content-type", "content-length", "host"];

/// The path every member answers alerts on; `urls` name the base, without it.
pub const ALERTMANAGER_ALERTS_PATH: &str = "/api/v2/alerts";

/// What is wrong with an Alertmanager base URL, if anything. Names the problem without
/// quoting the URL (it may come from a variable).
pub fn check_alertmanager_url(url: &str) -> Result<(), String> {
    const EXAMPLE: &str = "http://127.0.0.1:9093";
    check_http_url(url, EXAMPLE)?;
    let rest = url.trim().split_once("://").map_or("", |(_, rest)| rest);
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    if authority.contains('@') {
        return Err(
            "must not hold credentials; set basic_auth_user and basic_auth_password instead"
                .to_string(),
        );
    }
    if rest.contains(['?', '#']) {
        return Err(format!(
            "must have no query or fragment; expected the base URL, like {EXAMPLE:?}"
        ));
    }
    if rest
        .trim_end_matches('/')
        .ends_with(ALERTMANAGER_ALERTS_PATH)
    {
        return Err(format!(
            "must be the base URL, without {ALERTMANAGER_ALERTS_PATH} (Lookout adds it), like {EXAMPLE:?}"
        ));
    }
    Ok(())
}

pub(super) fn read_alertmanager(r: &mut Reader<'_>, table: &Table<'_, '_>) -> AlertmanagerConfig {
    let mut urls: Vec<String> = Vec::new();
    for (url, span, path) in string_list(r, table, "urls") {
        let url = url.trim().to_string();
        if let Err(why) = check_alertmanager_url(&url) {
            r.problem(span.as_ref(), &path, why);
        } else if urls
            .iter()
            .any(|u| u.trim_end_matches('/') == url.trim_end_matches('/'))
        {
            r.problem(
                span.as_ref(),
                &path,
                "is listed twice; each member once is enough",
            );
        } else {
            urls.push(url);
        }
    }
    match r.item(table, "urls") {
        None => r.problem(
            table.span.as_ref(),
            &format!("{}.urls", table.path),
            "missing; this notifier type needs it, like urls = [\"http://127.0.0.1:9093\"]",
        ),
        // Bad elements and a value of another type are reported above.
        Some(item) if matches!(item.value, DeValue::Array(list) if list.is_empty()) => r.problem(
            Some(&item.span),
            &item.path,
            "must list at least one Alertmanager, like urls = [\"http://127.0.0.1:9093\"]",
        ),
        Some(_) => {}
    }
    let basic_auth_user = optional_string(r, table, "basic_auth_user");
    let basic_auth_password = optional_string(r, table, "basic_auth_password").map(Secret::new);
    if basic_auth_password.is_some() && basic_auth_user.is_none() {
        r.problem(
            table.span.as_ref(),
            &format!("{}.basic_auth_user", table.path),
            "missing; a basic_auth_password needs the user it belongs to",
        );
    }
    let headers = header_map(r, table, "headers", ALERTMANAGER_RESERVED_HEADERS);
    if basic_auth_user.is_some()
        && let Some((name, _)) = headers
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case("authorization"))
    {
        r.problem(
            table.span.as_ref(),
            &format!("{}.headers.{name}", table.path),
            "conflicts with basic_auth_user; authenticate one way or the other",
        );
    }
    let timeout = duration_setting(r, table, "timeout", DEFAULT_TIMEOUT, positive);
    let resend_interval = duration_setting(
        r,
        table,
        "resend_interval",
        DEFAULT_RESEND_INTERVAL,
        positive,
    );
    let ca_file = optional_string(r, table, "ca_file").map(PathBuf::from);
    AlertmanagerConfig {
        urls,
        headers,
        basic_auth_user,
        basic_auth_password,
        timeout: timeout.value,
        resend_interval: resend_interval.value,
        ca_file,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notifiers::NotifierKind;
    use crate::notifiers::testing::{errors, read};

    fn notifiers(text: &str) -> Vec<NotifierKind> {
        read(text, &|_| None)
    }

    #[test]
    fn reads_an_alertmanager_with_defaults_and_every_key() {
        let [am] = notifiers(
            "[[notifier]]\nname = \"am\"\ntype = \"alertmanager\"\nurls = [\"http://127.0.0.1:9093\"]\n",
        )
        .try_into()
        .unwrap();
        let NotifierKind::Alertmanager(config) = am else {
            panic!("alertmanager expected")
        };
        assert_eq!(
            config,
            AlertmanagerConfig {
                urls: vec!["http://127.0.0.1:9093".to_string()],
                headers: Vec::new(),
                basic_auth_user: None,
                basic_auth_password: None,
                timeout: DEFAULT_TIMEOUT,
                resend_interval: Duration::from_secs(60),
                ca_file: None,
            }
        );

        let env = |name: &str| Some(format!("v-{name}"));
        let [am] = read(
            "[[notifier]]\nname = \"am\"\ntype = \"alertmanager\"\n\
             urls = [\"http://am1:9093\", \"https://am2.example.org/alertmanager/\"]\n\
             basic_auth_user = \"lookout\"\nbasic_auth_password = \"${AM_PASSWORD}\"\n\
             headers = { X-Scope-OrgID = \"ops\" }\ntimeout = \"3s\"\nresend_interval = \"30s\"\n\
             ca_file = \"/etc/ca.pem\"\n",
            &env,
        )
        .try_into()
        .unwrap();
        assert!(!format!("{am:?}").contains("v-AM_PASSWORD"));
        let NotifierKind::Alertmanager(config) = am else {
            panic!("alertmanager expected")
        };
        assert_eq!(
            config.urls,
            ["http://am1:9093", "https://am2.example.org/alertmanager/"]
        );
        assert_eq!(config.basic_auth_user.as_deref(), Some("lookout"));
        assert_eq!(
            config.basic_auth_password.as_ref().map(Secret::expose),
            Some("v-AM_PASSWORD")
        );
        assert_eq!(config.headers[0].0, "X-Scope-OrgID");
        assert_eq!(
            (config.timeout, config.resend_interval),
            (Duration::from_secs(3), Duration::from_secs(30))
        );
        assert_eq!(config.ca_file, Some(PathBuf::from("/etc/ca.pem")));
    }

    #[test]
    fn alertmanager_problems_are_reported_with_positions() {
        assert_eq!(
            errors("[[notifier]]\nname = \"am\"\ntype = \"alertmanager\"\n"),
            "lookout.toml:1:1: notifier \"am\".urls: missing; this notifier type needs it, like urls = [\"http://127.0.0.1:9093\"]"
        );
        assert_eq!(
            errors("[[notifier]]\nname = \"am\"\ntype = \"alertmanager\"\nurls = []\n"),
            "lookout.toml:4:8: notifier \"am\".urls: must list at least one Alertmanager, like urls = [\"http://127.0.0.1:9093\"]"
        );
        assert_eq!(
            errors(
                "[[notifier]]\nname = \"am\"\ntype = \"alertmanager\"\nurls = \"http://am:9093\"\n"
            ),
            "lookout.toml:4:8: notifier \"am\".urls: expected an array of strings, found a string"
        );
        let shown = errors(
            "[[notifier]]\nname = \"am\"\ntype = \"alertmanager\"\n\
             urls = [\"am:9093\", \"http://u:s3cret@am:9093\", \"http://am:9093/api/v2/alerts\",\n\
             \"http://am:9093?x=1\", \"http://ok:9093\", \"http://ok:9093/\"]\n\
             basic_auth_password = \"pw\"\nheaders = { Host = \"x\" }\n\
             timeout = \"0s\"\nresend_interval = \"soon\"\n\n\
             [[notifier]]\nname = \"am2\"\ntype = \"alertmanager\"\nurls = [\"http://am:9093\"]\n\
             basic_auth_user = \"u\"\nheaders = { authorization = \"Bearer x\" }\nresend_interval = \"0s\"\n",
        );
        assert!(!shown.contains("s3cret"), "{shown}");
        assert_eq!(
            shown,
            "lookout.toml:1:1: notifier \"am\".basic_auth_user: missing; a basic_auth_password needs the user it belongs to\n\
             lookout.toml:4:9: notifier \"am\".urls[0]: is not an http(s) URL; expected http:// or https:// and a host, like \"http://127.0.0.1:9093\"\n\
             lookout.toml:4:20: notifier \"am\".urls[1]: must not hold credentials; set basic_auth_user and basic_auth_password instead\n\
             lookout.toml:4:47: notifier \"am\".urls[2]: must be the base URL, without /api/v2/alerts (Lookout adds it), like \"http://127.0.0.1:9093\"\n\
             lookout.toml:5:1: notifier \"am\".urls[3]: must have no query or fragment; expected the base URL, like \"http://127.0.0.1:9093\"\n\
             lookout.toml:5:41: notifier \"am\".urls[5]: is listed twice; each member once is enough\n\
             lookout.toml:7:20: notifier \"am\".headers.Host: is set by Lookout itself and cannot be configured\n\
             lookout.toml:8:11: notifier \"am\".timeout: \"0s\" must be greater than zero\n\
             lookout.toml:9:19: notifier \"am\".resend_interval: \"soon\" is not a duration; expected a number and a unit, like \"500ms\", \"10s\", \"5m\", \"1h\" or \"7d\"\n\
             lookout.toml:11:1: notifier \"am2\".headers.authorization: conflicts with basic_auth_user; authenticate one way or the other\n\
             lookout.toml:17:19: notifier \"am2\".resend_interval: \"0s\" must be greater than zero"
        );
    }
}
