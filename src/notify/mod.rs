//! Notifications: the outbox between the alert engine and the notifiers.
//!
//! alert engine --(AlertNotice rows, persisted)--> outbox (store) --> `outbox` worker groups
//! the due rows of one notifier and one group key into a `GroupMessage` --> `Notifier::send`.
//! While the store cannot write, the rows wait in memory instead (`held`), are sent from
//! there, and go back to the store once it takes writes again.
//!
//! The notifiers themselves (email, webhook, Alertmanager) are kinds, one folder each in
//! `crate::notifiers`; this module builds them from the config and calls them through
//! `Notifier`, knowing none of them by name.

pub mod held;
pub mod outbox;
pub mod plan;

use std::sync::Arc;

use crate::config::NotifierConfig;
use crate::notifiers::Notifier;

/// One notifier per `[[notifier]]`, in config order. Building does no I/O (files such as
/// `ca_file` are read at each send, so fixing one needs no restart), hence no error.
pub fn build_notifiers(configs: &[NotifierConfig]) -> Vec<Arc<dyn Notifier>> {
    configs
        .iter()
        .map(|config| config.kind.build(&config.name))
        .collect()
}
