//! The shared engine behind every `Client` clone: connection state, per-era request decoration, the
//! request path (with the -32022 retry) and the result cache.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::Duration;

use mcp_protocol::types::{
    methods, ClientCapabilities, Implementation, LoggingLevel, ServerCapabilities, ToolAnnotations,
};
use mcp_protocol::{
    error_code, headers, meta, Era, ErrorObject, ErrorResponse, JsonObject, Message, Notification,
    ProtocolVersion, RequestId,
};
use mcp_rpc::rt::{self, JoinHandle};
use mcp_rpc::{Peer, RequestOptions, RpcError};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;

use super::negotiate::{check_complete, pick_modern};
use super::options::{CallOptions, ClientEvent, ClientOptions, VersionMode};
use crate::cache::ResultCache;
use crate::handlers::{ElicitationHandler, RootsHandler, SamplingHandler};
use crate::trace_context::{Outgoing, RequestFacts};
use crate::transport::{SendOptions, Transport, TransportKind};
use crate::{Error, ReissuePolicy, ReissueRequest};

/// Maps and sets looked up on every request (ids, tool names): foldhash, randomly seeded per process, costs a
/// fraction of SipHash on such short keys.
pub(super) type FastHash = foldhash::fast::RandomState;

/// What the client keeps about one tool: the headers its arguments are mirrored into, its output schema, and
/// its annotations (whether a call may be re-issued).
pub(super) struct ToolMeta {
    pub(super) header_params: Vec<headers::HeaderParam>,
    pub(super) annotations: Option<ToolAnnotations>,
    pub(super) output_validator: Option<jsonschema::Validator>,
    pub(super) has_output_schema: bool,
}

pub(super) struct ConnState {
    pub(super) era: Era,
    pub(super) version: ProtocolVersion,
    pub(super) requested_legacy: ProtocolVersion,
    pub(super) server_info: Option<Implementation>,
    pub(super) server_caps: ServerCapabilities,
    pub(super) instructions: Option<String>,
    pub(super) log_level: Option<LoggingLevel>,
    pub(super) subscriptions: BTreeSet<String>,
}

pub(super) struct Inner {
    pub(super) transport: Arc<dyn Transport>,
    pub(super) kind: TransportKind,
    pub(super) peer: Peer,
    pub(super) info: Implementation,
    pub(super) caps: ClientCapabilities,
    /// `info` and `caps` as JSON, serialized once: every modern request carries them in its `_meta`.
    pub(super) info_and_caps_json: (Value, Value),
    pub(super) elicitation: Option<Arc<dyn ElicitationHandler>>,
    pub(super) sampling: Option<Arc<dyn SamplingHandler>>,
    pub(super) roots: Option<Arc<dyn RootsHandler>>,
    pub(super) mode: VersionMode,
    pub(super) reissue: ReissuePolicy,
    pub(super) opts: ClientOptions,
    pub(super) state: RwLock<ConnState>,
    pub(super) tools: RwLock<HashMap<String, Arc<ToolMeta>, FastHash>>,
    pub(super) cache: ResultCache,
    pub(super) listens: Mutex<HashMap<RequestId, ListenRoute, FastHash>>,
    pub(super) hints: Mutex<HashMap<RequestId, SendOptions, FastHash>>,
    /// Requests of session recovery itself: a refusal of these is not recovered (it would wait on itself).
    pub(super) internal: Mutex<HashSet<RequestId, FastHash>>,
    pub(super) failures: Mutex<HashMap<RequestId, Error, FastHash>>,
    pub(super) recovery: tokio::sync::Mutex<()>,
    pub(super) server_requests: Mutex<HashMap<RequestId, CancellationToken, FastHash>>,
    pub(super) events: broadcast::Sender<ClientEvent>,
    pub(super) closed: CancellationToken,
    /// The server side closed the connection (stdio EOF).
    pub(super) disconnected: std::sync::atomic::AtomicBool,
    pub(super) tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        let was_open = !self.closed.is_cancelled();
        self.closed.cancel();
        for t in lock(&self.tasks).drain(..) {
            t.abort();
        }
        // Dropped without `close()`: still shut down gracefully (DELETE the session, close the child's stdin
        // and wait for it), in the background. `kill_on_drop` remains the backstop if the runtime is gone.
        if was_open {
            let transport = self.transport.clone();
            rt::try_spawn(async move {
                let _ = transport.close().await;
            });
        }
    }
}

pub(super) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

pub(super) fn parse<T: DeserializeOwned>(v: Value) -> Result<T, Error> {
    serde_json::from_value(v).map_err(|e| Error::invalid_result(e.to_string()))
}

/// Messages from the transport waiting for the dispatcher. The dispatcher never waits on the application,
/// so this only absorbs bursts; a transport that finds it full waits (and stops reading the connection).
pub(super) const TRANSPORT_EVENTS: usize = 1024;

/// Where the dispatcher puts the notifications of one listen stream.
pub(super) struct ListenRoute {
    pub(super) tx: mpsc::Sender<Notification>,
    /// Ends the listen request.
    pub(super) cancel: CancellationToken,
    /// Why the subscription ended, for [`Subscription::error`].
    pub(super) end: Arc<OnceLock<Error>>,
}

/// A far-away deadline for requests that may legitimately run for a long time (listen streams).
pub(super) const FOREVER: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// How many times one message is re-sent after its session expired.
pub(super) const MAX_RESENDS: u32 = 2;

/// Per-request plumbing.
#[derive(Default, Clone)]
pub(super) struct ReqCtx {
    pub(super) call: CallOptions,
    pub(super) hints: SendOptions,
    pub(super) internal: bool,
    pub(super) no_cancel_notice: bool,
}

// The core.
impl Inner {
    pub(super) fn era(&self) -> Era {
        self.state.read().unwrap_or_else(|p| p.into_inner()).era
    }

    pub(super) fn era_version(&self) -> (Era, ProtocolVersion) {
        let s = self.state.read().unwrap_or_else(|p| p.into_inner());
        (s.era, s.version)
    }

    pub(super) fn state_mut(&self) -> std::sync::RwLockWriteGuard<'_, ConnState> {
        self.state.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Add the 2026-07-28 request metadata to `params._meta`.
    pub(super) fn decorate(
        &self,
        params: Option<Value>,
        version: ProtocolVersion,
    ) -> Option<Value> {
        let mut obj = match params {
            Some(Value::Object(m)) => m,
            None => JsonObject::new(),
            Some(other) => return Some(other),
        };
        let log_level = self
            .state
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .log_level;
        let meta = obj
            .entry("_meta")
            .or_insert_with(|| Value::Object(JsonObject::new()));
        if let Value::Object(m) = meta {
            m.insert(meta::PROTOCOL_VERSION.into(), json!(version.as_str()));
            let (info, caps) = &self.info_and_caps_json;
            m.insert(meta::CLIENT_CAPABILITIES.into(), caps.clone());
            m.insert(meta::CLIENT_INFO.into(), info.clone());
            if let Some(level) = log_level {
                m.insert(
                    meta::LOG_LEVEL.into(),
                    serde_json::to_value(level).unwrap_or_default(),
                );
            }
        }
        Some(Value::Object(obj))
    }

    pub(super) fn rpc_options(&self, ctx: &ReqCtx) -> RequestOptions {
        let timeout = ctx.call.timeout.unwrap_or(self.opts.request_timeout);
        let mut opts = RequestOptions::default()
            .timeout(timeout)
            .max_total(self.opts.max_request_time.max(timeout))
            .notify_cancel(!ctx.no_cancel_notice);
        opts.progress = ctx.call.progress.clone();
        opts.cancel = ctx.call.cancel.clone();
        opts
    }

    /// Whether the transport may send this request again when its reply stream breaks (modern HTTP only:
    /// nothing else re-issues).
    pub(super) fn may_reissue(&self, era: Era, method: &str, params: Option<&Value>) -> bool {
        if era != Era::Modern || self.kind != TransportKind::Http {
            return false;
        }
        let tool = (method == methods::TOOLS_CALL)
            .then(|| params?.get("name")?.as_str())
            .flatten()
            .and_then(|name| self.tool_meta(name));
        self.reissue.allows(&ReissueRequest {
            method,
            params,
            tool_annotations: tool.as_ref().and_then(|t| t.annotations.as_ref()),
        })
    }

    /// The outcome of a request, with transport failures recorded for its id put back in place.
    pub(super) fn map_result(
        &self,
        id: &RequestId,
        r: Result<Value, RpcError>,
    ) -> Result<Value, Error> {
        let local = lock(&self.failures).remove(id);
        match r {
            Ok(v) => Ok(v),
            Err(e) if e.is_remote() => Err(local.unwrap_or_else(|| e.into())),
            Err(e) => Err(e.into()),
        }
    }

    /// Fail a pending request with a local error (the transport could not deliver it or its reply).
    pub(super) fn fail_request(&self, id: &RequestId, err: Error) {
        let text = err.to_string();
        lock(&self.failures).insert(id.clone(), err);
        let placeholder = ErrorObject::new(error_code::INTERNAL_ERROR, text);
        if !self.peer.handle_response(Message::Error(ErrorResponse::new(
            Some(id.clone()),
            placeholder,
        ))) {
            lock(&self.failures).remove(id);
        }
    }
    /// Send one request (retrying once with another version on -32022) and return its raw result.
    pub(super) async fn request(
        &self,
        method: &str,
        params: Option<Value>,
        ctx: &ReqCtx,
    ) -> Result<Value, Error> {
        if self.closed.is_cancelled() || self.disconnected.load(std::sync::atomic::Ordering::SeqCst)
        {
            return Err(Error::closed());
        }
        let mut params = params;
        let mut version_retried = false;
        loop {
            let (era, version) = self.era_version();
            // A copy is kept only for the one retry a modern server's -32022 can ask for.
            let may_retry = era == Era::Modern && !version_retried;
            let this = if may_retry {
                params.clone()
            } else {
                params.take()
            };
            let mut p = match era {
                Era::Modern => self.decorate(this, version),
                Era::Legacy => this,
            };
            let id = self.peer.next_id();
            let mut hints = ctx.hints.clone();
            let outgoing = Outgoing::start(
                RequestFacts {
                    method,
                    id: &id,
                    version,
                    options: &self.opts,
                    http: self.kind == TransportKind::Http,
                },
                &mut p,
                &mut hints.headers,
            );
            hints.reissue = self.may_reissue(era, method, p.as_ref());
            if !hints.headers.is_empty() || hints.reissue {
                lock(&self.hints).insert(id.clone(), hints);
            }
            if ctx.internal {
                lock(&self.internal).insert(id.clone());
            }
            let r = outgoing
                .run(
                    self.peer
                        .request_with_id(id.clone(), method, p, self.rpc_options(ctx)),
                )
                .await;
            outgoing.finish(&r);
            lock(&self.hints).remove(&id);
            lock(&self.internal).remove(&id);
            match self.map_result(&id, r).map_err(Error::split_rpc) {
                Err(Ok(e))
                    if era == Era::Modern
                        && e.code == error_code::UNSUPPORTED_PROTOCOL_VERSION
                        && !version_retried =>
                {
                    match pick_modern(&e) {
                        Some(v) => {
                            tracing::debug!(version = %v, "server asked for another protocol version; retrying");
                            version_retried = true;
                            self.state_mut().version = v;
                        }
                        None => return Err(Error::rpc(e)),
                    }
                }
                other => return other.map_err(Error::join_rpc),
            }
        }
    }

    /// A request whose complete result may be cached (discover, lists).
    pub(super) async fn cached_request(
        &self,
        method: &str,
        params: Option<Value>,
        key: &str,
    ) -> Result<Value, Error> {
        let cacheable = self.opts.cache && self.era() == Era::Modern;
        if cacheable {
            if let Some(v) = self
                .cache
                .get(method, key, self.transport.auth_context().as_deref())
            {
                return Ok(v);
            }
        }
        let v = self.request(method, params, &ReqCtx::default()).await?;
        check_complete(&v)?;
        if cacheable {
            self.cache
                .put(method, key, self.transport.auth_context().as_deref(), &v);
        }
        Ok(v)
    }
}
