//! Transports: how messages reach the server.
//!
//! One trait, [`Transport`], with four implementations:
//! - [`StreamTransport`]: newline-delimited JSON over any byte stream (an in-memory duplex, a socket);
//! - [`ChildProcessTransport`]: a server spawned as a child process, over its stdin/stdout;
//! - [`HttpTransport`]: Streamable HTTP, both eras (sessions, SSE, resumption, `Mcp-*` headers), falling back
//!   to the 2024-11-05 HTTP+SSE transport when the server refuses the Streamable HTTP `initialize`;
//! - [`LegacySseTransport`]: the 2024-11-05 HTTP+SSE transport (a GET event stream plus POSTs to the endpoint
//!   it names).
//!
//! A transport knows messages and bytes, never tools or prompts. The [`Client`](crate::Client) owns ids,
//! timeouts, the era and session recovery; the transport reports what it saw (a reply, a refused message, a
//! closed connection) and carries out what it is told (send, open the event stream, mark the session ready).

#[cfg(all(feature = "child-process", not(target_arch = "wasm32")))]
mod child;
#[cfg(feature = "http")]
mod http;
#[cfg(feature = "http")]
mod legacy_sse;
mod stream;

use futures::future::BoxFuture;
use mcp_protocol::{Message, ProtocolVersion};
use tokio::sync::mpsc;

#[cfg(all(feature = "child-process", not(target_arch = "wasm32")))]
#[cfg_attr(docsrs, doc(cfg(feature = "child-process")))]
pub use child::{
    ChildProcessBuilder, ChildProcessTransport, ShutdownReport, ShutdownStage, StderrMode,
};
#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
pub use http::{HttpOptions, HttpTransport, HttpTransportBuilder, StaticToken, TokenProvider};
#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
pub use legacy_sse::LegacySseTransport;
pub use stream::StreamTransport;

use crate::error::Error;

/// Most of an error response's body that is read (64 KiB): enough for any JSON-RPC or OAuth error, and a
/// server cannot make the client buffer more by answering an error with an endless body.
#[cfg(feature = "http")]
pub(crate) const MAX_ERROR_BODY: usize = 64 * 1024;

/// A response body read up to a cap.
#[cfg(feature = "http")]
pub(crate) struct CappedBody {
    /// The first bytes of the body, at most the cap.
    pub bytes: bytes::Bytes,
    /// The body was longer than the cap (the rest was not read; the connection is dropped with it).
    pub truncated: bool,
}

#[cfg(feature = "http")]
/// A response body read chunk by chunk, on every target (reqwest's `Response::chunk` is native-only).
pub(crate) struct Chunks(futures::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>);

#[cfg(feature = "http")]
impl Chunks {
    pub(crate) fn new(resp: reqwest::Response) -> Self {
        Self(Box::pin(send_on_wasm(resp.bytes_stream())))
    }

    /// The next chunk, or `None` at the end of the body.
    pub(crate) async fn chunk(&mut self) -> reqwest::Result<Option<bytes::Bytes>> {
        use futures::StreamExt;
        self.0.next().await.transpose()
    }
}

/// `fut` as a [`BoxFuture`], for trait methods whose futures must be `Send`.
///
/// On wasm32 a future that awaits fetch holds JavaScript values, which are not `Send`; there the future is
/// wrapped in a [`send_wrapper::SendWrapper`], whose check that it stays on its thread cannot fail on
/// `wasm32-unknown-unknown` (one thread). The traits keep one set of bounds on every target.
#[cfg(all(feature = "http", not(target_arch = "wasm32")))]
pub(crate) fn boxed<'a, T>(
    fut: impl std::future::Future<Output = T> + Send + 'a,
) -> BoxFuture<'a, T> {
    Box::pin(fut)
}

/// `fut` as a [`BoxFuture`]; see the native version.
#[cfg(all(feature = "http", target_arch = "wasm32"))]
pub(crate) fn boxed<'a, T>(fut: impl std::future::Future<Output = T> + 'a) -> BoxFuture<'a, T> {
    Box::pin(send_wrapper::SendWrapper::new(fut))
}

/// The value itself natively; on wasm32 wrapped so that it is `Send` (see [`boxed`]).
#[cfg(all(feature = "http", not(target_arch = "wasm32")))]
pub(crate) fn send_on_wasm<T>(value: T) -> T {
    value
}

/// The value wrapped so that it is `Send` (see [`boxed`]).
#[cfg(all(feature = "http", target_arch = "wasm32"))]
pub(crate) fn send_on_wasm<T>(value: T) -> send_wrapper::SendWrapper<T> {
    send_wrapper::SendWrapper::new(value)
}

/// Read at most `cap` bytes of `resp`'s body.
#[cfg(feature = "http")]
pub(crate) async fn read_capped(
    resp: reqwest::Response,
    cap: usize,
) -> Result<CappedBody, reqwest::Error> {
    let mut body = Chunks::new(resp);
    // Most replies come in one chunk: it is the body, uncopied, unless another follows.
    let first = match body.chunk().await? {
        Some(chunk) if chunk.len() <= cap => chunk,
        Some(chunk) => {
            return Ok(CappedBody {
                bytes: chunk.slice(..cap),
                truncated: true,
            })
        }
        None => bytes::Bytes::new(),
    };
    let Some(second) = body.chunk().await? else {
        return Ok(CappedBody {
            bytes: first,
            truncated: false,
        });
    };
    let mut buf = bytes::BytesMut::from(&first[..]);
    let mut next = Some(second);
    while let Some(chunk) = next {
        let room = cap - buf.len();
        if chunk.len() > room {
            buf.extend_from_slice(&chunk[..room]);
            return Ok(CappedBody {
                bytes: buf.freeze(),
                truncated: true,
            });
        }
        buf.extend_from_slice(&chunk);
        next = body.chunk().await?;
    }
    Ok(CappedBody {
        bytes: buf.freeze(),
        truncated: false,
    })
}

/// One message from JSON text: straight from the bytes when it is one plain message (most are), else
/// through a [`serde_json::Value`], whose errors say what is wrong.
#[cfg(feature = "http")]
pub(crate) fn parse_message(json: &[u8]) -> Result<Message, String> {
    if let Some(m) = Message::from_slice_fast(json) {
        return Ok(m);
    }
    serde_json::from_slice::<serde_json::Value>(json)
        .map_err(|e| e.to_string())
        .and_then(|v| Message::from_value(v).map_err(|e| e.message))
}

/// An error response's body (at most [`MAX_ERROR_BODY`]), or nothing if it could not be read.
#[cfg(feature = "http")]
pub(crate) async fn error_body(resp: reqwest::Response) -> bytes::Bytes {
    read_capped(resp, MAX_ERROR_BODY)
        .await
        .map(|b| b.bytes)
        .unwrap_or_default()
}

/// What a transport delivers to the client.
#[derive(Debug, Clone)]
pub enum TransportEvent {
    /// A message from the server: a response, a notification, or (legacy era) a request.
    Message(Message),
    /// The connection ended; nothing more will arrive.
    Closed(Option<String>),
}

/// Per-message extras the client computes and the transport applies.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct SendOptions {
    /// Extra HTTP headers for this message (`Mcp-Param-*` on 2026-07-28). Ignored by byte-stream transports.
    pub headers: Vec<(String, String)>,
    /// Modern era over HTTP: the request may be sent again, with a new id, when its reply stream breaks
    /// before the reply (the client sets this from its [`ReissuePolicy`](crate::ReissuePolicy)). When false
    /// (the default) a broken stream fails the request with [`ErrorKind::StreamBroken`](crate::ErrorKind::StreamBroken): it may or may
    /// not have run.
    pub reissue: bool,
}

impl SendOptions {
    /// Sets [`headers`](#structfield.headers): extra HTTP headers for this message (`Mcp-Param-*` on 2026-07-28).
    pub fn headers(mut self, headers: Vec<(String, String)>) -> Self {
        self.headers = headers;
        self
    }
    /// Sets [`reissue`](#structfield.reissue): modern era over HTTP: the request may be sent again, with a new id, when its reply stream breaks before the reply (the client sets this from its [`ReissuePolicy`](crate::ReissuePolicy)).
    pub fn reissue(mut self, reissue: bool) -> Self {
        self.reissue = reissue;
        self
    }
}

/// How a transport carries messages, which decides how the client drives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportKind {
    /// One ordered byte stream in each direction (stdio, a socket, a duplex). Cancellation is a
    /// `notifications/cancelled` message; messages are written one at a time, in order.
    Stream,
    /// Streamable HTTP: one POST per message, sent concurrently; on 2026-07-28 cancellation closes the
    /// request's stream.
    Http,
}

/// The view of a transport's legacy session that session recovery needs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionStatus {
    /// The current session id, if one is active.
    pub id: Option<String>,
    /// Bumped every time a new session is established (an `initialize` succeeded).
    pub generation: u64,
}

/// Carries JSON-RPC messages between the client and one server.
///
/// Contract:
/// - [`start`](Transport::start) is called once, before anything is sent; every message from the server goes
///   to `events`, and [`TransportEvent::Closed`] is sent when the connection ends. The channel is bounded:
///   a transport waits for room (`events.send(..).await`), so a burst from the server slows the reading of
///   the connection instead of queueing without bound. The client empties it without ever waiting on the
///   application, so the wait is short.
/// - [`send`](Transport::send) for a request may run until the reply has been delivered to `events` (HTTP does
///   the whole exchange in it); for any other message it returns once the message is written or accepted.
///   An `Err` for a request means no reply will come. [`ErrorKind::SessionExpired`](crate::ErrorKind::SessionExpired) means the message never
///   ran and may be re-sent once a new session exists.
/// - The session methods are no-ops for transports without sessions.
///
/// A transport of your own is rarely needed (the four above cover stdio, sockets and HTTP); wrapping one is
/// the usual reason to implement it, e.g. to count what goes out:
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use futures::future::BoxFuture;
/// use mcp_client::transport::{SendOptions, Transport, TransportEvent, TransportKind};
/// use mcp_client::Error;
/// use mcp_protocol::Message;
/// use tokio::sync::mpsc;
///
/// struct Counting<T> { inner: T, sent: AtomicU64 }
///
/// impl<T: Transport> Transport for Counting<T> {
///     fn kind(&self) -> TransportKind { self.inner.kind() }
///     fn start(&self, events: mpsc::Sender<TransportEvent>) -> BoxFuture<'_, Result<(), Error>> {
///         self.inner.start(events)
///     }
///     fn send(&self, msg: Message, opts: SendOptions) -> BoxFuture<'_, Result<(), Error>> {
///         self.sent.fetch_add(1, Ordering::Relaxed);
///         self.inner.send(msg, opts)
///     }
///     // Sessions, versions and auth contexts pass through, or recovery would not see them.
///     fn set_legacy_version(&self, v: Option<mcp_protocol::ProtocolVersion>) { self.inner.set_legacy_version(v) }
///     fn session(&self) -> mcp_client::transport::SessionStatus { self.inner.session() }
///     fn session_ready(&self) { self.inner.session_ready() }
///     fn session_lost(&self) { self.inner.session_lost() }
///     fn open_event_stream(&self) { self.inner.open_event_stream() }
///     fn auth_context(&self) -> Option<String> { self.inner.auth_context() }
///     fn close(&self) -> BoxFuture<'_, Result<(), Error>> { self.inner.close() }
/// }
///
/// # async fn run() -> Result<(), Error> {
/// let transport = mcp_client::transport::HttpTransport::new("http://127.0.0.1:3000/mcp")?;
/// let client = mcp_client::Client::builder()
///     .connect(Counting { inner: transport, sent: AtomicU64::new(0) })
///     .await?;
/// # let _ = client; Ok(()) }
/// ```
pub trait Transport: Send + Sync + 'static {
    /// How this transport carries messages.
    fn kind(&self) -> TransportKind;

    /// Begin delivering inbound messages to `events`.
    fn start(&self, events: mpsc::Sender<TransportEvent>) -> BoxFuture<'_, Result<(), Error>>;

    /// Send one message.
    fn send(&self, msg: Message, opts: SendOptions) -> BoxFuture<'_, Result<(), Error>>;

    /// The legacy protocol version negotiated by `initialize` (sent as `MCP-Protocol-Version` on HTTP), or
    /// `None` on the modern era, where each request names its own version.
    fn set_legacy_version(&self, _version: Option<ProtocolVersion>) {}

    /// The current legacy session.
    fn session(&self) -> SessionStatus {
        SessionStatus::default()
    }

    /// `notifications/initialized` was sent: messages held back while the session was being established may go.
    fn session_ready(&self) {}

    /// Session recovery failed: refuse messages that need a session until a new one exists.
    fn session_lost(&self) {}

    /// Legacy era: open the server's event stream (the HTTP GET stream), replacing any open one.
    fn open_event_stream(&self) {}

    /// A key naming the authorization context the next request runs under (e.g. a digest of the bearer token),
    /// so results the server marks `private` are never shared across contexts.
    fn auth_context(&self) -> Option<String> {
        None
    }

    /// Close the connection: end the session (HTTP DELETE), or close stdin and stop the child process.
    fn close(&self) -> BoxFuture<'_, Result<(), Error>>;
}

#[cfg(all(test, feature = "http"))]
mod tests {
    use super::*;

    /// A response whose body arrives in `chunks`.
    fn response(chunks: &[&'static str]) -> reqwest::Response {
        let parts: Vec<Result<bytes::Bytes, std::io::Error>> = chunks
            .iter()
            .map(|c| Ok(bytes::Bytes::from_static(c.as_bytes())))
            .collect();
        let body = reqwest::Body::wrap_stream(futures::stream::iter(parts));
        reqwest::Response::from(::http::Response::new(body))
    }

    async fn capped(chunks: &[&'static str], cap: usize) -> (String, bool) {
        let b = read_capped(response(chunks), cap).await.unwrap();
        (String::from_utf8(b.bytes.to_vec()).unwrap(), b.truncated)
    }

    #[tokio::test]
    async fn a_body_is_read_whole_up_to_the_cap_in_one_chunk_or_several() {
        assert_eq!(capped(&[], 8).await, (String::new(), false));
        assert_eq!(capped(&["abc"], 8).await, ("abc".into(), false));
        assert_eq!(capped(&["abcdefgh"], 8).await, ("abcdefgh".into(), false));
        assert_eq!(
            capped(&["abc", "de", "f"], 8).await,
            ("abcdef".into(), false)
        );
        // Past the cap: the first `cap` bytes, marked truncated, from a first chunk or a later one.
        assert_eq!(capped(&["abcdefghij"], 8).await, ("abcdefgh".into(), true));
        assert_eq!(
            capped(&["abc", "defghij"], 8).await,
            ("abcdefgh".into(), true)
        );
        assert_eq!(
            capped(&["abc", "def", "ghi", "j"], 8).await,
            ("abcdefgh".into(), true)
        );
    }

    #[test]
    fn a_message_parses_the_same_straight_from_bytes_or_through_a_value() {
        let plain = br#"{"jsonrpc":"2.0","id":7,"result":{"content":[],"_meta":{"k":1}}}"#;
        let slow = Message::from_value(serde_json::from_slice(plain).unwrap()).unwrap();
        assert_eq!(parse_message(plain).unwrap(), slow);
        // Not a plain message: the error says what is wrong, as the `Value` path says it.
        let no_version = br#"{"id":7,"result":{}}"#;
        assert!(parse_message(no_version).unwrap_err().contains("jsonrpc"));
        assert!(parse_message(b"not json").is_err());
    }
}
