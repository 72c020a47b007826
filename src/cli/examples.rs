//! The "Examples:" section of the commands' `--help` (clap's `after_help`): command lines that
//! work as written, each under a comment saying what it does. `tests/it/cli_listings.rs` parses every one
//! of them with the real parser.

/// The section: "Examples:", then per example what it does (a comment, first letter capital)
/// and the command line, kubectl-style, a blank line between examples.
fn section(examples: &[(&str, &str)]) -> String {
    let mut out = String::from("Examples:\n");
    for (k, (line, what)) in examples.iter().enumerate() {
        if k > 0 {
            out.push('\n');
        }
        let mut chars = what.chars();
        let what: String = chars
            .next()
            .map(|first| first.to_uppercase().chain(chars).collect())
            .unwrap_or_default();
        out.push_str(&format!("  # {what}\n  {line}\n"));
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
            "a read-only token for Grafana (shown only now: keep it)",
        ),
        (
            "lookout -q token create --role admin --name deploy > deploy.token",
            "only the token, into a file",
        ),
        (
            "lookout token create --role agent --name web-1",
            "a write-only token for the agent on web-1 ([receive])",
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

pub fn collect() -> String {
    section(&[
        (
            "lookout --config /etc/lookout/lookout.toml collect",
            "one collection into the store (cron, every minute)",
        ),
        ("lookout -q collect", "the same, silent unless it fails"),
    ])
}

pub fn completions() -> String {
    section(&[
        (
            "lookout completions bash > /etc/bash_completion.d/lookout",
            "bash, for every user",
        ),
        (
            "lookout completions zsh > ~/.zfunc/_lookout",
            "zsh (with ~/.zfunc in fpath)",
        ),
        (
            "lookout completions fish > ~/.config/fish/completions/lookout.fish",
            "fish",
        ),
    ])
}

pub fn alerts_test() -> String {
    section(&[
        (
            "lookout alerts test",
            "a test message through every notifier",
        ),
        ("lookout alerts test --notifier ops-mail", "through one"),
    ])
}

pub fn alerts_run() -> String {
    section(&[
        (
            "lookout --config /etc/lookout/lookout.toml alerts run",
            "cron mode, after `collect` and `check`",
        ),
        (
            "lookout alerts run --json",
            "what it evaluated and sent, as JSON",
        ),
    ])
}

pub fn alerts_outbox() -> String {
    section(&[
        (
            "lookout alerts outbox",
            "what is not delivered yet, or given up",
        ),
        (
            "lookout alerts outbox --all --limit 20",
            "the last 20, delivered ones too",
        ),
    ])
}

pub fn silence_expire() -> String {
    section(&[(
        "lookout silence expire 6b1688e525b3971a",
        "the ID from `silence list`",
    )])
}

pub fn export_grafana() -> String {
    section(&[(
        "lookout export grafana /etc/grafana/lookout",
        "then point Grafana's provisioning path at /etc/grafana/lookout/provisioning",
    )])
}

pub fn maintenance_extend() -> String {
    section(&[(
        "lookout maintenance extend 15m",
        "the active window ends 15 minutes later",
    )])
}

pub fn maintenance_status() -> String {
    section(&[
        (
            "lookout maintenance status",
            "the period in progress and the windows to come",
        ),
        ("lookout maintenance status --json", "the same, for scripts"),
    ])
}

pub fn maintenance_history() -> String {
    section(&[
        (
            "lookout maintenance history --since 7d",
            "last week's periods, with their impact",
        ),
        (
            "lookout maintenance history --json",
            "the last 30 days, as JSON",
        ),
    ])
}

pub fn store_stats() -> String {
    section(&[
        (
            "lookout store stats",
            "sizes and ages per tier and kind of record",
        ),
        (
            "lookout store stats --json | jq '.tiers[] | {name, disk_bytes}'",
            "for scripts",
        ),
    ])
}

pub fn user_list() -> String {
    section(&[
        ("lookout user list", "who may log in, and their role"),
        ("lookout user list --json", "the same, as JSON"),
    ])
}

pub fn token_list() -> String {
    section(&[
        ("lookout token list", "IDs, names, roles; never the tokens"),
        (
            "lookout token list --json | jq -r '.[] | select(.revoked == null) | .id'",
            "active ones",
        ),
    ])
}

pub fn token_revoke() -> String {
    section(&[(
        "lookout token revoke e2e5bb1631fe",
        "the ID from `token list`",
    )])
}
