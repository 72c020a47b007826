//! The email notifier: one multipart/alternative mail (plain text + HTML, from `render`) per
//! `GroupMessage`, over lettre's async SMTP transport with rustls.
//!
//! `smtp://` is plain SMTP (a local relay), `smtp+starttls://` requires STARTTLS, `smtps://`
//! is TLS from the first byte; AUTH PLAIN/LOGIN when a username is set. The Message-ID is
//! `<{idempotency_key}@lookout>`, so a resend after a crash is recognisably the same mail.
//!
//! Errors are one line in plain words with the server as host:port, never the password:
//! connection problems, timeouts and 4xx replies are worth retrying; 5xx replies (a rejected
//! recipient, failed authentication) and a server without a usable AUTH method are not.

use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::config::{EmailConfig, SmtpSecurity};
use crate::base::net::tls::describe_handshake_error;
use crate::base::units::format_duration;
use crate::notifiers::render;
use crate::notifiers::{GroupMessage, Notifier, NotifyError, NotifyFuture};

pub struct EmailNotifier {
    name: String,
    config: EmailConfig,
}

/// `<{key}@lookout>` with any character a msg-id cannot hold replaced, the same way every
/// time (RFC 5322 dot-atom-text).
pub fn message_id(idempotency_key: &str) -> String {
    let local: String = idempotency_key
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c) {
                c
            } else {
                '.'
            }
        })
        .collect();
    let local = local.trim_matches('.');
    let local = if local.is_empty() { "message" } else { local };
    format!("<{local}@lookout>")
}

impl EmailNotifier {
    pub fn new(name: impl Into<String>, config: EmailConfig) -> EmailNotifier {
        EmailNotifier {
            name: name.into(),
            config,
        }
    }

    /// `host:port` of the server, for messages.
    fn server(&self) -> String {
        if self.config.host.contains(':') {
            format!("[{}]:{}", self.config.host, self.config.port)
        } else {
            format!("{}:{}", self.config.host, self.config.port)
        }
    }

    /// The mail for `message`, to the recipients for its worst severity.
    pub fn build_message(&self, message: &GroupMessage) -> Result<Message, NotifyError> {
        let rendered = render::render(message);
        let from: Mailbox = self.config.from.parse().map_err(|_| {
            NotifyError::permanent(format!(
                "email {}: {:?} is not an email address",
                self.name, self.config.from
            ))
        })?;
        let mut builder = Message::builder()
            .from(from)
            .subject(rendered.subject)
            .message_id(Some(message_id(&message.idempotency_key)))
            .date_now();
        for address in self.config.recipients(message.severity()) {
            let mailbox: Mailbox = address.parse().map_err(|_| {
                NotifyError::permanent(format!(
                    "email {}: {address:?} is not an email address",
                    self.name
                ))
            })?;
            builder = builder.to(mailbox);
        }
        builder
            .multipart(
                MultiPart::alternative()
                    .singlepart(
                        SinglePart::builder()
                            .header(ContentType::TEXT_PLAIN)
                            .body(rendered.text),
                    )
                    .singlepart(
                        SinglePart::builder()
                            .header(ContentType::TEXT_HTML)
                            .body(rendered.html),
                    ),
            )
            .map_err(|e| NotifyError::permanent(format!("email {}: {e}", self.name)))
    }

    fn transport(&self) -> Result<AsyncSmtpTransport<Tokio1Executor>, NotifyError> {
        let config = &self.config;
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&config.host)
            .port(config.port)
            .timeout(Some(config.timeout));
        if config.security != SmtpSecurity::Plain {
            let mut tls = TlsParameters::builder(config.host.clone());
            if let Some(path) = &config.ca_file {
                // Read on every send, like the checks: fixing the file needs no restart.
                let pem = std::fs::read(path).map_err(|e| {
                    NotifyError::retryable(format!(
                        "SMTP {}: cannot read ca_file {}: {e}",
                        self.server(),
                        path.display()
                    ))
                })?;
                let certificate = Certificate::from_pem(&pem).map_err(|_| {
                    NotifyError::retryable(format!(
                        "SMTP {}: ca_file {} holds no PEM certificate",
                        self.server(),
                        path.display()
                    ))
                })?;
                tls = tls.add_root_certificate(certificate);
            }
            let parameters = tls.build_rustls().map_err(|e| {
                NotifyError::permanent(format!("SMTP {}: TLS setup: {e}", self.server()))
            })?;
            builder = builder.tls(match config.security {
                SmtpSecurity::StartTls => Tls::Required(parameters),
                _ => Tls::Wrapper(parameters),
            });
        }
        if let Some(username) = &config.username {
            let password = config
                .password
                .as_ref()
                .map(|p| p.expose().to_string())
                .unwrap_or_default();
            builder = builder
                .credentials(Credentials::new(username.clone(), password))
                .authentication(vec![Mechanism::Plain, Mechanism::Login]);
        }
        Ok(builder.build())
    }

    async fn deliver(&self, message: &GroupMessage) -> Result<(), NotifyError> {
        let mail = self.build_message(message)?;
        let transport = self.transport()?;
        transport
            .send(mail)
            .await
            .map(|_| ())
            .map_err(|error| self.describe(&error))
    }

    /// Connects, says hello, starts TLS and logs in as a send would, then quits without sending
    /// (`lookout doctor` without `--send-test`). The error is worded like a send's.
    pub async fn verify(&self) -> Result<(), NotifyError> {
        let transport = self.transport()?;
        let limit = self.config.timeout + std::time::Duration::from_secs(1);
        match tokio::time::timeout(limit, transport.test_connection()).await {
            Ok(Ok(true)) => Ok(()),
            Ok(Ok(false)) => Err(NotifyError::retryable(format!(
                "SMTP {}: the server did not answer NOOP after the login",
                self.server()
            ))),
            Ok(Err(error)) => Err(self.describe(&error)),
            Err(_) => Err(NotifyError::retryable(format!(
                "SMTP {}: no answer within {}",
                self.server(),
                format_duration(self.config.timeout)
            ))),
        }
    }

    /// A lettre error as a `NotifyError` in plain words, scrubbed of the password.
    fn describe(&self, error: &lettre::transport::smtp::Error) -> NotifyError {
        let server = self.server();
        let user = self.config.username.as_deref().unwrap_or_default();
        let detail = scrub(&chain(error), self.password());
        if let Some(code) = error.status() {
            let code = code.to_string();
            let reply = scrub(&reply_text(error), self.password());
            if error.is_permanent() && matches!(code.as_str(), "535" | "534" | "530" | "538") {
                // Retried (up to the outbox's give-up): credentials get rotated and fixed by a
                // reload, and what was due meanwhile should then still arrive.
                NotifyError::retryable(format!(
                    "SMTP {server}: authentication failed for {user} ({code} {reply})"
                ))
            } else if error.is_permanent() {
                NotifyError::permanent(format!("SMTP {server}: rejected: {code} {reply}"))
            } else {
                NotifyError::retryable(format!(
                    "SMTP {server}: temporarily refused: {code} {reply}"
                ))
            }
        } else if error.is_timeout() {
            NotifyError::retryable(format!(
                "SMTP {server}: no answer within {}",
                format_duration(self.config.timeout)
            ))
        } else if let Some(io) = io_error(error) {
            let what = if io
                .get_ref()
                .is_some_and(|inner| inner.is::<rustls::Error>())
            {
                // "TLS: certificate not trusted (unknown issuer; set ca_file ...)", as the checks say it.
                describe_handshake_error(io)
            } else {
                match io.kind() {
                    std::io::ErrorKind::ConnectionRefused => "connection refused".to_string(),
                    std::io::ErrorKind::ConnectionReset => "connection reset".to_string(),
                    _ => detail,
                }
            };
            NotifyError::retryable(format!("SMTP {server}: {what}"))
        } else if error.is_tls() {
            NotifyError::retryable(format!("SMTP {server}: TLS: {detail}"))
        } else if error.is_client() && detail.contains("authentication") {
            // lettre found no AUTH method both sides support: a config problem, not a blip.
            NotifyError::permanent(format!(
                "SMTP {server}: the server offers no authentication method Lookout supports (PLAIN, LOGIN) for {user}"
            ))
        } else {
            NotifyError::retryable(format!("SMTP {server}: {detail}"))
        }
    }

    fn password(&self) -> &str {
        self.config
            .password
            .as_ref()
            .map_or("", |password| password.expose())
    }
}

/// The server's reply text of a negative reply (the error's source).
fn reply_text(error: &lettre::transport::smtp::Error) -> String {
    use std::error::Error as _;
    error
        .source()
        .map(|s| one_line(&s.to_string()))
        .unwrap_or_default()
}

/// The first I/O error among the causes: it tells refused from reset from a TLS failure.
fn io_error<'e>(error: &'e (dyn std::error::Error + 'static)) -> Option<&'e std::io::Error> {
    let mut cause = Some(error);
    while let Some(current) = cause {
        if let Some(io) = current.downcast_ref::<std::io::Error>() {
            return Some(io);
        }
        cause = current.source();
    }
    None
}

/// The error and its causes on one line.
fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    one_line(&text)
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Belt and braces: a server may echo what it was sent; the password never goes further.
fn scrub(text: &str, password: &str) -> String {
    if password.is_empty() {
        text.to_string()
    } else {
        text.replace(password, "***")
    }
}

impl Notifier for EmailNotifier {
    fn name(&self) -> &str {
        &self.name
    }

    fn send<'a>(&'a self, message: &'a GroupMessage) -> NotifyFuture<'a> {
        Box::pin(async move {
            // lettre's timeout is per socket operation; this bounds the whole conversation.
            let limit = self.config.timeout + Duration::from_secs(1);
            match tokio::time::timeout(limit, self.deliver(message)).await {
                Ok(outcome) => outcome,
                Err(_) => Err(NotifyError::retryable(format!(
                    "SMTP {}: no answer within {}",
                    self.server(),
                    format_duration(self.config.timeout)
                ))),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_ids_are_stable_and_well_formed() {
        assert_eq!(message_id("k1"), "<k1@lookout>");
        assert_eq!(message_id("host=web1:42 <x>"), "<host=web1.42..x@lookout>");
        assert_eq!(message_id("@@"), "<message@lookout>");
    }

    #[test]
    fn scrubbing_removes_the_password() {
        assert_eq!(scrub("535 bad pw hunter2", "hunter2"), "535 bad pw ***");
        assert_eq!(scrub("no password", ""), "no password");
    }
}
