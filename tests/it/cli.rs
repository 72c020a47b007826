//! The command line as a user meets it: config init/check, cron mode, bad input.

use std::time::Duration;

use crate::common::*;

#[test]
fn config_init_writes_a_file_that_config_check_accepts() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lookout.toml");
    let out = run(&["config", "init", path.to_str().unwrap()], dir.path());
    assert!(out.status.success(), "{}", text(&out.stderr));
    let written = std::fs::read_to_string(&path).unwrap();
    assert!(written.contains("[storage.retention]"));
    assert!(written.contains("# "), "the template is commented");

    let out = run(&["config", "check", path.to_str().unwrap()], dir.path());
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.starts_with("ok\n"), "{stdout}");
    assert!(stdout.contains("127.0.0.1:9898"), "{stdout}");

    // Never overwrites without --force.
    std::fs::write(&path, "# mine\n").unwrap();
    let out = run(&["config", "init", path.to_str().unwrap()], dir.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("already exists"));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "# mine\n");

    let out = run(&["config", "init", "--preset", "nosuch"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("default"), "lists the presets");
}

#[test]
fn config_flag_is_accepted_before_or_after_the_subcommand_and_from_the_environment() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    std::fs::write(&path, "[server]\nlisten = \"127.0.0.1:7777\"\n").unwrap();
    let p = path.to_str().unwrap();
    for args in [
        vec!["--config", p, "config", "check"],
        vec!["config", "check", "--config", p],
    ] {
        let out = run(&args, dir.path());
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
        assert!(text(&out.stdout).contains("127.0.0.1:7777"), "{args:?}");
    }
    let out = output(
        lookout()
            .args(["config", "check"])
            .env("LOOKOUT_CONFIG", p)
            .current_dir(dir.path()),
    );
    assert!(text(&out.stdout).contains("127.0.0.1:7777"));
}

#[test]
fn invalid_config_reports_every_problem_with_position_and_exit_code_2() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(
        &path,
        "[servr]\nlisten = \"x\"\n\n[system]\ninterval = \"10 parsecs\"\n",
    )
    .unwrap();
    let out = run(&["--config", path.to_str().unwrap(), "serve"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("bad.toml:1:"), "{err}");
    assert!(err.contains("did you mean \"server\""), "{err}");
    assert!(err.contains("bad.toml:5:"), "{err}");
    assert!(err.contains("system.interval"), "{err}");
    assert!(
        !dir.path().join("data").exists() && !dir.path().join("lookout-data").exists(),
        "nothing created"
    );

    let out = run(
        &["--config", "/nonexistent/lookout.toml", "collect"],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("/nonexistent/lookout.toml"));
}

/// Issue 16, finding 5: a depends on b, b on a, both down: each alert was "inhibited by" the
/// other, nothing was sent, and `config check` accepted the file.
#[test]
fn a_depends_on_cycle_is_a_config_error_naming_the_path() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    let check = |name: &str, port: u16, depends_on: &str| {
        format!(
            "[[check]]\nname = \"{name}\"\ntype = \"tcp\"\naddress = \"127.0.0.1:{port}\"\n\
             depends_on = {depends_on}\n\n"
        )
    };
    let cycle = [
        check("a", 1, "[\"b\"]"),
        check("b", 2, "[\"a\"]"),
        check("c", 3, "[\"c\"]"),
    ]
    .concat();
    std::fs::write(&path, cycle).unwrap();
    let out = run(&["config", "check", path.to_str().unwrap()], dir.path());
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stdout));
    let err = text(&out.stderr);
    let p = path.display();
    assert!(
        err.contains(&format!(
            "{p}:11:15: check \"b\".depends_on[0]: a dependency cycle: a → b → a\n"
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "{p}:17:15: check \"c\".depends_on[0]: a dependency cycle: c → c\n"
        )),
        "{err}"
    );
    assert_eq!(
        err.matches("dependency cycle").count(),
        2,
        "once each: {err}"
    );
}

/// Issue 16, finding 3: an application check waits for the database and Redis checks; `config
/// check` says so, and which waits come from the layers.
#[test]
fn config_check_shows_what_each_check_waits_for() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    std::fs::write(
        &path,
        "[[check]]\nname = \"app\"\ntype = \"http\"\nurl = \"http://127.0.0.1:1/health\"\n\n\
         [[check]]\nname = \"worker\"\ntype = \"tcp\"\naddress = \"127.0.0.1:2\"\ndepends_on = [\"cache\"]\n\n\
         [[check]]\nname = \"db\"\ntype = \"postgres\"\ndsn = \"postgres://127.0.0.1:3/app\"\n\n\
         [[check]]\nname = \"cache\"\ntype = \"redis\"\nurl = \"redis://127.0.0.1:4/0\"\n",
    )
    .unwrap();
    let out = run(&["config", "check", path.to_str().unwrap()], dir.path());
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains(
            "\n  app waits for cache, db (implied by layers)\n  worker waits for cache\n"
        ),
        "{stdout}"
    );
    std::fs::write(
        &path,
        format!(
            "[alerts]\nimplied_dependencies = false\n\n{}",
            std::fs::read_to_string(&path).unwrap()
        ),
    )
    .unwrap();
    let out = run(&["config", "check", path.to_str().unwrap()], dir.path());
    let stdout = text(&out.stdout);
    assert!(!stdout.contains("app waits"), "{stdout}");
    assert!(stdout.contains("\n  worker waits for cache\n"), "{stdout}");
}

#[test]
fn a_foreign_file_where_the_store_should_be_is_refused_and_left_untouched() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let foreign = data.join("lookout.db");
    std::fs::write(&foreign, b"my precious notes, not a database").unwrap();
    let out = run(
        &["collect", "--data-dir", data.to_str().unwrap()],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.contains(foreign.to_str().unwrap()), "{err}");
    assert_eq!(
        std::fs::read(&foreign).unwrap(),
        b"my precious notes, not a database"
    );
}

#[test]
fn check_prints_a_table_or_json_and_exits_with_the_nagios_code() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let out = run(&["check", "--data-dir", data.to_str().unwrap()], dir.path());
    let code = out.status.code().unwrap();
    let stdout = text(&out.stdout);
    assert!(stdout.starts_with("LAYER"), "{stdout}");
    assert!(
        stdout.contains("system") && stdout.contains("memory"),
        "{stdout}"
    );
    let worst = ["OK", "WARNING", "CRITICAL", "UNKNOWN"];
    assert!(
        stdout.contains(worst[code as usize]) || code == 0,
        "{code}: {stdout}"
    );

    let out = run(
        &["check", "--json", "--data-dir", data.to_str().unwrap()],
        dir.path(),
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let expected_code = match report["status"].as_str().unwrap() {
        "ok" | "maintenance" => 0,
        "warning" => 1,
        "critical" => 2,
        _ => 3,
    };
    assert_eq!(out.status.code(), Some(expected_code));
    assert!(
        report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["check"] == "cpu")
    );

    // Thresholds nothing can stay under: memory is surely above 1% used.
    let config = dir.path().join("strict.toml");
    std::fs::write(
        &config,
        format!(
            "[storage]\npath = \"{}\"\n[system.thresholds]\nmemory_warning = \"0%\"\nmemory_critical = \"1%\"\n",
            data.display()
        ),
    )
    .unwrap();
    let out = run(&["check", "--config", config.to_str().unwrap()], dir.path());
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stdout));
    assert!(text(&out.stdout).contains("CRITICAL"));

    // A config that cannot be loaded makes the check UNKNOWN (3), per Nagios.
    let out = run(&["check", "--config", "/nonexistent.toml"], dir.path());
    assert_eq!(out.status.code(), Some(3));
}

#[test]
fn cron_collect_and_check_share_the_store_with_a_running_daemon() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), 0, "");
    let config_arg = config.to_str().unwrap().to_string();
    let daemon = Daemon::start(&config);
    for _ in 0..5 {
        let out = run(&["collect", "--config", &config_arg], dir.path());
        assert!(out.status.success(), "collect: {}", text(&out.stderr));
        assert!(text(&out.stdout).contains("collected"));
        let out = run(&["check", "--config", &config_arg], dir.path());
        assert!(
            !text(&out.stderr).contains("not stored"),
            "{}",
            text(&out.stderr)
        );
    }
    std::thread::sleep(Duration::from_millis(1_500));
    let events = daemon.json("/api/v1/events?from=-1h&limit=1000");
    let collected = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "collected")
        .count();
    assert_eq!(collected, 10, "every cron run is recorded");
    let (code, log) = daemon.stop_with(libc::SIGTERM);
    assert_eq!(code, Some(0));
    assert!(!log.contains("ERROR"), "daemon logged errors: {log}");
}
