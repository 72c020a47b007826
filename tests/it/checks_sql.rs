//! The `postgres`, `mysql` and `sqlite` check types against real servers on this machine:
//! PostgreSQL on 127.0.0.1:5432 (trust auth, db `test`, user postgres), MariaDB on
//! 127.0.0.1:3306 (root, empty password, db `test`) and SQLite files in a temp dir. A missing
//! server fails the test with how to start it; it never passes silently.

use std::time::{Duration, Instant};

use lookout::checks::Outcome;
use lookout::config::{CheckConfig, from_str};
use lookout::model::{Observation, Status};
use lookout::probes::Probe;
use lookout::probes::checks::{CheckProbe, build_check};
use sqlx::mysql::MySqlPoolOptions;
use sqlx::postgres::PgPoolOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
use sqlx::{AssertSqlSafe, MySqlPool, PgPool, SqlitePool};

const PG: &str = "postgres://postgres@127.0.0.1:5432/test";
const MY: &str = "mysql://root@127.0.0.1:3306/test";
const SECRET: &str = "Sup3rS3cretPw";

/// One `[[check]]` named "db" with `body` as its other keys (and sub-tables).
fn config(body: &str) -> CheckConfig {
    let timeout = if body.contains("\ntimeout =") {
        ""
    } else {
        "timeout = \"5s\"\n"
    };
    let text = format!("[[check]]\nname = \"db\"\n{timeout}{body}");
    match from_str(&text, "test.toml", &|_| None) {
        Ok(mut config) => config.checks.remove(0),
        Err(error) => panic!("config does not parse: {error}\n{text}"),
    }
}

async fn attempt(body: &str) -> Outcome {
    build_check(&config(body)).attempt(1_000).await
}

fn value(outcome: &Outcome, name: &str) -> Option<f64> {
    outcome
        .samples
        .iter()
        .find(|(key, _)| key.name() == name)
        .map(|(_, v)| *v)
}

fn query_value(outcome: &Outcome, query: &str) -> Option<f64> {
    outcome
        .samples
        .iter()
        .find(|(key, _)| key.name() == "db_query_value" && key.label("query") == Some(query))
        .map(|(_, v)| *v)
}

async fn postgres() -> PgPool {
    PgPoolOptions::new()
        .max_connections(2)
        .acquire_timeout(Duration::from_secs(5))
        .connect(PG)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "PostgreSQL is not reachable at {PG} ({e}); start it with \
                 `service postgresql start` (CI starts it), trust auth, database `test`"
            )
        })
}

async fn mariadb() -> MySqlPool {
    MySqlPoolOptions::new()
        .max_connections(2)
        .acquire_timeout(Duration::from_secs(5))
        .connect(MY)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "MariaDB is not reachable at {MY} ({e}); start it with `service mariadb start` \
                 (CI starts it), root without password, database `test`"
            )
        })
}

/// A table `name` with `rows` rows (status 'failed'), recreated.
async fn pg_table(pool: &PgPool, name: &str, rows: i64) {
    for sql in [
        format!("DROP TABLE IF EXISTS {name}"),
        format!("CREATE TABLE {name} (id serial PRIMARY KEY, status text, note text)"),
        format!("INSERT INTO {name} (status) SELECT 'failed' FROM generate_series(1, {rows})"),
    ] {
        sqlx::query(AssertSqlSafe(sql)).execute(pool).await.unwrap();
    }
}

async fn my_table(pool: &MySqlPool, name: &str, rows: i64) {
    sqlx::query(AssertSqlSafe(format!("DROP TABLE IF EXISTS {name}")))
        .execute(pool)
        .await
        .unwrap();
    sqlx::query(AssertSqlSafe(format!(
        "CREATE TABLE {name} (id INT AUTO_INCREMENT PRIMARY KEY, status VARCHAR(20), note TEXT)"
    )))
    .execute(pool)
    .await
    .unwrap();
    for _ in 0..rows {
        sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO {name} (status) VALUES ('failed')"
        )))
        .execute(pool)
        .await
        .unwrap();
    }
}

async fn pg_count(pool: &PgPool, table: &str) -> i64 {
    sqlx::query_scalar(AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
        .fetch_one(pool)
        .await
        .unwrap()
}

async fn my_count(pool: &MySqlPool, table: &str) -> i64 {
    sqlx::query_scalar(AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
        .fetch_one(pool)
        .await
        .unwrap()
}

/// The base series every server dialect reports, with sane values.
fn assert_healthy(outcome: &Outcome, product: &str) {
    assert_eq!(outcome.status, Status::Ok, "{}", outcome.reason);
    assert!(outcome.reason.starts_with(product), "{}", outcome.reason);
    let ping = value(outcome, "db_ping_seconds").expect("db_ping_seconds");
    assert!(ping > 0.0 && ping < 1.0, "{ping}");
    assert_eq!(outcome.value, Some(ping));
    assert!(
        value(outcome, "db_connect_seconds").is_some(),
        "first run connects"
    );
    let info = outcome
        .samples
        .iter()
        .find(|(key, _)| key.name() == "db_info")
        .expect("db_info");
    assert!(
        info.0
            .label("version")
            .is_some_and(|v| v.starts_with(product))
    );
    let ratio = value(outcome, "db_connections_ratio").expect("db_connections_ratio");
    assert!(ratio > 0.0 && ratio <= 1.0, "{ratio}");
    assert!(value(outcome, "db_connections").unwrap_or(0.0) >= 1.0);
    assert!(value(outcome, "db_max_connections").unwrap_or(0.0) >= 1.0);
    assert!(value(outcome, "db_size_bytes").unwrap_or(0.0) > 0.0);
    assert!(value(outcome, "db_slow_queries").is_some());
    assert!(value(outcome, "db_rollbacks_total").is_some());
    assert!(
        value(outcome, "db_replication_lag_seconds").is_none(),
        "not a replica"
    );
}

/// A TCP server that accepts connections and never says a word.
async fn silent_server() -> (u16, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    (port, task)
}

async fn run_probe(config: CheckConfig) -> (Observation, Duration) {
    let mut probe = CheckProbe::from_config(&config);
    let started = Instant::now();
    let observation = probe.run(1_000).await;
    (observation, started.elapsed())
}

/// The first keys of a check of type `kind` on `dsn`.
fn head(kind: &str, dsn: &str) -> String {
    format!("type = \"{kind}\"\ndsn = \"{dsn}\"")
}

/// `head` with one query, `name` running `sql`.
fn with_query(head: &str, name: &str, sql: &str) -> String {
    format!("{head}\n[[check.query]]\nname = \"{name}\"\nsql = \"{sql}\"\n")
}

/// Both connections thresholds at 0 %: the warning one warns, the critical one is critical.
/// Returns the warning, for what it says.
async fn connection_thresholds_warn_and_go_critical(head: &str) -> Outcome {
    let warning = attempt(&format!("{head}\nconnections_warning = \"0%\"")).await;
    assert_eq!(warning.status, Status::Warning, "{}", warning.reason);
    let outcome = attempt(&format!(
        "{head}\nconnections_warning = \"0%\"\nconnections_critical = \"0%\""
    ))
    .await;
    assert_eq!(outcome.status, Status::Critical, "{}", outcome.reason);
    warning
}

/// A query answering no number (`cases`: its SQL, and why not) leaves the check unknown.
async fn answers_that_are_no_number_are_unknown(head: &str, cases: &[(&str, &str)]) {
    for (sql, why) in cases {
        let outcome = attempt(&with_query(head, "q", sql)).await;
        assert_eq!(outcome.status, Status::Unknown, "{sql}: {}", outcome.reason);
        assert!(
            outcome.reason.contains(&format!("query q: {why}")),
            "{}",
            outcome.reason
        );
    }
}

/// Each query of `writes` is critical with a `refusal` (every part of it in the reason),
/// and the table keeps its 2 rows (`count`).
async fn writes_are_refused(
    head: &str,
    writes: &[&str],
    refusal: &[&str],
    count: impl AsyncFn() -> i64,
) {
    for sql in writes {
        let outcome = attempt(&with_query(head, "w", sql)).await;
        assert_eq!(
            outcome.status,
            Status::Critical,
            "{sql}: {}",
            outcome.reason
        );
        assert!(
            refusal.iter().all(|part| outcome.reason.contains(part)),
            "{sql}: {}",
            outcome.reason
        );
        assert_eq!(count().await, 2, "{sql}");
    }
}

/// Query `name` running `sql` for ever under a statement timeout of 1 s: ended within 3 s,
/// critical. Returns the outcome, for the reason each engine gives.
async fn a_long_query_is_ended(head: &str, name: &str, sql: &str) -> Outcome {
    let started = Instant::now();
    let outcome = attempt(&with_query(
        &format!("{head}\nstatement_timeout = \"1s\""),
        name,
        sql,
    ))
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(outcome.status, Status::Critical, "{}", outcome.reason);
    outcome
}

/// A connection to each of `dsns` (`kind`) fails, critical, the password shown as `masked`.
async fn connection_failures_mask_the_password(kind: &str, dsns: &[String], masked: &str) {
    for dsn in dsns {
        let outcome = attempt(&head(kind, dsn)).await;
        assert_eq!(outcome.status, Status::Critical, "{}", outcome.reason);
        assert!(outcome.reason.contains(masked), "{}", outcome.reason);
        assert!(!outcome.reason.contains(SECRET), "{}", outcome.reason);
    }
}

/// A server that accepts and never answers (`dsn` of its port): critical within the check's
/// timeout of 1 s, and the password is not in the detail.
async fn a_silent_server_hits_the_check_timeout(kind: &str, dsn: impl Fn(u16) -> String) {
    let (port, server) = silent_server().await;
    let config = config(&format!(
        "{}\ntimeout = \"1s\"\nretries = 0",
        head(kind, &dsn(port))
    ));
    let (observation, took) = run_probe(config).await;
    server.abort();
    assert!(took < Duration::from_secs(3), "{took:?}");
    let result = &observation.checks[0];
    assert_eq!(result.status, Status::Critical, "{}", result.detail);
    assert!(!result.detail.contains(SECRET));
}

// ---------------------------------------------------------------- PostgreSQL

#[tokio::test]
async fn postgres_healthy_run_reports_the_series() {
    let _machine = crate::common::machine::shared();
    let _server = postgres().await;
    let outcome = attempt(&format!("type = \"postgres\"\ndsn = \"{PG}\"")).await;
    assert_healthy(&outcome, "PostgreSQL");
    assert!(value(&outcome, "db_deadlocks_total").is_some());
}

#[tokio::test]
async fn postgres_counts_queries_running_longer_than_the_threshold() {
    let _machine = crate::common::machine::shared();
    let pool = postgres().await;
    let sleeper = tokio::spawn(async move {
        let _ = sqlx::query("SELECT pg_sleep(3)").execute(&pool).await;
    });
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let outcome = attempt(&format!(
        "type = \"postgres\"\ndsn = \"{PG}\"\nslow_query_threshold = \"500ms\""
    ))
    .await;
    sleeper.abort();
    let slow = value(&outcome, "db_slow_queries").expect("db_slow_queries");
    assert!(slow >= 1.0, "{slow}: {}", outcome.reason);
}

#[tokio::test]
async fn postgres_connection_thresholds_warn_and_go_critical() {
    let _machine = crate::common::machine::shared();
    let _server = postgres().await;
    let warning = connection_thresholds_warn_and_go_critical(&head("postgres", PG)).await;
    assert!(warning.reason.contains("connections"), "{}", warning.reason);
}

#[tokio::test]
async fn postgres_queries_are_graded() {
    let _machine = crate::common::machine::shared();
    let pool = postgres().await;
    pg_table(&pool, "lookout_pg_graded", 3).await;
    let outcome = attempt(&format!(
        r#"type = "postgres"
dsn = "{PG}"
[[check.query]]
name = "failed_tasks"
sql = "SELECT count(*) FROM lookout_pg_graded WHERE status = 'failed'"
warning = 1
critical = 10
[[check.query]]
name = "ratio"
sql = "SELECT 2.5::numeric"
[[check.query]]
name = "too_few"
sql = "SELECT count(*) FROM lookout_pg_graded"
warning = 5
less_is_worse = true
"#
    ))
    .await;
    assert_eq!(outcome.status, Status::Warning, "{}", outcome.reason);
    assert_eq!(query_value(&outcome, "failed_tasks"), Some(3.0));
    assert_eq!(query_value(&outcome, "ratio"), Some(2.5));
    assert_eq!(query_value(&outcome, "too_few"), Some(3.0));
    assert!(
        outcome.reason.contains("query failed_tasks = 3"),
        "{}",
        outcome.reason
    );

    let critical = attempt(&format!(
        "type = \"postgres\"\ndsn = \"{PG}\"\n[[check.query]]\nname = \"n\"\nsql = \"SELECT 42\"\ncritical = 10\n"
    ))
    .await;
    assert_eq!(critical.status, Status::Critical, "{}", critical.reason);
    assert!(
        critical.reason.starts_with("query n = 42"),
        "{}",
        critical.reason
    );

    answers_that_are_no_number_are_unknown(
        &head("postgres", PG),
        &[
            ("SELECT NULL::int", "returned NULL"),
            ("SELECT 1 WHERE false", "returned no row"),
            (
                "SELECT 'abc'::text",
                "first column is not a number (\"abc\")",
            ),
        ],
    )
    .await;
}

#[tokio::test]
async fn postgres_queries_that_write_are_refused_and_write_nothing() {
    let _machine = crate::common::machine::shared();
    let pool = postgres().await;
    pg_table(&pool, "lookout_pg_writes", 2).await;
    sqlx::query(
        "CREATE OR REPLACE FUNCTION lookout_pg_writer() RETURNS int LANGUAGE sql AS \
         $$ INSERT INTO lookout_pg_writes (status) VALUES ('x') RETURNING 1 $$",
    )
    .execute(&pool)
    .await
    .unwrap();
    writes_are_refused(
        &head("postgres", PG),
        &[
            "INSERT INTO lookout_pg_writes (status) VALUES ('new') RETURNING 1",
            "DELETE FROM lookout_pg_writes RETURNING 1",
            "CREATE TABLE lookout_pg_created (id int)",
            "SELECT lookout_pg_writer()",
            "WITH d AS (DELETE FROM lookout_pg_writes RETURNING 1) SELECT count(*) FROM d",
        ],
        &["query w: cannot execute", "read-only transaction"],
        async || pg_count(&pool, "lookout_pg_writes").await,
    )
    .await;
    let created: Option<String> =
        sqlx::query_scalar("SELECT to_regclass('lookout_pg_created')::text")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(created, None);
}

#[tokio::test]
async fn postgres_statement_timeout_ends_a_long_query() {
    let _machine = crate::common::machine::shared();
    let _server = postgres().await;
    let outcome =
        a_long_query_is_ended(&head("postgres", PG), "sleepy", "SELECT pg_sleep(10)").await;
    assert!(
        outcome
            .reason
            .contains("query sleepy: canceling statement due to statement timeout"),
        "{}",
        outcome.reason
    );
}

#[tokio::test]
async fn postgres_connection_failures_mask_the_password() {
    let _machine = crate::common::machine::shared();
    let _server = postgres().await;
    connection_failures_mask_the_password(
        "postgres",
        &[
            format!("postgres://postgres:{SECRET}@127.0.0.1:1/test"),
            format!("postgres://no_such_role:{SECRET}@127.0.0.1:5432/test"),
        ],
        ":***@127.0.0.1",
    )
    .await;
}

#[tokio::test]
async fn postgres_silent_server_hits_the_check_timeout() {
    let _machine = crate::common::machine::shared();
    a_silent_server_hits_the_check_timeout("postgres", |port| {
        format!("postgres://postgres:{SECRET}@127.0.0.1:{port}/test")
    })
    .await;
}

// ---------------------------------------------------------------- MariaDB / MySQL

#[tokio::test]
async fn mysql_healthy_run_reports_the_series() {
    let _machine = crate::common::machine::shared();
    let pool = mariadb().await;
    my_table(&pool, "lookout_my_healthy", 1).await;
    let mut check = build_check(&config(&format!("type = \"mysql\"\ndsn = \"{MY}\"")));
    let outcome = check.attempt(1_000).await;
    assert_healthy(&outcome, "MariaDB");
    assert!(
        value(&outcome, "db_slow_queries_per_second").is_none(),
        "needs two runs"
    );
    let second = check.attempt(11_000).await;
    let rate = value(&second, "db_slow_queries_per_second").expect("rate on the second run");
    assert!(rate >= 0.0);
    assert!(
        value(&second, "db_connect_seconds").is_none(),
        "the pool is reused"
    );
}

#[tokio::test]
async fn mysql_connection_thresholds_warn_and_go_critical() {
    let _machine = crate::common::machine::shared();
    let _server = mariadb().await;
    connection_thresholds_warn_and_go_critical(&head("mysql", MY)).await;
}

#[tokio::test]
async fn mysql_queries_are_graded() {
    let _machine = crate::common::machine::shared();
    let pool = mariadb().await;
    my_table(&pool, "lookout_my_graded", 3).await;
    let outcome = attempt(&format!(
        r#"type = "mysql"
dsn = "{MY}"
[[check.query]]
name = "failed_tasks"
sql = "SELECT count(*) FROM lookout_my_graded WHERE status = 'failed'"
warning = 1
critical = 10
[[check.query]]
name = "decimal"
sql = "SELECT SUM(id) / 4 FROM lookout_my_graded"
[[check.query]]
name = "text"
sql = "SELECT '7'"
"#
    ))
    .await;
    assert_eq!(outcome.status, Status::Warning, "{}", outcome.reason);
    assert_eq!(query_value(&outcome, "failed_tasks"), Some(3.0));
    assert_eq!(query_value(&outcome, "decimal"), Some(1.5));
    assert_eq!(query_value(&outcome, "text"), Some(7.0));
    answers_that_are_no_number_are_unknown(
        &head("mysql", MY),
        &[
            ("SELECT NULL", "returned NULL"),
            (
                "SELECT 1 FROM lookout_my_graded WHERE id < 0",
                "returned no row",
            ),
            ("SELECT 'abc'", "first column is not a number (\"abc\")"),
        ],
    )
    .await;
}

#[tokio::test]
async fn mysql_queries_that_write_are_refused_and_write_nothing() {
    let _machine = crate::common::machine::shared();
    let pool = mariadb().await;
    my_table(&pool, "lookout_my_writes", 2).await;
    sqlx::query("DROP TABLE IF EXISTS lookout_my_created")
        .execute(&pool)
        .await
        .unwrap();
    writes_are_refused(
        &head("mysql", MY),
        &[
            "INSERT INTO lookout_my_writes (status) VALUES ('new')",
            "DELETE FROM lookout_my_writes",
            "UPDATE lookout_my_writes SET note = 'x'",
            "CREATE TABLE lookout_my_created (id int)",
        ],
        &["query w: Cannot execute statement in a READ ONLY transaction"],
        async || my_count(&pool, "lookout_my_writes").await,
    )
    .await;
    let created: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM information_schema.tables \
         WHERE table_schema = DATABASE() AND table_name = 'lookout_my_created'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(created, 0);
}

#[tokio::test]
async fn mysql_statement_timeout_ends_a_long_query() {
    let _machine = crate::common::machine::shared();
    let _server = mariadb().await;
    let outcome = a_long_query_is_ended(&head("mysql", MY), "sleepy", "SELECT SLEEP(10)").await;
    assert!(
        outcome.reason.contains("query sleepy:"),
        "{}",
        outcome.reason
    );
    assert!(
        outcome.reason.contains("max_statement_time"),
        "{}",
        outcome.reason
    );
}

#[tokio::test]
async fn mysql_connection_failures_mask_the_password() {
    let _machine = crate::common::machine::shared();
    let _server = mariadb().await;
    connection_failures_mask_the_password(
        "mysql",
        &[
            format!("mysql://root:{SECRET}@127.0.0.1:1/test"),
            format!("mysql://root:{SECRET}@127.0.0.1:3306/test"),
        ],
        "mysql://root:***@127.0.0.1",
    )
    .await;
}

#[tokio::test]
async fn mysql_silent_server_hits_the_check_timeout() {
    let _machine = crate::common::machine::shared();
    a_silent_server_hits_the_check_timeout("mysql", |port| {
        format!("mysql://root:{SECRET}@127.0.0.1:{port}/test")
    })
    .await;
}

#[tokio::test]
async fn a_target_that_is_down_is_not_hammered() {
    let _machine = crate::common::machine::shared();
    let config = config(&format!(
        "type = \"mysql\"\ndsn = \"mysql://root:{SECRET}@127.0.0.1:1/test\"\ninterval = \"10s\""
    ));
    let mut check = build_check(&config);
    let first = check.attempt(0).await;
    assert!(
        !first.reason.contains("next connection attempt"),
        "{}",
        first.reason
    );
    let _retry = check.attempt(0).await;
    let waiting = check.attempt(1_000).await;
    assert_eq!(waiting.status, Status::Critical);
    assert!(
        waiting.reason.contains("next connection attempt in"),
        "{}",
        waiting.reason
    );
    assert!(!waiting.reason.contains(SECRET));
}

// ---------------------------------------------------------------- SQLite

async fn sqlite_file(dir: &tempfile::TempDir, rows: i64) -> (String, SqlitePool) {
    let path = dir.path().join("app.db");
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(
            SqliteConnectOptions::new()
                .filename(&path)
                .create_if_missing(true),
        )
        .await
        .unwrap();
    sqlx::query("CREATE TABLE tasks (id INTEGER PRIMARY KEY, status TEXT)")
        .execute(&pool)
        .await
        .unwrap();
    for _ in 0..rows {
        sqlx::query("INSERT INTO tasks (status) VALUES ('failed')")
            .execute(&pool)
            .await
            .unwrap();
    }
    (format!("sqlite://{}", path.display()), pool)
}

async fn sqlite_count(pool: &SqlitePool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM tasks")
        .fetch_one(pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn sqlite_healthy_run_with_integrity_check_and_graded_query() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    let (dsn, _pool) = sqlite_file(&dir, 3).await;
    let outcome = attempt(&format!(
        r#"type = "sqlite"
dsn = "{dsn}"
integrity_check = true
[[check.query]]
name = "failed_tasks"
sql = "SELECT count(*) FROM tasks WHERE status = 'failed'"
warning = 1
critical = 10
[[check.query]]
name = "avg"
sql = "SELECT avg(id) FROM tasks"
"#
    ))
    .await;
    assert_eq!(outcome.status, Status::Warning, "{}", outcome.reason);
    assert!(outcome.reason.contains("SQLite 3."), "{}", outcome.reason);
    assert!(value(&outcome, "db_size_bytes").unwrap_or(0.0) > 0.0);
    assert_eq!(value(&outcome, "db_integrity_ok"), Some(1.0));
    assert!(value(&outcome, "db_ping_seconds").is_some());
    assert_eq!(query_value(&outcome, "failed_tasks"), Some(3.0));
    assert_eq!(query_value(&outcome, "avg"), Some(2.0));
    let none = attempt(&format!(
        "type = \"sqlite\"\ndsn = \"{dsn}\"\n[[check.query]]\nname = \"q\"\nsql = \"SELECT 'abc'\"\n"
    ))
    .await;
    assert_eq!(none.status, Status::Unknown, "{}", none.reason);
}

#[tokio::test]
async fn sqlite_queries_that_write_are_refused_and_write_nothing() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    let (dsn, pool) = sqlite_file(&dir, 2).await;
    writes_are_refused(
        &head("sqlite", &dsn),
        &[
            "INSERT INTO tasks (status) VALUES ('new') RETURNING 1",
            "DELETE FROM tasks RETURNING 1",
            "CREATE TABLE created (id int)",
        ],
        &["query w: attempt to write a readonly database"],
        async || sqlite_count(&pool).await,
    )
    .await;
}

#[tokio::test]
async fn sqlite_statement_timeout_interrupts_a_long_query() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    let (dsn, _pool) = sqlite_file(&dir, 1).await;
    let outcome = a_long_query_is_ended(
        &head("sqlite", &dsn),
        "forever",
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT max(x) FROM c",
    )
    .await;
    assert!(
        outcome
            .reason
            .contains("query forever: canceled: statement timeout (1s) exceeded"),
        "{}",
        outcome.reason
    );
}

#[tokio::test]
async fn sqlite_missing_file_is_critical_and_not_created() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing.db");
    let outcome = attempt(&format!(
        "type = \"sqlite\"\ndsn = \"sqlite://{}\"",
        path.display()
    ))
    .await;
    assert_eq!(outcome.status, Status::Critical, "{}", outcome.reason);
    assert!(
        outcome.reason.starts_with("cannot connect to sqlite://"),
        "{}",
        outcome.reason
    );
    assert!(!path.exists());
}
