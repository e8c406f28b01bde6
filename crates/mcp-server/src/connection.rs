//! Serving one byte-stream connection (stdio, a socket, an in-memory duplex): newline-delimited JSON-RPC,
//! both eras on the same connection, told apart per message.

use std::collections::HashMap;
use std::sync::atomic::AtomicI64;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mcp_protocol::types::{methods, CancelledParams};
use mcp_protocol::{ErrorObject, ErrorResponse, Message, ProtocolVersion, Request, RequestId};
use mcp_rpc::framing::{encode_batch, encode_message, Frame, FrameReader, DEFAULT_MAX_MESSAGE};
use mcp_rpc::{Admission, PendingRequests, RpcError};
use serde_json::Value;
use tokio::io::{AsyncBufRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::context::ClientRequester;
use crate::legacy::LegacySession;
use crate::modern::{has_modern_meta, read_meta, TransportEnv};
use crate::reply::{Outcome, Reply, ResultJson};
use crate::requester::ChannelRequester;
use crate::Server;

/// The writer stops gathering queued frames into one `write` past this many bytes.
const COALESCE_LIMIT: usize = 256 * 1024;

fn log_unencodable(r: std::io::Result<()>) {
    if let Err(e) = r {
        tracing::warn!(error = %e, "dropping an outgoing message that cannot be serialized");
    }
}

/// Options for a byte-stream connection.
#[derive(Debug, Clone)]
pub struct ConnectionOptions {
    /// Largest message accepted (default 4 MiB); longer lines are answered with an error and skipped.
    pub max_message_size: usize,
    /// How long a server→client request waits for its answer (default 5 minutes: a human may be answering).
    pub client_request_timeout: Duration,
    /// At end of input, how long requests still running may take to finish and be answered before they are
    /// cancelled (default 2 s), so piped input (`printf … | server`) gets its answers.
    pub eof_grace: Duration,
}

impl Default for ConnectionOptions {
    fn default() -> Self {
        Self {
            max_message_size: DEFAULT_MAX_MESSAGE,
            client_request_timeout: Duration::from_secs(300),
            eof_grace: Duration::from_secs(2),
        }
    }
}

struct Conn {
    server: Server,
    out: mpsc::Sender<Message>,
    batch_out: mpsc::Sender<Vec<Message>>,
    session: Mutex<Option<Arc<LegacySession>>>,
    in_flight: Mutex<HashMap<RequestId, CancellationToken>>,
    pending: Arc<PendingRequests>,
    requester: Arc<dyn ClientRequester>,
    admission: Admission,
    closed: CancellationToken,
}

impl Conn {
    fn session(&self) -> Option<Arc<LegacySession>> {
        self.session
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    async fn send(&self, m: Message) {
        let _ = self.out.send(m).await;
    }

    /// Handle one request to completion; returns the response to send, if any.
    async fn handle_request(self: &Arc<Self>, req: Request) -> Outcome {
        let cancel = self.closed.child_token();
        let id = req.id.clone();
        self.in_flight
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.clone(), cancel.clone());
        let t = TransportEnv {
            notifier: Some(self.out.clone().into()),
            cancel: cancel.clone(),
            principal: None,
            stream_control: None,
            scope_guard: None,
        };
        let result = if req.method == methods::INITIALIZE && !has_modern_meta(&req) {
            let mut slot = self.session.lock().unwrap_or_else(|p| p.into_inner());
            if slot.is_some() {
                Some(Err(ErrorObject::invalid_request(
                    "session already initialized",
                )))
            } else {
                match self.server.initialize(&req) {
                    Ok((v, s)) => {
                        *slot = Some(Arc::new(s));
                        Some(Ok(v))
                    }
                    Err(e) => Some(Err(e)),
                }
            }
        } else if has_modern_meta(&req) {
            if req.method == methods::SUBSCRIPTIONS_LISTEN {
                match read_meta(&req) {
                    // The stream ended because the client cancelled it or the server stops: send the final
                    // result so the client sees a clean end.
                    Ok(_) => Some(
                        self.server
                            .run_listen(&req, self.out.clone(), cancel.clone())
                            .await,
                    ),
                    Err(e) => Some(Err(e)),
                }
            } else {
                self.server.handle_modern(req, t).await.outcome
            }
        } else if let Some(session) = self.session() {
            self.server
                .handle_legacy(&session, req, t, Some(self.requester.clone()))
                .await
                .outcome
        } else if req.method == methods::PING {
            Some(Ok(ResultJson::empty()))
        } else {
            // Neither an initialized legacy session nor a modern `_meta`: the modern path explains what is missing.
            self.server.handle_modern(req, t).await.outcome
        };
        self.in_flight
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id);
        result
    }

    fn handle_notification(&self, method: &str, params: Option<Value>) {
        match method {
            methods::NOTIF_CANCELLED => {
                let Some(p) =
                    params.and_then(|p| serde_json::from_value::<CancelledParams>(p).ok())
                else {
                    return;
                };
                if let Some(id) = p.request_id {
                    if let Some(tok) = self
                        .in_flight
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .get(&id)
                    {
                        tok.cancel();
                    }
                }
            }
            methods::NOTIF_INITIALIZED => {
                if let Some(s) = self.session() {
                    s.mark_initialized();
                }
            }
            _ => tracing::debug!(method, "ignoring notification"),
        }
    }
}

/// Serve a connection until the input ends. Writes go through one task so frames never interleave.
pub async fn serve_connection<R, W>(
    server: Server,
    reader: R,
    writer: W,
    opts: ConnectionOptions,
) -> std::io::Result<()>
where
    R: AsyncBufRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let (out_tx, mut out_rx) = mpsc::channel::<Message>(256);
    let (batch_tx, mut batch_rx) = mpsc::channel::<Vec<Message>>(16);
    let writer_task = tokio::spawn(async move {
        let mut writer = writer;
        let mut buf = Vec::with_capacity(8 * 1024);
        loop {
            buf.clear();
            // Wait for one frame; then take every frame already queued without waiting, so replies that finish
            // together leave in one `write` and a lone reply is never held back.
            let encoded = tokio::select! {
                m = out_rx.recv() => match m {
                    Some(m) => encode_message(&mut buf, &m),
                    None => break,
                },
                Some(batch) = batch_rx.recv() => encode_batch(&mut buf, &batch),
            };
            log_unencodable(encoded);
            while buf.len() < COALESCE_LIMIT {
                let encoded = if let Ok(m) = out_rx.try_recv() {
                    encode_message(&mut buf, &m)
                } else if let Ok(batch) = batch_rx.try_recv() {
                    encode_batch(&mut buf, &batch)
                } else {
                    break;
                };
                log_unencodable(encoded);
            }
            if buf.is_empty() {
                continue;
            }
            let written = match writer.write_all(&buf).await {
                Ok(()) => writer.flush().await,
                Err(e) => Err(e),
            };
            if let Err(e) = written {
                tracing::debug!(error = %e, "connection writer closed");
                break;
            }
            // One huge reply must not pin its buffer for the life of the connection.
            if buf.capacity() > 4 * COALESCE_LIMIT {
                buf = Vec::with_capacity(8 * 1024);
            }
        }
    });
    let pending = Arc::new(PendingRequests::new());
    let conn = Arc::new(Conn {
        admission: Admission::new(server.options().max_in_flight),
        server: server.clone(),
        out: out_tx.clone(),
        batch_out: batch_tx,
        session: Mutex::new(None),
        in_flight: Mutex::new(HashMap::new()),
        requester: Arc::new(ChannelRequester {
            out: out_tx.clone().into(),
            pending: pending.clone(),
            ids: Arc::new(AtomicI64::new(1)),
            timeout: opts.client_request_timeout,
        }),
        pending,
        closed: CancellationToken::new(),
    });

    // Forward server events to the legacy session (list changes, subscribed resource updates).
    let events_task = {
        let conn = conn.clone();
        let mut events = server.events();
        tokio::spawn(async move {
            loop {
                let ev = tokio::select! {
                    ev = events.recv() => ev,
                    _ = conn.closed.cancelled() => break,
                };
                match ev {
                    Ok(ev) => {
                        let Some(s) = conn.session() else { continue };
                        if let Some(n) = conn.server.legacy_notification(&s, &ev) {
                            conn.send(Message::Notification(n)).await;
                        }
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(_) => break,
                }
            }
        })
    };

    let mut frames = FrameReader::new(reader, opts.max_message_size);
    let mut tasks = tokio::task::JoinSet::new();
    loop {
        let frame = match frames.next().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => {
                tracing::debug!(error = %e, "connection read failed");
                break;
            }
        };
        match frame {
            Frame::Malformed(e) => {
                conn.send(Message::Error(ErrorResponse::new(
                    None,
                    ErrorObject::parse_error(e),
                )))
                .await
            }
            Frame::TooLarge(n) => {
                let e = ErrorObject::invalid_request(format!(
                    "message of {n} bytes exceeds the {} byte limit",
                    opts.max_message_size
                ));
                conn.send(Message::Error(ErrorResponse::new(None, e))).await
            }
            Frame::Json(Value::Array(batch)) => {
                let allowed = conn
                    .session()
                    .is_some_and(|s| s.version == ProtocolVersion::V2025_03_26);
                if !allowed || batch.is_empty() {
                    let e = ErrorObject::invalid_request(
                        "JSON-RPC batches are only accepted on protocol 2025-03-26",
                    );
                    conn.send(Message::Error(ErrorResponse::new(None, e))).await;
                    continue;
                }
                let conn = conn.clone();
                tasks.spawn(async move {
                    let mut replies = Vec::new();
                    for item in batch {
                        if let Some(m) = process(&conn, item).await {
                            replies.push(m);
                        }
                    }
                    if !replies.is_empty() {
                        let _ = conn.batch_out.send(replies).await;
                    }
                });
            }
            Frame::Json(v) => {
                let conn = conn.clone();
                // Requests run concurrently; responses and notifications are handled inline (they are quick).
                // So is `initialize` (it never waits): a client that sends its first calls right behind it
                // must find the session it opens, not race it to the modern path.
                let is_initialize =
                    v.get("method").and_then(Value::as_str) == Some(methods::INITIALIZE);
                if v.get("method").is_some() && v.get("id").is_some() && !is_initialize {
                    tasks.spawn(async move {
                        if let Some(m) = process(&conn, v).await {
                            conn.send(m).await;
                        }
                    });
                } else if let Some(m) = process(&conn, v).await {
                    conn.send(m).await;
                }
            }
        }
        // Reap finished tasks so the set does not grow on long connections.
        while tasks.try_join_next().is_some() {}
    }
    // End of input: let what runs finish for a moment (its answers still go out), then cancel the rest, fail
    // server→client requests, and flush.
    let _ = tokio::time::timeout(opts.eof_grace, async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    conn.closed.cancel();
    conn.pending.fail_all(RpcError::Closed);
    while tasks.join_next().await.is_some() {}
    events_task.abort();
    drop(conn);
    drop(out_tx);
    let _ = writer_task.await;
    Ok(())
}

/// Handle one parsed message; returns what to send back, if anything.
async fn process(conn: &Arc<Conn>, v: Value) -> Option<Message> {
    let id = Message::id_of(&v);
    match Message::from_value(v) {
        Err(e) => Some(Message::Error(ErrorResponse::new(id, e))),
        Ok(Message::Request(req)) => {
            let _permit = match conn.admission.try_admit() {
                Ok(p) => p,
                Err(e) => return Some(Message::Error(ErrorResponse::new(Some(req.id), e))),
            };
            let id = req.id.clone();
            let r = conn.handle_request(req).await?;
            Some(Reply::new(id, r).into_message())
        }
        Ok(Message::Notification(n)) => {
            conn.handle_notification(&n.method, n.params);
            None
        }
        Ok(m @ (Message::Response(_) | Message::Error(_))) => {
            if !conn.pending.resolve(m) {
                tracing::debug!("response for an unknown request id ignored");
            }
            None
        }
    }
}
