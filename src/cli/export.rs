//! `lookout export ...`: Lookout in other tools' terms. `prometheus-rules` turns the configured
//! alert rules into Prometheus alerting rules; `grafana` writes the Grafana dashboards and
//! provisioning files of `deploy/grafana/` (embedded in the binary) into a directory.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Subcommand;

use crate::config::Config;
use crate::daemon::ConfigSource;

use super::output::{Progress, say};
use super::{fail, load};

#[derive(Debug, Subcommand)]
pub enum ExportCommand {
    /// The enabled alert rules as Prometheus alerting rules (YAML) over the series of
    /// /metrics, to FILE (replaced) or stdout. Check them with `promtool check rules`.
    #[command(after_help = super::examples::export_prometheus_rules())]
    PrometheusRules {
        /// The file to write (replaced); without it, the rules go to stdout.
        file: Option<PathBuf>,
    },
    /// The Grafana dashboards (system, application, maintenance, alerts) and provisioning
    /// files into DIR (created): DIR/dashboards/*.json, DIR/provisioning/dashboards/lookout.yaml
    /// (a provider pointing at DIR/dashboards) and DIR/provisioning/datasources/prometheus.yaml
    /// (an example). Point Grafana's provisioning path at DIR/provisioning.
    #[command(after_help = super::examples::export_grafana())]
    Grafana {
        /// Where to write (created if missing).
        dir: PathBuf,
        /// Replace files that exist with other contents.
        #[arg(long)]
        force: bool,
    },
}

pub fn run(command: ExportCommand, source: &ConfigSource) -> ExitCode {
    match command {
        ExportCommand::PrometheusRules { file } => match load(source) {
            Ok(config) => export_prometheus_rules(&config, file.as_deref()),
            Err(code) => code,
        },
        ExportCommand::Grafana { dir, force } => export_grafana(&dir, force),
    }
}

fn export_prometheus_rules(config: &Config, file: Option<&Path>) -> ExitCode {
    let text = crate::exporter::rules::prometheus_rules(config);
    let Some(file) = file else {
        let _ = std::io::stdout().write_all(text.as_bytes());
        return ExitCode::SUCCESS;
    };
    match std::fs::write(file, text) {
        Ok(()) => {
            say!(
                "wrote {}; check it with `promtool check rules {}`",
                file.display(),
                file.display()
            );
            ExitCode::SUCCESS
        }
        Err(error) => fail(&format!("cannot write {}: {error}", file.display())),
    }
}

/// The files of `deploy/grafana/`, by their path under the export directory.
pub const GRAFANA_FILES: &[(&str, &str)] = &[
    (
        "dashboards/lookout-system-overview.json",
        include_str!("../../deploy/grafana/dashboards/lookout-system-overview.json"),
    ),
    (
        "dashboards/lookout-application-performance.json",
        include_str!("../../deploy/grafana/dashboards/lookout-application-performance.json"),
    ),
    (
        "dashboards/lookout-maintenance.json",
        include_str!("../../deploy/grafana/dashboards/lookout-maintenance.json"),
    ),
    (
        "dashboards/lookout-alert-history.json",
        include_str!("../../deploy/grafana/dashboards/lookout-alert-history.json"),
    ),
    (
        PROVIDER_FILE,
        include_str!("../../deploy/grafana/provisioning/dashboards/lookout.yaml"),
    ),
    (
        "provisioning/datasources/prometheus.yaml",
        include_str!("../../deploy/grafana/provisioning/datasources/prometheus.yaml"),
    ),
];

/// The dashboards provider, whose `path` is set to the exported dashboards directory.
const PROVIDER_FILE: &str = "provisioning/dashboards/lookout.yaml";
/// `path` as the provider file in the source tree has it.
const PROVIDER_PATH_IN_TREE: &str = "path: \"/var/lib/grafana/dashboards/lookout\"";

/// What an export to `dir` writes: (path under `dir`, contents). The provider's `path` is the
/// absolute path of `dir/dashboards`, so Grafana finds them wherever it runs from.
fn grafana_files(dir: &Path) -> Result<Vec<(&'static str, String)>, String> {
    let absolute = std::path::absolute(dir.join("dashboards"))
        .map_err(|error| format!("cannot resolve {}: {error}", dir.display()))?;
    let path_line = format!("path: {}", yaml_quoted(&absolute)?);
    Ok(GRAFANA_FILES
        .iter()
        .map(|(name, text)| {
            let text = if *name == PROVIDER_FILE {
                text.replace(PROVIDER_PATH_IN_TREE, &path_line)
            } else {
                text.to_string()
            };
            (*name, text)
        })
        .collect())
}

/// `path` as a YAML double-quoted scalar.
fn yaml_quoted(path: &Path) -> Result<String, String> {
    let text = path.to_str().ok_or_else(|| {
        format!(
            "{} is not valid UTF-8; Grafana's provisioning file cannot name it",
            path.display()
        )
    })?;
    if text.chars().any(char::is_control) {
        return Err(format!(
            "{text:?} contains a control character; choose another directory"
        ));
    }
    Ok(format!(
        "\"{}\"",
        text.replace('\\', "\\\\").replace('"', "\\\"")
    ))
}

/// Writes every Grafana file into `dir`. Files already there with the same contents are left
/// alone; with other contents nothing at all is written unless `force`.
fn export_grafana(dir: &Path, force: bool) -> ExitCode {
    let files = match grafana_files(dir) {
        Ok(files) => files,
        Err(error) => return fail(&error),
    };
    let mut plan = Vec::new();
    let mut conflicts = Vec::new();
    for (name, text) in &files {
        let path = dir.join(name);
        let state = match std::fs::read(&path) {
            Ok(existing) if existing == text.as_bytes() => FileState::Same,
            Ok(_) => {
                conflicts.push(path.display().to_string());
                FileState::Different
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => FileState::Missing,
            Err(error) => return fail(&format!("cannot read {}: {error}", path.display())),
        };
        plan.push((path, text, state));
    }
    if !conflicts.is_empty() && !force {
        return fail(&format!(
            "{} already exist{} with other contents; nothing written (use --force to replace {})",
            conflicts.join(", "),
            if conflicts.len() == 1 { "s" } else { "" },
            if conflicts.len() == 1 { "it" } else { "them" },
        ));
    }
    let progress = Progress::new(plan.len(), "files");
    for (path, text, state) in plan {
        progress.done(&path.display().to_string());
        if state == FileState::Same {
            say!("unchanged {}", path.display());
            continue;
        }
        if let Some(parent) = path.parent()
            && let Err(error) = std::fs::create_dir_all(parent)
        {
            return fail(&format!("cannot create {}: {error}", parent.display()));
        }
        if let Err(error) = std::fs::write(&path, text) {
            return fail(&format!("cannot write {}: {error}", path.display()));
        }
        let verb = match state {
            FileState::Different => "replaced",
            _ => "wrote",
        };
        say!("{verb} {}", path.display());
    }
    drop(progress);
    say!(
        "Grafana: set its provisioning path to {} (paths.provisioning in grafana.ini, or \
         GF_PATHS_PROVISIONING), or copy the two YAML files into its provisioning directory; \
         set the Prometheus URL in provisioning/datasources/prometheus.yaml",
        dir.join("provisioning").display()
    );
    ExitCode::SUCCESS
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FileState {
    Missing,
    Same,
    Different,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_provider_path_in_the_tree_is_replaced_by_the_export_dir() {
        let (_, provider) = GRAFANA_FILES
            .iter()
            .find(|(name, _)| *name == PROVIDER_FILE)
            .unwrap();
        assert_eq!(provider.matches(PROVIDER_PATH_IN_TREE).count(), 1);
        let files = grafana_files(Path::new("/srv/my \"graf\"")).unwrap();
        let (_, provider) = files.iter().find(|(n, _)| *n == PROVIDER_FILE).unwrap();
        assert!(
            provider.contains("      path: \"/srv/my \\\"graf\\\"/dashboards\"\n"),
            "{provider}"
        );
        assert!(!provider.contains(PROVIDER_PATH_IN_TREE));
    }

    #[test]
    fn a_path_with_a_control_character_is_refused() {
        let error = yaml_quoted(Path::new("/srv/a\nb")).unwrap_err();
        assert!(error.contains("control character"), "{error}");
    }

    #[test]
    fn every_dashboard_is_json_with_a_unique_uid() {
        let mut uids = std::collections::BTreeSet::new();
        for (name, text) in GRAFANA_FILES.iter().filter(|(n, _)| n.ends_with(".json")) {
            let dashboard: serde_json::Value =
                serde_json::from_str(text).unwrap_or_else(|e| panic!("{name}: {e}"));
            let uid = dashboard["uid"]
                .as_str()
                .unwrap_or_else(|| panic!("{name}"));
            assert!(uids.insert(uid.to_string()), "{name}: uid {uid} twice");
        }
        assert_eq!(uids.len(), 4);
    }
}
