//! The builder: handlers, version mode and options; `connect` spawns the background tasks and negotiates.

use mcp_rpc::rt;
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, RwLock};

use mcp_protocol::types::{
    ClientCapabilities, ElicitationCapability, Implementation, RootsCapability, SamplingCapability,
    ServerCapabilities,
};
use mcp_protocol::ProtocolVersion;
use mcp_rpc::Peer;
use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;

use super::handle::Client;
use super::inner::{lock, ConnState, Inner, TRANSPORT_EVENTS};
use super::options::{ClientOptions, VersionMode};
use super::tasks::{dispatch_loop, writer_loop};
use crate::cache::ResultCache;
use crate::handlers::{ElicitationHandler, RootsHandler, SamplingHandler};
use crate::transport::Transport;
use crate::{Error, ReissuePolicy};

/// Builds a [`Client`]. Start with [`Client::builder`].
///
/// ```no_run
/// # async fn run() -> Result<(), mcp_client::Error> {
/// use std::time::Duration;
/// use mcp_client::{Client, ClientOptions, VersionMode, transport::HttpTransport};
/// use mcp_protocol::types::{ElicitRequestParams, ElicitResult, Implementation};
/// use mcp_protocol::ErrorObject;
///
/// let client = Client::builder()
///     .client_info(Implementation::new("my-agent", "0.3.0"))
///     .version_mode(VersionMode::Auto)
///     .options(ClientOptions::default().request_timeout(Duration::from_secs(30)))
///     .elicitation_handler(|_req: ElicitRequestParams| async move {
///         Ok::<_, ErrorObject>(ElicitResult::decline())
///     })
///     .connect(HttpTransport::new("http://127.0.0.1:3000/mcp")?)
///     .await?;
/// println!("speaking {:?}", client.protocol_version());
/// # Ok(()) }
/// ```
pub struct ClientBuilder {
    pub(super) info: Implementation,
    pub(super) capabilities: Option<ClientCapabilities>,
    pub(super) elicitation: Option<Arc<dyn ElicitationHandler>>,
    pub(super) sampling: Option<Arc<dyn SamplingHandler>>,
    pub(super) roots: Option<Arc<dyn RootsHandler>>,
    pub(super) mode: VersionMode,
    pub(super) reissue: ReissuePolicy,
    pub(super) options: ClientOptions,
}

impl std::fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("info", &self.info)
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

impl ClientBuilder {
    /// The client's name and version, sent to the server.
    pub fn client_info(mut self, info: Implementation) -> Self {
        self.info = info;
        self
    }
    /// The capabilities to declare. Capabilities for the handlers given are added when absent.
    pub fn capabilities(mut self, caps: ClientCapabilities) -> Self {
        self.capabilities = Some(caps);
        self
    }
    /// Answers elicitation (legacy requests and modern input requests).
    pub fn elicitation_handler(mut self, h: impl ElicitationHandler) -> Self {
        self.elicitation = Some(Arc::new(h));
        self
    }
    /// Answers sampling (legacy requests and modern input requests).
    pub fn sampling_handler(mut self, h: impl SamplingHandler) -> Self {
        self.sampling = Some(Arc::new(h));
        self
    }
    /// Answers roots (legacy requests and modern input requests).
    pub fn roots_handler(mut self, h: impl RootsHandler) -> Self {
        self.roots = Some(Arc::new(h));
        self
    }
    /// How to choose the protocol revision (default [`VersionMode::Auto`]).
    pub fn version_mode(mut self, mode: VersionMode) -> Self {
        self.mode = mode;
        self
    }
    /// Which 2026-07-28 requests are sent again when their HTTP reply stream breaks (default
    /// [`ReissuePolicy::Safe`]); the others fail with [`ErrorKind::OutcomeUnknown`](crate::ErrorKind::OutcomeUnknown).
    pub fn reissue_policy(mut self, policy: ReissuePolicy) -> Self {
        self.reissue = policy;
        self
    }
    /// Declare extension `id` with its `settings` in the client capabilities (`capabilities.extensions`, sent
    /// in `initialize` and in every 2026-07-28 request's `_meta`).
    pub fn extension(mut self, id: impl Into<String>, settings: serde_json::Value) -> Self {
        self.capabilities
            .get_or_insert_with(ClientCapabilities::default)
            .extensions
            .get_or_insert_with(Default::default)
            .insert(id.into(), settings);
        self
    }

    /// Declare the tasks extension (`io.modelcontextprotocol/tasks`): the server may answer a `tools/call`
    /// with a task, which [`Client::call_tool`] follows to its end ([`Client::start_tool_call`] hands it over
    /// instead).
    ///
    /// ```
    /// use mcp_client::Client;
    /// use mcp_protocol::types::TASKS_EXTENSION;
    /// let builder = Client::builder().tasks();
    /// # let _ = (builder, TASKS_EXTENSION);
    /// ```
    pub fn tasks(self) -> Self {
        self.extension(
            mcp_protocol::types::TASKS_EXTENSION,
            serde_json::Value::Object(Default::default()),
        )
    }

    /// Tunables.
    pub fn options(mut self, options: ClientOptions) -> Self {
        self.options = options;
        self
    }

    /// Connect over `transport`: detect the era and complete the handshake the era needs.
    pub async fn connect(self, transport: impl Transport) -> Result<Client, Error> {
        self.connect_shared(Arc::new(transport)).await
    }

    /// [`connect`](Self::connect) with a transport the caller keeps a handle to.
    pub async fn connect_shared(self, transport: Arc<dyn Transport>) -> Result<Client, Error> {
        let mut caps = self.capabilities.unwrap_or_default();
        if self.elicitation.is_some() && caps.elicitation.is_none() {
            caps.elicitation = Some(ElicitationCapability::default());
        }
        if self.sampling.is_some() && caps.sampling.is_none() {
            caps.sampling = Some(SamplingCapability::default());
        }
        if self.roots.is_some() && caps.roots.is_none() {
            caps.roots = Some(RootsCapability {
                list_changed: Some(true),
            });
        }
        let (ev_tx, ev_rx) = mpsc::channel(TRANSPORT_EVENTS);
        transport.start(ev_tx).await?;
        let (out_tx, out_rx) = mpsc::channel(256);
        let (events, _) = broadcast::channel(256);
        let kind = transport.kind();
        let cache = ResultCache::new(self.options.cache_max_entries, self.options.cache_max_bytes);
        let initial_version = match self.mode {
            VersionMode::Pinned(v) => v,
            VersionMode::Legacy => ProtocolVersion::LATEST_LEGACY,
            VersionMode::Auto => ProtocolVersion::LATEST,
        };
        let info_and_caps_json = (
            serde_json::to_value(&self.info).unwrap_or_default(),
            serde_json::to_value(&caps).unwrap_or_else(|_| serde_json::json!({})),
        );
        let inner = Arc::new(Inner {
            transport: transport.clone(),
            kind,
            peer: Peer::new(out_tx),
            info: self.info,
            caps,
            info_and_caps_json,
            elicitation: self.elicitation,
            sampling: self.sampling,
            roots: self.roots,
            mode: self.mode,
            reissue: self.reissue,
            opts: self.options,
            state: RwLock::new(ConnState {
                era: initial_version.era(),
                version: initial_version,
                requested_legacy: ProtocolVersion::LATEST_LEGACY,
                server_info: None,
                server_caps: ServerCapabilities::default(),
                instructions: None,
                log_level: None,
                subscriptions: BTreeSet::new(),
            }),
            tools: RwLock::default(),
            cache,
            listens: Mutex::default(),
            hints: Mutex::default(),
            internal: Mutex::default(),
            failures: Mutex::default(),
            recovery: tokio::sync::Mutex::new(()),
            server_requests: Mutex::default(),
            events,
            closed: CancellationToken::new(),
            disconnected: Default::default(),
            tasks: Mutex::new(Vec::new()),
        });
        let weak = Arc::downgrade(&inner);
        let writer = rt::spawn(writer_loop(out_rx, weak.clone(), transport, kind));
        let dispatcher = rt::spawn(dispatch_loop(ev_rx, weak));
        lock(&inner.tasks).extend([writer, dispatcher]);
        let client = Client { inner };
        if let Err(e) = client.inner.negotiate().await {
            client.close().await;
            return Err(e);
        }
        Ok(client)
    }
}
