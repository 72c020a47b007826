//! The web side's connections, bounded in time and number, so that clients that hold
//! connections without using them (idle, half-sent request heads, TLS without a ClientHello)
//! can neither keep /healthz and /metrics from answering nor take the file descriptors the
//! probes need.
//!
//! Every accepted connection has a slot in one table shared by the listeners, with the phase
//! it is in and since when:
//!
//! | phase | until | closed after |
//! |---|---|---|
//! | `Handshake` | the TLS handshake is done | `server.tls_handshake_timeout` from accept |
//! | `Head` | a request head is complete | `server.header_read_timeout` from the connection's start (or the end of its handshake), or from the first byte of a following request |
//! | `Idle` | the first byte of the next request | `server.idle_timeout` after the last response |
//! | `Busy` | the response is produced | never (a request in flight) |
//! | `Upgraded` | the WebSocket ends | never |
//!
//! A reaper closes the slots past their deadline four times a second. The table holds at most
//! `capacity` slots (`server.max_connections`, lowered so the descriptors kept for the rest of
//! Lookout stay free: `fds::connection_budget`). When a connection arrives at the cap, the one
//! that has been waiting longest without a request in flight (handshake, head or idle) is
//! closed to make room: someone holding connections open loses the oldest of them, while a
//! client that sends its request at once (a health check, a scrape) is served. Only when
//! every slot has a request in flight or a WebSocket is the new connection refused (503).
//!
//! The waiting connections are kept ordered by how long they have waited, so making room
//! costs O(log n) per accepted connection even under a burst of them. `deadline` is the pure
//! part; time comes in as an `Instant`.

use std::collections::{BTreeSet, HashMap};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::task::AbortHandle;

/// How often the reaper looks for connections past their deadline.
const REAP_EVERY: Duration = Duration::from_millis(250);
/// The least time between two warnings that the cap was reached.
const WARN_EVERY: Duration = Duration::from_secs(60);

/// The three timeouts of `[server]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    pub header_read: Duration,
    pub tls_handshake: Duration,
    pub idle: Duration,
}

/// What a connection is doing; see the module documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Handshake,
    Head,
    Idle,
    Busy,
    Upgraded,
}

impl Phase {
    /// Phases in which the client owes us something: the ones that time out and that make
    /// room at the cap.
    fn waiting(self) -> bool {
        matches!(self, Phase::Handshake | Phase::Head | Phase::Idle)
    }
}

/// When a connection in `phase` since `since` is closed; `None`: not by a timeout.
pub fn deadline(phase: Phase, since: Instant, timeouts: &Timeouts) -> Option<Instant> {
    let limit = match phase {
        Phase::Handshake => timeouts.tls_handshake,
        Phase::Head => timeouts.header_read,
        Phase::Idle => timeouts.idle,
        Phase::Busy | Phase::Upgraded => return None,
    };
    // An Instant that far ahead cannot be represented: no deadline, rather than a panic
    // (the config bounds the timeouts well below that).
    since.checked_add(limit)
}

/// Counters of what the table did, for the log and the tests.
#[derive(Debug, Default)]
pub struct Counts {
    /// Closed to make room at the cap.
    pub evicted: AtomicU64,
    /// Closed by a timeout.
    pub timed_out: AtomicU64,
    /// Refused at the cap (every slot at work).
    pub refused: AtomicU64,
}

/// One connection in the table.
#[derive(Debug)]
struct Entry {
    phase: Phase,
    since: Instant,
    /// The task serving it, to close it; set just after the task is spawned.
    task: Option<AbortHandle>,
}

#[derive(Debug, Default)]
struct Inner {
    next_id: u64,
    entries: HashMap<u64, Entry>,
    /// The waiting entries by (since, id): the first one is the one to close at the cap.
    waiting: BTreeSet<(Instant, u64)>,
}

impl Inner {
    /// Moves entry `id` to `phase` (as of `now`), keeping `waiting` in step.
    fn set(&mut self, id: u64, phase: Phase, now: Instant) {
        let Some(entry) = self.entries.get_mut(&id) else {
            return;
        };
        if entry.phase.waiting() {
            self.waiting.remove(&(entry.since, id));
        }
        entry.phase = phase;
        entry.since = now;
        if phase.waiting() {
            self.waiting.insert((now, id));
        }
    }

    fn remove(&mut self, id: u64) -> Option<Entry> {
        let entry = self.entries.remove(&id)?;
        if entry.phase.waiting() {
            self.waiting.remove(&(entry.since, id));
        }
        Some(entry)
    }

    /// The connection waiting longest whose task is known: the one to close at the cap.
    fn victim(&self) -> Option<u64> {
        self.waiting
            .iter()
            .map(|(_, id)| *id)
            .find(|id| self.entries.get(id).is_some_and(|e| e.task.is_some()))
    }
}

/// The table of connections of every listener.
#[derive(Debug)]
pub struct Connections {
    inner: Mutex<Inner>,
    capacity: usize,
    timeouts: Timeouts,
    pub counts: Counts,
    warned_at: Mutex<Option<Instant>>,
}

impl Connections {
    /// A table of at most `capacity` connections, and its reaper (a task that ends with the
    /// table). Needs a tokio runtime.
    pub fn start(capacity: usize, timeouts: Timeouts) -> Arc<Connections> {
        let connections = Arc::new(Connections {
            inner: Mutex::new(Inner::default()),
            capacity: capacity.max(1),
            timeouts,
            counts: Counts::default(),
            warned_at: Mutex::new(None),
        });
        tokio::spawn(reap(Arc::downgrade(&connections)));
        connections
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Connections open now.
    #[cfg(test)]
    fn open(&self) -> usize {
        self.lock().entries.len()
    }

    /// A slot for a connection just accepted (`tls`: its handshake comes first), making room
    /// at the cap by closing the connection waiting longest; `None` when every slot is at
    /// work (the connection is to be refused).
    pub fn admit(self: &Arc<Self>, tls: bool) -> Option<Admission> {
        let now = Instant::now();
        let mut inner = self.lock();
        let mut closing = None;
        if inner.entries.len() >= self.capacity {
            match inner.victim() {
                Some(id) => {
                    closing = inner.remove(id).and_then(|entry| entry.task);
                    self.counts.evicted.fetch_add(1, Ordering::Relaxed);
                }
                None => {
                    drop(inner);
                    self.counts.refused.fetch_add(1, Ordering::Relaxed);
                    self.warn_at_cap("refusing new ones: every one has a request in flight");
                    return None;
                }
            }
        }
        let id = inner.next_id;
        inner.next_id += 1;
        let phase = if tls { Phase::Handshake } else { Phase::Head };
        inner.entries.insert(
            id,
            Entry {
                phase,
                since: now,
                task: None,
            },
        );
        inner.waiting.insert((now, id));
        drop(inner);
        if let Some(task) = closing {
            task.abort();
            self.warn_at_cap("closing the ones waiting longest for a request");
        }
        Some(Admission {
            slot: Arc::new(Slot {
                id,
                table: self.clone(),
            }),
        })
    }

    fn warn_at_cap(&self, doing: &str) {
        let mut warned_at = self.warned_at.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        if warned_at.is_none_or(|at| now.duration_since(at) >= WARN_EVERY) {
            *warned_at = Some(now);
            tracing::warn!(
                capacity = self.capacity,
                evicted = self.counts.evicted.load(Ordering::Relaxed),
                refused = self.counts.refused.load(Ordering::Relaxed),
                "web connections at the cap (server.max_connections, or the file descriptors \
                 kept for the probes): {doing}"
            );
        }
    }

    /// Closes the connections past their deadline at `now`; returns how many.
    fn reap_at(&self, now: Instant) -> usize {
        let mut inner = self.lock();
        let expired: Vec<u64> = inner
            .entries
            .iter()
            .filter(|(_, entry)| {
                entry.task.is_some()
                    && deadline(entry.phase, entry.since, &self.timeouts).is_some_and(|d| d <= now)
            })
            .map(|(id, _)| *id)
            .collect();
        let closing: Vec<AbortHandle> = expired
            .iter()
            .filter_map(|id| inner.remove(*id).and_then(|entry| entry.task))
            .collect();
        drop(inner);
        for task in &closing {
            task.abort();
        }
        self.counts
            .timed_out
            .fetch_add(closing.len() as u64, Ordering::Relaxed);
        closing.len()
    }
}

async fn reap(table: Weak<Connections>) {
    let mut every = tokio::time::interval(REAP_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        let Some(table) = table.upgrade() else { return };
        let closed = table.reap_at(Instant::now());
        if closed > 0 {
            tracing::debug!(closed, "web connections closed by a timeout");
        }
    }
}

/// One connection's handle on its entry: its service and its I/O tell it what the
/// connection is doing.
#[derive(Debug)]
pub struct Slot {
    id: u64,
    table: Arc<Connections>,
}

impl Slot {
    fn set(&self, phase: Phase) {
        self.table.lock().set(self.id, phase, Instant::now());
    }

    /// The phase and since when, `None` once closed.
    #[cfg(test)]
    fn get(&self) -> Option<(Phase, Instant)> {
        self.table
            .lock()
            .entries
            .get(&self.id)
            .map(|e| (e.phase, e.since))
    }

    /// The TLS handshake is done: the request head is due from now.
    pub fn handshake_done(&self) {
        self.set(Phase::Head);
    }

    /// A request head is complete and being handled.
    pub fn request_started(&self) {
        self.set(Phase::Busy);
    }

    /// The response is produced: the connection waits for the next request, or now speaks
    /// another protocol (101 Switching Protocols).
    pub fn response_sent(&self, upgraded: bool) {
        self.set(if upgraded {
            Phase::Upgraded
        } else {
            Phase::Idle
        });
    }

    /// Bytes arrived: an idle connection starts its next request head.
    fn bytes_read(&self) {
        let mut inner = self.table.lock();
        if inner.entries.get(&self.id).map(|e| e.phase) == Some(Phase::Idle) {
            inner.set(self.id, Phase::Head, Instant::now());
        }
    }

    /// The task serving the connection, to close it.
    pub fn attach(&self, task: AbortHandle) {
        if let Some(entry) = self.table.lock().entries.get_mut(&self.id) {
            entry.task = Some(task);
        }
    }
}

/// A connection's place in the table, freed when it is dropped (with the connection's I/O,
/// which owns it, so a WebSocket keeps its place as long as it lives).
#[derive(Debug)]
pub struct Admission {
    slot: Arc<Slot>,
}

impl Admission {
    pub fn slot(&self) -> Arc<Slot> {
        self.slot.clone()
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        self.slot.table.lock().remove(self.slot.id);
    }
}

/// A connection's I/O, holding its place in the table and telling it when bytes arrive.
#[derive(Debug)]
pub struct Tracked<S> {
    inner: S,
    admission: Admission,
}

impl<S> Tracked<S> {
    pub fn new(inner: S, admission: Admission) -> Tracked<S> {
        Tracked { inner, admission }
    }
}

impl Tracked<tokio::net::TcpStream> {
    /// Waits until the client has sent something (or closed): nothing needs to be set up for
    /// a connection before, so one that never sends costs a waiting task only.
    pub async fn readable(&self) -> std::io::Result<()> {
        self.inner.readable().await
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Tracked<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.admission.slot.bytes_read();
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Tracked<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TIMEOUTS: Timeouts = Timeouts {
        header_read: Duration::from_secs(10),
        tls_handshake: Duration::from_secs(5),
        idle: Duration::from_secs(60),
    };

    #[test]
    fn each_waiting_phase_has_its_own_timeout_and_work_has_none() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        // (phase, deadline after t0)
        let cases = [
            (Phase::Handshake, Some(s(5))),
            (Phase::Head, Some(s(10))),
            (Phase::Idle, Some(s(60))),
            (Phase::Busy, None),
            (Phase::Upgraded, None),
        ];
        for (phase, after) in cases {
            assert_eq!(
                deadline(phase, t0, &TIMEOUTS),
                after.map(|d| t0 + d),
                "{phase:?}"
            );
        }
    }

    /// A slot whose task holds its admission until aborted.
    fn admit(
        table: &Arc<Connections>,
        tasks: &mut tokio::task::JoinSet<()>,
        tls: bool,
    ) -> Option<Arc<Slot>> {
        let admission = table.admit(tls)?;
        let slot = admission.slot();
        slot.attach(tasks.spawn(async move {
            let _held = admission;
            std::future::pending::<()>().await;
        }));
        Some(slot)
    }

    #[tokio::test]
    async fn at_the_cap_the_oldest_waiting_connection_is_closed_and_work_is_never() {
        let table = Connections::start(2, TIMEOUTS);
        let mut tasks = tokio::task::JoinSet::new();
        let busy = admit(&table, &mut tasks, false).expect("room");
        busy.request_started();
        let waiting = admit(&table, &mut tasks, true).expect("room");
        assert_eq!(
            waiting.get().map(|(phase, _)| phase),
            Some(Phase::Handshake)
        );
        // Full: the waiting one goes, the newcomer gets its slot.
        let newcomer = admit(&table, &mut tasks, false).expect("room made");
        assert_eq!(table.counts.evicted.load(Ordering::Relaxed), 1);
        assert_eq!(waiting.get(), None);
        newcomer.request_started();
        // Every slot at work: refused.
        assert!(admit(&table, &mut tasks, false).is_none());
        assert_eq!(table.counts.refused.load(Ordering::Relaxed), 1);
        // The closed task dropped its admission: the table holds the two at work.
        while tasks.try_join_next().is_none() {
            tokio::task::yield_now().await;
        }
        assert_eq!(table.open(), 2);
        // Done with the request: waiting again, so it may make room.
        busy.response_sent(false);
        assert!(admit(&table, &mut tasks, false).is_some());
        assert_eq!(table.counts.evicted.load(Ordering::Relaxed), 2);
    }

    #[tokio::test]
    async fn the_one_waiting_longest_goes_first_whatever_it_waits_for() {
        let table = Connections::start(3, TIMEOUTS);
        let mut tasks = tokio::task::JoinSet::new();
        let kept_alive = admit(&table, &mut tasks, false).expect("room");
        let head = admit(&table, &mut tasks, false).expect("room");
        let handshake = admit(&table, &mut tasks, true).expect("room");
        // The oldest connection served a request and waits again: since now, so the others
        // have waited longer.
        kept_alive.request_started();
        kept_alive.response_sent(false);
        admit(&table, &mut tasks, false).expect("room made");
        assert_eq!(head.get(), None);
        admit(&table, &mut tasks, false).expect("room made");
        assert_eq!(handshake.get(), None);
        admit(&table, &mut tasks, false).expect("room made");
        assert_eq!(kept_alive.get(), None);
        // Bytes of a next request: an idle connection is reading a head from then on.
        let next = admit(&table, &mut tasks, false).expect("room made");
        next.request_started();
        next.response_sent(false);
        assert_eq!(next.get().map(|(phase, _)| phase), Some(Phase::Idle));
        next.bytes_read();
        assert_eq!(next.get().map(|(phase, _)| phase), Some(Phase::Head));
        // A head being read does not restart its clock with more bytes.
        let since = next.get().map(|(_, since)| since);
        next.bytes_read();
        assert_eq!(next.get().map(|(_, since)| since), since);
    }

    #[tokio::test]
    async fn the_reaper_closes_what_is_past_its_deadline() {
        let table = Connections::start(10, TIMEOUTS);
        let mut tasks = tokio::task::JoinSet::new();
        let slots: Vec<Arc<Slot>> = (0..3)
            .map(|_| admit(&table, &mut tasks, false).expect("room"))
            .collect();
        slots[1].request_started();
        slots[2].response_sent(true);
        let now = Instant::now();
        assert_eq!(table.reap_at(now), 0);
        // Past the header timeout: only the connection still owing its head is closed.
        assert_eq!(table.reap_at(now + TIMEOUTS.header_read), 1);
        assert_eq!(table.counts.timed_out.load(Ordering::Relaxed), 1);
        assert_eq!(table.reap_at(now + Duration::from_secs(3600)), 0);
        assert_eq!(table.open(), 2);
    }
}
