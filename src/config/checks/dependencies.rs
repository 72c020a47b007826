//! What each check waits for: the graph the alert engine holds a dependent's failure on until
//! its dependencies have reported. Two sources of edges: a check's own `depends_on` (explicit),
//! or, for an application check without that key while `[alerts] implied_dependencies` is on,
//! every database and Redis check (implied by the layers; Lookout watches one host, so they
//! are the same host's). `config check` rejects a cycle among explicit edges
//! (`checks::read_checks`); here an edge that would close a cycle is left out all the same
//! (an implied one when explicit edges close it), so the result is always acyclic, also for a
//! `Config` built in code.

use std::collections::{BTreeSet, HashMap};

use crate::config::{CheckConfig, Config};
use crate::model::Layer;

/// Every enabled check (a key, even when it waits for nothing) with its direct dependencies,
/// sorted and without duplicates. Disabled checks are neither dependents nor dependencies.
pub fn effective_dependencies(config: &Config) -> HashMap<String, Vec<String>> {
    dependency_graph(config)
        .into_iter()
        .map(|d| (d.check, d.waits_for))
        .collect()
}

/// One enabled check's dependencies, and whether they come from the layers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dependencies {
    pub check: String,
    /// Sorted, without duplicates.
    pub waits_for: Vec<String>,
    /// True when implied by the layers (the check has no `depends_on` key).
    pub implied: bool,
}

/// `effective_dependencies` in the order of the checks, saying which lists are implied (for
/// the `config check` summary).
pub fn dependency_graph(config: &Config) -> Vec<Dependencies> {
    let enabled: Vec<&CheckConfig> = config.checks.iter().filter(|c| c.enabled).collect();
    let mut index: HashMap<&str, usize> = HashMap::new();
    for (at, check) in enabled.iter().enumerate() {
        index.entry(check.name.as_str()).or_insert(at);
    }
    let mut edges: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); enabled.len()];
    // Explicit edges first (they win), each list in file order.
    for (from, check) in enabled.iter().enumerate() {
        if !check.depends_on_set {
            continue;
        }
        for name in &check.depends_on {
            if let Some(&to) = index.get(name.as_str()) {
                add_unless_cycle(&mut edges, from, to);
            }
        }
    }
    let infrastructure: Vec<usize> = enabled
        .iter()
        .enumerate()
        .filter(|(_, check)| matches!(check.layer, Layer::Database | Layer::Redis))
        .map(|(at, _)| at)
        .collect();
    let implies = |check: &CheckConfig| {
        config.alerts.implied_dependencies
            && !check.depends_on_set
            && check.layer == Layer::Application
    };
    for (from, check) in enabled.iter().enumerate() {
        if implies(check) {
            for &to in &infrastructure {
                add_unless_cycle(&mut edges, from, to);
            }
        }
    }
    enabled
        .iter()
        .zip(edges)
        .map(|(check, to)| {
            let mut waits_for: Vec<String> =
                to.into_iter().map(|at| enabled[at].name.clone()).collect();
            waits_for.sort();
            waits_for.dedup();
            Dependencies {
                check: check.name.clone(),
                waits_for,
                implied: implies(check),
            }
        })
        .collect()
}

/// Adds `from -> to` unless `to` already reaches `from` (or is `from`).
fn add_unless_cycle(edges: &mut [BTreeSet<usize>], from: usize, to: usize) {
    if !reaches(edges, to, from) {
        edges[from].insert(to);
    }
}

fn reaches(edges: &[BTreeSet<usize>], start: usize, goal: usize) -> bool {
    let mut seen = vec![false; edges.len()];
    let mut stack = vec![start];
    while let Some(at) = stack.pop() {
        if at == goal {
            return true;
        }
        if std::mem::replace(&mut seen[at], true) {
            continue;
        }
        stack.extend(edges[at].iter().copied());
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{embedded_default, from_str};

    fn parse(text: &str) -> Config {
        from_str(text, "c.toml", &|_| None).unwrap_or_else(|e| panic!("{e}\n{text}"))
    }

    fn check(name: &str, type_and_target: &str, extra: &str) -> String {
        format!("[[check]]\nname = \"{name}\"\n{type_and_target}\n{extra}\n")
    }

    const HTTP: &str = "type = \"http\"\nurl = \"http://127.0.0.1:5000/health\"";
    const PG: &str = "type = \"postgres\"\ndsn = \"postgres://127.0.0.1/app\"";
    const REDIS: &str = "type = \"redis\"\nurl = \"redis://127.0.0.1:6379/0\"";
    const TCP: &str = "type = \"tcp\"\naddress = \"127.0.0.1:5000\"";

    fn graph(config: &Config) -> Vec<(String, Vec<String>)> {
        let map = effective_dependencies(config);
        let mut pairs: Vec<(String, Vec<String>)> = map.into_iter().collect();
        pairs.sort();
        pairs
    }

    fn pairs(expected: &[(&str, &[&str])]) -> Vec<(String, Vec<String>)> {
        expected
            .iter()
            .map(|(check, deps)| {
                (
                    check.to_string(),
                    deps.iter().map(|d| d.to_string()).collect(),
                )
            })
            .collect()
    }

    #[test]
    fn application_checks_wait_for_every_database_and_redis_check() {
        let text = [
            check("app", HTTP, ""),
            check("port", TCP, ""),
            check("db", PG, ""),
            check("cache", REDIS, ""),
            // Layer by choice, not by type: a business query on the database is no dependency.
            check("orders", PG, "layer = \"business\""),
            check("legacy", HTTP, "layer = \"database\""),
        ]
        .concat();
        let config = parse(&text);
        assert!(config.alerts.implied_dependencies, "on by default");
        assert_eq!(
            graph(&config),
            pairs(&[
                ("app", &["cache", "db", "legacy"]),
                ("cache", &[]),
                ("db", &[]),
                ("legacy", &[]),
                ("orders", &[]),
                ("port", &["cache", "db", "legacy"]),
            ])
        );
        let listed = dependency_graph(&config);
        assert!(listed[0].implied && !listed[2].implied);
        assert_eq!(listed[0].check, "app", "in the order of the checks");
    }

    #[test]
    fn an_explicit_list_replaces_the_implied_one_even_empty() {
        let text = [
            check("app", HTTP, "depends_on = [\"db\", \"db\"]"),
            check("worker", HTTP, "depends_on = []"),
            check("api", HTTP, ""),
            check("db", PG, ""),
            check("cache", REDIS, ""),
            // An explicit list on any layer.
            check("replica", PG, "depends_on = [\"db\"]"),
        ]
        .concat();
        let config = parse(&text);
        assert_eq!(
            graph(&config),
            pairs(&[
                ("api", &["cache", "db", "replica"]),
                ("app", &["db"]),
                ("cache", &[]),
                ("db", &[]),
                ("replica", &["db"]),
                ("worker", &[]),
            ])
        );
        assert!(config.checks[1].depends_on_set && config.checks[1].depends_on.is_empty());
        assert!(!config.checks[2].depends_on_set);
        let listed = dependency_graph(&config);
        assert!(!listed[0].implied && !listed[1].implied && listed[2].implied);
    }

    #[test]
    fn implied_dependencies_off_leaves_only_the_explicit_ones() {
        let text = [
            "[alerts]\nimplied_dependencies = false\n\n".to_string(),
            check("app", HTTP, ""),
            check("api", HTTP, "depends_on = [\"cache\"]"),
            check("db", PG, ""),
            check("cache", REDIS, ""),
        ]
        .concat();
        let config = parse(&text);
        assert!(!config.alerts.implied_dependencies);
        assert_eq!(
            graph(&config),
            pairs(&[
                ("api", &["cache"]),
                ("app", &[]),
                ("cache", &[]),
                ("db", &[])
            ])
        );
        assert!(dependency_graph(&config).iter().all(|d| !d.implied));
    }

    #[test]
    fn disabled_checks_are_neither_dependents_nor_dependencies() {
        let text = [
            check("app", HTTP, ""),
            check("old-app", HTTP, "enabled = false"),
            check("db", PG, ""),
            check("old-db", PG, "enabled = false"),
            check("api", HTTP, "depends_on = [\"old-db\", \"db\"]"),
        ]
        .concat();
        assert_eq!(
            graph(&parse(&text)),
            pairs(&[("api", &["db"]), ("app", &["db"]), ("db", &[])])
        );
    }

    #[test]
    fn an_implied_edge_that_would_close_a_cycle_is_dropped() {
        // db waits for app explicitly: app -> db (implied) would make a cycle; explicit wins.
        // api -> cache stays, and so does api -> db (db -> app does not lead back to api).
        let text = [
            check("app", HTTP, ""),
            check("api", HTTP, ""),
            check("db", PG, "depends_on = [\"app\"]"),
            check("cache", REDIS, ""),
        ]
        .concat();
        let config = parse(&text);
        assert_eq!(
            graph(&config),
            pairs(&[
                ("api", &["cache", "db"]),
                ("app", &["cache"]),
                ("cache", &[]),
                ("db", &["app"]),
            ])
        );
        // Through a longer explicit path too: cache -> worker -> app.
        let text = [
            check("app", HTTP, ""),
            check("worker", HTTP, "depends_on = [\"app\"]"),
            check("cache", REDIS, "depends_on = [\"worker\"]"),
        ]
        .concat();
        assert_eq!(
            graph(&parse(&text)),
            pairs(&[("app", &[]), ("cache", &["worker"]), ("worker", &["app"])])
        );
    }

    #[test]
    fn the_result_is_acyclic_even_for_a_config_built_in_code() {
        // `config check` rejects these; a Config made in code still gets an acyclic graph:
        // the edge that would close the cycle (the later one) is left out.
        let mut config = parse(&[check("a", HTTP, ""), check("b", HTTP, "")].concat());
        config.checks[0].depends_on = vec!["b".into(), "a".into()];
        config.checks[0].depends_on_set = true;
        config.checks[1].depends_on = vec!["a".into()];
        config.checks[1].depends_on_set = true;
        assert_eq!(graph(&config), pairs(&[("a", &["b"]), ("b", &[])]));
    }

    #[test]
    fn no_checks_no_graph() {
        assert!(effective_dependencies(&embedded_default()).is_empty());
    }
}
