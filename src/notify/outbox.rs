//! The outbox worker: delivers the notifications the alert engine persisted in the store.
//!
//! One pass (`deliver_due`) takes the due rows, groups them per notifier and group key into one
//! `GroupMessage` each, claims them in the store (one more attempt, next attempt pushed back by
//! `backoff`, a batch key recorded) and only then sends, each send bounded by a timeout, every
//! group concurrently. Then the rows are marked delivered, retried later, or failed (a
//! permanent error, an unknown notifier, or still failing `GIVE_UP_AFTER` after they were
//! written).
//!
//! Why claim first: a crash between "sent" and "marked" then brings the rows back only after
//! their backoff, grouped by their recorded batch key, which is the message's idempotency key,
//! so the receiver can drop the repeat. Rows claimed together are always sent together.
//! One worker per store is assumed (the daemon's).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;

use super::{GroupMessage, Notifier, NotifyError};
use crate::alert::records::OutboxRow;
use crate::clock::{SharedClock, UnixMillis};
use crate::store::{Store, StoreError};

/// Rows still failing this long after they were written are given up.
pub const GIVE_UP_AFTER: Duration = Duration::from_secs(24 * 3600);
/// The longest one send may take; past it the attempt counts as a retryable failure, so a
/// hung notifier cannot stall the others or the loop.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(30);
const FIRST_BACKOFF: Duration = Duration::from_secs(5);
const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// Rows taken per pass; the rest follow in the next pass, 50 ms later.
const ROWS_PER_PASS: usize = 500;
/// `run` looks at the store at least this often (another process may have written rows)...
const MAX_SLEEP: Duration = Duration::from_secs(5);
/// ...and at most this often, however close the next due row.
const MIN_SLEEP: Duration = Duration::from_millis(50);
/// Pause after a pass failed on the store (e.g. locked by another process).
const ERROR_SLEEP: Duration = Duration::from_secs(1);

/// Wait before the next attempt after `attempts` attempts: 5 s, 10 s, 20 s, ... up to 5 min.
pub fn backoff(attempts: u32) -> Duration {
    let doublings = attempts.saturating_sub(1).min(16);
    (FIRST_BACKOFF * 2u32.pow(doublings)).min(MAX_BACKOFF)
}

/// What one pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliveryReport {
    pub messages_sent: usize,
    pub rows_delivered: usize,
    pub rows_retried: usize,
    pub rows_failed: usize,
    /// (notifier, what went wrong) for every failed or retried send.
    pub errors: Vec<(String, String)>,
}

impl DeliveryReport {
    pub fn is_empty(&self) -> bool {
        *self == DeliveryReport::default()
    }
}

/// Counts of one notifier since start, for `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NotifierCounts {
    pub messages_sent: u64,
    pub rows_delivered: u64,
    pub rows_retried: u64,
    pub rows_failed: u64,
}

/// The worker's self-metrics, shared with the exporter.
#[derive(Debug, Default)]
pub struct OutboxMetrics {
    counts: Mutex<BTreeMap<String, NotifierCounts>>,
}

impl OutboxMetrics {
    /// The counts of every notifier that has had a row so far.
    pub fn snapshot(&self) -> BTreeMap<String, NotifierCounts> {
        self.lock().clone()
    }

    fn add(&self, notifier: &str, f: impl FnOnce(&mut NotifierCounts)) {
        f(self.lock().entry(notifier.to_string()).or_default());
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, NotifierCounts>> {
        // Plain counters: a panic elsewhere cannot leave them inconsistent.
        self.counts.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Delivers the store's outbox through the configured notifiers.
pub struct Outbox {
    store: Store,
    notifiers: HashMap<String, Arc<dyn Notifier>>,
    clock: SharedClock,
    dashboard_url: Option<String>,
    send_timeout: Duration,
    metrics: Arc<OutboxMetrics>,
}

/// One message on its way: what to mark once the send is over.
struct InFlight {
    notifier: String,
    ids: Vec<i64>,
    attempt: u32,
    oldest_created_ms: UnixMillis,
}

impl Outbox {
    /// Notifiers are found by `Notifier::name()`.
    pub fn new(
        store: Store,
        notifiers: impl IntoIterator<Item = Arc<dyn Notifier>>,
        clock: SharedClock,
        dashboard_url: Option<String>,
    ) -> Outbox {
        Outbox {
            store,
            notifiers: notifiers
                .into_iter()
                .map(|n| (n.name().to_string(), n))
                .collect(),
            clock,
            dashboard_url,
            send_timeout: SEND_TIMEOUT,
            metrics: Arc::default(),
        }
    }

    /// Replaces `SEND_TIMEOUT`.
    pub fn with_send_timeout(mut self, timeout: Duration) -> Outbox {
        self.send_timeout = timeout;
        self
    }

    pub fn metrics(&self) -> Arc<OutboxMetrics> {
        self.metrics.clone()
    }

    /// One pass over the due rows (see the module doc). A store error stops the pass where it
    /// happened and is returned once the sends already started are marked; rows left unmarked
    /// come back after their backoff under the same key.
    pub async fn deliver_due(&self) -> Result<DeliveryReport, StoreError> {
        let now = self.clock.now_ms();
        let rows = self.store.outbox_due(now, ROWS_PER_PASS).await?;
        let mut report = DeliveryReport::default();
        let mut first_error: Option<StoreError> = None;

        // (notifier, group key, batch key): rows claimed together stay together.
        let mut groups: BTreeMap<(String, String, Option<String>), Vec<OutboxRow>> =
            BTreeMap::new();
        for row in rows {
            let key = (
                row.entry.notifier.clone(),
                row.entry.group_key.clone(),
                row.batch_key.clone(),
            );
            groups.entry(key).or_default().push(row);
        }

        let mut sends = JoinSet::new();
        let mut in_flight = Vec::new();
        for ((notifier_name, _, batch_key), mut rows) in groups {
            let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
            let Some(notifier) = self.notifiers.get(&notifier_name) else {
                let error = format!("notifier {notifier_name} is not configured");
                tracing::warn!(notifier = %notifier_name, rows = ids.len(), "outbox: rows for an unknown notifier given up");
                match self.store.outbox_failed(&ids, &error).await {
                    Ok(n) => {
                        self.count_failed(&mut report, &notifier_name, n as usize, error);
                    }
                    Err(e) => {
                        first_error.get_or_insert(e);
                        break;
                    }
                }
                continue;
            };
            let key = batch_key.unwrap_or_else(|| derive_batch_key(&notifier_name, &rows));
            let attempt = rows.iter().map(|r| r.attempts).max().unwrap_or(0) + 1;
            let next_attempt_ms = now.saturating_add(backoff(attempt).as_millis() as i64);
            let claimed = match self
                .store
                .outbox_claim(&ids, now, next_attempt_ms, &key)
                .await
            {
                Ok(claimed) => claimed,
                Err(e) => {
                    first_error.get_or_insert(e);
                    break;
                }
            };
            rows.retain(|r| claimed.binary_search(&r.id).is_ok());
            if rows.is_empty() {
                continue;
            }
            let message = self.message(key, &rows);
            in_flight.push(InFlight {
                notifier: notifier_name,
                ids: claimed,
                attempt,
                oldest_created_ms: message.created_ms,
            });
            let index = in_flight.len() - 1;
            let notifier = notifier.clone();
            let timeout = self.send_timeout;
            sends.spawn(async move {
                let sent = match tokio::time::timeout(timeout, notifier.send(&message)).await {
                    Ok(result) => result,
                    Err(_) => Err(NotifyError::retryable(format!(
                        "no answer within {} s",
                        timeout.as_secs_f64()
                    ))),
                };
                (index, sent)
            });
        }

        let mut results: Vec<Option<Result<(), NotifyError>>> = vec![None; in_flight.len()];
        while let Some(joined) = sends.join_next().await {
            match joined {
                Ok((index, sent)) => results[index] = Some(sent),
                // A panicking notifier: the rows without a result are retried below.
                Err(e) => tracing::error!(error = %e, "outbox: a notifier's send panicked"),
            }
        }
        let done_ms = self.clock.now_ms();
        for (flight, sent) in in_flight.iter().zip(results) {
            let sent = sent.unwrap_or_else(|| Err(NotifyError::retryable("the send panicked")));
            if let Err(e) = self.mark(flight, sent, done_ms, &mut report).await {
                first_error.get_or_insert(e);
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(report),
        }
    }

    /// Records the outcome of one send in the store, the report and the metrics.
    async fn mark(
        &self,
        flight: &InFlight,
        sent: Result<(), NotifyError>,
        now_ms: UnixMillis,
        report: &mut DeliveryReport,
    ) -> Result<(), StoreError> {
        let notifier = &flight.notifier;
        let rows = flight.ids.len();
        match sent {
            Ok(()) => {
                self.store.outbox_delivered(&flight.ids, now_ms).await?;
                tracing::debug!(notifier = %notifier, rows, attempt = flight.attempt, "outbox: message delivered");
                report.messages_sent += 1;
                report.rows_delivered += rows;
                self.metrics.add(notifier, |c| {
                    c.messages_sent += 1;
                    c.rows_delivered += rows as u64;
                });
            }
            Err(e) if !e.retryable => {
                let error = format!("permanent error: {}", e.message);
                tracing::warn!(notifier = %notifier, rows, error = %e.message, "outbox: permanent error, rows given up");
                self.store.outbox_failed(&flight.ids, &error).await?;
                self.count_failed(report, notifier, rows, error);
            }
            Err(e) if now_ms - flight.oldest_created_ms >= GIVE_UP_AFTER.as_millis() as i64 => {
                let error = format!(
                    "gave up after {} attempts over {} h; last error: {}",
                    flight.attempt,
                    GIVE_UP_AFTER.as_secs() / 3600,
                    e.message
                );
                tracing::warn!(notifier = %notifier, rows, error = %error, "outbox: rows given up");
                self.store.outbox_failed(&flight.ids, &error).await?;
                self.count_failed(report, notifier, rows, error);
            }
            Err(e) => {
                let wait = backoff(flight.attempt);
                tracing::warn!(notifier = %notifier, rows, attempt = flight.attempt, retry_in_s = wait.as_secs(), error = %e.message, "outbox: send failed, will retry");
                let next = now_ms.saturating_add(wait.as_millis() as i64);
                self.store
                    .outbox_retry(&flight.ids, &e.message, next)
                    .await?;
                report.rows_retried += rows;
                report.errors.push((notifier.clone(), e.message));
                self.metrics
                    .add(notifier, |c| c.rows_retried += rows as u64);
            }
        }
        Ok(())
    }

    fn count_failed(
        &self,
        report: &mut DeliveryReport,
        notifier: &str,
        rows: usize,
        error: String,
    ) {
        report.rows_failed += rows;
        report.errors.push((notifier.to_string(), error));
        self.metrics.add(notifier, |c| c.rows_failed += rows as u64);
    }

    /// The message for rows of one group: worst severity first, then oldest first. Built from
    /// the rows alone, so every attempt for the same rows sends the same message.
    fn message(&self, idempotency_key: String, rows: &[OutboxRow]) -> GroupMessage {
        let mut sorted: Vec<&OutboxRow> = rows.iter().collect();
        sorted.sort_by(|a, b| {
            let (a, b) = ((&a.entry.notice, a.id), (&b.entry.notice, b.id));
            b.0.severity
                .cmp(&a.0.severity)
                .then(a.0.at_ms.cmp(&b.0.at_ms))
                .then(a.1.cmp(&b.1))
        });
        GroupMessage {
            idempotency_key,
            group_key: rows[0].entry.group_key.clone(),
            group_labels: rows[0].entry.group_labels.clone(),
            notices: sorted.iter().map(|r| r.entry.notice.clone()).collect(),
            dashboard_url: self.dashboard_url.clone(),
            created_ms: rows.iter().map(|r| r.created_ms).min().unwrap_or_default(),
        }
    }

    /// Delivers until `stop` turns true (or its sender is dropped): a pass, then a sleep until
    /// the next row is due (50 ms to 5 s) or `wake` is notified (the engine wrote rows).
    /// Store errors are logged and retried; this never panics or returns early.
    pub async fn run(self, wake: Arc<Notify>, mut stop: watch::Receiver<bool>) {
        loop {
            if *stop.borrow_and_update() {
                break;
            }
            let delay = match self.deliver_due().await {
                Ok(report) => {
                    if !report.is_empty() {
                        tracing::debug!(
                            messages = report.messages_sent,
                            delivered = report.rows_delivered,
                            retried = report.rows_retried,
                            failed = report.rows_failed,
                            "outbox pass"
                        );
                    }
                    self.idle_delay().await
                }
                Err(e) => {
                    tracing::warn!(error = %e, "outbox: delivery pass failed; will retry");
                    ERROR_SLEEP
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = wake.notified() => {}
                changed = stop.changed() => {
                    if changed.is_err() {
                        break;
                    }
                }
            }
        }
        tracing::debug!("outbox worker stopped");
    }

    async fn idle_delay(&self) -> Duration {
        match self.store.outbox_next_wakeup().await {
            Ok(Some(at)) => {
                let ms = at.saturating_sub(self.clock.now_ms()).max(0) as u64;
                Duration::from_millis(ms).clamp(MIN_SLEEP, MAX_SLEEP)
            }
            Ok(None) => MAX_SLEEP,
            Err(e) => {
                tracing::warn!(error = %e, "outbox: cannot read the next due time; will retry");
                ERROR_SLEEP
            }
        }
    }
}

/// A key for rows sent together for the first time: unique to these rows (their ids, the
/// notifier, and the oldest row's creation time, so that a new store reusing ids does not
/// reuse keys a receiver may still remember).
fn derive_batch_key(notifier: &str, rows: &[OutboxRow]) -> String {
    let mut ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    ids.sort_unstable();
    let created = rows.iter().map(|r| r.created_ms).min().unwrap_or_default();
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(notifier.as_bytes());
    ctx.update(&[0]);
    ctx.update(&created.to_be_bytes());
    for id in ids {
        ctx.update(&id.to_be_bytes());
    }
    let digest = ctx.finish();
    let hex: String = digest.as_ref()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("lookout-{hex}")
}
