//! A deterministic simulator of a host's system metrics, shaped like what the system probe
//! reports (node_exporter-like): monotonic integer counters (bytes, packets, operations), integer
//! gauges moving by page multiples, slowly changing filesystem bytes and inodes, cpu mode ratios
//! computed from tick deltas, load averages with two decimals. Used by the store's benchmark and
//! tests to measure compression on realistic data; not used at run time.

use std::sync::Arc;

use crate::clock::UnixMillis;
use crate::model::{Observation, Sample, SeriesKey};

/// splitmix64: small, fast, deterministic; good enough for synthetic data.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn normal(&mut self) -> f64 {
        let u1 = self.unit().max(1e-12);
        let u2 = self.unit();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }

    /// Poisson-distributed count (normal approximation above λ = 30).
    pub fn poisson(&mut self, lambda: f64) -> u64 {
        if lambda <= 0.0 {
            return 0;
        }
        if lambda > 30.0 {
            return (lambda + lambda.sqrt() * self.normal()).round().max(0.0) as u64;
        }
        let l = (-lambda).exp();
        let mut k = 0;
        let mut p = 1.0;
        loop {
            p *= self.unit();
            if p <= l {
                return k;
            }
            k += 1;
        }
    }
}

const PAGE: u64 = 4096;
const CORES: u64 = 2;
const USER_HZ: u64 = 100;
const CPU_MODES: [&str; 8] = [
    "user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal",
];

/// The state of one simulated host.
#[derive(Debug, Clone)]
pub struct SystemSim {
    rng: Rng,
    keys: Vec<Arc<SeriesKey>>,
    activity: f64,
    load: [f64; 3],
    since_load_update_ms: i64,
    mem_free: u64,
    mem_cached: u64,
    mem_buffers: u64,
    swap_used: u64,
    fs_free: [u64; 2],
    fs_files_free: [u64; 2],
    disk: [u64; 5],
    disk_io_ms: u64,
    net: [[u64; 6]; 2],
    ctx: u64,
    intr: u64,
    forks: u64,
    filefd: u64,
}

const MEM_TOTAL: u64 = 4_028_395_520; // 3,933,980 kB, as /proc/meminfo reports it
const SWAP_TOTAL: u64 = 2_147_479_552;
const FS_SIZE: [u64; 2] = [52_576_092_160, 214_643_507_200];
const FS_FILES: [u64; 2] = [3_276_800, 13_107_200];
const BOOT_TIME: f64 = 1_699_000_000.0;

impl SystemSim {
    pub fn new(seed: u64) -> Self {
        let mut keys = Vec::new();
        let mut k = |key: SeriesKey| keys.push(Arc::new(key));
        for mode in CPU_MODES {
            k(SeriesKey::new("cpu_ratio").with("mode", mode));
        }
        for p in ["1m", "5m", "15m"] {
            k(SeriesKey::new("load_average").with("period", p));
        }
        for m in [
            "memory_total_bytes",
            "memory_available_bytes",
            "memory_free_bytes",
            "memory_cached_bytes",
            "memory_buffers_bytes",
            "memory_used_bytes",
            "swap_total_bytes",
            "swap_used_bytes",
        ] {
            k(SeriesKey::new(m));
        }
        for mp in ["/", "/var"] {
            for m in [
                "fs_size_bytes",
                "fs_free_bytes",
                "fs_avail_bytes",
                "fs_files",
                "fs_files_free",
            ] {
                k(SeriesKey::new(m).with("mountpoint", mp));
            }
        }
        for m in [
            "disk_read_bytes_total",
            "disk_written_bytes_total",
            "disk_reads_completed_total",
            "disk_writes_completed_total",
            "disk_io_time_seconds_total",
        ] {
            k(SeriesKey::new(m).with("device", "vda"));
        }
        for dev in ["eth0", "lo"] {
            for m in [
                "net_receive_bytes_total",
                "net_transmit_bytes_total",
                "net_receive_packets_total",
                "net_transmit_packets_total",
                "net_receive_errs_total",
                "net_transmit_drop_total",
            ] {
                k(SeriesKey::new(m).with("device", dev));
            }
        }
        for m in [
            "procs_running",
            "procs_blocked",
            "context_switches_total",
            "interrupts_total",
            "forks_total",
            "boot_time_seconds",
            "filefd_allocated",
            "tcp_established",
        ] {
            k(SeriesKey::new(m));
        }
        SystemSim {
            rng: Rng::new(seed),
            keys,
            activity: 0.3,
            load: [0.4, 0.35, 0.3],
            since_load_update_ms: 0,
            mem_free: 812_345 * PAGE / 4 * 4,
            mem_cached: 1_234_567 * PAGE / 4 * 4,
            mem_buffers: 45_678 * PAGE,
            swap_used: 12_345 * PAGE,
            fs_free: [21_474_836_480, 150_323_855_360],
            fs_files_free: [2_913_456, 12_998_123],
            disk: [12_345_678_848, 98_765_432_832, 1_234_567, 9_876_543, 0],
            disk_io_ms: 45_678_901,
            net: [
                [
                    987_654_321_012,
                    3_456_789_012_345,
                    1_234_567_890,
                    2_345_678_901,
                    0,
                    12,
                ],
                [
                    456_789_012_345,
                    456_789_012_345,
                    345_678_901,
                    345_678_901,
                    0,
                    0,
                ],
            ],
            ctx: 9_876_543_210,
            intr: 5_432_109_876,
            forks: 1_234_567,
            filefd: 2_016,
        }
    }

    /// The series this host reports, in sample order.
    pub fn keys(&self) -> &[Arc<SeriesKey>] {
        &self.keys
    }

    /// Advances the host by `dt_ms` and reports one observation stamped `at_ms`.
    pub fn tick(&mut self, at_ms: UnixMillis, dt_ms: i64) -> Observation {
        let dt = dt_ms as f64 / 1000.0;
        let r = &mut self.rng;
        // Activity: a slow random walk with a daily rhythm and rare bursts.
        let day = (at_ms as f64 / 86_400_000.0 * 2.0 * std::f64::consts::PI).sin();
        self.activity += 0.02 * r.normal() * dt.sqrt() + 0.001 * (0.3 + 0.2 * day - self.activity);
        if r.unit() < 0.0005 * dt {
            self.activity += 0.4;
        }
        self.activity = self.activity.clamp(0.02, 1.0);
        let a = self.activity;

        let mut values: Vec<f64> = Vec::with_capacity(self.keys.len());

        // cpu: ticks per mode over the interval, as ratios of the total.
        let total_ticks = (CORES * USER_HZ) as f64 * dt;
        let user = r.poisson(total_ticks * (0.03 + 0.35 * a)) as f64;
        let nice = r.poisson(total_ticks * 0.001) as f64;
        let system = r.poisson(total_ticks * (0.01 + 0.08 * a)) as f64;
        let iowait = r.poisson(total_ticks * 0.005 * (1.0 + a)) as f64;
        let irq = r.poisson(total_ticks * 0.0005) as f64;
        let softirq = r.poisson(total_ticks * (0.002 + 0.01 * a)) as f64;
        let steal = r.poisson(total_ticks * 0.002) as f64;
        let jitter = [-1.0, 0.0, 0.0, 0.0, 1.0][(r.next_u64() % 5) as usize];
        let busy = user + nice + system + iowait + irq + softirq + steal;
        let total = (total_ticks + jitter).max(busy);
        let idle = total - busy;
        for t in [user, nice, system, idle, iowait, irq, softirq, steal] {
            values.push(t / total);
        }

        // load averages: the kernel updates them every 5 s.
        self.since_load_update_ms += dt_ms;
        while self.since_load_update_ms >= 5_000 {
            self.since_load_update_ms -= 5_000;
            let running = (r.poisson(CORES as f64 * 1.5 * a) + 1) as f64;
            for (i, period) in [60.0f64, 300.0, 900.0].into_iter().enumerate() {
                let e = (-5.0 / period).exp();
                self.load[i] = self.load[i] * e + running * (1.0 - e);
            }
        }
        for l in self.load {
            values.push((l * 100.0).round() / 100.0);
        }

        // memory: page-granular drift.
        let churn = |r: &mut Rng, scale: f64| -> i64 {
            let n = r.poisson(scale) as i64;
            if r.unit() < 0.5 { -n } else { n }
        };
        let d_free = churn(r, 40.0 * dt * (0.2 + a)) * PAGE as i64;
        self.mem_free = (self.mem_free as i64 + d_free).clamp(50_000_000, 2_000_000_000) as u64;
        if r.unit() < 0.3 {
            let d = churn(r, 5.0) * PAGE as i64 + r.poisson(3.0) as i64 * PAGE as i64;
            self.mem_cached = (self.mem_cached as i64 + d).clamp(100_000_000, 1_800_000_000) as u64;
        }
        if r.unit() < 0.05 {
            self.mem_buffers =
                (self.mem_buffers as i64 + churn(r, 2.0) * PAGE as i64).max(PAGE as i64) as u64;
        }
        if r.unit() < 0.001 {
            self.swap_used += r.poisson(10.0) * PAGE;
        }
        let used = MEM_TOTAL.saturating_sub(self.mem_free + self.mem_cached + self.mem_buffers);
        let available = self.mem_free + self.mem_cached + self.mem_buffers / 2;
        for v in [
            MEM_TOTAL,
            available,
            self.mem_free,
            self.mem_cached,
            self.mem_buffers,
            used,
            SWAP_TOTAL,
            self.swap_used,
        ] {
            values.push(v as f64);
        }

        // filesystems: logs and data growing, rare cleanups.
        for i in 0..2 {
            if r.unit() < 0.3 {
                self.fs_free[i] = self.fs_free[i].saturating_sub(r.poisson(3.0) * PAGE);
            }
            if r.unit() < 0.0002 {
                self.fs_free[i] += r.poisson(1000.0) * PAGE;
            }
            if r.unit() < 0.02 {
                let n = r.poisson(1.0);
                self.fs_files_free[i] = self.fs_files_free[i].saturating_sub(n);
            }
            let reserved = FS_SIZE[i] / 20;
            for v in [
                FS_SIZE[i],
                self.fs_free[i],
                self.fs_free[i].saturating_sub(reserved),
                FS_FILES[i],
                self.fs_files_free[i],
            ] {
                values.push(v as f64);
            }
        }

        // disk: bursts of operations of 4 KiB multiples.
        let reads = r.poisson(dt * 3.0 * a);
        let writes = r.poisson(dt * (4.0 + 30.0 * a));
        let mut read_bytes = 0;
        for _ in 0..reads {
            read_bytes += (1 + r.next_u64() % 32) * PAGE;
        }
        let mut written_bytes = 0;
        for _ in 0..writes {
            written_bytes += (1 + r.next_u64() % 8) * PAGE;
        }
        self.disk[0] += read_bytes;
        self.disk[1] += written_bytes;
        self.disk[2] += reads;
        self.disk[3] += writes;
        self.disk_io_ms += ((reads + writes) * (r.next_u64() % 3)).min(dt_ms as u64);
        for v in &self.disk[..4] {
            values.push(*v as f64);
        }
        values.push(self.disk_io_ms as f64 / 1000.0);

        // network: web requests on eth0, app <-> database on lo.
        let requests = r.poisson(dt * (5.0 + 150.0 * a)) as f64;
        let queries = r.poisson(requests * 3.0) as f64;
        for (i, (n, rx_size, tx_size)) in [(requests, 700.0, 9_000.0), (queries, 300.0, 2_000.0)]
            .into_iter()
            .enumerate()
        {
            let rx = (n * rx_size * (1.0 + 0.3 * r.normal()).max(0.1)).round() as u64;
            let tx = (n * tx_size * (1.0 + 0.5 * r.normal()).max(0.1)).round() as u64;
            let rx_p = (n * 3.0).round() as u64 + r.poisson(0.5);
            let tx_p = tx.div_ceil(1448) + (n * 2.0) as u64;
            let net = &mut self.net[i];
            net[0] += rx;
            net[1] += tx;
            net[2] += rx_p;
            net[3] += tx_p;
            if r.unit() < 0.0001 {
                net[5] += 1;
            }
            for v in *net {
                values.push(v as f64);
            }
        }

        // processes and kernel counters.
        let running = 1 + r.poisson(CORES as f64 * a);
        let blocked = r.poisson(0.05);
        self.ctx += r.poisson(dt * (800.0 + 6_000.0 * a));
        self.intr += r.poisson(dt * (500.0 + 3_000.0 * a));
        self.forks += r.poisson(dt * (0.2 + 2.0 * a));
        if r.unit() < 0.2 {
            self.filefd = (self.filefd as i64 + churn(r, 3.0)).max(500) as u64;
        }
        let tcp = 10 + r.poisson(requests / 10.0 + 5.0);
        for v in [
            running as f64,
            blocked as f64,
            self.ctx as f64,
            self.intr as f64,
            self.forks as f64,
            BOOT_TIME,
            self.filefd as f64,
            tcp as f64,
        ] {
            values.push(v);
        }

        debug_assert_eq!(values.len(), self.keys.len());
        Observation {
            source: "system".into(),
            at_ms,
            samples: self
                .keys
                .iter()
                .zip(values)
                .map(|(k, value)| Sample {
                    series: k.clone(),
                    value,
                })
                .collect(),
            checks: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simulator_is_deterministic_and_counters_are_monotonic() {
        let mut a = SystemSim::new(7);
        let mut b = SystemSim::new(7);
        let n = a.keys().len();
        assert!((50..=60).contains(&n), "{n} series");
        let mut prev: Option<Observation> = None;
        for i in 0..600 {
            let oa = a.tick(i * 1000, 1000);
            let ob = b.tick(i * 1000, 1000);
            assert_eq!(oa.samples, ob.samples);
            if let Some(p) = &prev {
                for (s, q) in oa.samples.iter().zip(&p.samples) {
                    if s.series.name().ends_with("_total") {
                        assert!(s.value >= q.value, "{} went down", s.series);
                    }
                }
            }
            let ratio_sum: f64 = oa.samples[..8].iter().map(|s| s.value).sum();
            assert!((ratio_sum - 1.0).abs() < 1e-9);
            prev = Some(oa);
        }
    }
}
