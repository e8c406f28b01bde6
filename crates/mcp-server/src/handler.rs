//! Handler traits and the definitions the router stores.

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
pub trait ToolHandler: Send + Sync + 'static {
    /// Run the tool.
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

/// Reads one static resource.
pub trait ResourceHandler: Send + Sync + 'static {
    /// Read it.
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

/// Reads resources matching a URI template.
pub trait TemplateHandler: Send + Sync + 'static {
    /// Read the resource at `uri`, whose template variables are `vars`.
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

/// Renders a prompt.
pub trait PromptHandler: Send + Sync + 'static {
    /// Render with the given arguments.
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

/// Answers `completion/complete`.
pub trait CompletionHandler: Send + Sync + 'static {
    /// Complete an argument.
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

/// A tool's return value: anything that becomes a [`CallToolResult`]. [`Json`] adds `structuredContent` and
/// an `outputSchema`.
pub trait IntoToolOutput {
    /// The output schema this type implies, if any.
    fn output_schema() -> Option<Value>;
    /// Convert.
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
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize, schemars::JsonSchema)]
pub struct NoArgs {}

/// The JSON Schema (2020-12) of a type, as a tool schema.
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
