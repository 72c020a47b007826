//! CheckProbe behaviour with scripted checks: retries, recovery, timeouts, shared series.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::*;
use crate::checks::tcp::config::TcpCheck;
use crate::checks::{CheckFuture, grade};
use crate::config::CheckKind;
use crate::model::Layer;
use crate::model::Status;

/// Answers with the scripted statuses in order (the last one repeats); counts attempts.
struct Scripted {
    script: Arc<Mutex<VecDeque<Status>>>,
    attempts: Arc<AtomicUsize>,
    hang: bool,
}

impl Check for Scripted {
    fn attempt(&mut self, _at_ms: UnixMillis) -> CheckFuture<'_> {
        self.attempts.fetch_add(1, Ordering::SeqCst);
        let mut script = self.script.lock().unwrap();
        let status = if script.len() > 1 {
            script.pop_front().unwrap()
        } else {
            script[0]
        };
        let hang = self.hang;
        Box::pin(async move {
            if hang {
                std::future::pending::<()>().await;
            }
            Outcome::new(status, format!("saw {status}"))
                .with_value(1.5)
                .sample(SeriesKey::new("demo_seconds"), 1.5)
        })
    }
}

fn config(retries: u32, recover_after: u32) -> CheckConfig {
    CheckConfig {
        name: "app".into(),
        layer: Layer::Application,
        interval: Duration::from_secs(10),
        timeout: Duration::from_millis(50),
        retries,
        recover_after,
        error_window: Duration::from_secs(60),
        depends_on: Vec::new(),
        depends_on_set: false,
        enabled: true,
        kind: CheckKind::Tcp(TcpCheck::new("127.0.0.1:1")),
    }
}

fn probe(
    retries: u32,
    recover_after: u32,
    script: &[Status],
    hang: bool,
) -> (CheckProbe, Arc<AtomicUsize>) {
    let attempts = Arc::new(AtomicUsize::new(0));
    let check = Scripted {
        script: Arc::new(Mutex::new(script.iter().copied().collect())),
        attempts: attempts.clone(),
        hang,
    };
    (
        CheckProbe::new(config(retries, recover_after), Box::new(check)),
        attempts,
    )
}

#[tokio::test]
async fn a_single_lost_answer_is_retried_and_never_reported() {
    let (mut probe, attempts) = probe(1, 2, &[Status::Critical, Status::Ok], false);
    let observation = probe.run(1_000).await;
    assert_eq!(attempts.load(Ordering::SeqCst), 2, "one retry");
    assert_eq!(observation.checks[0].status, Status::Ok);
    assert_eq!(observation.checks[0].detail, "saw ok");
}

#[tokio::test]
async fn a_confirmed_failure_is_reported_with_its_retries() {
    let (mut probe, attempts) = probe(2, 2, &[Status::Critical], false);
    let observation = probe.run(1_000).await;
    assert_eq!(attempts.load(Ordering::SeqCst), 3);
    let result = &observation.checks[0];
    assert_eq!(result.status, Status::Critical);
    assert_eq!(result.detail, "saw critical (confirmed by 2 retries)");
    // Still failing next run: already reported, so no retry.
    probe.run(11_000).await;
    assert_eq!(attempts.load(Ordering::SeqCst), 4);
}

#[tokio::test]
async fn recovery_needs_consecutive_successes() {
    let script = [Status::Critical, Status::Ok, Status::Ok];
    let (mut probe, _) = probe(0, 2, &script, false);
    assert_eq!(probe.run(0).await.checks[0].status, Status::Critical);
    let second = probe.run(10_000).await;
    assert_eq!(second.checks[0].status, Status::Critical);
    assert_eq!(
        second.checks[0].detail,
        "recovering (1 of 2 successful runs): saw ok"
    );
    assert_eq!(probe.run(20_000).await.checks[0].status, Status::Ok);
}

#[tokio::test(start_paused = true)]
async fn a_hung_target_is_critical_after_the_timeout_and_not_retried() {
    let (mut probe, attempts) = probe(1, 2, &[Status::Ok], true);
    let observation = probe.run(0).await;
    assert_eq!(attempts.load(Ordering::SeqCst), 1);
    let result = &observation.checks[0];
    assert_eq!(result.status, Status::Critical);
    assert_eq!(result.detail, "timeout: no answer within 50ms");
    let up = observation
        .samples
        .iter()
        .find(|s| s.series.name() == "check_up")
        .unwrap();
    assert_eq!(up.value, 0.0);
}

#[tokio::test]
async fn every_sample_carries_the_check_label_and_the_error_ratio_follows_failures() {
    let script = [Status::Critical, Status::Ok];
    let (mut probe, _) = probe(0, 1, &script, false);
    let first = probe.run(0).await;
    let second = probe.run(10_000).await;
    for observation in [&first, &second] {
        for sample in &observation.samples {
            assert_eq!(
                sample.series.label("check"),
                Some("app"),
                "{:?}",
                sample.series
            );
        }
    }
    let ratio = |o: &Observation| {
        o.samples
            .iter()
            .find(|s| s.series.name() == "check_error_ratio")
            .unwrap()
            .value
    };
    assert_eq!(ratio(&first), 1.0);
    assert_eq!(ratio(&second), 0.5);
    assert!(
        second
            .samples
            .iter()
            .any(|s| s.series.name() == "demo_seconds")
    );
    assert_eq!(
        first.samples[0].series.label("type"),
        Some("tcp"),
        "check_up has the type"
    );
}

#[test]
fn grade_compares_at_or_above_thresholds() {
    assert_eq!(grade(1.9, Some(2.0), Some(5.0)), Status::Ok);
    assert_eq!(grade(2.0, Some(2.0), Some(5.0)), Status::Warning);
    assert_eq!(grade(5.0, Some(2.0), Some(5.0)), Status::Critical);
    assert_eq!(grade(9.0, None, None), Status::Ok);
}

/// Fails the way a check does when Lookout has no descriptor left for its socket.
struct Starved;

impl Check for Starved {
    fn attempt(&mut self, _at_ms: UnixMillis) -> CheckFuture<'_> {
        Box::pin(async {
            let error = std::io::Error::from_raw_os_error(libc::EMFILE);
            Outcome::critical(format!("connect to 127.0.0.1:5000: {error}"))
        })
    }
}

#[tokio::test]
async fn a_check_out_of_descriptors_is_unknown_and_blames_lookout_not_the_target() {
    let before = crate::fds::exhaustion_total();
    let mut probe = CheckProbe::new(config(1, 1), Box::new(Starved));
    let observation = probe.run(1_000).await;
    let result = &observation.checks[0];
    assert_eq!(result.status, Status::Unknown);
    assert!(
        result
            .detail
            .starts_with("lookout ran out of file descriptors; nothing is known about the target (connect to 127.0.0.1:5000: Too many open files (os error 24))"),
        "{}",
        result.detail
    );
    // The attempt and its retry.
    assert!(crate::fds::exhaustion_total() >= before + 2);
}
