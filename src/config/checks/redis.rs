//! Keys of `type = "redis"` checks.

use super::super::reader::{Reader, Table};
use super::common::{Secret, required_string};

#[derive(Debug, Clone, PartialEq)]
pub struct RedisCheck {
    /// `url`: "redis://[user:password@]host:port/db" or "rediss://" for TLS; a secret.
    pub url: Secret,
}

pub(in crate::config) fn read_redis(r: &mut Reader<'_>, table: &Table<'_, '_>) -> RedisCheck {
    RedisCheck {
        url: Secret::new(required_string(
            r,
            table,
            "url",
            "\"redis://127.0.0.1:6379/0\"",
        )),
    }
}
