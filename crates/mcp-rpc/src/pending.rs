use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use mcp_protocol::types::ProgressParams;
use mcp_protocol::{Message, RequestId};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

use crate::Error;

type Slot = oneshot::Sender<Result<Value, Error>>;

/// A map keyed by ids this side chose, looked up on every request and response: hashed with foldhash
/// (randomly seeded per process) rather than SipHash, which costs several times as much on short keys.
type IdMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

pub(crate) struct ProgressRoute {
    pub(crate) tx: mpsc::Sender<ProgressParams>,
    pub(crate) touched: Arc<tokio::sync::Notify>,
}

/// Requests awaiting a response, keyed by id, and the progress routes of those that asked for progress.
///
/// This is the engine behind [`Peer`](crate::Peer); use it on its own (with
/// [`PendingRequests::request`]) when requests leave on more than one channel and their responses come back
/// on another, as on legacy Streamable HTTP, where each server→client request goes out on the stream of the
/// client request that caused it.
#[derive(Default)]
pub struct PendingRequests {
    slots: Mutex<IdMap<RequestId, Slot>>,
    pub(crate) progress: Mutex<IdMap<String, ProgressRoute>>,
}

impl std::fmt::Debug for PendingRequests {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingRequests")
            .field("len", &self.len())
            .finish()
    }
}

impl PendingRequests {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Register an id; the receiver gets the response.
    pub fn register(&self, id: RequestId) -> oneshot::Receiver<Result<Value, Error>> {
        let (tx, rx) = oneshot::channel();
        self.lock().insert(id, tx);
        rx
    }

    /// Forget an id (after a timeout or cancellation). Returns whether it was pending.
    pub fn remove(&self, id: &RequestId) -> bool {
        self.lock().remove(id).is_some()
    }

    /// Route a response or error message to its waiter. Returns false for unknown ids or other messages.
    pub fn resolve(&self, msg: Message) -> bool {
        let (id, outcome) = match msg {
            Message::Response(r) => (r.id, Ok(r.result)),
            Message::Error(e) => match e.id {
                Some(id) => (id, Err(Error::remote(e.error))),
                None => return false,
            },
            _ => return false,
        };
        match self.lock().remove(&id) {
            Some(slot) => {
                let _ = slot.send(outcome);
                true
            }
            None => false,
        }
    }

    /// Fail every pending request (the connection closed).
    pub fn fail_all(&self, err: Error) {
        for (_, slot) in self.lock().drain() {
            let _ = slot.send(Err(err.clone()));
        }
    }

    /// Number of requests waiting.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no request is waiting.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, IdMap<RequestId, Slot>> {
        // A poisoned lock only means another thread panicked mid-insert; the map itself is still valid.
        self.slots.lock().unwrap_or_else(|p| p.into_inner())
    }
}
