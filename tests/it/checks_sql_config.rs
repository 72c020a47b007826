//! Golden tests of the `postgres` / `mysql` / `sqlite` check keys: defaults, values, and the
//! exact text of their problems (missing dsn, a query without sql, wrong types, unknown keys).

use std::time::Duration;

use lookout::checks::sql::config::{Dialect, SqlCheck};
use lookout::config::{CheckKind, from_str};

fn env(name: &str) -> Option<String> {
    (name == "PGPASSWORD").then(|| "hunter2".to_string())
}

fn sql_check(text: &str) -> SqlCheck {
    match from_str(text, "lookout.toml", &env) {
        Ok(mut config) => match config.checks.remove(0).kind {
            CheckKind::Sql(check) => check,
            other => panic!("not a SQL check: {other:?}"),
        },
        Err(error) => panic!("{error}"),
    }
}

fn errors(text: &str) -> String {
    match from_str(text, "lookout.toml", &env) {
        Ok(_) => panic!("expected problems in:\n{text}"),
        Err(error) => error.to_string(),
    }
}

#[test]
fn defaults_apply() {
    let _machine = crate::common::machine::shared();
    let check = sql_check(
        "[[check]]\nname = \"db\"\ntype = \"postgres\"\ndsn = \"postgres://monitor:${PGPASSWORD}@db/app\"\n",
    );
    assert_eq!(check.dialect, Dialect::Postgres);
    assert_eq!(check.dsn.expose(), "postgres://monitor:hunter2@db/app");
    assert_eq!(format!("{:?}", check.dsn), "***");
    assert!(!format!("{check:?}").contains("hunter2"));
    assert_eq!(check.ping_warning, Duration::from_secs(1));
    assert_eq!(check.ping_critical, Duration::from_secs(3));
    assert_eq!(check.connections_warning, 0.8);
    assert_eq!(check.connections_critical, 0.9);
    assert_eq!(check.slow_query_threshold, Duration::from_secs(1));
    assert_eq!(check.replication_lag_warning, Duration::from_secs(30));
    assert_eq!(check.replication_lag_critical, Duration::from_secs(300));
    assert_eq!(check.statement_timeout, None);
    assert!(!check.integrity_check);
    assert!(check.queries.is_empty());
}

#[test]
fn values_are_read() {
    let _machine = crate::common::machine::shared();
    let check = sql_check(
        r#"
[[check]]
name = "db"
type = "mysql"
dsn = "mysql://monitor@db/app"
ping_warning = "200ms"
ping_critical = "2s"
connections_warning = "70%"
connections_critical = "95%"
slow_query_threshold = "500ms"
replication_lag_warning = "10s"
replication_lag_critical = "1m"
statement_timeout = "2s"
[[check.query]]
name = "failed_tasks"
sql = "SELECT count(*) FROM caption_generation_tasks WHERE status = 'failed'"
warning = 1
critical = 10.5
[[check.query]]
name = "active_sessions"
sql = "SELECT count(*) FROM user_sessions WHERE is_active"
critical = 1
less_is_worse = true
"#,
    );
    assert_eq!(check.dialect, Dialect::Mysql);
    assert_eq!(check.ping_warning, Duration::from_millis(200));
    assert_eq!(check.connections_critical, 0.95);
    assert_eq!(check.statement_timeout, Some(Duration::from_secs(2)));
    assert_eq!(check.queries.len(), 2);
    assert_eq!(check.queries[0].name, "failed_tasks");
    assert_eq!(check.queries[0].warning, Some(1.0));
    assert_eq!(check.queries[0].critical, Some(10.5));
    assert!(!check.queries[0].less_is_worse);
    assert!(check.queries[1].less_is_worse);
    assert_eq!(check.queries[1].warning, None);
}

#[test]
fn problems_are_reported_with_positions() {
    let _machine = crate::common::machine::shared();
    let text = r#"
[[check]]
name = "db"
type = "postgres"
ping_warning = 5
connections_critical = "120%"
[[check.query]]
name = "failed"
warning = "1"
[[check.query]]
name = "failed"
sql = "SELECT 1"
critcal = 3
"#;
    assert_eq!(
        errors(text),
        concat!(
            "lookout.toml:2:1: check \"db\".dsn: missing; this check type needs it, like dsn = \"postgres://monitor:${PGPASSWORD}@127.0.0.1:5432/app\"\n",
            "lookout.toml:5:16: check \"db\".ping_warning: expected a duration string like \"10s\", found an integer\n",
            "lookout.toml:6:24: check \"db\".connections_critical: \"120%\" is out of range; expected 0% to 100%\n",
            "lookout.toml:7:1: check \"db\".query \"failed\".sql: missing; every query needs a statement whose first value is graded, like sql = \"SELECT count(*) FROM tasks WHERE status = 'failed'\"\n",
            "lookout.toml:9:11: check \"db\".query \"failed\".warning: expected a number, found a string\n",
            "lookout.toml:11:8: check \"db\".query[1].name: \"failed\" is already the name of another query of this check; names must be unique\n",
            "lookout.toml:13:1: check \"db\".query[1].critcal: unknown key; did you mean \"critical\"?",
        )
    );
}

#[test]
fn sqlite_integrity_check_and_threshold_order() {
    let _machine = crate::common::machine::shared();
    let check = sql_check(
        "[[check]]\nname = \"db\"\ntype = \"sqlite\"\ndsn = \"sqlite:///var/lib/app.db\"\nintegrity_check = true\n",
    );
    assert!(check.integrity_check);
    assert_eq!(
        errors(
            "[[check]]\nname = \"db\"\ntype = \"sqlite\"\ndsn = \"sqlite:///x.db\"\nping_warning = \"5s\"\nping_critical = \"1s\"\nintegrity_check = \"yes\"\n"
        ),
        concat!(
            "lookout.toml:5:16: check \"db\".ping_warning: \"5s\" must not be longer than ping_critical (\"1s\")\n",
            "lookout.toml:7:19: check \"db\".integrity_check: expected a boolean (true or false), found a string",
        )
    );
}
