//! The public handle, [`Client`]: accessors, generic requests, close and pagination.

use std::collections::HashSet;
use std::sync::Arc;

use mcp_protocol::types::{
    methods, ClientCapabilities, DiscoverResult, Implementation, ServerCapabilities,
};
use mcp_protocol::{Era, ProtocolVersion};
use serde_json::Value;
use tokio::sync::broadcast;

use super::builder::ClientBuilder;
use super::inner::{lock, Inner, ReqCtx};
use super::options::{ClientEvent, ClientOptions, VersionMode};
use crate::{Error, ReissuePolicy};

/// An MCP client connected to one server, speaking whichever era the server does.
///
/// Cheap to clone; clones share the connection. Build one with [`Client::builder`], then [`ClientBuilder::connect`]
/// it over a [`Transport`](crate::transport::Transport).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use mcp_client::{Client, transport::StreamTransport};
/// use mcp_protocol::{Era, types::{CallToolResult, Implementation}};
///
/// // A server on the other end of an in-memory pipe (any MCP server works the same over stdio or HTTP).
/// let server = mcp_server::Server::builder("demo", "1.0.0")
///     .typed_tool("shout", "Upper-cases text", |_ctx, args: serde_json::Value| async move {
///         Ok::<_, mcp_server::Error>(args["text"].as_str().unwrap_or_default().to_uppercase())
///     })
///     .build();
/// let (client_io, server_io) = tokio::io::duplex(64 * 1024);
/// let (r, w) = tokio::io::split(server_io);
/// tokio::spawn(mcp_server::serve_connection(server, tokio::io::BufReader::new(r), w, Default::default()));
///
/// let client = Client::builder()
///     .client_info(Implementation::new("example", "0.1.0"))
///     .connect(StreamTransport::from_duplex(client_io))
///     .await?;
/// assert_eq!(client.era(), Era::Modern); // the server answered `server/discover`
/// let tools = client.list_all_tools().await?;
/// assert_eq!(tools[0].name, "shout");
/// let result: CallToolResult = client.call_tool("shout", serde_json::json!({"text": "hi"})).await?;
/// assert_eq!(result.text_content(), "HI");
/// client.close().await;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Client {
    pub(super) inner: Arc<Inner>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (era, version) = self.inner.era_version();
        f.debug_struct("Client")
            .field("era", &era)
            .field("version", &version)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Start building a client.
    pub fn builder() -> ClientBuilder {
        ClientBuilder {
            info: Implementation::new("mcp-rs-client", env!("CARGO_PKG_VERSION")),
            capabilities: None,
            elicitation: None,
            sampling: None,
            roots: None,
            mode: VersionMode::Auto,
            reissue: ReissuePolicy::default(),
            options: ClientOptions::default(),
        }
    }

    // ----- accessors -----------------------------------------------------------------------------------

    /// The era in use.
    pub fn era(&self) -> Era {
        self.inner.era()
    }
    /// The protocol revision in use (negotiated on legacy, sent with every request on modern).
    pub fn protocol_version(&self) -> ProtocolVersion {
        self.inner.era_version().1
    }
    /// The server's self-description (from `initialize`, or `server/discover`'s `_meta`).
    pub fn server_info(&self) -> Option<Implementation> {
        self.inner
            .state
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .server_info
            .clone()
    }
    /// What the server offers.
    pub fn server_capabilities(&self) -> ServerCapabilities {
        self.inner
            .state
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .server_caps
            .clone()
    }
    /// The server's instructions for the model, if any.
    pub fn instructions(&self) -> Option<String> {
        self.inner
            .state
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .instructions
            .clone()
    }
    /// The capabilities this client declares.
    pub fn capabilities(&self) -> &ClientCapabilities {
        &self.inner.caps
    }
    /// The legacy HTTP session id, if there is one.
    pub fn session_id(&self) -> Option<String> {
        self.inner.transport.session().id
    }
    /// Notifications and connection events. Each receiver sees what happens after it subscribed.
    pub fn events(&self) -> broadcast::Receiver<ClientEvent> {
        self.inner.events.subscribe()
    }

    // ----- generic --------------------------------------------------------------------------------------

    /// Send any request and return its raw result (modern metadata is added; no MRTR loop, no cache).
    pub async fn request(&self, method: &str, params: Option<Value>) -> Result<Value, Error> {
        self.inner.request(method, params, &ReqCtx::default()).await
    }

    /// Send a notification.
    pub async fn notify(&self, method: &str, params: Option<Value>) -> Result<(), Error> {
        self.inner
            .peer
            .notify(method, params)
            .await
            .map_err(Error::from)
    }

    /// `server/discover` (2026-07-28), cached per its `ttlMs`.
    pub async fn discover(&self) -> Result<DiscoverResult, Error> {
        if self.era() != Era::Modern {
            return Err(Error::unsupported("server/discover is a 2026-07-28 method"));
        }
        let v = self
            .inner
            .cached_request(methods::DISCOVER, None, "")
            .await?;
        self.inner.absorb_discover(v)
    }

    /// `ping` (legacy era only; the modern era removed it).
    pub async fn ping(&self) -> Result<(), Error> {
        if self.era() != Era::Legacy {
            return Err(Error::unsupported("ping was removed in 2026-07-28"));
        }
        self.inner
            .request(methods::PING, None, &ReqCtx::default())
            .await
            .map(drop)
    }

    // ----- lifecycle -----------------------------------------------------------------------------------

    /// Close the connection: end the legacy session (HTTP DELETE) or stop the child process. Pending requests
    /// fail with an error of kind [`ErrorKind::Closed`](crate::ErrorKind::Closed).
    pub async fn close(&self) {
        let inner = &self.inner;
        if inner.closed.is_cancelled() {
            return;
        }
        inner.closed.cancel();
        if let Err(e) = inner.transport.close().await {
            tracing::debug!(error = %e, "closing the transport failed");
        }
        inner.peer.close();
        for t in lock(&inner.tasks).drain(..) {
            t.abort();
        }
        let _ = inner.events.send(ClientEvent::Closed { reason: None });
    }

    pub(super) async fn paginate<T, F, Fut>(&self, page: F) -> Result<Vec<T>, Error>
    where
        F: Fn(Option<String>) -> Fut,
        Fut: std::future::Future<Output = Result<(Vec<T>, Option<String>), Error>>,
    {
        let legacy = self.era() == Era::Legacy;
        let mut out = Vec::new();
        let mut cursor = None;
        let mut seen = HashSet::new();
        loop {
            let (items, next) = page(cursor).await?;
            out.extend(items);
            match next {
                // Legacy servers sometimes mark the end with an empty cursor; on 2026-07-28 "" is a cursor.
                Some(c) if legacy && c.is_empty() => return Ok(out),
                Some(c) => {
                    if !seen.insert(c.clone()) {
                        return Err(Error::protocol(format!(
                            "the server returned cursor {c:?} twice; stopping pagination"
                        )));
                    }
                    cursor = Some(c);
                }
                None => return Ok(out),
            }
        }
    }
}
