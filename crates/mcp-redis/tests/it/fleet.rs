//! Two server instances sharing one real Redis behave as one server. Each test starts its own
//! `redis-server` on a free loopback port (no persistence) and kills it when done. Without the binary the
//! tests are skipped with a loud message, unless `MCP_REQUIRE_PEERS=1` (as CI sets), when they fail.

use std::net::SocketAddr;
use std::time::Duration;

use futures::StreamExt;
use mcp_protocol::types::{CallToolResult, ElicitRequestParams, LoggingLevel, Tool};
use mcp_server::http::{serve_listener, HttpConfig};
use mcp_server::{Error, RequestContext, Server};
use serde_json::{json, Value};

const V: &str = "2025-11-25";

use crate::common;
use common::redis_server;
use mcp_redis::testing::RedisServer;

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

/// One node: its own server and its own Redis connection, as a separate process would have.
async fn node(url: &str, prefix: &str) -> (SocketAddr, Server) {
    let redis = mcp_redis::Redis::open(url).unwrap().prefix(prefix);
    let server = server();
    let bound = serve_listener(
        server.clone(),
        redis.configure(HttpConfig::default()),
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    let addr = bound.local_addr().unwrap();
    tokio::spawn(bound.run());
    (addr, server)
}

struct Client {
    http: reqwest::Client,
}

impl Client {
    fn new() -> Self {
        Self {
            http: reqwest::Client::new(),
        }
    }

    fn req(
        &self,
        method: reqwest::Method,
        to: SocketAddr,
        sid: Option<&str>,
    ) -> reqwest::RequestBuilder {
        let mut b = self
            .http
            .request(method, format!("http://{to}/mcp"))
            .header("accept", "application/json, text/event-stream")
            .header("content-type", "application/json")
            .header("mcp-protocol-version", V);
        if let Some(s) = sid {
            b = b.header("mcp-session-id", s);
        }
        b
    }

    async fn post(&self, to: SocketAddr, sid: &str, body: Value) -> (u16, String) {
        let r = self
            .req(reqwest::Method::POST, to, Some(sid))
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }

    async fn open(&self, to: SocketAddr) -> String {
        let init = json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":V,
            "capabilities":{"elicitation":{}},"clientInfo":{"name":"t","version":"1"}}});
        let r = self
            .req(reqwest::Method::POST, to, None)
            .body(init.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let sid = r.headers()["mcp-session-id"].to_str().unwrap().to_owned();
        let (st, _) = self
            .post(
                to,
                &sid,
                json!({"jsonrpc":"2.0","method":"notifications/initialized"}),
            )
            .await;
        assert_eq!(st, 202);
        sid
    }
}

/// Reads SSE events off a streaming response.
struct Events {
    body: futures::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    buf: String,
}

impl Events {
    fn new(r: reqwest::Response) -> Self {
        Self {
            body: r.bytes_stream().boxed(),
            buf: String::new(),
        }
    }

    /// The next event carrying a message: (id, message); `None` at the end of the stream.
    async fn next(&mut self) -> Option<(Option<String>, Value)> {
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let ev: String = self.buf.drain(..end + 2).collect();
                let id = ev
                    .lines()
                    .find_map(|l| l.strip_prefix("id: "))
                    .map(str::to_owned);
                let data: String = ev
                    .lines()
                    .filter_map(|l| l.strip_prefix("data: "))
                    .collect();
                if let Ok(v) = serde_json::from_str(&data) {
                    return Some((id, v));
                }
                continue;
            }
            let chunk = tokio::time::timeout(Duration::from_secs(10), self.body.next())
                .await
                .expect("an event within 10 s")?
                .ok()?;
            self.buf.push_str(&String::from_utf8_lossy(&chunk));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_on_one_redis_serve_one_session() {
    let Some(redis) = redis_server().await else {
        return;
    };
    let ((a, _), (b, server_b)) = (
        node(&redis.url(), "t1:").await,
        node(&redis.url(), "t1:").await,
    );
    let c = Client::new();

    // Initialize on A, call tools on B.
    let sid = c.open(a).await;
    let echo = json!({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{"text":"served by b"}}});
    let (st, body) = c.post(b, &sid, echo.clone()).await;
    assert_eq!(st, 200, "{body}");
    assert!(body.contains("served by b"), "{body}");

    // An elicitation sent by A, answered through B, reaches A's waiting handler.
    let ask = json!({"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"ask"}});
    let r = c
        .req(reqwest::Method::POST, a, Some(&sid))
        .body(ask.to_string())
        .send()
        .await
        .unwrap();
    let mut ev = Events::new(r);
    let (_, question) = ev.next().await.expect("the elicitation");
    assert_eq!(question["method"], "elicitation/create", "{question}");
    let answer = json!({"jsonrpc":"2.0","id":question["id"],"result":{"action":"accept","content":{"name":"Ada"}}});
    assert_eq!(c.post(b, &sid, answer).await.0, 202);
    let (_, result) = ev.next().await.expect("the result");
    assert_eq!(
        result["result"]["content"][0]["text"], "Hello, Ada!",
        "{result}"
    );

    // A resumable stream of A's, resumed on B with a Last-Event-ID from A: the rest, once, in order.
    let chatty = json!({"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"chatty"}});
    let r = c
        .req(reqwest::Method::POST, a, Some(&sid))
        .body(chatty.to_string())
        .send()
        .await
        .unwrap();
    let mut ev = Events::new(r);
    let mut seen = Vec::new();
    while let Some(e) = ev.next().await {
        seen.push(e);
    }
    assert_eq!(seen.len(), 4, "three logs and the result: {seen:?}");
    let first = seen[0].0.clone().expect("event ids");
    let r = c
        .req(reqwest::Method::GET, b, Some(&sid))
        .header("last-event-id", &first)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let mut ev = Events::new(r);
    let mut replayed = Vec::new();
    while let Some((_, m)) = ev.next().await {
        replayed.push(m);
    }
    let expected: Vec<Value> = seen[1..].iter().map(|(_, m)| m.clone()).collect();
    assert_eq!(replayed, expected);

    // The same event id in another session is refused.
    let other = c.open(b).await;
    let r = c
        .req(reqwest::Method::GET, a, Some(&other))
        .header("last-event-id", &first)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);

    // A's GET stream gets a notification raised on B, for a subscription made on B.
    let r = c
        .req(reqwest::Method::GET, a, Some(&sid))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let mut get = Events::new(r);
    let sub =
        json!({"jsonrpc":"2.0","id":5,"method":"resources/subscribe","params":{"uri":"file:///x"}});
    assert_eq!(c.post(b, &sid, sub).await.0, 200);
    // A reloads the changed record at its next look at the store (any request of the session on A).
    assert_eq!(
        c.post(a, &sid, json!({"jsonrpc":"2.0","id":6,"method":"ping"}))
            .await
            .0,
        200
    );
    server_b.notify_resource_updated("file:///x");
    let (_, n) = get
        .next()
        .await
        .expect("the notification on A's GET stream");
    assert_eq!(n["method"], "notifications/resources/updated", "{n}");
    assert_eq!(n["params"]["uri"], "file:///x");

    // DELETE on B: 404 on A at once, and A's GET stream ends.
    let r = c
        .req(reqwest::Method::DELETE, b, Some(&sid))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (st, body) = c.post(a, &sid, echo).await;
    assert_eq!(st, 404, "{body}");
    assert!(get.next().await.is_none(), "A's GET stream ended");
    redis.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_is_503_naming_the_cause_and_service_resumes_when_it_is_back() {
    let Some(redis) = redis_server().await else {
        return;
    };
    let port = redis.port();
    let url = redis.url();
    let (a, _) = node(&url, "t2:").await;
    let c = Client::new();
    let sid = c.open(a).await;
    redis.stop().await;

    let echo = json!({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{"text":"x"}}});
    let (st, body) = c.post(a, &sid, echo.clone()).await;
    assert_eq!(st, 503, "{body}");
    let err: Value = serde_json::from_str(&body).unwrap();
    let msg = err["error"]["message"].as_str().unwrap();
    assert!(msg.contains("redis"), "the cause is named: {msg}");

    // Redis back (empty: it kept nothing): the node serves again by itself.
    let redis = RedisServer::start_on(port).await.expect("restarted");
    let mut reopened = None;
    for _ in 0..50 {
        let init = json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":V,
            "capabilities":{},"clientInfo":{"name":"t","version":"1"}}});
        let r = c
            .req(reqwest::Method::POST, a, None)
            .body(init.to_string())
            .send()
            .await
            .unwrap();
        if r.status() == 200 {
            reopened = Some(r.headers()["mcp-session-id"].to_str().unwrap().to_owned());
            break;
        }
        // The connection manager reconnects on the next command after a failed one.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let sid = reopened.expect("service resumed once Redis was back");
    let (st, body) = c.post(a, &sid, echo).await;
    assert_eq!(st, 200, "{body}");
    redis.stop().await;
}

/// A task record as a node would store it (the fields are the record's serde shape).
fn task_record(id: &str, version: u64, status: &str, ttl_ms: u64) -> mcp_server::tasks::TaskRecord {
    let now = json!({"secs_since_epoch": 1_780_000_000u64, "nanos_since_epoch": 0});
    serde_json::from_value(json!({
        "id": id, "version": version, "owner": {"subject": "alice"}, "status": status,
        "createdAt": now, "lastUpdatedAt": now,
        "ttl": {"secs": ttl_ms / 1000, "nanos": (ttl_ms % 1000) * 1_000_000},
        "pollInterval": {"secs": 0, "nanos": 100_000_000},
    }))
    .expect("a task record")
}

/// The task store on Redis: a record created through one node's connection is read through another's;
/// of two writers holding the same version only the first compare-and-set wins; a record is gone after
/// its TTL and after a delete; a taken id is a conflict.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_on_redis_are_shared_and_changed_only_by_compare_and_set() {
    use mcp_server::tasks::{TaskStore, TaskStoreError};
    let Some(redis) = redis_server().await else {
        return;
    };
    let a = mcp_redis::Redis::open(&redis.url()).unwrap().task_store();
    let b = mcp_redis::Redis::open(&redis.url()).unwrap().task_store();

    a.create(task_record("t1", 0, "working", 60_000))
        .await
        .unwrap();
    let seen = b
        .get("t1")
        .await
        .unwrap()
        .expect("visible on the other node");
    assert_eq!(seen, task_record("t1", 0, "working", 60_000));
    assert!(matches!(
        b.create(task_record("t1", 0, "working", 60_000)).await,
        Err(TaskStoreError::Conflict)
    ));

    // Both nodes read version 0; A's change lands, B's (from the same version) loses.
    a.update(task_record("t1", 1, "completed", 60_000), 0)
        .await
        .unwrap();
    assert!(matches!(
        b.update(task_record("t1", 1, "cancelled", 60_000), 0).await,
        Err(TaskStoreError::Conflict)
    ));
    let now = b.get("t1").await.unwrap().unwrap();
    assert_eq!(now.version(), 1);
    assert_eq!(now.status(), mcp_protocol::types::TaskStatus::Completed);

    b.delete("t1").await.unwrap();
    assert!(a.get("t1").await.unwrap().is_none());
    assert!(matches!(
        a.update(task_record("t1", 2, "failed", 60_000), 1).await,
        Err(TaskStoreError::NotFound)
    ));

    // Redis expires the key with the task's TTL; poll for it instead of guessing a sleep.
    a.create(task_record("short", 0, "working", 200))
        .await
        .unwrap();
    assert!(b.get("short").await.unwrap().is_some());
    let gone = async {
        while b.get("short").await.unwrap().is_some() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(5), gone)
        .await
        .expect("the record expires with its TTL");
    redis.stop().await;
}

/// A server whose `paced` tool logs, waits for `gate`, logs again and answers, and whose `stuck` tool logs
/// and never answers; plus `echo` and `chatty`.
fn gated_server(gate: std::sync::Arc<tokio::sync::Notify>) -> Server {
    let s = server();
    s.add_tool(tool("paced"), move |ctx: RequestContext, _a| {
        let gate = gate.clone();
        async move {
            ctx.log(LoggingLevel::Info, None, json!("before")).await;
            gate.notified().await;
            ctx.log(LoggingLevel::Info, None, json!("after")).await;
            Ok::<_, Error>(CallToolResult::text("paced done"))
        }
    });
    s.add_tool(tool("stuck"), |ctx: RequestContext, _a| async move {
        ctx.log(LoggingLevel::Info, None, json!("working")).await;
        std::future::pending::<()>().await;
        Ok::<_, Error>(CallToolResult::text("never"))
    });
    s
}

/// A node serving `server` on `redis`, on the current runtime.
async fn node_with(redis: mcp_redis::Redis, server: Server) -> SocketAddr {
    let bound = serve_listener(
        server,
        redis.configure(HttpConfig::default()),
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    let addr = bound.local_addr().unwrap();
    tokio::spawn(bound.run());
    addr
}

/// A node on a runtime of its own: shutting that runtime down stops everything the node runs (its server,
/// handlers, heartbeat and Redis connections), as the death of its process would.
fn mortal_node(
    url: &str,
    prefix: &str,
    heartbeat: Duration,
) -> (SocketAddr, tokio::runtime::Runtime) {
    let gate = std::sync::Arc::new(tokio::sync::Notify::new());
    mortal_node_of(url, prefix, heartbeat, |_| gated_server(gate))
}

/// [`mortal_node`] serving the server `make` builds (given the node's Redis, for its stores).
fn mortal_node_of(
    url: &str,
    prefix: &str,
    heartbeat: Duration,
    make: impl FnOnce(&mcp_redis::Redis) -> Server + Send,
) -> (SocketAddr, tokio::runtime::Runtime) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let redis = mcp_redis::Redis::open(url)
        .unwrap()
        .prefix(prefix)
        .heartbeat(heartbeat);
    let addr = std::thread::scope(|s| {
        s.spawn(|| {
            rt.block_on(async {
                let server = make(&redis);
                node_with(redis, server).await
            })
        })
        .join()
        .unwrap()
    });
    (addr, rt)
}

/// The messages of an SSE response until it ends.
async fn rest(ev: &mut Events) -> Vec<Value> {
    let mut all = Vec::new();
    while let Some((_, m)) = ev.next().await {
        all.push(m);
    }
    all
}

/// A plain connection to the test's Redis, to look at it from outside.
async fn peek(redis: &RedisServer) -> redis::aio::MultiplexedConnection {
    redis::Client::open(redis.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_resumed_on_another_node_follows_its_live_rest() {
    let Some(redis) = redis_server().await else {
        return;
    };
    let gate = std::sync::Arc::new(tokio::sync::Notify::new());
    let open = |prefix| mcp_redis::Redis::open(&redis.url()).unwrap().prefix(prefix);
    let a = node_with(open("t5:"), gated_server(gate.clone())).await;
    let b = node_with(open("t5:"), gated_server(gate.clone())).await;
    let c = Client::new();
    let sid = c.open(a).await;

    let paced = json!({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"paced"}});
    let r = c
        .req(reqwest::Method::POST, a, Some(&sid))
        .body(paced.to_string())
        .send()
        .await
        .unwrap();
    let mut ev = Events::new(r);
    let (id, first) = ev.next().await.expect("the first log");
    assert_eq!(first["params"]["data"], "before", "{first}");
    // The connection breaks; the client resumes on B while A's handler still runs.
    drop(ev);
    let r = c
        .req(reqwest::Method::GET, b, Some(&sid))
        .header("last-event-id", id.expect("event ids"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // Only now does A's handler go on: the rest is written after B began to follow.
    gate.notify_one();
    let got = rest(&mut Events::new(r)).await;
    assert_eq!(
        got.len(),
        2,
        "the second log and the result, once each: {got:?}"
    );
    assert_eq!(got[0]["params"]["data"], "after", "{got:?}");
    assert_eq!(got[1]["id"], 2);
    assert_eq!(got[1]["result"]["content"][0]["text"], "paced done");
    redis.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_nodes_orphaned_request_gets_an_error_on_resume_and_a_completed_one_does_not() {
    let Some(redis) = redis_server().await else {
        return;
    };
    let heartbeat = Duration::from_millis(600);
    let (a, a_rt) = mortal_node(&redis.url(), "t6:", heartbeat);
    let b_redis = mcp_redis::Redis::open(&redis.url())
        .unwrap()
        .prefix("t6:")
        .heartbeat(heartbeat);
    let b = node_with(b_redis, server()).await;
    let c = Client::new();
    let sid = c.open(a).await;

    // On A: one request that completes, one that never will.
    let chatty = json!({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"chatty"}});
    let r = c
        .req(reqwest::Method::POST, a, Some(&sid))
        .body(chatty.to_string())
        .send()
        .await
        .unwrap();
    let mut ev = Events::new(r);
    let (done_id, _) = ev.next().await.expect("a log");
    let completed = rest(&mut ev).await;
    let stuck = json!({"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"stuck"}});
    let r = c
        .req(reqwest::Method::POST, a, Some(&sid))
        .body(stuck.to_string())
        .send()
        .await
        .unwrap();
    let mut ev = Events::new(r);
    let (stuck_id, working) = ev.next().await.expect("a log");
    assert_eq!(working["params"]["data"], "working");
    let (stuck_id, done_id) = (stuck_id.expect("ids"), done_id.expect("ids"));

    // A dies: its server, handlers and heartbeat stop at once.
    a_rt.shutdown_background();
    drop(ev);
    let started = std::time::Instant::now();
    let r = c
        .req(reqwest::Method::GET, b, Some(&sid))
        .header("last-event-id", &stuck_id)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let got = rest(&mut Events::new(r)).await;
    assert_eq!(
        got.len(),
        1,
        "one error, then the end of the stream: {got:?}"
    );
    assert_eq!(got[0]["id"], 3, "{got:?}");
    let msg = got[0]["error"]["message"].as_str().unwrap_or_default();
    assert!(msg.contains("stopped"), "{msg}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "found dead within a few heartbeats: {:?}",
        started.elapsed()
    );

    // The request that completed on A: its stored rest, once, and no error.
    let r = c
        .req(reqwest::Method::GET, b, Some(&sid))
        .header("last-event-id", &done_id)
        .send()
        .await
        .unwrap();
    assert_eq!(rest(&mut Events::new(r)).await, completed);
    assert_eq!(
        completed.last().unwrap()["result"]["content"][0]["text"],
        "done"
    );
    redis.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_while_following_is_not_a_death() {
    let Some(redis) = redis_server().await else {
        return;
    };
    let gate = std::sync::Arc::new(tokio::sync::Notify::new());
    let open = || {
        mcp_redis::Redis::open(&redis.url())
            .unwrap()
            .prefix("t7:")
            .heartbeat(Duration::from_millis(600))
    };
    let a = node_with(open(), gated_server(gate.clone())).await;
    let b = node_with(open(), gated_server(gate)).await;
    let c = Client::new();
    let sid = c.open(a).await;
    let stuck = json!({"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"stuck"}});
    let r = c
        .req(reqwest::Method::POST, a, Some(&sid))
        .body(stuck.to_string())
        .send()
        .await
        .unwrap();
    let mut ev = Events::new(r);
    let (id, _) = ev.next().await.expect("a log");
    let id = id.expect("ids");
    let r = c
        .req(reqwest::Method::GET, b, Some(&sid))
        .header("last-event-id", &id)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let mut following = Events::new(r);

    // Redis goes away: the followed stream ends with no verdict on A's request (A is alive), and a resume
    // meanwhile is a 503 naming the cause.
    redis.stop().await;
    let got = rest(&mut following).await;
    assert!(
        got.is_empty(),
        "no error for a request that may still finish: {got:?}"
    );
    let r = c
        .req(reqwest::Method::GET, b, Some(&sid))
        .header("last-event-id", &id)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    assert!(r.text().await.unwrap().contains("redis"));
}

const MODERN: &str = "2026-07-28";

fn modern(
    c: &Client,
    to: SocketAddr,
    method: &str,
    name: Option<&str>,
    body: Value,
) -> reqwest::RequestBuilder {
    let mut b = c
        .http
        .post(format!("http://{to}/mcp"))
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json")
        .header("mcp-protocol-version", MODERN)
        .header("mcp-method", method);
    if let Some(n) = name {
        b = b.header("mcp-name", n);
    }
    b.body(body.to_string())
}

fn meta() -> Value {
    json!({"io.modelcontextprotocol/protocolVersion":MODERN,"io.modelcontextprotocol/clientCapabilities":{}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listen_streams_hear_events_raised_on_other_nodes() {
    let Some(redis) = redis_server().await else {
        return;
    };
    let ((a, _), (_, server_b)) = (
        node(&redis.url(), "t8:").await,
        node(&redis.url(), "t8:").await,
    );
    let c = Client::new();
    // Both nodes join the bus when they start serving: B gets no request at all in this test.
    on_the_bus(&redis, "t8:", 2).await;

    let listen = json!({"jsonrpc":"2.0","id":7,"method":"subscriptions/listen","params":{
        "notifications":{"toolsListChanged":true,"resourceSubscriptions":["file:///x"]},"_meta":meta()}});
    let r = modern(&c, a, "subscriptions/listen", None, listen)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let mut ev = Events::new(r);
    let (_, ack) = ev.next().await.expect("the acknowledgement");
    assert_eq!(
        ack["method"], "notifications/subscriptions/acknowledged",
        "{ack}"
    );

    // Raised on B, heard on A's listen stream.
    server_b.add_tool(tool("late"), |_c: RequestContext, _a| async {
        Ok::<_, Error>(CallToolResult::text("late"))
    });
    let (_, n) = ev.next().await.expect("the list change");
    assert_eq!(n["method"], "notifications/tools/list_changed", "{n}");
    assert_eq!(
        n["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"], 7,
        "{n}"
    );
    server_b.notify_resource_updated("file:///x");
    let (_, n) = ev.next().await.expect("the resource update");
    assert_eq!(n["method"], "notifications/resources/updated", "{n}");
    assert_eq!(n["params"]["uri"], "file:///x");
    redis.stop().await;
}

/// `INFO stats` total_commands_processed of the test's Redis.
async fn commands(p: &mut redis::aio::MultiplexedConnection) -> u64 {
    let info: String = redis::cmd("INFO")
        .arg("stats")
        .query_async(p)
        .await
        .unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("total_commands_processed:"))
        .and_then(|n| n.trim().parse().ok())
        .expect("total_commands_processed")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn modern_tools_call_makes_no_redis_round_trip() {
    let Some(redis) = redis_server().await else {
        return;
    };
    // A heartbeat far longer than the test: its first beat is the only one.
    let r = mcp_redis::Redis::open(&redis.url())
        .unwrap()
        .prefix("t9:")
        .heartbeat(Duration::from_secs(600));
    let a = node_with(r, server()).await;
    let c = Client::new();
    let echo = json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"x"},"_meta":meta()}});
    let r = modern(&c, a, "tools/call", Some("echo"), echo.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // The node's background work has started (bus subscribed, first heartbeat written) before counting.
    let mut p = peek(&redis).await;
    let settled = async {
        loop {
            let (_, n): (String, u64) = redis::cmd("PUBSUB")
                .arg("NUMSUB")
                .arg("t9:bus:")
                .query_async(&mut p)
                .await
                .unwrap();
            let beats: Vec<String> = redis::cmd("KEYS")
                .arg("t9:node:*")
                .query_async(&mut p)
                .await
                .unwrap();
            if n >= 1 && !beats.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(5), settled)
        .await
        .expect("the node's bus and heartbeat are up");

    let before = commands(&mut p).await;
    for i in 0..100 {
        let mut call = echo.clone();
        call["id"] = json!(i + 10);
        let r = modern(&c, a, "tools/call", Some("echo"), call)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert!(r.text().await.unwrap().contains("\"x\""));
    }
    let after = commands(&mut p).await;
    // The only command in between is the first INFO itself.
    assert_eq!(
        after - before,
        1,
        "100 modern calls sent {} commands to Redis",
        after - before - 1
    );

    // The meter works: legacy calls do touch Redis (one touch each, at least).
    let sid = c.open(a).await;
    let before = commands(&mut p).await;
    for i in 0..20 {
        let call = json!({"jsonrpc":"2.0","id":i + 10,"method":"tools/call","params":{"name":"echo","arguments":{"text":"x"}}});
        assert_eq!(c.post(a, &sid, call).await.0, 200);
    }
    let after = commands(&mut p).await;
    assert!(
        after - before > 20,
        "legacy calls counted: {}",
        after - before
    );
    redis.stop().await;
}

fn with_tasks() -> Value {
    json!({"io.modelcontextprotocol/protocolVersion":MODERN,
        "io.modelcontextprotocol/clientCapabilities":{"extensions":{"io.modelcontextprotocol/tasks":{}}}})
}

/// Wait until `n` nodes listen on the bus of `prefix`.
async fn on_the_bus(redis: &RedisServer, prefix: &str, n: u64) {
    let mut p = peek(redis).await;
    let channel = format!("{prefix}bus:");
    let subscribed = async {
        loop {
            let (_, got): (String, u64) = redis::cmd("PUBSUB")
                .arg("NUMSUB")
                .arg(&channel)
                .query_async(&mut p)
                .await
                .unwrap();
            if got >= n {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(5), subscribed)
        .await
        .expect("the nodes on the bus");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listen_hears_of_a_task_that_changed_on_another_node() {
    let Some(redis) = redis_server().await else {
        return;
    };
    let task_node = || async {
        let r = mcp_redis::Redis::open(&redis.url()).unwrap().prefix("t10:");
        let server = Server::builder("fleet", "1.0.0")
            .tool(tool("forever"), |_c: RequestContext, _a| async move {
                std::future::pending::<()>().await;
                Ok::<_, Error>(CallToolResult::text("never"))
            })
            .tool_tasks("forever", mcp_server::TaskPolicy::required())
            .task_store(r.task_store())
            .build();
        node_with(r, server).await
    };
    let (a, b) = (task_node().await, task_node().await);
    let c = Client::new();
    // The task runs on B.
    let call = json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"forever","_meta":with_tasks()}});
    let r = modern(&c, b, "tools/call", Some("forever"), call)
        .send()
        .await
        .unwrap();
    let created: Value = r.json().await.unwrap();
    assert_eq!(created["result"]["resultType"], "task", "{created}");
    let task = created["result"]["taskId"].as_str().unwrap().to_owned();

    // A listens for it (A finds the task in the shared store).
    let listen = json!({"jsonrpc":"2.0","id":2,"method":"subscriptions/listen","params":{
        "notifications":{"taskIds":[task]},"_meta":with_tasks()}});
    let r = modern(&c, a, "subscriptions/listen", None, listen)
        .send()
        .await
        .unwrap();
    let mut ev = Events::new(r);
    let (_, ack) = ev.next().await.expect("the acknowledgement");
    assert_eq!(ack["params"]["notifications"]["taskIds"][0], task, "{ack}");
    on_the_bus(&redis, "t10:", 2).await;

    // Cancelled on B: A's listener is told.
    let cancel = json!({"jsonrpc":"2.0","id":3,"method":"tasks/cancel","params":{"taskId":task,"_meta":with_tasks()}});
    let r = modern(&c, b, "tasks/cancel", Some(&task), cancel)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (_, n) = ev.next().await.expect("notifications/tasks on A");
    assert_eq!(n["method"], "notifications/tasks", "{n}");
    assert_eq!(n["params"]["taskId"], task, "{n}");
    assert_eq!(n["params"]["status"], "cancelled", "{n}");
    redis.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_and_a_roots_answer_posted_to_another_node_reach_the_request_on_the_first() {
    let Some(redis) = redis_server().await else {
        return;
    };
    let cancelled = std::sync::Arc::new(tokio::sync::Notify::new());
    let fleet_node = |cancelled: std::sync::Arc<tokio::sync::Notify>| {
        let r = mcp_redis::Redis::open(&redis.url()).unwrap().prefix("t11:");
        let s = server();
        s.add_tool(tool("cancellable"), move |ctx: RequestContext, _a| {
            let cancelled = cancelled.clone();
            async move {
                ctx.log(LoggingLevel::Info, None, json!("started")).await;
                ctx.cancellation().cancelled().await;
                cancelled.notify_one();
                Err::<CallToolResult, _>(Error::cancelled())
            }
        });
        s.add_tool(tool("roots"), |ctx: RequestContext, _a| async move {
            let roots = ctx.list_roots("roots").await?;
            let uris: Vec<String> = roots.roots.into_iter().map(|r| r.uri).collect();
            Ok::<_, Error>(CallToolResult::text(uris.join(",")))
        });
        node_with(r, s)
    };
    let a = fleet_node(cancelled.clone()).await;
    let b = fleet_node(std::sync::Arc::new(tokio::sync::Notify::new())).await;
    let c = Client::new();
    let init = json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":V,
        "capabilities":{"roots":{}},"clientInfo":{"name":"t","version":"1"}}});
    let r = c
        .req(reqwest::Method::POST, a, None)
        .body(init.to_string())
        .send()
        .await
        .unwrap();
    let sid = r.headers()["mcp-session-id"].to_str().unwrap().to_owned();
    let initialized = json!({"jsonrpc":"2.0","method":"notifications/initialized"});
    assert_eq!(c.post(a, &sid, initialized).await.0, 202);
    // Both nodes serving, so both listen on the bus.
    assert_eq!(
        c.post(b, &sid, json!({"jsonrpc":"2.0","id":5,"method":"ping"}))
            .await
            .0,
        200
    );
    on_the_bus(&redis, "t11:", 2).await;

    // Running on A, cancelled through B.
    let call =
        json!({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"cancellable"}});
    let r = c
        .req(reqwest::Method::POST, a, Some(&sid))
        .body(call.to_string())
        .send()
        .await
        .unwrap();
    let mut ev = Events::new(r);
    let (_, started) = ev.next().await.expect("the handler started");
    assert_eq!(started["params"]["data"], "started");
    let cancel =
        json!({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":2}});
    assert_eq!(c.post(b, &sid, cancel).await.0, 202);
    tokio::time::timeout(Duration::from_secs(5), cancelled.notified())
        .await
        .expect("the handler on A saw the cancel posted to B");

    // roots/list sent by A, answered through B.
    let call = json!({"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"roots"}});
    let r = c
        .req(reqwest::Method::POST, a, Some(&sid))
        .body(call.to_string())
        .send()
        .await
        .unwrap();
    let mut ev = Events::new(r);
    let (_, question) = ev.next().await.expect("roots/list");
    assert_eq!(question["method"], "roots/list", "{question}");
    let answer = json!({"jsonrpc":"2.0","id":question["id"],"result":{"roots":[{"uri":"file:///work","name":"work"}]}});
    assert_eq!(c.post(b, &sid, answer).await.0, 202);
    let (_, result) = ev.next().await.expect("the result");
    assert_eq!(result["id"], 3);
    assert_eq!(
        result["result"]["content"][0]["text"], "file:///work",
        "{result}"
    );
    redis.stop().await;
}

/// A server whose tools run as tasks: `forever` never ends, `ask` asks a question and then never ends.
fn task_server(r: &mcp_redis::Redis) -> Server {
    Server::builder("fleet", "1.0.0")
        .tool(tool("forever"), |_c: RequestContext, _a| async move {
            std::future::pending::<()>().await;
            Ok::<_, Error>(CallToolResult::text("never"))
        })
        .tool(tool("ask"), |ctx: RequestContext, _a| async move {
            let form = ElicitRequestParams::form(
                "Who?",
                json!({"type":"object","properties":{"name":{"type":"string"}}}),
            );
            ctx.elicit("who", form).await?;
            std::future::pending::<()>().await;
            Ok::<_, Error>(CallToolResult::text("never"))
        })
        .tool_tasks("forever", mcp_server::TaskPolicy::required())
        .tool_tasks("ask", mcp_server::TaskPolicy::required())
        .task_store(r.task_store())
        .build()
}

/// Call `body` (a modern request) on `to` and return its JSON-RPC result (`name`: the `Mcp-Name` header).
async fn modern_result(c: &Client, to: SocketAddr, method: &str, name: &str, body: Value) -> Value {
    let r = modern(c, to, method, Some(name), body)
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    assert!(v.get("error").is_none(), "{method}: {v}");
    v["result"].clone()
}

/// The task `id` as stored in Redis, read from outside the nodes.
async fn stored_task(p: &mut redis::aio::MultiplexedConnection, prefix: &str, id: &str) -> Value {
    let json: String = redis::cmd("HGET")
        .arg(format!("{prefix}task:{id}"))
        .arg("r")
        .query_async(p)
        .await
        .unwrap();
    serde_json::from_str(&json).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_nodes_tasks_fail_instead_of_working_until_their_ttl() {
    let Some(redis) = redis_server().await else {
        return;
    };
    let heartbeat = Duration::from_millis(600);
    let (a, a_rt) = mortal_node_of(&redis.url(), "t12:", heartbeat, task_server);
    let b_redis = mcp_redis::Redis::open(&redis.url())
        .unwrap()
        .prefix("t12:")
        .heartbeat(heartbeat);
    let b = node_with(b_redis.clone(), task_server(&b_redis)).await;
    let c = Client::new();
    let caps = json!({"io.modelcontextprotocol/protocolVersion":MODERN,
        "io.modelcontextprotocol/clientCapabilities":{"elicitation":{},"extensions":{"io.modelcontextprotocol/tasks":{}}}});
    let call = |id: u64, name: &str| json!({"jsonrpc":"2.0","id":id,"method":"tools/call","params":{"name":name,"_meta":caps}});
    let get = |id: &str| json!({"jsonrpc":"2.0","id":9,"method":"tasks/get","params":{"taskId":id,"_meta":caps}});

    // Both run on A: one working, one waiting for its answer.
    let working = modern_result(&c, a, "tools/call", "forever", call(1, "forever")).await;
    let working = working["taskId"].as_str().expect("a task").to_owned();
    let asking = modern_result(&c, a, "tools/call", "ask", call(2, "ask")).await;
    let asking = asking["taskId"].as_str().expect("a task").to_owned();
    let waited = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            let t = modern_result(&c, b, "tasks/get", &asking, get(&asking)).await;
            if t["status"] == "input_required" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    waited.await.expect("the question recorded");
    // While A lives, B reads its task as it is.
    let t = modern_result(&c, b, "tasks/get", &working, get(&working)).await;
    assert_eq!(t["status"], "working", "{t}");

    // A dies. Its heartbeat key outlives it by up to one heartbeat: until then B rightly takes A for alive.
    let mut p = peek(&redis).await;
    let node = stored_task(&mut p, "t12:", &working).await["node"].clone();
    let node = node
        .as_u64()
        .expect("the running node recorded in the task");
    a_rt.shutdown_background();
    let started = std::time::Instant::now();
    let heartbeat_key = format!("t12:node:{node}");
    let gone = async {
        loop {
            let exists: bool = redis::cmd("EXISTS")
                .arg(&heartbeat_key)
                .query_async(&mut p)
                .await
                .unwrap();
            if !exists {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(5), gone)
        .await
        .expect("A's heartbeat key expires");

    // The answer lands on B: with nobody to forward it to, the task fails at once.
    let answer = json!({"jsonrpc":"2.0","id":3,"method":"tasks/update","params":{"taskId":asking,
        "inputResponses":{"who":{"action":"accept","content":{"name":"Ada"}}},"_meta":caps}});
    modern_result(&c, b, "tasks/update", &asking, answer).await;
    let stored = stored_task(&mut p, "t12:", &asking).await;
    assert_eq!(stored["status"], "failed", "{stored}");

    // The working one: its next poll finds it failed, with why.
    let t = modern_result(&c, b, "tasks/get", &working, get(&working)).await;
    assert_eq!(t["status"], "failed", "{t}");
    let why = t["error"]["message"].as_str().unwrap_or_default();
    assert!(why.contains("stopped"), "{t}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "found dead within a few heartbeats: {:?}",
        started.elapsed()
    );
    // Written once, for every node: the record says so too.
    let stored = stored_task(&mut p, "t12:", &working).await;
    assert_eq!(stored["status"], "failed", "{stored}");
    redis.stop().await;
}
