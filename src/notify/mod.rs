//! Notifications: what the alert engine hands to people, and the notifiers that deliver it.
//!
//! alert engine --(AlertNotice rows, persisted)--> outbox (store) --> `outbox` worker groups
//! the due rows of one notifier and one group key into a `GroupMessage` --> `Notifier::send`.
//! While the store cannot write, the rows wait in memory instead (`held`), are sent from
//! there, and go back to the store once it takes writes again.
//!
//! Adding a notifier = one file implementing `Notifier` + one variant in
//! `config::NotifierKind` + one line in `build_notifiers`.

pub mod held;
pub mod outbox;
pub mod plan;

use std::sync::Arc;

use crate::config::{NotifierConfig, NotifierKind};
use crate::notifiers::Notifier;

// --- notifiers (issue "Alert manager", section Notifiers) ---
pub mod alertmanager;
pub mod email;
pub mod webhook;

// --- notifiers (issue "Alert manager", section Notifiers) ---

/// One notifier per `[[notifier]]`, in config order. Building does no I/O (files such as
/// `ca_file` are read at each send, so fixing one needs no restart), hence no error.
pub fn build_notifiers(configs: &[NotifierConfig]) -> Vec<Arc<dyn Notifier>> {
    configs
        .iter()
        .map(|config| -> Arc<dyn Notifier> {
            match &config.kind {
                NotifierKind::Email(email) => {
                    Arc::new(email::EmailNotifier::new(&config.name, email.clone()))
                }
                NotifierKind::Webhook(webhook) => {
                    Arc::new(webhook::WebhookNotifier::new(&config.name, webhook.clone()))
                }
                NotifierKind::Alertmanager(am) => Arc::new(
                    alertmanager::AlertmanagerNotifier::new(&config.name, am.clone()),
                ),
            }
        })
        .collect()
}
