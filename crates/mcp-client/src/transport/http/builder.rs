//! [`HttpTransportBuilder`]: headers, auth, the `reqwest` client and options.

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, OnceLock};
#[cfg(not(target_arch = "wasm32"))]
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::handle::HttpTransport;
use super::inner::{Inner, SessionSlot, SessionState};
use super::options::{HttpOptions, TokenProvider};
use crate::auth::{AuthProvider, BearerOnly};
use crate::error::Error;

/// Builds an [`HttpTransport`].
///
/// ```
/// use std::time::Duration;
/// use mcp_client::transport::{HttpOptions, HttpTransport, StaticToken};
///
/// let transport = HttpTransport::builder("https://mcp.example.com/mcp")
///     .header("X-Tenant", "acme")
///     .bearer_token(StaticToken("ey...".into()))
///     .options(HttpOptions::default().max_reconnects(5).initial_backoff(Duration::from_millis(200)))
///     .build()
///     .unwrap();
/// # let _ = transport;
/// ```
pub struct HttpTransportBuilder {
    pub(super) url: String,
    pub(super) headers: Vec<(String, String)>,
    pub(super) auth: Option<Arc<dyn AuthProvider>>,
    pub(super) client: Option<reqwest::Client>,
    pub(super) options: HttpOptions,
}

impl std::fmt::Debug for HttpTransportBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpTransportBuilder")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl HttpTransportBuilder {
    /// A header sent on every request (e.g. an API key). The headers the protocol owns (`Mcp-*`,
    /// `Content-Type`, `Accept`) are set by the transport and win.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
    /// Where bearer tokens come from (a fixed token, or one your code refreshes). The server's refusals are
    /// returned as errors; for the full OAuth flow use [`auth`](Self::auth).
    pub fn bearer_token(mut self, provider: impl TokenProvider) -> Self {
        self.auth = Some(Arc::new(BearerOnly(Arc::new(provider))));
        self
    }
    /// Authorize requests with `provider` (e.g. an [`OAuthClient`](crate::auth::OAuthClient)): it supplies
    /// the credentials of every request and decides what to do when the server answers 401 or 403.
    pub fn auth(mut self, provider: impl AuthProvider) -> Self {
        self.auth = Some(Arc::new(provider));
        self
    }
    /// Use this reqwest client (its pool, TLS and proxy settings) instead of a default one.
    pub fn client(mut self, client: reqwest::Client) -> Self {
        self.client = Some(client);
        self
    }
    /// Reconnection and re-issue tunables.
    pub fn options(mut self, options: HttpOptions) -> Self {
        self.options = options;
        self
    }

    /// Build the transport.
    pub fn build(self) -> Result<HttpTransport, Error> {
        let url = reqwest::Url::parse(&self.url)
            .map_err(|e| Error::transport_protocol(format!("invalid URL {:?}: {e}", self.url)))?;
        let mut headers = HeaderMap::new();
        for (k, v) in &self.headers {
            let lower = k.to_ascii_lowercase();
            if lower.starts_with("mcp-")
                || matches!(lower.as_str(), "accept" | "content-type" | "last-event-id")
            {
                tracing::warn!(header = %k, "ignoring a custom header the protocol owns");
                continue;
            }
            let name = HeaderName::from_bytes(k.as_bytes()).map_err(|e| {
                Error::transport_protocol(format!("invalid header name {k:?}: {e}"))
            })?;
            let value = HeaderValue::from_str(v)
                .map_err(|e| Error::transport_protocol(format!("invalid header value: {e}")))?;
            headers.append(name, value);
        }
        let http = match self.client {
            Some(c) => c,
            None => {
                let builder = reqwest::Client::builder();
                // Sockets and the pool are the browser's (or Node's) under fetch: these are native settings.
                #[cfg(not(target_arch = "wasm32"))]
                let builder = builder
                    .tcp_nodelay(true)
                    .connect_timeout(Duration::from_secs(10))
                    .pool_idle_timeout(Duration::from_secs(90));
                builder.build().map_err(Error::network)?
            }
        };
        let (session, _) = watch::channel(SessionSlot {
            state: SessionState::None,
            generation: 0,
        });
        Ok(HttpTransport {
            inner: Arc::new(Inner {
                http,
                url,
                headers,
                auth: self.auth,
                opts: self.options,
                events: OnceLock::new(),
                session,
                legacy_version: Mutex::new(None),
                streams: Mutex::new(HashMap::new()),
                get_task: Mutex::new(None),
                reissue_seq: AtomicU64::new(1),
                closed: CancellationToken::new(),
                auth_key: Mutex::new(None),
                get_ready: watch::channel(true).0,
                fallback: OnceLock::new(),
                fallback_lock: tokio::sync::Mutex::new(()),
            }),
        })
    }
}
