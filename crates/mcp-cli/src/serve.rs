//! `mcp serve -- CMD...`: a Streamable HTTP endpoint on 127.0.0.1 in front of a stdio server. Several config
//! names, or `--all` of the config's stdio servers, are served on one port, each at `/NAME` + `--path` with a
//! gateway of its own (sessions, processes, limits).
//!
//! Like the bridge, the gateway forwards JSON-RPC messages rather than re-serving the child through an SDK
//! `Server`: each client's `initialize` (capabilities, client info, revision) reaches the child as the
//! client wrote it, and the child's `serverInfo`, capabilities and instructions reach the client unchanged.
//! What the gateway owns is what stdio lacks:
//!
//! - **Sessions.** A legacy client's `initialize` opens a session (`Mcp-Session-Id`, 192 random bits). By
//!   default every session has a child of its own, started at `initialize` and stopped at `DELETE`; with
//!   `--shared` one child serves every session, the first client's `initialize` is the one the child sees and
//!   later ones are answered from its result.
//! - **Ids.** Every request gets a fresh id on its way to the child and its own back on the way out; the
//!   child's requests (elicitation, sampling, roots) get ids of the gateway's, and progress tokens are
//!   rewritten the same way. So clients sharing a child never see each other's answers, progress or questions.
//! - **Routing.** An answer goes to the POST that asked; progress to the stream of the request it is about;
//!   list changes to every session of the child. The child's own requests (elicitation, sampling, roots)
//!   go to the call they name by a progress token of the gateway's in their `_meta`; else, the stdio child
//!   being unable to say which request they belong to, to the only client, or to the only client with
//!   requests running (the stream of its most recent one, else its GET stream); when several clients have
//!   requests running the child's request is refused with a JSON-RPC error rather than shown to a client it
//!   may not be for, and so is one still unanswered when its client is gone (session closed, call over).
//!   Log messages, which name no request either, go to the only client, else to the only client with
//!   requests running, else to none.
//! - **Both eras.** A request without a session that carries the 2026-07-28 revision is a modern request.
//!   When the child speaks 2026-07-28 (found by a probe at start), it goes, with a fresh id, to one child kept
//!   for modern traffic (the shared child with `--shared`), which answers it statelessly, `input_required`
//!   rounds included. When the child speaks only legacy revisions, the gateway holds a legacy session with a
//!   child of its own and translates: `server/discover` is answered from that session's `initialize` result,
//!   requests go in the session without their `_meta` envelope, results get `resultType` (and `ttlMs: 0`,
//!   `cacheScope: private` where 2026-07-28 requires them), and each elicitation, sampling or roots request the
//!   child sends during a call ends the HTTP exchange with an `input_required` result whose `requestState` (192
//!   random bits) names the paused call; the client's retry carries the answer to the child and the call goes
//!   on, for as many rounds as the child asks (a call not resumed within 5 minutes is cancelled at the child).
//!   The child's progress for the call reaches the client under the token of the client's request (the
//!   answer then comes as a stream); a client that hangs up cancels the call at the child. The child's log
//!   messages name no request, so a call gets them only if its request asked (`_meta` logLevel, from that
//!   level up, as 2026-07-28 requires) and only while it is the one call running in that session (the rule
//!   above): with several running, nobody gets them rather than a client they may not be for.
//! - **Security.** The loopback `Host`/`Origin` check of our server ([`HostPolicy::Loopback`]), a body cap
//!   (413), `Content-Type: application/json` (415), an optional `--bearer TOKEN` (401 otherwise), a cap on
//!   sessions (each costs a process). `GET /healthz` answers 200 without them.
//!
//! A session with no message for `--session-idle` seconds, no request running and no client reading its GET
//! stream is closed (its process stopped); its client's next message meets 404 and it starts a new session.
//!
//! - **Resumption.** The event streams of a session (each POST's, and its GET stream) give every event an
//!   id; a client whose stream was cut sends `GET` with `Last-Event-ID` and gets the events it missed, then
//!   the rest as they come (see [`replay`]). The call goes on at the child meanwhile: a dropped connection is
//!   not a cancellation (a client cancels with `notifications/cancelled`). What the child sends to a GET
//!   stream nobody reads is kept for its resume (the last 256 events).

mod replay;

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use clap::Args;
use mcp_client::transport::{SendOptions, Transport, TransportEvent};
use mcp_protocol::types::{methods, LoggingLevel};
use mcp_protocol::{error_code, ErrorObject, ErrorResponse, Message, Request, RequestId};
use mcp_server::http::HostPolicy;
use serde_json::{json, Value};
use tokio::sync::mpsc;

use crate::cli::{Global, Target};
use crate::config;
use crate::elicit::Elicitor;
use crate::error::CliError;
use crate::target::{self, ServerSpec};

/// `mcp serve`.
#[derive(Debug, Args, Clone)]
pub struct ServeArgs {
    /// The stdio server: a name from mcp.json, or a command after `--`.
    #[command(flatten)]
    pub target: Target,
    /// The port on 127.0.0.1 (0: any free port, printed at start).
    #[arg(long, default_value_t = 3000)]
    pub port: u16,
    /// The endpoint's path.
    #[arg(long, default_value = "/mcp", value_name = "PATH")]
    pub path: String,
    /// One child for every client (requests' ids rewritten), instead of one per legacy session.
    #[arg(long)]
    pub shared: bool,
    /// Require `Authorization: Bearer TOKEN` on the endpoint.
    #[arg(
        long,
        env = "MCP_SERVE_BEARER",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    pub bearer: Option<String>,
    /// Largest request body in bytes.
    #[arg(long, default_value_t = 4 * 1024 * 1024, value_name = "BYTES")]
    pub max_body: usize,
    /// Most legacy sessions open at once (each has a child process unless --shared).
    #[arg(long, default_value_t = 64, value_name = "N")]
    pub max_sessions: usize,
    /// Close a session (and stop its process) after this many seconds without a message, a running
    /// request or a GET stream being read (0: never).
    #[arg(long, default_value_t = 1800, value_name = "SECONDS")]
    pub session_idle: u64,
    /// Serve every stdio server of the config file, each at `/NAME` + `--path` (several names given
    /// instead of one do the same for those).
    #[arg(long)]
    pub all: bool,
}

const MODERN: &str = "2026-07-28";

/// Where the child's messages for one client go: its GET stream and the streams of its requests running.
struct Conn {
    key: u64,
    get: Mutex<Option<mpsc::Sender<Message>>>,
    /// (wire id, the POST's stream), oldest first.
    running: Mutex<Vec<(RequestId, mpsc::Sender<Message>)>>,
}

impl Conn {
    fn new(key: u64) -> Arc<Self> {
        Arc::new(Self {
            key,
            get: Mutex::new(None),
            running: Mutex::new(Vec::new()),
        })
    }

    fn stream_of(&self, wire: &RequestId) -> Option<mpsc::Sender<Message>> {
        lock(&self.running)
            .iter()
            .find(|(id, _)| id == wire)
            .map(|(_, tx)| tx.clone())
    }

    /// The stream of the most recent request still running, else the GET stream.
    fn latest(&self) -> Option<mpsc::Sender<Message>> {
        let running = lock(&self.running)
            .iter()
            .rev()
            .find(|(_, tx)| !tx.is_closed())
            .map(|(_, tx)| tx.clone());
        running.or_else(|| lock(&self.get).clone().filter(|tx| !tx.is_closed()))
    }

    fn has_running(&self) -> bool {
        lock(&self.running).iter().any(|(_, tx)| !tx.is_closed())
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

struct Pending {
    conn: Arc<Conn>,
    orig: RequestId,
    token: Option<String>,
}

#[derive(Default)]
struct Routes {
    /// The gateway's requests to the child, by wire id.
    pending: HashMap<RequestId, Pending>,
    /// The child's requests to clients: the id the client sees → (client, the child's id).
    asked: HashMap<String, (u64, RequestId)>,
    /// Rewritten progress tokens → (client, the client's token, wire id of the request).
    progress: HashMap<String, (Arc<Conn>, Value, RequestId)>,
    /// Clients of this child.
    conns: HashMap<u64, Arc<Conn>>,
    /// The client whose request was sent last (for the child's messages that name no request).
    last: Option<u64>,
}

/// One child process and the clients it serves.
struct Link {
    transport: Arc<dyn Transport>,
    routes: Mutex<Routes>,
    next: AtomicU64,
    dead: AtomicBool,
    /// `--shared`: the first `initialize` result, answered to the later ones.
    init: Mutex<Option<Value>>,
    /// Held from a `--shared` `initialize` until its result is kept, so only the first reaches the child.
    init_lock: tokio::sync::Mutex<()>,
    initialized_sent: AtomicBool,
}

impl Link {
    async fn spawn(spec: &ServerSpec, global: &Global) -> Result<Arc<Self>, CliError> {
        let transport = crate::bridge::open(spec, global).await?;
        let (tx, rx) = mpsc::channel(64);
        transport
            .start(tx)
            .await
            .map_err(|e| CliError::Connect(format!("{}: {e}", spec.describe())))?;
        let link = Arc::new(Self::new(transport));
        tokio::spawn(link.clone().pump(rx));
        Ok(link)
    }

    /// A link over a started transport, with no client yet.
    fn new(transport: Arc<dyn Transport>) -> Self {
        Self {
            transport,
            routes: Mutex::default(),
            next: AtomicU64::new(1),
            dead: AtomicBool::new(false),
            init: Mutex::new(None),
            init_lock: tokio::sync::Mutex::new(()),
            initialized_sent: AtomicBool::new(false),
        }
    }

    fn id(&self, prefix: &str) -> String {
        format!("{prefix}{}", self.next.fetch_add(1, Ordering::Relaxed))
    }

    fn attach(&self, conn: &Arc<Conn>) {
        lock(&self.routes).conns.insert(conn.key, conn.clone());
    }

    /// The client `key` is gone (its session closed, its call over). What the child asked it and was not
    /// answered is refused to the child, so that a child that lives on (`--shared`, or the one of modern
    /// traffic) does not wait for an answer that cannot come.
    fn detach(&self, key: u64) {
        let unanswered: Vec<RequestId> = {
            let mut r = lock(&self.routes);
            r.conns.remove(&key);
            r.progress.retain(|_, (c, _, _)| c.key != key);
            let mut unanswered = Vec::new();
            r.asked.retain(|_, (k, child_id)| {
                let keep = *k != key;
                if !keep {
                    unanswered.push(child_id.clone());
                }
                keep
            });
            unanswered
        };
        if unanswered.is_empty() || self.dead.load(Ordering::Relaxed) {
            return;
        }
        // Called from drops too: without a runtime (shutting down) there is no child left to tell.
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let transport = self.transport.clone();
        rt.spawn(async move {
            for id in unanswered {
                let refusal = ErrorResponse::new(
                    Some(id),
                    ErrorObject::internal(
                        "mcp serve: the client this was asked of is gone (its session or call ended)",
                    ),
                );
                let _ = transport
                    .send(Message::Error(refusal), SendOptions::default())
                    .await;
            }
        });
    }

    /// Route the child's messages to clients until it exits.
    async fn pump(self: Arc<Self>, mut rx: mpsc::Receiver<TransportEvent>) {
        while let Some(ev) = rx.recv().await {
            match ev {
                TransportEvent::Message(m) => self.route(m).await,
                TransportEvent::Closed(reason) => {
                    tracing::info!(?reason, "the server process ended");
                    break;
                }
            }
        }
        self.dead.store(true, Ordering::Relaxed);
        let pending: Vec<(RequestId, Pending)> = lock(&self.routes).pending.drain().collect();
        for (wire, p) in pending {
            let tx = p.conn.stream_of(&wire);
            let err = Message::Error(ErrorResponse::new(
                Some(p.orig),
                ErrorObject::internal("the server process exited"),
            ));
            if let Some(tx) = tx {
                let _ = tx.send(err).await;
            }
        }
        // Streams end once their senders are gone.
        for c in lock(&self.routes).conns.values() {
            lock(&c.running).clear();
            lock(&c.get).take();
        }
    }

    async fn route(&self, m: Message) {
        match m {
            Message::Response(mut r) => {
                let Some((p, tx)) = self.finish(&r.id) else {
                    return;
                };
                r.id = p.orig;
                if let Some(tx) = tx {
                    let _ = tx.send(Message::Response(r)).await;
                }
            }
            Message::Error(mut e) => {
                let Some(wire) = e.id.clone() else { return };
                let Some((p, tx)) = self.finish(&wire) else {
                    return;
                };
                e.id = Some(p.orig);
                if let Some(tx) = tx {
                    let _ = tx.send(Message::Error(e)).await;
                }
            }
            Message::Notification(mut n) => {
                if n.method == methods::NOTIF_PROGRESS {
                    let token = n
                        .params
                        .as_ref()
                        .and_then(|p| p.get("progressToken"))
                        .cloned();
                    let hit = token
                        .and_then(|t| lock(&self.routes).progress.get(&token_key(&t)).cloned());
                    let Some((conn, orig, wire)) = hit else {
                        return;
                    };
                    if let Some(p) = n.params.as_mut().and_then(Value::as_object_mut) {
                        p.insert("progressToken".into(), orig);
                    }
                    if let Some(tx) = conn.stream_of(&wire).or_else(|| conn.latest()) {
                        let _ = tx.send(Message::Notification(n)).await;
                    }
                    return;
                }
                let everyone = n.method.ends_with("/list_changed")
                    || n.method == methods::NOTIF_RESOURCES_UPDATED;
                let targets: Vec<mpsc::Sender<Message>> = {
                    let r = lock(&self.routes);
                    if everyone {
                        r.conns.values().filter_map(|c| c.latest()).collect()
                    } else if n.method == methods::NOTIF_MESSAGE {
                        // A log line names no request: the only client's, else the one busy client's,
                        // else nobody's (never a guess between clients sharing the child). Decided here, in
                        // the child's order: once a call's answer has come by, it is no longer running.
                        let only = (r.conns.len() == 1).then(|| r.conns.values().next().cloned());
                        only.flatten()
                            .or_else(|| sole_busy(&r))
                            .and_then(|c| c.latest())
                            .into_iter()
                            .collect()
                    } else {
                        self.current(&r)
                            .and_then(|c| c.latest())
                            .into_iter()
                            .collect()
                    }
                };
                for tx in targets {
                    let _ = tx.send(Message::Notification(n.clone())).await;
                }
            }
            Message::Request(mut req) => {
                let target = asker(&lock(&self.routes), &req).and_then(|(conn, call)| {
                    let tx = match &call {
                        Some((_, wire)) => conn.stream_of(wire).or_else(|| conn.latest()),
                        None => conn.latest(),
                    };
                    let tx = tx.ok_or("no client is connected to answer this request")?;
                    Ok((conn.key, tx, call.map(|(token, _)| token)))
                });
                let (key, tx, token) = match target {
                    Ok(t) => t,
                    Err(why) => {
                        tracing::info!(method = %req.method, "refused the server's request: {why}");
                        let refusal = ErrorResponse::new(
                            Some(req.id),
                            ErrorObject::internal(format!("mcp serve: {why}")),
                        );
                        let _ = self
                            .transport
                            .send(Message::Error(refusal), SendOptions::default())
                            .await;
                        return;
                    }
                };
                if let (Some(token), Some(meta)) = (
                    token,
                    req.params
                        .as_mut()
                        .and_then(|p| p.get_mut("_meta"))
                        .and_then(Value::as_object_mut),
                ) {
                    // The client knows its call by its own token.
                    meta.insert(mcp_protocol::meta::PROGRESS_TOKEN.into(), token);
                }
                let outer = self.id("s");
                lock(&self.routes)
                    .asked
                    .insert(outer.clone(), (key, req.id.clone()));
                req.id = RequestId::String(outer.into());
                let _ = tx.send(Message::Request(req)).await;
            }
        }
    }

    /// The client the child's unattributed notifications go to: the only one, else the one with a request
    /// running that was sent last.
    fn current(&self, r: &Routes) -> Option<Arc<Conn>> {
        if r.conns.len() == 1 {
            return r.conns.values().next().cloned();
        }
        r.last
            .and_then(|k| r.conns.get(&k))
            .filter(|c| c.has_running())
            .or_else(|| r.conns.values().find(|c| c.has_running()))
            .cloned()
    }

    /// A request answered (or abandoned): forget it, and hand back where its answer goes.
    fn finish(&self, wire: &RequestId) -> Option<(Pending, Option<mpsc::Sender<Message>>)> {
        let mut r = lock(&self.routes);
        let p = r.pending.remove(wire)?;
        if let Some(t) = &p.token {
            r.progress.remove(t);
        }
        drop(r);
        let mut running = lock(&p.conn.running);
        let tx = running
            .iter()
            .position(|(id, _)| id == wire)
            .map(|i| running.remove(i).1);
        drop(running);
        Some((p, tx))
    }

    /// Send a client's request with a wire id of ours; its messages go to `stream`.
    async fn request(&self, conn: &Arc<Conn>, mut req: Request, stream: mpsc::Sender<Message>) {
        let orig = req.id.clone();
        let wire = RequestId::String(self.id("g").into());
        let mut token = None;
        if let Some(meta) = req
            .params
            .as_mut()
            .and_then(|p| p.get_mut("_meta"))
            .and_then(Value::as_object_mut)
        {
            if let Some(t) = meta.get("progressToken").cloned() {
                let ours = self.id("p");
                meta.insert("progressToken".into(), Value::String(ours.clone()));
                lock(&self.routes)
                    .progress
                    .insert(ours.clone(), (conn.clone(), t, wire.clone()));
                token = Some(ours);
            }
        }
        {
            let mut r = lock(&self.routes);
            r.pending.insert(
                wire.clone(),
                Pending {
                    conn: conn.clone(),
                    orig: orig.clone(),
                    token,
                },
            );
            r.last = Some(conn.key);
        }
        lock(&conn.running).push((wire.clone(), stream.clone()));
        req.id = wire.clone();
        if let Err(e) = self
            .transport
            .send(Message::Request(req), SendOptions::default())
            .await
        {
            if self.finish(&wire).is_some() {
                let _ = stream
                    .send(Message::Error(ErrorResponse::new(
                        Some(orig),
                        ErrorObject::internal(format!("the server process is gone: {e}")),
                    )))
                    .await;
            }
        }
    }

    /// A client's notification or answer, with ids mapped back to the child's.
    async fn other(&self, conn: &Arc<Conn>, m: Message) {
        let m = match m {
            Message::Response(mut r) => {
                let key = id_key(&r.id);
                match lock(&self.routes).asked.remove(&key) {
                    Some((k, child_id)) if k == conn.key => r.id = child_id,
                    _ => return,
                }
                Message::Response(r)
            }
            Message::Error(mut e) => {
                let Some(key) = e.id.as_ref().map(id_key) else {
                    return;
                };
                match lock(&self.routes).asked.remove(&key) {
                    Some((k, child_id)) if k == conn.key => e.id = Some(child_id),
                    _ => return,
                }
                Message::Error(e)
            }
            Message::Notification(mut n) if n.method == methods::NOTIF_CANCELLED => {
                let target = n.params.as_ref().and_then(|p| p.get("requestId")).cloned();
                let wire = target.and_then(|t| {
                    let r = lock(&self.routes);
                    r.pending
                        .iter()
                        .find(|(_, p)| p.conn.key == conn.key && id_value(&p.orig) == t)
                        .map(|(w, _)| w.clone())
                });
                let Some(wire) = wire else { return };
                if let Some(p) = n.params.as_mut().and_then(Value::as_object_mut) {
                    p.insert("requestId".into(), id_value(&wire));
                }
                Message::Notification(n)
            }
            Message::Notification(n) if n.method == methods::NOTIF_INITIALIZED => {
                if self.initialized_sent.swap(true, Ordering::Relaxed) {
                    return;
                }
                Message::Notification(n)
            }
            other => other,
        };
        if let Err(e) = self.transport.send(m, SendOptions::default()).await {
            tracing::warn!(error = %e, "a message to the server process was lost");
        }
    }

    /// Tell the child that requests whose client went away are cancelled.
    async fn abandon(&self, wires: &[RequestId]) {
        for w in wires {
            if self.finish(w).is_some() {
                let n = mcp_protocol::Notification::new(
                    methods::NOTIF_CANCELLED,
                    Some(json!({"requestId": id_value(w), "reason": "the client went away"})),
                );
                let _ = self
                    .transport
                    .send(Message::Notification(n), SendOptions::default())
                    .await;
            }
        }
    }
}

/// The one client with a request running, if only one has.
fn sole_busy(r: &Routes) -> Option<Arc<Conn>> {
    let mut busy = r.conns.values().filter(|c| c.has_running());
    match (busy.next(), busy.next()) {
        (Some(c), None) => Some(c.clone()),
        _ => None,
    }
}

/// The call a request of the child's names: the client's progress token, and the call's wire id.
type NamedCall = (Value, RequestId);

/// Which client a request of the child's (elicitation, sampling, roots) is for, and when it names its call,
/// that call (the client's progress token and the wire id): a request whose `_meta.progressToken` is one the
/// gateway gave a call belongs to that call; otherwise to the only client, else to the only client with
/// requests running. When several clients have requests running, nothing says whose question it is (stdio
/// carries no request context), and guessing could show one client's question to another: refused.
fn asker(r: &Routes, req: &Request) -> Result<(Arc<Conn>, Option<NamedCall>), &'static str> {
    let named = req
        .params
        .as_ref()
        .and_then(|p| p.get("_meta"))
        .and_then(|m| m.get(mcp_protocol::meta::PROGRESS_TOKEN))
        .and_then(|t| r.progress.get(&token_key(t)));
    if let Some((conn, token, wire)) = named {
        return Ok((conn.clone(), Some((token.clone(), wire.clone()))));
    }
    if let (1, Some(only)) = (r.conns.len(), r.conns.values().next()) {
        return Ok((only.clone(), None));
    }
    if let Some(c) = sole_busy(r) {
        return Ok((c, None));
    }
    if r.conns.values().any(|c| c.has_running()) {
        Err(
            "several clients have requests running and this request does not name its call \
             (a progressToken of the call in its _meta would)",
        )
    } else {
        Err("no client has a request running to answer this request")
    }
}

fn id_value(id: &RequestId) -> Value {
    serde_json::to_value(id).unwrap_or(Value::Null)
}

fn id_key(id: &RequestId) -> String {
    match id {
        RequestId::String(s) => s.to_string(),
        other => id_value(other).to_string(),
    }
}

fn token_key(t: &Value) -> String {
    match t {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

struct Session {
    conn: Arc<Conn>,
    link: Arc<Link>,
    /// When the client last sent something.
    seen: Mutex<std::time::Instant>,
    /// Its POST streams and its GET stream, for `Last-Event-ID`.
    replay: Arc<replay::Replay>,
    /// Its GET stream's number in `replay`, once it opened one.
    get_stream: Mutex<Option<u64>>,
}

impl Session {
    fn new(conn: Arc<Conn>, link: Arc<Link>) -> Arc<Self> {
        Arc::new(Self {
            conn,
            link,
            seen: Mutex::new(std::time::Instant::now()),
            replay: Arc::default(),
            get_stream: Mutex::new(None),
        })
    }

    /// Idle: nothing sent for `limit`, no request running, no client reading its GET stream. (A GET stream
    /// whose connection dropped still keeps what the child sends, for a resume, but does not keep the
    /// session alive by itself.)
    fn idle(&self, limit: Duration) -> bool {
        lock(&self.seen).elapsed() >= limit
            && !self.conn.has_running()
            && lock(&self.get_stream).is_none_or(|no| !self.replay.reading(no))
    }
}

/// End the sessions whose clients went away without `DELETE`, so their processes do not pile up.
async fn reap(g: Arc<Gateway>, limit: Duration) {
    let mut tick = tokio::time::interval(
        (limit / 4).clamp(Duration::from_millis(100), Duration::from_secs(60)),
    );
    loop {
        tick.tick().await;
        let idle: Vec<(String, Arc<Session>)> = {
            let mut sessions = lock(&g.sessions);
            let ids: Vec<String> = sessions
                .iter()
                .filter(|(_, s)| s.idle(limit))
                .map(|(id, _)| id.clone())
                .collect();
            ids.into_iter()
                .filter_map(|id| sessions.remove(&id).map(|s| (id, s)))
                .collect()
        };
        for (_, s) in idle {
            // The id is left out: it is what lets a client into its session.
            eprintln!(
                "mcp serve: closed an idle session ({} s without a message)",
                limit.as_secs()
            );
            s.link.detach(s.conn.key);
            if !g.args.shared {
                let _ = s.link.transport.close().await;
            }
        }
    }
}

struct Gateway {
    spec: ServerSpec,
    global: Global,
    args: ServeArgs,
    modern: bool,
    policy: HostPolicy,
    sessions: Mutex<HashMap<String, Arc<Session>>>,
    /// The child of `--shared`, and of modern requests.
    common: tokio::sync::Mutex<Option<Arc<Link>>>,
    next_conn: AtomicU64,
    /// A legacy-only child: the session the gateway holds with it for modern clients, and its
    /// `initialize` result.
    held: tokio::sync::Mutex<Option<(Arc<Link>, Value)>>,
    /// Modern calls waiting for the client's answers, by `requestState`.
    rounds: Arc<Mutex<HashMap<String, Round>>>,
}

impl Gateway {
    async fn common(&self) -> Result<Arc<Link>, CliError> {
        let mut slot = self.common.lock().await;
        if let Some(l) = slot.as_ref().filter(|l| !l.dead.load(Ordering::Relaxed)) {
            return Ok(l.clone());
        }
        let l = Link::spawn(&self.spec, &self.global).await?;
        *slot = Some(l.clone());
        Ok(l)
    }

    fn conn(&self) -> Arc<Conn> {
        Conn::new(self.next_conn.fetch_add(1, Ordering::Relaxed))
    }
}

fn rpc_error(status: StatusCode, id: Option<RequestId>, e: ErrorObject) -> Response {
    let body = Message::Error(ErrorResponse::new(id, e)).to_json();
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

fn session_id() -> String {
    use rand::Rng;
    let mut b = [0u8; 24];
    rand::rng().fill(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn is_modern(headers: &HeaderMap, msgs: &[Message]) -> bool {
    let header = headers
        .get(mcp_protocol::headers::PROTOCOL_VERSION)
        .and_then(|v| v.to_str().ok())
        == Some(MODERN);
    header
        || msgs.iter().any(|m| match m {
            Message::Request(r) => {
                r.meta()
                    .and_then(|m| m.get(mcp_protocol::meta::PROTOCOL_VERSION))
                    .and_then(Value::as_str)
                    == Some(MODERN)
            }
            _ => false,
        })
}

/// Constant-time comparison, so the token cannot be guessed byte by byte from response times.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The checks every request to the endpoint passes first.
fn guard(g: &Gateway, headers: &HeaderMap) -> Option<Response> {
    if !g.policy.allows(headers) {
        return Some(
            (
                StatusCode::FORBIDDEN,
                "Host or Origin not allowed: mcp serve answers loopback names only",
            )
                .into_response(),
        );
    }
    if let Some(token) = &g.args.bearer {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if !given.is_some_and(|t| same(t.as_bytes(), token.as_bytes())) {
            return Some(
                (
                    StatusCode::UNAUTHORIZED,
                    [(header::WWW_AUTHENTICATE, "Bearer")],
                    "a bearer token is required",
                )
                    .into_response(),
            );
        }
    }
    None
}

fn session_of(
    g: &Gateway,
    headers: &HeaderMap,
) -> Result<Option<(String, Arc<Session>)>, Box<Response>> {
    let Some(sid) = headers
        .get(mcp_protocol::headers::SESSION_ID)
        .and_then(|v| v.to_str().ok())
    else {
        return Ok(None);
    };
    let found = lock(&g.sessions).get(sid).cloned();
    match found {
        Some(s) if !s.link.dead.load(Ordering::Relaxed) => {
            *lock(&s.seen) = std::time::Instant::now();
            Ok(Some((sid.to_owned(), s)))
        }
        Some(_) => {
            // Its child exited: the client starts a new session (and gets a new child).
            if let Some(s) = lock(&g.sessions).remove(sid) {
                s.link.detach(s.conn.key);
            }
            Err(Box::new(rpc_error(
                StatusCode::NOT_FOUND,
                None,
                ErrorObject::new(
                    error_code::INVALID_REQUEST,
                    "session ended: its server process exited",
                ),
            )))
        }
        None => Err(Box::new(rpc_error(
            StatusCode::NOT_FOUND,
            None,
            ErrorObject::new(error_code::INVALID_REQUEST, "unknown or expired session"),
        ))),
    }
}

async fn post(g: &Gateway, headers: HeaderMap, body: Bytes) -> Response {
    let json_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .to_ascii_lowercase()
                .starts_with("application/json")
        });
    if !json_type {
        return (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Content-Type must be application/json",
        )
            .into_response();
    }
    let value: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return rpc_error(StatusCode::BAD_REQUEST, None, ErrorObject::parse_error(e));
        }
    };
    let batch = value.is_array();
    let mut msgs = Vec::new();
    for v in match value {
        Value::Array(items) => items,
        v => vec![v],
    } {
        let id = v.get("id").and_then(RequestId::from_value);
        match Message::from_value(v) {
            Ok(m) => msgs.push(m),
            Err(e) => return rpc_error(StatusCode::BAD_REQUEST, id, e),
        }
    }
    let session = match session_of(g, &headers) {
        Ok(s) => s,
        Err(r) => return *r,
    };
    let replay = session.as_ref().map(|(_, s)| s.replay.clone());
    let init = msgs.iter().find_map(|m| match m {
        Message::Request(r) if r.method == methods::INITIALIZE => Some(r.clone()),
        _ => None,
    });
    // Which client and child: a session's, a new session's, or a modern request's.
    let (conn, link, new_session, transient) = match (session, &init) {
        (Some((_, s)), _) => (s.conn.clone(), s.link.clone(), None, false),
        (None, Some(_)) => {
            if lock(&g.sessions).len() >= g.args.max_sessions {
                return rpc_error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    None,
                    ErrorObject::internal("too many sessions"),
                );
            }
            let link = if g.args.shared {
                g.common().await
            } else {
                Link::spawn(&g.spec, &g.global).await
            };
            let link = match link {
                Ok(l) => l,
                Err(e) => {
                    return rpc_error(StatusCode::BAD_GATEWAY, None, ErrorObject::internal(e))
                }
            };
            let conn = g.conn();
            link.attach(&conn);
            (conn, link, Some(session_id()), false)
        }
        (None, None) if is_modern(&headers, &msgs) => {
            if !g.modern {
                return translate(g, msgs).await;
            }
            let link = match g.common().await {
                Ok(l) => l,
                Err(e) => {
                    return rpc_error(StatusCode::BAD_GATEWAY, None, ErrorObject::internal(e))
                }
            };
            let conn = g.conn();
            link.attach(&conn);
            (conn, link, None, true)
        }
        (None, None) => {
            return rpc_error(
                StatusCode::BAD_REQUEST,
                None,
                ErrorObject::invalid_request("no Mcp-Session-Id: start with initialize"),
            )
        }
    };
    let requests: Vec<Request> = msgs
        .iter()
        .filter_map(|m| match m {
            Message::Request(r) => Some(r.clone()),
            _ => None,
        })
        .collect();
    for m in msgs {
        if !matches!(m, Message::Request(_)) {
            link.other(&conn, m).await;
        }
    }
    if requests.is_empty() {
        if transient {
            link.detach(conn.key);
        }
        return StatusCode::ACCEPTED.into_response();
    }
    let (tx, mut rx) = mpsc::channel::<Message>(64);
    let mut wires = Vec::new();
    let _init_guard = match (&init, g.args.shared) {
        (Some(_), true) => Some(link.init_lock.lock().await),
        _ => None,
    };
    let mut cached = Vec::new();
    for req in requests.iter().cloned() {
        if req.method == methods::INITIALIZE && g.args.shared {
            if let Some(result) = lock(&link.init).clone() {
                cached.push(Message::Response(mcp_protocol::Response::new(
                    req.id, result,
                )));
                continue;
            }
        }
        let before: Vec<RequestId> = lock(&conn.running).iter().map(|(w, _)| w.clone()).collect();
        link.request(&conn, req, tx.clone()).await;
        if let Some((w, _)) = lock(&conn.running)
            .iter()
            .find(|(w, _)| !before.contains(w))
        {
            wires.push(w.clone());
        }
    }
    drop(tx);
    if let Some(m) = cached.pop() {
        // `--shared`: a later initialize, answered from the first one's result.
        let mut r = Response::new(Body::from(m.to_json()));
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if let Some(sid) = &new_session {
            lock(&g.sessions).insert(sid.clone(), Session::new(conn.clone(), link.clone()));
            if let Ok(v) = HeaderValue::from_str(sid) {
                r.headers_mut().insert(mcp_protocol::headers::SESSION_ID, v);
            }
        }
        return r;
    }
    let expected = requests.len();
    // The first message decides the shape: the answer alone is JSON; anything before it makes a stream.
    let first = rx.recv().await;
    let Some(first) = first else {
        return rpc_error(
            StatusCode::BAD_GATEWAY,
            None,
            ErrorObject::internal("the server process exited"),
        );
    };
    let is_answer = matches!(first, Message::Response(_) | Message::Error(_));
    if let (Some(sid), Some(init)) = (&new_session, &init) {
        match &first {
            Message::Response(r) if r.id == init.id => {
                if g.args.shared {
                    lock(&link.init).get_or_insert_with(|| r.result.clone());
                }
                lock(&g.sessions).insert(sid.clone(), Session::new(conn.clone(), link.clone()));
            }
            _ => {
                link.detach(conn.key);
                if !g.args.shared {
                    let _ = link.transport.close().await;
                }
            }
        }
    }
    let session_header = new_session
        .as_ref()
        .filter(|sid| lock(&g.sessions).contains_key(*sid))
        .and_then(|sid| HeaderValue::from_str(sid).ok());
    if is_answer && expected == 1 && !batch {
        if transient {
            link.detach(conn.key);
        }
        let status = match (&first, transient) {
            (Message::Error(e), true) => modern_status(e.error.code),
            _ => StatusCode::OK,
        };
        let mut r = Response::new(Body::from(first.to_json()));
        *r.status_mut() = status;
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if let Some(v) = session_header {
            r.headers_mut().insert(mcp_protocol::headers::SESSION_ID, v);
        }
        return r;
    }
    // A stream: every message for these requests, ending after the last answer.
    let guard = Abandon {
        link: link.clone(),
        wires,
        conn: transient.then(|| conn.key),
        done: false,
    };
    if let Some(replay) = replay {
        // In a session: resumable. The messages go through the session's replay, read by this response
        // and by any resume after it; the requests run on when no one reads (the child is told they are
        // cancelled only if it exits first).
        let (body_tx, body_rx) = mpsc::channel::<Bytes>(64);
        let no = replay.open(body_tx);
        tokio::spawn(async move {
            // The whole guard moves in (not just the field set below): it acts when this task ends.
            let mut guard = guard;
            guard.done = relay(&replay, no, Some(first), rx, Some(expected)).await;
        });
        return event_stream(frames_body(body_rx), session_header);
    }
    // A modern request's stream: if the client goes away first, the child is told the requests are
    // cancelled (there is no session to resume in).
    let stream = futures::stream::unfold(
        (Some(first), rx, expected, guard),
        |(next, mut rx, mut left, mut guard)| async move {
            if left == 0 {
                guard.done = true;
                drop(guard);
                return None;
            }
            let m = match next {
                Some(m) => m,
                None => rx.recv().await?,
            };
            if matches!(m, Message::Response(_) | Message::Error(_)) {
                left -= 1;
            }
            Some((
                Ok::<_, Infallible>(sse_frame(None, &m.to_json())),
                (None, rx, left, guard),
            ))
        },
    );
    event_stream(Body::from_stream(stream), session_header)
}

/// One SSE event carrying a message (its JSON), with `id` if the stream is resumable.
fn sse_frame(id: Option<&str>, json: &str) -> Bytes {
    Bytes::from(match id {
        Some(id) => format!("id: {id}\nevent: message\ndata: {json}\n\n"),
        None => format!("event: message\ndata: {json}\n\n"),
    })
}

/// A response body of the SSE frames sent on `rx`, ending when its senders are gone.
fn frames_body(rx: mpsc::Receiver<Bytes>) -> Body {
    Body::from_stream(futures::stream::unfold(rx, |mut rx| async move {
        let frame = rx.recv().await?;
        Some((Ok::<_, Infallible>(frame), rx))
    }))
}

/// An event-stream response with `body`, naming the new session if there is one.
fn event_stream(body: Body, session: Option<HeaderValue>) -> Response {
    let mut r = Response::new(body);
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Some(v) = session {
        h.insert(mcp_protocol::headers::SESSION_ID, v);
    }
    r
}

/// Cancels a POST's requests at the child when its stream is dropped before their answers.
struct Abandon {
    link: Arc<Link>,
    wires: Vec<RequestId>,
    /// A modern request's client, detached at the end.
    conn: Option<u64>,
    done: bool,
}

impl Drop for Abandon {
    fn drop(&mut self) {
        let link = self.link.clone();
        let wires = std::mem::take(&mut self.wires);
        let conn = self.conn;
        let done = self.done;
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                if !done {
                    link.abandon(&wires).await;
                }
                if let Some(k) = conn {
                    link.detach(k);
                }
            });
        }
    }
}

fn modern_status(code: i64) -> StatusCode {
    match code {
        error_code::INVALID_PARAMS
        | error_code::HEADER_MISMATCH
        | error_code::MISSING_REQUIRED_CLIENT_CAPABILITY
        | error_code::UNSUPPORTED_PROTOCOL_VERSION
        | error_code::INVALID_REQUEST
        | error_code::PARSE_ERROR => StatusCode::BAD_REQUEST,
        error_code::METHOD_NOT_FOUND => StatusCode::NOT_FOUND,
        _ => StatusCode::OK,
    }
}

async fn get(g: &Gateway, headers: HeaderMap) -> Response {
    let session = match session_of(g, &headers) {
        Ok(Some((_, s))) => s,
        Ok(None) => {
            return (
                StatusCode::METHOD_NOT_ALLOWED,
                [(header::ALLOW, "POST, DELETE")],
                "GET needs an Mcp-Session-Id",
            )
                .into_response()
        }
        Err(r) => return *r,
    };
    if let Some(last) = headers.get("last-event-id") {
        // The rest of a POST's stream, from after the last event the client got.
        let resumed = last
            .to_str()
            .map_err(|_| replay::ResumeError::Malformed)
            .and_then(|id| session.replay.resume(id));
        return match resumed {
            Ok(rx) => event_stream(frames_body(rx), None),
            Err(e) => rpc_error(
                StatusCode::BAD_REQUEST,
                None,
                ErrorObject::invalid_request(match e {
                    replay::ResumeError::Malformed => "Last-Event-ID is not an event id of this endpoint",
                    replay::ResumeError::Unknown => {
                        "Last-Event-ID names no stream of this session (unknown, or finished long ago)"
                    }
                }),
            ),
        };
    }
    // A new GET stream, resumable like a POST's: the child's messages for it go through the session's
    // replay, kept while no client reads it (a client whose connection dropped resumes with the id of the
    // last event it got). It ends when the session does, or when the client opens another GET stream
    // (its sender is then dropped here).
    let (tx, rx) = mpsc::channel::<Message>(64);
    let (body_tx, body_rx) = mpsc::channel::<Bytes>(64);
    let no = session.replay.open(body_tx);
    *lock(&session.get_stream) = Some(no);
    drop(lock(&session.conn.get).replace(tx));
    let replay = session.replay.clone();
    tokio::spawn(async move { relay(&replay, no, None, rx, None).await });
    event_stream(frames_body(body_rx), None)
}

/// Push `first`, then what `rx` brings, into stream `no` of `replay` until `answers` responses or errors
/// have gone through (`None`: until `rx` ends), then end that stream. Whether every answer came.
async fn relay(
    replay: &replay::Replay,
    no: u64,
    mut next: Option<Message>,
    mut rx: mpsc::Receiver<Message>,
    answers: Option<usize>,
) -> bool {
    let mut left = answers;
    while left != Some(0) {
        let m = match next.take() {
            Some(m) => m,
            None => match rx.recv().await {
                Some(m) => m,
                None => break,
            },
        };
        if let (Some(n), Message::Response(_) | Message::Error(_)) = (&mut left, &m) {
            *n -= 1;
        }
        replay.push(no, &m.to_json()).await;
    }
    replay.finish(no);
    left == Some(0)
}

async fn delete(g: &Gateway, headers: HeaderMap) -> Response {
    let (sid, s) = match session_of(g, &headers) {
        Ok(Some(x)) => x,
        Ok(None) => return StatusCode::BAD_REQUEST.into_response(),
        Err(r) => return *r,
    };
    lock(&g.sessions).remove(&sid);
    s.link.detach(s.conn.key);
    if !g.args.shared {
        let _ = s.link.transport.close().await;
    }
    StatusCode::NO_CONTENT.into_response()
}

async fn endpoint(
    State(g): State<Arc<Gateway>>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(refusal) = guard(&g, &headers) {
        return refusal;
    }
    match method {
        Method::POST => post(&g, headers, body).await,
        Method::GET => get(&g, headers).await,
        Method::DELETE => delete(&g, headers).await,
        _ => (
            StatusCode::METHOD_NOT_ALLOWED,
            [(header::ALLOW, "GET, POST, DELETE")],
        )
            .into_response(),
    }
}

/// Run `mcp serve`.
pub async fn run(args: &ServeArgs, global: &Global) -> Result<(), CliError> {
    if !args.path.starts_with('/') {
        return Err(CliError::Usage(format!(
            "--path {:?} must start with /",
            args.path
        )));
    }
    let servers = servers_to_serve(args, global)?;
    let mut gateways = Vec::with_capacity(servers.len());
    for (mount, spec) in servers {
        let (gateway, name) = Gateway::start(spec, args, global).await?;
        let path = match &mount {
            Some(m) => format!("/{m}{}", args.path),
            None => args.path.clone(),
        };
        gateways.push((path, gateway, name));
    }

    let listener = tokio::net::TcpListener::bind(("127.0.0.1", args.port))
        .await
        .map_err(|e| CliError::Usage(format!("cannot listen on 127.0.0.1:{}: {e}", args.port)))?;
    let addr = listener
        .local_addr()
        .map_err(|e| CliError::Connect(e.to_string()))?;
    let mut app = axum::Router::new().route(
        "/healthz",
        axum::routing::get(|| async { axum::Json(json!({"status": "ok"})) }),
    );
    for (path, gateway, name) in &gateways {
        app = app.merge(
            axum::Router::new()
                .route(path, axum::routing::any(endpoint))
                .with_state(gateway.clone()),
        );
        if args.session_idle > 0 {
            tokio::spawn(reap(
                gateway.clone(),
                Duration::from_secs(args.session_idle),
            ));
        }
        eprintln!(
            "mcp serve: {name} on http://{addr}{path} ({}, {})",
            if gateway.modern {
                "both eras"
            } else {
                "a legacy-only server, spoken to modern clients through a session held by the gateway"
            },
            if args.shared {
                "one shared process"
            } else {
                "one process per session"
            },
        );
    }
    let app = app.layer(DefaultBodyLimit::max(args.max_body));
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .map_err(|e| CliError::Connect(e.to_string()))?;
    for (_, gateway, _) in gateways {
        let links: Vec<Arc<Link>> = lock(&gateway.sessions)
            .values()
            .map(|s| s.link.clone())
            .collect();
        for l in links.into_iter().chain(gateway.common.lock().await.take()) {
            let _ = tokio::time::timeout(Duration::from_secs(3), l.transport.close()).await;
        }
    }
    Ok(())
}

/// The stdio servers to serve, each with the name it is mounted under (`None`: the one server, at
/// `--path` itself): a command after `--` or one config name; several config names; or `--all` of them.
fn servers_to_serve(
    args: &ServeArgs,
    global: &Global,
) -> Result<Vec<(Option<String>, ServerSpec)>, CliError> {
    let env = |k: &str| std::env::var(k).ok();
    let target = &args.target;
    let names: Vec<String> = if args.all {
        if !target.words.is_empty() || !target.command.is_empty() {
            return Err(CliError::Usage(
                "--all serves every stdio server of the config file: give no server with it".into(),
            ));
        }
        config::server_names(global.config.as_deref())?
    } else if target.command.is_empty() && target.words.len() > 1 {
        target.words.clone()
    } else {
        let (spec, words) = target::resolve(target, global, &env)?;
        if let Some(w) = words.first() {
            return Err(CliError::Usage(format!(
                "serve takes only the server (unexpected {w:?})"
            )));
        }
        if matches!(spec, ServerSpec::Http { .. }) {
            return Err(CliError::Usage(
                "serve puts a stdio server on HTTP: give a command after -- or a config name with \"command\" \
                 (for a URL, use mcp bridge)"
                    .into(),
            ));
        }
        return Ok(vec![(None, spec)]);
    };
    let mut servers: Vec<(Option<String>, ServerSpec)> = Vec::with_capacity(names.len());
    for name in names {
        let one = Target {
            words: vec![name.clone()],
            command: Vec::new(),
        };
        let (spec, _) = target::resolve(&one, global, &env)?;
        if matches!(spec, ServerSpec::Http { .. }) {
            if args.all {
                eprintln!("mcp serve: {name} left out (a URL, not a stdio server; mcp bridge serves it on stdio)");
                continue;
            }
            return Err(CliError::Usage(format!(
                "serve puts a stdio server on HTTP: {name:?} is a URL (for a URL, use mcp bridge)"
            )));
        }
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '~'))
        {
            return Err(CliError::Usage(format!(
                "server {name:?} cannot be a path segment: serving several servers mounts each at /NAME, \
                 so their names may hold only letters, digits, - _ . ~"
            )));
        }
        if servers.iter().any(|(n, _)| n.as_ref() == Some(&name)) {
            return Err(CliError::Usage(format!("server {name:?} is named twice")));
        }
        servers.push((Some(name), spec));
    }
    if servers.is_empty() {
        return Err(CliError::Usage(
            "the config file has no stdio server (one with \"command\") to serve".into(),
        ));
    }
    Ok(servers)
}

impl Gateway {
    /// A gateway for `spec`, and the name its server gives (or its description). A first child answers
    /// before the port opens: a command that does not start, exits at once or is no MCP server is reported
    /// now, and which eras it speaks decides how modern clients are served.
    async fn start(
        spec: ServerSpec,
        args: &ServeArgs,
        global: &Global,
    ) -> Result<(Arc<Self>, String), CliError> {
        let mut probe_global = global.clone();
        probe_global.protocol = crate::cli::Protocol::Auto;
        let probe = target::connect(&spec, &probe_global, Elicitor::new(&[], true)?, None).await?;
        let modern = probe.client.era() == mcp_protocol::Era::Modern;
        let name = probe
            .client
            .server_info()
            .map(|i| format!("{} {}", i.name, i.version))
            .unwrap_or_else(|| spec.describe());
        probe.client.close().await;
        let gateway = Arc::new(Gateway {
            spec,
            global: global.clone(),
            args: args.clone(),
            modern,
            policy: HostPolicy::Loopback,
            sessions: Mutex::default(),
            common: tokio::sync::Mutex::new(None),
            next_conn: AtomicU64::new(1),
            held: tokio::sync::Mutex::new(None),
            rounds: Arc::default(),
        });
        Ok((gateway, name))
    }
}

/// A modern call to a legacy-only child, paused while the client answers the child's question.
struct Round {
    /// The rest of the call (its receiver of the child's messages included).
    call: Call,
    /// The id (ours) of the child's request that the client's answer goes to.
    asked: RequestId,
    method: String,
}

/// A 2026-07-28 call running in the gateway's legacy session with a legacy-only child: what the child
/// sends for it, until its answer or a question that pauses it.
struct Call {
    link: Arc<Link>,
    conn: Arc<Conn>,
    rx: mpsc::Receiver<Message>,
    /// The id of the client's request this HTTP exchange answers.
    id: RequestId,
    method: String,
    /// The progress token of the client's request: the child's progress for the call goes out with it
    /// (the child speaks of the token of the call's first request; a resumed call may carry another).
    progress: Option<Value>,
    /// The least severe log message the client's request asked for (`_meta` logLevel): the child's log
    /// messages from that level up are relayed (those the link gives this call: see `Link::route`).
    log_level: Option<LoggingLevel>,
    rounds: Arc<Mutex<HashMap<String, Round>>>,
    /// Answered, or handed to a round: nothing to cancel when it is dropped.
    settled: bool,
}

/// What a translated call has for the client next.
enum Step {
    /// A progress notification or a log message, on the way to the answer.
    Notify(Message),
    /// The end of this exchange: the answer, an error, or an `input_required` round.
    End(StatusCode, Message),
}

impl Call {
    /// Whether `n` is a log message this call's client asked for (a modern server MUST NOT send logs a
    /// request did not ask for). The link gave it to this call only if no other call was running.
    fn wants_log(&self, n: &mcp_protocol::Notification) -> bool {
        let Some(least) = self.log_level else {
            return false;
        };
        let level = n
            .params
            .as_ref()
            .and_then(|p| p.get("level"))
            .and_then(|l| serde_json::from_value::<LoggingLevel>(l.clone()).ok());
        n.method == methods::NOTIF_MESSAGE && level.is_some_and(|l| l >= least)
    }

    fn end(&mut self, status: StatusCode, m: Message) -> Step {
        self.settled = true;
        self.link.detach(self.conn.key);
        Step::End(status, m)
    }

    async fn next(&mut self) -> Step {
        loop {
            let Some(m) = self.rx.recv().await else {
                let gone = ErrorResponse::new(
                    Some(self.id.clone()),
                    ErrorObject::internal(CliError::Connect("the server process exited".into())),
                );
                return self.end(StatusCode::BAD_GATEWAY, Message::Error(gone));
            };
            match m {
                Message::Response(mut r) => {
                    if let Some(o) = r.result.as_object_mut() {
                        o.entry("resultType").or_insert_with(|| json!("complete"));
                        if CACHEABLE.contains(&self.method.as_str()) {
                            // The legacy child says nothing about freshness: not to be reused, nor shared.
                            o.entry("ttlMs").or_insert_with(|| json!(0));
                            o.entry("cacheScope").or_insert_with(|| json!("private"));
                        }
                    }
                    r.id = self.id.clone();
                    return self.end(StatusCode::OK, Message::Response(r));
                }
                Message::Error(mut e) => {
                    e.id = Some(self.id.clone());
                    let status = modern_status(e.error.code);
                    return self.end(status, Message::Error(e));
                }
                Message::Request(ask) if ask.method == methods::PING => {
                    let pong = Message::Response(mcp_protocol::Response::new(ask.id, json!({})));
                    self.link.other(&self.conn, pong).await;
                }
                Message::Request(ask) => return self.pause(ask),
                Message::Notification(mut n) if n.method == methods::NOTIF_PROGRESS => {
                    // A client that sent no token this time asked for no progress.
                    let Some(token) = self.progress.clone() else {
                        continue;
                    };
                    if let Some(p) = n.params.as_mut().and_then(Value::as_object_mut) {
                        p.insert("progressToken".into(), token);
                    }
                    return Step::Notify(Message::Notification(n));
                }
                Message::Notification(n) if self.wants_log(&n) => {
                    return Step::Notify(Message::Notification(n))
                }
                Message::Notification(_) => {}
            }
        }
    }

    /// The child asks the client something: this exchange ends with `input_required`, and the call waits in
    /// a round for the client's retry.
    fn pause(&mut self, ask: Request) -> Step {
        let token = session_id();
        let mut input = json!({"method": ask.method});
        if let Some(p) = &ask.params {
            input["params"] = p.clone();
        }
        let result = json!({
            "resultType": "input_required",
            "inputRequests": {"input": input},
            "requestState": token,
        });
        let answer = Message::Response(mcp_protocol::Response::new(self.id.clone(), result));
        self.settled = true;
        let (tx, rx) = mpsc::channel(1);
        drop(tx);
        let call = Call {
            link: self.link.clone(),
            conn: self.conn.clone(),
            rx: std::mem::replace(&mut self.rx, rx),
            id: self.id.clone(),
            method: self.method.clone(),
            // The client's retry says what it wants from then on.
            progress: None,
            log_level: None,
            rounds: self.rounds.clone(),
            settled: false,
        };
        lock(&self.rounds).insert(
            token.clone(),
            Round {
                call,
                asked: ask.id,
                method: self.method.clone(),
            },
        );
        expire_round(self.rounds.clone(), token);
        Step::End(StatusCode::OK, answer)
    }
}

impl Drop for Call {
    /// The client went away before the answer: the child is told the call is cancelled.
    fn drop(&mut self) {
        if self.settled {
            return;
        }
        let link = self.link.clone();
        let conn = self.conn.clone();
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                let wires: Vec<RequestId> =
                    lock(&conn.running).iter().map(|(w, _)| w.clone()).collect();
                link.abandon(&wires).await;
                link.detach(conn.key);
            });
        }
    }
}

/// Methods whose 2026-07-28 results carry `ttlMs` and `cacheScope`.
const CACHEABLE: &[&str] = &[
    methods::TOOLS_LIST,
    methods::PROMPTS_LIST,
    methods::RESOURCES_LIST,
    methods::RESOURCES_TEMPLATES_LIST,
    methods::RESOURCES_READ,
];

/// How long a paused call waits for the client's retry before the child is told it is cancelled.
const ROUND_TTL: Duration = Duration::from_secs(300);

/// The legacy session the gateway holds with a legacy-only child on behalf of modern clients.
async fn held_session(g: &Gateway) -> Result<(Arc<Link>, Value), CliError> {
    let mut slot = g.held.lock().await;
    if let Some((l, init)) = slot
        .as_ref()
        .filter(|(l, _)| !l.dead.load(Ordering::Relaxed))
    {
        return Ok((l.clone(), init.clone()));
    }
    let link = Link::spawn(&g.spec, &g.global).await?;
    let conn = g.conn();
    link.attach(&conn);
    let (tx, mut rx) = mpsc::channel(8);
    let init = Request::new(
        RequestId::Number(0),
        methods::INITIALIZE,
        Some(json!({
            "protocolVersion": mcp_protocol::ProtocolVersion::LATEST_LEGACY.as_str(),
            // What a modern client may answer through input_required rounds. Not roots: a child may ask for
            // them at any moment (server-everything does once initialized), and the question would go to
            // whatever call is running, whose client may not have roots at all.
            "capabilities": {"elicitation": {"form": {}}, "sampling": {}},
            "clientInfo": {"name": "mcp-serve", "version": env!("CARGO_PKG_VERSION")},
        })),
    );
    link.request(&conn, init, tx).await;
    let answer = tokio::time::timeout(target::timeout(&g.global)?, rx.recv()).await;
    link.detach(conn.key);
    let result = match answer {
        Ok(Some(Message::Response(r))) => r.result,
        Ok(Some(Message::Error(e))) => {
            return Err(CliError::Protocol(format!(
                "the server refused initialize: {}",
                e.error
            )))
        }
        _ => {
            return Err(CliError::Connect(
                "the server did not answer initialize".into(),
            ))
        }
    };
    let done = mcp_protocol::Notification::new(methods::NOTIF_INITIALIZED, None);
    link.other(&conn, Message::Notification(done)).await;
    *slot = Some((link.clone(), result.clone()));
    Ok((link, result))
}

fn json_reply(status: StatusCode, m: &Message) -> Response {
    let mut r = Response::new(Body::from(m.to_json()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// A 2026-07-28 request for a legacy-only child: sent in the gateway's legacy session, its result marked
/// `complete`, and each request of the child's (elicitation, sampling, roots) turned into an
/// `input_required` round whose `requestState` names the paused call.
async fn translate(g: &Gateway, msgs: Vec<Message>) -> Response {
    let mut requests = msgs.into_iter().filter_map(|m| match m {
        Message::Request(r) => Some(r),
        _ => None,
    });
    let (Some(req), None) = (requests.next(), requests.next()) else {
        // Modern clients send no notifications or batches over HTTP.
        return StatusCode::ACCEPTED.into_response();
    };
    let id = req.id.clone();
    let fail = |e: CliError| {
        rpc_error(
            StatusCode::BAD_GATEWAY,
            Some(id.clone()),
            ErrorObject::internal(e),
        )
    };
    let (link, init) = match held_session(g).await {
        Ok(x) => x,
        Err(e) => return fail(e),
    };
    if req.method == methods::DISCOVER {
        let mut meta = serde_json::Map::new();
        if let Some(info) = init.get("serverInfo") {
            meta.insert(mcp_protocol::meta::SERVER_INFO.into(), info.clone());
        }
        let mut result = json!({
            "resultType": "complete",
            "ttlMs": 0,
            "cacheScope": "private",
            "supportedVersions": [MODERN, init.get("protocolVersion").cloned().unwrap_or(Value::Null)],
            "capabilities": init.get("capabilities").cloned().unwrap_or_else(|| json!({})),
            "_meta": meta,
        });
        if let Some(i) = init.get("instructions") {
            result["instructions"] = i.clone();
        }
        return json_reply(
            StatusCode::OK,
            &Message::Response(mcp_protocol::Response::new(id, result)),
        );
    }
    let params = req.params.clone().unwrap_or_else(|| json!({}));
    let state = params.get("requestState").and_then(Value::as_str);
    let resumed = state.and_then(|s| lock(&g.rounds).remove(s));
    let progress = req
        .meta()
        .and_then(|m| m.get(mcp_protocol::meta::PROGRESS_TOKEN))
        .cloned();
    let log_level = req
        .meta()
        .and_then(|m| m.get(mcp_protocol::meta::LOG_LEVEL))
        .and_then(|l| serde_json::from_value::<LoggingLevel>(l.clone()).ok());
    let mut call = match resumed {
        Some(round) if round.method == req.method => {
            // The client's answer goes to the child's question; the call goes on.
            let answer = params
                .get("inputResponses")
                .and_then(Value::as_object)
                .and_then(|m| m.values().next().cloned())
                .unwrap_or_else(|| json!({"action": "cancel"}));
            let mut call = round.call;
            let reply = Message::Response(mcp_protocol::Response::new(round.asked, answer));
            call.link.other(&call.conn, reply).await;
            call.id = id;
            call.progress = progress;
            call.log_level = log_level;
            call
        }
        Some(round) => {
            // Dropped unsettled: cancelled at the child.
            drop(round);
            return rpc_error(
                StatusCode::BAD_REQUEST,
                Some(id),
                ErrorObject::invalid_params("requestState belongs to another method"),
            );
        }
        None if state.is_some() => {
            return rpc_error(
                StatusCode::BAD_REQUEST,
                Some(id),
                ErrorObject::invalid_params("unknown or expired requestState"),
            )
        }
        None => {
            let mut legacy = req.clone();
            if let Some(p) = legacy.params.as_mut().and_then(Value::as_object_mut) {
                p.remove("inputResponses");
                p.remove("requestState");
                if let Some(meta) = p.get_mut("_meta").and_then(Value::as_object_mut) {
                    meta.retain(|k, _| !k.starts_with("io.modelcontextprotocol/"));
                    if meta.is_empty() {
                        p.remove("_meta");
                    }
                }
            }
            let conn = g.conn();
            link.attach(&conn);
            let (tx, rx) = mpsc::channel(64);
            // Progress goes under a token of the gateway's to the child, and back under the client's.
            link.request(&conn, legacy, tx).await;
            Call {
                link,
                conn,
                rx,
                id,
                method: req.method.clone(),
                progress,
                log_level,
                rounds: g.rounds.clone(),
                settled: false,
            }
        }
    };
    // The first message decides the shape, as for legacy requests: the answer alone is JSON; progress or
    // logs before it make a stream that ends with the answer (or the round's `input_required`).
    let first = match call.next().await {
        Step::End(status, m) => return json_reply(status, &m),
        Step::Notify(n) => n,
    };
    let stream = futures::stream::unfold((Some(first), Some(call)), |(next, call)| async move {
        let mut call = call?;
        let (m, call) = match next {
            Some(m) => (m, Some(call)),
            None => match call.next().await {
                Step::Notify(n) => (n, Some(call)),
                Step::End(_, m) => (m, None),
            },
        };
        Some((
            Ok::<_, Infallible>(sse_frame(None, &m.to_json())),
            (None, call),
        ))
    });
    event_stream(Body::from_stream(stream), None)
}

/// Forget a paused call the client never resumed, and tell the child it is cancelled.
fn expire_round(rounds: Arc<Mutex<HashMap<String, Round>>>, token: String) {
    tokio::spawn(async move {
        tokio::time::sleep(ROUND_TTL).await;
        // Dropped unsettled, the call is cancelled at the child.
        let round = lock(&rounds).remove(&token);
        drop(round);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn running(conn: &Arc<Conn>, wire: &str) -> mpsc::Receiver<Message> {
        let (tx, rx) = mpsc::channel(1);
        lock(&conn.running).push((RequestId::String(wire.into()), tx));
        rx
    }

    fn elicit(meta: Option<Value>) -> Request {
        let mut params = json!({"message": "?", "requestedSchema": {"type": "object"}});
        if let Some(m) = meta {
            params["_meta"] = m;
        }
        Request::new(RequestId::Number(7), "elicitation/create", Some(params))
    }

    /// A child that records what the gateway sends it.
    struct Recorder(Arc<Mutex<Vec<Message>>>);

    impl Transport for Recorder {
        fn kind(&self) -> mcp_client::transport::TransportKind {
            mcp_client::transport::TransportKind::Stream
        }
        fn start(
            &self,
            _events: mpsc::Sender<TransportEvent>,
        ) -> futures::future::BoxFuture<'_, Result<(), mcp_client::Error>> {
            Box::pin(async { Ok(()) })
        }
        fn send(
            &self,
            msg: Message,
            _opts: SendOptions,
        ) -> futures::future::BoxFuture<'_, Result<(), mcp_client::Error>> {
            lock(&self.0).push(msg);
            Box::pin(async { Ok(()) })
        }
        fn close(&self) -> futures::future::BoxFuture<'_, Result<(), mcp_client::Error>> {
            Box::pin(async { Ok(()) })
        }
    }

    #[tokio::test]
    async fn a_gone_clients_unanswered_questions_are_refused_to_the_child() {
        let sent = Arc::new(Mutex::new(Vec::new()));
        let link = Link::new(Arc::new(Recorder(sent.clone())));
        let (a, b) = (Conn::new(1), Conn::new(2));
        link.attach(&a);
        link.attach(&b);
        {
            let mut r = lock(&link.routes);
            r.asked.insert("s1".into(), (1, RequestId::Number(7)));
            r.asked.insert("s2".into(), (2, RequestId::Number(8)));
        }
        link.detach(1);
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while lock(&sent).is_empty() && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let sent = lock(&sent).clone();
        assert_eq!(sent.len(), 1, "{sent:?}");
        let Message::Error(e) = &sent[0] else {
            panic!("{sent:?}")
        };
        assert_eq!(e.id, Some(RequestId::Number(7)));
        assert!(e.error.message.contains("is gone"), "{e:?}");
        // b's question is still waiting for b.
        assert_eq!(lock(&link.routes).asked.len(), 1);
    }

    fn log(level: &str) -> Message {
        Message::Notification(mcp_protocol::Notification::new(
            methods::NOTIF_MESSAGE,
            Some(json!({"level": level, "data": format!("a {level} message")})),
        ))
    }

    /// A translated call of client `conn` whose child messages come from the returned sender.
    fn call(
        link: &Arc<Link>,
        conn: &Arc<Conn>,
        log_level: Option<LoggingLevel>,
    ) -> (Call, mpsc::Sender<Message>) {
        let (tx, rx) = mpsc::channel(8);
        let call = Call {
            link: link.clone(),
            conn: conn.clone(),
            rx,
            id: RequestId::Number(1),
            method: methods::TOOLS_CALL.into(),
            progress: None,
            log_level,
            rounds: Arc::default(),
            settled: false,
        };
        (call, tx)
    }

    fn level_of(step: &Step) -> Option<String> {
        match step {
            Step::Notify(Message::Notification(n)) => {
                Some(n.params.as_ref()?["level"].as_str()?.to_owned())
            }
            _ => None,
        }
    }

    #[tokio::test]
    async fn a_modern_call_gets_the_childs_logs_from_the_level_it_asked_for() {
        let link = Arc::new(Link::new(Arc::new(Recorder(Arc::default()))));
        let a = Conn::new(1);
        link.attach(&a);
        let _a_running = running(&a, "g1");
        let answer = || {
            Message::Response(mcp_protocol::Response::new(
                RequestId::String("g1".into()),
                json!({}),
            ))
        };

        // Asked for warning and up: debug and info are dropped, warning and error come, then the answer.
        let (mut c, tx) = call(&link, &a, Some(LoggingLevel::Warning));
        for m in [
            log("debug"),
            log("warning"),
            log("info"),
            log("error"),
            answer(),
        ] {
            tx.send(m).await.unwrap();
        }
        assert_eq!(level_of(&c.next().await).as_deref(), Some("warning"));
        assert_eq!(level_of(&c.next().await).as_deref(), Some("error"));
        assert!(matches!(
            c.next().await,
            Step::End(StatusCode::OK, Message::Response(_))
        ));

        // Asked for none: none, whatever the level.
        let (mut c, tx) = call(&link, &a, None);
        for m in [log("emergency"), answer()] {
            tx.send(m).await.unwrap();
        }
        assert!(matches!(c.next().await, Step::End(..)));
    }

    #[tokio::test]
    async fn the_childs_logs_go_to_the_only_client_else_the_one_busy_client_else_to_none() {
        let link = Link::new(Arc::new(Recorder(Arc::default())));
        let (a, b) = (Conn::new(1), Conn::new(2));
        link.attach(&a);
        let (a_get, mut a_get_rx) = mpsc::channel(1);
        drop(lock(&a.get).replace(a_get));
        link.route(log("info")).await;
        assert!(
            a_get_rx.try_recv().is_ok(),
            "the only client, on its GET stream"
        );

        link.attach(&b);
        link.route(log("info")).await;
        assert!(a_get_rx.try_recv().is_err(), "two clients, neither busy");

        let mut a_stream = running(&a, "g1");
        link.route(log("error")).await;
        assert!(
            a_stream.try_recv().is_ok(),
            "a's call is the only one running"
        );

        // Both running, b's request the latest: the log could be either's, so neither gets it.
        let mut b_stream = running(&b, "g2");
        lock(&link.routes).last = Some(2);
        link.route(log("error")).await;
        assert!(a_stream.try_recv().is_err());
        assert!(b_stream.try_recv().is_err());
    }

    #[test]
    fn the_childs_questions_go_to_the_call_they_name_or_the_only_one_running_else_nowhere() {
        let (a, b) = (Conn::new(1), Conn::new(2));
        let mut r = Routes::default();
        r.conns.insert(1, a.clone());
        // One client: it gets the question, running or not (its GET stream may be open).
        assert_eq!(asker(&r, &elicit(None)).map(|(c, _)| c.key), Ok(1));
        r.conns.insert(2, b.clone());
        assert!(asker(&r, &elicit(None)).is_err(), "two clients, none busy");
        let _a1 = running(&a, "g1");
        assert_eq!(asker(&r, &elicit(None)).map(|(c, _)| c.key), Ok(1));
        let _b1 = running(&b, "g2");
        let refused = asker(&r, &elicit(None)).map(|(c, _)| c.key);
        assert!(
            refused.is_err_and(|why| why.contains("several clients")),
            "two calls running and nothing names one"
        );
        // A progress token the gateway gave b's call names it.
        r.progress.insert(
            "p9".into(),
            (b.clone(), json!("bs-token"), RequestId::String("g2".into())),
        );
        let (conn, call) = asker(&r, &elicit(Some(json!({"progressToken": "p9"})))).unwrap();
        assert_eq!(conn.key, 2);
        assert_eq!(
            call,
            Some((json!("bs-token"), RequestId::String("g2".into())))
        );
        // A token the gateway never gave names nothing.
        assert!(asker(&r, &elicit(Some(json!({"progressToken": "bs-token"})))).is_err());
    }
}
