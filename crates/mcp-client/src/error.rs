//! The client's error: one type for what the transport, the JSON-RPC exchange, authorization and the client's
//! own checks report.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use mcp_protocol::{ErrorObject, Message};

/// An underlying cause, shared so [`Error`] stays `Clone` (one failure can end several requests).
type Source = Arc<dyn std::error::Error + Send + Sync + 'static>;

/// Why a client call, a transport or authorization failed.
///
/// Opaque: ask it what happened with [`kind`](Error::kind) and the `is_*` methods, read the server's JSON-RPC
/// error with [`rpc_error`](Error::rpc_error), and walk [`source`](std::error::Error::source) for the
/// underlying cause (the [`reqwest::Error`] of a failed HTTP request, the [`std::io::Error`] of a broken
/// pipe, the [`serde_json::Error`] of an unreadable result). New kinds may be added without a breaking change.
/// It is `Clone` (sources are shared).
///
/// ```
/// # async fn run(client: mcp_client::Client) {
/// match client.call_tool("charge", serde_json::json!({"amount": 5})).await {
///     Ok(result) => println!("{}", result.text_content()),
///     Err(e) if e.is_outcome_unknown() => {
///         eprintln!("the charge may or may not have happened; check before retrying: {e}")
///     }
///     Err(e) if e.is_timeout() || e.is_connect() => eprintln!("server unreachable, try later: {e}"),
///     Err(e) => match e.rpc_error() {
///         Some(rpc) => eprintln!("the server refused: {} (code {})", rpc.message, rpc.code),
///         None => eprintln!("failed: {e}"),
///     },
/// }
/// # }
/// ```
#[derive(Clone)]
pub struct Error {
    inner: Box<Inner>,
}

#[derive(Clone)]
struct Inner {
    repr: Repr,
    source: Option<Source>,
}

/// What kind of failure an [`Error`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The server answered with a JSON-RPC error ([`Error::rpc_error`]).
    Rpc,
    /// No response in time (the client's timeout, or the HTTP client's).
    Timeout,
    /// The request was cancelled by the caller.
    Cancelled,
    /// The connection or transport is closed.
    Closed,
    /// The server's session is gone ([`Error::is_session_expired`]).
    SessionExpired,
    /// The reply to a request was lost; it may or may not have run ([`Error::is_outcome_unknown`]).
    OutcomeUnknown,
    /// A response stream ended before the response and could not be resumed; the request may have run.
    StreamBroken,
    /// Reading or writing a byte stream failed (a child process's pipes, a socket).
    Io,
    /// The server could not be reached (connection refused, DNS, TLS handshake).
    Connect,
    /// An HTTP request failed after the connection was made (reset, a body that could not be read).
    Network,
    /// The server answered with an HTTP status that carries no JSON-RPC error ([`Error::status`]).
    Http,
    /// The server refused the credentials and authorizing again failed or was not possible.
    Unauthorized,
    /// Authorization (discovery, registration, a token request, the token store) failed
    /// ([`Error::auth_kind`] says which step).
    Auth,
    /// The peer sent something that is not valid MCP, or broke the protocol.
    Protocol,
    /// The server's result does not have the expected shape.
    InvalidResult,
    /// The operation does not exist on the negotiated protocol era.
    Unsupported,
    /// A subscription was ended because the application did not read it.
    SubscriptionOverflow,
}

/// Which step of authorization failed (an [`Error`] of kind [`ErrorKind::Auth`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AuthErrorKind {
    /// A metadata, registration or token endpoint could not be reached.
    Network,
    /// A metadata document is unusable.
    Metadata,
    /// The Protected Resource Metadata describes another resource than the server being called.
    ResourceMismatch,
    /// Authorization server metadata names another issuer than the one it was looked up for.
    IssuerMismatch,
    /// The authorization server does not offer what the client requires (PKCE S256, a registration method).
    Unsupported,
    /// Registering the client failed.
    Registration,
    /// The authorization step failed or its response was rejected (`state` or `iss` mismatch, `error`).
    Authorization,
    /// The token endpoint refused.
    Token,
    /// The server keeps refusing: the retry limit was reached.
    RetriesExhausted,
    /// The token store failed.
    Storage,
}

/// The old name of [`Error`].
pub type ClientError = Error;
/// The old name of [`Error`] (transports report the same type as the client).
pub type TransportError = Error;

/// What an [`Error`] is, inside the crate. The variants keep every distinction the client's recovery and
/// re-issue logic make.
#[derive(Debug, Clone)]
// Without `http` some kinds (HTTP statuses, authorization) have no transport that makes them.
#[cfg_attr(not(feature = "http"), allow(dead_code))]
pub(crate) enum Repr {
    Rpc(ErrorObject),
    Timeout(Option<Duration>),
    Cancelled,
    Closed,
    /// The client's session is gone and could not be re-established.
    SessionExpired {
        session_id: Option<String>,
        reason: String,
    },
    /// A transport saw the server answer 404 to a message with a session id: the message never ran and may
    /// be re-sent once a new session exists. `generation` is the transport's session generation at send;
    /// `unsent` is the message, handed back so that the writer need not keep a copy of every message it sends.
    SessionGone {
        session_id: Option<String>,
        generation: u64,
        unsent: Option<Box<Message>>,
    },
    OutcomeUnknown {
        method: String,
        reason: String,
    },
    StreamBroken(String),
    /// A transport could not read what the server sent (a body that is not JSON-RPC, a bad event stream).
    TransportProtocol(String),
    Io(String),
    /// An HTTP request failed; the source is the `reqwest::Error` when there is one.
    Network(String),
    Http {
        status: u16,
        body: String,
    },
    Unauthorized(String),
    Auth(AuthErrorKind, String),
    Protocol(String),
    InvalidResult(String),
    Unsupported(&'static str),
    SubscriptionOverflow {
        buffer: usize,
    },
}

impl From<Repr> for Error {
    fn from(repr: Repr) -> Self {
        Self {
            inner: Box::new(Inner { repr, source: None }),
        }
    }
}

impl Error {
    pub(crate) fn repr(&self) -> &Repr {
        &self.inner.repr
    }

    /// The server's JSON-RPC error by value, or the error back when it is not one.
    pub(crate) fn split_rpc(self) -> Result<ErrorObject, Error> {
        match *self.inner {
            Inner {
                repr: Repr::Rpc(e), ..
            } => Ok(e),
            inner => Err(Self {
                inner: Box::new(inner),
            }),
        }
    }

    /// The inverse of [`split_rpc`](Self::split_rpc).
    pub(crate) fn join_rpc(r: Result<ErrorObject, Error>) -> Error {
        match r {
            Ok(o) => Repr::Rpc(o).into(),
            Err(e) => e,
        }
    }

    pub(crate) fn with_source(
        mut self,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        self.inner.source = Some(Arc::new(source));
        self
    }

    /// An HTTP request that failed, with the `reqwest` error kept as the source.
    #[cfg(feature = "http")]
    pub(crate) fn network(e: reqwest::Error) -> Self {
        Self::from(Repr::Network(e.to_string())).with_source(e)
    }

    /// An authorization step that failed because an endpoint could not be reached.
    #[cfg(feature = "oauth")]
    pub(crate) fn auth_network(e: reqwest::Error) -> Self {
        Self::from(Repr::Auth(AuthErrorKind::Network, e.to_string())).with_source(e)
    }

    /// An authorization step that failed, and why.
    // Only the HTTP transports and authorization make this one.
    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    pub(crate) fn auth(kind: AuthErrorKind, msg: String) -> Self {
        Self::from(Repr::Auth(kind, msg))
    }

    pub(crate) fn rpc(e: ErrorObject) -> Self {
        Repr::Rpc(e).into()
    }

    pub(crate) fn timeout(after: Duration) -> Self {
        Repr::Timeout(Some(after)).into()
    }

    // Only the HTTP transports and authorization make this one.
    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    pub(crate) fn cancelled() -> Self {
        Repr::Cancelled.into()
    }

    pub(crate) fn closed() -> Self {
        Repr::Closed.into()
    }

    // Only the HTTP transports and authorization make this one.
    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    pub(crate) fn http(status: u16, body: String) -> Self {
        Repr::Http { status, body }.into()
    }

    pub(crate) fn transport_protocol(msg: String) -> Self {
        Repr::TransportProtocol(msg).into()
    }

    pub(crate) fn invalid_result(msg: String) -> Self {
        Repr::InvalidResult(msg).into()
    }

    // Only the HTTP transports and authorization make this one.
    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    pub(crate) fn unauthorized(msg: String) -> Self {
        Repr::Unauthorized(msg).into()
    }

    // Only the HTTP transports and authorization make this one.
    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    pub(crate) fn stream_broken(msg: String) -> Self {
        Repr::StreamBroken(msg).into()
    }

    pub(crate) fn unsupported(what: &'static str) -> Self {
        Repr::Unsupported(what).into()
    }

    /// A byte stream that failed, with the `io::Error` kept as the source.
    pub(crate) fn io(e: std::io::Error) -> Self {
        Self::from(Repr::Io(e.to_string())).with_source(e)
    }

    /// A message that cannot be used as MCP, with what could not parse it as the source.
    pub(crate) fn protocol(msg: String) -> Self {
        Self::from(Repr::Protocol(msg))
    }

    /// An error a custom [`Transport`](crate::transport::Transport) reports: reading or writing its byte
    /// stream failed. `source` is kept as this error's [`source`](std::error::Error::source).
    pub fn from_io(source: std::io::Error) -> Self {
        Self::io(source)
    }

    /// An error a custom transport or [`AuthProvider`](crate::auth::AuthProvider) reports when the peer sent
    /// something unusable.
    pub fn from_protocol(msg: impl Into<String>) -> Self {
        Self::protocol(msg.into())
    }

    /// An error a custom [`TokenStore`](crate::auth::TokenStore) or
    /// [`AuthProvider`](crate::auth::AuthProvider) reports, of the given step.
    pub fn from_auth(
        kind: AuthErrorKind,
        source: impl Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
    ) -> Self {
        let source: Source = Arc::from(source.into());
        let mut e = Self::from(Repr::Auth(kind, source.to_string()));
        e.inner.source = Some(source);
        e
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        match &self.inner.repr {
            Repr::Rpc(_) => ErrorKind::Rpc,
            Repr::Timeout(_) => ErrorKind::Timeout,
            Repr::Cancelled => ErrorKind::Cancelled,
            Repr::Closed => ErrorKind::Closed,
            Repr::SessionExpired { .. } | Repr::SessionGone { .. } => ErrorKind::SessionExpired,
            Repr::OutcomeUnknown { .. } => ErrorKind::OutcomeUnknown,
            Repr::StreamBroken(_) => ErrorKind::StreamBroken,
            Repr::Io(_) => ErrorKind::Io,
            Repr::Network(_) => self.network_kind(),
            Repr::Http { .. } => ErrorKind::Http,
            Repr::Unauthorized(_) => ErrorKind::Unauthorized,
            Repr::Auth(..) => ErrorKind::Auth,
            Repr::Protocol(_) | Repr::TransportProtocol(_) => ErrorKind::Protocol,
            Repr::InvalidResult(_) => ErrorKind::InvalidResult,
            Repr::Unsupported(_) => ErrorKind::Unsupported,
            Repr::SubscriptionOverflow { .. } => ErrorKind::SubscriptionOverflow,
        }
    }

    /// What a failed HTTP request was: reqwest knows whether it timed out or never connected (fetch, on
    /// wasm32, does not say whether it connected).
    #[cfg(feature = "http")]
    fn network_kind(&self) -> ErrorKind {
        let r = self
            .inner
            .source
            .as_deref()
            .and_then(|s| s.downcast_ref::<reqwest::Error>());
        match r {
            Some(r) if r.is_timeout() => ErrorKind::Timeout,
            #[cfg(not(target_arch = "wasm32"))]
            Some(r) if r.is_connect() => ErrorKind::Connect,
            _ => ErrorKind::Network,
        }
    }

    #[cfg(not(feature = "http"))]
    fn network_kind(&self) -> ErrorKind {
        ErrorKind::Network
    }

    fn io_source(&self) -> Option<&std::io::Error> {
        self.inner
            .source
            .as_deref()
            .and_then(|s| s.downcast_ref::<std::io::Error>())
    }

    /// The server's JSON-RPC error, when it answered with one.
    pub fn rpc_error(&self) -> Option<&ErrorObject> {
        match &self.inner.repr {
            Repr::Rpc(e) => Some(e),
            _ => None,
        }
    }

    /// The JSON-RPC error code, when the server answered with an error.
    pub fn code(&self) -> Option<i64> {
        self.rpc_error().map(|e| e.code)
    }

    /// The HTTP status, when the server answered with one that carries no JSON-RPC error.
    pub fn status(&self) -> Option<u16> {
        match &self.inner.repr {
            Repr::Http { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The (truncated) body of an HTTP error response, when [`status`](Error::status) is set.
    pub fn http_body(&self) -> Option<&str> {
        match &self.inner.repr {
            Repr::Http { body, .. } => Some(body),
            _ => None,
        }
    }

    /// Which authorization step failed, when this is an authorization error.
    pub fn auth_kind(&self) -> Option<AuthErrorKind> {
        match &self.inner.repr {
            Repr::Auth(k, _) => Some(*k),
            _ => None,
        }
    }

    /// The method of the request whose reply was lost, when [`is_outcome_unknown`](Error::is_outcome_unknown).
    pub fn method(&self) -> Option<&str> {
        match &self.inner.repr {
            Repr::OutcomeUnknown { method, .. } => Some(method),
            _ => None,
        }
    }

    /// The id of the session that expired, when known.
    pub fn session_id(&self) -> Option<&str> {
        match &self.inner.repr {
            Repr::SessionExpired { session_id, .. } | Repr::SessionGone { session_id, .. } => {
                session_id.as_deref()
            }
            _ => None,
        }
    }

    /// The message a [`Repr::SessionGone`] hands back, taken out of it.
    pub(crate) fn take_unsent(&mut self) -> Option<Message> {
        match &mut self.inner.repr {
            Repr::SessionGone { unsent, .. } => unsent.take().map(|m| *m),
            _ => None,
        }
    }

    /// `self`, handing `msg` back if it is a [`Repr::SessionGone`] (the refused message never ran).
    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    pub(crate) fn returning(mut self, msg: impl FnOnce() -> Message) -> Self {
        if let Repr::SessionGone { unsent, .. } = &mut self.inner.repr {
            *unsent = Some(Box::new(msg()));
        }
        self
    }

    /// How long the request waited, when it timed out on the client's clock.
    pub fn timeout_after(&self) -> Option<Duration> {
        match &self.inner.repr {
            Repr::Timeout(d) => *d,
            _ => None,
        }
    }

    /// Whether the server answered with a JSON-RPC error.
    pub fn is_rpc(&self) -> bool {
        matches!(self.inner.repr, Repr::Rpc(_))
    }

    /// Whether no response came in time: the client's request timeout, or the HTTP client's.
    pub fn is_timeout(&self) -> bool {
        self.kind() == ErrorKind::Timeout
            || self
                .io_source()
                .is_some_and(|e| e.kind() == std::io::ErrorKind::TimedOut)
    }

    /// Whether the server could not be reached at all (connection refused, DNS, TLS handshake). The request
    /// never ran.
    pub fn is_connect(&self) -> bool {
        self.kind() == ErrorKind::Connect
            || self.io_source().is_some_and(|e| {
                matches!(
                    e.kind(),
                    std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::NotFound
                )
            })
    }

    /// Whether the connection or transport is closed.
    pub fn is_closed(&self) -> bool {
        self.kind() == ErrorKind::Closed
    }

    /// Whether the request was cancelled by the caller.
    pub fn is_cancelled(&self) -> bool {
        self.kind() == ErrorKind::Cancelled
    }

    /// Whether the server's session is gone: the transport saw a 404 for the session (the message never
    /// ran), or the client's recovery could not establish a new one.
    pub fn is_session_expired(&self) -> bool {
        self.kind() == ErrorKind::SessionExpired
    }

    /// Whether the reply to a request was lost, so the request may or may not have run on the server: a
    /// 2026-07-28 reply stream broke before the result and the request was not re-issued (repeating it may
    /// not be safe, see [`ReissuePolicy`](crate::ReissuePolicy)), or its re-issues ran out
    /// ([`HttpOptions::max_reissues`](crate::transport::HttpOptions::max_reissues)). Check the server's state
    /// before repeating it.
    pub fn is_outcome_unknown(&self) -> bool {
        self.kind() == ErrorKind::OutcomeUnknown
    }

    /// Whether the server refused the credentials, or authorization failed.
    pub fn is_auth(&self) -> bool {
        matches!(self.kind(), ErrorKind::Auth | ErrorKind::Unauthorized)
    }

    /// Whether the peer broke the protocol.
    pub fn is_protocol(&self) -> bool {
        self.kind() == ErrorKind::Protocol
    }

    /// Whether the server's result does not have the expected shape.
    pub fn is_invalid_result(&self) -> bool {
        self.kind() == ErrorKind::InvalidResult
    }

    /// Whether the operation does not exist on the negotiated era.
    pub fn is_unsupported(&self) -> bool {
        self.kind() == ErrorKind::Unsupported
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner.repr {
            Repr::Rpc(e) => write!(f, "server error: {e}"),
            Repr::Timeout(Some(d)) => write!(f, "request timed out after {d:?}"),
            Repr::Timeout(None) => f.write_str("request timed out"),
            Repr::Cancelled => f.write_str("request cancelled"),
            Repr::Closed => f.write_str("connection closed"),
            Repr::SessionExpired { reason, .. } => {
                write!(f, "session expired and could not be recovered: {reason}")
            }
            Repr::SessionGone { session_id, .. } => write!(f, "session {session_id:?} expired"),
            Repr::OutcomeUnknown { method, reason } => write!(
                f,
                "the reply to {method} was lost ({reason}); the request may or may not have run on the server"
            ),
            Repr::StreamBroken(s) => write!(f, "response stream broken: {s}"),
            Repr::Io(s) => write!(f, "I/O error: {s}"),
            Repr::Network(s) => write!(f, "network error: {s}"),
            Repr::Http { status, body } => write!(f, "HTTP {status}: {body}"),
            Repr::Unauthorized(s) => write!(f, "unauthorized: {s}"),
            Repr::Auth(kind, s) => {
                let step = match kind {
                    AuthErrorKind::Network => "network error during authorization",
                    AuthErrorKind::Metadata => "invalid authorization metadata",
                    AuthErrorKind::ResourceMismatch => "protected resource metadata mismatch",
                    AuthErrorKind::IssuerMismatch => "authorization server issuer mismatch",
                    AuthErrorKind::Unsupported => "authorization server unsupported",
                    AuthErrorKind::Registration => "client registration failed",
                    AuthErrorKind::Authorization => "authorization failed",
                    AuthErrorKind::Token => "token request failed",
                    AuthErrorKind::RetriesExhausted => "still unauthorized after re-authorizing",
                    AuthErrorKind::Storage => "token storage",
                };
                write!(f, "{step}: {s}")
            }
            Repr::Protocol(s) | Repr::TransportProtocol(s) => write!(f, "protocol error: {s}"),
            Repr::InvalidResult(s) => write!(f, "invalid result: {s}"),
            Repr::Unsupported(s) => write!(f, "not supported on this protocol era: {s}"),
            Repr::SubscriptionOverflow { buffer } => write!(
                f,
                "subscription ended: {buffer} notifications were waiting unread"
            ),
        }
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("mcp_client::Error");
        d.field("kind", &self.kind())
            .field("repr", &self.inner.repr);
        if let Some(s) = &self.inner.source {
            d.field("source", s);
        }
        d.finish()
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match (&self.inner.source, &self.inner.repr) {
            (Some(s), _) => Some(&**s as &(dyn std::error::Error + 'static)),
            (None, Repr::Rpc(e)) => Some(e),
            _ => None,
        }
    }
}

impl From<mcp_rpc::Error> for Error {
    fn from(e: mcp_rpc::Error) -> Self {
        match e.kind() {
            mcp_rpc::ErrorKind::Remote => match e.into_remote_error() {
                Some(o) => Repr::Rpc(o).into(),
                None => Repr::Protocol("remote error without an error object".into()).into(),
            },
            mcp_rpc::ErrorKind::Timeout => Repr::Timeout(e.timeout_after()).into(),
            mcp_rpc::ErrorKind::Cancelled => Repr::Cancelled.into(),
            mcp_rpc::ErrorKind::Closed => Repr::Closed.into(),
            _ => Self::from(Repr::Io(e.to_string())).with_source(e),
        }
    }
}

impl From<ErrorObject> for Error {
    fn from(e: ErrorObject) -> Self {
        Repr::Rpc(e).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[cfg(feature = "http")]
    #[tokio::test]
    async fn a_refused_connection_is_a_connect_error_with_its_reqwest_source() {
        // Bind then drop: the port is closed, so connecting is refused.
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let e = reqwest::Client::new()
            .get(format!("http://127.0.0.1:{port}/"))
            .send()
            .await
            .unwrap_err();
        let e = Error::network(e);
        assert!(e.is_connect(), "{e:?}");
        assert_eq!(e.kind(), ErrorKind::Connect);
        assert!(!e.is_timeout());
        assert!(e
            .source()
            .and_then(|s| s.downcast_ref::<reqwest::Error>())
            .is_some());
        assert!(e.clone().source().is_some(), "a clone keeps the source");
    }

    #[test]
    fn io_errors_keep_their_kind() {
        let e = Error::io(std::io::Error::from(std::io::ErrorKind::TimedOut));
        assert_eq!(e.kind(), ErrorKind::Io);
        assert!(e.is_timeout());
        let io = e.source().and_then(|s| s.downcast_ref::<std::io::Error>());
        assert_eq!(io.map(|e| e.kind()), Some(std::io::ErrorKind::TimedOut));
    }

    #[test]
    fn rpc_errors_convert_with_their_object() {
        let e = Error::from(mcp_rpc::Error::remote(ErrorObject::new(-32602, "bad")));
        assert_eq!(e.code(), Some(-32602));
        assert!(e.is_rpc());
        let e = Error::from(mcp_rpc::Error::timeout(Duration::from_secs(3)));
        assert!(e.is_timeout());
        assert_eq!(e.timeout_after(), Some(Duration::from_secs(3)));
        assert!(Error::from(mcp_rpc::Error::closed()).is_closed());
    }

    #[test]
    fn both_session_losses_answer_is_session_expired() {
        let gone = Error::from(Repr::SessionGone {
            session_id: Some("s".into()),
            generation: 1,
            unsent: None,
        });
        let lost = Error::from(Repr::SessionExpired {
            session_id: None,
            reason: "re-initialize failed".into(),
        });
        assert!(gone.is_session_expired() && lost.is_session_expired());
        assert_eq!(gone.session_id(), Some("s"));
        let unknown = Error::from(Repr::OutcomeUnknown {
            method: "tools/call".into(),
            reason: "stream ended".into(),
        });
        assert!(unknown.is_outcome_unknown());
        assert_eq!(unknown.method(), Some("tools/call"));
    }
}
