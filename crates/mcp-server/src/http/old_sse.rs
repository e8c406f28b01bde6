//! The HTTP+SSE transport of 2024-11-05: `GET /sse` opens a stream whose first event names the URL to POST
//! messages to; responses come back as `message` events. Each stream is one connection served exactly like
//! stdio (through an in-memory duplex), so every era rule and handler works unchanged.

use std::sync::Arc;

use bytes::Bytes;
use dashmap::DashMap;
use http::{Response, StatusCode};
use mcp_protocol::{error_code, ErrorObject};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, DuplexStream, WriteHalf};
use tokio::sync::{mpsc, Mutex};

use super::session::new_session_id;
use super::{error_response, sse_response, status_only, McpBody, Permit, State};
use crate::connection::{serve_connection, ConnectionOptions};
use crate::Principal;
use crate::ScopeGuard;

/// Where the 2024-11-05 transport lives (relative to the server root).
///
/// ```
/// use mcp_server::http::{HttpConfig, OldSsePaths};
/// // 2024-11-05 clients configured with `/legacy/sse` keep working beside Streamable HTTP.
/// let config = HttpConfig::default().old_sse(OldSsePaths::default().stream("/legacy/sse").messages("/legacy/messages"));
/// # let _ = config;
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct OldSsePaths {
    /// The path that opens a stream (default `/sse`).
    pub stream: String,
    /// The path messages are POSTed to (default `/messages`).
    pub messages: String,
}

impl Default for OldSsePaths {
    fn default() -> Self {
        Self {
            stream: "/sse".into(),
            messages: "/messages".into(),
        }
    }
}

impl OldSsePaths {
    /// Sets [`stream`](#structfield.stream): the path that opens a stream (default `/sse`).
    pub fn stream(mut self, stream: impl Into<String>) -> Self {
        self.stream = stream.into();
        self
    }
    /// Sets [`messages`](#structfield.messages): the path messages are POSTed to (default `/messages`).
    pub fn messages(mut self, messages: impl Into<String>) -> Self {
        self.messages = messages.into();
        self
    }
}

/// One open stream: the client-to-server side of its connection, and the caller it is bound to.
pub(crate) struct OldSession {
    input: Arc<Mutex<WriteHalf<DuplexStream>>>,
    principal: Option<Principal>,
}

/// Open streams by id.
pub(crate) type OldSessions = DashMap<Arc<str>, OldSession>;

impl State {
    pub(crate) fn old_sse_open(
        self: &Arc<Self>,
        paths: &OldSsePaths,
        principal: Option<Principal>,
        permit: Permit,
    ) -> Response<McpBody> {
        if self.old_sessions.len() >= self.config.max_sessions {
            return error_response(
                StatusCode::SERVICE_UNAVAILABLE,
                None,
                ErrorObject::new(
                    error_code::SERVER_ERROR,
                    "Too many sessions: try again later",
                ),
            );
        }
        let id = new_session_id();
        let (ours, theirs) = tokio::io::duplex(64 * 1024);
        let (server_read, server_write) = tokio::io::split(theirs);
        let opts = ConnectionOptions {
            max_message_size: self.config.max_body_bytes,
            client_request_timeout: self.config.client_request_timeout,
            // The stream is gone: nobody will read late answers.
            eof_grace: std::time::Duration::ZERO,
        };
        tokio::spawn(serve_connection(
            self.server.clone(),
            BufReader::new(server_read),
            server_write,
            opts,
        ));
        let (our_read, our_write) = tokio::io::split(ours);
        self.old_sessions.insert(
            id.clone(),
            OldSession {
                input: Arc::new(Mutex::new(our_write)),
                principal,
            },
        );
        let (body_tx, body_rx) = mpsc::channel::<Bytes>(64);
        let endpoint = format!(
            "event: endpoint\ndata: {}?sessionId={id}\n\n",
            paths.messages
        );
        let _ = body_tx.try_send(Bytes::from(endpoint));
        // The connection's output lines become `message` events until the client goes away; then the
        // write side is dropped, the connection sees end of input, and its work is cancelled.
        let state = self.clone();
        let closing = self.closing.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(our_read).lines();
            loop {
                tokio::select! {
                    line = lines.next_line() => match line {
                        Ok(Some(l)) => {
                            let ev = format!("event: message\ndata: {l}\n\n");
                            if body_tx.send(Bytes::from(ev)).await.is_err() {
                                break;
                            }
                        }
                        _ => break,
                    },
                    _ = body_tx.closed() => break,
                    _ = closing.cancelled() => break,
                }
            }
            state.old_sessions.remove(&id);
        });
        let mut body = McpBody::stream(body_rx, None);
        // The stream is one long request: it counts against the in-flight cap while it is open.
        body.hold_permit(permit);
        sse_response(body)
    }

    pub(crate) async fn old_sse_post(
        &self,
        query: Option<&str>,
        body: Bytes,
        guard: Option<&ScopeGuard>,
        principal: &Option<Principal>,
    ) -> Response<McpBody> {
        let id = query
            .unwrap_or_default()
            .split('&')
            .find_map(|kv| kv.strip_prefix("sessionId="));
        // A stream is bound to the caller that opened it; anyone else is told it does not exist.
        let conn = id.and_then(|id| {
            self.old_sessions
                .get(id)
                .filter(|e| super::legacy::same_caller(&e.principal, principal))
                .map(|e| e.input.clone())
        });
        let Some(conn) = conn else {
            return error_response(
                StatusCode::NOT_FOUND,
                None,
                ErrorObject::new(error_code::SESSION_NOT_FOUND, "Session not found"),
            );
        };
        // Re-serialize so the message is exactly one line on the connection.
        let line = match serde_json::from_slice::<Value>(&body) {
            Ok(v) => {
                if let Some(r) = guard.and_then(|g| g.refuse_value(&v, principal.as_ref())) {
                    return r;
                }
                let mut s = v.to_string();
                s.push('\n');
                s
            }
            Err(e) => {
                return error_response(StatusCode::BAD_REQUEST, None, ErrorObject::parse_error(e))
            }
        };
        let mut w = conn.lock().await;
        if w.write_all(line.as_bytes()).await.is_err() {
            return error_response(
                StatusCode::NOT_FOUND,
                None,
                ErrorObject::new(error_code::SESSION_NOT_FOUND, "Session closed"),
            );
        }
        status_only(StatusCode::ACCEPTED)
    }
}
