//! Typed calls: tools, resources, prompts, completion and logging.

use std::collections::BTreeMap;

use mcp_protocol::types::{
    methods, CallToolResult, CompleteParams, CompleteResult, GetPromptResult, ListPromptsResult,
    ListResourceTemplatesResult, ListResourcesResult, ListToolsResult, LoggingLevel, Prompt,
    ReadResourceResult, Resource, ResourceTemplate, Tool,
};
use mcp_protocol::{error_code, Era, JsonObject};
use serde_json::{json, Value};

use super::handle::Client;
use super::inner::{parse, Inner, ReqCtx};
use super::options::CallOptions;
use crate::error::Error;
use crate::transport::{SendOptions, TransportKind};

impl Client {
    // ----- tools ---------------------------------------------------------------------------------------

    /// One page of `tools/list`. On modern HTTP, tools with invalid `x-mcp-header` annotations are dropped
    /// (with a warning), as the spec requires.
    pub async fn list_tools(&self, cursor: Option<String>) -> Result<ListToolsResult, Error> {
        let key = cursor.clone().unwrap_or_default();
        let params = cursor.map(|c| json!({ "cursor": c }));
        let v = self
            .inner
            .cached_request(methods::TOOLS_LIST, params, &key)
            .await?;
        let mut r: ListToolsResult = parse(v)?;
        self.inner.absorb_tools(&mut r.tools);
        Ok(r)
    }

    /// Every tool, following `nextCursor` to the end.
    pub async fn list_all_tools(&self) -> Result<Vec<Tool>, Error> {
        self.paginate(|c| async move {
            let r = self.list_tools(c).await?;
            Ok((r.tools, r.next_cursor))
        })
        .await
    }

    /// Call a tool with arguments (a JSON object, or `null` for none).
    ///
    /// On the modern era this runs the multi round-trip loop: when the server answers `input_required`, the
    /// configured handlers answer each input request and the call is retried (new id, same arguments,
    /// `inputResponses`, and `requestState` echoed exactly), up to [`ClientOptions::max_input_rounds`](crate::ClientOptions::max_input_rounds). On the
    /// legacy era the server asks through real requests instead, answered by the same handlers.
    ///
    /// `structuredContent` is checked against the tool's `outputSchema` when the tool was listed.
    pub async fn call_tool(&self, name: &str, arguments: Value) -> Result<CallToolResult, Error> {
        self.call_tool_with(name, arguments, CallOptions::default())
            .await
    }

    /// [`call_tool`](Self::call_tool) with a timeout, progress and cancellation.
    ///
    /// A call the server turns into a task (tasks extension, when the client declares it with
    /// [`ClientBuilder::tasks`](crate::ClientBuilder::tasks)) is followed to its end: polled at the server's
    /// interval, its questions answered through the handlers, cancelled with `tasks/cancel` when
    /// `options.cancel` fires; `options.timeout` then bounds each request and the whole wait.
    pub async fn call_tool_with(
        &self,
        name: &str,
        arguments: Value,
        options: CallOptions,
    ) -> Result<CallToolResult, Error> {
        let v = self
            .call_tool_value(name, arguments, options.clone())
            .await?;
        let r: CallToolResult = if v.get("resultType").and_then(Value::as_str) == Some("task") {
            self.task_from(&v)?.wait_with(&options).await?
        } else {
            parse(v)?
        };
        self.inner.validate_output(name, &r)?;
        Ok(r)
    }

    /// A `tools/call` through the MRTR loop, its result as the server sent it (complete or a task).
    pub(super) async fn call_tool_value(
        &self,
        name: &str,
        arguments: Value,
        options: CallOptions,
    ) -> Result<Value, Error> {
        let args = match arguments {
            Value::Null => None,
            Value::Object(m) => Some(m),
            _ => {
                return Err(Error::protocol(
                    "tool arguments must be a JSON object".into(),
                ))
            }
        };
        let modern_http = self.inner.kind == TransportKind::Http && self.era() == Era::Modern;
        if modern_http && self.inner.tool_meta(name).is_none() {
            // The x-mcp-header annotations decide which headers to send: learn them first.
            if let Err(e) = self.list_all_tools().await {
                tracing::debug!(error = %e, "could not list tools before calling one");
            }
        }
        let mut relisted = false;
        loop {
            let meta = self.inner.tool_meta(name);
            let hints = if modern_http {
                Inner::param_headers(meta.as_deref(), args.as_ref())
            } else {
                SendOptions::default()
            };
            let mut base = JsonObject::new();
            base.insert("name".into(), Value::String(name.to_owned()));
            if let Some(a) = &args {
                base.insert("arguments".into(), Value::Object(a.clone()));
            }
            let ctx = ReqCtx {
                call: options.clone(),
                hints,
                ..Default::default()
            };
            match self.inner.run_mrtr(methods::TOOLS_CALL, base, &ctx).await {
                Err(e) if e.code() == Some(error_code::HEADER_MISMATCH) && !relisted => {
                    // Our idea of the tool's headers is stale: re-list and retry once.
                    relisted = true;
                    self.inner.cache.invalidate_method(methods::TOOLS_LIST);
                    self.list_all_tools().await?;
                }
                Err(e) => return Err(e),
                Ok((v, _)) => return Ok(v),
            }
        }
    }

    // ----- resources -----------------------------------------------------------------------------------

    /// One page of `resources/list`.
    pub async fn list_resources(
        &self,
        cursor: Option<String>,
    ) -> Result<ListResourcesResult, Error> {
        let key = cursor.clone().unwrap_or_default();
        let params = cursor.map(|c| json!({ "cursor": c }));
        parse(
            self.inner
                .cached_request(methods::RESOURCES_LIST, params, &key)
                .await?,
        )
    }

    /// Every resource, following `nextCursor` to the end.
    pub async fn list_all_resources(&self) -> Result<Vec<Resource>, Error> {
        self.paginate(|c| async move {
            let r = self.list_resources(c).await?;
            Ok((r.resources, r.next_cursor))
        })
        .await
    }

    /// One page of `resources/templates/list`.
    pub async fn list_resource_templates(
        &self,
        cursor: Option<String>,
    ) -> Result<ListResourceTemplatesResult, Error> {
        let key = cursor.clone().unwrap_or_default();
        let params = cursor.map(|c| json!({ "cursor": c }));
        parse(
            self.inner
                .cached_request(methods::RESOURCES_TEMPLATES_LIST, params, &key)
                .await?,
        )
    }

    /// Every resource template, following `nextCursor` to the end.
    pub async fn list_all_resource_templates(&self) -> Result<Vec<ResourceTemplate>, Error> {
        self.paginate(|c| async move {
            let r = self.list_resource_templates(c).await?;
            Ok((r.resource_templates, r.next_cursor))
        })
        .await
    }

    /// `resources/read` (runs the MRTR loop on the modern era; a single-round result is cached per its `ttlMs`).
    pub async fn read_resource(&self, uri: &str) -> Result<ReadResourceResult, Error> {
        self.read_resource_with(uri, CallOptions::default()).await
    }

    /// [`read_resource`](Self::read_resource) with a timeout, progress and cancellation.
    pub async fn read_resource_with(
        &self,
        uri: &str,
        options: CallOptions,
    ) -> Result<ReadResourceResult, Error> {
        let inner = &self.inner;
        let cacheable = inner.opts.cache && inner.era() == Era::Modern;
        let auth = inner.transport.auth_context();
        if cacheable {
            if let Some(v) = inner
                .cache
                .get(methods::RESOURCES_READ, uri, auth.as_deref())
            {
                return parse(v);
            }
        }
        let mut base = JsonObject::new();
        base.insert("uri".into(), Value::String(uri.to_owned()));
        let ctx = ReqCtx {
            call: options,
            ..Default::default()
        };
        let (v, rounds) = inner.run_mrtr(methods::RESOURCES_READ, base, &ctx).await?;
        // A result that needed input rounds is never cached.
        if cacheable && rounds == 0 {
            inner.cache.put(
                methods::RESOURCES_READ,
                uri,
                inner.transport.auth_context().as_deref(),
                &v,
            );
        }
        parse(v)
    }

    /// `resources/subscribe` (legacy). The subscription is restored after session recovery.
    pub async fn subscribe_resource(&self, uri: &str) -> Result<(), Error> {
        if self.era() != Era::Legacy {
            return Err(Error::unsupported(
                "resources/subscribe was replaced by subscriptions/listen in 2026-07-28; use Client::listen",
            ));
        }
        self.inner
            .request(
                methods::RESOURCES_SUBSCRIBE,
                Some(json!({ "uri": uri })),
                &ReqCtx::default(),
            )
            .await?;
        self.inner.state_mut().subscriptions.insert(uri.to_owned());
        Ok(())
    }

    /// `resources/unsubscribe` (legacy).
    pub async fn unsubscribe_resource(&self, uri: &str) -> Result<(), Error> {
        if self.era() != Era::Legacy {
            return Err(Error::unsupported(
                "resources/unsubscribe was removed in 2026-07-28",
            ));
        }
        self.inner.state_mut().subscriptions.remove(uri);
        self.inner
            .request(
                methods::RESOURCES_UNSUBSCRIBE,
                Some(json!({ "uri": uri })),
                &ReqCtx::default(),
            )
            .await
            .map(drop)
    }

    // ----- prompts -------------------------------------------------------------------------------------

    /// One page of `prompts/list`.
    pub async fn list_prompts(&self, cursor: Option<String>) -> Result<ListPromptsResult, Error> {
        let key = cursor.clone().unwrap_or_default();
        let params = cursor.map(|c| json!({ "cursor": c }));
        parse(
            self.inner
                .cached_request(methods::PROMPTS_LIST, params, &key)
                .await?,
        )
    }

    /// Every prompt, following `nextCursor` to the end.
    pub async fn list_all_prompts(&self) -> Result<Vec<Prompt>, Error> {
        self.paginate(|c| async move {
            let r = self.list_prompts(c).await?;
            Ok((r.prompts, r.next_cursor))
        })
        .await
    }

    /// `prompts/get` (runs the MRTR loop on the modern era).
    pub async fn get_prompt(
        &self,
        name: &str,
        arguments: Option<BTreeMap<String, String>>,
    ) -> Result<GetPromptResult, Error> {
        let mut base = JsonObject::new();
        base.insert("name".into(), Value::String(name.to_owned()));
        if let Some(a) = arguments {
            base.insert(
                "arguments".into(),
                serde_json::to_value(a).unwrap_or_default(),
            );
        }
        let (v, _) = self
            .inner
            .run_mrtr(methods::PROMPTS_GET, base, &ReqCtx::default())
            .await?;
        parse(v)
    }

    // ----- completion and logging -------------------------------------------------------------------

    /// `completion/complete`.
    pub async fn complete(&self, params: CompleteParams) -> Result<CompleteResult, Error> {
        let p = serde_json::to_value(params).map_err(|e| Error::protocol(e.to_string()))?;
        parse(
            self.inner
                .request(methods::COMPLETION_COMPLETE, Some(p), &ReqCtx::default())
                .await?,
        )
    }

    /// Set the minimum log level: `logging/setLevel` on the legacy era (restored after session recovery);
    /// on the modern era it is sent as `_meta.logLevel` with every later request.
    pub async fn set_log_level(&self, level: LoggingLevel) -> Result<(), Error> {
        if self.era() == Era::Legacy {
            self.inner
                .request(
                    methods::LOGGING_SET_LEVEL,
                    Some(json!({ "level": level })),
                    &ReqCtx::default(),
                )
                .await?;
        }
        self.inner.state_mut().log_level = Some(level);
        Ok(())
    }

    /// Tell a legacy server that the client's roots changed.
    pub async fn notify_roots_list_changed(&self) -> Result<(), Error> {
        if self.era() != Era::Legacy {
            return Err(Error::unsupported(
                "notifications/roots/list_changed was removed in 2026-07-28",
            ));
        }
        self.notify(methods::NOTIF_ROOTS_LIST_CHANGED, None).await
    }
}
