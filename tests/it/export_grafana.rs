//! `lookout export grafana DIR`: the dashboards it writes are Grafana dashboards that work on
//! any Prometheus data source (a `datasource` variable every panel and annotation uses), with
//! unique panel ids and dashboard uids; the provisioning provider points at the written
//! dashboards; files with other contents are only replaced with --force.
//! (Whether every panel query returns data from a real Prometheus: tests/it/grafana_prometheus.rs.)

use std::collections::BTreeSet;
use std::path::Path;

use crate::common::{run, text};
use serde_json::Value;

const DASHBOARDS: [&str; 4] = [
    "lookout-system-overview.json",
    "lookout-application-performance.json",
    "lookout-maintenance.json",
    "lookout-alert-history.json",
];

fn export(dir: &Path, args: &[&str]) -> std::process::Output {
    let mut all = vec!["export", "grafana", "out"];
    all.extend_from_slice(args);
    run(&all, dir)
}

fn dashboard(dir: &Path, name: &str) -> Value {
    let path = dir.join("out/dashboards").join(name);
    let body = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{name} is not JSON: {e}"))
}

/// Every panel, those nested in collapsed rows included.
fn panels(dashboard: &Value) -> Vec<&Value> {
    let mut all = Vec::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        all.push(panel);
        if let Some(nested) = panel["panels"].as_array() {
            all.extend(nested);
        }
    }
    all
}

fn uses_the_variable(datasource: &Value) -> bool {
    datasource["uid"] == "${datasource}" && datasource["type"] == "prometheus"
}

#[test]
fn the_dashboards_use_the_datasource_variable_everywhere_with_unique_ids() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    let out = export(dir.path(), &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let said = text(&out.stdout);

    let mut uids = BTreeSet::new();
    for name in DASHBOARDS {
        assert!(
            said.contains(&format!(
                "wrote {}",
                Path::new("out/dashboards").join(name).display()
            )),
            "{said}"
        );
        let d = dashboard(dir.path(), name);
        let title = d["title"]
            .as_str()
            .unwrap_or_else(|| panic!("{name}: no title"));
        let uid = d["uid"]
            .as_str()
            .unwrap_or_else(|| panic!("{name}: no uid"));
        assert!(uids.insert(uid.to_string()), "uid {uid} twice ({name})");

        let variables = d["templating"]["list"].as_array().expect("templating.list");
        let datasource = variables
            .iter()
            .find(|v| v["name"] == "datasource")
            .unwrap_or_else(|| panic!("{title}: no datasource variable"));
        assert_eq!(datasource["type"], "datasource", "{title}");
        assert_eq!(datasource["query"], "prometheus", "{title}");
        let instance = variables
            .iter()
            .find(|v| v["name"] == "instance")
            .unwrap_or_else(|| panic!("{title}: no instance variable"));
        assert_eq!(
            instance["query"], "label_values(lookout_build_info, instance)",
            "{title}"
        );
        for variable in variables.iter().filter(|v| v["type"] == "query") {
            assert!(
                uses_the_variable(&variable["datasource"]),
                "{title}: variable {} does not use ${{datasource}}",
                variable["name"]
            );
        }

        let mut ids = BTreeSet::new();
        let mut with_targets = 0;
        for panel in panels(&d) {
            let panel_title = panel["title"].as_str().unwrap_or_default();
            let id = panel["id"]
                .as_u64()
                .unwrap_or_else(|| panel_title_missing(title, panel_title, "id"));
            assert!(ids.insert(id), "{title}: panel id {id} twice");
            if panel["type"] == "row" {
                continue;
            }
            assert!(
                uses_the_variable(&panel["datasource"]),
                "{title} / {panel_title}: the panel's datasource is {}",
                panel["datasource"]
            );
            let targets = panel["targets"].as_array().unwrap_or_else(|| {
                panel_title_missing(title, panel_title, "targets");
            });
            assert!(!targets.is_empty(), "{title} / {panel_title}: no targets");
            for target in targets {
                assert!(
                    target["datasource"].is_null() || uses_the_variable(&target["datasource"]),
                    "{title} / {panel_title}: a target's datasource is {}",
                    target["datasource"]
                );
                let expr = target["expr"].as_str().unwrap_or_default();
                assert!(
                    expr.contains("instance=\"$instance\""),
                    "{title} / {panel_title}: {expr} is not limited to $instance"
                );
            }
            with_targets += 1;
        }
        assert!(with_targets >= 6, "{title}: only {with_targets} panels");
        for annotation in d["annotations"]["list"].as_array().expect("annotations") {
            if annotation["builtIn"] == 1 {
                continue;
            }
            assert!(
                uses_the_variable(&annotation["datasource"]),
                "{title}: annotation {} does not use ${{datasource}}",
                annotation["name"]
            );
        }
    }
    assert_eq!(uids.len(), DASHBOARDS.len());

    // Maintenance periods are annotations of the maintenance dashboard.
    let maintenance = dashboard(dir.path(), "lookout-maintenance.json");
    assert!(
        maintenance["annotations"]["list"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["expr"]
                .as_str()
                .is_some_and(|e| e.starts_with("lookout_maintenance_"))),
        "{}",
        maintenance["annotations"]
    );
}

#[track_caller]
fn panel_title_missing(dashboard: &str, panel: &str, what: &str) -> ! {
    panic!("{dashboard} / {panel}: no {what}")
}

#[test]
fn the_provisioning_provider_points_at_the_written_dashboards() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    let out = export(dir.path(), &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let provider =
        std::fs::read_to_string(dir.path().join("out/provisioning/dashboards/lookout.yaml"))
            .unwrap();
    let path = provider
        .lines()
        .find_map(|l| l.trim().strip_prefix("path: "))
        .unwrap_or_else(|| panic!("no path in:\n{provider}"));
    let path = path.trim_matches('"');
    assert!(Path::new(path).is_absolute(), "{path}");
    let written = dir.path().join("out/dashboards");
    assert_eq!(
        Path::new(path).canonicalize().unwrap(),
        written.canonicalize().unwrap()
    );
    let found: BTreeSet<String> = std::fs::read_dir(path)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(found, DASHBOARDS.map(String::from).into_iter().collect());
    assert!(provider.contains("type: file"), "{provider}");
    let datasource = std::fs::read_to_string(
        dir.path()
            .join("out/provisioning/datasources/prometheus.yaml"),
    )
    .unwrap();
    assert!(datasource.contains("type: prometheus"), "{datasource}");
}

#[test]
fn files_with_other_contents_are_replaced_only_with_force() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    assert!(export(dir.path(), &[]).status.success());

    // The same files again: nothing to refuse.
    let again = export(dir.path(), &[]);
    assert!(again.status.success(), "{}", text(&again.stderr));
    assert!(
        text(&again.stdout).contains("unchanged out/dashboards/lookout-maintenance.json"),
        "{}",
        text(&again.stdout)
    );

    let edited = dir.path().join("out/dashboards/lookout-maintenance.json");
    std::fs::write(&edited, "{\"mine\": true}").unwrap();
    let removed = dir.path().join("out/dashboards/lookout-alert-history.json");
    std::fs::remove_file(&removed).unwrap();
    let refused = export(dir.path(), &[]);
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused.stdout));
    assert_eq!(
        text(&refused.stderr),
        "lookout: out/dashboards/lookout-maintenance.json already exists with other contents; \
         nothing written (use --force to replace it)\n"
    );
    assert_eq!(
        std::fs::read_to_string(&edited).unwrap(),
        "{\"mine\": true}"
    );
    assert!(!removed.exists(), "a refused export writes nothing");

    let forced = export(dir.path(), &["--force"]);
    assert!(forced.status.success(), "{}", text(&forced.stderr));
    let said = text(&forced.stdout);
    assert!(
        said.contains("replaced out/dashboards/lookout-maintenance.json"),
        "{said}"
    );
    assert!(
        said.contains("wrote out/dashboards/lookout-alert-history.json"),
        "{said}"
    );
    assert_eq!(
        dashboard(dir.path(), "lookout-maintenance.json")["uid"],
        "lookout-maintenance"
    );
}
