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

use super::bus::{BusEvent, BusMessage};
use super::respond::{self, LogSink, Start};
use super::session::{is_standalone, new_session_id, new_tag, HttpSession, StoreError};
use super::sse::{self, parse_event_id, FollowEvent, Following, StreamLog, StreamOwner};
use super::{
    accepted, error_response, header_str, json_bytes_response, names, sse_response, status_only,
    Heads, McpBody, Parsed, Permit, ResponseMode, State,
};
use crate::context::Asker;
use crate::middleware::{McpResponse, SessionHandle};
use crate::modern::TransportEnv;
use crate::notifier;
use crate::reply::{Outcome, Reply};
use crate::trace_context::{self, TraceHeaders};
use crate::Principal;
use crate::ScopeGuard;

fn session_error(status: StatusCode, code: i64, msg: &str) -> Response<McpBody> {
    error_response(status, None, ErrorObject::new(code, msg))
}

/// The answer when a shared store or bus fails: 503, naming the cause, so the client may retry (elsewhere).
fn unavailable(id: Option<mcp_protocol::RequestId>, e: &StoreError) -> Response<McpBody> {
    tracing::warn!(error = %e, "request refused: session store unavailable");
    error_response(
        StatusCode::SERVICE_UNAVAILABLE,
        id,
        ErrorObject::new(
            error_code::SERVER_ERROR,
            format!("Service Unavailable: {e}"),
        ),
    )
}

fn not_found() -> Response<McpBody> {
    session_error(
        StatusCode::NOT_FOUND,
        error_code::SESSION_NOT_FOUND,
        "Session not found",
    )
}

/// Methods that change what a session record holds.
fn changes_record(method: &str) -> bool {
    matches!(
        method,
        methods::LOGGING_SET_LEVEL | methods::RESOURCES_SUBSCRIBE | methods::RESOURCES_UNSUBSCRIBE
    )
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
    ///
    /// With no shared store this is one read of the node's map, and nothing is awaited. With one, the store
    /// is touched (its expiry slides, and a session deleted or expired anywhere is a 404 here at once), and a
    /// session this node has not seen, or whose record changed elsewhere, is loaded.
    // The error is the response itself, returned at once; boxing it would only add an allocation.
    #[allow(clippy::result_large_err)]
    async fn lookup(
        &self,
        sid: Option<&str>,
        principal: &Option<Principal>,
    ) -> Result<Arc<HttpSession>, Response<McpBody>> {
        let Some(sid) = sid else {
            return Err(session_error(
                StatusCode::BAD_REQUEST,
                error_code::SERVER_ERROR,
                "Bad Request: Mcp-Session-Id header is required. Send `initialize` first and then its \
                 Mcp-Session-Id on every request (2025-11-25 and earlier), or use 2026-07-28: the \
                 MCP-Protocol-Version: 2026-07-28 and Mcp-Method headers, and params._meta with \
                 io.modelcontextprotocol/protocolVersion and io.modelcontextprotocol/clientCapabilities",
            ));
        };
        let sid = sid.trim();
        let cached = self.live.get(sid);
        let session = match &self.store {
            None => cached.ok_or_else(not_found)?,
            Some(store) => self.shared_lookup(store, sid, cached).await?,
        };
        // A session is bound to the caller that opened it; anyone else is told it does not exist. The
        // caller's token may change (refreshed, or stepped up to more scopes) without losing the session.
        if !same_caller(&session.principal, principal) {
            return Err(not_found());
        }
        session.touch(self.epoch);
        Ok(session)
    }

    #[allow(clippy::result_large_err)]
    async fn shared_lookup(
        &self,
        store: &Arc<dyn super::SessionStore>,
        sid: &str,
        cached: Option<Arc<HttpSession>>,
    ) -> Result<Arc<HttpSession>, Response<McpBody>> {
        let idle = self.config.session_idle_timeout;
        let revision = match store.touch(sid, idle).await {
            Ok(Some(r)) => r,
            Ok(None) => {
                if let Some(s) = cached {
                    if self.live.remove(&s.id).is_some() {
                        tracing::debug!(session = %s.id, "session gone from the store");
                        self.end(&s);
                    }
                }
                return Err(not_found());
            }
            Err(e) => return Err(unavailable(None, &e)),
        };
        if let Some(s) = &cached {
            if s.revision.load(Ordering::Relaxed) == revision {
                return Ok(s.clone());
            }
        }
        let record = match store.load(sid).await {
            Ok(Some(r)) => r,
            Ok(None) => return Err(not_found()),
            Err(e) => return Err(unavailable(None, &e)),
        };
        if let Some(s) = cached {
            s.apply(&record);
            return Ok(s);
        }
        let s = Arc::new(HttpSession::from_record(&record, self.epoch, new_tag()));
        if !self.live.insert(s.clone()) {
            // Full of sessions: let go of one nobody uses here (it lives on in the store).
            self.live.evict_idle(self.epoch);
            if !self.live.insert(s.clone()) {
                return Err(unavailable(None, &StoreError::Full));
            }
        }
        Ok(s)
    }

    /// Write a session's changed record back to the shared store, if there is one.
    async fn persist(&self, session: &HttpSession) -> Result<(), StoreError> {
        let Some(store) = &self.store else {
            return Ok(());
        };
        let record = session.record();
        if let Some(r) = store
            .update(&record, self.config.session_idle_timeout)
            .await?
        {
            session.revision.store(r, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Tell the other nodes, if there are any.
    async fn publish(&self, session: &HttpSession, event: BusEvent) -> Result<(), StoreError> {
        match &self.bus {
            Some(bus) => {
                bus.publish(BusMessage::new(bus.node(), &*session.id, event))
                    .await
            }
            None => Ok(()),
        }
    }

    pub(crate) async fn legacy_post(
        self: Arc<Self>,
        h: &Heads<'_>,
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
                return self.legacy_initialize(req, principal).await;
            }
        }
        let session = match self.lookup(h.session_id(), &principal).await {
            Ok(s) => s,
            Err(r) => return r,
        };
        if let Some(v) = h.protocol_version() {
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
                let trace = TraceHeaders::from_headers(h.all);
                self.legacy_request(session, req, principal, scope_guard, permit, trace)
                    .await
            }
            Message::Notification(n) => {
                match self
                    .legacy_notification(&session, &n.method, n.params)
                    .await
                {
                    Ok(()) => status_only(StatusCode::ACCEPTED),
                    Err(e) => unavailable(None, &e),
                }
            }
            m @ (Message::Response(_) | Message::Error(_)) => {
                match self.legacy_answer(&session, m).await {
                    Ok(()) => status_only(StatusCode::ACCEPTED),
                    Err(e) => unavailable(None, &e),
                }
            }
        }
    }

    /// The client answered a server→client request: wake the handler awaiting it, here or on another node.
    async fn legacy_answer(&self, session: &HttpSession, m: Message) -> Result<(), StoreError> {
        if self.bus.is_none() {
            if !session.pending().is_some_and(|p| p.resolve(m)) {
                tracing::debug!(session = %session.id, "response for an unknown server request ignored");
            }
            return Ok(());
        }
        let json = serde_json::to_value(&m).unwrap_or_default();
        if session.pending().is_some_and(|p| p.resolve(m)) {
            return Ok(());
        }
        self.publish(session, BusEvent::Answer { message: json })
            .await
    }

    async fn legacy_notification(
        &self,
        session: &HttpSession,
        method: &str,
        params: Option<Value>,
    ) -> Result<(), StoreError> {
        match method {
            methods::NOTIF_INITIALIZED if !session.legacy.is_initialized() => {
                session.legacy.mark_initialized();
                self.persist(session).await?;
            }
            methods::NOTIF_CANCELLED => {
                if let Some(id) = params
                    .and_then(|p| serde_json::from_value::<CancelledParams>(p).ok())
                    .and_then(|p| p.request_id)
                {
                    let local = session
                        .cancels
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .get(&id)
                        .cloned();
                    match local {
                        Some(t) => t.cancel(),
                        // Not running here: maybe on another node.
                        None => {
                            self.publish(session, BusEvent::Cancel { request: id })
                                .await?
                        }
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    async fn legacy_initialize(
        &self,
        req: &Request,
        principal: Option<Principal>,
    ) -> Response<McpBody> {
        let (result, legacy) = match self.server.initialize(req) {
            Ok(x) => x,
            Err(e) => return error_response(StatusCode::BAD_REQUEST, Some(req.id.clone()), e),
        };
        let tag = if self.store.is_some() { new_tag() } else { 0 };
        let session = Arc::new(HttpSession::new(
            new_session_id(),
            legacy,
            principal,
            self.epoch,
            tag,
        ));
        if let Some(store) = &self.store {
            match store
                .create(&session.record(), self.config.session_idle_timeout)
                .await
            {
                Ok(()) => {}
                Err(StoreError::Full) => {
                    return error_response(
                        StatusCode::SERVICE_UNAVAILABLE,
                        Some(req.id.clone()),
                        ErrorObject::new(
                            error_code::SERVER_ERROR,
                            "Too many sessions: try again later",
                        ),
                    )
                }
                Err(e) => return unavailable(Some(req.id.clone()), &e),
            }
        }
        let mut inserted = self.live.insert(session.clone());
        if !inserted {
            // Full: make room by closing a session nobody is using (abandoned ones first), so that clients
            // that opened sessions and walked away cannot lock new ones out until they expire. Its client, if
            // it comes back, gets 404 and re-initializes. With a shared store the session is only let go of
            // here: it lives on in the store.
            if let Some(victim) = self.live.evict_idle(self.epoch) {
                if self.store.is_none() {
                    tracing::debug!(session = %victim.id, "session evicted to make room");
                    self.closed(&victim).await;
                }
                inserted = self.live.insert(session.clone());
            }
        }
        if !inserted {
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
        let persists = self.store.is_some() && changes_record(&req.method);
        let cancel = CancellationToken::new();
        session
            .cancels
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(req.id.clone(), cancel.clone());
        // Made on the handler's first notification: most send none.
        let (tx, rx) = notifier::lane();
        let mode = self.config.response_mode;
        let asker = if mode == ResponseMode::Json {
            Asker::Unavailable
        } else {
            Asker::OnRequestChannel {
                holder: session.clone(),
                timeout: self.config.client_request_timeout,
            }
        };
        let close = Arc::new(Notify::new());
        let t = TransportEnv {
            notifier: Some(tx),
            cancel,
            principal,
            stream_control: Some(close.clone()),
            scope_guard,
            trace,
        };
        let server = self.server.clone();
        let s2 = session.clone();
        let id = req.id.clone();
        let span = tracing::debug_span!("mcp", method = %req.method, id = %req.id, session = %session.id, era = "legacy");
        trace_context::adopt(&span, &req, &t.trace);
        // The handler runs in this request's future until it answers or streams (no spawn, no hop to
        // another worker). On the legacy era a disconnect is not a cancel: if this future is dropped first,
        // the handler is detached and finishes on its own.
        let mut handler = Detached::new(
            Box::pin(tracing::Instrument::instrument(
                async move { server.handle_legacy(&s2, req, t, asker).await },
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
                if persists && matches!(r.outcome, Some(Ok(_))) {
                    if let Err(e) = self.persist(&session).await {
                        return unavailable(Some(id), &e);
                    }
                }
                super::answer(id, r, StatusCode::ACCEPTED, |_| StatusCode::OK)
            }
            Start::Stream {
                first,
                finished,
                closed,
            } => {
                let log = session.new_stream(&self.event_store, self.store.is_some());
                // With a fleet, the stream's owner is recorded before its first event (so before any
                // client can resume it elsewhere): a node resuming it then knows whose heartbeat to check.
                let owner = self.bus.as_ref().filter(|_| self.store.is_some()).map(|b| {
                    (
                        self.event_store.clone(),
                        StreamOwner::new(b.node(), Some(id.clone())),
                    )
                });
                let (body_tx, body_rx) = mpsc::channel::<Bytes>(64);
                // Attaching live only reads no store: it cannot fail.
                let _ = log.attach(None, body_tx).await;
                let priming = (session.legacy.version() >= ProtocolVersion::V2025_11_25)
                    .then_some(self.config.sse_retry.as_millis() as u64);
                let keepalive = self.config.keepalive;
                let task = match finished {
                    Some(outcome) => tokio::spawn(async move { outcome }),
                    None => handler.spawn(),
                };
                // A change to the session record (a subscription, a log level) answered on a stream is
                // written to the shared store before the answer goes out, as on a JSON answer: the client's
                // next request may land on another node.
                let task = if persists {
                    let (state, session) = (self.clone(), session.clone());
                    tokio::spawn(async move {
                        let outcome = task.await.unwrap_or_else(|e| {
                            Some(Err(ErrorObject::internal(format!(
                                "handler task failed: {e}"
                            ))))
                        });
                        if matches!(outcome, Some(Ok(_))) {
                            if let Err(e) = state.persist(&session).await {
                                tracing::warn!(session = %session.id, error = %e, "session change not stored");
                                return Some(Err(ErrorObject::new(
                                    error_code::SERVER_ERROR,
                                    format!("Service Unavailable: {e}"),
                                )));
                            }
                        }
                        outcome
                    })
                } else {
                    task
                };
                // The request counts against the in-flight cap until its handler is done, whether or not the
                // client stays to read the stream.
                let permit = permit.clone();
                tokio::spawn(async move {
                    let _permit = permit;
                    if let Some((store, owner)) = owner {
                        if let Err(e) = store.open_stream(&session.id, log.no, &owner).await {
                            tracing::warn!(session = %session.id, error = %e, "stream owner not stored");
                        }
                    }
                    if closed {
                        close.notify_one();
                    }
                    if let Some(retry) = priming {
                        let (seq, eid) = log.next_id();
                        log.push(seq, sse::priming(&eid, retry), true).await;
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
        let session = match self
            .lookup(header_str(h, &names::SESSION_ID), &principal)
            .await
        {
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
        let mut changed = false;
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
                    changed |= changes_record(&req.method);
                    let r = self
                        .server
                        .handle_legacy(&session, req, t, Asker::Unavailable)
                        .await;
                    if hint.is_none() {
                        hint = r.http;
                    }
                    if let Some(outcome) = r.outcome {
                        replies.push(Reply::new(rid, outcome));
                    }
                }
                Ok(Message::Notification(n)) => {
                    if let Err(e) = self
                        .legacy_notification(&session, &n.method, n.params)
                        .await
                    {
                        return unavailable(None, &e);
                    }
                }
                Ok(m) => {
                    if let Err(e) = self.legacy_answer(&session, m).await {
                        return unavailable(None, &e);
                    }
                }
            }
        }
        if changed {
            if let Err(e) = self.persist(&session).await {
                return unavailable(None, &e);
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
        let session = match self
            .lookup(header_str(h, &names::SESSION_ID), &principal)
            .await
        {
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
                return self
                    .resume_elsewhere(&session, no, seq, body_tx, body_rx)
                    .await;
            };
            if no == session.standalone_no() {
                return self
                    .standalone(&session, log, Some(seq), body_tx, body_rx)
                    .await;
            }
            if let Err(e) = log.attach(Some(seq), body_tx).await {
                return unavailable(None, &e);
            }
            return sse_response(McpBody::stream(body_rx, None));
        }
        let log = self.standalone_log(&session);
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
            )
            .await;
        }
        self.standalone(&session, log, None, body_tx, body_rx).await
    }

    /// This node's standalone stream log of a session, made on first use.
    fn standalone_log(&self, session: &HttpSession) -> Arc<StreamLog> {
        let no = session.standalone_no();
        session.stream(no).unwrap_or_else(|| {
            session.add_stream(Arc::new(StreamLog::new(
                no,
                session.id.clone(),
                self.event_store.clone(),
                // Nobody follows a GET stream from the store (a resume elsewhere replays it and goes on
                // there), so its end is not recorded.
                false,
            )))
        })
    }

    /// Resume a stream this node does not hold: with a shared event store, another node (or an earlier copy
    /// of the session here) wrote it. Its stored events after `seq` are replayed; a request's stream then
    /// ends (the client resumes again for the rest), while a GET stream goes on as this node's.
    async fn resume_elsewhere(
        &self,
        session: &Arc<HttpSession>,
        no: u64,
        seq: u64,
        body_tx: mpsc::Sender<Bytes>,
        body_rx: mpsc::Receiver<Bytes>,
    ) -> Response<McpBody> {
        let unknown = || {
            session_error(
                StatusCode::NOT_FOUND,
                error_code::SERVER_ERROR,
                "Unknown stream",
            )
        };
        if self.store.is_none() {
            return unknown();
        }
        if is_standalone(no) {
            let frames = match self.event_store.replay(&session.id, no, seq).await {
                Ok(Some(f)) => f,
                Ok(None) => return unknown(),
                Err(e) => return unavailable(None, &e),
            };
            for frame in frames {
                if body_tx.try_send(frame).is_err() {
                    break;
                }
            }
            let log = self.standalone_log(session);
            return self.standalone(session, log, None, body_tx, body_rx).await;
        }
        // A request's stream: what was stored, then the live rest as its writer (maybe another node) stores
        // it. Followed through the event store rather than the bus: the store's order is the stream's, so
        // the replay and the live part meet with no gap and no repeat, and the writer does nothing more
        // for a follower than it does anyway (store each event before sending it).
        let following = match self.event_store.follow(&session.id, no, seq).await {
            Ok(Some(f)) => f,
            Ok(None) => return unknown(),
            Err(e) => return unavailable(None, &e),
        };
        let bus = self.bus.clone();
        let ended = session.ended.clone();
        let closing = self.closing.clone();
        tokio::spawn(follow(following, bus, body_tx, ended, closing));
        sse_response(McpBody::stream(body_rx, None))
    }

    /// Attach a standalone stream and forward server events to it while the client stays connected.
    async fn standalone(
        &self,
        session: &Arc<HttpSession>,
        log: Arc<StreamLog>,
        after: Option<u64>,
        body_tx: mpsc::Sender<Bytes>,
        body_rx: mpsc::Receiver<Bytes>,
    ) -> Response<McpBody> {
        *session.standalone.lock().unwrap_or_else(|p| p.into_inner()) = Some(body_tx.clone());
        if let Err(e) = log.attach(after, body_tx.clone()).await {
            session
                .standalone
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take();
            return unavailable(None, &e);
        }
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
                                log.push(seq, sse::event(Some(&id), &Message::Notification(n)), true).await;
                                if !log.is_live().await {
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
                        log.finish().await;
                        break;
                    }
                    // Shutting down: end the stream so the connection can drain; the client reconnects
                    // (elsewhere, or here once the server is back) and resumes from its last event id.
                    _ = closing.cancelled() => {
                        log.finish().await;
                        break;
                    }
                    _ = async { match tick.as_mut() { Some(t) => { t.tick().await; } None => std::future::pending().await } } => {
                        log.push(0, sse::keepalive(), false).await;
                        if !log.is_live().await {
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

    pub(crate) async fn legacy_delete(
        self: Arc<Self>,
        h: &HeaderMap,
        principal: Option<Principal>,
    ) -> Response<McpBody> {
        let session = match self
            .lookup(header_str(h, &names::SESSION_ID), &principal)
            .await
        {
            Ok(s) => s,
            Err(r) => return r,
        };
        if let Some(store) = &self.store {
            if let Err(e) = store.remove(&session.id).await {
                return unavailable(None, &e);
            }
            // The record is gone, so every node answers 404 from now on; the nodes holding its streams
            // also end them now rather than at their next look at the store.
            if let Err(e) = self.publish(&session, BusEvent::Close).await {
                tracing::warn!(session = %session.id, error = %e, "other nodes not told of a DELETE");
            }
        }
        self.live.remove(&session.id);
        for t in session
            .cancels
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
        {
            t.cancel();
        }
        self.closed(&session).await;
        tracing::debug!(session = %session.id, "session deleted");
        let mut r = status_only(StatusCode::OK);
        r.headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
        r
    }
}

/// Copy a followed stream to a resuming client until it ends, the client goes, or the session or the
/// endpoint does. When the stream goes quiet the writer's heartbeat is checked: if its node is dead and the
/// request was not answered, the client gets a JSON-RPC error for it and the stream ends (never a hang). A
/// store or bus that fails is not a death: the stream just ends and the client resumes again (and gets 503
/// while the trouble lasts).
async fn follow(
    following: Following,
    bus: Option<Arc<dyn super::Bus>>,
    body_tx: mpsc::Sender<Bytes>,
    ended: CancellationToken,
    closing: CancellationToken,
) {
    let Following { owner, mut events } = following;
    let request = owner.as_ref().and_then(|o| o.request.clone());
    let mut answered = false;
    loop {
        let step = tokio::select! {
            s = futures::StreamExt::next(&mut events) => s,
            _ = body_tx.closed() => return,
            _ = ended.cancelled() => return,
            _ = closing.cancelled() => return,
        };
        match step {
            Some(Ok(FollowEvent::Frame(frame))) => {
                if let Some(id) = &request {
                    answered = answered || sse::answers(&frame, id);
                }
                if body_tx.send(frame).await.is_err() {
                    return;
                }
            }
            Some(Ok(FollowEvent::Quiet)) => {
                // Without a recorded owner there is no heartbeat to check: end here, as a plain replay
                // would, and let the client resume again.
                let (Some(owner), Some(bus)) = (&owner, &bus) else {
                    return;
                };
                match bus.alive(owner.node).await {
                    Ok(true) => {}
                    Ok(false) => {
                        if let (Some(id), false) = (&request, answered) {
                            tracing::warn!(node = owner.node, request = %id, "request orphaned: the node running it stopped");
                            let err = ErrorResponse::new(
                                Some(id.clone()),
                                ErrorObject::new(
                                    error_code::INTERNAL_ERROR,
                                    "The server node running this request stopped before it finished; \
                                     its outcome is unknown (it may have taken effect, or not)",
                                ),
                            );
                            let _ = body_tx.send(sse::event(None, &Message::Error(err))).await;
                        }
                        return;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "owner of a followed stream not checked: the stream ends");
                        return;
                    }
                }
            }
            Some(Ok(FollowEvent::End)) | None => return,
            Some(Err(e)) => {
                tracing::warn!(error = %e, "a followed stream failed: it ends, the client resumes");
                return;
            }
        }
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
