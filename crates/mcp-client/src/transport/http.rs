//! Streamable HTTP, both eras.
//!
//! - Every message is one POST with `Accept: application/json, text/event-stream`; replies come back as JSON or
//!   as an SSE stream, which may also carry notifications and (legacy) server requests.
//! - **Modern** (2026-07-28) requests carry `MCP-Protocol-Version` (from the body's `_meta`), `Mcp-Method`,
//!   `Mcp-Name` and the `Mcp-Param-*` headers the client computed. Cancelling a request closes its stream.
//!   Streams cannot be resumed, and the server may already have run a request whose stream broke before the
//!   reply: only a request the client marked repeatable ([`SendOptions::reissue`], from its
//!   [`ReissuePolicy`](crate::ReissuePolicy)) is re-issued with a new id (the reply is mapped back to the
//!   original id), retrying while the server is unreachable (a restart); any other fails with
//!   [`TransportError::StreamBroken`], which the client reports as
//!   [`ClientError::OutcomeUnknown`](crate::ClientError::OutcomeUnknown).
//! - **Legacy** (≤ 2025-11-25): the session id is taken only from a successful `initialize` response and sent on
//!   every later message with `MCP-Protocol-Version`. A reply stream that breaks after an event id is resumed
//!   with `GET` + `Last-Event-ID`, after exactly the server's `retry:` delay (else a capped exponential
//!   backoff). The GET event stream is opened on request (405/404 mean there is none). A 404 to a message that
//!   carried the current session id drops the session and reports [`TransportError::SessionExpired`]; messages
//!   that need a session then wait until the client has re-initialized. A 500 or a network error never drops
//!   the session. DELETE on close (405 tolerated).
//! - **2024-11-05 fallback**: when `initialize` is refused with 400, 404 or 405 and no JSON-RPC error, the
//!   server predates Streamable HTTP: the transport opens the old HTTP+SSE event stream (at the same URL, else
//!   at the URL with its last segment replaced by `sse`) and carries every later message over it (see
//!   [`LegacySseTransport`](super::LegacySseTransport)).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use futures::future::BoxFuture;
use futures::StreamExt;
use mcp_protocol::types::{methods, CancelledParams};
use mcp_protocol::{headers, meta, ErrorObject, Message, ProtocolVersion, Request, RequestId};
use mcp_rpc::rt::{self, JoinHandle};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, ACCEPT, CONTENT_TYPE};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use super::legacy_sse::{sse_sibling, LegacySseTransport, SseLimits};
use super::{SendOptions, SessionStatus, Transport, TransportEvent, TransportKind};
use crate::auth::{apply_headers, retry_after_refusal, AuthProvider, BearerOnly};
use crate::sse::SseParser;
use crate::TransportError;

/// Supplies the bearer token for each request (`Authorization: Bearer <token>`), or none.
///
/// Called before every HTTP request, so a provider can refresh tokens as they expire.
pub trait TokenProvider: Send + Sync + 'static {
    /// The token to send now, if any.
    fn token(&self) -> BoxFuture<'_, Option<String>>;
}

/// A fixed bearer token.
#[derive(Debug, Clone)]
pub struct StaticToken(pub String);

impl TokenProvider for StaticToken {
    fn token(&self) -> BoxFuture<'_, Option<String>> {
        Box::pin(async move { Some(self.0.clone()) })
    }
}

/// Tunables of the HTTP transport.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// Reconnection attempts (without progress) before a resumable stream is given up, and attempts to reach
    /// the server with a re-issued request (default 5).
    pub max_reconnects: u32,
    /// First reconnection delay when the server gave no `retry:` (default 1 s).
    pub initial_backoff: Duration,
    /// Cap on the reconnection delay (default 30 s).
    pub max_backoff: Duration,
    /// Growth of the delay per attempt (default 1.5).
    pub backoff_factor: f64,
    /// Largest message the server may send: one JSON reply body, or the data of one SSE event (default
    /// 16 MiB, [`DEFAULT_MAX_EVENT`](crate::sse::DEFAULT_MAX_EVENT)). A larger one fails its request (or
    /// ends the event stream) with an error instead of being buffered.
    pub max_message_size: usize,
    /// Largest SSE line other than a `data` line (comments, `id`, `event`; default 64 KiB,
    /// [`DEFAULT_MAX_LINE`](crate::sse::DEFAULT_MAX_LINE)). A longer one fails the stream.
    pub max_sse_line: usize,
    /// Modern era: how many times a request whose stream broke is re-issued with a new id (default 2), when
    /// the client marked it repeatable ([`SendOptions::reissue`]).
    pub max_reissues: u32,
}

impl Default for HttpOptions {
    fn default() -> Self {
        Self {
            max_reconnects: 5,
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(30),
            backoff_factor: 1.5,
            max_message_size: crate::sse::DEFAULT_MAX_EVENT,
            max_sse_line: crate::sse::DEFAULT_MAX_LINE,
            max_reissues: 2,
        }
    }
}

/// Builds an [`HttpTransport`].
pub struct HttpTransportBuilder {
    url: String,
    headers: Vec<(String, String)>,
    auth: Option<Arc<dyn AuthProvider>>,
    client: Option<reqwest::Client>,
    options: HttpOptions,
}

impl std::fmt::Debug for HttpTransportBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpTransportBuilder")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl HttpTransportBuilder {
    /// A header sent on every request (e.g. an API key). The headers the protocol owns (`Mcp-*`,
    /// `Content-Type`, `Accept`) are set by the transport and win.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
    /// Where bearer tokens come from (a fixed token, or one your code refreshes). The server's refusals are
    /// returned as errors; for the full OAuth flow use [`auth`](Self::auth).
    pub fn bearer_token(mut self, provider: impl TokenProvider) -> Self {
        self.auth = Some(Arc::new(BearerOnly(Arc::new(provider))));
        self
    }
    /// Authorize requests with `provider` (e.g. an [`OAuthClient`](crate::auth::OAuthClient)): it supplies
    /// the credentials of every request and decides what to do when the server answers 401 or 403.
    pub fn auth(mut self, provider: impl AuthProvider) -> Self {
        self.auth = Some(Arc::new(provider));
        self
    }
    /// Use this reqwest client (its pool, TLS and proxy settings) instead of a default one.
    pub fn client(mut self, client: reqwest::Client) -> Self {
        self.client = Some(client);
        self
    }
    /// Reconnection and re-issue tunables.
    pub fn options(mut self, options: HttpOptions) -> Self {
        self.options = options;
        self
    }

    /// Build the transport.
    pub fn build(self) -> Result<HttpTransport, TransportError> {
        let url = reqwest::Url::parse(&self.url)
            .map_err(|e| TransportError::Protocol(format!("invalid URL {:?}: {e}", self.url)))?;
        let mut headers = HeaderMap::new();
        for (k, v) in &self.headers {
            let lower = k.to_ascii_lowercase();
            if lower.starts_with("mcp-")
                || matches!(lower.as_str(), "accept" | "content-type" | "last-event-id")
            {
                tracing::warn!(header = %k, "ignoring a custom header the protocol owns");
                continue;
            }
            let name = HeaderName::from_bytes(k.as_bytes())
                .map_err(|e| TransportError::Protocol(format!("invalid header name {k:?}: {e}")))?;
            let value = HeaderValue::from_str(v)
                .map_err(|e| TransportError::Protocol(format!("invalid header value: {e}")))?;
            headers.append(name, value);
        }
        let http = match self.client {
            Some(c) => c,
            None => {
                let builder = reqwest::Client::builder();
                // Sockets and the pool are the browser's (or Node's) under fetch: these are native settings.
                #[cfg(not(target_arch = "wasm32"))]
                let builder = builder
                    .tcp_nodelay(true)
                    .connect_timeout(Duration::from_secs(10))
                    .pool_idle_timeout(Duration::from_secs(90));
                builder
                    .build()
                    .map_err(|e| TransportError::Network(e.to_string()))?
            }
        };
        let (session, _) = watch::channel(SessionSlot {
            state: SessionState::None,
            generation: 0,
        });
        Ok(HttpTransport {
            inner: Arc::new(Inner {
                http,
                url,
                headers,
                auth: self.auth,
                opts: self.options,
                events: OnceLock::new(),
                session,
                legacy_version: Mutex::new(None),
                streams: Mutex::new(HashMap::new()),
                get_task: Mutex::new(None),
                reissue_seq: AtomicU64::new(1),
                closed: CancellationToken::new(),
                auth_key: Mutex::new(None),
                get_ready: watch::channel(true).0,
                fallback: OnceLock::new(),
                fallback_lock: tokio::sync::Mutex::new(()),
            }),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum SessionState {
    /// No session: messages go without an id (before `initialize`, on the modern era, or a server that
    /// issues none).
    None,
    /// Messages carry this id.
    Active(String),
    /// `initialize` succeeded (with this id, or none); only `notifications/initialized` may go until the
    /// client calls `session_ready`.
    Pending(Option<String>),
    /// A 404 ended the session; messages wait for the client to re-initialize.
    Expired,
    /// Re-initializing failed; messages are refused until a new session exists.
    Lost,
}

#[derive(Debug, Clone)]
struct SessionSlot {
    state: SessionState,
    generation: u64,
}

/// The Streamable HTTP client transport (see the module docs for what it does on each era).
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use mcp_client::transport::{HttpTransport, StaticToken};
/// let transport = HttpTransport::builder("http://127.0.0.1:3000/mcp")
///     .header("X-Tenant", "acme")
///     .bearer_token(StaticToken("secret".into()))
///     .build()?;
/// let client = mcp_client::Client::builder().connect(transport).await?;
/// # let _ = client; Ok(()) }
/// ```
pub struct HttpTransport {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for HttpTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpTransport")
            .field("url", &self.inner.url.as_str())
            .finish_non_exhaustive()
    }
}

struct Inner {
    http: reqwest::Client,
    url: reqwest::Url,
    headers: HeaderMap,
    auth: Option<Arc<dyn AuthProvider>>,
    opts: HttpOptions,
    events: OnceLock<mpsc::Sender<TransportEvent>>,
    session: watch::Sender<SessionSlot>,
    legacy_version: Mutex<Option<ProtocolVersion>>,
    streams: Mutex<HashMap<RequestId, CancellationToken>>,
    get_task: Mutex<Option<JoinHandle<()>>>,
    reissue_seq: AtomicU64,
    closed: CancellationToken,
    auth_key: Mutex<Option<String>>,
    /// False from the moment the legacy GET stream is requested until the server has answered it (or it
    /// failed): requests wait for it (briefly), so messages the server sends on that stream are not lost.
    get_ready: watch::Sender<bool>,
    /// Set once the server turned out to speak only the 2024-11-05 HTTP+SSE transport: everything goes there.
    fallback: OnceLock<LegacySseTransport>,
    fallback_lock: tokio::sync::Mutex<()>,
}

/// Marks the GET stream as settled when the loop ends, however it ends.
struct ReadyOnExit<'a>(&'a watch::Sender<bool>);

impl Drop for ReadyOnExit<'_> {
    fn drop(&mut self) {
        self.0.send_replace(true);
    }
}

/// How a reply stream ended.
struct StreamEnd {
    replied: bool,
    messages: usize,
    broken: Option<String>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn truncate(s: &str) -> String {
    const MAX: usize = 512;
    if s.len() <= MAX {
        return s.to_owned();
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

fn is_sse(resp: &reqwest::Response) -> bool {
    resp.headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().starts_with("text/event-stream"))
}

/// The JSON-RPC error in an error response body, if it is one.
fn jsonrpc_error_of(body: &[u8]) -> Option<ErrorObject> {
    let v: Value = serde_json::from_slice(body).ok()?;
    match Message::from_value(v).ok()? {
        Message::Error(e) => Some(e.error),
        _ => None,
    }
}

/// `Mcp-Name`: `params.name` for tools/call and prompts/get, `params.uri` for resources/read.
fn mcp_name(req: &Request) -> Option<&str> {
    let key = match req.method.as_str() {
        methods::TOOLS_CALL | methods::PROMPTS_GET => "name",
        methods::RESOURCES_READ => "uri",
        _ => return None,
    };
    req.params.as_ref()?.get(key)?.as_str()
}

fn modern_version(req: &Request) -> Option<&str> {
    req.meta()?.get(meta::PROTOCOL_VERSION)?.as_str()
}

impl HttpTransport {
    /// A transport for the MCP endpoint at `url`, with default settings.
    pub fn new(url: impl Into<String>) -> Result<Self, TransportError> {
        Self::builder(url).build()
    }

    /// Start configuring a transport for the MCP endpoint at `url`.
    pub fn builder(url: impl Into<String>) -> HttpTransportBuilder {
        HttpTransportBuilder {
            url: url.into(),
            headers: Vec::new(),
            auth: None,
            client: None,
            options: HttpOptions::default(),
        }
    }
}

impl Inner {
    async fn emit(&self, msg: Message) {
        if let Some(tx) = self.events.get() {
            let _ = tx.send(TransportEvent::Message(msg)).await;
        }
    }

    /// Sleep for `delay` unless the transport closes first; returns whether it closed.
    async fn closed_during(&self, delay: Duration) -> bool {
        tokio::select! {
            _ = rt::sleep(delay) => false,
            _ = self.closed.cancelled() => true,
        }
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let base = self.opts.initial_backoff.as_secs_f64();
        let d = base * self.opts.backoff_factor.powi(attempt.min(64) as i32);
        Duration::from_secs_f64(d.min(self.opts.max_backoff.as_secs_f64()))
    }

    async fn authorize(
        &self,
        method: &Method,
        rb: reqwest::RequestBuilder,
    ) -> Result<(reqwest::RequestBuilder, Option<String>), TransportError> {
        apply_headers(self.auth.as_ref(), &self.auth_key, method, &self.url, rb).await
    }

    fn legacy_version(&self) -> Option<ProtocolVersion> {
        *lock(&self.legacy_version)
    }

    /// The headers the protocol puts on a message.
    fn protocol_headers(&self, msg: &Message, opts: &SendOptions) -> Vec<(String, String)> {
        let mut h = Vec::new();
        let modern = match msg {
            Message::Request(r) => modern_version(r).map(|v| (r, v)),
            _ => None,
        };
        if let Some((req, version)) = modern {
            h.push((headers::PROTOCOL_VERSION.to_owned(), version.to_owned()));
            h.push((headers::METHOD.to_owned(), req.method.clone()));
            if let Some(name) = mcp_name(req) {
                h.push((headers::NAME.to_owned(), headers::encode_value(name)));
            }
        } else if msg.method() != Some(methods::INITIALIZE) {
            if let Some(v) = self.legacy_version() {
                h.push((headers::PROTOCOL_VERSION.to_owned(), v.as_str().to_owned()));
            }
        }
        h.extend(opts.headers.iter().cloned());
        h
    }

    async fn post(
        &self,
        msg: &Message,
        sid: Option<&str>,
        extra: &[(String, String)],
    ) -> Result<reqwest::Response, TransportError> {
        let body = bytes::Bytes::from(
            serde_json::to_vec(msg).map_err(|e| TransportError::Protocol(e.to_string()))?,
        );
        let mut attempt = 0;
        loop {
            let mut rb = self
                .http
                .post(self.url.clone())
                .headers(self.headers.clone())
                .header(ACCEPT, "application/json, text/event-stream")
                .header(CONTENT_TYPE, "application/json");
            if let Some(sid) = sid {
                rb = rb.header(headers::SESSION_ID, sid);
            }
            for (k, v) in extra {
                rb = rb.header(k.as_str(), v.as_str());
            }
            let (rb, token) = self.authorize(&Method::POST, rb).await?;
            let resp = rb
                .body(body.clone())
                .send()
                .await
                .map_err(|e| TransportError::Network(e.to_string()))?;
            if !retry_after_refusal(self.auth.as_ref(), &resp, token, attempt).await? {
                return Ok(resp);
            }
            attempt += 1;
        }
    }

    async fn get(
        &self,
        sid: Option<&str>,
        last_event_id: Option<&str>,
    ) -> Result<reqwest::Response, TransportError> {
        let mut attempt = 0;
        loop {
            let mut rb = self
                .http
                .get(self.url.clone())
                .headers(self.headers.clone())
                .header(ACCEPT, "text/event-stream");
            if let Some(sid) = sid {
                rb = rb.header(headers::SESSION_ID, sid);
            }
            if let Some(v) = self.legacy_version() {
                rb = rb.header(headers::PROTOCOL_VERSION, v.as_str());
            }
            if let Some(id) = last_event_id {
                rb = rb.header(headers::LAST_EVENT_ID, id);
            }
            let (rb, token) = self.authorize(&Method::GET, rb).await?;
            let resp = rb
                .send()
                .await
                .map_err(|e| TransportError::Network(e.to_string()))?;
            if !retry_after_refusal(self.auth.as_ref(), &resp, token, attempt).await? {
                return Ok(resp);
            }
            attempt += 1;
        }
    }

    /// The session id a message goes with, waiting while a session is being (re-)established.
    async fn session_for(&self, msg: &Message) -> Result<(Option<String>, u64), TransportError> {
        let method = msg.method();
        if method == Some(methods::INITIALIZE) {
            // `initialize` never carries a session id.
            return Ok((None, self.session.borrow().generation));
        }
        let bypass = method == Some(methods::NOTIF_INITIALIZED);
        let mut rx = self.session.subscribe();
        loop {
            let slot = rx.borrow_and_update().clone();
            match slot.state {
                SessionState::None => return Ok((None, slot.generation)),
                SessionState::Active(id) => return Ok((Some(id), slot.generation)),
                SessionState::Pending(id) if bypass => return Ok((id, slot.generation)),
                SessionState::Lost => {
                    return Err(TransportError::SessionExpired {
                        session_id: None,
                        generation: slot.generation,
                    })
                }
                SessionState::Pending(_) | SessionState::Expired => {
                    tokio::select! {
                        r = rx.changed() => if r.is_err() { return Err(TransportError::Closed) },
                        _ = self.closed.cancelled() => return Err(TransportError::Closed),
                    }
                }
            }
        }
    }

    fn capture_session(&self, resp: &reqwest::Response) {
        let id = resp
            .headers()
            .get(headers::SESSION_ID)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty() && s.bytes().all(|b| (0x21..=0x7e).contains(&b)));
        self.session.send_modify(|s| {
            s.state = SessionState::Pending(id);
            s.generation += 1;
        });
    }

    /// A 404 to a message that carried `sid`: drop the session if it is still the current one.
    fn expire(&self, sid: &str) {
        self.session.send_if_modified(|s| match &s.state {
            SessionState::Active(cur) | SessionState::Pending(Some(cur)) if cur == sid => {
                tracing::info!(session = sid, "session expired (HTTP 404); dropping it");
                s.state = SessionState::Expired;
                true
            }
            _ => false,
        });
    }

    /// Deliver a message from a reply stream, mapping a re-issued id back. Returns whether it is the reply.
    async fn deliver(&self, mut msg: Message, reply_to: Option<(&RequestId, &RequestId)>) -> bool {
        let mut ours = false;
        if let Some((wire, orig)) = reply_to {
            match &mut msg {
                Message::Response(r) if &r.id == wire => {
                    r.id = orig.clone();
                    ours = true;
                }
                Message::Error(e) if e.id.is_none() || e.id.as_ref() == Some(wire) => {
                    e.id = Some(orig.clone());
                    ours = true;
                }
                Message::Notification(n) if wire != orig => {
                    // A re-issued listen: its notifications name the new id as their subscription.
                    let wire_v = serde_json::to_value(wire).unwrap_or_default();
                    if let Some(sub) = n
                        .params
                        .as_mut()
                        .and_then(|p| p.get_mut("_meta"))
                        .and_then(|m| m.get_mut(meta::SUBSCRIPTION_ID))
                    {
                        if *sub == wire_v {
                            *sub = serde_json::to_value(orig).unwrap_or_default();
                        }
                    }
                }
                _ => {}
            }
        }
        self.emit(msg).await;
        ours
    }

    /// Read an SSE stream, delivering every message, until the reply (if `reply_to`) or the end.
    async fn read_sse(
        &self,
        resp: reqwest::Response,
        parser: &mut SseParser,
        reply_to: Option<(&RequestId, &RequestId)>,
    ) -> StreamEnd {
        parser.set_limits(self.opts.max_sse_line, self.opts.max_message_size);
        let mut stream = resp.bytes_stream();
        let mut end = StreamEnd {
            replied: false,
            messages: 0,
            broken: None,
        };
        loop {
            let chunk = tokio::select! {
                c = stream.next() => c,
                _ = self.closed.cancelled() => {
                    end.broken = Some("transport closed".into());
                    return end;
                }
            };
            match chunk {
                Some(Ok(bytes)) => {
                    for ev in parser.feed(&bytes) {
                        if ev.data.trim().is_empty() {
                            continue;
                        }
                        if ev.event.as_deref().is_some_and(|e| e != "message") {
                            tracing::debug!(event = ?ev.event, "ignoring SSE event of another type");
                            continue;
                        }
                        let msg = match serde_json::from_str::<Value>(&ev.data)
                            .map_err(|e| e.to_string())
                            .and_then(|v| Message::from_value(v).map_err(|e| e.message))
                        {
                            Ok(m) => m,
                            Err(e) => {
                                tracing::warn!(error = %e, "ignoring an SSE event that is not a JSON-RPC message");
                                continue;
                            }
                        };
                        end.messages += 1;
                        if self.deliver(msg, reply_to).await {
                            end.replied = true;
                            return end;
                        }
                    }
                    if let Some(e) = parser.error() {
                        end.broken = Some(e.to_string());
                        return end;
                    }
                }
                Some(Err(e)) => {
                    end.broken = Some(e.to_string());
                    return end;
                }
                None => {
                    end.broken = Some("stream ended before the reply".into());
                    return end;
                }
            }
        }
    }

    /// POST a request once. `Ok` carries how the reply stream ended and the session id used.
    async fn post_request(
        &self,
        wire: &Request,
        orig: &RequestId,
        opts: &SendOptions,
        parser: &mut SseParser,
    ) -> Result<(StreamEnd, Option<String>), TransportError> {
        let msg = Message::Request(wire.clone());
        let (sid, generation) = self.session_for(&msg).await?;
        let extra = self.protocol_headers(&msg, opts);
        let resp = self.post(&msg, sid.as_deref(), &extra).await?;
        let status = resp.status();
        if wire.method == methods::INITIALIZE && status.is_success() {
            self.capture_session(&resp);
        }
        if status == StatusCode::NOT_FOUND {
            if let Some(sid) = &sid {
                self.expire(sid);
                return Err(TransportError::SessionExpired {
                    session_id: Some(sid.clone()),
                    generation,
                });
            }
        }
        let done = |replied| StreamEnd {
            replied,
            messages: 1,
            broken: None,
        };
        if !status.is_success() {
            let body = super::error_body(resp).await;
            if let Some(e) = jsonrpc_error_of(&body) {
                // E.g. a modern server's 400 with -32022/-32020, or 404 with -32601: the request's answer.
                self.deliver(
                    Message::Error(mcp_protocol::ErrorResponse::new(None, e)),
                    Some((&wire.id, orig)),
                )
                .await;
                return Ok((done(true), sid));
            }
            return Err(TransportError::Http {
                status: status.as_u16(),
                body: truncate(&String::from_utf8_lossy(&body)),
            });
        }
        if status == StatusCode::ACCEPTED {
            return Err(TransportError::Protocol(
                "the server answered a request with 202 Accepted and no reply".into(),
            ));
        }
        if is_sse(&resp) {
            let end = self.read_sse(resp, parser, Some((&wire.id, orig))).await;
            if let Some(e) = parser.error().filter(|_| !end.replied) {
                // The same oversized event would come again: neither resume nor re-issue.
                return Err(TransportError::Protocol(e.to_string()));
            }
            return Ok((end, sid));
        }
        let body = super::read_capped(resp, self.opts.max_message_size)
            .await
            .map_err(|e| TransportError::Network(e.to_string()))?;
        if body.truncated {
            return Err(TransportError::Protocol(format!(
                "the reply is larger than {} bytes (HttpOptions::max_message_size)",
                self.opts.max_message_size
            )));
        }
        let body = body.bytes;
        let value: Value = serde_json::from_slice(&body).map_err(|e| {
            TransportError::Protocol(format!(
                "reply is not JSON ({e}): {}",
                truncate(&String::from_utf8_lossy(&body))
            ))
        })?;
        let items = match value {
            Value::Array(items) => items,
            v => vec![v],
        };
        let mut replied = false;
        for v in items {
            match Message::from_value(v) {
                Ok(m) => replied |= self.deliver(m, Some((&wire.id, orig))).await,
                Err(e) => {
                    tracing::warn!(error = %e.message, "ignoring an invalid message in a reply")
                }
            }
        }
        if !replied {
            return Err(TransportError::Protocol(
                "the JSON reply does not answer the request".into(),
            ));
        }
        Ok((done(true), sid))
    }

    /// Legacy: resume a broken reply stream with GET + `Last-Event-ID` until the reply arrives.
    async fn resume(
        &self,
        mut parser: SseParser,
        sid: Option<String>,
        wire: &RequestId,
        orig: &RequestId,
    ) -> Result<(), TransportError> {
        let mut attempts = 0u32;
        loop {
            let Some(last) = parser.last_event_id().map(str::to_owned) else {
                return Err(TransportError::StreamBroken(
                    "the stream broke before any event id; it cannot be resumed".into(),
                ));
            };
            if attempts >= self.opts.max_reconnects {
                return Err(TransportError::StreamBroken(format!(
                    "gave up resuming after {attempts} attempts"
                )));
            }
            let delay = parser.retry().unwrap_or_else(|| self.backoff(attempts));
            attempts += 1;
            if self.closed_during(delay).await {
                return Err(TransportError::Closed);
            }
            tracing::debug!(last_event_id = %last, ?delay, "resuming the reply stream");
            let resp = match self.get(sid.as_deref(), Some(&last)).await {
                Ok(r) => r,
                Err(e) => {
                    tracing::debug!(error = %e, "resumption GET failed");
                    continue;
                }
            };
            let status = resp.status();
            if status == StatusCode::NOT_FOUND || status == StatusCode::METHOD_NOT_ALLOWED {
                // Not session expiry: the server cannot resume this stream.
                return Err(TransportError::Http {
                    status: status.as_u16(),
                    body: "the server cannot resume the reply stream".into(),
                });
            }
            if !status.is_success() || !is_sse(&resp) {
                continue;
            }
            let mut next = SseParser::resuming(Some(last), parser.retry());
            let end = self.read_sse(resp, &mut next, Some((wire, orig))).await;
            parser = next;
            if end.replied {
                return Ok(());
            }
            if let Some(e) = parser.error() {
                return Err(TransportError::Protocol(e.to_string()));
            }
            if end.messages > 0 {
                attempts = 0;
            }
        }
    }

    async fn exchange(&self, req: Request, opts: SendOptions) -> Result<(), TransportError> {
        let modern = modern_version(&req).is_some();
        let orig = req.id.clone();
        let mut wire = req;
        let mut reissues = 0;
        let mut unreachable = 0u32;
        loop {
            let mut parser = SseParser::new();
            let (end, sid) = match self.post_request(&wire, &orig, &opts, &mut parser).await {
                Ok(x) => x,
                // A stream usually breaks because the server went away (a restart, a deploy): the re-issue
                // then meets a closed port for a moment. Wait and try again, as a resumption GET would,
                // rather than fail a request the restarted server has not seen.
                Err(TransportError::Network(e))
                    if reissues > 0 && unreachable < self.opts.max_reconnects =>
                {
                    let delay = self.backoff(unreachable);
                    unreachable += 1;
                    tracing::debug!(error = %e, ?delay, "the re-issued request did not reach the server; retrying");
                    if self.closed_during(delay).await {
                        return Err(TransportError::Closed);
                    }
                    continue;
                }
                Err(e) => return Err(e),
            };
            if end.replied {
                return Ok(());
            }
            let reason = end.broken.unwrap_or_default();
            if modern {
                // No resumption on this era, and the server may have run the request: repeat it only when
                // the client said that is harmless.
                if !opts.reissue {
                    tracing::debug!(%reason, method = %wire.method, "reply stream broke; not re-issuing");
                    return Err(TransportError::StreamBroken(reason));
                }
                if reissues >= self.opts.max_reissues {
                    return Err(TransportError::StreamBroken(reason));
                }
                reissues += 1;
                let n = self.reissue_seq.fetch_add(1, Ordering::Relaxed);
                wire.id = RequestId::String(format!("reissue-{n}").into());
                tracing::debug!(%reason, new_id = %wire.id, "reply stream broke; re-issuing the request");
                continue;
            }
            if parser.last_event_id().is_some() {
                return self.resume(parser, sid, &wire.id, &orig).await;
            }
            return Err(TransportError::StreamBroken(reason));
        }
    }

    /// POST a notification or a response; the server accepts it with 202.
    async fn post_simple(&self, msg: Message, opts: SendOptions) -> Result<(), TransportError> {
        let (sid, generation) = self.session_for(&msg).await?;
        let extra = self.protocol_headers(&msg, &opts);
        let resp = self.post(&msg, sid.as_deref(), &extra).await?;
        let status = resp.status();
        if status == StatusCode::NOT_FOUND {
            if let Some(sid) = sid {
                self.expire(&sid);
                return Err(TransportError::SessionExpired {
                    session_id: Some(sid),
                    generation,
                });
            }
        }
        if status.is_success() {
            return Ok(());
        }
        let body = super::error_body(resp).await;
        Err(TransportError::Http {
            status: status.as_u16(),
            body: truncate(&String::from_utf8_lossy(&body)),
        })
    }

    /// The standalone GET stream of a legacy session: reconnects with `Last-Event-ID`, stops on 404/405.
    async fn get_loop(self: Arc<Self>) {
        let _ready = ReadyOnExit(&self.get_ready);
        let mut parser = SseParser::new();
        let mut failures = 0u32;
        loop {
            let sid = match self.session.borrow().state.clone() {
                SessionState::Active(id) => Some(id),
                SessionState::None => None,
                _ => return,
            };
            let resp = tokio::select! {
                r = self.get(sid.as_deref(), parser.last_event_id()) => r,
                _ = self.closed.cancelled() => return,
            };
            // The server has answered the GET (a stream, or a refusal): requests need not wait any longer.
            self.get_ready.send_replace(true);
            match resp {
                Ok(r)
                    if r.status() == StatusCode::NOT_FOUND
                        || r.status() == StatusCode::METHOD_NOT_ALLOWED =>
                {
                    // The server offers no event stream (a 404 here is not session expiry).
                    tracing::debug!(status = %r.status(), "no GET event stream");
                    return;
                }
                Ok(r) if r.status().is_success() && is_sse(&r) => {
                    let mut next = SseParser::resuming(
                        parser.last_event_id().map(str::to_owned),
                        parser.retry(),
                    );
                    let end = self.read_sse(r, &mut next, None).await;
                    if next.error().is_some() {
                        // Reconnecting would replay the same oversized event.
                        return;
                    }
                    // Progress (a message, or a new event id as polling servers send) resets the count.
                    let progressed =
                        end.messages > 0 || next.last_event_id() != parser.last_event_id();
                    parser = next;
                    if progressed {
                        failures = 0;
                    } else {
                        failures += 1;
                    }
                }
                Ok(r)
                    if r.status().is_client_error()
                        && r.status() != StatusCode::REQUEST_TIMEOUT
                        && r.status() != StatusCode::TOO_MANY_REQUESTS =>
                {
                    // 400 and the like will not get better by asking again.
                    tracing::debug!(status = %r.status(), "GET event stream refused");
                    return;
                }
                Ok(r) => {
                    tracing::debug!(status = %r.status(), "GET event stream failed");
                    failures += 1;
                }
                Err(e) => {
                    tracing::debug!(error = %e, "GET event stream failed");
                    failures += 1;
                }
            }
            if self.closed.is_cancelled() || failures > self.opts.max_reconnects {
                return;
            }
            let delay = parser.retry().unwrap_or_else(|| self.backoff(failures));
            if self.closed_during(delay).await {
                return;
            }
        }
    }

    /// `initialize` was refused as a 2024-11-05 server would: open its HTTP+SSE stream.
    async fn fall_back_to_sse(&self) -> Result<&LegacySseTransport, TransportError> {
        let _guard = self.fallback_lock.lock().await;
        if let Some(fb) = self.fallback.get() {
            return Ok(fb);
        }
        let mut candidates = vec![self.url.clone()];
        candidates.extend(sse_sibling(&self.url));
        let fb = LegacySseTransport::open(
            self.http.clone(),
            self.headers.clone(),
            self.auth.clone(),
            &candidates,
            SseLimits {
                line: self.opts.max_sse_line,
                event: self.opts.max_message_size,
            },
        )
        .await?;
        let events = self.events.get().cloned().ok_or(TransportError::Closed)?;
        fb.start(events).await?;
        tracing::info!(
            endpoint = fb.endpoint(),
            "falling back to the 2024-11-05 HTTP+SSE transport"
        );
        Ok(self.fallback.get_or_init(|| fb))
    }

    async fn delete_session(&self) {
        let sid = {
            let mut sid = None;
            self.session.send_modify(|s| {
                if let SessionState::Active(id) | SessionState::Pending(Some(id)) = &s.state {
                    sid = Some(id.clone());
                }
                s.state = SessionState::None;
            });
            sid
        };
        let Some(sid) = sid else { return };
        let mut rb = self
            .http
            .delete(self.url.clone())
            .headers(self.headers.clone())
            .header(headers::SESSION_ID, sid.as_str());
        if let Some(v) = self.legacy_version() {
            rb = rb.header(headers::PROTOCOL_VERSION, v.as_str());
        }
        let rb = match self.authorize(&Method::DELETE, rb).await {
            Ok((rb, _)) => rb,
            Err(e) => {
                tracing::debug!(error = %e, "no credentials for the session DELETE");
                return;
            }
        };
        match rt::timeout(Duration::from_secs(5), rb.send()).await {
            Ok(Ok(r))
                if r.status().is_success()
                    || r.status() == StatusCode::METHOD_NOT_ALLOWED
                    || r.status() == StatusCode::NOT_FOUND => {}
            Ok(Ok(r)) => tracing::debug!(status = %r.status(), "DELETE of the session refused"),
            Ok(Err(e)) => tracing::debug!(error = %e, "DELETE of the session failed"),
            Err(_) => tracing::debug!("DELETE of the session timed out"),
        }
    }
}

impl Transport for HttpTransport {
    fn kind(&self) -> TransportKind {
        TransportKind::Http
    }

    fn start(
        &self,
        events: mpsc::Sender<TransportEvent>,
    ) -> BoxFuture<'_, Result<(), TransportError>> {
        let r = self
            .inner
            .events
            .set(events)
            .map_err(|_| TransportError::Protocol("transport already started".into()));
        Box::pin(async move { r })
    }

    fn send(&self, msg: Message, opts: SendOptions) -> BoxFuture<'_, Result<(), TransportError>> {
        super::boxed(async move {
            let inner = &self.inner;
            if inner.closed.is_cancelled() {
                return Err(TransportError::Closed);
            }
            if let Some(fb) = inner.fallback.get() {
                return fb.send(msg, opts).await;
            }
            match msg {
                Message::Request(req) if req.method == methods::INITIALIZE => {
                    let fallback_req = req.clone();
                    let fallback_opts = opts.clone();
                    match self.exchange_tracked(req, opts).await {
                        // No JSON-RPC error came with it (that would have been delivered as the answer).
                        Err(TransportError::Http { status, body })
                            if matches!(status, 400 | 404 | 405) =>
                        {
                            tracing::debug!(
                                status,
                                "initialize refused; trying the 2024-11-05 HTTP+SSE transport"
                            );
                            match inner.fall_back_to_sse().await {
                                Ok(fb) => {
                                    fb.send(Message::Request(fallback_req), fallback_opts).await
                                }
                                Err(e) => {
                                    tracing::debug!(error = %e, "no HTTP+SSE transport either");
                                    Err(TransportError::Http { status, body })
                                }
                            }
                        }
                        r => r,
                    }
                }
                Message::Request(req) => {
                    // A server may send messages about this request on the GET stream (elicitation,
                    // sampling): wait until that stream is open or refused, for at most 2 s.
                    let mut ready = inner.get_ready.subscribe();
                    let _ = rt::timeout(Duration::from_secs(2), ready.wait_for(|r| *r)).await;
                    self.exchange_tracked(req, opts).await
                }
                Message::Notification(n) if n.method == methods::NOTIF_CANCELLED => {
                    // Closing the request's stream is the cancellation on HTTP.
                    let target = n
                        .params
                        .clone()
                        .and_then(|p| serde_json::from_value::<CancelledParams>(p).ok())
                        .and_then(|p| p.request_id);
                    if let Some(t) = target.and_then(|id| lock(&inner.streams).remove(&id)) {
                        t.cancel();
                    }
                    // The legacy era also has the notification; the modern era has no client notifications
                    // on HTTP.
                    if inner.legacy_version().is_some() {
                        inner.post_simple(Message::Notification(n), opts).await
                    } else {
                        Ok(())
                    }
                }
                other => inner.post_simple(other, opts).await,
            }
        })
    }

    fn set_legacy_version(&self, version: Option<ProtocolVersion>) {
        *lock(&self.inner.legacy_version) = version;
    }

    fn session(&self) -> SessionStatus {
        let slot = self.inner.session.borrow();
        SessionStatus {
            id: match &slot.state {
                SessionState::Active(id) | SessionState::Pending(Some(id)) => Some(id.clone()),
                _ => None,
            },
            generation: slot.generation,
        }
    }

    fn session_ready(&self) {
        self.inner.session.send_modify(|s| {
            if let SessionState::Pending(id) = &s.state {
                s.state = match id {
                    Some(id) => SessionState::Active(id.clone()),
                    None => SessionState::None,
                };
            }
        });
    }

    fn session_lost(&self) {
        self.inner.session.send_modify(|s| {
            if matches!(s.state, SessionState::Expired | SessionState::Pending(_)) {
                s.state = SessionState::Lost;
            }
        });
    }

    fn open_event_stream(&self) {
        if self.inner.fallback.get().is_some() {
            // The HTTP+SSE stream is already open and carries everything.
            return;
        }
        self.inner.get_ready.send_replace(false);
        let inner = self.inner.clone();
        let task = rt::spawn(inner.get_loop());
        if let Some(old) = lock(&self.inner.get_task).replace(task) {
            old.abort();
        }
    }

    fn auth_context(&self) -> Option<String> {
        if let Some(fb) = self.inner.fallback.get() {
            return fb.auth_context();
        }
        lock(&self.inner.auth_key).clone()
    }

    fn close(&self) -> BoxFuture<'_, Result<(), TransportError>> {
        super::boxed(async move {
            let inner = &self.inner;
            inner.closed.cancel();
            if let Some(t) = lock(&inner.get_task).take() {
                t.abort();
            }
            if let Some(fb) = inner.fallback.get() {
                // It reports the end of the connection itself.
                return fb.close().await;
            }
            inner.delete_session().await;
            if let Some(tx) = inner.events.get() {
                let _ = tx.send(TransportEvent::Closed(None)).await;
            }
            Ok(())
        })
    }
}

impl HttpTransport {
    /// Run one request's exchange, cancellable through `notifications/cancelled`.
    async fn exchange_tracked(
        &self,
        req: Request,
        opts: SendOptions,
    ) -> Result<(), TransportError> {
        let inner = &self.inner;
        let token = inner.closed.child_token();
        lock(&inner.streams).insert(req.id.clone(), token.clone());
        let id = req.id.clone();
        let r = tokio::select! {
            r = inner.exchange(req, opts) => r,
            _ = token.cancelled() => Err(TransportError::Cancelled),
        };
        lock(&inner.streams).remove(&id);
        r
    }

    /// Whether the server turned out to speak only the 2024-11-05 HTTP+SSE transport, which now carries
    /// every message.
    pub fn is_legacy_sse(&self) -> bool {
        self.inner.fallback.get().is_some()
    }
}

impl Drop for HttpTransport {
    fn drop(&mut self) {
        // Stops the GET stream and any reply stream still open (they hold the shared state).
        self.inner.closed.cancel();
        if let Some(t) = lock(&self.inner.get_task).take() {
            t.abort();
        }
    }
}
