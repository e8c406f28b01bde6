//! The state shared by the transport and its streams, and the HTTP plumbing every exchange uses: protocol
//! headers, authorization, POST and GET.

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use mcp_protocol::types::methods;
use mcp_protocol::{headers, meta, ErrorObject, Message, ProtocolVersion, Request, RequestId};
use mcp_rpc::rt::{self, JoinHandle};
use reqwest::header::{HeaderMap, ACCEPT, CONTENT_TYPE};
use reqwest::Method;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use super::options::HttpOptions;
use crate::auth::{apply_headers, retry_after_refusal, AuthProvider};
use crate::error::Error;
use crate::transport::legacy_sse::LegacySseTransport;
use crate::transport::{SendOptions, TransportEvent};

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum SessionState {
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
pub(super) struct SessionSlot {
    pub(super) state: SessionState,
    pub(super) generation: u64,
}

pub(super) struct Inner {
    pub(super) http: reqwest::Client,
    pub(super) url: reqwest::Url,
    pub(super) headers: HeaderMap,
    pub(super) auth: Option<Arc<dyn AuthProvider>>,
    pub(super) opts: HttpOptions,
    pub(super) events: OnceLock<mpsc::Sender<TransportEvent>>,
    pub(super) session: watch::Sender<SessionSlot>,
    pub(super) legacy_version: Mutex<Option<ProtocolVersion>>,
    pub(super) streams: Mutex<HashMap<RequestId, CancellationToken>>,
    pub(super) get_task: Mutex<Option<JoinHandle<()>>>,
    pub(super) reissue_seq: AtomicU64,
    pub(super) closed: CancellationToken,
    pub(super) auth_key: Mutex<Option<String>>,
    /// False from the moment the legacy GET stream is requested until the server has answered it (or it
    /// failed): requests wait for it (briefly), so messages the server sends on that stream are not lost.
    pub(super) get_ready: watch::Sender<bool>,
    /// Set once the server turned out to speak only the 2024-11-05 HTTP+SSE transport: everything goes there.
    pub(super) fallback: OnceLock<LegacySseTransport>,
    pub(super) fallback_lock: tokio::sync::Mutex<()>,
}

/// Marks the GET stream as settled when the loop ends, however it ends.
pub(super) struct ReadyOnExit<'a>(pub(super) &'a watch::Sender<bool>);

impl Drop for ReadyOnExit<'_> {
    fn drop(&mut self) {
        self.0.send_replace(true);
    }
}

/// How a reply stream ended.
pub(super) struct StreamEnd {
    pub(super) replied: bool,
    pub(super) messages: usize,
    pub(super) broken: Option<String>,
}

pub(super) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

pub(super) fn truncate(s: &str) -> String {
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

pub(super) fn is_sse(resp: &reqwest::Response) -> bool {
    resp.headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().starts_with("text/event-stream"))
}

/// The JSON-RPC error in an error response body, if it is one.
pub(super) fn jsonrpc_error_of(body: &[u8]) -> Option<ErrorObject> {
    match crate::transport::parse_message(body).ok()? {
        Message::Error(e) => Some(e.error),
        _ => None,
    }
}

/// `Mcp-Name`: the params field [`headers::name_param`](mcp_protocol::headers::name_param) names.
pub(super) fn mcp_name(req: &Request) -> Option<&str> {
    let key = mcp_protocol::headers::name_param(&req.method)?;
    req.params.as_ref()?.get(key)?.as_str()
}

pub(super) fn modern_version(req: &Request) -> Option<&str> {
    req.meta()?.get(meta::PROTOCOL_VERSION)?.as_str()
}

impl Inner {
    pub(super) async fn emit(&self, msg: Message) {
        if let Some(tx) = self.events.get() {
            let _ = tx.send(TransportEvent::Message(msg)).await;
        }
    }

    /// Sleep for `delay` unless the transport closes first; returns whether it closed.
    pub(super) async fn closed_during(&self, delay: Duration) -> bool {
        tokio::select! {
            _ = rt::sleep(delay) => false,
            _ = self.closed.cancelled() => true,
        }
    }

    pub(super) fn backoff(&self, attempt: u32) -> Duration {
        let base = self.opts.initial_backoff.as_secs_f64();
        let d = base * self.opts.backoff_factor.powi(attempt.min(64) as i32);
        Duration::from_secs_f64(d.min(self.opts.max_backoff.as_secs_f64()))
    }

    pub(super) async fn authorize(
        &self,
        method: &Method,
        rb: reqwest::RequestBuilder,
    ) -> Result<(reqwest::RequestBuilder, Option<String>), Error> {
        apply_headers(self.auth.as_ref(), &self.auth_key, method, &self.url, rb).await
    }

    pub(super) fn legacy_version(&self) -> Option<ProtocolVersion> {
        *lock(&self.legacy_version)
    }

    /// The headers the protocol puts on a message.
    pub(super) fn protocol_headers(
        &self,
        request: Option<&Request>,
        opts: &SendOptions,
    ) -> Vec<(String, String)> {
        let mut h = Vec::new();
        let modern = request.and_then(|r| modern_version(r).map(|v| (r, v)));
        if let Some((req, version)) = modern {
            h.push((headers::PROTOCOL_VERSION.to_owned(), version.to_owned()));
            h.push((headers::METHOD.to_owned(), req.method.clone()));
            if let Some(name) = mcp_name(req) {
                h.push((headers::NAME.to_owned(), headers::encode_value(name)));
            }
        } else if request.map(|r| r.method.as_str()) != Some(methods::INITIALIZE) {
            if let Some(v) = self.legacy_version() {
                h.push((headers::PROTOCOL_VERSION.to_owned(), v.as_str().to_owned()));
            }
        }
        h.extend(opts.headers.iter().cloned());
        h
    }

    /// POST `msg` (a [`Message`], or the [`Request`] of one: they serialize alike).
    pub(super) async fn post(
        &self,
        msg: &impl serde::Serialize,
        sid: Option<&str>,
        extra: &[(String, String)],
    ) -> Result<reqwest::Response, Error> {
        let body = bytes::Bytes::from(
            serde_json::to_vec(msg).map_err(|e| Error::transport_protocol(e.to_string()))?,
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
            let resp = rb.body(body.clone()).send().await.map_err(Error::network)?;
            if !retry_after_refusal(self.auth.as_ref(), &resp, token, attempt).await? {
                return Ok(resp);
            }
            attempt += 1;
        }
    }

    pub(super) async fn get(
        &self,
        sid: Option<&str>,
        last_event_id: Option<&str>,
    ) -> Result<reqwest::Response, Error> {
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
            let resp = rb.send().await.map_err(Error::network)?;
            if !retry_after_refusal(self.auth.as_ref(), &resp, token, attempt).await? {
                return Ok(resp);
            }
            attempt += 1;
        }
    }
}
