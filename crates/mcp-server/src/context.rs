//! The handler's view of one request: who is asking, how to report progress and logs, and one API for asking
//! the client (elicitation, sampling, roots) that works on both eras.

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
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::form::{ElicitForm, Elicitation};
use crate::Error;

/// Sends a request to the client and awaits the answer (legacy era: real server→client requests).
pub trait ClientRequester: Send + Sync {
    /// Send `method` with `params` and await the result.
    fn request(
        &self,
        method: &'static str,
        params: Value,
    ) -> BoxFuture<'_, Result<Value, mcp_rpc::RpcError>>;
}

/// How a handler's questions reach the client.
#[derive(Clone)]
pub(crate) enum Asker {
    /// Legacy: send a real request.
    Legacy(Arc<dyn ClientRequester>),
    /// Modern: answer from `inputResponses`, else end with `input_required`.
    Modern,
    /// Nowhere to send (e.g. a legacy request answered with plain JSON).
    Unavailable,
}

/// An authenticated caller, set by the auth layer.
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
    pub notifier: Option<mpsc::Sender<Message>>,
    pub asker: Asker,
    pub cancel: CancellationToken,
    pub principal: Option<Principal>,
    pub stream_control: Option<Arc<dyn Fn() + Send + Sync>>,
}

struct Round {
    responses: JsonObject,
    state: Option<Value>,
}

pub(crate) struct Inner {
    pub id: RequestId,
    pub method: String,
    pub env: Envelope,
    pub progress_token: Option<Value>,
    pub meta: JsonObject,
    round: Mutex<Round>,
    last_progress: Mutex<Option<f64>>,
    /// Keys this run asked through `elicit_as`, to catch a form type asked twice under one key.
    typed_keys: Mutex<Vec<String>>,
}

/// The context of one request, handed to every handler. Cheap to clone.
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
                method: method.to_owned(),
                env,
                progress_token,
                meta,
                round: Mutex::new(Round {
                    responses,
                    state: round_state,
                }),
                last_progress: Mutex::new(None),
                typed_keys: Mutex::new(Vec::new()),
            }),
        }
    }

    /// The request's JSON-RPC id.
    pub fn request_id(&self) -> &RequestId {
        &self.inner.id
    }
    /// The protocol revision this request speaks.
    pub fn protocol_version(&self) -> ProtocolVersion {
        self.inner.env.version
    }
    /// The client's declared capabilities.
    pub fn client_capabilities(&self) -> &ClientCapabilities {
        &self.inner.env.client.caps
    }
    /// The client's self-reported info (never use it for security decisions).
    pub fn client_info(&self) -> Option<&Implementation> {
        self.inner.env.client.info.as_ref()
    }
    /// The authenticated caller, when an auth layer ran.
    pub fn principal(&self) -> Option<&Principal> {
        self.inner.env.principal.as_ref()
    }
    /// The request's `_meta` (trace context and any custom keys).
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
    /// with [`Error::Cancelled`] on their own when the token is cancelled.
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
    ///             Err(Error::Cancelled)
    ///         }
    ///     }
    /// }
    /// # let _ = long_job;
    /// ```
    pub fn cancellation(&self) -> &CancellationToken {
        &self.inner.env.cancel
    }
    /// Whether the request was cancelled.
    pub fn is_cancelled(&self) -> bool {
        self.inner.env.cancel.is_cancelled()
    }

    /// Close this request's SSE stream now while the handler goes on (SEP-1699 polling on legacy Streamable
    /// HTTP): the client reconnects after the server's `retry` delay and receives the rest. A no-op on other
    /// transports.
    pub fn close_sse_stream(&self) {
        if let Some(close) = &self.inner.env.stream_control {
            close();
        }
    }

    async fn notify(&self, method: &str, params: Value) {
        if let Some(tx) = &self.inner.env.notifier {
            let n = Notification::new(method, Some(params));
            let _ = tx.send(Message::Notification(n)).await;
        }
    }

    /// Report progress, if the client asked for it (a progress token in `_meta`). Values that do not
    /// increase are dropped, as the spec requires progress to increase.
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

    /// Whether a log message at `level` would be sent.
    pub fn log_enabled(&self, level: LoggingLevel) -> bool {
        match (self.inner.env.version.era(), self.inner.env.log_level) {
            (_, Some(min)) => level >= min,
            (mcp_protocol::Era::Legacy, None) => true,
            (mcp_protocol::Era::Modern, None) => false,
        }
    }

    /// Send a log message to the client, on this request's stream. On 2026-07-28 nothing is sent unless the
    /// request asked for logs with `_meta.logLevel`.
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
    pub fn round_state<T: DeserializeOwned>(&self) -> Option<T> {
        let r = self.inner.round.lock().unwrap_or_else(|p| p.into_inner());
        r.state.clone().and_then(|v| serde_json::from_value(v).ok())
    }

    /// Set the round state (see [`RequestContext::round_state`]).
    pub fn set_round_state<T: Serialize>(&self, state: &T) {
        let v = serde_json::to_value(state).ok();
        self.inner
            .round
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .state = v;
    }

    pub(crate) fn take_round(&self) -> (JsonObject, Option<Value>) {
        let r = self.inner.round.lock().unwrap_or_else(|p| p.into_inner());
        (r.responses.clone(), r.state.clone())
    }

    /// Ask the user through the client (form or URL mode). `key` names the question; it must be unique within
    /// the handler. Legacy era: sends `elicitation/create` and waits. Modern era: returns the answer when the
    /// client already sent it, else ends the handler (through `?`) with `input_required`.
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
    /// - [`Error::InputRequired`] on 2026-07-28 when the answer is not there yet: pass it on with `?`.
    /// - -32021 (missing capability) when the client did not declare form elicitation.
    /// - An internal error when `T`'s schema is not a flat form (only possible without the derive), or when
    ///   this handler already asked a form under the same key.
    /// - Invalid params when the client's answer does not parse as a `T`.
    /// - [`Error::Cancelled`] when the request is cancelled while waiting, and the errors of
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

    /// Ask for the client's roots. See [`RequestContext::elicit`] for how the eras differ.
    pub async fn list_roots(&self, key: &str) -> Result<ListRootsResult, Error> {
        let v = self
            .ask(vec![(key.to_owned(), InputRequest::ListRoots(None))])
            .await?;
        Ok(serde_json::from_value(
            v.into_iter().next().unwrap_or_default(),
        )?)
    }

    /// Ask several questions at once; answers come back in order as raw JSON. On the modern era every missing
    /// answer is requested in one `input_required` round.
    pub async fn ask(&self, questions: Vec<(String, InputRequest)>) -> Result<Vec<Value>, Error> {
        for (_, q) in &questions {
            self.check_capability(q)?;
        }
        match &self.inner.env.asker {
            Asker::Legacy(req) => {
                let mut out = Vec::with_capacity(questions.len());
                for (_, q) in questions {
                    let params = input_params(&q);
                    let fut = req.request(q.method(), params);
                    let v = tokio::select! {
                        r = fut => r?,
                        _ = self.inner.env.cancel.cancelled() => return Err(Error::Cancelled),
                    };
                    out.push(v);
                }
                Ok(out)
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
                if missing.is_empty() {
                    Ok(answers)
                } else {
                    Err(Error::InputRequired(missing))
                }
            }
            Asker::Unavailable => Err(Error::internal(
                "this request cannot reach the client (open an SSE response stream to allow server requests)",
            )),
        }
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
