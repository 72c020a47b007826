//! The "Examples:" section of the main commands' `--help` (clap's `after_help`): command lines
//! that work as written, each with what it does. `tests/it/cli_listings.rs` parses every one
//! of them with the real parser.

/// The section: "Examples:" and one indented line per example, comments aligned.
fn section(examples: &[(&str, &str)]) -> String {
    let width = examples
        .iter()
        .map(|(line, _)| line.len())
        .max()
        .unwrap_or(0);
    let mut out = String::from("Examples:\n");
    for (line, what) in examples {
        out.push_str(&format!("  {line:<width$}  # {what}\n"));
    }
    out
}

pub fn lookout() -> String {
    section(&[
        (
            "lookout config init lookout.toml",
            "write a commented config",
        ),
        (
            "lookout --config lookout.toml config check",
            "validate it; say what it will do",
        ),
        (
            "lookout --config lookout.toml serve",
            "run: collect, alert, dashboard on 127.0.0.1:9898",
        ),
        (
            "lookout --config lookout.toml check",
            "every health check once (cron, Nagios)",
        ),
        ("lookout serve --help", "more on a command"),
    ])
}

pub fn serve() -> String {
    section(&[
        ("lookout serve", "the embedded default config"),
        (
            "lookout --config /etc/lookout/lookout.toml serve",
            "your config",
        ),
        (
            "lookout serve --data-dir /tmp/lookout --log-level debug",
            "history elsewhere, verbose log",
        ),
    ])
}

pub fn check() -> String {
    section(&[
        ("lookout check", "a table; exit 0 OK, 1 WARNING, 2 CRITICAL"),
        (
            "lookout check --json | jq '.checks[] | select(.status != \"ok\")'",
            "only what is not OK",
        ),
        ("lookout -q check > /dev/null", "only the exit code (cron)"),
    ])
}

pub fn config_init() -> String {
    section(&[
        ("lookout config init", "the template on stdout"),
        (
            "lookout config init lookout.toml",
            "into a file (never replaced without --force)",
        ),
        (
            "lookout config init --preset minimal --force lookout.toml",
            "a shorter start, replacing the file",
        ),
    ])
}

pub fn config_check() -> String {
    section(&[
        (
            "lookout config check lookout.toml",
            "ok and a summary, or every problem",
        ),
        (
            "lookout --config /etc/lookout/lookout.toml config check",
            "the file the daemon reads",
        ),
        (
            "lookout config check lookout.toml --json",
            "{\"ok\": ...} only; exit 2 when invalid",
        ),
    ])
}

pub fn user_add() -> String {
    section(&[
        (
            "lookout user add alice --role admin",
            "asks the password twice",
        ),
        (
            "printf '%s\\n' \"$PASSWORD\" | lookout user add ci --role viewer --password-stdin",
            "from a script",
        ),
    ])
}

pub fn token_create() -> String {
    section(&[
        (
            "lookout token create --role viewer --name grafana",
            "printed once: keep it",
        ),
        (
            "lookout -q token create --role admin --name deploy > deploy.token",
            "only the token, into a file",
        ),
    ])
}

pub fn silence_add() -> String {
    section(&[
        (
            "lookout silence add 'check=\"db\"' --for 2h --comment \"database upgrade\"",
            "mute the db check's alerts",
        ),
        (
            "lookout silence add 'alertname=~\"disk_.*\"' 'mountpoint=\"/data\"' --until +8h --comment \"disk swap\"",
            "regex and equality, every matcher must match",
        ),
        (
            "lookout silence add 'severity=\"warning\"' --start +30m --for 1h --comment \"batch run\" --author ops",
            "later, on someone's behalf",
        ),
    ])
}

pub fn silence_list() -> String {
    section(&[
        ("lookout silence list", "active and pending"),
        (
            "lookout silence list --all --json",
            "expired ones too, as JSON",
        ),
    ])
}

pub fn alerts_list() -> String {
    section(&[
        (
            "lookout alerts list",
            "pending and firing, and why a quiet one is quiet",
        ),
        (
            "lookout alerts list --json | jq -r '.[].id'",
            "the alerts' ids",
        ),
    ])
}

pub fn alerts_history() -> String {
    section(&[
        (
            "lookout alerts history --since 7d",
            "what was told, and where it went",
        ),
        (
            "lookout alerts history --since 30d --limit 10000 --json | jq -r '.[].rule' | sort | uniq -c",
            "the noisiest rules",
        ),
    ])
}

pub fn maintenance_start() -> String {
    section(&[
        (
            "lookout maintenance start --for 30m --reason \"database upgrade\"",
            "mute affected alerts for 30 minutes",
        ),
        (
            "lookout maintenance start --for 2h --reason \"restore\" --mode emergency",
            "also stop reads, end sessions",
        ),
        (
            "lookout maintenance start --for 10m --reason \"drill\" --mode test",
            "block nothing",
        ),
    ])
}

pub fn maintenance_stop() -> String {
    section(&[
        ("lookout maintenance stop", "end the active windows now"),
        (
            "lookout -q maintenance stop",
            "the same, silently (the exit code tells)",
        ),
    ])
}

pub fn report() -> String {
    section(&[
        ("lookout report", "the last 30 days"),
        ("lookout report --since 7d", "the last week"),
        (
            "lookout report --since 90d --json | jq '.availability'",
            "availability with and without planned maintenance",
        ),
    ])
}

pub fn store_compact() -> String {
    section(&[
        (
            "lookout store compact",
            "retention now, free pages back to the disk",
        ),
        (
            "lookout store compact --full --wait 2m",
            "rebuild the file (needs its size free)",
        ),
    ])
}

pub fn export_prometheus_rules() -> String {
    section(&[
        (
            "lookout export prometheus-rules rules.yml",
            "then: promtool check rules rules.yml",
        ),
        (
            "lookout export prometheus-rules > /etc/prometheus/rules/lookout.yml",
            "on stdout",
        ),
    ])
}

pub fn doctor() -> String {
    section(&[
        ("lookout doctor", "every item once; exit 1 when one fails"),
        (
            "lookout doctor --send-test",
            "also a real test message per notifier",
        ),
        (
            "lookout doctor --prometheus http://127.0.0.1:9090 --json",
            "is Prometheus scraping us? as JSON",
        ),
    ])
}
