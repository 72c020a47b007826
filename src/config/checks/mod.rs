//! `[[check]]` tables: the keys every check has (name, type, interval, timeout, retries,
//! recover_after, depends_on, ...); the keys of each type are read by the type itself
//! (`crate::checks`, one folder per type, dispatched by `CheckKind`). A `type` that names no
//! type is reported once, with a did-you-mean, and the rest of that table is not judged:
//! its keys belong to a type nobody knows.

use std::time::Duration;

use crate::base::schema::{
    Reader, Table, bool_setting, closed_type, duration_setting, positive, string_setting,
    unique_name, whole_setting,
};
use crate::model::Layer;

mod dependencies;

pub use crate::checks::CheckKind;
pub use dependencies::dependency_graph;
pub use dependencies::effective_dependencies;

/// One configured health check.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckConfig {
    /// `name`: unique, used in series labels, events and the CLI.
    pub name: String,
    /// `layer`: where the dashboard and `lookout check` group it; defaults by type.
    pub layer: Layer,
    /// `interval`: how often it runs (default 30s).
    pub interval: Duration,
    /// `timeout`: the longest one attempt may take (default 5s, at most the interval).
    pub timeout: Duration,
    /// `retries`: immediate retries that must also fail before a failure is reported (default 1).
    pub retries: u32,
    /// `recover_after`: consecutive successes needed to report recovery (default 2).
    pub recover_after: u32,
    /// `error_window`: the window of the failed-run ratio `check_error_ratio` (default 5m).
    pub error_window: Duration,
    /// `depends_on`: names of checks this one needs (used by alert inhibition). Never a cycle
    /// (`config check` rejects one); see `effective_dependencies` for the graph the engine uses.
    pub depends_on: Vec<String>,
    /// Whether the check's table has a `depends_on` key at all, even `depends_on = []`: an
    /// explicit list replaces the dependencies implied by the layers.
    pub depends_on_set: bool,
    /// `enabled` (default true).
    pub enabled: bool,
    pub kind: CheckKind,
}

const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
const DEFAULT_ERROR_WINDOW: Duration = Duration::from_secs(300);

/// Every `[[check]]`; problems (duplicates, unknown types, bad keys) go to the reader.
pub(in crate::config) fn read_checks(r: &mut Reader<'_>, root: &Table<'_, '_>) -> Vec<CheckConfig> {
    let tables = r.table_array(root, "check");
    let mut checks: Vec<CheckConfig> = Vec::with_capacity(tables.len());
    // (check name, its depends_on entries), for every check with a usable name.
    let mut dependencies: Vec<(String, Vec<DependsOnEntry>)> = Vec::new();
    let mut names = std::collections::HashSet::new();
    for table in &tables {
        let name = unique_name(r, table, &mut names, "check", "app");
        let type_field = closed_type(r, table, &CheckKind::type_names(), "check");
        let type_name = type_field.value.clone();
        let layer = string_setting(
            r,
            table,
            "layer",
            CheckKind::default_layer(&type_name),
            "a layer string",
            |text| match text.value.trim() {
                "system" => Ok(Layer::System),
                "application" => Ok(Layer::Application),
                "database" => Ok(Layer::Database),
                "redis" => Ok(Layer::Redis),
                "business" => Ok(Layer::Business),
                _ => Err(format!(
                    "{} is not a layer; expected \"system\", \"application\", \"database\", \"redis\" or \"business\"",
                    text.quoted()
                )),
            },
        );
        let interval = duration_setting(r, table, "interval", DEFAULT_INTERVAL, positive);
        let timeout = duration_setting(
            r,
            table,
            "timeout",
            DEFAULT_TIMEOUT.min(interval.value),
            positive,
        );
        if timeout.valid && interval.valid && timeout.value > interval.value {
            r.problem(
                timeout.span.as_ref(),
                &timeout.path,
                format!(
                    "must not be longer than the interval ({}); a check cannot run more often than it can finish",
                    crate::base::units::format_duration(interval.value)
                ),
            );
        }
        let retries = whole_setting(r, table, "retries", 1, 0..=10).value;
        let recover_after = whole_setting(r, table, "recover_after", 2, 0..=100)
            .value
            .max(1);
        let error_window =
            duration_setting(r, table, "error_window", DEFAULT_ERROR_WINDOW, positive);
        let enabled = bool_setting(r, table, "enabled", true);
        let depends_on_set = r.item(table, "depends_on").is_some();
        let depends_on = crate::base::schema::string_list(r, table, "depends_on");
        let kind = CheckKind::read(&type_name, r, table);
        if kind.is_none() {
            // The type is missing or unknown (already reported): the table's other keys are
            // that unknown type's, so calling each one unknown would bury the one real mistake.
            r.accept_all_keys(table);
        }
        if name.valid && name.span.is_some() {
            dependencies.push((name.value.clone(), depends_on.clone()));
        }
        if let Some(kind) = kind {
            checks.push(CheckConfig {
                name: name.value,
                layer: layer.value,
                interval: interval.value,
                timeout: timeout.value,
                retries,
                recover_after,
                error_window: error_window.value,
                depends_on: depends_on.into_iter().map(|(name, _, _)| name).collect(),
                depends_on_set,
                enabled: enabled.value,
                kind,
            });
        }
    }
    for (name, span, path) in dependencies.iter().flat_map(|(_, entries)| entries) {
        if !names.contains(name) {
            r.problem(
                span.as_ref(),
                path,
                format!("{name:?} is not the name of any check"),
            );
        }
    }
    for (span, path, cycle) in dependency_cycles(&dependencies) {
        r.problem(
            span.as_ref(),
            &path,
            format!("a dependency cycle: {}", cycle.join(" → ")),
        );
    }
    checks
}

/// One element of a `depends_on` list: the name, where it is written, its key path.
type DependsOnEntry = (String, Option<std::ops::Range<usize>>, String);

/// The cycles among the checks' `depends_on`, each once: a depth-first walk in file order
/// (checks, then each list in order) reports every entry that leads back to a check still on
/// the walk's path, with that path (`a → b → a`; `a → a` for a check that names itself). Every
/// cycle has such an entry, so removing the reported ones leaves none. Unknown names are left
/// to their own message.
fn dependency_cycles(
    checks: &[(String, Vec<DependsOnEntry>)],
) -> Vec<(Option<std::ops::Range<usize>>, String, Vec<String>)> {
    use std::collections::HashMap;
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        OnPath,
        Done,
    }
    let mut index: HashMap<&str, usize> = HashMap::new();
    for (at, (name, _)) in checks.iter().enumerate() {
        index.entry(name.as_str()).or_insert(at);
    }
    let mut marks = vec![Mark::New; checks.len()];
    let mut found = Vec::new();
    for start in 0..checks.len() {
        if marks[start] != Mark::New {
            continue;
        }
        // The walk's path: (check, the next entry of its list to follow).
        let mut path: Vec<(usize, usize)> = vec![(start, 0)];
        marks[start] = Mark::OnPath;
        while let Some((check, next)) = path.last_mut() {
            let (check, entry) = (*check, *next);
            let Some((name, span, key)) = checks[check].1.get(entry) else {
                marks[check] = Mark::Done;
                path.pop();
                continue;
            };
            *next += 1;
            let named_before = checks[check].1[..entry].iter().any(|(n, _, _)| n == name);
            let Some(&target) = index.get(name.as_str()).filter(|_| !named_before) else {
                continue;
            };
            match marks[target] {
                Mark::New => {
                    marks[target] = Mark::OnPath;
                    path.push((target, 0));
                }
                Mark::OnPath => {
                    let from = path.iter().position(|(c, _)| *c == target).unwrap_or(0);
                    let mut cycle: Vec<String> = path[from..]
                        .iter()
                        .map(|(c, _)| checks[*c].0.clone())
                        .collect();
                    cycle.push(checks[target].0.clone());
                    found.push((span.clone(), key.clone(), cycle));
                }
                Mark::Done => {}
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use crate::config::test_support::no_env;
    use crate::config::{CheckKind, from_str};
    use crate::model::Layer;
    use std::time::Duration;

    fn problems(text: &str) -> String {
        from_str(text, "c.toml", &no_env).unwrap_err().to_string()
    }

    #[test]
    fn reads_common_keys_with_defaults_by_type() {
        let config = from_str(
            "[[check]]\nname = \"app\"\ntype = \"http\"\nurl = \"http://127.0.0.1:5000/health\"\n\n\
             [[check]]\nname = \"db\"\ntype = \"postgres\"\ndsn = \"postgres://127.0.0.1/test\"\n\
             interval = \"1m\"\ntimeout = \"10s\"\nretries = 0\nrecover_after = 3\ndepends_on = [\"app\"]\n",
            "c.toml",
            &no_env,
        )
        .unwrap();
        let [app, db] = config.checks.as_slice() else {
            panic!("two checks expected")
        };
        assert_eq!(app.name, "app");
        assert_eq!(app.layer, Layer::Application);
        assert_eq!(app.interval, Duration::from_secs(30));
        assert_eq!(app.timeout, Duration::from_secs(5));
        assert_eq!((app.retries, app.recover_after), (1, 2));
        assert!(
            matches!(&app.kind, CheckKind::Http(h) if h.request.url == "http://127.0.0.1:5000/health")
        );
        assert_eq!(db.layer, Layer::Database);
        assert_eq!(db.interval, Duration::from_secs(60));
        assert_eq!((db.retries, db.recover_after), (0, 3));
        assert_eq!(db.depends_on, vec!["app".to_string()]);
    }

    #[test]
    fn reports_every_problem_of_every_check_with_positions() {
        let text = "[[check]]\ntype = \"htp\"\n\n\
                    [[check]]\nname = \"a\"\ntype = \"tcp\"\naddress = \"127.0.0.1:1\"\nintervall = \"5s\"\n\n\
                    [[check]]\nname = \"a\"\ntype = \"tcp\"\naddress = \"127.0.0.1:2\"\ninterval = \"1s\"\ntimeout = \"2s\"\n\
                    depends_on = [\"nope\"]\nretries = 99\n";
        assert_eq!(
            problems(text),
            "c.toml:1:1: check[0].name: missing; every check needs a name, like name = \"app\"\n\
             c.toml:2:8: check[0].type: \"htp\" is not a check type; did you mean \"http\"?\n\
             c.toml:8:1: check \"a\".intervall: unknown key; did you mean \"interval\"?\n\
             c.toml:11:8: check[2].name: \"a\" is already the name of another check; names must be unique\n\
             c.toml:15:11: check[2].timeout: must not be longer than the interval (1s); a check cannot run more often than it can finish\n\
             c.toml:16:15: check[2].depends_on[0]: \"nope\" is not the name of any check\n\
             c.toml:17:11: check[2].retries: 99 is out of range; expected a whole number from 0 to 10"
        );
    }

    #[test]
    fn a_dependency_cycle_is_reported_once_at_the_entry_that_closes_it() {
        let tcp = |name: &str, depends_on: &str| {
            format!(
                "[[check]]\nname = \"{name}\"\ntype = \"tcp\"\naddress = \"127.0.0.1:1\"\ndepends_on = {depends_on}\n\n"
            )
        };
        // a -> b -> a, written at check[1].depends_on[0].
        let text = [tcp("a", "[\"b\"]"), tcp("b", "[\"a\"]")].concat();
        assert_eq!(
            problems(&text),
            "c.toml:11:15: check \"b\".depends_on[0]: a dependency cycle: a → b → a"
        );
        // A check that names itself.
        assert_eq!(
            problems(&tcp("a", "[\"a\"]")),
            "c.toml:5:15: check \"a\".depends_on[0]: a dependency cycle: a → a"
        );
        // Two cycles through c, a longer one, an entry named twice (one cycle, one message), a
        // check outside them that depends on one, and an unknown name.
        let text = [
            tcp("x", "[\"a\"]"),
            tcp("a", "[\"b\"]"),
            tcp("b", "[\"c\", \"nope\"]"),
            tcp("c", "[\"a\", \"b\", \"b\"]"),
            tcp("d", "[\"d\", \"x\"]"),
        ]
        .concat();
        assert_eq!(
            problems(&text),
            "c.toml:17:20: check \"b\".depends_on[1]: \"nope\" is not the name of any check\n\
             c.toml:23:15: check \"c\".depends_on[0]: a dependency cycle: a → b → c → a\n\
             c.toml:23:20: check \"c\".depends_on[1]: a dependency cycle: b → c → b\n\
             c.toml:29:15: check \"d\".depends_on[0]: a dependency cycle: d → d"
        );
        // No cycle: a diamond.
        let text = [
            tcp("top", "[\"l\", \"r\"]"),
            tcp("l", "[\"bottom\"]"),
            tcp("r", "[\"bottom\"]"),
            tcp("bottom", "[]"),
        ]
        .concat();
        assert!(from_str(&text, "c.toml", &no_env).is_ok());
    }

    /// Regression: a misspelt `type` was reported, and so was every key of the type meant
    /// ("url: unknown key", ...), burying the one mistake under false ones.
    #[test]
    fn a_misspelt_type_is_the_only_problem_of_its_check() {
        assert_eq!(
            problems(
                "[[check]]\nname = \"app\"\ntype = \"htp\"\nurl = \"http://127.0.0.1:5000/health\"\n\
                 expect_status = [200]\n[[check.assert]]\njson_pointer = \"/status\"\nequals = \"ok\"\n\n\
                 [[check]]\nname = \"db\"\ntype = \"tcp\"\naddress = \"127.0.0.1:1\"\nadress = \"x\"\n"
            ),
            "c.toml:3:8: check \"app\".type: \"htp\" is not a check type; did you mean \"http\"?\n\
             c.toml:14:1: check \"db\".adress: unknown key; did you mean \"address\"?"
        );
    }

    #[test]
    fn a_type_specific_key_that_is_missing_is_named() {
        assert_eq!(
            problems("[[check]]\nname = \"r\"\ntype = \"redis\"\n"),
            "c.toml:1:1: check \"r\".url: missing; this check type needs it, like url = \"redis://127.0.0.1:6379/0\""
        );
    }
}
