//! OpenTelemetry trace context (SEP-414), with the `otel` feature.
//!
//! Every request the client sends (both eras, any transport, `initialize` and each `input_required` round
//! included) gets a `tracing` span, `mcp.client.request`, a child of the span it was sent from. That span's
//! OpenTelemetry context goes out in the request's `params._meta` as `traceparent`, `tracestate` and
//! `baggage` (W3C Trace Context and Baggage), and over [`HttpTransport`](crate::transport::HttpTransport)
//! also in the `traceparent` and `tracestate` HTTP headers, so a server (this SDK's, with its `otel` feature,
//! or any other that reads SEP-414) makes its span of the request a child of the client's.
//!
//! It is on as soon as the feature is: turning the feature on is the opt-in. Turn it off for one client with
//! [`ClientOptions::propagate_trace_context`](crate::ClientOptions::propagate_trace_context) (for a server
//! outside your organisation, which the trace ids and baggage would otherwise reach); the spans are still
//! made. A `_meta` key the application set itself, through [`Client::request`](crate::Client::request), is
//! never overwritten: a `traceparent` of its own keeps the client from adding its `tracestate` too, and the
//! headers then carry the application's values.
//!
//! The span's fields take the names of the OpenTelemetry semantic conventions for MCP where there is one:
//! `mcp.method.name`, `jsonrpc.request.id`, `gen_ai.tool.name` / `gen_ai.prompt.name` / `mcp.resource.uri`
//! (what the request names), `mcp.protocol.version`; and `era` (`legacy` or `modern`), `outcome` (`ok`,
//! `input_required`, `task`, `error` with `error_code`, or `timeout`, `cancelled`, `closed`, `transport`),
//! `otel.kind = "client"`, `otel.name` (`tools/call add`), `otel.status_code = "error"` when it failed.
//!
//! Nothing is recorded or sent unless the application installs a subscriber with a
//! [`tracing_opentelemetry::OpenTelemetryLayer`] of the version this crate uses (re-exported here, with
//! [`opentelemetry`] and [`opentelemetry_sdk`] 0.33). A layer of another version is a different type, and the
//! client then finds no context to send.
//!
//! ```no_run
//! use mcp_client::otel::{opentelemetry, opentelemetry_sdk, tracing_opentelemetry};
//! use mcp_client::{transport::HttpTransport, Client};
//! use opentelemetry::trace::TracerProvider as _;
//! use tracing::Instrument as _;
//! use tracing_subscriber::layer::SubscriberExt as _;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build(); // add an exporter
//! let subscriber = tracing_subscriber::registry()
//!     .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("my-agent")));
//! tracing::subscriber::set_global_default(subscriber)?;
//!
//! let client = Client::builder()
//!     .connect(HttpTransport::new("http://127.0.0.1:3000/mcp")?)
//!     .await?;
//! // The call's span is a child of `plan`; the server's span of the call, a child of the call's.
//! let result = client
//!     .call_tool("search", serde_json::json!({"query": "trace context"}))
//!     .instrument(tracing::info_span!("plan"))
//!     .await?;
//! # let _ = result;
//! # Ok(())
//! # }
//! ```

use mcp_protocol::meta::{TRACEPARENT, TRACESTATE};
use mcp_protocol::JsonObject;
use opentelemetry::propagation::{Injector, TextMapPropagator};
use opentelemetry::Context;
use opentelemetry_sdk::propagation::{BaggagePropagator, TraceContextPropagator};
use serde_json::Value;

pub use opentelemetry;
pub use opentelemetry_sdk;
pub use tracing_opentelemetry;

/// Collects what the propagators write, to merge into `_meta` afterwards.
#[derive(Default)]
struct Collected(Vec<(String, String)>);

impl Injector for Collected {
    fn set(&mut self, key: &str, value: String) {
        self.0.push((key.to_owned(), value));
    }
}

/// Write `cx`'s W3C trace context (`traceparent`, `tracestate`) and baggage (`baggage`) into a `_meta` object,
/// leaving alone every key `meta` already has: with a `traceparent` of its own, neither `traceparent` nor
/// `tracestate` is written (a trace state belongs to its parent). Returns whether anything was written. A
/// context with no valid span writes no trace keys (its baggage, if any, is still written).
///
/// The client already does this for every request; it is here for messages built by hand.
///
/// ```
/// use mcp_client::otel::{inject_into_meta, opentelemetry};
/// use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt as _, TraceFlags, TraceId, TraceState};
///
/// let parent = SpanContext::new(
///     TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap(),
///     SpanId::from_hex("00f067aa0ba902b7").unwrap(),
///     TraceFlags::SAMPLED,
///     true,
///     TraceState::default(),
/// );
/// let cx = opentelemetry::Context::new().with_remote_span_context(parent);
/// let mut meta = serde_json::Map::new();
/// assert!(inject_into_meta(&cx, &mut meta));
/// assert_eq!(meta["traceparent"], "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
///
/// // A key already there stays as it is.
/// let mut mine = serde_json::Map::new();
/// mine.insert("traceparent".into(), "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into());
/// assert!(!inject_into_meta(&cx, &mut mine));
/// assert_eq!(mine["traceparent"], "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
/// ```
pub fn inject_into_meta(cx: &Context, meta: &mut JsonObject) -> bool {
    let mut out = Collected::default();
    TraceContextPropagator::new().inject_context(cx, &mut out);
    BaggagePropagator::new().inject_context(cx, &mut out);
    let own_parent = meta.contains_key(TRACEPARENT);
    let mut wrote = false;
    for (key, value) in out.0 {
        let paired = key == TRACEPARENT || key == TRACESTATE;
        if (paired && own_parent) || meta.contains_key(&key) {
            continue;
        }
        meta.insert(key, Value::String(value));
        wrote = true;
    }
    wrote
}

/// The request's span, its context sent along, and its outcome recorded when it ends.
pub(crate) struct Outgoing {
    span: tracing::Span,
}

/// What [`Outgoing::start`] needs to know of the request.
pub(crate) struct RequestFacts<'a> {
    pub method: &'a str,
    pub id: &'a mcp_protocol::RequestId,
    pub version: mcp_protocol::ProtocolVersion,
    pub options: &'a crate::ClientOptions,
    pub http: bool,
}

impl Outgoing {
    pub(crate) fn start(
        facts: RequestFacts<'_>,
        params: &mut Option<Value>,
        headers: &mut Vec<(String, String)>,
    ) -> Self {
        use mcp_protocol::Era;
        use tracing_opentelemetry::OpenTelemetrySpanExt as _;

        let target = params
            .as_ref()
            .and_then(|p| p.get("name").or_else(|| p.get("uri")))
            .and_then(Value::as_str)
            .unwrap_or_default();
        let era = match facts.version.era() {
            Era::Legacy => "legacy",
            Era::Modern => "modern",
        };
        let name = Name(facts.method, target);
        use tracing::field::Empty;
        let span = tracing::info_span!(
            "mcp.client.request",
            mcp.method.name = facts.method,
            jsonrpc.request.id = %facts.id,
            mcp.protocol.version = %facts.version,
            era,
            outcome = Empty,
            error_code = Empty,
            gen_ai.tool.name = Empty,
            gen_ai.prompt.name = Empty,
            mcp.resource.uri = Empty,
            otel.name = %name,
            otel.kind = "client",
            otel.status_code = Empty,
        );
        record_target(&span, facts.method, target);
        if facts.options.propagate_trace_context {
            // A span filtered out (by level or target) has no context: the caller's span stands in for it.
            let cx = if span.is_disabled() {
                tracing::Span::current().context()
            } else {
                span.context()
            };
            inject(&cx, params, headers, facts.http);
        }
        Self { span }
    }

    /// `fut`, inside the request's span.
    pub(crate) fn run<F>(&self, fut: F) -> tracing::instrument::Instrumented<F> {
        tracing::Instrument::instrument(fut, self.span.clone())
    }

    pub(crate) fn finish(&self, r: &Result<Value, mcp_rpc::RpcError>) {
        let span = &self.span;
        if span.is_disabled() {
            return;
        }
        let word = match r {
            Ok(v) => match v.get("resultType").and_then(Value::as_str) {
                Some("input_required") => "input_required",
                Some("task") => "task",
                _ => "ok",
            },
            Err(e) => {
                use mcp_rpc::ErrorKind;
                span.record("otel.status_code", "error");
                match e.kind() {
                    ErrorKind::Remote => {
                        if let Some(obj) = e.remote_error() {
                            span.record("error_code", obj.code);
                        }
                        "error"
                    }
                    ErrorKind::Timeout => "timeout",
                    ErrorKind::Cancelled => "cancelled",
                    ErrorKind::Closed => "closed",
                    _ => "transport",
                }
            }
        };
        span.record("outcome", word);
    }
}

/// `cx` into `params._meta` (made if absent), and over HTTP the resulting `traceparent`/`tracestate` into the
/// request's headers.
fn inject(
    cx: &Context,
    params: &mut Option<Value>,
    headers: &mut Vec<(String, String)>,
    http: bool,
) {
    use opentelemetry::baggage::BaggageExt as _;
    use opentelemetry::trace::TraceContextExt as _;
    if !cx.span().span_context().is_valid() && cx.baggage().is_empty() {
        return;
    }
    let obj = match params.get_or_insert_with(|| Value::Object(JsonObject::new())) {
        Value::Object(m) => m,
        // Positional params cannot carry `_meta`.
        _ => return,
    };
    let meta = match obj
        .entry("_meta")
        .or_insert_with(|| Value::Object(JsonObject::new()))
    {
        Value::Object(m) => m,
        // A `_meta` that is not an object is the application's business.
        _ => return,
    };
    inject_into_meta(cx, meta);
    if http {
        for key in [TRACEPARENT, TRACESTATE] {
            let Some(v) = meta.get(key).and_then(Value::as_str) else {
                continue;
            };
            // An application's own value may hold what a header cannot; it still travels in `_meta`.
            if !v.is_empty() && v.bytes().all(|b| (0x20..0x7f).contains(&b)) {
                headers.push((key.to_owned(), v.to_owned()));
            }
        }
    }
}

/// The tool, prompt or resource a request names, under the attribute its kind has.
fn record_target(span: &tracing::Span, method: &str, target: &str) {
    if target.is_empty() || span.is_disabled() {
        return;
    }
    if let Some(field) = mcp_protocol::types::methods::target_attribute(method) {
        span.record(field, target);
    }
}

/// `otel.name`: the method, and the tool or prompt name for the methods that have one.
struct Name<'a>(&'a str, &'a str);

impl std::fmt::Display for Name<'_> {
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
