//! The legacy era over HTTP (2025-03-26 … 2025-11-25): sessions, resumable SSE streams, GET, DELETE.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, Response, StatusCode};
use mcp_protocol::types::{methods, CancelledParams};
use mcp_protocol::{error_code, ErrorObject, ErrorResponse, Message, ProtocolVersion, Request};
use serde_json::Value;
use tokio::sync::{mpsc, Notify};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::respond::{self, LogSink, Start};
use super::session::{new_session_id, HttpSession, STANDALONE_STREAM};
use super::sse::{self, parse_event_id, StreamLog};
use super::{
    accepted, error_response, header_str, json_bytes_response, names, sse_response, status_only,
    McpBody, Parsed, Permit, ResponseMode, State,
};
use crate::context::ClientRequester;
use crate::middleware::{McpResponse, SessionHandle};
use crate::modern::TransportEnv;
use crate::notifier;
use crate::reply::{Outcome, Reply};
use crate::requester::ChannelRequester;
use crate::trace_context::{self, TraceHeaders};
use crate::Principal;
use crate::ScopeGuard;

fn session_error(status: StatusCode, code: i64, msg: &str) -> Response<McpBody> {
    error_response(status, None, ErrorObject::new(code, msg))
}

impl SessionHandle for HttpSession {
    fn legacy(&self) -> &crate::LegacySession {
        &self.legacy
    }
    fn session_id(&self) -> Option<&str> {
        Some(&self.id)
    }
}

impl State {
    /// Find the session a request names, or the response to send instead.
    // The error is the response itself, returned at once; boxing it would only add an allocation.
    #[allow(clippy::result_large_err)]
    fn lookup(
        &self,
        h: &HeaderMap,
        principal: &Option<Principal>,
    ) -> Result<Arc<HttpSession>, Response<McpBody>> {
        let Some(sid) = header_str(h, &names::SESSION_ID) else {
            return Err(session_error(
                StatusCode::BAD_REQUEST,
                error_code::SERVER_ERROR,
                "Bad Request: Mcp-Session-Id header is required. Send `initialize` first and then its \
                 Mcp-Session-Id on every request (2025-11-25 and earlier), or use 2026-07-28: the \
                 MCP-Protocol-Version: 2026-07-28 and Mcp-Method headers, and params._meta with \
                 io.modelcontextprotocol/protocolVersion and io.modelcontextprotocol/clientCapabilities",
            ));
        };
        match self.store.get(sid.trim()) {
            // A session is bound to the caller that opened it; anyone else is told it does not exist. The
            // caller's token may change (refreshed, or stepped up to more scopes) without losing the session.
            Some(s) if same_caller(&s.principal, principal) => {
                s.touch(self.epoch);
                Ok(s)
            }
            _ => Err(session_error(
                StatusCode::NOT_FOUND,
                error_code::SESSION_NOT_FOUND,
                "Session not found",
            )),
        }
    }

    pub(crate) async fn legacy_post(
        self: Arc<Self>,
        h: &HeaderMap,
        msg: Parsed,
        principal: Option<Principal>,
        scope_guard: Option<ScopeGuard>,
        permit: &Permit,
    ) -> Response<McpBody> {
        let msg = match msg {
            Ok(m) => m,
            Err((id, e)) => return error_response(StatusCode::BAD_REQUEST, id, e),
        };
        let id = match &msg {
            Message::Request(r) => Some(r.id.clone()),
            Message::Response(r) => Some(r.id.clone()),
            Message::Error(e) => e.id.clone(),
            Message::Notification(_) => None,
        };
        if let Message::Request(req) = &msg {
            if req.method == methods::INITIALIZE {
                return self.legacy_initialize(req, principal);
            }
        }
        let session = match self.lookup(h, &principal) {
            Ok(s) => s,
            Err(r) => return r,
        };
        if let Some(v) = header_str(h, &names::PROTOCOL_VERSION) {
            if v.trim().parse::<ProtocolVersion>().is_err() {
                return error_response(
                    StatusCode::BAD_REQUEST,
                    id,
                    ErrorObject::invalid_request(format!("unsupported MCP-Protocol-Version: {v}")),
                );
            }
        }
        match msg {
            Message::Request(req) => {
                let trace = TraceHeaders::from_headers(h);
                self.legacy_request(session, req, principal, scope_guard, permit, trace)
                    .await
            }
            Message::Notification(n) => {
                self.legacy_notification(&session, &n.method, n.params);
                status_only(StatusCode::ACCEPTED)
            }
            m @ (Message::Response(_) | Message::Error(_)) => {
                if !session.pending.resolve(m) {
                    tracing::debug!(session = %session.id, "response for an unknown server request ignored");
                }
                status_only(StatusCode::ACCEPTED)
            }
        }
    }

    fn legacy_notification(&self, session: &HttpSession, method: &str, params: Option<Value>) {
        match method {
            methods::NOTIF_INITIALIZED => session.legacy.mark_initialized(),
            methods::NOTIF_CANCELLED => {
                if let Some(id) = params
                    .and_then(|p| serde_json::from_value::<CancelledParams>(p).ok())
                    .and_then(|p| p.request_id)
                {
                    if let Some(t) = session
                        .cancels
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .get(&id)
                    {
                        t.cancel();
                    }
                }
            }
            _ => {}
        }
    }

    fn legacy_initialize(&self, req: &Request, principal: Option<Principal>) -> Response<McpBody> {
        let (result, legacy) = match self.server.initialize(req) {
            Ok(x) => x,
            Err(e) => return error_response(StatusCode::BAD_REQUEST, Some(req.id.clone()), e),
        };
        let session = Arc::new(HttpSession::new(
            new_session_id(),
            legacy,
            principal,
            self.epoch,
        ));
        let mut inserted = self.store.insert(session.clone());
        if inserted.is_err() {
            // Full: make room by closing a session nobody is using (abandoned ones first), so that clients
            // that opened sessions and walked away cannot lock new ones out until they expire. Its client, if
            // it comes back, gets 404 and re-initializes.
            if let Some(victim) = self.store.evict_idle(self.epoch) {
                tracing::debug!(session = %victim.id, "session evicted to make room");
                self.closed(&victim);
                inserted = self.store.insert(session.clone());
            }
        }
        if inserted.is_err() {
            return error_response(
                StatusCode::SERVICE_UNAVAILABLE,
                Some(req.id.clone()),
                ErrorObject::new(
                    error_code::SERVER_ERROR,
                    "Too many sessions: try again later",
                ),
            );
        }
        if let Some(hook) = &self.config.on_session_open {
            hook(&session.id);
        }
        tracing::debug!(session = %session.id, version = %session.legacy.version(), "session opened");
        let mut r = json_bytes_response(
            StatusCode::OK,
            Reply::new(req.id.clone(), Ok(result)).to_json(),
        );
        if let Ok(v) = HeaderValue::from_str(&session.id) {
            r.headers_mut().insert(names::SESSION_ID.clone(), v);
        }
        r
    }

    async fn legacy_request(
        self: Arc<Self>,
        session: Arc<HttpSession>,
        req: Request,
        principal: Option<Principal>,
        scope_guard: Option<ScopeGuard>,
        permit: &Permit,
        trace: TraceHeaders,
    ) -> Response<McpBody> {
        if session.in_flight.fetch_add(1, Ordering::AcqRel)
            >= self.config.max_in_flight_per_session as u64
        {
            session.in_flight.fetch_sub(1, Ordering::AcqRel);
            return error_response(
                StatusCode::TOO_MANY_REQUESTS,
                Some(req.id),
                ErrorObject::new(
                    error_code::OVERLOADED,
                    "Too many requests in flight for this session",
                ),
            );
        }
        let cancel = CancellationToken::new();
        session
            .cancels
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(req.id.clone(), cancel.clone());
        // Made on the handler's first notification: most send none.
        let (tx, rx) = notifier::lane();
        let mode = self.config.response_mode;
        let requester: Option<Arc<dyn ClientRequester>> = (mode != ResponseMode::Json).then(|| {
            Arc::new(ChannelRequester {
                out: tx.clone(),
                pending: session.pending.clone(),
                ids: session.ids.clone(),
                timeout: self.config.client_request_timeout,
            }) as Arc<dyn ClientRequester>
        });
        let close = Arc::new(Notify::new());
        let close2 = close.clone();
        let t = TransportEnv {
            notifier: Some(tx),
            cancel,
            principal,
            stream_control: Some(Arc::new(move || close2.notify_one())),
            scope_guard,
            trace,
        };
        let server = self.server.clone();
        let s2 = session.clone();
        let id = req.id.clone();
        let span = tracing::debug_span!("mcp", method = %req.method, id = %req.id, session = %session.id, era = "legacy");
        trace_context::adopt(&span, req.meta(), &t.trace);
        // The handler runs in this request's future until it answers or streams (no spawn, no hop to
        // another worker). On the legacy era a disconnect is not a cancel: if this future is dropped first,
        // the handler is detached and finishes on its own.
        let mut handler = Detached::new(
            Box::pin(tracing::Instrument::instrument(
                async move { server.handle_legacy(&s2, req, t, requester).await },
                span,
            )),
            session.clone(),
            id.clone(),
            permit.clone(),
        );
        let mut rx = rx;
        let start = respond::start(mode, &mut rx, &mut handler, Some(&close)).await;
        fn done(session: &HttpSession, id: &mcp_protocol::RequestId) {
            session.in_flight.fetch_sub(1, Ordering::AcqRel);
            session
                .cancels
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(id);
        }
        match start {
            Start::Answer(r) => {
                done(&session, &id);
                super::answer(id, r, StatusCode::ACCEPTED, |_| StatusCode::OK)
            }
            Start::Stream {
                first,
                finished,
                closed,
            } => {
                let log = session.new_stream(&self.event_store);
                let (body_tx, body_rx) = mpsc::channel::<Bytes>(64);
                log.attach(None, body_tx);
                let priming = (session.legacy.version() >= ProtocolVersion::V2025_11_25)
                    .then_some(self.config.sse_retry.as_millis() as u64);
                let keepalive = self.config.keepalive;
                let task = match finished {
                    Some(outcome) => tokio::spawn(async move { outcome }),
                    None => handler.spawn(),
                };
                // The request counts against the in-flight cap until its handler is done, whether or not the
                // client stays to read the stream.
                let permit = permit.clone();
                tokio::spawn(async move {
                    let _permit = permit;
                    if closed {
                        close.notify_one();
                    }
                    if let Some(retry) = priming {
                        let (seq, eid) = log.next_id();
                        log.push(seq, sse::priming(&eid, retry), true);
                    }
                    // On the legacy era a disconnect is not a cancel: the handler keeps running if the
                    // client goes away, and the client can resume from the log.
                    let sink = LogSink { log: &log, close };
                    respond::pump(sink, id.clone(), rx, task, first, keepalive).await;
                    done(&session, &id);
                });
                sse_response(McpBody::stream(body_rx, None))
            }
        }
    }

    pub(crate) async fn legacy_batch(
        self: Arc<Self>,
        h: &HeaderMap,
        batch: Vec<Value>,
        principal: Option<Principal>,
        scope_guard: Option<ScopeGuard>,
    ) -> Response<McpBody> {
        let session = match self.lookup(h, &principal) {
            Ok(s) => s,
            Err(r) => return r,
        };
        if session.legacy.version() != ProtocolVersion::V2025_03_26 || batch.is_empty() {
            return error_response(
                StatusCode::BAD_REQUEST,
                None,
                ErrorObject::invalid_request(
                    "JSON-RPC batches are only accepted on protocol 2025-03-26",
                ),
            );
        }
        let mut replies = Vec::new();
        // The first status and headers a layer asked for (a refusal's 403 challenge) answer the whole batch;
        // its body still carries every reply, so nothing that ran is lost.
        let mut hint = None;
        for item in batch {
            let id = Message::id_of(&item);
            match Message::from_value(item) {
                Err(e) => replies.push(Reply::Error(ErrorResponse::new(id, e))),
                Ok(Message::Request(req)) if req.method == methods::INITIALIZE => {
                    replies.push(Reply::Error(ErrorResponse::new(
                        Some(req.id),
                        ErrorObject::invalid_request("initialize cannot be batched"),
                    )))
                }
                Ok(Message::Request(req)) => {
                    let t = TransportEnv {
                        principal: principal.clone(),
                        scope_guard: scope_guard.clone(),
                        trace: TraceHeaders::from_headers(h),
                        ..Default::default()
                    };
                    let rid = req.id.clone();
                    let r = self.server.handle_legacy(&session, req, t, None).await;
                    if hint.is_none() {
                        hint = r.http;
                    }
                    if let Some(outcome) = r.outcome {
                        replies.push(Reply::new(rid, outcome));
                    }
                }
                Ok(Message::Notification(n)) => {
                    self.legacy_notification(&session, &n.method, n.params)
                }
                Ok(m) => {
                    session.pending.resolve(m);
                }
            }
        }
        let mut r = if replies.is_empty() {
            status_only(StatusCode::ACCEPTED)
        } else {
            json_bytes_response(StatusCode::OK, Reply::batch_json(&replies))
        };
        if let Some(hint) = hint {
            super::apply_hint(&mut r, &hint);
        }
        r
    }

    pub(crate) async fn legacy_get(
        self: Arc<Self>,
        h: &HeaderMap,
        principal: Option<Principal>,
    ) -> Response<McpBody> {
        if !accepted(h).1 {
            return session_error(
                StatusCode::NOT_ACCEPTABLE,
                error_code::SERVER_ERROR,
                "Not Acceptable: Accept must list text/event-stream",
            );
        }
        let session = match self.lookup(h, &principal) {
            Ok(s) => s,
            Err(r) => return r,
        };
        let (body_tx, body_rx) = mpsc::channel::<Bytes>(64);
        if let Some(last) = header_str(h, &names::LAST_EVENT_ID) {
            // Resume exactly the stream the id belongs to, replaying what came after it.
            let Some((no, seq)) = parse_event_id(last) else {
                return session_error(
                    StatusCode::BAD_REQUEST,
                    error_code::SERVER_ERROR,
                    "Bad Last-Event-ID",
                );
            };
            let Some(log) = session.stream(no) else {
                return session_error(
                    StatusCode::NOT_FOUND,
                    error_code::SERVER_ERROR,
                    "Unknown stream",
                );
            };
            if no == STANDALONE_STREAM {
                return self.standalone(&session, log, Some(seq), body_tx, body_rx);
            }
            log.attach(Some(seq), body_tx);
            return sse_response(McpBody::stream(body_rx, None));
        }
        let log = session.stream(STANDALONE_STREAM).unwrap_or_else(|| {
            session.add_stream(Arc::new(StreamLog::new(
                STANDALONE_STREAM,
                session.id.clone(),
                self.event_store.clone(),
            )))
        });
        {
            let open = session.standalone.lock().unwrap_or_else(|p| p.into_inner());
            if open.as_ref().is_some_and(|tx| !tx.is_closed()) {
                return session_error(
                    StatusCode::CONFLICT,
                    error_code::SERVER_ERROR,
                    "Conflict: a GET stream is already open for this session",
                );
            }
        }
        if session.legacy.version() >= ProtocolVersion::V2025_11_25 {
            let (seq, eid) = log.next_id();
            log.push(
                seq,
                sse::priming(&eid, self.config.sse_retry.as_millis() as u64),
                false,
            );
        }
        self.standalone(&session, log, None, body_tx, body_rx)
    }

    /// Attach a standalone stream and forward server events to it while the client stays connected.
    fn standalone(
        &self,
        session: &Arc<HttpSession>,
        log: Arc<StreamLog>,
        after: Option<u64>,
        body_tx: mpsc::Sender<Bytes>,
        body_rx: mpsc::Receiver<Bytes>,
    ) -> Response<McpBody> {
        *session.standalone.lock().unwrap_or_else(|p| p.into_inner()) = Some(body_tx.clone());
        log.attach(after, body_tx.clone());
        let server = self.server.clone();
        let session = session.clone();
        let keepalive = self.config.keepalive;
        let closing = self.closing.clone();
        let mut events = server.events();
        tokio::spawn(async move {
            let mut tick = keepalive.map(tokio::time::interval);
            if let Some(t) = tick.as_mut() {
                t.tick().await;
            }
            loop {
                tokio::select! {
                    ev = events.recv() => match ev {
                        Ok(ev) => {
                            if let Some(n) = server.legacy_notification(&session.legacy, &ev) {
                                let (seq, id) = log.next_id();
                                log.push(seq, sse::event(Some(&id), &Message::Notification(n)), true);
                                if !log.is_live() {
                                    // The reader could not keep up and was cut off: end the response so
                                    // the connection is freed; the client resumes from its last event id.
                                    break;
                                }
                            }
                        }
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                        Err(_) => break,
                    },
                    _ = body_tx.closed() => break,
                    _ = session.ended.cancelled() => {
                        log.finish();
                        break;
                    }
                    // Shutting down: end the stream so the connection can drain; the client reconnects
                    // (elsewhere, or here once the server is back) and resumes from its last event id.
                    _ = closing.cancelled() => {
                        log.finish();
                        break;
                    }
                    _ = async { match tick.as_mut() { Some(t) => { t.tick().await; } None => std::future::pending().await } } => {
                        log.push(0, sse::keepalive(), false);
                        if !log.is_live() {
                            break;
                        }
                    }
                }
            }
            // Release this stream's sender so the response ends (unless a newer GET took its place).
            let mut open = session.standalone.lock().unwrap_or_else(|p| p.into_inner());
            if open.as_ref().is_some_and(|tx| tx.same_channel(&body_tx)) {
                *open = None;
            }
        });
        sse_response(McpBody::stream(body_rx, None))
    }

    pub(crate) fn legacy_delete(
        self: Arc<Self>,
        h: &HeaderMap,
        principal: Option<Principal>,
    ) -> Response<McpBody> {
        let session = match self.lookup(h, &principal) {
            Ok(s) => s,
            Err(r) => return r,
        };
        self.store.remove(&session.id);
        for t in session
            .cancels
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
        {
            t.cancel();
        }
        self.closed(&session);
        tracing::debug!(session = %session.id, "session deleted");
        let mut r = status_only(StatusCode::OK);
        r.headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
        r
    }
}

pub(crate) fn same_caller(bound: &Option<Principal>, now: &Option<Principal>) -> bool {
    match (bound, now) {
        (None, None) => true,
        (Some(a), Some(b)) => a.same_caller(b),
        _ => false,
    }
}

/// A legacy handler running inline in its request's future. Dropped before it finished (the client went
/// away), it is spawned to finish on its own, and its session bookkeeping is done when it does.
struct Detached {
    fut: Option<HandlerFuture>,
    session: Arc<HttpSession>,
    id: mcp_protocol::RequestId,
    permit: Permit,
}

type HandlerFuture = std::pin::Pin<Box<dyn std::future::Future<Output = McpResponse> + Send>>;

impl Detached {
    fn new(
        fut: HandlerFuture,
        session: Arc<HttpSession>,
        id: mcp_protocol::RequestId,
        permit: Permit,
    ) -> Self {
        Self {
            fut: Some(fut),
            session,
            id,
            permit,
        }
    }

    /// It goes on feeding a stream: hand it to a task of its own.
    fn spawn(&mut self) -> JoinHandle<Outcome> {
        let fut = self.fut.take();
        tokio::spawn(async move {
            match fut {
                Some(f) => f.await.outcome,
                None => None,
            }
        })
    }
}

/// Drives the handler; once it has completed or been taken it is pending forever, and nothing is detached.
impl std::future::Future for Detached {
    type Output = McpResponse;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<McpResponse> {
        let Some(fut) = self.fut.as_mut() else {
            return std::task::Poll::Pending;
        };
        let r = std::task::ready!(fut.as_mut().poll(cx));
        self.fut = None;
        std::task::Poll::Ready(r)
    }
}

impl Drop for Detached {
    fn drop(&mut self) {
        let Some(fut) = self.fut.take() else {
            return;
        };
        let (session, id, permit) = (self.session.clone(), self.id.clone(), self.permit.clone());
        let finish = async move {
            let _permit = permit;
            let _ = fut.await;
            session.in_flight.fetch_sub(1, Ordering::AcqRel);
            session
                .cancels
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&id);
        };
        // Outside a runtime (the server is shutting down) there is nowhere to finish: it is dropped.
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(finish);
        }
    }
}
