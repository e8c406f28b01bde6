//! Messages between the nodes of a fleet: what one node receives that another must act on.

use futures::future::BoxFuture;
use futures::stream::BoxStream;
use mcp_protocol::RequestId;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::session::StoreError;

/// A message from one node to the others about a legacy session.
///
/// A node publishes one when a request it received must be acted on where the session's live state is: the
/// client's answer to a server→client request another node sent, a cancel of a request another node runs, a
/// DELETE (every node ends the session's streams).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct BusMessage {
    /// The node that published it (see [`Bus::node`]); a node ignores its own.
    pub from: u64,
    /// The session it is about.
    pub session: String,
    /// What happened.
    pub event: BusEvent,
}

impl BusMessage {
    /// A message about `session` from node `from`.
    pub fn new(from: u64, session: impl Into<String>, event: BusEvent) -> Self {
        Self {
            from,
            session: session.into(),
            event,
        }
    }
}

/// What a [`BusMessage`] says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
#[non_exhaustive]
pub enum BusEvent {
    /// The client's answer (a JSON-RPC response or error, as received) to a server→client request.
    Answer {
        /// The message.
        message: Value,
    },
    /// `notifications/cancelled` for a request of the session.
    Cancel {
        /// The request to cancel.
        request: RequestId,
    },
    /// A notification for the session's GET stream, wherever it is open.
    Notify {
        /// The notification.
        message: Value,
    },
    /// The session was deleted: end its streams and requests.
    Close,
    /// A server-wide event raised on the sending node ([`Server::add_tool`], [`Server::remove_tool`]): every
    /// node tells the GET streams it holds, as if it were raised there. [`BusMessage::session`] is empty.
    ///
    /// [`Server::add_tool`]: crate::Server::add_tool
    /// [`Server::remove_tool`]: crate::Server::remove_tool
    ToolsListChanged,
    /// See [`ToolsListChanged`](Self::ToolsListChanged).
    PromptsListChanged,
    /// See [`ToolsListChanged`](Self::ToolsListChanged).
    ResourcesListChanged,
    /// A resource changed ([`Server::notify_resource_updated`]): every node tells the GET streams of the
    /// sessions subscribed to it. [`BusMessage::session`] is empty.
    ///
    /// [`Server::notify_resource_updated`]: crate::Server::notify_resource_updated
    ResourceUpdated {
        /// The resource.
        uri: String,
    },
    /// A task of the tasks extension changed status on the sending node: every node tells its
    /// `subscriptions/listen` streams that watch it (`notifications/tasks`). [`BusMessage::session`] is
    /// empty.
    TaskStatus {
        /// The task id.
        id: String,
        /// Who owns it: only that caller's listeners hear of it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        owner: Option<crate::tasks::TaskOwner>,
        /// The task as `tasks/get` answers it.
        task: Value,
    },
    /// The client answered a task's questions (`tasks/update`) on the sending node, which does not run the
    /// task: the node holding the task's live half starts its next round. [`BusMessage::session`] is empty.
    ResumeTask {
        /// The task id.
        id: String,
    },
}

impl BusEvent {
    /// The bus form of a server event.
    pub(crate) fn from_server(ev: &crate::ServerEvent) -> Self {
        use crate::ServerEvent as E;
        match ev {
            E::ToolsListChanged => Self::ToolsListChanged,
            E::PromptsListChanged => Self::PromptsListChanged,
            E::ResourcesListChanged => Self::ResourcesListChanged,
            E::ResourceUpdated(uri) => Self::ResourceUpdated { uri: uri.clone() },
        }
    }

    /// The server event this is, if it is one.
    pub(crate) fn to_server(&self) -> Option<crate::ServerEvent> {
        use crate::ServerEvent as E;
        Some(match self {
            Self::ToolsListChanged => E::ToolsListChanged,
            Self::PromptsListChanged => E::PromptsListChanged,
            Self::ResourcesListChanged => E::ResourcesListChanged,
            Self::ResourceUpdated { uri } => E::ResourceUpdated(uri.clone()),
            _ => return None,
        })
    }
}

/// How the nodes of a fleet reach each other. With none (the default) an endpoint is alone: everything a
/// request needs is local.
///
/// ```
/// use futures::future::BoxFuture;
/// use futures::stream::BoxStream;
/// use mcp_server::http::{Bus, BusMessage, StoreError};
///
/// /// A bus that drops everything: a fleet of one.
/// struct Alone;
///
/// impl Bus for Alone {
///     fn node(&self) -> u64 { 1 }
///     fn publish(&self, _msg: BusMessage) -> BoxFuture<'_, Result<(), StoreError>> {
///         Box::pin(async { Ok(()) })
///     }
///     fn subscribe(&self) -> BoxStream<'static, BusMessage> {
///         Box::pin(futures::stream::pending())
///     }
/// }
/// ```
///
/// # Errors
///
/// `publish` fails with [`StoreError::Unavailable`] when the bus cannot be reached; the request that needed it
/// gets HTTP 503.
pub trait Bus: Send + Sync + 'static {
    /// This node's id, unique in the fleet.
    fn node(&self) -> u64;
    /// Send a message to every node.
    fn publish(&self, msg: BusMessage) -> BoxFuture<'_, Result<(), StoreError>>;
    /// The messages published by every node from now on. Called once per endpoint; the stream should
    /// outlive outages of the bus (reconnecting by itself). A bus that tells [`alive`](Self::alive) nodes
    /// apart keeps this node's heartbeat going for as long as the stream is polled.
    fn subscribe(&self) -> BoxStream<'static, BusMessage>;
    /// Whether `node` is alive (its heartbeat is fresh). An endpoint asks when a stream it follows for a
    /// client has gone quiet and was written by `node`: a dead node's unanswered request gets an error
    /// instead of a wait that never ends. The default says every node is alive.
    ///
    /// # Errors
    ///
    /// [`StoreError::Unavailable`] when the bus cannot tell (an outage is never taken for a death).
    fn alive(&self, node: u64) -> BoxFuture<'_, Result<bool, StoreError>> {
        let _ = node;
        Box::pin(std::future::ready(Ok(true)))
    }
}

/// A bus between endpoints in one process: each [`MemoryBus::join`] is one node. What tests and a process
/// serving several endpoints over one [`MemorySessionStore`](super::MemorySessionStore) use; a fleet of
/// processes needs one over the network.
///
/// ```
/// use std::sync::Arc;
/// use mcp_server::http::{HttpConfig, MemoryBus, MemorySessionStore};
/// let (store, bus) = (Arc::new(MemorySessionStore::new(1000)), MemoryBus::new());
/// let a = HttpConfig::default().session_store(store.clone()).bus(Arc::new(bus.join()));
/// let b = HttpConfig::default().session_store(store).bus(Arc::new(bus.join()));
/// # let _ = (a, b);
/// ```
#[derive(Debug, Clone)]
pub struct MemoryBus {
    tx: tokio::sync::broadcast::Sender<BusMessage>,
    nodes: std::sync::Arc<std::sync::atomic::AtomicU64>,
    /// Nodes that [`MemoryBusNode::leave`] took out.
    gone: std::sync::Arc<std::sync::Mutex<std::collections::HashSet<u64>>>,
}

impl MemoryBus {
    /// A bus with no node yet.
    pub fn new() -> Self {
        Self {
            tx: tokio::sync::broadcast::channel(1024).0,
            nodes: Default::default(),
            gone: Default::default(),
        }
    }

    /// A new node on this bus.
    pub fn join(&self) -> MemoryBusNode {
        MemoryBusNode {
            bus: self.clone(),
            node: self
                .nodes
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                + 1,
        }
    }
}

impl Default for MemoryBus {
    fn default() -> Self {
        Self::new()
    }
}

/// One node of a [`MemoryBus`].
#[derive(Debug, Clone)]
pub struct MemoryBusNode {
    bus: MemoryBus,
    node: u64,
}

impl MemoryBusNode {
    /// This node is gone, as if its process died: the other nodes find it dead ([`Bus::alive`]) from now on.
    ///
    /// ```
    /// use mcp_server::http::{Bus, MemoryBus};
    /// # futures::executor::block_on(async {
    /// let bus = MemoryBus::new();
    /// let (a, b) = (bus.join(), bus.join());
    /// assert!(b.alive(a.node()).await.unwrap());
    /// a.leave();
    /// assert!(!b.alive(a.node()).await.unwrap());
    /// # });
    /// ```
    pub fn leave(&self) {
        self.bus
            .gone
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(self.node);
    }
}

impl Bus for MemoryBusNode {
    fn node(&self) -> u64 {
        self.node
    }
    fn publish(&self, msg: BusMessage) -> BoxFuture<'_, Result<(), StoreError>> {
        // No receiver yet is no error: no node has started serving.
        let _ = self.bus.tx.send(msg);
        Box::pin(std::future::ready(Ok(())))
    }
    fn subscribe(&self) -> BoxStream<'static, BusMessage> {
        let rx = self.bus.tx.subscribe();
        Box::pin(futures::stream::unfold(rx, |mut rx| async move {
            loop {
                match rx.recv().await {
                    Ok(m) => return Some((m, rx)),
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                        tracing::warn!(lost = n, "bus messages lost: a node fell behind");
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
                }
            }
        }))
    }
    fn alive(&self, node: u64) -> BoxFuture<'_, Result<bool, StoreError>> {
        let gone = self
            .bus
            .gone
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&node);
        Box::pin(std::future::ready(Ok(!gone)))
    }
}
