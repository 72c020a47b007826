//! The log check on real files in a temporary directory: counting per pattern across runs,
//! thresholds, rotation (rename + new file), truncation (copytruncate), a missing file that
//! appears, an unreadable path, partial lines, bounded reads, invalid UTF-8, and that matched
//! text never reaches the outcome unless `keep_samples = true`.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::Path;

use lookout::config::{CheckConfig, from_str};
use lookout::model::{Observation, Status};
use lookout::probes::Probe;
use lookout::probes::checks::CheckProbe;

fn no_env(_: &str) -> Option<String> {
    None
}

fn check(path: &Path, extra: &str) -> CheckConfig {
    let text = format!(
        "[[check]]\nname = \"applog\"\ntype = \"log\"\ninterval = \"10s\"\npath = \"{}\"\n{extra}\n\
         [[check.pattern]]\nname = \"blocked\"\nregex = \"maintenance_operation_blocked\"\nwarning = 3\ncritical = 5\n\
         [[check.pattern]]\nname = \"errors\"\nregex = \"ERROR\"\n",
        path.display()
    );
    match from_str(&text, "test.toml", &no_env) {
        Ok(config) => config.checks[0].clone(),
        Err(error) => panic!("{error}"),
    }
}

fn append(path: &Path, text: &[u8]) {
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .expect("open log");
    file.write_all(text).expect("write log");
}

fn series(observation: &Observation, name: &str, pattern: &str) -> Option<f64> {
    observation
        .samples
        .iter()
        .find(|s| s.series.name() == name && s.series.label("pattern") == Some(pattern))
        .map(|s| s.value)
}

fn blocked_line(user: &str) -> String {
    format!("{{\"event_type\":\"maintenance_operation_blocked\",\"user\":\"{user}\"}}\n")
}

struct Run {
    probe: CheckProbe,
    at_ms: i64,
}

impl Run {
    fn new(config: &CheckConfig) -> Run {
        Run {
            probe: CheckProbe::from_config(config),
            at_ms: 1_000_000,
        }
    }

    async fn next(&mut self) -> Observation {
        self.at_ms += 10_000;
        self.probe.run(self.at_ms).await
    }
}

#[tokio::test]
async fn counts_per_pattern_across_runs_from_the_end() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("webapp.log");
    append(&path, blocked_line("old").as_bytes());
    let mut run = Run::new(&check(&path, ""));

    // First run starts at the end: the old line is not counted.
    let first = run.next().await;
    assert_eq!(
        first.checks[0].status,
        Status::Ok,
        "{}",
        first.checks[0].detail
    );
    assert_eq!(series(&first, "log_matches_total", "blocked"), Some(0.0));

    append(
        &path,
        format!(
            "{}{}ERROR boom\ninfo\n",
            blocked_line("a"),
            blocked_line("b")
        )
        .as_bytes(),
    );
    let second = run.next().await;
    assert_eq!(
        series(&second, "log_matches_last_run", "blocked"),
        Some(2.0)
    );
    assert_eq!(series(&second, "log_matches_last_run", "errors"), Some(1.0));
    assert_eq!(series(&second, "log_match_rate", "blocked"), Some(0.2));
    assert_eq!(second.checks[0].value, Some(3.0));
    assert_eq!(second.checks[0].status, Status::Ok);

    for user in ["c", "d", "e"] {
        append(&path, blocked_line(user).as_bytes());
    }
    let third = run.next().await;
    assert_eq!(series(&third, "log_matches_last_run", "blocked"), Some(3.0));
    assert_eq!(series(&third, "log_matches_total", "blocked"), Some(5.0));
    assert_eq!(series(&third, "log_matches_total", "errors"), Some(1.0));
    assert_eq!(
        third.checks[0].status,
        Status::Warning,
        "{}",
        third.checks[0].detail
    );
    assert!(
        third.checks[0].detail.contains("blocked: 3 (warning at 3)"),
        "{}",
        third.checks[0].detail
    );

    for i in 0..6 {
        append(&path, blocked_line(&i.to_string()).as_bytes());
    }
    let fourth = run.next().await;
    // The confirming retry (same at_ms) must not hide the count by reading nothing.
    assert_eq!(
        fourth.checks[0].status,
        Status::Critical,
        "{}",
        fourth.checks[0].detail
    );
    assert_eq!(series(&fourth, "log_matches_total", "blocked"), Some(11.0));

    let fifth = run.next().await;
    assert_eq!(series(&fifth, "log_matches_last_run", "blocked"), Some(0.0));
    assert_eq!(series(&fifth, "log_matches_total", "blocked"), Some(11.0));
}

#[tokio::test]
async fn from_start_reads_existing_lines() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("app.log");
    append(&path, format!("{}ERROR x\n", blocked_line("a")).as_bytes());
    let mut run = Run::new(&check(&path, "from_start = true"));
    let first = run.next().await;
    assert_eq!(series(&first, "log_matches_last_run", "blocked"), Some(1.0));
    assert_eq!(series(&first, "log_matches_last_run", "errors"), Some(1.0));
}

#[tokio::test]
async fn rotation_finishes_the_old_file_then_reads_the_new_one() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("app.log");
    append(&path, b"start\n");
    let mut run = Run::new(&check(&path, ""));
    run.next().await;

    append(&path, b"ERROR before rotation\n");
    fs::rename(&path, dir.path().join("app.log.1")).expect("rotate");
    append(&path, b"ERROR after rotation 1\nERROR after rotation 2\n");
    let observation = run.next().await;
    assert_eq!(
        series(&observation, "log_matches_last_run", "errors"),
        Some(3.0),
        "{}",
        observation.checks[0].detail
    );
    assert!(
        observation.checks[0].detail.contains("file rotated"),
        "{}",
        observation.checks[0].detail
    );

    append(&path, b"ERROR later\n");
    let observation = run.next().await;
    assert_eq!(
        series(&observation, "log_matches_last_run", "errors"),
        Some(1.0)
    );
    assert_eq!(
        series(&observation, "log_matches_total", "errors"),
        Some(4.0)
    );
}

#[tokio::test]
async fn truncation_restarts_at_the_beginning() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("app.log");
    append(
        &path,
        b"a fairly long line of text that makes the file big enough\n",
    );
    let mut run = Run::new(&check(&path, ""));
    run.next().await;

    // copytruncate: the content is copied away and the file emptied in place.
    OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(&path)
        .expect("truncate");
    append(&path, b"ERROR 1\n");
    let observation = run.next().await;
    assert_eq!(
        series(&observation, "log_matches_last_run", "errors"),
        Some(1.0),
        "{}",
        observation.checks[0].detail
    );
    assert!(
        observation.checks[0].detail.contains("truncated"),
        "{}",
        observation.checks[0].detail
    );
}

#[tokio::test]
async fn missing_file_is_unknown_until_it_appears() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("later.log");
    let mut config = check(&path, "");
    config.recover_after = 1;
    let mut run = Run::new(&config);
    let missing = run.next().await;
    assert_eq!(missing.checks[0].status, Status::Unknown);
    assert_eq!(
        missing.checks[0].detail,
        format!(
            "cannot read {}: No such file or directory (confirmed by 1 retry)",
            path.display()
        )
    );

    // A file that appears after the check started is new: it is read from its beginning.
    append(&path, b"ERROR first\n");
    let appeared = run.next().await;
    assert_eq!(
        appeared.checks[0].status,
        Status::Ok,
        "{}",
        appeared.checks[0].detail
    );
    assert_eq!(
        series(&appeared, "log_matches_last_run", "errors"),
        Some(1.0)
    );
}

#[tokio::test]
async fn unreadable_path_is_unknown_with_the_plain_reason() {
    let _machine = crate::common::machine::shared();
    // Tests run as root, where chmod 000 does not deny reading: a directory at the path is
    // an unreadable log file for everyone.
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("dir.log");
    fs::create_dir(&path).expect("mkdir");
    let observation = Run::new(&check(&path, "retries = 0")).next().await;
    assert_eq!(observation.checks[0].status, Status::Unknown);
    assert_eq!(
        observation.checks[0].detail,
        format!("cannot read {}: Is a directory", path.display())
    );
}

#[tokio::test]
async fn partial_lines_wait_for_their_end() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("app.log");
    append(&path, b"");
    let mut run = Run::new(&check(&path, ""));
    run.next().await;

    append(&path, b"ERR");
    let observation = run.next().await;
    assert_eq!(
        series(&observation, "log_matches_last_run", "errors"),
        Some(0.0)
    );
    append(
        &path,
        b"OR split across writes\r\n\xff\xfe ERROR in invalid utf-8\n",
    );
    let observation = run.next().await;
    assert_eq!(
        series(&observation, "log_matches_last_run", "errors"),
        Some(2.0)
    );
}

#[tokio::test]
async fn reads_are_bounded_and_catch_up() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("app.log");
    append(&path, b"");
    let mut run = Run::new(&check(&path, "max_bytes_per_run = 4096"));
    run.next().await;

    let line = format!("ERROR {}\n", "x".repeat(93)); // 100 bytes
    append(&path, line.repeat(100).as_bytes());
    let first = run.next().await;
    assert_eq!(series(&first, "log_matches_last_run", "errors"), Some(40.0));
    assert!(
        first.checks[0].detail.contains("behind"),
        "{}",
        first.checks[0].detail
    );
    let behind = first
        .samples
        .iter()
        .find(|s| s.series.name() == "log_bytes_behind")
        .map(|s| s.value);
    assert_eq!(behind, Some(10_000.0 - 4096.0));
    let second = run.next().await;
    let third = run.next().await;
    assert_eq!(series(&third, "log_matches_total", "errors"), Some(100.0));
    assert!(
        !third.checks[0].detail.contains("behind"),
        "{}",
        second.checks[0].detail
    );
}

#[tokio::test]
async fn matched_text_stays_private_unless_kept() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("app.log");
    append(&path, b"");
    let secret = "ERROR login failed for alice@example.com token=abc123";

    let mut private = Run::new(&check(&path, ""));
    let mut kept = Run::new(&check(&path, "keep_samples = true"));
    private.next().await;
    kept.next().await;
    append(&path, format!("{secret}\n").as_bytes());
    let hidden = private.next().await;
    let shown = kept.next().await;

    assert_eq!(series(&hidden, "log_matches_last_run", "errors"), Some(1.0));
    let everything = format!("{hidden:?}");
    assert!(!everything.contains("alice"), "{everything}");
    assert!(!everything.contains("abc123"), "{everything}");
    assert!(
        shown.checks[0]
            .detail
            .contains(&format!("last match (errors): {secret}")),
        "{}",
        shown.checks[0].detail
    );

    let long = format!("ERROR {}\n", "y".repeat(500));
    append(&path, long.as_bytes());
    let shown = kept.next().await;
    let sample = shown.checks[0]
        .detail
        .split("last match (errors): ")
        .nth(1)
        .unwrap_or_default();
    assert_eq!(sample.chars().count(), 200, "{sample}");
}

#[tokio::test]
async fn reopening_the_same_file_after_an_error_does_not_count_again() {
    let _machine = crate::common::machine::shared();
    // Regression guard: an error used to forget the offset, so the file was re-read from 0
    // and every old match counted twice.
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("app.log");
    let aside = dir.path().join("aside.log");
    append(&path, b"");
    let mut config = check(&path, "");
    config.retries = 0;
    let mut run = Run::new(&config);
    run.next().await;
    append(&path, b"ERROR one\nERROR two\n");
    assert_eq!(
        series(&run.next().await, "log_matches_last_run", "errors"),
        Some(2.0)
    );

    fs::rename(&path, &aside).expect("move aside");
    fs::create_dir(&path).expect("mkdir");
    let broken = run.next().await;
    assert_eq!(
        broken.checks[0].status,
        Status::Unknown,
        "{}",
        broken.checks[0].detail
    );

    fs::remove_dir(&path).expect("rmdir");
    fs::rename(&aside, &path).expect("move back");
    append(&path, b"ERROR three\n");
    let back = run.next().await;
    assert_eq!(
        series(&back, "log_matches_last_run", "errors"),
        Some(1.0),
        "{}",
        back.checks[0].detail
    );
    assert_eq!(series(&back, "log_matches_total", "errors"), Some(3.0));
}
