//! `[[notifier]]`: where notifications go. A closed enum of types, like checks.

use std::time::Duration;

use super::checks::Secret;

#[derive(Debug, Clone, PartialEq)]
pub struct NotifierConfig {
    pub name: String,
    pub kind: NotifierKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum NotifierKind {
    Email(EmailConfig),
    Webhook(WebhookConfig),
}

pub const NOTIFIER_TYPES: &[&str] = &["email", "webhook"];

#[derive(Debug, Clone, PartialEq)]
pub struct EmailConfig {
    /// `smtp`: smtp:// (plain), smtp+starttls://, smtps://; host and port.
    pub smtp: String,
    pub username: Option<String>,
    pub password: Option<Secret>,
    pub from: String,
    pub to: Vec<String>,
    pub timeout: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub struct WebhookConfig {
    pub url: String,
    /// `secret`: HMAC-SHA256 key for the signature header.
    pub secret: Option<Secret>,
    pub timeout: Duration,
}

/// Every `[[notifier]]`. (Stub until the reader lands: none.)
pub(in crate::config) fn read_notifiers(
    _r: &mut super::reader::Reader<'_>,
    _root: &super::reader::Table<'_, '_>,
) -> Vec<NotifierConfig> {
    Vec::new()
}
