//! SSE framing, and the per-stream event log that makes legacy streams resumable with `Last-Event-ID`.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use mcp_protocol::{Message, RequestId};
use serde::{Deserialize, Serialize};
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

    /// A request's stream opened on node `owner.node` (an endpoint with a shared session store and a bus
    /// calls this before the stream's first event): recorded so that a node resuming the stream elsewhere
    /// knows whose heartbeat to check and which request to fail if that node died. The default records
    /// nothing (such streams are never declared orphaned).
    fn open_stream<'a>(
        &'a self,
        session: &'a str,
        stream: u64,
        owner: &'a StreamOwner,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        let _ = (session, stream, owner);
        Box::pin(std::future::ready(Ok(())))
    }

    /// The stream ended after its events up to `seq` (excluded): a node following it stops there. Called
    /// only by endpoints with a shared session store. The default records nothing.
    fn end_stream<'a>(
        &'a self,
        session: &'a str,
        stream: u64,
        seq: u64,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        let _ = (session, stream, seq);
        Box::pin(std::future::ready(Ok(())))
    }

    /// Read a stream as it is written: its frames after `after`, then, as the writer (maybe another node)
    /// appends them, the live rest, each once and in order, until [`end_stream`](Self::end_stream). While
    /// nothing new comes the stream yields [`FollowEvent::Quiet`] (once when the replay is caught up, then
    /// every second or so), so the caller can check that the writer is still alive. `None` if the session
    /// has no such stream.
    ///
    /// The default replays (see [`replay`](Self::replay)) and ends: a client resuming on another node gets
    /// what was stored and resumes again for the rest.
    ///
    /// ```
    /// use bytes::Bytes;
    /// use futures::StreamExt;
    /// use mcp_protocol::RequestId;
    /// use mcp_server::http::{EventStore, FollowEvent, MemoryEventStore, StreamOwner};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let store = MemoryEventStore::default();
    /// let owner = StreamOwner::new(1, Some(RequestId::Number(2)));
    /// store.open_stream("s", 7, &owner).await.unwrap();
    /// store.append("s", 7, 0, Bytes::from_static(b"first")).await.unwrap();
    /// assert!(store.follow("s", 6, 0).await.unwrap().is_none(), "no such stream");
    /// // A client that saw event 0 follows: nothing stored after it yet, so a quiet spell at once (time to
    /// // check that the owner is alive).
    /// let mut f = store.follow("s", 7, 0).await.unwrap().unwrap();
    /// assert_eq!(f.owner, Some(owner));
    /// assert_eq!(f.events.next().await.unwrap().unwrap(), FollowEvent::Quiet);
    /// // The writer goes on, then ends the stream: the follower gets the rest, once, then the end.
    /// store.append("s", 7, 1, Bytes::from_static(b"second")).await.unwrap();
    /// store.end_stream("s", 7, 2).await.unwrap();
    /// assert_eq!(f.events.next().await.unwrap().unwrap(), FollowEvent::Frame(Bytes::from_static(b"second")));
    /// assert_eq!(f.events.next().await.unwrap().unwrap(), FollowEvent::End);
    /// assert!(f.events.next().await.is_none());
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`StoreError::Unavailable`] when the store cannot answer (the resuming request gets 503); an error
    /// inside the stream ends it (the client resumes again).
    fn follow<'a>(
        &'a self,
        session: &'a str,
        stream: u64,
        after: u64,
    ) -> BoxFuture<'a, Result<Option<Following>, StoreError>> {
        Box::pin(async move {
            let frames = self.replay(session, stream, after).await?;
            Ok(frames.map(|f| {
                let items = f
                    .into_iter()
                    .map(|b| Ok(FollowEvent::Frame(b)))
                    .chain(std::iter::once(Ok(FollowEvent::End)));
                Following::new(None, Box::pin(futures::stream::iter(items)))
            }))
        })
    }
}

/// Who writes a resumable stream: the node (its [`Bus::node`](super::Bus::node)) and, for a request's
/// stream, the request it answers.
///
/// ```
/// use mcp_protocol::RequestId;
/// use mcp_server::http::StreamOwner;
/// let owner = StreamOwner::new(7, Some(RequestId::Number(3)));
/// let json = serde_json::to_string(&owner).unwrap();
/// assert_eq!(serde_json::from_str::<StreamOwner>(&json).unwrap(), owner);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct StreamOwner {
    /// The node writing the stream.
    pub node: u64,
    /// The request the stream answers (`None`: a GET stream).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<RequestId>,
}

impl StreamOwner {
    /// The stream of `request` (or a GET stream) written by `node`.
    pub fn new(node: u64, request: Option<RequestId>) -> Self {
        Self { node, request }
    }
}

/// One step of a followed stream (see [`EventStore::follow`], which has an example).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FollowEvent {
    /// The next event, an SSE frame ready to send.
    Frame(Bytes),
    /// Nothing new for now: the caller checks that the writer is alive.
    Quiet,
    /// The writer ended the stream: nothing more will come.
    End,
}

/// A stream being followed: who writes it, and its events (see [`EventStore::follow`]).
///
/// ```
/// use bytes::Bytes;
/// use futures::StreamExt;
/// use mcp_server::http::{FollowEvent, Following};
/// # futures::executor::block_on(async {
/// let items = vec![Ok(FollowEvent::Frame(Bytes::from_static(b"data: {}\n\n"))), Ok(FollowEvent::End)];
/// let mut f = Following::new(None, Box::pin(futures::stream::iter(items)));
/// assert!(matches!(f.events.next().await, Some(Ok(FollowEvent::Frame(_)))));
/// # });
/// ```
#[non_exhaustive]
pub struct Following {
    /// Who writes it, as [`EventStore::open_stream`] recorded it (`None`: not recorded).
    pub owner: Option<StreamOwner>,
    /// The frames after the resume point, then the live rest.
    pub events: BoxStream<'static, Result<FollowEvent, StoreError>>,
}

impl Following {
    /// A followed stream.
    pub fn new(
        owner: Option<StreamOwner>,
        events: BoxStream<'static, Result<FollowEvent, StoreError>>,
    ) -> Self {
        Self { owner, events }
    }
}

impl std::fmt::Debug for Following {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Following")
            .field("owner", &self.owner)
            .finish_non_exhaustive()
    }
}

type StreamEvents = VecDeque<(u64, Bytes)>;

/// The events kept of one stream.
struct Kept {
    no: u64,
    events: StreamEvents,
    /// Recorded by `open_stream` (shared endpoints only: boxed so streams of a lone endpoint pay one word).
    owner: Option<Box<StreamOwner>>,
    ended: bool,
}

impl Kept {
    fn new(no: u64) -> Self {
        Self {
            no,
            events: VecDeque::new(),
            owner: None,
            ended: false,
        }
    }
}

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
#[derive(Debug, Clone)]
pub struct MemoryEventStore {
    inner: Arc<MemoryEvents>,
}

struct MemoryEvents {
    sessions: dashmap::DashMap<Arc<str>, Mutex<VecDeque<Kept>>>,
    per_stream: usize,
    streams_per_session: usize,
    /// Streams being followed ([`EventStore::follow`]); appends wake them only when there are some, so a
    /// lone endpoint pays one atomic read per event and nothing else.
    followers: std::sync::atomic::AtomicUsize,
    changed: tokio::sync::Notify,
}

impl std::fmt::Debug for MemoryEvents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryEvents")
            .field("sessions", &self.sessions.len())
            .finish_non_exhaustive()
    }
}

impl MemoryEventStore {
    /// Keep at most `per_stream` events of each stream and `streams_per_session` streams of each session.
    pub fn new(per_stream: usize, streams_per_session: usize) -> Self {
        Self {
            inner: Arc::new(MemoryEvents {
                sessions: dashmap::DashMap::new(),
                per_stream,
                streams_per_session,
                followers: Default::default(),
                changed: tokio::sync::Notify::new(),
            }),
        }
    }

    fn append_now(&self, session: &str, stream: u64, seq: u64, frame: Bytes) {
        let inner = &*self.inner;
        inner.with_stream(session, stream, |k| {
            if k.events.len() >= inner.per_stream {
                k.events.pop_front();
            }
            k.events.push_back((seq, frame));
        });
        inner.wake();
    }

    fn replay_now(&self, session: &str, stream: u64, after: u64) -> Option<Vec<Bytes>> {
        self.inner
            .read(session, stream, after)
            .map(|(f, _)| f.into_iter().map(|(_, b)| b).collect())
    }
}

impl MemoryEvents {
    fn with_stream(&self, session: &str, stream: u64, f: impl FnOnce(&mut Kept)) {
        let entry = self
            .sessions
            .entry(Arc::from(session))
            .or_insert_with(|| Mutex::new(VecDeque::new()));
        let mut streams = entry.lock().unwrap_or_else(|p| p.into_inner());
        let idx = match streams.iter().position(|k| k.no == stream) {
            Some(i) => i,
            None => {
                if streams.len() >= self.streams_per_session {
                    streams.pop_front();
                }
                streams.push_back(Kept::new(stream));
                streams.len() - 1
            }
        };
        f(&mut streams[idx]);
    }

    fn wake(&self) {
        if self.followers.load(Ordering::SeqCst) > 0 {
            self.changed.notify_waiters();
        }
    }

    /// The events after `after` and whether the stream ended; `None` if there is no such stream.
    #[allow(clippy::type_complexity)]
    fn read(&self, session: &str, stream: u64, after: u64) -> Option<(Vec<(u64, Bytes)>, bool)> {
        let entry = self.sessions.get(session)?;
        let streams = entry.lock().unwrap_or_else(|p| p.into_inner());
        streams.iter().find(|k| k.no == stream).map(|k| {
            let frames = k
                .events
                .iter()
                .filter(|(s, _)| *s > after)
                .cloned()
                .collect();
            (frames, k.ended)
        })
    }

    fn owner(&self, session: &str, stream: u64) -> Option<StreamOwner> {
        let entry = self.sessions.get(session)?;
        let streams = entry.lock().unwrap_or_else(|p| p.into_inner());
        streams
            .iter()
            .find(|k| k.no == stream)
            .and_then(|k| k.owner.as_deref().cloned())
    }
}

impl Default for MemoryEventStore {
    fn default() -> Self {
        Self::new(256, 16)
    }
}

/// How long a follower waits for news before saying the stream is quiet.
const QUIET: std::time::Duration = std::time::Duration::from_secs(1);

/// Counts a follower for as long as it lives.
struct Follower(Arc<MemoryEvents>);

impl Drop for Follower {
    fn drop(&mut self) {
        self.0.followers.fetch_sub(1, Ordering::SeqCst);
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
        self.inner.sessions.remove(session);
        self.inner.wake();
        Box::pin(std::future::ready(Ok(())))
    }

    fn open_stream<'a>(
        &'a self,
        session: &'a str,
        stream: u64,
        owner: &'a StreamOwner,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        self.inner
            .with_stream(session, stream, |k| k.owner = Some(Box::new(owner.clone())));
        Box::pin(std::future::ready(Ok(())))
    }

    fn end_stream<'a>(
        &'a self,
        session: &'a str,
        stream: u64,
        _seq: u64,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        self.inner.with_stream(session, stream, |k| k.ended = true);
        self.inner.wake();
        Box::pin(std::future::ready(Ok(())))
    }

    fn follow<'a>(
        &'a self,
        session: &'a str,
        stream: u64,
        after: u64,
    ) -> BoxFuture<'a, Result<Option<Following>, StoreError>> {
        let inner = self.inner.clone();
        if inner.read(session, stream, after).is_none() {
            return Box::pin(std::future::ready(Ok(None)));
        }
        let owner = inner.owner(session, stream);
        inner.followers.fetch_add(1, Ordering::SeqCst);
        let guard = Follower(inner);
        let session: Arc<str> = session.into();
        // State: (the follower, the last seq delivered, frames read but not yet yielded, whether the end
        // was seen, whether a quiet spell was just reported).
        let state = (guard, after, VecDeque::<Bytes>::new(), false, false);
        let events = futures::stream::unfold(
            state,
            move |(guard, mut last, mut ready, mut ended, quiet)| {
                let session = session.clone();
                async move {
                    loop {
                        if let Some(f) = ready.pop_front() {
                            return Some((
                                Ok(FollowEvent::Frame(f)),
                                (guard, last, ready, ended, quiet),
                            ));
                        }
                        if ended {
                            return None;
                        }
                        // Registered before reading, so an append between the read and the wait wakes it.
                        let changed = guard.0.changed.notified();
                        let Some((frames, end)) = guard.0.read(&session, stream, last) else {
                            // Forgotten (the session ended): nothing more will come.
                            return None;
                        };
                        if let Some((s, _)) = frames.last() {
                            last = *s;
                        }
                        ready.extend(frames.into_iter().map(|(_, b)| b));
                        if !ready.is_empty() {
                            continue;
                        }
                        if end {
                            drop(changed);
                            ended = true;
                            return Some((
                                Ok(FollowEvent::End),
                                (guard, last, ready, ended, quiet),
                            ));
                        }
                        if !quiet {
                            drop(changed);
                            return Some((
                                Ok(FollowEvent::Quiet),
                                (guard, last, ready, ended, true),
                            ));
                        }
                        if tokio::time::timeout(QUIET, changed).await.is_err() {
                            return Some((
                                Ok(FollowEvent::Quiet),
                                (guard, last, ready, ended, true),
                            ));
                        }
                    }
                }
            },
        );
        Box::pin(std::future::ready(Ok(Some(Following::new(
            owner,
            Box::pin(events),
        )))))
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
    /// Other nodes may follow this stream from the store: its end is recorded there.
    shared: bool,
}

impl StreamLog {
    pub fn new(no: u64, session: Arc<str>, store: Arc<dyn EventStore>, shared: bool) -> Self {
        Self {
            no,
            session,
            store,
            live: tokio::sync::Mutex::new(None),
            next_seq: AtomicU64::new(0),
            done: AtomicBool::new(false),
            shared,
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
        if self.shared && !self.done.load(Ordering::Acquire) {
            // Under the lock, after every event: a follower elsewhere sees all of them, then the end.
            let seq = self.next_seq.fetch_add(1, Ordering::Relaxed);
            if let Err(e) = self.store.end_stream(&self.session, self.no, seq).await {
                tracing::warn!(session = %self.session, error = %e, "end of stream not stored: followers elsewhere check its owner instead");
            }
        }
        self.done.store(true, Ordering::Release);
        *live = None;
    }

    pub fn is_done(&self) -> bool {
        self.done.load(Ordering::Acquire)
    }
}

/// Whether an SSE frame carries the response (result or error) to request `id`.
pub(crate) fn answers(frame: &[u8], id: &RequestId) -> bool {
    #[derive(Deserialize)]
    struct Answer {
        id: Option<RequestId>,
        result: Option<serde::de::IgnoredAny>,
        error: Option<serde::de::IgnoredAny>,
    }
    frame
        .split(|&b| b == b'\n')
        .filter_map(|l| l.strip_prefix(b"data: "))
        .filter_map(|d| serde_json::from_slice::<Answer>(d).ok())
        .any(|a| a.id.as_ref() == Some(id) && (a.result.is_some() || a.error.is_some()))
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
        let id = RequestId::Number(4);
        let result = event_json(Some("1-2"), br#"{"jsonrpc":"2.0","id":4,"result":{}}"#);
        let other = event_json(Some("1-2"), br#"{"jsonrpc":"2.0","id":5,"result":{}}"#);
        let request = event_json(Some("1-2"), br#"{"jsonrpc":"2.0","id":4,"method":"ping"}"#);
        assert!(answers(&result, &id));
        assert!(!answers(&other, &id));
        assert!(
            !answers(&request, &id),
            "a server request with the same id is no answer"
        );
        assert_eq!(parse_event_id("nope"), None);
    }
}
