//! `type = "email"`: one mail per message over SMTP. `config.rs` reads its keys; `send.rs`
//! builds the mail and talks to the server.

pub mod config;
pub mod send;

use std::sync::Arc;

pub use config::EmailConfig;
pub use send::EmailNotifier;

use super::{Cause, Notifier, NotifierType, ReachFuture};
use crate::base::schema::{Reader, Table};

impl NotifierType for EmailConfig {
    fn type_name() -> &'static str {
        "email"
    }

    fn read(r: &mut Reader<'_>, table: &Table<'_, '_>) -> EmailConfig {
        config::read_email(r, table)
    }

    fn template() -> &'static str {
        include_str!("template.toml")
    }

    fn summary(&self) -> String {
        format!("to {} via {}", self.to.join(", "), self.smtp)
    }

    fn destination(&self) -> String {
        format!("email to {}", self.to.join(", "))
    }

    fn build(&self, name: &str) -> Arc<dyn Notifier> {
        Arc::new(EmailNotifier::new(name, self.clone()))
    }

    /// Connects, says hello, starts TLS and logs in as a send would, then quits.
    fn reach<'a>(&'a self, name: &'a str) -> ReachFuture<'a> {
        Box::pin(async move {
            EmailNotifier::new(name, self.clone())
                .verify()
                .await
                .map_err(|error| error.message)?;
            let server = format!("{}:{}", self.host, self.port);
            Ok(match &self.username {
                Some(user) => format!("SMTP {server} accepted the login as {user}"),
                None => format!("SMTP {server} answers, no login configured"),
            })
        })
    }

    /// Seed: "Alerts Not Sent: verify email configuration and SMTP settings".
    fn hint(&self, cause: Cause) -> Option<&'static str> {
        Some(match cause {
            Cause::Auth => {
                "check the SMTP settings username and password (Gmail and Microsoft 365 need an app password, not the account's)"
            }
            Cause::Refused => {
                "nothing listens at that SMTP host and port; check smtp = \"smtp+starttls://host:587\" (STARTTLS), smtps:// on 465, or your relay's port"
            }
            Cause::Tls => {
                "the TLS setup of the SMTP connection failed; check smtp+starttls:// (STARTTLS) against smtps:// (TLS from the start) and ca_file for a private CA"
            }
            _ => {
                "verify the email configuration and SMTP settings ([[notifier]] type = \"email\": smtp, username, password, from, to)"
            }
        })
    }
}
