//! Lookout's own process (`/proc/self`): CPU time, memory and open file descriptors, the
//! figures Prometheus client libraries export as `process_*`.

use std::path::Path;

/// The fields of `/proc/self/stat` that Lookout reports, in the kernel's units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SelfStat {
    pub user_ticks: u64,
    pub system_ticks: u64,
    /// Start time in clock ticks after boot.
    pub start_ticks: u64,
    pub virtual_bytes: u64,
    pub resident_pages: u64,
}

/// Parses `/proc/<pid>/stat`. The command name (field 2) is in parentheses and may itself
/// contain spaces and parentheses, so fields are counted from the last ')'.
pub fn parse_self_stat(text: &str) -> Option<SelfStat> {
    let after_comm = &text[text.rfind(')')? + 1..];
    // after_comm starts at field 3 (state); field N is at index N - 3.
    let fields: Vec<&str> = after_comm.split_ascii_whitespace().collect();
    let field = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
    Some(SelfStat {
        user_ticks: field(14)?,
        system_ticks: field(15)?,
        start_ticks: field(22)?,
        virtual_bytes: field(23)?,
        resident_pages: field(24)?,
    })
}

/// Open file descriptors: entries of `<proc>/self/fd`. Like the Prometheus client libraries,
/// this includes the descriptor used to list the directory.
pub fn count_open_fds(fd_dir: &Path) -> std::io::Result<u64> {
    Ok(std::fs::read_dir(fd_dir)?.count() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_fields_after_a_command_name_with_spaces_and_parens() {
        let text = "12273 (my (odd) cmd) R 12267 12267 10118 0 -1 4194304 101 0 0 0 \
                    250 75 0 0 20 0 1 0 65608 3133440 381 18446744073709551615 9387 0\n";
        assert_eq!(
            parse_self_stat(text),
            Some(SelfStat {
                user_ticks: 250,
                system_ticks: 75,
                start_ticks: 65608,
                virtual_bytes: 3133440,
                resident_pages: 381,
            })
        );
    }

    #[test]
    fn truncated_stat_is_none() {
        assert_eq!(parse_self_stat("1 (x) R 1 1 1 0 -1 0 0 0 0 0 5"), None);
        assert_eq!(parse_self_stat(""), None);
        assert_eq!(parse_self_stat("1 (x"), None);
    }

    #[test]
    fn reads_own_stat_and_fds() {
        let text = std::fs::read_to_string("/proc/self/stat").unwrap();
        let stat = parse_self_stat(&text).unwrap();
        assert!(stat.virtual_bytes > 0 && stat.resident_pages > 0);
        assert!(count_open_fds(Path::new("/proc/self/fd")).unwrap() >= 3);
    }
}
