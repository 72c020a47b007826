//! What to do after one attempt to send a batch (pure; time comes in as `now_ms`).
//!
//! Prometheus' rule: 2xx is delivered; 5xx, 429 and transport errors (refused, timeout, TLS)
//! are worth retrying, with capped exponential backoff, keeping the batch; any other answer
//! (400 for out-of-order or malformed samples, 401/403, 404, ...) would fail again the same
//! way, so the batch is dropped and counted as failed rather than blocking the queue forever.

use std::time::Duration;

use crate::clock::UnixMillis;

/// What the endpoint said, or why it said nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// An HTTP answer: status and the start of the body (secrets already removed).
    Answer { status: u16, body: String },
    /// No answer: refused, timed out, TLS, DNS.
    Transport(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Delivered,
    /// Keep the batch, try it again after a backoff.
    Retry(String),
    /// Drop the batch and count its samples as failed.
    Reject(String),
}

pub fn verdict(outcome: &Outcome) -> Verdict {
    match outcome {
        Outcome::Answer { status, .. } if (200..300).contains(status) => Verdict::Delivered,
        Outcome::Answer { status, body } => {
            let reason = hyper::StatusCode::from_u16(*status)
                .ok()
                .and_then(|s| s.canonical_reason())
                .unwrap_or("");
            let mut text = format!("HTTP {status} {reason}").trim_end().to_string();
            if !body.is_empty() {
                text.push_str(": ");
                text.push_str(body);
            }
            if *status == 429 || *status >= 500 {
                Verdict::Retry(text)
            } else {
                Verdict::Reject(text)
            }
        }
        Outcome::Transport(reason) => Verdict::Retry(reason.clone()),
    }
}

/// Capped exponential backoff between failed attempts: `min`, 2×, 4×, ... up to `max`; reset
/// by a success (or a rejection, which is an answer too).
#[derive(Debug, Clone, PartialEq)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    /// Failed attempts in a row.
    failures: u32,
    next_attempt_ms: UnixMillis,
}

impl Backoff {
    pub fn new(min: Duration, max: Duration) -> Backoff {
        Backoff {
            min,
            max: max.max(min),
            failures: 0,
            next_attempt_ms: 0,
        }
    }

    /// Whether an attempt may be made at `now_ms`.
    pub fn ready(&self, now_ms: UnixMillis) -> bool {
        now_ms >= self.next_attempt_ms
    }

    /// When the next attempt may be made.
    pub fn next_attempt_ms(&self) -> UnixMillis {
        self.next_attempt_ms
    }

    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// Records a failed attempt at `now_ms`; returns the delay before the next one.
    pub fn failed(&mut self, now_ms: UnixMillis) -> Duration {
        let factor = 1u32.checked_shl(self.failures.min(31)).unwrap_or(u32::MAX);
        let delay = self.min.saturating_mul(factor).min(self.max);
        self.failures = self.failures.saturating_add(1);
        self.next_attempt_ms = now_ms.saturating_add(delay.as_millis() as i64);
        delay
    }

    /// Records an answer; returns how many attempts had failed before it.
    pub fn answered(&mut self) -> u32 {
        self.next_attempt_ms = 0;
        std::mem::take(&mut self.failures)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, body: &str) -> Outcome {
        Outcome::Answer {
            status,
            body: body.into(),
        }
    }

    #[test]
    fn prometheus_rule_for_what_is_retried_and_what_is_dropped() {
        for (outcome, expected) in [
            (answer(200, ""), Verdict::Delivered),
            (answer(204, ""), Verdict::Delivered),
            (
                answer(500, "boom"),
                Verdict::Retry("HTTP 500 Internal Server Error: boom".into()),
            ),
            (
                answer(503, ""),
                Verdict::Retry("HTTP 503 Service Unavailable".into()),
            ),
            (
                answer(429, ""),
                Verdict::Retry("HTTP 429 Too Many Requests".into()),
            ),
            (
                answer(400, "out of order sample"),
                Verdict::Reject("HTTP 400 Bad Request: out of order sample".into()),
            ),
            (
                answer(401, ""),
                Verdict::Reject("HTTP 401 Unauthorized".into()),
            ),
            (
                answer(404, ""),
                Verdict::Reject("HTTP 404 Not Found".into()),
            ),
            (
                answer(408, ""),
                Verdict::Reject("HTTP 408 Request Timeout".into()),
            ),
            (answer(302, ""), Verdict::Reject("HTTP 302 Found".into())),
            (
                Outcome::Transport("connection refused to 127.0.0.1:9".into()),
                Verdict::Retry("connection refused to 127.0.0.1:9".into()),
            ),
        ] {
            assert_eq!(verdict(&outcome), expected, "{outcome:?}");
        }
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_and_resets_on_an_answer() {
        let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(5));
        let mut now = 1_000_000;
        assert!(backoff.ready(now));
        let mut delays = Vec::new();
        for _ in 0..7 {
            let delay = backoff.failed(now);
            delays.push(delay.as_millis());
            assert!(!backoff.ready(now));
            assert!(!backoff.ready(now + delay.as_millis() as i64 - 1));
            now += delay.as_millis() as i64;
            assert!(backoff.ready(now));
            assert_eq!(backoff.next_attempt_ms(), now);
        }
        assert_eq!(delays, [500, 1_000, 2_000, 4_000, 5_000, 5_000, 5_000]);
        assert_eq!(backoff.failures(), 7);
        assert_eq!(backoff.answered(), 7);
        assert!(backoff.ready(0));
        assert_eq!(backoff.failed(now).as_millis(), 500);
    }

    #[test]
    fn a_long_outage_does_not_overflow_the_backoff() {
        let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(30));
        let mut delay = Duration::ZERO;
        for _ in 0..200 {
            delay = backoff.failed(i64::MAX - 10);
        }
        assert_eq!(delay, Duration::from_secs(30));
        assert_eq!(backoff.next_attempt_ms(), i64::MAX);
    }
}
