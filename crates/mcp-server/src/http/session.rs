//! Legacy HTTP sessions: what a session holds, and the store that keeps them.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use dashmap::DashMap;
use mcp_rpc::PendingRequests;
use tokio::sync::mpsc;

use super::sse::{EventStore, StreamLog};
use crate::{LegacySession, Principal};

/// One legacy session: the protocol state the adapter needs, plus this node's live streams.
pub struct HttpSession {
    pub(crate) id: Arc<str>,
    pub(crate) legacy: LegacySession,
    pub(crate) principal: Option<Principal>,
    /// Server→client requests awaiting the client's POSTed responses.
    pub(crate) pending: Arc<PendingRequests>,
    pub(crate) ids: Arc<AtomicI64>,
    last_seen: AtomicU64,
    /// Live and recent SSE streams of this session, for `Last-Event-ID` resumption. Empty until a stream opens.
    streams: Mutex<VecDeque<Arc<StreamLog>>>,
    next_stream: AtomicU64,
    /// The standalone GET stream's sender, if one is open.
    pub(crate) standalone: Mutex<Option<mpsc::Sender<Bytes>>>,
    pub(crate) in_flight: AtomicU64,
    /// Cancelled when the session ends (DELETE or expiry): its open streams close.
    pub(crate) ended: tokio_util::sync::CancellationToken,
    /// Cancellation of this session's requests in flight, by id (for `notifications/cancelled` and DELETE).
    pub(crate) cancels: Mutex<
        std::collections::HashMap<mcp_protocol::RequestId, tokio_util::sync::CancellationToken>,
    >,
}

impl std::fmt::Debug for HttpSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpSession").field("id", &self.id).finish()
    }
}

/// Streams a session remembers for resumption.
const MAX_STREAMS_KEPT: usize = 16;
/// Stream number 0 is the standalone GET stream.
pub(crate) const STANDALONE_STREAM: u64 = 0;

impl HttpSession {
    pub(crate) fn new(
        id: Arc<str>,
        legacy: LegacySession,
        principal: Option<Principal>,
        epoch: Instant,
    ) -> Self {
        Self {
            id,
            legacy,
            principal,
            pending: Arc::new(PendingRequests::new()),
            ids: Arc::new(AtomicI64::new(1)),
            last_seen: AtomicU64::new(epoch.elapsed().as_millis() as u64),
            streams: Mutex::new(VecDeque::new()),
            next_stream: AtomicU64::new(1),
            standalone: Mutex::new(None),
            in_flight: AtomicU64::new(0),
            cancels: Mutex::new(std::collections::HashMap::new()),
            ended: tokio_util::sync::CancellationToken::new(),
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
    fn unused(&self) -> bool {
        self.in_flight.load(Ordering::Relaxed) == 0
            && self
                .standalone
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .as_ref()
                .is_none_or(|tx| tx.is_closed())
    }

    fn idle_for(&self, epoch: Instant) -> Duration {
        let now = epoch.elapsed().as_millis() as u64;
        Duration::from_millis(now.saturating_sub(self.last_seen.load(Ordering::Relaxed)))
    }

    /// Open a new resumable stream log.
    pub(crate) fn new_stream(&self, store: &Arc<dyn EventStore>) -> Arc<StreamLog> {
        let no = self.next_stream.fetch_add(1, Ordering::Relaxed);
        self.add_stream(Arc::new(StreamLog::new(no, self.id.clone(), store.clone())))
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

/// Where sessions live. The in-memory default is [`MemorySessionStore`]; a shared store (Redis) implements the
/// same calls so a fleet can route any session's requests to the node that holds its live streams.
///
/// A store of your own usually wraps another, e.g. to report how many sessions are open:
///
/// ```
/// use std::sync::Arc;
/// use std::time::{Duration, Instant};
/// use mcp_server::http::{HttpConfig, HttpSession, MemorySessionStore, SessionStore, StoreFull};
///
/// struct Metered(MemorySessionStore);
///
/// impl SessionStore for Metered {
///     fn insert(&self, s: Arc<HttpSession>) -> Result<(), StoreFull> {
///         self.0.insert(s)?;
///         tracing::info!(open = self.0.len(), "session opened");
///         Ok(())
///     }
///     fn get(&self, id: &str) -> Option<Arc<HttpSession>> { self.0.get(id) }
///     fn remove(&self, id: &str) -> Option<Arc<HttpSession>> { self.0.remove(id) }
///     fn len(&self) -> usize { self.0.len() }
///     fn expire(&self, idle: Duration, epoch: Instant) -> Vec<Arc<HttpSession>> { self.0.expire(idle, epoch) }
///     fn evict_idle(&self, epoch: Instant) -> Option<Arc<HttpSession>> { self.0.evict_idle(epoch) }
/// }
///
/// let config = HttpConfig::default().session_store(Arc::new(Metered(MemorySessionStore::new(1000))));
/// # let _ = config;
/// ```
pub trait SessionStore: Send + Sync + 'static {
    /// Add a session; fails when the store is full.
    fn insert(&self, session: Arc<HttpSession>) -> Result<(), StoreFull>;
    /// Look a session up.
    fn get(&self, id: &str) -> Option<Arc<HttpSession>>;
    /// Remove a session, returning it.
    fn remove(&self, id: &str) -> Option<Arc<HttpSession>>;
    /// Number of sessions.
    fn len(&self) -> usize;
    /// Whether there are none.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Remove sessions idle longer than `idle` (measured from `epoch`) and return them.
    fn expire(&self, idle: Duration, epoch: Instant) -> Vec<Arc<HttpSession>>;
    /// The store is full and a new session wants in: remove a session nobody is using (no request in flight,
    /// no stream open), preferably the one idle longest, and return it. `None` (the default) refuses the new
    /// session instead.
    fn evict_idle(&self, epoch: Instant) -> Option<Arc<HttpSession>> {
        let _ = epoch;
        None
    }
}

/// The store is at its session cap.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("session limit reached")]
pub struct StoreFull;

/// Sessions in a sharded concurrent map, with a cap.
///
/// ```
/// use std::sync::Arc;
/// use mcp_server::http::{HttpConfig, MemorySessionStore};
/// // What `HttpConfig::max_sessions` sets up; give one explicitly to share it between two endpoints.
/// let store = Arc::new(MemorySessionStore::new(10_000));
/// let public = HttpConfig::default().session_store(store.clone());
/// let admin = HttpConfig::default().session_store(store);
/// # let _ = (public, admin);
/// ```
#[derive(Debug)]
pub struct MemorySessionStore {
    map: DashMap<Arc<str>, Arc<HttpSession>>,
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
}

impl SessionStore for MemorySessionStore {
    fn insert(&self, session: Arc<HttpSession>) -> Result<(), StoreFull> {
        if self.map.len() >= self.cap {
            return Err(StoreFull);
        }
        self.map.insert(session.id.clone(), session);
        Ok(())
    }
    fn get(&self, id: &str) -> Option<Arc<HttpSession>> {
        self.map.get(id).map(|e| e.value().clone())
    }
    fn remove(&self, id: &str) -> Option<Arc<HttpSession>> {
        self.map.remove(id).map(|(_, s)| s)
    }
    fn len(&self) -> usize {
        self.map.len()
    }
    fn evict_idle(&self, epoch: Instant) -> Option<Arc<HttpSession>> {
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
    fn expire(&self, idle: Duration, epoch: Instant) -> Vec<Arc<HttpSession>> {
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
