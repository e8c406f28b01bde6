//! Bearer-token providers and the HTTP transport's tunables.

use std::time::Duration;

use futures::future::BoxFuture;

/// Supplies the bearer token for each request (`Authorization: Bearer <token>`), or none.
///
/// Called before every HTTP request, so a provider can refresh tokens as they expire.
///
/// A token your code rotates (read here from an environment variable on every request):
///
/// ```
/// use futures::future::BoxFuture;
/// use mcp_client::transport::{HttpTransport, TokenProvider};
///
/// struct FromEnv;
/// impl TokenProvider for FromEnv {
///     fn token(&self) -> BoxFuture<'_, Option<String>> {
///         Box::pin(async { std::env::var("MCP_TOKEN").ok() })
///     }
/// }
/// let transport = HttpTransport::builder("https://mcp.example.com/mcp").bearer_token(FromEnv).build();
/// # let _ = transport;
/// ```
pub trait TokenProvider: Send + Sync + 'static {
    /// The token to send now, if any.
    fn token(&self) -> BoxFuture<'_, Option<String>>;
}

/// A fixed bearer token.
///
/// ```
/// use mcp_client::transport::{HttpTransport, StaticToken};
/// let transport = HttpTransport::builder("https://mcp.example.com/mcp")
///     .bearer_token(StaticToken(std::env::var("MCP_TOKEN").unwrap_or_default()))
///     .build();
/// # let _ = transport;
/// ```
#[derive(Debug, Clone)]
pub struct StaticToken(pub String);

impl TokenProvider for StaticToken {
    fn token(&self) -> BoxFuture<'_, Option<String>> {
        Box::pin(async move { Some(self.0.clone()) })
    }
}

/// Tunables of the HTTP transport.
///
/// Built from [`Default`] and the setters, named as the fields:
///
/// ```
/// let opts = mcp_client::transport::HttpOptions::default().max_reconnects(0).backoff_factor(2.0);
/// assert_eq!((opts.max_reconnects, opts.backoff_factor), (0, 2.0));
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct HttpOptions {
    /// Reconnection attempts (without progress) before a resumable stream is given up, and attempts to reach
    /// the server with a re-issued request (default 5).
    pub max_reconnects: u32,
    /// First reconnection delay when the server gave no `retry:` (default 1 s).
    pub initial_backoff: Duration,
    /// Cap on the reconnection delay (default 30 s).
    pub max_backoff: Duration,
    /// Growth of the delay per attempt (default 1.5).
    pub backoff_factor: f64,
    /// Largest message the server may send: one JSON reply body, or the data of one SSE event (default
    /// 16 MiB, [`DEFAULT_MAX_EVENT`](crate::sse::DEFAULT_MAX_EVENT)). A larger one fails its request (or
    /// ends the event stream) with an error instead of being buffered.
    pub max_message_size: usize,
    /// Largest SSE line other than a `data` line (comments, `id`, `event`; default 64 KiB,
    /// [`DEFAULT_MAX_LINE`](crate::sse::DEFAULT_MAX_LINE)). A longer one fails the stream.
    pub max_sse_line: usize,
    /// Modern era: how many times a request whose stream broke is re-issued with a new id (default 2), when
    /// the client marked it repeatable ([`SendOptions::reissue`](crate::transport::SendOptions::reissue)).
    pub max_reissues: u32,
}

impl Default for HttpOptions {
    fn default() -> Self {
        Self {
            max_reconnects: 5,
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(30),
            backoff_factor: 1.5,
            max_message_size: crate::sse::DEFAULT_MAX_EVENT,
            max_sse_line: crate::sse::DEFAULT_MAX_LINE,
            max_reissues: 2,
        }
    }
}

impl HttpOptions {
    /// Sets [`max_reconnects`](#structfield.max_reconnects): reconnection attempts (without progress) before a resumable stream is given up, and attempts to reach the server with a re-issued request (default 5).
    pub fn max_reconnects(mut self, max_reconnects: u32) -> Self {
        self.max_reconnects = max_reconnects;
        self
    }
    /// Sets [`initial_backoff`](#structfield.initial_backoff): first reconnection delay when the server gave no `retry:` (default 1 s).
    pub fn initial_backoff(mut self, initial_backoff: Duration) -> Self {
        self.initial_backoff = initial_backoff;
        self
    }
    /// Sets [`max_backoff`](#structfield.max_backoff): cap on the reconnection delay (default 30 s).
    pub fn max_backoff(mut self, max_backoff: Duration) -> Self {
        self.max_backoff = max_backoff;
        self
    }
    /// Sets [`backoff_factor`](#structfield.backoff_factor): growth of the delay per attempt (default 1.5).
    pub fn backoff_factor(mut self, backoff_factor: f64) -> Self {
        self.backoff_factor = backoff_factor;
        self
    }
    /// Sets [`max_message_size`](#structfield.max_message_size): largest message the server may send: one JSON reply body, or the data of one SSE event (default 16 MiB, [`DEFAULT_MAX_EVENT`](crate::sse::DEFAULT_MAX_EVENT)).
    pub fn max_message_size(mut self, max_message_size: usize) -> Self {
        self.max_message_size = max_message_size;
        self
    }
    /// Sets [`max_sse_line`](#structfield.max_sse_line): largest SSE line other than a `data` line (comments, `id`, `event`; default 64 KiB, [`DEFAULT_MAX_LINE`](crate::sse::DEFAULT_MAX_LINE)).
    pub fn max_sse_line(mut self, max_sse_line: usize) -> Self {
        self.max_sse_line = max_sse_line;
        self
    }
    /// Sets [`max_reissues`](#structfield.max_reissues): modern era: how many times a request whose stream broke is re-issued with a new id (default 2), when the client marked it repeatable ([`SendOptions::reissue`](crate::transport::SendOptions::reissue)).
    pub fn max_reissues(mut self, max_reissues: u32) -> Self {
        self.max_reissues = max_reissues;
        self
    }
}
