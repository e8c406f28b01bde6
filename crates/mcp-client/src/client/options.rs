//! Options of a client and of one call, and the events it reports.

use std::time::Duration;

use mcp_protocol::types::{Implementation, ProgressParams};
use mcp_protocol::{Notification, ProtocolVersion};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// How the client chooses the protocol revision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
///
/// ```
/// use mcp_client::{Client, VersionMode};
/// use mcp_protocol::ProtocolVersion;
/// // A server known to speak 2025-06-18 and nothing newer: skip the probe.
/// let builder = Client::builder().version_mode(VersionMode::Pinned(ProtocolVersion::V2025_06_18));
/// # let _ = builder;
/// ```
pub enum VersionMode {
    /// Probe with `server/discover` (modern); fall back to legacy `initialize` when the server does not speak
    /// the modern era. The default.
    #[default]
    Auto,
    /// Skip the probe: legacy `initialize` with 2025-11-25, accepting any older revision the server offers.
    Legacy,
    /// Speak exactly this revision, with no fallback.
    Pinned(ProtocolVersion),
}

/// Tunables of a client.
///
/// Built from [`Default`] and the setters (one per field, named as the field), so new options are not a
/// breaking change:
///
/// ```
/// use std::time::Duration;
/// let opts = mcp_client::ClientOptions::default().request_timeout(Duration::from_secs(5)).cache(false);
/// assert_eq!(opts.request_timeout, Duration::from_secs(5));
/// assert!(!opts.cache);
/// assert_eq!(opts.max_input_rounds, 8);
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ClientOptions {
    /// Time a request may go without any response or progress (default 60 s).
    pub request_timeout: Duration,
    /// Hard cap on one request, progress or not (default 10 minutes).
    pub max_request_time: Duration,
    /// Notifications a [`Subscription`](crate::Subscription) holds for the application (default 1024). When one more arrives
    /// while it is full, the subscription is ended (see [`Client::listen`](crate::Client::listen)).
    pub subscription_buffer: usize,
    /// Most results the result cache holds (default 1024); the least recently used go first.
    pub cache_max_entries: usize,
    /// Most bytes (of JSON, roughly) the result cache holds (default 32 MiB); a larger result is not stored.
    pub cache_max_bytes: usize,
    /// How long the `server/discover` era probe waits before falling back to legacy (default 5 s).
    pub probe_timeout: Duration,
    /// Most `input_required` rounds one call may take (default 8).
    pub max_input_rounds: usize,
    /// Attempts to re-initialize an expired legacy session before giving up (default 3).
    pub recovery_attempts: u32,
    /// Delay before the second recovery attempt; doubles after each (default 200 ms).
    pub recovery_backoff: Duration,
    /// Reuse results the server marks cacheable (`ttlMs`/`cacheScope`, 2026-07-28; default true).
    pub cache: bool,
    /// Check `structuredContent` against the tool's `outputSchema` (default true).
    pub validate_structured_content: bool,
    /// Send each request's OpenTelemetry trace context in its `_meta` (and HTTP headers) (default true; see
    /// [`otel`](crate::otel)). The client's spans are made either way.
    #[cfg(feature = "otel")]
    #[cfg_attr(docsrs, doc(cfg(feature = "otel")))]
    pub propagate_trace_context: bool,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_secs(60),
            max_request_time: Duration::from_secs(600),
            subscription_buffer: 1024,
            cache_max_entries: 1024,
            cache_max_bytes: 32 * 1024 * 1024,
            probe_timeout: Duration::from_secs(5),
            max_input_rounds: 8,
            recovery_attempts: 3,
            recovery_backoff: Duration::from_millis(200),
            cache: true,
            validate_structured_content: true,
            #[cfg(feature = "otel")]
            propagate_trace_context: true,
        }
    }
}

impl ClientOptions {
    /// Sets [`request_timeout`](#structfield.request_timeout): time a request may go without any response or progress (default 60 s).
    pub fn request_timeout(mut self, request_timeout: Duration) -> Self {
        self.request_timeout = request_timeout;
        self
    }
    /// Sets [`max_request_time`](#structfield.max_request_time): hard cap on one request, progress or not (default 10 minutes).
    pub fn max_request_time(mut self, max_request_time: Duration) -> Self {
        self.max_request_time = max_request_time;
        self
    }
    /// Sets [`subscription_buffer`](#structfield.subscription_buffer): notifications a [`Subscription`](crate::Subscription) holds for the application (default 1024).
    pub fn subscription_buffer(mut self, subscription_buffer: usize) -> Self {
        self.subscription_buffer = subscription_buffer;
        self
    }
    /// Sets [`cache_max_entries`](#structfield.cache_max_entries): most results the result cache holds (default 1024); the least recently used go first.
    pub fn cache_max_entries(mut self, cache_max_entries: usize) -> Self {
        self.cache_max_entries = cache_max_entries;
        self
    }
    /// Sets [`cache_max_bytes`](#structfield.cache_max_bytes): most bytes (of JSON, roughly) the result cache holds (default 32 MiB); a larger result is not stored.
    pub fn cache_max_bytes(mut self, cache_max_bytes: usize) -> Self {
        self.cache_max_bytes = cache_max_bytes;
        self
    }
    /// Sets [`probe_timeout`](#structfield.probe_timeout): how long the `server/discover` era probe waits before falling back to legacy (default 5 s).
    pub fn probe_timeout(mut self, probe_timeout: Duration) -> Self {
        self.probe_timeout = probe_timeout;
        self
    }
    /// Sets [`max_input_rounds`](#structfield.max_input_rounds): most `input_required` rounds one call may take (default 8).
    pub fn max_input_rounds(mut self, max_input_rounds: usize) -> Self {
        self.max_input_rounds = max_input_rounds;
        self
    }
    /// Sets [`recovery_attempts`](#structfield.recovery_attempts): attempts to re-initialize an expired legacy session before giving up (default 3).
    pub fn recovery_attempts(mut self, recovery_attempts: u32) -> Self {
        self.recovery_attempts = recovery_attempts;
        self
    }
    /// Sets [`recovery_backoff`](#structfield.recovery_backoff): delay before the second recovery attempt; doubles after each (default 200 ms).
    pub fn recovery_backoff(mut self, recovery_backoff: Duration) -> Self {
        self.recovery_backoff = recovery_backoff;
        self
    }
    /// Sets [`cache`](#structfield.cache): reuse results the server marks cacheable (`ttlMs`/`cacheScope`, 2026-07-28; default true).
    pub fn cache(mut self, cache: bool) -> Self {
        self.cache = cache;
        self
    }
    /// Sets [`validate_structured_content`](#structfield.validate_structured_content): check `structuredContent` against the tool's `outputSchema` (default true).
    pub fn validate_structured_content(mut self, validate_structured_content: bool) -> Self {
        self.validate_structured_content = validate_structured_content;
        self
    }
    /// Sets [`propagate_trace_context`](#structfield.propagate_trace_context): send each request's
    /// OpenTelemetry trace context in its `_meta` and HTTP headers (default true). Off for a server that should
    /// not see your trace ids or baggage:
    ///
    /// ```
    /// let opts = mcp_client::ClientOptions::default().propagate_trace_context(false);
    /// assert!(!opts.propagate_trace_context);
    /// let client = mcp_client::Client::builder().options(opts);
    /// # let _ = client;
    /// ```
    #[cfg(feature = "otel")]
    #[cfg_attr(docsrs, doc(cfg(feature = "otel")))]
    pub fn propagate_trace_context(mut self, propagate_trace_context: bool) -> Self {
        self.propagate_trace_context = propagate_trace_context;
        self
    }
}

/// Options of one call.
///
/// Built from [`Default`] and the setters, named as the fields:
///
/// ```
/// use std::time::Duration;
/// let cancel = mcp_client::CancellationToken::new();
/// let opts = mcp_client::CallOptions::default().timeout(Duration::from_secs(2)).cancel(cancel);
/// assert_eq!(opts.timeout, Some(Duration::from_secs(2)));
/// assert!(opts.cancel.is_some() && opts.progress.is_none());
/// ```
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct CallOptions {
    /// Overrides [`ClientOptions::request_timeout`] for this call (each round of a multi-round call).
    pub timeout: Option<Duration>,
    /// Receives the call's progress notifications (a progress token is added to `_meta`). Bounded: when it is
    /// full a notification is dropped rather than queued or waited for (see [`mcp_rpc::RequestOptions::progress`]).
    pub progress: Option<mpsc::Sender<ProgressParams>>,
    /// Cancels the call (stdio: `notifications/cancelled`; HTTP: the request's stream is closed).
    pub cancel: Option<CancellationToken>,
}

impl CallOptions {
    /// Sets [`timeout`](#structfield.timeout): overrides [`ClientOptions::request_timeout`] for this call (each round of a multi-round call).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }
    /// Sets [`progress`](#structfield.progress): receives the call's progress notifications (a progress token is added to `_meta`).
    pub fn progress(mut self, progress: mpsc::Sender<ProgressParams>) -> Self {
        self.progress = Some(progress);
        self
    }
    /// Sets [`cancel`](#structfield.cancel): cancels the call (stdio: `notifications/cancelled`; HTTP: the request's stream is closed).
    pub fn cancel(mut self, cancel: CancellationToken) -> Self {
        self.cancel = Some(cancel);
        self
    }
}

/// Something the application may want to know about.
#[derive(Debug, Clone)]
#[non_exhaustive]
///
/// ```no_run
/// # async fn run(client: mcp_client::Client) {
/// use mcp_client::ClientEvent;
/// let mut events = client.events();
/// while let Ok(event) = events.recv().await {
///     match event {
///         ClientEvent::Notification(n) => println!("server says {}", n.method),
///         ClientEvent::SessionRecovered { new_session_id, .. } => {
///             println!("new session {new_session_id:?}: re-create per-session state here")
///         }
///         ClientEvent::SessionLost { reason, .. } => eprintln!("session lost: {reason}"),
///         ClientEvent::Closed { reason } => { eprintln!("closed: {reason:?}"); break }
///         _ => {}
///     }
/// }
/// # }
/// ```
pub enum ClientEvent {
    /// A notification from the server (logs, list changes, resource updates, …). Progress goes to the call
    /// that asked for it and listen notifications to their [`Subscription`](crate::Subscription).
    Notification(Notification),
    /// The legacy session expired and a new one was established; per-session state on the server (other than
    /// the subscriptions and log level the client restores) is gone.
    SessionRecovered {
        /// The session that expired.
        old_session_id: Option<String>,
        /// The new session.
        new_session_id: Option<String>,
        /// The server, as the new `initialize` described it.
        server_info: Implementation,
    },
    /// The legacy session expired and could not be re-established.
    SessionLost {
        /// The session that expired.
        session_id: Option<String>,
        /// Why recovery failed.
        reason: String,
    },
    /// The connection closed.
    Closed {
        /// Why, if known.
        reason: Option<String>,
    },
}
