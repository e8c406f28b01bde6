//! Serving one byte-stream connection (stdio, a socket, an in-memory duplex): newline-delimited JSON-RPC,
//! both eras on the same connection, told apart per message.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::Duration;

use futures::StreamExt;
use mcp_protocol::types::{methods, CancelledParams};
use mcp_protocol::{ErrorObject, ErrorResponse, Message, ProtocolVersion, Request, RequestId};
use mcp_rpc::framing::{encode_batch, encode_message, Frame, FrameReader, DEFAULT_MAX_MESSAGE};
use mcp_rpc::Admission;
use serde_json::Value;
use tokio::io::{AsyncBufRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::context::{Asker, ClientRequester};
use crate::legacy::LegacySession;
use crate::modern::{has_modern_meta, read_meta, TransportEnv};
use crate::reply::{Outcome, Reply, ResultJson};
use crate::requester::{ChannelRequester, RequestTable};
use crate::Server;

/// The writer stops gathering queued frames into one `write` past this many bytes.
const COALESCE_LIMIT: usize = 256 * 1024;

/// Once this many bytes of replies wait, they are written before more frames are read, so the peer starts on
/// them while the rest are handled (a few small replies per `write`, rather than one `write` for everything a
/// read brought in). On `mcp-bench stdio` at C=16: about 1.1x the raw-pipe floor's calls/s with 256, about
/// 0.65x when replies waited for every frame already read.
const WRITE_AT: usize = 256;

fn log_unencodable(r: std::io::Result<()>) {
    if let Err(e) = r {
        tracing::warn!(error = %e, "dropping an outgoing message that cannot be serialized");
    }
}

/// Options for a byte-stream connection.
///
/// Built from [`Default`] and the setters, named as the fields:
///
/// ```
/// use std::time::Duration;
/// let opts = mcp_server::ConnectionOptions::default().max_message_size(1 << 20).eof_grace(Duration::ZERO);
/// assert_eq!((opts.max_message_size, opts.eof_grace), (1 << 20, Duration::ZERO));
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
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

impl ConnectionOptions {
    /// Sets [`max_message_size`](#structfield.max_message_size): largest message accepted (default 4 MiB); longer lines are answered with an error and skipped.
    pub fn max_message_size(mut self, max_message_size: usize) -> Self {
        self.max_message_size = max_message_size;
        self
    }
    /// Sets [`client_request_timeout`](#structfield.client_request_timeout): how long a server→client request waits for its answer (default 5 minutes: a human may be answering).
    pub fn client_request_timeout(mut self, client_request_timeout: Duration) -> Self {
        self.client_request_timeout = client_request_timeout;
        self
    }
    /// Sets [`eof_grace`](#structfield.eof_grace): at end of input, how long requests still running may take to finish and be answered before they are cancelled (default 2 s), so piped input (`printf … | server`) gets its answers.
    pub fn eof_grace(mut self, eof_grace: Duration) -> Self {
        self.eof_grace = eof_grace;
        self
    }
}

struct Conn {
    server: Server,
    out: mpsc::Sender<Message>,
    batch_out: mpsc::Sender<Vec<Message>>,
    session: Mutex<Option<Arc<LegacySession>>>,
    in_flight: Mutex<HashMap<RequestId, CancellationToken>>,
    /// Server→client requests awaiting the client's answers.
    requests: Arc<RequestTable>,
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
            trace: Default::default(),
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
                            .run_listen(&req, self.out.clone(), cancel.clone(), &t.principal)
                            .await,
                    ),
                    Err(e) => Some(Err(e)),
                }
            } else {
                self.server.handle_modern(req, t).await.outcome
            }
        } else if let Some(session) = self.session() {
            self.server
                .handle_legacy(&session, req, t, Asker::Legacy(self.requester.clone()))
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

/// Serve a connection until the input ends.
///
/// One task reads, runs and writes: a request is first polled right where its frame was read, so a handler
/// that finishes without waiting is answered with no hand-off to another task or thread (what decides the
/// latency of one call). A handler that has to wait (for a client's answer, a timer, I/O) is moved to a task
/// of its own at its first `Pending` and finishes there, so the connection goes on reading (the answer it
/// waits for included). Replies finished together leave in one `write`. A handler that does long CPU work
/// without awaiting holds up the connection for that long: it belongs on `spawn_blocking`, as on any Tokio
/// worker (and one that did so once is spawned from then on, see [`SLOW_FIRST_POLL`]).
///
/// ```
/// use mcp_server::{serve_connection, ConnectionOptions, Server};
/// use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// let (ours, theirs) = tokio::io::duplex(64 * 1024);
/// let (read, write) = tokio::io::split(ours);
/// let server = Server::builder("notes", "1.0.0").build();
/// tokio::spawn(serve_connection(server, BufReader::new(read), write, ConnectionOptions::default()));
///
/// let (read, mut write) = tokio::io::split(theirs);
/// write.write_all(b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\",\"params\":{\"_meta\":{\"io.modelcontextprotocol/protocolVersion\":\"2026-07-28\"}}}\n").await?;
/// let mut line = String::new();
/// BufReader::new(read).read_line(&mut line).await?;
/// assert!(line.contains("\"id\":1"), "{line}");
/// # Ok(()) }
/// ```
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
    let requests = Arc::new(RequestTable::new(1));
    let conn = Arc::new(Conn {
        admission: Admission::new(server.options().max_in_flight),
        server: server.clone(),
        out: out_tx.clone(),
        batch_out: batch_tx,
        session: Mutex::new(None),
        in_flight: Mutex::new(HashMap::new()),
        requester: Arc::new(ChannelRequester {
            out: out_tx.clone().into(),
            holder: requests.clone(),
            timeout: opts.client_request_timeout,
        }),
        requests,
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

    // `FrameReader::next` keeps a partial line in locals, so it must not be dropped between frames: as a
    // stream, one read survives the other branches of the loop below.
    let mut frames = Box::pin(futures::stream::unfold(
        FrameReader::new(reader, opts.max_message_size),
        |mut f| async move {
            match f.next_message().await {
                Ok(Some(frame)) => Some((frame, f)),
                Ok(None) => None,
                Err(e) => {
                    tracing::debug!(error = %e, "connection read failed");
                    None
                }
            }
        },
    ));
    let mut out = Output {
        writer,
        buf: Vec::with_capacity(8 * 1024),
        needs_flush: false,
        dead: false,
    };
    let mut tasks = tokio::task::JoinSet::new();
    let mut slow: HashSet<u64> = HashSet::new();
    let mut reading = true;
    let mut grace_until: Option<tokio::time::Instant> = None;
    loop {
        // What spawned handlers, the event forwarder and server→client requests queued goes first, so a
        // notification a handler sent before returning precedes its reply.
        out.drain(&mut out_rx, &mut batch_rx);
        if !reading && tasks.is_empty() && !out.has_work() {
            break;
        }
        // Replies waiting: written now, before the next frame is read. If the peer is not reading (the pipe is
        // full), reading goes on up to the coalescing limit, so a peer that writes many requests before it
        // reads any answer is not stalled by this.
        let mut write_blocked = false;
        if out.buf.len() >= WRITE_AT {
            match futures::FutureExt::now_or_never(out.write_some()) {
                Some(r) => out.check_written(r),
                None => write_blocked = true,
            }
        }
        let may_read =
            out.buf.len() < WRITE_AT || (write_blocked && out.buf.len() < COALESCE_LIMIT);
        let grace = grace_until;
        tokio::select! {
            biased;
            frame = frames.next(), if reading && may_read => match frame {
                Some(frame) => on_frame(&conn, frame, &opts, &mut tasks, &mut slow, &mut out, &mut out_rx, &mut batch_rx).await,
                None => {
                    reading = false;
                    grace_until = Some(tokio::time::Instant::now() + opts.eof_grace);
                }
            },
            Some(m) = out_rx.recv() => out.push(&m),
            Some(b) = batch_rx.recv() => out.push_batch(&b),
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            r = out.write_some(), if out.has_work() => out.check_written(r),
            _ = sleep_until_opt(grace), if !reading && grace.is_some() => {
                // End of input and the grace is over: cancel what still runs and fail server→client requests;
                // the cancelled handlers' answers still go out.
                grace_until = None;
                conn.closed.cancel();
                conn.requests.pending().fail_all(mcp_rpc::Error::closed());
            }
        }
    }
    conn.closed.cancel();
    conn.requests.pending().fail_all(mcp_rpc::Error::closed());
    events_task.abort();
    Ok(())
}

async fn sleep_until_opt(t: Option<tokio::time::Instant>) {
    match t {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

/// A handler whose first poll takes longer than this runs in a task of its own from its next call on (per
/// method and tool, prompt or resource name), so the connection does not stall on it again.
pub const SLOW_FIRST_POLL: Duration = Duration::from_millis(1);

type Handling = Pin<Box<dyn Future<Output = Option<Message>> + Send>>;

/// Handlers remembered as slow, at most (a peer choosing names must not grow the set without bound).
const MAX_SLOW_KEYS: usize = 1024;

/// What identifies a handler for [`SLOW_FIRST_POLL`]: a hash of the method and of the name or URI it is
/// called with (hashed, so the fast path allocates nothing).
fn handler_key(req: &Request) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    req.method.hash(&mut h);
    req.params
        .as_ref()
        .and_then(|p| p.get("name").or_else(|| p.get("uri")))
        .and_then(Value::as_str)
        .hash(&mut h);
    h.finish()
}

#[allow(clippy::too_many_arguments)]
async fn on_frame<W: AsyncWrite + Unpin>(
    conn: &Arc<Conn>,
    frame: Frame,
    opts: &ConnectionOptions,
    tasks: &mut tokio::task::JoinSet<()>,
    slow: &mut HashSet<u64>,
    out: &mut Output<W>,
    out_rx: &mut mpsc::Receiver<Message>,
    batch_rx: &mut mpsc::Receiver<Vec<Message>>,
) {
    match frame {
        Frame::Malformed(e) => out.push(&Message::Error(ErrorResponse::new(
            None,
            ErrorObject::parse_error(e),
        ))),
        Frame::TooLarge(n) => {
            let e = ErrorObject::invalid_request(format!(
                "message of {n} bytes exceeds the {} byte limit",
                opts.max_message_size
            ));
            out.push(&Message::Error(ErrorResponse::new(None, e)))
        }
        Frame::Json(Value::Array(batch)) => {
            let allowed = conn
                .session()
                .is_some_and(|s| s.version == ProtocolVersion::V2025_03_26);
            if !allowed || batch.is_empty() {
                let e = ErrorObject::invalid_request(
                    "JSON-RPC batches are only accepted on protocol 2025-03-26",
                );
                out.push(&Message::Error(ErrorResponse::new(None, e)));
                return;
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
        Frame::Message(m) => on_message(conn, m, tasks, slow, out, out_rx, batch_rx).await,
        Frame::Json(v) => match classify(v) {
            Ok(m) => on_message(conn, m, tasks, slow, out, out_rx, batch_rx).await,
            Err(refusal) => out.push(&refusal),
        },
        // A kind of frame this server does not know yet: nothing to answer.
        _ => {}
    }
}

/// One message read from the connection: answered here when it is quick, else in a task of its own.
async fn on_message<W: AsyncWrite + Unpin>(
    conn: &Arc<Conn>,
    m: Message,
    tasks: &mut tokio::task::JoinSet<()>,
    slow: &mut HashSet<u64>,
    out: &mut Output<W>,
    out_rx: &mut mpsc::Receiver<Message>,
    batch_rx: &mut mpsc::Receiver<Vec<Message>>,
) {
    // Responses and notifications are quick, and so is `initialize` (it never waits): they run to the end
    // here, in order, so a client that sends its first calls right behind `initialize` finds the session it
    // opens.
    let req = match m {
        Message::Request(req) if req.method != methods::INITIALIZE => req,
        other => {
            if let Some(m) = process_message(conn, other).await {
                out.push(&m);
            }
            return;
        }
    };
    let key = handler_key(&req);
    let conn2 = conn.clone();
    let mut handling: Handling =
        Box::pin(async move { process_message(&conn2, Message::Request(req)).await });
    if slow.contains(&key) {
        spawn_handling(tasks, conn.clone(), handling);
        return;
    }
    let started = std::time::Instant::now();
    let polled = futures::poll!(handling.as_mut());
    if started.elapsed() > SLOW_FIRST_POLL && slow.len() < MAX_SLOW_KEYS {
        slow.insert(key);
    }
    match polled {
        Poll::Ready(reply) => {
            if let Some(m) = reply {
                // Whatever the handler sent before it returned goes first.
                out.drain(out_rx, batch_rx);
                out.push(&m);
            }
        }
        Poll::Pending => spawn_handling(tasks, conn.clone(), handling),
    }
}

fn spawn_handling(tasks: &mut tokio::task::JoinSet<()>, conn: Arc<Conn>, handling: Handling) {
    tasks.spawn(async move {
        if let Some(m) = handling.await {
            conn.send(m).await;
        }
    });
}

/// The connection's writing end, written by the connection's own task.
struct Output<W> {
    writer: W,
    /// Encoded frames not yet written.
    buf: Vec<u8>,
    /// Everything was written but not yet flushed (Tokio's blocking `Stdout` holds data until then).
    needs_flush: bool,
    /// A write failed: what is produced from now on is dropped, as a closed peer would.
    dead: bool,
}

impl<W: AsyncWrite + Unpin> Output<W> {
    fn push(&mut self, m: &Message) {
        if !self.dead {
            log_unencodable(encode_message(&mut self.buf, m));
        }
    }

    fn push_batch(&mut self, b: &[Message]) {
        if !self.dead {
            log_unencodable(encode_batch(&mut self.buf, b));
        }
    }

    /// Take every frame already queued, without waiting.
    fn drain(
        &mut self,
        out_rx: &mut mpsc::Receiver<Message>,
        batch_rx: &mut mpsc::Receiver<Vec<Message>>,
    ) {
        while self.buf.len() < COALESCE_LIMIT {
            if let Ok(m) = out_rx.try_recv() {
                self.push(&m);
            } else if let Ok(b) = batch_rx.try_recv() {
                self.push_batch(&b);
            } else {
                break;
            }
        }
    }

    /// After a write: a failed one means the peer is gone, and what is produced from now on is dropped.
    fn check_written(&mut self, r: std::io::Result<()>) {
        if let Err(e) = r {
            tracing::debug!(error = %e, "connection writer closed");
            self.dead = true;
            self.buf.clear();
            self.needs_flush = false;
        }
    }

    fn has_work(&self) -> bool {
        !self.buf.is_empty() || self.needs_flush
    }

    /// One `write` of what is buffered, or the flush once all is written.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: bytes are removed from the buffer only once written, and a flush is retried until done.
    async fn write_some(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            self.writer.flush().await?;
            self.needs_flush = false;
            return Ok(());
        }
        let n = self.writer.write(&self.buf).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        self.buf.drain(..n);
        self.needs_flush = true;
        if self.buf.is_empty() {
            self.writer.flush().await?;
            self.needs_flush = false;
        }
        // One huge reply must not pin its buffer for the life of the connection.
        if self.buf.is_empty() && self.buf.capacity() > 4 * COALESCE_LIMIT {
            self.buf = Vec::with_capacity(8 * 1024);
        }
        Ok(())
    }
}

/// Handle one parsed message; returns what to send back, if anything.
async fn process(conn: &Arc<Conn>, v: Value) -> Option<Message> {
    match classify(v) {
        Ok(m) => process_message(conn, m).await,
        Err(refusal) => Some(refusal),
    }
}

/// A parsed line as a message, or the error to answer it with (addressed to its id when it has a valid one).
fn classify(v: Value) -> Result<Message, Message> {
    let id = Message::id_of(&v);
    Message::from_value(v).map_err(|e| Message::Error(ErrorResponse::new(id, e)))
}

/// Handle one message; returns what to send back, if anything.
async fn process_message(conn: &Arc<Conn>, m: Message) -> Option<Message> {
    match m {
        Message::Request(req) => {
            let _permit = match conn.admission.try_admit() {
                Ok(p) => p,
                Err(e) => return Some(Message::Error(ErrorResponse::new(Some(req.id), e))),
            };
            let id = req.id.clone();
            let r = conn.handle_request(req).await?;
            Some(Reply::new(id, r).into_message())
        }
        Message::Notification(n) => {
            conn.handle_notification(&n.method, n.params);
            None
        }
        m @ (Message::Response(_) | Message::Error(_)) => {
            if !conn.requests.pending().resolve(m) {
                tracing::debug!("response for an unknown request id ignored");
            }
            None
        }
    }
}
