//! Where a running request's notifications (progress, logs) and, on the legacy era, its requests to the
//! client go.
//!
//! On a stream transport that is the connection's own outgoing queue. Over HTTP each request has a lane of its
//! own, read by the code that answers the POST; most handlers never send anything on it, so the lane's
//! channel (a tokio `mpsc`, which allocates its first block of slots up front) is made only when the handler
//! first sends.

// Lanes serve the HTTP transport only; a build without it keeps the type (the handler context names it) but
// never makes one.
#![cfg_attr(not(feature = "http"), allow(dead_code))]

use std::sync::{Arc, Mutex, OnceLock};

use mcp_protocol::Message;
use tokio::sync::{mpsc, Notify};

/// How many messages a request's lane holds before its handler waits for the reader.
const CAPACITY: usize = 64;

/// The sending side handed to a request's handler. Cheap to clone.
#[derive(Clone)]
pub(crate) enum Notifier {
    /// The connection's outgoing queue (stdio and other stream transports).
    Direct(mpsc::Sender<Message>),
    /// A request's own lane, its channel made on first use.
    Lane(Arc<Shared>),
}

impl From<mpsc::Sender<Message>> for Notifier {
    fn from(tx: mpsc::Sender<Message>) -> Self {
        Notifier::Direct(tx)
    }
}

impl Notifier {
    /// The channel to send on (made now if this is a lane's first use).
    pub(crate) fn sender(&self) -> &mpsc::Sender<Message> {
        match self {
            Notifier::Direct(tx) => tx,
            Notifier::Lane(shared) => shared.sender(),
        }
    }

    /// Send `m`, waiting for room; fails only when the reader is gone.
    ///
    /// # Cancel safety
    ///
    /// As `mpsc::Sender::send`: dropped before it completes, `m` is not sent.
    pub(crate) async fn send(&self, m: Message) -> Result<(), mpsc::error::SendError<Message>> {
        self.sender().send(m).await
    }
}

/// What a lane's two ends share.
pub(crate) struct Shared {
    tx: OnceLock<mpsc::Sender<Message>>,
    /// The receiving end of the channel once it is made, until the reader takes it.
    rx: Mutex<Option<mpsc::Receiver<Message>>>,
    /// Wakes a reader waiting for the channel to be made.
    made: Notify,
}

impl Shared {
    fn sender(&self) -> &mpsc::Sender<Message> {
        self.tx.get_or_init(|| {
            let (tx, rx) = mpsc::channel(CAPACITY);
            *self.rx.lock().unwrap_or_else(|p| p.into_inner()) = Some(rx);
            self.made.notify_one();
            tx
        })
    }

    fn take(&self) -> Option<mpsc::Receiver<Message>> {
        self.rx.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

/// A new lane: the handler's end and the reader's.
pub(crate) fn lane() -> (Notifier, LaneRx) {
    let shared = Arc::new(Shared {
        tx: OnceLock::new(),
        rx: Mutex::new(None),
        made: Notify::new(),
    });
    (
        Notifier::Lane(shared.clone()),
        LaneRx {
            shared: Some(shared),
            rx: None,
        },
    )
}

/// The reading end of a request's messages: a lane, or a plain channel.
pub(crate) struct LaneRx {
    shared: Option<Arc<Shared>>,
    rx: Option<mpsc::Receiver<Message>>,
}

impl From<mpsc::Receiver<Message>> for LaneRx {
    fn from(rx: mpsc::Receiver<Message>) -> Self {
        LaneRx {
            shared: None,
            rx: Some(rx),
        }
    }
}

impl LaneRx {
    /// The next message. `None` when a plain channel's senders are all gone; a lane never says so (it keeps
    /// a sender of its own), so its reader watches the handler's end instead.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a message is taken only when this completes, and a channel made meanwhile is found by
    /// the next call.
    pub(crate) async fn recv(&mut self) -> Option<Message> {
        loop {
            if let Some(rx) = &mut self.rx {
                return rx.recv().await;
            }
            let shared = self.shared.as_ref()?;
            // Created before the check: a channel made in between leaves a permit that wakes it at once.
            let made = shared.made.notified();
            if let Some(rx) = shared.take() {
                self.rx = Some(rx);
                continue;
            }
            made.await;
        }
    }

    /// A message already waiting, if any.
    pub(crate) fn try_recv(&mut self) -> Option<Message> {
        if self.rx.is_none() {
            self.rx = self.shared.as_ref().and_then(|s| s.take());
        }
        self.rx.as_mut()?.try_recv().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mcp_protocol::Notification;

    fn note(n: u32) -> Message {
        Message::Notification(Notification::new(
            "notifications/message",
            Some(serde_json::json!({ "n": n })),
        ))
    }

    #[tokio::test]
    async fn a_lane_makes_no_channel_until_something_is_sent() {
        let (tx, mut rx) = lane();
        let Notifier::Lane(shared) = &tx else {
            panic!("not a lane")
        };
        assert!(shared.tx.get().is_none(), "made before any send");
        assert!(rx.try_recv().is_none());
        assert!(shared.tx.get().is_none(), "a reader's look made it");
        tx.send(note(1)).await.unwrap();
        assert!(shared.tx.get().is_some());
        assert!(matches!(rx.try_recv(), Some(m) if m == note(1)));
    }

    #[tokio::test]
    async fn a_waiting_reader_is_woken_by_the_first_send_from_another_task() {
        let (tx, mut rx) = lane();
        let reader = tokio::spawn(async move {
            let a = rx.recv().await;
            let b = rx.recv().await;
            (a, b)
        });
        // Let the reader wait on the lane before anything is made.
        tokio::task::yield_now().await;
        let sender = tokio::spawn(async move {
            tx.send(note(1)).await.unwrap();
            tx.send(note(2)).await.unwrap();
        });
        sender.await.unwrap();
        let (a, b) = tokio::time::timeout(std::time::Duration::from_secs(5), reader)
            .await
            .expect("reader never woke")
            .unwrap();
        assert_eq!(a, Some(note(1)));
        assert_eq!(b, Some(note(2)));
    }

    #[tokio::test]
    async fn a_recv_dropped_while_waiting_loses_nothing() {
        let (tx, mut rx) = lane();
        {
            let waiting = rx.recv();
            tokio::pin!(waiting);
            assert!(futures::poll!(waiting.as_mut()).is_pending());
            tx.send(note(7)).await.unwrap();
        }
        assert_eq!(rx.recv().await, Some(note(7)));
    }

    #[tokio::test]
    async fn a_plain_channel_reports_its_end() {
        let (tx, rx) = mpsc::channel(4);
        let mut rx = LaneRx::from(rx);
        let n: Notifier = tx.into();
        n.send(note(3)).await.unwrap();
        drop(n);
        assert_eq!(rx.recv().await, Some(note(3)));
        assert_eq!(rx.recv().await, None);
    }
}
