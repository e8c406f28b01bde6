//! How a POSTed request is answered, the same way on both eras: one JSON body when the handler answers before
//! it sends anything else, an SSE stream otherwise (per [`ResponseMode`]), and the pump that feeds the stream
//! until the final response. What differs between the eras is only where a stream's events go (a [`Sink`]):
//! a resumable log on the legacy era ([`LogSink`]), the response body on 2026-07-28 ([`BodySink`]).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use mcp_protocol::{ErrorObject, Message, RequestId};
use tokio::sync::{mpsc, Notify};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::sse::{self, StreamLog};
use super::ResponseMode;
use crate::middleware::McpResponse;
use crate::notifier::LaneRx;
use crate::reply::{Outcome, Reply};

/// How a request's answer begins.
pub(crate) enum Start {
    /// The handler answered before sending anything: one JSON body.
    Answer(McpResponse),
    /// An SSE stream.
    Stream {
        /// The first message, when the handler sent one.
        first: Option<Message>,
        /// The handler's outcome, when it already returned (it sent a message just before).
        finished: Option<Outcome>,
        /// The handler asked to close its stream before sending anything (legacy polling, SEP-1699).
        closed: bool,
    },
}

/// Drive `handler` until it answers or starts streaming, per `mode`. `close` is the handler's way to ask for
/// its stream to be closed (legacy only).
///
/// # Cancel safety
///
/// Dropping this future leaves `handler` where it was: the caller owns it and decides whether it is
/// cancelled (2026-07-28) or finishes on its own (legacy).
pub(crate) async fn start<F>(
    mode: ResponseMode,
    rx: &mut LaneRx,
    handler: &mut F,
    close: Option<&Notify>,
) -> Start
where
    F: Future<Output = McpResponse> + Unpin,
{
    let closed = async {
        match close {
            Some(c) => c.notified().await,
            None => std::future::pending().await,
        }
    };
    let done = match mode {
        ResponseMode::Sse => {
            return Start::Stream {
                first: None,
                finished: None,
                closed: false,
            }
        }
        ResponseMode::Auto => tokio::select! {
            biased;
            r = &mut *handler => r,
            m = rx.recv() => match m {
                Some(m) => return Start::Stream { first: Some(m), finished: None, closed: false },
                None => (&mut *handler).await,
            },
            _ = closed => return Start::Stream { first: None, finished: None, closed: true },
        },
        // Notifications cannot be delivered on a JSON response; drain and drop them.
        ResponseMode::Json => loop {
            tokio::select! {
                m = rx.recv() => if m.is_none() { break (&mut *handler).await },
                r = &mut *handler => break r,
            }
        },
    };
    // The handler may have sent a notification just before returning: then the answer is a stream after all
    // (in `auto` mode; `json` drops notifications by design).
    if mode == ResponseMode::Auto {
        if let Some(m) = rx.try_recv() {
            return Start::Stream {
                first: Some(m),
                finished: Some(done.outcome),
                closed: false,
            };
        }
    }
    Start::Answer(done)
}

/// The reader of a stream is gone: the stream ends now.
pub(crate) struct Gone;

/// Where a request's stream goes.
pub(crate) trait Sink {
    /// Send one message, already written as JSON.
    async fn send(&self, json: &[u8]) -> Result<(), Gone>;
    /// Send a keep-alive comment.
    async fn keepalive(&self) -> Result<(), Gone>;
    /// Resolves when the reader side acts on the stream: `Err` when it went away, `Ok` when the stream
    /// goes on.
    async fn watch(&self) -> Result<(), Gone>;
    /// What the reader going away mid-request means for the request.
    fn abandon(&self);
    /// Send the final response, if there is one, and end the stream.
    async fn finish(self, last: Option<Vec<u8>>);
}

fn joined(r: Result<Outcome, tokio::task::JoinError>) -> Outcome {
    r.unwrap_or_else(|e| {
        Some(Err(ErrorObject::internal(format!(
            "handler task failed: {e}"
        ))))
    })
}

fn json(m: &Message) -> Vec<u8> {
    serde_json::to_vec(m).unwrap_or_default()
}

/// Copy a request's messages to `sink` (`first` first), with keep-alive comments while it is quiet, then its
/// final response.
pub(crate) async fn pump<S: Sink>(
    sink: S,
    id: RequestId,
    mut rx: LaneRx,
    mut task: JoinHandle<Outcome>,
    first: Option<Message>,
    keepalive: Option<Duration>,
) {
    if let Some(m) = first {
        if sink.send(&json(&m)).await.is_err() {
            sink.abandon();
            return;
        }
    }
    let mut tick = keepalive.map(tokio::time::interval);
    if let Some(t) = tick.as_mut() {
        t.tick().await;
    }
    let outcome = loop {
        tokio::select! {
            biased;
            m = rx.recv() => match m {
                Some(m) => if sink.send(&json(&m)).await.is_err() { sink.abandon(); return },
                None => break joined((&mut task).await),
            },
            r = &mut task => {
                // The handler is done: nothing left to abandon if the reader is gone.
                while let Some(m) = rx.try_recv() {
                    if sink.send(&json(&m)).await.is_err() { return }
                }
                break joined(r);
            }
            w = sink.watch() => if w.is_err() { sink.abandon(); return },
            _ = async { match tick.as_mut() { Some(t) => { t.tick().await; } None => std::future::pending().await } } => {
                if sink.keepalive().await.is_err() { sink.abandon(); return }
            }
        }
    };
    sink.finish(outcome.map(|o| Reply::new(id, o).to_json()))
        .await;
}

/// A legacy stream: every event goes to the stream's log (with an event id) and from there to whoever is
/// connected. It never fails: a reader that cannot keep up is cut off by the log and resumes from it, and on
/// the legacy era a disconnect is not a cancel, so the handler runs on.
pub(crate) struct LogSink<'a> {
    pub log: &'a StreamLog,
    /// The handler asks for its connection to be closed (SEP-1699 polling); the stream goes on.
    pub close: Arc<Notify>,
}

impl Sink for LogSink<'_> {
    async fn send(&self, json: &[u8]) -> Result<(), Gone> {
        let (seq, eid) = self.log.next_id();
        self.log
            .push(seq, sse::event_json(Some(&eid), json), true)
            .await;
        Ok(())
    }

    async fn keepalive(&self) -> Result<(), Gone> {
        self.log.push(0, sse::keepalive(), false).await;
        Ok(())
    }

    async fn watch(&self) -> Result<(), Gone> {
        self.close.notified().await;
        self.log.disconnect().await;
        Ok(())
    }

    fn abandon(&self) {}

    async fn finish(self, last: Option<Vec<u8>>) {
        if let Some(json) = last {
            let _ = self.send(&json).await;
        }
        self.log.finish().await;
    }
}

/// A 2026-07-28 stream: events go straight to the response body. A reader that is gone, or takes nothing for
/// `write_timeout`, ends the stream, and that is the request's cancel.
pub(crate) struct BodySink {
    pub body: mpsc::Sender<Bytes>,
    /// How long the stream may refuse its next event before it is given up.
    pub write_timeout: Duration,
    pub cancel: CancellationToken,
}

impl Sink for BodySink {
    async fn send(&self, json: &[u8]) -> Result<(), Gone> {
        send_within(&self.body, sse::event_json(None, json), self.write_timeout).await
    }

    async fn keepalive(&self) -> Result<(), Gone> {
        send_within(&self.body, sse::keepalive(), self.write_timeout).await
    }

    async fn watch(&self) -> Result<(), Gone> {
        self.body.closed().await;
        Err(Gone)
    }

    fn abandon(&self) {
        self.cancel.cancel();
    }

    async fn finish(self, last: Option<Vec<u8>>) {
        if let Some(json) = last {
            let _ = self.send(&json).await;
        }
    }
}

/// Send one event, or fail if the reader has gone or has taken nothing for `limit`.
async fn send_within(
    body: &mpsc::Sender<Bytes>,
    event: Bytes,
    limit: Duration,
) -> Result<(), Gone> {
    // Room in the channel (the usual case): no timer.
    let event = match body.try_send(event) {
        Ok(()) => return Ok(()),
        Err(mpsc::error::TrySendError::Closed(_)) => return Err(Gone),
        Err(mpsc::error::TrySendError::Full(event)) => event,
    };
    match tokio::time::timeout(limit, body.send(event)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) => Err(Gone),
        Err(_) => {
            tracing::debug!(?limit, "a stream's reader took nothing: ending the stream");
            Err(Gone)
        }
    }
}
