//! Keys of `type = "webhook"`: `url` (a secret: chat webhook URLs carry their token),
//! `secret` (the HMAC key of the signature), `format` (Lookout's JSON or Slack), `headers`,
//! `timeout` and `ca_file`.

use std::path::PathBuf;
use std::time::Duration;

use super::super::{DEFAULT_TIMEOUT, required};
use crate::base::schema::{Reader, Table};
use crate::base::schema::{check_http_url, duration_setting, header_map, optional_string};
use crate::base::schema::{positive, string_setting};
use crate::base::secret::Secret;

/// The body a webhook receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookFormat {
    /// Lookout's own JSON document (schema in `notifiers::webhook::send`).
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

/// Headers the notifier sets itself; configuring them would break signing or deduplication.
const RESERVED_HEADERS: &[&str] = &[
    "content-type",
    "content-length",
    "host",
    "idempotency-key",
    "x-lookout-signature",
    "x-lookout-timestamp",
];

pub(super) fn read_webhook(r: &mut Reader<'_>, table: &Table<'_, '_>) -> WebhookConfig {
    let url = required(r, table, "url", "\"https://hooks.example.org/lookout\"");
    if !url.is_empty()
        && let Err(why) = check_http_url(&url, "https://hooks.example.org/lookout")
    {
        // The URL may hold a token: name the problem, never quote it.
        r.problem(table.span.as_ref(), &format!("{}.url", table.path), why);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::secret::url_origin;
    use crate::notifiers::NotifierKind;
    use crate::notifiers::testing::{errors, read};

    #[test]
    fn reads_a_webhook_with_headers_and_secret() {
        let env = |name: &str| Some(format!("v-{name}"));
        let [hook] = read(
            "[[notifier]]\nname = \"hook\"\ntype = \"webhook\"\nurl = \"https://h.example.org/x?token=${T}\"\n\
             secret = \"${HOOK_SECRET}\"\nformat = \"slack\"\nheaders = { Authorization = \"Bearer ${TOKEN}\" }\n",
            &env,
        )
        .try_into()
        .unwrap();
        let printed = format!("{hook:?}");
        assert!(
            !printed.contains("v-T") && !printed.contains("v-TOKEN"),
            "{printed}"
        );
        let NotifierKind::Webhook(webhook) = hook else {
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
    fn missing_keys_are_named() {
        assert_eq!(
            errors("[[notifier]]\nname = \"w\"\ntype = \"webhook\"\n"),
            "lookout.toml:1:1: notifier \"w\".url: missing; this notifier type needs it, like url = \"https://hooks.example.org/lookout\""
        );
    }
}
