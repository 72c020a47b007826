//! Confirmation of status changes, so one lost packet does not flap a check: a failure is
//! reported only after `retries` immediate retries fail too (the caller retries when
//! `should_retry` says so), and a failing check is reported recovered only after
//! `recover_after` consecutive successful runs. Pure: no I/O, no clock.

use crate::model::Status;

fn is_failure(status: Status) -> bool {
    matches!(status, Status::Warning | Status::Critical | Status::Unknown)
}

#[derive(Debug, Clone)]
pub struct Confirmation {
    recover_after: u32,
    reported: Option<Status>,
    successes_while_failing: u32,
}

/// What to report for a run.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub status: Status,
    /// Set while a failing check has had some, but not enough, successes: "1 of 2".
    pub recovering: Option<(u32, u32)>,
}

impl Confirmation {
    pub fn new(recover_after: u32) -> Confirmation {
        Confirmation {
            recover_after: recover_after.max(1),
            reported: None,
            successes_while_failing: 0,
        }
    }

    pub fn reported(&self) -> Option<Status> {
        self.reported
    }

    /// A run that observed `status` deserves an immediate retry when it would turn the
    /// reported status into a failure (or into a different failure).
    pub fn should_retry(&self, observed: Status) -> bool {
        is_failure(observed) && self.reported != Some(observed)
    }

    /// The status to report after a run whose final (post-retry) status is `observed`.
    pub fn settle(&mut self, observed: Status) -> Verdict {
        let failing = self.reported.is_some_and(is_failure);
        if is_failure(observed) {
            self.successes_while_failing = 0;
            self.reported = Some(observed);
            return Verdict {
                status: observed,
                recovering: None,
            };
        }
        if failing {
            self.successes_while_failing += 1;
            if self.successes_while_failing < self.recover_after {
                return Verdict {
                    status: self.reported.unwrap_or(observed),
                    recovering: Some((self.successes_while_failing, self.recover_after)),
                };
            }
        }
        self.successes_while_failing = 0;
        self.reported = Some(observed);
        Verdict {
            status: observed,
            recovering: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Status::*;

    /// Runs a sequence of observed statuses through a fresh confirmation, returning the
    /// reported statuses.
    fn run(recover_after: u32, observed: &[Status]) -> Vec<Status> {
        let mut confirmation = Confirmation::new(recover_after);
        observed
            .iter()
            .map(|s| confirmation.settle(*s).status)
            .collect()
    }

    #[test]
    fn reports_failures_at_once_and_recovery_after_consecutive_successes() {
        let cases: &[(u32, &[Status], &[Status])] = &[
            (2, &[Ok, Ok], &[Ok, Ok]),
            (2, &[Ok, Critical, Ok, Ok], &[Ok, Critical, Critical, Ok]),
            (
                2,
                &[Critical, Ok, Critical, Ok, Ok],
                &[Critical, Critical, Critical, Critical, Ok],
            ),
            (1, &[Critical, Ok], &[Critical, Ok]),
            (3, &[Warning, Ok, Ok, Ok], &[Warning, Warning, Warning, Ok]),
            (
                2,
                &[Warning, Critical, Warning],
                &[Warning, Critical, Warning],
            ),
            (
                2,
                &[Critical, Maintenance, Maintenance],
                &[Critical, Critical, Maintenance],
            ),
            (2, &[Ok, Maintenance, Ok], &[Ok, Maintenance, Ok]),
        ];
        for (recover_after, observed, expected) in cases {
            assert_eq!(&run(*recover_after, observed), expected, "{observed:?}");
        }
    }

    #[test]
    fn recovering_runs_say_how_far_along_they_are() {
        let mut confirmation = Confirmation::new(3);
        confirmation.settle(Critical);
        assert_eq!(confirmation.settle(Ok).recovering, Some((1, 3)));
        assert_eq!(confirmation.settle(Ok).recovering, Some((2, 3)));
        assert_eq!(confirmation.settle(Ok).recovering, None);
    }

    #[test]
    fn retries_only_what_would_change_the_reported_status_to_a_failure() {
        let mut confirmation = Confirmation::new(2);
        assert!(
            confirmation.should_retry(Critical),
            "first sighting of a failure"
        );
        assert!(!confirmation.should_retry(Ok));
        confirmation.settle(Critical);
        assert!(!confirmation.should_retry(Critical), "already reported");
        assert!(confirmation.should_retry(Warning), "a different failure");
        assert!(!confirmation.should_retry(Maintenance));
    }
}
