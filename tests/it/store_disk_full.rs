//! Storage faults degrade and heal (issue 15, finding 2): the data dir on a small tmpfs that
//! the test fills, then frees. Regression: on
//! the code before the fix, the first failed COMMIT left a pooled SQLite connection inside a
//! transaction, so every store operation afterwards failed ("attempted to call begin_with at
//! non-zero transaction depth") until a restart, an alert raised meanwhile was never sent,
//! and /healthz said "ok" throughout.
//!
//! What a user would notice is asserted: the alert raised during the episode arrives by mail
//! exactly once, the operator is mailed that the store cannot write, /healthz says why it is
//! degraded, and within 10 s of space returning the store takes writes again (no new errors,
//! new samples persisted, history readable by `lookout store stats`), with the in-memory
//! buffer bounded meanwhile. Needs root (mount); `.ci/run` runs as root.

use crate::common::disk_full;

use disk_full::{episode, start, tail};

#[test]
fn a_full_disk_degrades_the_store_and_it_heals_within_seconds_of_space_returning() {
    let _machine = crate::common::machine::alone(module_path!());
    let mut s = start();
    let filler = s.tmpfs.path.join("filler");
    let figures = episode(
        &mut s,
        "disk full",
        |fs| {
            fs.fill();
        },
        |_| std::fs::remove_file(&filler).unwrap(),
    );
    assert!(figures.recovery <= disk_full::RECOVERY_GOAL, "{figures:?}");
    assert_eq!(s.daemon.get("/healthz").0, 200);
    let (code, log) = s.daemon.stop_with(libc::SIGTERM);
    assert_eq!(code, Some(0), "{}", tail(&log));
    assert!(
        !log.contains("non-zero transaction depth"),
        "{}",
        tail(&log)
    );
}
