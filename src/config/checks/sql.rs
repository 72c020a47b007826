//! Keys of `type = "postgres"`, `"mysql"` and `"sqlite"` checks.

use super::super::reader::{Reader, Table};
use super::common::{Secret, required_string};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Postgres,
    Mysql,
    Sqlite,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SqlCheck {
    pub dialect: Dialect,
    /// `dsn`: connection URL; its password is a secret (write it as `${ENV_VAR}`).
    pub dsn: Secret,
}

pub(in crate::config) fn read_sql(
    r: &mut Reader<'_>,
    table: &Table<'_, '_>,
    dialect: Dialect,
) -> SqlCheck {
    let example = match dialect {
        Dialect::Postgres => "\"postgres://monitor:${PGPASSWORD}@127.0.0.1:5432/app\"",
        Dialect::Mysql => "\"mysql://monitor:${MYSQL_PASSWORD}@127.0.0.1:3306/app\"",
        Dialect::Sqlite => "\"sqlite:///var/lib/app/app.db\"",
    };
    SqlCheck {
        dialect,
        dsn: Secret::new(required_string(r, table, "dsn", example)),
    }
}
