//! `[[notifier]]`: where notifications go. A closed enum of types, like checks: the keys every
//! notifier has (`name`, `type`), then one reader per type (`email`, `webhook`,
//! `alertmanager`). Every key is
//! documented, with its default, in `notifiers_template.toml` (part of `config init`).
//!
//! ```toml
//! [[notifier]]
//! name = "ops-mail"
//! type = "email"
//! smtp = "smtp+starttls://mail.example.org"   # smtp:// (plain), smtp+starttls://, smtps://
//! username = "lookout@example.org"
//! password = "${SMTP_PASSWORD}"
//! from = "lookout@example.org"
//! to = ["ops@example.org"]
//! to_critical = ["oncall@example.org"]         # in addition to `to`
//!
//! [[notifier]]
//! name = "chat"
//! type = "webhook"
//! url = "https://hooks.slack.com/services/${SLACK_HOOK}"
//! format = "slack"
//!
//! [[notifier]]
//! name = "am"
//! type = "alertmanager"
//! urls = ["http://127.0.0.1:9093"]               # every member of the cluster
//! ```

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Duration;

use toml::de::DeValue;

use crate::base::schema::{Reader, Table};
use crate::base::schema::{check_http_url, header_map, optional_string, string_list};
use crate::base::schema::{closed_type, duration_setting, positive, string_setting, unique_name};
use crate::base::secret::Secret;
use crate::model::Severity;

/// The commented examples of `config init`: one block per type with every key.
pub const TEMPLATE: &str = include_str!("notifiers_template.toml");

#[derive(Debug, Clone, PartialEq)]
pub struct NotifierConfig {
    /// `name`: unique; what `[[alerts.rule]] notifiers` and the outbox refer to.
    pub name: String,
    pub kind: NotifierKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum NotifierKind {
    Email(EmailConfig),
    Webhook(WebhookConfig),
    Alertmanager(AlertmanagerConfig),
}

impl NotifierKind {
    pub fn type_name(&self) -> &'static str {
        match self {
            NotifierKind::Email(_) => "email",
            NotifierKind::Webhook(_) => "webhook",
            NotifierKind::Alertmanager(_) => "alertmanager",
        }
    }
}

pub const NOTIFIER_TYPES: &[&str] = &["email", "webhook", "alertmanager"];

pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// How often an Alertmanager is told again about the alerts still firing: well within its
/// `resolve_timeout` (5m by default), past which it resolves an alert nobody re-posted.
pub const DEFAULT_RESEND_INTERVAL: Duration = Duration::from_secs(60);

/// How the SMTP connection is protected, by the scheme of `smtp`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// `smtp://`: no TLS at all; for a relay on the same machine or network.
    Plain,
    /// `smtp+starttls://`: STARTTLS, required (a server that does not offer it is an error,
    /// never a silent fall back to plain text).
    StartTls,
    /// `smtps://`: TLS from the first byte (implicit TLS).
    Tls,
}

impl SmtpSecurity {
    pub fn default_port(self) -> u16 {
        match self {
            SmtpSecurity::Plain => 25,
            SmtpSecurity::StartTls => 587,
            SmtpSecurity::Tls => 465,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct EmailConfig {
    /// `smtp`: the URL as written (it holds no credentials: those are refused there).
    pub smtp: String,
    pub security: SmtpSecurity,
    pub host: String,
    /// The URL's port, or 25 / 587 / 465 by scheme.
    pub port: u16,
    /// `username` and `password`: SMTP AUTH (PLAIN or LOGIN); none by default.
    pub username: Option<String>,
    pub password: Option<Secret>,
    /// `from`: the sender address.
    pub from: String,
    /// `to`: who gets every message (at least one address).
    pub to: Vec<String>,
    /// `to_critical`, `to_warning`, `to_info`: who gets a message *in addition to* `to` when
    /// the message's worst severity is that one (extra, not replacement: so a misconfigured
    /// severity list can never leave a critical alert with no reader).
    pub to_critical: Vec<String>,
    pub to_warning: Vec<String>,
    pub to_info: Vec<String>,
    /// `timeout`: the longest one delivery (connect, TLS, AUTH, DATA) may take (default 10s).
    pub timeout: Duration,
    /// `ca_file`: PEM of extra CAs trusted besides the public roots (a private relay).
    pub ca_file: Option<PathBuf>,
}

impl EmailConfig {
    /// Every recipient of a message whose worst severity is `severity`, without duplicates,
    /// `to` first.
    pub fn recipients(&self, severity: Severity) -> Vec<String> {
        let extra = match severity {
            Severity::Critical => &self.to_critical,
            Severity::Warning => &self.to_warning,
            Severity::Info => &self.to_info,
        };
        let mut seen = HashSet::new();
        self.to
            .iter()
            .chain(extra)
            .filter(|address| seen.insert(address.to_ascii_lowercase()))
            .cloned()
            .collect()
    }
}

/// The body a webhook receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookFormat {
    /// Lookout's own JSON document (schema in `notify::webhook`).
    Json,
    /// A Slack incoming-webhook message (also understood by Mattermost, Rocket.Chat, ...).
    Slack,
}

#[derive(Debug, Clone, PartialEq)]
pub struct WebhookConfig {
    /// `url`: http:// or https://. A secret because chat webhook URLs carry their token in the
    /// path; messages show only scheme, host and port.
    pub url: Secret,
    /// `secret`: HMAC-SHA256 key for the `X-Lookout-Signature` header; none by default.
    pub secret: Option<Secret>,
    /// `format`: "json" (default) or "slack".
    pub format: WebhookFormat,
    /// `headers = { Authorization = "Bearer ${TOKEN}" }`: sent as written, values never shown.
    pub headers: Vec<(String, Secret)>,
    /// `timeout`: the longest one POST may take, answer included (default 10s).
    pub timeout: Duration,
    /// `ca_file`: PEM of extra CAs trusted besides the public roots.
    pub ca_file: Option<PathBuf>,
}

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

/// Every `[[notifier]]`; problems (duplicates, unknown types, bad keys) go to the reader.
pub(in crate::config) fn read_notifiers(
    r: &mut Reader<'_>,
    root: &Table<'_, '_>,
) -> Vec<NotifierConfig> {
    let tables = r.table_array(root, "notifier");
    let mut notifiers = Vec::with_capacity(tables.len());
    let mut names = HashSet::new();
    for table in &tables {
        let name = unique_name(r, table, &mut names, "notifier", "ops-mail");
        let type_field = closed_type(r, table, NOTIFIER_TYPES, "notifier");
        let kind = match type_field.value.as_str() {
            "email" => Some(NotifierKind::Email(read_email(r, table))),
            "webhook" => Some(NotifierKind::Webhook(read_webhook(r, table))),
            "alertmanager" => Some(NotifierKind::Alertmanager(read_alertmanager(r, table))),
            _ => None,
        };
        if let Some(kind) = kind {
            notifiers.push(NotifierConfig {
                name: name.value,
                kind,
            });
        }
    }
    notifiers
}

/// A required string; a missing one is a problem naming an example.
fn required(r: &mut Reader<'_>, table: &Table<'_, '_>, key: &'static str, example: &str) -> String {
    match r.item(table, key) {
        Some(item) => r
            .text(&item, "a string")
            .map(|text| text.value)
            .unwrap_or_default(),
        None => {
            r.problem(
                table.span.as_ref(),
                &format!("{}.{key}", table.path),
                format!("missing; this notifier type needs it, like {key} = {example}"),
            );
            String::new()
        }
    }
}

fn read_email(r: &mut Reader<'_>, table: &Table<'_, '_>) -> EmailConfig {
    let smtp = string_setting(r, table, "smtp", None, "an SMTP URL string", |text| {
        parse_smtp_url(&text.value)
            .map(|(security, host, port)| {
                Some((text.value.trim().to_string(), security, host, port))
            })
            .map_err(|why| format!("{} {why}", text.quoted()))
    });
    if smtp.span.is_none() {
        r.problem(
            table.span.as_ref(),
            &format!("{}.smtp", table.path),
            "missing; this notifier type needs it, like smtp = \"smtp+starttls://mail.example.org\"",
        );
    }
    let (smtp, security, host, port) =
        smtp.value
            .unwrap_or((String::new(), SmtpSecurity::Plain, String::new(), 25));
    let username = optional_string(r, table, "username");
    let password = optional_string(r, table, "password").map(Secret::new);
    if password.is_some() && username.is_none() {
        r.problem(
            table.span.as_ref(),
            &format!("{}.username", table.path),
            "missing; a password needs the username it belongs to",
        );
    }
    let from = required(r, table, "from", "\"lookout@example.org\"");
    if !from.is_empty() {
        if let Err(why) = check_address(&from) {
            r.problem(
                table.span.as_ref(),
                &format!("{}.from", table.path),
                format!("{from:?} {why}"),
            );
        }
    }
    let to = addresses(r, table, "to");
    if to.is_empty() && r.item(table, "to").is_none() {
        r.problem(
            table.span.as_ref(),
            &format!("{}.to", table.path),
            "missing; this notifier type needs it, like to = [\"ops@example.org\"]",
        );
    } else if to.is_empty() {
        r.problem(
            table.span.as_ref(),
            &format!("{}.to", table.path),
            "must list at least one address, like to = [\"ops@example.org\"]",
        );
    }
    let to_critical = addresses(r, table, "to_critical");
    let to_warning = addresses(r, table, "to_warning");
    let to_info = addresses(r, table, "to_info");
    let timeout = duration_setting(r, table, "timeout", DEFAULT_TIMEOUT, positive);
    let ca_file = optional_string(r, table, "ca_file").map(PathBuf::from);
    EmailConfig {
        smtp,
        security,
        host,
        port,
        username,
        password,
        from,
        to,
        to_critical,
        to_warning,
        to_info,
        timeout: timeout.value,
        ca_file,
    }
}

/// A list of addresses, each validated; bad ones are reported and left out.
fn addresses(r: &mut Reader<'_>, table: &Table<'_, '_>, key: &'static str) -> Vec<String> {
    let mut out = Vec::new();
    for (address, span, path) in string_list(r, table, key) {
        match check_address(&address) {
            Ok(()) => out.push(address.trim().to_string()),
            Err(why) => r.problem(span.as_ref(), &path, format!("{address:?} {why}")),
        }
    }
    out
}

/// An email address as lettre will send it: `ops@example.org` (no display name).
fn check_address(address: &str) -> Result<(), String> {
    address
        .trim()
        .parse::<lettre::Address>()
        .map(|_| ())
        .map_err(|_| "is not an email address; expected one like \"ops@example.org\"".to_string())
}

/// `smtp://host[:port]`, `smtp+starttls://host[:port]` or `smtps://host[:port]`.
pub fn parse_smtp_url(url: &str) -> Result<(SmtpSecurity, String, u16), String> {
    const FORM: &str =
        "expected smtp://host[:port] (plain), smtp+starttls://host[:port] or smtps://host[:port]";
    let url = url.trim();
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(format!("is not an SMTP URL; {FORM}"));
    };
    let security = match scheme.to_ascii_lowercase().as_str() {
        "smtp" => SmtpSecurity::Plain,
        "smtp+starttls" => SmtpSecurity::StartTls,
        "smtps" => SmtpSecurity::Tls,
        _ => return Err(format!("has an unknown scheme {scheme:?}; {FORM}")),
    };
    let authority = rest.trim_end_matches('/');
    if authority.contains('@') {
        return Err("must not hold credentials; set username and password instead".to_string());
    }
    if authority.contains(['/', '?', '#']) {
        return Err(format!("must have no path or query; {FORM}"));
    }
    let (host, port) = match authority.rsplit_once(':') {
        // An IPv6 literal without a port: its colons are not a port separator.
        Some((host, port)) if !port.contains(']') => {
            let port = port
                .parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| format!("has a bad port {port:?}; expected 1 to 65535"))?;
            (host, port)
        }
        _ => (authority, security.default_port()),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(format!("has no host; {FORM}"));
    }
    Ok((security, host.to_string(), port))
}

/// Headers the notifier sets itself; configuring them would break signing or deduplication.
const RESERVED_HEADERS: &[&str] = &[
    "content-type",
    "content-length",
    "host",
    "idempotency-key",
    "x-lookout-signature",
    "x-lookout-timestamp",
];

fn read_webhook(r: &mut Reader<'_>, table: &Table<'_, '_>) -> WebhookConfig {
    let url = required(r, table, "url", "\"https://hooks.example.org/lookout\"");
    if !url.is_empty() {
        if let Err(why) = check_http_url(&url, "https://hooks.example.org/lookout") {
            // The URL may hold a token: name the problem, never quote it.
            r.problem(table.span.as_ref(), &format!("{}.url", table.path), why);
        }
    }
    let secret = optional_string(r, table, "secret").map(Secret::new);
    if secret.as_ref().is_some_and(Secret::is_empty) {
        r.problem(
            table.span.as_ref(),
            &format!("{}.secret", table.path),
            "must not be empty; remove the key to send unsigned requests",
        );
    }
    let format = string_setting(
        r,
        table,
        "format",
        WebhookFormat::Json,
        "a format string",
        |text| match text.value.trim() {
            "json" => Ok(WebhookFormat::Json),
            "slack" => Ok(WebhookFormat::Slack),
            _ => Err(format!(
                "{} is not a webhook format; expected \"json\" or \"slack\"",
                text.quoted()
            )),
        },
    );
    let headers = header_map(r, table, "headers", RESERVED_HEADERS);
    let timeout = duration_setting(r, table, "timeout", DEFAULT_TIMEOUT, positive);
    let ca_file = optional_string(r, table, "ca_file").map(PathBuf::from);
    WebhookConfig {
        url: Secret::new(url),
        secret: secret.filter(|s| !s.is_empty()),
        format: format.value,
        headers,
        timeout: timeout.value,
        ca_file,
    }
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

fn read_alertmanager(r: &mut Reader<'_>, table: &Table<'_, '_>) -> AlertmanagerConfig {
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
    if basic_auth_user.is_some() {
        if let Some((name, _)) = headers
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case("authorization"))
        {
            r.problem(
                table.span.as_ref(),
                &format!("{}.headers.{name}", table.path),
                "conflicts with basic_auth_user; authenticate one way or the other",
            );
        }
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
    use crate::base::secret::url_origin;
    use crate::config::from_str;
    use crate::config::test_support::errors;

    fn notifiers(text: &str) -> Vec<NotifierConfig> {
        let env = |name: &str| (name == "SMTP_PASSWORD").then(|| "hunter2".to_string());
        match from_str(text, "lookout.toml", &env) {
            Ok(config) => config.notifiers,
            Err(error) => panic!("{error}"),
        }
    }

    #[test]
    fn reads_an_email_notifier_with_defaults() {
        let [mail] = notifiers(
            "[[notifier]]\nname = \"ops-mail\"\ntype = \"email\"\nsmtp = \"smtp://127.0.0.1:2525\"\n\
             from = \"lookout@example.org\"\nto = [\"ops@example.org\"]\n",
        )
        .try_into()
        .unwrap();
        assert_eq!(mail.name, "ops-mail");
        let NotifierKind::Email(email) = mail.kind else {
            panic!("email expected")
        };
        assert_eq!(email.smtp, "smtp://127.0.0.1:2525");
        assert_eq!(
            (email.security, email.host.as_str(), email.port),
            (SmtpSecurity::Plain, "127.0.0.1", 2525)
        );
        assert_eq!(email.to, vec!["ops@example.org".to_string()]);
        assert_eq!(email.timeout, Duration::from_secs(10));
        assert_eq!((email.username, email.password), (None, None));
    }

    #[test]
    fn reads_every_email_key_and_never_prints_the_password() {
        let [mail] = notifiers(
            "[[notifier]]\nname = \"m\"\ntype = \"email\"\nsmtp = \"smtps://mail.example.org\"\n\
             username = \"lookout\"\npassword = \"${SMTP_PASSWORD}\"\nfrom = \"lookout@example.org\"\n\
             to = [\"ops@example.org\"]\nto_critical = [\"oncall@example.org\", \"OPS@example.org\"]\n\
             to_warning = [\"dev@example.org\"]\nto_info = []\ntimeout = \"30s\"\nca_file = \"/etc/ca.pem\"\n",
        )
        .try_into()
        .unwrap();
        let printed = format!("{mail:?}");
        assert!(!printed.contains("hunter2"), "{printed}");
        let NotifierKind::Email(email) = mail.kind else {
            panic!("email expected")
        };
        assert_eq!((email.security, email.port), (SmtpSecurity::Tls, 465));
        assert_eq!(email.password.as_ref().map(Secret::expose), Some("hunter2"));
        assert_eq!(email.timeout, Duration::from_secs(30));
        assert_eq!(email.ca_file, Some(PathBuf::from("/etc/ca.pem")));
        // Extra recipients, deduplicated without regard to case.
        assert_eq!(
            email.recipients(Severity::Critical),
            vec!["ops@example.org", "oncall@example.org"]
        );
        assert_eq!(
            email.recipients(Severity::Warning),
            vec!["ops@example.org", "dev@example.org"]
        );
        assert_eq!(email.recipients(Severity::Info), vec!["ops@example.org"]);
    }

    #[test]
    fn smtp_urls_pick_security_and_default_ports() {
        for (url, expected) in [
            ("smtp://relay", Ok((SmtpSecurity::Plain, "relay", 25))),
            (
                "smtp+starttls://mail.example.org",
                Ok((SmtpSecurity::StartTls, "mail.example.org", 587)),
            ),
            ("smtps://[::1]:4650", Ok((SmtpSecurity::Tls, "::1", 4650))),
            ("smtps://[::1]", Ok((SmtpSecurity::Tls, "::1", 465))),
            (
                "smtp://h:0",
                Err("has a bad port \"0\"; expected 1 to 65535"),
            ),
            (
                "smtp://u:p@h",
                Err("must not hold credentials; set username and password instead"),
            ),
        ] {
            let got = parse_smtp_url(url);
            let got = got
                .as_ref()
                .map(|(s, h, p)| (*s, h.as_str(), *p))
                .map_err(String::as_str);
            assert_eq!(got, expected, "{url}");
        }
    }

    #[test]
    fn reads_a_webhook_with_headers_and_secret() {
        let env = |name: &str| Some(format!("v-{name}"));
        let config = from_str(
            "[[notifier]]\nname = \"hook\"\ntype = \"webhook\"\nurl = \"https://h.example.org/x?token=${T}\"\n\
             secret = \"${HOOK_SECRET}\"\nformat = \"slack\"\nheaders = { Authorization = \"Bearer ${TOKEN}\" }\n",
            "lookout.toml",
            &env,
        )
        .unwrap();
        let [hook] = config.notifiers.try_into().unwrap();
        let printed = format!("{hook:?}");
        assert!(
            !printed.contains("v-T") && !printed.contains("v-TOKEN"),
            "{printed}"
        );
        let NotifierKind::Webhook(webhook) = hook.kind else {
            panic!("webhook expected")
        };
        assert_eq!(webhook.url.expose(), "https://h.example.org/x?token=v-T");
        assert_eq!(webhook.format, WebhookFormat::Slack);
        assert_eq!(
            webhook.secret.as_ref().map(Secret::expose),
            Some("v-HOOK_SECRET")
        );
        assert_eq!(webhook.headers[0].0, "Authorization");
        assert_eq!(webhook.headers[0].1.expose(), "Bearer v-TOKEN");
        assert_eq!(webhook.timeout, DEFAULT_TIMEOUT);
        assert_eq!(
            url_origin(webhook.url.expose()),
            "https://h.example.org".to_string()
        );
    }

    #[test]
    fn reports_every_problem_of_every_notifier_with_positions() {
        let text = "[[notifier]]\ntype = \"emial\"\n\n\
                    [[notifier]]\nname = \"a\"\ntype = \"email\"\nsmtp = \"smtp+tls://mail\"\nfrom = \"not an address\"\n\
                    to = [\"ops@example.org\", \"nobody\"]\nto_critical = \"oncall@example.org\"\nusername = \"u\"\npasword = \"x\"\n\n\
                    [[notifier]]\nname = \"a\"\ntype = \"webhook\"\nurl = \"ftp://example.org/?token=s3cret\"\nformat = \"xml\"\n\
                    headers = { \"Idempotency-Key\" = \"1\" }\ntimeout = \"0s\"\n\n\
                    [[notifier]]\nname = \"b\"\ntype = \"pager\"\n\n\
                    [[notifier]]\nname = \"c\"\n";
        let shown = errors(text);
        assert!(!shown.contains("s3cret"), "{shown}");
        assert_eq!(
            shown,
            "lookout.toml:1:1: notifier[0].name: missing; every notifier needs a name, like name = \"ops-mail\"\n\
             lookout.toml:2:8: notifier[0].type: \"emial\" is not a notifier type; did you mean \"email\"?\n\
             lookout.toml:4:1: notifier[1].from: \"not an address\" is not an email address; expected one like \"ops@example.org\"\n\
             lookout.toml:7:8: notifier[1].smtp: \"smtp+tls://mail\" has an unknown scheme \"smtp+tls\"; expected smtp://host[:port] (plain), smtp+starttls://host[:port] or smtps://host[:port]\n\
             lookout.toml:9:26: notifier[1].to[1]: \"nobody\" is not an email address; expected one like \"ops@example.org\"\n\
             lookout.toml:10:15: notifier[1].to_critical: expected an array of strings, found a string\n\
             lookout.toml:12:1: notifier[1].pasword: unknown key; did you mean \"password\"?\n\
             lookout.toml:14:1: notifier[2].url: is not an http(s) URL; expected http:// or https:// and a host, like \"https://hooks.example.org/lookout\"\n\
             lookout.toml:15:8: notifier[2].name: \"a\" is already the name of another notifier; names must be unique\n\
             lookout.toml:18:10: notifier[2].format: \"xml\" is not a webhook format; expected \"json\" or \"slack\"\n\
             lookout.toml:19:33: notifier[2].headers.Idempotency-Key: is set by Lookout itself and cannot be configured\n\
             lookout.toml:20:11: notifier[2].timeout: \"0s\" must be greater than zero\n\
             lookout.toml:24:8: notifier[3].type: \"pager\" is not a notifier type; expected one of \"email\", \"webhook\", \"alertmanager\"\n\
             lookout.toml:26:1: notifier[4].type: missing; expected one of \"email\", \"webhook\", \"alertmanager\""
        );
    }

    #[test]
    fn missing_keys_of_a_type_are_named() {
        assert_eq!(
            errors("[[notifier]]\nname = \"m\"\ntype = \"email\"\npassword = \"x\"\n"),
            "lookout.toml:1:1: notifier[0].smtp: missing; this notifier type needs it, like smtp = \"smtp+starttls://mail.example.org\"\n\
             lookout.toml:1:1: notifier[0].username: missing; a password needs the username it belongs to\n\
             lookout.toml:1:1: notifier[0].from: missing; this notifier type needs it, like from = \"lookout@example.org\"\n\
             lookout.toml:1:1: notifier[0].to: missing; this notifier type needs it, like to = [\"ops@example.org\"]"
        );
        assert_eq!(
            errors("[[notifier]]\nname = \"w\"\ntype = \"webhook\"\n"),
            "lookout.toml:1:1: notifier[0].url: missing; this notifier type needs it, like url = \"https://hooks.example.org/lookout\""
        );
    }

    #[test]
    fn reads_an_alertmanager_with_defaults_and_every_key() {
        let [am] = notifiers(
            "[[notifier]]\nname = \"am\"\ntype = \"alertmanager\"\nurls = [\"http://127.0.0.1:9093\"]\n",
        )
        .try_into()
        .unwrap();
        let NotifierKind::Alertmanager(config) = am.kind else {
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
        let config = from_str(
            "[[notifier]]\nname = \"am\"\ntype = \"alertmanager\"\n\
             urls = [\"http://am1:9093\", \"https://am2.example.org/alertmanager/\"]\n\
             basic_auth_user = \"lookout\"\nbasic_auth_password = \"${AM_PASSWORD}\"\n\
             headers = { X-Scope-OrgID = \"ops\" }\ntimeout = \"3s\"\nresend_interval = \"30s\"\n\
             ca_file = \"/etc/ca.pem\"\n",
            "lookout.toml",
            &env,
        )
        .unwrap();
        let [am] = config.notifiers.try_into().unwrap();
        assert!(!format!("{am:?}").contains("v-AM_PASSWORD"));
        let NotifierKind::Alertmanager(config) = am.kind else {
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
            "lookout.toml:1:1: notifier[0].urls: missing; this notifier type needs it, like urls = [\"http://127.0.0.1:9093\"]"
        );
        assert_eq!(
            errors("[[notifier]]\nname = \"am\"\ntype = \"alertmanager\"\nurls = []\n"),
            "lookout.toml:4:8: notifier[0].urls: must list at least one Alertmanager, like urls = [\"http://127.0.0.1:9093\"]"
        );
        assert_eq!(
            errors(
                "[[notifier]]\nname = \"am\"\ntype = \"alertmanager\"\nurls = \"http://am:9093\"\n"
            ),
            "lookout.toml:4:8: notifier[0].urls: expected an array of strings, found a string"
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
            "lookout.toml:1:1: notifier[0].basic_auth_user: missing; a basic_auth_password needs the user it belongs to\n\
             lookout.toml:4:9: notifier[0].urls[0]: is not an http(s) URL; expected http:// or https:// and a host, like \"http://127.0.0.1:9093\"\n\
             lookout.toml:4:20: notifier[0].urls[1]: must not hold credentials; set basic_auth_user and basic_auth_password instead\n\
             lookout.toml:4:47: notifier[0].urls[2]: must be the base URL, without /api/v2/alerts (Lookout adds it), like \"http://127.0.0.1:9093\"\n\
             lookout.toml:5:1: notifier[0].urls[3]: must have no query or fragment; expected the base URL, like \"http://127.0.0.1:9093\"\n\
             lookout.toml:5:41: notifier[0].urls[5]: is listed twice; each member once is enough\n\
             lookout.toml:7:20: notifier[0].headers.Host: is set by Lookout itself and cannot be configured\n\
             lookout.toml:8:11: notifier[0].timeout: \"0s\" must be greater than zero\n\
             lookout.toml:9:19: notifier[0].resend_interval: \"soon\" is not a duration; expected a number and a unit, like \"500ms\", \"10s\", \"5m\", \"1h\" or \"7d\"\n\
             lookout.toml:11:1: notifier[1].headers.authorization: conflicts with basic_auth_user; authenticate one way or the other\n\
             lookout.toml:17:19: notifier[1].resend_interval: \"0s\" must be greater than zero"
        );
    }

    #[test]
    fn an_unset_password_variable_is_named_not_guessed() {
        let shown = errors(
            "[[notifier]]\nname = \"m\"\ntype = \"email\"\nsmtp = \"smtp://h\"\nusername = \"u\"\n\
             password = \"${SMTP_PASSWORD}\"\nfrom = \"a@example.org\"\nto = [\"b@example.org\"]\n",
        );
        assert!(
            shown.starts_with("lookout.toml:6:12: notifier[0].password: ")
                && shown.contains("SMTP_PASSWORD"),
            "{shown}"
        );
    }

    /// The `config init` fragment: every block uncommented is a valid notifier, one per type,
    /// and shows every key the reader asks of that type.
    #[test]
    fn every_template_example_uncommented_is_a_valid_notifier() {
        assert!(
            crate::config::init_template("default")
                .unwrap_or_default()
                .contains(TEMPLATE),
            "config init must include notifiers_template.toml"
        );
        let mut uncommented = String::new();
        let mut in_block = false;
        for line in TEMPLATE.lines() {
            assert!(line.starts_with('#'), "not a comment: {line:?}");
            assert!(line.chars().count() <= 110, "too long: {line:?}");
            if line.trim_end() == "# [[notifier]]" {
                in_block = true;
            } else if line.trim_end() == "#" {
                in_block = false;
            }
            if in_block {
                uncommented.push_str(line.strip_prefix("# ").unwrap_or(line));
                uncommented.push('\n');
            }
        }
        let env = |_: &str| Some("x".to_string());
        let config = match from_str(&uncommented, "uncommented", &env) {
            Ok(config) => config,
            Err(error) => panic!("the notifier examples do not parse:\n{error}\n{uncommented}"),
        };
        let types: Vec<&str> = config
            .notifiers
            .iter()
            .map(|n| n.kind.type_name())
            .collect();
        assert_eq!(types, NOTIFIER_TYPES);
        let document = toml::de::DeTable::parse(&uncommented)
            .map(|t| t.into_inner())
            .unwrap_or_default();
        let mut reader = Reader::new("uncommented", &uncommented, &env);
        let _ = super::super::parse::read_config(&mut reader, &document);
        let Some(toml::de::DeValue::Array(written)) = document.get("notifier").map(|v| v.get_ref())
        else {
            panic!("no [[notifier]] in the examples")
        };
        for asked in reader.asked_paths() {
            let Some((index, key)) = asked
                .strip_prefix("notifier[")
                .and_then(|rest| rest.split_once("]."))
            else {
                continue;
            };
            let index: usize = index.parse().unwrap_or_default();
            let Some(toml::de::DeValue::Table(table)) = written.get(index).map(|v| v.get_ref())
            else {
                panic!("notifier[{index}] is not a table")
            };
            assert!(
                table.get(key).is_some(),
                "the {} example does not show {key}",
                types[index]
            );
        }
    }
}
