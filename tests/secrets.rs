//! Secrets (DSN passwords, Redis passwords, header tokens) never appear in logs, CLI output,
//! the API, the status page or /metrics — even when the targets fail and errors are shown.

mod common;

use std::time::Duration;

use common::*;

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
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = write_config(dir.path(), port, &config_body());

    for args in [
        vec!["check", "--json"],
        vec!["check"],
        vec!["config", "check"],
        vec!["alerts", "test"],
        vec!["alerts", "test", "--json"],
    ] {
        let out = with_secrets(&mut lookout())
            .args(&args)
            .arg("--config")
            .arg(&config)
            .args(["--log-level", "trace"])
            .current_dir(dir.path())
            .output()
            .unwrap();
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
    let mut daemon = Daemon::spawn(command, port);
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
