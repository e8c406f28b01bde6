//! The stateless core: one request in, one outcome out. Knows tools, resources and prompts; knows nothing of
//! sessions or transports.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use futures::FutureExt;
use mcp_protocol::types::OrderedMap;
use mcp_protocol::types::{
    methods, CallToolParams, CallToolResult, CompleteParams, CompleteResult, DiscoverResult,
    GetPromptParams, InputRequiredResult, ListPromptsResult, ListResourceTemplatesResult,
    ListResourcesResult, ListToolsResult, PaginatedParams, ReadResourceParams,
};
use mcp_protocol::{Era, ErrorObject, JsonObject, ProtocolVersion, Request};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

use crate::context::Envelope;
use crate::error::Parts;
use crate::handler::ToolEntry;
use crate::reply::ResultJson;
use crate::request_state::request_digest;
use crate::tasks::{
    missing_tasks_capability, result_value, Rerun, RoundEnd, TaskPolicy, TaskRecord, TaskSupport,
    Tasks,
};
use crate::{Error, RequestContext, Server};
use mcp_protocol::types::TASKS_EXTENSION;
use std::sync::Arc;

/// What the core produced.
#[derive(Debug)]
pub(crate) enum CoreOutcome {
    /// A complete result, already serialized.
    Complete(ResultJson),
    InputRequired(InputRequiredResult),
    /// Tasks extension: the call became a task (the `CreateTaskResult` body).
    Task(ResultJson),
    Error(ErrorObject),
    /// Cancelled: send nothing.
    Cancelled,
}

impl From<ErrorObject> for CoreOutcome {
    fn from(e: ErrorObject) -> Self {
        Self::Error(e)
    }
}

fn parse<T: DeserializeOwned>(params: &Option<Value>) -> Result<T, ErrorObject> {
    // Deserialize from the borrowed value: no deep copy of the params.
    match params {
        Some(v) => T::deserialize(v).map_err(ErrorObject::invalid_params),
        None => {
            T::deserialize(&Value::Object(JsonObject::new())).map_err(ErrorObject::invalid_params)
        }
    }
}

/// [`parse`] for params the caller owns: strings and maps move into `T` instead of being copied.
fn parse_owned<T: DeserializeOwned>(params: Option<Value>) -> Result<T, ErrorObject> {
    T::deserialize(params.unwrap_or_else(|| Value::Object(JsonObject::new())))
        .map_err(ErrorObject::invalid_params)
}

/// `tools/call` params from the request's own value, in one pass over its map. Every member moves into the
/// params whole (deserializing the object-valued ones would rebuild each map entry by entry, and serde would
/// look each key up again); unknown members are ignored, as serde ignores them. A member of the wrong type,
/// or a missing name, sends the whole value through serde unchanged, so the errors are serde's.
fn call_params(params: Option<Value>) -> Result<CallToolParams, ErrorObject> {
    let Some(Value::Object(m)) = params else {
        return parse_owned(params);
    };
    let mut p = CallToolParams::default();
    let mut name = None;
    // Members of a type serde would refuse: with them, the value goes through serde for its error.
    let mut refused = JsonObject::new();
    for (key, value) in m {
        let object_slot = match key.as_str() {
            "arguments" => &mut p.arguments,
            "_meta" => &mut p.meta,
            "inputResponses" => &mut p.input_responses,
            "task" => &mut p.task,
            "name" => {
                match value {
                    Value::String(s) => name = Some(s),
                    other => {
                        refused.insert(key, other);
                    }
                }
                continue;
            }
            "requestState" => {
                match value {
                    Value::String(s) => p.request_state = Some(s),
                    Value::Null => {}
                    other => {
                        refused.insert(key, other);
                    }
                }
                continue;
            }
            _ => continue,
        };
        match value {
            Value::Object(o) => *object_slot = Some(o),
            Value::Null => {}
            other => {
                refused.insert(key, other);
            }
        }
    }
    match name {
        Some(name) if refused.is_empty() => {
            p.name = name;
            Ok(p)
        }
        _ => {
            // Rare: put the members back as they came (unknown ones do not change serde's answer).
            // Destructured field by field: a member added to `CallToolParams` does not compile here until the
            // loop above reads it too (it would otherwise be dropped without a word).
            let CallToolParams {
                name: _,
                arguments,
                input_responses,
                request_state,
                task,
                meta,
            } = p;
            let mut m = refused;
            let objects = [
                ("arguments", arguments),
                ("_meta", meta),
                ("inputResponses", input_responses),
                ("task", task),
            ];
            for (key, o) in objects {
                if let Some(o) = o {
                    m.insert(key.to_owned(), Value::Object(o));
                }
            }
            if let Some(s) = name {
                m.insert("name".to_owned(), Value::String(s));
            }
            if let Some(s) = request_state {
                m.insert("requestState".to_owned(), Value::String(s));
            }
            parse_owned(Some(Value::Object(m)))
        }
    }
}

fn complete<T: Serialize>(t: &T) -> CoreOutcome {
    match ResultJson::of(t) {
        Ok(r) => CoreOutcome::Complete(r),
        Err(e) => CoreOutcome::Error(e),
    }
}

/// The methods whose complete modern results carry `ttlMs`/`cacheScope`.
pub(crate) fn is_cacheable(m: &str) -> bool {
    matches!(
        m,
        methods::DISCOVER
            | methods::TOOLS_LIST
            | methods::PROMPTS_LIST
            | methods::RESOURCES_LIST
            | methods::RESOURCES_TEMPLATES_LIST
            | methods::RESOURCES_READ
    )
}

/// A page of `items` starting at the cursor.
pub(crate) fn page<T: Clone>(
    items: impl ExactSizeIterator<Item = T>,
    cursor: Option<&str>,
    size: usize,
) -> Result<(Vec<T>, Option<String>), ErrorObject> {
    let start = match cursor {
        None | Some("") => 0,
        Some(c) => B64
            .decode(c)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| s.strip_prefix("o:").and_then(|n| n.parse::<usize>().ok()))
            .ok_or_else(|| ErrorObject::invalid_params("invalid cursor"))?,
    };
    let total = items.len();
    let out: Vec<T> = items.skip(start).take(size).collect();
    let next = (start + out.len() < total).then(|| B64.encode(format!("o:{}", start + out.len())));
    Ok((out, next))
}

/// Answer a paginated list request: read the cursor, take one page of `items`, wrap it with `build`.
fn list_page<T: Clone, R: Serialize>(
    req: &Request,
    size: usize,
    items: impl ExactSizeIterator<Item = T>,
    build: impl FnOnce(Vec<T>, Option<String>) -> R,
) -> CoreOutcome {
    let p: PaginatedParams = match parse(&req.params) {
        Ok(p) => p,
        Err(e) => return e.into(),
    };
    match page(items, p.cursor.as_deref(), size) {
        Ok((items, next_cursor)) => complete(&build(items, next_cursor)),
        Err(e) => e.into(),
    }
}

/// A handler's future that a cancel never simply drops.
type Work = Pin<Box<dyn Future<Output = CoreOutcome> + Send>>;

/// A request's work, run so that a cancel reaches the handler: the request's token is cancelled first, then the
/// handler has [`crate::ServerOptions::cancel_grace`] to notice and return before it is dropped. What it returns
/// after the cancel is not sent (a receiver of a cancel should not answer).
struct Graceful {
    work: Option<Work>,
    cancel: CancellationToken,
    grace: Duration,
    /// Whether `run` began: work dropped before that never ran, and is not started for its grace period.
    started: bool,
}

impl Graceful {
    async fn run(&mut self) -> CoreOutcome {
        self.started = true;
        let Self {
            work: Some(work),
            cancel,
            grace,
            ..
        } = self
        else {
            return CoreOutcome::Cancelled;
        };
        let finished = tokio::select! {
            r = work.as_mut() => Some(r),
            _ = cancel.cancelled() => None,
        };
        let outcome = match finished {
            Some(outcome) => outcome,
            None => {
                if tokio::time::timeout(*grace, work.as_mut()).await.is_err() {
                    tracing::debug!(grace = ?*grace, "cancelled handler still running after its grace period: dropped");
                }
                CoreOutcome::Cancelled
            }
        };
        self.work = None;
        outcome
    }
}

impl Drop for Graceful {
    /// Dropped while the handler runs: the transport stopped waiting for this request (a 2026-07-28 client
    /// closed its stream or connection, a connection was torn down). That is a cancel too, under the same rule,
    /// so the rest of the handler moves to a task of its own for the grace period.
    fn drop(&mut self) {
        let Some(work) = self.work.take().filter(|_| self.started) else {
            return;
        };
        self.cancel.cancel();
        let grace = self.grace;
        // Outside a runtime (it is shutting down) there is nowhere to run it: it is dropped here.
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                if tokio::time::timeout(grace, work).await.is_err() {
                    tracing::debug!(grace = ?grace, "cancelled handler still running after its grace period: dropped");
                }
            });
        }
    }
}

/// At most this many bytes of a tool name or URI go into the request's span.
const SPAN_TARGET_MAX: usize = 256;

fn span_target(s: &str) -> &str {
    if s.len() <= SPAN_TARGET_MAX {
        return s;
    }
    let mut end = SPAN_TARGET_MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// The request's `outcome` (and `error_code`) on its span; with the `otel` feature an error also sets the
/// OpenTelemetry span status.
fn record_outcome(span: &tracing::Span, outcome: &CoreOutcome) {
    if span.is_disabled() {
        return;
    }
    let word = match outcome {
        CoreOutcome::Complete(_) => "ok",
        CoreOutcome::InputRequired(_) => "input_required",
        CoreOutcome::Task(_) => "task",
        CoreOutcome::Cancelled => "cancelled",
        CoreOutcome::Error(e) => {
            span.record("error_code", e.code);
            #[cfg(feature = "otel")]
            span.record("otel.status_code", "error");
            "error"
        }
    };
    span.record("outcome", word);
}

impl Server {
    /// The handler's work, owning the request and a handle on the server so it can outlive the caller's
    /// future (see [`Graceful`]). Built here, outside any `async fn`, so only the box lives in the caller's
    /// future: built inline, the work's whole state would sit in that future as well.
    fn boxed_work(&self, req: Request, env: Envelope, span: tracing::Span) -> Work {
        let server = self.clone();
        // Boxed: the envelope passes through three futures (this one, `dispatch`, `call_tool`), each of which
        // would keep a copy of it; at 8 bytes instead of 144 the work's box (672 bytes, from 1,344) is small
        // enough for the allocator's per-thread cache.
        let env = Box::new(env);
        let work = async move {
            let mut req = req;
            match AssertUnwindSafe(server.dispatch(&mut req, env))
                .catch_unwind()
                .await
            {
                Ok(outcome) => outcome,
                Err(panic) => {
                    let msg = panic
                        .downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| panic.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "handler panicked".into());
                    tracing::error!(method = %req.method, id = %req.id, panic = %msg, "handler panicked");
                    CoreOutcome::Error(ErrorObject::internal("handler panicked"))
                }
            }
        };
        Box::pin(tracing::Instrument::instrument(work, span))
    }

    /// Run a request through the core. `env` says which era and how to reach the client; `session` is the
    /// legacy HTTP session's id, for the request's span. A cancel of `env.cancel`, or dropping this future
    /// once polled, cancels the handler under the grace rule (see [`Graceful`]); dropped before, it never ran.
    ///
    /// Not an `async fn`, like the layers above it (`through_layers`, `legacy_dispatch`): their work before
    /// the handler is synchronous, and as `async fn`s each would keep its arguments in its state and copy
    /// the state below into it, in the future every request boxes.
    pub(crate) fn run_core(
        &self,
        req: Request,
        env: Envelope,
        session: Option<&str>,
    ) -> impl Future<Output = CoreOutcome> + Send + 'static {
        let cancel = env.cancel.clone();
        // One span per request; a W3C `traceparent` in `_meta` is recorded so traces join up across processes
        // (with the `otel` feature the span becomes the caller's child: see `crate::otel`).
        // The span's fields are looked up in the params only when the span can be recorded: with no
        // subscriber at INFO that is work for nothing, on every request.
        let recorded = tracing::level_enabled!(tracing::Level::INFO);
        let target = || {
            req.params
                .as_ref()
                .and_then(|p| p.get("name").or_else(|| p.get("uri")))
                .and_then(Value::as_str)
                .map(span_target)
                .unwrap_or_default()
        };
        let era = match env.version.era() {
            Era::Legacy => "legacy",
            Era::Modern => "modern",
        };
        #[cfg(not(feature = "otel"))]
        let span = if recorded {
            let traceparent = req
                .meta()
                .and_then(|m| m.get(mcp_protocol::meta::TRACEPARENT))
                .and_then(Value::as_str)
                .unwrap_or_default();
            tracing::info_span!(
                "mcp.request",
                method = %req.method,
                id = %req.id,
                target = target(),
                traceparent,
                version = %env.version,
                era,
                session,
                outcome = tracing::field::Empty,
                error_code = tracing::field::Empty,
            )
        } else {
            tracing::Span::none()
        };
        #[cfg(feature = "otel")]
        let span = if recorded {
            crate::otel::request_span(&req, env.version, era, session, target())
        } else {
            tracing::Span::none()
        };
        crate::trace_context::adopt(&span, &req, &env.trace);
        // Kept to record the outcome on: a clone of a span nobody records is free.
        let outcome_span = span.clone();
        let mut work = Graceful {
            work: Some(self.boxed_work(req, env, span)),
            cancel,
            grace: self.inner.options.cancel_grace,
            started: false,
        };
        async move {
            let outcome = work.run().await;
            record_outcome(&outcome_span, &outcome);
            outcome
        }
    }

    /// -32602 when a URI is longer than [`crate::ServerOptions::max_uri_length`]. Called before anything
    /// else looks at the URI (template matching is linear, but a cap keeps every request small).
    pub(crate) fn check_uri_length(&self, uri: &str) -> Result<(), ErrorObject> {
        let max = self.inner.options.max_uri_length;
        if uri.len() <= max {
            return Ok(());
        }
        Err(ErrorObject::invalid_params(format!(
            "URI of {} bytes exceeds this server's limit of {max} bytes (the max_uri_length setting: \
             ServerBuilder::max_uri_length or ServerOptions::max_uri_length)",
            uri.len()
        ))
        .with_data(serde_json::json!({ "uriLength": uri.len(), "maxUriLength": max })))
    }

    /// [`Server::check_uri_length`] on the string at `pointer` in the params, if there is one: before the
    /// params are deserialized, which would copy it.
    fn check_uri_at(&self, req: &Request, pointer: &str) -> Result<(), ErrorObject> {
        match req
            .params
            .as_ref()
            .and_then(|p| p.pointer(pointer))
            .and_then(Value::as_str)
        {
            Some(uri) => self.check_uri_length(uri),
            None => Ok(()),
        }
    }

    async fn dispatch(&self, req: &mut Request, env: Box<Envelope>) -> CoreOutcome {
        let size = self.inner.options.page_size;
        let reg = &self.inner.registry;
        let caps = &self.inner.capabilities;
        match req.method.as_str() {
            methods::DISCOVER => complete(&DiscoverResult {
                supported_versions: ProtocolVersion::ALL
                    .iter()
                    .rev()
                    .map(|v| v.to_string())
                    .collect(),
                capabilities: caps.clone(),
                instructions: self.inner.instructions.clone(),
                ttl_ms: None,
                cache_scope: None,
                meta: None,
            }),
            methods::TOOLS_LIST if caps.tools.is_some() => list_page(
                req,
                size,
                reg.tools.load().values().map(|e| e.tool.clone()),
                |tools, next_cursor| ListToolsResult {
                    tools,
                    next_cursor,
                    meta: None,
                },
            ),
            methods::PROMPTS_LIST if caps.prompts.is_some() => list_page(
                req,
                size,
                reg.prompts.load().values().map(|e| e.prompt.clone()),
                |prompts, next_cursor| ListPromptsResult {
                    prompts,
                    next_cursor,
                    meta: None,
                },
            ),
            methods::RESOURCES_LIST if caps.resources.is_some() => list_page(
                req,
                size,
                reg.resources.load().values().map(|e| e.resource.clone()),
                |resources, next_cursor| ListResourcesResult {
                    resources,
                    next_cursor,
                    meta: None,
                },
            ),
            methods::RESOURCES_TEMPLATES_LIST if caps.resources.is_some() => list_page(
                req,
                size,
                reg.templates.load().values().map(|e| e.template.clone()),
                |resource_templates, next_cursor| ListResourceTemplatesResult {
                    resource_templates,
                    next_cursor,
                    meta: None,
                },
            ),
            methods::TOOLS_CALL if caps.tools.is_some() => self.call_tool(req, env).await,
            methods::RESOURCES_READ if caps.resources.is_some() => {
                self.read_resource(req, *env).await
            }
            methods::PROMPTS_GET if caps.prompts.is_some() => self.get_prompt(req, *env).await,
            methods::COMPLETION_COMPLETE if caps.completions.is_some() => {
                // A resource reference names a URI or template a handler may match: capped like reads.
                if let Err(e) = self.check_uri_at(req, "/ref/uri") {
                    return e.into();
                }
                let p: CompleteParams = match parse(&req.params) {
                    Ok(p) => p,
                    Err(e) => return e.into(),
                };
                let Some(h) = reg.completion.clone() else {
                    return complete(&CompleteResult::default());
                };
                let ctx = RequestContext::new(
                    req.id.clone(),
                    &req.method,
                    *env,
                    meta_of(&p.meta),
                    JsonObject::new(),
                    None,
                );
                match h.complete(ctx, p).await {
                    Ok(mut r) => {
                        if r.completion.values.len() > 100 {
                            r.completion.values.truncate(100);
                            r.completion.has_more = Some(true);
                        }
                        complete(&r)
                    }
                    Err(e) => self.error_outcome(req, e),
                }
            }
            methods::TASKS_GET | methods::TASKS_UPDATE | methods::TASKS_CANCEL
                if self.inner.tasks.is_some() =>
            {
                // Boxed: its state is several times any other method's, and the work's box (one per
                // request, whatever the method) would be that big for all of them.
                Box::pin(self.task_method(req, &env)).await
            }
            other => match self.inner.methods.get(other).cloned() {
                Some(h) => {
                    let meta = req
                        .params
                        .as_ref()
                        .and_then(|p| p.get("_meta"))
                        .and_then(Value::as_object)
                        .cloned()
                        .unwrap_or_default();
                    let ctx = RequestContext::new(
                        req.id.clone(),
                        &req.method,
                        *env,
                        meta,
                        JsonObject::new(),
                        None,
                    );
                    match h.call(ctx, req.params.take()).await {
                        Ok(v @ Value::Object(_)) => complete(&v),
                        Ok(_) => ErrorObject::internal(format!(
                            "the handler of {other} returned a result that is not a JSON object"
                        ))
                        .into(),
                        Err(e) => self.error_outcome(req, e),
                    }
                }
                None => ErrorObject::method_not_found(other).into(),
            },
        }
    }

    /// `tasks/get`, `tasks/update`, `tasks/cancel`: only for a client that declares the extension (before the
    /// task id is even looked at), and only on the caller's own tasks.
    async fn task_method(&self, req: &Request, env: &Envelope) -> CoreOutcome {
        let Some(tasks) = &self.inner.tasks else {
            return ErrorObject::method_not_found(&req.method).into();
        };
        if !declares_tasks(env) {
            return missing_tasks_capability(&req.method).into();
        }
        let params = req.params.as_ref();
        let answer = match req.method.as_str() {
            methods::TASKS_GET => tasks.get(params, &env.principal).await,
            methods::TASKS_UPDATE => tasks
                .update(params, &env.principal)
                .await
                .map(|()| Value::Object(JsonObject::new())),
            _ => tasks
                .cancel(params, &env.principal)
                .await
                .map(|()| Value::Object(JsonObject::new())),
        };
        match answer {
            Ok(v) => complete(&v),
            Err(e) => e.into(),
        }
    }

    /// Build the context, opening a sealed `requestState` on the modern era.
    fn mrtr_context(
        &self,
        req: &Request,
        env: Envelope,
        meta: Option<JsonObject>,
        input_responses: Option<JsonObject>,
        request_state: &Option<String>,
        digest: &dyn Fn() -> String,
    ) -> Result<RequestContext, ErrorObject> {
        // Only the modern era has rounds, so only a modern request with a state needs the digest.
        let modern = env.version.era() == Era::Modern;
        let (mut responses, round_state) = match request_state {
            Some(state) if modern => {
                let opened = self
                    .state_key()
                    .open_any(
                        &self.inner.previous_state_keys,
                        state,
                        &req.method,
                        &digest(),
                    )
                    .map_err(|e| ErrorObject::invalid_params(e.to_string()))?;
                (opened.responses, opened.round_state)
            }
            _ => (JsonObject::new(), None),
        };
        if modern {
            if let Some(new) = input_responses {
                responses.extend(new);
            }
        }
        Ok(RequestContext::new(
            req.id.clone(),
            &req.method,
            env,
            meta.unwrap_or_default(),
            responses,
            round_state,
        ))
    }

    /// Turn a handler error into an outcome; `InputRequired` seals the state for the next round.
    fn error_outcome(&self, req: &Request, e: Error) -> CoreOutcome {
        self.parts_outcome(req, e.into_parts())
    }

    fn parts_outcome(&self, req: &Request, parts: Parts) -> CoreOutcome {
        match parts {
            Parts::Rpc(e) => CoreOutcome::Error(e),
            Parts::Tool(msg) => CoreOutcome::Error(ErrorObject::internal(msg)),
            Parts::Cancelled => CoreOutcome::Cancelled,
            Parts::InputRequired(_) => CoreOutcome::Error(ErrorObject::internal(format!(
                "{} asked for client input outside a round-trip-capable request",
                req.method
            ))),
        }
    }

    /// A handler's return, settled against the questions it left open: a question the client has not
    /// answered makes the outcome `input_required`, whatever the handler returned (unless the request was
    /// cancelled), so a handler that turned the suspension into a tool error or a fallback value cannot
    /// answer the request without the client's input.
    fn settle<T>(method: &str, ctx: &RequestContext, r: Result<T, Error>) -> Result<T, Parts> {
        let open = ctx.take_open_questions();
        match r {
            Err(e) if e.is_cancelled() => Err(Parts::Cancelled),
            Err(e) if e.is_input_required() && open.is_empty() => Err(e.into_parts()),
            r if !open.is_empty() => {
                if !matches!(&r, Err(e) if e.is_input_required()) {
                    let returned = match &r {
                        Ok(_) => "a result".to_owned(),
                        Err(e) => format!("{:?} error {e:?}", e.kind()),
                    };
                    tracing::warn!(
                        method = %method,
                        returned = %returned,
                        "the handler did not pass on the input_required of a question it asked (use `?`); \
                         answering input_required anyway"
                    );
                }
                Err(Parts::InputRequired(open))
            }
            Ok(v) => Ok(v),
            Err(e) => Err(e.into_parts()),
        }
    }

    fn input_required(
        &self,
        req: &Request,
        ctx: &RequestContext,
        digest: &dyn Fn() -> String,
        asks: Vec<(String, mcp_protocol::types::InputRequest)>,
    ) -> CoreOutcome {
        if ctx.protocol_version().era() != Era::Modern {
            return CoreOutcome::Error(ErrorObject::internal(
                "input requests need the 2026-07-28 protocol",
            ));
        }
        let (responses, state) = ctx.take_round();
        let sealed = self.state_key().seal(
            &req.method,
            digest(),
            self.inner.options.request_state_ttl,
            responses,
            state,
        );
        CoreOutcome::InputRequired(InputRequiredResult {
            input_requests: Some(OrderedMap(asks)),
            request_state: Some(sealed),
            meta: None,
        })
    }

    /// `tools/call` takes the params out of the request: the arguments and `_meta` move into the call instead
    /// of being copied, and what is left of the request drops cheaply.
    async fn call_tool(&self, req: &mut Request, env: Box<Envelope>) -> CoreOutcome {
        let mut p: CallToolParams = match call_params(req.params.take()) {
            Ok(p) => p,
            Err(e) => return e.into(),
        };
        let Some(entry) = self.inner.registry.tools.load().get(&p.name).cloned() else {
            return ErrorObject::invalid_params(format!("Unknown tool: {}", p.name)).into();
        };
        let version = env.version;
        let args_value = Value::Object(p.arguments.take().unwrap_or_default());
        // `is_valid` allocates nothing; the errors are only collected for arguments that fail it.
        if let Some(v) = entry
            .validator
            .as_ref()
            .filter(|v| !v.is_valid(&args_value))
        {
            let errors: Vec<String> = v
                .iter_errors(&args_value)
                .take(5)
                .map(|e| e.to_string())
                .collect();
            if !errors.is_empty() {
                let msg = format!(
                    "Invalid arguments for tool {}: {}",
                    p.name,
                    errors.join("; ")
                );
                return if version.input_errors_as_tool_results() {
                    complete(&CallToolResult::error(msg))
                } else {
                    ErrorObject::invalid_params(msg).into()
                };
            }
        }
        let task = match self.task_route(&p.name, &env) {
            Ok(t) => t,
            Err(e) => return e.into(),
        };
        if let Some((tasks, policy)) = task {
            let Value::Object(args) = args_value else {
                unreachable!("built as an object above")
            };
            // Boxed: its state is large, and the common call would otherwise carry (and move) it too.
            return Box::pin(self.call_tool_as_task(req, *env, p, entry, args, tasks, policy))
                .await;
        }
        // The digest that binds a requestState to this call is computed only when a round needs it. Only the
        // modern era has rounds, and only there is a copy of the arguments kept for it (the handler takes
        // them): when the request opens a round's state, or when the handler may ask a question, which it
        // can only do of a client that declared a capability to answer one.
        let round_args = (version.era() == Era::Modern
            && (p.request_state.is_some() || crate::context::may_ask(&env.client.caps)))
        .then(|| args_value.clone());
        let digest = || request_digest(&p.name, round_args.as_ref());
        let ctx = match self.mrtr_context(
            req,
            *env,
            p.meta.take(),
            p.input_responses.take(),
            &p.request_state,
            &digest,
        ) {
            Ok(c) => c,
            Err(e) => return e.into(),
        };
        let Value::Object(args) = args_value else {
            unreachable!("built as an object above")
        };
        let r = entry.handler.call(ctx.clone(), args).await;
        let settled = Self::settle(&req.method, &ctx, r);
        self.tool_outcome(req, &ctx, &digest, &entry, settled)
    }

    /// The answer to a `tools/call` whose handler has settled.
    fn tool_outcome(
        &self,
        req: &Request,
        ctx: &RequestContext,
        digest: &dyn Fn() -> String,
        entry: &ToolEntry,
        settled: Result<CallToolResult, Parts>,
    ) -> CoreOutcome {
        match settled {
            Ok(result) => match check_output(entry, &result) {
                Ok(()) => complete(&result),
                Err(e) => e.into(),
            },
            Err(Parts::Tool(msg)) => complete(&CallToolResult::error(msg)),
            Err(Parts::InputRequired(asks)) => self.input_required(req, ctx, digest, asks),
            Err(parts) => self.parts_outcome(req, parts),
        }
    }

    /// Whether this call of tool `name` runs as a task: `Some` when the tool has a task policy and the client
    /// declared the extension in this (2026-07-28) request; `-32021` for a task-required tool otherwise.
    #[allow(clippy::type_complexity)]
    fn task_route(
        &self,
        name: &str,
        env: &Envelope,
    ) -> Result<Option<(Arc<Tasks>, TaskPolicy)>, ErrorObject> {
        let Some(tasks) = &self.inner.tasks else {
            return Ok(None);
        };
        let Some(policy) = tasks.policies.get(name).copied() else {
            return Ok(None);
        };
        if env.version.era() == Era::Modern && declares_tasks(env) {
            return Ok(Some((tasks.clone(), policy)));
        }
        match policy.support {
            TaskSupport::Required => Err(missing_tasks_capability(&format!("tool {name:?}"))),
            _ => Ok(None),
        }
    }

    /// A `tools/call` that runs as a task: stored, then answered with the task; the handler runs in the
    /// background (or, with `start_on_request`, inline until it calls `become_task`).
    #[allow(clippy::too_many_arguments)]
    async fn call_tool_as_task(
        &self,
        req: &mut Request,
        env: Envelope,
        mut p: CallToolParams,
        entry: Arc<ToolEntry>,
        args: JsonObject,
        tasks: Arc<Tasks>,
        policy: TaskPolicy,
    ) -> CoreOutcome {
        let owner = env.principal.clone();
        // A task outlives its request: its own cancellation, and no stream to write progress to.
        let cancel = CancellationToken::new();
        let mut task_env = env;
        task_env.cancel = cancel.clone();
        task_env.notifier = None;
        task_env.stream_control = None;
        let meta = p.meta.take().unwrap_or_default();
        let rerun_for = |id: String| -> Rerun {
            let (entry, env, meta, args, req_id) = (
                entry.clone(),
                task_env.clone(),
                meta.clone(),
                args.clone(),
                req.id.clone(),
            );
            Arc::new(move |responses, round_state| {
                let ctx = RequestContext::new(
                    req_id.clone(),
                    methods::TOOLS_CALL,
                    env.clone(),
                    meta.clone(),
                    responses,
                    round_state,
                );
                ctx.set_task_id(id.clone());
                let (entry, args) = (entry.clone(), args.clone());
                async move {
                    let r = entry.handler.call(ctx.clone(), args).await;
                    round_end(&entry, Self::settle(methods::TOOLS_CALL, &ctx, r), &ctx)
                }
                .boxed()
            })
        };
        if !policy.start_on_request {
            let record = match tasks.create(&owner, cancel.clone()).await {
                Ok(r) => r,
                Err(e) => return e.into(),
            };
            let id = record.id().to_owned();
            tasks.spawn_round(
                id.clone(),
                cancel,
                rerun_for(id.clone()),
                JsonObject::new(),
                None,
            );
            return task_created(&tasks, &record);
        }
        // Inline until the handler calls `become_task`.
        let round_args = Value::Object(args.clone());
        let name = p.name.clone();
        let digest = || request_digest(&name, Some(&round_args));
        let ctx = match self.mrtr_context(
            req,
            task_env.clone(),
            Some(meta.clone()),
            p.input_responses.take(),
            &p.request_state,
            &digest,
        ) {
            Ok(c) => c,
            Err(e) => return e.into(),
        };
        let (trigger, triggered) = tokio::sync::oneshot::channel();
        ctx.set_task_trigger(trigger);
        let mut handler = entry.handler.call(ctx.clone(), args.clone());
        tokio::select! {
            biased;
            Ok(()) = triggered => {
                let record = match tasks.create(&owner, cancel.clone()).await {
                    Ok(r) => r,
                    Err(e) => {
                        cancel.cancel();
                        return e.into();
                    }
                };
                let id = record.id().to_owned();
                ctx.set_task_id(id.clone());
                let (end_entry, end_ctx) = (entry.clone(), ctx.clone());
                let rest = async move {
                    let r = handler.await;
                    round_end(&end_entry, Self::settle(methods::TOOLS_CALL, &end_ctx, r), &end_ctx)
                };
                tasks.spawn_end(id.clone(), cancel, rest, rerun_for(id.clone()));
                task_created(&tasks, &record)
            }
            r = &mut handler => {
                let settled = Self::settle(&req.method, &ctx, r);
                match (&settled, policy.support) {
                    // Questions before the task: answered through the tools/call itself.
                    (Err(Parts::InputRequired(_)), _) | (_, TaskSupport::Optional) => {
                        self.tool_outcome(req, &ctx, &digest, &entry, settled)
                    }
                    // A task-required tool answers with a task even when it finished inline.
                    _ => match tasks.create_finished(&owner, round_end(&entry, settled, &ctx)).await {
                        Ok(record) => task_created(&tasks, &record),
                        Err(e) => e.into(),
                    },
                }
            }
        }
    }

    async fn read_resource(&self, req: &Request, env: Envelope) -> CoreOutcome {
        if let Err(e) = self.check_uri_at(req, "/uri") {
            return e.into();
        }
        let mut p: ReadResourceParams = match parse(&req.params) {
            Ok(p) => p,
            Err(e) => return e.into(),
        };
        let modern = env.version.era() == Era::Modern;
        let digest = || request_digest(&p.uri, None);
        let ctx = match self.mrtr_context(
            req,
            env,
            p.meta.take(),
            p.input_responses.take(),
            &p.request_state,
            &digest,
        ) {
            Ok(c) => c,
            Err(e) => return e.into(),
        };
        let reg = &self.inner.registry;
        let fut = if let Some(e) = reg.resources.load().get(&p.uri).cloned() {
            e.handler.read(ctx.clone(), p.uri.clone())
        } else {
            let templates = reg.templates.load();
            let found = templates
                .values()
                .find_map(|t| t.matcher.matches(&p.uri).map(|vars| (t.clone(), vars)));
            match found {
                Some((t, vars)) => t.handler.read(ctx.clone(), p.uri.clone(), vars),
                None => return self.error_outcome(req, Error::resource_not_found(&p.uri, modern)),
            }
        };
        let r = fut.await;
        match Self::settle(&req.method, &ctx, r) {
            Ok(r) if r.contents.is_empty() => {
                self.error_outcome(req, Error::resource_not_found(&p.uri, modern))
            }
            Ok(r) => complete(&r),
            Err(Parts::InputRequired(asks)) => self.input_required(req, &ctx, &digest, asks),
            Err(parts) => self.parts_outcome(req, parts),
        }
    }

    async fn get_prompt(&self, req: &Request, env: Envelope) -> CoreOutcome {
        let mut p: GetPromptParams = match parse(&req.params) {
            Ok(p) => p,
            Err(e) => return e.into(),
        };
        let Some(entry) = self.inner.registry.prompts.load().get(&p.name).cloned() else {
            return ErrorObject::invalid_params(format!("Unknown prompt: {}", p.name)).into();
        };
        let args = p.arguments.clone().unwrap_or_default();
        for a in entry.prompt.arguments.iter().flatten() {
            if a.required == Some(true) && !args.contains_key(&a.name) {
                return ErrorObject::invalid_params(format!(
                    "Missing required argument: {}",
                    a.name
                ))
                .into();
            }
        }
        // `p.arguments` still holds what the handler gets a copy of.
        let digest = || {
            let args_value = match &p.arguments {
                Some(a) => serde_json::to_value(a).unwrap_or_default(),
                None => Value::Object(JsonObject::new()),
            };
            request_digest(&p.name, Some(&args_value))
        };
        let ctx = match self.mrtr_context(
            req,
            env,
            p.meta.take(),
            p.input_responses.take(),
            &p.request_state,
            &digest,
        ) {
            Ok(c) => c,
            Err(e) => return e.into(),
        };
        let r = entry.handler.get(ctx.clone(), args).await;
        match Self::settle(&req.method, &ctx, r) {
            Ok(r) => complete(&r),
            Err(Parts::InputRequired(asks)) => self.input_required(req, &ctx, &digest, asks),
            Err(parts) => self.parts_outcome(req, parts),
        }
    }
}

/// Whether the request's client capabilities declare the tasks extension.
fn declares_tasks(env: &Envelope) -> bool {
    env.client
        .caps
        .extensions
        .as_ref()
        .is_some_and(|e| e.contains_key(TASKS_EXTENSION))
}

/// -32603 when a tool's `structuredContent` does not match its `outputSchema`.
fn check_output(entry: &ToolEntry, result: &CallToolResult) -> Result<(), ErrorObject> {
    if let (Some(v), Some(sc)) = (&entry.output_validator, &result.structured_content) {
        if let Some(err) = v.iter_errors(sc).next() {
            tracing::error!(tool = %entry.tool.name, error = %err, "structuredContent does not match outputSchema");
            return Err(ErrorObject::internal(format!(
                "tool {} produced output that does not match its outputSchema",
                entry.tool.name
            )));
        }
    }
    Ok(())
}

/// How a round of a task's handler ended, from its settled result.
fn round_end(
    entry: &ToolEntry,
    settled: Result<CallToolResult, Parts>,
    ctx: &RequestContext,
) -> RoundEnd {
    match settled {
        Ok(result) => match check_output(entry, &result) {
            Ok(()) => RoundEnd::Completed(result_value(&result)),
            Err(e) => RoundEnd::Failed(e),
        },
        Err(Parts::Tool(msg)) => RoundEnd::Completed(result_value(&CallToolResult::error(msg))),
        Err(Parts::InputRequired(asks)) => {
            let (responses, round_state) = ctx.take_round();
            RoundEnd::InputRequired {
                asks,
                responses,
                round_state,
            }
        }
        Err(Parts::Cancelled) => RoundEnd::Cancelled,
        Err(Parts::Rpc(e)) => RoundEnd::Failed(e),
    }
}

/// The `CreateTaskResult` of a stored task.
fn task_created(tasks: &Tasks, record: &TaskRecord) -> CoreOutcome {
    match ResultJson::of(&tasks.describe(record, false)) {
        Ok(r) => CoreOutcome::Task(r),
        Err(e) => e.into(),
    }
}

fn meta_of(meta: &Option<JsonObject>) -> JsonObject {
    meta.clone().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A request's work that records that it started, waits for its cancel, then records that it finished.
    fn watched_work(
        cancel: &CancellationToken,
    ) -> (
        Work,
        Arc<std::sync::atomic::AtomicBool>,
        Arc<std::sync::atomic::AtomicBool>,
    ) {
        use std::sync::atomic::{AtomicBool, Ordering};
        let (started, finished) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicBool::new(false)),
        );
        let (s, f, c) = (started.clone(), finished.clone(), cancel.clone());
        let work: Work = Box::pin(async move {
            s.store(true, Ordering::SeqCst);
            c.cancelled().await;
            f.store(true, Ordering::SeqCst);
            CoreOutcome::Cancelled
        });
        (work, started, finished)
    }

    #[tokio::test]
    async fn work_dropped_before_it_runs_never_starts_and_once_running_gets_its_grace() {
        use std::sync::atomic::Ordering;
        let graceful = |work, cancel: &CancellationToken| Graceful {
            work: Some(work),
            cancel: cancel.clone(),
            grace: Duration::from_secs(5),
            started: false,
        };
        // Dropped unpolled (the transport gave up before the core ran it): nothing runs, nothing is cancelled.
        let cancel = CancellationToken::new();
        let (work, started, finished) = watched_work(&cancel);
        drop(graceful(work, &cancel));
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(
            !started.load(Ordering::SeqCst),
            "work dropped before it ran was started"
        );
        assert!(!finished.load(Ordering::SeqCst));
        assert!(!cancel.is_cancelled());
        // Dropped while running: cancelled, and the work finishes on its own within its grace.
        let cancel = CancellationToken::new();
        let (work, started, finished) = watched_work(&cancel);
        let mut g = graceful(work, &cancel);
        {
            let run = g.run();
            futures::pin_mut!(run);
            assert!(futures::poll!(run).is_pending());
        }
        assert!(started.load(Ordering::SeqCst));
        drop(g);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(cancel.is_cancelled());
        assert!(
            finished.load(Ordering::SeqCst),
            "running work was not given its grace"
        );
    }

    #[test]
    fn call_params_moved_out_equal_deserialized_ones() {
        let cases = [
            serde_json::json!({"name": "t", "arguments": {"a": [1, {"b": null}]}, "_meta": {"k": "v"}}),
            serde_json::json!({"name": "t", "arguments": null, "requestState": "s", "inputResponses": {"x": {}}}),
            serde_json::json!({"name": "t", "task": {"ttl": 5}, "extra": true}),
            serde_json::json!({"name": "t", "arguments": "not an object"}),
            serde_json::json!({"name": "t", "arguments": {}, "_meta": 5}),
            serde_json::json!({"arguments": {}}),
            serde_json::json!({"name": 7}),
            serde_json::json!({"name": null}),
            serde_json::json!({"name": "t", "requestState": 5, "arguments": {"a": 1}}),
            serde_json::json!({"name": "t", "requestState": null, "unknown": [1], "_meta": null}),
            serde_json::json!({"name": "t", "task": [], "arguments": 3}),
            serde_json::json!({"zzz": 1, "_meta": {}}),
            serde_json::json!([1, 2]),
        ];
        for c in cases {
            let fast = call_params(Some(c.clone())).map_err(|e| e.message);
            let serde = parse_owned::<CallToolParams>(Some(c.clone())).map_err(|e| e.message);
            assert_eq!(fast, serde, "{c}");
        }
        assert_eq!(
            call_params(None).map_err(|e| e.message),
            parse_owned::<CallToolParams>(None).map_err(|e| e.message)
        );
    }

    #[test]
    fn pages_with_opaque_cursors() {
        let (p1, c1) = page(0..5, None, 2).unwrap();
        assert_eq!(p1, vec![0, 1]);
        let (p2, c2) = page(0..5, c1.as_deref(), 2).unwrap();
        assert_eq!(p2, vec![2, 3]);
        let (p3, c3) = page(0..5, c2.as_deref(), 2).unwrap();
        assert_eq!((p3, c3), (vec![4], None));
        assert!(page(0..5, Some("not-a-cursor"), 2).is_err());
    }
}
