//! What `mcp serve` keeps of a session's streams (its POST streams and its GET stream), so that a client
//! whose stream was cut resumes it with `GET` and `Last-Event-ID` instead of losing what it carried. Each
//! event of such a stream gets the id `<stream>-<seq>`; the last events of every stream are kept (bounded),
//! and a resuming client gets those after its id, then the rest live. The call itself goes on at the child
//! while no client reads its stream: a dropped connection is not a cancellation.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use axum::body::Bytes;
use tokio::sync::mpsc;

/// Events kept per stream: a client resuming from further back gets what is left.
const KEPT_EVENTS: usize = 256;
/// Finished streams kept for a late resume, per session; older ones are forgotten.
const KEPT_FINISHED: usize = 64;
/// And at most this many bytes of them (the newest is kept whatever its size).
const KEPT_FINISHED_BYTES: usize = 4 << 20;

/// The resumable streams of one session.
#[derive(Default)]
pub(super) struct Replay {
    inner: Mutex<Streams>,
}

#[derive(Default)]
struct Streams {
    next: u64,
    logs: HashMap<u64, Log>,
    /// Finished streams, oldest first, with the bytes each keeps.
    finished: VecDeque<(u64, usize)>,
    finished_bytes: usize,
}

struct Log {
    kept: VecDeque<(u64, Bytes)>,
    next_seq: u64,
    done: bool,
    /// The body the client reads now, if any.
    reader: Option<mpsc::Sender<Bytes>>,
}

/// Why a `Last-Event-ID` cannot be resumed.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum ResumeError {
    /// Not an id this gateway gives out.
    Malformed,
    /// No such stream in this session (never, or finished long ago).
    Unknown,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Replay {
    /// A new stream, read by `reader`: its number.
    pub(super) fn open(&self, reader: mpsc::Sender<Bytes>) -> u64 {
        let mut s = lock(&self.inner);
        let no = s.next;
        s.next += 1;
        s.logs.insert(
            no,
            Log {
                kept: VecDeque::new(),
                next_seq: 0,
                done: false,
                reader: Some(reader),
            },
        );
        no
    }

    /// Add a message (its JSON) to `stream` and send it to the stream's reader, if one is there.
    pub(super) async fn push(&self, stream: u64, json: &str) {
        let (frame, reader) = {
            let mut s = lock(&self.inner);
            let Some(log) = s.logs.get_mut(&stream) else {
                return;
            };
            let seq = log.next_seq;
            log.next_seq += 1;
            let frame = super::sse_frame(Some(&format!("{stream}-{seq}")), json);
            if log.kept.len() == KEPT_EVENTS {
                log.kept.pop_front();
            }
            log.kept.push_back((seq, frame.clone()));
            (frame, log.reader.clone())
        };
        // Sent outside the lock (a slow reader must not stall the others); a resume in between takes the
        // frame from `kept` instead, and this send goes to the body it replaced.
        if let Some(reader) = reader {
            if reader.send(frame).await.is_err() {
                let mut s = lock(&self.inner);
                if let Some(log) = s.logs.get_mut(&stream) {
                    if log.reader.as_ref().is_some_and(|r| r.same_channel(&reader)) {
                        log.reader = None;
                    }
                }
            }
        }
    }

    /// Whether a client reads `stream` now (a body is attached and its connection still there).
    pub(super) fn reading(&self, stream: u64) -> bool {
        lock(&self.inner)
            .logs
            .get(&stream)
            .and_then(|log| log.reader.as_ref())
            .is_some_and(|r| !r.is_closed())
    }

    /// `stream` has all its messages: its reader's body ends, and it stays resumable for a while.
    pub(super) fn finish(&self, stream: u64) {
        let mut s = lock(&self.inner);
        let Some(log) = s.logs.get_mut(&stream) else {
            return;
        };
        log.done = true;
        log.reader = None;
        let bytes = log.kept.iter().map(|(_, f)| f.len()).sum();
        s.finished.push_back((stream, bytes));
        s.finished_bytes += bytes;
        while s.finished.len() > 1
            && (s.finished.len() > KEPT_FINISHED || s.finished_bytes > KEPT_FINISHED_BYTES)
        {
            if let Some((old, bytes)) = s.finished.pop_front() {
                s.logs.remove(&old);
                s.finished_bytes -= bytes;
            }
        }
    }

    /// Resume after the event `last_event_id`: a body with the kept events after it, then (if the stream
    /// is not finished) the rest as they come. The body that read the stream before stops getting them.
    pub(super) fn resume(&self, last_event_id: &str) -> Result<mpsc::Receiver<Bytes>, ResumeError> {
        let (stream, seq) = last_event_id
            .trim()
            .split_once('-')
            .and_then(|(a, b)| Some((a.parse::<u64>().ok()?, b.parse::<u64>().ok()?)))
            .ok_or(ResumeError::Malformed)?;
        let mut s = lock(&self.inner);
        let log = s.logs.get_mut(&stream).ok_or(ResumeError::Unknown)?;
        if seq >= log.next_seq {
            return Err(ResumeError::Unknown);
        }
        let missed: Vec<Bytes> = log
            .kept
            .iter()
            .filter(|(n, _)| *n > seq)
            .map(|(_, f)| f.clone())
            .collect();
        // Room for everything missed, so it goes in now, under the lock, ahead of anything live.
        let (tx, rx) = mpsc::channel(missed.len() + 64);
        for frame in missed {
            let _ = tx.try_send(frame);
        }
        log.reader = (!log.done).then_some(tx);
        Ok(rx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(rx: &mut mpsc::Receiver<Bytes>) -> Vec<String> {
        let mut v = Vec::new();
        while let Ok(b) = rx.try_recv() {
            v.push(String::from_utf8(b.to_vec()).unwrap());
        }
        v
    }

    #[tokio::test]
    async fn a_resume_gets_what_followed_its_id_then_the_rest_live_each_once() {
        let r = Replay::default();
        let (tx, mut first) = mpsc::channel(8);
        let no = r.open(tx);
        r.push(no, r#"{"a":1}"#).await;
        r.push(no, r#"{"a":2}"#).await;
        let seen = drain(&mut first);
        assert_eq!(seen.len(), 2);
        assert!(seen[0].starts_with(&format!("id: {no}-0\n")), "{seen:?}");
        // The client read only the first event; the second was lost with its connection.
        drop(first);
        let mut again = r.resume(&format!("{no}-0")).unwrap();
        r.push(no, r#"{"a":3}"#).await;
        r.finish(no);
        let got = drain(&mut again);
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(got[0].contains(r#"{"a":2}"#) && got[0].starts_with(&format!("id: {no}-1\n")));
        assert!(got[1].contains(r#"{"a":3}"#));
        // Finished: its body has ended.
        assert!(again.recv().await.is_none());
        // Still resumable once finished, from any id it gave out.
        let mut late = r.resume(&format!("{no}-1")).unwrap();
        assert_eq!(drain(&mut late).len(), 1);
        assert!(late.recv().await.is_none());
    }

    #[test]
    fn ids_that_were_never_given_are_refused() {
        let r = Replay::default();
        let (tx, _rx) = mpsc::channel(1);
        let no = r.open(tx);
        assert_eq!(r.resume("x").unwrap_err(), ResumeError::Malformed);
        assert_eq!(r.resume("7-0").unwrap_err(), ResumeError::Unknown);
        // An event of this stream not sent yet.
        assert_eq!(
            r.resume(&format!("{no}-0")).unwrap_err(),
            ResumeError::Unknown
        );
    }

    #[tokio::test]
    async fn old_finished_streams_are_forgotten() {
        let r = Replay::default();
        let mut first = None;
        for _ in 0..=KEPT_FINISHED {
            let (tx, _rx) = mpsc::channel(1);
            let no = r.open(tx);
            r.push(no, "{}").await;
            r.finish(no);
            first.get_or_insert(no);
        }
        let first = first.unwrap();
        assert_eq!(
            r.resume(&format!("{first}-0")).unwrap_err(),
            ResumeError::Unknown
        );
        assert!(r.resume(&format!("{}-0", first + 1)).is_ok());

        // By size too: two streams of 3 MiB do not both stay; the newest does.
        let big = "x".repeat(3 << 20);
        let mut nos = Vec::new();
        for _ in 0..2 {
            let (tx, _rx) = mpsc::channel(1);
            let no = r.open(tx);
            r.push(no, &big).await;
            r.finish(no);
            nos.push(no);
        }
        assert!(r.resume(&format!("{}-0", nos[0])).is_err());
        assert!(r.resume(&format!("{}-0", nos[1])).is_ok());
    }
}
