//! Host-wide figures: load averages (`/proc/loadavg`), uptime (`/proc/uptime`) and the number of
//! processes (numeric directories of `/proc`).

use std::path::Path;

/// The 1, 5 and 15 minute load averages.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LoadAverage {
    pub one: f64,
    pub five: f64,
    pub fifteen: f64,
}

/// Parses `/proc/loadavg`: "0.83 1.14 0.59 1/138 11192".
pub fn parse_loadavg(text: &str) -> Option<LoadAverage> {
    let mut fields = text.split_ascii_whitespace().map(str::parse::<f64>);
    Some(LoadAverage {
        one: fields.next()?.ok()?,
        five: fields.next()?.ok()?,
        fifteen: fields.next()?.ok()?,
    })
}

/// Parses `/proc/uptime` ("569.99 481.66"): seconds since boot.
pub fn parse_uptime(text: &str) -> Option<f64> {
    text.split_ascii_whitespace()
        .next()?
        .parse()
        .ok()
        .filter(|v: &f64| v.is_finite())
}

/// Processes on the host: the numeric directories of `/proc`. (`/proc/loadavg`'s total counts
/// threads, not processes.)
pub fn count_processes(proc_root: &Path) -> std::io::Result<u64> {
    let mut count = 0;
    for entry in std::fs::read_dir(proc_root)? {
        // A process can exit while we list; its entry error is not a reason to fail.
        let Ok(entry) = entry else { continue };
        let name = entry.file_name();
        let is_pid = name
            .to_str()
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
        if is_pid {
            count += 1;
        }
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_loadavg() {
        assert_eq!(
            parse_loadavg("0.83 1.14 0.59 1/138 11192\n"),
            Some(LoadAverage {
                one: 0.83,
                five: 1.14,
                fifteen: 0.59
            })
        );
        assert_eq!(parse_loadavg("0.83 1.14"), None);
        assert_eq!(parse_loadavg("x 1 2"), None);
    }

    #[test]
    fn parses_uptime() {
        assert_eq!(parse_uptime("569.99 481.66\n"), Some(569.99));
        assert_eq!(parse_uptime(""), None);
        assert_eq!(parse_uptime("NaN 1"), None);
    }

    #[test]
    fn counts_only_numeric_directories() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["1", "42", "self", "net", "4x"] {
            std::fs::create_dir(dir.path().join(name)).unwrap();
        }
        assert_eq!(count_processes(dir.path()).unwrap(), 2);
        assert!(count_processes(&dir.path().join("missing")).is_err());
    }
}
