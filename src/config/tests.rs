//! Golden tests of whole config texts: the exact text of every kind of error (the messages are
//! the user interface of a config file, so a wording change should be a visible diff here),
//! environment substitution, loading files, and robustness against arbitrary input.

use std::path::Path;
use std::time::Duration;

use super::{Config, ConfigError, embedded_default, from_str, init_template, load};

fn env(name: &str) -> Option<String> {
    match name {
        "LOOKOUT_PORT" => Some("9999".into()),
        "LOOKOUT_DATA" => Some("/srv/lookout".into()),
        "LOOKOUT_INTERVAL" => Some("30s".into()),
        "BAD_INTERVAL" => Some("10 parsecs".into()),
        _ => None,
    }
}

fn parse(text: &str) -> Result<Config, ConfigError> {
    from_str(text, "lookout.toml", &env)
}

/// The error text for `text`, which must be invalid.
fn errors(text: &str) -> String {
    match parse(text) {
        Ok(_) => panic!("expected problems in:\n{text}"),
        Err(error) => error.to_string(),
    }
}

#[test]
fn empty_file_is_the_default() {
    assert_eq!(parse("").ok(), Some(embedded_default()));
    assert_eq!(parse("# nothing\n\n").ok(), Some(embedded_default()));
    assert_eq!(parse("\u{feff}[server]\n").ok(), Some(embedded_default()));
}

#[test]
fn values_are_read() {
    let text = r#"
[server]
listen = "[::]:8080"
insecure_http = true
[storage]
path = "/var/lib/lookout"
max_size = 536870912
flush_interval = "2s"
retention = { raw = "1d", minute = "30d", hour = "365d" }
[system]
enabled = false
interval = "1m30s"
per_core = true
filesystems.include = ['/', '/home']
interfaces.exclude = ['lo']
[system.thresholds]
cpu_warning = "70%"
disk_critical = "99.5%"
[log]
level = "lookout=debug,info"
"#;
    let config = parse(text).unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(config.server.listen.to_string(), "[::]:8080");
    assert_eq!(config.storage.path, Path::new("/var/lib/lookout"));
    assert_eq!(config.storage.max_size, 512 << 20);
    assert_eq!(config.storage.flush_interval, Duration::from_secs(2));
    assert_eq!(config.storage.retention.raw, Duration::from_secs(86_400));
    assert_eq!(
        config.storage.retention.hour,
        Duration::from_secs(365 * 86_400)
    );
    assert!(!config.system.enabled);
    assert_eq!(config.system.interval, Duration::from_secs(90));
    assert!(config.system.per_core);
    let mountpoints = &config.system.mountpoints;
    assert!(mountpoints.allows("/") && mountpoints.allows("/home"));
    assert!(
        !mountpoints.allows("/home/user"),
        "include patterns match whole names"
    );
    assert!(
        !mountpoints.allows("/dev"),
        "the default exclude list still applies"
    );
    assert!(
        config.system.interfaces.allows("docker0"),
        "a list replaces the default"
    );
    assert!(!config.system.interfaces.allows("lo"));
    assert_eq!(config.system.thresholds.cpu_warning, 0.7);
    assert_eq!(config.system.thresholds.cpu_critical, 0.95, "default kept");
    assert_eq!(config.system.thresholds.disk_critical, 0.995);
    assert_eq!(config.log.level, "lookout=debug,info");
    assert_eq!(config.source, None);
}

#[test]
fn environment_substitution() {
    let text = r#"
[server]
listen = "127.0.0.1:${LOOKOUT_PORT}"
[storage]
path = "${LOOKOUT_DATA}/data/$${literal}"
[system]
interval = "${LOOKOUT_INTERVAL}"
[system.filesystems]
exclude = ['${LOOKOUT_DATA}/.+', '/tmp($|/.*)', 'cost[$]{2}']
"#;
    let config = parse(text).unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(config.server.listen.to_string(), "127.0.0.1:9999");
    assert_eq!(
        config.storage.path,
        Path::new("/srv/lookout/data/${literal}")
    );
    assert_eq!(config.system.interval, Duration::from_secs(30));
    // In regexes too; a "$" not followed by "{" is left alone.
    assert_eq!(
        config.system.mountpoints.exclude_patterns(),
        ["/srv/lookout/.+", "/tmp($|/.*)", "cost[$]{2}"]
    );
}

/// What `config init` names: every `${NAME}` a value reads, once, in order; not the ones in
/// comments, not `$${literal}`.
#[test]
fn env_references_are_the_variables_values_read() {
    let text = r#"
# password = "${IN_A_COMMENT}"
[server]
listen = "127.0.0.1:${LOOKOUT_PORT}"
[storage]
path = "${LOOKOUT_DATA}/data/$${literal}"
[system.filesystems]
exclude = ['${LOOKOUT_DATA}/.+', '${OTHER}']
"#;
    assert_eq!(
        super::env_references(text),
        ["LOOKOUT_PORT", "LOOKOUT_DATA", "OTHER"]
    );
    assert!(super::env_references("").is_empty());
}

#[test]
fn golden_unset_environment_variable() {
    assert_eq!(
        errors("[server]\nlisten = \"${LOOKOUT_LISTEN}\"\n"),
        "lookout.toml:2:10: server.listen: environment variable LOOKOUT_LISTEN is not set \
         (referenced as ${LOOKOUT_LISTEN})"
    );
    assert_eq!(
        errors("[storage]\npath = \"${HOME/data\"\n"),
        "lookout.toml:2:8: storage.path: \"${\" is not closed by \"}\"; write \"$${\" for a literal \"${\""
    );
    // The substituted value is what is checked, and the message shows where it came from.
    assert_eq!(
        errors("[system]\ninterval = \"${BAD_INTERVAL}\"\n"),
        "lookout.toml:2:12: system.interval: \"10 parsecs\" (from \"${BAD_INTERVAL}\") is not a \
         duration; expected a number and a unit, like \"500ms\", \"10s\", \"5m\", \"1h\" or \"7d\""
    );
}

#[test]
fn golden_unknown_keys() {
    let text = r#"[server]
listen = "127.0.0.1:9898"

[servr]
listen = "x"

[system]
intervl = "10s"
retention = "7d"
include = ["/"]

[system.thresholds]
cpu_warn = "70%"

[log]
colour = true
"#;
    assert_eq!(
        errors(text),
        "lookout.toml:4:2: servr: unknown key; did you mean \"server\"?\n\
         lookout.toml:8:1: system.intervl: unknown key; did you mean \"interval\"?\n\
         lookout.toml:9:1: system.retention: unknown key here; did you mean \"storage.retention\"?\n\
         lookout.toml:10:1: system.include: unknown key here; did you mean \
         \"system.filesystems.include\", \"system.fs_types.include\" or \"system.interfaces.include\"?\n\
         lookout.toml:13:1: system.thresholds.cpu_warn: unknown key; did you mean \"cpu_warning\"?\n\
         lookout.toml:16:1: log.colour: unknown key; expected one of \"level\", \"format\", \"output\", \"file\", \"max_size\", \"max_age\", \"keep\""
    );
}

#[test]
fn golden_wrong_types() {
    let text = r#"server = 5
[system]
enabled = "yes"
per_core = "true"
interval = 10
filesystems = { exclude = "^/dev" }
[system.thresholds]
cpu_warning = 0.8
[storage]
max_size = 1.5
path = ["a"]
"#;
    assert_eq!(
        errors(text),
        "lookout.toml:1:10: server: expected a table, found an integer\n\
         lookout.toml:3:11: system.enabled: expected a boolean (true or false), found a string\n\
         lookout.toml:4:12: system.per_core: expected a boolean (true or false), found a string; \
         write true without quotes\n\
         lookout.toml:5:12: system.interval: expected a duration string like \"10s\", found an integer\n\
         lookout.toml:6:27: system.filesystems.exclude: expected an array of regex strings, like \
         [\"lo\", \"veth.*\"], found a string\n\
         lookout.toml:8:15: system.thresholds.cpu_warning: expected a percentage string like \"80%\", \
         found a float\n\
         lookout.toml:10:12: storage.max_size: expected a size string like \"512MiB\" or \"1GiB\", \
         or a number of bytes, found a float\n\
         lookout.toml:11:8: storage.path: expected a directory path string, found an array"
    );
}

#[test]
fn golden_bad_durations() {
    let text = "[server]\nlisten = \"127.0.0.1:9898\"\n\n[system]\nenabled = true\n\ninterval   = \"10 parsecs\"\n";
    assert_eq!(
        errors(text),
        "lookout.toml:7:14: system.interval: \"10 parsecs\" is not a duration; expected a number \
         and a unit, like \"500ms\", \"10s\", \"5m\", \"1h\" or \"7d\""
    );
    assert_eq!(
        errors("[system]\ninterval = \"0s\"\n"),
        "lookout.toml:2:12: system.interval: \"0s\" must be greater than zero"
    );
    assert_eq!(
        errors("[storage]\nflush_interval = \"1m\"\n"),
        "lookout.toml:2:18: storage.flush_interval: \"1m\" is too long; expected at most \"10s\" \
         (the most data a crash can lose)"
    );
    assert_eq!(
        errors("[storage.retention]\nraw = \"99999999999999999999999d\"\n"),
        "lookout.toml:2:7: storage.retention.raw: \"99999999999999999999999d\" is too large a duration; expected at most 36500d (100 years)"
    );
}

#[test]
fn golden_bad_sizes() {
    assert_eq!(
        errors("[storage]\nmax_size = \"1 GB-ish\"\n"),
        "lookout.toml:2:12: storage.max_size: \"1 GB-ish\" is not a size; expected a number and a \
         unit, like \"512MiB\", \"1GiB\" or \"100MB\""
    );
    assert_eq!(
        errors("[storage]\nmax_size = -5\n"),
        "lookout.toml:2:12: storage.max_size: -5 is not a size; expected a number and a unit, \
         like \"512MiB\", \"1GiB\" or \"100MB\", or a number of bytes"
    );
    assert_eq!(
        errors("[storage]\nmax_size = \"1KiB\"\n"),
        "lookout.toml:2:12: storage.max_size: \"1KiB\" is too small; expected at least \"1MiB\""
    );
    assert_eq!(
        errors("[storage]\nmax_size = 1024\n"),
        "lookout.toml:2:12: storage.max_size: 1024 is too small; expected at least \"1MiB\""
    );
}

#[test]
fn golden_invalid_toml() {
    // One problem, with the parser's message: after a syntax error the structure is a guess.
    assert_eq!(
        errors("[system]\ninterval = 10s\nbogus = 1\n"),
        "lookout.toml:2:12: invalid TOML: string values must be quoted, expected literal string"
    );
    assert_eq!(
        errors("[server\nlisten = \"x\"\n"),
        "lookout.toml:1:8: invalid TOML: unclosed table, expected `]`"
    );
    assert_eq!(
        errors("[system]\ninterval = \"10s\"\ninterval = \"20s\"\n"),
        "lookout.toml:3:1: invalid TOML: duplicate key"
    );
}

#[test]
fn golden_other_values() {
    let text = r#"[server]
listen = "localhost:9898"
[storage]
path = "~/lookout"
[system.interfaces]
exclude = ["lo", "(eth", 7]
[system.thresholds]
cpu_warning = "96%"
memory_critical = "120%"
disk_warning = "80"
[log]
level = "verbose"
"#;
    assert_eq!(
        errors(text),
        "lookout.toml:2:10: server.listen: \"localhost:9898\" is not a socket address; expected an \
         IP address and a port, like \"127.0.0.1:9898\" or \"[::]:9898\"\n\
         lookout.toml:4:8: storage.path: \"~/lookout\": \"~\" is not expanded; write the full path, \
         or \"${HOME}/...\"\n\
         lookout.toml:6:18: system.interfaces.exclude[1]: \"(eth\" is not a valid regex: unclosed group\n\
         lookout.toml:6:26: system.interfaces.exclude[2]: expected a regex string, found an integer\n\
         lookout.toml:8:15: system.thresholds.cpu_warning: \"96%\" must be below cpu_critical \
         (\"95%\", the default)\n\
         lookout.toml:9:19: system.thresholds.memory_critical: \"120%\" is out of range; expected 0% to 100%\n\
         lookout.toml:10:16: system.thresholds.disk_warning: \"80\" is not a percentage; expected a \
         number and a percent sign, like \"80%\"\n\
         lookout.toml:12:9: log.level: \"verbose\" is not a log filter; expected a level (off, error, \
         warn, info, debug, trace), or directives like \"lookout=debug,info\""
    );
}

#[test]
fn golden_relations_blame_the_written_value() {
    assert_eq!(
        errors("[system.thresholds]\ncpu_critical = \"70%\"\n"),
        "lookout.toml:2:16: system.thresholds.cpu_critical: \"70%\" must be above cpu_warning \
         (\"80%\", the default)"
    );
    assert_eq!(
        errors("[system.thresholds]\ndisk_warning = \"95%\"\ndisk_critical = \"95%\"\n"),
        "lookout.toml:2:16: system.thresholds.disk_warning: \"95%\" must be below disk_critical (\"95%\")"
    );
    assert_eq!(
        errors("[storage.retention]\nraw = \"100d\"\n"),
        "lookout.toml:2:7: storage.retention.raw: \"100d\" is longer than minute (\"90d\", the \
         default); expected raw <= minute <= hour"
    );
    assert_eq!(
        errors("[storage.retention]\nraw = \"7d\"\nminute = \"1d\"\n"),
        "lookout.toml:3:10: storage.retention.minute: \"1d\" is shorter than raw (\"7d\"); \
         expected raw <= minute <= hour"
    );
    // A value that is itself wrong is reported once, without a second message about the pair.
    assert_eq!(
        errors("[system.thresholds]\ncpu_warning = \"lots\"\ncpu_critical = \"1%\"\n"),
        "lookout.toml:2:15: system.thresholds.cpu_warning: \"lots\" is not a percentage; expected \
         a number and a percent sign, like \"80%\""
    );
}

#[test]
fn golden_several_problems_in_file_order() {
    // Problems are found in schema order (server, storage, system, log, then unknown keys)
    // but listed in file order.
    let text = r#"[log]
level = "loud"

[system]
interval = "often"
colour = "blue"

[storage]
max_size = "big"

[server]
listen = "${NOPE}"
"#;
    let error = parse(text).err();
    assert_eq!(error.as_ref().map(|e| e.problems().len()), Some(5));
    assert_eq!(
        error.map(|e| e.to_string()).unwrap_or_default(),
        "lookout.toml:2:9: log.level: \"loud\" is not a log filter; expected a level (off, error, \
         warn, info, debug, trace), or directives like \"lookout=debug,info\"\n\
         lookout.toml:5:12: system.interval: \"often\" is not a duration; expected a number and a \
         unit, like \"500ms\", \"10s\", \"5m\", \"1h\" or \"7d\"\n\
         lookout.toml:6:1: system.colour: unknown key; expected one of \"enabled\", \"interval\", \
         \"per_core\", \"filesystems\", \"fs_types\", \"interfaces\", \"thresholds\"\n\
         lookout.toml:9:12: storage.max_size: \"big\" is not a size; expected a number and a unit, \
         like \"512MiB\", \"1GiB\" or \"100MB\"\n\
         lookout.toml:12:10: server.listen: environment variable NOPE is not set (referenced as ${NOPE})"
    );
}

/// Issue 17: a problem in the tenth `[[check]]` said `check[9]`, and the reader had to count
/// tables to find it. A table of an array with a valid, unique name is keyed by it, nested
/// tables too; one without a usable name keeps its index.
#[test]
fn golden_problems_keyed_by_the_tables_name() {
    let text = r#"[[check]]
name = "app"
type = "http"
url = "http://127.0.0.1:5000/health"
interval = "10s"
timeout = "20s"
retires = 2

[[check]]
name = "web \"log\""
type = "log"
path = "/var/log/app.log"

[[check.pattern]]
name = "errors"
regex = "(unclosed"

[[check]]
type = "tcp"
address = "127.0.0.1:5432"

[[check]]
name = "app"
type = "tcp"
address = "127.0.0.1:5433"
interval = "1x"

[[notifier]]
name = "ops-mail"
type = "webhook"
url = "https://hooks.example.org/lookout"
format = "xml"
tiemout = "5s"
"#;
    assert_eq!(
        errors(text),
        r#"lookout.toml:6:11: check "app".timeout: must not be longer than the interval (10s); a check cannot run more often than it can finish
lookout.toml:7:1: check "app".retires: unknown key; did you mean "retries"?
lookout.toml:16:9: check "web \"log\"".pattern "errors".regex: "(unclosed" is not a valid regex: unclosed group
lookout.toml:18:1: check[2].name: missing; every check needs a name, like name = "app"
lookout.toml:23:8: check[3].name: "app" is already the name of another check; names must be unique
lookout.toml:26:12: check[3].interval: "1x" is not a duration; expected a number and a unit, like "500ms", "10s", "5m", "1h" or "7d"
lookout.toml:32:10: notifier "ops-mail".format: "xml" is not a webhook format; expected "json" or "slack"
lookout.toml:33:1: notifier "ops-mail".tiemout: unknown key; did you mean "timeout"?"#
    );
    // The structured form (config check --json, the reload event) carries the same key.
    let error = parse(text).err();
    let keys: Vec<&str> = error
        .as_ref()
        .map(|e| e.problems().iter().map(|p| p.key.as_str()).collect())
        .unwrap_or_default();
    assert_eq!(keys[0], r#"check "app".timeout"#);
}

#[test]
fn problems_are_structured_for_callers() {
    let error = parse("[system]\ninterval = \"x\"\n").err();
    let problems = error.as_ref().map(|e| e.problems()).unwrap_or_default();
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0].key, "system.interval");
    assert_eq!(
        problems[0].position,
        Some(crate::base::schema::Position {
            line: 2,
            column: 12
        })
    );
    assert_eq!(problems[0].origin, "lookout.toml");
}

#[test]
fn load_reads_files_and_explains_failures() {
    assert_eq!(load(None).ok(), Some(embedded_default()));

    let missing = Path::new("/nonexistent/lookout.toml");
    assert_eq!(
        load(Some(missing)).err().map(|e| e.to_string()),
        Some(
            "cannot read config /nonexistent/lookout.toml: No such file or directory (os error 2); \
             create one with `lookout config init /nonexistent/lookout.toml`"
                .to_string()
        )
    );

    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("lookout.toml");
    std::fs::write(&path, "[system]\ninterval = \"1m\"\n").unwrap_or_else(|e| panic!("{e}"));
    let config = load(Some(&path)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.source.as_deref(), Some(path.as_path()));
    assert_eq!(config.system.interval, Duration::from_secs(60));

    std::fs::write(&path, "[system]\ninterval = 1\n").unwrap_or_else(|e| panic!("{e}"));
    let message = load(Some(&path))
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert_eq!(
        message,
        format!(
            "{}:2:12: system.interval: expected a duration string like \"10s\", found an integer",
            path.display()
        )
    );

    assert!(
        load(Some(dir.path())).err().is_some_and(|e| e
            .to_string()
            .ends_with("; expected the path of a TOML file")),
        "a directory is explained"
    );
}

/// No input may panic: mutate the template (delete, duplicate and replace bytes with
/// characters that matter to TOML and to our parsers) and parse every result.
#[test]
fn arbitrary_input_never_panics() {
    let template = init_template("default").unwrap_or_default();
    let interesting = [
        "\"",
        "'",
        "[",
        "]",
        "=",
        "\n",
        "${",
        "$${",
        "}",
        ".",
        "%",
        "é",
        "\u{feff}",
        "#",
        ",",
        "{",
        "-",
        "99999999999999999999",
        "0",
        "[[",
        "\\",
    ];
    // A fixed xorshift sequence: reproducible, no dependency.
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let char_starts: Vec<usize> = template.char_indices().map(|(at, _)| at).collect();
    for _ in 0..3000 {
        let mut text = template.clone();
        for _ in 0..(1 + next() % 4) {
            let starts: Vec<usize> = text.char_indices().map(|(at, _)| at).collect();
            let at = starts[(next() as usize) % starts.len()];
            let end = starts
                .iter()
                .copied()
                .find(|&s| s > at + (next() as usize % 12))
                .unwrap_or(text.len());
            let insert = interesting[(next() as usize) % interesting.len()];
            match next() % 3 {
                0 => text.replace_range(at..end, ""),
                1 => text.insert_str(at, insert),
                _ => text.replace_range(at..end, insert),
            }
        }
        let _ = from_str(&text, "fuzz", &env);
    }
    assert!(!char_starts.is_empty());
}

#[test]
fn golden_empty_path() {
    assert_eq!(
        errors("[storage]\npath = \"\"\n"),
        "lookout.toml:2:8: storage.path: must not be empty; expected a directory, like \
         \"./lookout-data\" or \"/var/lib/lookout\""
    );
}

/// Regression guard: "a)|(b" is invalid alone but valid once wrapped as `^(?:a)|(b)$`, where it
/// would match any name starting with "a" or ending with "b". It must be rejected, not wrapped.
#[test]
fn anchoring_cannot_be_escaped() {
    assert!(crate::base::schema::anchored("a)|(b").is_err());
    assert_eq!(
        errors("[system.interfaces]\ninclude = ['a)|(b']\n"),
        "lookout.toml:2:12: system.interfaces.include[0]: \"a)|(b\" is not a valid regex: \
         unopened group"
    );
    let filter = super::NameFilter::new(&["eth.*"], &["eth9"]).unwrap_or_default();
    assert!(filter.allows("eth0") && !filter.allows("eth9") && !filter.allows("veth0"));
    assert!(super::NameFilter::new(&[], &["(x"]).is_err());
}

#[test]
fn golden_server_access_control() {
    // Other hosts without TLS: the message names both ways out.
    let clear = "accepts other hosts, but without TLS passwords and session cookies would cross \
                 the network in clear; set server.tls_cert and server.tls_key, or set \
                 server.insecure_http = true (e.g. behind a TLS proxy)";
    assert_eq!(
        errors("[server]\nlisten = \"0.0.0.0:9898\"\n"),
        format!("lookout.toml:2:10: server.listen: \"0.0.0.0:9898\" {clear}")
    );
    // Half a TLS setup is no TLS: both problems are reported.
    assert_eq!(
        errors("[server]\nlisten = \"192.0.2.7:9898\"\ntls_cert = \"/etc/lookout/cert.pem\"\n"),
        format!(
            "lookout.toml:2:10: server.listen: \"192.0.2.7:9898\" {clear}\n\
             lookout.toml:3:12: server.tls_cert: is set but server.tls_key is not; TLS needs \
             both the certificate and its private key (or neither, for plain HTTP)"
        )
    );
    // insecure_http = true is the explicit choice (e.g. behind a TLS proxy); TLS is the other.
    let insecure = parse("[server]\nlisten = \"0.0.0.0:9898\"\ninsecure_http = true\n")
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(insecure.server.insecure_http);
    let tls =
        parse("[server]\nlisten = \"0.0.0.0:9898\"\ntls_cert = \"/c.pem\"\ntls_key = \"/k.pem\"\n")
            .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(tls.server.tls_cert.as_deref(), Some(Path::new("/c.pem")));
    assert_eq!(tls.server.tls_key.as_deref(), Some(Path::new("/k.pem")));
    assert!(!tls.server.insecure_http);
    // Half a TLS setup, either half.
    assert_eq!(
        errors("[server]\ntls_cert = \"/etc/lookout/cert.pem\"\n"),
        "lookout.toml:2:12: server.tls_cert: is set but server.tls_key is not; TLS needs both \
         the certificate and its private key (or neither, for plain HTTP)"
    );
    assert_eq!(
        errors("[server]\ntls_key = \"/etc/lookout/key.pem\"\n"),
        "lookout.toml:2:11: server.tls_key: is set but server.tls_cert is not; TLS needs both \
         the certificate and its private key (or neither, for plain HTTP)"
    );
    // Basic auth for /metrics, either half.
    for (text, at) in [
        (
            "[server]\nmetrics_user = \"prometheus\"\n",
            "2:16: server.metrics_user",
        ),
        (
            "[server]\nmetrics_password = \"pw\"\n",
            "2:20: server.metrics_password",
        ),
    ] {
        assert_eq!(
            errors(text),
            format!(
                "lookout.toml:{at}: basic auth for /metrics needs both server.metrics_user and server.metrics_password"
            )
        );
    }
    // "~" is not expanded in a TLS path either (it was accepted, then failed at start).
    assert!(
        errors("[server]\ntls_cert = \"~/c.pem\"\ntls_key = \"/k.pem\"\n")
            .contains("is not expanded")
    );
    // An empty path is its own problem, not also "half a setup".
    assert_eq!(
        errors("[server]\ntls_cert = \" \"\ntls_key = \"/k.pem\"\n"),
        "lookout.toml:2:12: server.tls_cert: must not be empty; expected the path of a PEM file"
    );
    assert_eq!(
        errors("[server]\ninsecure_http = \"yes\"\n"),
        "lookout.toml:2:17: server.insecure_http: expected a boolean (true or false), found a \
         string"
    );
}

#[test]
fn golden_metrics_refresh() {
    assert_eq!(
        parse("").unwrap().server.metrics_refresh,
        Duration::from_secs(1)
    );
    let config = parse("[server]\nmetrics_refresh = \"0s\"\n").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.server.metrics_refresh, Duration::ZERO);
    assert_eq!(
        errors("[server]\nmetrics_refresh = \"5m\"\n"),
        "lookout.toml:2:19: server.metrics_refresh: \"5m\" is longer than 1m; a scrape would get \
         values that old (use \"0s\" to render during each scrape)"
    );
    assert_eq!(
        errors("[server]\nmetrics_refresh = \"often\"\n"),
        "lookout.toml:2:19: server.metrics_refresh: \"often\" is not a duration; expected a \
         number and a unit, like \"500ms\", \"10s\", \"5m\", \"1h\" or \"7d\""
    );
}

#[test]
fn golden_connection_limits() {
    let default = parse("").unwrap().server;
    assert_eq!(default.header_read_timeout, Duration::from_secs(10));
    assert_eq!(default.tls_handshake_timeout, Duration::from_secs(10));
    assert_eq!(default.idle_timeout, Duration::from_secs(60));
    assert_eq!(default.max_connections, 512);
    let config = parse(
        "[server]\nheader_read_timeout = \"5s\"\ntls_handshake_timeout = \"5m\"\n\
         idle_timeout = \"1h\"\nmax_connections = 16\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.server.header_read_timeout, Duration::from_secs(5));
    assert_eq!(
        config.server.tls_handshake_timeout,
        Duration::from_secs(300)
    );
    assert_eq!(config.server.idle_timeout, Duration::from_secs(3600));
    assert_eq!(config.server.max_connections, 16);
    assert_eq!(
        errors(
            "[server]\nheader_read_timeout = \"0s\"\ntls_handshake_timeout = \"10m\"\n\
             idle_timeout = \"500ms\"\nmax_connections = 15\n"
        ),
        "lookout.toml:2:23: server.header_read_timeout: \"0s\" is out of range; expected from \
         \"1s\" to \"5m\" (the time a client has to send a request head)\n\
         lookout.toml:3:25: server.tls_handshake_timeout: \"10m\" is out of range; expected \
         from \"1s\" to \"5m\" (the time a client has to finish the TLS handshake)\n\
         lookout.toml:4:16: server.idle_timeout: \"500ms\" is out of range; expected from \
         \"1s\" to \"1h\" (how long a kept-alive connection may wait for a request)\n\
         lookout.toml:5:19: server.max_connections: 15 is out of range; expected a whole number \
         from 16 to 1000000"
    );
    assert_eq!(
        errors("[server]\nmax_connections = 99999999999999999999\n"),
        "lookout.toml:2:19: server.max_connections: 99999999999999999999 is out of range; \
         expected a whole number from 16 to 1000000"
    );
    assert_eq!(
        errors("[server]\nmax_connections = \"512\"\n"),
        "lookout.toml:2:19: server.max_connections: expected a whole number, like max_connections = 512, found a string"
    );
    assert_eq!(
        errors("[server]\nidle_timeout = \"99999999999999999999d\"\n"),
        "lookout.toml:2:16: server.idle_timeout: \"99999999999999999999d\" is too large a duration; \
         expected at most 36500d (100 years)"
    );
}

#[test]
fn golden_session_timeouts() {
    let config = parse("[server]\nsession_idle_timeout = \"15m\"\nsession_max_age = \"1d\"\n")
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.server.session_idle_timeout, Duration::from_secs(900));
    assert_eq!(config.server.session_max_age, Duration::from_secs(86_400));
    assert_eq!(
        errors("[server]\nsession_idle_timeout = \"soon\"\n"),
        "lookout.toml:2:24: server.session_idle_timeout: \"soon\" is not a duration; expected a \
         number and a unit, like \"500ms\", \"10s\", \"5m\", \"1h\" or \"7d\""
    );
    assert_eq!(
        errors("[server]\nsession_max_age = \"0s\"\n"),
        "lookout.toml:2:19: server.session_max_age: \"0s\" must be greater than zero"
    );
    assert_eq!(
        errors("[server]\nsession_max_age = 3600\n"),
        "lookout.toml:2:19: server.session_max_age: expected a duration string like \"10s\", \
         found an integer"
    );
    // An idle limit above the absolute one would never apply.
    assert_eq!(
        errors("[server]\nsession_idle_timeout = \"1d\"\n"),
        "lookout.toml:2:24: server.session_idle_timeout: \"1d\" is longer than session_max_age \
         (\"12h\", the default); expected session_idle_timeout <= session_max_age"
    );
    assert_eq!(
        errors("[server]\nsession_max_age = \"10m\"\n"),
        "lookout.toml:2:19: server.session_max_age: \"10m\" is shorter than session_idle_timeout \
         (\"30m\", the default); expected session_idle_timeout <= session_max_age"
    );
    assert_eq!(
        errors("[server]\nsession_idle_timeout = \"2h\"\nsession_max_age = \"1h\"\n"),
        "lookout.toml:3:19: server.session_max_age: \"1h\" is shorter than session_idle_timeout \
         (\"2h\"); expected session_idle_timeout <= session_max_age"
    );
    // Equal is fine: the idle limit then never ends a session first, but it is not wrong.
    assert!(parse("[server]\nsession_idle_timeout = \"1h\"\nsession_max_age = \"1h\"\n").is_ok());
    // A bad value is reported once, without a second message about the pair.
    assert_eq!(
        errors("[server]\nsession_idle_timeout = \"forever\"\nsession_max_age = \"1m\"\n"),
        "lookout.toml:2:24: server.session_idle_timeout: \"forever\" is not a duration; expected \
         a number and a unit, like \"500ms\", \"10s\", \"5m\", \"1h\" or \"7d\""
    );
}

#[test]
fn trusted_proxies_are_addresses_or_networks() {
    let config =
        parse("[server]\ntrusted_proxies = [\"127.0.0.1\", \"10.1.2.3/8\", \"::1\"]\n").unwrap();
    let nets: Vec<String> = config
        .server
        .trusted_proxies
        .iter()
        .map(|n| n.to_string())
        .collect();
    assert_eq!(nets, ["127.0.0.1/32", "10.0.0.0/8", "::1/128"]);
    assert_eq!(
        errors("[server]\ntrusted_proxies = [\"127.0.0.1\", \"proxy.local\"]\n"),
        "lookout.toml:2:33: server.trusted_proxies[1]: \"proxy.local\" is not an IP address or \
         network; expected e.g. \"127.0.0.1\", \"::1\" or \"10.0.0.0/8\""
    );
    assert_eq!(
        errors("[server]\ntrusted_proxies = \"127.0.0.1\"\n"),
        "lookout.toml:2:19: server.trusted_proxies: expected an array of addresses or networks, \
         like [\"127.0.0.1\", \"10.0.0.0/8\"], found a string"
    );
}

/// Every key the reader asks for says what it holds (`Reader::declare`), so `lookout config
/// schema` constrains it: a key read by hand without a kind would be a hole in editors' checks.
#[test]
fn every_key_declares_what_it_holds() {
    let holes = crate::base::schema::undeclared(&|reader, document| {
        super::parse::read_config(reader, document);
    });
    assert!(holes.is_empty(), "keys without a kind: {holes:#?}");
}
