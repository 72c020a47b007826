//! `type = "alertmanager"`: each notice posted as an alert to every member of a Prometheus
//! Alertmanager cluster (API v2), re-posted while firing. `config.rs` reads its keys;
//! `send.rs` builds the alerts and posts them (the payload is described there).

pub mod config;
pub mod send;

use std::sync::Arc;

pub use config::AlertmanagerConfig;
pub use send::AlertmanagerNotifier;

use super::http::reach_url;
use super::{Notifier, NotifierType, ReachFuture};
use crate::base::schema::{Reader, Table};
use crate::base::secret::url_origin;
use crate::base::units::format_duration;

impl NotifierType for AlertmanagerConfig {
    fn type_name() -> &'static str {
        "alertmanager"
    }

    fn read(r: &mut Reader<'_>, table: &Table<'_, '_>) -> AlertmanagerConfig {
        config::read_alertmanager(r, table)
    }

    fn template() -> &'static str {
        include_str!("template.toml")
    }

    /// The URLs hold no credentials (refused by the reader), so they are shown whole.
    fn summary(&self) -> String {
        format!(
            "{}, firing alerts re-posted every {}",
            self.urls.join(", "),
            format_duration(self.resend_interval)
        )
    }

    fn destination(&self) -> String {
        format!(
            "to {}",
            self.urls
                .iter()
                .map(|u| url_origin(u))
                .collect::<Vec<_>>()
                .join(", ")
        )
    }

    fn build(&self, name: &str) -> Arc<dyn Notifier> {
        Arc::new(AlertmanagerNotifier::new(name, self.clone()))
    }

    /// Every member, in order; the first that cannot be reached is the answer.
    fn reach<'a>(&'a self, _name: &'a str) -> ReachFuture<'a> {
        Box::pin(async move {
            let mut reached = Vec::new();
            for url in &self.urls {
                match reach_url(url, self.timeout).await {
                    Ok(origin) => reached.push(origin),
                    Err(error) => return Err(format!("Alertmanager: {error}")),
                }
            }
            Ok(format!("{} accept connections", reached.join(", ")))
        })
    }
}
