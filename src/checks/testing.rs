//! Reading `[[check]]` tables in the check types' own tests as `config` reads them (the same
//! `base::schema` reader: key paths by name, positions, messages) without depending on
//! `config`, a layer above. The keys every check has are only asked for here, so that they are
//! not unknown; `config::checks` reads and tests them.

use super::CheckKind;
use crate::base::schema::{ProblemLines, Reader, closed_type, unique_name};

/// The keys of every check, read by `config::checks`.
const COMMON: &[&str] = &[
    "layer",
    "interval",
    "timeout",
    "retries",
    "recover_after",
    "error_window",
    "enabled",
    "depends_on",
];

/// The check kinds read from `text` and the text of every problem (empty when there is none),
/// as `lookout config check` prints them for a file named `lookout.toml`.
pub fn read_with(text: &str, env: &dyn Fn(&str) -> Option<String>) -> (Vec<CheckKind>, String) {
    let document = match toml::de::DeTable::parse(text) {
        Ok(document) => document,
        Err(error) => panic!("not TOML: {error}\n{text}"),
    };
    let mut r = Reader::new("lookout.toml", text, env);
    let root = r.root(document.get_ref());
    let mut kinds = Vec::new();
    let mut names = std::collections::HashSet::new();
    for table in r.table_array(&root, "check") {
        unique_name(&mut r, &table, &mut names, "check", "app");
        let type_name = closed_type(&mut r, &table, &CheckKind::type_names(), "check").value;
        for key in COMMON {
            let _ = r.item(&table, key);
        }
        match CheckKind::read(&type_name, &mut r, &table) {
            Some(kind) => kinds.push(kind),
            None => r.accept_all_keys(&table),
        }
    }
    let problems = r.finish(document.get_ref());
    (kinds, ProblemLines(&problems).to_string())
}

/// The check kinds of `text`, which must have no problem.
pub fn read(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Vec<CheckKind> {
    let (kinds, problems) = read_with(text, env);
    assert!(problems.is_empty(), "{problems}");
    kinds
}

/// The problems of `text`, which must have some.
pub fn errors_with_env(text: &str, env: &dyn Fn(&str) -> Option<String>) -> String {
    let (_, problems) = read_with(text, env);
    assert!(!problems.is_empty(), "expected problems in:\n{text}");
    problems
}

/// The problems of `text` (no `${ENV}` set), which must have some.
pub fn errors(text: &str) -> String {
    errors_with_env(text, &|_| None)
}
