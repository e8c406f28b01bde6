//! SSE framing, and the per-stream event log that makes legacy streams resumable with `Last-Event-ID`.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::future::BoxFuture;
use mcp_protocol::Message;
use tokio::sync::mpsc;

use super::session::StoreError;

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
/// An event is appended before it is sent, so whatever a client saw can be replayed after it. Events are
/// keyed by session and stream: a replay only ever reads the session the request was authenticated for, so an
/// event id from another session finds nothing.
///
/// ```
/// use std::sync::Arc;
/// use bytes::Bytes;
/// use futures::future::BoxFuture;
/// use mcp_server::http::{EventStore, HttpConfig, MemoryEventStore, StoreError};
///
/// /// Counts replays, to see how often clients resume.
/// struct Counted { inner: MemoryEventStore, replays: std::sync::atomic::AtomicU64 }
///
/// impl EventStore for Counted {
///     fn append<'a>(&'a self, session: &'a str, stream: u64, seq: u64, frame: Bytes)
///         -> BoxFuture<'a, Result<(), StoreError>> {
///         self.inner.append(session, stream, seq, frame)
///     }
///     fn replay<'a>(&'a self, session: &'a str, stream: u64, after: u64)
///         -> BoxFuture<'a, Result<Option<Vec<Bytes>>, StoreError>> {
///         self.replays.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
///         self.inner.replay(session, stream, after)
///     }
///     fn forget<'a>(&'a self, session: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
///         self.inner.forget(session)
///     }
/// }
///
/// let store = Counted { inner: MemoryEventStore::default(), replays: Default::default() };
/// let config = HttpConfig::default().event_store(Arc::new(store));
/// # let _ = config;
/// ```
///
/// # Errors
///
/// Each call fails with [`StoreError::Unavailable`] when the store cannot answer. A failed append is logged
/// and the event is still sent live (it cannot be replayed); a failed replay answers the resuming request
/// with HTTP 503.
pub trait EventStore: Send + Sync + 'static {
    /// Record event `seq` of `stream` in `session` (an SSE frame, ready to send).
    fn append<'a>(
        &'a self,
        session: &'a str,
        stream: u64,
        seq: u64,
        frame: Bytes,
    ) -> BoxFuture<'a, Result<(), StoreError>>;
    /// The frames of `stream` after `seq`, oldest first; `None` if the session has no such stream.
    fn replay<'a>(
        &'a self,
        session: &'a str,
        stream: u64,
        after: u64,
    ) -> BoxFuture<'a, Result<Option<Vec<Bytes>>, StoreError>>;
    /// Drop everything kept for a session (it ended).
    fn forget<'a>(&'a self, session: &'a str) -> BoxFuture<'a, Result<(), StoreError>>;
}

type StreamEvents = VecDeque<(u64, Bytes)>;

/// Events in memory, bounded per stream and per session.
///
/// ```
/// use bytes::Bytes;
/// use mcp_server::http::{EventStore, MemoryEventStore};
///
/// # futures::executor::block_on(async {
/// let store = MemoryEventStore::new(2, 4); // the 2 newest events of each stream
/// for seq in 1..=3 {
///     store.append("session-a", 0, seq, Bytes::from(format!("id: {seq}\n\n"))).await.unwrap();
/// }
/// // A client that saw event 1 gets what is still kept after it.
/// assert_eq!(store.replay("session-a", 0, 1).await.unwrap().unwrap().len(), 2);
/// store.forget("session-a").await.unwrap();
/// assert!(store.replay("session-a", 0, 0).await.unwrap().is_none());
/// # });
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

    fn append_now(&self, session: &str, stream: u64, seq: u64, frame: Bytes) {
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

    fn replay_now(&self, session: &str, stream: u64, after: u64) -> Option<Vec<Bytes>> {
        let entry = self.sessions.get(session)?;
        let streams = entry.lock().unwrap_or_else(|p| p.into_inner());
        streams.iter().find(|(no, _)| *no == stream).map(|(_, ev)| {
            ev.iter()
                .filter(|(s, _)| *s > after)
                .map(|(_, f)| f.clone())
                .collect()
        })
    }
}

impl Default for MemoryEventStore {
    fn default() -> Self {
        Self::new(256, 16)
    }
}

impl EventStore for MemoryEventStore {
    fn append<'a>(
        &'a self,
        session: &'a str,
        stream: u64,
        seq: u64,
        frame: Bytes,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        self.append_now(session, stream, seq, frame);
        Box::pin(std::future::ready(Ok(())))
    }

    fn replay<'a>(
        &'a self,
        session: &'a str,
        stream: u64,
        after: u64,
    ) -> BoxFuture<'a, Result<Option<Vec<Bytes>>, StoreError>> {
        Box::pin(std::future::ready(Ok(
            self.replay_now(session, stream, after)
        )))
    }

    fn forget<'a>(&'a self, session: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        self.sessions.remove(session);
        Box::pin(std::future::ready(Ok(())))
    }
}

/// One legacy SSE stream: its event numbering, and the live subscriber if one is connected. Replayable events
/// go to the [`EventStore`] first.
pub(crate) struct StreamLog {
    pub no: u64,
    session: Arc<str>,
    store: Arc<dyn EventStore>,
    /// Guards delivery: an append and a (re)attach never interleave, so no event falls between a replay and
    /// the live stream. Held across the store's calls, hence an async lock.
    live: tokio::sync::Mutex<Option<mpsc::Sender<Bytes>>>,
    next_seq: AtomicU64,
    done: AtomicBool,
}

impl StreamLog {
    pub fn new(no: u64, session: Arc<str>, store: Arc<dyn EventStore>) -> Self {
        Self {
            no,
            session,
            store,
            live: tokio::sync::Mutex::new(None),
            next_seq: AtomicU64::new(0),
            done: AtomicBool::new(false),
        }
    }

    /// The next event id of this stream. Ids encode the stream so a resume finds it.
    pub fn next_id(&self) -> (u64, String) {
        let seq = self.next_seq.fetch_add(1, Ordering::Relaxed);
        (seq, format!("{}-{}", self.no, seq))
    }

    /// Record an event, then hand it to the live subscriber, if any. A subscriber that cannot keep up is
    /// disconnected rather than buffered without bound; it can resume from the store.
    pub async fn push(&self, seq: u64, frame: Bytes, replayable: bool) {
        let mut live = self.live.lock().await;
        if replayable {
            if let Err(e) = self
                .store
                .append(&self.session, self.no, seq, frame.clone())
                .await
            {
                tracing::warn!(session = %self.session, error = %e, "event not stored: it cannot be replayed");
            }
        }
        if let Some(tx) = live.as_ref() {
            if tx.try_send(frame).is_err() {
                *live = None;
            }
        }
    }

    /// Attach a subscriber, first replaying what came after `after` (None: attach live only).
    ///
    /// # Errors
    ///
    /// The store could not replay; nothing was attached.
    pub async fn attach(
        &self,
        after: Option<u64>,
        tx: mpsc::Sender<Bytes>,
    ) -> Result<(), StoreError> {
        let mut live = self.live.lock().await;
        if let Some(after) = after {
            let frames = self
                .store
                .replay(&self.session, self.no, after)
                .await?
                .unwrap_or_default();
            for frame in frames {
                if tx.try_send(frame).is_err() {
                    return Ok(());
                }
            }
        }
        if !self.done.load(Ordering::Acquire) {
            *live = Some(tx);
        }
        Ok(())
    }

    /// Whether a live connection still takes this stream's events (a reader too slow to keep up is cut off).
    pub async fn is_live(&self) -> bool {
        self.live.lock().await.is_some()
    }

    /// Close the live connection now (polling, SEP-1699); the stream goes on and can be resumed.
    pub async fn disconnect(&self) {
        *self.live.lock().await = None;
    }

    /// The stream is over: end the live connection.
    pub async fn finish(&self) {
        let mut live = self.live.lock().await;
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
            store.append_now("s", 1, seq, Bytes::from(format!("e{seq}")));
        }
        assert_eq!(
            store.replay_now("s", 1, 2),
            Some(vec![Bytes::from("e3"), Bytes::from("e4")])
        );
        assert_eq!(
            store.replay_now("s", 1, 0).map(|v| v.len()),
            Some(3),
            "only the last 3 events are kept"
        );
        store.append_now("s", 2, 0, Bytes::from("x"));
        store.append_now("s", 3, 0, Bytes::from("y"));
        assert!(
            store.replay_now("s", 1, 0).is_none(),
            "the oldest stream was dropped"
        );
        assert_eq!(
            store.replay_now("other", 3, 0),
            None,
            "streams are per session"
        );
        drop(store.forget("s"));
        assert!(store.replay_now("s", 3, 0).is_none());
        assert_eq!(parse_event_id("7-42"), Some((7, 42)));
        assert_eq!(parse_event_id("nope"), None);
    }
}
