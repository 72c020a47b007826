//! The closed set of notifier kinds and the one place that dispatches to their `NotifierType`.
//!
//! `notifier_kinds!` is invoked once, in `notifiers/mod.rs`, with one line per kind:
//! `Variant(folder::ConfigStruct)`. The line declares the kind's module (its folder) and its
//! variant of `NotifierKind`; the compiler checks that the struct implements `NotifierType`,
//! and everything that lists kinds (`type_names`: the `type` values and their did-you-mean,
//! the template) is derived from these lines, in their order.

use std::sync::Arc;

use super::{Cause, Notifier, NotifierKind, ReachFuture};

macro_rules! notifier_kinds {
    ($($variant:ident($module:ident::$kind:ident),)+) => {
        $(pub mod $module;)+

        /// A configured notifier's own settings, by its `type`.
        #[derive(Debug, Clone, PartialEq)]
        pub enum NotifierKind {
            $($variant($module::$kind),)+
        }

        impl NotifierKind {
            /// Every `type` a notifier can have, in registration order.
            pub fn type_names() -> Vec<&'static str> {
                vec![$(<$module::$kind as $crate::notifiers::NotifierType>::type_name(),)+]
            }

            /// Each kind's example for the `config init` template, in registration order.
            pub fn templates() -> Vec<&'static str> {
                vec![$(<$module::$kind as $crate::notifiers::NotifierType>::template(),)+]
            }

            /// Reads the keys of a notifier of `type_name`; `None` when no kind has that name.
            pub(crate) fn read(
                type_name: &str,
                r: &mut $crate::base::schema::Reader<'_>,
                table: &$crate::base::schema::Table<'_, '_>,
            ) -> Option<NotifierKind> {
                $(if <$module::$kind as $crate::notifiers::NotifierType>::type_name() == type_name {
                    return Some(NotifierKind::$variant(<$module::$kind as $crate::notifiers::NotifierType>::read(r, table)));
                })+
                None
            }

            /// The `type` this notifier was written with.
            pub fn type_name(&self) -> &'static str {
                match self {
                    $(NotifierKind::$variant(_) => <$module::$kind as $crate::notifiers::NotifierType>::type_name(),)+
                }
            }

            /// The kind, for the calls that need no static knowledge.
            fn as_type(&self) -> &dyn $crate::notifiers::NotifierType {
                match self {
                    $(NotifierKind::$variant(kind) => kind,)+
                }
            }
        }
    };
}

impl NotifierKind {
    /// Where it sends, for `config check` (no secret).
    pub fn summary(&self) -> String {
        self.as_type().summary()
    }

    /// Where a test message went, for `lookout doctor --send-test` (no secret).
    pub fn destination(&self) -> String {
        self.as_type().destination()
    }

    /// The notifier called `name`, ready to send.
    pub fn build(&self, name: &str) -> Arc<dyn Notifier> {
        self.as_type().build(name)
    }

    /// Doctor: reaches the receiver without sending anything.
    pub fn reach<'a>(&'a self, name: &'a str) -> ReachFuture<'a> {
        self.as_type().reach(name)
    }

    /// Doctor: the kind's own advice for `cause`, if it has any.
    pub fn hint(&self, cause: Cause) -> Option<&'static str> {
        self.as_type().hint(cause)
    }
}

/// For the kinds' tests, which must not reach up to `config`: reads the `[[notifier]]` tables
/// of a text the way `config` does (same reader, so the same paths, positions and messages),
/// taking each table's `name` and `type` as given (judging those is `config`'s job).
#[cfg(test)]
pub(crate) mod testing {
    use super::NotifierKind;
    use crate::base::schema::{ProblemLines, Reader, optional_string, unique_name};

    /// The kinds read from `text` and the text of every problem (empty when there is none),
    /// as `lookout config check` prints them for a file named `lookout.toml`.
    pub fn read_with(
        text: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> (Vec<NotifierKind>, String, Vec<String>) {
        let document = match toml::de::DeTable::parse(text) {
            Ok(document) => document,
            Err(error) => panic!("not TOML: {error}\n{text}"),
        };
        let mut r = Reader::new("lookout.toml", text, env);
        let root = r.root(document.get_ref());
        let mut kinds = Vec::new();
        let mut names = std::collections::HashSet::new();
        for table in r.table_array(&root, "notifier") {
            // As config reads it: problems are then keyed by the name, as users see them.
            unique_name(&mut r, &table, &mut names, "notifier", "ops-mail");
            let type_name = optional_string(&mut r, &table, "type").unwrap_or_default();
            kinds.extend(NotifierKind::read(&type_name, &mut r, &table));
        }
        let asked = r.asked_paths();
        let problems = r.finish(document.get_ref());
        (kinds, ProblemLines(&problems).to_string(), asked)
    }

    /// The kinds of `text`, which must have no problem.
    pub fn read(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Vec<NotifierKind> {
        let (kinds, problems, _) = read_with(text, env);
        assert!(problems.is_empty(), "{problems}");
        kinds
    }

    /// The problems of `text` (no `${ENV}` set), which must have some.
    pub fn errors(text: &str) -> String {
        let (_, problems, _) = read_with(text, &|_| None);
        assert!(!problems.is_empty(), "expected problems in:\n{text}");
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::testing::read_with;
    use super::*;

    #[test]
    fn every_type_name_is_registered_once_in_order() {
        let names = NotifierKind::type_names();
        let mut unique = names.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(
            unique.len(),
            names.len(),
            "a type registered twice: {names:?}"
        );
        // In registration order; a new kind registers after these.
        assert!(
            names.starts_with(&["email", "webhook", "alertmanager"]),
            "{names:?}"
        );
    }

    /// The `config init` examples: every block uncommented is a valid notifier, one per kind
    /// in registration order, and shows every key the kind's reader asks for.
    #[test]
    fn every_template_example_uncommented_is_a_valid_notifier() {
        let mut uncommented = String::new();
        for (index, template) in NotifierKind::templates().into_iter().enumerate() {
            let mut in_block = false;
            for line in template.lines() {
                assert!(line.starts_with('#'), "not a comment: {line:?}");
                assert!(line.chars().count() <= 110, "too long: {line:?}");
                if line.trim_end() == "# [[notifier]]" {
                    in_block = true;
                } else if line.trim_end() == "#" {
                    in_block = false;
                }
                if in_block {
                    uncommented.push_str(line.strip_prefix("# ").unwrap_or(line));
                    uncommented.push('\n');
                }
            }
            assert!(in_block, "kind {index}: its example must end the template");
        }
        let env = |_: &str| Some("x".to_string());
        let (kinds, problems, asked) = read_with(&uncommented, &env);
        assert!(
            problems.is_empty(),
            "the notifier examples do not read:\n{problems}\n{uncommented}"
        );
        let types: Vec<&str> = kinds.iter().map(NotifierKind::type_name).collect();
        assert_eq!(types, NotifierKind::type_names());
        let document = toml::de::DeTable::parse(&uncommented)
            .map(|t| t.into_inner())
            .unwrap_or_default();
        let Some(toml::de::DeValue::Array(written)) = document.get("notifier").map(|v| v.get_ref())
        else {
            panic!("no [[notifier]] in the examples")
        };
        for asked in asked {
            let Some((index, key)) = asked
                .strip_prefix("notifier[")
                .and_then(|rest| rest.split_once("]."))
            else {
                continue;
            };
            let index: usize = index.parse().unwrap_or_default();
            let Some(toml::de::DeValue::Table(table)) = written.get(index).map(|v| v.get_ref())
            else {
                panic!("notifier[{index}] is not a table")
            };
            assert!(
                table.get(key).is_some(),
                "the {} example does not show {key}",
                types[index]
            );
        }
    }
}
