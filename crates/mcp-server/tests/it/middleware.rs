//! Message-level middleware: layers added on the server builder see every request (method, name, principal,
//! era, session) and can refuse it, the same way over stdio and over HTTP on both eras.

use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures::future::{BoxFuture, FutureExt};
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use mcp_protocol::types::{CallToolResult, Tool};
use mcp_protocol::{Era, ErrorObject, JsonObject};
use mcp_server::auth::{AuthConfig, ScopeLayer};
use mcp_server::http::{HttpConfig, McpService};
use mcp_server::middleware::{McpRequest, McpResponse};
use mcp_server::{serve_connection, ConnectionOptions, Error, Principal, RequestContext, Server};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

const MODERN: &str = "2026-07-28";
const LEGACY: &str = "2025-11-25";

/// What a layer saw of one request.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    method: String,
    name: Option<String>,
    subject: Option<String>,
    era: Era,
    session: Option<String>,
    /// The answer's result text, or the error message.
    answer: String,
}

/// Records every request and its answer; refuses `tools/call` of `forbidden` without calling inside.
#[derive(Clone)]
struct Recorder<S> {
    inner: S,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl<S> tower::Service<McpRequest> for Recorder<S>
where
    S: tower::Service<McpRequest, Response = McpResponse> + Clone + Send + 'static,
    S::Future: Send,
{
    type Response = McpResponse;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<McpResponse, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: McpRequest) -> Self::Future {
        let mut seen = Seen {
            method: req.method().to_owned(),
            name: req.name().map(str::to_owned),
            subject: req.principal().map(|p| p.subject.clone()),
            era: req.era(),
            session: req.session_id().map(str::to_owned),
            answer: String::new(),
        };
        let log = self.seen.clone();
        if req.name() == Some("forbidden") {
            seen.answer = "refused".into();
            log.lock().unwrap().push(seen);
            let refusal = McpResponse::error(
                ErrorObject::invalid_request("refused by the recorder layer")
                    .with_data(json!({"layer": "recorder"})),
            );
            return async move { Ok(refusal) }.boxed();
        }
        let fut = self.inner.call(req);
        async move {
            let r = fut.await?;
            seen.answer = match (r.result_json(), r.error_object()) {
                (Some(text), _) => text.to_owned(),
                (None, Some(e)) => e.message.clone(),
                (None, None) => "cancelled".into(),
            };
            log.lock().unwrap().push(seen);
            Ok(r)
        }
        .boxed()
    }
}

fn tool(name: &str) -> Tool {
    Tool {
        name: name.into(),
        input_schema: json!({"type": "object"}),
        ..Default::default()
    }
}

fn server(seen: Arc<Mutex<Vec<Seen>>>) -> Server {
    let mut b = Server::builder("layered", "1.0.0");
    for name in ["echo", "forbidden"] {
        b = b.tool(
            tool(name),
            |_c: RequestContext, _a: JsonObject| async move {
                Ok::<_, Error>(CallToolResult::text("ran"))
            },
        );
    }
    b.layer(tower::layer::layer_fn(move |inner| Recorder {
        inner,
        seen: seen.clone(),
    }))
    .build()
}

/// The HTTP endpoint with a `Principal` put in each request's extensions, as an auth layer would.
fn http_endpoint(server: Server) -> impl Fn(Request<Full<Bytes>>) -> BoxFuture<'static, Reply> {
    let svc = McpService::new(server, HttpConfig::default());
    move |mut req| {
        req.extensions_mut().insert(Principal {
            subject: "alice".into(),
            scopes: vec!["mcp".into()],
            client_id: None,
        });
        let svc = svc.clone();
        async move {
            let r = svc.handle(req).await;
            let (parts, body) = r.into_parts();
            let bytes = body.collect().await.unwrap().to_bytes();
            Reply {
                status: parts.status,
                headers: parts.headers,
                body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            }
        }
        .boxed()
    }
}

struct Reply {
    status: StatusCode,
    headers: http::HeaderMap,
    body: Value,
}

fn post(body: Value, headers: &[(&str, &str)]) -> Request<Full<Bytes>> {
    let mut b = Request::post("http://localhost/mcp")
        .header("host", "localhost")
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream");
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(Full::new(Bytes::from(body.to_string()))).unwrap()
}

fn call(id: u64, name: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": name, "arguments": {}}})
}

fn modern(mut msg: Value) -> Value {
    msg["params"]["_meta"] = json!({
        "io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientCapabilities": {},
    });
    msg
}

fn modern_headers(name: &'static str) -> [(&'static str, &'static str); 3] {
    [
        ("mcp-protocol-version", MODERN),
        ("mcp-method", "tools/call"),
        ("mcp-name", name),
    ]
}

async fn legacy_session(
    send: &impl Fn(Request<Full<Bytes>>) -> BoxFuture<'static, Reply>,
) -> String {
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": LEGACY, "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}});
    let r = send(post(init, &[])).await;
    assert_eq!(r.status, StatusCode::OK);
    r.headers["mcp-session-id"].to_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_layer_sees_the_tool_name_principal_era_and_session_over_http() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let send = http_endpoint(server(seen.clone()));

    let sid = legacy_session(&send).await;
    let hs = [
        ("mcp-session-id", sid.as_str()),
        ("mcp-protocol-version", LEGACY),
    ];
    let r = send(post(call(2, "echo"), &hs)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["result"]["content"][0]["text"], "ran");
    let r = send(post(modern(call(3, "echo")), &modern_headers("echo"))).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["result"]["content"][0]["text"], "ran");

    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        seen.len(),
        2,
        "initialize does not pass through layers: {seen:?}"
    );
    for (s, era, session) in [
        (&seen[0], Era::Legacy, Some(sid.clone())),
        (&seen[1], Era::Modern, None),
    ] {
        assert_eq!(s.method, "tools/call");
        assert_eq!(s.name.as_deref(), Some("echo"));
        assert_eq!(s.subject.as_deref(), Some("alice"));
        assert_eq!(s.era, era);
        assert_eq!(s.session, session);
        // The layer saw the answer the client got, modern fields included on 2026-07-28.
        let answer: Value = serde_json::from_str(&s.answer).unwrap();
        assert_eq!(answer["content"][0]["text"], "ran");
        assert_eq!(answer.get("resultType").is_some(), era == Era::Modern);
    }
}

#[tokio::test]
async fn a_refusing_layer_answers_the_client_on_both_http_eras() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let send = http_endpoint(server(seen.clone()));

    let sid = legacy_session(&send).await;
    let hs = [
        ("mcp-session-id", sid.as_str()),
        ("mcp-protocol-version", LEGACY),
    ];
    let r = send(post(call(2, "forbidden"), &hs)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["id"], 2);
    assert_eq!(r.body["error"]["code"], -32600);
    assert_eq!(r.body["error"]["data"]["layer"], "recorder");

    let r = send(post(
        modern(call(3, "forbidden")),
        &modern_headers("forbidden"),
    ))
    .await;
    // -32600 maps to 400 on 2026-07-28, like any invalid request.
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.body["id"], 3);
    assert_eq!(r.body["error"]["data"]["layer"], "recorder");

    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 2);
    assert!(seen.iter().all(|s| s.answer == "refused"), "{seen:?}");
}

/// A client on an in-memory duplex, framed like stdio.
struct Pipe {
    w: tokio::io::WriteHalf<tokio::io::DuplexStream>,
    r: tokio::io::Lines<BufReader<tokio::io::ReadHalf<tokio::io::DuplexStream>>>,
}

impl Pipe {
    fn open(server: Server) -> Self {
        let (ours, theirs) = tokio::io::duplex(64 * 1024);
        let (sr, sw) = tokio::io::split(theirs);
        tokio::spawn(serve_connection(
            server,
            BufReader::new(sr),
            sw,
            ConnectionOptions::default(),
        ));
        let (r, w) = tokio::io::split(ours);
        Self {
            w,
            r: BufReader::new(r).lines(),
        }
    }

    async fn call(&mut self, msg: Value) -> Value {
        self.w
            .write_all(format!("{msg}\n").as_bytes())
            .await
            .unwrap();
        loop {
            let line = tokio::time::timeout(Duration::from_secs(5), self.r.next_line())
                .await
                .expect("an answer within 5 s")
                .unwrap()
                .expect("connection open");
            let v: Value = serde_json::from_str(&line).unwrap();
            if v.get("id") == msg.get("id") {
                return v;
            }
        }
    }
}

#[tokio::test]
async fn a_refusing_layer_answers_the_client_over_stdio_on_both_eras() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mut pipe = Pipe::open(server(seen.clone()));

    let r = pipe.call(modern(call(1, "forbidden"))).await;
    assert_eq!(r["error"]["data"]["layer"], "recorder", "{r}");
    let r = pipe.call(modern(call(2, "echo"))).await;
    assert_eq!(r["result"]["content"][0]["text"], "ran", "{r}");

    let init = json!({"jsonrpc": "2.0", "id": 3, "method": "initialize", "params": {
        "protocolVersion": LEGACY, "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}});
    assert!(pipe.call(init).await.get("result").is_some());
    let r = pipe.call(call(4, "forbidden")).await;
    assert_eq!(r["error"]["data"]["layer"], "recorder", "{r}");
    let r = pipe.call(call(5, "echo")).await;
    assert_eq!(r["result"]["content"][0]["text"], "ran", "{r}");

    let seen = seen.lock().unwrap();
    let eras: Vec<_> = seen
        .iter()
        .map(|s| (s.era, s.answer == "refused"))
        .collect();
    assert_eq!(
        eras,
        [
            (Era::Modern, true),
            (Era::Modern, false),
            (Era::Legacy, true),
            (Era::Legacy, false)
        ]
    );
    // stdio has no principal and its one session no id.
    assert!(seen
        .iter()
        .all(|s| s.subject.is_none() && s.session.is_none()));
}

#[tokio::test]
async fn the_scope_layer_refuses_over_stdio_and_with_a_challenge_over_http() {
    let scopes = AuthConfig::new(
        "https://mcp.example.com/mcp",
        vec!["https://as.example.com".into()],
    )
    .tool_scopes("forbidden", &["admin"]);
    let build = || {
        Server::builder("scoped", "1.0.0")
            .tool(
                tool("forbidden"),
                |_c: RequestContext, _a: JsonObject| async move {
                    Ok::<_, Error>(CallToolResult::text("ran"))
                },
            )
            .layer(ScopeLayer::new(scopes.clone()))
            .build()
    };

    // stdio has no principal, so no scopes: the JSON-RPC error names what is needed.
    let mut pipe = Pipe::open(build());
    let r = pipe.call(modern(call(1, "forbidden"))).await;
    assert_eq!(r["error"]["data"]["error"], "insufficient_scope", "{r}");
    assert_eq!(r["error"]["data"]["scope"], "admin", "{r}");

    // Over HTTP (modern era) alice's principal lacks `admin`: 403 with the challenge clients step up on.
    let send = http_endpoint(build());
    let r = send(post(
        modern(call(2, "forbidden")),
        &modern_headers("forbidden"),
    ))
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let c = r.headers["www-authenticate"].to_str().unwrap();
    assert!(
        c.contains("error=\"insufficient_scope\"") && c.contains("scope=\"admin\""),
        "{c}"
    );
    assert_eq!(r.body["id"], 2);
    assert_eq!(r.body["error"]["data"]["scope"], "admin");
}

#[tokio::test]
async fn a_failing_layer_becomes_a_json_rpc_error() {
    let server = Server::builder("slow", "1.0.0")
        .tool(
            tool("hang"),
            |_c: RequestContext, _a: JsonObject| async move {
                std::future::pending::<()>().await;
                Ok::<_, Error>(CallToolResult::text("never"))
            },
        )
        .layer(tower::timeout::TimeoutLayer::new(Duration::from_millis(50)))
        .build();
    let mut pipe = Pipe::open(server);
    let r = pipe.call(modern(call(1, "hang"))).await;
    assert_eq!(r["error"]["code"], -32603, "{r}");
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("timed out"),
        "{r}"
    );
}

#[tokio::test]
async fn layers_run_last_added_first() {
    let order = Arc::new(Mutex::new(Vec::new()));
    let mark = |tag: &'static str| {
        let order = order.clone();
        tower::layer::layer_fn(move |inner: mcp_server::middleware::Next| {
            let order = order.clone();
            tower::service_fn(move |req: McpRequest| {
                order.lock().unwrap().push(tag);
                let mut inner = inner.clone();
                async move { tower::Service::call(&mut inner, req).await }
            })
        })
    };
    let server = Server::builder("ordered", "1.0.0")
        .tool(
            tool("echo"),
            |_c: RequestContext, _a: JsonObject| async move {
                Ok::<_, Error>(CallToolResult::text("ran"))
            },
        )
        .layer(mark("inner"))
        .layer(mark("outer"))
        .build();
    let mut pipe = Pipe::open(server);
    let r = pipe.call(modern(call(1, "echo"))).await;
    assert_eq!(r["result"]["content"][0]["text"], "ran", "{r}");
    assert_eq!(*order.lock().unwrap(), ["outer", "inner"]);
}
