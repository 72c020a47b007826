//! Memory and swap: parses `/proc/meminfo` into bytes.
//!
//! "Used" is `MemTotal - MemAvailable`, the kernel's own estimate of what could be handed out
//! without swapping; page cache that can be dropped does not count as used.

/// The `/proc/meminfo` fields Lookout reports, in bytes. A field missing from the file is `None`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MemInfo {
    pub total: Option<u64>,
    pub free: Option<u64>,
    pub available: Option<u64>,
    pub buffers: Option<u64>,
    pub cached: Option<u64>,
    pub swap_total: Option<u64>,
    pub swap_free: Option<u64>,
}

/// Parses `/proc/meminfo` ("MemTotal:  24683656 kB"). Values in kB are multiplied by 1024 (the
/// kernel's "kB" is KiB); lines that do not parse are skipped.
pub fn parse_meminfo(text: &str) -> MemInfo {
    let mut info = MemInfo::default();
    for line in text.lines() {
        let Some((key, rest)) = line.split_once(':') else {
            continue;
        };
        let mut parts = rest.split_ascii_whitespace();
        let Some(Ok(number)) = parts.next().map(str::parse::<u64>) else {
            continue;
        };
        let bytes = match parts.next() {
            Some("kB") => number.checked_mul(1024),
            None => Some(number),
            Some(_) => None,
        };
        let slot = match key {
            "MemTotal" => &mut info.total,
            "MemFree" => &mut info.free,
            "MemAvailable" => &mut info.available,
            "Buffers" => &mut info.buffers,
            "Cached" => &mut info.cached,
            "SwapTotal" => &mut info.swap_total,
            "SwapFree" => &mut info.swap_free,
            _ => continue,
        };
        *slot = bytes;
    }
    info
}

impl MemInfo {
    /// `MemAvailable`, or on kernels older than 3.14 (which lack it) the estimate `free` used
    /// to print: free + buffers + cached.
    pub fn available_or_estimate(&self) -> Option<u64> {
        self.available.or_else(|| {
            Some(
                self.free?
                    .saturating_add(self.buffers.unwrap_or(0))
                    .saturating_add(self.cached.unwrap_or(0)),
            )
        })
    }

    /// Bytes in use: total minus available, never negative.
    pub fn used(&self) -> Option<u64> {
        Some(self.total?.saturating_sub(self.available_or_estimate()?))
    }

    /// used / total, `None` when either is unknown or total is zero.
    pub fn usage_ratio(&self) -> Option<f64> {
        let total = self.total.filter(|t| *t > 0)?;
        Some((self.used()? as f64 / total as f64).clamp(0.0, 1.0))
    }

    pub fn swap_used(&self) -> Option<u64> {
        Some(self.swap_total?.saturating_sub(self.swap_free?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MEMINFO: &str = "\
MemTotal:       24683656 kB
MemFree:        19231700 kB
MemAvailable:   23978816 kB
Buffers:           23344 kB
Cached:          4855896 kB
SwapCached:            0 kB
Active:          1329752 kB
SwapTotal:       2097148 kB
SwapFree:        1048576 kB
HugePages_Total:       0
Hugepagesize:       2048 kB
";

    #[test]
    fn parses_kib_into_bytes() {
        let m = parse_meminfo(MEMINFO);
        assert_eq!(m.total, Some(24683656 * 1024));
        assert_eq!(m.free, Some(19231700 * 1024));
        assert_eq!(m.available, Some(23978816 * 1024));
        assert_eq!(m.buffers, Some(23344 * 1024));
        assert_eq!(m.cached, Some(4855896 * 1024));
        assert_eq!(m.swap_total, Some(2097148 * 1024));
        assert_eq!(m.swap_used(), Some((2097148 - 1048576) * 1024));
        assert_eq!(m.used(), Some((24683656 - 23978816) * 1024));
        let ratio = m.usage_ratio().unwrap();
        assert!((ratio - (24683656.0 - 23978816.0) / 24683656.0).abs() < 1e-12);
    }

    #[test]
    fn kernel_without_mem_available_falls_back_to_free_buffers_cached() {
        let m =
            parse_meminfo("MemTotal: 1000 kB\nMemFree: 100 kB\nBuffers: 50 kB\nCached: 250 kB\n");
        assert_eq!(m.available_or_estimate(), Some(400 * 1024));
        assert_eq!(m.used(), Some(600 * 1024));
    }

    #[test]
    fn garbage_truncation_and_zero_total_do_not_panic() {
        let m = parse_meminfo(
            "MemTotal: 0 kB\nMemFree:\nMemAvailable: x kB\nCached 5 kB\nBuffers: 1 MB\n",
        );
        assert_eq!(m.total, Some(0));
        assert_eq!(m.free, None);
        assert_eq!(m.available, None);
        assert_eq!(m.cached, None);
        assert_eq!(m.buffers, None);
        assert_eq!(m.usage_ratio(), None);
        assert_eq!(
            parse_meminfo("MemTotal: 99999999999999999 kB\n").total,
            None,
            "overflow is dropped, not wrapped"
        );
        assert_eq!(parse_meminfo(""), MemInfo::default());
    }
}
