//! `type = "redis"`: PING, INFO (memory, hit ratio, replication) and an optional session count.
//! `config.rs` reads its keys, `probe.rs` talks to Redis.

pub mod config;
pub mod probe;

pub use config::RedisCheck;

use super::{Cause, Chart, ChartUnit, Check, CheckType, Levels, Schedule};
use crate::base::schema::{Reader, Table};
use crate::base::secret::mask_url;
use crate::model::Layer;

impl CheckType for RedisCheck {
    fn types() -> &'static [&'static str] {
        &["redis"]
    }

    fn template() -> &'static str {
        include_str!("template.toml")
    }

    fn read(_type_name: &str, r: &mut Reader<'_>, table: &Table<'_, '_>) -> RedisCheck {
        config::read_redis(r, table)
    }

    fn default_layer(_type_name: &str) -> Layer {
        Layer::Redis
    }

    fn type_name(&self) -> &'static str {
        "redis"
    }

    fn target(&self) -> String {
        mask_url(self.url.expose())
    }

    fn charts(&self) -> Vec<Chart> {
        let mut charts = vec![
            Chart::new("Ping", "redis_ping_seconds", ChartUnit::Seconds)
                .levels(Levels::seconds(self.ping_warning, self.ping_critical)),
            Chart::new("Memory of maxmemory", "redis_memory_ratio", ChartUnit::Ratio).levels(
                Levels::above(Some(self.memory_warning), Some(self.memory_critical)),
            ),
            Chart::new("Memory used", "redis_used_memory_bytes", ChartUnit::Bytes),
            Chart::new(
                "Connected clients",
                "redis_connected_clients",
                ChartUnit::Count,
            ),
            Chart::new(
                "Keyspace hit ratio",
                "redis_keyspace_hit_ratio",
                ChartUnit::Ratio,
            ),
        ];
        if self.session_pattern.is_some() {
            charts.push(Chart::new("Sessions", "redis_sessions", ChartUnit::Count));
        }
        charts
    }

    fn build(&self, schedule: Schedule) -> Box<dyn Check> {
        Box::new(probe::RedisProbe::new(self.clone(), schedule.timeout))
    }

    fn what(&self) -> &'static str {
        "Redis"
    }

    fn hint(&self, cause: Cause) -> Option<String> {
        (cause == Cause::Auth).then(|| {
            "Redis refused the credentials: check the password in the URL (write it as ${REDIS_PASSWORD}) and the ACL user".to_string()
        })
    }
}
