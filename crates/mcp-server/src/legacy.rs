//! The legacy era (2024-11-05 … 2025-11-25): the adapter that owns session state around the stateless core.

use std::collections::HashSet;
use std::future::{ready, Future};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use futures::future::Either;
use futures::FutureExt as _;
use mcp_protocol::types::{
    methods, ClientCapabilities, Implementation, InitializeParams, InitializeResult, LoggingLevel,
    ResourceUriParams, SetLevelParams,
};
use mcp_protocol::{Era, ErrorObject, Notification, ProtocolVersion, Request};
use serde::Deserialize;
use serde_json::Value;

use crate::context::{Asker, ClientDescription, Envelope};
use crate::core::CoreOutcome;
use crate::middleware::{McpResponse, Route, SessionHandle};
use crate::modern::TransportEnv;
use crate::reply::{Outcome, ResultJson};
use crate::{Server, ServerEvent};

/// What a legacy session remembers between requests. Kept small: an idle session is only this.
#[derive(Debug)]
pub struct LegacySession {
    pub(crate) version: ProtocolVersion,
    pub(crate) client: Arc<ClientDescription>,
    pub(crate) log_level: Mutex<Option<LoggingLevel>>,
    pub(crate) subscriptions: Mutex<HashSet<String>>,
    pub(crate) initialized: AtomicBool,
}

impl LegacySession {
    /// The negotiated revision.
    pub fn version(&self) -> ProtocolVersion {
        self.version
    }
    /// The client's info from `initialize`.
    pub fn client_info(&self) -> &Implementation {
        // `initialize` always records the client's info; the fallback only keeps this total.
        static UNKNOWN: Implementation = Implementation {
            name: String::new(),
            version: String::new(),
            title: None,
            description: None,
            website_url: None,
            icons: None,
        };
        self.client.info.as_ref().unwrap_or(&UNKNOWN)
    }
    /// The client's capabilities from `initialize`.
    pub fn client_capabilities(&self) -> &ClientCapabilities {
        &self.client.caps
    }
    /// Whether `notifications/initialized` arrived.
    pub fn is_initialized(&self) -> bool {
        self.initialized.load(Ordering::Relaxed)
    }
    pub(crate) fn mark_initialized(&self) {
        self.initialized.store(true, Ordering::Relaxed);
    }
    /// The URIs this session subscribed to.
    pub fn subscriptions(&self) -> Vec<String> {
        self.subscriptions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .cloned()
            .collect()
    }
}

impl Server {
    /// Answer `initialize`: negotiate the version and open a session.
    pub(crate) fn initialize(
        &self,
        req: &Request,
    ) -> Result<(ResultJson, LegacySession), ErrorObject> {
        let p = match &req.params {
            Some(v) => InitializeParams::deserialize(v),
            None => InitializeParams::deserialize(&Value::Null),
        }
        .map_err(ErrorObject::invalid_params)?;
        let version = ProtocolVersion::negotiate_legacy(&p.protocol_version);
        // The result is the same for every session but for the version: written once per version.
        let results = self.inner.initialize_results.get_or_init(|| {
            ProtocolVersion::ALL
                .iter()
                .filter(|v| v.era() == Era::Legacy)
                .map(|&v| {
                    let text = serde_json::to_string(&InitializeResult {
                        protocol_version: v.to_string(),
                        capabilities: self.inner.capabilities.clone(),
                        server_info: self.inner.info.clone(),
                        instructions: self.inner.instructions.clone(),
                        meta: None,
                    })
                    .unwrap_or_else(|_| "{}".into());
                    (v, text)
                })
                .collect()
        });
        let result = results
            .iter()
            .find(|(v, _)| *v == version)
            .map(|(_, text)| ResultJson::from_spliced(text.clone()))
            .ok_or_else(|| ErrorObject::internal("no initialize result for the version"))?;
        let session = LegacySession {
            version,
            client: Arc::new(ClientDescription {
                caps: p.capabilities,
                info: Some(p.client_info),
            }),
            log_level: Mutex::new(None),
            subscriptions: Mutex::new(HashSet::new()),
            initialized: AtomicBool::new(false),
        };
        Ok((result, session))
    }

    /// Serve one request of an initialized legacy session, through the server's layers. A cancelled request
    /// answers nothing. (Not an `async fn`, for the reason given at [`Server::run_core`].)
    pub(crate) fn handle_legacy<'a, S: SessionHandle>(
        &'a self,
        session: &Arc<S>,
        req: Request,
        t: TransportEnv,
        asker: Asker,
    ) -> impl Future<Output = McpResponse> + Send + 'a {
        if req.method == methods::INITIALIZE {
            return Either::Left(ready(McpResponse::error(ErrorObject::invalid_request(
                "session already initialized",
            ))));
        }
        if let Some(refusal) = t.refuse(&req) {
            return Either::Left(ready(refusal));
        }
        let legacy = session.legacy();
        let env = Envelope {
            version: legacy.version,
            client: legacy.client.clone(),
            log_level: *legacy.log_level.lock().unwrap_or_else(|p| p.into_inner()),
            notifier: t.notifier,
            asker,
            cancel: t.cancel,
            principal: t.principal,
            stream_control: t.stream_control,
            trace: t.trace,
        };
        let session: Arc<dyn SessionHandle> = session.clone();
        Either::Right(self.through_layers(req, Route::Legacy { session, env }))
    }

    /// The core's side of a legacy request: the session's own methods, else the stateless core.
    /// `session_id` is the transport's name for the session (HTTP), for the request's span.
    pub(crate) fn legacy_dispatch(
        &self,
        session: &LegacySession,
        session_id: Option<&str>,
        req: Request,
        env: Envelope,
    ) -> impl Future<Output = Outcome> + Send + 'static {
        if let Some(answer) = self.session_method(session, &req) {
            return Either::Left(ready(Some(answer)));
        }
        Either::Right(
            self.run_core(req, env, session_id)
                .map(|outcome| match outcome {
                    // Tasks are created only for 2026-07-28 requests.
                    CoreOutcome::Complete(r) | CoreOutcome::Task(r) => Some(Ok(r)),
                    CoreOutcome::Error(e) => Some(Err(e)),
                    CoreOutcome::InputRequired(_) => Some(Err(ErrorObject::internal(
                        "unexpected input_required on legacy era",
                    ))),
                    CoreOutcome::Cancelled => None,
                }),
        )
    }

    /// The answer to a method of the session itself; `None` for the others (the core's).
    fn session_method(
        &self,
        session: &LegacySession,
        req: &Request,
    ) -> Option<Result<ResultJson, ErrorObject>> {
        let empty = || Some(Ok(ResultJson::empty()));
        match req.method.as_str() {
            methods::PING => empty(),
            methods::LOGGING_SET_LEVEL => {
                let p: SetLevelParams =
                    match serde_json::from_value(req.params.clone().unwrap_or(Value::Null)) {
                        Ok(p) => p,
                        Err(e) => return Some(Err(ErrorObject::invalid_params(e))),
                    };
                *session.log_level.lock().unwrap_or_else(|p| p.into_inner()) = Some(p.level);
                empty()
            }
            methods::RESOURCES_SUBSCRIBE | methods::RESOURCES_UNSUBSCRIBE => {
                // Checked before the params are copied: a session keeps the URIs it subscribed to.
                if let Some(uri) = req
                    .params
                    .as_ref()
                    .and_then(|p| p.get("uri"))
                    .and_then(Value::as_str)
                {
                    if let Err(e) = self.check_uri_length(uri) {
                        return Some(Err(e));
                    }
                }
                let p: ResourceUriParams =
                    match serde_json::from_value(req.params.clone().unwrap_or(Value::Null)) {
                        Ok(p) => p,
                        Err(e) => return Some(Err(ErrorObject::invalid_params(e))),
                    };
                let mut subs = session
                    .subscriptions
                    .lock()
                    .unwrap_or_else(|p| p.into_inner());
                if req.method == methods::RESOURCES_SUBSCRIBE {
                    subs.insert(p.uri);
                } else {
                    subs.remove(&p.uri);
                }
                empty()
            }
            methods::SUBSCRIPTIONS_LISTEN => Some(Err(ErrorObject::method_not_found(&req.method))),
            _ => None,
        }
    }

    /// The notification a legacy session should get for a server event, if any.
    pub(crate) fn legacy_notification(
        &self,
        session: &LegacySession,
        ev: &ServerEvent,
    ) -> Option<Notification> {
        let caps = &self.inner.capabilities;
        let method = match ev {
            ServerEvent::ToolsListChanged if caps.tools.as_ref()?.list_changed == Some(true) => {
                methods::NOTIF_TOOLS_LIST_CHANGED
            }
            ServerEvent::PromptsListChanged
                if caps.prompts.as_ref()?.list_changed == Some(true) =>
            {
                methods::NOTIF_PROMPTS_LIST_CHANGED
            }
            ServerEvent::ResourcesListChanged
                if caps.resources.as_ref()?.list_changed == Some(true) =>
            {
                methods::NOTIF_RESOURCES_LIST_CHANGED
            }
            ServerEvent::ResourceUpdated(uri) => {
                if !session
                    .subscriptions
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .contains(uri)
                {
                    return None;
                }
                return Some(Notification::new(
                    methods::NOTIF_RESOURCES_UPDATED,
                    Some(serde_json::json!({ "uri": uri })),
                ));
            }
            _ => return None,
        };
        Some(Notification::new(method, None))
    }
}
