//! Inhibition: a firing alert keeps related, less useful alerts quiet — a check that is down
//! silences its response-time alert; a check down silences the alerts of the checks that
//! `depends_on` it (transitively); and any `[[alerts.inhibit]]` rule. Pure.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::matcher::all_match;
use super::mute::MuteReason;
use crate::config::InhibitConfig;

/// One firing alert as inhibition sees it.
pub struct Firing<'a> {
    pub id: &'a str,
    pub labels: &'a BTreeMap<String, String>,
}

/// Check name -> the checks it depends on, closed transitively.
pub fn dependency_closure(
    direct: &HashMap<String, Vec<String>>,
) -> HashMap<String, HashSet<String>> {
    let mut closure = HashMap::new();
    for start in direct.keys() {
        let mut seen = HashSet::new();
        let mut stack: Vec<&String> = direct[start].iter().collect();
        while let Some(next) = stack.pop() {
            if next != start
                && seen.insert(next.clone())
                && let Some(more) = direct.get(next)
            {
                stack.extend(more.iter());
            }
        }
        closure.insert(start.clone(), seen);
    }
    closure
}

/// Why the alert `(id, labels)` is inhibited by one of `firing` ("inhibited by
/// check_failed{check=db}"), or `None`.
pub fn inhibited_by(
    id: &str,
    labels: &BTreeMap<String, String>,
    firing: &[Firing<'_>],
    rules: &[InhibitConfig],
    depends_on: &HashMap<String, HashSet<String>>,
) -> Option<MuteReason> {
    let describe = |source: &Firing<'_>| MuteReason::inhibited_by(source.labels);
    // Target matchers depend only on the candidate: test them before looking at sources.
    for rule in rules.iter().filter(|rule| all_match(&rule.target, labels)) {
        let source = firing.iter().filter(|s| s.id != id).find(|source| {
            all_match(&rule.source, source.labels)
                && rule
                    .equal
                    .iter()
                    .all(|l| source.labels.get(l) == labels.get(l))
        });
        if let Some(source) = source {
            return Some(describe(source));
        }
    }
    // A check that is down inhibits the alerts of checks that depend on it.
    let deps = labels.get("check").and_then(|mine| depends_on.get(mine));
    if let Some(deps) = deps.filter(|d| !d.is_empty()) {
        let source = firing.iter().filter(|s| s.id != id).find(|source| {
            source.labels.get("alertname").map(String::as_str) == Some("check_failed")
                && source
                    .labels
                    .get("check")
                    .is_some_and(|down| deps.contains(down))
        });
        if let Some(source) = source {
            return Some(describe(source));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::matcher::Matcher;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_down_check_inhibits_its_response_time_and_its_dependents() {
        let rules = crate::config::alerts::builtin_inhibitions();
        let direct: HashMap<String, Vec<String>> = [
            ("app".to_string(), vec!["db".to_string()]),
            ("report".to_string(), vec!["app".to_string()]),
            ("db".to_string(), vec![]),
        ]
        .into_iter()
        .collect();
        let closure = dependency_closure(&direct);
        let db_down = labels(&[("alertname", "check_failed"), ("check", "db")]);
        let app_down = labels(&[("alertname", "check_failed"), ("check", "app")]);
        let app_slow = labels(&[("alertname", "http_response_time"), ("check", "app")]);
        let report_down = labels(&[("alertname", "check_failed"), ("check", "report")]);
        let cpu = labels(&[("alertname", "cpu_usage")]);
        let firing = [
            Firing {
                id: "db",
                labels: &db_down,
            },
            Firing {
                id: "app",
                labels: &app_down,
            },
        ];
        let check =
            |id: &str, l: &BTreeMap<String, String>| inhibited_by(id, l, &firing, &rules, &closure);
        assert!(check("app-slow", &app_slow).is_some());
        let app_only = [Firing {
            id: "app",
            labels: &app_down,
        }];
        assert_eq!(
            inhibited_by("app-slow", &app_slow, &app_only, &rules, &closure)
                .map(|r| r.to_string())
                .as_deref(),
            Some("inhibited by check_failed{check=app}")
        );
        assert_eq!(
            check("report", &report_down)
                .map(|r| r.to_string())
                .as_deref(),
            Some("inhibited by check_failed{check=db}"),
            "transitively: report -> app -> db"
        );
        assert_eq!(
            check("app", &app_down).map(|r| r.to_string()).as_deref(),
            Some("inhibited by check_failed{check=db}")
        );
        assert_eq!(
            check("db", &db_down),
            None,
            "nothing inhibits the root cause"
        );
        assert_eq!(check("cpu", &cpu), None);
    }

    #[test]
    fn configured_rules_need_equal_labels() {
        let rules = vec![InhibitConfig {
            source: vec![Matcher::parse("alertname=\"host_down\"").unwrap()],
            target: vec![Matcher::parse("severity=\"warning\"").unwrap()],
            equal: vec!["host".to_string()],
        }];
        let source = labels(&[("alertname", "host_down"), ("host", "web1")]);
        let firing = [Firing {
            id: "s",
            labels: &source,
        }];
        let same = labels(&[("severity", "warning"), ("host", "web1")]);
        let other = labels(&[("severity", "warning"), ("host", "web2")]);
        let empty = HashMap::new();
        assert!(inhibited_by("t", &same, &firing, &rules, &empty).is_some());
        assert!(inhibited_by("t", &other, &firing, &rules, &empty).is_none());
    }

    #[test]
    fn dependency_cycles_terminate() {
        let direct: HashMap<String, Vec<String>> = [
            ("a".to_string(), vec!["b".to_string()]),
            ("b".to_string(), vec!["a".to_string()]),
        ]
        .into_iter()
        .collect();
        let closure = dependency_closure(&direct);
        assert_eq!(closure["a"], HashSet::from(["b".to_string()]));
    }
}
