//! SSE framing, and the per-stream event log that makes legacy streams resumable with `Last-Event-ID`.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use mcp_protocol::Message;
use tokio::sync::mpsc;

/// One SSE event carrying a message, written as one buffer.
pub(crate) fn event(id: Option<&str>, msg: &Message) -> Bytes {
    event_json(id, &serde_json::to_vec(msg).unwrap_or_default())
}

/// One SSE event carrying a message already written as JSON (one line: serde_json writes no raw newlines).
pub(crate) fn event_json(id: Option<&str>, json: &[u8]) -> Bytes {
    let mut s = Vec::with_capacity(json.len() + 48);
    if let Some(id) = id {
        s.extend_from_slice(b"id: ");
        s.extend_from_slice(id.as_bytes());
        s.push(b'\n');
    }
    s.extend_from_slice(b"event: message\ndata: ");
    s.extend_from_slice(json);
    s.extend_from_slice(b"\n\n");
    Bytes::from(s)
}

/// The priming event (SEP-1699): an id and empty data, with the reconnection delay.
pub(crate) fn priming(id: &str, retry_ms: u64) -> Bytes {
    Bytes::from(format!("id: {id}\nretry: {retry_ms}\ndata: \n\n"))
}

/// A comment that keeps idle connections open through proxies.
pub(crate) fn keepalive() -> Bytes {
    Bytes::from_static(b": keepalive\n\n")
}

/// Where the events of resumable (legacy) SSE streams are kept for `Last-Event-ID` replay. The in-memory
/// default is [`MemoryEventStore`]; a shared store (Redis streams, say) implements the same three calls so a
/// client can resume on any node.
///
/// ```
/// use std::sync::Arc;
/// use bytes::Bytes;
/// use mcp_server::http::{EventStore, HttpConfig, MemoryEventStore};
///
/// /// Counts replays, to see how often clients resume.
/// struct Counted { inner: MemoryEventStore, replays: std::sync::atomic::AtomicU64 }
///
/// impl EventStore for Counted {
///     fn append(&self, session: &str, stream: u64, seq: u64, frame: Bytes) {
///         self.inner.append(session, stream, seq, frame)
///     }
///     fn replay(&self, session: &str, stream: u64, after: u64) -> Vec<Bytes> {
///         self.replays.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
///         self.inner.replay(session, stream, after)
///     }
///     fn forget(&self, session: &str) { self.inner.forget(session) }
/// }
///
/// let store = Counted { inner: MemoryEventStore::default(), replays: Default::default() };
/// let config = HttpConfig::default().event_store(Arc::new(store));
/// # let _ = config;
/// ```
pub trait EventStore: Send + Sync + 'static {
    /// Record event `seq` of `stream` in `session` (an SSE frame, ready to send).
    fn append(&self, session: &str, stream: u64, seq: u64, frame: Bytes);
    /// The frames of `stream` after `seq`, oldest first.
    fn replay(&self, session: &str, stream: u64, after: u64) -> Vec<Bytes>;
    /// Drop everything kept for a session (it ended).
    fn forget(&self, session: &str);
}

type StreamEvents = VecDeque<(u64, Bytes)>;

/// Events in memory, bounded per stream and per session.
///
/// ```
/// use bytes::Bytes;
/// use mcp_server::http::{EventStore, MemoryEventStore};
///
/// let store = MemoryEventStore::new(2, 4); // the 2 newest events of each stream
/// for seq in 1..=3 {
///     store.append("session-a", 0, seq, Bytes::from(format!("id: {seq}\n\n")));
/// }
/// // A client that saw event 1 gets what is still kept after it.
/// assert_eq!(store.replay("session-a", 0, 1).len(), 2);
/// store.forget("session-a");
/// assert!(store.replay("session-a", 0, 0).is_empty());
/// ```
#[derive(Debug)]
pub struct MemoryEventStore {
    sessions: dashmap::DashMap<Arc<str>, Mutex<VecDeque<(u64, StreamEvents)>>>,
    per_stream: usize,
    streams_per_session: usize,
}

impl MemoryEventStore {
    /// Keep at most `per_stream` events of each stream and `streams_per_session` streams of each session.
    pub fn new(per_stream: usize, streams_per_session: usize) -> Self {
        Self {
            sessions: dashmap::DashMap::new(),
            per_stream,
            streams_per_session,
        }
    }
}

impl Default for MemoryEventStore {
    fn default() -> Self {
        Self::new(256, 16)
    }
}

impl EventStore for MemoryEventStore {
    fn append(&self, session: &str, stream: u64, seq: u64, frame: Bytes) {
        let entry = self
            .sessions
            .entry(Arc::from(session))
            .or_insert_with(|| Mutex::new(VecDeque::new()));
        let mut streams = entry.lock().unwrap_or_else(|p| p.into_inner());
        let idx = match streams.iter().position(|(no, _)| *no == stream) {
            Some(i) => i,
            None => {
                if streams.len() >= self.streams_per_session {
                    streams.pop_front();
                }
                streams.push_back((stream, VecDeque::new()));
                streams.len() - 1
            }
        };
        let events = &mut streams[idx].1;
        if events.len() >= self.per_stream {
            events.pop_front();
        }
        events.push_back((seq, frame));
    }

    fn replay(&self, session: &str, stream: u64, after: u64) -> Vec<Bytes> {
        let Some(entry) = self.sessions.get(session) else {
            return Vec::new();
        };
        let streams = entry.lock().unwrap_or_else(|p| p.into_inner());
        streams
            .iter()
            .find(|(no, _)| *no == stream)
            .map(|(_, ev)| {
                ev.iter()
                    .filter(|(s, _)| *s > after)
                    .map(|(_, f)| f.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    fn forget(&self, session: &str) {
        self.sessions.remove(session);
    }
}

/// One legacy SSE stream: its event numbering, and the live subscriber if one is connected. Replayable events
/// go to the [`EventStore`].
pub(crate) struct StreamLog {
    pub no: u64,
    session: Arc<str>,
    store: Arc<dyn EventStore>,
    /// Guards delivery: an append and a (re)attach never interleave, so no event falls between a replay and
    /// the live stream.
    live: Mutex<Option<mpsc::Sender<Bytes>>>,
    next_seq: AtomicU64,
    done: AtomicBool,
}

impl StreamLog {
    pub fn new(no: u64, session: Arc<str>, store: Arc<dyn EventStore>) -> Self {
        Self {
            no,
            session,
            store,
            live: Mutex::new(None),
            next_seq: AtomicU64::new(0),
            done: AtomicBool::new(false),
        }
    }

    fn live(&self) -> std::sync::MutexGuard<'_, Option<mpsc::Sender<Bytes>>> {
        self.live.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The next event id of this stream. Ids encode the stream so a resume finds it.
    pub fn next_id(&self) -> (u64, String) {
        let seq = self.next_seq.fetch_add(1, Ordering::Relaxed);
        (seq, format!("{}-{}", self.no, seq))
    }

    /// Record an event and hand it to the live subscriber, if any. A subscriber that cannot keep up is
    /// disconnected rather than buffered without bound; it can resume from the store.
    pub fn push(&self, seq: u64, frame: Bytes, replayable: bool) {
        let mut live = self.live();
        if replayable {
            self.store
                .append(&self.session, self.no, seq, frame.clone());
        }
        if let Some(tx) = live.as_ref() {
            if tx.try_send(frame).is_err() {
                *live = None;
            }
        }
    }

    /// Attach a subscriber, first replaying what came after `after` (None: attach live only).
    pub fn attach(&self, after: Option<u64>, tx: mpsc::Sender<Bytes>) {
        let mut live = self.live();
        if let Some(after) = after {
            for frame in self.store.replay(&self.session, self.no, after) {
                if tx.try_send(frame).is_err() {
                    return;
                }
            }
        }
        if !self.done.load(Ordering::Acquire) {
            *live = Some(tx);
        }
    }

    /// Whether a live connection still takes this stream's events (a reader too slow to keep up is cut off).
    pub fn is_live(&self) -> bool {
        self.live().is_some()
    }

    /// Close the live connection now (polling, SEP-1699); the stream goes on and can be resumed.
    pub fn disconnect(&self) {
        *self.live() = None;
    }

    /// The stream is over: end the live connection.
    pub fn finish(&self) {
        let mut live = self.live();
        self.done.store(true, Ordering::Release);
        *live = None;
    }

    pub fn is_done(&self) -> bool {
        self.done.load(Ordering::Acquire)
    }
}

/// Parse an event id of the form `<stream>-<seq>`.
pub(crate) fn parse_event_id(id: &str) -> Option<(u64, u64)> {
    let (s, q) = id.trim().split_once('-')?;
    Some((s.parse().ok()?, q.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_store_is_bounded_and_replays_after_an_id() {
        let store = MemoryEventStore::new(3, 2);
        for seq in 0..5 {
            store.append("s", 1, seq, Bytes::from(format!("e{seq}")));
        }
        assert_eq!(
            store.replay("s", 1, 2),
            vec![Bytes::from("e3"), Bytes::from("e4")]
        );
        assert_eq!(
            store.replay("s", 1, 0).len(),
            3,
            "only the last 3 events are kept"
        );
        store.append("s", 2, 0, Bytes::from("x"));
        store.append("s", 3, 0, Bytes::from("y"));
        assert!(
            store.replay("s", 1, 0).is_empty(),
            "the oldest stream was dropped"
        );
        store.forget("s");
        assert!(store.replay("s", 3, 0).is_empty());
        assert_eq!(parse_event_id("7-42"), Some((7, 42)));
        assert_eq!(parse_event_id("nope"), None);
    }
}
