//! Message-level middleware: [`tower`] layers over MCP requests, not over HTTP.
//!
//! A layer added with [`ServerBuilder::layer`](crate::ServerBuilder::layer) sees every request the server
//! runs, as an [`McpRequest`] (method, tool/resource/prompt name, params, principal, protocol revision,
//! session), and its answer, as an [`McpResponse`] (the JSON-RPC result or error). It runs the same way on
//! every transport (stdio, any byte stream, Streamable HTTP on both eras), so policy that looks at messages
//! (per-tool scopes, rate limits, audit logs) is written once, as a layer, and never inside a transport.
//!
//! Which requests pass through layers: every request that reaches a handler or the legacy session state
//! (`tools/*`, `resources/*`, `prompts/*`, `completion/complete`, `server/discover`, `ping`,
//! `logging/setLevel`), once its era's envelope has been checked (a legacy session exists; a 2026-07-28
//! `_meta` is valid). Not passed: `initialize` (it opens the session the layers would report),
//! `subscriptions/listen` (a stream, not a request/answer), notifications and the client's responses.
//!
//! A layer refuses a request by answering it without calling the service inside, with
//! [`McpResponse::error`]; the client gets that JSON-RPC error on every transport. On HTTP a refusal may also
//! ask for a status and headers ([`McpResponse::with_http_status`], [`McpResponse::with_http_header`]), which
//! is how [`auth::ScopeLayer`](crate::auth::ScopeLayer) answers `403` with an `insufficient_scope` challenge.
//! A layer whose service fails (an `Err`, such as `tower::timeout`'s `Elapsed`) gives the client an error too:
//! an [`ErrorObject`] error as is, anything else as an internal error (-32603) with its message.
//!
//! Layers cost nothing when none is added: the request goes straight to the core, with no boxing.
//!
//! # Example: an audit log and a refusal, as a layer of your own
//!
//! ```
//! use std::task::{Context, Poll};
//! use futures::future::{BoxFuture, FutureExt};
//! use mcp_server::middleware::{McpRequest, McpResponse};
//! use mcp_server::protocol::ErrorObject;
//! use mcp_server::Server;
//!
//! /// Logs every call with its caller, and refuses the tool `shutdown` to anyone but `admin`.
//! #[derive(Clone)]
//! struct Audit<S>(S);
//!
//! impl<S> tower::Service<McpRequest> for Audit<S>
//! where
//!     S: tower::Service<McpRequest, Response = McpResponse> + Clone + Send + 'static,
//!     S::Future: Send,
//! {
//!     type Response = McpResponse;
//!     type Error = S::Error;
//!     type Future = BoxFuture<'static, Result<McpResponse, S::Error>>;
//!
//!     fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
//!         self.0.poll_ready(cx)
//!     }
//!
//!     fn call(&mut self, req: McpRequest) -> Self::Future {
//!         let who = req.principal().map(|p| p.subject.clone()).unwrap_or_default();
//!         tracing::info!(method = req.method(), name = req.name(), who, "mcp call");
//!         if req.method() == "tools/call" && req.name() == Some("shutdown") && who != "admin" {
//!             let refusal = McpResponse::error(ErrorObject::invalid_request("only admin may shut down"));
//!             return async move { Ok(refusal) }.boxed();
//!         }
//!         self.0.call(req).boxed()
//!     }
//! }
//!
//! let server = Server::builder("audited", "1.0.0")
//!     // Built-in tower layers work too: at most 32 requests run at once, the rest wait their turn.
//!     .layer(tower::limit::ConcurrencyLimitLayer::new(32))
//!     .layer(tower::layer::layer_fn(Audit))
//!     .build();
//! # let _ = server;
//! ```

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::future::Either;
use futures::FutureExt as _;
use mcp_protocol::types::{methods, CacheScope};
use mcp_protocol::{Era, ErrorObject, ProtocolVersion, Request, RequestId};
use serde_json::Value;
use tower::util::BoxCloneSyncService;
use tower::ServiceExt as _;

use crate::context::Envelope;
use crate::core::is_cacheable;
use crate::legacy::LegacySession;
use crate::reply::Outcome;
use crate::{Principal, Server};

/// The error a layer's service may fail with; see the [module docs](self) for what the client gets.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A legacy session as the middleware needs it: its protocol state and, on HTTP, its id.
pub(crate) trait SessionHandle: Send + Sync + 'static {
    fn legacy(&self) -> &LegacySession;
    fn session_id(&self) -> Option<&str>;
}

impl SessionHandle for LegacySession {
    fn legacy(&self) -> &LegacySession {
        self
    }
    fn session_id(&self) -> Option<&str> {
        None
    }
}

/// How the core runs a request once the layers let it through.
pub(crate) enum Route {
    /// 2026-07-28: the envelope comes from the request's validated `_meta`.
    Modern { env: Envelope, scope: CacheScope },
    /// A request of an initialized legacy session.
    Legacy {
        session: Arc<dyn SessionHandle>,
        env: Envelope,
    },
}

impl Route {
    fn env(&self) -> &Envelope {
        match self {
            Self::Modern { env, .. } | Self::Legacy { env, .. } => env,
        }
    }
}

/// One MCP request, as a layer sees it.
///
/// ```
/// use mcp_server::middleware::McpRequest;
/// use mcp_server::Server;
///
/// // Every request, whatever its transport or era, passes here first.
/// let trace = tower::util::MapRequestLayer::new(|req: McpRequest| {
///     tracing::info!(method = req.method(), name = req.name(), era = ?req.era(), session = req.session_id());
///     req
/// });
/// let server = Server::builder("traced", "1.0.0").layer(trace).build();
/// # let _ = server;
/// ```
pub struct McpRequest {
    pub(crate) server: Server,
    pub(crate) request: Request,
    pub(crate) route: Route,
}

impl std::fmt::Debug for McpRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("McpRequest")
            .field("method", &self.request.method)
            .field("id", &self.request.id)
            .field("name", &self.name())
            .field("version", &self.protocol_version())
            .field("session", &self.session_id())
            .finish_non_exhaustive()
    }
}

impl McpRequest {
    /// The JSON-RPC method, e.g. `tools/call`.
    pub fn method(&self) -> &str {
        &self.request.method
    }

    /// The request's JSON-RPC id.
    pub fn id(&self) -> &RequestId {
        &self.request.id
    }

    /// What the request is about, where there is one thing: the tool of `tools/call`, the prompt of
    /// `prompts/get`, the URI of `resources/read`, `resources/subscribe` and `resources/unsubscribe`.
    /// `None` for other methods, or when the params do not name it as a string (the core then answers
    /// with invalid params).
    pub fn name(&self) -> Option<&str> {
        let key = match self.request.method.as_str() {
            methods::TOOLS_CALL | methods::PROMPTS_GET => "name",
            methods::RESOURCES_READ
            | methods::RESOURCES_SUBSCRIBE
            | methods::RESOURCES_UNSUBSCRIBE => "uri",
            _ => return None,
        };
        self.params()?.get(key)?.as_str()
    }

    /// The params, as the client sent them (`_meta` included).
    pub fn params(&self) -> Option<&Value> {
        self.request.params.as_ref()
    }

    /// The authenticated caller, when an auth layer admitted the request (HTTP with
    /// [`BearerAuthLayer`](crate::auth::BearerAuthLayer)); `None` on stdio and unauthenticated HTTP.
    pub fn principal(&self) -> Option<&Principal> {
        self.route.env().principal.as_ref()
    }

    /// The protocol revision the request speaks: the session's on the legacy era, the `_meta` one on
    /// 2026-07-28.
    pub fn protocol_version(&self) -> ProtocolVersion {
        self.route.env().version
    }

    /// The era of [`protocol_version`](Self::protocol_version).
    pub fn era(&self) -> Era {
        self.protocol_version().era()
    }

    /// The legacy HTTP session (`Mcp-Session-Id`) the request belongs to. `None` on 2026-07-28, which has no
    /// sessions, and on byte-stream connections, whose one session has no id.
    pub fn session_id(&self) -> Option<&str> {
        match &self.route {
            Route::Legacy { session, .. } => session.session_id(),
            Route::Modern { .. } => None,
        }
    }

    /// The client's self-reported name and version, when it gave them (never use them for security).
    pub fn client_info(&self) -> Option<&mcp_protocol::types::Implementation> {
        self.route.env().client.info.as_ref()
    }
}

/// What an HTTP transport should answer a refusal with, besides the JSON-RPC error.
#[derive(Debug, Clone, Default)]
pub(crate) struct HttpHint {
    pub status: Option<u16>,
    pub headers: Vec<(String, String)>,
}

/// The answer to an [`McpRequest`]: a JSON-RPC result or error (or nothing, when the request was
/// cancelled: a cancelled request is not answered).
///
/// ```
/// use mcp_server::middleware::McpResponse;
/// use mcp_server::protocol::ErrorObject;
/// use mcp_server::Server;
///
/// // Internal errors keep their detail in the log, not in the client's hands.
/// let redact = tower::util::MapResponseLayer::new(|resp: McpResponse| {
///     match resp.error_object() {
///         Some(e) if e.code == -32603 => {
///             tracing::warn!(detail = %e.message, "internal error");
///             McpResponse::error(ErrorObject::internal("internal error"))
///         }
///         _ => resp,
///     }
/// });
/// let server = Server::builder("careful", "1.0.0").layer(redact).build();
/// # let _ = server;
/// ```
#[derive(Debug)]
pub struct McpResponse {
    pub(crate) outcome: Outcome,
    /// Boxed: only refusals carry one, and the common answer stays two words smaller.
    pub(crate) http: Option<Box<HttpHint>>,
}

impl From<Outcome> for McpResponse {
    fn from(outcome: Outcome) -> Self {
        Self {
            outcome,
            http: None,
        }
    }
}

impl McpResponse {
    /// A JSON-RPC error answer: what a layer returns to refuse a request without running it.
    ///
    /// ```
    /// use mcp_server::middleware::McpResponse;
    /// use mcp_server::protocol::ErrorObject;
    ///
    /// let r = McpResponse::error(ErrorObject::invalid_request("not now"));
    /// assert_eq!(r.error_object().unwrap().code, -32600);
    /// assert!(r.result_json().is_none());
    /// ```
    pub fn error(e: ErrorObject) -> Self {
        Some(Err(e)).into()
    }

    /// The JSON-RPC error, when the answer is one.
    pub fn error_object(&self) -> Option<&ErrorObject> {
        match &self.outcome {
            Some(Err(e)) => Some(e),
            _ => None,
        }
    }

    /// The JSON-RPC result as the JSON text that goes on the wire, when the answer is one. A tool that
    /// failed is a result too (`"isError": true`), as the protocol wants.
    pub fn result_json(&self) -> Option<&str> {
        match &self.outcome {
            Some(Ok(r)) => Some(r.text()),
            _ => None,
        }
    }

    /// The result parsed into a value (a copy; [`result_json`](Self::result_json) is free).
    pub fn result_value(&self) -> Option<Value> {
        self.result_json()
            .and_then(|t| serde_json::from_str(t).ok())
    }

    /// Whether the request was cancelled, so nothing is sent.
    pub fn is_cancelled(&self) -> bool {
        self.outcome.is_none()
    }

    /// On HTTP, answer with this status instead of the one the error code maps to (such as 403 for a refusal
    /// the client can fix by getting another token). Only a response sent as a single JSON body carries it;
    /// on a stream already open, and on stdio, the client gets the JSON-RPC error alone.
    ///
    /// ```
    /// use mcp_server::middleware::McpResponse;
    /// use mcp_server::protocol::ErrorObject;
    ///
    /// let r = McpResponse::error(ErrorObject::invalid_request("slow down"))
    ///     .with_http_status(429)
    ///     .with_http_header("retry-after", "5");
    /// assert_eq!(r.http_status(), Some(429));
    /// ```
    pub fn with_http_status(mut self, status: u16) -> Self {
        self.http.get_or_insert_with(Default::default).status = Some(status);
        self
    }

    /// On HTTP, add this header to the response (see [`with_http_status`](Self::with_http_status) for when it
    /// is sent). A name or value that is not a valid header is left out.
    pub fn with_http_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.http
            .get_or_insert_with(Default::default)
            .headers
            .push((name.into(), value.into()));
        self
    }

    /// The HTTP status asked for with [`with_http_status`](Self::with_http_status).
    pub fn http_status(&self) -> Option<u16> {
        self.http.as_ref().and_then(|h| h.status)
    }

    /// The error a layer failed with, as an answer.
    fn from_error(e: BoxError) -> Self {
        let e = match e.downcast::<ErrorObject>() {
            Ok(e) => *e,
            Err(e) => {
                tracing::debug!(error = %e, "a middleware layer failed the request");
                ErrorObject::internal(e.to_string())
            }
        };
        Self::error(e)
    }
}

/// The service a layer wraps: the layers added before it, then the core. Cheap to clone.
///
/// A layer of your own is a function from `Next` to your service:
///
/// ```
/// use mcp_server::middleware::{McpRequest, Next};
/// use mcp_server::Server;
///
/// #[derive(Clone)]
/// struct CountCalls { inner: Next, calls: std::sync::Arc<std::sync::atomic::AtomicU64> }
///
/// impl tower::Service<McpRequest> for CountCalls {
///     type Response = <Next as tower::Service<McpRequest>>::Response;
///     type Error = <Next as tower::Service<McpRequest>>::Error;
///     type Future = <Next as tower::Service<McpRequest>>::Future;
///     fn poll_ready(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Self::Error>> {
///         self.inner.poll_ready(cx)
///     }
///     fn call(&mut self, req: McpRequest) -> Self::Future {
///         self.calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
///         self.inner.call(req)
///     }
/// }
///
/// let calls: std::sync::Arc<std::sync::atomic::AtomicU64> = Default::default();
/// let counted = calls.clone();
/// let server = Server::builder("counted", "1.0.0")
///     .layer(tower::layer::layer_fn(move |inner: Next| CountCalls { inner, calls: counted.clone() }))
///     .build();
/// # let _ = (server, calls);
/// ```
#[derive(Clone)]
pub struct Next(BoxCloneSyncService<McpRequest, McpResponse, Infallible>);

impl std::fmt::Debug for Next {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Next").finish_non_exhaustive()
    }
}

impl tower::Service<McpRequest> for Next {
    type Response = McpResponse;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<McpResponse, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, req: McpRequest) -> Self::Future {
        self.0.call(req)
    }
}

/// The core as a service: what is inside the innermost layer.
#[derive(Clone, Copy)]
struct Core;

impl tower::Service<McpRequest> for Core {
    type Response = McpResponse;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<McpResponse, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: McpRequest) -> Self::Future {
        Box::pin(async move {
            let McpRequest {
                server,
                request,
                route,
            } = req;
            Ok(server.dispatch_route(request, route).await)
        })
    }
}

/// A layer's service with its errors turned into answers, so what the transports call never fails.
#[derive(Clone)]
struct Answering<S> {
    inner: S,
    /// Why `poll_ready` failed: the next call is answered with it.
    failed: Option<Arc<str>>,
}

impl<S> tower::Service<McpRequest> for Answering<S>
where
    S: tower::Service<McpRequest, Response = McpResponse>,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
{
    type Response = McpResponse;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<McpResponse, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        match self.inner.poll_ready(cx) {
            Poll::Ready(Err(e)) => {
                self.failed = Some(e.into().to_string().into());
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Ok(())) => Poll::Ready(Ok(())),
            Poll::Pending => Poll::Pending,
        }
    }

    fn call(&mut self, req: McpRequest) -> Self::Future {
        if let Some(why) = self.failed.take() {
            let e = McpResponse::error(ErrorObject::internal(why.to_string()));
            return Box::pin(async move { Ok(e) });
        }
        let fut = self.inner.call(req);
        Box::pin(async move {
            Ok(fut
                .await
                .unwrap_or_else(|e| McpResponse::from_error(e.into())))
        })
    }
}

impl Next {
    /// `layer` around `inner` (the core when `None`).
    pub(crate) fn wrap<L>(inner: Option<Next>, layer: L) -> Next
    where
        L: tower::Layer<Next>,
        L::Service:
            tower::Service<McpRequest, Response = McpResponse> + Clone + Send + Sync + 'static,
        <L::Service as tower::Service<McpRequest>>::Error: Into<BoxError>,
        <L::Service as tower::Service<McpRequest>>::Future: Send + 'static,
    {
        let inner = inner.unwrap_or_else(|| Next(BoxCloneSyncService::new(Core)));
        Next(BoxCloneSyncService::new(Answering {
            inner: layer.layer(inner),
            failed: None,
        }))
    }
}

impl Server {
    /// Run a request through the layers, if any, then the core. With no layers this is the core itself:
    /// nothing is boxed or cloned on the way. (Not an `async fn`, for the reason given at
    /// [`Server::run_core`].)
    pub(crate) fn through_layers(
        &self,
        request: Request,
        route: Route,
    ) -> impl Future<Output = McpResponse> + Send + '_ {
        match &self.inner.layers {
            None => Either::Left(self.dispatch_route(request, route)),
            Some(next) => {
                let req = McpRequest {
                    server: self.clone(),
                    request,
                    route,
                };
                Either::Right(next.clone().oneshot(req).map(|r| match r {
                    Ok(r) => r,
                    Err(never) => match never {},
                }))
            }
        }
    }

    /// The core's side of a request the layers let through.
    fn dispatch_route(
        &self,
        request: Request,
        route: Route,
    ) -> impl Future<Output = McpResponse> + Send + '_ {
        match route {
            Route::Modern { env, scope } => {
                let cacheable = is_cacheable(&request.method);
                Either::Left(
                    self.run_core(request, env, None)
                        .map(move |outcome| self.decorate_modern(cacheable, outcome, scope).into()),
                )
            }
            Route::Legacy { session, env } => Either::Right(
                self.legacy_dispatch(session.legacy(), session.session_id(), request, env)
                    .map(McpResponse::from),
            ),
        }
    }
}
