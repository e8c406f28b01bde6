//! Test fixtures: an mcp-server over an in-memory duplex, a scripted raw JSON-RPC peer, and a hand-written
//! HTTP server whose behaviour each test scripts.

pub mod mock;

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::future::BoxFuture;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Frame;
use mcp_client::transport::StreamTransport;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;

/// Serve `server` over Streamable HTTP on a free loopback port and return its endpoint URL.
pub async fn http_server(server: mcp_server::Server) -> String {
    let bound = mcp_server::http::serve_listener(
        server,
        mcp_server::http::HttpConfig::default(),
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    let url = format!("http://{}/mcp", bound.local_addr().unwrap());
    tokio::spawn(bound.run());
    url
}

/// Serve `server` over an in-memory duplex and return the client's end.
pub fn duplex_server(server: mcp_server::Server) -> StreamTransport {
    let (client_io, server_io) = tokio::io::duplex(1 << 20);
    let (r, w) = tokio::io::split(server_io);
    tokio::spawn(mcp_server::serve_connection(
        server,
        BufReader::new(r),
        w,
        Default::default(),
    ));
    StreamTransport::from_duplex(client_io)
}

/// A raw peer: every message the client sends is handed to `f`, which returns the messages to write back.
/// Everything received is also recorded.
pub fn scripted<F>(mut f: F) -> (StreamTransport, Arc<Mutex<Vec<Value>>>)
where
    F: FnMut(&Value) -> Vec<Value> + Send + 'static,
{
    let (client_io, server_io) = tokio::io::duplex(1 << 20);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        let (r, mut w) = tokio::io::split(server_io);
        let mut lines = BufReader::new(r).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            let Ok(v) = serde_json::from_str::<Value>(&line) else {
                continue;
            };
            log.lock().unwrap().push(v.clone());
            for reply in f(&v) {
                let mut s = reply.to_string();
                s.push('\n');
                if w.write_all(s.as_bytes()).await.is_err() {
                    return;
                }
            }
        }
    });
    (StreamTransport::from_duplex(client_io), seen)
}

pub fn result(id: &Value, result: Value) -> Value {
    serde_json::json!({"jsonrpc": "2.0", "id": id, "result": result})
}

pub fn error(id: &Value, code: i64, message: &str, data: Option<Value>) -> Value {
    let mut e = serde_json::json!({"code": code, "message": message});
    if let Some(d) = data {
        e["data"] = d;
    }
    serde_json::json!({"jsonrpc": "2.0", "id": id, "error": e})
}

pub fn discover_result() -> Value {
    serde_json::json!({
        "resultType": "complete",
        "supportedVersions": ["2026-07-28"],
        "capabilities": {"tools": {"listChanged": true}, "resources": {}},
        "_meta": {"io.modelcontextprotocol/serverInfo": {"name": "scripted", "version": "1"}}
    })
}

// ----- HTTP --------------------------------------------------------------------------------------------

pub type Body = BoxBody<Bytes, std::io::Error>;

/// One HTTP request as the test server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    /// The path and query.
    pub path: String,
    pub headers: http::HeaderMap,
    pub body: Value,
    /// The body as sent (forms are not JSON).
    pub raw: Bytes,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    pub fn rpc_method(&self) -> Option<&str> {
        self.body.get("method").and_then(Value::as_str)
    }
    /// The form fields of an `application/x-www-form-urlencoded` body.
    pub fn form(&self) -> BTreeMap<String, String> {
        url::form_urlencoded::parse(&self.raw)
            .into_owned()
            .collect()
    }
}

pub type Handler = Arc<dyn Fn(Seen) -> BoxFuture<'static, http::Response<Body>> + Send + Sync>;

/// A hand-written HTTP server on 127.0.0.1; every request is recorded, then handed to the handler.
pub struct TestHttp {
    pub url: String,
    pub log: Arc<Mutex<Vec<Seen>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TestHttp {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TestHttp {
    pub async fn start<F, Fut>(handler: F) -> Self
    where
        F: Fn(Seen) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = http::Response<Body>> + Send + 'static,
    {
        let handler: Handler = Arc::new(move |s| Box::pin(handler(s)));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let log2 = log.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let _ = stream.set_nodelay(true);
                let handler = handler.clone();
                let log = log2.clone();
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(
                        move |req: hyper::Request<hyper::body::Incoming>| {
                            let handler = handler.clone();
                            let log = log.clone();
                            async move {
                                let (parts, body) = req.into_parts();
                                let bytes = body
                                    .collect()
                                    .await
                                    .map(|b| b.to_bytes())
                                    .unwrap_or_default();
                                let seen = Seen {
                                    method: parts.method.to_string(),
                                    path: parts
                                        .uri
                                        .path_and_query()
                                        .map(|p| p.to_string())
                                        .unwrap_or_default(),
                                    headers: parts.headers,
                                    body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
                                    raw: bytes.clone(),
                                };
                                log.lock().unwrap().push(seen.clone());
                                Ok::<_, Infallible>(handler(seen).await)
                            }
                        },
                    );
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        Self {
            url: format!("http://{addr}/mcp"),
            log,
            task,
        }
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.log.lock().unwrap().clone()
    }

    /// Requests whose JSON-RPC method is `m`.
    pub fn calls(&self, m: &str) -> Vec<Seen> {
        self.seen()
            .into_iter()
            .filter(|s| s.rpc_method() == Some(m))
            .collect()
    }
}

pub fn full(
    status: u16,
    content_type: Option<&str>,
    body: impl Into<Bytes>,
) -> http::Response<Body> {
    let mut b = http::Response::builder().status(status);
    if let Some(ct) = content_type {
        b = b.header("content-type", ct);
    }
    b.body(
        Full::new(body.into())
            .map_err(|never| match never {})
            .boxed(),
    )
    .unwrap()
}

pub fn json(status: u16, v: &Value) -> http::Response<Body> {
    full(status, Some("application/json"), v.to_string())
}

pub fn with_header(mut r: http::Response<Body>, k: &'static str, v: &str) -> http::Response<Body> {
    r.headers_mut().insert(k, v.parse().unwrap());
    r
}

/// An SSE response whose body is fed through the returned sender; sending `Err` aborts the connection,
/// dropping the sender ends the stream cleanly.
pub fn sse_stream() -> (
    mpsc::UnboundedSender<Result<String, std::io::Error>>,
    http::Response<Body>,
) {
    let (tx, rx) = mpsc::unbounded_channel::<Result<String, std::io::Error>>();
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|item| (item.map(|s| Frame::data(Bytes::from(s))), rx))
    });
    let body = BodyExt::boxed(StreamBody::new(stream));
    let resp = http::Response::builder()
        .status(200)
        .header("content-type", "text/event-stream")
        .header("cache-control", "no-cache")
        .body(body)
        .unwrap();
    (tx, resp)
}

/// A complete SSE response with these events.
pub fn sse_events(events: &[String]) -> http::Response<Body> {
    full(200, Some("text/event-stream"), events.concat())
}

pub fn sse_message(id: Option<&str>, v: &Value) -> String {
    match id {
        Some(id) => format!("id: {id}\ndata: {v}\n\n"),
        None => format!("data: {v}\n\n"),
    }
}

pub async fn eventually<F: Fn() -> bool>(what: &str, f: F) {
    let start = Instant::now();
    while !f() {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

pub fn str_map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}
