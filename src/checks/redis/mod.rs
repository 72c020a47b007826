//! `type = "redis"`: PING, INFO (memory, hit ratio, replication) and an optional session count.
//! `config.rs` reads its keys, `probe.rs` talks to Redis.

pub mod config;
pub mod probe;

pub use config::RedisCheck;

use super::{Cause, Check, CheckType, Schedule};
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
