//! CPU: parses `/proc/stat` (per-CPU tick counters, boot time, running and blocked processes)
//! and turns two readings into busy ratios.
//!
//! Counters follow node_exporter's semantics so `cpu_seconds_total` agrees with
//! `node_cpu_seconds_total` summed over CPUs:
//! - `user` and `nice` include guest time (the kernel counts guest time in both places; we do
//!   not subtract it, and we leave guest out of the total so it is not counted twice);
//! - the per-CPU counters are held monotonic: the kernel's idle and iowait counters can step
//!   back by a tick or two (a known NO_HZ artefact), so a value lower than the one already seen
//!   is ignored, unless idle jumped back by 3 s or more, which means the CPU was hot-plugged and
//!   its counters restarted.

use std::collections::BTreeMap;

/// Mode names in the order of `/proc/stat` columns, as used in the `mode` label.
pub const MODES: [&str; 8] = [
    "user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal",
];

/// Index of `idle` and `iowait` in [`MODES`]: together they are "not busy".
const IDLE: usize = 3;
const IOWAIT: usize = 4;

/// node_exporter's threshold: an idle counter that goes back by this much means a reset.
const JUMP_BACK_SECONDS: f64 = 3.0;

/// The tick counters of one `cpuN` line of `/proc/stat`, in USER_HZ ticks, indexed like [`MODES`].
/// Guest columns are not kept: they are already inside `user` and `nice`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CpuTimes {
    pub ticks: [u64; 8],
}

impl CpuTimes {
    fn saturating_add(&self, other: &CpuTimes) -> CpuTimes {
        let mut sum = *self;
        for (s, o) in sum.ticks.iter_mut().zip(other.ticks) {
            *s = s.saturating_add(o);
        }
        sum
    }
}

/// What the probe uses from `/proc/stat`. Missing lines are `None`/empty, never an error.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProcStat {
    /// `cpuN` lines, by N. The aggregate `cpu` line is not used: node_exporter sums the
    /// per-CPU lines, and the aggregate also counts CPUs that are offline now.
    pub per_cpu: BTreeMap<u32, CpuTimes>,
    /// `btime`: boot time, seconds since the Unix epoch.
    pub boot_time_seconds: Option<u64>,
    pub procs_running: Option<u64>,
    pub procs_blocked: Option<u64>,
}

/// Parses `/proc/stat`. Truncated or malformed lines are skipped.
pub fn parse_proc_stat(text: &str) -> ProcStat {
    let mut stat = ProcStat::default();
    for line in text.lines() {
        let mut fields = line.split_ascii_whitespace();
        let Some(key) = fields.next() else { continue };
        if let Some(cpu_id) = key.strip_prefix("cpu") {
            // "cpu" alone is the aggregate line; "cpu12" is CPU 12.
            let Ok(cpu_id) = cpu_id.parse::<u32>() else {
                continue;
            };
            if let Some(times) = parse_cpu_columns(fields) {
                stat.per_cpu.insert(cpu_id, times);
            }
            continue;
        }
        let value = fields.next().and_then(|v| v.parse::<u64>().ok());
        match key {
            "btime" => stat.boot_time_seconds = value,
            "procs_running" => stat.procs_running = value,
            "procs_blocked" => stat.procs_blocked = value,
            _ => {}
        }
    }
    stat
}

/// The numeric columns after `cpuN`. Kernels before 2.6.11 have no `steal` column, so only the
/// first four (user nice system idle) are required; missing later columns count as zero.
fn parse_cpu_columns<'a>(fields: impl Iterator<Item = &'a str>) -> Option<CpuTimes> {
    let mut times = CpuTimes::default();
    let mut seen = 0;
    for (slot, field) in times.ticks.iter_mut().zip(fields) {
        *slot = field.parse().ok()?;
        seen += 1;
    }
    (seen >= 4).then_some(times)
}

/// Busy and per-mode ratios over one interval, each within 0..=1.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CpuUsage {
    /// 1 - (idle + iowait) / total.
    pub busy: f64,
    /// Share of each mode, indexed like [`MODES`].
    pub modes: [f64; 8],
}

impl CpuUsage {
    /// Ratios between two readings of the same counters; `None` when any counter went back
    /// (a reset: a ratio from it would be negative or above 1) or no time passed.
    pub fn between(before: &CpuTimes, after: &CpuTimes) -> Option<CpuUsage> {
        let mut deltas = [0u64; 8];
        for (delta, (b, a)) in deltas.iter_mut().zip(before.ticks.iter().zip(after.ticks)) {
            *delta = a.checked_sub(*b)?;
        }
        let total = deltas.iter().fold(0u64, |s, d| s.saturating_add(*d));
        if total == 0 {
            return None;
        }
        let total = total as f64;
        let modes = deltas.map(|d| d as f64 / total);
        let not_busy = (deltas[IDLE] + deltas[IOWAIT]) as f64 / total;
        Some(CpuUsage {
            busy: (1.0 - not_busy).clamp(0.0, 1.0),
            modes,
        })
    }
}

/// One reading digested by [`CpuTracker::observe`].
#[derive(Debug, Clone, PartialEq)]
pub struct CpuReading {
    /// Held (monotonic) counters summed over all CPUs: the source of `cpu_seconds_total`.
    pub total: CpuTimes,
    pub cpu_count: usize,
    /// Ratios since the previous reading; `None` on the first reading, after a reset, or when
    /// the set of CPUs changed (hot-plug).
    pub usage: Option<CpuUsage>,
    /// Busy ratio per CPU present in both readings.
    pub per_core_busy: Vec<(u32, f64)>,
}

/// Keeps the counters between runs: the monotonic per-CPU view and the previous reading.
#[derive(Debug, Clone)]
pub struct CpuTracker {
    jump_back_ticks: u64,
    held: BTreeMap<u32, CpuTimes>,
    has_previous: bool,
}

impl CpuTracker {
    pub fn new(ticks_per_second: f64) -> CpuTracker {
        CpuTracker {
            jump_back_ticks: (JUMP_BACK_SECONDS * ticks_per_second) as u64,
            held: BTreeMap::new(),
            has_previous: false,
        }
    }

    /// True until the first reading: ratios need a second one.
    pub fn is_unprimed(&self) -> bool {
        !self.has_previous
    }

    pub fn observe(&mut self, per_cpu: &BTreeMap<u32, CpuTimes>) -> CpuReading {
        let previous = std::mem::take(&mut self.held);
        let mut held = BTreeMap::new();
        for (&cpu, now) in per_cpu {
            let kept = match previous.get(&cpu) {
                Some(old) => hold_monotonic(old, now, self.jump_back_ticks),
                None => *now,
            };
            held.insert(cpu, kept);
        }

        let same_cpus = self.has_previous && previous.keys().eq(held.keys());
        let sum = |m: &BTreeMap<u32, CpuTimes>| {
            m.values()
                .fold(CpuTimes::default(), |acc, t| acc.saturating_add(t))
        };
        let total = sum(&held);
        let usage = if same_cpus {
            CpuUsage::between(&sum(&previous), &total)
        } else {
            None
        };
        let per_core_busy = held
            .iter()
            .filter_map(|(cpu, now)| {
                let usage = CpuUsage::between(previous.get(cpu)?, now)?;
                Some((*cpu, usage.busy))
            })
            .collect();

        self.has_previous = true;
        let cpu_count = held.len();
        self.held = held;
        CpuReading {
            total,
            cpu_count,
            usage,
            per_core_busy,
        }
    }
}

/// node_exporter's rule: if idle went back by `jump_back_ticks` or more, the CPU restarted its
/// counters (hot-plug) and the new values are taken as they are; otherwise each counter keeps
/// the larger of old and new, so a tick of jitter never makes a counter decrease.
fn hold_monotonic(old: &CpuTimes, new: &CpuTimes, jump_back_ticks: u64) -> CpuTimes {
    if old.ticks[IDLE].saturating_sub(new.ticks[IDLE]) >= jump_back_ticks {
        tracing::debug!(
            old_idle = old.ticks[IDLE],
            new_idle = new.ticks[IDLE],
            "cpu idle counter jumped back; assuming hot-plug and resetting"
        );
        return *new;
    }
    let mut kept = *old;
    for (k, n) in kept.ticks.iter_mut().zip(new.ticks) {
        *k = (*k).max(n);
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAT: &str = "\
cpu  52142 0 10084 46440 905 0 210 649 0 0
cpu0 25525 0 4492 24648 165 0 49 305 0 0
cpu1 26616 0 5591 21792 740 0 161 344 7 1
intr 513417 0 0 0 0
ctxt 916924
btime 1795806330
processes 11192
procs_running 4
procs_blocked 1
softirq 210877 0 26699 6 6618 61060 0 104 59324 0 57066
";

    fn times(ticks: [u64; 8]) -> CpuTimes {
        CpuTimes { ticks }
    }

    fn one_cpu(t: [u64; 8]) -> BTreeMap<u32, CpuTimes> {
        BTreeMap::from([(0, times(t))])
    }

    #[test]
    fn parses_per_cpu_lines_boot_time_and_procs() {
        let stat = parse_proc_stat(STAT);
        assert_eq!(stat.per_cpu.len(), 2);
        assert_eq!(
            stat.per_cpu[&0],
            times([25525, 0, 4492, 24648, 165, 0, 49, 305])
        );
        // Guest columns (7 and 1) are dropped: they are already inside user and nice.
        assert_eq!(
            stat.per_cpu[&1],
            times([26616, 0, 5591, 21792, 740, 0, 161, 344])
        );
        assert_eq!(stat.boot_time_seconds, Some(1795806330));
        assert_eq!(stat.procs_running, Some(4));
        assert_eq!(stat.procs_blocked, Some(1));
    }

    #[test]
    fn old_kernel_without_steal_column_counts_missing_columns_as_zero() {
        let stat = parse_proc_stat("cpu0 10 20 30 40 50 60 70\n");
        assert_eq!(stat.per_cpu[&0], times([10, 20, 30, 40, 50, 60, 70, 0]));
    }

    #[test]
    fn truncated_and_garbage_lines_are_skipped_without_panicking() {
        let stat = parse_proc_stat(
            "cpu0 1 2\ncpu1 1 2 x 4\ncpux 1 2 3 4\ncpu2 1 2 3 4\nbtime\nprocs_running -3\n\n",
        );
        assert_eq!(stat.per_cpu.keys().copied().collect::<Vec<_>>(), vec![2]);
        assert_eq!(stat.boot_time_seconds, None);
        assert_eq!(stat.procs_running, None);
        assert_eq!(parse_proc_stat(""), ProcStat::default());
    }

    #[test]
    fn ratios_over_an_interval() {
        let before = times([100, 0, 50, 800, 50, 0, 0, 0]);
        let after = times([160, 0, 70, 900, 70, 0, 0, 0]); // +60 user +20 sys +100 idle +20 iowait
        let usage = CpuUsage::between(&before, &after).unwrap();
        assert!((usage.busy - 0.4).abs() < 1e-12, "{usage:?}");
        assert!((usage.modes[0] - 0.3).abs() < 1e-12);
        assert!((usage.modes[IDLE] - 0.5).abs() < 1e-12);
        assert!((usage.modes.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    }

    #[test]
    fn counter_reset_or_no_time_gives_no_ratio_rather_than_a_wrong_one() {
        let before = times([100, 0, 50, 800, 50, 0, 0, 0]);
        let reset = times([5, 0, 1, 10, 0, 0, 0, 0]);
        assert_eq!(CpuUsage::between(&before, &reset), None);
        assert_eq!(CpuUsage::between(&before, &before), None);
    }

    #[test]
    fn first_reading_has_no_ratio_second_has() {
        let mut tracker = CpuTracker::new(100.0);
        assert!(tracker.is_unprimed());
        let first = tracker.observe(&one_cpu([100, 0, 0, 100, 0, 0, 0, 0]));
        assert_eq!(first.usage, None);
        assert!(first.per_core_busy.is_empty());
        assert_eq!(first.cpu_count, 1);
        assert!(!tracker.is_unprimed());
        let second = tracker.observe(&one_cpu([150, 0, 0, 150, 0, 0, 0, 0]));
        assert_eq!(second.usage.unwrap().busy, 0.5);
        assert_eq!(second.per_core_busy, vec![(0, 0.5)]);
    }

    #[test]
    fn iowait_stepping_back_a_tick_is_held_so_counters_and_ratios_stay_sane() {
        let mut tracker = CpuTracker::new(100.0);
        tracker.observe(&one_cpu([100, 0, 0, 100, 50, 0, 0, 0]));
        let r = tracker.observe(&one_cpu([200, 0, 0, 100, 49, 0, 0, 0]));
        // iowait 49 < 50: the held counter stays at 50, and the interval is all user.
        assert_eq!(r.total.ticks[IOWAIT], 50);
        let usage = r.usage.unwrap();
        assert_eq!(usage.busy, 1.0);
        assert!(usage.modes.iter().all(|m| (0.0..=1.0).contains(m)));
    }

    #[test]
    fn idle_jumping_back_3s_is_a_hotplug_reset_and_skips_the_ratio() {
        let mut tracker = CpuTracker::new(100.0);
        tracker.observe(&one_cpu([1000, 0, 0, 5000, 0, 0, 0, 0]));
        let r = tracker.observe(&one_cpu([10, 0, 0, 20, 0, 0, 0, 0]));
        assert_eq!(r.total, times([10, 0, 0, 20, 0, 0, 0, 0]));
        assert_eq!(r.usage, None);
        assert!(r.per_core_busy.is_empty());
        // And the next interval is measured from the new baseline.
        let next = tracker.observe(&one_cpu([20, 0, 0, 30, 0, 0, 0, 0]));
        assert_eq!(next.usage.unwrap().busy, 0.5);
    }

    #[test]
    fn a_cpu_coming_online_skips_the_total_ratio_but_keeps_per_core() {
        let mut tracker = CpuTracker::new(100.0);
        tracker.observe(&one_cpu([100, 0, 0, 100, 0, 0, 0, 0]));
        let mut two = one_cpu([150, 0, 0, 150, 0, 0, 0, 0]);
        two.insert(1, times([9000, 0, 0, 9000, 0, 0, 0, 0]));
        let r = tracker.observe(&two);
        assert_eq!(r.cpu_count, 2);
        assert_eq!(r.usage, None);
        assert_eq!(r.per_core_busy, vec![(0, 0.5)]);
    }

    #[test]
    fn total_sums_held_counters_over_cpus() {
        let mut tracker = CpuTracker::new(100.0);
        let r = tracker.observe(&parse_proc_stat(STAT).per_cpu);
        assert_eq!(r.total.ticks[0], 25525 + 26616);
        assert_eq!(r.total.ticks[7], 305 + 344);
    }
}
