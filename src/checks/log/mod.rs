//! `type = "log"`: follows a log file across rotation and counts the lines matching patterns.
//! `config.rs` reads its keys and `[[check.pattern]]`, `probe.rs` follows the file.

pub mod config;
pub mod probe;

pub use config::LogCheck;

use super::{Cause, Chart, ChartUnit, Check, CheckType, Levels, Schedule};
use crate::base::schema::{Reader, Table};
use crate::base::units::ValueUnit;

impl CheckType for LogCheck {
    fn types() -> &'static [&'static str] {
        &["log"]
    }

    fn template() -> &'static str {
        include_str!("template.toml")
    }

    fn read(_type_name: &str, r: &mut Reader<'_>, table: &Table<'_, '_>) -> LogCheck {
        config::read_log(r, table)
    }

    /// A local file.
    fn network(_type_name: &str) -> bool {
        false
    }

    fn type_name(&self) -> &'static str {
        "log"
    }

    /// The matching lines of the last run.
    fn value_unit(&self) -> ValueUnit {
        ValueUnit::Number
    }

    fn target(&self) -> String {
        self.path.display().to_string()
    }

    /// One chart per pattern: its matches per run, graded by the pattern's levels (the
    /// headline value is their sum).
    fn charts(&self) -> Vec<Chart> {
        self.patterns
            .iter()
            .map(|pattern| {
                Chart::new(
                    format!("Matches of {} per run", pattern.name),
                    "log_matches_last_run",
                    ChartUnit::Count,
                )
                .label("pattern", &pattern.name)
                .levels(Levels::above(pattern.warning, pattern.critical))
            })
            .collect()
    }

    fn build(&self, schedule: Schedule) -> Box<dyn Check> {
        Box::new(probe::LogProbe::new(self.clone(), schedule.interval))
    }

    fn hint(&self, cause: Cause) -> Option<String> {
        (cause == Cause::Missing).then(|| {
            "check the path: the file does not exist (yet); a file that appears later is picked up at the next run".to_string()
        })
    }
}
