use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use mcp_protocol::ErrorObject;

/// The error source a transport failure carries. `Arc`, so [`Error`] stays `Clone`: one failure (a closed
/// connection) is handed to every request that was waiting on it.
type Source = Arc<dyn std::error::Error + Send + Sync + 'static>;

/// Why a request sent through the engine did not produce a result.
///
/// Opaque: ask it what happened with [`kind`](Error::kind) or the `is_*` methods, read the peer's JSON-RPC
/// error with [`remote`](Error::remote), and walk [`source`](std::error::Error::source) for the underlying
/// cause of a transport failure (an [`std::io::Error`], …). New kinds may be added without a breaking change.
///
/// ```
/// use std::time::Duration;
/// use mcp_rpc::{Error, ErrorKind};
///
/// let e = Error::timeout(Duration::from_secs(5));
/// assert!(e.is_timeout());
/// assert_eq!(e.kind(), ErrorKind::Timeout);
/// assert_eq!(e.timeout_after(), Some(Duration::from_secs(5)));
///
/// let io = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset by peer");
/// let e = Error::transport(io);
/// let source = std::error::Error::source(&e).unwrap();
/// assert_eq!(source.downcast_ref::<std::io::Error>().unwrap().kind(), std::io::ErrorKind::ConnectionReset);
/// ```
#[derive(Clone)]
pub struct Error {
    inner: Box<Inner>,
}

#[derive(Clone)]
struct Inner {
    kind: ErrorKind,
    remote: Option<ErrorObject>,
    timeout: Option<Duration>,
    source: Option<Source>,
}

/// What kind of failure an [`Error`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The peer answered with a JSON-RPC error ([`Error::remote`] has it).
    Remote,
    /// No response in time (the idle timeout, or the hard maximum).
    Timeout,
    /// The request was cancelled locally.
    Cancelled,
    /// The connection closed before the response arrived.
    Closed,
    /// The transport failed underneath; [`source`](std::error::Error::source) says how.
    Transport,
}

/// The old name of [`Error`].
pub type RpcError = Error;

impl Error {
    fn new(kind: ErrorKind) -> Self {
        Self {
            inner: Box::new(Inner {
                kind,
                remote: None,
                timeout: None,
                source: None,
            }),
        }
    }

    /// The peer answered with this JSON-RPC error.
    pub fn remote(error: ErrorObject) -> Self {
        let mut e = Self::new(ErrorKind::Remote);
        e.inner.remote = Some(error);
        e
    }

    /// No response within `after`.
    pub fn timeout(after: Duration) -> Self {
        let mut e = Self::new(ErrorKind::Timeout);
        e.inner.timeout = Some(after);
        e
    }

    /// The request was cancelled locally.
    pub fn cancelled() -> Self {
        Self::new(ErrorKind::Cancelled)
    }

    /// The connection closed before the response arrived.
    pub fn closed() -> Self {
        Self::new(ErrorKind::Closed)
    }

    /// The transport failed with `source` (kept as this error's [`source`](std::error::Error::source)).
    pub fn transport(
        source: impl Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
    ) -> Self {
        let mut e = Self::new(ErrorKind::Transport);
        e.inner.source = Some(Arc::from(source.into()));
        e
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        self.inner.kind
    }

    /// The peer's JSON-RPC error, when it answered with one.
    pub fn remote_error(&self) -> Option<&ErrorObject> {
        self.inner.remote.as_ref()
    }

    /// The peer's JSON-RPC error, by value.
    pub fn into_remote_error(self) -> Option<ErrorObject> {
        self.inner.remote
    }

    /// How long the request waited, when it timed out.
    pub fn timeout_after(&self) -> Option<Duration> {
        self.inner.timeout
    }

    /// Whether the peer answered with a JSON-RPC error.
    pub fn is_remote(&self) -> bool {
        self.inner.kind == ErrorKind::Remote
    }

    /// Whether no response came in time.
    pub fn is_timeout(&self) -> bool {
        self.inner.kind == ErrorKind::Timeout
    }

    /// Whether the request was cancelled locally.
    pub fn is_cancelled(&self) -> bool {
        self.inner.kind == ErrorKind::Cancelled
    }

    /// Whether the connection closed before the response.
    pub fn is_closed(&self) -> bool {
        self.inner.kind == ErrorKind::Closed
    }

    /// Whether the transport failed underneath.
    pub fn is_transport(&self) -> bool {
        self.inner.kind == ErrorKind::Transport
    }

    /// The JSON-RPC error object to report this as: the peer's own error, -32001 for a timeout, else -32603.
    pub fn to_error_object(&self) -> ErrorObject {
        match (&self.inner.remote, self.inner.kind) {
            (Some(e), _) => e.clone(),
            (None, ErrorKind::Timeout) => {
                ErrorObject::new(mcp_protocol::error_code::REQUEST_TIMEOUT, self.to_string())
            }
            _ => ErrorObject::internal(self),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.inner.kind {
            ErrorKind::Remote => match &self.inner.remote {
                Some(e) => write!(f, "peer returned an error: {e}"),
                None => f.write_str("peer returned an error"),
            },
            ErrorKind::Timeout => match self.inner.timeout {
                Some(d) => write!(f, "request timed out after {d:?}"),
                None => f.write_str("request timed out"),
            },
            ErrorKind::Cancelled => f.write_str("request cancelled"),
            ErrorKind::Closed => f.write_str("connection closed"),
            ErrorKind::Transport => match &self.inner.source {
                // The source's text is part of the message so a log line that prints only `{e}` still says
                // what failed; `source()` gives the typed cause.
                Some(s) => write!(f, "transport error: {s}"),
                None => f.write_str("transport error"),
            },
        }
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("mcp_rpc::Error");
        d.field("kind", &self.inner.kind);
        if let Some(r) = &self.inner.remote {
            d.field("remote", r);
        }
        if let Some(t) = &self.inner.timeout {
            d.field("timeout", t);
        }
        if let Some(s) = &self.inner.source {
            d.field("source", s);
        }
        d.finish()
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.inner.source {
            Some(s) => Some(&**s as &(dyn std::error::Error + 'static)),
            None => self
                .inner
                .remote
                .as_ref()
                .map(|e| e as &(dyn std::error::Error + 'static)),
        }
    }
}

impl From<ErrorObject> for Error {
    fn from(e: ErrorObject) -> Self {
        Self::remote(e)
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Self::transport(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn transport_keeps_the_io_error_as_source() {
        let e = Error::from(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        assert!(e.is_transport());
        let io = e.source().and_then(|s| s.downcast_ref::<std::io::Error>());
        assert_eq!(
            io.map(|e| e.kind()),
            Some(std::io::ErrorKind::ConnectionRefused)
        );
        // A clone shares the source.
        assert!(e.clone().source().is_some());
    }

    #[test]
    fn remote_error_is_readable_and_reported_as_is() {
        let e = Error::remote(ErrorObject::new(-32002, "nope"));
        assert!(e.is_remote() && !e.is_timeout());
        assert_eq!(e.remote_error().map(|o| o.code), Some(-32002));
        assert_eq!(e.to_error_object().code, -32002);
        assert_eq!(
            Error::timeout(Duration::from_secs(1))
                .to_error_object()
                .code,
            mcp_protocol::error_code::REQUEST_TIMEOUT
        );
        assert_eq!(Error::closed().to_error_object().code, -32603);
    }
}
