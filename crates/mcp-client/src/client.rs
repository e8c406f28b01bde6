//! The client: era detection, requests with per-era metadata, the MRTR loop, legacy session recovery,
//! server→client requests, notifications, listen streams and the result cache.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock, RwLock, Weak};
use std::task::{Context, Poll};
use std::time::Duration;

use futures::Stream;
use mcp_protocol::types::{
    methods, CallToolResult, ClientCapabilities, CompleteParams, CompleteResult,
    CreateMessageParams, DiscoverResult, ElicitAction, ElicitRequestParams, ElicitResult,
    ElicitationCapability, GetPromptResult, Implementation, InitializeParams, InitializeResult,
    InputRequest, InputRequiredResult, InputResponse, ListPromptsResult,
    ListResourceTemplatesResult, ListResourcesResult, ListToolsResult, LoggingLevel,
    ProgressParams, Prompt, ReadResourceResult, Resource, ResourceTemplate, RootsCapability,
    SamplingCapability, ServerCapabilities, SubscriptionFilter, SubscriptionsAcknowledgedParams,
    Tool, ToolAnnotations, UnsupportedProtocolVersionData,
};
use mcp_protocol::{
    error_code, headers, meta, Era, ErrorObject, ErrorResponse, JsonObject, Message, Notification,
    ProtocolVersion, Request, RequestId, Response,
};
use mcp_rpc::rt::{self, JoinHandle};
use mcp_rpc::{Peer, RequestOptions, RpcError};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::cache::ResultCache;
use crate::handlers::{ElicitationHandler, RootsHandler, SamplingHandler};
use crate::transport::{SendOptions, Transport, TransportEvent, TransportKind};
use crate::{ClientError, ReissuePolicy, ReissueRequest, TransportError};

/// How the client chooses the protocol revision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum VersionMode {
    /// Probe with `server/discover` (modern); fall back to legacy `initialize` when the server does not speak
    /// the modern era. The default.
    #[default]
    Auto,
    /// Skip the probe: legacy `initialize` with 2025-11-25, accepting any older revision the server offers.
    Legacy,
    /// Speak exactly this revision, with no fallback.
    Pinned(ProtocolVersion),
}

/// Tunables of a client.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Time a request may go without any response or progress (default 60 s).
    pub request_timeout: Duration,
    /// Hard cap on one request, progress or not (default 10 minutes).
    pub max_request_time: Duration,
    /// Notifications a [`Subscription`] holds for the application (default 1024). When one more arrives
    /// while it is full, the subscription is ended (see [`Client::listen`]).
    pub subscription_buffer: usize,
    /// Most results the result cache holds (default 1024); the least recently used go first.
    pub cache_max_entries: usize,
    /// Most bytes (of JSON, roughly) the result cache holds (default 32 MiB); a larger result is not stored.
    pub cache_max_bytes: usize,
    /// How long the `server/discover` era probe waits before falling back to legacy (default 5 s).
    pub probe_timeout: Duration,
    /// Most `input_required` rounds one call may take (default 8).
    pub max_input_rounds: usize,
    /// Attempts to re-initialize an expired legacy session before giving up (default 3).
    pub recovery_attempts: u32,
    /// Delay before the second recovery attempt; doubles after each (default 200 ms).
    pub recovery_backoff: Duration,
    /// Reuse results the server marks cacheable (`ttlMs`/`cacheScope`, 2026-07-28; default true).
    pub cache: bool,
    /// Check `structuredContent` against the tool's `outputSchema` (default true).
    pub validate_structured_content: bool,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_secs(60),
            max_request_time: Duration::from_secs(600),
            subscription_buffer: 1024,
            cache_max_entries: 1024,
            cache_max_bytes: 32 * 1024 * 1024,
            probe_timeout: Duration::from_secs(5),
            max_input_rounds: 8,
            recovery_attempts: 3,
            recovery_backoff: Duration::from_millis(200),
            cache: true,
            validate_structured_content: true,
        }
    }
}

/// Options of one call.
#[derive(Debug, Clone, Default)]
pub struct CallOptions {
    /// Overrides [`ClientOptions::request_timeout`] for this call (each round of a multi-round call).
    pub timeout: Option<Duration>,
    /// Receives the call's progress notifications (a progress token is added to `_meta`). Bounded: when it is
    /// full a notification is dropped rather than queued or waited for (see [`mcp_rpc::RequestOptions::progress`]).
    pub progress: Option<mpsc::Sender<ProgressParams>>,
    /// Cancels the call (stdio: `notifications/cancelled`; HTTP: the request's stream is closed).
    pub cancel: Option<CancellationToken>,
}

/// Something the application may want to know about.
#[derive(Debug, Clone)]
pub enum ClientEvent {
    /// A notification from the server (logs, list changes, resource updates, …). Progress goes to the call
    /// that asked for it and listen notifications to their [`Subscription`].
    Notification(Notification),
    /// The legacy session expired and a new one was established; per-session state on the server (other than
    /// the subscriptions and log level the client restores) is gone.
    SessionRecovered {
        /// The session that expired.
        old_session_id: Option<String>,
        /// The new session.
        new_session_id: Option<String>,
        /// The server, as the new `initialize` described it.
        server_info: Implementation,
    },
    /// The legacy session expired and could not be re-established.
    SessionLost {
        /// The session that expired.
        session_id: Option<String>,
        /// Why recovery failed.
        reason: String,
    },
    /// The connection closed.
    Closed {
        /// Why, if known.
        reason: Option<String>,
    },
}

/// Builds a [`Client`]. Start with [`Client::builder`].
pub struct ClientBuilder {
    info: Implementation,
    capabilities: Option<ClientCapabilities>,
    elicitation: Option<Arc<dyn ElicitationHandler>>,
    sampling: Option<Arc<dyn SamplingHandler>>,
    roots: Option<Arc<dyn RootsHandler>>,
    mode: VersionMode,
    reissue: ReissuePolicy,
    options: ClientOptions,
}

impl std::fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("info", &self.info)
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

impl ClientBuilder {
    /// The client's name and version, sent to the server.
    pub fn client_info(mut self, info: Implementation) -> Self {
        self.info = info;
        self
    }
    /// The capabilities to declare. Capabilities for the handlers given are added when absent.
    pub fn capabilities(mut self, caps: ClientCapabilities) -> Self {
        self.capabilities = Some(caps);
        self
    }
    /// Answers elicitation (legacy requests and modern input requests).
    pub fn elicitation_handler(mut self, h: impl ElicitationHandler) -> Self {
        self.elicitation = Some(Arc::new(h));
        self
    }
    /// Answers sampling (legacy requests and modern input requests).
    pub fn sampling_handler(mut self, h: impl SamplingHandler) -> Self {
        self.sampling = Some(Arc::new(h));
        self
    }
    /// Answers roots (legacy requests and modern input requests).
    pub fn roots_handler(mut self, h: impl RootsHandler) -> Self {
        self.roots = Some(Arc::new(h));
        self
    }
    /// How to choose the protocol revision (default [`VersionMode::Auto`]).
    pub fn version_mode(mut self, mode: VersionMode) -> Self {
        self.mode = mode;
        self
    }
    /// Which 2026-07-28 requests are sent again when their HTTP reply stream breaks (default
    /// [`ReissuePolicy::Safe`]); the others fail with [`ClientError::OutcomeUnknown`].
    pub fn reissue_policy(mut self, policy: ReissuePolicy) -> Self {
        self.reissue = policy;
        self
    }
    /// Tunables.
    pub fn options(mut self, options: ClientOptions) -> Self {
        self.options = options;
        self
    }

    /// Connect over `transport`: detect the era and complete the handshake the era needs.
    pub async fn connect(self, transport: impl Transport) -> Result<Client, ClientError> {
        self.connect_shared(Arc::new(transport)).await
    }

    /// [`connect`](Self::connect) with a transport the caller keeps a handle to.
    pub async fn connect_shared(
        self,
        transport: Arc<dyn Transport>,
    ) -> Result<Client, ClientError> {
        let mut caps = self.capabilities.unwrap_or_default();
        if self.elicitation.is_some() && caps.elicitation.is_none() {
            caps.elicitation = Some(ElicitationCapability::default());
        }
        if self.sampling.is_some() && caps.sampling.is_none() {
            caps.sampling = Some(SamplingCapability::default());
        }
        if self.roots.is_some() && caps.roots.is_none() {
            caps.roots = Some(RootsCapability {
                list_changed: Some(true),
            });
        }
        let (ev_tx, ev_rx) = mpsc::channel(TRANSPORT_EVENTS);
        transport.start(ev_tx).await?;
        let (out_tx, out_rx) = mpsc::channel(256);
        let (events, _) = broadcast::channel(256);
        let kind = transport.kind();
        let cache = ResultCache::new(self.options.cache_max_entries, self.options.cache_max_bytes);
        let initial_version = match self.mode {
            VersionMode::Pinned(v) => v,
            VersionMode::Legacy => ProtocolVersion::LATEST_LEGACY,
            VersionMode::Auto => ProtocolVersion::LATEST,
        };
        let inner = Arc::new(Inner {
            transport: transport.clone(),
            kind,
            peer: Peer::new(out_tx),
            info: self.info,
            caps,
            elicitation: self.elicitation,
            sampling: self.sampling,
            roots: self.roots,
            mode: self.mode,
            reissue: self.reissue,
            opts: self.options,
            state: RwLock::new(ConnState {
                era: initial_version.era(),
                version: initial_version,
                requested_legacy: ProtocolVersion::LATEST_LEGACY,
                server_info: None,
                server_caps: ServerCapabilities::default(),
                instructions: None,
                log_level: None,
                subscriptions: BTreeSet::new(),
            }),
            tools: RwLock::new(HashMap::new()),
            cache,
            listens: Mutex::new(HashMap::new()),
            hints: Mutex::new(HashMap::new()),
            internal: Mutex::new(HashSet::new()),
            failures: Mutex::new(HashMap::new()),
            recovery: tokio::sync::Mutex::new(()),
            server_requests: Mutex::new(HashMap::new()),
            events,
            closed: CancellationToken::new(),
            disconnected: Default::default(),
            tasks: Mutex::new(Vec::new()),
        });
        let weak = Arc::downgrade(&inner);
        let writer = rt::spawn(writer_loop(out_rx, weak.clone(), transport, kind));
        let dispatcher = rt::spawn(dispatch_loop(ev_rx, weak));
        lock(&inner.tasks).extend([writer, dispatcher]);
        let client = Client { inner };
        if let Err(e) = client.inner.negotiate().await {
            client.close().await;
            return Err(e);
        }
        Ok(client)
    }
}

/// What the client keeps about one tool: the headers its arguments are mirrored into, its output schema, and
/// its annotations (whether a call may be re-issued).
struct ToolMeta {
    header_params: Vec<headers::HeaderParam>,
    annotations: Option<ToolAnnotations>,
    output_validator: Option<jsonschema::Validator>,
    has_output_schema: bool,
}

struct ConnState {
    era: Era,
    version: ProtocolVersion,
    requested_legacy: ProtocolVersion,
    server_info: Option<Implementation>,
    server_caps: ServerCapabilities,
    instructions: Option<String>,
    log_level: Option<LoggingLevel>,
    subscriptions: BTreeSet<String>,
}

struct Inner {
    transport: Arc<dyn Transport>,
    kind: TransportKind,
    peer: Peer,
    info: Implementation,
    caps: ClientCapabilities,
    elicitation: Option<Arc<dyn ElicitationHandler>>,
    sampling: Option<Arc<dyn SamplingHandler>>,
    roots: Option<Arc<dyn RootsHandler>>,
    mode: VersionMode,
    reissue: ReissuePolicy,
    opts: ClientOptions,
    state: RwLock<ConnState>,
    tools: RwLock<HashMap<String, Arc<ToolMeta>>>,
    cache: ResultCache,
    listens: Mutex<HashMap<RequestId, ListenRoute>>,
    hints: Mutex<HashMap<RequestId, SendOptions>>,
    /// Requests of session recovery itself: a refusal of these is not recovered (it would wait on itself).
    internal: Mutex<HashSet<RequestId>>,
    failures: Mutex<HashMap<RequestId, ClientError>>,
    recovery: tokio::sync::Mutex<()>,
    server_requests: Mutex<HashMap<RequestId, CancellationToken>>,
    events: broadcast::Sender<ClientEvent>,
    closed: CancellationToken,
    /// The server side closed the connection (stdio EOF).
    disconnected: std::sync::atomic::AtomicBool,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        let was_open = !self.closed.is_cancelled();
        self.closed.cancel();
        for t in lock(&self.tasks).drain(..) {
            t.abort();
        }
        // Dropped without `close()`: still shut down gracefully (DELETE the session, close the child's stdin
        // and wait for it), in the background. `kill_on_drop` remains the backstop if the runtime is gone.
        if was_open {
            let transport = self.transport.clone();
            rt::try_spawn(async move {
                let _ = transport.close().await;
            });
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn parse<T: DeserializeOwned>(v: Value) -> Result<T, ClientError> {
    serde_json::from_value(v).map_err(|e| ClientError::InvalidResult(e.to_string()))
}

/// Messages from the transport waiting for the dispatcher. The dispatcher never waits on the application,
/// so this only absorbs bursts; a transport that finds it full waits (and stops reading the connection).
const TRANSPORT_EVENTS: usize = 1024;

/// Where the dispatcher puts the notifications of one listen stream.
struct ListenRoute {
    tx: mpsc::Sender<Notification>,
    /// Ends the listen request.
    cancel: CancellationToken,
    /// Why the subscription ended, for [`Subscription::error`].
    end: Arc<OnceLock<ClientError>>,
}

/// A far-away deadline for requests that may legitimately run for a long time (listen streams).
const FOREVER: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// How many times one message is re-sent after its session expired.
const MAX_RESENDS: u32 = 2;

/// Per-request plumbing.
#[derive(Default, Clone)]
struct ReqCtx {
    call: CallOptions,
    hints: SendOptions,
    internal: bool,
    no_cancel_notice: bool,
}

// ---------------------------------------------------------------------------------------------------------
// Background tasks.

async fn writer_loop(
    mut rx: mpsc::Receiver<Message>,
    weak: Weak<Inner>,
    transport: Arc<dyn Transport>,
    kind: TransportKind,
) {
    while let Some(msg) = rx.recv().await {
        let opts = match (&msg, weak.upgrade()) {
            (Message::Request(r), Some(inner)) => {
                lock(&inner.hints).remove(&r.id).unwrap_or_default()
            }
            _ => SendOptions::default(),
        };
        let job = deliver(weak.clone(), transport.clone(), msg, opts);
        match kind {
            // One POST per message, concurrently: a long reply stream must not hold back other messages.
            TransportKind::Http => {
                rt::spawn(job);
            }
            // One ordered stream: write in order.
            TransportKind::Stream => job.await,
        }
    }
}

/// Hand one message to the transport; on session expiry, recover and re-send it.
async fn deliver(
    weak: Weak<Inner>,
    transport: Arc<dyn Transport>,
    msg: Message,
    opts: SendOptions,
) {
    let mut resends = 0;
    loop {
        let err = match transport.send(msg.clone(), opts.clone()).await {
            Ok(()) => return,
            Err(e) => e,
        };
        let Some(inner) = weak.upgrade() else { return };
        match err {
            TransportError::SessionExpired {
                session_id,
                generation,
            } => {
                let resendable = match &msg {
                    Message::Request(r) => !lock(&inner.internal).contains(&r.id),
                    Message::Notification(n) => {
                        n.method != methods::NOTIF_CANCELLED
                            && n.method != methods::NOTIF_INITIALIZED
                    }
                    // The server request this answers died with the session.
                    Message::Response(_) | Message::Error(_) => false,
                };
                if !resendable || resends >= MAX_RESENDS {
                    inner.fail_message(
                        &msg,
                        ClientError::SessionExpired {
                            session_id,
                            reason: "the server refused the message after its session expired"
                                .into(),
                        },
                    );
                    return;
                }
                resends += 1;
                // 404 means the message never ran: once a new session exists, send it again.
                if let Err(e) = inner.recover(session_id, generation).await {
                    inner.fail_message(&msg, e);
                    return;
                }
            }
            TransportError::Cancelled => return,
            TransportError::StreamBroken(reason) if inner.era() == Era::Modern => {
                // Not re-issued (or re-issued to no avail): the server may have run it.
                let method = msg.method().unwrap_or_default().to_owned();
                inner.fail_message(&msg, ClientError::OutcomeUnknown { method, reason });
                return;
            }
            other => {
                inner.fail_message(&msg, ClientError::Transport(other));
                return;
            }
        }
    }
}

async fn dispatch_loop(mut rx: mpsc::Receiver<TransportEvent>, weak: Weak<Inner>) {
    while let Some(ev) = rx.recv().await {
        let Some(inner) = weak.upgrade() else { return };
        match ev {
            TransportEvent::Message(m) => inner.on_message(m),
            TransportEvent::Closed(reason) => {
                if !inner.closed.is_cancelled() {
                    tracing::debug!(?reason, "connection closed by the server");
                    inner
                        .disconnected
                        .store(true, std::sync::atomic::Ordering::SeqCst);
                    inner.peer.close();
                    let _ = inner.events.send(ClientEvent::Closed { reason });
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------------------
// The core.

impl Inner {
    fn era(&self) -> Era {
        self.state.read().unwrap_or_else(|p| p.into_inner()).era
    }

    fn era_version(&self) -> (Era, ProtocolVersion) {
        let s = self.state.read().unwrap_or_else(|p| p.into_inner());
        (s.era, s.version)
    }

    fn state_mut(&self) -> std::sync::RwLockWriteGuard<'_, ConnState> {
        self.state.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Add the 2026-07-28 request metadata to `params._meta`.
    fn decorate(&self, params: Option<Value>, version: ProtocolVersion) -> Option<Value> {
        let mut obj = match params {
            Some(Value::Object(m)) => m,
            None => JsonObject::new(),
            Some(other) => return Some(other),
        };
        let log_level = self
            .state
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .log_level;
        let meta = obj
            .entry("_meta")
            .or_insert_with(|| Value::Object(JsonObject::new()));
        if let Value::Object(m) = meta {
            m.insert(meta::PROTOCOL_VERSION.into(), json!(version.as_str()));
            m.insert(
                meta::CLIENT_CAPABILITIES.into(),
                serde_json::to_value(&self.caps).unwrap_or_else(|_| json!({})),
            );
            m.insert(
                meta::CLIENT_INFO.into(),
                serde_json::to_value(&self.info).unwrap_or_default(),
            );
            if let Some(level) = log_level {
                m.insert(
                    meta::LOG_LEVEL.into(),
                    serde_json::to_value(level).unwrap_or_default(),
                );
            }
        }
        Some(Value::Object(obj))
    }

    fn rpc_options(&self, ctx: &ReqCtx) -> RequestOptions {
        let timeout = ctx.call.timeout.unwrap_or(self.opts.request_timeout);
        RequestOptions {
            timeout,
            max_total: self.opts.max_request_time.max(timeout),
            progress: ctx.call.progress.clone(),
            cancel: ctx.call.cancel.clone(),
            notify_cancel: !ctx.no_cancel_notice,
        }
    }

    /// Whether the transport may send this request again when its reply stream breaks (modern HTTP only:
    /// nothing else re-issues).
    fn may_reissue(&self, era: Era, method: &str, params: Option<&Value>) -> bool {
        if era != Era::Modern || self.kind != TransportKind::Http {
            return false;
        }
        let tool = (method == methods::TOOLS_CALL)
            .then(|| params?.get("name")?.as_str())
            .flatten()
            .and_then(|name| self.tool_meta(name));
        self.reissue.allows(&ReissueRequest {
            method,
            params,
            tool_annotations: tool.as_ref().and_then(|t| t.annotations.as_ref()),
        })
    }

    /// The outcome of a request, with transport failures recorded for its id put back in place.
    fn map_result(&self, id: &RequestId, r: Result<Value, RpcError>) -> Result<Value, ClientError> {
        let local = lock(&self.failures).remove(id);
        match r {
            Ok(v) => Ok(v),
            Err(RpcError::Remote(e)) => Err(local.unwrap_or(ClientError::Rpc(e))),
            Err(e) => Err(e.into()),
        }
    }

    /// Fail a pending request with a local error (the transport could not deliver it or its reply).
    fn fail_request(&self, id: &RequestId, err: ClientError) {
        let text = err.to_string();
        lock(&self.failures).insert(id.clone(), err);
        let placeholder = ErrorObject::new(error_code::INTERNAL_ERROR, text);
        if !self.peer.handle_response(Message::Error(ErrorResponse::new(
            Some(id.clone()),
            placeholder,
        ))) {
            lock(&self.failures).remove(id);
        }
    }

    fn fail_message(&self, msg: &Message, err: ClientError) {
        match msg {
            Message::Request(r) => self.fail_request(&r.id, err),
            other => {
                tracing::debug!(method = ?other.method(), error = %err, "could not send a message")
            }
        }
    }

    /// Send one request (retrying once with another version on -32022) and return its raw result.
    async fn request(
        &self,
        method: &str,
        params: Option<Value>,
        ctx: &ReqCtx,
    ) -> Result<Value, ClientError> {
        if self.closed.is_cancelled() || self.disconnected.load(std::sync::atomic::Ordering::SeqCst)
        {
            return Err(ClientError::Closed);
        }
        let mut version_retried = false;
        loop {
            let (era, version) = self.era_version();
            let p = match era {
                Era::Modern => self.decorate(params.clone(), version),
                Era::Legacy => params.clone(),
            };
            let id = self.peer.next_id();
            let mut hints = ctx.hints.clone();
            hints.reissue = self.may_reissue(era, method, p.as_ref());
            if !hints.headers.is_empty() || hints.reissue {
                lock(&self.hints).insert(id.clone(), hints);
            }
            if ctx.internal {
                lock(&self.internal).insert(id.clone());
            }
            let r = self
                .peer
                .request_with_id(id.clone(), method, p, self.rpc_options(ctx))
                .await;
            lock(&self.hints).remove(&id);
            lock(&self.internal).remove(&id);
            match self.map_result(&id, r) {
                Err(ClientError::Rpc(e))
                    if era == Era::Modern
                        && e.code == error_code::UNSUPPORTED_PROTOCOL_VERSION
                        && !version_retried =>
                {
                    match pick_modern(&e) {
                        Some(v) => {
                            tracing::debug!(version = %v, "server asked for another protocol version; retrying");
                            version_retried = true;
                            self.state_mut().version = v;
                        }
                        None => return Err(ClientError::Rpc(e)),
                    }
                }
                other => return other,
            }
        }
    }

    /// A request whose complete result may be cached (discover, lists).
    async fn cached_request(
        &self,
        method: &str,
        params: Option<Value>,
        key: &str,
    ) -> Result<Value, ClientError> {
        let cacheable = self.opts.cache && self.era() == Era::Modern;
        if cacheable {
            if let Some(v) = self
                .cache
                .get(method, key, self.transport.auth_context().as_deref())
            {
                return Ok(v);
            }
        }
        let v = self.request(method, params, &ReqCtx::default()).await?;
        check_complete(&v)?;
        if cacheable {
            self.cache
                .put(method, key, self.transport.auth_context().as_deref(), &v);
        }
        Ok(v)
    }

    /// Run a request that may answer `input_required` (modern): fulfil the input requests through the
    /// application's handlers and retry with a new id, the same params, `inputResponses` and `requestState`.
    /// Returns the complete result and how many input rounds it took.
    async fn run_mrtr(
        &self,
        method: &str,
        base: JsonObject,
        ctx: &ReqCtx,
    ) -> Result<(Value, usize), ClientError> {
        let mut params = base.clone();
        let mut rounds = 0;
        loop {
            let v = self
                .request(method, Some(Value::Object(params)), ctx)
                .await?;
            match v.get("resultType") {
                None => return Ok((v, rounds)),
                Some(Value::String(t)) if t == "complete" => return Ok((v, rounds)),
                Some(Value::String(t)) if t == "input_required" && self.era() == Era::Modern => {
                    rounds += 1;
                    if rounds > self.opts.max_input_rounds {
                        return Err(ClientError::Protocol(format!(
                            "{method} still needs input after {} rounds",
                            self.opts.max_input_rounds
                        )));
                    }
                    let ir: InputRequiredResult = parse(v)?;
                    let mut responses = JsonObject::new();
                    if let Some(reqs) = &ir.input_requests {
                        for (key, req) in reqs.iter() {
                            let answer = self.answer_input(req).await?;
                            responses.insert(
                                key.clone(),
                                serde_json::to_value(answer)
                                    .map_err(|e| ClientError::Protocol(e.to_string()))?,
                            );
                        }
                    }
                    params = base.clone();
                    if !responses.is_empty() {
                        params.insert("inputResponses".into(), Value::Object(responses));
                    }
                    // Echoed exactly, uninspected; omitted when the server gave none.
                    if let Some(state) = ir.request_state {
                        params.insert("requestState".into(), Value::String(state));
                    }
                }
                Some(other) => {
                    return Err(ClientError::InvalidResult(format!(
                        "unknown resultType {other} for {method}"
                    )))
                }
            }
        }
    }

    // ----- handlers ------------------------------------------------------------------------------------

    async fn answer_elicit(
        &self,
        params: ElicitRequestParams,
    ) -> Result<ElicitResult, ClientError> {
        let Some(h) = &self.elicitation else {
            return Err(ClientError::Protocol(
                "the server asked for elicitation but no elicitation handler is configured".into(),
            ));
        };
        let mut result = h
            .elicit(params.clone())
            .await
            .map_err(|e| ClientError::Protocol(format!("elicitation handler failed: {e}")))?;
        if result.action == ElicitAction::Accept {
            if let ElicitRequestParams::Form(form) = &params {
                // SEP-1034: fields the user left out take the schema's defaults.
                let content = result.content.get_or_insert_with(JsonObject::new);
                mcp_protocol::types::apply_schema_defaults(&form.requested_schema, content);
            }
        }
        Ok(result)
    }

    async fn answer_sample(
        &self,
        params: CreateMessageParams,
    ) -> Result<mcp_protocol::types::CreateMessageResult, ClientError> {
        let Some(h) = &self.sampling else {
            return Err(ClientError::Protocol(
                "the server asked for sampling but no sampling handler is configured".into(),
            ));
        };
        h.create_message(params)
            .await
            .map_err(|e| ClientError::Protocol(format!("sampling handler failed: {e}")))
    }

    async fn answer_roots(&self) -> Result<mcp_protocol::types::ListRootsResult, ClientError> {
        let Some(h) = &self.roots else {
            return Err(ClientError::Protocol(
                "the server asked for roots but no roots handler is configured".into(),
            ));
        };
        h.list_roots()
            .await
            .map_err(|e| ClientError::Protocol(format!("roots handler failed: {e}")))
    }

    async fn answer_input(&self, req: &InputRequest) -> Result<InputResponse, ClientError> {
        Ok(match req {
            InputRequest::Elicit(p) => InputResponse::Elicit(self.answer_elicit(p.clone()).await?),
            InputRequest::Sample(p) => InputResponse::Sample(self.answer_sample(p.clone()).await?),
            InputRequest::ListRoots(_) => InputResponse::ListRoots(self.answer_roots().await?),
        })
    }

    /// Answer a legacy server→client request.
    async fn answer_server_request(&self, req: &Request) -> Result<Value, ErrorObject> {
        fn params<T: DeserializeOwned>(req: &Request) -> Result<T, ErrorObject> {
            serde_json::from_value(req.params.clone().unwrap_or_else(|| json!({})))
                .map_err(ErrorObject::invalid_params)
        }
        fn local(e: ClientError) -> ErrorObject {
            match e {
                ClientError::Rpc(e) => e,
                other => ErrorObject::internal(other),
            }
        }
        let to_value = |v: Result<Value, serde_json::Error>| v.map_err(ErrorObject::internal);
        match req.method.as_str() {
            methods::PING => Ok(json!({})),
            methods::ELICITATION_CREATE if self.elicitation.is_some() => {
                let r = self.answer_elicit(params(req)?).await.map_err(local)?;
                to_value(serde_json::to_value(r))
            }
            methods::SAMPLING_CREATE_MESSAGE if self.sampling.is_some() => {
                let r = self.answer_sample(params(req)?).await.map_err(local)?;
                to_value(serde_json::to_value(r))
            }
            methods::ROOTS_LIST if self.roots.is_some() => {
                let r = self.answer_roots().await.map_err(local)?;
                to_value(serde_json::to_value(r))
            }
            other => Err(ErrorObject::method_not_found(other)),
        }
    }

    // ----- inbound -------------------------------------------------------------------------------------

    fn on_message(self: &Arc<Self>, m: Message) {
        match m {
            Message::Response(_) | Message::Error(_) => {
                if !self.peer.handle_response(m) {
                    tracing::debug!("ignoring a reply to a request no longer waiting");
                }
            }
            Message::Notification(n) => self.on_notification(n),
            Message::Request(r) => self.on_server_request(r),
        }
    }

    fn on_notification(&self, n: Notification) {
        if self.opts.cache {
            self.cache.on_notification(&n.method, n.params.as_ref());
        }
        match n.method.as_str() {
            methods::NOTIF_PROGRESS => {
                if let Some(p) = n
                    .params
                    .clone()
                    .and_then(|p| serde_json::from_value::<ProgressParams>(p).ok())
                {
                    if self.peer.handle_progress(&p) {
                        return;
                    }
                }
            }
            methods::NOTIF_CANCELLED => {
                // The server cancels a request it sent us: stop answering it.
                let id = n
                    .params
                    .as_ref()
                    .and_then(|p| p.get("requestId"))
                    .and_then(RequestId::from_value);
                if let Some(tok) = id.and_then(|id| lock(&self.server_requests).remove(&id)) {
                    tok.cancel();
                }
                return;
            }
            _ => {}
        }
        let sub = n
            .params
            .as_ref()
            .and_then(|p| p.get("_meta"))
            .and_then(|m| m.get(meta::SUBSCRIPTION_ID))
            .and_then(RequestId::from_value);
        if let Some(sub) = sub {
            let mut listens = lock(&self.listens);
            if let Some(route) = listens.get(&sub) {
                // Never wait here: this is the reader of every response. An application that does not read
                // its subscription loses it (with an error it can see) rather than stalling the connection.
                if let Err(mpsc::error::TrySendError::Full(n)) = route.tx.try_send(n) {
                    let buffer = self.opts.subscription_buffer.max(1);
                    tracing::warn!(
                        subscription = %sub,
                        buffer,
                        dropped = %n.method,
                        "the application does not read a subscription; ending it"
                    );
                    let _ = route.end.set(ClientError::SubscriptionOverflow { buffer });
                    route.cancel.cancel();
                    // Dropping the sender lets the subscription yield what it holds, then end.
                    listens.remove(&sub);
                }
                return;
            }
            tracing::debug!(subscription = %sub, method = %n.method, "notification for an unknown subscription");
            return;
        }
        let _ = self.events.send(ClientEvent::Notification(n));
    }

    fn on_server_request(self: &Arc<Self>, req: Request) {
        let token = CancellationToken::new();
        lock(&self.server_requests).insert(req.id.clone(), token.clone());
        let inner = self.clone();
        rt::spawn(async move {
            let outcome = tokio::select! {
                r = inner.answer_server_request(&req) => Some(r),
                _ = token.cancelled() => None,
            };
            lock(&inner.server_requests).remove(&req.id);
            let Some(outcome) = outcome else { return };
            let msg = match outcome {
                Ok(v) => Message::Response(Response::new(req.id, v)),
                Err(e) => Message::Error(ErrorResponse::new(Some(req.id), e)),
            };
            if let Err(e) = inner.peer.send(msg).await {
                tracing::debug!(error = %e, "could not answer a server request");
            }
        });
    }

    // ----- lifecycle -----------------------------------------------------------------------------------

    async fn negotiate(&self) -> Result<(), ClientError> {
        match self.mode {
            VersionMode::Legacy => {
                self.initialize(ProtocolVersion::LATEST_LEGACY, false, false)
                    .await?;
            }
            VersionMode::Pinned(v) if v.era() == Era::Legacy => {
                self.initialize(v, true, false).await?;
            }
            VersionMode::Pinned(v) => {
                self.set_modern(v);
                match self.discover_raw(self.opts.request_timeout).await {
                    Ok(v) => drop(self.absorb_discover(v)?),
                    Err(ClientError::Rpc(e))
                        if e.code != error_code::UNSUPPORTED_PROTOCOL_VERSION =>
                    {
                        tracing::warn!(error = %e, "server/discover failed; continuing without server capabilities")
                    }
                    Err(e) => return Err(e),
                }
            }
            VersionMode::Auto => {
                if self.probe().await? == Era::Legacy {
                    self.initialize(ProtocolVersion::LATEST_LEGACY, false, false)
                        .await?;
                }
            }
        }
        Ok(())
    }

    fn set_modern(&self, v: ProtocolVersion) {
        let mut s = self.state_mut();
        s.era = Era::Modern;
        s.version = v;
        drop(s);
        self.transport.set_legacy_version(None);
    }

    async fn discover_raw(&self, timeout: Duration) -> Result<Value, ClientError> {
        let ctx = ReqCtx {
            call: CallOptions {
                timeout: Some(timeout),
                ..Default::default()
            },
            no_cancel_notice: true,
            ..Default::default()
        };
        self.request(methods::DISCOVER, None, &ctx).await
    }

    fn absorb_discover(&self, v: Value) -> Result<DiscoverResult, ClientError> {
        check_complete(&v)?;
        if self.opts.cache {
            self.cache.put(
                methods::DISCOVER,
                "",
                self.transport.auth_context().as_deref(),
                &v,
            );
        }
        let d: DiscoverResult = parse(v)?;
        let mut s = self.state_mut();
        s.server_caps = d.capabilities.clone();
        s.instructions = d.instructions.clone();
        s.server_info = d.server_info();
        Ok(d)
    }

    /// The era probe: `server/discover`. A result or a modern error means modern; any other error, or no
    /// answer in time, means legacy.
    async fn probe(&self) -> Result<Era, ClientError> {
        self.set_modern(ProtocolVersion::LATEST);
        match self.discover_raw(self.opts.probe_timeout).await {
            Ok(v) => {
                self.absorb_discover(v)?;
                Ok(Era::Modern)
            }
            Err(ClientError::Rpc(e)) if e.code == error_code::UNSUPPORTED_PROTOCOL_VERSION => {
                // No modern version in common (the retry already tried one if there was).
                let legacy_offered = e
                    .data
                    .clone()
                    .and_then(|d| serde_json::from_value::<UnsupportedProtocolVersionData>(d).ok())
                    .is_some_and(|d| {
                        d.supported.iter().any(|v| {
                            v.parse::<ProtocolVersion>()
                                .is_ok_and(|v| v.era() == Era::Legacy)
                        })
                    });
                if legacy_offered {
                    Ok(Era::Legacy)
                } else {
                    Err(ClientError::Rpc(e))
                }
            }
            Err(ClientError::Rpc(e))
                if e.code == error_code::HEADER_MISMATCH
                    || e.code == error_code::MISSING_REQUIRED_CLIENT_CAPABILITY =>
            {
                tracing::warn!(error = %e, "server/discover failed with a modern error; staying on the modern era");
                Ok(Era::Modern)
            }
            Err(ClientError::Rpc(e)) => {
                tracing::debug!(error = %e, "server/discover refused; falling back to initialize");
                Ok(Era::Legacy)
            }
            Err(ClientError::Timeout(_)) => {
                tracing::debug!("server/discover timed out; falling back to initialize");
                Ok(Era::Legacy)
            }
            Err(ClientError::Transport(TransportError::Http { status, body }))
                if status == 401 || status == 403 =>
            {
                Err(ClientError::Transport(TransportError::Http {
                    status,
                    body,
                }))
            }
            Err(ClientError::Transport(
                e @ (TransportError::Http { .. } | TransportError::Protocol(_)),
            )) => {
                tracing::debug!(error = %e, "server/discover not understood; falling back to initialize");
                Ok(Era::Legacy)
            }
            Err(e) => Err(e),
        }
    }

    /// Legacy `initialize` + `notifications/initialized`; also opens the event stream. Returns the server.
    async fn initialize(
        &self,
        requested: ProtocolVersion,
        strict: bool,
        internal: bool,
    ) -> Result<Implementation, ClientError> {
        {
            let mut s = self.state_mut();
            s.era = Era::Legacy;
            s.requested_legacy = requested;
            if s.version.era() != Era::Legacy {
                s.version = requested;
            }
        }
        let params = InitializeParams {
            protocol_version: requested.as_str().to_owned(),
            capabilities: self.caps.clone(),
            client_info: self.info.clone(),
            meta: None,
        };
        let ctx = ReqCtx {
            internal,
            // `initialize` must not be cancelled.
            no_cancel_notice: true,
            ..Default::default()
        };
        let v = self
            .request(
                methods::INITIALIZE,
                Some(serde_json::to_value(params).unwrap_or_default()),
                &ctx,
            )
            .await?;
        let res: InitializeResult = parse(v)?;
        let version = match res.protocol_version.parse::<ProtocolVersion>() {
            Ok(v) if v.era() == Era::Legacy && (!strict || v == requested) => v,
            _ => {
                return Err(ClientError::Protocol(format!(
                    "the server chose protocol version {:?}, which this client does not accept",
                    res.protocol_version
                )))
            }
        };
        {
            let mut s = self.state_mut();
            s.version = version;
            s.server_info = Some(res.server_info.clone());
            s.server_caps = res.capabilities.clone();
            s.instructions = res.instructions.clone();
        }
        self.transport.set_legacy_version(Some(version));
        let initialized =
            Message::Notification(Notification::new(methods::NOTIF_INITIALIZED, None));
        self.transport
            .send(initialized, SendOptions::default())
            .await?;
        self.transport.session_ready();
        self.transport.open_event_stream();
        Ok(res.server_info)
    }

    /// Legacy session recovery, after a message carrying session generation `sent_generation` was refused.
    /// Concurrent callers share one re-initialization.
    async fn recover(&self, old: Option<String>, sent_generation: u64) -> Result<(), ClientError> {
        if self.era() != Era::Legacy {
            return Err(ClientError::SessionExpired {
                session_id: old,
                reason: "the server refused the request with 404 outside a legacy session".into(),
            });
        }
        let guard = self.recovery.lock().await;
        if self.transport.session().generation > sent_generation {
            // Someone re-initialized after this message was sent: it can go again as it is.
            return Ok(());
        }
        if self.closed.is_cancelled() {
            return Err(ClientError::Closed);
        }
        let (requested, strict) = {
            let s = self.state.read().unwrap_or_else(|p| p.into_inner());
            (
                s.requested_legacy,
                matches!(self.mode, VersionMode::Pinned(_)),
            )
        };
        let mut last_error = String::new();
        for attempt in 0..self.opts.recovery_attempts.max(1) {
            if attempt > 0 {
                let delay = self.opts.recovery_backoff * 2u32.saturating_pow(attempt - 1);
                rt::sleep(delay).await;
            }
            tracing::info!(old_session = ?old, attempt, "re-initializing the expired session");
            match self.initialize(requested, strict, true).await {
                Ok(server_info) => {
                    self.cache.clear();
                    self.restore_session_state().await;
                    drop(guard);
                    let new_session_id = self.transport.session().id;
                    let _ = self.events.send(ClientEvent::SessionRecovered {
                        old_session_id: old,
                        new_session_id,
                        server_info,
                    });
                    return Ok(());
                }
                Err(e) => {
                    tracing::warn!(error = %e, "re-initialization failed");
                    last_error = e.to_string();
                }
            }
        }
        self.transport.session_lost();
        let _ = self.events.send(ClientEvent::SessionLost {
            session_id: old.clone(),
            reason: last_error.clone(),
        });
        Err(ClientError::SessionExpired {
            session_id: old,
            reason: last_error,
        })
    }

    /// Re-subscribe the resources the application subscribed and restore its log level on a new session.
    async fn restore_session_state(&self) {
        let (subs, level) = {
            let s = self.state.read().unwrap_or_else(|p| p.into_inner());
            (s.subscriptions.clone(), s.log_level)
        };
        let ctx = ReqCtx {
            internal: true,
            ..Default::default()
        };
        for uri in subs {
            if let Err(e) = self
                .request(
                    methods::RESOURCES_SUBSCRIBE,
                    Some(json!({ "uri": uri })),
                    &ctx,
                )
                .await
            {
                tracing::warn!(%uri, error = %e, "could not restore a resource subscription");
            }
        }
        if let Some(level) = level {
            if let Err(e) = self
                .request(
                    methods::LOGGING_SET_LEVEL,
                    Some(json!({ "level": level })),
                    &ctx,
                )
                .await
            {
                tracing::warn!(error = %e, "could not restore the log level");
            }
        }
    }

    // ----- tools ---------------------------------------------------------------------------------------

    /// Learn a page of tools: their header annotations (dropping invalid ones on modern HTTP) and output schemas.
    fn absorb_tools(&self, tools: &mut Vec<Tool>) {
        let drop_invalid = self.kind == TransportKind::Http && self.era() == Era::Modern;
        let mut known = self.tools.write().unwrap_or_else(|p| p.into_inner());
        tools.retain(|t| {
            let header_params = match headers::header_params(&t.input_schema) {
                Ok(p) => p,
                Err(e) if drop_invalid => {
                    tracing::warn!(tool = %t.name, error = %e, "dropping a tool with invalid x-mcp-header annotations");
                    known.remove(&t.name);
                    return false;
                }
                Err(_) => Vec::new(),
            };
            let output_validator = t.output_schema.as_ref().and_then(|s| {
                jsonschema::validator_for(s)
                    .map_err(|e| {
                        tracing::warn!(tool = %t.name, error = %e, "cannot compile the tool's outputSchema; not validating its results")
                    })
                    .ok()
            });
            known.insert(
                t.name.clone(),
                Arc::new(ToolMeta {
                    header_params,
                    annotations: t.annotations.clone(),
                    has_output_schema: output_validator.is_some(),
                    output_validator,
                }),
            );
            true
        });
    }

    fn tool_meta(&self, name: &str) -> Option<Arc<ToolMeta>> {
        self.tools
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .cloned()
    }

    fn param_headers(meta: Option<&ToolMeta>, args: Option<&JsonObject>) -> SendOptions {
        let mut out = SendOptions::default();
        let (Some(meta), Some(args)) = (meta, args) else {
            return out;
        };
        for p in &meta.header_params {
            if let Some(v) = args.get(&p.property).and_then(headers::param_value) {
                out.headers
                    .push((format!("{}{}", headers::PARAM_PREFIX, p.header), v));
            }
        }
        out
    }

    fn validate_output(&self, name: &str, r: &CallToolResult) -> Result<(), ClientError> {
        if !self.opts.validate_structured_content || r.is_error() {
            return Ok(());
        }
        let Some(meta) = self.tool_meta(name) else {
            return Ok(());
        };
        let Some(validator) = &meta.output_validator else {
            return Ok(());
        };
        match &r.structured_content {
            Some(sc) => {
                let errors: Vec<String> = validator
                    .iter_errors(sc)
                    .take(3)
                    .map(|e| e.to_string())
                    .collect();
                if errors.is_empty() {
                    Ok(())
                } else {
                    Err(ClientError::InvalidResult(format!(
                        "structuredContent of {name} does not match its outputSchema: {}",
                        errors.join("; ")
                    )))
                }
            }
            None if meta.has_output_schema => Err(ClientError::InvalidResult(format!(
                "{name} has an outputSchema but returned no structuredContent"
            ))),
            None => Ok(()),
        }
    }
}

/// The newest modern version both sides speak, from a -32022 error's `data.supported`.
fn pick_modern(e: &ErrorObject) -> Option<ProtocolVersion> {
    let data: UnsupportedProtocolVersionData = serde_json::from_value(e.data.clone()?).ok()?;
    data.supported
        .iter()
        .filter_map(|v| v.parse::<ProtocolVersion>().ok())
        .filter(|v| v.era() == Era::Modern)
        .max()
}

/// A list or discover result must be complete.
fn check_complete(v: &Value) -> Result<(), ClientError> {
    match v.get("resultType") {
        None => Ok(()),
        Some(Value::String(t)) if t == "complete" => Ok(()),
        Some(other) => Err(ClientError::InvalidResult(format!(
            "unexpected resultType {other}"
        ))),
    }
}

// ---------------------------------------------------------------------------------------------------------
// The public handle.

/// An MCP client connected to one server, speaking whichever era the server does.
///
/// Cheap to clone; clones share the connection. Build one with [`Client::builder`], then [`ClientBuilder::connect`]
/// it over a [`Transport`](crate::transport::Transport).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use mcp_client::{Client, transport::StreamTransport};
/// use mcp_protocol::{Era, types::{CallToolResult, Implementation}};
///
/// // A server on the other end of an in-memory pipe (any MCP server works the same over stdio or HTTP).
/// let server = mcp_server::Server::builder("demo", "1.0.0")
///     .typed_tool("shout", "Upper-cases text", |_ctx, args: serde_json::Value| async move {
///         Ok::<_, mcp_server::Error>(args["text"].as_str().unwrap_or_default().to_uppercase())
///     })
///     .build();
/// let (client_io, server_io) = tokio::io::duplex(64 * 1024);
/// let (r, w) = tokio::io::split(server_io);
/// tokio::spawn(mcp_server::serve_connection(server, tokio::io::BufReader::new(r), w, Default::default()));
///
/// let client = Client::builder()
///     .client_info(Implementation::new("example", "0.1.0"))
///     .connect(StreamTransport::from_duplex(client_io))
///     .await?;
/// assert_eq!(client.era(), Era::Modern); // the server answered `server/discover`
/// let tools = client.list_all_tools().await?;
/// assert_eq!(tools[0].name, "shout");
/// let result: CallToolResult = client.call_tool("shout", serde_json::json!({"text": "hi"})).await?;
/// assert_eq!(result.text_content(), "HI");
/// client.close().await;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (era, version) = self.inner.era_version();
        f.debug_struct("Client")
            .field("era", &era)
            .field("version", &version)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Start building a client.
    pub fn builder() -> ClientBuilder {
        ClientBuilder {
            info: Implementation::new("mcp-rs-client", env!("CARGO_PKG_VERSION")),
            capabilities: None,
            elicitation: None,
            sampling: None,
            roots: None,
            mode: VersionMode::Auto,
            reissue: ReissuePolicy::default(),
            options: ClientOptions::default(),
        }
    }

    // ----- accessors -----------------------------------------------------------------------------------

    /// The era in use.
    pub fn era(&self) -> Era {
        self.inner.era()
    }
    /// The protocol revision in use (negotiated on legacy, sent with every request on modern).
    pub fn protocol_version(&self) -> ProtocolVersion {
        self.inner.era_version().1
    }
    /// The server's self-description (from `initialize`, or `server/discover`'s `_meta`).
    pub fn server_info(&self) -> Option<Implementation> {
        self.inner
            .state
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .server_info
            .clone()
    }
    /// What the server offers.
    pub fn server_capabilities(&self) -> ServerCapabilities {
        self.inner
            .state
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .server_caps
            .clone()
    }
    /// The server's instructions for the model, if any.
    pub fn instructions(&self) -> Option<String> {
        self.inner
            .state
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .instructions
            .clone()
    }
    /// The capabilities this client declares.
    pub fn capabilities(&self) -> &ClientCapabilities {
        &self.inner.caps
    }
    /// The legacy HTTP session id, if there is one.
    pub fn session_id(&self) -> Option<String> {
        self.inner.transport.session().id
    }
    /// Notifications and connection events. Each receiver sees what happens after it subscribed.
    pub fn events(&self) -> broadcast::Receiver<ClientEvent> {
        self.inner.events.subscribe()
    }

    // ----- generic --------------------------------------------------------------------------------------

    /// Send any request and return its raw result (modern metadata is added; no MRTR loop, no cache).
    pub async fn request(&self, method: &str, params: Option<Value>) -> Result<Value, ClientError> {
        self.inner.request(method, params, &ReqCtx::default()).await
    }

    /// Send a notification.
    pub async fn notify(&self, method: &str, params: Option<Value>) -> Result<(), ClientError> {
        self.inner
            .peer
            .notify(method, params)
            .await
            .map_err(ClientError::from)
    }

    /// `server/discover` (2026-07-28), cached per its `ttlMs`.
    pub async fn discover(&self) -> Result<DiscoverResult, ClientError> {
        if self.era() != Era::Modern {
            return Err(ClientError::Unsupported(
                "server/discover is a 2026-07-28 method",
            ));
        }
        let v = self
            .inner
            .cached_request(methods::DISCOVER, None, "")
            .await?;
        self.inner.absorb_discover(v)
    }

    /// `ping` (legacy era only; the modern era removed it).
    pub async fn ping(&self) -> Result<(), ClientError> {
        if self.era() != Era::Legacy {
            return Err(ClientError::Unsupported("ping was removed in 2026-07-28"));
        }
        self.inner
            .request(methods::PING, None, &ReqCtx::default())
            .await
            .map(drop)
    }

    // ----- tools ---------------------------------------------------------------------------------------

    /// One page of `tools/list`. On modern HTTP, tools with invalid `x-mcp-header` annotations are dropped
    /// (with a warning), as the spec requires.
    pub async fn list_tools(&self, cursor: Option<String>) -> Result<ListToolsResult, ClientError> {
        let key = cursor.clone().unwrap_or_default();
        let params = cursor.map(|c| json!({ "cursor": c }));
        let v = self
            .inner
            .cached_request(methods::TOOLS_LIST, params, &key)
            .await?;
        let mut r: ListToolsResult = parse(v)?;
        self.inner.absorb_tools(&mut r.tools);
        Ok(r)
    }

    /// Every tool, following `nextCursor` to the end.
    pub async fn list_all_tools(&self) -> Result<Vec<Tool>, ClientError> {
        self.paginate(|c| async move {
            let r = self.list_tools(c).await?;
            Ok((r.tools, r.next_cursor))
        })
        .await
    }

    /// Call a tool with arguments (a JSON object, or `null` for none).
    ///
    /// On the modern era this runs the multi round-trip loop: when the server answers `input_required`, the
    /// configured handlers answer each input request and the call is retried (new id, same arguments,
    /// `inputResponses`, and `requestState` echoed exactly), up to [`ClientOptions::max_input_rounds`]. On the
    /// legacy era the server asks through real requests instead, answered by the same handlers.
    ///
    /// `structuredContent` is checked against the tool's `outputSchema` when the tool was listed.
    pub async fn call_tool(
        &self,
        name: &str,
        arguments: Value,
    ) -> Result<CallToolResult, ClientError> {
        self.call_tool_with(name, arguments, CallOptions::default())
            .await
    }

    /// [`call_tool`](Self::call_tool) with a timeout, progress and cancellation.
    pub async fn call_tool_with(
        &self,
        name: &str,
        arguments: Value,
        options: CallOptions,
    ) -> Result<CallToolResult, ClientError> {
        let args = match arguments {
            Value::Null => None,
            Value::Object(m) => Some(m),
            _ => {
                return Err(ClientError::Protocol(
                    "tool arguments must be a JSON object".into(),
                ))
            }
        };
        let modern_http = self.inner.kind == TransportKind::Http && self.era() == Era::Modern;
        if modern_http && self.inner.tool_meta(name).is_none() {
            // The x-mcp-header annotations decide which headers to send: learn them first.
            if let Err(e) = self.list_all_tools().await {
                tracing::debug!(error = %e, "could not list tools before calling one");
            }
        }
        let mut relisted = false;
        loop {
            let meta = self.inner.tool_meta(name);
            let hints = if modern_http {
                Inner::param_headers(meta.as_deref(), args.as_ref())
            } else {
                SendOptions::default()
            };
            let mut base = JsonObject::new();
            base.insert("name".into(), Value::String(name.to_owned()));
            if let Some(a) = &args {
                base.insert("arguments".into(), Value::Object(a.clone()));
            }
            let ctx = ReqCtx {
                call: options.clone(),
                hints,
                ..Default::default()
            };
            match self.inner.run_mrtr(methods::TOOLS_CALL, base, &ctx).await {
                Err(ClientError::Rpc(e)) if e.code == error_code::HEADER_MISMATCH && !relisted => {
                    // Our idea of the tool's headers is stale: re-list and retry once.
                    relisted = true;
                    self.inner.cache.invalidate_method(methods::TOOLS_LIST);
                    self.list_all_tools().await?;
                }
                Err(e) => return Err(e),
                Ok((v, _)) => {
                    let r: CallToolResult = parse(v)?;
                    self.inner.validate_output(name, &r)?;
                    return Ok(r);
                }
            }
        }
    }

    // ----- resources -----------------------------------------------------------------------------------

    /// One page of `resources/list`.
    pub async fn list_resources(
        &self,
        cursor: Option<String>,
    ) -> Result<ListResourcesResult, ClientError> {
        let key = cursor.clone().unwrap_or_default();
        let params = cursor.map(|c| json!({ "cursor": c }));
        parse(
            self.inner
                .cached_request(methods::RESOURCES_LIST, params, &key)
                .await?,
        )
    }

    /// Every resource, following `nextCursor` to the end.
    pub async fn list_all_resources(&self) -> Result<Vec<Resource>, ClientError> {
        self.paginate(|c| async move {
            let r = self.list_resources(c).await?;
            Ok((r.resources, r.next_cursor))
        })
        .await
    }

    /// One page of `resources/templates/list`.
    pub async fn list_resource_templates(
        &self,
        cursor: Option<String>,
    ) -> Result<ListResourceTemplatesResult, ClientError> {
        let key = cursor.clone().unwrap_or_default();
        let params = cursor.map(|c| json!({ "cursor": c }));
        parse(
            self.inner
                .cached_request(methods::RESOURCES_TEMPLATES_LIST, params, &key)
                .await?,
        )
    }

    /// Every resource template, following `nextCursor` to the end.
    pub async fn list_all_resource_templates(&self) -> Result<Vec<ResourceTemplate>, ClientError> {
        self.paginate(|c| async move {
            let r = self.list_resource_templates(c).await?;
            Ok((r.resource_templates, r.next_cursor))
        })
        .await
    }

    /// `resources/read` (runs the MRTR loop on the modern era; a single-round result is cached per its `ttlMs`).
    pub async fn read_resource(&self, uri: &str) -> Result<ReadResourceResult, ClientError> {
        self.read_resource_with(uri, CallOptions::default()).await
    }

    /// [`read_resource`](Self::read_resource) with a timeout, progress and cancellation.
    pub async fn read_resource_with(
        &self,
        uri: &str,
        options: CallOptions,
    ) -> Result<ReadResourceResult, ClientError> {
        let inner = &self.inner;
        let cacheable = inner.opts.cache && inner.era() == Era::Modern;
        let auth = inner.transport.auth_context();
        if cacheable {
            if let Some(v) = inner
                .cache
                .get(methods::RESOURCES_READ, uri, auth.as_deref())
            {
                return parse(v);
            }
        }
        let mut base = JsonObject::new();
        base.insert("uri".into(), Value::String(uri.to_owned()));
        let ctx = ReqCtx {
            call: options,
            ..Default::default()
        };
        let (v, rounds) = inner.run_mrtr(methods::RESOURCES_READ, base, &ctx).await?;
        // A result that needed input rounds is never cached.
        if cacheable && rounds == 0 {
            inner.cache.put(
                methods::RESOURCES_READ,
                uri,
                inner.transport.auth_context().as_deref(),
                &v,
            );
        }
        parse(v)
    }

    /// `resources/subscribe` (legacy). The subscription is restored after session recovery.
    pub async fn subscribe_resource(&self, uri: &str) -> Result<(), ClientError> {
        if self.era() != Era::Legacy {
            return Err(ClientError::Unsupported(
                "resources/subscribe was replaced by subscriptions/listen in 2026-07-28; use Client::listen",
            ));
        }
        self.inner
            .request(
                methods::RESOURCES_SUBSCRIBE,
                Some(json!({ "uri": uri })),
                &ReqCtx::default(),
            )
            .await?;
        self.inner.state_mut().subscriptions.insert(uri.to_owned());
        Ok(())
    }

    /// `resources/unsubscribe` (legacy).
    pub async fn unsubscribe_resource(&self, uri: &str) -> Result<(), ClientError> {
        if self.era() != Era::Legacy {
            return Err(ClientError::Unsupported(
                "resources/unsubscribe was removed in 2026-07-28",
            ));
        }
        self.inner.state_mut().subscriptions.remove(uri);
        self.inner
            .request(
                methods::RESOURCES_UNSUBSCRIBE,
                Some(json!({ "uri": uri })),
                &ReqCtx::default(),
            )
            .await
            .map(drop)
    }

    // ----- prompts -------------------------------------------------------------------------------------

    /// One page of `prompts/list`.
    pub async fn list_prompts(
        &self,
        cursor: Option<String>,
    ) -> Result<ListPromptsResult, ClientError> {
        let key = cursor.clone().unwrap_or_default();
        let params = cursor.map(|c| json!({ "cursor": c }));
        parse(
            self.inner
                .cached_request(methods::PROMPTS_LIST, params, &key)
                .await?,
        )
    }

    /// Every prompt, following `nextCursor` to the end.
    pub async fn list_all_prompts(&self) -> Result<Vec<Prompt>, ClientError> {
        self.paginate(|c| async move {
            let r = self.list_prompts(c).await?;
            Ok((r.prompts, r.next_cursor))
        })
        .await
    }

    /// `prompts/get` (runs the MRTR loop on the modern era).
    pub async fn get_prompt(
        &self,
        name: &str,
        arguments: Option<BTreeMap<String, String>>,
    ) -> Result<GetPromptResult, ClientError> {
        let mut base = JsonObject::new();
        base.insert("name".into(), Value::String(name.to_owned()));
        if let Some(a) = arguments {
            base.insert(
                "arguments".into(),
                serde_json::to_value(a).unwrap_or_default(),
            );
        }
        let (v, _) = self
            .inner
            .run_mrtr(methods::PROMPTS_GET, base, &ReqCtx::default())
            .await?;
        parse(v)
    }

    // ----- completion and logging -------------------------------------------------------------------

    /// `completion/complete`.
    pub async fn complete(&self, params: CompleteParams) -> Result<CompleteResult, ClientError> {
        let p = serde_json::to_value(params).map_err(|e| ClientError::Protocol(e.to_string()))?;
        parse(
            self.inner
                .request(methods::COMPLETION_COMPLETE, Some(p), &ReqCtx::default())
                .await?,
        )
    }

    /// Set the minimum log level: `logging/setLevel` on the legacy era (restored after session recovery);
    /// on the modern era it is sent as `_meta.logLevel` with every later request.
    pub async fn set_log_level(&self, level: LoggingLevel) -> Result<(), ClientError> {
        if self.era() == Era::Legacy {
            self.inner
                .request(
                    methods::LOGGING_SET_LEVEL,
                    Some(json!({ "level": level })),
                    &ReqCtx::default(),
                )
                .await?;
        }
        self.inner.state_mut().log_level = Some(level);
        Ok(())
    }

    /// Tell a legacy server that the client's roots changed.
    pub async fn notify_roots_list_changed(&self) -> Result<(), ClientError> {
        if self.era() != Era::Legacy {
            return Err(ClientError::Unsupported(
                "notifications/roots/list_changed was removed in 2026-07-28",
            ));
        }
        self.notify(methods::NOTIF_ROOTS_LIST_CHANGED, None).await
    }

    // ----- listen -------------------------------------------------------------------------------------

    /// Open a `subscriptions/listen` stream (2026-07-28) and wait for the server's acknowledgement.
    ///
    /// The returned [`Subscription`] yields the notifications tagged with its id (demultiplexed from any
    /// other traffic); dropping it closes the stream (HTTP) or sends `notifications/cancelled` (stdio).
    ///
    /// - The acknowledgement must come within [`ClientOptions::request_timeout`], else this fails with
    ///   [`ClientError::Timeout`] and the stream is closed. After it the stream is open-ended.
    /// - The subscription holds at most [`ClientOptions::subscription_buffer`] unread notifications. One more
    ///   ends it: the listen stream is closed, the subscription yields what it holds and then `None`, and
    ///   [`Subscription::error`] is [`ClientError::SubscriptionOverflow`] (with a warning in the log). It is
    ///   never left to block the connection (every other request's replies come through the same reader) nor
    ///   to grow without bound; and ending it, rather than silently dropping notifications, tells the
    ///   application that what it knows may be stale (listen again and re-read).
    pub async fn listen(&self, filter: SubscriptionFilter) -> Result<Subscription, ClientError> {
        let inner = self.inner.clone();
        let (era, version) = inner.era_version();
        if era != Era::Modern {
            return Err(ClientError::Unsupported(
                "subscriptions/listen is a 2026-07-28 method; legacy servers push notifications (see Client::events)",
            ));
        }
        let id = inner.peer.next_id();
        let (tx, mut rx) = mpsc::channel(inner.opts.subscription_buffer.max(1));
        let cancel = CancellationToken::new();
        let end = Arc::new(OnceLock::new());
        lock(&inner.listens).insert(
            id.clone(),
            ListenRoute {
                tx,
                cancel: cancel.clone(),
                end: end.clone(),
            },
        );
        let params = inner.decorate(Some(json!({ "notifications": filter })), version);
        if inner.may_reissue(era, methods::SUBSCRIPTIONS_LISTEN, params.as_ref()) {
            let hints = SendOptions {
                reissue: true,
                ..Default::default()
            };
            lock(&inner.hints).insert(id.clone(), hints);
        }
        let (done_tx, done_rx) = oneshot::channel();
        let opts = RequestOptions {
            timeout: FOREVER,
            max_total: FOREVER,
            progress: None,
            cancel: Some(cancel.clone()),
            notify_cancel: true,
        };
        let task = {
            let inner = inner.clone();
            let id = id.clone();
            let end = end.clone();
            rt::spawn(async move {
                let r = inner
                    .peer
                    .request_with_id(id.clone(), methods::SUBSCRIPTIONS_LISTEN, params, opts)
                    .await;
                let r = inner.map_result(&id, r);
                if let Err(e) = &r {
                    // Before the route goes: the subscription ends when it does, and then says why.
                    let _ = end.set(e.clone());
                }
                lock(&inner.listens).remove(&id);
                lock(&inner.hints).remove(&id);
                let _ = done_tx.send(r);
            })
        };
        let mut guard = CancelOnDrop(Some(cancel.clone()));
        let ack_timeout = inner.opts.request_timeout;
        let first = rt::timeout(ack_timeout, rx.recv())
            .await
            .map_err(|_| ClientError::Timeout(ack_timeout))?;
        let acknowledged = match first {
            Some(n) if n.method == methods::NOTIF_SUBSCRIPTIONS_ACKNOWLEDGED => n
                .params
                .and_then(|p| serde_json::from_value::<SubscriptionsAcknowledgedParams>(p).ok())
                .map(|p| p.notifications)
                .unwrap_or_default(),
            Some(n) => {
                return Err(ClientError::Protocol(format!(
                    "the listen stream began with {} instead of an acknowledgement",
                    n.method
                )))
            }
            None => {
                return match done_rx.await {
                    Ok(Err(e)) => Err(e),
                    _ => Err(ClientError::Protocol(
                        "the listen stream ended before it was acknowledged".into(),
                    )),
                }
            }
        };
        guard.0 = None;
        Ok(Subscription {
            id,
            acknowledged,
            rx,
            cancel,
            end,
            _task: task,
        })
    }

    // ----- lifecycle -----------------------------------------------------------------------------------

    /// Close the connection: end the legacy session (HTTP DELETE) or stop the child process. Pending requests
    /// fail with [`ClientError::Closed`].
    pub async fn close(&self) {
        let inner = &self.inner;
        if inner.closed.is_cancelled() {
            return;
        }
        inner.closed.cancel();
        if let Err(e) = inner.transport.close().await {
            tracing::debug!(error = %e, "closing the transport failed");
        }
        inner.peer.close();
        for t in lock(&inner.tasks).drain(..) {
            t.abort();
        }
        let _ = inner.events.send(ClientEvent::Closed { reason: None });
    }

    async fn paginate<T, F, Fut>(&self, page: F) -> Result<Vec<T>, ClientError>
    where
        F: Fn(Option<String>) -> Fut,
        Fut: std::future::Future<Output = Result<(Vec<T>, Option<String>), ClientError>>,
    {
        let legacy = self.era() == Era::Legacy;
        let mut out = Vec::new();
        let mut cursor = None;
        let mut seen = HashSet::new();
        loop {
            let (items, next) = page(cursor).await?;
            out.extend(items);
            match next {
                // Legacy servers sometimes mark the end with an empty cursor; on 2026-07-28 "" is a cursor.
                Some(c) if legacy && c.is_empty() => return Ok(out),
                Some(c) => {
                    if !seen.insert(c.clone()) {
                        return Err(ClientError::Protocol(format!(
                            "the server returned cursor {c:?} twice; stopping pagination"
                        )));
                    }
                    cursor = Some(c);
                }
                None => return Ok(out),
            }
        }
    }
}

/// Cancels the token when dropped, unless disarmed (set to `None`).
struct CancelOnDrop(Option<CancellationToken>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if let Some(t) = &self.0 {
            t.cancel();
        }
    }
}

/// A `subscriptions/listen` stream: the notifications the server sends for it, in order.
///
/// Dropping it (or [`Subscription::close`]) ends the subscription.
pub struct Subscription {
    id: RequestId,
    acknowledged: SubscriptionFilter,
    rx: mpsc::Receiver<Notification>,
    cancel: CancellationToken,
    end: Arc<OnceLock<ClientError>>,
    _task: JoinHandle<()>,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("id", &self.id)
            .field("acknowledged", &self.acknowledged)
            .finish_non_exhaustive()
    }
}

impl Subscription {
    /// The subscription id (the listen request's id).
    pub fn id(&self) -> &RequestId {
        &self.id
    }
    /// What the server agreed to send (a subset of what was asked).
    pub fn acknowledged(&self) -> &SubscriptionFilter {
        &self.acknowledged
    }
    /// The next notification, or `None` when the stream ended.
    pub async fn next(&mut self) -> Option<Notification> {
        futures::StreamExt::next(self).await
    }
    /// End the subscription.
    pub fn close(self) {
        drop(self)
    }
    /// Why the subscription ended, once it has ended with an error: [`ClientError::SubscriptionOverflow`]
    /// when the application did not keep up, or the listen request's failure (the connection closed, …).
    /// `None` while it runs, and after the server ended it normally.
    ///
    /// ```no_run
    /// # async fn run(client: mcp_client::Client) -> Result<(), mcp_client::ClientError> {
    /// let mut sub = client.listen(Default::default()).await?;
    /// while let Some(n) = sub.next().await {
    ///     println!("{}", n.method);
    /// }
    /// if let Some(e) = sub.error() {
    ///     eprintln!("the subscription ended: {e}; listening again");
    /// }
    /// # Ok(()) }
    /// ```
    pub fn error(&self) -> Option<&ClientError> {
        self.end.get()
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

impl Stream for Subscription {
    type Item = Notification;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Notification>> {
        loop {
            match self.rx.poll_recv(cx) {
                // A re-issued listen is acknowledged again; that is not news for the application.
                Poll::Ready(Some(n)) if n.method == methods::NOTIF_SUBSCRIPTIONS_ACKNOWLEDGED => {
                    continue
                }
                other => return other,
            }
        }
    }
}
