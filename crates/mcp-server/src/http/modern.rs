//! The modern era over HTTP (2026-07-28): POST only, headers mirrored from the body, no sessions.

use std::sync::Arc;

use bytes::Bytes;
use http::{Response, StatusCode};
use mcp_protocol::headers::{self, decode_value};
use mcp_protocol::types::methods;
use mcp_protocol::{error_code, meta, ErrorObject, Message, ProtocolVersion, Request};
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::respond::{self, BodySink, Start};
use super::{
    error_response, header_str, modern_status, sse_response, status_only, Heads, McpBody, Parsed,
    Permit, ResponseMode, State,
};
use crate::middleware::McpResponse;
use crate::modern::{meta_problems, problems_message, read_meta, TransportEnv};
use crate::notifier::{self, LaneRx};
use crate::reply::Outcome;
use crate::trace_context::{self, TraceHeaders};
use crate::Principal;
use crate::ScopeGuard;

/// Whether a session-less POST speaks the modern era (the body as a parsed value; see [`is_modern_message`]).
pub(crate) fn is_modern_post(h: &Heads<'_>, body: &Value) -> bool {
    if body.is_array() {
        return false;
    }
    let meta_version = body
        .pointer("/params/_meta")
        .and_then(Value::as_object)
        .is_some_and(|m| m.contains_key(meta::PROTOCOL_VERSION));
    modern_by(h, meta_version, body.get("method").and_then(Value::as_str))
}

/// [`is_modern_post`] for a message read by `Message::from_slice_fast` (same answer, no value of the body).
pub(crate) fn is_modern_message(h: &Heads<'_>, msg: &Message) -> bool {
    let (method, params) = match msg {
        Message::Request(r) => (Some(r.method.as_str()), r.params.as_ref()),
        Message::Notification(n) => (Some(n.method.as_str()), n.params.as_ref()),
        // The fast parser leaves responses that carry `params` to the slow path.
        Message::Response(_) | Message::Error(_) => (None, None),
    };
    let meta_version = params
        .and_then(|p| p.get("_meta"))
        .and_then(Value::as_object)
        .is_some_and(|m| m.contains_key(meta::PROTOCOL_VERSION));
    modern_by(h, meta_version, method)
}

fn modern_by(h: &Heads<'_>, meta_version: bool, method: Option<&str>) -> bool {
    if meta_version {
        return true;
    }
    if method == Some(methods::INITIALIZE) {
        return false;
    }
    match h.protocol_version() {
        // A legacy version header without `_meta` is legacy traffic; any other version is modern.
        Some(v) => v
            .trim()
            .parse::<ProtocolVersion>()
            .map_or(true, |v| v.era() == mcp_protocol::Era::Modern),
        None => false,
    }
}

/// Whether a raw header value, taken literally (not base64-wrapped), is `expected`: what `decode_value` would
/// say, without decoding into a new string.
fn literal_equals(raw: &str, expected: &str) -> bool {
    // The start of `decode_value`'s base64 wrapping: such a value is left to it.
    const WRAPPED: &str = "=?base64?";
    let v = raw.trim_matches([' ', '\t']);
    v == expected && !v.starts_with(WRAPPED)
}

/// Whether a header value (already decoded) equals the body value it mirrors.
fn same_value(header: &str, body: &Value) -> bool {
    match body {
        Value::String(s) => header == s,
        Value::Bool(b) => header == if *b { "true" } else { "false" },
        Value::Number(n) => match (n.as_i64(), header.parse::<i64>()) {
            (Some(a), Ok(b)) => a == b,
            _ => n
                .as_f64()
                .zip(header.parse::<f64>().ok())
                .is_some_and(|(a, b)| a == b),
        },
        _ => false,
    }
}

impl State {
    pub(crate) fn stream_opts(&self) -> StreamOpts {
        StreamOpts {
            keepalive: self.config.keepalive,
            write_timeout: self.config.stream_write_timeout,
        }
    }

    /// Validate `MCP-Protocol-Version`, `Mcp-Method`, `Mcp-Name` and `Mcp-Param-*` against the body: every
    /// header that is missing or does not match, named (one -32020 error lists them all).
    fn header_problems(&self, h: &Heads<'_>, req: &Request) -> Vec<String> {
        let mut problems = Vec::new();
        let meta_version = req
            .meta()
            .and_then(|m| m.get(meta::PROTOCOL_VERSION))
            .and_then(Value::as_str);
        match (h.protocol_version(), meta_version) {
            (Some(hv), Some(mv)) if hv.trim() != mv => problems.push(format!(
                "MCP-Protocol-Version header {hv:?} does not match _meta protocolVersion {mv:?}"
            )),
            _ => {}
        }
        match h.method() {
            None => problems.push(format!(
                "missing Mcp-Method header (must be {:?}, the body's method)",
                req.method
            )),
            Some(m) if m.trim() != req.method => problems.push(format!(
                "Mcp-Method header {m:?} does not match method {:?}",
                req.method
            )),
            Some(_) => {}
        }
        let params = req.params.as_ref();
        let name_key = mcp_protocol::headers::name_param(&req.method);
        if let Some(key) = name_key {
            if let Some(expected) = params.and_then(|p| p.get(key)).and_then(Value::as_str) {
                let raw = h.name();
                match raw
                    .filter(|r| !literal_equals(r, expected))
                    .map(decode_value)
                {
                    None if raw.is_some() => {}
                    None => problems.push(format!(
                        "missing Mcp-Name header (must be params.{key}, {expected:?})"
                    )),
                    Some(Err(e)) => problems.push(format!("Mcp-Name: {e}")),
                    Some(Ok(got)) if got != expected => problems.push(format!(
                        "Mcp-Name header {got:?} does not match {key} {expected:?}"
                    )),
                    Some(Ok(_)) => {}
                }
            }
        }
        if req.method == methods::TOOLS_CALL {
            let name = params
                .and_then(|p| p.get("name"))
                .and_then(Value::as_str)
                .unwrap_or_default();
            let tools = self.server.inner.registry.tools.load();
            if let Some(entry) = tools.get(name) {
                let args = params.and_then(|p| p.get("arguments"));
                for p in &entry.header_params {
                    let hname = format!("{}{}", headers::PARAM_PREFIX, p.header);
                    let body_val = args
                        .and_then(|a| a.get(&p.property))
                        .filter(|v| !v.is_null());
                    match (header_str(h.all, hname.as_str()), body_val) {
                        (None, None) => {}
                        (Some(_), None) => problems.push(format!(
                            "{hname} present but argument {} is absent",
                            p.property
                        )),
                        (None, Some(_)) => problems.push(format!(
                            "missing {hname} header for argument {}",
                            p.property
                        )),
                        (Some(hv), Some(bv)) => match decode_value(hv) {
                            Err(e) => problems.push(format!("{hname}: {e}")),
                            Ok(decoded) if !same_value(&decoded, bv) => problems
                                .push(format!("{hname} does not match argument {}", p.property)),
                            Ok(_) => {}
                        },
                    }
                }
            }
        }
        problems
    }

    /// -32020 naming every header problem, and any `_meta` problem too, so one answer lists all there is to
    /// fix; `None` when the headers are right (the `_meta` is then checked on its own).
    fn check_headers(&self, h: &Heads<'_>, req: &Request) -> Option<ErrorObject> {
        let headers = self.header_problems(h, req);
        if headers.is_empty() {
            return None;
        }
        let meta = meta_problems(req);
        let all: Vec<String> = headers.iter().chain(&meta).cloned().collect();
        Some(
            ErrorObject::new(error_code::HEADER_MISMATCH, problems_message(&all))
                .with_data(json!({ "headers": headers, "meta": meta })),
        )
    }

    pub(crate) async fn modern_post(
        self: Arc<Self>,
        h: &Heads<'_>,
        msg: Parsed,
        principal: Option<Principal>,
        scope_guard: Option<ScopeGuard>,
        permit: &Permit,
    ) -> Response<McpBody> {
        let req = match msg {
            Ok(Message::Request(r)) => r,
            Ok(Message::Notification(_)) => return status_only(StatusCode::ACCEPTED),
            Ok(_) => {
                return error_response(
                    StatusCode::BAD_REQUEST,
                    None,
                    ErrorObject::invalid_request(
                        "clients do not send responses on protocol 2026-07-28",
                    ),
                )
            }
            Err((id, e)) => return error_response(StatusCode::BAD_REQUEST, id, e),
        };
        if let Some(e) = self.check_headers(h, &req) {
            return error_response(StatusCode::BAD_REQUEST, Some(req.id), e);
        }
        if req.method == methods::SUBSCRIPTIONS_LISTEN {
            return self.listen(req, principal);
        }
        // Made on the handler's first notification: most send none.
        let (tx, rx) = notifier::lane();
        let cancel = CancellationToken::new();
        let t = TransportEnv {
            notifier: Some(tx),
            cancel: cancel.clone(),
            principal,
            stream_control: None,
            scope_guard,
            trace: TraceHeaders::from_headers(h.all),
        };
        let server = self.server.clone();
        let req_id = req.id.clone();
        let span = tracing::debug_span!("mcp", method = %req.method, id = %req.id, era = "modern");
        trace_context::adopt(&span, &req, &t.trace);
        // The handler runs inside this request's future until it answers or starts streaming: no task to
        // spawn and no hop to another worker for the common single-answer call. If the client goes away
        // meanwhile, dropping this future cancels the handler (on 2026-07-28 that is the cancel), which then
        // has the server's cancel grace to clean up.
        let handler: Handler = Box::pin(tracing::Instrument::instrument(
            async move { server.handle_modern(req, t).await },
            span,
        ));
        let guard = cancel.drop_guard();
        respond(
            self.config.response_mode,
            self.stream_opts(),
            req_id,
            rx,
            handler,
            guard,
            permit,
        )
        .await
    }

    fn listen(self: Arc<Self>, req: Request, principal: Option<Principal>) -> Response<McpBody> {
        if let Err(e) = read_meta(&req) {
            return error_response(modern_status(e.code), Some(req.id), e);
        }
        let (tx, rx) = mpsc::channel::<Message>(64);
        let cancel = CancellationToken::new();
        let server = self.server.clone();
        let c2 = cancel.clone();
        let id = req.id.clone();
        let task: JoinHandle<Outcome> = tokio::spawn(async move {
            // The final result is only sent if the stream is still open when the server ends it.
            Some(server.run_listen(&req, tx, c2, &principal).await)
        });
        let (body_tx, body_rx) = mpsc::channel::<Bytes>(64);
        let pumped = pump(
            id,
            rx.into(),
            task,
            None,
            body_tx,
            self.stream_opts(),
            cancel.clone(),
        );
        // On shutdown the stream ends WITHOUT the listen's final result: that result tells a client the
        // subscription is over, while a shutdown is most often a restart or a deploy. A stream that just ends
        // is re-listened by the client (here once the server is back, or on another node of a fleet).
        let closing = self.closing.clone();
        let c3 = cancel.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = pumped => {}
                _ = closing.cancelled() => c3.cancel(),
            }
        });
        sse_response(McpBody::stream(body_rx, Some(cancel.drop_guard())))
    }
}

/// A handler still running in the request's own future.
type Handler = std::pin::Pin<Box<dyn std::future::Future<Output = McpResponse> + Send>>;

/// Send the outcome as JSON or SSE, per the response mode.
async fn respond(
    mode: ResponseMode,
    opts: StreamOpts,
    id: mcp_protocol::RequestId,
    mut rx: LaneRx,
    mut handler: Handler,
    guard: tokio_util::sync::DropGuard,
    permit: &Permit,
) -> Response<McpBody> {
    match respond::start(mode, &mut rx, &mut handler, None).await {
        Start::Answer(r) => {
            drop(guard.disarm());
            super::answer(id, r, StatusCode::NO_CONTENT, |e| modern_status(e.code))
        }
        Start::Stream {
            first,
            finished: Some(outcome),
            ..
        } => {
            let task = tokio::spawn(async move { outcome });
            stream(id, rx, task, first, opts, guard)
        }
        // From here the handler outlives this future: it feeds a stream.
        Start::Stream { first, .. } => {
            stream(id, rx, spawn_held(handler, permit), first, opts, guard)
        }
    }
}

/// Run a handler in a task of its own that keeps the request's admission permit until it ends.
fn spawn_held(handler: Handler, permit: &Permit) -> JoinHandle<Outcome> {
    let permit = permit.clone();
    tokio::spawn(async move {
        let _permit = permit;
        handler.await.outcome
    })
}

fn stream(
    id: mcp_protocol::RequestId,
    rx: LaneRx,
    task: JoinHandle<Outcome>,
    first: Option<Message>,
    opts: StreamOpts,
    guard: tokio_util::sync::DropGuard,
) -> Response<McpBody> {
    let cancel = guard.disarm();
    let (body_tx, body_rx) = mpsc::channel::<Bytes>(64);
    tokio::spawn(pump(id, rx, task, first, body_tx, opts, cancel.clone()));
    sse_response(McpBody::stream(body_rx, Some(cancel.drop_guard())))
}

/// Copy a request's messages to its SSE body, then its final response. If the client goes away, or takes
/// nothing for `write_timeout`, the request is cancelled (on 2026-07-28 closing the stream is the cancel).
async fn pump(
    id: mcp_protocol::RequestId,
    rx: LaneRx,
    task: JoinHandle<Outcome>,
    first: Option<Message>,
    body: mpsc::Sender<Bytes>,
    opts: StreamOpts,
    cancel: CancellationToken,
) {
    let sink = BodySink {
        body,
        write_timeout: opts.write_timeout,
        cancel,
    };
    respond::pump(sink, id, rx, task, first, opts.keepalive).await;
}

/// How a request's SSE stream is fed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StreamOpts {
    pub keepalive: Option<std::time::Duration>,
    /// How long the stream may refuse its next event before it is given up.
    pub write_timeout: std::time::Duration,
}
