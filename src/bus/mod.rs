//! The bus: one broadcast channel that fans every observation and event out to the consumers
//! (store, snapshot/exporter, and later the alert engine and the live dashboard feed).
//!
//! Consumers are fast and in-process, so a generous capacity means no one lags in practice;
//! if one ever does, the loss is counted (`dropped()`) and logged, never silent.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::broadcast;

use crate::model::{BusMessage, Event, Observation};

/// Room for minutes of traffic at a 1 s interval even if a consumer is stuck on a slow disk.
pub const DEFAULT_CAPACITY: usize = 4096;

#[derive(Clone, Debug)]
pub struct Bus {
    sender: broadcast::Sender<BusMessage>,
    capacity: usize,
    dropped: Arc<AtomicU64>,
    published: Arc<AtomicU64>,
}

impl Bus {
    pub fn new(capacity: usize) -> Bus {
        let (sender, _) = broadcast::channel(capacity);
        Bus {
            sender,
            capacity,
            dropped: Arc::new(AtomicU64::new(0)),
            published: Arc::new(AtomicU64::new(0)),
        }
    }

    pub fn publish_observation(&self, observation: Observation) {
        self.publish(BusMessage::Observation(Arc::new(observation)));
    }

    pub fn publish_event(&self, event: Event) {
        self.publish(BusMessage::Event(Arc::new(event)));
    }

    pub fn publish(&self, message: BusMessage) {
        // Counted before it is sent: whoever subscribes and then reads the count receives
        // every message the count does not include.
        self.published.fetch_add(1, Ordering::SeqCst);
        // An error only means nobody is subscribed (e.g. during shutdown): nothing to deliver to.
        let _ = self.sender.send(message);
    }

    /// Messages published so far: a snapshot taken after `subscribe` and this count is
    /// still current while the count has not moved (the live feed's shared greeting).
    pub fn published(&self) -> u64 {
        self.published.load(Ordering::SeqCst)
    }

    /// Messages some consumer has not received yet (the slowest one's backlog), and the
    /// most the bus holds: a producer that can wait (the receivers: a sender retries) asks
    /// before publishing much, so it never makes a consumer miss messages.
    pub fn backlog(&self) -> usize {
        self.sender.len()
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn subscribe(&self) -> Subscription {
        Subscription {
            receiver: self.sender.subscribe(),
            dropped: self.dropped.clone(),
        }
    }

    /// Messages that some consumer missed because it fell behind.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

pub struct Subscription {
    receiver: broadcast::Receiver<BusMessage>,
    dropped: Arc<AtomicU64>,
}

impl Subscription {
    /// Messages published and not received yet.
    pub fn queued(&self) -> usize {
        self.receiver.len()
    }

    /// The next message, or `None` once every sender is gone (shutdown).
    pub async fn recv(&mut self) -> Option<BusMessage> {
        loop {
            match self.receiver.recv().await {
                Ok(message) => return Some(message),
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    self.dropped.fetch_add(missed, Ordering::Relaxed);
                    tracing::error!(missed, "a bus consumer fell behind and missed messages");
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }

    /// A message already waiting, without blocking; used to drain the bus at shutdown.
    pub fn try_recv(&mut self) -> Option<BusMessage> {
        loop {
            match self.receiver.try_recv() {
                Ok(message) => return Some(message),
                Err(broadcast::error::TryRecvError::Lagged(missed)) => {
                    self.dropped.fetch_add(missed, Ordering::Relaxed);
                }
                Err(_) => return None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::EventKind;

    fn event(n: i64) -> Event {
        Event {
            at_ms: n,
            kind: EventKind::Started,
            subject: "lookout".into(),
            message: String::new(),
        }
    }

    #[tokio::test]
    async fn every_subscriber_sees_every_message_in_order() {
        let bus = Bus::new(16);
        let mut a = bus.subscribe();
        let mut b = bus.subscribe();
        bus.publish_event(event(1));
        bus.publish_event(event(2));
        for sub in [&mut a, &mut b] {
            for want in [1, 2] {
                match sub.recv().await {
                    Some(BusMessage::Event(e)) => assert_eq!(e.at_ms, want),
                    other => panic!("unexpected {other:?}"),
                }
            }
        }
    }

    #[tokio::test]
    async fn a_lagging_consumer_is_counted_not_silent() {
        let bus = Bus::new(2);
        let mut slow = bus.subscribe();
        for n in 0..5 {
            bus.publish_event(event(n));
        }
        let first = slow.recv().await;
        assert!(matches!(first, Some(BusMessage::Event(e)) if e.at_ms == 3));
        assert_eq!(bus.dropped(), 3);
    }
}
