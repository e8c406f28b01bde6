use std::collections::HashMap;
use std::sync::Mutex;

use mcp_protocol::{Message, RequestId};
use serde_json::Value;
use tokio::sync::oneshot;

use crate::RpcError;

type Slot = oneshot::Sender<Result<Value, RpcError>>;

/// Requests awaiting a response, keyed by id.
#[derive(Debug, Default)]
pub struct PendingRequests {
    slots: Mutex<HashMap<RequestId, Slot>>,
}

impl PendingRequests {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Register an id; the receiver gets the response.
    pub fn register(&self, id: RequestId) -> oneshot::Receiver<Result<Value, RpcError>> {
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
                Some(id) => (id, Err(RpcError::Remote(e.error))),
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
    pub fn fail_all(&self, err: RpcError) {
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

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<RequestId, Slot>> {
        // A poisoned lock only means another thread panicked mid-insert; the map itself is still valid.
        self.slots.lock().unwrap_or_else(|p| p.into_inner())
    }
}
