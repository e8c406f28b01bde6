//! SSE framing, and the per-stream event log that makes legacy streams resumable with `Last-Event-ID`.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use bytes::Bytes;
use mcp_protocol::Message;
use tokio::sync::mpsc;

/// One SSE event carrying a message, written as one buffer.
pub(crate) fn event(id: Option<&str>, msg: &Message) -> Bytes {
    let json = serde_json::to_string(msg).unwrap_or_default();
    let mut s = String::with_capacity(json.len() + 32);
    if let Some(id) = id {
        s.push_str("id: ");
        s.push_str(id);
        s.push('\n');
    }
    s.push_str("event: message\ndata: ");
    s.push_str(&json);
    s.push_str("\n\n");
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

/// The events of one legacy SSE stream, kept (bounded) for replay, and the live subscriber if connected.
pub(crate) struct StreamLog {
    pub no: u64,
    events: Mutex<VecDeque<(u64, Bytes)>>,
    live: Mutex<Option<mpsc::Sender<Bytes>>>,
    next_seq: Mutex<u64>,
    done: AtomicBool,
    cap: usize,
}

impl StreamLog {
    pub fn new(no: u64, cap: usize) -> Self {
        Self {
            no,
            events: Mutex::new(VecDeque::new()),
            live: Mutex::new(None),
            next_seq: Mutex::new(0),
            done: AtomicBool::new(false),
            cap,
        }
    }

    fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
        m.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The next event id of this stream. Ids encode the stream so a resume finds it.
    pub fn next_id(&self) -> (u64, String) {
        let mut n = Self::lock(&self.next_seq);
        let seq = *n;
        *n += 1;
        (seq, format!("{}-{}", self.no, seq))
    }

    /// Record an event and hand it to the live subscriber, if any. A subscriber that cannot keep up is
    /// disconnected rather than buffered without bound; it can resume from the log.
    pub fn push(&self, seq: u64, frame: Bytes, replayable: bool) {
        if replayable {
            let mut ev = Self::lock(&self.events);
            if ev.len() >= self.cap {
                ev.pop_front();
            }
            ev.push_back((seq, frame.clone()));
        }
        let mut live = Self::lock(&self.live);
        if let Some(tx) = live.as_ref() {
            if tx.try_send(frame).is_err() {
                *live = None;
            }
        }
    }

    /// Attach a subscriber, first replaying what came after `after` (None: attach live only).
    pub fn attach(&self, after: Option<u64>, tx: mpsc::Sender<Bytes>) {
        let ev = Self::lock(&self.events);
        if let Some(after) = after {
            for (seq, frame) in ev.iter().filter(|(s, _)| *s > after) {
                let _ = seq;
                if tx.try_send(frame.clone()).is_err() {
                    return;
                }
            }
        }
        if !self.done.load(Ordering::Acquire) {
            *Self::lock(&self.live) = Some(tx);
        }
    }

    /// Close the live connection now (polling, SEP-1699); the stream goes on and can be resumed.
    pub fn disconnect(&self) {
        *Self::lock(&self.live) = None;
    }

    /// The stream is over: end the live connection.
    pub fn finish(&self) {
        self.done.store(true, Ordering::Release);
        *Self::lock(&self.live) = None;
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
