//! The handler's view of one request: who is asking, how to report progress and logs, and one API for asking
//! the client (elicitation, sampling, roots) that works on both eras.

use std::borrow::Cow;
use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;
use mcp_protocol::types::{
    apply_schema_defaults, methods, ClientCapabilities, CreateMessageParams, CreateMessageResult,
    ElicitAction, ElicitRequestParams, ElicitResult, Implementation, InputRequest, ListRootsResult,
    LoggingLevel, LoggingMessageParams, ProgressParams,
};
use mcp_protocol::{JsonObject, Message, Notification, ProtocolVersion, RequestId};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::form::{ElicitForm, Elicitation};
use crate::Error;

/// Sends a request to the client and awaits the answer (legacy era: real server→client requests).
///
/// The transports implement it for each legacy session or connection; a handler never calls it directly but
/// goes through [`RequestContext::elicit`], [`RequestContext::sample`] and [`RequestContext::list_roots`].
/// Implement it only to plug a transport of your own into the legacy adapter.
pub trait ClientRequester: Send + Sync {
    /// Send `method` with `params` and await the result.
    ///
    /// # Errors
    ///
    /// The client's JSON-RPC error, a closed connection, or a cancelled request, as an
    /// [`mcp_rpc::RpcError`].
    ///
    /// # Cancel safety
    ///
    /// Dropping the future abandons the request: an answer that arrives later is discarded.
    fn request(
        &self,
        method: &'static str,
        params: Value,
    ) -> BoxFuture<'_, Result<Value, mcp_rpc::Error>>;
}

/// How a handler's questions reach the client.
#[derive(Clone)]
// Without HTTP only the stdio connection builds one, always `Legacy`.
#[cfg_attr(not(feature = "http"), allow(dead_code))]
pub(crate) enum Asker {
    /// Legacy: send a real request.
    Legacy(Arc<dyn ClientRequester>),
    /// Legacy, sent on the request's own channel (the envelope's notifier) and answered through `holder`'s
    /// table: the requester is made at the first question, not with every request (most ask none).
    OnRequestChannel {
        holder: Arc<dyn crate::requester::TableHolder>,
        timeout: std::time::Duration,
    },
    /// Modern: answer from `inputResponses`, else end with `input_required`.
    Modern,
    /// Nowhere to send (e.g. a legacy request answered with plain JSON).
    Unavailable,
}

/// An authenticated caller, set by the auth layer from a verified bearer token.
///
/// A handler reads it with [`RequestContext::principal`] to decide what the caller may see or do; it is
/// `None` when no auth layer runs (stdio, or HTTP without a verifier).
///
/// ```
/// use mcp_server::Principal;
/// let p = Principal { subject: "user-1".into(), scopes: vec!["files:read".into()], client_id: Some("app".into()) };
/// let refreshed = Principal { scopes: vec![], ..p.clone() };
/// assert!(p.same_caller(&refreshed), "scopes may change, the caller does not");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// Subject (`sub`).
    pub subject: String,
    /// Granted scopes.
    pub scopes: Vec<String>,
    /// Client id, if known.
    pub client_id: Option<String>,
}

impl Principal {
    /// Whether `other` is the same caller: the same subject through the same client. Scopes may differ (a
    /// refreshed or stepped-up token), the identity may not.
    pub fn same_caller(&self, other: &Principal) -> bool {
        self.subject == other.subject && self.client_id == other.client_id
    }
}

/// What a client said about itself: its capabilities and, when it said, its implementation. Shared, not
/// copied: a legacy session hands the same one to each of its requests.
#[derive(Debug, Default)]
pub(crate) struct ClientDescription {
    pub caps: ClientCapabilities,
    pub info: Option<Implementation>,
}

/// Everything an adapter knows about a request before the core runs it. Kept small: it travels by value
/// through every layer of the request's future.
#[derive(Clone)]
pub(crate) struct Envelope {
    pub version: ProtocolVersion,
    pub client: Arc<ClientDescription>,
    /// The minimum level to send; `None` on legacy means "everything", on modern "nothing".
    pub log_level: Option<LoggingLevel>,
    pub notifier: Option<crate::notifier::Notifier>,
    pub asker: Asker,
    pub cancel: CancellationToken,
    pub principal: Option<Principal>,
    pub stream_control: Option<Arc<tokio::sync::Notify>>,
    /// The HTTP request's trace headers (empty without the `otel` feature).
    pub trace: crate::trace_context::TraceHeaders,
}

struct Round {
    responses: JsonObject,
    state: Option<Value>,
}

pub(crate) struct Inner {
    pub id: RequestId,
    pub method: Cow<'static, str>,
    pub env: Envelope,
    pub progress_token: Option<Value>,
    pub meta: JsonObject,
    round: Mutex<Round>,
    /// Questions asked this round that the client has not answered (modern era). They decide the request's
    /// outcome, whatever the handler does with the error that reported them.
    open_questions: Mutex<Vec<(String, InputRequest)>>,
    last_progress: Mutex<Option<f64>>,
    /// Keys this run asked through `elicit_as`, to catch a form type asked twice under one key.
    typed_keys: Mutex<Vec<String>>,
    /// Tasks extension: fired by [`RequestContext::become_task`] while the handler runs inline.
    task_trigger: Mutex<Option<tokio::sync::oneshot::Sender<()>>>,
    /// Tasks extension: set once the handler runs as a task.
    task_id: std::sync::OnceLock<String>,
}

/// The context of one request, handed to every handler. Cheap to clone (one `Arc`).
///
/// It tells the handler who is asking ([`principal`](Self::principal), [`client_info`](Self::client_info),
/// [`client_capabilities`](Self::client_capabilities), [`protocol_version`](Self::protocol_version)), lets
/// it report back while it runs ([`progress`](Self::progress), [`log`](Self::log)), notice cancellation
/// ([`cancellation`](Self::cancellation)), and ask the client for input with one API on both eras
/// ([`elicit_as`](Self::elicit_as), [`elicit`](Self::elicit), [`sample`](Self::sample),
/// [`list_roots`](Self::list_roots)).
///
/// ```
/// use mcp_server::{Error, RequestContext, Server};
/// use mcp_protocol::types::{CallToolResult, LoggingLevel, Tool};
///
/// let server = Server::builder("indexer", "1.0.0")
///     .tool(Tool::new("reindex", serde_json::json!({"type": "object"})), |ctx: RequestContext, _args| async move {
///         let who = ctx.principal().map(|p| p.subject.clone()).unwrap_or_else(|| "anonymous".into());
///         ctx.log(LoggingLevel::Info, Some("indexer"), format!("reindex requested by {who}")).await;
///         for step in 1..=3 {
///             if ctx.is_cancelled() {
///                 return Err(Error::cancelled());
///             }
///             ctx.progress(step as f64, Some(3.0), Some(format!("step {step} of 3"))).await;
///         }
///         Ok::<_, Error>(CallToolResult::text("reindexed"))
///     })
///     .build();
/// # let _ = server;
/// ```
#[derive(Clone)]
pub struct RequestContext {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for RequestContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestContext")
            .field("id", &self.inner.id)
            .field("method", &self.inner.method)
            .field("version", &self.inner.env.version)
            .finish()
    }
}

impl RequestContext {
    pub(crate) fn new(
        id: RequestId,
        method: &str,
        env: Envelope,
        meta: JsonObject,
        responses: JsonObject,
        round_state: Option<Value>,
    ) -> Self {
        let progress_token = meta.get("progressToken").cloned();
        Self {
            inner: Arc::new(Inner {
                id,
                method: known_method(method),
                env,
                progress_token,
                meta,
                round: Mutex::new(Round {
                    responses,
                    state: round_state,
                }),
                open_questions: Mutex::new(Vec::new()),
                last_progress: Mutex::new(None),
                typed_keys: Mutex::new(Vec::new()),
                task_trigger: Mutex::new(None),
                task_id: std::sync::OnceLock::new(),
            }),
        }
    }

    /// Tasks extension: the handler may turn into a task by firing `trigger`.
    pub(crate) fn set_task_trigger(&self, trigger: tokio::sync::oneshot::Sender<()>) {
        *self
            .inner
            .task_trigger
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(trigger);
    }

    /// Tasks extension: this context runs as task `id`.
    pub(crate) fn set_task_id(&self, id: String) {
        let _ = self.inner.task_id.set(id);
    }

    /// Turn this call into a task now (tasks extension, for a tool whose
    /// [`TaskPolicy::start_on_request`](crate::TaskPolicy::start_on_request) is set): the client gets the task
    /// at once, and the handler goes on running in the background, its outcome kept for `tasks/get`. Returns
    /// whether the call runs as a task: `false` for a client without the extension, or a tool without a task
    /// policy, where the handler simply goes on inline. Calling it again (or in a later round of the task) is
    /// harmless.
    ///
    /// Ask what must be asked before the task exists first: questions asked before this call are answered
    /// through the `tools/call` itself; questions asked after it become the task's `input_required`.
    ///
    /// ```
    /// use mcp_server::{Error, RequestContext, Server, TaskPolicy};
    /// use mcp_protocol::types::{CallToolResult, ElicitRequestParams, Tool};
    ///
    /// let server = Server::builder("reports", "1.0.0")
    ///     .tool(Tool::new("report", serde_json::json!({"type": "object"})), |ctx: RequestContext, _args| async move {
    ///         let schema = serde_json::json!({"type": "object", "properties": {"month": {"type": "string"}}});
    ///         let answer = ctx.elicit("month", ElicitRequestParams::form("Which month?", schema)).await?;
    ///         ctx.become_task(); // the slow part runs as a task
    ///         Ok::<_, Error>(CallToolResult::text(format!("report for {:?}", answer.content)))
    ///     })
    ///     .tool_tasks("report", TaskPolicy::required().start_on_request())
    ///     .build();
    /// # let _ = server;
    /// ```
    pub fn become_task(&self) -> bool {
        if self.is_task() {
            return true;
        }
        let trigger = self
            .inner
            .task_trigger
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        match trigger {
            Some(t) => t.send(()).is_ok(),
            None => false,
        }
    }

    /// Whether this handler runs as a task (tasks extension).
    pub fn is_task(&self) -> bool {
        self.inner.task_id.get().is_some()
    }

    /// The id of the task this handler runs as, if it does.
    pub fn task_id(&self) -> Option<&str> {
        self.inner.task_id.get().map(String::as_str)
    }

    /// The settings of extension `id` as the client declared it in this request's capabilities
    /// (`capabilities.extensions`), or `None` when it did not.
    pub fn client_extension(&self, id: &str) -> Option<&Value> {
        self.inner
            .env
            .client
            .caps
            .extensions
            .as_ref()
            .and_then(|e| e.get(id))
    }

    /// The request's JSON-RPC id, as the client sent it. Unique among the client's requests in flight, so it
    /// can name per-request scratch state; it is not unique across clients or over time.
    pub fn request_id(&self) -> &RequestId {
        &self.inner.id
    }
    /// The protocol revision this request speaks: negotiated by `initialize` on a legacy session, stated in
    /// `_meta` by a 2026-07-28 request. Compare it to offer features only newer clients understand.
    ///
    /// ```
    /// use mcp_protocol::{Era, ProtocolVersion};
    /// fn can_show_titled_choices(ctx: &mcp_server::RequestContext) -> bool {
    ///     ctx.protocol_version() >= ProtocolVersion::V2025_11_25
    /// }
    /// fn asks_are_retried(ctx: &mcp_server::RequestContext) -> bool {
    ///     ctx.protocol_version().era() == Era::Modern
    /// }
    /// # let _ = (can_show_titled_choices, asks_are_retried);
    /// ```
    pub fn protocol_version(&self) -> ProtocolVersion {
        self.inner.env.version
    }
    /// The client's declared capabilities: from `initialize` on a legacy session, from the request's `_meta`
    /// on 2026-07-28. The questions ([`elicit`](Self::elicit) and friends) check them for you and fail with
    /// -32021 when the needed one is missing; read them to choose another path before asking.
    pub fn client_capabilities(&self) -> &ClientCapabilities {
        &self.inner.env.client.caps
    }
    /// The client's self-reported name and version, when it gave them. Useful for logs and workarounds; any
    /// client can claim any name, so never use it for security decisions (use [`principal`](Self::principal)).
    pub fn client_info(&self) -> Option<&Implementation> {
        self.inner.env.client.info.as_ref()
    }
    /// The authenticated caller, when an auth layer verified the request's bearer token; `None` without one.
    /// On a legacy session it is the principal of this request, which the server checks is the same caller
    /// that opened the session.
    pub fn principal(&self) -> Option<&Principal> {
        self.inner.env.principal.as_ref()
    }
    /// The request's `_meta`: W3C trace context (`traceparent`), the progress token, the 2026-07-28 protocol
    /// keys, and any custom keys a client adds (read those under a prefix you own).
    pub fn meta(&self) -> &JsonObject {
        &self.inner.meta
    }
    /// Cancelled when the request is cancelled: a legacy client's `notifications/cancelled`, a 2026-07-28
    /// client closing the request's stream or connection, its session being deleted or expiring, or the
    /// connection ending.
    ///
    /// The rule: the server cancels this token first, then lets the handler run for the server's grace
    /// period ([`crate::ServerBuilder::cancel_grace`], 2 s by default) so it can notice, clean up and
    /// return; a handler still running after that is dropped. Nothing the handler returns after a cancel is
    /// sent to the client. So cleanup that must happen (a temporary file, a lock, a transaction) belongs in a
    /// branch on this token, and it should be quick. [`RequestContext::elicit`] and the other questions end
    /// with [`Error::cancelled`] on their own when the token is cancelled.
    ///
    /// ```
    /// use std::time::Duration;
    /// use mcp_server::{Error, RequestContext};
    /// use mcp_protocol::types::CallToolResult;
    ///
    /// async fn long_job(ctx: RequestContext) -> Result<CallToolResult, Error> {
    ///     let scratch = std::env::temp_dir().join(format!("job-{}", ctx.request_id()));
    ///     tokio::select! {
    ///         _ = tokio::time::sleep(Duration::from_secs(30)) => {
    ///             Ok(CallToolResult::text("done"))
    ///         }
    ///         _ = ctx.cancellation().cancelled() => {
    ///             // Runs within the grace period after a cancel.
    ///             let _ = std::fs::remove_file(&scratch);
    ///             Err(Error::cancelled())
    ///         }
    ///     }
    /// }
    /// # let _ = long_job;
    /// ```
    pub fn cancellation(&self) -> &CancellationToken {
        &self.inner.env.cancel
    }
    /// Whether the request was cancelled: a cheap check for loops between steps. To wait for it, use
    /// [`cancellation`](Self::cancellation).
    pub fn is_cancelled(&self) -> bool {
        self.inner.env.cancel.is_cancelled()
    }

    /// Close this request's SSE stream now while the handler goes on (SEP-1699 polling on legacy Streamable
    /// HTTP): the client reconnects after the server's `retry` delay and receives the rest. A no-op on other
    /// transports.
    pub fn close_sse_stream(&self) {
        if let Some(close) = &self.inner.env.stream_control {
            close.notify_one();
        }
    }

    async fn notify(&self, method: &str, params: Value) {
        if let Some(tx) = &self.inner.env.notifier {
            let n = Notification::new(method, Some(params));
            let _ = tx.send(Message::Notification(n)).await;
        }
    }

    /// Report progress, if the client asked for it (a progress token in `_meta`). Values that do not
    /// increase are dropped, as the spec requires progress to increase; `total`, when known, lets the client
    /// show a fraction, and `message` says what is happening. Without a progress token this does nothing, so
    /// call it freely.
    ///
    /// ```
    /// # async fn f(ctx: mcp_server::RequestContext, files: Vec<String>) {
    /// let total = files.len() as f64;
    /// for (i, file) in files.iter().enumerate() {
    ///     // ... process `file` ...
    ///     ctx.progress((i + 1) as f64, Some(total), Some(format!("indexed {file}"))).await;
    /// }
    /// # }
    /// ```
    ///
    /// # Cancel safety
    ///
    /// It waits only for room in the request's outgoing queue. Dropping it may lose this one notification;
    /// the next call still counts from the last value sent.
    pub async fn progress(&self, progress: f64, total: Option<f64>, message: Option<String>) {
        let Some(token) = self.inner.progress_token.clone() else {
            return;
        };
        {
            let mut last = self
                .inner
                .last_progress
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            if last.is_some_and(|l| progress <= l) {
                return;
            }
            *last = Some(progress);
        }
        let p = ProgressParams {
            progress_token: token,
            progress,
            total,
            message,
            meta: None,
        };
        self.notify(
            methods::NOTIF_PROGRESS,
            serde_json::to_value(p).unwrap_or_default(),
        )
        .await;
    }

    /// Whether a log message at `level` would be sent: at or above the session's `logging/setLevel` level on
    /// the legacy era (everything when none was set), at or above the request's `_meta` log level on
    /// 2026-07-28 (nothing when none was asked). Check it before building an expensive message.
    pub fn log_enabled(&self, level: LoggingLevel) -> bool {
        match (self.inner.env.version.era(), self.inner.env.log_level) {
            (_, Some(min)) => level >= min,
            (mcp_protocol::Era::Legacy, None) => true,
            (mcp_protocol::Era::Modern, None) => false,
        }
    }

    /// Send a log message to the client, on this request's stream. On 2026-07-28 nothing is sent unless the
    /// request asked for logs with `_meta.logLevel`. `data` is any JSON: a string, or an object with details.
    /// These logs go to the client (and its user); for the server's own logs use `tracing`.
    ///
    /// ```
    /// use mcp_protocol::types::LoggingLevel;
    /// # async fn f(ctx: mcp_server::RequestContext) {
    /// ctx.log(LoggingLevel::Warning, Some("db"), "the replica is behind; results may be stale").await;
    /// if ctx.log_enabled(LoggingLevel::Debug) {
    ///     ctx.log(LoggingLevel::Debug, Some("db"), serde_json::json!({"query_ms": 12})).await;
    /// }
    /// # }
    /// ```
    ///
    /// # Cancel safety
    ///
    /// As for [`progress`](Self::progress): dropping it may lose this one message.
    pub async fn log(&self, level: LoggingLevel, logger: Option<&str>, data: impl Into<Value>) {
        if !self.log_enabled(level) {
            return;
        }
        let p = LoggingMessageParams {
            level,
            logger: logger.map(str::to_owned),
            data: data.into(),
            meta: None,
        };
        self.notify(
            methods::NOTIF_MESSAGE,
            serde_json::to_value(p).unwrap_or_default(),
        )
        .await;
    }

    /// State this handler carries to its next round (modern era). Set it before asking a question; it comes
    /// back sealed in `requestState` when the client retries.
    ///
    /// On 2026-07-28 a handler that asks a question ends with `input_required` and runs again from the top
    /// when the client retries with the answer. What it computed before the question is gone unless it was
    /// put here: the server seals it (HMAC) into `requestState`, and the retry hands it back. On legacy
    /// sessions the handler runs once, so this state is never needed, and reading it returns what was set.
    /// `None` when nothing was set or it does not deserialize as a `T`.
    ///
    /// ```
    /// use mcp_server::{Elicitation, Error, RequestContext};
    /// use mcp_protocol::types::CallToolResult;
    ///
    /// #[derive(serde::Deserialize, schemars::JsonSchema, mcp_macros::ElicitForm)]
    /// struct Approve { ok: bool }
    ///
    /// async fn deploy(ctx: RequestContext) -> Result<CallToolResult, Error> {
    ///     // Expensive, so done once: the retry finds it in the round state.
    ///     let plan: String = match ctx.round_state() {
    ///         Some(plan) => plan,
    ///         None => {
    ///             let plan = "3 services, 2 migrations".to_string();
    ///             ctx.set_round_state(&plan);
    ///             plan
    ///         }
    ///     };
    ///     match ctx.elicit_as::<Approve>(format!("Deploy {plan}?")).await? {
    ///         Elicitation::Accept(Approve { ok: true }) => Ok(CallToolResult::text("deployed")),
    ///         _ => Ok(CallToolResult::text("not deployed")),
    ///     }
    /// }
    /// # let _ = deploy;
    /// ```
    pub fn round_state<T: DeserializeOwned>(&self) -> Option<T> {
        let r = self.inner.round.lock().unwrap_or_else(|p| p.into_inner());
        r.state.clone().and_then(|v| serde_json::from_value(v).ok())
    }

    /// Set the round state (see [`RequestContext::round_state`]). Keep it small: it travels to the client
    /// and back in every round. A value that does not serialize clears the state.
    pub fn set_round_state<T: Serialize>(&self, state: &T) {
        let v = serde_json::to_value(state).ok();
        self.inner
            .round
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .state = v;
    }

    /// The questions still waiting for the client's answer, emptied.
    pub(crate) fn take_open_questions(&self) -> Vec<(String, InputRequest)> {
        std::mem::take(
            &mut *self
                .inner
                .open_questions
                .lock()
                .unwrap_or_else(|p| p.into_inner()),
        )
    }

    pub(crate) fn take_round(&self) -> (JsonObject, Option<Value>) {
        let r = self.inner.round.lock().unwrap_or_else(|p| p.into_inner());
        (r.responses.clone(), r.state.clone())
    }

    /// Ask the user through the client (form or URL mode). `key` names the question; it must be unique within
    /// the handler. Legacy era: sends `elicitation/create` and waits. Modern era: returns the answer when the
    /// client already sent it, else ends the handler (through `?`) with `input_required`.
    ///
    /// Prefer [`elicit_as`](Self::elicit_as) for forms: it derives the schema from a struct and parses the
    /// answer. Use this one for URL elicitations and forms built at runtime.
    ///
    /// ```
    /// use mcp_protocol::types::{ElicitAction, ElicitRequestParams};
    /// # async fn f(ctx: mcp_server::RequestContext) -> Result<(), mcp_server::Error> {
    /// let answer = ctx
    ///     .elicit("login", ElicitRequestParams::url("Sign in to your account", "https://example.com/login"))
    ///     .await?;
    /// if answer.action != ElicitAction::Accept {
    ///     return Err(mcp_server::Error::tool("sign-in was not completed"));
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// - An error of kind [`ErrorKind::InputRequired`](crate::ErrorKind::InputRequired) on 2026-07-28 when the
    ///   answer is not there yet: pass it on with `?`.
    /// - -32021 (missing capability) when the client did not declare elicitation in that mode.
    /// - [`Error::cancelled`] when the request is cancelled while waiting.
    /// - On legacy sessions, the client's error answer or a closed connection; an internal error when the
    ///   request has no way to reach the client (a legacy HTTP request answered with plain JSON).
    ///
    /// # Cancel safety
    ///
    /// Dropping the future on a legacy session abandons the `elicitation/create` request; a late answer is
    /// discarded. On 2026-07-28 it never waits.
    pub async fn elicit(
        &self,
        key: &str,
        params: ElicitRequestParams,
    ) -> Result<ElicitResult, Error> {
        let v = self
            .ask(vec![(key.to_owned(), InputRequest::Elicit(params))])
            .await?;
        Ok(serde_json::from_value(
            v.into_iter().next().unwrap_or_default(),
        )?)
    }

    /// Ask the user to fill the form `T` and get the answer as a `T`.
    ///
    /// The form's `requestedSchema` is derived from `T` (see [`ElicitForm`]; derive it with
    /// `#[derive(mcp_macros::ElicitForm)]`, which checks at compile time that `T` is a flat form). The question's
    /// key is `T`'s schema name (its type name), so ask each form type once per handler, or use
    /// [`RequestContext::elicit_as_keyed`] to ask the same type twice. Fields the user left empty take the
    /// schema's `default`s before the answer is parsed. Both eras work as for [`RequestContext::elicit`]: a
    /// real `elicitation/create` on a legacy session; on 2026-07-28 the answer from the client's retry, else
    /// `input_required` (through `?`).
    ///
    /// ```
    /// use mcp_server::{Elicitation, Error, RequestContext, Server};
    /// use mcp_protocol::types::{CallToolResult, Tool};
    ///
    /// #[derive(serde::Deserialize, schemars::JsonSchema, mcp_macros::ElicitForm)]
    /// struct Confirm {
    ///     /// Really delete everything?
    ///     sure: bool,
    /// }
    ///
    /// let server = Server::builder("files", "1.0.0")
    ///     .tool(Tool::new("wipe", serde_json::json!({"type": "object"})), |ctx: RequestContext, _args| async move {
    ///         match ctx.elicit_as::<Confirm>("Delete every file?").await? {
    ///             Elicitation::Accept(Confirm { sure: true }) => Ok(CallToolResult::text("deleted")),
    ///             Elicitation::Accept(_) | Elicitation::Decline | Elicitation::Cancel => {
    ///                 Ok::<_, Error>(CallToolResult::text("kept"))
    ///             }
    ///         }
    ///     })
    ///     .build();
    /// # let _ = server;
    /// ```
    ///
    /// # Errors
    ///
    /// - An error of kind [`ErrorKind::InputRequired`](crate::ErrorKind::InputRequired) on 2026-07-28 when the
    ///   answer is not there yet: pass it on with `?`.
    /// - -32021 (missing capability) when the client did not declare form elicitation.
    /// - An internal error when `T`'s schema is not a flat form (only possible without the derive), or when
    ///   this handler already asked a form under the same key.
    /// - Invalid params when the client's answer does not parse as a `T`.
    /// - [`Error::cancelled`] when the request is cancelled while waiting, and the errors of
    ///   [`RequestContext::elicit`] otherwise.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future on a legacy session abandons the `elicitation/create` request; the client's late
    /// answer is discarded. Nothing is recorded, so asking again sends a new request.
    pub async fn elicit_as<T: ElicitForm>(
        &self,
        message: impl Into<String>,
    ) -> Result<Elicitation<T>, Error> {
        self.elicit_as_keyed(&T::schema_name(), message).await
    }

    /// [`RequestContext::elicit_as`] with the question's key given: use it to ask the same form type more than
    /// once in a handler (each key names one question, and must be stable from one round to the next).
    ///
    /// # Errors
    ///
    /// As for [`RequestContext::elicit_as`].
    ///
    /// # Cancel safety
    ///
    /// As for [`RequestContext::elicit_as`].
    pub async fn elicit_as_keyed<T: ElicitForm>(
        &self,
        key: &str,
        message: impl Into<String>,
    ) -> Result<Elicitation<T>, Error> {
        {
            let mut asked = self
                .inner
                .typed_keys
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            if asked.iter().any(|k| k == key) {
                // On 2026-07-28 the second question would silently get the first one's answer.
                return Err(Error::internal(format!(
                    "this handler already asked a form under the key {key:?}; use elicit_as_keyed with a distinct key"
                )));
            }
            asked.push(key.to_owned());
        }
        let schema = T::requested_schema()?;
        let wire = crate::form::for_version(&schema, self.protocol_version());
        let answer = self
            .elicit(key, ElicitRequestParams::form(message, wire.clone()))
            .await?;
        match answer.action {
            ElicitAction::Accept => {
                let mut content = answer.content.unwrap_or_default();
                apply_schema_defaults(&wire, &mut content);
                let content = Value::Object(content);
                // The form's own rules first (bounds, choices), with the field's path in the message.
                let misfit = jsonschema::validator_for(&wire).ok().and_then(|v| {
                    v.iter_errors(&content)
                        .next()
                        .map(|e| format!("{e} (at `{}`)", e.instance_path))
                });
                let parsed = match misfit {
                    Some(why) => Err(why),
                    None => serde_json::from_value(content).map_err(|e| e.to_string()),
                };
                parsed.map(Elicitation::Accept).map_err(|why| {
                    Error::invalid_params(format!(
                        "the client's answer to the form {key:?} does not fit it: {why}"
                    ))
                })
            }
            ElicitAction::Decline => Ok(Elicitation::Decline),
            ElicitAction::Cancel => Ok(Elicitation::Cancel),
        }
    }

    /// Ask the client's model (sampling). See [`RequestContext::elicit`] for how the eras differ.
    ///
    /// ```
    /// use mcp_protocol::types::CreateMessageParams;
    /// # async fn f(ctx: mcp_server::RequestContext) -> Result<(), mcp_server::Error> {
    /// let reply = ctx
    ///     .sample("summary", CreateMessageParams::user_text("Summarize: ...", 200).with_temperature(0.2))
    ///     .await?;
    /// let summary = reply.text().unwrap_or_default();
    /// # let _ = summary; Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// As for [`elicit`](Self::elicit); -32021 when the client did not declare `sampling`.
    ///
    /// # Cancel safety
    ///
    /// As for [`elicit`](Self::elicit).
    pub async fn sample(
        &self,
        key: &str,
        params: CreateMessageParams,
    ) -> Result<CreateMessageResult, Error> {
        let v = self
            .ask(vec![(key.to_owned(), InputRequest::Sample(params))])
            .await?;
        Ok(serde_json::from_value(
            v.into_iter().next().unwrap_or_default(),
        )?)
    }

    /// Ask for the client's roots (the directories or files it lets the server work in). See
    /// [`RequestContext::elicit`] for how the eras differ.
    ///
    /// ```
    /// # async fn f(ctx: mcp_server::RequestContext) -> Result<(), mcp_server::Error> {
    /// let roots = ctx.list_roots("roots").await?;
    /// let allowed: Vec<&str> = roots.roots.iter().map(|r| r.uri.as_str()).collect();
    /// # let _ = allowed; Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// As for [`elicit`](Self::elicit); -32021 when the client did not declare `roots`.
    ///
    /// # Cancel safety
    ///
    /// As for [`elicit`](Self::elicit).
    pub async fn list_roots(&self, key: &str) -> Result<ListRootsResult, Error> {
        let v = self
            .ask(vec![(key.to_owned(), InputRequest::ListRoots(None))])
            .await?;
        Ok(serde_json::from_value(
            v.into_iter().next().unwrap_or_default(),
        )?)
    }

    /// Ask several questions at once; answers come back in order as raw JSON. On the modern era every missing
    /// answer is requested in one `input_required` round (one round trip instead of one per question); on
    /// legacy sessions the questions are sent one after another.
    ///
    /// ```
    /// use mcp_protocol::types::{CreateMessageParams, CreateMessageResult, InputRequest, ListRootsResult};
    /// # async fn f(ctx: mcp_server::RequestContext) -> Result<(), mcp_server::Error> {
    /// let answers = ctx
    ///     .ask(vec![
    ///         ("roots".into(), InputRequest::ListRoots(None)),
    ///         ("name".into(), InputRequest::Sample(CreateMessageParams::user_text("Name this project", 20))),
    ///     ])
    ///     .await?;
    /// let roots: ListRootsResult = serde_json::from_value(answers[0].clone())?;
    /// let name: CreateMessageResult = serde_json::from_value(answers[1].clone())?;
    /// # let _ = (roots, name); Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// As for [`elicit`](Self::elicit), for the first question that fails; every question's capability is
    /// checked before any is sent.
    ///
    /// # Cancel safety
    ///
    /// As for [`elicit`](Self::elicit); on legacy sessions the answers already received are lost with the
    /// future.
    pub async fn ask(&self, questions: Vec<(String, InputRequest)>) -> Result<Vec<Value>, Error> {
        for (_, q) in &questions {
            self.check_capability(q)?;
        }
        match &self.inner.env.asker {
            Asker::Legacy(req) => self.ask_client(req.as_ref(), questions).await,
            Asker::OnRequestChannel { holder, timeout } => {
                let Some(out) = self.inner.env.notifier.clone() else {
                    return Err(unreachable_client());
                };
                let req = crate::requester::ChannelRequester {
                    out,
                    holder: holder.clone(),
                    timeout: *timeout,
                };
                self.ask_client(&req, questions).await
            }
            Asker::Modern => {
                let round = self.inner.round.lock().unwrap_or_else(|p| p.into_inner());
                let mut answers = Vec::with_capacity(questions.len());
                let mut missing = Vec::new();
                for (key, q) in questions {
                    match round.responses.get(&key).filter(|v| answer_fits(&q, v)) {
                        Some(v) => answers.push(v.clone()),
                        None => missing.push((key, q)),
                    }
                }
                drop(round);
                if missing.is_empty() {
                    Ok(answers)
                } else {
                    let mut open = self
                        .inner
                        .open_questions
                        .lock()
                        .unwrap_or_else(|p| p.into_inner());
                    for (key, q) in &missing {
                        if !open.iter().any(|(k, _)| k == key) {
                            open.push((key.clone(), q.clone()));
                        }
                    }
                    Err(Error::input_required(missing))
                }
            }
            Asker::Unavailable => Err(unreachable_client()),
        }
    }

    /// Legacy questions: real requests to the client, one after the other.
    async fn ask_client(
        &self,
        req: &dyn ClientRequester,
        questions: Vec<(String, InputRequest)>,
    ) -> Result<Vec<Value>, Error> {
        let mut out = Vec::with_capacity(questions.len());
        for (_, q) in questions {
            let params = input_params(&q);
            let fut = req.request(q.method(), params);
            let v = tokio::select! {
                r = fut => r?,
                _ = self.inner.env.cancel.cancelled() => return Err(Error::cancelled()),
            };
            out.push(v);
        }
        Ok(out)
    }

    fn check_capability(&self, q: &InputRequest) -> Result<(), Error> {
        let caps = &self.inner.env.client.caps;
        let (ok, needed) = match q {
            InputRequest::Elicit(ElicitRequestParams::Form(_)) => (
                caps.elicitation.as_ref().is_some_and(|e| e.supports_form()),
                serde_json::json!({"elicitation": {"form": {}}}),
            ),
            InputRequest::Elicit(ElicitRequestParams::Url(_)) => (
                caps.elicitation.as_ref().is_some_and(|e| e.supports_url()),
                serde_json::json!({"elicitation": {"url": {}}}),
            ),
            InputRequest::Sample(_) => {
                (caps.sampling.is_some(), serde_json::json!({"sampling": {}}))
            }
            InputRequest::ListRoots(_) => (caps.roots.is_some(), serde_json::json!({"roots": {}})),
        };
        if ok {
            Ok(())
        } else {
            Err(Error::missing_capability(needed))
        }
    }
}

/// `method` without a copy when it is one of the methods whose handlers get a context (the common case).
fn known_method(method: &str) -> Cow<'static, str> {
    match method {
        methods::TOOLS_CALL => Cow::Borrowed(methods::TOOLS_CALL),
        methods::RESOURCES_READ => Cow::Borrowed(methods::RESOURCES_READ),
        methods::PROMPTS_GET => Cow::Borrowed(methods::PROMPTS_GET),
        methods::COMPLETION_COMPLETE => Cow::Borrowed(methods::COMPLETION_COMPLETE),
        other => Cow::Owned(other.to_owned()),
    }
}

/// Whether a client with `caps` could be asked anything: each question `check_capability`
/// lets through needs one of these. Without any, no handler of its request can end with `input_required`.
pub(crate) fn may_ask(caps: &ClientCapabilities) -> bool {
    caps.elicitation.is_some() || caps.sampling.is_some() || caps.roots.is_some()
}

fn input_params(q: &InputRequest) -> Value {
    match q {
        InputRequest::Elicit(p) => serde_json::to_value(p).unwrap_or_default(),
        InputRequest::Sample(p) => serde_json::to_value(p).unwrap_or_default(),
        InputRequest::ListRoots(p) => p
            .clone()
            .map(Value::Object)
            .unwrap_or_else(|| Value::Object(Default::default())),
    }
}

/// Whether an answer has the shape its question expects; a malformed answer is asked again rather than
/// handed to the handler.
fn answer_fits(q: &InputRequest, v: &Value) -> bool {
    match q {
        InputRequest::Elicit(_) => serde_json::from_value::<ElicitResult>(v.clone()).is_ok(),
        InputRequest::Sample(_) => serde_json::from_value::<CreateMessageResult>(v.clone()).is_ok(),
        InputRequest::ListRoots(_) => serde_json::from_value::<ListRootsResult>(v.clone()).is_ok(),
    }
}

fn unreachable_client() -> Error {
    Error::internal(
        "this request cannot reach the client (open an SSE response stream to allow server requests)",
    )
}
