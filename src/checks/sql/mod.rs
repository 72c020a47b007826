//! `type = "postgres"`, `"mysql"` (MariaDB too) and `"sqlite"`: one type with a dialect per
//! name. `config.rs` reads the keys and `[[check.query]]`, `probe.rs` pings, reads the
//! server's health and runs the business queries.

pub mod config;
pub mod probe;

pub use config::{Dialect, SqlCheck};

use super::{Check, CheckType, Schedule};
use crate::base::schema::{Reader, Table};
use crate::base::secret::mask_url;
use crate::model::Layer;

impl CheckType for SqlCheck {
    fn types() -> &'static [&'static str] {
        &["postgres", "mysql", "sqlite"]
    }

    fn template() -> &'static str {
        include_str!("template.toml")
    }

    fn read(type_name: &str, r: &mut Reader<'_>, table: &Table<'_, '_>) -> SqlCheck {
        let dialect = match type_name {
            "mysql" => Dialect::Mysql,
            "sqlite" => Dialect::Sqlite,
            _ => Dialect::Postgres,
        };
        config::read_sql(r, table, dialect)
    }

    fn default_layer(_type_name: &str) -> Layer {
        Layer::Database
    }

    /// SQLite reads a local file.
    fn network(type_name: &str) -> bool {
        type_name != "sqlite"
    }

    fn type_name(&self) -> &'static str {
        self.dialect.name()
    }

    fn target(&self) -> String {
        mask_url(self.dsn.expose())
    }

    fn build(&self, schedule: Schedule) -> Box<dyn Check> {
        Box::new(probe::SqlProbe::new(
            self.clone(),
            schedule.interval,
            schedule.timeout,
        ))
    }

    fn what(&self) -> &'static str {
        match self.dialect {
            Dialect::Postgres | Dialect::Mysql => "the database",
            Dialect::Sqlite => "the service",
        }
    }
}
