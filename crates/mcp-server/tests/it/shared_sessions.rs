//! Two endpoints sharing one session store and one bus behave as one server: the seam a fleet is built on,
//! exercised in one process with the in-memory store and bus.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::future::BoxFuture;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use mcp_protocol::types::{CallToolResult, ElicitRequestParams, LoggingLevel, Tool};
use mcp_server::http::{
    HttpConfig, McpBody, McpService, MemoryBus, MemoryEventStore, MemorySessionStore,
    SessionRecord, SessionStore, StoreError,
};
use mcp_server::{Error, RequestContext, Server};
use serde_json::{json, Value};

const V: &str = "2025-11-25";

fn tool(name: &str) -> Tool {
    Tool {
        name: name.into(),
        input_schema: json!({"type":"object"}),
        ..Default::default()
    }
}

fn server() -> Server {
    Server::builder("fleet", "1.0.0")
        .tool(
            tool("echo"),
            |_c: RequestContext, a: mcp_protocol::JsonObject| async move {
                Ok::<_, Error>(CallToolResult::text(
                    a.get("text")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_owned(),
                ))
            },
        )
        .tool(tool("ask"), |ctx: RequestContext, _a| async move {
            let r = ctx
                .elicit(
                    "name",
                    ElicitRequestParams::form(
                        "Name?",
                        json!({"type":"object","properties":{"name":{"type":"string"}}}),
                    ),
                )
                .await?;
            let name = r.content.and_then(|c| c.get("name").cloned());
            Ok::<_, Error>(CallToolResult::text(format!(
                "Hello, {}!",
                name.as_ref().and_then(Value::as_str).unwrap_or("?")
            )))
        })
        .tool(tool("chatty"), |ctx: RequestContext, _a| async move {
            for i in 0..3 {
                ctx.log(LoggingLevel::Info, None, json!(i)).await;
            }
            Ok::<_, Error>(CallToolResult::text("done"))
        })
        .build()
}

/// Two endpoints ("nodes"), each with its own `Server`, sharing a session store, an event store and a bus;
/// returns B's `Server` too.
fn pair() -> (McpService, McpService, Server) {
    let store = Arc::new(MemorySessionStore::new(100));
    let bus = MemoryBus::new();
    let events = Arc::new(MemoryEventStore::default());
    let node = |s: Server| {
        McpService::new(
            s,
            HttpConfig::default()
                .session_store(store.clone())
                .event_store(events.clone())
                .bus(Arc::new(bus.join())),
        )
    };
    // Each node serves its own `Server`, as separate processes do.
    let b = server();
    (node(server()), node(b.clone()), b)
}

fn req(
    method: http::Method,
    body: Option<Value>,
    headers: &[(&str, &str)],
) -> Request<Full<Bytes>> {
    let mut b = Request::builder()
        .method(method)
        .uri("http://localhost/mcp")
        .header("host", "localhost:3000")
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", V);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(Full::new(Bytes::from(
        body.map(|b| b.to_string()).unwrap_or_default(),
    )))
    .unwrap()
}

fn post(body: Value, sid: &str) -> Request<Full<Bytes>> {
    req(http::Method::POST, Some(body), &[("mcp-session-id", sid)])
}

async fn send(svc: &McpService, r: Request<Full<Bytes>>) -> (StatusCode, http::HeaderMap, String) {
    let (parts, body) = svc.handle(r).await.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    (
        parts.status,
        parts.headers,
        String::from_utf8_lossy(&bytes).into_owned(),
    )
}

/// The next SSE event of a streaming body: (id, JSON data).
async fn next_event(body: &mut McpBody) -> Option<(Option<String>, Value)> {
    let mut buf = String::new();
    loop {
        if let Some(end) = buf.find("\n\n") {
            let ev: String = buf.drain(..end + 2).collect();
            let id = ev
                .lines()
                .find_map(|l| l.strip_prefix("id: "))
                .map(str::to_owned);
            let data: String = ev
                .lines()
                .filter_map(|l| l.strip_prefix("data: "))
                .collect();
            match serde_json::from_str(&data) {
                Ok(v) => return Some((id, v)),
                Err(_) => continue, // priming events and comments
            }
        }
        let frame = tokio::time::timeout(Duration::from_secs(5), body.frame())
            .await
            .expect("an event within 5 s")?
            .ok()?;
        if let Ok(data) = frame.into_data() {
            buf.push_str(&String::from_utf8_lossy(&data));
        }
    }
}

async fn open(svc: &McpService) -> String {
    let init = json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":V,
        "capabilities":{"elicitation":{}},"clientInfo":{"name":"t","version":"1"}}});
    let (st, h, body) = send(svc, req(http::Method::POST, Some(init), &[])).await;
    assert_eq!(st, StatusCode::OK, "{body}");
    let sid = h["mcp-session-id"].to_str().unwrap().to_owned();
    let (st, _, _) = send(
        svc,
        post(
            json!({"jsonrpc":"2.0","method":"notifications/initialized"}),
            &sid,
        ),
    )
    .await;
    assert_eq!(st, StatusCode::ACCEPTED);
    sid
}

#[tokio::test]
async fn a_session_opened_on_one_node_is_served_by_another_and_deleted_on_all() {
    let (a, b, server_b) = pair();
    let sid = open(&a).await;
    let call = json!({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{"text":"on b"}}});
    let (st, _, body) = send(&b, post(call.clone(), &sid)).await;
    assert_eq!(st, StatusCode::OK, "{body}");
    assert!(body.contains("on b"), "{body}");

    // A subscription made on B is in force on A, which holds the GET stream.
    let get = a
        .handle(req(http::Method::GET, None, &[("mcp-session-id", &sid)]))
        .await;
    assert_eq!(get.status(), StatusCode::OK);
    let sub =
        json!({"jsonrpc":"2.0","id":3,"method":"resources/subscribe","params":{"uri":"file:///x"}});
    assert_eq!(send(&b, post(sub, &sid)).await.0, StatusCode::OK);
    // A's copy learns of the change at its next look at the store (any request of the session on A).
    assert_eq!(send(&a, post(call.clone(), &sid)).await.0, StatusCode::OK);
    // Raised on B: A's GET stream gets it through the bus.
    server_b.notify_resource_updated("file:///x");
    let mut get_body = get.into_body();
    let (_, ev) = next_event(&mut get_body)
        .await
        .expect("the update on A's GET stream");
    assert_eq!(ev["method"], "notifications/resources/updated", "{ev}");
    assert_eq!(ev["params"]["uri"], "file:///x");

    // DELETE on B: 404 on A at once, and A's GET stream ends.
    let (st, _, _) = send(
        &b,
        req(http::Method::DELETE, None, &[("mcp-session-id", &sid)]),
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    let (st, _, body) = send(&a, post(call, &sid)).await;
    assert_eq!(st, StatusCode::NOT_FOUND, "{body}");
    let end = tokio::time::timeout(Duration::from_secs(5), async {
        while next_event(&mut get_body).await.is_some() {}
    })
    .await;
    assert!(end.is_ok(), "A's GET stream ended after the DELETE on B");
}

#[tokio::test]
async fn an_answer_posted_to_another_node_reaches_the_handler_that_asked() {
    let (a, b, _) = pair();
    let sid = open(&a).await;
    // B must be serving (subscribed to the bus) before the answer arrives: any request of the session does.
    let ping = json!({"jsonrpc":"2.0","id":9,"method":"ping"});
    assert_eq!(send(&b, post(ping, &sid)).await.0, StatusCode::OK);
    let ask = json!({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"ask"}});
    let mut stream = a.handle(post(ask, &sid)).await.into_body();
    let (_, question) = next_event(&mut stream).await.expect("the elicitation");
    assert_eq!(question["method"], "elicitation/create", "{question}");
    let answer = json!({"jsonrpc":"2.0","id":question["id"],"result":{"action":"accept","content":{"name":"Ada"}}});
    assert_eq!(send(&b, post(answer, &sid)).await.0, StatusCode::ACCEPTED);
    let (_, result) = next_event(&mut stream).await.expect("the tool's result");
    assert_eq!(
        result["result"]["content"][0]["text"], "Hello, Ada!",
        "{result}"
    );
}

#[tokio::test]
async fn a_stream_from_one_node_resumes_on_another_and_only_in_its_session() {
    let (a, b, _) = pair();
    let sid = open(&a).await;
    let other = open(&b).await;
    let call = json!({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"chatty"}});
    let mut stream = a.handle(post(call, &sid)).await.into_body();
    let mut events = Vec::new();
    while let Some(ev) = next_event(&mut stream).await {
        events.push(ev);
    }
    assert_eq!(events.len(), 4, "three logs and the result: {events:?}");
    let first = events[0].0.clone().expect("event ids");
    // Resume on B after the first event: the rest, once, in order.
    let resume = req(
        http::Method::GET,
        None,
        &[("mcp-session-id", &sid), ("last-event-id", &first)],
    );
    let (st, _, body) = send(&b, resume).await;
    assert_eq!(st, StatusCode::OK, "{body}");
    let replayed: Vec<Value> = body
        .split("\n\n")
        .filter_map(|ev| {
            serde_json::from_str(
                &ev.lines()
                    .filter_map(|l| l.strip_prefix("data: "))
                    .collect::<String>(),
            )
            .ok()
        })
        .collect();
    let expected: Vec<Value> = events[1..].iter().map(|(_, v)| v.clone()).collect();
    assert_eq!(replayed, expected);
    // The same id in another session finds nothing.
    let stolen = req(
        http::Method::GET,
        None,
        &[("mcp-session-id", &other), ("last-event-id", &first)],
    );
    assert_eq!(send(&b, stolen).await.0, StatusCode::NOT_FOUND);
}

/// A store that cannot be reached.
struct Down;

impl SessionStore for Down {
    fn create<'a>(
        &'a self,
        _: &'a SessionRecord,
        _: Duration,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async { Err(StoreError::unavailable("connection refused")) })
    }
    fn load<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Result<Option<SessionRecord>, StoreError>> {
        Box::pin(async { Err(StoreError::unavailable("connection refused")) })
    }
    fn touch<'a>(
        &'a self,
        _: &'a str,
        _: Duration,
    ) -> BoxFuture<'a, Result<Option<u64>, StoreError>> {
        Box::pin(async { Err(StoreError::unavailable("connection refused")) })
    }
    fn update<'a>(
        &'a self,
        _: &'a SessionRecord,
        _: Duration,
    ) -> BoxFuture<'a, Result<Option<u64>, StoreError>> {
        Box::pin(async { Err(StoreError::unavailable("connection refused")) })
    }
    fn remove<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async { Err(StoreError::unavailable("connection refused")) })
    }
}

#[tokio::test]
async fn a_store_that_is_down_gets_503_naming_the_cause() {
    let svc = McpService::new(
        server(),
        HttpConfig::default().session_store(Arc::new(Down)),
    );
    let init = json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":V,
        "capabilities":{},"clientInfo":{"name":"t","version":"1"}}});
    let (st, _, body) = send(&svc, req(http::Method::POST, Some(init), &[])).await;
    assert_eq!(st, StatusCode::SERVICE_UNAVAILABLE);
    let err: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(err["id"], 1);
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("connection refused"),
        "{body}"
    );
    let call = json!({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo"}});
    let (st, _, body) = send(&svc, post(call, "some-session")).await;
    assert_eq!(st, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        body.contains("session store unavailable: connection refused"),
        "{body}"
    );
}

/// A server whose `paced` tool logs, waits for `gate`, logs again and answers, and whose `stuck` tool logs
/// and never answers (its node will "die" meanwhile).
fn gated_server(gate: Arc<tokio::sync::Notify>) -> Server {
    Server::builder("fleet", "1.0.0")
        .tool(tool("paced"), move |ctx: RequestContext, _a| {
            let gate = gate.clone();
            async move {
                ctx.log(LoggingLevel::Info, None, json!("before")).await;
                gate.notified().await;
                ctx.log(LoggingLevel::Info, None, json!("after")).await;
                Ok::<_, Error>(CallToolResult::text("paced done"))
            }
        })
        .tool(tool("stuck"), |ctx: RequestContext, _a| async move {
            ctx.log(LoggingLevel::Info, None, json!("working")).await;
            std::future::pending::<()>().await;
            Ok::<_, Error>(CallToolResult::text("never"))
        })
        .tool(tool("chatty"), |ctx: RequestContext, _a| async move {
            for i in 0..3 {
                ctx.log(LoggingLevel::Info, None, json!(i)).await;
            }
            Ok::<_, Error>(CallToolResult::text("done"))
        })
        .build()
}

/// Two nodes as in [`pair`], with A's bus node (to make A "die") and the gate of A's `paced` tool.
fn gated_pair() -> (
    McpService,
    McpService,
    mcp_server::http::MemoryBusNode,
    Arc<tokio::sync::Notify>,
) {
    let store = Arc::new(MemorySessionStore::new(100));
    let bus = MemoryBus::new();
    let events = Arc::new(MemoryEventStore::default());
    let gate = Arc::new(tokio::sync::Notify::new());
    let node = |bus: mcp_server::http::MemoryBusNode| {
        McpService::new(
            gated_server(gate.clone()),
            HttpConfig::default()
                .session_store(store.clone())
                .event_store(events.clone())
                .bus(Arc::new(bus)),
        )
    };
    let a_bus = bus.join();
    let (a, b) = (node(a_bus.clone()), node(bus.join()));
    (a, b, a_bus, gate)
}

/// The JSON messages of an SSE body, in order, until it ends.
async fn rest(body: &mut McpBody) -> Vec<Value> {
    let mut all = Vec::new();
    while let Some((_, v)) = next_event(body).await {
        all.push(v);
    }
    all
}

#[tokio::test]
async fn a_stream_resumed_on_another_node_follows_its_live_rest() {
    let (a, b, _, gate) = gated_pair();
    let sid = open(&a).await;
    let call = json!({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"paced"}});
    let mut stream = a.handle(post(call, &sid)).await.into_body();
    let (id, first) = next_event(&mut stream).await.expect("the first log");
    assert_eq!(first["params"]["data"], "before", "{first}");
    // The client loses its connection, and resumes on B while A's handler is still running.
    drop(stream);
    let resume = req(
        http::Method::GET,
        None,
        &[
            ("mcp-session-id", &sid),
            ("last-event-id", &id.expect("event ids")),
        ],
    );
    let r = b.handle(resume).await;
    assert_eq!(r.status(), StatusCode::OK);
    // Only now does the handler on A go on: what follows is live, written after B began following.
    gate.notify_one();
    let mut body = r.into_body();
    let got = rest(&mut body).await;
    assert_eq!(got.len(), 2, "the second log and the result, once: {got:?}");
    assert_eq!(got[0]["params"]["data"], "after", "{got:?}");
    assert_eq!(got[1]["id"], 2);
    assert_eq!(got[1]["result"]["content"][0]["text"], "paced done");
}

#[tokio::test]
async fn a_request_of_a_dead_node_gets_an_error_on_resume_and_completed_ones_do_not() {
    let (a, b, a_bus, _) = gated_pair();
    let sid = open(&a).await;
    // One request that completed on A, and one that never will.
    let done = json!({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"chatty"}});
    let mut stream = a.handle(post(done, &sid)).await.into_body();
    let (done_id, _) = next_event(&mut stream).await.expect("a log");
    let completed = rest(&mut stream).await;
    let stuck = json!({"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"stuck"}});
    let mut stream = a.handle(post(stuck, &sid)).await.into_body();
    let (stuck_id, working) = next_event(&mut stream).await.expect("a log");
    assert_eq!(working["params"]["data"], "working");
    drop(stream);

    // While A lives, a resume on B waits for the rest (the handler may still answer).
    let resume = |id: &str| {
        req(
            http::Method::GET,
            None,
            &[("mcp-session-id", &sid), ("last-event-id", id)],
        )
    };
    let stuck_id = stuck_id.expect("event ids");
    let mut waiting = b.handle(resume(&stuck_id)).await.into_body();
    let early = tokio::time::timeout(Duration::from_millis(300), waiting.frame()).await;
    assert!(
        early.is_err(),
        "nothing yet from a live node's running request"
    );
    drop(waiting);

    a_bus.leave();
    // The orphaned request: an error naming what happened, then the stream ends.
    let mut body = b.handle(resume(&stuck_id)).await.into_body();
    let got = rest(&mut body).await;
    assert_eq!(got.len(), 1, "one error, then the end: {got:?}");
    assert_eq!(got[0]["id"], 3, "{got:?}");
    let msg = got[0]["error"]["message"].as_str().unwrap_or_default();
    assert!(msg.contains("stopped"), "{msg}");

    // The completed request: its stored rest, once, and no error.
    let mut body = b
        .handle(resume(&done_id.expect("event ids")))
        .await
        .into_body();
    assert_eq!(rest(&mut body).await, completed);
    assert_eq!(
        completed.last().unwrap()["result"]["content"][0]["text"],
        "done"
    );
}

fn modern_req(method: &str, body: Value) -> Request<Full<Bytes>> {
    Request::builder()
        .method(http::Method::POST)
        .uri("http://localhost/mcp")
        .header("host", "localhost:3000")
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", method)
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap()
}

#[tokio::test]
async fn a_listen_on_one_node_hears_events_raised_on_another() {
    let (a, b, server_b) = pair();
    let meta = json!({"io.modelcontextprotocol/protocolVersion":"2026-07-28",
        "io.modelcontextprotocol/clientCapabilities":{}});
    // B serves (and so forwards its events to the bus) from its first request on.
    let discover =
        json!({"jsonrpc":"2.0","id":1,"method":"server/discover","params":{"_meta":meta}});
    assert_eq!(
        send(&b, modern_req("server/discover", discover)).await.0,
        StatusCode::OK
    );
    let listen = json!({"jsonrpc":"2.0","id":7,"method":"subscriptions/listen","params":{
        "notifications":{"toolsListChanged":true,"resourceSubscriptions":["file:///x"]},"_meta":meta}});
    let r = a.handle(modern_req("subscriptions/listen", listen)).await;
    assert_eq!(r.status(), StatusCode::OK);
    let mut body = r.into_body();
    let (_, ack) = next_event(&mut body).await.expect("the acknowledgement");
    assert_eq!(
        ack["method"], "notifications/subscriptions/acknowledged",
        "{ack}"
    );
    server_b.add_tool(tool("late"), |_c: RequestContext, _a| async {
        Ok::<_, Error>(CallToolResult::text("late"))
    });
    let (_, n) = next_event(&mut body).await.expect("the list change");
    assert_eq!(n["method"], "notifications/tools/list_changed", "{n}");
    server_b.notify_resource_updated("file:///x");
    let (_, n) = next_event(&mut body).await.expect("the update");
    assert_eq!(n["method"], "notifications/resources/updated", "{n}");
    assert_eq!(n["params"]["uri"], "file:///x");
}

#[tokio::test]
async fn a_record_change_answered_on_a_stream_is_stored_before_the_answer() {
    // With SSE answers, `logging/setLevel` is answered on a stream; the level must be in the shared record
    // by then, since the client's next request may land on another node.
    let store = Arc::new(MemorySessionStore::new(10));
    let a = McpService::new(
        server(),
        HttpConfig::default()
            .session_store(store.clone())
            .response_mode(mcp_server::http::ResponseMode::Sse),
    );
    let sid = open(&a).await;
    let set =
        json!({"jsonrpc":"2.0","id":2,"method":"logging/setLevel","params":{"level":"warning"}});
    let (st, _, body) = send(&a, post(set, &sid)).await;
    assert_eq!(st, StatusCode::OK, "{body}");
    assert!(body.contains("\"id\":2"), "answered on the stream: {body}");
    let record = store
        .load(&sid)
        .await
        .unwrap()
        .expect("the session's record");
    assert_eq!(record.log_level, Some(LoggingLevel::Warning));
}
