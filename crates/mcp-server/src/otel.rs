//! OpenTelemetry trace context (SEP-414), with the `otel` feature.
//!
//! Every request the core runs gets one `tracing` span, `mcp.request`, whatever the transport and era. With this
//! feature that span joins the caller's trace: its OpenTelemetry parent is the span named by the request's
//! `params._meta` keys `traceparent`, `tracestate` and `baggage` (W3C Trace Context and Baggage, the same keys
//! the client of this SDK writes). When `_meta` has no `traceparent`, a request that came over Streamable HTTP
//! falls back to the HTTP `traceparent`, `tracestate` and `baggage` headers, so a caller instrumented only at the
//! HTTP level still joins up. A request with neither stays where `tracing` puts it (a new trace, or a child of
//! the span it runs in).
//!
//! With the feature, the span's fields, which `tracing-opentelemetry` turns into attributes, take the names of
//! the OpenTelemetry semantic conventions for MCP where there is one (without it they are `method`, `id`,
//! `target`, `version`, `session` and `traceparent`: `target` would collide with the module path
//! `tracing-opentelemetry` records under that key, and the parent link replaces `traceparent`):
//!
//! | field | value |
//! |---|---|
//! | `mcp.method.name` | the JSON-RPC method |
//! | `jsonrpc.request.id` | the JSON-RPC id |
//! | `gen_ai.tool.name`, `gen_ai.prompt.name`, `mcp.resource.uri` | the tool, prompt or resource the request names (at most 256 bytes) |
//! | `mcp.protocol.version`, `era` | the protocol revision, and `legacy` or `modern` |
//! | `mcp.session.id` | the `Mcp-Session-Id` of a legacy Streamable HTTP session |
//! | `outcome` | `ok`, `error` (with `error_code`, the JSON-RPC code), `input_required`, `task` or `cancelled` |
//!
//! and, for OpenTelemetry itself, `otel.kind = "server"`, `otel.name` (`tools/call add`: the method and, for a
//! tool or prompt, its name; never a resource URI, whose cardinality is unbounded) and `otel.status_code =
//! "error"` when the request failed with a JSON-RPC error. A tool that reports a failure in its result
//! (`isError`) answered: its outcome is `ok`.
//!
//! Nothing is recorded unless the application installs a subscriber with a
//! [`tracing_opentelemetry::OpenTelemetryLayer`] of the version this crate uses (re-exported here as
//! [`tracing_opentelemetry`], built on [`opentelemetry`] and [`opentelemetry_sdk`] 0.33): a layer of another version is a different type,
//! and the parent links are then silently left out. A handler that calls another MCP server with this SDK's
//! client (with its `otel` feature) continues the same trace, as its calls are made inside the request's span.
//!
//! ```
//! use mcp_server::otel::{opentelemetry, opentelemetry_sdk, tracing_opentelemetry};
//! use opentelemetry::trace::TracerProvider as _;
//! use tracing_subscriber::layer::SubscriberExt as _;
//!
//! // Any exporter: OTLP, stdout, or (in tests) opentelemetry_sdk's InMemorySpanExporter.
//! let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
//! let subscriber = tracing_subscriber::registry()
//!     .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("my-server")));
//! tracing::subscriber::set_global_default(subscriber).unwrap();
//! // ... build and serve the server as usual: every request is now a span of its caller's trace.
//! ```

use mcp_protocol::meta::{BAGGAGE, TRACEPARENT, TRACESTATE};
use mcp_protocol::JsonObject;
use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry::trace::TraceContextExt;
use opentelemetry::Context;
use opentelemetry_sdk::propagation::{BaggagePropagator, TraceContextPropagator};
use serde_json::Value;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::trace_context::TraceHeaders;

pub use opentelemetry;
pub use opentelemetry_sdk;
pub use tracing_opentelemetry;

/// The W3C keys of a `_meta` object, read as a propagator's carrier.
struct MetaCarrier<'a>(&'a JsonObject);

impl Extractor for MetaCarrier<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(Value::as_str)
    }

    fn keys(&self) -> Vec<&str> {
        [TRACEPARENT, TRACESTATE, BAGGAGE]
            .into_iter()
            .filter(|k| self.0.contains_key(*k))
            .collect()
    }
}

/// The OpenTelemetry context a `_meta` object carries: the remote span of its `traceparent` (and
/// `tracestate`), and its `baggage`. Without a valid `traceparent` the context has no span
/// (`cx.span().span_context().is_valid()` is false); malformed values are ignored, never an error.
///
/// The server already parents each request's span on this; call it yourself to parent work a handler hands
/// to another task, or to read the caller's baggage:
///
/// ```
/// use mcp_server::otel::{context_from_meta, opentelemetry};
/// use opentelemetry::baggage::BaggageExt as _;
/// use opentelemetry::trace::TraceContextExt as _;
///
/// let meta = serde_json::json!({
///     "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
///     "baggage": "tenant=acme",
/// });
/// let cx = context_from_meta(meta.as_object().unwrap());
/// let span = cx.span();
/// assert_eq!(span.span_context().trace_id().to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
/// assert!(span.span_context().is_remote());
/// assert_eq!(cx.baggage().get("tenant").map(|v| v.as_str().to_owned()), Some("acme".to_owned()));
/// ```
pub fn context_from_meta(meta: &JsonObject) -> Context {
    extract(&MetaCarrier(meta))
}

fn extract(carrier: &dyn Extractor) -> Context {
    let cx = TraceContextPropagator::new().extract_with_context(&Context::new(), carrier);
    BaggagePropagator::new().extract_with_context(&cx, carrier)
}

#[cfg(feature = "http")]
impl Extractor for crate::trace_context::HeaderValues {
    fn get(&self, key: &str) -> Option<&str> {
        let v = match key {
            TRACEPARENT => &self.traceparent,
            TRACESTATE => &self.tracestate,
            BAGGAGE => &self.baggage,
            _ => return None,
        };
        v.as_ref().and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        [TRACEPARENT, TRACESTATE, BAGGAGE]
            .into_iter()
            .filter(|k| self.get(k).is_some())
            .collect()
    }
}

impl TraceHeaders {
    fn context(&self) -> Context {
        #[cfg(feature = "http")]
        if let Some(v) = &self.values {
            return extract(&**v);
        }
        Context::new()
    }
}

/// See [`crate::trace_context::adopt`].
pub(crate) fn adopt(span: &tracing::Span, meta: Option<&JsonObject>, headers: &TraceHeaders) {
    if span.is_disabled() {
        return;
    }
    // `_meta` names the message's own caller; a header may have been set by a proxy for the whole HTTP
    // exchange, so it only stands in when `_meta` says nothing.
    let cx = match meta.filter(|m| m.get(TRACEPARENT).is_some_and(Value::is_string)) {
        Some(m) => context_from_meta(m),
        None => headers.context(),
    };
    let remote = cx.span().span_context().clone();
    if !remote.is_valid() {
        return;
    }
    // Inside a span that already joined this trace (the HTTP transport's own span, when it is enabled), the
    // request's span nests under it rather than becoming its sibling.
    let current = tracing::Span::current().context();
    if current.span().span_context().trace_id() == remote.trace_id() {
        return;
    }
    // Fails only when no OpenTelemetry layer records this span: then there is nothing to parent.
    let _ = span.set_parent(cx);
}

/// The request's span, with the OpenTelemetry MCP conventions' attribute names (see the module's table).
pub(crate) fn request_span(
    req: &mcp_protocol::Request,
    version: mcp_protocol::ProtocolVersion,
    era: &'static str,
    session: Option<&str>,
    target: &str,
) -> tracing::Span {
    use tracing::field::Empty;
    let span = tracing::info_span!(
        "mcp.request",
        mcp.method.name = %req.method,
        jsonrpc.request.id = %req.id,
        mcp.protocol.version = %version,
        mcp.session.id = session,
        era,
        outcome = Empty,
        error_code = Empty,
        gen_ai.tool.name = Empty,
        gen_ai.prompt.name = Empty,
        mcp.resource.uri = Empty,
        otel.name = %SpanName(&req.method, target),
        otel.kind = "server",
        otel.status_code = Empty,
    );
    record_target(&span, &req.method, target);
    span
}

/// The tool, prompt or resource a request names, under the attribute its kind has.
pub(crate) fn record_target(span: &tracing::Span, method: &str, target: &str) {
    if target.is_empty() || span.is_disabled() {
        return;
    }
    if let Some(field) = mcp_protocol::types::methods::target_attribute(method) {
        span.record(field, target);
    }
}

/// `otel.name`: the method, and the tool or prompt name for the methods that have one (low-cardinality names
/// only, as the OpenTelemetry MCP conventions ask).
pub(crate) struct SpanName<'a>(pub &'a str, pub &'a str);

impl std::fmt::Display for SpanName<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use mcp_protocol::types::methods;
        let Self(method, target) = *self;
        if !target.is_empty() && matches!(method, methods::TOOLS_CALL | methods::PROMPTS_GET) {
            write!(f, "{method} {target}")
        } else {
            f.write_str(method)
        }
    }
}
