//! Reaching what Lookout talks to: every check run once (as `lookout check` runs them, results
//! not stored), and every notifier, either logged into / connected to without sending, or with
//! `--send-test` sent a real test message (as `lookout alerts test` does).

use std::sync::Arc;

use super::{Finding, hints, plural};
use crate::clock::{SharedClock, UnixMillis};
use crate::config::{Config, NotifierConfig};
use crate::model::{CheckResult, Layer, Observation, Status};
use crate::notifiers::{GroupMessage, Notifier, test_message};
use crate::notify::build_notifiers;

/// "running 5 checks and testing 2 notifiers…" for the progress line.
pub fn progress_text(config: &Config, send_test: bool) -> String {
    let checks = plural(config.checks.iter().filter(|c| c.enabled).count(), "check");
    let system = if config.system.enabled {
        " and the system checks"
    } else {
        ""
    };
    let verb = if send_test {
        "sending a test message through"
    } else {
        "connecting to"
    };
    format!(
        "running {checks}{system}, {verb} {}, asking the dashboard…",
        plural(config.notifiers.len(), "notifier")
    )
}

/// Every enabled check (and the system checks) once.
pub async fn checks(config: &Config, clock: &SharedClock) -> Vec<Finding> {
    let observations = crate::daemon::run_probes_once(config, clock).await;
    check_findings(config, &observations)
}

/// The findings of one run: one per check result, and one per enabled check that gave none.
pub fn check_findings(config: &Config, observations: &[Observation]) -> Vec<Finding> {
    let mut findings = Vec::new();
    for observation in observations {
        let system = observation.source == "system";
        for result in &observation.checks {
            findings.push(check_finding(config, result, system));
        }
    }
    for check in config.checks.iter().filter(|c| c.enabled) {
        let answered = observations
            .iter()
            .flat_map(|o| &o.checks)
            .any(|r| r.check == check.name);
        if !answered {
            findings.push(Finding::fail(
                format!("check {}", check.name),
                format!(
                    "no result within its interval ({})",
                    crate::base::units::format_duration(check.interval)
                ),
                hints::for_check(check.kind.type_name(), Some(&check.kind), "timeout"),
            ));
        }
    }
    findings
}

/// A system check (cpu, memory, disk) over its threshold still shows that collection works,
/// so it is a warning; one that cannot read its value fails. Any other check fails when it is
/// critical or unknown: it could not reach its target or the target is broken.
fn check_finding(config: &Config, result: &CheckResult, system: bool) -> Finding {
    let kind = if system {
        None
    } else {
        config
            .checks
            .iter()
            .find(|c| c.name == result.check)
            .map(|c| &c.kind)
    };
    let check_type = match kind {
        Some(kind) => kind.type_name(),
        None if system => "system",
        None => "check",
    };
    let item = format!("check {}", result.check);
    let detail = if result.detail.is_empty() {
        result.status.as_str().to_string()
    } else {
        result.detail.clone()
    };
    match result.status {
        Status::Ok | Status::Maintenance => Finding::ok(item, detail),
        Status::Warning | Status::Critical if system || result.layer == Layer::System => {
            Finding::warn(item, detail, hints::THRESHOLDS)
        }
        Status::Warning => {
            let hint = hints::for_check(check_type, kind, &detail);
            Finding::warn(item, detail, hint)
        }
        Status::Critical | Status::Unknown => {
            let hint = hints::for_check(check_type, kind, &detail);
            Finding::fail(item, detail, hint)
        }
    }
}

/// One finding per notifier; a warning when there is none.
pub async fn notifiers(config: &Config, send_test: bool, now_ms: UnixMillis) -> Vec<Finding> {
    if config.notifiers.is_empty() {
        return vec![Finding::warn(
            "notifiers",
            "no [[notifier]] configured: alerts show only on the dashboard and in `lookout alerts list`",
            "add an email or webhook notifier (`lookout config init` shows both), then run `lookout doctor --send-test`",
        )];
    }
    let built = build_notifiers(&config.notifiers);
    let message = Arc::new(test_message(
        &config.alerts.host,
        config.alerts.dashboard_url.clone(),
        now_ms,
    ));
    let tasks: Vec<_> = config
        .notifiers
        .iter()
        .cloned()
        .zip(built)
        .map(|(notifier_config, notifier)| {
            let message = message.clone();
            tokio::spawn(async move {
                notifier_finding(&notifier_config, notifier, send_test, &message).await
            })
        })
        .collect();
    let mut findings = Vec::new();
    for (task, notifier) in tasks.into_iter().zip(&config.notifiers) {
        findings.push(task.await.unwrap_or_else(|error| {
            Finding::fail(
                format!("notifier {}", notifier.name),
                format!("the test stopped: {error}"),
                hints::for_notifier(&notifier.kind, ""),
            )
        }));
    }
    findings
}

async fn notifier_finding(
    config: &NotifierConfig,
    notifier: Arc<dyn Notifier>,
    send_test: bool,
    message: &GroupMessage,
) -> Finding {
    let item = format!("notifier {}", config.name);
    let fail = |error: String| {
        let hint = hints::for_notifier(&config.kind, &error);
        Finding::fail(item.clone(), error, hint)
    };
    if send_test {
        return match notifier.send(message).await {
            Ok(()) => Finding::ok(
                item.clone(),
                format!("test message sent ({})", config.kind.destination()),
            ),
            Err(error) => fail(error.message),
        };
    }
    match config.kind.reach(&config.name).await {
        Ok(reached) => Finding::ok(
            item.clone(),
            format!("{reached} (nothing sent; --send-test sends a test message)"),
        ),
        Err(error) => fail(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::from_str;
    use crate::doctor::Level;

    fn result(check: &str, layer: Layer, status: Status, detail: &str) -> CheckResult {
        CheckResult {
            check: check.into(),
            layer,
            status,
            value: None,
            detail: detail.into(),
            at_ms: 0,
            underlying: None,
        }
    }

    #[test]
    fn failed_checks_fail_with_a_hint_and_busy_hosts_only_warn() {
        let config = from_str(
            "[[check]]\nname = \"db\"\ntype = \"postgres\"\ndsn = \"postgres://u@127.0.0.1:1/x\"\n\
             [[check]]\nname = \"silent\"\ntype = \"tcp\"\naddress = \"127.0.0.1:1\"\n",
            "t.toml",
            &|_| None,
        )
        .unwrap();
        let observations = vec![
            Observation {
                source: "system".into(),
                at_ms: 0,
                samples: Vec::new(),
                checks: vec![
                    result(
                        "cpu",
                        Layer::System,
                        Status::Critical,
                        "CPU 97.0% busy (critical at 95%)",
                    ),
                    result("memory", Layer::System, Status::Ok, "memory 40.0% used"),
                ],
            },
            Observation {
                source: "check:db".into(),
                at_ms: 0,
                samples: Vec::new(),
                checks: vec![result(
                    "db",
                    Layer::Database,
                    Status::Critical,
                    "connection refused to 127.0.0.1:1",
                )],
            },
        ];
        let findings = check_findings(&config, &observations);
        let summary: Vec<_> = findings
            .iter()
            .map(|f| (f.item.as_str(), f.status))
            .collect();
        assert_eq!(
            summary,
            [
                ("check cpu", Level::Warn),
                ("check memory", Level::Ok),
                ("check db", Level::Fail),
                ("check silent", Level::Fail),
            ]
        );
        assert_eq!(findings[0].hint.as_deref(), Some(hints::THRESHOLDS));
        assert_eq!(findings[2].detail, "connection refused to 127.0.0.1:1");
        assert!(
            findings[2]
                .hint
                .as_deref()
                .is_some_and(|h| h.contains("is the database running")),
            "{:?}",
            findings[2].hint
        );
        assert_eq!(findings[3].detail, "no result within its interval (30s)");
    }
}
