//! Streamable HTTP: one endpoint serving every revision, as a [`tower::Service`] over [`http::Request`].
//!
//! Mount [`McpService`] as an axum route, in a hyper server, or behind any tower stack; or call [`serve`] to
//! bind one (127.0.0.1 by default, with `TCP_NODELAY`).
//!
//! Each POST is told apart by era: a request whose `_meta` names a protocol version, or that carries a modern
//! `MCP-Protocol-Version` header and no session, is served statelessly (2026-07-28); everything else is the
//! legacy session protocol (`initialize`, `Mcp-Session-Id`, GET stream, DELETE).
//!
//! ```no_run
//! # async fn run() -> std::io::Result<()> {
//! use mcp_server::{Server, http::{HttpConfig, serve}};
//! let server = Server::builder("demo", "1.0.0").build();
//! serve(server, HttpConfig::default(), "127.0.0.1:3000".parse().unwrap()).await
//! # }
//! ```

mod body;
mod bus;
mod legacy;
mod limits;
mod modern;
mod old_sse;
mod respond;
mod security;
mod serve;
mod session;
mod sse;

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, Method, Response, StatusCode};
use mcp_protocol::headers as mcp_headers;
use mcp_protocol::{error_code, ErrorObject, ErrorResponse, Message, RequestId};
use mcp_rpc::Admission;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use limits::read_body;

pub use body::McpBody;
pub use bus::{Bus, BusEvent, BusMessage, MemoryBus, MemoryBusNode};
pub use old_sse::OldSsePaths;
pub use security::HostPolicy;
pub use serve::{serve, serve_listener, Bound};
pub use session::{
    HttpSession, MemorySessionStore, SessionOwner, SessionRecord, SessionStore, StoreError,
};
pub use sse::{EventStore, FollowEvent, Following, MemoryEventStore, StreamOwner};

use crate::middleware::{HttpHint, McpResponse};
use crate::reply::Reply;
use crate::{Principal, ScopeGuard, Server};

/// How a response to a request is sent.
///
/// ```
/// use mcp_server::http::{HttpConfig, ResponseMode};
/// // Behind a proxy that buffers event streams: answer every request with one JSON body.
/// let config = HttpConfig::default().response_mode(ResponseMode::Json);
/// # let _ = config;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ResponseMode {
    /// JSON when the handler finishes before sending anything else; SSE as soon as it streams (progress, logs,
    /// server requests). The default.
    #[default]
    Auto,
    /// Always `application/json`; notifications sent during the request are dropped, server requests fail.
    Json,
    /// Always `text/event-stream`.
    Sse,
}

/// A POSTed message, or why it is not one (with the id to answer, when it could be read).
pub(crate) type Parsed = Result<Message, (Option<RequestId>, ErrorObject)>;

/// A hook called with a session id.
pub type SessionHook = Arc<dyn Fn(&str) + Send + Sync>;

/// Settings of the HTTP endpoint. The defaults are safe for a local server.
///
/// Built from [`Default`] and the setters (one per field, named as the field), so new settings are not a
/// breaking change:
///
/// ```
/// use std::time::Duration;
/// use mcp_server::http::{HostPolicy, HttpConfig, OldSsePaths};
/// let config = HttpConfig::default()
///     .max_body_bytes(1 << 20)
///     .keepalive(None)
///     .host_policy(HostPolicy::Any)
///     .old_sse(OldSsePaths::default().stream("/events"));
/// assert_eq!(config.max_body_bytes, 1 << 20);
/// assert_eq!(config.keepalive, None);
/// assert_eq!(config.old_sse.map(|p| p.stream).as_deref(), Some("/events"));
/// assert_eq!(config.max_sessions, HttpConfig::default().max_sessions);
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct HttpConfig {
    /// JSON or SSE responses.
    pub response_mode: ResponseMode,
    /// Which `Host`/`Origin` may reach the endpoint (default: loopback only).
    pub host_policy: HostPolicy,
    /// Largest request body (default 4 MiB); larger ones get 413.
    pub max_body_bytes: usize,
    /// Legacy sessions idle this long are closed (default 30 minutes).
    pub session_idle_timeout: Duration,
    /// Most legacy sessions at once on this node (default 10,000). At the cap a new `initialize` closes the
    /// session idle longest among those with nothing in flight and no stream open (its client gets 404 and
    /// re-initializes); only when every session is busy does it get 503. With a shared
    /// [`session_store`](#structfield.session_store) this caps the sessions the node holds live (an idle one is
    /// dropped from the node, not closed), and the store caps the fleet's.
    pub max_sessions: usize,
    /// Most requests in flight across the endpoint (default 4096); past it 503.
    pub max_in_flight: usize,
    /// Most requests in flight per legacy session (default 64); past it 429.
    pub max_in_flight_per_session: usize,
    /// The `retry:` hint sent in priming events (default 1 s).
    pub sse_retry: Duration,
    /// Keep-alive comments on idle SSE streams (default every 15 s).
    pub keepalive: Option<Duration>,
    /// How long a server→client request waits for the client (default 5 minutes).
    pub client_request_timeout: Duration,
    /// Serve the legacy era (default true). When false, legacy requests get 400.
    pub legacy: bool,
    /// Called when a session opens.
    pub on_session_open: Option<SessionHook>,
    /// Called when a session closes (DELETE or expiry).
    pub on_session_close: Option<SessionHook>,
    /// Where session records live when several endpoints share sessions (default: none; this node's memory is
    /// the whole truth, capped at `max_sessions`). See [`SessionStore`].
    pub session_store: Option<Arc<dyn SessionStore>>,
    /// How this endpoint reaches the other nodes sharing its `session_store` (default: none, for an endpoint
    /// alone). See [`Bus`].
    pub bus: Option<Arc<dyn Bus>>,
    /// Where resumable SSE events are kept (default: in memory, 256 events per stream, 16 streams per session).
    pub event_store: Option<Arc<dyn EventStore>>,
    /// Serve 2024-11-05 clients on the deprecated HTTP+SSE transport, on these paths (`Some(OldSsePaths::default())`
    /// is `/sse` and `/messages`). Off by default. Its streams and messages count against `max_in_flight` and
    /// `max_sessions` like the rest, and each stream is bound to the principal that opened it. When mounting
    /// the service under a router, route those paths to it too.
    pub old_sse: Option<OldSsePaths>,
    /// The whole request body must arrive within this long after its head (default 30 s); past it 408.
    pub body_read_timeout: Duration,
    /// The longest pause allowed between two pieces of a request body (default 10 s); past it 408. With
    /// `body_read_timeout` this is the minimum rate a body must keep.
    pub body_stall_timeout: Duration,
    /// A peer that takes no bytes for this long while a response waits to be written is given up (default
    /// 30 s): [`serve`] drops its connection, and a 2026-07-28 stream that cannot take its next event for
    /// this long is ended, which cancels its request, wherever the service is mounted. Legacy streams never
    /// wait on a reader: one that cannot keep up is cut from its connection at once and resumed with
    /// `Last-Event-ID`.
    pub stream_write_timeout: Duration,
    /// [`serve`] only: a request head must arrive within this long of its first byte (default 10 s); a
    /// connection that stalls mid-head is dropped.
    pub header_read_timeout: Duration,
    /// [`serve`] only: a keep-alive connection with no request in flight and no stream open is closed after
    /// this long (default 60 s).
    pub idle_timeout: Duration,
    /// [`serve`] only: most open connections (default 8192). At the cap the server stops accepting until one
    /// closes; the kernel's backlog holds the rest.
    pub max_connections: usize,
    /// [`serve`] only: on shutdown, how long requests in flight may take to finish before their connections are
    /// dropped (default 10 s). Streams that would never finish (GET streams, `subscriptions/listen`) are ended
    /// at once (see [`McpService::shutdown`]).
    pub shutdown_grace: Duration,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            response_mode: ResponseMode::Auto,
            host_policy: HostPolicy::Loopback,
            max_body_bytes: 4 * 1024 * 1024,
            session_idle_timeout: Duration::from_secs(30 * 60),
            max_sessions: 10_000,
            max_in_flight: 4096,
            max_in_flight_per_session: 64,
            sse_retry: Duration::from_secs(1),
            keepalive: Some(Duration::from_secs(15)),
            client_request_timeout: Duration::from_secs(300),
            legacy: true,
            on_session_open: None,
            on_session_close: None,
            session_store: None,
            bus: None,
            event_store: None,
            old_sse: None,
            body_read_timeout: Duration::from_secs(30),
            body_stall_timeout: Duration::from_secs(10),
            stream_write_timeout: Duration::from_secs(30),
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 8192,
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

impl HttpConfig {
    /// Sets [`response_mode`](#structfield.response_mode): JSON or SSE responses.
    pub fn response_mode(mut self, response_mode: ResponseMode) -> Self {
        self.response_mode = response_mode;
        self
    }
    /// Sets [`host_policy`](#structfield.host_policy): which `Host`/`Origin` may reach the endpoint (default: loopback only).
    pub fn host_policy(mut self, host_policy: HostPolicy) -> Self {
        self.host_policy = host_policy;
        self
    }
    /// Sets [`max_body_bytes`](#structfield.max_body_bytes): largest request body (default 4 MiB); larger ones get 413.
    pub fn max_body_bytes(mut self, max_body_bytes: usize) -> Self {
        self.max_body_bytes = max_body_bytes;
        self
    }
    /// Sets [`session_idle_timeout`](#structfield.session_idle_timeout): legacy sessions idle this long are closed (default 30 minutes).
    pub fn session_idle_timeout(mut self, session_idle_timeout: Duration) -> Self {
        self.session_idle_timeout = session_idle_timeout;
        self
    }
    /// Sets [`max_sessions`](#structfield.max_sessions): most legacy sessions at once (default 10,000).
    pub fn max_sessions(mut self, max_sessions: usize) -> Self {
        self.max_sessions = max_sessions;
        self
    }
    /// Sets [`max_in_flight`](#structfield.max_in_flight): most requests in flight across the endpoint (default 4096); past it 503.
    pub fn max_in_flight(mut self, max_in_flight: usize) -> Self {
        self.max_in_flight = max_in_flight;
        self
    }
    /// Sets [`max_in_flight_per_session`](#structfield.max_in_flight_per_session): most requests in flight per legacy session (default 64); past it 429.
    pub fn max_in_flight_per_session(mut self, max_in_flight_per_session: usize) -> Self {
        self.max_in_flight_per_session = max_in_flight_per_session;
        self
    }
    /// Sets [`sse_retry`](#structfield.sse_retry): the `retry:` hint sent in priming events (default 1 s).
    pub fn sse_retry(mut self, sse_retry: Duration) -> Self {
        self.sse_retry = sse_retry;
        self
    }
    /// Sets [`keepalive`](#structfield.keepalive): keep-alive comments on idle SSE streams (default every 15 s).
    pub fn keepalive(mut self, keepalive: Option<Duration>) -> Self {
        self.keepalive = keepalive;
        self
    }
    /// Sets [`client_request_timeout`](#structfield.client_request_timeout): how long a server→client request waits for the client (default 5 minutes).
    pub fn client_request_timeout(mut self, client_request_timeout: Duration) -> Self {
        self.client_request_timeout = client_request_timeout;
        self
    }
    /// Sets [`legacy`](#structfield.legacy): serve the legacy era (default true).
    pub fn legacy(mut self, legacy: bool) -> Self {
        self.legacy = legacy;
        self
    }
    /// Sets [`on_session_open`](#structfield.on_session_open): called when a session opens.
    pub fn on_session_open(mut self, on_session_open: SessionHook) -> Self {
        self.on_session_open = Some(on_session_open);
        self
    }
    /// Sets [`on_session_close`](#structfield.on_session_close): called when a session closes (DELETE or expiry).
    pub fn on_session_close(mut self, on_session_close: SessionHook) -> Self {
        self.on_session_close = Some(on_session_close);
        self
    }
    /// Sets [`session_store`](#structfield.session_store): where session records live when several endpoints share sessions.
    pub fn session_store(mut self, session_store: Arc<dyn SessionStore>) -> Self {
        self.session_store = Some(session_store);
        self
    }
    /// Sets [`bus`](#structfield.bus): how this endpoint reaches the other nodes sharing its `session_store`.
    pub fn bus(mut self, bus: Arc<dyn Bus>) -> Self {
        self.bus = Some(bus);
        self
    }
    /// Sets [`event_store`](#structfield.event_store): where resumable SSE events are kept (default: in memory, 256 events per stream, 16 streams per session).
    pub fn event_store(mut self, event_store: Arc<dyn EventStore>) -> Self {
        self.event_store = Some(event_store);
        self
    }
    /// Sets [`old_sse`](#structfield.old_sse): serve 2024-11-05 clients on the deprecated HTTP+SSE transport, on these paths (`Some(OldSsePaths::default())` is `/sse` and `/messages`).
    pub fn old_sse(mut self, old_sse: OldSsePaths) -> Self {
        self.old_sse = Some(old_sse);
        self
    }
    /// Sets [`body_read_timeout`](#structfield.body_read_timeout): the whole request body must arrive within this long after its head (default 30 s); past it 408.
    pub fn body_read_timeout(mut self, body_read_timeout: Duration) -> Self {
        self.body_read_timeout = body_read_timeout;
        self
    }
    /// Sets [`body_stall_timeout`](#structfield.body_stall_timeout): the longest pause allowed between two pieces of a request body (default 10 s); past it 408.
    pub fn body_stall_timeout(mut self, body_stall_timeout: Duration) -> Self {
        self.body_stall_timeout = body_stall_timeout;
        self
    }
    /// Sets [`stream_write_timeout`](#structfield.stream_write_timeout): a peer that takes no bytes for this long while a response waits to be written is given up (default 30 s): [`serve`] drops its connection, and a 2026-07-28 stream that cannot take its next event for this long is ended, which cancels its request, wherever the service is mounted.
    pub fn stream_write_timeout(mut self, stream_write_timeout: Duration) -> Self {
        self.stream_write_timeout = stream_write_timeout;
        self
    }
    /// Sets [`header_read_timeout`](#structfield.header_read_timeout): [`serve`] only: a request head must arrive within this long of its first byte (default 10 s); a connection that stalls mid-head is dropped.
    pub fn header_read_timeout(mut self, header_read_timeout: Duration) -> Self {
        self.header_read_timeout = header_read_timeout;
        self
    }
    /// Sets [`idle_timeout`](#structfield.idle_timeout): [`serve`] only: a keep-alive connection with no request in flight and no stream open is closed after this long (default 60 s).
    pub fn idle_timeout(mut self, idle_timeout: Duration) -> Self {
        self.idle_timeout = idle_timeout;
        self
    }
    /// Sets [`max_connections`](#structfield.max_connections): [`serve`] only: most open connections (default 8192).
    pub fn max_connections(mut self, max_connections: usize) -> Self {
        self.max_connections = max_connections;
        self
    }
    /// Sets [`shutdown_grace`](#structfield.shutdown_grace): [`serve`] only: on shutdown, how long requests in flight may take to finish before their connections are dropped (default 10 s).
    pub fn shutdown_grace(mut self, shutdown_grace: Duration) -> Self {
        self.shutdown_grace = shutdown_grace;
        self
    }
}

impl std::fmt::Debug for HttpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpConfig")
            .field("response_mode", &self.response_mode)
            .field("host_policy", &self.host_policy)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("max_sessions", &self.max_sessions)
            .field("max_in_flight", &self.max_in_flight)
            .field("max_connections", &self.max_connections)
            .field("old_sse", &self.old_sse)
            .finish_non_exhaustive()
    }
}

pub(crate) struct State {
    pub server: Server,
    pub config: HttpConfig,
    /// The sessions this node holds live.
    pub live: session::LiveSessions,
    /// The shared record store, if sessions are shared with other endpoints.
    pub store: Option<Arc<dyn SessionStore>>,
    pub bus: Option<Arc<dyn Bus>>,
    pub event_store: Arc<dyn EventStore>,
    pub epoch: Instant,
    pub admission: Admission,
    pub old_sessions: old_sse::OldSessions,
    /// Cancelled when the endpoint shuts down: open-ended streams end.
    pub closing: CancellationToken,
    sweeper: OnceLock<()>,
}

/// An admission permit shared by a request's response body and whatever outlives it (a streamed or
/// detached handler), so the in-flight cap counts the request until the last of them ends.
pub(crate) type Permit = Arc<mcp_rpc::AdmissionPermit>;

/// The MCP endpoint as a tower service. Cheap to clone; all clones share sessions.
///
/// It takes any `http::Request` whose body is a `hyper::body::Body`, so it mounts as an axum route
/// (`Router::new().route_service("/mcp", service)`) or in any tower stack:
///
/// ```
/// use mcp_server::http::{HttpConfig, McpService};
/// use mcp_server::Server;
///
/// let server = Server::builder("notes", "1.0.0").build();
/// let service = McpService::new(server, HttpConfig::default());
/// let for_another_route = service.clone(); // clones share sessions
/// # let _ = (service, for_another_route);
/// ```
#[derive(Clone)]
pub struct McpService {
    state: Arc<State>,
}

impl std::fmt::Debug for McpService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("McpService").finish_non_exhaustive()
    }
}

impl McpService {
    /// The endpoint for `server`.
    pub fn new(server: Server, config: HttpConfig) -> Self {
        let store = config.session_store.clone();
        let bus = config.bus.clone();
        let event_store = config
            .event_store
            .clone()
            .unwrap_or_else(|| Arc::new(MemoryEventStore::default()));
        Self {
            state: Arc::new(State {
                admission: Admission::new(config.max_in_flight),
                server,
                live: session::LiveSessions::new(config.max_sessions),
                config,
                store,
                bus,
                event_store,
                epoch: Instant::now(),
                old_sessions: Default::default(),
                closing: CancellationToken::new(),
                sweeper: OnceLock::new(),
            }),
        }
    }

    /// Number of legacy sessions this node holds (with a shared store: those it served lately).
    pub fn session_count(&self) -> usize {
        self.state.live.len()
    }

    /// Requests in flight, streams included (what [`HttpConfig::max_in_flight`] caps).
    pub fn in_flight(&self) -> usize {
        self.state.admission.in_use()
    }

    /// Begin a graceful shutdown: end every open-ended stream (legacy GET streams, 2026-07-28
    /// `subscriptions/listen` streams, 2024-11-05 HTTP+SSE streams), so that a server draining its connections
    /// (hyper's or axum's graceful shutdown) is not held open by them. Requests in flight run on.
    ///
    /// The streams end without a final message on purpose: a listen's final `complete` result would tell the
    /// client its subscription is over, while a shutdown is most often a restart or a deploy. A stream that
    /// just ends is reopened by the client (a legacy one resuming from its last event id), here once the
    /// server is back or on another node.
    /// [`Bound::run_until`] calls this itself.
    ///
    /// ```no_run
    /// # async fn run() {
    /// use mcp_server::{Server, http::{HttpConfig, McpService}};
    /// let mcp = McpService::new(Server::builder("demo", "1.0.0").build(), HttpConfig::default());
    /// // Mount `mcp` in your server (e.g. axum's `Router::route_service("/mcp", mcp.clone())`) and, in the
    /// // future that starts its graceful shutdown, end the MCP streams too:
    /// let handle = mcp.clone();
    /// let shutdown_signal = async move {
    ///     let _ = tokio::signal::ctrl_c().await;
    ///     handle.shutdown();
    /// };
    /// # drop(shutdown_signal);
    /// # }
    /// ```
    pub fn shutdown(&self) {
        self.state.closing.cancel();
    }

    pub(crate) fn state(&self) -> &Arc<State> {
        &self.state
    }

    /// Handle one request.
    pub async fn handle<B>(&self, req: http::Request<B>) -> Response<McpBody>
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        self.state.ensure_sweeper();
        self.state.clone().route(req).await
    }
}

impl<B> tower::Service<http::Request<B>> for McpService
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Response = Response<McpBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let this = self.clone();
        Box::pin(async move { Ok(this.handle(req).await) })
    }
}

/// A JSON body response.
pub(crate) fn json_response(status: StatusCode, body: &impl serde::Serialize) -> Response<McpBody> {
    json_bytes_response(status, serde_json::to_vec(body).unwrap_or_default())
}

/// A response with a body already written as JSON.
pub(crate) fn json_bytes_response(status: StatusCode, bytes: Vec<u8>) -> Response<McpBody> {
    let mut r = Response::new(McpBody::full(bytes));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// Give `resp` the request's header map, emptied, when it has more room than the response's own.
///
/// hyper keeps a response's header map, emptied, for the connection's next request. Ours are made for one to
/// three headers (room for 6); a client that sends more (a 2026-07-28 call sends 7, browsers many more) would
/// have hyper grow that map, two allocations and a rehash, on every request, and the request's own map freed
/// each time. The request's map has the room its client needs, so handing it on makes neither happen.
fn reuse_request_headers(resp: &mut Response<McpBody>, mut request: HeaderMap) {
    if request.capacity() <= resp.headers().capacity() {
        return;
    }
    request.clear();
    // `drain` and `extend` keep every value, in order (a name's further values come as `None`).
    request.extend(resp.headers_mut().drain());
    *resp.headers_mut() = request;
}

/// An error response with a JSON-RPC error body.
pub(crate) fn error_response(
    status: StatusCode,
    id: Option<RequestId>,
    e: ErrorObject,
) -> Response<McpBody> {
    json_response(status, &Message::Error(ErrorResponse::new(id, e)))
}

/// The answer to one request sent as a single body: its result or error, with the status and headers a
/// layer asked for (see [`crate::middleware::McpResponse::with_http_status`]); `cancelled` when there is
/// nothing to send.
pub(crate) fn answer(
    id: RequestId,
    r: McpResponse,
    cancelled: StatusCode,
    error_status: impl FnOnce(&ErrorObject) -> StatusCode,
) -> Response<McpBody> {
    let Some(outcome) = r.outcome else {
        return status_only(cancelled);
    };
    let status = match &outcome {
        Ok(_) => StatusCode::OK,
        Err(e) => error_status(e),
    };
    let mut resp = json_bytes_response(status, Reply::new(id, outcome).to_json());
    if let Some(hint) = r.http {
        apply_hint(&mut resp, &hint);
    }
    resp
}

/// Set the status and headers a layer asked for.
pub(crate) fn apply_hint(resp: &mut Response<McpBody>, hint: &HttpHint) {
    if let Some(status) = hint.status.and_then(|s| StatusCode::from_u16(s).ok()) {
        *resp.status_mut() = status;
    }
    for (name, value) in &hint.headers {
        match (
            http::HeaderName::try_from(name.as_str()),
            HeaderValue::try_from(value.as_str()),
        ) {
            (Ok(n), Ok(v)) => {
                resp.headers_mut().append(n, v);
            }
            _ => {
                tracing::warn!(header = %name, "a layer asked for a header that is not valid HTTP: left out")
            }
        }
    }
}

/// A 405 that says what is allowed: the `Allow` header, and a JSON-RPC error body explaining it.
pub(crate) fn method_not_allowed(allow: &'static str, message: &str) -> Response<McpBody> {
    let mut r = error_response(
        StatusCode::METHOD_NOT_ALLOWED,
        None,
        ErrorObject::new(error_code::SERVER_ERROR, message),
    );
    r.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    r
}

pub(crate) fn status_only(status: StatusCode) -> Response<McpBody> {
    let mut r = Response::new(McpBody::empty());
    *r.status_mut() = status;
    r
}

/// The HTTP status for a JSON-RPC error on the modern era.
pub(crate) fn modern_status(code: i64) -> StatusCode {
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

fn header_str(h: &HeaderMap, name: impl http::header::AsHeaderName) -> Option<&str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// Header names used on every request, parsed once.
pub(crate) mod names {
    use http::HeaderName;
    pub static SESSION_ID: HeaderName = HeaderName::from_static("mcp-session-id");
    pub static LAST_EVENT_ID: HeaderName = HeaderName::from_static("last-event-id");
}

/// Which of the two media types the `Accept` header admits: `(application/json, text/event-stream)`.
/// One pass over the bytes (this runs on every POST); `*/*` admits both, parameters such as `;q=` are ignored.
fn accepted(h: &HeaderMap) -> (bool, bool) {
    let mut admitted = (false, false);
    for v in h.get_all(header::ACCEPT) {
        admit_media(v.as_bytes(), &mut admitted);
    }
    admitted
}

/// Add what one `Accept` value admits to `admitted` (see [`accepted`]).
fn admit_media(value: &[u8], admitted: &mut (bool, bool)) {
    // What the SDK clients send, byte for byte: no need to take it apart.
    if value == b"application/json, text/event-stream" {
        *admitted = (true, true);
        return;
    }
    for part in value.split(|&b| b == b',') {
        let media = part.split(|&b| b == b';').next().unwrap_or_default();
        let media = media.trim_ascii();
        if media == b"*/*" {
            *admitted = (true, true);
            return;
        }
        admitted.0 |= media.eq_ignore_ascii_case(b"application/json");
        admitted.1 |= media.eq_ignore_ascii_case(b"text/event-stream");
    }
}

/// The request headers a POST reads, found in one walk over the map.
///
/// Each `HeaderMap::get` hashes the name it looks for, and a POST reads seven (`Host`, `Origin`,
/// `Content-Type`, `Accept` and the MCP ones); one walk over the few headers a request carries, telling them
/// apart by name, costs less. A header sent twice counts with its first value, as `get` would have it.
#[derive(Clone, Copy)]
pub(crate) struct Heads<'a> {
    /// All the request's headers, for those read on rare paths.
    pub all: &'a HeaderMap,
    host: Option<&'a HeaderValue>,
    origin: Option<&'a HeaderValue>,
    content_type: Option<&'a HeaderValue>,
    session_id: Option<&'a HeaderValue>,
    protocol_version: Option<&'a HeaderValue>,
    method: Option<&'a HeaderValue>,
    name: Option<&'a HeaderValue>,
    /// What `Accept` admits, as [`accepted`] says.
    accept: (bool, bool),
}

impl<'a> Heads<'a> {
    pub(crate) fn of(all: &'a HeaderMap) -> Self {
        let mut heads = Heads {
            all,
            host: None,
            origin: None,
            content_type: None,
            session_id: None,
            protocol_version: None,
            method: None,
            name: None,
            accept: (false, false),
        };
        for (name, value) in all {
            // `match` takes the standard names spelled out (a test checks them against `header::*`).
            let slot = match name.as_str() {
                "host" => &mut heads.host,
                "origin" => &mut heads.origin,
                "content-type" => &mut heads.content_type,
                mcp_headers::SESSION_ID => &mut heads.session_id,
                mcp_headers::PROTOCOL_VERSION => &mut heads.protocol_version,
                mcp_headers::METHOD => &mut heads.method,
                mcp_headers::NAME => &mut heads.name,
                "accept" => {
                    admit_media(value.as_bytes(), &mut heads.accept);
                    continue;
                }
                _ => continue,
            };
            slot.get_or_insert(value);
        }
        heads
    }

    fn text(value: Option<&'a HeaderValue>) -> Option<&'a str> {
        value.and_then(|v| v.to_str().ok())
    }
    pub(crate) fn host(&self) -> Option<&'a str> {
        Self::text(self.host)
    }
    pub(crate) fn origin(&self) -> Option<&'a str> {
        Self::text(self.origin)
    }
    pub(crate) fn content_type(&self) -> Option<&'a str> {
        Self::text(self.content_type)
    }
    pub(crate) fn session_id(&self) -> Option<&'a str> {
        Self::text(self.session_id)
    }
    pub(crate) fn protocol_version(&self) -> Option<&'a str> {
        Self::text(self.protocol_version)
    }
    pub(crate) fn method(&self) -> Option<&'a str> {
        Self::text(self.method)
    }
    pub(crate) fn name(&self) -> Option<&'a str> {
        Self::text(self.name)
    }
}

impl State {
    fn ensure_sweeper(self: &Arc<Self>) {
        self.sweeper.get_or_init(|| {
            let weak = Arc::downgrade(self);
            let every = (self.config.session_idle_timeout / 4)
                .clamp(Duration::from_millis(100), Duration::from_secs(60));
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(every);
                tick.tick().await;
                loop {
                    tick.tick().await;
                    let Some(state) = weak.upgrade() else { break };
                    state.sweep(every).await;
                }
            });
            if let Some(bus) = &self.bus {
                // Made now, before any listen stream starts, so every listen hears the fleet's events.
                self.server.fleet_events();
                // Server events raised here go to the other nodes, for the GET streams they hold.
                let mut events = self.server.events();
                let (out, node) = (bus.clone(), bus.node());
                let closing = self.closing.clone();
                tokio::spawn(async move {
                    loop {
                        let ev = tokio::select! {
                            ev = events.recv() => ev,
                            _ = closing.cancelled() => break,
                        };
                        match ev {
                            Ok(ev) => {
                                let msg = BusMessage::new(node, "", BusEvent::from_server(&ev));
                                if let Err(e) = out.publish(msg).await {
                                    tracing::warn!(error = %e, "server event not sent to the other nodes");
                                }
                            }
                            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                            Err(_) => break,
                        }
                    }
                });
                if let Some(tasks) = &self.server.inner.tasks {
                    // Answers for a task another node runs go to that node; a dead node's tasks fail.
                    let (out, node) = (bus.clone(), bus.node());
                    let watch = bus.clone();
                    tasks.join_fleet(crate::tasks::Fleet {
                        node,
                        resume_elsewhere: Arc::new(move |id: String| {
                            let out = out.clone();
                            tokio::spawn(async move {
                                let msg = BusMessage::new(node, "", BusEvent::ResumeTask { id });
                                if let Err(e) = out.publish(msg).await {
                                    tracing::warn!(error = %e, "a task's answers not sent to the other nodes");
                                }
                            });
                        }),
                        dead: Arc::new(move |other: u64| {
                            let watch = watch.clone();
                            Box::pin(async move { matches!(watch.alive(other).await, Ok(false)) })
                        }),
                    });
                    // Task status changes made here go to the other nodes, for their listen streams.
                    let mut changes = tasks.subscribe();
                    let (out, node) = (bus.clone(), bus.node());
                    let closing = self.closing.clone();
                    tokio::spawn(async move {
                        loop {
                            let ev = tokio::select! {
                                ev = changes.recv() => ev,
                                _ = closing.cancelled() => break,
                            };
                            match ev {
                                Ok(ev) if !ev.remote => {
                                    let event = BusEvent::TaskStatus {
                                        id: ev.id.to_string(),
                                        owner: ev.owner.clone(),
                                        task: (*ev.task).clone(),
                                    };
                                    if let Err(e) = out.publish(BusMessage::new(node, "", event)).await {
                                        tracing::warn!(error = %e, "task status not sent to the other nodes");
                                    }
                                }
                                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                                Err(_) => break,
                            }
                        }
                    });
                }
                let weak = Arc::downgrade(self);
                let mut messages = bus.subscribe();
                tokio::spawn(async move {
                    while let Some(msg) = futures::StreamExt::next(&mut messages).await {
                        let Some(state) = weak.upgrade() else { break };
                        state.on_bus(msg).await;
                    }
                });
            }
        });
    }

    /// Close the sessions that expired. With a shared store the store expires them; this node checks the
    /// sessions it holds but has not seen lately, ends those gone from the store, and lets go of those idle
    /// for the whole timeout (they live on in the store).
    async fn sweep(&self, every: Duration) {
        let idle = self.config.session_idle_timeout;
        let Some(store) = &self.store else {
            for s in self.live.expire(idle, self.epoch) {
                tracing::debug!(session = %s.id, "session expired");
                self.closed(&s).await;
            }
            return;
        };
        for s in self.live.all() {
            if s.idle_for(self.epoch) < every {
                continue;
            }
            match store.load(&s.id).await {
                Ok(None) => {
                    if self.live.remove(&s.id).is_some() {
                        tracing::debug!(session = %s.id, "session expired");
                        self.closed(&s).await;
                    }
                }
                Ok(Some(_)) if s.idle_for(self.epoch) >= idle && s.unused() => {
                    self.live.remove(&s.id);
                }
                Ok(Some(_)) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "session store unavailable: expiry checks wait");
                    return;
                }
            }
        }
    }

    /// A message from another node.
    async fn on_bus(&self, msg: BusMessage) {
        if self.bus.as_ref().is_some_and(|b| b.node() == msg.from) {
            return;
        }
        if let BusEvent::TaskStatus { id, owner, task } = msg.event {
            if let Some(tasks) = &self.server.inner.tasks {
                tasks.emit_remote(&id, owner, task);
            }
            return;
        }
        if let BusEvent::ResumeTask { id } = msg.event {
            if let Some(tasks) = &self.server.inner.tasks {
                // Every node hears it; only the one running the task acts.
                tasks.resume_here(&id).await;
            }
            return;
        }
        if let Some(ev) = msg.event.to_server() {
            self.server.raise_from_fleet(ev.clone());
            // Raised on another node: tell the GET streams held here, as the local broadcast would.
            for s in self.live.all() {
                let Some(log) = s.stream(s.standalone_no()) else {
                    continue;
                };
                if log.is_done() {
                    continue;
                }
                if let Some(n) = self.server.legacy_notification(&s.legacy, &ev) {
                    let (seq, id) = log.next_id();
                    log.push(seq, sse::event(Some(&id), &Message::Notification(n)), true)
                        .await;
                }
            }
            return;
        }
        let Some(s) = self.live.get(&msg.session) else {
            return;
        };
        match msg.event {
            BusEvent::Answer { message } => {
                if let (Ok(m), Some(pending)) = (Message::from_value(message), s.pending()) {
                    pending.resolve(m);
                }
            }
            BusEvent::Cancel { request } => {
                if let Some(t) = s
                    .cancels
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .get(&request)
                {
                    t.cancel();
                }
            }
            BusEvent::Notify { message } => {
                if let Ok(Message::Notification(n)) = Message::from_value(message) {
                    if let Some(log) = s.stream(s.standalone_no()) {
                        let (seq, id) = log.next_id();
                        log.push(seq, sse::event(Some(&id), &Message::Notification(n)), true)
                            .await;
                    }
                }
            }
            BusEvent::Close if self.live.remove(&s.id).is_some() => {
                tracing::debug!(session = %s.id, "session deleted on another node");
                self.end(&s);
            }
            _ => {}
        }
    }

    /// A session ended: stop its work and tell the application.
    pub(crate) async fn closed(&self, s: &HttpSession) {
        self.end(s);
        if let Err(e) = self.event_store.forget(&s.id).await {
            tracing::warn!(session = %s.id, error = %e, "events of a closed session not forgotten");
        }
    }

    /// End a session's work on this node: its streams, its requests, its server→client requests.
    fn end(&self, s: &HttpSession) {
        s.ended.cancel();
        for t in s.cancels.lock().unwrap_or_else(|p| p.into_inner()).values() {
            t.cancel();
        }
        if let Some(pending) = s.pending() {
            pending.fail_all(mcp_rpc::Error::closed());
        }
        s.standalone
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(h) = &self.config.on_session_close {
            h(&s.id);
        }
    }

    async fn route<B>(self: Arc<Self>, req: http::Request<B>) -> Response<McpBody>
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let (parts, body) = req.into_parts();
        let heads = Heads::of(&parts.headers);
        if let Some(why) = self
            .config
            .host_policy
            .refusal_of(heads.host(), heads.origin())
        {
            return error_response(
                StatusCode::FORBIDDEN,
                None,
                ErrorObject::new(error_code::SERVER_ERROR, why),
            );
        }
        let principal = parts.extensions.get::<Principal>().cloned();
        let guard = parts.extensions.get::<ScopeGuard>();
        if let Some(paths) = &self.config.old_sse {
            let path = parts.uri.path();
            if parts.method == Method::GET
                && path == paths.stream
                && parts.headers.get(&names::SESSION_ID).is_none()
            {
                let permit = match self.admit() {
                    Ok(p) => p,
                    Err(r) => return r,
                };
                return self.old_sse_open(paths, principal, permit);
            }
            if parts.method == Method::POST && path == paths.messages {
                let body = match read_body(body, self.body_limits()).await {
                    Ok(b) => b,
                    Err(r) => return r,
                };
                let _permit = match self.admit() {
                    Ok(p) => p,
                    Err(r) => return r,
                };
                return self
                    .old_sse_post(parts.uri.query(), body, guard, &principal)
                    .await;
            }
        }
        match parts.method {
            Method::POST => {
                // The body is read before a permit is taken, so a client that sends it slowly holds only its
                // own connection (bounded by `max_connections` and the body deadlines), never a slot of
                // `max_in_flight` that well-behaved requests need.
                let body = match read_body(body, self.body_limits()).await {
                    Ok(b) => b,
                    Err(r) => return r,
                };
                let permit = match self.admit() {
                    Ok(p) => p,
                    Err(r) => return r,
                };
                let mut r = self.post(&heads, body, principal, guard, &permit).await;
                r.body_mut().hold_permit(permit);
                reuse_request_headers(&mut r, parts.headers);
                r
            }
            Method::GET => {
                let permit = match self.admit() {
                    Ok(p) => p,
                    Err(r) => return r,
                };
                let mut r = self.get(&parts.headers, principal).await;
                r.body_mut().hold_permit(permit);
                r
            }
            Method::DELETE => self.delete(&parts.headers, principal).await,
            other => method_not_allowed(
                "GET, POST, DELETE",
                &format!(
                    "Method Not Allowed: {other} is not served here. This endpoint takes POST (JSON-RPC \
                     messages, every protocol revision), GET (a 2025-11-25-or-earlier session's event stream, \
                     with Mcp-Session-Id) and DELETE (ends such a session)"
                ),
            ),
        }
    }

    // The error is the response to send, returned at once.
    #[allow(clippy::result_large_err)]
    fn admit(&self) -> Result<Permit, Response<McpBody>> {
        self.admission
            .try_admit()
            .map(Arc::new)
            .map_err(|e| error_response(StatusCode::SERVICE_UNAVAILABLE, None, e))
    }

    fn body_limits(&self) -> limits::BodyLimits {
        limits::BodyLimits {
            max_bytes: self.config.max_body_bytes,
            total: self.config.body_read_timeout,
            stall: self.config.body_stall_timeout,
        }
    }

    async fn post(
        self: Arc<Self>,
        h: &Heads<'_>,
        body: Bytes,
        principal: Option<Principal>,
        guard: Option<&ScopeGuard>,
        permit: &Permit,
    ) -> Response<McpBody> {
        let ct_ok = h.content_type().is_some_and(|ct| {
            ct.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .eq_ignore_ascii_case("application/json")
        });
        if !ct_ok {
            return error_response(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                None,
                ErrorObject::new(
                    error_code::SERVER_ERROR,
                    "Unsupported Media Type: Content-Type must be application/json",
                ),
            );
        }
        if h.accept != (true, true) {
            return error_response(
                StatusCode::NOT_ACCEPTABLE,
                None,
                ErrorObject::new(
                    error_code::SERVER_ERROR,
                    "Not Acceptable: Accept must list application/json and text/event-stream",
                ),
            );
        }
        let session_id = h.session_id();
        // A plain message is read straight from the bytes; anything else (a batch, bad JSON, a wrong shape)
        // goes through a parsed value, which also says exactly what is wrong.
        // Per-item scopes (an auth layer's guard) are checked by the server with each message; the endpoint
        // only carries the guard.
        let guard = guard.cloned();
        if let Some(msg) = Message::from_slice_fast(&body) {
            let modern = session_id.is_none() && modern::is_modern_message(h, &msg);
            return self
                .post_message(h, Ok(msg), modern, principal, guard, permit)
                .await;
        }
        let value: Value = match serde_json::from_slice(&body) {
            Ok(v) => v,
            Err(e) => {
                return error_response(StatusCode::BAD_REQUEST, None, ErrorObject::parse_error(e))
            }
        };
        let modern = session_id.is_none() && modern::is_modern_post(h, &value);
        if !modern && self.config.legacy {
            if let Value::Array(batch) = value {
                // Scopes are checked for the whole batch before any of it runs: a 403 that came after some
                // items had run would make a client that re-authorizes and re-sends the batch run them twice.
                let refused = guard.as_ref().and_then(|g| {
                    batch
                        .iter()
                        .find_map(|m| g.refuse_value(m, principal.as_ref()))
                });
                if let Some(r) = refused {
                    return r;
                }
                // Boxed: a batch's state would otherwise size every request's future (it is the largest).
                return Box::pin(self.legacy_batch(h.all, batch, principal, guard)).await;
            }
        }
        let id = Message::id_of(&value);
        let msg = Message::from_value(value).map_err(|e| (id, e));
        self.post_message(h, msg, modern, principal, guard, permit)
            .await
    }

    async fn post_message(
        self: Arc<Self>,
        h: &Heads<'_>,
        msg: Parsed,
        modern: bool,
        principal: Option<Principal>,
        guard: Option<ScopeGuard>,
        permit: &Permit,
    ) -> Response<McpBody> {
        if modern {
            return self.modern_post(h, msg, principal, guard, permit).await;
        }
        if !self.config.legacy {
            return error_response(
                StatusCode::BAD_REQUEST,
                None,
                ErrorObject::invalid_request("this endpoint serves protocol 2026-07-28 only"),
            );
        }
        self.legacy_post(h, msg, principal, guard, permit).await
    }

    async fn get(
        self: Arc<Self>,
        h: &HeaderMap,
        principal: Option<Principal>,
    ) -> Response<McpBody> {
        if !self.config.legacy {
            return method_not_allowed(
                "POST",
                "Method Not Allowed: this endpoint serves protocol 2026-07-28 only, which has no GET stream: \
                 POST each request (subscriptions/listen streams notifications)",
            );
        }
        if header_str(h, &names::SESSION_ID).is_none() {
            // No session, or a modern client: there is no standalone stream.
            return method_not_allowed(
                "POST",
                "Method Not Allowed: GET without Mcp-Session-Id. GET opens the event stream of a session \
                 (2025-11-25 and earlier): POST `initialize` first and send its Mcp-Session-Id. On 2026-07-28 \
                 there is no GET stream: POST each request (subscriptions/listen streams notifications)",
            );
        }
        self.legacy_get(h, principal).await
    }

    async fn delete(
        self: Arc<Self>,
        h: &HeaderMap,
        principal: Option<Principal>,
    ) -> Response<McpBody> {
        match header_str(h, &names::SESSION_ID) {
            Some(_) if self.config.legacy => self.legacy_delete(h, principal).await,
            Some(_) => method_not_allowed(
                "POST",
                "Method Not Allowed: this endpoint serves protocol 2026-07-28 only, which has no sessions \
                 to DELETE",
            ),
            None => method_not_allowed(
                "POST",
                "Method Not Allowed: DELETE without Mcp-Session-Id. DELETE ends a session (2025-11-25 and \
                 earlier) and needs the Mcp-Session-Id that `initialize` returned; 2026-07-28 has no \
                 sessions to end",
            ),
        }
    }
}

/// SSE response headers.
pub(crate) fn sse_response(body: McpBody) -> Response<McpBody> {
    let mut r = Response::new(body);
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mcp_name(name: &str) -> http::HeaderName {
        http::HeaderName::try_from(name).unwrap()
    }

    #[test]
    fn heads_finds_the_headers_get_would_with_their_first_values() {
        let mut h = HeaderMap::new();
        for (name, value) in [
            (header::HOST, "localhost:3000"),
            (header::ORIGIN, "http://localhost"),
            (header::CONTENT_TYPE, "application/json"),
            (header::ACCEPT, "application/json"),
            (header::ACCEPT, "text/event-stream"),
            (names::SESSION_ID.clone(), "s1"),
            (names::SESSION_ID.clone(), "s2"),
            (mcp_name(mcp_headers::PROTOCOL_VERSION), "2026-07-28"),
            (mcp_name(mcp_headers::METHOD), "tools/call"),
            (mcp_name(mcp_headers::NAME), "echo"),
            (http::HeaderName::from_static("x-other"), "x"),
        ] {
            h.append(name, HeaderValue::from_static(value));
        }
        let heads = Heads::of(&h);
        let get = |name: &http::HeaderName| header_str(&h, name);
        assert_eq!(heads.host(), get(&header::HOST));
        assert_eq!(heads.origin(), get(&header::ORIGIN));
        assert_eq!(heads.content_type(), get(&header::CONTENT_TYPE));
        assert_eq!(heads.session_id(), Some("s1"));
        assert_eq!(heads.session_id(), get(&names::SESSION_ID));
        assert_eq!(
            heads.protocol_version(),
            get(&mcp_name(mcp_headers::PROTOCOL_VERSION))
        );
        assert_eq!(heads.method(), Some("tools/call"));
        assert_eq!(heads.name(), Some("echo"));
        assert_eq!(heads.accept, (true, true));
        assert_eq!(heads.accept, accepted(&h));
        let none = HeaderMap::new();
        let heads = Heads::of(&none);
        assert_eq!(
            (heads.host(), heads.session_id(), heads.accept),
            (None, None, (false, false))
        );
    }

    #[test]
    fn a_response_takes_the_larger_request_header_map_with_its_own_headers_unchanged() {
        let mut request = HeaderMap::new();
        for i in 0..10 {
            request.insert(
                http::HeaderName::try_from(format!("x-request-{i}")).unwrap(),
                HeaderValue::from_static("v"),
            );
        }
        let room = request.capacity();
        let mut resp = json_bytes_response(StatusCode::OK, b"{}".to_vec());
        resp.headers_mut()
            .append(header::VARY, HeaderValue::from_static("a"));
        resp.headers_mut()
            .append(header::VARY, HeaderValue::from_static("b"));
        let before: Vec<_> = resp
            .headers()
            .iter()
            .map(|(n, v)| (n.clone(), v.clone()))
            .collect();
        assert!(room > resp.headers().capacity());
        reuse_request_headers(&mut resp, request);
        let after: Vec<_> = resp
            .headers()
            .iter()
            .map(|(n, v)| (n.clone(), v.clone()))
            .collect();
        assert_eq!(after, before);
        assert_eq!(resp.headers().capacity(), room);
        // A request map with no more room than the response's own is not taken.
        let mut resp = json_bytes_response(StatusCode::OK, b"{}".to_vec());
        let own = resp.headers().capacity();
        reuse_request_headers(&mut resp, HeaderMap::new());
        assert_eq!(resp.headers().capacity(), own);
        assert_eq!(resp.headers().len(), 1);
    }

    fn accept(values: &[&str]) -> (bool, bool) {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(header::ACCEPT, HeaderValue::from_str(v).unwrap());
        }
        accepted(&h)
    }

    #[test]
    fn accept_header_is_read_per_media_type() {
        assert_eq!(
            accept(&["application/json, text/event-stream"]),
            (true, true)
        );
        assert_eq!(
            accept(&["Application/JSON;q=0.9 ,TEXT/EVENT-STREAM"]),
            (true, true)
        );
        assert_eq!(
            accept(&["application/json", "text/event-stream"]),
            (true, true)
        );
        assert_eq!(accept(&["*/*"]), (true, true));
        assert_eq!(accept(&["text/event-stream"]), (false, true));
        assert_eq!(accept(&["application/jsonx, text/event"]), (false, false));
        assert_eq!(accept(&["text/*"]), (false, false));
        assert_eq!(accept(&[]), (false, false));
    }
}
