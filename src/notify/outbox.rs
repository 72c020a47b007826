//! The outbox worker: delivers the notifications the alert engine persisted in the store.
//!
//! One pass (`deliver_due`) reads the pending rows, lets `plan` form the due batches (one
//! message each: one notifier, claimed rows together, an alert's older rows with its newer
//! ones), claims them in the store (one more attempt, next attempt pushed back by `backoff`,
//! the batch recorded) and only then sends, each send bounded by a timeout, every message
//! concurrently. Then the rows are marked delivered, retried later, or failed (a permanent
//! error, an unknown notifier, or still failing `GIVE_UP_AFTER` after they were written).
//!
//! Some receivers forget an alert nobody repeats (Alertmanager resolves it after its
//! `resolve_timeout`). For the notifiers that say so (`Notifier::resend_interval`), `resend`
//! sends again, once per interval, the latest notice each was delivered for every alert still
//! firing, read from the store (`Store::outbox_still_firing`): nothing to lose at a restart or
//! a reload, nothing to forget when the alert resolves (its row leaves the alerts table in the
//! same transaction that queues its resolved notice). `run` resends before each delivery
//! pass, never beside it, so a re-sent firing cannot overtake the resolved notice after it.
//!
//! Why claim first: a crash between "sent" and "marked" then brings the rows back only after
//! their backoff, together (their recorded batch), as the same message under the same key
//! (a digest of the content, `plan::idempotency_key`), so the receiver can drop the repeat.
//! When a newer notice of one of their alerts joins them, the message changes and so does its
//! key: a key never stands for two different messages. One worker per store is assumed (the
//! daemon's).
//!
//! While the store cannot write, the alert loop hands its rows to `notify::held` instead;
//! each pass first offers those back to the store (`deliver_held`) and, while it still
//! refuses them, sends the due ones from memory by the same rules (see `held`'s invariants).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;

use super::held::HeldOutbox;
use super::plan;
use crate::alert::records::OutboxRow;
use crate::clock::{SharedClock, UnixMillis};
use crate::model::NoticeKind;
use crate::notifiers::{GroupMessage, Notifier, NotifyError};
use crate::store::{Store, StoreError};

/// Rows still failing this long after they were written are given up.
pub const GIVE_UP_AFTER: Duration = Duration::from_secs(24 * 3600);
/// The longest one send may take; past it the attempt counts as a retryable failure, so a
/// hung notifier cannot stall the others or the loop.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(30);
/// Due rows taken per pass (each batch whole, with the older rows of its alerts); the rest
/// follow in the next pass, 50 ms later.
const ROWS_PER_PASS: usize = 500;
/// The most pending rows read to plan a pass (oldest first).
const PENDING_PER_PASS: usize = 20_000;
/// `run` looks at the store at least this often (another process may have written rows)...
const MAX_SLEEP: Duration = Duration::from_secs(5);
/// ...and at most this often, however close the next due row.
const MIN_SLEEP: Duration = Duration::from_millis(50);
/// Pause after a pass failed on the store (e.g. locked by another process), and the longest
/// pause while notices are held in memory.
const ERROR_SLEEP: Duration = Duration::from_secs(1);

/// How long a message whose send failed waits before it is tried again: `first` after the
/// first attempt, doubled by each further one, never more than `max` (`[alerts]
/// outbox_backoff` and `outbox_backoff_max`). Pure: the caller gives the attempts and `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub first: Duration,
    pub max: Duration,
}

impl Backoff {
    /// 5 s, 10 s, 20 s, ... up to 5 min: the config's defaults.
    pub const DEFAULT: Backoff = Backoff {
        first: Duration::from_secs(5),
        max: Duration::from_secs(300),
    };

    /// The wait after `attempts` attempts.
    pub fn after(&self, attempts: u32) -> Duration {
        let doublings = attempts.saturating_sub(1).min(16);
        self.first.saturating_mul(2u32.pow(doublings)).min(self.max)
    }

    /// When a message sent at `now_ms` for the `attempts`-th time is due again if it fails.
    pub fn next_attempt_ms(&self, attempts: u32, now_ms: UnixMillis) -> UnixMillis {
        let wait = i64::try_from(self.after(attempts).as_millis()).unwrap_or(i64::MAX);
        now_ms.saturating_add(wait)
    }
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

/// What one `resend` did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResendReport {
    /// (notifier, how many still-firing notices it was sent again).
    pub resent: Vec<(String, usize)>,
    /// (notifier, what went wrong); the next interval tries again.
    pub errors: Vec<(String, String)>,
}

/// Counts of one notifier since start, for `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NotifierCounts {
    pub messages_sent: u64,
    pub rows_delivered: u64,
    pub rows_retried: u64,
    pub rows_failed: u64,
    /// Messages of still-firing alerts sent again (`Outbox::resend`), and those that failed.
    pub messages_resent: u64,
    pub resends_failed: u64,
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
    backoff: Backoff,
    metrics: Arc<OutboxMetrics>,
    /// When each notifier was last re-sent its still-firing alerts.
    resent_ms: Mutex<HashMap<String, UnixMillis>>,
    /// Rows the alert loop could not commit (see `notify::held`).
    held: Option<Arc<HeldOutbox>>,
}

/// Where the rows of a send are marked: the store, or memory (`held`).
#[derive(Clone, Copy)]
enum Place<'a> {
    Store,
    Held(&'a HeldOutbox),
}

/// One message on its way: what to mark once the send is over.
struct InFlight {
    notifier: String,
    ids: Vec<i64>,
    attempt: u32,
    /// When each row was written: a failed send gives up those written `GIVE_UP_AFTER` ago.
    created: Vec<(i64, UnixMillis)>,
}

impl InFlight {
    fn new(notifier: String, rows: &[OutboxRow], ids: Vec<i64>, attempt: u32) -> InFlight {
        InFlight {
            notifier,
            created: rows
                .iter()
                .filter(|r| ids.contains(&r.id))
                .map(|r| (r.id, r.created_ms))
                .collect(),
            ids,
            attempt,
        }
    }

    /// The rows written at least `GIVE_UP_AFTER` before `now_ms`.
    fn expired(&self, now_ms: UnixMillis) -> Vec<i64> {
        let limit = GIVE_UP_AFTER.as_millis() as i64;
        self.created
            .iter()
            .filter(|(_, created)| now_ms.saturating_sub(*created) >= limit)
            .map(|(id, _)| *id)
            .collect()
    }
}

impl Outbox {
    /// Notifiers are found by `Notifier::name()`.
    pub fn new(
        store: Store,
        notifiers: impl IntoIterator<Item = Arc<dyn Notifier>>,
        clock: SharedClock,
        dashboard_url: Option<String>,
    ) -> Outbox {
        let outbox = Outbox {
            store,
            notifiers: notifiers
                .into_iter()
                .map(|n| (n.name().to_string(), n))
                .collect(),
            clock,
            dashboard_url,
            send_timeout: SEND_TIMEOUT,
            backoff: Backoff::DEFAULT,
            metrics: Arc::default(),
            resent_ms: Mutex::default(),
            held: None,
        };
        outbox.with_metrics(Arc::default())
    }

    /// Delivers the rows held in memory too (the daemon's, kept across reloads).
    pub fn with_held(mut self, held: Arc<HeldOutbox>) -> Outbox {
        self.held = Some(held);
        self
    }

    /// Replaces `SEND_TIMEOUT`.
    pub fn with_send_timeout(mut self, timeout: Duration) -> Outbox {
        self.send_timeout = timeout;
        self
    }

    /// Replaces `Backoff::DEFAULT` (the config's `outbox_backoff`, `outbox_backoff_max`).
    pub fn with_backoff(mut self, backoff: Backoff) -> Outbox {
        self.backoff = backoff;
        self
    }

    pub fn metrics(&self) -> Arc<OutboxMetrics> {
        self.metrics.clone()
    }

    /// Counts into `metrics` (the daemon keeps one across reloads, which replace the worker).
    /// Every configured notifier is listed from the start, at zero, so `rate()` over
    /// `lookout_notifications_total` sees its first failure as an increase.
    pub fn with_metrics(mut self, metrics: Arc<OutboxMetrics>) -> Outbox {
        for name in self.notifiers.keys() {
            metrics.add(name, |_| {});
        }
        self.metrics = metrics;
        self
    }

    /// One pass over the due rows (see the module doc). A store error stops the pass where it
    /// happened and is returned once the sends already started are marked; rows left unmarked
    /// come back after their backoff under the same key.
    pub async fn deliver_due(&self) -> Result<DeliveryReport, StoreError> {
        let now = self.clock.now_ms();
        let pending = self.store.outbox_due(now, PENDING_PER_PASS).await?;
        let mut report = DeliveryReport::default();
        let mut first_error: Option<StoreError> = None;

        let mut sends = Vec::new();
        let mut in_flight = Vec::new();
        for mut rows in plan::due_batches(&pending, now, ROWS_PER_PASS) {
            let notifier_name = rows[0].entry.notifier.clone();
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
            let message = self.message(&notifier_name, &rows);
            let attempt = rows.iter().map(|r| r.attempts).max().unwrap_or(0) + 1;
            let next_attempt_ms = self.backoff.next_attempt_ms(attempt, now);
            let claimed = match self
                .store
                .outbox_claim(&ids, now, next_attempt_ms, &message.idempotency_key)
                .await
            {
                Ok(claimed) => claimed,
                Err(e) => {
                    first_error.get_or_insert(e);
                    break;
                }
            };
            let message = if claimed.len() == rows.len() {
                message
            } else {
                // A row went meanwhile (withdrawn by the engine): fewer rows, another message,
                // another key. The claimed rows keep the recorded key only as "sent together".
                rows.retain(|r| claimed.binary_search(&r.id).is_ok());
                if rows.is_empty() {
                    continue;
                }
                self.message(&notifier_name, &rows)
            };
            in_flight.push(InFlight::new(notifier_name, &rows, claimed, attempt));
            sends.push((notifier.clone(), message));
        }

        let results = self.send_all(sends).await;
        let done_ms = self.clock.now_ms();
        for (flight, sent) in in_flight.iter().zip(results) {
            if let Err(e) = self
                .mark(flight, sent, done_ms, &mut report, Place::Store)
                .await
            {
                first_error.get_or_insert(e);
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(report),
        }
    }

    /// Sends every message concurrently, each bounded by the send timeout; the results in the
    /// order of `sends` (a send that panicked is a retryable failure).
    async fn send_all(
        &self,
        sends: Vec<(Arc<dyn Notifier>, GroupMessage)>,
    ) -> Vec<Result<(), NotifyError>> {
        let mut tasks = JoinSet::new();
        let count = sends.len();
        for (index, (notifier, message)) in sends.into_iter().enumerate() {
            let timeout = self.send_timeout;
            tasks.spawn(async move {
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
        let mut results: Vec<Option<Result<(), NotifyError>>> = vec![None; count];
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok((index, sent)) => results[index] = Some(sent),
                // A panicking notifier: the rows without a result are retried.
                Err(e) => tracing::error!(error = %e, "outbox: a notifier's send panicked"),
            }
        }
        results
            .into_iter()
            .map(|sent| sent.unwrap_or_else(|| Err(NotifyError::retryable("the send panicked"))))
            .collect()
    }

    /// The rows held in memory (see `notify::held`): handed back to the store when it takes
    /// them, else the due ones are sent from memory, claimed and marked there. Never fails:
    /// what it cannot do now, the next pass does.
    pub async fn deliver_held(&self) -> DeliveryReport {
        let mut report = DeliveryReport::default();
        let Some(held) = self.held.as_deref() else {
            return report;
        };
        if held.is_empty() {
            return report;
        }
        let rows = held.with(|h| h.rows()).await;
        match self.store.outbox_adopt(&rows).await {
            Ok(()) => {
                let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
                held.with(|h| h.forget(&ids)).await;
                tracing::info!(
                    rows = ids.len(),
                    "outbox: the notices held in memory while the store could not write are in the store again"
                );
                return report;
            }
            Err(error) => {
                tracing::debug!(%error, "outbox: the store cannot take the held notices yet")
            }
        }
        let now = self.clock.now_ms();
        // An alert with older rows in the store: its held rows wait for the store, which
        // sends them in order once it takes writes (or can be read) again.
        let waiting: Option<Vec<(String, String)>> = match self.store.outbox_pending_alerts().await
        {
            Ok(pairs) => Some(pairs),
            Err(error) => {
                tracing::debug!(%error, "outbox: cannot read which alerts have rows in the store");
                None
            }
        };
        let groups = held
            .with(|h| h.due_groups(now, waiting.as_deref().unwrap_or_default()))
            .await;
        let mut sends = Vec::new();
        let mut in_flight = Vec::new();
        for rows in groups {
            let notifier_name = rows[0].entry.notifier.clone();
            let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
            let Some(notifier) = self.notifiers.get(&notifier_name) else {
                let error = format!("notifier {notifier_name} is not configured");
                held.with(|h| h.failed(&ids, &error)).await;
                self.count_failed(&mut report, &notifier_name, ids.len(), error);
                continue;
            };
            let message = self.message(&notifier_name, &rows);
            let attempt = rows.iter().map(|r| r.attempts).max().unwrap_or(0) + 1;
            let next_attempt_ms = self.backoff.next_attempt_ms(attempt, now);
            held.with(|h| h.claim(&ids, next_attempt_ms, &message.idempotency_key))
                .await;
            in_flight.push(InFlight::new(notifier_name, &rows, ids, attempt));
            sends.push((notifier.clone(), message));
        }
        let results = self.send_all(sends).await;
        let done_ms = self.clock.now_ms();
        for (flight, sent) in in_flight.iter().zip(results) {
            // Marking memory cannot fail.
            let _ = self
                .mark(flight, sent, done_ms, &mut report, Place::Held(held))
                .await;
        }
        if report.messages_sent > 0 {
            tracing::warn!(
                messages = report.messages_sent,
                rows = report.rows_delivered,
                "outbox: delivered notices held in memory (the store cannot write); they go to the store once it can"
            );
        }
        report
    }

    /// Sends each notifier with a `resend_interval` whose interval has passed since its last
    /// resend (or that has none yet: after a start or a reload) the latest notice it was
    /// delivered for every alert still firing, in one message, each notice as a repeat. A
    /// failure is logged and counted, not retried before the next interval: the notices
    /// themselves are safe in the store. A store error stops the pass.
    pub async fn resend(&self) -> Result<ResendReport, StoreError> {
        let mut report = ResendReport::default();
        let mut names: Vec<&String> = self.notifiers.keys().collect();
        names.sort();
        for name in names {
            let notifier = &self.notifiers[name];
            let Some(every) = notifier.resend_interval() else {
                continue;
            };
            let now = self.clock.now_ms();
            let last = self.lock_resent().get(name).copied();
            if !resend_due(last, now, every) {
                continue;
            }
            let notices = self.store.outbox_still_firing(name).await?;
            self.lock_resent().insert(name.clone(), now);
            if notices.is_empty() {
                continue;
            }
            let count = notices.len();
            let message = GroupMessage {
                idempotency_key: format!("lookout-resend-{name}-{now}"),
                group_key: String::new(),
                group_labels: BTreeMap::new(),
                notices: notices
                    .into_iter()
                    .map(|mut notice| {
                        notice.kind = NoticeKind::Repeat;
                        notice.previous_severity = None;
                        notice
                    })
                    .collect(),
                dashboard_url: self.dashboard_url.clone(),
                created_ms: now,
            };
            let sent = match tokio::time::timeout(self.send_timeout, notifier.send(&message)).await
            {
                Ok(sent) => sent,
                Err(_) => Err(NotifyError::retryable(format!(
                    "no answer within {} s",
                    self.send_timeout.as_secs_f64()
                ))),
            };
            match sent {
                Ok(()) => {
                    tracing::debug!(notifier = %name, alerts = count, "outbox: still-firing alerts sent again");
                    self.metrics.add(name, |c| c.messages_resent += 1);
                    report.resent.push((name.clone(), count));
                }
                Err(e) => {
                    tracing::warn!(notifier = %name, alerts = count, error = %e.message, "outbox: could not send the still-firing alerts again; next interval tries again");
                    self.metrics.add(name, |c| c.resends_failed += 1);
                    report.errors.push((name.clone(), e.message));
                }
            }
        }
        Ok(report)
    }

    fn lock_resent(&self) -> std::sync::MutexGuard<'_, HashMap<String, UnixMillis>> {
        // Plain times: a panic elsewhere cannot leave them inconsistent.
        self.resent_ms.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records the outcome of one send in the store, the report and the metrics.
    async fn mark(
        &self,
        flight: &InFlight,
        sent: Result<(), NotifyError>,
        now_ms: UnixMillis,
        report: &mut DeliveryReport,
        place: Place<'_>,
    ) -> Result<(), StoreError> {
        let notifier = &flight.notifier;
        let rows = flight.ids.len();
        let ids = &flight.ids[..];
        match sent {
            Ok(()) => {
                match place {
                    Place::Store => {
                        self.store.outbox_delivered(ids, now_ms).await?;
                    }
                    Place::Held(held) => held.with(|h| h.delivered(ids, now_ms)).await,
                }
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
                self.mark_failed(place, ids, &error).await?;
                self.count_failed(report, notifier, rows, error);
            }
            Err(e) if !flight.expired(now_ms).is_empty() => {
                // Only the rows past the limit are given up: a newer notice that joined them
                // (an alert's later news) gets its own 24 h, as another message.
                let expired = flight.expired(now_ms);
                let error = format!(
                    "gave up after {} attempts over {} h; last error: {}",
                    flight.attempt,
                    GIVE_UP_AFTER.as_secs() / 3600,
                    e.message
                );
                tracing::warn!(notifier = %notifier, rows = expired.len(), error = %error, "outbox: rows given up");
                self.mark_failed(place, &expired, &error).await?;
                self.count_failed(report, notifier, expired.len(), error);
                let rest: Vec<i64> = ids
                    .iter()
                    .copied()
                    .filter(|id| !expired.contains(id))
                    .collect();
                if !rest.is_empty() {
                    let young = InFlight {
                        ids: rest,
                        created: Vec::new(),
                        notifier: notifier.clone(),
                        attempt: flight.attempt,
                    };
                    self.retry(&young, e, now_ms, report, place).await?;
                }
            }
            Err(e) => self.retry(flight, e, now_ms, report, place).await?,
        }
        Ok(())
    }

    /// A retryable failure: the rows are tried again after their backoff.
    async fn retry(
        &self,
        flight: &InFlight,
        e: NotifyError,
        now_ms: UnixMillis,
        report: &mut DeliveryReport,
        place: Place<'_>,
    ) -> Result<(), StoreError> {
        let notifier = &flight.notifier;
        let rows = flight.ids.len();
        let ids = &flight.ids[..];
        let wait = self.backoff.after(flight.attempt);
        tracing::warn!(notifier = %notifier, rows, attempt = flight.attempt, retry_in_s = wait.as_secs_f64(), error = %e.message, "outbox: send failed, will retry");
        let next = self.backoff.next_attempt_ms(flight.attempt, now_ms);
        match place {
            Place::Store => {
                self.store.outbox_retry(ids, &e.message, next).await?;
            }
            Place::Held(held) => held.with(|h| h.retry(ids, &e.message, next)).await,
        }
        report.rows_retried += rows;
        report.errors.push((notifier.clone(), e.message));
        self.metrics
            .add(notifier, |c| c.rows_retried += rows as u64);
        Ok(())
    }

    async fn mark_failed(
        &self,
        place: Place<'_>,
        ids: &[i64],
        error: &str,
    ) -> Result<(), StoreError> {
        match place {
            Place::Store => {
                self.store.outbox_failed(ids, error).await?;
            }
            Place::Held(held) => held.with(|h| h.failed(ids, error)).await,
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

    /// The message for one batch of rows (`plan::message_notices` order), under the key its
    /// content gives (`plan::idempotency_key`). Built from the rows alone, so every attempt for
    /// the same rows sends the same message.
    fn message(&self, notifier: &str, rows: &[OutboxRow]) -> GroupMessage {
        let newest = rows
            .iter()
            .max_by_key(|r| (r.entry.notice.at_ms, r.id))
            .unwrap_or(&rows[0]);
        let mut message = GroupMessage {
            idempotency_key: String::new(),
            group_key: newest.entry.group_key.clone(),
            group_labels: newest.entry.group_labels.clone(),
            notices: plan::message_notices(rows),
            dashboard_url: self.dashboard_url.clone(),
            created_ms: rows.iter().map(|r| r.created_ms).min().unwrap_or_default(),
        };
        message.idempotency_key = plan::idempotency_key(notifier, &message);
        message
    }

    /// Delivers until `stop` turns true (or its sender is dropped): a pass, then a sleep until
    /// the next row is due (50 ms to 5 s) or `wake` is notified (the engine wrote rows).
    /// Stopping abandons a pass in progress at once rather than waiting up to the send timeout:
    /// its rows are claimed, so they come back after their backoff under the same key.
    /// Store errors are logged and retried; this never panics or returns early.
    pub async fn run(self, wake: Arc<Notify>, mut stop: watch::Receiver<bool>) {
        loop {
            let pass = tokio::select! {
                biased;
                _ = stop.wait_for(|&stop| stop) => break,
                pass = self.resend_then_deliver() => pass,
            };
            let delay = match pass {
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
                biased;
                _ = stop.wait_for(|&stop| stop) => break,
                _ = wake.notified() => {}
                _ = tokio::time::sleep(delay) => {}
            }
        }
        tracing::debug!("outbox worker stopped");
    }

    /// One pass of `run`: the resends first (see the module doc), then the due rows.
    async fn resend_then_deliver(&self) -> Result<DeliveryReport, StoreError> {
        if let Err(e) = self.resend().await {
            tracing::warn!(error = %e, "outbox: cannot read the still-firing alerts to send again; will retry");
        }
        self.deliver_held().await;
        self.deliver_due().await
    }

    /// When the next resend is due, if any notifier resends.
    fn next_resend_ms(&self) -> Option<UnixMillis> {
        let resent = self.lock_resent();
        self.notifiers
            .iter()
            .filter_map(|(name, notifier)| {
                let every = notifier.resend_interval()?.as_millis() as i64;
                Some(
                    resent
                        .get(name)
                        .map_or(0, |last| last.saturating_add(every)),
                )
            })
            .min()
    }

    async fn idle_delay(&self) -> Duration {
        if self.held.as_ref().is_some_and(|held| !held.is_empty()) {
            // Held rows: look again soon (their due times are in memory, not in the store).
            return ERROR_SLEEP;
        }
        let next_resend = self.next_resend_ms();
        let until = |at: UnixMillis| {
            let ms = at.saturating_sub(self.clock.now_ms()).max(0) as u64;
            Duration::from_millis(ms).clamp(MIN_SLEEP, MAX_SLEEP)
        };
        match self.store.outbox_next_wakeup().await {
            Ok(Some(at)) => until(next_resend.map_or(at, |resend| resend.min(at))),
            Ok(None) => next_resend.map_or(MAX_SLEEP, until),
            Err(e) => {
                tracing::warn!(error = %e, "outbox: cannot read the next due time; will retry");
                ERROR_SLEEP
            }
        }
    }
}

/// Whether a notifier last re-sent at `last_ms` (never: `None`) is due again at `now_ms`. A
/// clock that went back counts as due, rather than as a long silence.
pub fn resend_due(last_ms: Option<UnixMillis>, now_ms: UnixMillis, every: Duration) -> bool {
    last_ms.is_none_or(|last| now_ms < last || now_ms - last >= every.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::path::Path;
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;
    use crate::alert::records::{AlertBatch, OutboxEntry, OutboxState, StoredAlert};
    use crate::clock::{Clock, ManualClock};
    use crate::model::{AlertNotice, Category, Severity};
    use crate::notifiers::NotifyFuture;
    use crate::store::StoreOptions;

    const T0: i64 = 1_700_000_000_000;

    /// Records every attempt; fails while `down`, or with the queued errors first.
    struct FakeNotifier {
        name: String,
        attempts: Mutex<Vec<GroupMessage>>,
        delivered: Mutex<Vec<GroupMessage>>,
        fail_next: Mutex<VecDeque<NotifyError>>,
        down: AtomicBool,
        /// Never answers (after recording the attempt).
        hang: bool,
        /// Where the rows are checked at send time, to prove they were persisted and claimed.
        store: Option<Store>,
        seen_rows: Mutex<Vec<(i64, OutboxState, u32)>>,
        sending: Arc<Notify>,
        /// Its `resend_interval` (none: like email and webhooks).
        resend_every: Option<Duration>,
    }

    impl FakeNotifier {
        fn new(name: &str) -> FakeNotifier {
            FakeNotifier {
                name: name.into(),
                attempts: Mutex::default(),
                delivered: Mutex::default(),
                fail_next: Mutex::default(),
                down: AtomicBool::new(false),
                hang: false,
                store: None,
                seen_rows: Mutex::default(),
                sending: Arc::default(),
                resend_every: None,
            }
        }

        fn failing(self, errors: impl IntoIterator<Item = NotifyError>) -> FakeNotifier {
            self.fail_next.lock().unwrap().extend(errors);
            self
        }

        fn attempts(&self) -> Vec<GroupMessage> {
            self.attempts.lock().unwrap().clone()
        }

        fn delivered(&self) -> Vec<GroupMessage> {
            self.delivered.lock().unwrap().clone()
        }
    }

    impl Notifier for FakeNotifier {
        fn name(&self) -> &str {
            &self.name
        }

        fn send<'a>(&'a self, message: &'a GroupMessage) -> NotifyFuture<'a> {
            Box::pin(async move {
                if let Some(store) = &self.store {
                    let rows = store.outbox_list(true, 100).await.expect("list outbox");
                    self.seen_rows
                        .lock()
                        .unwrap()
                        .extend(rows.iter().map(|r| (r.id, r.state, r.attempts)));
                }
                self.attempts.lock().unwrap().push(message.clone());
                self.sending.notify_one();
                if self.hang {
                    std::future::pending::<()>().await;
                }
                if let Some(e) = self.fail_next.lock().unwrap().pop_front() {
                    return Err(e);
                }
                if self.down.load(Ordering::SeqCst) {
                    return Err(NotifyError::retryable("connection refused"));
                }
                self.delivered.lock().unwrap().push(message.clone());
                Ok(())
            })
        }

        fn resend_interval(&self) -> Option<Duration> {
            self.resend_every
        }
    }

    async fn open(dir: &Path, clock: &Arc<ManualClock>) -> Store {
        Store::open(dir, StoreOptions::default(), clock.clone())
            .await
            .expect("open store")
    }

    fn outbox(store: &Store, clock: &Arc<ManualClock>, notifiers: &[&Arc<FakeNotifier>]) -> Outbox {
        let notifiers = notifiers.iter().map(|n| (*n).clone() as Arc<dyn Notifier>);
        Outbox::new(
            store.clone(),
            notifiers.collect::<Vec<_>>(),
            clock.clone(),
            Some("https://lookout.example.org".into()),
        )
    }

    fn entry(
        notifier: &str,
        group: &str,
        alert: &str,
        severity: Severity,
        at_ms: i64,
    ) -> OutboxEntry {
        let labels: BTreeMap<String, String> = [("host".to_string(), group.to_string())]
            .into_iter()
            .collect();
        OutboxEntry {
            notifier: notifier.into(),
            group_key: format!("{{host=\"{group}\"}}"),
            group_labels: labels.clone(),
            due_ms: at_ms,
            notice: AlertNotice {
                alert_id: alert.into(),
                rule: alert.into(),
                kind: NoticeKind::Firing,
                severity,
                previous_severity: None,
                category: Category::Resource,
                labels,
                summary: format!("{alert} on {group}"),
                description: String::new(),
                value: "97%".into(),
                threshold: "95%".into(),
                since_ms: at_ms,
                at_ms,
                runbook_url: None,
                explains: Vec::new(),
                resolved_while_muted: None,
            },
        }
    }

    async fn enqueue(store: &Store, entries: Vec<OutboxEntry>) -> Vec<i64> {
        store
            .commit_alerts(&AlertBatch {
                outbox: entries,
                ..AlertBatch::default()
            })
            .await
            .expect("commit outbox rows")
    }

    async fn row(store: &Store, id: i64) -> OutboxRow {
        let rows = store.outbox_list(true, 1_000).await.unwrap();
        rows.into_iter().find(|r| r.id == id).expect("row exists")
    }

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn a_resend_is_due_first_at_once_then_every_interval() {
        let minute = secs(60);
        for (last, now, due) in [
            (None, T0, true),
            (Some(T0), T0, false),
            (Some(T0), T0 + 59_999, false),
            (Some(T0), T0 + 60_000, true),
            (Some(T0), T0 + 3_600_000, true),
            (Some(T0), T0 - 1, true),
        ] {
            assert_eq!(resend_due(last, now, minute), due, "{last:?} {now}");
        }
    }

    /// The live alert the engine would have stored with `entry(.., alert, .., at_ms)`.
    fn firing_alert(alert: &str, severity: Severity, since_ms: i64) -> StoredAlert {
        StoredAlert {
            id: alert.into(),
            rule: alert.into(),
            labels: BTreeMap::new(),
            state: "firing".into(),
            severity,
            since_ms,
            last_notified_ms: Some(since_ms),
            value: Some(0.97),
            summary: String::new(),
            muted_by: None,
            acknowledged_by: None,
            acknowledged_ms: None,
            told: true,
            flapping: false,
        }
    }

    #[tokio::test]
    async fn firing_alerts_are_sent_again_every_resend_interval_until_they_resolve() {
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::new(T0);
        let store = open(dir.path(), &clock).await;
        let am = Arc::new(FakeNotifier {
            resend_every: Some(secs(60)),
            ..FakeNotifier::new("am")
        });
        let mail = Arc::new(FakeNotifier::new("mail"));
        let worker = outbox(&store, &clock, &[&am, &mail]);
        // Nothing firing yet: nothing to send again.
        assert_eq!(worker.resend().await.unwrap(), ResendReport::default());

        let mut escalated = entry("am", "web1", "cpu", Severity::Critical, T0);
        escalated.notice.kind = NoticeKind::Escalated;
        escalated.notice.previous_severity = Some(Severity::Warning);
        store
            .commit_alerts(&AlertBatch {
                upserts: vec![
                    firing_alert("cpu", Severity::Critical, T0),
                    firing_alert("disk", Severity::Warning, T0),
                ],
                outbox: vec![
                    escalated,
                    entry("mail", "web1", "cpu", Severity::Critical, T0),
                    entry("am", "web2", "disk", Severity::Warning, T0),
                ],
                ..AlertBatch::default()
            })
            .await
            .unwrap();
        assert_eq!(worker.deliver_due().await.unwrap().rows_delivered, 3);
        assert_eq!(am.delivered().len(), 2);

        // The interval started with the (empty) resend above.
        clock.advance(secs(59));
        assert_eq!(worker.resend().await.unwrap(), ResendReport::default());
        clock.advance(secs(1));
        let report = worker.resend().await.unwrap();
        assert_eq!(report.resent, vec![("am".to_string(), 2)]);
        let again = am.delivered().pop().unwrap();
        let shown: Vec<(&str, NoticeKind, Option<Severity>, i64)> = again
            .notices
            .iter()
            .map(|n| (n.alert_id.as_str(), n.kind, n.previous_severity, n.since_ms))
            .collect();
        assert_eq!(
            shown,
            [
                ("cpu", NoticeKind::Repeat, None, T0),
                ("disk", NoticeKind::Repeat, None, T0)
            ],
            "the notices as delivered, as repeats"
        );
        assert_eq!(
            again.dashboard_url.as_deref(),
            Some("https://lookout.example.org")
        );
        assert_eq!(mail.delivered().len(), 1, "email has no resend");
        assert_eq!(worker.metrics().snapshot()["am"].messages_resent, 1);

        // cpu resolves: the engine removes it and queues the resolved notice together.
        let mut resolved = entry("am", "web1", "cpu", Severity::Critical, T0);
        resolved.notice.kind = NoticeKind::Resolved;
        resolved.notice.at_ms = T0 + 90_000;
        store
            .commit_alerts(&AlertBatch {
                removed: vec!["cpu".into()],
                outbox: vec![resolved],
                ..AlertBatch::default()
            })
            .await
            .unwrap();
        assert_eq!(worker.deliver_due().await.unwrap().rows_delivered, 1);
        clock.advance(secs(60));
        let report = worker.resend().await.unwrap();
        assert_eq!(report.resent, vec![("am".to_string(), 1)]);
        let ids: Vec<String> = am
            .delivered()
            .pop()
            .unwrap()
            .notices
            .iter()
            .map(|n| n.alert_id.clone())
            .collect();
        assert_eq!(ids, ["disk"], "a resolved alert is not sent again");

        // A failed resend is counted and waits for the next interval.
        am.down.store(true, Ordering::SeqCst);
        clock.advance(secs(60));
        let report = worker.resend().await.unwrap();
        assert_eq!(
            report.errors,
            vec![("am".to_string(), "connection refused".to_string())]
        );
        clock.advance(secs(30));
        assert_eq!(worker.resend().await.unwrap(), ResendReport::default());
        assert_eq!(worker.metrics().snapshot()["am"].resends_failed, 1);

        // A new worker (restart, reload) sends at once what the store says still fires.
        am.down.store(false, Ordering::SeqCst);
        let before = am.delivered().len();
        let restarted = outbox(&store, &clock, &[&am]);
        assert_eq!(
            restarted.resend().await.unwrap().resent,
            vec![("am".to_string(), 1)]
        );
        assert_eq!(am.delivered().len(), before + 1);
    }

    #[tokio::test]
    async fn run_resends_on_schedule_when_idle() {
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::new(T0);
        let store = open(dir.path(), &clock).await;
        let am = Arc::new(FakeNotifier {
            resend_every: Some(Duration::from_millis(100)),
            ..FakeNotifier::new("am")
        });
        store
            .commit_alerts(&AlertBatch {
                upserts: vec![firing_alert("cpu", Severity::Critical, T0)],
                outbox: vec![entry("am", "web1", "cpu", Severity::Critical, T0)],
                ..AlertBatch::default()
            })
            .await
            .unwrap();
        let worker = outbox(&store, &clock, &[&am]);
        assert_eq!(worker.deliver_due().await.unwrap().rows_delivered, 1);
        let (stop_tx, stop_rx) = watch::channel(false);
        let task = tokio::spawn(worker.run(Arc::new(Notify::new()), stop_rx));
        // The first pass resends at once; later ones as the (manual) clock moves on.
        for sent in 2..=4 {
            let done = tokio::time::timeout(secs(10), async {
                while am.delivered().len() < sent {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            })
            .await;
            assert!(done.is_ok(), "resend {sent} within 10 s");
            clock.advance(Duration::from_millis(100));
        }
        stop_tx.send(true).unwrap();
        tokio::time::timeout(secs(10), task).await.unwrap().unwrap();
    }

    #[test]
    fn backoff_doubles_from_its_first_wait_and_stops_at_its_cap() {
        let short = Backoff {
            first: Duration::from_millis(100),
            max: secs(1),
        };
        let longest = Backoff {
            first: secs(600),
            max: secs(3_600),
        };
        let ms = Duration::from_millis;
        // (backoff, attempts, expected wait)
        let cases = [
            // The defaults: 5 s, 10 s, 20 s, ... up to 5 min.
            (Backoff::DEFAULT, 0, secs(5)),
            (Backoff::DEFAULT, 1, secs(5)),
            (Backoff::DEFAULT, 2, secs(10)),
            (Backoff::DEFAULT, 3, secs(20)),
            (Backoff::DEFAULT, 4, secs(40)),
            (Backoff::DEFAULT, 5, secs(80)),
            (Backoff::DEFAULT, 6, secs(160)),
            (Backoff::DEFAULT, 7, secs(300)),
            (Backoff::DEFAULT, 8, secs(300)),
            (Backoff::DEFAULT, 40, secs(300)),
            (Backoff::DEFAULT, u32::MAX, secs(300)),
            (short, 1, ms(100)),
            (short, 2, ms(200)),
            (short, 4, ms(800)),
            (short, 5, secs(1)),
            (short, u32::MAX, secs(1)),
            // The largest the config accepts: no overflow however many attempts.
            (longest, 3, secs(2_400)),
            (longest, u32::MAX, secs(3_600)),
        ];
        for (backoff, attempts, expected) in cases {
            assert_eq!(
                backoff.after(attempts),
                expected,
                "{backoff:?} after {attempts} attempts"
            );
        }
        assert_eq!(short.next_attempt_ms(2, T0), T0 + 200);
        assert_eq!(longest.next_attempt_ms(1, i64::MAX - 1), i64::MAX);
    }

    #[tokio::test]
    async fn rows_are_persisted_before_sending_and_grouped_per_notifier_and_group() {
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::new(T0);
        let store = open(dir.path(), &clock).await;
        let mail = Arc::new(FakeNotifier {
            store: Some(store.clone()),
            ..FakeNotifier::new("mail")
        });
        let hook = Arc::new(FakeNotifier::new("hook"));
        let ids = enqueue(
            &store,
            vec![
                entry("mail", "web1", "disk", Severity::Warning, T0 - 2),
                entry("mail", "web1", "cpu", Severity::Critical, T0 - 1),
                entry("mail", "web1", "mem", Severity::Warning, T0 - 3),
                entry("mail", "web2", "cpu", Severity::Critical, T0),
                entry("hook", "web1", "cpu", Severity::Critical, T0),
                entry("mail", "web3", "later", Severity::Critical, T0 + 60_000),
            ],
        )
        .await;
        let worker = outbox(&store, &clock, &[&mail, &hook]);

        let report = worker.deliver_due().await.unwrap();
        assert_eq!(
            report,
            DeliveryReport {
                messages_sent: 3,
                rows_delivered: 5,
                ..DeliveryReport::default()
            }
        );
        let mut sent = mail.delivered();
        sent.sort_by(|a, b| a.group_key.cmp(&b.group_key));
        assert_eq!(sent.len(), 2);
        let order: Vec<&str> = sent[0]
            .notices
            .iter()
            .map(|n| n.alert_id.as_str())
            .collect();
        assert_eq!(order, ["cpu", "mem", "disk"], "worst first, then oldest");
        assert_eq!(sent[0].group_labels["host"], "web1");
        assert_eq!(
            sent[0].dashboard_url.as_deref(),
            Some("https://lookout.example.org")
        );
        assert_eq!(sent[1].notices.len(), 1);
        assert_eq!(hook.delivered().len(), 1);
        assert_ne!(sent[0].idempotency_key, sent[1].idempotency_key);
        assert_ne!(sent[0].idempotency_key, hook.delivered()[0].idempotency_key);

        // While sending, every row was already in the store, the sent ones claimed.
        let seen = mail.seen_rows.lock().unwrap().clone();
        for id in &ids {
            assert!(
                seen.iter().any(|(i, _, _)| i == id),
                "row {id} persisted before sending"
            );
        }
        for id in &ids[..4] {
            assert!(
                seen.contains(&(*id, OutboxState::Pending, 1)),
                "row {id} claimed before sending: {seen:?}"
            );
        }

        // Nothing more until the later row is due.
        assert!(worker.deliver_due().await.unwrap().is_empty());
        clock.advance(secs(60));
        assert_eq!(worker.deliver_due().await.unwrap().rows_delivered, 1);
        assert_eq!(mail.delivered().len(), 3);
        assert!(store.outbox_list(false, 10).await.unwrap().is_empty());

        let metrics = worker.metrics().snapshot();
        assert_eq!(
            metrics["mail"],
            NotifierCounts {
                messages_sent: 3,
                rows_delivered: 5,
                ..NotifierCounts::default()
            }
        );
        assert_eq!(metrics["hook"].rows_delivered, 1);
    }

    #[tokio::test]
    async fn a_due_group_takes_along_its_rows_not_yet_due() {
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::new(T0);
        let store = open(dir.path(), &clock).await;
        let mail = Arc::new(FakeNotifier::new("mail"));
        // A warning waiting for its group wait, then a critical of the same group due now.
        enqueue(
            &store,
            vec![
                entry("mail", "web1", "disk", Severity::Warning, T0 + 10_000),
                entry("mail", "web1", "app", Severity::Critical, T0),
                entry("mail", "web2", "cpu", Severity::Warning, T0 + 10_000),
            ],
        )
        .await;
        let worker = outbox(&store, &clock, &[&mail]);
        let report = worker.deliver_due().await.unwrap();
        assert_eq!(report.messages_sent, 1);
        assert_eq!(
            report.rows_delivered, 2,
            "the web1 warning joins the critical"
        );
        let delivered = mail.delivered();
        let ids: Vec<&str> = delivered[0]
            .notices
            .iter()
            .map(|n| n.alert_id.as_str())
            .collect();
        assert_eq!(ids, ["app", "disk"]);
        clock.advance(secs(10));
        assert_eq!(
            worker.deliver_due().await.unwrap().rows_delivered,
            1,
            "web2 on its own time"
        );
    }

    /// Regression (issue 16, finding 6): an urgent row pulled a not-yet-due row into its
    /// batch; the retry went without it and the pulled row later alone, both under the batch's
    /// key. And a check down, up, down while the receiver failed delivered the newer firing
    /// first and the first firing last.
    #[tokio::test]
    async fn a_receiver_down_while_an_alert_flips_gets_one_message_per_key_and_each_alert_in_order()
    {
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::new(T0);
        let store = open(dir.path(), &clock).await;
        let hook = Arc::new(FakeNotifier::new("hook"));
        hook.down.store(true, Ordering::SeqCst);
        let worker = outbox(&store, &clock, &[&hook]);
        let notice = |alert: &str, kind: NoticeKind, at_ms: i64, due_ms: i64| {
            let mut e = entry("hook", "web1", alert, Severity::Critical, at_ms);
            e.notice.kind = kind;
            e.due_ms = due_ms;
            e
        };
        // app fires (urgent, due at once); disk waits for its group wait.
        enqueue(
            &store,
            vec![
                notice("app", NoticeKind::Firing, T0, T0),
                notice("disk", NoticeKind::Firing, T0, T0 + 20_000),
            ],
        )
        .await;
        worker.deliver_due().await.unwrap();
        // app recovers (the resolution waits for the group interval), then fails again.
        clock.advance(secs(2));
        enqueue(
            &store,
            vec![notice("app", NoticeKind::Resolved, T0 + 2_000, T0 + 12_000)],
        )
        .await;
        worker.deliver_due().await.unwrap();
        clock.advance(secs(2));
        enqueue(
            &store,
            vec![notice("app", NoticeKind::Firing, T0 + 4_000, T0 + 4_000)],
        )
        .await;
        // Every second for a minute the receiver fails; then it is back.
        for _ in 0..60 {
            worker.deliver_due().await.unwrap();
            clock.advance(secs(1));
        }
        hook.down.store(false, Ordering::SeqCst);
        clock.advance(secs(300));
        worker.deliver_due().await.unwrap();
        assert!(store.outbox_list(false, 10).await.unwrap().is_empty());

        let shown = |m: &GroupMessage| -> Vec<(String, NoticeKind, i64)> {
            m.notices
                .iter()
                .map(|n| (n.alert_id.clone(), n.kind, n.at_ms))
                .collect()
        };
        let attempts = hook.attempts();
        let mut by_key: BTreeMap<String, &GroupMessage> = BTreeMap::new();
        for m in &attempts {
            let first = by_key.entry(m.idempotency_key.clone()).or_insert(m);
            assert_eq!(*first, m, "one key, one message");
        }
        assert_eq!(
            shown(&attempts[0]),
            [
                ("app".into(), NoticeKind::Firing, T0),
                ("disk".into(), NoticeKind::Firing, T0)
            ]
        );
        let delivered = hook.delivered();
        assert_eq!(
            delivered.len(),
            1,
            "{:?}",
            delivered.iter().map(shown).collect::<Vec<_>>()
        );
        assert_eq!(
            shown(&delivered[0]),
            [
                ("app".into(), NoticeKind::Firing, T0),
                ("app".into(), NoticeKind::Resolved, T0 + 2_000),
                ("app".into(), NoticeKind::Firing, T0 + 4_000),
                ("disk".into(), NoticeKind::Firing, T0),
            ],
            "the whole batch once, the app's notices in order"
        );
        assert_ne!(delivered[0].idempotency_key, attempts[0].idempotency_key);
    }

    #[tokio::test]
    async fn retries_follow_the_backoff_schedule_under_one_key() {
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::new(T0);
        let store = open(dir.path(), &clock).await;
        let mail = Arc::new(
            FakeNotifier::new("mail")
                .failing((0..3).map(|i| NotifyError::retryable(format!("refused {i}")))),
        );
        let ids = enqueue(
            &store,
            vec![entry("mail", "web1", "cpu", Severity::Critical, T0)],
        )
        .await;
        let worker = outbox(&store, &clock, &[&mail]);

        for (attempt, wait) in [(1u32, 5u64), (2, 10), (3, 20)] {
            let report = worker.deliver_due().await.unwrap();
            assert_eq!(report.rows_retried, 1, "attempt {attempt}");
            assert_eq!(
                report.errors,
                vec![("mail".to_string(), format!("refused {}", attempt - 1))]
            );
            let r = row(&store, ids[0]).await;
            assert_eq!((r.state, r.attempts), (OutboxState::Pending, attempt));
            let next = clock.now_ms() + wait as i64 * 1_000;
            assert_eq!(r.next_attempt_ms, next);
            assert_eq!(store.outbox_next_wakeup().await.unwrap(), Some(next));
            clock.set(next - 1);
            assert!(
                worker.deliver_due().await.unwrap().is_empty(),
                "not before its backoff"
            );
            clock.set(next);
        }
        let report = worker.deliver_due().await.unwrap();
        assert_eq!(report.rows_delivered, 1);
        let attempts = mail.attempts();
        assert_eq!(attempts.len(), 4);
        assert!(
            attempts.iter().all(|m| m == &attempts[0]),
            "the same message every time"
        );
        let r = row(&store, ids[0]).await;
        assert_eq!((r.state, r.attempts), (OutboxState::Delivered, 4));
        assert_eq!(r.delivered_ms, Some(T0 + 35_000));
        assert_eq!(
            r.batch_key.as_deref(),
            Some(attempts[0].idempotency_key.as_str())
        );
        assert_eq!(worker.metrics().snapshot()["mail"].rows_retried, 3);
    }

    #[tokio::test]
    async fn retries_follow_the_configured_backoff() {
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::new(T0);
        let store = open(dir.path(), &clock).await;
        let mail = Arc::new(
            FakeNotifier::new("mail")
                .failing((0..3).map(|i| NotifyError::retryable(format!("refused {i}")))),
        );
        let ids = enqueue(
            &store,
            vec![entry("mail", "web1", "cpu", Severity::Critical, T0)],
        )
        .await;
        let worker = outbox(&store, &clock, &[&mail]).with_backoff(Backoff {
            first: Duration::from_millis(200),
            max: Duration::from_millis(500),
        });
        // 200 ms, doubled to 400 ms, then capped at 500 ms.
        for (attempt, wait_ms) in [(1u32, 200i64), (2, 400), (3, 500)] {
            assert_eq!(worker.deliver_due().await.unwrap().rows_retried, 1);
            let r = row(&store, ids[0]).await;
            assert_eq!((r.state, r.attempts), (OutboxState::Pending, attempt));
            let next = clock.now_ms() + wait_ms;
            assert_eq!(r.next_attempt_ms, next, "attempt {attempt}");
            clock.set(next - 1);
            assert!(
                worker.deliver_due().await.unwrap().is_empty(),
                "not before its backoff"
            );
            clock.set(next);
        }
        assert_eq!(worker.deliver_due().await.unwrap().rows_delivered, 1);
        let r = row(&store, ids[0]).await;
        assert_eq!(r.delivered_ms, Some(T0 + 1_100));
    }

    #[tokio::test]
    async fn a_permanent_error_fails_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::new(T0);
        let store = open(dir.path(), &clock).await;
        let mail = Arc::new(
            FakeNotifier::new("mail").failing([NotifyError::permanent("550 no such recipient")]),
        );
        let ids = enqueue(
            &store,
            vec![entry("mail", "web1", "cpu", Severity::Critical, T0)],
        )
        .await;
        let worker = outbox(&store, &clock, &[&mail]);
        let report = worker.deliver_due().await.unwrap();
        assert_eq!(report.rows_failed, 1);
        assert_eq!(report.rows_retried, 0);
        let r = row(&store, ids[0]).await;
        assert_eq!(r.state, OutboxState::Failed);
        assert_eq!(
            r.last_error.as_deref(),
            Some("permanent error: 550 no such recipient")
        );
        clock.advance(secs(3_600));
        assert!(worker.deliver_due().await.unwrap().is_empty());
        assert_eq!(mail.attempts().len(), 1);
        assert_eq!(worker.metrics().snapshot()["mail"].rows_failed, 1);
    }

    #[tokio::test]
    async fn rows_for_a_notifier_no_longer_configured_fail() {
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::new(T0);
        let store = open(dir.path(), &clock).await;
        let mail = Arc::new(FakeNotifier::new("mail"));
        let ids = enqueue(
            &store,
            vec![
                entry("pager", "web1", "cpu", Severity::Critical, T0),
                entry("mail", "web1", "cpu", Severity::Critical, T0),
            ],
        )
        .await;
        let report = outbox(&store, &clock, &[&mail])
            .deliver_due()
            .await
            .unwrap();
        assert_eq!((report.rows_failed, report.rows_delivered), (1, 1));
        assert_eq!(
            report.errors,
            vec![(
                "pager".to_string(),
                "notifier pager is not configured".to_string()
            )]
        );
        assert_eq!(row(&store, ids[0]).await.state, OutboxState::Failed);
    }

    #[tokio::test]
    async fn rows_still_failing_24h_after_they_were_written_are_given_up() {
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::new(T0);
        let store = open(dir.path(), &clock).await;
        let mail = Arc::new(FakeNotifier::new("mail"));
        mail.down.store(true, Ordering::SeqCst);
        let ids = enqueue(
            &store,
            vec![entry("mail", "web1", "cpu", Severity::Critical, T0)],
        )
        .await;
        let worker = outbox(&store, &clock, &[&mail]);
        let give_up_at = T0 + GIVE_UP_AFTER.as_millis() as i64;
        let mut attempt_times = Vec::new();
        while let Some(next) = store.outbox_next_wakeup().await.unwrap() {
            assert!(attempt_times.len() < 1_000, "never gave up");
            clock.set(next);
            attempt_times.push(next);
            worker.deliver_due().await.unwrap();
        }
        let r = row(&store, ids[0]).await;
        assert_eq!(r.state, OutboxState::Failed);
        let last = *attempt_times.last().unwrap();
        let before = attempt_times[attempt_times.len() - 2];
        assert!(
            before < give_up_at && last >= give_up_at,
            "{before} {last} {give_up_at}"
        );
        assert!(last - before <= 300_000, "retried every 5 min at most");
        assert_eq!(mail.attempts().len(), attempt_times.len());
        assert_eq!(
            r.last_error.unwrap(),
            format!(
                "gave up after {} attempts over 24 h; last error: connection refused",
                r.attempts
            )
        );
    }

    /// A newer notice that joined rows failing for a day (its alert's older notice) is not
    /// given up with them: it has its own 24 h, and goes out alone, under its own key.
    #[tokio::test]
    async fn a_newer_notice_joining_rows_past_the_give_up_time_is_not_given_up_with_them() {
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::new(T0);
        let store = open(dir.path(), &clock).await;
        let mail = Arc::new(FakeNotifier::new("mail"));
        mail.down.store(true, Ordering::SeqCst);
        let old = enqueue(
            &store,
            vec![entry("mail", "web1", "cpu", Severity::Critical, T0)],
        )
        .await;
        let worker = outbox(&store, &clock, &[&mail]);
        let give_up_at = T0 + GIVE_UP_AFTER.as_millis() as i64;
        clock.set(give_up_at - 60_000);
        let mut resolved = entry("mail", "web1", "cpu", Severity::Critical, clock.now_ms());
        resolved.notice.kind = NoticeKind::Resolved;
        let new = enqueue(&store, vec![resolved]).await;
        // Together (the alert's notices in order), failing, past the old row's 24 h.
        worker.deliver_due().await.unwrap();
        clock.set(give_up_at + 1);
        let report = worker.deliver_due().await.unwrap();
        assert_eq!(
            (report.rows_failed, report.rows_retried),
            (1, 1),
            "{report:?}"
        );
        assert_eq!(row(&store, old[0]).await.state, OutboxState::Failed);
        assert_eq!(row(&store, new[0]).await.state, OutboxState::Pending);
        let together = mail.attempts().last().unwrap().clone();
        assert_eq!(together.notices.len(), 2);

        mail.down.store(false, Ordering::SeqCst);
        clock.advance(secs(300));
        assert_eq!(worker.deliver_due().await.unwrap().rows_delivered, 1);
        let alone = mail.delivered().pop().unwrap();
        assert_eq!(alone.notices.len(), 1);
        assert_eq!(alone.notices[0].kind, NoticeKind::Resolved);
        assert_ne!(
            alone.idempotency_key, together.idempotency_key,
            "other content, other key"
        );
    }

    #[tokio::test]
    async fn after_a_restart_pending_rows_resume_and_delivered_ones_are_not_resent() {
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::new(T0);
        let store = open(dir.path(), &clock).await;
        let mail = Arc::new(FakeNotifier::new("mail"));
        enqueue(
            &store,
            vec![
                entry("mail", "web1", "now", Severity::Critical, T0),
                entry("mail", "web2", "later", Severity::Critical, T0 + 60_000),
            ],
        )
        .await;
        outbox(&store, &clock, &[&mail])
            .deliver_due()
            .await
            .unwrap();
        assert_eq!(mail.delivered().len(), 1);
        store.close().await.unwrap();

        clock.advance(secs(120));
        let store = open(dir.path(), &clock).await;
        let mail2 = Arc::new(FakeNotifier::new("mail"));
        let worker = outbox(&store, &clock, &[&mail2]);
        assert_eq!(worker.deliver_due().await.unwrap().rows_delivered, 1);
        assert!(worker.deliver_due().await.unwrap().is_empty());
        let sent = mail2.delivered();
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].notices[0].alert_id, "later");
    }

    #[tokio::test]
    async fn a_crash_between_send_and_mark_resends_once_after_the_backoff_with_the_same_key() {
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::new(T0);
        let store = open(dir.path(), &clock).await;
        let ids = enqueue(
            &store,
            vec![entry("mail", "web1", "cpu", Severity::Critical, T0)],
        )
        .await;

        // The send goes out, then the process dies before marking anything.
        let stuck = Arc::new(FakeNotifier {
            hang: true,
            ..FakeNotifier::new("mail")
        });
        let sending = stuck.sending.clone();
        let worker = outbox(&store, &clock, &[&stuck]);
        let pass = tokio::spawn(async move { worker.deliver_due().await });
        sending.notified().await;
        pass.abort();
        assert!(pass.await.unwrap_err().is_cancelled());
        store.close().await.unwrap();
        let first_key = stuck.attempts()[0].idempotency_key.clone();

        let store = open(dir.path(), &clock).await;
        let mail = Arc::new(FakeNotifier::new("mail"));
        let worker = outbox(&store, &clock, &[&mail]);
        let r = row(&store, ids[0]).await;
        assert_eq!((r.state, r.attempts), (OutboxState::Pending, 1));
        assert!(
            worker.deliver_due().await.unwrap().is_empty(),
            "not before the backoff"
        );
        // A new notice of the same group goes on its own: merging it into the claimed batch
        // would change that batch's message and key, and the receiver could not drop the repeat.
        let newer = enqueue(
            &store,
            vec![entry("mail", "web1", "disk", Severity::Warning, T0)],
        )
        .await;
        assert_eq!(worker.deliver_due().await.unwrap().rows_delivered, 1);
        assert_eq!(row(&store, newer[0]).await.state, OutboxState::Delivered);
        assert_ne!(mail.delivered()[0].idempotency_key, first_key);
        clock.advance(Backoff::DEFAULT.after(1) - Duration::from_millis(1));
        assert!(
            worker.deliver_due().await.unwrap().is_empty(),
            "not before the backoff"
        );
        clock.advance(Duration::from_millis(1));
        assert_eq!(worker.deliver_due().await.unwrap().messages_sent, 1);
        clock.advance(secs(3_600));
        assert!(worker.deliver_due().await.unwrap().is_empty());
        let sent = mail.delivered();
        assert_eq!(sent.len(), 2, "the new row, then the crashed one once");
        assert_eq!(sent[1].idempotency_key, first_key);
        assert_eq!(sent[1], stuck.attempts()[0], "the very same message");
    }

    #[tokio::test]
    async fn an_outage_then_recovery_delivers_every_group_exactly_once() {
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::new(T0);
        let store = open(dir.path(), &clock).await;
        let mail = Arc::new(FakeNotifier::new("mail"));
        mail.down.store(true, Ordering::SeqCst);
        let worker = outbox(&store, &clock, &[&mail]);
        let mut keys_in_outage = BTreeMap::new();
        for i in 0..10 {
            enqueue(
                &store,
                vec![entry(
                    "mail",
                    &format!("web{i}"),
                    "cpu",
                    Severity::Critical,
                    clock.now_ms(),
                )],
            )
            .await;
            worker.deliver_due().await.unwrap();
            clock.advance(secs(7));
        }
        for _ in 0..5 {
            clock.advance(secs(300));
            assert_eq!(worker.deliver_due().await.unwrap().rows_retried, 10);
        }
        for m in mail.attempts() {
            let previous = keys_in_outage.insert(m.group_key.clone(), m.idempotency_key.clone());
            assert!(
                previous.is_none_or(|k| k == m.idempotency_key),
                "one key per group"
            );
        }
        assert_eq!(keys_in_outage.len(), 10);

        mail.down.store(false, Ordering::SeqCst);
        clock.advance(secs(300));
        let report = worker.deliver_due().await.unwrap();
        assert_eq!((report.messages_sent, report.rows_delivered), (10, 10));
        clock.advance(secs(3_600));
        assert!(worker.deliver_due().await.unwrap().is_empty());
        let sent = mail.delivered();
        assert_eq!(sent.len(), 10);
        let delivered: BTreeMap<String, String> = sent
            .iter()
            .map(|m| (m.group_key.clone(), m.idempotency_key.clone()))
            .collect();
        assert_eq!(delivered, keys_in_outage, "each group once, under its key");
    }

    #[tokio::test]
    async fn a_hung_notifier_times_out_without_holding_up_the_others() {
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::new(T0);
        let store = open(dir.path(), &clock).await;
        let slow = Arc::new(FakeNotifier {
            hang: true,
            ..FakeNotifier::new("slow")
        });
        let fast = Arc::new(FakeNotifier::new("fast"));
        let ids = enqueue(
            &store,
            vec![
                entry("slow", "web1", "cpu", Severity::Critical, T0),
                entry("fast", "web1", "cpu", Severity::Critical, T0),
            ],
        )
        .await;
        let worker =
            outbox(&store, &clock, &[&slow, &fast]).with_send_timeout(Duration::from_millis(100));
        let report = worker.deliver_due().await.unwrap();
        assert_eq!((report.rows_delivered, report.rows_retried), (1, 1));
        assert_eq!(
            report.errors,
            vec![("slow".to_string(), "no answer within 0.1 s".to_string())]
        );
        assert_eq!(row(&store, ids[0]).await.state, OutboxState::Pending);
        assert_eq!(row(&store, ids[1]).await.state, OutboxState::Delivered);
    }

    #[tokio::test]
    async fn run_delivers_when_woken_and_stops_when_told() {
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::new(T0);
        let store = open(dir.path(), &clock).await;
        let mail = Arc::new(FakeNotifier::new("mail"));
        let wake = Arc::new(Notify::new());
        let (stop_tx, stop_rx) = watch::channel(false);
        let worker = tokio::spawn(outbox(&store, &clock, &[&mail]).run(wake.clone(), stop_rx));

        enqueue(
            &store,
            vec![entry("mail", "web1", "cpu", Severity::Critical, T0)],
        )
        .await;
        wake.notify_one();
        let delivered = tokio::time::timeout(secs(10), async {
            while mail.delivered().is_empty() {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await;
        assert!(
            delivered.is_ok(),
            "woken worker did not deliver within 10 s"
        );

        stop_tx.send(true).unwrap();
        tokio::time::timeout(secs(10), worker)
            .await
            .expect("worker stops within 10 s")
            .expect("worker does not panic");
        assert_eq!(mail.delivered().len(), 1);
    }

    #[tokio::test]
    async fn run_stops_at_once_even_in_the_middle_of_a_send() {
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::new(T0);
        let store = open(dir.path(), &clock).await;
        let ids = enqueue(
            &store,
            vec![entry("mail", "web1", "cpu", Severity::Critical, T0)],
        )
        .await;
        let stuck = Arc::new(FakeNotifier {
            hang: true,
            ..FakeNotifier::new("mail")
        });
        let sending = stuck.sending.clone();
        let (stop_tx, stop_rx) = watch::channel(false);
        let worker = outbox(&store, &clock, &[&stuck]);
        let handle = tokio::spawn(worker.run(Arc::new(Notify::new()), stop_rx));
        sending.notified().await;
        stop_tx.send(true).unwrap();
        // Far below the 30 s send timeout.
        tokio::time::timeout(secs(5), handle)
            .await
            .expect("stopped without waiting for the hung send")
            .expect("worker does not panic");
        let r = row(&store, ids[0]).await;
        assert_eq!((r.state, r.attempts), (OutboxState::Pending, 1));
        assert!(r.batch_key.is_some(), "claimed before the send");
    }
}
