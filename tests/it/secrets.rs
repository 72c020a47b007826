//! Secrets (DSN passwords, Redis passwords, header tokens) never appear in logs, CLI output,
//! the API, the status page or /metrics — even when the targets fail and errors are shown.

use std::time::Duration;

use crate::common::*;

const DB_PASSWORD: &str = "pg-S3CR3T-4711";
const MYSQL_PASSWORD: &str = "my-S3CR3T-0815";
const REDIS_PASSWORD: &str = "redis-S3CR3T-1234";
const TOKEN: &str = "tok-S3CR3T-9876";
const SMTP_PASSWORD: &str = "smtp-S3CR3T-2468";
const HOOK_SECRET: &str = "hmac-S3CR3T-1357";
const HOOK_TOKEN: &str = "T0KEN-IN-PATH-8642";

fn config_body() -> String {
    // PostgreSQL trusts local connections (the password is sent but not needed); MariaDB
    // rejects the wrong root password; Redis has no password set, so AUTH fails; the HTTP
    // target refuses connections. Every check has something to report.
    let closed = free_port();
    format!(
        "\
         [[check]]\nname = \"pg\"\ntype = \"postgres\"\ndsn = \"postgres://postgres:${{LOOKOUT_TEST_PG_PASSWORD}}@127.0.0.1:5432/test\"\ninterval = \"1s\"\ntimeout = \"1s\"\n\n\
         [[check]]\nname = \"my\"\ntype = \"mysql\"\ndsn = \"mysql://root:${{LOOKOUT_TEST_MYSQL_PASSWORD}}@127.0.0.1:3306/test\"\ninterval = \"1s\"\ntimeout = \"1s\"\n\n\
         [[check]]\nname = \"cache\"\ntype = \"redis\"\nurl = \"redis://:${{LOOKOUT_TEST_REDIS_PASSWORD}}@127.0.0.1:6379/0\"\ninterval = \"1s\"\ntimeout = \"1s\"\n\n\
         [[check]]\nname = \"api\"\ntype = \"http\"\nurl = \"http://127.0.0.1:{closed}/health?token=${{LOOKOUT_TEST_TOKEN}}\"\nheaders = {{ Authorization = \"Bearer ${{LOOKOUT_TEST_TOKEN}}\" }}\ninterval = \"1s\"\ntimeout = \"1s\"\n\n\
         [[notifier]]\nname = \"mail\"\ntype = \"email\"\nsmtp = \"smtp://127.0.0.1:{closed}\"\nusername = \"ops\"\npassword = \"${{LOOKOUT_TEST_SMTP_PASSWORD}}\"\nfrom = \"lookout@example.org\"\nto = [\"ops@example.org\"]\n\n\
         [[notifier]]\nname = \"hook\"\ntype = \"webhook\"\nurl = \"http://127.0.0.1:{closed}/hooks/${{LOOKOUT_TEST_HOOK_TOKEN}}\"\nsecret = \"${{LOOKOUT_TEST_HOOK_SECRET}}\"\n"
    )
}

fn with_secrets(command: &mut std::process::Command) -> &mut std::process::Command {
    command
        .env("LOOKOUT_TEST_PG_PASSWORD", DB_PASSWORD)
        .env("LOOKOUT_TEST_MYSQL_PASSWORD", MYSQL_PASSWORD)
        .env("LOOKOUT_TEST_REDIS_PASSWORD", REDIS_PASSWORD)
        .env("LOOKOUT_TEST_TOKEN", TOKEN)
        .env("LOOKOUT_TEST_SMTP_PASSWORD", SMTP_PASSWORD)
        .env("LOOKOUT_TEST_HOOK_SECRET", HOOK_SECRET)
        .env("LOOKOUT_TEST_HOOK_TOKEN", HOOK_TOKEN)
}

fn assert_clean(what: &str, text: &str) {
    for secret in [
        DB_PASSWORD,
        MYSQL_PASSWORD,
        REDIS_PASSWORD,
        TOKEN,
        SMTP_PASSWORD,
        HOOK_SECRET,
        HOOK_TOKEN,
    ] {
        assert!(
            !text.contains(secret),
            "{what} shows the secret {secret}:\n{text}"
        );
    }
}

#[test]
fn no_secret_in_logs_cli_api_page_or_metrics() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), 0, &config_body());

    for args in [
        vec!["check", "--json"],
        vec!["check"],
        vec!["config", "check"],
        vec!["alerts", "test"],
        vec!["alerts", "test", "--json"],
    ] {
        let out = output(
            with_secrets(&mut lookout())
                .args(&args)
                .arg("--config")
                .arg(&config)
                .args(["--log-level", "trace"])
                .current_dir(dir.path()),
        );
        assert_clean(
            &format!("`lookout {}` stdout", args.join(" ")),
            &text(&out.stdout),
        );
        assert_clean(
            &format!("`lookout {}` stderr", args.join(" ")),
            &text(&out.stderr),
        );
        if args[0] == "check" && args.len() == 2 {
            // The checks did run and did fail, so the errors were there to leak.
            let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            let statuses: Vec<&str> = report["checks"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["status"].as_str().unwrap())
                .collect();
            assert!(
                statuses.iter().filter(|s| **s == "critical").count() >= 3,
                "{report}"
            );
        }
    }

    let mut command = lookout();
    with_secrets(&mut command)
        .args(["serve", "--log-level", "debug", "--config"])
        .arg(&config);
    let mut daemon = Daemon::spawn(command);
    daemon.wait_until(Duration::from_secs(20), |d| {
        http_get(d.addr, "/api/v1/status")
            .is_some_and(|(status, body)| status == 200 && body.matches("\"check\":").count() >= 4)
    });
    // The notifiers fail too (nothing listens), so their errors were there to leak.
    daemon.wait_until(Duration::from_secs(20), |d| {
        http_get(d.addr, "/api/v1/outbox")
            .is_some_and(|(_, body)| body.contains("\"last_error\":\""))
    });
    for path in [
        "/api/v1/status",
        "/api/v1/events?from=-1h",
        "/metrics",
        "/",
        "/api/v1/alerts",
        "/api/v1/alerts/history",
        "/api/v1/outbox?all=true",
    ] {
        let (_, body) = daemon.get(path);
        assert_clean(path, &body);
    }
    let (code, log) = daemon.stop_with(libc::SIGTERM);
    assert_eq!(code, Some(0));
    assert!(log.contains("lookout started"), "the log was captured");
    assert_clean("the daemon's log", &log);
}

/// A line of the watched application's log that a log check matches: shown in the check's
/// detail (`keep_samples = true`), never in Lookout's own log. Named like a secret, so
/// `.ci/check-log-secrets` looks for it in every log of the test suite too.
const MATCHED_LINE_SECRET: &str = "ERROR login failed for alice@example.com pw=Sw0rdf1sh-77";

#[test]
fn json_log_files_rotate_stay_private_and_hold_no_secret_or_matched_line() {
    let _machine = crate::common::machine::shared();
    use std::os::unix::fs::PermissionsExt;

    let dir = tempfile::tempdir().unwrap();
    let app_log = dir.path().join("app.log");
    std::fs::write(&app_log, "").unwrap();
    let extra = format!(
        "{}\n[[check]]\nname = \"app-log\"\ntype = \"log\"\npath = \"{}\"\ninterval = \"1s\"\nkeep_samples = true\n\
         [[check.pattern]]\nname = \"errors\"\nregex = 'ERROR'\nwarning = 1\n\n\
         [log]\nformat = \"json\"\noutput = \"file\"\nmax_size = \"4KiB\"\nkeep = 2\n",
        config_body(),
        app_log.display()
    );
    // Its log goes to a file, so its address cannot be read from stderr: a port chosen here.
    let mut daemon = with_free_port("lookout serve", |port| {
        let config = write_config(dir.path(), port, &extra);
        let mut command = lookout();
        with_secrets(&mut command)
            .args(["serve", "--log-level", "lookout=debug,info", "--config"])
            .arg(&config);
        Daemon::try_spawn_at(command, port)
    });
    // The notifiers failed (their errors were there to leak).
    daemon.wait_until(Duration::from_secs(20), |d| {
        http_get(d.addr, "/api/v1/outbox")
            .is_some_and(|(_, body)| body.contains("\"last_error\":\""))
    });
    // A probe's debug line every second or so fills 4KiB fast: wait for two rotations.
    let logs = dir.path().join("data").join("logs");
    daemon.wait_until(Duration::from_secs(40), |_| {
        logs.join("lookout.log.2").exists()
    });
    // Then the log check sees the line (its detail shows it: keep_samples).
    std::fs::write(&app_log, format!("{MATCHED_LINE_SECRET}\n")).unwrap();
    daemon.wait_until(Duration::from_secs(20), |d| {
        http_get(d.addr, "/api/v1/status")
            .is_some_and(|(_, body)| body.contains("alice@example.com"))
    });
    let (code, stderr) = daemon.stop_with(libc::SIGTERM);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        !stderr.contains("check status changed") && !stderr.contains("\"level\""),
        "the log went to stderr, not (only) the file: {stderr}"
    );

    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&logs), 0o700);
    let mut names: Vec<String> = std::fs::read_dir(&logs)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["lookout.log", "lookout.log.1", "lookout.log.2"],
        "keep = 2"
    );
    let mut all = String::new();
    for name in &names {
        let path = logs.join(name);
        assert_eq!(mode(&path), 0o600, "{name}");
        let text = std::fs::read_to_string(&path).unwrap();
        collect_log("file", &text);
        assert!(
            text.len() <= 4096,
            "{name} is {} bytes, past max_size",
            text.len()
        );
        for line in text.lines() {
            let value: serde_json::Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("{name}: not a JSON line ({e}): {line}"));
            assert!(
                value["timestamp"].is_string()
                    && value["level"].is_string()
                    && value["target"].is_string(),
                "{name}: {line}"
            );
        }
        all.push_str(&text);
    }
    assert!(all.contains("\"message\":\"lookout stopped\""), "{all}");
    // The log check's status change is logged, without the line it matched.
    assert!(
        all.contains("\"check\":\"app-log\"") && all.contains("1 matching lines"),
        "{all}"
    );
    assert!(
        !all.contains("alice@example.com"),
        "a matched line is in the log"
    );
    assert_clean("the JSON log files", &all);
}
