//! Keys of `type = "email"`: the SMTP server (`smtp`, whose scheme picks the protection),
//! the login, the sender and the recipients (`to`, and per severity `to_critical`,
//! `to_warning`, `to_info`), `timeout` and `ca_file`.

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Duration;

use super::super::{DEFAULT_TIMEOUT, required};
use crate::base::schema::{Reader, Table};
use crate::base::schema::{duration_setting, optional_string, positive, string_list, string_setting};
use crate::base::secret::Secret;
use crate::model::Severity;

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

pub(super) fn read_email(r: &mut Reader<'_>, table: &Table<'_, '_>) -> EmailConfig {
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
    if !from.is_empty()
        && let Err(why) = check_address(&from)
    {
        r.problem(
            table.span.as_ref(),
            &format!("{}.from", table.path),
            format!("{from:?} {why}"),
        );
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notifiers::NotifierKind;
    use crate::notifiers::testing::{errors, read};

    fn notifiers(text: &str) -> Vec<NotifierKind> {
        let env = |name: &str| (name == "SMTP_PASSWORD").then(|| "hunter2".to_string());
        read(text, &env)
    }

    #[test]
    fn reads_an_email_notifier_with_defaults() {
        let [mail] = notifiers(
            "[[notifier]]\nname = \"ops-mail\"\ntype = \"email\"\nsmtp = \"smtp://127.0.0.1:2525\"\n\
             from = \"lookout@example.org\"\nto = [\"ops@example.org\"]\n",
        )
        .try_into()
        .unwrap();
        let NotifierKind::Email(email) = mail else {
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
        let NotifierKind::Email(email) = mail else {
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
    fn an_unset_password_variable_is_named_not_guessed() {
        let shown = errors(
            "[[notifier]]\nname = \"m\"\ntype = \"email\"\nsmtp = \"smtp://h\"\nusername = \"u\"\n\
             password = \"${SMTP_PASSWORD}\"\nfrom = \"a@example.org\"\nto = [\"b@example.org\"]\n",
        );
        assert!(
            shown.starts_with("lookout.toml:6:12: notifier \"m\".password: ")
                && shown.contains("SMTP_PASSWORD"),
            "{shown}"
        );
    }

    #[test]
    fn missing_keys_are_named() {
        assert_eq!(
            errors("[[notifier]]\nname = \"m\"\ntype = \"email\"\npassword = \"x\"\n"),
            "lookout.toml:1:1: notifier \"m\".smtp: missing; this notifier type needs it, like smtp = \"smtp+starttls://mail.example.org\"\n\
             lookout.toml:1:1: notifier \"m\".username: missing; a password needs the username it belongs to\n\
             lookout.toml:1:1: notifier \"m\".from: missing; this notifier type needs it, like from = \"lookout@example.org\"\n\
             lookout.toml:1:1: notifier \"m\".to: missing; this notifier type needs it, like to = [\"ops@example.org\"]"
        );
    }
}
