//! `type = "postgres"`, `"mysql"` (MariaDB too) and `"sqlite"`: one type with a dialect per
//! name. `config.rs` reads the keys and `[[check.query]]`, `probe.rs` pings, reads the
//! server's health and runs the business queries.

pub mod config;
pub mod probe;

pub use config::{Dialect, SqlCheck};

use super::{Chart, ChartUnit, Check, CheckType, Levels, Schedule};
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

    fn charts(&self) -> Vec<Chart> {
        let mut charts = vec![
            Chart::new("Ping (SELECT 1)", "db_ping_seconds", ChartUnit::Seconds)
                .levels(Levels::seconds(self.ping_warning, self.ping_critical)),
        ];
        if self.dialect != Dialect::Sqlite {
            charts.push(
                Chart::new(
                    "Connections of max_connections",
                    "db_connections_ratio",
                    ChartUnit::Ratio,
                )
                .levels(Levels::above(
                    Some(self.connections_warning),
                    Some(self.connections_critical),
                )),
            );
        }
        charts.push(Chart::new("Size", "db_size_bytes", ChartUnit::Bytes));
        for query in &self.queries {
            let levels = if query.less_is_worse {
                (query.warning.is_some() || query.critical.is_some()).then_some(Levels {
                    below: true,
                    warning: query.warning,
                    critical: query.critical,
                })
            } else {
                Levels::above(query.warning, query.critical)
            };
            charts.push(
                Chart::new(
                    format!("Query {}", query.name),
                    "db_query_value",
                    ChartUnit::Count,
                )
                .label("query", &query.name)
                .levels(levels),
            );
        }
        charts
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
