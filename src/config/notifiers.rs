//! `[[notifier]]` tables: the keys every notifier has (`name`, `type`); the keys of each type
//! are read by the type itself (`crate::notifiers`, one folder per kind, dispatched by
//! `NotifierKind`). The template's part on notifiers is `notifiers_template.toml` (what they
//! are) followed by each kind's example, in registration order.
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

use crate::base::schema::{Reader, Table, closed_type, unique_name};

pub use crate::notifiers::NotifierKind;

#[derive(Debug, Clone, PartialEq)]
pub struct NotifierConfig {
    /// `name`: unique; what `[[alerts.rule]] notifiers` and the outbox refer to.
    pub name: String,
    pub kind: NotifierKind,
}

/// What notifiers are, before each kind's example.
const TEMPLATE_HEADER: &str = include_str!("notifiers_template.toml");

/// The commented examples of `config init`: what notifiers are, then one block per kind with
/// every key (`{notifier_types}`: "email, webhook or alertmanager").
pub(in crate::config) fn template() -> String {
    let types = NotifierKind::type_names();
    let listed = match types.split_last() {
        Some((last, [])) => last.to_string(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    };
    let mut text = TEMPLATE_HEADER.to_string();
    for (index, example) in NotifierKind::templates().into_iter().enumerate() {
        if index > 0 {
            text.push_str("#\n");
        }
        text.push_str(&example.replace("{notifier_types}", &listed));
    }
    text
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
        let type_field = closed_type(r, table, &NotifierKind::type_names(), "notifier");
        match NotifierKind::read(&type_field.value, r, table) {
            Some(kind) => notifiers.push(NotifierConfig {
                name: name.value,
                kind,
            }),
            // Which keys belong depends on the type: with none known, none is unknown (a
            // misspelt type is the table's only problem, not every key of the meant type).
            None => r.accept_all_keys(table),
        }
    }
    notifiers
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::test_support::errors;

    #[test]
    fn a_misspelt_type_is_the_only_problem_of_its_notifier() {
        let text = "[[notifier]]\nname = \"hook\"\ntype = \"webhok\"\n\
                    url = \"http://127.0.0.1:9/hook\"\nformat = \"json\"\ntimeout = \"5s\"\n";
        assert_eq!(
            errors(text),
            "lookout.toml:3:8: notifier \"hook\".type: \"webhok\" is not a notifier type; did you mean \"webhook\"?"
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
             lookout.toml:4:1: notifier \"a\".from: \"not an address\" is not an email address; expected one like \"ops@example.org\"\n\
             lookout.toml:7:8: notifier \"a\".smtp: \"smtp+tls://mail\" has an unknown scheme \"smtp+tls\"; expected smtp://host[:port] (plain), smtp+starttls://host[:port] or smtps://host[:port]\n\
             lookout.toml:9:26: notifier \"a\".to[1]: \"nobody\" is not an email address; expected one like \"ops@example.org\"\n\
             lookout.toml:10:15: notifier \"a\".to_critical: expected an array of strings, found a string\n\
             lookout.toml:12:1: notifier \"a\".pasword: unknown key; did you mean \"password\"?\n\
             lookout.toml:14:1: notifier[2].url: is not an http(s) URL; expected http:// or https:// and a host, like \"https://hooks.example.org/lookout\"\n\
             lookout.toml:15:8: notifier[2].name: \"a\" is already the name of another notifier; names must be unique\n\
             lookout.toml:18:10: notifier[2].format: \"xml\" is not a webhook format; expected \"json\" or \"slack\"\n\
             lookout.toml:19:33: notifier[2].headers.Idempotency-Key: is set by Lookout itself and cannot be configured\n\
             lookout.toml:20:11: notifier[2].timeout: \"0s\" must be greater than zero\n\
             lookout.toml:24:8: notifier \"b\".type: \"pager\" is not a notifier type; expected one of \"email\", \"webhook\", \"alertmanager\"\n\
             lookout.toml:26:1: notifier \"c\".type: missing; expected one of \"email\", \"webhook\", \"alertmanager\""
        );
    }

    /// The part on notifiers of `config init`: the header, then each kind's example, the types
    /// listed in the first ("email, webhook or alertmanager", a new kind after them).
    #[test]
    fn the_template_lists_the_types_and_is_part_of_config_init() {
        let text = template();
        let names = NotifierKind::type_names();
        let listed = match names.split_last() {
            Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
            None => String::new(),
        };
        assert!(listed.starts_with("email, webhook"), "{listed}");
        assert!(
            text.contains(&format!(
                "# type = \"email\"                          # {listed} (required)\n"
            )),
            "{text}"
        );
        assert!(!text.contains("{notifier_types}"), "{text}");
        assert!(
            crate::config::init_template("default")
                .unwrap_or_default()
                .contains(&text),
            "config init must include the notifiers' template"
        );
    }
}
