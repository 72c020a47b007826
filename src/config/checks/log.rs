//! Keys of `type = "log"` checks.

use std::path::PathBuf;

use super::super::reader::{Reader, Table};
use super::common::required_string;

#[derive(Debug, Clone, PartialEq)]
pub struct LogCheck {
    /// `path`: the file to follow.
    pub path: PathBuf,
}

pub(in crate::config) fn read_log(r: &mut Reader<'_>, table: &Table<'_, '_>) -> LogCheck {
    LogCheck {
        path: PathBuf::from(required_string(
            r,
            table,
            "path",
            "\"/var/log/app/webapp.log\"",
        )),
    }
}
