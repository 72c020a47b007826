//! Property: any config that `lookout config check` accepts starts `lookout serve` without
//! panicking. Configs are generated from a grammar of the real keys (those of `config init`'s
//! template and the presets) with extreme values: zero, negative, huge and fractional
//! durations, counts, sizes, percents and ports, empty and non-ASCII strings. Each one goes
//! through `config check`; each accepted one runs `serve` (its own data dir, listening on
//! 127.0.0.1:0, every target on loopback) for about 2 s, which must not panic: no "panicked"
//! in its stderr, no exit code 101.
//!
//! Deterministic: a seeded PRNG (splitmix64) makes the configs; the seed and the number of
//! cases are printed and can be set with LOOKOUT_CONFIG_PROPERTY_SEED and
//! LOOKOUT_CONFIG_PROPERTY_CASES for longer runs. A failure prints the config that broke.

use crate::common;

use std::fmt::Write as _;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::common::lookout;

const DEFAULT_SEED: u64 = 20_261_206;
const DEFAULT_CASES: usize = 80;
/// Accepted configs whose `serve` runs at once.
const PARALLEL: usize = 4;
/// How long each `serve` runs before it is stopped.
const RUN_FOR: Duration = Duration::from_secs(2);

/// splitmix64 (small, fast, and good enough to pick grammar branches), and how many extreme
/// values the config being generated may still get.
struct Rng {
    state: u64,
    extremes_left: u32,
}

impl Rng {
    fn next(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn pick<'a, T: ?Sized>(&mut self, items: &[&'a T]) -> &'a T {
        items[self.below(items.len())]
    }

    /// Whether the next value is extreme: one time in six, while the config's budget lasts.
    /// A few extremes per config, spread over its keys, the other keys typical: a config full
    /// of extremes would nearly always be rejected, and never reach `serve`.
    fn extreme(&mut self) -> bool {
        if self.extremes_left > 0 && self.chance(16) {
            self.extremes_left -= 1;
            true
        } else {
            false
        }
    }

    /// A number of any magnitude: `u64` shifted right by 0..64 bits.
    fn magnitude(&mut self) -> u64 {
        let shift = self.below(64) as u32;
        self.next() >> shift
    }
}

/// A duration: one of the key's `typical` values, or an extreme one.
fn duration(rng: &mut Rng, typical: &[&str]) -> String {
    if !rng.extreme() {
        return quoted(rng.pick(typical));
    }
    if rng.chance(60) {
        let unit = rng.pick(&["ms", "s", "m", "h", "d", "w"]);
        return quoted(&format!("{}{unit}", rng.magnitude()));
    }
    quoted(rng.pick(&[
        "0s",
        "0ms",
        "1ms",
        "-1s",
        "6148914691236517206s",
        "18446744073709551615s",
        "18446744073709551616s",
        "9223372036854775807ms",
        "213503982334601d",
        "30500w",
        "4294967296s",
        "1.999999999s",
        "0.000000001s",
        "1s 1ms",
        "99999999999999999999999d",
        "",
        "10",
        "1e3s",
    ]))
}

fn size(rng: &mut Rng, typical: &[&str]) -> String {
    if !rng.extreme() {
        return quoted(rng.pick(typical));
    }
    if rng.chance(40) {
        let unit = rng.pick(&["", "B", "KiB", "MiB", "GiB", "TiB", "kB", "GB"]);
        return quoted(&format!("{}{unit}", rng.magnitude()));
    }
    quoted(rng.pick(&[
        "0B",
        "1B",
        "0KiB",
        "4KiB",
        "4095B",
        "1MiB",
        "18446744073709551615B",
        "18446744073709551616B",
        "17179869184GiB",
        "16777216TiB",
        "9223372036854775807",
        "-1MiB",
        "0.5B",
        "",
    ]))
}

fn percent(rng: &mut Rng, typical: &[&str]) -> String {
    if !rng.extreme() {
        return quoted(rng.pick(typical));
    }
    rng.pick(&[
        "\"0%\"",
        "\"100%\"",
        "\"100.0001%\"",
        "\"-1%\"",
        "\"0.000000001%\"",
        "\"99.9999999999%\"",
        "\"1e3%\"",
        "\"nan%\"",
        "0.8",
        "0",
        "1",
        "1.5",
        "-0.1",
        "1e308",
        "nan",
        "inf",
    ])
    .to_string()
}

fn count(rng: &mut Rng, typical: &[&str]) -> String {
    if !rng.extreme() {
        return rng.pick(typical).to_string();
    }
    if rng.chance(30) {
        return rng.magnitude().min(i64::MAX as u64).to_string();
    }
    rng.pick(&[
        "0",
        "-1",
        "1",
        "100",
        "1000",
        "1000000",
        "1000001",
        "2147483647",
        "4294967295",
        "4294967296",
        "9223372036854775807",
        "-9223372036854775808",
        "1.5",
        "\"10\"",
    ])
    .to_string()
}

fn boolean(rng: &mut Rng) -> String {
    rng.pick(&["true", "false"]).to_string()
}

fn text(rng: &mut Rng, typical: &[&str]) -> String {
    if !rng.extreme() {
        return quoted(rng.pick(typical));
    }
    let long = "x".repeat(1000);
    quoted(match rng.below(7) {
        0 => "",
        1 => "é✓😀 ünïcödé",
        2 => "\u{0}\u{7}",
        3 => &long,
        4 => " ",
        5 => "{{value}} {{labels.x}} {{",
        _ => "${LOOKOUT_PROPERTY_UNSET}",
    })
}

/// A port, mostly closed ones on loopback; sometimes out of range.
fn port(rng: &mut Rng) -> String {
    if !rng.extreme() {
        return rng.pick(&["1", "9", "7"]).to_string();
    }
    rng.pick(&[
        "0",
        "65535",
        "65536",
        "65616",
        "99999999",
        "18446744073709551616",
        "-1",
        "",
    ])
    .to_string()
}

fn url(rng: &mut Rng, path: &str) -> String {
    let scheme = if rng.chance(20) { "https" } else { "http" };
    let host = if rng.chance(15) { "[::1]" } else { "127.0.0.1" };
    let query = if path == "/health" && rng.chance(15) {
        "?api_key=x&b=é"
    } else {
        ""
    };
    quoted(&format!("{scheme}://{host}:{}{path}{query}", port(rng)))
}

/// A TOML basic string holding `text` (JSON string escapes are valid TOML ones, apart from DEL).
fn quoted(text: &str) -> String {
    serde_json::to_string(text)
        .expect("a string serializes")
        .replace('\u{7f}', "\\u007f")
}

/// Each key of a table: written with probability `percent`.
struct Table<'a> {
    out: &'a mut String,
}

impl Table<'_> {
    fn key(
        &mut self,
        rng: &mut Rng,
        percent: u64,
        name: &str,
        value: impl FnOnce(&mut Rng) -> String,
    ) {
        if rng.chance(percent) {
            let value = value(rng);
            let _ = writeln!(self.out, "{name} = {value}");
        }
    }
}

fn header<'a>(out: &'a mut String, name: &str) -> Table<'a> {
    let _ = writeln!(out, "\n{name}");
    Table { out }
}

// Value makers for `Table::key`, each with the key's typical values: they agree with the
// defaults of the other keys (e.g. a typical `timeout` is below the default `interval`), so a
// config is rejected only for its extreme values.
fn d(typical: &'static [&'static str]) -> impl FnOnce(&mut Rng) -> String {
    move |rng| duration(rng, typical)
}
fn z(typical: &'static [&'static str]) -> impl FnOnce(&mut Rng) -> String {
    move |rng| size(rng, typical)
}
fn pc(typical: &'static [&'static str]) -> impl FnOnce(&mut Rng) -> String {
    move |rng| percent(rng, typical)
}
fn n(typical: &'static [&'static str]) -> impl FnOnce(&mut Rng) -> String {
    move |rng| count(rng, typical)
}
fn t(typical: &'static [&'static str]) -> impl FnOnce(&mut Rng) -> String {
    move |rng| text(rng, typical)
}
fn fixed(value: String) -> impl FnOnce(&mut Rng) -> String {
    move |_| value
}

/// One config. `dir` is the case's own directory (data dir, log files).
fn generate(rng: &mut Rng, dir: &Path) -> String {
    let mut out = String::new();
    let p = 20; // how often an optional key is written
    let dir_text = dir.display().to_string();

    let mut s = header(&mut out, "[server]");
    s.key(rng, 100, "listen", fixed(quoted("127.0.0.1:0")));
    s.key(rng, p, "session_idle_timeout", d(&["30m", "5m"]));
    s.key(rng, p, "session_max_age", d(&["12h", "1d"]));
    s.key(rng, p, "metrics_refresh", d(&["1s", "0s", "10s"]));

    let mut s = header(&mut out, "[storage]");
    s.key(rng, 100, "path", fixed(quoted(&format!("{dir_text}/data"))));
    s.key(rng, p, "max_size", z(&["1GiB", "10MiB"]));
    s.key(rng, p, "flush_interval", d(&["1s", "10s", "500ms"]));
    if rng.chance(30) {
        let mut s = header(&mut out, "[storage.retention]");
        s.key(rng, 30, "raw", d(&["7d", "1d"]));
        s.key(rng, 30, "minute", d(&["90d"]));
        s.key(rng, 30, "hour", d(&["730d"]));
    }

    if rng.chance(50) {
        let mut s = header(&mut out, "[system]");
        s.key(rng, 10, "enabled", boolean);
        s.key(rng, 60, "interval", d(&["10s", "1s", "1m"]));
        s.key(rng, p, "per_core", boolean);
        if rng.chance(30) {
            let mut s = header(&mut out, "[system.thresholds]");
            for key in ["cpu_warning", "memory_warning", "disk_warning"] {
                s.key(rng, p, key, pc(&["50%", "70%", "80%"]));
            }
            for key in ["cpu_critical", "memory_critical", "disk_critical"] {
                s.key(rng, p, key, pc(&["96%", "99%"]));
            }
        }
    }

    if rng.chance(20) {
        let mut s = header(&mut out, "[log]");
        s.key(rng, p, "level", |r| {
            quoted(r.pick(&[
                "info",
                "debug",
                "warn",
                "error",
                "lookout=debug,info",
                "loud",
            ]))
        });
        s.key(rng, p, "format", |r| quoted(r.pick(&["text", "json"])));
        if rng.chance(30) {
            s.key(rng, 100, "output", fixed(quoted("file")));
            s.key(
                rng,
                100,
                "file",
                fixed(quoted(&format!("{dir_text}/lookout.log"))),
            );
        }
        s.key(rng, p, "max_size", z(&["10MiB", "1MiB"]));
        s.key(rng, p, "max_age", d(&["1d", "1h"]));
        s.key(rng, p, "keep", n(&["7", "1"]));
    }

    if rng.chance(40) {
        let mut s = header(&mut out, "[alerts]");
        s.key(rng, p, "cooldown", d(&["15m", "1m"]));
        s.key(rng, p, "cooldown_critical", d(&["5m"]));
        s.key(rng, p, "cooldown_warning", d(&["30m"]));
        s.key(rng, p, "group_wait", d(&["10s", "30s"]));
        s.key(rng, p, "group_wait_critical", d(&["0s", "5s"]));
        s.key(rng, p, "group_interval", d(&["1m"]));
        s.key(rng, p, "evaluation_interval", d(&["1s", "5s"]));
        s.key(rng, p, "send_resolved", boolean);
        s.key(rng, p, "host", t(&["web-1"]));
        s.key(rng, p, "for_critical", d(&["15s", "0s", "1m"]));
        s.key(rng, p, "implied_dependencies", boolean);
        if rng.chance(30) {
            let mut s = header(&mut out, "[alerts.flapping]");
            s.key(rng, p, "enabled", boolean);
            s.key(rng, 50, "window", d(&["10m", "1s", "1d"]));
            s.key(rng, 50, "changes", n(&["5", "2", "1000"]));
            s.key(rng, 50, "stable_for", d(&["2m", "1s", "1d"]));
        }
        for i in 0..rng.below(3) {
            let mut s = header(&mut out, "[[alerts.rule]]");
            match rng.below(3) {
                0 => {
                    let name = ["cpu_usage", "memory_usage", "disk_usage"][i];
                    s.key(rng, 100, "name", fixed(quoted(name)));
                    s.key(rng, 70, "warning", pc(&["50%", "70%"]));
                    s.key(rng, 30, "critical", pc(&["96%", "99%"]));
                }
                1 => {
                    s.key(rng, 100, "name", fixed(format!("\"own_{i}\"")));
                    s.key(rng, 100, "metric", fixed(quoted("cpu_usage_ratio")));
                    s.key(rng, 100, "warning", pc(&["80%"]));
                    s.key(rng, 30, "summary", t(&["{{value}} on {{host}}"]));
                }
                _ => {
                    s.key(rng, 100, "name", fixed(format!("\"silent_{i}\"")));
                    s.key(rng, 100, "no_data", n(&["3", "1", "1000"]));
                }
            }
            s.key(rng, 30, "for", d(&["2m", "0s", "10m"]));
            s.key(rng, 20, "for_critical", d(&["0s"]));
            s.key(
                rng,
                20,
                "summary_resolved",
                t(&["{{rule}} fine on {{host}}"]),
            );
            s.key(rng, p, "cooldown", d(&["1h"]));
            s.key(rng, p, "cooldown_critical", d(&["30m"]));
            s.key(rng, p, "cooldown_warning", d(&["2h"]));
        }
    }

    for i in 0..rng.below(4) {
        let kind = rng.pick(&["http", "prometheus", "tcp", "log", "sqlite"]);
        let mut s = header(&mut out, "[[check]]");
        s.key(rng, 100, "name", fixed(format!("\"c{i}\"")));
        s.key(rng, 100, "type", fixed(quoted(kind)));
        s.key(rng, 40, "interval", d(&["30s", "10s", "1m"]));
        s.key(rng, 30, "timeout", d(&["5s", "1s"]));
        s.key(rng, p, "retries", n(&["0", "1", "10"]));
        s.key(rng, p, "recover_after", n(&["1", "2"]));
        s.key(rng, p, "error_window", d(&["5m", "1m"]));
        // An earlier check (a graph without cycles), none, or now and then this one (a cycle).
        s.key(rng, p, "depends_on", |r| match (i, r.extreme()) {
            (_, true) => format!("[\"c{i}\"]"),
            (0, false) => "[]".to_string(),
            (_, false) => format!("[\"c{}\"]", r.below(i)),
        });
        match kind {
            "http" | "prometheus" => {
                s.key(rng, 100, "url", |r| url(r, "/health"));
                s.key(rng, p, "max_body", z(&["1MiB", "64KiB"]));
                s.key(rng, p, "follow_redirects", |r| {
                    if r.chance(50) {
                        boolean(r)
                    } else {
                        count(r, &["0", "5", "20"])
                    }
                });
                s.key(rng, p, "response_time_warning", d(&["1s", "2s"]));
                s.key(rng, p, "response_time_critical", d(&["5s", "10s"]));
                s.key(rng, p, "cert_expiry_warning", d(&["14d", "30d"]));
                s.key(rng, p, "cert_expiry_critical", d(&["3d", "1d"]));
                if kind == "prometheus" {
                    s.key(rng, 30, "max_samples", n(&["10000", "1", "1000000"]));
                    s.key(rng, p, "prefix", t(&["app_", ""]));
                } else {
                    s.key(rng, p, "body_contains", t(&["ok"]));
                    if rng.chance(30) {
                        let mut s = header(&mut out, "[[check.assert]]");
                        s.key(rng, 100, "json_pointer", |r| {
                            quoted(r.pick(&["/status", "", "/a~1b/0", "/é"]))
                        });
                        s.key(rng, 100, "less_than", |r| {
                            r.pick(&["0", "1e308", "-1e308", "nan", "inf", "50"])
                                .to_string()
                        });
                    }
                }
            }
            "tcp" => {
                s.key(rng, 100, "address", |r| {
                    quoted(&format!("127.0.0.1:{}", port(r)))
                });
                s.key(rng, p, "response_time_warning", d(&["1s", "2s"]));
                s.key(rng, p, "response_time_critical", d(&["5s", "10s"]));
            }
            "log" => {
                s.key(
                    rng,
                    100,
                    "path",
                    fixed(quoted(&format!("{dir_text}/app.log"))),
                );
                s.key(rng, p, "from_start", boolean);
                s.key(rng, 30, "max_bytes_per_run", z(&["8MiB", "4KiB"]));
                s.key(rng, p, "keep_samples", boolean);
                let mut s = header(&mut out, "[[check.pattern]]");
                s.key(rng, 100, "name", fixed(quoted("errors")));
                s.key(rng, 100, "regex", |r| {
                    quoted(r.pick(&["(?i)error", "", "é+", "^$"]))
                });
                s.key(rng, 30, "warning", n(&["10", "1"]));
                s.key(rng, 30, "critical", n(&["50", "100"]));
            }
            _ => {
                s.key(
                    rng,
                    100,
                    "dsn",
                    fixed(quoted(&format!("sqlite://{dir_text}/app.db"))),
                );
                s.key(rng, p, "ping_warning", d(&["1s", "500ms"]));
                s.key(rng, p, "ping_critical", d(&["3s", "4s"]));
                s.key(rng, p, "slow_query_threshold", d(&["1s"]));
                s.key(rng, p, "statement_timeout", d(&["4s", "1s"]));
            }
        }
    }

    if rng.chance(20) {
        let mut s = header(&mut out, "[[notifier]]");
        s.key(rng, 100, "name", fixed(quoted("hook")));
        if rng.chance(50) {
            s.key(rng, 100, "type", fixed(quoted("webhook")));
            s.key(rng, 100, "url", |r| url(r, "/hook"));
        } else {
            s.key(rng, 100, "type", fixed(quoted("alertmanager")));
            s.key(rng, 100, "urls", |r| format!("[{}]", url(r, "")));
            s.key(rng, 30, "resend_interval", d(&["1m"]));
        }
        s.key(rng, 30, "timeout", d(&["10s", "1s"]));
    }

    if rng.chance(20) {
        let mut s = header(&mut out, "[[remote_write]]");
        s.key(rng, 100, "url", |r| url(r, "/api/v1/write"));
        s.key(rng, 30, "batch_size", n(&["2000", "1"]));
        s.key(rng, 30, "flush_interval", d(&["5s", "1s"]));
        s.key(rng, 30, "timeout", d(&["30s", "5s"]));
        s.key(rng, 30, "max_queued_samples", n(&["1000000", "100000"]));
        s.key(rng, 30, "max_backoff", d(&["5s", "1m"]));
    }

    if rng.chance(15) {
        let mut s = header(&mut out, "[heartbeat]");
        s.key(rng, 100, "url", |r| url(r, "/ping"));
        s.key(rng, 40, "interval", d(&["1m", "30s"]));
        s.key(rng, 40, "timeout", d(&["10s", "1s"]));
    }

    if rng.chance(25) {
        let mut s = header(&mut out, "[maintenance]");
        s.key(rng, 30, "grace", d(&["2m", "0s"]));
        s.key(rng, 30, "overrun_tolerance", d(&["5m"]));
        if rng.chance(30) {
            let mut s = header(&mut out, "[maintenance.source]");
            s.key(rng, 100, "type", fixed(quoted("http")));
            s.key(rng, 100, "url", |r| url(r, "/maintenance"));
            s.key(rng, 40, "interval", d(&["15s"]));
            s.key(rng, 40, "timeout", d(&["5s"]));
        }
        for i in 0..rng.below(3) {
            let mut s = header(&mut out, "[[maintenance.window]]");
            s.key(rng, 100, "name", fixed(format!("\"w{i}\"")));
            if rng.chance(50) {
                s.key(rng, 100, "cron", |r| {
                    quoted(r.pick(&["0 2 * * SUN", "* * * * *", "0 0 31 2 *", "0 2 * * MON#5"]))
                });
                s.key(rng, 30, "timezone", |r| {
                    quoted(r.pick(&["UTC", "Europe/Berlin", "Pacific/Kiritimati", "Etc/GMT+12"]))
                });
            } else {
                s.key(rng, 100, "start", |r| {
                    quoted(r.pick(&[
                        "2026-12-06T00:00:00Z",
                        "9999-12-31T23:59:59Z",
                        "0001-01-01T00:00:00Z",
                        "1970-01-01T00:00:00Z",
                        "2026-12-06T00:00:00+14:00",
                        "2262-04-11T23:47:16Z",
                    ]))
                });
            }
            s.key(rng, 100, "duration", d(&["1h", "7d"]));
        }
    }
    out
}

/// A `serve` that was started, with where its stderr goes.
struct Running {
    case: usize,
    config: String,
    child: Child,
    stderr: std::path::PathBuf,
    started: Instant,
    _dir: tempfile::TempDir,
}

/// What went wrong with one accepted config, if anything.
fn finish(mut run: Running) -> Option<String> {
    // Stop it if it still runs; a panic during shutdown counts too.
    if run.child.try_wait().ok().flatten().is_none() {
        unsafe { libc::kill(run.child.id() as i32, libc::SIGTERM) };
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(status) = run.child.try_wait().expect("wait for lookout serve") {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = run.child.kill();
            let _ = run.child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let log = std::fs::read_to_string(&run.stderr).unwrap_or_default();
    common::collect_log("daemon", &log);
    let problem = match status {
        _ if log.contains("panicked") => Some("panicked".to_string()),
        Some(status) if status.code() == Some(101) => Some("exited with 101".to_string()),
        None => Some("did not stop within 15 s of SIGTERM".to_string()),
        _ => None,
    };
    problem.map(|what| {
        format!(
            "case {}: `lookout serve` {what} on a config `config check` accepts:\n{}\n--- stderr ---\n{}",
            run.case,
            run.config,
            excerpt(&log)
        )
    })
}

/// The first lines of a log and the lines of each panic (message and location).
fn excerpt(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    let mut keep: Vec<usize> = (0..lines.len().min(5)).collect();
    for (i, line) in lines.iter().enumerate() {
        if line.contains("panicked") {
            keep.extend(i..(i + 3).min(lines.len()));
        }
    }
    keep.sort_unstable();
    keep.dedup();
    keep.iter()
        .map(|&i| lines[i])
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn every_config_check_accepts_starts_serve_without_panicking() {
    let _machine = crate::common::machine::shared();
    let seed = std::env::var("LOOKOUT_CONFIG_PROPERTY_SEED")
        .ok()
        .map(|s| {
            s.parse::<u64>()
                .expect("LOOKOUT_CONFIG_PROPERTY_SEED is a u64")
        })
        .unwrap_or(DEFAULT_SEED);
    let cases = std::env::var("LOOKOUT_CONFIG_PROPERTY_CASES")
        .ok()
        .map(|s| {
            s.parse::<usize>()
                .expect("LOOKOUT_CONFIG_PROPERTY_CASES is a count")
        })
        .unwrap_or(DEFAULT_CASES);
    eprintln!(
        "config property: seed {seed}, {cases} cases (LOOKOUT_CONFIG_PROPERTY_SEED, LOOKOUT_CONFIG_PROPERTY_CASES)"
    );
    // LOOKOUT_CONFIG_PROPERTY_VERBOSE=1: why each rejected config was rejected.
    let verbose = std::env::var_os("LOOKOUT_CONFIG_PROPERTY_VERBOSE").is_some();
    let mut rng = Rng {
        state: seed,
        extremes_left: 0,
    };
    let mut accepted = 0;
    let mut failures = Vec::new();
    let mut running: Vec<Running> = Vec::new();
    for case in 0..cases {
        let dir = tempfile::tempdir().expect("temp dir");
        rng.extremes_left = 1 + rng.below(2) as u32;
        let config = generate(&mut rng, dir.path());
        let path = dir.path().join("lookout.toml");
        std::fs::write(&path, &config).expect("write the config");
        let check = common::output(lookout().args(["config", "check"]).arg(&path));
        let stderr = common::text(&check.stderr);
        if stderr.contains("panicked") || check.status.code() == Some(101) {
            failures.push(format!(
                "case {case}: `config check` panicked:\n{config}\n{stderr}"
            ));
            continue;
        }
        if !check.status.success() {
            if verbose {
                eprintln!("case {case}: rejected: {}", stderr.trim());
            }
            continue;
        }
        accepted += 1;
        if running.len() == PARALLEL {
            let oldest = running.remove(0);
            let left = RUN_FOR.saturating_sub(oldest.started.elapsed());
            std::thread::sleep(left);
            failures.extend(finish(oldest));
        }
        let stderr = dir.path().join("serve.stderr");
        let child = lookout()
            .args(["serve", "--config"])
            .arg(&path)
            .env("RUST_BACKTRACE", "0")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&stderr).expect("stderr file"))
            .spawn()
            .expect("spawn lookout serve");
        running.push(Running {
            case,
            config,
            child,
            stderr,
            started: Instant::now(),
            _dir: dir,
        });
    }
    for run in running {
        std::thread::sleep(RUN_FOR.saturating_sub(run.started.elapsed()));
        failures.extend(finish(run));
    }
    eprintln!("config property: {accepted} of {cases} configs accepted and served");
    assert!(
        accepted * 5 >= cases,
        "only {accepted} of {cases} generated configs were accepted: the grammar no longer matches the keys"
    );
    assert!(
        failures.is_empty(),
        "seed {seed}: {} failures\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}
