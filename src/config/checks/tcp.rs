//! Keys of `type = "tcp"` checks.

use super::super::reader::{Reader, Table};
use super::common::required_string;

#[derive(Debug, Clone, PartialEq)]
pub struct TcpCheck {
    /// `address`: "host:port" to connect to.
    pub address: String,
}

pub(in crate::config) fn read_tcp(r: &mut Reader<'_>, table: &Table<'_, '_>) -> TcpCheck {
    TcpCheck {
        address: required_string(r, table, "address", "\"127.0.0.1:5432\""),
    }
}
