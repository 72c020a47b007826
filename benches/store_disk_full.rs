//! Store recovery after a full disk (issue 15, finding 2), on the release binary: each episode
//! starts `lookout serve` with its data dir on a 16 MiB tmpfs, fills the tmpfs for 20 s while
//! an HTTP check goes critical, frees it, and measures how long the store takes to write again
//! (goal ≤ 10 s) and how long the alert raised meanwhile took to reach the SMTP sink (it is
//! delivered from memory; the episode asserts it arrives exactly once and is reconciled into
//! the store). The same episode as `tests/it/store_disk_full.rs`. Needs root (mount) and
//! aiosmtpd. Run with `cargo bench --bench store_disk_full` (LOOKOUT_BENCH_EPISODES, default 5).

#[path = "../tests/common/mod.rs"]
mod common;

use common::disk_full;

use std::time::Duration;

fn main() {
    let episodes: usize = std::env::var("LOOKOUT_BENCH_EPISODES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let mut recovery = Vec::new();
    let mut alert = Vec::new();
    for n in 1..=episodes {
        let mut s = disk_full::start();
        let filler = s.tmpfs.path.join("filler");
        let figures = disk_full::episode(
            &mut s,
            "disk full",
            |fs| {
                fs.fill();
            },
            |_| std::fs::remove_file(&filler).unwrap(),
        );
        println!(
            "episode {n}: store writes again {:.2} s after space returned; alert mailed {:.2} s after the check went critical (disk full)",
            figures.recovery.as_secs_f64(),
            figures.alert_delay.as_secs_f64()
        );
        recovery.push(figures.recovery);
        alert.push(figures.alert_delay);
        let _ = s.daemon.stop_with(libc::SIGTERM);
    }
    let summary = |v: &mut Vec<Duration>| {
        v.sort();
        format!(
            "min {:.2} s, median {:.2} s, max {:.2} s",
            v[0].as_secs_f64(),
            v[v.len() / 2].as_secs_f64(),
            v[v.len() - 1].as_secs_f64()
        )
    };
    println!(
        "recovery after space returned ({episodes} episodes): {} (goal <= {} s)",
        summary(&mut recovery),
        disk_full::RECOVERY_GOAL.as_secs()
    );
    println!(
        "alert raised during the episode, delivered once each time: {}",
        summary(&mut alert)
    );
}
