//! Handler traits and the definitions the router stores.
//!
//! Every trait is implemented for async closures of the matching shape, so handlers are usually written inline
//! in [`ServerBuilder`](crate::ServerBuilder) calls; implement a trait on a type of your own when the handler
//! holds state or is shared between registrations.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::Arc;

use futures::future::BoxFuture;
use futures::FutureExt;
use mcp_protocol::types::{
    CallToolResult, CompleteParams, CompleteResult, GetPromptResult, Prompt, ReadResourceResult,
    Resource, ResourceContents, ResourceTemplate, Tool,
};
use mcp_protocol::JsonObject;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::uri_template::UriTemplate;
use crate::{Error, RequestContext};

/// Handles `tools/call` for one tool.
///
/// Implemented for `Fn(RequestContext, JsonObject) -> impl Future<Output = Result<CallToolResult, Error>>`.
/// Implement it yourself for a handler that carries state:
///
/// ```
/// use std::sync::{atomic::{AtomicU64, Ordering}, Arc};
/// use futures::future::BoxFuture;
/// use mcp_server::{Error, RequestContext, Server, ToolHandler};
/// use mcp_protocol::{types::{CallToolResult, Tool}, JsonObject};
///
/// struct Counter(Arc<AtomicU64>);
///
/// impl ToolHandler for Counter {
///     fn call(&self, _ctx: RequestContext, _args: JsonObject) -> BoxFuture<'static, Result<CallToolResult, Error>> {
///         let n = self.0.fetch_add(1, Ordering::Relaxed) + 1;
///         Box::pin(async move { Ok(CallToolResult::text(n.to_string())) })
///     }
/// }
///
/// let server = Server::builder("counter", "1.0.0")
///     .tool(Tool::new("count", serde_json::json!({"type": "object"})), Counter(Arc::default()))
///     .build();
/// # let _ = server;
/// ```
pub trait ToolHandler: Send + Sync + 'static {
    /// Run the tool with the request's arguments (already validated against the tool's `inputSchema`).
    ///
    /// # Errors
    ///
    /// An [`Error`]: `Error::tool` becomes an `isError` result the model sees; other errors become JSON-RPC
    /// errors; the input-required error of the context's questions ends a 2026-07-28 round.
    fn call(
        &self,
        ctx: RequestContext,
        args: JsonObject,
    ) -> BoxFuture<'static, Result<CallToolResult, Error>>;
}

impl<F, Fut> ToolHandler for F
where
    F: Fn(RequestContext, JsonObject) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<CallToolResult, Error>> + Send + 'static,
{
    fn call(
        &self,
        ctx: RequestContext,
        args: JsonObject,
    ) -> BoxFuture<'static, Result<CallToolResult, Error>> {
        self(ctx, args).boxed()
    }
}

/// Reads one static resource. Implemented for `Fn(RequestContext, String) -> impl Future<Output =
/// Result<ReadResourceResult, Error>>`, the `String` being the URI read.
///
/// A type of your own implements it when reading needs state (a pool, a client):
///
/// ```
/// use futures::future::BoxFuture;
/// use mcp_server::{Error, RequestContext, ResourceHandler, Server};
/// use mcp_protocol::types::{ReadResourceResult, Resource, ResourceContents};
///
/// struct Config { toml: String }
///
/// impl ResourceHandler for Config {
///     fn read(&self, _ctx: RequestContext, uri: String) -> BoxFuture<'static, Result<ReadResourceResult, Error>> {
///         let contents = ResourceContents::text(uri, "application/toml", self.toml.clone());
///         Box::pin(async move { Ok(ReadResourceResult::from(contents)) })
///     }
/// }
///
/// let server = Server::builder("cfg", "1.0.0")
///     .resource(Resource::new("config://app", "app config"), Config { toml: "debug = false".into() })
///     .build();
/// # let _ = server;
/// ```
pub trait ResourceHandler: Send + Sync + 'static {
    /// Read the resource at `uri`.
    ///
    /// # Errors
    ///
    /// An [`Error`], sent to the client as a JSON-RPC error.
    fn read(
        &self,
        ctx: RequestContext,
        uri: String,
    ) -> BoxFuture<'static, Result<ReadResourceResult, Error>>;
}

impl<F, Fut> ResourceHandler for F
where
    F: Fn(RequestContext, String) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<ReadResourceResult, Error>> + Send + 'static,
{
    fn read(
        &self,
        ctx: RequestContext,
        uri: String,
    ) -> BoxFuture<'static, Result<ReadResourceResult, Error>> {
        self(ctx, uri).boxed()
    }
}

/// Reads resources matching a URI template. Implemented for `Fn(RequestContext, String, HashMap<String,
/// String>) -> impl Future<Output = Result<ReadResourceResult, Error>>`.
///
/// ```
/// use std::collections::HashMap;
/// use futures::future::BoxFuture;
/// use mcp_server::{Error, RequestContext, Server, TemplateHandler};
/// use mcp_protocol::types::{ReadResourceResult, ResourceContents, ResourceTemplate};
/// use mcp_protocol::{error_code::RESOURCE_NOT_FOUND, ErrorObject};
///
/// struct Users(HashMap<String, String>); // id -> name
///
/// impl TemplateHandler for Users {
///     fn read(&self, _ctx: RequestContext, uri: String, vars: HashMap<String, String>)
///         -> BoxFuture<'static, Result<ReadResourceResult, Error>> {
///         let found = vars.get("id").and_then(|id| self.0.get(id)).cloned();
///         Box::pin(async move {
///             let name = found.ok_or_else(|| ErrorObject::new(RESOURCE_NOT_FOUND, format!("no user at {uri}")))?;
///             Ok(ReadResourceResult::from(ResourceContents::text(uri, "text/plain", name)))
///         })
///     }
/// }
///
/// let server = Server::builder("users", "1.0.0")
///     .resource_template(ResourceTemplate::new("users://{id}", "user"), Users([("7".into(), "Ada".into())].into()))
///     .build();
/// # let _ = server;
/// ```
pub trait TemplateHandler: Send + Sync + 'static {
    /// Read the resource at `uri`, whose template variables are `vars`.
    ///
    /// # Errors
    ///
    /// An [`Error`], sent to the client as a JSON-RPC error; return resource-not-found for a URI that
    /// matches the template but names nothing.
    fn read(
        &self,
        ctx: RequestContext,
        uri: String,
        vars: HashMap<String, String>,
    ) -> BoxFuture<'static, Result<ReadResourceResult, Error>>;
}

impl<F, Fut> TemplateHandler for F
where
    F: Fn(RequestContext, String, HashMap<String, String>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<ReadResourceResult, Error>> + Send + 'static,
{
    fn read(
        &self,
        ctx: RequestContext,
        uri: String,
        vars: HashMap<String, String>,
    ) -> BoxFuture<'static, Result<ReadResourceResult, Error>> {
        self(ctx, uri, vars).boxed()
    }
}

/// Renders a prompt. Implemented for `Fn(RequestContext, BTreeMap<String, String>) -> impl Future<Output =
/// Result<GetPromptResult, Error>>`; see [`ServerBuilder::typed_prompt`](crate::ServerBuilder::typed_prompt)
/// for arguments parsed into a struct.
///
/// ```
/// use std::collections::BTreeMap;
/// use futures::future::BoxFuture;
/// use mcp_server::{Error, PromptHandler, RequestContext, Server};
/// use mcp_protocol::types::{GetPromptResult, Prompt, PromptMessage};
///
/// struct Template(&'static str); // "{name}" is replaced
///
/// impl PromptHandler for Template {
///     fn get(&self, _ctx: RequestContext, args: BTreeMap<String, String>)
///         -> BoxFuture<'static, Result<GetPromptResult, Error>> {
///         let text = self.0.replace("{name}", args.get("name").map_or("there", |s| s.as_str()));
///         Box::pin(async move { Ok(GetPromptResult::new(vec![PromptMessage::user(text)])) })
///     }
/// }
///
/// let server = Server::builder("greeter", "1.0.0")
///     .prompt(Prompt::new("greet"), Template("Say hello to {name}."))
///     .build();
/// # let _ = server;
/// ```
pub trait PromptHandler: Send + Sync + 'static {
    /// Render with the given arguments.
    ///
    /// # Errors
    ///
    /// An [`Error`], sent to the client as a JSON-RPC error (invalid params for missing or bad arguments).
    fn get(
        &self,
        ctx: RequestContext,
        args: BTreeMap<String, String>,
    ) -> BoxFuture<'static, Result<GetPromptResult, Error>>;
}

impl<F, Fut> PromptHandler for F
where
    F: Fn(RequestContext, BTreeMap<String, String>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<GetPromptResult, Error>> + Send + 'static,
{
    fn get(
        &self,
        ctx: RequestContext,
        args: BTreeMap<String, String>,
    ) -> BoxFuture<'static, Result<GetPromptResult, Error>> {
        self(ctx, args).boxed()
    }
}

/// Answers `completion/complete`. Implemented for `Fn(RequestContext, CompleteParams) -> impl Future<Output =
/// Result<CompleteResult, Error>>`; one handler serves every prompt and template (match on
/// `params.reference`).
///
/// ```
/// use futures::future::BoxFuture;
/// use mcp_server::{CompletionHandler, Error, RequestContext, Server};
/// use mcp_protocol::types::{CompleteParams, CompleteResult};
///
/// struct Languages(Vec<&'static str>);
///
/// impl CompletionHandler for Languages {
///     fn complete(&self, _ctx: RequestContext, params: CompleteParams)
///         -> BoxFuture<'static, Result<CompleteResult, Error>> {
///         let typed = params.argument.value.to_lowercase();
///         let values = self.0.iter().filter(|l| l.starts_with(&typed)).map(|l| l.to_string()).collect();
///         Box::pin(async move { Ok(CompleteResult::new(values)) })
///     }
/// }
///
/// let server = Server::builder("code", "1.0.0").completion(Languages(vec!["rust", "ruby", "python"])).build();
/// # let _ = server;
/// ```
pub trait CompletionHandler: Send + Sync + 'static {
    /// Complete an argument.
    ///
    /// # Errors
    ///
    /// An [`Error`], sent to the client as a JSON-RPC error; return an empty completion when there is
    /// nothing to suggest.
    fn complete(
        &self,
        ctx: RequestContext,
        params: CompleteParams,
    ) -> BoxFuture<'static, Result<CompleteResult, Error>>;
}

impl<F, Fut> CompletionHandler for F
where
    F: Fn(RequestContext, CompleteParams) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<CompleteResult, Error>> + Send + 'static,
{
    fn complete(
        &self,
        ctx: RequestContext,
        params: CompleteParams,
    ) -> BoxFuture<'static, Result<CompleteResult, Error>> {
        self(ctx, params).boxed()
    }
}

/// A registered tool: its definition, handler and compiled input validator.
pub(crate) struct ToolEntry {
    pub tool: Tool,
    pub handler: Arc<dyn ToolHandler>,
    pub validator: Option<jsonschema::Validator>,
    pub output_validator: Option<jsonschema::Validator>,
    /// The `Mcp-Param-*` headers its arguments mirror (read from the schema once, checked on every call).
    #[cfg(feature = "http")]
    pub header_params: Vec<mcp_protocol::headers::HeaderParam>,
}

impl ToolEntry {
    pub fn new(tool: Tool, handler: Arc<dyn ToolHandler>) -> Self {
        let validator = compile(&tool.input_schema, &tool.name);
        let output_validator = tool
            .output_schema
            .as_ref()
            .and_then(|s| compile(s, &tool.name));
        #[cfg(feature = "http")]
        let header_params =
            mcp_protocol::headers::header_params(&tool.input_schema).unwrap_or_default();
        Self {
            tool,
            handler,
            validator,
            output_validator,
            #[cfg(feature = "http")]
            header_params,
        }
    }
}

fn compile(schema: &Value, name: &str) -> Option<jsonschema::Validator> {
    match jsonschema::validator_for(schema) {
        Ok(v) => Some(v),
        Err(e) => {
            tracing::warn!(tool = name, error = %e, "tool schema cannot be compiled; its values will not be validated");
            None
        }
    }
}

pub(crate) struct ResourceEntry {
    pub resource: Resource,
    pub handler: Arc<dyn ResourceHandler>,
}

pub(crate) struct TemplateEntry {
    pub template: ResourceTemplate,
    pub matcher: UriTemplate,
    pub handler: Arc<dyn TemplateHandler>,
}

pub(crate) struct PromptEntry {
    pub prompt: Prompt,
    pub handler: Arc<dyn PromptHandler>,
}

/// Answers a request method of an extension (see [`ServerBuilder::method`](crate::ServerBuilder::method)).
/// Implemented for `Fn(RequestContext, Option<Value>) -> impl Future<Output = Result<Value, Error>>`: the
/// request's params (with `_meta`) in, the result object out.
pub trait MethodHandler: Send + Sync + 'static {
    /// Answer one request.
    ///
    /// # Errors
    ///
    /// An [`Error`], sent to the client as a JSON-RPC error.
    fn call(
        &self,
        ctx: RequestContext,
        params: Option<Value>,
    ) -> BoxFuture<'static, Result<Value, Error>>;
}

impl<F, Fut> MethodHandler for F
where
    F: Fn(RequestContext, Option<Value>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Value, Error>> + Send + 'static,
{
    fn call(
        &self,
        ctx: RequestContext,
        params: Option<Value>,
    ) -> BoxFuture<'static, Result<Value, Error>> {
        self(ctx, params).boxed()
    }
}

/// A tool's return value: anything that becomes a [`CallToolResult`]. [`Json`] adds `structuredContent` and
/// an `outputSchema`.
///
/// Implemented for [`CallToolResult`] (as is), `String` and `&'static str` (one text block), and [`Json<T>`].
///
/// A type of your own that tools return:
///
/// ```
/// use mcp_server::{Error, IntoToolOutput, RequestContext, Server};
/// use mcp_protocol::types::CallToolResult;
///
/// struct Report { lines: Vec<String>, failed: bool }
///
/// impl IntoToolOutput for Report {
///     fn output_schema() -> Option<serde_json::Value> { None }
///     fn into_result(self) -> Result<CallToolResult, Error> {
///         let mut result = CallToolResult::text(self.lines.join("\n"));
///         result.is_error = Some(self.failed); // a tool-level failure the model reads
///         Ok(result)
///     }
/// }
///
/// let server = Server::builder("ci", "1.0.0")
///     .typed_tool("check", "Runs the checks", |_ctx: RequestContext, _args: serde_json::Value| async move {
///         Ok::<_, Error>(Report { lines: vec!["fmt ok".into(), "tests ok".into()], failed: false })
///     })
///     .build();
/// # let _ = server;
/// ```
pub trait IntoToolOutput {
    /// The output schema this type implies, if any; [`ServerBuilder::typed_tool`](crate::ServerBuilder::typed_tool)
    /// publishes it as the tool's `outputSchema`.
    fn output_schema() -> Option<Value>;
    /// Convert into the result sent to the client.
    ///
    /// # Errors
    ///
    /// When the value cannot be serialized (for [`Json`], a `Serialize` impl that fails).
    fn into_result(self) -> Result<CallToolResult, Error>;
}

impl IntoToolOutput for CallToolResult {
    fn output_schema() -> Option<Value> {
        None
    }
    fn into_result(self) -> Result<CallToolResult, Error> {
        Ok(self)
    }
}

impl IntoToolOutput for String {
    fn output_schema() -> Option<Value> {
        None
    }
    fn into_result(self) -> Result<CallToolResult, Error> {
        Ok(CallToolResult::text(self))
    }
}

impl IntoToolOutput for &'static str {
    fn output_schema() -> Option<Value> {
        None
    }
    fn into_result(self) -> Result<CallToolResult, Error> {
        Ok(CallToolResult::text(self))
    }
}

/// A typed, structured tool output: serialized into `structuredContent` (plus a text copy), with the type's
/// JSON Schema published as the tool's `outputSchema`.
///
/// ```
/// use mcp_server::{IntoToolOutput, Json};
///
/// #[derive(serde::Serialize, schemars::JsonSchema)]
/// struct Sum { sum: f64 }
///
/// let result = Json(Sum { sum: 3.0 }).into_result().unwrap();
/// assert_eq!(result.structured_content, Some(serde_json::json!({"sum": 3.0})));
/// assert!(<Json<Sum>>::output_schema().is_some());
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Json<T>(pub T);

impl<T: Serialize + schemars::JsonSchema> IntoToolOutput for Json<T> {
    fn output_schema() -> Option<Value> {
        Some(schema_of::<T>())
    }
    fn into_result(self) -> Result<CallToolResult, Error> {
        Ok(CallToolResult::structured(serde_json::to_value(self.0)?))
    }
}

/// The arguments of a tool that takes none: accepts `{}` (and any extra keys), schema `{"type":"object"}`.
///
/// ```
/// use mcp_server::{Error, NoArgs, Server};
/// let server = Server::builder("clock", "1.0.0")
///     .typed_tool("now", "The current time", |_ctx, _: NoArgs| async move {
///         Ok::<_, Error>(format!("{:?}", std::time::SystemTime::now()))
///     })
///     .build();
/// assert_eq!(server.tools()[0].input_schema["type"], "object");
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize, schemars::JsonSchema)]
pub struct NoArgs {}

/// The JSON Schema (2020-12) of a type, as a tool schema: what [`ServerBuilder::typed_tool`] publishes, for
/// building a [`Tool`] by hand. The root always has a `type` (`object` when schemars leaves it out).
///
/// [`ServerBuilder::typed_tool`]: crate::ServerBuilder::typed_tool
///
/// ```
/// #[derive(schemars::JsonSchema)]
/// #[allow(dead_code)]
/// struct Search { query: String, limit: Option<u32> }
/// let schema = mcp_server::schema_of::<Search>();
/// assert_eq!(schema["type"], "object");
/// assert_eq!(schema["required"], serde_json::json!(["query"]));
/// ```
pub fn schema_of<T: schemars::JsonSchema>() -> Value {
    let schema = schemars::schema_for!(T);
    let mut v = serde_json::to_value(schema).unwrap_or_default();
    if let Some(obj) = v.as_object_mut() {
        // Tool schemas need an object root; schemars omits `type` for some shapes.
        obj.entry("type")
            .or_insert_with(|| Value::String("object".into()));
    }
    v
}

/// Wrap a typed handler `Fn(ctx, A) -> Future<Result<R, Error>>` as a [`ToolHandler`].
pub(crate) fn typed_tool<A, R, F, Fut>(f: F) -> impl ToolHandler
where
    A: DeserializeOwned + Send + 'static,
    R: IntoToolOutput + Send + 'static,
    F: Fn(RequestContext, A) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<R, Error>> + Send + 'static,
{
    let f = Arc::new(f);
    move |ctx: RequestContext, args: JsonObject| {
        let f = f.clone();
        async move {
            let a: A = serde_json::from_value(Value::Object(args))
                .map_err(|e| Error::tool(format!("invalid arguments: {e}")))?;
            f(ctx, a).await?.into_result()
        }
    }
}

/// A helper for static text resources.
pub(crate) fn text_contents(uri: &str, mime: Option<&str>, text: &str) -> ReadResourceResult {
    ReadResourceResult {
        contents: vec![ResourceContents::Text {
            uri: uri.to_owned(),
            mime_type: mime.map(str::to_owned),
            text: text.to_owned(),
            meta: None,
        }],
        meta: None,
    }
}
