//! [`HttpTransport`] itself: the [`Transport`](crate::transport::Transport) implementation that routes each
//! message to a POST exchange, the GET event stream or the 2024-11-05 fallback.

use mcp_rpc::rt;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use mcp_protocol::types::{methods, CancelledParams};
use mcp_protocol::{Message, ProtocolVersion, Request};
use tokio::sync::mpsc;

use super::builder::HttpTransportBuilder;
use super::inner::{lock, Inner, SessionState};
use super::options::HttpOptions;
use crate::error::Error;
use crate::transport::{SendOptions, SessionStatus, Transport, TransportEvent, TransportKind};

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
    pub(super) inner: Arc<Inner>,
}

impl std::fmt::Debug for HttpTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpTransport")
            .field("url", &self.inner.url.as_str())
            .finish_non_exhaustive()
    }
}

impl HttpTransport {
    /// A transport for the MCP endpoint at `url`, with default settings.
    pub fn new(url: impl Into<String>) -> Result<Self, Error> {
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

impl Transport for HttpTransport {
    fn kind(&self) -> TransportKind {
        TransportKind::Http
    }

    fn start(&self, events: mpsc::Sender<TransportEvent>) -> BoxFuture<'_, Result<(), Error>> {
        let r = self
            .inner
            .events
            .set(events)
            .map_err(|_| Error::transport_protocol("transport already started".into()));
        Box::pin(async move { r })
    }

    fn send(&self, msg: Message, opts: SendOptions) -> BoxFuture<'_, Result<(), Error>> {
        crate::transport::boxed(async move {
            let inner = &self.inner;
            if inner.closed.is_cancelled() {
                return Err(Error::closed());
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
                        Err(refused) if matches!(refused.status(), Some(400 | 404 | 405)) => {
                            let status = refused.status().unwrap_or_default();
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
                                    Err(refused)
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

    fn close(&self) -> BoxFuture<'_, Result<(), Error>> {
        crate::transport::boxed(async move {
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
    async fn exchange_tracked(&self, req: Request, opts: SendOptions) -> Result<(), Error> {
        let inner = &self.inner;
        let token = inner.closed.child_token();
        lock(&inner.streams).insert(req.id.clone(), token.clone());
        let id = req.id.clone();
        let r = tokio::select! {
            r = inner.exchange(req, opts) => r,
            _ = token.cancelled() => Err(Error::cancelled()),
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
