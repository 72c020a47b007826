//! The system health checks: `cpu`, `memory` and `disk:<mountpoint>`, each a usage ratio held
//! against the configured warning and critical thresholds. Pure: values in, `CheckResult` out.

use crate::clock::UnixMillis;
use crate::model::{CheckResult, Layer, Status};

/// Ok below `warning`, Warning from `warning` (inclusive), Critical from `critical`
/// (inclusive). A value that is not a number is Unknown.
pub fn usage_status(ratio: f64, warning: f64, critical: f64) -> Status {
    if ratio.is_nan() {
        Status::Unknown
    } else if ratio >= critical {
        Status::Critical
    } else if ratio >= warning {
        Status::Warning
    } else {
        Status::Ok
    }
}

/// Thresholds of one check.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    pub warning: f64,
    pub critical: f64,
}

/// A usage check: `headline` is what precedes the percentage ("cpu", "disk /"), `verb` what
/// follows it ("busy", "used"), `extra` an optional clause (", 12.3 GiB free").
pub fn usage_check(
    check: String,
    headline: &str,
    verb: &str,
    extra: &str,
    ratio: f64,
    limits: Limits,
    at_ms: UnixMillis,
) -> CheckResult {
    let status = usage_status(ratio, limits.warning, limits.critical);
    let crossed = match status {
        Status::Critical => format!(" (critical at {})", threshold_percent(limits.critical)),
        Status::Warning => format!(" (warning at {})", threshold_percent(limits.warning)),
        _ => String::new(),
    };
    CheckResult {
        underlying: None,
        check,
        layer: Layer::System,
        status,
        value: Some(ratio),
        detail: format!("{headline} {} {verb}{extra}{crossed}", percent(ratio)),
        at_ms,
    }
}

/// A check whose value could not be read.
pub fn unknown_check(check: String, reason: String, at_ms: UnixMillis) -> CheckResult {
    CheckResult {
        underlying: None,
        check,
        layer: Layer::System,
        status: Status::Unknown,
        value: None,
        detail: reason,
        at_ms,
    }
}

/// A filesystem whose statvfs hangs: a warning, because the mount itself is unhealthy even if
/// its usage is unknown.
pub fn stuck_disk_check(mountpoint: &str, timeout_text: &str, at_ms: UnixMillis) -> CheckResult {
    CheckResult {
        underlying: None,
        check: format!("disk:{mountpoint}"),
        layer: Layer::System,
        status: Status::Warning,
        value: None,
        detail: format!(
            "disk {mountpoint} not answering (statvfs took over {timeout_text}); skipped until it does"
        ),
        at_ms,
    }
}

/// A filesystem with no blocks at all: nothing can fill it, so it is Ok, without a value.
pub fn empty_filesystem_check(mountpoint: &str, at_ms: UnixMillis) -> CheckResult {
    CheckResult {
        underlying: None,
        check: format!("disk:{mountpoint}"),
        layer: Layer::System,
        status: Status::Ok,
        value: None,
        detail: format!("disk {mountpoint} has no blocks (a pseudo filesystem?)"),
        at_ms,
    }
}

/// "42.0%": one decimal, enough to see movement near a threshold.
pub fn percent(ratio: f64) -> String {
    format!("{:.1}%", ratio * 100.0)
}

/// "85%" or "87.5%": thresholds are written by people, so no trailing ".0".
fn threshold_percent(ratio: f64) -> String {
    let text = format!("{:.1}", ratio * 100.0);
    format!("{}%", text.strip_suffix(".0").unwrap_or(&text))
}

/// "12.3 GiB": binary units, as `df -h` prints them.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        warning: 0.85,
        critical: 0.95,
    };

    #[test]
    fn status_by_threshold_including_the_boundaries() {
        let cases = [
            (0.0, Status::Ok),
            (0.849999, Status::Ok),
            (0.85, Status::Warning), // exactly at warning is warning
            (0.9, Status::Warning),
            (0.95, Status::Critical), // exactly at critical is critical
            (1.0, Status::Critical),
            (f64::NAN, Status::Unknown),
        ];
        for (ratio, expected) in cases {
            assert_eq!(
                usage_status(ratio, LIMITS.warning, LIMITS.critical),
                expected,
                "ratio {ratio}"
            );
        }
    }

    #[test]
    fn details_read_as_one_line() {
        let cases = [
            (
                "memory",
                "used",
                "",
                0.912,
                "memory 91.2% used (warning at 85%)",
            ),
            ("memory", "used", "", 0.40, "memory 40.0% used"),
            ("cpu", "busy", "", 0.97, "cpu 97.0% busy (critical at 95%)"),
            (
                "disk /",
                "used",
                ", 12.3 GiB free",
                0.42,
                "disk / 42.0% used, 12.3 GiB free",
            ),
        ];
        for (headline, verb, extra, ratio, expected) in cases {
            let check = usage_check("x".into(), headline, verb, extra, ratio, LIMITS, 7);
            assert_eq!(check.detail, expected);
            assert_eq!(check.value, Some(ratio));
            assert_eq!(check.layer, Layer::System);
            assert_eq!(check.at_ms, 7);
        }
    }

    #[test]
    fn thresholds_print_without_trailing_zero() {
        assert_eq!(threshold_percent(0.85), "85%");
        assert_eq!(threshold_percent(0.875), "87.5%");
    }

    #[test]
    fn human_bytes_uses_binary_units() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(13_207_024_435), "12.3 GiB");
        assert_eq!(human_bytes(u64::MAX), "16384.0 PiB");
    }

    #[test]
    fn empty_filesystem_is_ok_without_a_value() {
        let check = empty_filesystem_check("/sys/fs/x", 1);
        assert_eq!((check.status, check.value), (Status::Ok, None));
        assert_eq!(
            check.detail,
            "disk /sys/fs/x has no blocks (a pseudo filesystem?)"
        );
    }

    #[test]
    fn stuck_disk_is_a_warning_without_a_value() {
        let check = stuck_disk_check("/mnt/nfs", "2s", 1);
        assert_eq!(check.check, "disk:/mnt/nfs");
        assert_eq!(check.status, Status::Warning);
        assert_eq!(check.value, None);
        assert!(check.detail.contains("not answering"), "{}", check.detail);
    }
}
