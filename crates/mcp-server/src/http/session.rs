//! Legacy HTTP sessions: the serializable record a store keeps ([`SessionRecord`], [`SessionStore`]), and what
//! one node holds live for a session ([`HttpSession`]: its streams, handlers in flight, pending server→client
//! requests), in a node-local map.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use dashmap::DashMap;
use futures::future::BoxFuture;
use mcp_protocol::types::{ClientCapabilities, Implementation, LoggingLevel};
use mcp_protocol::ProtocolVersion;
use mcp_rpc::PendingRequests;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use super::sse::{EventStore, StreamLog};
use crate::context::ClientDescription;
use crate::requester::{RequestTable, TableHolder};
use crate::{LegacySession, Principal};

/// The hasher of the maps a request looks up on the legacy hot path (its session, its cancel entry): seeded
/// per process like std's, several times cheaper than SipHash on these short keys. The keys come from
/// clients, but each map is bounded (`max_in_flight_per_session`, `max_sessions`), so a client able to aim
/// collisions at a seed it cannot see would still only slow lookups in a bounded map.
pub(crate) type FastHash = foldhash::fast::RandomState;

/// One legacy session as this node holds it: the protocol state, plus this node's live streams, handlers in
/// flight and server→client requests awaiting an answer. Never serialized: what other nodes need is its
/// [`SessionRecord`].
pub struct HttpSession {
    pub(crate) id: Arc<str>,
    pub(crate) legacy: LegacySession,
    pub(crate) principal: Option<Principal>,
    /// Server→client requests awaiting the client's POSTed responses, and their ids: made at the first such
    /// request (boxed, so a session that never makes one pays a pointer for it).
    requests: OnceLock<Box<RequestTable>>,
    last_seen: AtomicU64,
    /// The record revision this copy reflects (shared stores only): a newer one in the store is reloaded.
    pub(crate) revision: AtomicU64,
    /// Live and recent SSE streams of this session, for `Last-Event-ID` resumption. Empty until a stream opens.
    streams: Mutex<VecDeque<Arc<StreamLog>>>,
    /// Stream numbers of this copy start here: 0 with no shared store (one copy per session, ever); a random
    /// base otherwise, so copies of one session on several nodes never number two streams alike.
    stream_base: u64,
    next_stream: AtomicU64,
    /// The standalone GET stream's sender, if one is open.
    pub(crate) standalone: Mutex<Option<mpsc::Sender<Bytes>>>,
    pub(crate) in_flight: AtomicU64,
    /// Cancelled when the session ends (DELETE or expiry): its open streams close.
    pub(crate) ended: tokio_util::sync::CancellationToken,
    /// Cancellation of this session's requests in flight, by id (for `notifications/cancelled` and DELETE).
    pub(crate) cancels: Mutex<
        std::collections::HashMap<
            mcp_protocol::RequestId,
            tokio_util::sync::CancellationToken,
            FastHash,
        >,
    >,
}

impl std::fmt::Debug for HttpSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpSession").field("id", &self.id).finish()
    }
}

/// Streams a session remembers for resumption.
const MAX_STREAMS_KEPT: usize = 16;

impl TableHolder for HttpSession {
    fn table(&self) -> &RequestTable {
        self.requests.get_or_init(|| {
            // The copy's tag (see `new`) sets its ids apart; below 2^52, the ids stay exact in clients that
            // read JSON numbers as doubles.
            let tag = (self.stream_base >> 32) as i64 & 0xF_FFFF;
            Box::new(RequestTable::new((tag << 32) + 1))
        })
    }
}

/// Whether stream number `no` is a standalone GET stream (the first number of each copy's range).
pub(crate) fn is_standalone(no: u64) -> bool {
    no & 0xFFFF_FFFF == 0
}

impl HttpSession {
    /// `tag` is 0 when this node is the only one that will ever hold the session; otherwise a random number
    /// (below 2^20) that sets this copy apart: its stream numbers and server→client request ids are drawn
    /// from ranges of their own, so answers and resumptions find the right copy.
    pub(crate) fn new(
        id: Arc<str>,
        legacy: LegacySession,
        principal: Option<Principal>,
        epoch: Instant,
        tag: u32,
    ) -> Self {
        let base = u64::from(tag) << 32;
        Self {
            id,
            legacy,
            principal,
            requests: OnceLock::new(),
            last_seen: AtomicU64::new(epoch.elapsed().as_millis() as u64),
            revision: AtomicU64::new(0),
            streams: Mutex::new(VecDeque::new()),
            stream_base: base,
            next_stream: AtomicU64::new(base + 1),
            standalone: Mutex::new(None),
            in_flight: AtomicU64::new(0),
            cancels: Mutex::new(std::collections::HashMap::with_hasher(FastHash::default())),
            ended: tokio_util::sync::CancellationToken::new(),
        }
    }

    /// The server→client requests awaiting the client's answers; `None` when the session never made one.
    pub(crate) fn pending(&self) -> Option<&PendingRequests> {
        self.requests.get().map(|t| t.pending())
    }

    /// A node's copy of a session another node (or this one, earlier) recorded.
    pub(crate) fn from_record(record: &SessionRecord, epoch: Instant, tag: u32) -> Self {
        let legacy = LegacySession {
            version: record.version,
            client: Arc::new(ClientDescription {
                caps: record.client_capabilities.clone(),
                info: record.client_info.clone(),
            }),
            log_level: Mutex::new(record.log_level),
            subscriptions: Mutex::new(record.subscriptions.iter().cloned().collect()),
            initialized: AtomicBool::new(record.initialized),
        };
        let principal = record.owner.as_ref().map(|o| Principal {
            subject: o.subject.clone(),
            scopes: Vec::new(),
            client_id: o.client_id.clone(),
        });
        let s = Self::new(record.id.as_str().into(), legacy, principal, epoch, tag);
        s.revision.store(record.revision, Ordering::Relaxed);
        s
    }

    /// Take the changeable parts of a newer record (log level, subscriptions, initialized).
    pub(crate) fn apply(&self, record: &SessionRecord) {
        *self
            .legacy
            .log_level
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = record.log_level;
        *self
            .legacy
            .subscriptions
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = record.subscriptions.iter().cloned().collect();
        if record.initialized {
            self.legacy.mark_initialized();
        }
        self.revision.store(record.revision, Ordering::Relaxed);
    }

    /// The record of this session as it stands.
    pub fn record(&self) -> SessionRecord {
        let mut subscriptions = self.legacy.subscriptions();
        subscriptions.sort_unstable();
        SessionRecord {
            id: self.id.to_string(),
            version: self.legacy.version,
            client_capabilities: self.legacy.client.caps.clone(),
            client_info: self.legacy.client.info.clone(),
            log_level: *self
                .legacy
                .log_level
                .lock()
                .unwrap_or_else(|p| p.into_inner()),
            subscriptions,
            initialized: self.legacy.is_initialized(),
            owner: self.principal.as_ref().map(|p| SessionOwner {
                subject: p.subject.clone(),
                client_id: p.client_id.clone(),
            }),
            revision: self.revision.load(Ordering::Relaxed),
        }
    }

    /// The session id.
    pub fn id(&self) -> &str {
        &self.id
    }
    /// The protocol state.
    pub fn protocol(&self) -> &LegacySession {
        &self.legacy
    }

    pub(crate) fn touch(&self, epoch: Instant) {
        self.last_seen
            .store(epoch.elapsed().as_millis() as u64, Ordering::Relaxed);
    }

    /// Nothing in flight and no GET stream open: evicting it costs its client only a re-initialize.
    pub(crate) fn unused(&self) -> bool {
        self.in_flight.load(Ordering::Relaxed) == 0
            && self
                .standalone
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .as_ref()
                .is_none_or(|tx| tx.is_closed())
    }

    pub(crate) fn idle_for(&self, epoch: Instant) -> Duration {
        let now = epoch.elapsed().as_millis() as u64;
        Duration::from_millis(now.saturating_sub(self.last_seen.load(Ordering::Relaxed)))
    }

    /// The number of this copy's standalone GET stream.
    pub(crate) fn standalone_no(&self) -> u64 {
        self.stream_base
    }

    /// Open a new resumable stream log.
    pub(crate) fn new_stream(&self, store: &Arc<dyn EventStore>, shared: bool) -> Arc<StreamLog> {
        let no = self.next_stream.fetch_add(1, Ordering::Relaxed);
        self.add_stream(Arc::new(StreamLog::new(
            no,
            self.id.clone(),
            store.clone(),
            shared,
        )))
    }

    pub(crate) fn add_stream(&self, log: Arc<StreamLog>) -> Arc<StreamLog> {
        let mut streams = self.streams.lock().unwrap_or_else(|p| p.into_inner());
        if streams.len() >= MAX_STREAMS_KEPT {
            // Drop the oldest finished stream; if none is finished, the oldest.
            let idx = streams.iter().position(|s| s.is_done()).unwrap_or(0);
            streams.remove(idx);
        }
        streams.push_back(log.clone());
        log
    }

    pub(crate) fn stream(&self, no: u64) -> Option<Arc<StreamLog>> {
        let streams = self.streams.lock().unwrap_or_else(|p| p.into_inner());
        streams.iter().find(|s| s.no == no).cloned()
    }
}

/// Who a session is bound to: the subject and client of the token that opened it. A request from anyone else
/// is told the session does not exist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SessionOwner {
    /// Subject (`sub`) of the token.
    pub subject: String,
    /// Client id of the token, if it had one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
}

/// The protocol state of a legacy session that outlives any one request and any one node: what a
/// [`SessionStore`] keeps. Everything live (streams, handlers in flight, server→client requests awaiting an
/// answer) stays on the node that holds it.
///
/// ```
/// use mcp_server::http::SessionRecord;
/// let json = r#"{"id":"abc","version":"2025-06-18","clientCapabilities":{},
///                "subscriptions":["file:///a"],"initialized":true,"revision":3}"#;
/// let record: SessionRecord = serde_json::from_str(json).unwrap();
/// assert_eq!(record.subscriptions, ["file:///a"]);
/// assert_eq!(serde_json::from_str::<SessionRecord>(&serde_json::to_string(&record).unwrap()).unwrap(), record);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct SessionRecord {
    /// The session id (`Mcp-Session-Id`).
    pub id: String,
    /// The negotiated protocol revision.
    pub version: ProtocolVersion,
    /// The client's capabilities from `initialize`.
    pub client_capabilities: ClientCapabilities,
    /// The client's info from `initialize`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_info: Option<Implementation>,
    /// The level set with `logging/setLevel`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_level: Option<LoggingLevel>,
    /// The resource URIs subscribed to, sorted.
    #[serde(default)]
    pub subscriptions: Vec<String>,
    /// Whether `notifications/initialized` arrived.
    #[serde(default)]
    pub initialized: bool,
    /// Who the session is bound to (`None`: an endpoint without authentication).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<SessionOwner>,
    /// Bumped by the store on each [`SessionStore::update`]: a node whose copy is older reloads it.
    #[serde(default)]
    pub revision: u64,
}

/// Why a store could not do what was asked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The store is at its session cap.
    #[error("session limit reached")]
    Full,
    /// The store cannot be reached or failed (the cause says why). Requests that need it get HTTP 503 and a
    /// JSON-RPC error naming the cause; nothing else is affected.
    #[error("session store unavailable: {0}")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl StoreError {
    /// An [`Unavailable`](Self::Unavailable) error from any cause.
    pub fn unavailable(cause: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self::Unavailable(cause.into())
    }
}

/// Where the records of legacy sessions live when several endpoints (nodes of a fleet, or two services in one
/// process) share them. Without one (the default) a node's own live map is the whole truth, and nothing is
/// serialized or awaited.
///
/// With one, a node holds a cached copy of each session it serves. A request in a session it has not seen loads
/// the record; every request [`touch`](Self::touch)es it, which slides its expiry and says whether it still
/// exists (so a DELETE or an expiry seen by one node is a 404 on all of them at once) and at which revision
/// (so a changed log level or subscription made elsewhere is reloaded). Changes are written back with
/// [`update`](Self::update).
///
/// Expiry belongs to the store: a record not touched for `idle` (the endpoint's
/// [`session_idle_timeout`](super::HttpConfig::session_idle_timeout)) is gone.
///
/// A store of your own usually wraps another, e.g. to count sessions:
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use std::time::Duration;
/// use futures::future::BoxFuture;
/// use mcp_server::http::{HttpConfig, MemorySessionStore, SessionRecord, SessionStore, StoreError};
///
/// struct Metered { inner: MemorySessionStore, opened: AtomicU64 }
///
/// impl SessionStore for Metered {
///     fn create<'a>(&'a self, r: &'a SessionRecord, idle: Duration) -> BoxFuture<'a, Result<(), StoreError>> {
///         self.opened.fetch_add(1, Ordering::Relaxed);
///         self.inner.create(r, idle)
///     }
///     fn load<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<SessionRecord>, StoreError>> {
///         self.inner.load(id)
///     }
///     fn touch<'a>(&'a self, id: &'a str, idle: Duration) -> BoxFuture<'a, Result<Option<u64>, StoreError>> {
///         self.inner.touch(id, idle)
///     }
///     fn update<'a>(&'a self, r: &'a SessionRecord, idle: Duration) -> BoxFuture<'a, Result<Option<u64>, StoreError>> {
///         self.inner.update(r, idle)
///     }
///     fn remove<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<bool, StoreError>> {
///         self.inner.remove(id)
///     }
/// }
///
/// let store = Metered { inner: MemorySessionStore::new(1000), opened: AtomicU64::new(0) };
/// let config = HttpConfig::default().session_store(Arc::new(store));
/// # let _ = config;
/// ```
///
/// # Errors
///
/// Each call fails with [`StoreError::Unavailable`] when the store cannot answer; `create` fails with
/// [`StoreError::Full`] at the store's cap.
pub trait SessionStore: Send + Sync + 'static {
    /// Record a new session, expiring after `idle` without a touch.
    fn create<'a>(
        &'a self,
        record: &'a SessionRecord,
        idle: Duration,
    ) -> BoxFuture<'a, Result<(), StoreError>>;
    /// The record of a session, if it exists and has not expired.
    fn load<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<SessionRecord>, StoreError>>;
    /// Slide a session's expiry to `idle` from now; its current revision, or `None` if it is gone.
    fn touch<'a>(
        &'a self,
        id: &'a str,
        idle: Duration,
    ) -> BoxFuture<'a, Result<Option<u64>, StoreError>>;
    /// Write a changed record (log level, subscriptions, initialized) and slide its expiry; the new revision
    /// (the store bumps it), or `None` if the session is gone.
    fn update<'a>(
        &'a self,
        record: &'a SessionRecord,
        idle: Duration,
    ) -> BoxFuture<'a, Result<Option<u64>, StoreError>>;
    /// Delete a session; whether it existed.
    fn remove<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<bool, StoreError>>;
}

/// Session records in this process's memory, with expiry and a cap: what several endpoints in one process
/// share to serve each other's sessions (and a reference for other stores). A single endpoint needs none:
/// its own live map is its store.
///
/// ```
/// use std::sync::Arc;
/// use mcp_server::http::{HttpConfig, MemorySessionStore};
/// // Two endpoints that serve each other's sessions.
/// let store = Arc::new(MemorySessionStore::new(10_000));
/// let public = HttpConfig::default().session_store(store.clone());
/// let admin = HttpConfig::default().session_store(store);
/// # let _ = (public, admin);
/// ```
#[derive(Debug)]
pub struct MemorySessionStore {
    map: DashMap<String, (SessionRecord, Instant)>,
    cap: usize,
}

impl MemorySessionStore {
    /// A store holding at most `cap` sessions.
    pub fn new(cap: usize) -> Self {
        Self {
            map: DashMap::new(),
            cap,
        }
    }

    /// Number of sessions not yet expired.
    pub fn len(&self) -> usize {
        let now = Instant::now();
        self.map.iter().filter(|e| e.value().1 > now).count()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl SessionStore for MemorySessionStore {
    fn create<'a>(
        &'a self,
        record: &'a SessionRecord,
        idle: Duration,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        let now = Instant::now();
        let r = if self.map.len() >= self.cap {
            self.map.retain(|_, (_, until)| *until > now);
            if self.map.len() >= self.cap {
                Err(StoreError::Full)
            } else {
                Ok(())
            }
        } else {
            Ok(())
        };
        if r.is_ok() {
            self.map
                .insert(record.id.clone(), (record.clone(), now + idle));
        }
        Box::pin(std::future::ready(r))
    }
    fn load<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<SessionRecord>, StoreError>> {
        let now = Instant::now();
        let r = self
            .map
            .get(id)
            .filter(|e| e.value().1 > now)
            .map(|e| e.value().0.clone());
        Box::pin(std::future::ready(Ok(r)))
    }
    fn touch<'a>(
        &'a self,
        id: &'a str,
        idle: Duration,
    ) -> BoxFuture<'a, Result<Option<u64>, StoreError>> {
        let now = Instant::now();
        let r = self.map.get_mut(id).and_then(|mut e| {
            let (record, until) = e.value_mut();
            (*until > now).then(|| {
                *until = now + idle;
                record.revision
            })
        });
        Box::pin(std::future::ready(Ok(r)))
    }
    fn update<'a>(
        &'a self,
        record: &'a SessionRecord,
        idle: Duration,
    ) -> BoxFuture<'a, Result<Option<u64>, StoreError>> {
        let now = Instant::now();
        let r = self.map.get_mut(record.id.as_str()).and_then(|mut e| {
            let (stored, until) = e.value_mut();
            (*until > now).then(|| {
                let revision = stored.revision + 1;
                *stored = SessionRecord {
                    revision,
                    ..record.clone()
                };
                *until = now + idle;
                revision
            })
        });
        Box::pin(std::future::ready(Ok(r)))
    }
    fn remove<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<bool, StoreError>> {
        let now = Instant::now();
        let r = self
            .map
            .remove(id)
            .is_some_and(|(_, (_, until))| until > now);
        Box::pin(std::future::ready(Ok(r)))
    }
}

/// The sessions this node holds live, by id: with no shared store, every session there is; with one, a cache
/// of the sessions this node served lately.
#[derive(Debug)]
pub(crate) struct LiveSessions {
    map: DashMap<Arc<str>, Arc<HttpSession>, FastHash>,
    cap: usize,
}

impl LiveSessions {
    pub(crate) fn new(cap: usize) -> Self {
        Self {
            map: DashMap::with_hasher(FastHash::default()),
            cap,
        }
    }

    /// Add a session unless the map is at its cap.
    pub(crate) fn insert(&self, session: Arc<HttpSession>) -> bool {
        if self.map.len() >= self.cap {
            return false;
        }
        self.map.insert(session.id.clone(), session);
        true
    }
    pub(crate) fn get(&self, id: &str) -> Option<Arc<HttpSession>> {
        self.map.get(id).map(|e| e.value().clone())
    }
    pub(crate) fn remove(&self, id: &str) -> Option<Arc<HttpSession>> {
        self.map.remove(id).map(|(_, s)| s)
    }
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }
    pub(crate) fn all(&self) -> Vec<Arc<HttpSession>> {
        self.map.iter().map(|e| e.value().clone()).collect()
    }

    /// The map is full and a new session wants in: remove a session nobody is using (no request in flight, no
    /// stream open), preferably the one idle longest, and return it.
    pub(crate) fn evict_idle(&self, epoch: Instant) -> Option<Arc<HttpSession>> {
        // The idlest of a sample, not of all: a full scan would make every `initialize` at the cap cost
        // O(sessions). Ids are random, so the map's order is a random sample.
        const SAMPLE: usize = 64;
        let victim = self
            .map
            .iter()
            .filter(|e| e.value().unused())
            .take(SAMPLE)
            .max_by_key(|e| e.value().idle_for(epoch))
            .map(|e| e.key().clone())?;
        // It may have become busy meanwhile; then nothing is evicted this time.
        self.map
            .remove_if(&victim, |_, s| s.unused())
            .map(|(_, s)| s)
    }

    /// Remove the sessions idle longer than `idle` with nothing in flight, and return them.
    pub(crate) fn expire(&self, idle: Duration, epoch: Instant) -> Vec<Arc<HttpSession>> {
        let mut gone = Vec::new();
        self.map.retain(|_, s| {
            let keep = s.idle_for(epoch) < idle || s.in_flight.load(Ordering::Relaxed) > 0;
            if !keep {
                gone.push(s.clone());
            }
            keep
        });
        gone
    }
}

/// A fresh session id: 192 random bits, URL-safe base64 (visible ASCII).
pub(crate) fn new_session_id() -> Arc<str> {
    use base64::Engine as _;
    let mut b = [0u8; 24];
    rand::Rng::fill(&mut rand::rng(), &mut b);
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(b)
        .into()
}

/// A random copy tag for a session held by a node that shares its store (see [`HttpSession::new`]).
pub(crate) fn new_tag() -> u32 {
    rand::Rng::random_range(&mut rand::rng(), 1..(1u32 << 20))
}
