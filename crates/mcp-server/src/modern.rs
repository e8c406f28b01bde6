//! The modern era (2026-07-28): every request carries its own `_meta`; no state between requests.

use futures::future::Either;
use mcp_protocol::types::{
    methods, CacheScope, ClientCapabilities, Implementation, ListenParams, LoggingLevel,
    SubscriptionFilter,
};
use mcp_protocol::{
    error_code, meta, ErrorObject, JsonObject, Message, Notification, ProtocolVersion, Request,
};
use serde::Deserialize;
use serde_json::{json, Value};
use std::future::{ready, Future};
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::context::{Asker, ClientDescription, Envelope, Principal};
use crate::core::CoreOutcome;
use crate::middleware::{McpResponse, Route};
use crate::reply::{Outcome, ResultJson};
use crate::tasks::{missing_tasks_capability, TaskEvent, TaskOwner};
use crate::ScopeGuard;
use crate::{Server, ServerEvent};
use mcp_protocol::types::TASKS_EXTENSION;

/// What a transport supplies for one request, whatever the era.
#[derive(Clone, Default)]
pub(crate) struct TransportEnv {
    /// Where request-related notifications go (progress, logs; legacy server requests too).
    pub notifier: Option<crate::notifier::Notifier>,
    pub cancel: CancellationToken,
    pub principal: Option<Principal>,
    /// Lets the handler close its SSE stream for polling (legacy HTTP only): notified once to close it.
    pub stream_control: Option<std::sync::Arc<tokio::sync::Notify>>,
    /// Per-item scopes an HTTP auth layer asks to be checked before the request runs (see
    /// [`crate::auth::ScopeLayer`]); the transport only carries it.
    pub scope_guard: Option<ScopeGuard>,
    /// The HTTP request's trace headers (empty without the `otel` feature).
    pub trace: crate::trace_context::TraceHeaders,
}

impl TransportEnv {
    /// The refusal of `req` by the scope guard, if there is one and the caller lacks a scope.
    pub(crate) fn refuse(&self, req: &Request) -> Option<McpResponse> {
        let guard = self.scope_guard.as_ref()?;
        guard.refuse(&req.method, req.params.as_ref(), self.principal.as_ref())
    }
}

/// The per-request metadata of a modern request, validated.
pub(crate) struct ModernMeta {
    pub version: ProtocolVersion,
    pub client: Arc<ClientDescription>,
    pub log_level: Option<LoggingLevel>,
}

/// Methods that exist only on the legacy era; a modern request for them is "method not found".
pub(crate) fn is_legacy_only(method: &str) -> bool {
    matches!(
        method,
        methods::INITIALIZE
            | methods::PING
            | methods::LOGGING_SET_LEVEL
            | methods::RESOURCES_SUBSCRIBE
            | methods::RESOURCES_UNSUBSCRIBE
    )
}

/// Whether a request speaks the modern era (its `_meta` names a protocol version).
pub(crate) fn has_modern_meta(req: &Request) -> bool {
    req.meta()
        .is_some_and(|m| m.contains_key(meta::PROTOCOL_VERSION))
}

/// The versions a modern request may name.
pub(crate) fn modern_versions() -> Vec<String> {
    ProtocolVersion::ALL
        .iter()
        .filter(|v| v.era() == mcp_protocol::Era::Modern)
        .map(|v| v.to_string())
        .collect()
}

/// -32022 for a version we do not serve statelessly.
pub(crate) fn unsupported_version(requested: &str) -> ErrorObject {
    ErrorObject::new(
        error_code::UNSUPPORTED_PROTOCOL_VERSION,
        format!("Unsupported protocol version: {requested}"),
    )
    .with_data(json!({ "supported": modern_versions(), "requested": requested }))
}

/// Several problems as one message: the only one as is, or all of them counted and listed.
pub(crate) fn problems_message(problems: &[String]) -> String {
    match problems {
        [one] => one.clone(),
        all => format!("{} problems: {}", all.len(), all.join("; ")),
    }
}

/// Everything wrong with the `_meta` of a modern request, all at once, so a client built by hand needs one
/// try to learn what to fix. The version's support is judged later (it is a different error).
#[cfg(feature = "http")]
pub(crate) fn meta_problems(req: &Request) -> Vec<String> {
    read_meta_fields(req).problems
}

/// The members of a modern request's `_meta` the server reads, and everything wrong with them.
struct MetaFields<'a> {
    version: Option<&'a str>,
    caps: Option<ClientCapabilities>,
    info: Option<&'a Value>,
    log_level: Option<&'a Value>,
    problems: Vec<String>,
}

fn read_meta_fields(req: &Request) -> MetaFields<'_> {
    let mut fields = MetaFields {
        version: None,
        caps: None,
        info: None,
        log_level: None,
        problems: Vec::new(),
    };
    let Some(m) = req.meta() else {
        fields.problems.push(format!(
            "params._meta is required on 2026-07-28, with \"{}\" and \"{}\" (clients of 2025-11-25 and \
             earlier send initialize first)",
            meta::PROTOCOL_VERSION,
            meta::CLIENT_CAPABILITIES
        ));
        return fields;
    };
    // One pass over the members rather than a lookup of each (the keys share a long prefix).
    let (mut version, mut caps) = (None, None);
    for (key, value) in m {
        match key.as_str() {
            meta::PROTOCOL_VERSION => version = Some(value),
            meta::CLIENT_CAPABILITIES => caps = Some(value),
            meta::CLIENT_INFO => fields.info = Some(value),
            meta::LOG_LEVEL => fields.log_level = Some(value),
            _ => {}
        }
    }
    let problems = &mut fields.problems;
    fields.version = match version {
        Some(Value::String(v)) => Some(v.as_str()),
        Some(other) => {
            problems.push(format!(
                "_meta[\"{}\"] must be a string such as \"2026-07-28\", not {other}",
                meta::PROTOCOL_VERSION
            ));
            None
        }
        None => {
            problems.push(format!(
                "_meta[\"{}\"] is required (\"2026-07-28\")",
                meta::PROTOCOL_VERSION
            ));
            None
        }
    };
    fields.caps = match caps {
        Some(v @ Value::Object(_)) => match ClientCapabilities::deserialize(v) {
            Ok(c) => Some(c),
            Err(e) => {
                problems.push(format!("invalid clientCapabilities: {e}"));
                None
            }
        },
        Some(_) => {
            problems.push(format!(
                "_meta[\"{}\"] must be an object ({{}} when the client has none)",
                meta::CLIENT_CAPABILITIES
            ));
            None
        }
        None => {
            problems.push(format!(
                "_meta[\"{}\"] is required ({{}} when the client has none)",
                meta::CLIENT_CAPABILITIES
            ));
            None
        }
    };
    fields
}

/// Validate the `_meta` of a modern request. Every missing or invalid field is named in one error.
pub(crate) fn read_meta(req: &Request) -> Result<ModernMeta, ErrorObject> {
    let fields = read_meta_fields(req);
    let (Some(version), Some(caps), true) =
        (fields.version, fields.caps, fields.problems.is_empty())
    else {
        return Err(
            ErrorObject::invalid_params(problems_message(&fields.problems))
                .with_data(json!({ "problems": fields.problems })),
        );
    };
    let version = match version.parse::<ProtocolVersion>() {
        Ok(v) if v.era() == mcp_protocol::Era::Modern => v,
        _ => return Err(unsupported_version(version)),
    };
    let info = fields
        .info
        .and_then(|v| Implementation::deserialize(v).ok());
    let log_level = fields
        .log_level
        .and_then(|v| LoggingLevel::deserialize(v).ok());
    Ok(ModernMeta {
        version,
        client: Arc::new(ClientDescription { caps, info }),
        log_level,
    })
}

impl Server {
    /// Serve one modern request, through the server's layers. A cancelled request answers nothing.
    /// (Not an `async fn`, for the reason given at [`Server::run_core`].)
    pub(crate) fn handle_modern(
        &self,
        req: Request,
        t: TransportEnv,
    ) -> impl Future<Output = McpResponse> + Send + '_ {
        if is_legacy_only(&req.method) {
            return Either::Left(ready(McpResponse::error(ErrorObject::method_not_found(
                &req.method,
            ))));
        }
        let m = match read_meta(&req) {
            Ok(m) => m,
            Err(e) => return Either::Left(ready(McpResponse::error(e))),
        };
        if let Some(refusal) = t.refuse(&req) {
            return Either::Left(ready(refusal));
        }
        let scope = if t.principal.is_some() {
            CacheScope::Private
        } else {
            CacheScope::Public
        };
        let env = Envelope {
            version: m.version,
            client: m.client,
            log_level: m.log_level,
            notifier: t.notifier,
            asker: Asker::Modern,
            cancel: t.cancel,
            principal: t.principal,
            stream_control: None,
            trace: t.trace,
        };
        Either::Right(self.through_layers(req, Route::Modern { env, scope }))
    }

    /// Add the modern result fields: `resultType`, `_meta.serverInfo`, and `ttlMs`/`cacheScope` on cacheable
    /// complete results.
    pub(crate) fn decorate_modern(
        &self,
        cacheable: bool,
        outcome: CoreOutcome,
        scope: CacheScope,
    ) -> Outcome {
        let (result, kind) = match outcome {
            CoreOutcome::Complete(r) => (r, "complete"),
            CoreOutcome::Task(r) => (r, "task"),
            CoreOutcome::InputRequired(r) => (
                match ResultJson::of(&r) {
                    Ok(r) => r,
                    Err(e) => return Some(Err(e)),
                },
                "input_required",
            ),
            CoreOutcome::Error(e) => return Some(Err(e)),
            CoreOutcome::Cancelled => return None,
        };
        let cache = (kind == "complete" && cacheable).then_some(scope);
        Some(self.modern_fields(result, kind, cache))
    }

    /// `result` with the modern fields added. The common case, a result without `_meta`, is spliced as text;
    /// a result with its own `_meta` gets `serverInfo` merged into it.
    fn modern_fields(
        &self,
        result: ResultJson,
        kind: &str,
        cache: Option<CacheScope>,
    ) -> Result<ResultJson, ErrorObject> {
        let ttl_ms = self.inner.options.cache_ttl.as_millis() as u64;
        let scope_text = |scope: CacheScope| match scope {
            CacheScope::Public => "public",
            CacheScope::Private => "private",
        };
        let text = result.text();
        // Serialized result structs are compact objects with fixed keys, so `"_meta":` can only be a key here
        // (inside a string the quote would be escaped); a nested `_meta` also takes the merging path, which is
        // always right, only slower.
        let inner = match text.strip_prefix('{').and_then(|t| t.strip_suffix('}')) {
            Some(inner) if !text.contains("\"_meta\":") => inner,
            _ => {
                let Value::Object(obj) = result.into_value() else {
                    return Err(ErrorObject::internal("a result must be a JSON object"));
                };
                return ResultJson::of(&self.merge_modern_fields(obj, kind, cache));
            }
        };
        let info = &self.inner.info_json;
        let mut s = String::with_capacity(text.len() + info.len() + 112);
        s.push_str("{\"resultType\":\"");
        s.push_str(kind);
        s.push('"');
        if let Some(scope) = cache {
            use std::fmt::Write as _;
            let _ = write!(
                s,
                ",\"ttlMs\":{ttl_ms},\"cacheScope\":\"{}\"",
                scope_text(scope)
            );
        }
        if !inner.is_empty() {
            s.push(',');
            s.push_str(inner);
        }
        s.push_str(",\"_meta\":{\"");
        s.push_str(meta::SERVER_INFO);
        s.push_str("\":");
        s.push_str(info);
        s.push_str("}}");
        Ok(ResultJson::from_spliced(s))
    }

    /// The modern fields merged into a result object: the general path, and the reference the spliced text is
    /// tested against.
    fn merge_modern_fields(
        &self,
        mut obj: JsonObject,
        kind: &str,
        cache: Option<CacheScope>,
    ) -> JsonObject {
        obj.insert("resultType".into(), Value::String(kind.into()));
        if let Some(scope) = cache {
            let ttl_ms = self.inner.options.cache_ttl.as_millis() as u64;
            obj.insert("ttlMs".into(), json!(ttl_ms));
            obj.insert("cacheScope".into(), json!(scope));
        }
        self.stamp_server_info(&mut obj);
        obj
    }

    fn stamp_server_info(&self, obj: &mut JsonObject) {
        let meta = obj
            .entry("_meta")
            .or_insert_with(|| Value::Object(JsonObject::new()));
        if let Value::Object(meta) = meta {
            meta.insert(
                mcp_protocol::meta::SERVER_INFO.into(),
                self.inner.info_value.clone(),
            );
        }
    }

    /// The subset of a listen filter this server honours.
    fn honoured(&self, f: &SubscriptionFilter) -> SubscriptionFilter {
        let caps = &self.inner.capabilities;
        let lc = |c: Option<bool>| c == Some(true);
        SubscriptionFilter {
            tools_list_changed: f
                .tools_list_changed
                .filter(|on| *on && lc(caps.tools.as_ref().and_then(|t| t.list_changed))),
            prompts_list_changed: f
                .prompts_list_changed
                .filter(|on| *on && lc(caps.prompts.as_ref().and_then(|t| t.list_changed))),
            resources_list_changed: f
                .resources_list_changed
                .filter(|on| *on && lc(caps.resources.as_ref().and_then(|t| t.list_changed))),
            resource_subscriptions: f
                .resource_subscriptions
                .clone()
                .filter(|_| lc(caps.resources.as_ref().and_then(|r| r.subscribe))),
            // Decided by `listen_tasks`, which needs the store.
            task_ids: None,
        }
    }

    /// The `taskIds` of a listen filter this server honours: the caller's own tasks among them (another
    /// caller's task is left out exactly like an unknown one), with the task events to watch for them. `-32021`
    /// when the client asks for task ids without declaring the tasks extension.
    async fn listen_tasks(
        &self,
        req: &Request,
        wanted: Option<&Vec<String>>,
        principal: &Option<Principal>,
    ) -> Result<Option<TaskWatch>, ErrorObject> {
        let (Some(tasks), Some(wanted)) = (&self.inner.tasks, wanted) else {
            return Ok(None);
        };
        let declares = read_meta(req).is_ok_and(|m| {
            m.client
                .caps
                .extensions
                .as_ref()
                .is_some_and(|e| e.contains_key(TASKS_EXTENSION))
        });
        if !declares {
            return Err(missing_tasks_capability(
                "subscriptions/listen with taskIds",
            ));
        }
        if wanted.len() > MAX_LISTEN_TASKS {
            return Err(ErrorObject::invalid_params(format!(
                "at most {MAX_LISTEN_TASKS} taskIds per subscriptions/listen"
            )));
        }
        // Subscribed before the tasks are looked up, so no change after the lookup is missed.
        let events = tasks.subscribe();
        let mut ids = Vec::new();
        for id in wanted {
            if !ids.contains(id) && tasks.find(id, principal).await.is_ok() {
                ids.push(id.clone());
            }
        }
        Ok(Some(TaskWatch {
            events,
            ids,
            owner: TaskOwner::of(principal),
        }))
    }

    /// Run a `subscriptions/listen` stream: acknowledge, then forward matching events, each tagged with the
    /// subscription id, until `cancel`. Returns the final result to send if the transport can still send one.
    /// The request's `_meta` must already have been validated. `principal` is the caller: it hears only of
    /// its own tasks.
    pub(crate) async fn run_listen(
        &self,
        req: &Request,
        out: mpsc::Sender<Message>,
        cancel: CancellationToken,
        principal: &Option<Principal>,
    ) -> Result<ResultJson, ErrorObject> {
        // Each subscribed URI is capped like a read, before the params are copied.
        if let Some(Value::Array(uris)) = req
            .params
            .as_ref()
            .and_then(|p| p.pointer("/notifications/resourceSubscriptions"))
        {
            for uri in uris.iter().filter_map(Value::as_str) {
                self.check_uri_length(uri)?;
            }
        }
        let params: ListenParams = serde_json::from_value(req.params.clone().unwrap_or(json!({})))
            .map_err(ErrorObject::invalid_params)?;
        let mut filter = self.honoured(&params.notifications);
        let mut watch = self
            .listen_tasks(req, params.notifications.task_ids.as_ref(), principal)
            .await?;
        if let Some(w) = &watch {
            filter.task_ids = Some(w.ids.clone());
        }
        let sub_id = serde_json::to_value(&req.id).unwrap_or_default();
        let tag = |mut params: JsonObject| {
            let mut m = JsonObject::new();
            m.insert(meta::SUBSCRIPTION_ID.into(), sub_id.clone());
            params.insert("_meta".into(), Value::Object(m));
            Some(Value::Object(params))
        };
        // Subscribe before acknowledging so no event between the two is lost.
        let mut events = self.events();
        // Events raised on other nodes of a fleet come on a channel of their own (so they are never sent
        // back to the fleet); a listener hears both alike. A server in no fleet has no such channel, and its
        // listens pay nothing for it.
        let mut fleet = self.inner.fleet_events.get().map(|tx| tx.subscribe());
        let mut ack = JsonObject::new();
        ack.insert(
            "notifications".into(),
            serde_json::to_value(&filter).unwrap_or_default(),
        );
        let ack = Notification::new(methods::NOTIF_SUBSCRIPTIONS_ACKNOWLEDGED, tag(ack));
        if out.send(Message::Notification(ack)).await.is_err() {
            return Err(ErrorObject::internal("stream closed"));
        }
        loop {
            let ev = tokio::select! {
                ev = events.recv() => ev,
                ev = async { match fleet.as_mut() { Some(f) => f.recv().await, None => std::future::pending().await } } => ev,
                ev = next_task_event(&mut watch) => match ev {
                    Some(n) => {
                        if out.send(Message::Notification(Notification::new(methods::NOTIF_TASKS, tag(n)))).await.is_err() {
                            break;
                        }
                        continue;
                    }
                    None => continue,
                },
                _ = cancel.cancelled() => break,
                _ = out.closed() => break,
            };
            let n = match ev {
                Ok(ServerEvent::ToolsListChanged) if filter.tools_list_changed == Some(true) => {
                    Notification::new(methods::NOTIF_TOOLS_LIST_CHANGED, tag(JsonObject::new()))
                }
                Ok(ServerEvent::PromptsListChanged)
                    if filter.prompts_list_changed == Some(true) =>
                {
                    Notification::new(methods::NOTIF_PROMPTS_LIST_CHANGED, tag(JsonObject::new()))
                }
                Ok(ServerEvent::ResourcesListChanged)
                    if filter.resources_list_changed == Some(true) =>
                {
                    Notification::new(
                        methods::NOTIF_RESOURCES_LIST_CHANGED,
                        tag(JsonObject::new()),
                    )
                }
                Ok(ServerEvent::ResourceUpdated(uri))
                    if filter
                        .resource_subscriptions
                        .as_ref()
                        .is_some_and(|s| s.contains(&uri)) =>
                {
                    let mut p = JsonObject::new();
                    p.insert("uri".into(), Value::String(uri));
                    Notification::new(methods::NOTIF_RESOURCES_UPDATED, tag(p))
                }
                Ok(_) => continue,
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(missed = n, "listen stream lagged behind server events");
                    continue;
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
            };
            if out.send(Message::Notification(n)).await.is_err() {
                break;
            }
        }
        let mut result = JsonObject::new();
        result.insert("resultType".into(), Value::String("complete".into()));
        let mut m = JsonObject::new();
        m.insert(meta::SUBSCRIPTION_ID.into(), sub_id);
        result.insert("_meta".into(), Value::Object(m));
        self.stamp_server_info(&mut result);
        ResultJson::of(&result)
    }
}

/// At most this many task ids in one listen filter: each is looked up in the store.
const MAX_LISTEN_TASKS: usize = 1_000;

/// The tasks a listen stream reports on.
struct TaskWatch {
    events: tokio::sync::broadcast::Receiver<TaskEvent>,
    ids: Vec<String>,
    owner: Option<TaskOwner>,
}

/// The params of the next `notifications/tasks` for `watch` (`None`: an event for others, or events were
/// missed); pending forever without a watch.
async fn next_task_event(watch: &mut Option<TaskWatch>) -> Option<JsonObject> {
    let Some(w) = watch else {
        return std::future::pending().await;
    };
    match w.events.recv().await {
        Ok(ev) if ev.owner == w.owner && w.ids.iter().any(|i| **i == *ev.id) => {
            match ev.task.as_ref() {
                Value::Object(o) => Some(o.clone()),
                _ => None,
            }
        }
        Ok(_) => None,
        Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
            tracing::warn!(
                missed = n,
                "listen stream lagged behind task status changes"
            );
            None
        }
        // The server is going away (it holds the sender): nothing more will come.
        Err(tokio::sync::broadcast::error::RecvError::Closed) => {
            *watch = None;
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mcp_protocol::types::CallToolResult;

    #[test]
    fn spliced_modern_fields_equal_merged_ones() {
        let server = Server::builder("splice", "1.0.0").build();
        let mut with_meta = CallToolResult::text("x");
        with_meta.meta = Some(JsonObject::from_iter([("mine".to_owned(), json!(1))]));
        let cases = [
            (json!({}), "complete", None),
            (json!({}), "complete", Some(CacheScope::Public)),
            (
                serde_json::to_value(CallToolResult::text("a \"_meta\": b")).unwrap(),
                "complete",
                None,
            ),
            (
                json!({"tools": [], "nextCursor": "b2"}),
                "complete",
                Some(CacheScope::Private),
            ),
            (serde_json::to_value(&with_meta).unwrap(), "complete", None),
            (
                json!({"content": [{"type": "text", "text": "t", "_meta": {"k": true}}]}),
                "complete",
                None,
            ),
            (json!({"requestState": "s"}), "input_required", None),
        ];
        for (result, kind, cache) in cases {
            let spliced = server
                .modern_fields(ResultJson::of(&result).unwrap(), kind, cache)
                .unwrap();
            let spliced: Value = serde_json::from_str(spliced.text()).unwrap();
            let Value::Object(obj) = result.clone() else {
                unreachable!("every case is an object")
            };
            let merged = Value::Object(server.merge_modern_fields(obj, kind, cache));
            assert_eq!(spliced, merged, "{result}");
        }
        // The handler's own `_meta` keeps its entries next to serverInfo.
        let r = server
            .modern_fields(ResultJson::of(&with_meta).unwrap(), "complete", None)
            .unwrap()
            .into_value();
        assert_eq!(r["_meta"]["mine"], json!(1));
        assert!(r["_meta"][meta::SERVER_INFO]["name"] == "splice");
    }
}

#[cfg(test)]
mod listen_tasks_tests {
    use super::*;
    use crate::TaskPolicy;

    fn principal(subject: &str) -> Option<Principal> {
        Some(Principal {
            subject: subject.into(),
            scopes: vec![],
            client_id: None,
        })
    }

    /// The taskIds the listen of `caller` is acknowledged with.
    async fn acknowledged(server: &Server, ids: Value, caller: &Option<Principal>) -> Value {
        let req: Request = serde_json::from_value(json!({
            "jsonrpc": "2.0", "id": 7, "method": "subscriptions/listen",
            "params": {"notifications": {"taskIds": ids}, "_meta": {
                meta::PROTOCOL_VERSION: "2026-07-28",
                meta::CLIENT_CAPABILITIES: {"extensions": {TASKS_EXTENSION: {}}},
            }},
        }))
        .unwrap();
        let (tx, mut rx) = mpsc::channel(8);
        let cancel = CancellationToken::new();
        let (server, caller, c) = (server.clone(), caller.clone(), cancel.clone());
        let run = tokio::spawn(async move { server.run_listen(&req, tx, c, &caller).await });
        let Some(Message::Notification(ack)) = rx.recv().await else {
            panic!("no acknowledgement")
        };
        cancel.cancel();
        run.await.unwrap().unwrap();
        ack.params.unwrap()["notifications"]["taskIds"].clone()
    }

    #[tokio::test]
    async fn a_listener_is_agreed_only_its_own_tasks() {
        let server = Server::builder("s", "1.0.0")
            .tool_tasks("t", TaskPolicy::optional())
            .build();
        let tasks = server.inner.tasks.clone().unwrap();
        let alice = principal("alice");
        let id = tasks
            .create(&alice, CancellationToken::new())
            .await
            .unwrap()
            .id()
            .to_owned();
        let ids = json!([id, "nope"]);
        assert_eq!(
            acknowledged(&server, ids.clone(), &alice).await,
            json!([id])
        );
        assert_eq!(
            acknowledged(&server, ids.clone(), &principal("bob")).await,
            json!([])
        );
        assert_eq!(acknowledged(&server, ids, &None).await, json!([]));
    }
}
