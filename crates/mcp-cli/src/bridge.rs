//! `mcp bridge TARGET`: a stdio MCP server on our stdin/stdout whose every message goes to TARGET and back.
//!
//! # Why the bridge forwards JSON-RPC messages instead of running a `Server` over a `Client`
//!
//! The bridge sits at the message level: each line the host writes is parsed once and handed, as it is, to
//! the client transport that reaches the target (Streamable HTTP with its 2024-11-05 HTTP+SSE fallback, or
//! a stdio child); each message the transport delivers is written back as a line. An SDK-level bridge (a
//! `Server` whose handlers call a `Client`) would have to negotiate twice and translate between the two
//! negotiations: the host's era, protocol revision, capabilities and client info would be replaced by ours,
//! the server's `serverInfo`, `instructions` and capabilities by the bridge's, and every method, notification
//! and server→client request would need a handler of its own (anything the SDK does not know would be lost).
//! Forwarding keeps all of it: a legacy host runs its own `initialize` with the remote server, a 2026-07-28
//! host sends its own `_meta` and runs its own `input_required` rounds, and the server's sampling,
//! elicitation and roots requests reach the host with their ids, their answers go back the same way, and
//! so do progress and cancellation.
//!
//! What the bridge adds on top of forwarding is what a transport cannot do alone:
//! - the legacy session's bookkeeping: the negotiated revision becomes the `MCP-Protocol-Version` header,
//!   `notifications/initialized` opens the session and the server's GET event stream;
//! - **session recovery**, modelled on the client's: when the server answers 404 to a message of an
//!   expired session, the bridge re-runs the host's own `initialize` (same capabilities, same client info),
//!   restores resource subscriptions and the log level, and sends the refused message again (the server never
//!   ran it); the host sees nothing but the answer. Streams that break are resumed by the transport
//!   (`Last-Event-ID`), and on the modern era read-only requests (lists, reads, completion) are re-issued;
//! - `Mcp-Param-*` headers for tools whose schema asks for them, as our client sends them (learnt from the
//!   `tools/list` results that pass through; a modern call to a tool never listed lists the tools first);
//! - `--allow-tools`/`--deny-tools`: hidden tools are removed from `tools/list` results, and a `tools/call`
//!   for one is refused with a JSON-RPC error without reaching the server.
//!
//! The bridge ends when the host closes stdin (the session is ended with DELETE, a child is stopped), or when
//! the connection to the server ends (exit code 3, with one line on stderr). A server that wants a sign-in
//! (`mcp login`, whose stored tokens the bridge sends and renews) is no reason to end: each refused message is
//! answered with an error that says what to run, and once it has run, the next message goes through.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::Args;
use mcp_client::transport::{
    ChildProcessTransport, LegacySseTransport, SendOptions, StderrMode, Transport, TransportEvent,
    TransportKind,
};
use mcp_client::ErrorKind;
use mcp_protocol::headers::{self, HeaderParam};
use mcp_protocol::types::methods;
use mcp_protocol::{
    ErrorObject, ErrorResponse, Message, Notification, ProtocolVersion, Request, RequestId,
};
use mcp_rpc::framing::{Frame, FrameReader, DEFAULT_MAX_MESSAGE};
use serde_json::Value;
use tokio::io::{AsyncBufRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};

use crate::cli::{Global, Target};
use crate::error::{one_line, CliError};
use crate::target::{self, ServerSpec};

/// `mcp bridge`.
#[derive(Debug, Args, Clone)]
pub struct BridgeArgs {
    /// The server to bridge to: a URL, a name from mcp.json, or a command after `--`.
    #[command(flatten)]
    pub target: Target,
    /// Show only these tools to the host (comma-separated, repeatable).
    #[arg(long, value_delimiter = ',', value_name = "TOOLS")]
    pub allow_tools: Vec<String>,
    /// Hide these tools from the host (comma-separated, repeatable); wins over --allow-tools.
    #[arg(long, value_delimiter = ',', value_name = "TOOLS")]
    pub deny_tools: Vec<String>,
}

/// Which tools the host may see and call.
#[derive(Debug, Clone, Default)]
pub(crate) struct ToolFilter {
    allow: Option<HashSet<String>>,
    deny: HashSet<String>,
}

impl ToolFilter {
    pub(crate) fn new(allow: &[String], deny: &[String]) -> Self {
        let clean = |v: &[String]| -> HashSet<String> {
            v.iter()
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect()
        };
        let allow = clean(allow);
        Self {
            allow: (!allow.is_empty()).then_some(allow),
            deny: clean(deny),
        }
    }

    fn is_open(&self) -> bool {
        self.allow.is_none() && self.deny.is_empty()
    }

    pub(crate) fn permits(&self, name: &str) -> bool {
        !self.deny.contains(name) && self.allow.as_ref().is_none_or(|a| a.contains(name))
    }

    /// Drop hidden tools from a `tools/list` result.
    fn filter_list(&self, result: &mut Value) {
        if let Some(tools) = result.get_mut("tools").and_then(Value::as_array_mut) {
            tools.retain(|t| {
                t.get("name")
                    .and_then(Value::as_str)
                    .is_some_and(|n| self.permits(n))
            });
        }
    }
}

/// The transport to `spec`, not yet started. A stdio child's stderr goes to ours (hosts log it).
pub(crate) async fn open(
    spec: &ServerSpec,
    global: &Global,
) -> Result<Arc<dyn Transport>, CliError> {
    let timeout = target::timeout(global)?;
    Ok(match spec {
        ServerSpec::Http { url, headers, sse } if *sse => {
            if !headers.is_empty() {
                return Err(CliError::Usage(
                    "headers are not supported with \"type\": \"sse\"; use the server's Streamable HTTP URL"
                        .into(),
                ));
            }
            let t = tokio::time::timeout(timeout, LegacySseTransport::connect(url))
                .await
                .map_err(|_| CliError::Connect(format!("{url}: timed out")))?
                .map_err(|e| CliError::Connect(format!("{url}: {}", CliError::from_client(e))))?;
            Arc::new(t)
        }
        ServerSpec::Http { url, headers, .. } => {
            Arc::new(crate::target::http_transport(url, headers, global)?)
        }
        ServerSpec::Stdio {
            program,
            args,
            env,
            cwd,
        } => {
            let mut b = ChildProcessTransport::command(program)
                .args(args)
                .stderr(StderrMode::Inherit)
                .shutdown_grace(Duration::from_secs(1), Duration::from_secs(1));
            for (k, v) in env {
                b = b.env(k, v);
            }
            if let Some(dir) = cwd {
                b = b.current_dir(dir);
            }
            Arc::new(
                b.spawn().map_err(|e| {
                    CliError::Connect(format!("cannot start {}: {e}", spec.describe()))
                })?,
            )
        }
    })
}

/// Requests the bridge itself sends (session recovery) carry ids with this prefix; their answers never
/// reach the host.
const OWN_ID_PREFIX: &str = "mcp-bridge/";

/// Methods whose repetition is harmless: on the modern era their request may be re-issued when its reply
/// stream breaks.
const SAFE_TO_REPEAT: &[&str] = &[
    methods::TOOLS_LIST,
    methods::RESOURCES_LIST,
    methods::RESOURCES_TEMPLATES_LIST,
    methods::RESOURCES_READ,
    methods::PROMPTS_LIST,
    methods::PROMPTS_GET,
    methods::COMPLETION_COMPLETE,
    methods::DISCOVER,
    methods::PING,
];

/// What goes to the host's stdout.
enum Out {
    Msg(Message),
    /// Everything before this was written: acknowledge.
    Flush(oneshot::Sender<()>),
}

#[derive(Default)]
struct State {
    /// The host's `initialize` params, re-sent by session recovery.
    init_params: Option<Value>,
    /// Ids of the host's `initialize` requests in flight: their answers name the negotiated revision.
    init_ids: HashSet<RequestId>,
    /// Ids of the host's `tools/list` requests in flight: their answers are filtered and learnt from.
    list_ids: HashSet<RequestId>,
    /// The bridge's own requests awaiting an answer.
    own: HashMap<RequestId, oneshot::Sender<Message>>,
    /// Resource subscriptions, restored after recovery.
    subscriptions: BTreeSet<String>,
    /// The last `logging/setLevel` params, restored after recovery.
    log_level: Option<Value>,
    /// Tools' `x-mcp-header` annotations, by tool name.
    header_params: HashMap<String, Vec<HeaderParam>>,
    /// Every tool name a `tools/list` result has shown.
    known_tools: HashSet<String>,
    /// The host's requests sent on and not answered yet.
    open: HashSet<RequestId>,
}

/// One forwarding session between the host and the target.
pub(crate) struct Relay {
    transport: Arc<dyn Transport>,
    kind: TransportKind,
    out: mpsc::Sender<Out>,
    filter: ToolFilter,
    state: Mutex<State>,
    recovery: tokio::sync::Mutex<()>,
    next_id: AtomicU64,
    /// A message from the server has arrived, or a request was answered: the target is reachable.
    reached: AtomicBool,
    /// A fatal failure (the target cannot be reached at all): the bridge ends with it.
    fatal: mpsc::Sender<CliError>,
    timeout: Duration,
    describe: String,
    /// How many host requests await an answer: when stdin ends, the bridge waits for them.
    open: tokio::sync::watch::Sender<usize>,
    /// An `initialize` of the host's is in flight over HTTP: what the host sends after it waits for its
    /// answer (the session id), as a host that writes its whole script at once expects.
    handshake: tokio::sync::watch::Sender<bool>,
}

impl Relay {
    async fn until_ready(&self) {
        if self.kind == TransportKind::Http {
            let mut rx = self.handshake.subscribe();
            let _ = rx.wait_for(|busy| !*busy).await;
        }
    }

    fn opened(&self, id: &RequestId) {
        let n = {
            let mut s = self.state();
            s.open.insert(id.clone());
            s.open.len()
        };
        self.open.send_replace(n);
    }

    fn answered(&self, id: &RequestId) {
        let n = {
            let mut s = self.state();
            s.open.remove(id);
            s.open.len()
        };
        self.open.send_replace(n);
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn to_host(&self, m: Message) {
        let _ = self.out.send(Out::Msg(m)).await;
    }

    fn own_id(&self) -> RequestId {
        let n = self.next_id.fetch_add(1, Ordering::Relaxed);
        RequestId::String(format!("{OWN_ID_PREFIX}{n}").into())
    }

    /// Deliver the target's messages to the host until the connection ends; returns why it ended.
    async fn pump(self: Arc<Self>, mut events: mpsc::Receiver<TransportEvent>) -> Option<String> {
        while let Some(ev) = events.recv().await {
            let m = match ev {
                TransportEvent::Message(m) => m,
                TransportEvent::Closed(reason) => return reason,
            };
            self.reached.store(true, Ordering::Relaxed);
            let m = match m {
                Message::Response(mut r) => {
                    if let Some(tx) = self.state().own.remove(&r.id) {
                        let _ = tx.send(Message::Response(r));
                        continue;
                    }
                    if is_own(&r.id) {
                        continue;
                    }
                    let (init, list) = {
                        let mut s = self.state();
                        (s.init_ids.remove(&r.id), s.list_ids.remove(&r.id))
                    };
                    if init {
                        self.note_version(&r.result);
                        self.handshake.send_replace(false);
                    }
                    if list {
                        self.learn_tools(&r.result);
                        self.filter.filter_list(&mut r.result);
                    }
                    Message::Response(r)
                }
                Message::Error(e) => {
                    if let Some(id) = &e.id {
                        if let Some(tx) = self.state().own.remove(id) {
                            let _ = tx.send(Message::Error(e));
                            continue;
                        }
                        if is_own(id) {
                            continue;
                        }
                        let init = {
                            let mut s = self.state();
                            s.list_ids.remove(id);
                            s.init_ids.remove(id)
                        };
                        if init {
                            self.handshake.send_replace(false);
                        }
                    }
                    Message::Error(e)
                }
                other => other,
            };
            let id = match &m {
                Message::Response(r) => Some(r.id.clone()),
                Message::Error(e) => e.id.clone(),
                _ => None,
            };
            self.to_host(m).await;
            if let Some(id) = id {
                self.answered(&id);
            }
        }
        None
    }

    /// A legacy `initialize` result: later messages carry its revision in `MCP-Protocol-Version`.
    fn note_version(&self, result: &Value) {
        let v = result
            .get("protocolVersion")
            .and_then(Value::as_str)
            .and_then(|s| s.parse::<ProtocolVersion>().ok())
            .filter(|v| v.era() == mcp_protocol::Era::Legacy);
        if v.is_some() {
            self.transport.set_legacy_version(v);
        }
    }

    fn learn_tools(&self, result: &Value) {
        let mut s = self.state();
        for t in result
            .get("tools")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let (Some(name), Some(schema)) =
                (t.get("name").and_then(Value::as_str), t.get("inputSchema"))
            else {
                continue;
            };
            s.known_tools.insert(name.to_owned());
            match headers::header_params(schema) {
                Ok(p) if !p.is_empty() => {
                    s.header_params.insert(name.to_owned(), p);
                }
                _ => {
                    s.header_params.remove(name);
                }
            }
        }
    }

    /// Read the host's messages until stdin ends.
    async fn read_host<R: AsyncBufRead + Unpin>(self: Arc<Self>, input: R) {
        let mut frames = FrameReader::new(input, DEFAULT_MAX_MESSAGE);
        loop {
            let frame = match frames.next().await {
                Ok(Some(f)) => f,
                Ok(None) => return,
                Err(e) => {
                    tracing::debug!(error = %e, "stdin failed");
                    return;
                }
            };
            match frame {
                Frame::Json(Value::Array(items)) => {
                    for v in items {
                        self.clone().from_host(v).await;
                    }
                }
                Frame::Json(v) => self.clone().from_host(v).await,
                Frame::Malformed(e) => {
                    self.to_host(Message::Error(ErrorResponse::new(
                        None,
                        ErrorObject::parse_error(e),
                    )))
                    .await
                }
                Frame::TooLarge(n) => {
                    self.to_host(Message::Error(ErrorResponse::new(
                        None,
                        ErrorObject::invalid_request(format!(
                            "a message of {n} bytes is larger than the {DEFAULT_MAX_MESSAGE}-byte limit"
                        )),
                    )))
                    .await
                }
                _ => {}
            }
        }
    }

    async fn from_host(self: Arc<Self>, v: Value) {
        let id = v.get("id").and_then(RequestId::from_value);
        let msg = match Message::from_value(v) {
            Ok(m) => m,
            Err(e) => {
                if id.is_some() {
                    self.to_host(Message::Error(ErrorResponse::new(id, e)))
                        .await;
                }
                return;
            }
        };
        match msg {
            Message::Request(req) => {
                if let Some(refusal) = self.refuse(&req) {
                    self.to_host(Message::Error(ErrorResponse::new(Some(req.id), refusal)))
                        .await;
                    return;
                }
                self.note_request(&req);
                self.opened(&req.id);
                let handshake = req.method == methods::INITIALIZE;
                if handshake {
                    self.handshake.send_replace(true);
                }
                let this = self.clone();
                let fut = async move {
                    if !handshake {
                        this.until_ready().await;
                    }
                    this.learn_before_call(&req).await;
                    let opts = this.send_options(&req);
                    this.forward_request(req, opts).await
                };
                match self.kind {
                    // One ordered byte stream: writing is quick and keeps the host's order.
                    TransportKind::Stream => fut.await,
                    // Each request is a POST that lasts until its answer: run them side by side.
                    TransportKind::Http => {
                        tokio::spawn(fut);
                    }
                }
            }
            Message::Notification(n) if n.method == methods::NOTIF_INITIALIZED => {
                self.until_ready().await;
                let r = self
                    .transport
                    .send(Message::Notification(n), SendOptions::default())
                    .await;
                if let Err(e) = r {
                    tracing::warn!(error = %e, "notifications/initialized was refused");
                }
                self.transport.session_ready();
                self.transport.open_event_stream();
            }
            other => {
                self.until_ready().await;
                if let Message::Notification(n) = &other {
                    if n.method == methods::NOTIF_CANCELLED {
                        // A cancelled request gets no answer: stop waiting for one.
                        let target = n.params.as_ref().and_then(|p| p.get("requestId"));
                        if let Some(id) = target.and_then(RequestId::from_value) {
                            self.answered(&id);
                        }
                    }
                }
                // Notifications (progress, cancellation, roots changed) and the host's answers to the
                // server's requests; nothing answers them, so a failure can only be logged.
                if let Err(e) = self.transport.send(other, SendOptions::default()).await {
                    tracing::warn!(error = %e, "a message to the server was lost");
                }
            }
        }
    }

    /// A request the bridge answers itself, with this error.
    fn refuse(&self, req: &Request) -> Option<ErrorObject> {
        if req.method != methods::TOOLS_CALL || self.filter.is_open() {
            return None;
        }
        let name = req
            .params
            .as_ref()
            .and_then(|p| p.get("name"))
            .and_then(Value::as_str)
            .unwrap_or_default();
        (!self.filter.permits(name)).then(|| {
            ErrorObject::invalid_params(format!("Unknown tool: {name} (hidden by mcp bridge)"))
        })
    }

    fn note_request(&self, req: &Request) {
        let mut s = self.state();
        let param = |k: &str| req.params.as_ref().and_then(|p| p.get(k)).cloned();
        match req.method.as_str() {
            methods::INITIALIZE => {
                s.init_params = req.params.clone();
                s.init_ids.insert(req.id.clone());
            }
            methods::TOOLS_LIST => {
                s.list_ids.insert(req.id.clone());
            }
            methods::RESOURCES_SUBSCRIBE => {
                if let Some(Value::String(uri)) = param("uri") {
                    s.subscriptions.insert(uri);
                }
            }
            methods::RESOURCES_UNSUBSCRIBE => {
                if let Some(Value::String(uri)) = param("uri") {
                    s.subscriptions.remove(&uri);
                }
            }
            methods::LOGGING_SET_LEVEL => s.log_level = req.params.clone(),
            _ => {}
        }
    }

    fn send_options(&self, req: &Request) -> SendOptions {
        let mut opts =
            SendOptions::default().reissue(SAFE_TO_REPEAT.contains(&req.method.as_str()));
        if req.method == methods::TOOLS_CALL {
            let params = req.params.as_ref();
            let name = params.and_then(|p| p.get("name")).and_then(Value::as_str);
            let args = params
                .and_then(|p| p.get("arguments"))
                .and_then(Value::as_object);
            if let (Some(name), Some(args)) = (name, args) {
                let s = self.state();
                for p in s.header_params.get(name).into_iter().flatten() {
                    if let Some(v) = args.get(&p.property).and_then(headers::param_value) {
                        opts.headers
                            .push((format!("{}{}", headers::PARAM_PREFIX, p.header), v));
                    }
                }
            }
        }
        opts
    }

    /// A 2026-07-28 call over HTTP to a tool the bridge has not seen listed (a host that cached its tool list,
    /// or called before the list came back): list the tools first, with the host's `_meta`, so the call
    /// carries the `Mcp-Param-*` headers the server checks.
    async fn learn_before_call(&self, req: &Request) {
        if req.method != methods::TOOLS_CALL || self.kind != TransportKind::Http {
            return;
        }
        let meta = req.meta().cloned();
        let modern = meta
            .as_ref()
            .and_then(|m| m.get(mcp_protocol::meta::PROTOCOL_VERSION))
            .and_then(Value::as_str)
            .and_then(|v| v.parse::<ProtocolVersion>().ok())
            .is_some_and(|v| v.era() == mcp_protocol::Era::Modern);
        let name = req
            .params
            .as_ref()
            .and_then(|p| p.get("name"))
            .and_then(Value::as_str)
            .unwrap_or_default();
        if !modern || self.state().known_tools.contains(name) {
            return;
        }
        let mut cursor: Option<Value> = None;
        // A bound on pages, against a server whose cursors never end.
        for _ in 0..32 {
            let mut params = serde_json::json!({ "_meta": meta.clone() });
            if let Some(c) = cursor.take() {
                params["cursor"] = c;
            }
            let Ok(Message::Response(r)) =
                self.own_request(methods::TOOLS_LIST, Some(params)).await
            else {
                return;
            };
            self.learn_tools(&r.result);
            match r.result.get("nextCursor") {
                Some(c) if !c.is_null() => cursor = Some(c.clone()),
                _ => return,
            }
        }
    }

    async fn forward_request(self: Arc<Self>, req: Request, opts: SendOptions) {
        let id = req.id.clone();
        let generation = self.transport.session().generation;
        let mut r = self
            .transport
            .send(Message::Request(req.clone()), opts.clone())
            .await
            .map_err(Failure::Client);
        if matches!(&r, Err(Failure::Client(e)) if e.kind() == ErrorKind::SessionExpired)
            && req.method != methods::INITIALIZE
        {
            r = match self.recover(generation).await {
                // The server never ran it: send it again in the new session.
                Ok(()) => self
                    .transport
                    .send(Message::Request(req), opts)
                    .await
                    .map_err(Failure::Client),
                Err(e) => Err(e),
            };
        }
        let Err(e) = r else {
            self.reached.store(true, Ordering::Relaxed);
            return;
        };
        let init = {
            let mut s = self.state();
            s.list_ids.remove(&id);
            s.init_ids.remove(&id)
        };
        if init {
            self.handshake.send_replace(false);
        }
        let (msg, refused) = match e {
            // The host cancelled it: no answer is expected.
            Failure::Client(e) if e.kind() == ErrorKind::Cancelled => {
                self.answered(&id);
                return;
            }
            Failure::Client(e) => {
                let refused = matches!(e.kind(), ErrorKind::Unauthorized | ErrorKind::Auth);
                (one_line(&CliError::from_client(e).to_string()), refused)
            }
            Failure::Recovery(m) => (m, false),
        };
        if refused {
            // The server answered: it wants a sign-in the bridge cannot do alone. The bridge stays up, so
            // that after `mcp login` (which the answer names) the host's next message goes through, and says
            // it on stderr too, where hosts keep their servers' logs.
            self.reached.store(true, Ordering::Relaxed);
            eprintln!("mcp: {}: {msg}", self.describe);
        } else if !self.reached.load(Ordering::Relaxed) {
            // Nothing ever came back: a host would wait for a server that is not there. Said before the
            // answer, so a bridge draining its last requests ends with this failure.
            let _ = self
                .fatal
                .try_send(CliError::Connect(format!("{}: {msg}", self.describe)));
        }
        self.to_host(Message::Error(ErrorResponse::new(
            Some(id.clone()),
            ErrorObject::internal(format!("mcp bridge: {msg}")),
        )))
        .await;
        self.answered(&id);
    }

    /// Legacy session recovery: re-run the host's `initialize`, then restore what the session held.
    /// Concurrent callers share one re-initialization.
    async fn recover(&self, sent_generation: u64) -> Result<(), Failure> {
        let _guard = self.recovery.lock().await;
        if self.transport.session().generation > sent_generation {
            return Ok(());
        }
        let Some(params) = self.state().init_params.clone() else {
            return Err(Failure::Recovery(
                "the session expired before the host initialized it".into(),
            ));
        };
        tracing::info!("the server's session expired; re-initializing");
        let reply = self.own_request(methods::INITIALIZE, Some(params)).await?;
        let Message::Response(r) = reply else {
            self.transport.session_lost();
            return Err(Failure::Recovery(
                "the session expired and the server refused a new one".into(),
            ));
        };
        self.note_version(&r.result);
        self.transport
            .send(
                Message::Notification(Notification::new(methods::NOTIF_INITIALIZED, None)),
                SendOptions::default(),
            )
            .await
            .map_err(Failure::Client)?;
        self.transport.session_ready();
        self.transport.open_event_stream();
        let (subs, level) = {
            let s = self.state();
            (s.subscriptions.clone(), s.log_level.clone())
        };
        if let Some(level) = level {
            let _ = self
                .own_request(methods::LOGGING_SET_LEVEL, Some(level))
                .await;
        }
        for uri in subs {
            let _ = self
                .own_request(
                    methods::RESOURCES_SUBSCRIBE,
                    Some(serde_json::json!({"uri": uri})),
                )
                .await;
        }
        Ok(())
    }

    /// A request of the bridge's own, answered to it rather than to the host.
    async fn own_request(&self, method: &str, params: Option<Value>) -> Result<Message, Failure> {
        let id = self.own_id();
        let (tx, rx) = oneshot::channel();
        self.state().own.insert(id.clone(), tx);
        let sent = self
            .transport
            .send(
                Message::Request(Request::new(id.clone(), method, params)),
                SendOptions::default(),
            )
            .await;
        let r = match sent {
            Ok(()) => match tokio::time::timeout(self.timeout, rx).await {
                Ok(Ok(m)) => Ok(m),
                _ => Err(Failure::Recovery(format!("no answer to {method}"))),
            },
            Err(e) => Err(Failure::Client(e)),
        };
        self.state().own.remove(&id);
        r
    }
}

/// Why a request of the host got no answer from the server.
enum Failure {
    Client(mcp_client::Error),
    Recovery(String),
}

fn is_own(id: &RequestId) -> bool {
    matches!(id, RequestId::String(s) if s.starts_with(OWN_ID_PREFIX))
}

async fn write_host<W: AsyncWrite + Unpin>(mut w: W, mut rx: mpsc::Receiver<Out>) {
    while let Some(o) = rx.recv().await {
        match o {
            Out::Msg(m) => {
                if mcp_rpc::framing::write_message(&mut w, &m).await.is_err() {
                    // The host is gone; reading stdin will end too.
                    return;
                }
            }
            Out::Flush(ack) => {
                let _ = w.flush().await;
                let _ = ack.send(());
            }
        }
    }
}

/// Run `mcp bridge`.
pub async fn run(args: &BridgeArgs, global: &Global) -> Result<(), CliError> {
    let (spec, words) = target::resolve(&args.target, global, &|k| std::env::var(k).ok())?;
    if let Some(w) = words.first() {
        return Err(CliError::Usage(format!(
            "bridge takes only the server (unexpected {w:?})"
        )));
    }
    let filter = ToolFilter::new(&args.allow_tools, &args.deny_tools);
    let transport = open(&spec, global).await?;
    bridge(
        transport,
        filter,
        spec.describe(),
        target::timeout(global)?,
        tokio::io::BufReader::new(stdin()),
        tokio::io::stdout(),
    )
    .await
}

/// Our stdin as an async reader, read on a thread of its own: tokio's stdin reads on the runtime's blocking
/// pool, and a read blocked there would keep the process alive after the bridge has ended (when the server
/// went away while the host still holds our stdin open).
fn stdin() -> tokio::io::DuplexStream {
    use std::io::Read;
    let (mut w, r) = tokio::io::duplex(64 * 1024);
    let rt = tokio::runtime::Handle::current();
    std::thread::spawn(move || {
        let mut input = std::io::stdin().lock();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match input.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    if rt.block_on(w.write_all(&buf[..n])).is_err() {
                        return;
                    }
                }
            }
        }
    });
    r
}

/// Forward between `input`/`output` (the host) and `transport` until either side ends.
pub(crate) async fn bridge<R, W>(
    transport: Arc<dyn Transport>,
    filter: ToolFilter,
    describe: String,
    timeout: Duration,
    input: R,
    output: W,
) -> Result<(), CliError>
where
    R: AsyncBufRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let (ev_tx, ev_rx) = mpsc::channel(64);
    transport
        .start(ev_tx)
        .await
        .map_err(|e| CliError::Connect(format!("{describe}: {}", CliError::from_client(e))))?;
    let (out_tx, out_rx) = mpsc::channel(256);
    let writer = tokio::spawn(write_host(output, out_rx));
    let (fatal_tx, mut fatal_rx) = mpsc::channel(1);
    let relay = Arc::new(Relay {
        kind: transport.kind(),
        transport: transport.clone(),
        out: out_tx.clone(),
        filter,
        state: Mutex::default(),
        recovery: tokio::sync::Mutex::new(()),
        next_id: AtomicU64::new(1),
        reached: AtomicBool::new(false),
        fatal: fatal_tx,
        timeout,
        describe: describe.clone(),
        open: tokio::sync::watch::Sender::new(0),
        handshake: tokio::sync::watch::Sender::new(false),
    });
    let mut pump = tokio::spawn(relay.clone().pump(ev_rx));
    let reader = relay.clone().read_host(input);
    let ended = |why: Result<Option<String>, tokio::task::JoinError>| {
        CliError::Connect(format!(
            "{describe}: the connection ended{}",
            why.ok()
                .flatten()
                .map(|w| format!(" ({})", one_line(&w)))
                .unwrap_or_default()
        ))
    };
    let result = tokio::select! {
        () = reader => Ok(()),
        why = &mut pump => Err(ended(why)),
        Some(e) = fatal_rx.recv() => Err(e),
    };
    // The host closed stdin: what it asked before is still answered (a host piping a script closes stdin
    // right after its last request), for at most the timeout.
    let result = match result {
        Ok(()) => {
            let mut open = relay.open.subscribe();
            tokio::select! {
                biased;
                Some(e) = fatal_rx.recv() => Err(e),
                why = &mut pump => Err(ended(why)),
                _ = open.wait_for(|n| *n == 0) => Ok(()),
                () = tokio::time::sleep(timeout) => Ok(()),
            }
        }
        e => e,
    };
    // Whatever was already answered reaches the host before we go.
    let (ack_tx, ack_rx) = oneshot::channel();
    if out_tx.send(Out::Flush(ack_tx)).await.is_ok() {
        let _ = tokio::time::timeout(Duration::from_secs(2), ack_rx).await;
    }
    let _ = tokio::time::timeout(Duration::from_secs(3), transport.close()).await;
    pump.abort();
    writer.abort();
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn deny_wins_over_allow_and_lists_are_filtered() {
        let f = ToolFilter::new(&["a".into(), "b".into()], &["b".into()]);
        assert!(f.permits("a") && !f.permits("b") && !f.permits("c"));
        let mut r =
            json!({"tools": [{"name": "a"}, {"name": "b"}, {"name": "c"}], "nextCursor": "x"});
        f.filter_list(&mut r);
        assert_eq!(r, json!({"tools": [{"name": "a"}], "nextCursor": "x"}));
        let open = ToolFilter::new(&[], &[]);
        assert!(open.is_open() && open.permits("anything"));
        let deny_only = ToolFilter::new(&[], &["x".into()]);
        assert!(deny_only.permits("y") && !deny_only.permits("x"));
    }
}
