//! The server: its identity, options, registries and change events. Cheap to clone; one instance serves every
//! connection and session.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use indexmap::IndexMap;
use mcp_protocol::types::{
    CallToolResult, CompleteParams, CompleteResult, GetPromptResult, Implementation,
    ListChangedCapability, Prompt, ReadResourceResult, Resource, ResourceTemplate,
    ResourcesCapability, ServerCapabilities, Tool,
};
use mcp_protocol::JsonObject;
use serde::de::DeserializeOwned;
use tokio::sync::broadcast;

use crate::handler::*;
use crate::middleware::{BoxError, McpRequest, McpResponse, Next};
use crate::prompt_args::{typed_prompt, TypedArgs};
use crate::request_state::StateKey;
use crate::uri_template::UriTemplate;
use crate::{Error, RequestContext};

/// Something changed that clients may want to hear about.
///
/// The server emits these when its lists change at runtime ([`Server::add_tool`] and friends) and when
/// [`Server::notify_resource_updated`] is called; the transports turn them into `notifications/*/list_changed`
/// and `notifications/resources/updated` for the sessions and listen streams that asked. Subscribe with
/// [`Server::events`] to see them yourself (to mirror them to another system, or in tests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerEvent {
    /// The tool list changed.
    ToolsListChanged,
    /// The prompt list changed.
    PromptsListChanged,
    /// The resource list changed.
    ResourcesListChanged,
    /// A resource's contents changed.
    ResourceUpdated(String),
}

pub(crate) struct Registry {
    pub tools: ArcSwap<IndexMap<String, Arc<ToolEntry>>>,
    pub resources: ArcSwap<IndexMap<String, Arc<ResourceEntry>>>,
    pub templates: ArcSwap<IndexMap<String, Arc<TemplateEntry>>>,
    pub prompts: ArcSwap<IndexMap<String, Arc<PromptEntry>>>,
    pub completion: Option<Arc<dyn CompletionHandler>>,
}

/// Tunables of a server. Start from `ServerOptions::default()` and change the fields you need; the
/// builder also has a setter for the ones most often changed ([`ServerBuilder::max_uri_length`],
/// [`ServerBuilder::cancel_grace`]).
///
/// ```
/// use std::time::Duration;
/// use mcp_server::{Server, ServerOptions};
/// let server = Server::builder("big-lists", "1.0.0")
///     .options(ServerOptions::default().page_size(500).cache_ttl(Duration::from_secs(30)))
///     .build();
/// assert_eq!(server.options().page_size, 500);
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ServerOptions {
    /// Items per page of list results (default 100).
    pub page_size: usize,
    /// `ttlMs` on cacheable 2026-07-28 results (default 0: clients revalidate every time).
    pub cache_ttl: Duration,
    /// How long a sealed `requestState` stays valid (default 10 minutes).
    pub request_state_ttl: Duration,
    /// Cap on requests handled at once per connection (stdio) or server-wide (HTTP) (default 1024).
    pub max_in_flight: usize,
    /// Longest resource URI accepted, in bytes (default [`ServerOptions::DEFAULT_MAX_URI_LENGTH`], 8 KiB).
    /// Checked before any work on the URI by `resources/read`, `resources/subscribe` and `unsubscribe`,
    /// the resource subscriptions of `subscriptions/listen`, and `completion/complete` on a resource
    /// reference; a longer URI is answered with invalid params (-32602) naming this setting. Also settable
    /// with [`ServerBuilder::max_uri_length`].
    pub max_uri_length: usize,
    /// How long a cancelled handler may go on to clean up before it is dropped (default
    /// [`ServerOptions::DEFAULT_CANCEL_GRACE`], 2 s). See [`ServerBuilder::cancel_grace`] for the rule.
    pub cancel_grace: Duration,
}

impl ServerOptions {
    /// The default of [`ServerOptions::max_uri_length`]: 8 KiB, the request-line length most HTTP servers
    /// and proxies accept, well above any real resource URI.
    pub const DEFAULT_MAX_URI_LENGTH: usize = 8192;
    /// The default of [`ServerOptions::cancel_grace`]: 2 s, time to close a file or roll back a transaction,
    /// short enough that a handler that ignores cancellation does not hold resources for long.
    pub const DEFAULT_CANCEL_GRACE: Duration = Duration::from_secs(2);
}

impl Default for ServerOptions {
    fn default() -> Self {
        Self {
            page_size: 100,
            cache_ttl: Duration::ZERO,
            request_state_ttl: Duration::from_secs(600),
            max_in_flight: 1024,
            max_uri_length: Self::DEFAULT_MAX_URI_LENGTH,
            cancel_grace: Self::DEFAULT_CANCEL_GRACE,
        }
    }
}

impl ServerOptions {
    /// Sets [`page_size`](#structfield.page_size): items per page of list results (default 100).
    pub fn page_size(mut self, page_size: usize) -> Self {
        self.page_size = page_size;
        self
    }
    /// Sets [`cache_ttl`](#structfield.cache_ttl): `ttlMs` on cacheable 2026-07-28 results (default 0: clients revalidate every time).
    pub fn cache_ttl(mut self, cache_ttl: Duration) -> Self {
        self.cache_ttl = cache_ttl;
        self
    }
    /// Sets [`request_state_ttl`](#structfield.request_state_ttl): how long a sealed `requestState` stays valid (default 10 minutes).
    pub fn request_state_ttl(mut self, request_state_ttl: Duration) -> Self {
        self.request_state_ttl = request_state_ttl;
        self
    }
    /// Sets [`max_in_flight`](#structfield.max_in_flight): cap on requests handled at once per connection (stdio) or server-wide (HTTP) (default 1024).
    pub fn max_in_flight(mut self, max_in_flight: usize) -> Self {
        self.max_in_flight = max_in_flight;
        self
    }
    /// Sets [`max_uri_length`](#structfield.max_uri_length): longest resource URI accepted, in bytes (default [`ServerOptions::DEFAULT_MAX_URI_LENGTH`], 8 KiB).
    pub fn max_uri_length(mut self, max_uri_length: usize) -> Self {
        self.max_uri_length = max_uri_length;
        self
    }
    /// Sets [`cancel_grace`](#structfield.cancel_grace): how long a cancelled handler may go on to clean up before it is dropped (default [`ServerOptions::DEFAULT_CANCEL_GRACE`], 2 s).
    pub fn cancel_grace(mut self, cancel_grace: Duration) -> Self {
        self.cancel_grace = cancel_grace;
        self
    }
}

pub(crate) struct Inner {
    pub info: Implementation,
    /// `info` as JSON, stamped on every modern result.
    pub info_value: serde_json::Value,
    /// `info_value` as JSON text, spliced into modern results.
    pub info_json: String,
    pub instructions: Option<String>,
    pub capabilities: ServerCapabilities,
    pub options: ServerOptions,
    pub registry: Registry,
    pub events: broadcast::Sender<ServerEvent>,
    /// Server events raised on other nodes of a fleet, for this node's `subscriptions/listen` streams
    /// (made on first use: a server with no listener and no fleet never allocates it).
    pub fleet_events: std::sync::OnceLock<broadcast::Sender<ServerEvent>>,
    pub state_key: StateKey,
    /// Keys a `requestState` may also be sealed with (rotated out, still accepted); never used to seal.
    pub previous_state_keys: Vec<StateKey>,
    /// The `initialize` result as JSON text for each legacy version, written on first use.
    pub initialize_results: std::sync::OnceLock<Vec<(mcp_protocol::ProtocolVersion, String)>>,
    /// The message-level layers, outermost first; `None` when none was added (requests go straight in).
    pub layers: Option<Next>,
    /// The tasks extension, when a tool has a task policy.
    pub tasks: Option<Arc<crate::tasks::Tasks>>,
    /// Extensions' request methods, by name.
    pub methods: std::collections::HashMap<String, Arc<dyn crate::handler::MethodHandler>>,
}

/// An MCP server. Build it with [`Server::builder`], then serve it over stdio ([`crate::serve_stdio`]) or HTTP.
///
/// ```
/// use mcp_server::{Server, Error};
/// use mcp_protocol::types::CallToolResult;
///
/// #[derive(serde::Deserialize, schemars::JsonSchema)]
/// struct Add { a: f64, b: f64 }
///
/// let server = Server::builder("calculator", "1.0.0")
///     .typed_tool("add", "Add two numbers", |_ctx, args: Add| async move {
///         Ok::<_, Error>(format!("{}", args.a + args.b))
///     })
///     .build();
/// assert_eq!(server.tools().len(), 1);
/// ```
#[derive(Clone)]
pub struct Server {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("info", &self.inner.info)
            .finish()
    }
}

/// Builds a [`Server`]: start with [`Server::builder`], register tools, resources, templates and prompts,
/// then [`build`](ServerBuilder::build).
///
/// Every method takes and returns the builder, so a server is one expression. Registering a name (or URI)
/// twice keeps the last registration. Everything can also change after `build` through [`Server::add_tool`]
/// and friends.
///
/// ```
/// use mcp_server::{Error, Json, Server};
/// use mcp_protocol::types::{GetPromptResult, PromptMessage};
///
/// #[derive(serde::Deserialize, schemars::JsonSchema)]
/// struct Query { city: String }
///
/// #[derive(serde::Serialize, schemars::JsonSchema)]
/// struct Weather { celsius: f64 }
///
/// #[derive(serde::Deserialize, schemars::JsonSchema)]
/// struct Trip { destination: String }
///
/// let server = Server::builder("weather", "1.0.0")
///     .instructions("Use `forecast` for the weather of one city.")
///     .typed_tool("forecast", "Tomorrow's weather", |_ctx, q: Query| async move {
///         let celsius = if q.city == "Oslo" { 4.0 } else { 21.0 };
///         Ok::<_, Error>(Json(Weather { celsius }))
///     })
///     .text_resource("docs://units", "units", "text/plain", "Temperatures are in degrees Celsius.")
///     .typed_prompt("pack", "What to pack for a trip", |_ctx, t: Trip| async move {
///         Ok::<_, Error>(GetPromptResult::new(vec![PromptMessage::user(format!(
///             "What should I pack for {}?", t.destination
///         ))]))
///     })
///     .build();
/// assert_eq!(server.tools()[0].name, "forecast");
/// ```
pub struct ServerBuilder {
    info: Implementation,
    instructions: Option<String>,
    options: ServerOptions,
    tools: IndexMap<String, Arc<ToolEntry>>,
    resources: IndexMap<String, Arc<ResourceEntry>>,
    templates: IndexMap<String, Arc<TemplateEntry>>,
    prompts: IndexMap<String, Arc<PromptEntry>>,
    completion: Option<Arc<dyn CompletionHandler>>,
    logging: bool,
    state_key: Option<StateKey>,
    previous_state_keys: Vec<StateKey>,
    capabilities: Option<ServerCapabilities>,
    layers: Option<Next>,
    extensions: JsonObject,
    methods: std::collections::HashMap<String, Arc<dyn crate::handler::MethodHandler>>,
    task_policies: std::collections::HashMap<String, crate::tasks::TaskPolicy>,
    task_options: crate::tasks::TaskOptions,
    task_store: Option<Arc<dyn crate::tasks::TaskStore>>,
}

impl Server {
    /// Start building a server with a name and version (its `serverInfo`; set the title, description and
    /// icons with [`ServerBuilder::info`]).
    pub fn builder(name: impl Into<String>, version: impl Into<String>) -> ServerBuilder {
        ServerBuilder {
            info: Implementation::new(name, version),
            instructions: None,
            options: ServerOptions::default(),
            tools: IndexMap::new(),
            resources: IndexMap::new(),
            templates: IndexMap::new(),
            prompts: IndexMap::new(),
            completion: None,
            logging: true,
            state_key: None,
            previous_state_keys: Vec::new(),
            capabilities: None,
            layers: None,
            extensions: JsonObject::new(),
            methods: std::collections::HashMap::new(),
            task_policies: std::collections::HashMap::new(),
            task_options: crate::tasks::TaskOptions::default(),
            task_store: None,
        }
    }

    /// The server's identity, as sent in `serverInfo`.
    pub fn info(&self) -> &Implementation {
        &self.inner.info
    }
    /// The capabilities it declares: tools, prompts and resources (with `listChanged` and `subscribe`),
    /// completions and, unless turned off, logging; or what [`ServerBuilder::capabilities`] set.
    pub fn capabilities(&self) -> &ServerCapabilities {
        &self.inner.capabilities
    }
    /// Its options.
    pub fn options(&self) -> &ServerOptions {
        &self.inner.options
    }
    /// The tools currently offered, in registration order (a snapshot: later changes do not show in it).
    pub fn tools(&self) -> Vec<Tool> {
        self.inner
            .registry
            .tools
            .load()
            .values()
            .map(|e| e.tool.clone())
            .collect()
    }
    /// The prompts currently offered, in registration order (a snapshot).
    pub fn prompts(&self) -> Vec<Prompt> {
        self.inner
            .registry
            .prompts
            .load()
            .values()
            .map(|e| e.prompt.clone())
            .collect()
    }
    /// Subscribe to change events (list changes, resource updates). The channel keeps the last 256 events;
    /// a receiver that falls further behind gets `RecvError::Lagged` and goes on from the oldest kept.
    ///
    /// ```
    /// use mcp_server::{Server, ServerEvent};
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let server = Server::builder("files", "1.0.0").build();
    /// let mut events = server.events();
    /// server.notify_resource_updated("file:///notes.txt");
    /// assert_eq!(events.recv().await.unwrap(), ServerEvent::ResourceUpdated("file:///notes.txt".into()));
    /// # }
    /// ```
    pub fn events(&self) -> broadcast::Receiver<ServerEvent> {
        self.inner.events.subscribe()
    }

    /// The channel of server events raised on other nodes (see [`Inner::fleet_events`]), made when an
    /// endpoint joins a fleet.
    #[cfg(feature = "http")]
    pub(crate) fn fleet_events(&self) -> &broadcast::Sender<ServerEvent> {
        self.inner
            .fleet_events
            .get_or_init(|| broadcast::channel(256).0)
    }

    /// A server event raised on another node of the fleet: tell this node's listen streams.
    #[cfg(feature = "http")]
    pub(crate) fn raise_from_fleet(&self, e: ServerEvent) {
        let _ = self.fleet_events().send(e);
    }

    fn emit(&self, e: ServerEvent) {
        // No receivers just means nobody listens right now.
        let _ = self.inner.events.send(e);
    }

    /// Add (or replace) a tool at runtime; clients that listen are told the list changed. Requests already
    /// running keep the definition they started with; the next `tools/call` sees the new one.
    ///
    /// ```
    /// use mcp_server::{Error, RequestContext, Server};
    /// use mcp_protocol::types::{CallToolResult, Tool};
    /// let server = Server::builder("plugins", "1.0.0").build();
    /// server.add_tool(Tool::new("hello", serde_json::json!({"type": "object"})), |_ctx: RequestContext, _args| async {
    ///     Ok::<_, Error>(CallToolResult::text("hello"))
    /// });
    /// assert_eq!(server.tools().len(), 1);
    /// assert!(server.remove_tool("hello"));
    /// assert!(server.tools().is_empty());
    /// ```
    pub fn add_tool(&self, tool: Tool, handler: impl ToolHandler) {
        let entry = Arc::new(ToolEntry::new(tool, Arc::new(handler)));
        self.inner.registry.tools.rcu(|m| {
            let mut m = IndexMap::clone(m);
            m.insert(entry.tool.name.clone(), entry.clone());
            m
        });
        self.emit(ServerEvent::ToolsListChanged);
    }

    /// Remove a tool at runtime. Returns whether it existed; clients that listen are told the list changed
    /// only when it did. Calls already running finish.
    pub fn remove_tool(&self, name: &str) -> bool {
        let mut removed = false;
        self.inner.registry.tools.rcu(|m| {
            let mut m = IndexMap::clone(m);
            removed = m.shift_remove(name).is_some();
            m
        });
        if removed {
            self.emit(ServerEvent::ToolsListChanged);
        }
        removed
    }

    /// Add (or replace) a prompt at runtime; clients that listen are told the list changed.
    pub fn add_prompt(&self, prompt: Prompt, handler: impl PromptHandler) {
        let entry = Arc::new(PromptEntry {
            prompt,
            handler: Arc::new(handler),
        });
        self.inner.registry.prompts.rcu(|m| {
            let mut m = IndexMap::clone(m);
            m.insert(entry.prompt.name.clone(), entry.clone());
            m
        });
        self.emit(ServerEvent::PromptsListChanged);
    }

    /// Remove a prompt at runtime. Returns whether it existed (and only then tells listening clients).
    pub fn remove_prompt(&self, name: &str) -> bool {
        let mut removed = false;
        self.inner.registry.prompts.rcu(|m| {
            let mut m = IndexMap::clone(m);
            removed = m.shift_remove(name).is_some();
            m
        });
        if removed {
            self.emit(ServerEvent::PromptsListChanged);
        }
        removed
    }

    /// Add (or replace) a static resource at runtime, keyed by its URI; clients that listen are told the list
    /// changed.
    pub fn add_resource(&self, resource: Resource, handler: impl ResourceHandler) {
        let entry = Arc::new(ResourceEntry {
            resource,
            handler: Arc::new(handler),
        });
        self.inner.registry.resources.rcu(|m| {
            let mut m = IndexMap::clone(m);
            m.insert(entry.resource.uri.clone(), entry.clone());
            m
        });
        self.emit(ServerEvent::ResourcesListChanged);
    }

    /// Remove a static resource at runtime. Returns whether it existed (and only then tells listening
    /// clients).
    pub fn remove_resource(&self, uri: &str) -> bool {
        let mut removed = false;
        self.inner.registry.resources.rcu(|m| {
            let mut m = IndexMap::clone(m);
            removed = m.shift_remove(uri).is_some();
            m
        });
        if removed {
            self.emit(ServerEvent::ResourcesListChanged);
        }
        removed
    }

    /// Tell subscribers that a resource's contents changed: legacy sessions that sent `resources/subscribe`
    /// for `uri`, and 2026-07-28 listen streams that asked for it, get `notifications/resources/updated`.
    /// The server does not check that `uri` is one of its resources (a template's resources are not listed).
    pub fn notify_resource_updated(&self, uri: impl Into<String>) {
        self.emit(ServerEvent::ResourceUpdated(uri.into()));
    }

    pub(crate) fn state_key(&self) -> &StateKey {
        &self.inner.state_key
    }
}

impl ServerBuilder {
    /// Instructions for the client's model: how to use this server's tools together, sent in the
    /// `initialize` result and in `server/discover`. Clients may put them in the model's system prompt.
    pub fn instructions(mut self, text: impl Into<String>) -> Self {
        self.instructions = Some(text.into());
        self
    }
    /// Set the server's full identity (title, description, icons…), replacing the name and version given to
    /// [`Server::builder`].
    ///
    /// ```
    /// use mcp_protocol::types::Implementation;
    /// let server = mcp_server::Server::builder("x", "0")
    ///     .info(Implementation::new("files", "2.1.0").with_title("File Server").with_website_url("https://example.com"))
    ///     .build();
    /// assert_eq!(server.info().title.as_deref(), Some("File Server"));
    /// ```
    pub fn info(mut self, info: Implementation) -> Self {
        self.info = info;
        self
    }
    /// Replace all the options (see [`ServerOptions`] for each and its default).
    pub fn options(mut self, options: ServerOptions) -> Self {
        self.options = options;
        self
    }
    /// The longest resource URI accepted, in bytes (default 8 KiB; see [`ServerOptions::max_uri_length`]).
    /// Raise it only if your resources really have longer URIs: the limit keeps a request from making the
    /// server match megabytes against its templates.
    ///
    /// ```
    /// let server = mcp_server::Server::builder("files", "1.0.0")
    ///     .max_uri_length(64 * 1024)
    ///     .build();
    /// assert_eq!(server.options().max_uri_length, 65536);
    /// ```
    pub fn max_uri_length(mut self, bytes: usize) -> Self {
        self.options.max_uri_length = bytes;
        self
    }

    /// How long a cancelled handler may go on before it is dropped (default 2 s).
    ///
    /// When a request is cancelled (a legacy client's `notifications/cancelled`, a 2026-07-28 client closing
    /// the request's stream or connection, the session being deleted or expiring, the connection ending),
    /// the server first cancels the request's token, [`RequestContext::cancellation`], then lets the
    /// handler run for up to this long so it can notice, clean up and return. A handler still running then
    /// is dropped. Either way nothing is sent for a cancelled request: the client stopped waiting. With
    /// `Duration::ZERO` handlers are dropped as soon as they next yield after the cancel.
    ///
    /// ```
    /// use std::time::Duration;
    /// use mcp_server::{Error, RequestContext, Server};
    /// use mcp_protocol::types::CallToolResult;
    ///
    /// let server = Server::builder("jobs", "1.0.0")
    ///     .cancel_grace(Duration::from_millis(500))
    ///     .tool(
    ///         mcp_protocol::types::Tool { name: "export".into(), ..Default::default() },
    ///         |ctx: RequestContext, _args| async move {
    ///             tokio::select! {
    ///                 _ = tokio::time::sleep(Duration::from_secs(60)) => {
    ///                     Ok::<_, Error>(CallToolResult::text("exported"))
    ///                 }
    ///                 _ = ctx.cancellation().cancelled() => {
    ///                     // Within the grace period: remove the half-written file, then stop.
    ///                     Err(Error::cancelled())
    ///                 }
    ///             }
    ///         },
    ///     )
    ///     .build();
    /// assert_eq!(server.options().cancel_grace, Duration::from_millis(500));
    /// ```
    pub fn cancel_grace(mut self, grace: Duration) -> Self {
        self.options.cancel_grace = grace;
        self
    }

    /// The key that seals `requestState`. Share one across every node of a deployment; defaults to a random key.
    ///
    /// On 2026-07-28 a handler that asks a question ends with a sealed `requestState`, and the client's retry
    /// may reach any node behind a load balancer: every node must verify what another sealed. With the
    /// default random key a retry that lands on another node (or after a restart) is refused as tampered.
    pub fn state_key(mut self, key: StateKey) -> Self {
        self.state_key = Some(key);
        self
    }

    /// Keys that sealed `requestState` before the current [`state_key`](Self::state_key) and are still
    /// accepted to open one (the current key always seals). To rotate the key of a fleet without failing
    /// the rounds in flight: give every node the new key with the old one here, then, once a round's
    /// lifetime ([`ServerOptions::request_state_ttl`]) has passed, drop the old one. A state sealed with a
    /// key in neither place is refused.
    ///
    /// ```
    /// use mcp_server::{Server, StateKey};
    /// let old = StateKey::new(b"the key of last month, 32 bytes!".to_vec());
    /// let new = StateKey::new(b"the key of this month, 32 bytes!".to_vec());
    /// let server = Server::builder("rotating", "1.0.0")
    ///     .state_key(new)
    ///     .previous_state_keys([old])
    ///     .build();
    /// # let _ = server;
    /// ```
    pub fn previous_state_keys(mut self, keys: impl IntoIterator<Item = StateKey>) -> Self {
        self.previous_state_keys = keys.into_iter().collect();
        self
    }
    /// Whether to declare the `logging` capability (default true). Without it clients do not send
    /// `logging/setLevel`; [`RequestContext::log`] still sends what the request's level lets through.
    pub fn logging(mut self, on: bool) -> Self {
        self.logging = on;
        self
    }
    /// Override the declared capabilities entirely (the default declares everything this builder can serve).
    /// The server still answers every method it has handlers for; this changes only what it announces.
    pub fn capabilities(mut self, caps: ServerCapabilities) -> Self {
        self.capabilities = Some(caps);
        self
    }

    /// Add a message-level layer: a [`tower::Layer`] over [`McpRequest`]s, which sees every request (method,
    /// tool, resource or prompt name, params, principal, era, session) and its JSON-RPC answer, on every
    /// transport alike. Each call wraps the layers added before it, so the last one added runs first. See
    /// [`crate::middleware`] for what passes through and how a layer refuses a request.
    ///
    /// The layer's service may fail with any error ([`tower::timeout`] and the like): the client then gets
    /// a JSON-RPC error. Services that are cloned per request share what they share across clones (a
    /// `ConcurrencyLimit` shares its semaphore; give a `RateLimit` a `tower::buffer::Buffer` to share it).
    ///
    /// ```
    /// use std::time::Duration;
    /// use mcp_server::Server;
    ///
    /// let server = Server::builder("guarded", "1.0.0")
    ///     // At most 8 requests in the handlers at once; the rest wait.
    ///     .layer(tower::limit::ConcurrencyLimitLayer::new(8))
    ///     // Runs first: a request that takes over 30 s is answered with an error.
    ///     .layer(tower::timeout::TimeoutLayer::new(Duration::from_secs(30)))
    ///     .build();
    /// # let _ = server;
    /// ```
    pub fn layer<L>(mut self, layer: L) -> Self
    where
        L: tower::Layer<Next>,
        L::Service:
            tower::Service<McpRequest, Response = McpResponse> + Clone + Send + Sync + 'static,
        <L::Service as tower::Service<McpRequest>>::Error: Into<BoxError>,
        <L::Service as tower::Service<McpRequest>>::Future: Send + 'static,
    {
        self.layers = Some(Next::wrap(self.layers.take(), layer));
        self
    }

    /// Apply a registration function, such as the `<fn>_tool` functions that `#[mcp::tool]` generates:
    /// `Server::builder("x", "1").with(add_tool).with(greet_prompt)`.
    pub fn with(self, register: impl FnOnce(Self) -> Self) -> Self {
        register(self)
    }

    /// A tool from its definition and a raw handler taking the arguments object.
    ///
    /// The arguments are validated against `tool.input_schema` before the handler runs (a mismatch is a tool
    /// error on 2025-11-25+ and invalid params before), and a `structuredContent` the handler returns is
    /// checked against `output_schema`. Use [`typed_tool`](Self::typed_tool) to derive both schemas from types.
    ///
    /// ```
    /// use mcp_server::{Error, RequestContext, Server};
    /// use mcp_protocol::{types::{CallToolResult, Tool, ToolAnnotations}, JsonObject};
    /// use serde_json::json;
    ///
    /// let echo = Tool::new("echo", json!({"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}))
    ///     .with_description("Echo the text back")
    ///     .with_annotations(ToolAnnotations::default().with_read_only_hint(true));
    /// let server = Server::builder("echo", "1.0.0")
    ///     .tool(echo, |_ctx: RequestContext, args: JsonObject| async move {
    ///         let text = args.get("text").and_then(|t| t.as_str()).unwrap_or_default().to_owned();
    ///         Ok::<_, Error>(CallToolResult::text(text))
    ///     })
    ///     .build();
    /// assert_eq!(server.tools()[0].annotations.as_ref().and_then(|a| a.read_only_hint), Some(true));
    /// ```
    pub fn tool(mut self, tool: Tool, handler: impl ToolHandler) -> Self {
        let entry = Arc::new(ToolEntry::new(tool, Arc::new(handler)));
        self.tools.insert(entry.tool.name.clone(), entry);
        self
    }

    /// A tool whose arguments deserialize into `A` (its JSON Schema becomes `inputSchema`) and whose return
    /// value is anything [`IntoToolOutput`]; return [`Json`] to publish an `outputSchema` and
    /// `structuredContent`.
    ///
    /// Doc comments on `A`'s fields become the schema's descriptions, which is what the model reads. Arguments
    /// that do not deserialize into `A` are reported to the model as a tool error naming the problem.
    ///
    /// ```
    /// use mcp_server::{Error, Json, Server};
    ///
    /// #[derive(serde::Deserialize, schemars::JsonSchema)]
    /// struct Divide {
    ///     /// The dividend.
    ///     a: f64,
    ///     /// The divisor (not zero).
    ///     b: f64,
    /// }
    ///
    /// #[derive(serde::Serialize, schemars::JsonSchema)]
    /// struct Quotient { value: f64 }
    ///
    /// let server = Server::builder("calculator", "1.0.0")
    ///     .typed_tool("divide", "Divide a by b", |_ctx, args: Divide| async move {
    ///         if args.b == 0.0 {
    ///             return Err(Error::tool("cannot divide by zero"));
    ///         }
    ///         Ok(Json(Quotient { value: args.a / args.b }))
    ///     })
    ///     .build();
    /// let tool = &server.tools()[0];
    /// assert_eq!(tool.input_schema["properties"]["b"]["description"], "The divisor (not zero).");
    /// assert!(tool.output_schema.is_some());
    /// ```
    pub fn typed_tool<A, R, F, Fut>(self, name: &str, description: &str, f: F) -> Self
    where
        A: DeserializeOwned + schemars::JsonSchema + Send + 'static,
        R: IntoToolOutput + Send + 'static,
        F: Fn(RequestContext, A) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<R, Error>> + Send + 'static,
    {
        let tool = Tool {
            name: name.to_owned(),
            description: Some(description.to_owned()),
            input_schema: schema_of::<A>(),
            output_schema: R::output_schema(),
            ..Default::default()
        };
        self.tool(tool, typed_tool(f))
    }

    /// A static resource: listed in `resources/list` and read by its exact URI.
    ///
    /// ```
    /// use mcp_server::{Error, RequestContext, Server};
    /// use mcp_protocol::types::{ReadResourceResult, Resource, ResourceContents};
    ///
    /// let server = Server::builder("status", "1.0.0")
    ///     .resource(
    ///         Resource::new("status://now", "status").with_mime_type("application/json"),
    ///         |_ctx: RequestContext, uri: String| async move {
    ///             let body = serde_json::json!({"healthy": true}).to_string();
    ///             Ok::<_, Error>(ReadResourceResult::from(ResourceContents::text(uri, "application/json", body)))
    ///         },
    ///     )
    ///     .build();
    /// # let _ = server;
    /// ```
    pub fn resource(mut self, resource: Resource, handler: impl ResourceHandler) -> Self {
        let entry = Arc::new(ResourceEntry {
            resource,
            handler: Arc::new(handler),
        });
        self.resources.insert(entry.resource.uri.clone(), entry);
        self
    }

    /// A static text resource whose contents never change: `uri`, `name`, MIME type and the text.
    pub fn text_resource(self, uri: &str, name: &str, mime: &str, text: &str) -> Self {
        let (u, m, t) = (uri.to_owned(), mime.to_owned(), text.to_owned());
        let resource = Resource {
            uri: uri.to_owned(),
            name: name.to_owned(),
            mime_type: Some(mime.to_owned()),
            ..Default::default()
        };
        self.resource(resource, move |_ctx: RequestContext, _uri: String| {
            let r = text_contents(&u, Some(&m), &t);
            async move { Ok::<_, Error>(r) }
        })
    }

    /// A resource template (RFC 6570): listed in `resources/templates/list`; a `resources/read` whose URI
    /// matches it (and no static resource) reaches the handler with the template's variables.
    ///
    /// ```
    /// use std::collections::HashMap;
    /// use mcp_server::{Error, RequestContext, Server};
    /// use mcp_protocol::types::{ReadResourceResult, ResourceContents, ResourceTemplate};
    ///
    /// let server = Server::builder("users", "1.0.0")
    ///     .resource_template(
    ///         ResourceTemplate::new("users://{id}/profile", "profile").with_mime_type("text/plain"),
    ///         |_ctx: RequestContext, uri: String, vars: HashMap<String, String>| async move {
    ///             let id = vars.get("id").cloned().unwrap_or_default();
    ///             Ok::<_, Error>(ReadResourceResult::from(ResourceContents::text(uri, "text/plain", format!("user {id}"))))
    ///         },
    ///     )
    ///     .build();
    /// # let _ = server;
    /// ```
    ///
    /// # Panics
    ///
    /// If the template does not parse, since that is a programming error found at startup.
    pub fn resource_template(
        mut self,
        template: ResourceTemplate,
        handler: impl TemplateHandler,
    ) -> Self {
        let matcher = UriTemplate::parse(&template.uri_template)
            .unwrap_or_else(|| panic!("invalid URI template {:?}", template.uri_template));
        let entry = Arc::new(TemplateEntry {
            template,
            matcher,
            handler: Arc::new(handler),
        });
        self.templates
            .insert(entry.template.uri_template.clone(), entry);
        self
    }

    /// A prompt from its definition and a handler taking the arguments as strings. Use
    /// [`typed_prompt`](Self::typed_prompt) to declare and parse the arguments from a struct.
    ///
    /// ```
    /// use mcp_server::{Error, PromptArgs, RequestContext, Server};
    /// use mcp_protocol::types::{GetPromptResult, Prompt, PromptArgument, PromptMessage};
    ///
    /// let server = Server::builder("poet", "1.0.0")
    ///     .prompt(
    ///         Prompt::new("haiku")
    ///             .with_description("Write a haiku")
    ///             .with_argument(PromptArgument::new("topic").with_required(true)),
    ///         |_ctx: RequestContext, args: PromptArgs| async move {
    ///             let topic = args.get("topic").cloned().unwrap_or_default();
    ///             Ok::<_, Error>(GetPromptResult::new(vec![PromptMessage::user(format!("A haiku about {topic}"))]))
    ///         },
    ///     )
    ///     .build();
    /// assert_eq!(server.prompts()[0].name, "haiku");
    /// ```
    pub fn prompt(mut self, prompt: Prompt, handler: impl PromptHandler) -> Self {
        let entry = Arc::new(PromptEntry {
            prompt,
            handler: Arc::new(handler),
        });
        self.prompts.insert(entry.prompt.name.clone(), entry);
        self
    }

    /// A prompt whose arguments are the fields of `A`: the declared `arguments` (name, description from the
    /// field's doc comment, title from `#[schemars(title = ..)]`, required unless the field is an `Option` or
    /// has a serde default) come from `A`'s JSON Schema, and each request's string arguments are parsed into
    /// an `A` (fields typed as integers, numbers or booleans are parsed from their text). A missing required
    /// argument or one that does not parse is answered with invalid params (-32602) naming it.
    ///
    /// ```
    /// use mcp_server::{Error, Server};
    /// use mcp_protocol::types::{GetPromptResult, PromptMessage};
    ///
    /// #[derive(serde::Deserialize, schemars::JsonSchema)]
    /// struct Haiku {
    ///     /// What the haiku is about.
    ///     topic: String,
    ///     /// How many haiku to write.
    ///     count: Option<u8>,
    /// }
    ///
    /// let server = Server::builder("poet", "1.0.0")
    ///     .typed_prompt("haiku", "Write haiku", |_ctx, args: Haiku| async move {
    ///         let n = args.count.unwrap_or(1);
    ///         Ok::<_, Error>(GetPromptResult::new(vec![PromptMessage::user(format!(
    ///             "Write {n} haiku about {}", args.topic
    ///         ))]))
    ///     })
    ///     .build();
    /// let prompt = &server.prompts()[0];
    /// let arg = |name: &str| prompt.arguments.iter().flatten().find(|a| a.name == name).unwrap();
    /// assert_eq!(arg("topic").required, Some(true));
    /// assert_eq!(arg("topic").description.as_deref(), Some("What the haiku is about."));
    /// assert_eq!(arg("count").required, Some(false));
    /// ```
    ///
    /// # Panics
    ///
    /// When `A` is not a struct of string, number, integer, boolean or string-enum fields (a nested struct, a
    /// list, a map): prompt arguments are strings on the wire. This is a programming error, found when the
    /// server is built at startup, never while serving.
    pub fn typed_prompt<A, F, Fut>(self, name: &str, description: &str, f: F) -> Self
    where
        A: DeserializeOwned + schemars::JsonSchema + Send + 'static,
        F: Fn(RequestContext, A) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<GetPromptResult, Error>> + Send + 'static,
    {
        let args = TypedArgs::of::<A>().unwrap_or_else(|why| {
            panic!(
                "prompt {name:?}: `{}` cannot be prompt arguments: {why}",
                A::schema_name()
            )
        });
        let prompt = Prompt::new(name)
            .with_description(description)
            .with_arguments(args.declared.clone());
        self.prompt(prompt, typed_prompt(Arc::new(args), f))
    }

    /// The completion handler: answers `completion/complete` for prompt arguments and template variables.
    ///
    /// ```
    /// use mcp_server::{Error, RequestContext, Server};
    /// use mcp_protocol::types::{CompleteParams, CompleteResult};
    ///
    /// let languages = ["python", "rust", "go"];
    /// let server = Server::builder("code", "1.0.0")
    ///     .completion(move |_ctx: RequestContext, p: CompleteParams| async move {
    ///         let values: Vec<String> = languages
    ///             .iter()
    ///             .filter(|l| l.starts_with(&p.argument.value))
    ///             .map(|l| l.to_string())
    ///             .collect();
    ///         Ok::<_, Error>(CompleteResult::new(values))
    ///     })
    ///     .build();
    /// # let _ = server;
    /// ```
    pub fn completion(mut self, handler: impl CompletionHandler) -> Self {
        self.completion = Some(Arc::new(handler));
        self
    }

    /// Declare extension `id` with its `settings` (under `capabilities.extensions`, in `server/discover` and
    /// `initialize`). The extensions this crate implements declare themselves (tasks, when a tool has a
    /// [`TaskPolicy`](crate::TaskPolicy)); this is for an extension of your own, whose handlers read the client's
    /// side with [`RequestContext::client_extension`](crate::RequestContext::client_extension).
    ///
    /// ```
    /// use mcp_server::Server;
    /// let server = Server::builder("s", "1.0.0")
    ///     .extension("com.example/audit", serde_json::json!({"retentionDays": 30}))
    ///     .build();
    /// let declared = server.capabilities().extensions.as_ref().unwrap();
    /// assert_eq!(declared["com.example/audit"]["retentionDays"], 30);
    /// ```
    pub fn extension(mut self, id: impl Into<String>, settings: serde_json::Value) -> Self {
        self.extensions.insert(id.into(), settings);
        self
    }

    /// Answer request method `name` (an extension's method, e.g. `com.example/audit/export`) with `handler`,
    /// on both eras, behind the same layers as every other request. It gets the params as sent (with
    /// `_meta`) and returns the result object; the 2026-07-28 `resultType` is added for it.
    ///
    /// ```
    /// use mcp_server::{Error, RequestContext, Server};
    /// let server = Server::builder("s", "1.0.0")
    ///     .extension("com.example/echo", serde_json::json!({}))
    ///     .method("com.example/echo", |_ctx: RequestContext, params: Option<serde_json::Value>| async move {
    ///         Ok::<_, Error>(serde_json::json!({ "echoed": params.and_then(|p| p.get("text").cloned()) }))
    ///     })
    ///     .build();
    /// # let _ = server;
    /// ```
    ///
    /// # Panics
    ///
    /// When `name` is a method of the protocol itself (a programming error, found at startup).
    pub fn method(
        mut self,
        name: impl Into<String>,
        handler: impl crate::handler::MethodHandler,
    ) -> Self {
        let name = name.into();
        assert!(
            !mcp_protocol::types::methods::is_core(&name),
            "{name} is a method of the protocol itself; an extension's methods need names of their own"
        );
        self.methods.insert(name, Arc::new(handler));
        self
    }

    /// Let tool `name` run as a task (the tasks extension, SEP-2663) for clients that declare the extension;
    /// see [`TaskPolicy`](crate::TaskPolicy) and the [`tasks`](crate::tasks) module. Declares the extension.
    ///
    /// ```
    /// use mcp_server::{Server, TaskPolicy};
    /// use mcp_protocol::types::TASKS_EXTENSION;
    /// let server = Server::builder("s", "1.0.0").tool_tasks("reindex", TaskPolicy::required()).build();
    /// assert!(server.capabilities().extensions.as_ref().unwrap().contains_key(TASKS_EXTENSION));
    /// ```
    pub fn tool_tasks(mut self, name: impl Into<String>, policy: crate::tasks::TaskPolicy) -> Self {
        self.task_policies.insert(name.into(), policy);
        self
    }

    /// Tunables of the task store (time to live, polling interval, cap).
    pub fn task_options(mut self, options: crate::tasks::TaskOptions) -> Self {
        self.task_options = options;
        self
    }

    /// Keep task records in `store` instead of the default [`InMemoryTaskStore`](crate::tasks::InMemoryTaskStore)
    /// (whose cap is [`TaskOptions::max_tasks`](crate::TaskOptions::max_tasks); another store sets its own).
    /// The TTL and polling interval of [`task_options`](Self::task_options) still apply to each record. See
    /// [`TaskStore`](crate::tasks::TaskStore) for writing one.
    ///
    /// ```
    /// use mcp_server::{Server, TaskPolicy, tasks::InMemoryTaskStore};
    /// let server = Server::builder("s", "1.0.0")
    ///     .tool_tasks("reindex", TaskPolicy::required())
    ///     .task_store(InMemoryTaskStore::new(50))
    ///     .build();
    /// # let _ = server;
    /// ```
    pub fn task_store(mut self, store: impl crate::tasks::TaskStore) -> Self {
        self.task_store = Some(Arc::new(store));
        self
    }

    /// Finish: the server, ready to serve over [`crate::serve_stdio`], [`crate::serve_connection`] or
    /// [`crate::http`]. Cheap to clone; every connection and session shares it.
    pub fn build(self) -> Server {
        let list_changed = Some(ListChangedCapability {
            list_changed: Some(true),
        });
        let capabilities = self.capabilities.unwrap_or_else(|| ServerCapabilities {
            tools: list_changed.clone(),
            prompts: list_changed.clone(),
            resources: Some(ResourcesCapability {
                subscribe: Some(true),
                list_changed: Some(true),
            }),
            logging: self.logging.then(JsonObject::new),
            completions: Some(JsonObject::new()),
            ..Default::default()
        });
        let mut capabilities = capabilities;
        let mut extensions = self.extensions;
        let tasks = (!self.task_policies.is_empty()).then(|| {
            extensions
                .entry(mcp_protocol::types::TASKS_EXTENSION)
                .or_insert_with(|| serde_json::Value::Object(JsonObject::new()));
            Arc::new(crate::tasks::Tasks::new(
                self.task_policies,
                self.task_options,
                self.task_store,
            ))
        });
        if !extensions.is_empty() {
            capabilities
                .extensions
                .get_or_insert_with(JsonObject::new)
                .extend(extensions);
        }
        let (events, _) = broadcast::channel(256);
        Server {
            inner: Arc::new(Inner {
                info_value: serde_json::to_value(&self.info).unwrap_or_default(),
                info_json: serde_json::to_string(&self.info).unwrap_or_else(|_| "{}".into()),
                info: self.info,
                instructions: self.instructions,
                capabilities,
                options: self.options,
                registry: Registry {
                    tools: ArcSwap::from_pointee(self.tools),
                    resources: ArcSwap::from_pointee(self.resources),
                    templates: ArcSwap::from_pointee(self.templates),
                    prompts: ArcSwap::from_pointee(self.prompts),
                    completion: self.completion,
                },
                events,
                fleet_events: std::sync::OnceLock::new(),
                state_key: self.state_key.unwrap_or_else(StateKey::random),
                previous_state_keys: self.previous_state_keys,
                initialize_results: std::sync::OnceLock::new(),
                layers: self.layers,
                tasks,
                methods: self.methods,
            }),
        }
    }
}

/// The arguments of a `prompts/get` as the raw handler of [`ServerBuilder::prompt`] receives them: names to
/// string values. Named so handlers can be written as closures with this argument type.
pub type PromptArgs = BTreeMap<String, String>;

#[allow(dead_code)]
fn _assert_handler_types() {
    fn tool(_: impl ToolHandler) {}
    tool(|_c: RequestContext, _a: JsonObject| async { Ok::<_, Error>(CallToolResult::text("")) });
    fn prompt(_: impl PromptHandler) {}
    prompt(|_c: RequestContext, _a: PromptArgs| async {
        Ok::<_, Error>(GetPromptResult::default())
    });
    fn res(_: impl ResourceHandler) {}
    res(|_c: RequestContext, _u: String| async { Ok::<_, Error>(ReadResourceResult::default()) });
    fn comp(_: impl CompletionHandler) {}
    comp(|_c: RequestContext, _p: CompleteParams| async {
        Ok::<_, Error>(CompleteResult::default())
    });
}
