//! Keys of `type = "postgres"`, `"mysql"` (MariaDB too) and `"sqlite"` checks, and of their
//! `[[check.query]]` tables (business queries whose first value is graded).
//!
//! | key | default | meaning |
//! |---|---|---|
//! | `dsn` | required | connection URL; write the password as `${ENV_VAR}`; TLS via its query (`sslmode=require`, `ssl-mode=REQUIRED`) |
//! | `ping_warning`, `ping_critical` | `"1s"`, `"3s"` | `SELECT 1` round trip at which the check warns / goes critical |
//! | `connections_warning`, `connections_critical` | `"80%"`, `"90%"` | connections in use / allowed (server databases) |
//! | `slow_query_threshold` | `"1s"` | a query running (Postgres) or averaging (pg_stat_statements) longer is slow |
//! | `replication_lag_warning`, `replication_lag_critical` | `"30s"`, `"5m"` | replica lag thresholds (only on replicas) |
//! | `statement_timeout` | 80 % of the check's `timeout` | server-side limit of each `[[check.query]]` |
//! | `integrity_check` | `false` | SQLite only: run `PRAGMA quick_check` each run |
//!
//! `[[check.query]]`: `name` (required, unique in the check, the `query` label), `sql` (required,
//! runs read-only), `warning` / `critical` (numbers, optional), `less_is_worse` (default false:
//! with true, a value at or below a threshold is bad).

use std::time::Duration;

use crate::base::schema::{DURATION_TYPE, Reader, Table, text_kind};
use crate::base::schema::{
    bool_setting, duration_setting, percent_setting, positive, string_setting,
};
use crate::base::schema::{optional_number, required_string};
use crate::base::secret::Secret;
use crate::base::units::{format_duration, format_percent};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Postgres,
    Mysql,
    Sqlite,
}

impl Dialect {
    pub fn name(self) -> &'static str {
        match self {
            Dialect::Postgres => "postgres",
            Dialect::Mysql => "mysql",
            Dialect::Sqlite => "sqlite",
        }
    }

    /// A DSN of this dialect for messages and examples, its password from the environment.
    pub fn example_dsn(self) -> &'static str {
        match self {
            Dialect::Postgres => "postgres://monitor:${PGPASSWORD}@127.0.0.1:5432/app",
            Dialect::Mysql => "mysql://monitor:${MYSQL_PASSWORD}@127.0.0.1:3306/app",
            Dialect::Sqlite => "sqlite:///var/lib/app/app.db",
        }
    }

    /// The dialect a DSN is for, by its scheme: postgres:// or postgresql://, mysql:// or
    /// mariadb://, sqlite: (any case). `None` for anything else.
    pub fn of_dsn(dsn: &str) -> Option<Dialect> {
        let scheme = dsn.trim().split_once(':')?.0.to_ascii_lowercase();
        let double_slash = dsn.trim()[scheme.len() + 1..].starts_with("//");
        match scheme.as_str() {
            "postgres" | "postgresql" if double_slash => Some(Dialect::Postgres),
            "mysql" | "mariadb" if double_slash => Some(Dialect::Mysql),
            "sqlite" => Some(Dialect::Sqlite),
            _ => None,
        }
    }
}

/// The DSN forms `Dialect::of_dsn` knows, for messages.
pub const DSN_SCHEMES: &str = "postgres://, postgresql://, mysql://, mariadb:// or sqlite:";

#[derive(Debug, Clone, PartialEq)]
pub struct SqlCheck {
    pub dialect: Dialect,
    /// `dsn`: connection URL; its password is a secret (write it as `${ENV_VAR}`).
    pub dsn: Secret,
    /// `ping_warning` (default 1s): `SELECT 1` round trip at which the check warns.
    pub ping_warning: Duration,
    /// `ping_critical` (default 3s).
    pub ping_critical: Duration,
    /// `connections_warning` (default 80%), as a ratio 0..=1.
    pub connections_warning: f64,
    /// `connections_critical` (default 90%), as a ratio 0..=1.
    pub connections_critical: f64,
    /// `slow_query_threshold` (default 1s).
    pub slow_query_threshold: Duration,
    /// `replication_lag_warning` (default 30s).
    pub replication_lag_warning: Duration,
    /// `replication_lag_critical` (default 5m).
    pub replication_lag_critical: Duration,
    /// `statement_timeout`: limit of each query; `None` = 80 % of the check's timeout.
    pub statement_timeout: Option<Duration>,
    /// `integrity_check` (SQLite; default false): `PRAGMA quick_check` each run.
    pub integrity_check: bool,
    /// `[[check.query]]`
    pub queries: Vec<SqlQuery>,
}

/// One `[[check.query]]`.
#[derive(Debug, Clone, PartialEq)]
pub struct SqlQuery {
    /// `name`: the `query` label of `db_query_value`.
    pub name: String,
    /// `sql`: a read-only statement; the first column of the first row is the value.
    pub sql: String,
    /// `warning`
    pub warning: Option<f64>,
    /// `critical`
    pub critical: Option<f64>,
    /// `less_is_worse` (default false): a value at or *below* a threshold is bad.
    pub less_is_worse: bool,
}

pub(crate) fn read_sql(r: &mut Reader<'_>, table: &Table<'_, '_>, dialect: Dialect) -> SqlCheck {
    let example = format!("\"{}\"", dialect.example_dsn());
    let dsn = Secret::new(required_string(r, table, "dsn", &example));
    if dialect != Dialect::Sqlite
        && let Some(problem) = crate::base::schema::port_problem(dsn.expose())
    {
        // The DSN may hold a password: name the problem, never quote it.
        let span = r.item(table, "dsn").map(|item| item.span);
        r.problem(
            span.as_ref(),
            &format!("{}.dsn", table.path),
            format!("{problem}, like {example}"),
        );
    }
    let ping_warning = duration_setting(r, table, "ping_warning", Duration::from_secs(1), positive);
    let ping_critical =
        duration_setting(r, table, "ping_critical", Duration::from_secs(3), positive);
    if ping_warning.valid && ping_critical.valid && ping_warning.value > ping_critical.value {
        r.problem(
            ping_warning.span.as_ref(),
            &ping_warning.path,
            format!(
                "{:?} must not be longer than ping_critical ({:?})",
                format_duration(ping_warning.value),
                format_duration(ping_critical.value)
            ),
        );
    }
    let connections_warning = percent_setting(r, table, "connections_warning", 0.8);
    let connections_critical = percent_setting(r, table, "connections_critical", 0.9);
    if connections_warning.valid
        && connections_critical.valid
        && connections_warning.value > connections_critical.value
    {
        r.problem(
            connections_warning.span.as_ref(),
            &connections_warning.path,
            format!(
                "{:?} must not be above connections_critical ({:?})",
                format_percent(connections_warning.value),
                format_percent(connections_critical.value)
            ),
        );
    }
    let slow_query_threshold = duration_setting(
        r,
        table,
        "slow_query_threshold",
        Duration::from_secs(1),
        positive,
    );
    let lag_warning = duration_setting(
        r,
        table,
        "replication_lag_warning",
        Duration::from_secs(30),
        positive,
    );
    let lag_critical = duration_setting(
        r,
        table,
        "replication_lag_critical",
        Duration::from_secs(300),
        positive,
    );
    let statement_timeout = r
        .item_of(table, "statement_timeout", text_kind(DURATION_TYPE))
        .is_some()
        .then(|| duration_setting(r, table, "statement_timeout", Duration::ZERO, positive).value)
        .filter(|timeout| !timeout.is_zero());
    let integrity_check = bool_setting(r, table, "integrity_check", false).value;
    let mut queries: Vec<SqlQuery> = Vec::new();
    for query in r.table_array(table, "query") {
        let name = string_setting(r, &query, "name", String::new(), "a name string", |text| {
            let name = text.value.trim();
            if name.is_empty() {
                Err("must not be empty; expected a short name like \"failed_tasks\"".to_string())
            } else {
                Ok(name.to_string())
            }
        });
        if name.span.is_none() {
            r.problem(
                query.span.as_ref(),
                &name.path,
                "missing; every query needs a name, like name = \"failed_tasks\"",
            );
        } else if name.valid {
            r.name_table(&query, &name.value);
        }
        let sql = match r.item_of(&query, "sql", text_kind("an SQL query")) {
            Some(item) => r
                .text(&item, "a string")
                .map(|text| text.value)
                .unwrap_or_default(),
            None => {
                r.problem(
                    query.span.as_ref(),
                    &format!("{}.sql", query.path),
                    "missing; every query needs a statement whose first value is graded, \
                     like sql = \"SELECT count(*) FROM tasks WHERE status = 'failed'\"",
                );
                String::new()
            }
        };
        let warning = optional_number(r, &query, "warning");
        let critical = optional_number(r, &query, "critical");
        let less_is_worse = bool_setting(r, &query, "less_is_worse", false).value;
        if name.valid && !name.value.is_empty() && queries.iter().any(|q| q.name == name.value) {
            r.problem(
                name.span.as_ref(),
                &name.path,
                format!(
                    "{:?} is already the name of another query of this check; names must be unique",
                    name.value
                ),
            );
        }
        queries.push(SqlQuery {
            name: name.value,
            sql,
            warning,
            critical,
            less_is_worse,
        });
    }
    SqlCheck {
        dialect,
        dsn,
        ping_warning: ping_warning.value,
        ping_critical: ping_critical.value,
        connections_warning: connections_warning.value,
        connections_critical: connections_critical.value,
        slow_query_threshold: slow_query_threshold.value,
        replication_lag_warning: lag_warning.value,
        replication_lag_critical: lag_critical.value,
        statement_timeout,
        integrity_check,
        queries,
    }
}
