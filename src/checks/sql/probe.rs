//! The `postgres`, `mysql` (MariaDB too) and `sqlite` check types: connection, ping, server
//! health figures and graded business queries, with the password never shown.
//!
//! Each run: (re)connect if needed, `SELECT 1`, the dialect's health figures, then each
//! `[[check.query]]` in a read-only transaction with a server-side statement timeout
//! (Postgres `BEGIN READ ONLY` + `SET LOCAL statement_timeout`; MySQL/MariaDB session
//! `TRANSACTION READ ONLY` + `START TRANSACTION READ ONLY` + `max_statement_time` (MariaDB) or
//! `max_execution_time` (MySQL); SQLite a `mode=ro` connection with `PRAGMA query_only` and a
//! progress handler that interrupts at the deadline). Queries are prepared statements, so a
//! query is one statement, and every transaction is rolled back, never committed.
//!
//! Series (all with the `check` label, added by `CheckProbe`):
//!
//! | series | labels | meaning |
//! |---|---|---|
//! | `db_ping_seconds` | | `SELECT 1` round trip (the headline value) |
//! | `db_connect_seconds` | | time to open the first connection; only in runs that (re)connected |
//! | `db_info` | `version` | 1, the server version |
//! | `db_connections` | | connections in use (Postgres client backends, MySQL `Threads_connected`) |
//! | `db_max_connections` | | `max_connections` |
//! | `db_connections_ratio` | | the two above as a ratio 0..1 (graded by `connections_*`) |
//! | `db_slow_queries` | | Postgres: statements averaging over `slow_query_threshold` (pg_stat_statements) or queries running longer than it; MySQL: `Slow_queries` counter |
//! | `db_slow_queries_per_second` | | MySQL: rate of `Slow_queries` between runs |
//! | `db_statement_mean_seconds_max` | | Postgres with pg_stat_statements: the worst mean statement time |
//! | `db_size_bytes` | | size of the current database (SQLite: page_count × page_size) |
//! | `db_deadlocks_total` | | Postgres `pg_stat_database.deadlocks`; MariaDB `Innodb_deadlocks` |
//! | `db_rollbacks_total` | | Postgres `xact_rollback`; MySQL `Com_rollback` |
//! | `db_replication_lag_seconds` | | only on replicas (graded by `replication_lag_*`) |
//! | `db_integrity_ok` | | SQLite with `integrity_check = true`: 1 when `PRAGMA quick_check` says ok |
//! | `db_query_value` | `query` | first column of the first row of each `[[check.query]]` |
//!
//! A (re)connection opens its first connection alone, once, then the pool, and a run takes an
//! idle connection of the pool when there is one (else the same single attempt first): the
//! pool would retry a refused connection until its timeout, so a server that is down, or that
//! goes away, is reported as "connection refused to host:port" at once, not as a timeout
//! after it.
//!
//! Connection failures back off: after the first failure the next run (or the immediate
//! retry) tries again; from the second consecutive failure on, attempts are spaced
//! `interval × 2^(n-2)`, at most 5 minutes, and runs in between report the last error with
//! "next connection attempt in Ns" without touching the network. A failure is recorded before
//! the attempt starts, so an attempt cut short by the check timeout counts too. Each target has
//! its own pool of at most 2 connections whose acquire timeout is the check timeout.
//!
//! Status: the worst of ping (`ping_*`), connections ratio, replication lag, integrity and the
//! queries; the reason names the worst findings first, then a summary of the run. A query the
//! server refuses or cuts short (a write, a timeout, bad SQL) is Critical; one that gives
//! nothing to grade (no row, NULL, not a number) is Unknown.
//!
//! Known limits: MySQL's `max_execution_time` applies to SELECT only (MariaDB's
//! `max_statement_time` to everything); the check's own timeout still bounds the run. Postgres
//! lag is `now() - pg_last_xact_replay_timestamp()`, which also grows on a replica of an idle
//! primary. Health queries have no statement timeout of their own: the check timeout bounds them.
//!
//! Error messages from the driver can contain the DSN or its password: every message put into
//! an outcome goes through `Redactor::clean`, which masks the DSN and removes the password.

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use sqlx::mysql::{MySqlConnectOptions, MySqlPool, MySqlPoolOptions, MySqlRow};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions, SqliteRow};
use sqlx::{AssertSqlSafe, Connection, Row, TypeInfo, ValueRef};

use crate::base::secret::Redactor;
use crate::checks::sql::config::{Dialect, SqlCheck, SqlQuery};
use crate::checks::{Check, CheckFuture, Outcome, grade};
use crate::clock::UnixMillis;
use crate::model::{SeriesKey, Status};

/// The longest wait between connection attempts to a target that is down.
const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// Connections per target: one for the run, one spare while a broken one is replaced.
const POOL_SIZE: u32 = 2;

/// A configured SQL check with its pool and the state kept between runs.
pub struct SqlProbe {
    config: SqlCheck,
    interval: Duration,
    /// Acquire/connect limit (the check timeout).
    timeout: Duration,
    /// Limit of each `[[check.query]]`.
    statement_timeout: Duration,
    redactor: Redactor,
    pool: Option<Pool>,
    backoff: Backoff,
    last_error: String,
    /// MariaDB rather than MySQL (decides the statement-timeout variable).
    mariadb: bool,
    /// Previous `Slow_queries` reading (MySQL) for the rate.
    previous_slow: Option<(UnixMillis, f64)>,
}

enum Pool {
    Postgres(PgPool),
    Mysql(MySqlPool),
    Sqlite(SqlitePool),
}

impl SqlProbe {
    /// `timeout` is the check's timeout; `interval` spaces reconnection attempts.
    pub fn new(config: SqlCheck, interval: Duration, timeout: Duration) -> SqlProbe {
        let statement_timeout = config
            .statement_timeout
            .unwrap_or(timeout.mul_f64(0.8))
            .min(timeout)
            .max(Duration::from_millis(1));
        SqlProbe {
            redactor: Redactor::new(config.dsn.expose()),
            config,
            interval,
            timeout,
            statement_timeout,
            pool: None,
            backoff: Backoff::default(),
            last_error: String::new(),
            mariadb: false,
            previous_slow: None,
        }
    }

    async fn run(&mut self, at_ms: UnixMillis) -> Outcome {
        let mut report = Report::default();
        if self.pool.is_none() {
            if let Some(wait) = self.backoff.wait(at_ms) {
                return Outcome::critical(format!(
                    "{} (next connection attempt in {}s)",
                    self.last_error,
                    wait.as_secs_f64().ceil()
                ));
            }
            // Counted before the attempt: a timeout that drops this future still backs off.
            self.backoff.fail(at_ms, self.interval);
            let started = Instant::now();
            match self.connect().await {
                Ok(pool) => {
                    self.backoff = Backoff::default();
                    self.pool = Some(pool);
                    report.sample("db_connect_seconds", started.elapsed().as_secs_f64());
                }
                Err(error) => {
                    self.last_error = self.refused(&error).unwrap_or_else(|| {
                        format!(
                            "cannot connect to {}: {}",
                            self.redactor.masked_dsn,
                            self.redactor.clean(&error_text(&error))
                        )
                    });
                    return Outcome::critical(self.last_error.clone());
                }
            }
        }
        if let Err(error) = self.health(at_ms, &mut report).await {
            let text = format!(
                "{}: {}",
                self.redactor.masked_dsn,
                self.redactor.clean(&error_text(&error))
            );
            if is_connection_error(&error) {
                // Reconnect (with backoff) next time rather than reuse a broken pool.
                self.pool = None;
                self.backoff.fail(at_ms, self.interval);
                self.last_error = self
                    .refused(&error)
                    .unwrap_or_else(|| format!("connection lost to {text}"));
                return report.fail(self.last_error.clone());
            }
            return report.fail(format!("health query failed on {text}"));
        }
        for index in 0..self.config.queries.len() {
            let query = self.config.queries[index].clone();
            let value = self.custom_query(&query).await;
            report.query(&query, value, &self.redactor);
        }
        report.into_outcome()
    }

    /// The words for a refused connection ("connection refused to host:port"), if `error` is one.
    fn refused(&self, error: &sqlx::Error) -> Option<String> {
        let address = self.address().filter(|_| is_refused(error))?;
        Some(format!(
            "connection refused to {address} ({}): nothing listens there",
            self.redactor.masked_dsn
        ))
    }

    /// Where the server is, as messages name it: "host:port", or the socket path.
    fn address(&self) -> Option<String> {
        let dsn = self.config.dsn.expose();
        match self.config.dialect {
            Dialect::Postgres => PgConnectOptions::from_str(dsn).ok().map(|o| {
                o.get_socket().map_or_else(
                    || format!("{}:{}", o.get_host(), o.get_port()),
                    |socket| socket.display().to_string(),
                )
            }),
            Dialect::Mysql => MySqlConnectOptions::from_str(dsn).ok().map(|o| {
                o.get_socket().map_or_else(
                    || format!("{}:{}", o.get_host(), o.get_port()),
                    |socket| socket.display().to_string(),
                )
            }),
            Dialect::Sqlite => None,
        }
    }

    async fn connect(&self) -> Result<Pool, sqlx::Error> {
        let dsn = self.config.dsn.expose();
        Ok(match self.config.dialect {
            Dialect::Postgres => {
                let options = PgConnectOptions::from_str(dsn)?.application_name("lookout");
                first_connection::<sqlx::PgConnection>(&options, self.timeout).await?;
                Pool::Postgres(
                    PgPoolOptions::new()
                        .max_connections(POOL_SIZE)
                        .acquire_timeout(self.timeout)
                        .connect_with(options)
                        .await?,
                )
            }
            Dialect::Mysql => {
                let options = MySqlConnectOptions::from_str(dsn)?;
                first_connection::<sqlx::MySqlConnection>(&options, self.timeout).await?;
                Pool::Mysql(
                    MySqlPoolOptions::new()
                        .max_connections(POOL_SIZE)
                        .acquire_timeout(self.timeout)
                        .connect_with(options)
                        .await?,
                )
            }
            Dialect::Sqlite => {
                let options = SqliteConnectOptions::from_str(dsn)?
                    .read_only(true)
                    .create_if_missing(false)
                    .pragma("query_only", "ON");
                Pool::Sqlite(
                    SqlitePoolOptions::new()
                        .max_connections(POOL_SIZE)
                        .acquire_timeout(self.timeout)
                        .connect_with(options)
                        .await?,
                )
            }
        })
    }

    /// Ping, version and the dialect's figures, into `report`.
    async fn health(&mut self, at_ms: UnixMillis, report: &mut Report) -> Result<(), sqlx::Error> {
        let Some(pool) = &self.pool else {
            return Ok(());
        };
        match pool {
            Pool::Postgres(pool) => {
                let mut conn = acquire(pool, self.timeout).await?;
                let started = Instant::now();
                sqlx::query("SELECT 1").execute(&mut *conn).await?;
                report.ping(started.elapsed(), &self.config);
                let version: String = sqlx::query_scalar("SHOW server_version")
                    .fetch_one(&mut *conn)
                    .await?;
                report.version(format!("PostgreSQL {version}"));
                let (used, max): (i64, i64) = sqlx::query_as(
                    "SELECT count(*) FILTER (WHERE backend_type = 'client backend'), \
                     current_setting('max_connections')::int8 FROM pg_stat_activity",
                )
                .fetch_one(&mut *conn)
                .await?;
                report.connections(used as f64, max as f64, &self.config);
                let threshold = self.config.slow_query_threshold.as_secs_f64();
                let statements: bool = sqlx::query_scalar(
                    "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements')",
                )
                .fetch_one(&mut *conn)
                .await?;
                // pg_stat_statements can be installed but not loaded: fall back on any error.
                let from_statements = if statements {
                    sqlx::query_as::<_, (i64, Option<f64>)>(
                        "SELECT count(*) FILTER (WHERE mean_exec_time > $1 * 1000), \
                         max(mean_exec_time) / 1000 FROM pg_stat_statements",
                    )
                    .bind(threshold)
                    .fetch_one(&mut *conn)
                    .await
                    .ok()
                } else {
                    None
                };
                match from_statements {
                    Some((slow, worst_mean)) => {
                        report.sample("db_slow_queries", slow as f64);
                        report.sample("db_statement_mean_seconds_max", worst_mean.unwrap_or(0.0));
                    }
                    None => {
                        let slow: i64 = sqlx::query_scalar(
                            "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' \
                             AND pid <> pg_backend_pid() \
                             AND now() - query_start > make_interval(secs => $1)",
                        )
                        .bind(threshold)
                        .fetch_one(&mut *conn)
                        .await?;
                        report.sample("db_slow_queries", slow as f64);
                    }
                }
                let (size, deadlocks, rollbacks): (i64, Option<i64>, Option<i64>) =
                    sqlx::query_as(
                        "SELECT pg_database_size(current_database()), \
                         (SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()), \
                         (SELECT xact_rollback FROM pg_stat_database WHERE datname = current_database())",
                    )
                    .fetch_one(&mut *conn)
                    .await?;
                report.size(size as f64);
                if let Some(deadlocks) = deadlocks {
                    report.sample("db_deadlocks_total", deadlocks as f64);
                }
                if let Some(rollbacks) = rollbacks {
                    report.sample("db_rollbacks_total", rollbacks as f64);
                }
                let (replica, lag): (bool, Option<f64>) = sqlx::query_as(
                    "SELECT pg_is_in_recovery(), \
                     extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8",
                )
                .fetch_one(&mut *conn)
                .await?;
                // NULL on a replica: nothing replayed since it started; not an error by itself.
                match (replica, lag) {
                    (true, Some(lag)) => report.lag(Some(lag), &self.config),
                    (true, None) => report.summary.push("replica, nothing replayed yet".into()),
                    (false, _) => {}
                }
            }
            Pool::Mysql(pool) => {
                let mut conn = acquire(pool, self.timeout).await?;
                let started = Instant::now();
                sqlx::query("SELECT 1").execute(&mut *conn).await?;
                report.ping(started.elapsed(), &self.config);
                let version: String = sqlx::query_scalar("SELECT VERSION()")
                    .fetch_one(&mut *conn)
                    .await?;
                self.mariadb = version.contains("MariaDB");
                report.version(if self.mariadb {
                    format!("MariaDB {}", version.trim_end_matches("-MariaDB"))
                } else {
                    format!("MySQL {version}")
                });
                let status: Vec<MySqlRow> = sqlx::query(
                    "SHOW GLOBAL STATUS WHERE Variable_name IN \
                     ('Threads_connected', 'Slow_queries', 'Innodb_deadlocks', 'Com_rollback')",
                )
                .fetch_all(&mut *conn)
                .await?;
                let value_of = |name: &str| {
                    status.iter().find_map(|row| {
                        let key: String = row.try_get(0).ok()?;
                        let value: String = row.try_get(1).ok()?;
                        (key.eq_ignore_ascii_case(name))
                            .then(|| value.trim().parse::<f64>().ok())
                            .flatten()
                    })
                };
                let threads = value_of("Threads_connected");
                let slow = value_of("Slow_queries");
                let deadlocks = value_of("Innodb_deadlocks");
                let rollbacks = value_of("Com_rollback");
                let max_row = sqlx::query("SELECT @@max_connections")
                    .fetch_one(&mut *conn)
                    .await?;
                if let (Some(threads), Ok(Some(max))) = (threads, mysql_number(&max_row)) {
                    report.connections(threads, max, &self.config);
                }
                if let Some(slow) = slow {
                    report.sample("db_slow_queries", slow);
                    if let Some((then, before)) = self.previous_slow
                        && at_ms > then
                        && slow >= before
                    {
                        let rate = (slow - before) / ((at_ms - then) as f64 / 1000.0);
                        report.sample("db_slow_queries_per_second", rate);
                    }
                    self.previous_slow = Some((at_ms, slow));
                }
                if let Some(deadlocks) = deadlocks {
                    report.sample("db_deadlocks_total", deadlocks);
                }
                if let Some(rollbacks) = rollbacks {
                    report.sample("db_rollbacks_total", rollbacks);
                }
                let size_row = sqlx::query(
                    "SELECT COALESCE(SUM(data_length + index_length), 0) \
                     FROM information_schema.tables WHERE table_schema = DATABASE()",
                )
                .fetch_one(&mut *conn)
                .await?;
                if let Ok(Some(size)) = mysql_number(&size_row) {
                    report.size(size);
                }
                self.mysql_replication(&mut conn, report).await?;
            }
            Pool::Sqlite(pool) => {
                let mut conn = pool.acquire().await?;
                let started = Instant::now();
                sqlx::query("SELECT 1").execute(&mut *conn).await?;
                report.ping(started.elapsed(), &self.config);
                let version: String = sqlx::query_scalar("SELECT sqlite_version()")
                    .fetch_one(&mut *conn)
                    .await?;
                report.version(format!("SQLite {version}"));
                let pages: i64 = sqlx::query_scalar("PRAGMA page_count")
                    .fetch_one(&mut *conn)
                    .await?;
                let page_size: i64 = sqlx::query_scalar("PRAGMA page_size")
                    .fetch_one(&mut *conn)
                    .await?;
                report.size((pages * page_size) as f64);
                if self.config.integrity_check {
                    let problems: Vec<String> = sqlx::query_scalar("PRAGMA quick_check")
                        .fetch_all(&mut *conn)
                        .await?;
                    if problems.len() == 1 && problems[0] == "ok" {
                        report.sample("db_integrity_ok", 1.0);
                    } else {
                        report.sample("db_integrity_ok", 0.0);
                        report.finding(
                            Status::Critical,
                            format!("integrity check failed: {}", problems.join("; ")),
                        );
                    }
                }
            }
        }
        Ok(())
    }

    /// `SHOW REPLICA STATUS` (newer servers) or `SHOW SLAVE STATUS`; no row = not a replica.
    async fn mysql_replication(
        &self,
        conn: &mut sqlx::MySqlConnection,
        report: &mut Report,
    ) -> Result<(), sqlx::Error> {
        let rows = match sqlx::query("SHOW REPLICA STATUS")
            .fetch_all(&mut *conn)
            .await
        {
            Ok(rows) => rows,
            Err(sqlx::Error::Database(_)) => {
                match sqlx::query("SHOW SLAVE STATUS").fetch_all(&mut *conn).await {
                    Ok(rows) => rows,
                    // Not allowed (no REPLICATION CLIENT privilege): say nothing about replication.
                    Err(sqlx::Error::Database(_)) => return Ok(()),
                    Err(other) => return Err(other),
                }
            }
            Err(other) => return Err(other),
        };
        if let Some(row) = rows.first() {
            let column = ["Seconds_Behind_Master", "Seconds_Behind_Source"]
                .into_iter()
                .find_map(|name| row.try_column(name).ok().map(sqlx::Column::ordinal));
            if let Some(index) = column {
                let lag = first_number_mysql(row, index).ok().flatten();
                report.lag(lag, &self.config);
            }
        }
        Ok(())
    }

    /// One `[[check.query]]`: its value, or why there is none.
    async fn custom_query(&self, query: &SqlQuery) -> Result<f64, QueryError> {
        let Some(pool) = &self.pool else {
            return Err(QueryError::Failed("not connected".into()));
        };
        let timeout = self.statement_timeout;
        let ms = timeout.as_millis().max(1);
        let sql = AssertSqlSafe(query.sql.clone());
        // A little slack over the server-side limit, which should fire first with its message.
        let guard = timeout + Duration::from_millis(500);
        let work = async {
            match pool {
                Pool::Postgres(pool) => {
                    let mut tx = pool.begin_with("BEGIN READ ONLY").await.map_err(failed)?;
                    sqlx::query(AssertSqlSafe(format!("SET LOCAL statement_timeout = {ms}")))
                        .execute(&mut *tx)
                        .await
                        .map_err(failed)?;
                    let row = sqlx::query(sql).fetch_optional(&mut *tx).await;
                    let _ = tx.rollback().await;
                    match row.map_err(failed)? {
                        None => Err(QueryError::NoValue("returned no row".into())),
                        Some(row) => number_or_reason(first_number_pg(&row, 0)),
                    }
                }
                Pool::Mysql(pool) => {
                    let mut conn = pool.acquire().await.map_err(failed)?;
                    let limit = if self.mariadb {
                        format!(
                            "SET SESSION max_statement_time = {:.3}",
                            timeout.as_secs_f64()
                        )
                    } else {
                        format!("SET SESSION max_execution_time = {ms}")
                    };
                    sqlx::query("SET SESSION TRANSACTION READ ONLY")
                        .execute(&mut *conn)
                        .await
                        .map_err(failed)?;
                    sqlx::query(AssertSqlSafe(limit))
                        .execute(&mut *conn)
                        .await
                        .map_err(failed)?;
                    let mut tx = conn
                        .begin_with("START TRANSACTION READ ONLY")
                        .await
                        .map_err(failed)?;
                    let row = sqlx::query(sql).fetch_optional(&mut *tx).await;
                    let _ = tx.rollback().await;
                    match row.map_err(failed)? {
                        None => Err(QueryError::NoValue("returned no row".into())),
                        Some(row) => number_or_reason(first_number_mysql(&row, 0)),
                    }
                }
                Pool::Sqlite(pool) => {
                    let mut conn = pool.acquire().await.map_err(failed)?;
                    let deadline = Instant::now() + timeout;
                    let expired = Arc::new(AtomicBool::new(false));
                    let flag = expired.clone();
                    conn.lock_handle()
                        .await
                        .map_err(failed)?
                        .set_progress_handler(1000, move || {
                            let go_on = Instant::now() < deadline;
                            if !go_on {
                                flag.store(true, Ordering::Relaxed);
                            }
                            go_on
                        });
                    let row = sqlx::query(sql).fetch_optional(&mut *conn).await;
                    if let Ok(mut handle) = conn.lock_handle().await {
                        handle.remove_progress_handler();
                    }
                    match row {
                        Err(_) if expired.load(Ordering::Relaxed) => {
                            Err(QueryError::Failed(format!(
                                "canceled: statement timeout ({}) exceeded",
                                crate::base::units::format_duration(timeout)
                            )))
                        }
                        Err(error) => Err(failed(error)),
                        Ok(None) => Err(QueryError::NoValue("returned no row".into())),
                        Ok(Some(row)) => number_or_reason(first_number_sqlite(&row, 0)),
                    }
                }
            }
        };
        match tokio::time::timeout(guard, work).await {
            Ok(result) => result,
            Err(_) => Err(QueryError::Failed(format!(
                "no answer within the statement timeout ({})",
                crate::base::units::format_duration(timeout)
            ))),
        }
    }
}

/// Why a `[[check.query]]` has no value.
#[derive(Debug)]
enum QueryError {
    /// The server refused or cut the query short (a write, a timeout, bad SQL): Critical.
    Failed(String),
    /// It ran but gave nothing to grade (no row, NULL, not a number): Unknown.
    NoValue(String),
}

fn failed(error: sqlx::Error) -> QueryError {
    QueryError::Failed(error_text(&error))
}

impl Check for SqlProbe {
    fn attempt(&mut self, at_ms: UnixMillis) -> CheckFuture<'_> {
        Box::pin(self.run(at_ms))
    }
}

/// What a run found: samples, problems, and the parts of the one-line summary.
#[derive(Default)]
struct Report {
    samples: Vec<(SeriesKey, f64)>,
    findings: Vec<(Status, String)>,
    summary: Vec<String>,
    ping: Option<f64>,
}

impl Report {
    fn sample(&mut self, name: &str, value: f64) {
        self.samples.push((SeriesKey::new(name), value));
    }

    fn finding(&mut self, status: Status, text: String) {
        self.findings.push((status, text));
    }

    fn ping(&mut self, took: Duration, config: &SqlCheck) {
        let seconds = took.as_secs_f64();
        self.ping = Some(seconds);
        self.sample("db_ping_seconds", seconds);
        self.summary.push(format!("ping {}", seconds_text(seconds)));
        let status = grade(
            seconds,
            Some(config.ping_warning.as_secs_f64()),
            Some(config.ping_critical.as_secs_f64()),
        );
        if status != Status::Ok {
            self.finding(status, format!("slow ping: {}", seconds_text(seconds)));
        }
    }

    fn version(&mut self, version: String) {
        self.samples.push((
            SeriesKey::new("db_info").with("version", version.as_str()),
            1.0,
        ));
        self.summary.insert(0, version);
    }

    fn connections(&mut self, used: f64, max: f64, config: &SqlCheck) {
        self.sample("db_connections", used);
        self.sample("db_max_connections", max);
        if max > 0.0 {
            let ratio = used / max;
            self.sample("db_connections_ratio", ratio);
            let text = format!("{used}/{max} connections ({:.0}%)", ratio * 100.0);
            let status = grade(
                ratio,
                Some(config.connections_warning),
                Some(config.connections_critical),
            );
            if status != Status::Ok {
                self.finding(status, text.clone());
            }
            self.summary.push(text);
        }
    }

    fn size(&mut self, bytes: f64) {
        self.sample("db_size_bytes", bytes);
        self.summary.push(format!("size {}", bytes_text(bytes)));
    }

    /// Replica lag; `None` (MySQL `Seconds_Behind_Master` NULL) means replication is not
    /// running.
    fn lag(&mut self, lag: Option<f64>, config: &SqlCheck) {
        match lag {
            Some(lag) => {
                let lag = lag.max(0.0);
                self.sample("db_replication_lag_seconds", lag);
                let text = format!("replication lag {}", seconds_text(lag));
                let status = grade(
                    lag,
                    Some(config.replication_lag_warning.as_secs_f64()),
                    Some(config.replication_lag_critical.as_secs_f64()),
                );
                if status != Status::Ok {
                    self.finding(status, text.clone());
                }
                self.summary.push(text);
            }
            None => self.finding(
                Status::Critical,
                "replica without a replay position: replication is not running".into(),
            ),
        }
    }

    fn query(&mut self, query: &SqlQuery, value: Result<f64, QueryError>, redactor: &Redactor) {
        match value {
            Ok(value) => {
                self.samples.push((
                    SeriesKey::new("db_query_value").with("query", query.name.as_str()),
                    value,
                ));
                let status = if query.less_is_worse {
                    grade(
                        -value,
                        query.warning.map(|w| -w),
                        query.critical.map(|c| -c),
                    )
                } else {
                    grade(value, query.warning, query.critical)
                };
                let text = format!("query {} = {value}", query.name);
                if status != Status::Ok {
                    self.finding(status, text.clone());
                }
                self.summary.push(text);
            }
            Err(error) => {
                let (status, reason) = match error {
                    QueryError::Failed(reason) => (Status::Critical, reason),
                    QueryError::NoValue(reason) => (Status::Unknown, reason),
                };
                self.finding(
                    status,
                    format!("query {}: {}", query.name, redactor.clean(&reason)),
                );
            }
        }
    }

    /// A run cut short: Critical with `reason`, keeping what was measured before.
    fn fail(self, reason: String) -> Outcome {
        let mut outcome = Outcome::critical(reason);
        outcome.value = self.ping;
        outcome.samples = self.samples;
        outcome
    }

    /// Worst status; the reason names the worst findings first, then the summary.
    fn into_outcome(self) -> Outcome {
        let worst = self
            .findings
            .iter()
            .map(|(status, _)| *status)
            .max()
            .unwrap_or(Status::Ok);
        let summary = self.summary.join(", ");
        let reason = if worst == Status::Ok {
            summary
        } else {
            let mut worst_texts: Vec<&str> = self
                .findings
                .iter()
                .filter(|(status, _)| *status == worst)
                .map(|(_, text)| text.as_str())
                .collect();
            let others = self.findings.len() - worst_texts.len();
            let mut reason = std::mem::take(&mut worst_texts).join("; ");
            if others > 0 {
                reason.push_str(&format!(" (+{others} more)"));
            }
            if summary.is_empty() {
                reason
            } else {
                format!("{reason} — {summary}")
            }
        };
        let mut outcome = Outcome::new(worst, reason);
        outcome.value = self.ping;
        outcome.samples = self.samples;
        outcome
    }
}

/// 1536 -> "1.5 KiB": a summary figure, not a config value.
fn bytes_text(bytes: f64) -> String {
    let mut value = bytes;
    for unit in ["B", "KiB", "MiB", "GiB", "TiB"] {
        if value < 1024.0 || unit == "TiB" {
            return if unit == "B" {
                format!("{value} B")
            } else {
                format!("{value:.1} {unit}")
            };
        }
        value /= 1024.0;
    }
    unreachable!()
}

fn seconds_text(seconds: f64) -> String {
    if seconds < 1.0 {
        format!("{:.1} ms", seconds * 1000.0)
    } else {
        format!("{seconds:.2} s")
    }
}

/// The server's own message when there is one (without sqlx's "error returned from database").
fn error_text(error: &sqlx::Error) -> String {
    match error {
        sqlx::Error::Database(db) => db.message().to_string(),
        sqlx::Error::PoolTimedOut => "no connection within the timeout".to_string(),
        other => other.to_string(),
    }
}

fn text(error: sqlx::Error) -> String {
    error_text(&error)
}

/// Opens one connection by itself, once, and closes it: the pool retries a refused connection
/// until its acquire timeout, which would report a server that is down as a timeout, after the
/// whole timeout. One attempt says "refused" at once.
async fn first_connection<C: Connection>(
    options: &C::Options,
    timeout: Duration,
) -> Result<(), sqlx::Error> {
    match tokio::time::timeout(timeout, C::connect_with(options)).await {
        Ok(Ok(connection)) => {
            // A clean goodbye: MySQL counts connections dropped mid-handshake against the host.
            let _ = connection.close().await;
            Ok(())
        }
        Ok(Err(error)) => Err(error),
        Err(_) => Err(sqlx::Error::PoolTimedOut),
    }
}

/// A connection of `pool` for a run: an idle one when there is one (a server that went away
/// shows in its first statement, at once); otherwise one attempt alone first
/// (`first_connection`), then the pool opens one.
async fn acquire<DB: sqlx::Database>(
    pool: &sqlx::Pool<DB>,
    timeout: Duration,
) -> Result<sqlx::pool::PoolConnection<DB>, sqlx::Error> {
    if let Some(connection) = pool.try_acquire() {
        return Ok(connection);
    }
    first_connection::<DB::Connection>(&pool.connect_options(), timeout).await?;
    pool.acquire().await
}

/// The server refused the connection: nothing listens at the address.
fn is_refused(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Io(e) if e.kind() == std::io::ErrorKind::ConnectionRefused)
}

/// Errors after which the pool is not trusted: the server is gone or unreachable.
fn is_connection_error(error: &sqlx::Error) -> bool {
    matches!(
        error,
        sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed
    )
}

fn number_or_reason(value: Result<Option<f64>, String>) -> Result<f64, QueryError> {
    match value {
        Ok(Some(value)) if value.is_finite() => Ok(value),
        Ok(Some(value)) => Err(QueryError::NoValue(format!(
            "returned {value}, not a finite number"
        ))),
        Ok(None) => Err(QueryError::NoValue("returned NULL".into())),
        Err(reason) => Err(QueryError::NoValue(reason)),
    }
}

/// Tries each listed Rust type with the driver's own type check; the first that fits wins.
macro_rules! try_numbers {
    ($row:expr, $index:expr, $($ty:ty),*) => {{
        let mut found: Option<Option<f64>> = None;
        $(
            if found.is_none()
                && let Ok(value) = $row.try_get::<Option<$ty>, _>($index)
            {
                found = Some(value.map(|v| v as f64));
            }
        )*
        found
    }};
}

fn parse_text(value: &str) -> Result<Option<f64>, String> {
    match value.trim() {
        "t" | "true" | "TRUE" => Ok(Some(1.0)),
        "f" | "false" | "FALSE" => Ok(Some(0.0)),
        trimmed => trimmed.parse::<f64>().map(Some).map_err(|_| {
            let shown: String = value.chars().take(40).collect();
            format!("first column is not a number ({shown:?})")
        }),
    }
}

fn first_number_pg(row: &PgRow, index: usize) -> Result<Option<f64>, String> {
    if row.columns().is_empty() {
        return Err("returned no columns".into());
    }
    let raw = row.try_get_raw(index).map_err(text)?;
    if raw.is_null() {
        return Ok(None);
    }
    let type_name = raw.type_info().name().to_string();
    if let Some(found) = try_numbers!(row, index, i64, i32, i16, f64, f32) {
        return Ok(found);
    }
    if let Ok(value) = row.try_get::<Option<bool>, _>(index) {
        return Ok(value.map(|b| if b { 1.0 } else { 0.0 }));
    }
    if type_name == "NUMERIC" {
        return raw
            .as_bytes()
            .map_err(|e| e.to_string())
            .and_then(pg_numeric);
    }
    if let Ok(Some(value)) = row.try_get::<Option<String>, _>(index) {
        return parse_text(&value);
    }
    Err(format!("first column is a {type_name}, not a number"))
}

/// Postgres NUMERIC in binary form: ndigits, weight, sign, dscale, then base-10000 digits.
fn pg_numeric(bytes: &[u8]) -> Result<Option<f64>, String> {
    let word = |i: usize| -> Option<u16> {
        bytes
            .get(i * 2..i * 2 + 2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]))
    };
    let malformed = || "malformed NUMERIC value".to_string();
    let digits = word(0).ok_or_else(malformed)? as usize;
    let weight = word(1).ok_or_else(malformed)? as i16;
    let sign = word(2).ok_or_else(malformed)?;
    if sign == 0xC000 {
        return Ok(Some(f64::NAN));
    }
    let mut value = 0.0;
    for k in 0..digits {
        let digit = word(4 + k).ok_or_else(malformed)? as f64;
        value += digit * 10_000f64.powi(weight as i32 - k as i32);
    }
    Ok(Some(if sign == 0x4000 { -value } else { value }))
}

fn first_number_mysql(row: &MySqlRow, index: usize) -> Result<Option<f64>, String> {
    if row.columns().is_empty() {
        return Err("returned no columns".into());
    }
    let raw = row.try_get_raw(index).map_err(text)?;
    if raw.is_null() {
        return Ok(None);
    }
    let type_name = raw.type_info().name().to_string();
    if let Some(found) = try_numbers!(row, index, i64, u64, f64, f32, i32, u32, i16, u16, i8, u8) {
        return Ok(found);
    }
    // DECIMAL and strings arrive as text in both protocols.
    if let Ok(Some(value)) = row.try_get_unchecked::<Option<String>, _>(index) {
        return parse_text(&value);
    }
    Err(format!("first column is a {type_name}, not a number"))
}

fn mysql_number(row: &MySqlRow) -> Result<Option<f64>, String> {
    first_number_mysql(row, 0)
}

fn first_number_sqlite(row: &SqliteRow, index: usize) -> Result<Option<f64>, String> {
    if row.columns().is_empty() {
        return Err("returned no columns".into());
    }
    let raw = row.try_get_raw(index).map_err(text)?;
    if raw.is_null() {
        return Ok(None);
    }
    if let Some(found) = try_numbers!(row, index, i64, f64) {
        return Ok(found);
    }
    match row.try_get::<Option<String>, _>(index) {
        Ok(Some(value)) => parse_text(&value),
        _ => Err("first column is not a number".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_tries_again_once_then_spaces_attempts() {
        let interval = Duration::from_secs(10);
        let mut backoff = Backoff::default();
        backoff.fail(0, interval);
        assert_eq!(backoff.wait(0), None, "the immediate retry may try");
        backoff.fail(0, interval);
        assert!(backoff.wait(0).is_some());
        assert_eq!(backoff.wait(10_000), None, "the next run tries");
        backoff.fail(10_000, interval);
        assert!(backoff.wait(20_000).is_some(), "one run skipped");
        assert_eq!(backoff.wait(30_000), None);
        for n in 0..20 {
            backoff.fail(30_000 + n, interval);
        }
        let wait = backoff.wait(30_019).unwrap_or_default();
        assert!(wait <= MAX_BACKOFF, "{wait:?}");
    }

    #[test]
    fn the_worst_finding_leads_the_reason() {
        let query = |name: &str, warning, critical, less_is_worse| SqlQuery {
            name: name.into(),
            sql: String::new(),
            warning,
            critical,
            less_is_worse,
        };
        let redactor = Redactor::new("postgres://u:pw@h/db");
        let mut report = Report::default();
        report.version("PostgreSQL 16".into());
        report.query(&query("fine", Some(5.0), None, false), Ok(1.0), &redactor);
        report.query(
            &query("few", Some(5.0), Some(2.0), true),
            Ok(3.0),
            &redactor,
        );
        report.query(
            &query("gone", None, None, false),
            Err(QueryError::NoValue("returned NULL".into())),
            &redactor,
        );
        let outcome = report.into_outcome();
        assert_eq!(outcome.status, Status::Unknown);
        assert_eq!(
            outcome.reason,
            "query gone: returned NULL (+1 more) — PostgreSQL 16, query fine = 1, query few = 3"
        );
        let mut report = Report::default();
        report.query(
            &query("w", None, None, false),
            Err(QueryError::Failed("password pw rejected".into())),
            &redactor,
        );
        let outcome = report.into_outcome();
        assert_eq!(outcome.status, Status::Critical);
        assert_eq!(outcome.reason, "query w: password *** rejected");
    }

    #[test]
    fn postgres_numeric_binary_form() {
        // 1234.5 = digits [1234, 5000], weight 0, positive, dscale 1
        let bytes = [0, 2, 0, 0, 0, 0, 0, 1, 0x04, 0xD2, 0x13, 0x88];
        assert_eq!(pg_numeric(&bytes), Ok(Some(1234.5)));
        let negative = [0, 1, 0, 1, 0x40, 0, 0, 0, 0, 3];
        assert_eq!(pg_numeric(&negative), Ok(Some(-30_000.0)));
    }

    #[test]
    fn text_values_parse_or_explain() {
        assert_eq!(parse_text(" 12.5 "), Ok(Some(12.5)));
        assert_eq!(parse_text("t"), Ok(Some(1.0)));
        assert!(
            parse_text("abc")
                .unwrap_err()
                .contains("not a number (\"abc\")")
        );
    }
}

/// Spacing of connection attempts after failures (see the module doc).
#[derive(Debug, Default)]
struct Backoff {
    failures: u32,
    next_ms: UnixMillis,
}

impl Backoff {
    fn fail(&mut self, at_ms: UnixMillis, interval: Duration) {
        self.failures = self.failures.saturating_add(1);
        if self.failures < 2 {
            self.next_ms = at_ms;
            return;
        }
        let factor = 1u32 << (self.failures - 2).min(16);
        let delay = interval.saturating_mul(factor).min(MAX_BACKOFF);
        // Half an interval of slack so a run arriving a little early is not skipped.
        let slack = (interval / 2).min(delay / 2);
        self.next_ms = at_ms + (delay - slack).as_millis() as i64;
    }

    /// How long until the next attempt is allowed, if it is not allowed at `at_ms`.
    fn wait(&self, at_ms: UnixMillis) -> Option<Duration> {
        (at_ms < self.next_ms).then(|| Duration::from_millis((self.next_ms - at_ms) as u64))
    }
}
