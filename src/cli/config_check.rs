//! `lookout config check [PATH] [--json]`: validate a config and say what it will do: "ok" and
//! the summary, or every problem. With `--json`, the same on stdout as one document
//! (`{"ok": true, ...}` or `{"ok": false, "problems": [...]}`) and nothing on stderr: the
//! exit code says valid (0) or not (2).

use std::process::ExitCode;

use serde::Serialize;

use super::output::{print_json, say};
use super::{EXIT_BAD_INPUT, fail};
use crate::config::{Config, ConfigError};
use crate::daemon::ConfigSource;
use crate::model::Layer;

#[derive(Serialize)]
struct Valid<'a> {
    ok: bool,
    /// The file, or null for the embedded default.
    config: Option<String>,
    listen: String,
    data_dir: String,
    checks: Vec<CheckDto<'a>>,
    alert_rules: Vec<RuleDto<'a>>,
    notifiers: Vec<NotifierDto<'a>>,
    /// `config check`'s own lines.
    summary: Vec<&'a str>,
}

#[derive(Serialize)]
struct CheckDto<'a> {
    name: &'a str,
    r#type: &'a str,
    layer: Layer,
    /// URL, address, DSN or path, with any password masked.
    target: String,
    interval_seconds: f64,
    timeout_seconds: f64,
    enabled: bool,
}

#[derive(Serialize)]
struct RuleDto<'a> {
    name: &'a str,
    enabled: bool,
}

#[derive(Serialize)]
struct NotifierDto<'a> {
    name: &'a str,
    r#type: &'a str,
}

#[derive(Serialize)]
struct Invalid {
    ok: bool,
    problems: Vec<ProblemDto>,
}

#[derive(Serialize)]
struct ProblemDto {
    file: String,
    line: Option<usize>,
    column: Option<usize>,
    /// The key path, e.g. "system.thresholds.cpu_warning"; empty for TOML syntax errors.
    key: String,
    message: String,
}

pub fn run(source: &ConfigSource, json: bool) -> ExitCode {
    match source.load() {
        Ok(config) => {
            let summary = crate::views::config::summary(&config);
            if json {
                print_json(&valid(&config, &summary));
            } else {
                say!("ok");
                say!("{summary}");
            }
            ExitCode::SUCCESS
        }
        Err(error) if json => {
            print_json(&invalid(&error));
            ExitCode::from(EXIT_BAD_INPUT)
        }
        Err(error) => fail(&error),
    }
}

fn valid<'a>(config: &'a Config, summary: &'a str) -> Valid<'a> {
    Valid {
        ok: true,
        config: config.source.as_ref().map(|p| p.display().to_string()),
        listen: config.server.listen.to_string(),
        data_dir: config.storage.path.display().to_string(),
        checks: config
            .checks
            .iter()
            .map(|c| CheckDto {
                name: &c.name,
                r#type: c.kind.type_name(),
                layer: c.layer,
                target: c.kind.target(),
                interval_seconds: c.interval.as_secs_f64(),
                timeout_seconds: c.timeout.as_secs_f64(),
                enabled: c.enabled,
            })
            .collect(),
        alert_rules: config
            .alerts
            .rules
            .iter()
            .map(|r| RuleDto {
                name: &r.name,
                enabled: r.enabled,
            })
            .collect(),
        notifiers: config
            .notifiers
            .iter()
            .map(|n| NotifierDto {
                name: &n.name,
                r#type: n.kind.type_name(),
            })
            .collect(),
        summary: summary.lines().collect(),
    }
}

fn invalid(error: &ConfigError) -> Invalid {
    let problems = match error {
        ConfigError::Read { path, .. } => vec![ProblemDto {
            file: path.display().to_string(),
            line: None,
            column: None,
            key: String::new(),
            message: error.to_string(),
        }],
        ConfigError::Invalid { problems } => problems
            .iter()
            .map(|p| ProblemDto {
                file: p.origin.clone(),
                line: p.position.map(|at| at.line),
                column: p.position.map(|at| at.column),
                key: p.key.clone(),
                message: p.message.clone(),
            })
            .collect(),
    };
    Invalid {
        ok: false,
        problems,
    }
}
