//! `type = "webhook"`: one signed HTTP POST per message, Lookout's JSON or a Slack message.
//! `config.rs` reads its keys; `send.rs` builds the body and posts it (the document a receiver
//! gets is described there).

pub mod config;
pub mod send;

use std::sync::Arc;

pub use config::{WebhookConfig, WebhookFormat};
pub use send::WebhookNotifier;

use super::http::reach_url;
use super::{Notifier, NotifierType, ReachFuture};
use crate::base::schema::{Reader, Table};
use crate::base::secret::url_origin;

impl NotifierType for WebhookConfig {
    fn type_name() -> &'static str {
        "webhook"
    }

    fn read(r: &mut Reader<'_>, table: &Table<'_, '_>) -> WebhookConfig {
        config::read_webhook(r, table)
    }

    fn template() -> &'static str {
        include_str!("template.toml")
    }

    /// Only scheme, host and port: the URL may hold a token.
    fn summary(&self) -> String {
        url_origin(self.url.expose())
    }

    fn destination(&self) -> String {
        format!("POST to {}", url_origin(self.url.expose()))
    }

    fn build(&self, name: &str) -> Arc<dyn Notifier> {
        Arc::new(WebhookNotifier::new(name, self.clone()))
    }

    fn reach<'a>(&'a self, _name: &'a str) -> ReachFuture<'a> {
        Box::pin(async move {
            match reach_url(self.url.expose(), self.timeout).await {
                Ok(origin) => Ok(format!("{origin} accepts connections")),
                Err(error) => Err(format!("webhook: {error}")),
            }
        })
    }
}
