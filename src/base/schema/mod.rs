//! The config-reading toolkit every section and every kind of check or notifier reads its
//! table with: the span-preserving `Reader` (every problem at once, unknown keys with a
//! did-you-mean, `${ENV}` substitution naming the variable), `Problem` with file:line:column
//! and key path, typed settings (durations, sizes, percents, booleans, whole numbers, regex
//! lists, names and closed types) and field readers (strings, lists, maps, HTTP headers as
//! `Secret`s, http(s) URLs and ports). Knows TOML and positions, not Lookout's keys: those
//! are in `config` and in each kind's folder.

mod describe;
mod env;
mod fields;
mod problem;
mod reader;
mod settings;

pub use describe::{annotate, derive, undeclared};
pub use env::{ExpandError, expand};
pub use fields::{
    check_http_url, header_map, optional_http_url, optional_number, optional_string, path_text,
    port_problem, required_http_url, required_nonblank, required_string, required_text,
    string_list, string_map, text_kind,
};
pub use problem::{LineIndex, Position, Problem, ProblemLines};
pub use reader::{Declared, Field, Item, Kind, Reader, Table, Text, a_type, join};
pub use settings::{
    DURATION_FORM, DURATION_TYPE, PATTERNS_TYPE, PERCENT_TYPE, SIZE_FORM, SIZE_TYPE, Whole,
    anchored, bool_setting, both_or_neither, closed_type, describe_other, duration_setting, field,
    name_list, not_longer, or_list, parsed_setting, pattern_list, percent_setting, positive,
    regex_error_line, settle, size_setting, string_setting, unanchored, unique_name, unknown_name,
    warning_below_critical, whole_setting, within,
};
