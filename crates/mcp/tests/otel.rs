//! OpenTelemetry trace context (SEP-414) end to end, with the `otel` feature: our client's spans go out in
//! `_meta` (and HTTP headers), our server's request spans join them, across a tool that calls another server.
//!
//! Each test records into its own in-memory exporter through a thread-local subscriber; `#[tokio::test]` runs
//! every task (servers, clients, hyper's connections) on the test's thread, so all spans land there.

use std::sync::{Arc, Mutex};

use mcp::client::{transport::HttpTransport, transport::StreamTransport, Client, ClientOptions};
use mcp::client::{Error as ClientError, VersionMode};
use mcp::server::http::{serve_listener, HttpConfig};
use mcp::server::{Error, RequestContext, Server};
use opentelemetry::baggage::BaggageExt as _;
use opentelemetry::trace::{
    SpanId, SpanKind, Status, TraceContextExt as _, TraceId, TracerProvider as _,
};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tracing::Instrument as _;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::Layer as _;

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct NoArgs {}

/// Spans recorded while it lives.
struct Recorder {
    exporter: InMemorySpanExporter,
    _provider: SdkTracerProvider,
    _guard: tracing::subscriber::DefaultGuard,
}

impl Recorder {
    fn new(level: tracing::level_filters::LevelFilter) -> Self {
        let exporter = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .build();
        let layer = tracing_opentelemetry::layer()
            .with_tracer(provider.tracer("mcp-otel-test"))
            .with_filter(level);
        let guard = tracing::subscriber::set_default(tracing_subscriber::registry().with(layer));
        Self {
            exporter,
            _provider: provider,
            _guard: guard,
        }
    }

    fn spans(&self) -> Vec<SpanData> {
        self.exporter.get_finished_spans().unwrap()
    }

    /// The one finished span named `name` of kind `kind` in trace `trace`.
    fn one(&self, trace: TraceId, name: &str, kind: SpanKind) -> SpanData {
        let mut found: Vec<SpanData> = self
            .spans()
            .into_iter()
            .filter(|s| s.span_context.trace_id() == trace && s.name == name && s.span_kind == kind)
            .collect();
        assert_eq!(
            found.len(),
            1,
            "spans named {name:?} ({kind:?}) in trace {trace}: {:#?}",
            self.spans()
                .iter()
                .map(|s| (&s.name, &s.span_kind, s.span_context.trace_id()))
                .collect::<Vec<_>>()
        );
        found.remove(0)
    }
}

fn attr(s: &SpanData, key: &str) -> Option<String> {
    s.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| kv.value.to_string())
}

fn id_of(s: &SpanData) -> SpanId {
    s.span_context.span_id()
}

fn trace_of(span: &tracing::Span) -> TraceId {
    span.context().span().span_context().trace_id()
}

async fn http(server: Server) -> String {
    let bound = serve_listener(
        server,
        HttpConfig::default(),
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    let url = format!("http://{}/mcp", bound.local_addr().unwrap());
    tokio::spawn(bound.run());
    url
}

fn leaf_server() -> Server {
    Server::builder("leaf", "1.0.0")
        .typed_tool("leaf", "Answer", |_ctx, _: NoArgs| async move {
            Ok::<_, Error>("leaf says hi".to_string())
        })
        .build()
}

fn text_of(r: &mcp::types::CallToolResult) -> String {
    serde_json::to_value(&r.content).unwrap()[0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// The whole chain: a span of the application → our client's span of `tools/call relay` (modern, HTTP) →
/// server A's request span → the client the tool uses, its span of `tools/call leaf` (legacy session, HTTP) →
/// server B's request span. One trace, each span the parent of the next.
#[tokio::test]
async fn one_trace_from_client_through_a_tool_that_calls_another_server() {
    let rec = Recorder::new(tracing::level_filters::LevelFilter::INFO);
    let leaf_url = http(leaf_server()).await;
    let inner = Client::builder()
        .version_mode(VersionMode::Legacy)
        .connect(HttpTransport::new(leaf_url).unwrap())
        .await
        .unwrap();
    let inner_session = inner.session_id().expect("a legacy HTTP session");
    let relay = Server::builder("relay", "1.0.0")
        .typed_tool(
            "relay",
            "Ask the leaf",
            move |_ctx: RequestContext, _: NoArgs| {
                let inner = inner.clone();
                async move {
                    let r = inner
                        .call_tool("leaf", json!({}))
                        .await
                        .map_err(|e| Error::tool(e.to_string()))?;
                    Ok::<_, Error>(format!("relayed: {}", text_of(&r)))
                }
            },
        )
        .build();
    let outer = Client::builder()
        .connect(HttpTransport::new(http(relay).await).unwrap())
        .await
        .unwrap();
    assert_eq!(outer.era(), mcp::protocol::Era::Modern);
    // Learned before the traced call, so that call is the only request under the root span.
    outer.list_all_tools().await.unwrap();

    let root = tracing::info_span!("agent.plan");
    let trace = trace_of(&root);
    let r = outer
        .call_tool("relay", json!({}))
        .instrument(root.clone())
        .await
        .unwrap();
    assert_eq!(text_of(&r), "relayed: leaf says hi");
    let root_id = root.context().span().span_context().span_id();
    drop(root);

    let client = rec.one(trace, "tools/call relay", SpanKind::Client);
    let server_a = rec.one(trace, "tools/call relay", SpanKind::Server);
    let inner_client = rec.one(trace, "tools/call leaf", SpanKind::Client);
    let server_b = rec.one(trace, "tools/call leaf", SpanKind::Server);

    assert_eq!(client.parent_span_id, root_id);
    assert_eq!(server_a.parent_span_id, id_of(&client));
    assert!(
        server_a.parent_span_is_remote,
        "server A's parent came over the wire"
    );
    assert_eq!(inner_client.parent_span_id, id_of(&server_a));
    assert!(!inner_client.parent_span_is_remote);
    assert_eq!(server_b.parent_span_id, id_of(&inner_client));
    assert!(server_b.parent_span_is_remote);

    assert_eq!(
        attr(&server_a, "mcp.method.name").as_deref(),
        Some("tools/call")
    );
    assert_eq!(
        attr(&server_a, "gen_ai.tool.name").as_deref(),
        Some("relay")
    );
    assert_eq!(attr(&server_a, "era").as_deref(), Some("modern"));
    assert_eq!(
        attr(&server_a, "mcp.protocol.version").as_deref(),
        Some("2026-07-28")
    );
    assert_eq!(attr(&server_a, "outcome").as_deref(), Some("ok"));
    assert_eq!(attr(&server_a, "mcp.session.id"), None);
    assert_eq!(attr(&server_b, "era").as_deref(), Some("legacy"));
    assert_eq!(
        attr(&server_b, "mcp.session.id").as_deref(),
        Some(inner_session.as_str())
    );
    assert_eq!(
        attr(&inner_client, "gen_ai.tool.name").as_deref(),
        Some("leaf")
    );
    assert_eq!(attr(&server_b, "outcome").as_deref(), Some("ok"));
    assert_eq!(attr(&client, "outcome").as_deref(), Some("ok"));
    assert_eq!(attr(&inner_client, "era").as_deref(), Some("legacy"));
}

/// Over a byte stream (no headers) the context travels in `_meta` alone, on both eras.
#[tokio::test]
async fn a_stream_transport_carries_the_context_in_meta_on_both_eras() {
    let rec = Recorder::new(tracing::level_filters::LevelFilter::INFO);
    for (mode, era) in [
        (VersionMode::Auto, "modern"),
        (VersionMode::Legacy, "legacy"),
    ] {
        let (client_io, server_io) = tokio::io::duplex(1 << 16);
        let (r, w) = tokio::io::split(server_io);
        tokio::spawn(mcp::server::serve_connection(
            leaf_server(),
            tokio::io::BufReader::new(r),
            w,
            Default::default(),
        ));
        let client = Client::builder()
            .version_mode(mode)
            .connect(StreamTransport::from_duplex(client_io))
            .await
            .unwrap();
        let root = tracing::info_span!("stream.root");
        let trace = trace_of(&root);
        client
            .call_tool("leaf", json!({}))
            .instrument(root)
            .await
            .unwrap();
        let c = rec.one(trace, "tools/call leaf", SpanKind::Client);
        let s = rec.one(trace, "tools/call leaf", SpanKind::Server);
        assert_eq!(s.parent_span_id, id_of(&c), "{era}");
        assert!(s.parent_span_is_remote, "{era}");
        assert_eq!(attr(&s, "era").as_deref(), Some(era));
    }
}

/// One raw HTTP/1.1 POST; returns the status line and the body.
async fn post(url: &str, headers: &[(&str, &str)], body: &Value) -> (String, String) {
    let addr = url
        .trim_start_matches("http://")
        .trim_end_matches("/mcp")
        .to_owned();
    let body = body.to_string();
    let mut req = format!(
        "POST /mcp HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Accept: application/json, text/event-stream\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(&body);
    let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    (
        head.lines().next().unwrap_or_default().to_owned(),
        body.to_owned(),
    )
}

/// A 2026-07-28 `tools/call` as any client would write it, with `extra` merged into its `_meta`.
fn modern_call(tool: &str, extra: Value) -> Value {
    let mut meta = json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
    });
    meta.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call",
           "params": {"name": tool, "arguments": {}, "_meta": meta}})
}

fn modern_headers<'a>(tool: &'a str, extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut h = vec![
        ("MCP-Protocol-Version", "2026-07-28"),
        ("Mcp-Method", "tools/call"),
        ("Mcp-Name", tool),
    ];
    h.extend_from_slice(extra);
    h
}

/// A server whose tool answers with the `tenant` baggage of the context it runs in.
fn baggage_server() -> Server {
    Server::builder("baggage", "1.0.0")
        .typed_tool(
            "tenant",
            "The caller's tenant",
            |_ctx, _: NoArgs| async move {
                let cx = tracing::Span::current().context();
                let tenant = cx.baggage().get("tenant").map(|v| v.to_string());
                Ok::<_, Error>(tenant.unwrap_or_else(|| "none".into()))
            },
        )
        .build()
}

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT: &str = "00f067aa0ba902b7";
const OTHER_TRACE: &str = "0af7651916cd43dd8448eb211c80319c";
const OTHER_PARENT: &str = "b7ad6b7169203331";

/// No SDK on the calling side: a hand-written `_meta.traceparent` (and baggage) is all it takes.
#[tokio::test]
async fn a_hand_written_meta_traceparent_parents_the_server_span() {
    let rec = Recorder::new(tracing::level_filters::LevelFilter::INFO);
    let url = http(baggage_server()).await;
    let traceparent = format!("00-{TRACE}-{PARENT}-01");
    let body = modern_call(
        "tenant",
        json!({"traceparent": traceparent, "tracestate": "vendor=1", "baggage": "tenant=acme"}),
    );
    let (status, reply) = post(&url, &modern_headers("tenant", &[]), &body).await;
    assert!(status.contains("200"), "{status}: {reply}");
    assert!(
        reply.contains("acme"),
        "the handler saw the caller's baggage: {reply}"
    );

    let s = rec.one(
        TraceId::from_hex(TRACE).unwrap(),
        "tools/call tenant",
        SpanKind::Server,
    );
    assert_eq!(s.parent_span_id, SpanId::from_hex(PARENT).unwrap());
    assert!(s.parent_span_is_remote);
    assert_eq!(s.span_context.trace_state().header(), "vendor=1");
}

/// A caller instrumented only at the HTTP level sends the `traceparent` header and no `_meta` key: the header
/// stands in. When both are there, `_meta` (the message's own context) wins.
#[tokio::test]
async fn the_http_traceparent_header_is_the_fallback_and_meta_wins() {
    let rec = Recorder::new(tracing::level_filters::LevelFilter::INFO);
    let url = http(baggage_server()).await;
    let header = format!("00-{TRACE}-{PARENT}-01");
    let meta = format!("00-{OTHER_TRACE}-{OTHER_PARENT}-01");

    let (status, reply) = post(
        &url,
        &modern_headers(
            "tenant",
            &[("traceparent", &header), ("baggage", "tenant=from-header")],
        ),
        &modern_call("tenant", json!({})),
    )
    .await;
    assert!(status.contains("200"), "{status}: {reply}");
    assert!(reply.contains("from-header"), "{reply}");
    let s = rec.one(
        TraceId::from_hex(TRACE).unwrap(),
        "tools/call tenant",
        SpanKind::Server,
    );
    assert_eq!(s.parent_span_id, SpanId::from_hex(PARENT).unwrap());

    let (status, reply) = post(
        &url,
        &modern_headers("tenant", &[("traceparent", &header)]),
        &modern_call("tenant", json!({"traceparent": meta})),
    )
    .await;
    assert!(status.contains("200"), "{status}: {reply}");
    let s = rec.one(
        TraceId::from_hex(OTHER_TRACE).unwrap(),
        "tools/call tenant",
        SpanKind::Server,
    );
    assert_eq!(s.parent_span_id, SpanId::from_hex(OTHER_PARENT).unwrap());
    // Still exactly one span in the header's trace: the second request did not join it.
    rec.one(
        TraceId::from_hex(TRACE).unwrap(),
        "tools/call tenant",
        SpanKind::Server,
    );
}

/// What reached the server: each POST's headers and body.
type Seen = Arc<Mutex<Vec<(axum::http::HeaderMap, Value)>>>;

/// Server B behind an axum middleware that records every request.
async fn recording_http(server: Server) -> (String, Seen) {
    let seen: Seen = Default::default();
    let log = seen.clone();
    let service = mcp::server::http::McpService::new(server, HttpConfig::default());
    let app = axum::Router::new()
        .route_service("/mcp", service)
        .layer(axum::middleware::from_fn(
            move |req: axum::extract::Request, next: axum::middleware::Next| {
                let log = log.clone();
                async move {
                    let (parts, body) = req.into_parts();
                    let bytes = axum::body::to_bytes(body, 1 << 20).await.unwrap();
                    let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                    log.lock().unwrap().push((parts.headers.clone(), value));
                    next.run(axum::extract::Request::from_parts(parts, bytes.into()))
                        .await
                }
            },
        ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, seen)
}

/// The request (by method) that reached the server last.
fn last(seen: &Seen, method: &str) -> (axum::http::HeaderMap, Value) {
    seen.lock()
        .unwrap()
        .iter()
        .rev()
        .find(|(_, v)| v["method"] == method)
        .cloned()
        .unwrap_or_else(|| panic!("no {method} request reached the server"))
}

/// Over HTTP the client also sends the `traceparent`/`tracestate` headers, equal to `_meta`'s, naming its own
/// span; a `traceparent` the application put in `_meta` itself is kept, and the header follows it.
#[tokio::test]
async fn the_http_client_sends_the_header_too_and_keeps_an_application_traceparent() {
    let rec = Recorder::new(tracing::level_filters::LevelFilter::INFO);
    let (url, seen) = recording_http(leaf_server()).await;
    let client = Client::builder()
        .connect(HttpTransport::new(url).unwrap())
        .await
        .unwrap();
    client.list_all_tools().await.unwrap();

    let root = tracing::info_span!("root");
    let trace = trace_of(&root);
    client
        .call_tool("leaf", json!({}))
        .instrument(root.clone())
        .await
        .unwrap();
    let span = rec.one(trace, "tools/call leaf", SpanKind::Client);
    let (headers, body) = last(&seen, "tools/call");
    let in_meta = body["params"]["_meta"]["traceparent"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(in_meta, format!("00-{trace}-{}-01", id_of(&span)));
    assert_eq!(headers["traceparent"].to_str().unwrap(), in_meta);

    // The application's own `_meta.traceparent` goes out untouched (no trace state of ours with it), and
    // the header carries it rather than the client's span.
    let mine = format!("00-{OTHER_TRACE}-{OTHER_PARENT}-01");
    client
        .request(
            "tools/call",
            Some(json!({"name": "leaf", "arguments": {}, "_meta": {"traceparent": mine}})),
        )
        .instrument(root)
        .await
        .unwrap();
    let (headers, body) = last(&seen, "tools/call");
    assert_eq!(body["params"]["_meta"]["traceparent"], mine.as_str());
    assert!(body["params"]["_meta"].get("tracestate").is_none());
    assert_eq!(headers["traceparent"].to_str().unwrap(), mine);
    let s = rec.one(
        TraceId::from_hex(OTHER_TRACE).unwrap(),
        "tools/call leaf",
        SpanKind::Server,
    );
    assert_eq!(s.parent_span_id, SpanId::from_hex(OTHER_PARENT).unwrap());
}

/// `ClientOptions::propagate_trace_context(false)`: the client still makes its spans but sends no context, so
/// the server's span starts a trace of its own.
#[tokio::test]
async fn propagation_can_be_turned_off_per_client() {
    let rec = Recorder::new(tracing::level_filters::LevelFilter::INFO);
    let (url, seen) = recording_http(leaf_server()).await;
    let client = Client::builder()
        .options(ClientOptions::default().propagate_trace_context(false))
        .connect(HttpTransport::new(url).unwrap())
        .await
        .unwrap();
    client.list_all_tools().await.unwrap();
    let root = tracing::info_span!("root");
    let trace = trace_of(&root);
    client
        .call_tool("leaf", json!({}))
        .instrument(root)
        .await
        .unwrap();
    rec.one(trace, "tools/call leaf", SpanKind::Client);
    let (headers, body) = last(&seen, "tools/call");
    assert!(headers.get("traceparent").is_none());
    assert!(body["params"]["_meta"].get("traceparent").is_none());
    let server: Vec<_> = rec
        .spans()
        .into_iter()
        .filter(|s| s.name == "tools/call leaf" && s.span_kind == SpanKind::Server)
        .collect();
    assert_eq!(server.len(), 1);
    assert_ne!(server[0].span_context.trace_id(), trace);
}

/// A request that fails is recorded as failed on both sides: the JSON-RPC error code, and an error status.
#[tokio::test]
async fn a_failed_request_is_an_error_on_both_spans() {
    let rec = Recorder::new(tracing::level_filters::LevelFilter::INFO);
    let client = Client::builder()
        .connect(HttpTransport::new(http(leaf_server()).await).unwrap())
        .await
        .unwrap();
    client.list_all_tools().await.unwrap();
    let root = tracing::info_span!("root");
    let trace = trace_of(&root);
    let err: ClientError = client
        .call_tool("no-such-tool", json!({}))
        .instrument(root)
        .await
        .unwrap_err();
    let code = err.code().expect("a JSON-RPC error").to_string();
    let c = rec.one(trace, "tools/call no-such-tool", SpanKind::Client);
    let s = rec.one(trace, "tools/call no-such-tool", SpanKind::Server);
    assert_eq!(s.parent_span_id, id_of(&c));
    for span in [&c, &s] {
        assert_eq!(attr(span, "outcome").as_deref(), Some("error"));
        assert_eq!(attr(span, "error_code").as_deref(), Some(code.as_str()));
        assert!(
            matches!(span.status, Status::Error { .. }),
            "{:?}",
            span.status
        );
    }
}

/// With debug spans recorded, the HTTP transport's own span (`mcp`) joins the caller's trace first and the
/// request span nests under it, instead of the transport's span starting a trace of its own.
#[tokio::test]
async fn the_transport_span_and_the_request_span_nest_in_one_trace() {
    let rec = Recorder::new(tracing::level_filters::LevelFilter::DEBUG);
    let client = Client::builder()
        .connect(HttpTransport::new(http(leaf_server()).await).unwrap())
        .await
        .unwrap();
    client.list_all_tools().await.unwrap();
    let root = tracing::info_span!("root");
    let trace = trace_of(&root);
    client
        .call_tool("leaf", json!({}))
        .instrument(root)
        .await
        .unwrap();
    let c = rec.one(trace, "tools/call leaf", SpanKind::Client);
    let transport = rec.one(trace, "mcp", SpanKind::Internal);
    let s = rec.one(trace, "tools/call leaf", SpanKind::Server);
    assert_eq!(transport.parent_span_id, id_of(&c));
    assert_eq!(s.parent_span_id, id_of(&transport));
    // No `mcp` span of this request was left alone in a trace of its own.
    let orphans = rec
        .spans()
        .into_iter()
        .filter(|s| s.name == "mcp" && s.parent_span_id == SpanId::INVALID)
        .filter(|s| attr(s, "method").as_deref() == Some("tools/call"))
        .count();
    assert_eq!(orphans, 0);
}
