//! `lookout export prometheus-rules` checked by the real promtool (Debian package
//! `prometheus`): the file of the default config and of one with checks and custom rules is
//! valid (`promtool check rules`), and the rules fire for the series Lookout exports the way
//! Lookout's own rules would (`promtool test rules` over synthetic `lookout_*` series).
//! promtool must be installed: without it these tests fail, they do not pass silently.

use std::path::Path;
use std::process::Command;

use crate::common::{run, text};

fn promtool(args: &[&str], dir: &Path) -> (bool, String) {
    let output = Command::new("promtool")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| {
            panic!("promtool is needed for these tests (apt install prometheus): {e}")
        });
    (
        output.status.success(),
        format!("{}{}", text(&output.stdout), text(&output.stderr)),
    )
}

#[test]
fn the_rules_of_the_default_config_pass_promtool_check_rules() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    let out = run(&["export", "prometheus-rules"], dir.path());
    assert!(out.status.success(), "{}", text(&out.stderr));
    let yaml = text(&out.stdout);
    assert!(yaml.contains("  - name: lookout\n"), "{yaml}");
    std::fs::write(dir.path().join("rules.yml"), &yaml).unwrap();
    let (ok, said) = promtool(&["check", "rules", "rules.yml"], dir.path());
    assert!(ok, "{said}\n{yaml}");
    assert!(said.contains("SUCCESS: 20 rules found"), "{said}");
}

const CONFIG: &str = r#"
[[check]]
name = "app"
type = "http"
url = "http://127.0.0.1:5000/health"
interval = "30s"

[[check]]
name = "db"
type = "tcp"
address = "127.0.0.1:5432"
layer = "database"
interval = "1m"

[[alerts.rule]]
name = "cpu_usage"
warning = "70%"

[[alerts.rule]]
name = "memory_usage"
enabled = false

[[alerts.rule]]
name = "db_degraded"
check_status = ['layer="database"', 'type=~"tcp|postgres"']
warning = "warning"
critical = "critical"
summary = "{{labels.check}} is {{value}}"
description = "It's {{detail}}: \"{{rule}}\" at {{severity}}"
runbook_url = "https://wiki.example.org/runbooks/db#degraded"
labels = { team = "dba" }

[[alerts.rule]]
name = "cpu_busy"
metric = 'node_cpu_seconds_total{mode="idle"}'
rate = "5m"
comparison = "below"
warning = "10%"
summary = "CPU {{labels.cpu}} idle {{value}} on {{host}}"
"#;

/// Synthetic series as Lookout exports them, one sample a minute, and what must fire:
/// cpu at 97% (both severities, past `for`); app critical (check_failed) but not the system
/// check disk:/; db at warning (db_degraded) but not the redis check "cache"; db no longer
/// scraped after 2m (check_no_data after 3 × its 1m interval); CPU 0 idle 1 s per second for
/// 4m, then 0.05 (cpu_busy, a rate rule, after its 2m `for`).
const TESTS: &str = r#"
rule_files:
  - rules.yml
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'lookout_cpu_usage_ratio{instance="web1"}'
        values: '0.5 0.97x8'
      - series: 'lookout_check_up{check="app",type="http",instance="web1"}'
        values: '1x8'
      - series: 'lookout_check_status{check="app",layer="application",status="critical",instance="web1"}'
        values: '0 0 1x6'
      - series: 'lookout_check_status{check="disk:/",layer="system",status="critical",instance="web1"}'
        values: '1x8'
      - series: 'lookout_check_up{check="db",type="tcp",instance="web1"}'
        values: '1 1 stale'
      - series: 'lookout_check_status{check="db",layer="database",status="warning",instance="web1"}'
        values: '1 1 stale'
      - series: 'lookout_check_up{check="cache",type="redis",instance="web1"}'
        values: '1x8'
      - series: 'lookout_check_status{check="cache",layer="database",status="critical",instance="web1"}'
        values: '1x8'
      - series: 'lookout_node_cpu_seconds_total{cpu="0",mode="idle",instance="web1"}'
        values: '0+60x4 243+3x10'
    alert_rule_test:
      - eval_time: 5m
        alertname: cpu_usage
        exp_alerts:
          - exp_labels: {severity: warning, instance: web1}
            exp_annotations:
              summary: 'CPU usage 97% on web1'
              description: 'CPU busy 97% for over 2 minutes (warning at 70%).'
          - exp_labels: {severity: critical, instance: web1}
            exp_annotations:
              summary: 'CPU usage 97% on web1'
              description: 'CPU busy 97% for over 2 minutes (critical at 95%).'
      - eval_time: 5m
        alertname: check_failed
        exp_alerts:
          - exp_labels: {severity: critical, check: app, layer: application, status: critical, instance: web1}
            exp_annotations:
              summary: 'app is critical'
              description: 'Health check app (application) failed: app is critical'
          - exp_labels: {severity: critical, check: cache, layer: database, status: critical, instance: web1}
            exp_annotations:
              summary: 'cache is critical'
              description: 'Health check cache (database) failed: cache is critical'
      - eval_time: 1m
        alertname: db_degraded
        exp_alerts:
          - exp_labels: {severity: warning, team: dba, check: db, layer: database, status: warning, instance: web1}
            exp_annotations:
              summary: 'db is warning'
              description: "It's db is warning: \"db_degraded\" at warning"
              runbook_url: 'https://wiki.example.org/runbooks/db#degraded'
      - eval_time: 6m
        alertname: cpu_busy
        exp_alerts: []
      - eval_time: 12m
        alertname: cpu_busy
        exp_alerts:
          - exp_labels: {severity: warning, cpu: "0", mode: idle, instance: web1}
            exp_annotations:
              summary: 'CPU 0 idle 5% on web1'
              description: 'cpu_busy is 5% (warning at 10%).'
      - eval_time: 4m
        alertname: check_no_data
        exp_alerts: []
      - eval_time: 6m
        alertname: check_no_data
        exp_alerts:
          - exp_labels: {severity: warning, check: db, type: tcp, instance: web1}
            exp_annotations:
              summary: 'No data from db'
              description: 'Health check db has produced no result for 3m.'
"#;

#[test]
fn custom_rules_pass_promtool_and_fire_like_lookout_would() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("lookout.toml");
    std::fs::write(&config, CONFIG).unwrap();
    let out = run(
        &[
            "--config",
            config.to_str().unwrap(),
            "export",
            "prometheus-rules",
            "rules.yml",
        ],
        dir.path(),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).starts_with("wrote rules.yml"),
        "{}",
        text(&out.stdout)
    );
    let yaml = std::fs::read_to_string(dir.path().join("rules.yml")).unwrap();
    assert!(
        !yaml.contains("memory_usage"),
        "disabled rules stay out: {yaml}"
    );

    let (ok, said) = promtool(&["check", "rules", "rules.yml"], dir.path());
    assert!(ok, "{said}\n{yaml}");
    assert!(said.contains("SUCCESS: 21 rules found"), "{said}");

    std::fs::write(dir.path().join("tests.yml"), TESTS).unwrap();
    let (ok, said) = promtool(&["test", "rules", "tests.yml"], dir.path());
    assert!(ok, "{said}\n{yaml}");
}

#[test]
fn a_bad_config_exports_nothing_and_says_why() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("lookout.toml");
    std::fs::write(&config, "[[alerts.rule]]\nname = \"x\"\nmetric = \"\"\n").unwrap();
    let out = run(
        &[
            "--config",
            config.to_str().unwrap(),
            "export",
            "prometheus-rules",
            "rules.yml",
        ],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stdout));
    assert!(
        text(&out.stderr).contains("lookout.toml:"),
        "{}",
        text(&out.stderr)
    );
    assert!(!dir.path().join("rules.yml").exists());
}
