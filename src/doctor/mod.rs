//! `lookout doctor`: the seed's validation checklist as findings. Each item is one function
//! returning `Finding`s (ok, warn or fail, a one-line detail in plain words, and a hint taken
//! from the seed's "Common Issues" when something is wrong); `run` calls them in order.
//!
//! | item | module | what |
//! |---|---|---|
//! | `config` | here | the config loads and validates |
//! | `data dir` | `files` | exists (or can be made), writable, 0700, its files 0600 |
//! | `check <name>` | `reach` | every enabled check (and the system checks) run once, as `lookout check` does |
//! | `notifier <name>` | `reach` | SMTP login / webhook connect; with `--send-test` a real test message |
//! | `dashboard` | `web` | GET /healthz on `server.listen` (or `--dashboard`), TLS certificate expiry |
//! | `prometheus` | `web` | with `--prometheus URL`: `up` has a target that is us, and it is 1 |
//! | `data` | `history` | no gap in the last hour of the collected series |
//! | `security: ...` | `web`, `files`, `history` | plain HTTP off loopback, /metrics open, weak metrics credentials, secrets written literally in a readable config, the first admin password never changed |
//!
//! Nothing here writes, apart from a probe file in the data dir (created and removed) and
//! what `--send-test` sends. Time comes from the clock passed in.

mod files;
mod hints;
mod history;
mod reach;
mod web;

use std::path::Path;

use serde::Serialize;

use crate::clock::SharedClock;
use crate::config::{Config, ConfigError};
use crate::daemon::store_options;
use crate::store::{DB_FILE, Store};

pub use history::{Gap, find_gaps};

/// How an item stands. Warnings are reported but do not fail the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Ok,
    Warn,
    Fail,
}

/// One line of the doctor's report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// What was looked at: "config", "check db", "notifier ops-mail", "security: listen".
    pub item: String,
    pub status: Level,
    /// What was found, in plain words; never a secret.
    pub detail: String,
    /// What to do about it (for warn and fail).
    pub hint: Option<String>,
}

impl Finding {
    pub fn ok(item: impl Into<String>, detail: impl Into<String>) -> Finding {
        Finding {
            item: item.into(),
            status: Level::Ok,
            detail: detail.into(),
            hint: None,
        }
    }

    pub fn warn(
        item: impl Into<String>,
        detail: impl Into<String>,
        hint: impl Into<String>,
    ) -> Finding {
        Finding {
            item: item.into(),
            status: Level::Warn,
            detail: detail.into(),
            hint: Some(hint.into()),
        }
    }

    pub fn fail(
        item: impl Into<String>,
        detail: impl Into<String>,
        hint: impl Into<String>,
    ) -> Finding {
        Finding {
            item: item.into(),
            status: Level::Fail,
            detail: detail.into(),
            hint: Some(hint.into()),
        }
    }
}

/// What the command line asked for.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Send a real test message through every notifier.
    pub send_test: bool,
    /// Prometheus's base URL: check that it scrapes this Lookout.
    pub prometheus: Option<String>,
    /// The dashboard's URL as users reach it (default: derived from `server.listen`).
    pub dashboard: Option<String>,
}

/// Every finding for `config` (or the one that says why it could not be loaded), in report
/// order. `progress` is told what is being waited for.
pub async fn run(
    config: Result<Config, ConfigError>,
    options: &Options,
    clock: &SharedClock,
    progress: &dyn Fn(&str),
) -> Vec<Finding> {
    let config = match config {
        Ok(config) => config,
        Err(error) => {
            return vec![Finding::fail(
                "config",
                error.to_string(),
                "fix the places listed above; `lookout config check FILE` validates alone, `lookout config init` writes a commented example",
            )];
        }
    };
    let mut findings = vec![config_finding(&config)];
    findings.push(files::data_dir(&config.storage.path));

    progress(&reach::progress_text(&config, options.send_test));
    let now_ms = clock.now_ms();
    let (checks, notifiers, dashboard, prometheus) = tokio::join!(
        reach::checks(&config, clock),
        reach::notifiers(&config, options.send_test, now_ms),
        web::dashboard(&config, options.dashboard.as_deref(), now_ms),
        async {
            match &options.prometheus {
                Some(url) => Some(web::prometheus(&config, url).await),
                None => None,
            }
        },
    );
    findings.extend(checks);
    findings.extend(notifiers);
    findings.push(dashboard);
    findings.extend(prometheus);

    progress("reading the store…");
    let store = open_store(&config, clock).await;
    match &store {
        Ok(Some(store)) => findings.push(history::data_gaps(&config, store, now_ms).await),
        Ok(None) => findings.push(Finding::warn(
            "data",
            format!(
                "no store yet in {}: Lookout has not collected anything with this config",
                config.storage.path.display()
            ),
            hints::MISSING_DATA,
        )),
        Err(finding) => findings.push(finding.clone()),
    }

    findings.extend(web::listen_security(&config));
    if let Some(path) = &config.source {
        findings.push(files::config_file(path));
    }
    if let Ok(Some(store)) = &store {
        findings.push(history::users(store).await);
        let _ = store.close().await;
    }
    findings
}

fn config_finding(config: &Config) -> Finding {
    let enabled = config.checks.iter().filter(|c| c.enabled).count();
    let disabled = config.checks.len() - enabled;
    let mut counts = vec![
        plural(enabled, "check"),
        plural(config.notifiers.len(), "notifier"),
    ];
    if disabled > 0 {
        counts.push(format!("{disabled} disabled"));
    }
    let counts = counts.join(", ");
    match &config.source {
        Some(path) => Finding::ok("config", format!("{} is valid ({counts})", path.display())),
        None => Finding::warn(
            "config",
            format!("no config file given: checking the embedded default ({counts})"),
            "pass the file the daemon runs with: --config FILE or LOOKOUT_CONFIG",
        ),
    }
}

/// The store, if its database exists (the doctor never creates one); a store that cannot be
/// opened is a finding.
async fn open_store(config: &Config, clock: &SharedClock) -> Result<Option<Store>, Finding> {
    if !Path::new(&config.storage.path).join(DB_FILE).exists() {
        return Ok(None);
    }
    Store::open(&config.storage.path, store_options(config), clock.clone())
        .await
        .map(Some)
        .map_err(|error| {
            Finding::fail(
                "data",
                format!("cannot open the store: {error}"),
                hints::MISSING_DATA,
            )
        })
}

pub(crate) fn plural(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

/// Exit code of the run: 1 when anything failed, else 0.
pub fn exit_code(findings: &[Finding]) -> u8 {
    u8::from(findings.iter().any(|f| f.status == Level::Fail))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warnings_pass_and_failures_do_not() {
        let ok = Finding::ok("a", "fine");
        let warn = Finding::warn("b", "hmm", "look");
        let fail = Finding::fail("c", "broken", "fix");
        assert_eq!(exit_code(&[ok.clone(), warn.clone()]), 0);
        assert_eq!(exit_code(&[ok, warn, fail]), 1);
    }

    #[test]
    fn findings_serialise_with_lowercase_status_and_null_hint() {
        let json = serde_json::to_value([Finding::ok("config", "valid")]).unwrap();
        assert_eq!(
            json,
            serde_json::json!([{"item": "config", "status": "ok", "detail": "valid", "hint": null}])
        );
    }

    #[test]
    fn config_summary_counts_checks_and_notifiers() {
        let mut config = crate::config::from_str(
            "[[check]]\nname = \"a\"\ntype = \"tcp\"\naddress = \"127.0.0.1:1\"\n\
             [[check]]\nname = \"b\"\ntype = \"tcp\"\naddress = \"127.0.0.1:1\"\nenabled = false\n",
            "t.toml",
            &|_| None,
        )
        .unwrap();
        config.source = Some("/etc/lookout.toml".into());
        assert_eq!(
            config_finding(&config).detail,
            "/etc/lookout.toml is valid (1 check, 0 notifiers, 1 disabled)"
        );
    }
}
