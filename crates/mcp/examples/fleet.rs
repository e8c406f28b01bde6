//! One node of a fleet: several processes of this server, sharing one Redis and one `requestState` key,
//! behind a plain load balancer (no session affinity), serve as one server in both protocol eras.
//!
//! # Running three nodes
//!
//! ```text
//! redis-server --port 6379 --save '' --appendonly no &
//! export MCP_REDIS_URL=redis://127.0.0.1:6379/
//! export MCP_STATE_KEY="$(openssl rand -hex 32)"      # the same on every node
//! cargo build --release -p mcp-rs --example fleet
//! PORT=3001 ./target/release/examples/fleet &
//! PORT=3002 ./target/release/examples/fleet &
//! PORT=3003 ./target/release/examples/fleet &
//! ```
//!
//! Then point any round-robin load balancer at `127.0.0.1:3001-3003/mcp`, e.g. nginx:
//!
//! ```text
//! upstream mcp { server 127.0.0.1:3001; server 127.0.0.1:3002; server 127.0.0.1:3003; }
//! server { listen 3000; location /mcp { proxy_pass http://mcp; proxy_http_version 1.1;
//!          proxy_buffering off; proxy_read_timeout 1h; } }
//! ```
//!
//! A legacy client (2025-11-25 and earlier) may open its session on one node and send every later request
//! to any other: the session record lives in Redis, a DELETE or an expiry is a 404 on every node, and the
//! client's answer to a server→client request reaches the node that asked. A 2026-07-28 client's
//! `input_required` retry may land on any node, because every node seals and opens `requestState` with the
//! same `MCP_STATE_KEY` (hex, 32 random bytes or more, as `conformance-server` reads it). Nodes bind `BIND` (default
//! `127.0.0.1`); a load balancer on another machine needs `BIND=0.0.0.0` and `MCP_ALLOWED_HOSTS` (the
//! comma-separated host names clients use: the default admits loopback names only).
//!
//! Without `MCP_REDIS_URL`, as `.ci/examples.sh` runs it, the example checks itself: it starts a private
//! `redis-server` on a free port, three nodes in this process, and sends each request of one session to the
//! next node (a round robin by hand), then a 2026-07-28 `input_required` round that ends on another node;
//! it exits 0 when every answer is right (or, without `redis-server` and unless `MCP_REQUIRE_PEERS=1`,
//! says it skipped).

use std::net::SocketAddr;

use mcp::server::http::{serve_listener, Bound, HostPolicy, HttpConfig};
use mcp::server::{Error, RequestContext, Server, StateKey};
use mcp::types::ElicitRequestParams;
use mcp_redis::testing::RedisServer;
use serde_json::{json, Value};

/// The server every node runs: one tool that names the node answering, one that asks for input.
fn server(node: &str, key: StateKey) -> Server {
    let name = node.to_owned();
    Server::builder("fleet-example", "1.0.0")
        .state_key(key)
        .tool(
            mcp::types::Tool {
                name: "whoami".into(),
                description: Some("Which node answered".into()),
                input_schema: json!({"type": "object"}),
                ..Default::default()
            },
            move |_ctx: RequestContext, _args: mcp::protocol::JsonObject| {
                let name = name.clone();
                async move { Ok::<_, Error>(mcp::types::CallToolResult::text(name)) }
            },
        )
        .tool(
            mcp::types::Tool {
                name: "greet".into(),
                description: Some("Ask the user's name, then greet them".into()),
                input_schema: json!({"type": "object"}),
                ..Default::default()
            },
            |ctx: RequestContext, _args: mcp::protocol::JsonObject| async move {
                let schema = json!({"type": "object", "properties": {"name": {"type": "string"}}});
                let answer = ctx
                    .elicit("name", ElicitRequestParams::form("Your name?", schema))
                    .await?;
                let name = answer
                    .content
                    .and_then(|c| c.get("name").and_then(Value::as_str).map(str::to_owned))
                    .unwrap_or_default();
                Ok::<_, Error>(mcp::types::CallToolResult::text(format!("Hello, {name}!")))
            },
        )
        .build()
}

/// One node on `addr`, its sessions, events and messages to other nodes in the Redis at `url`.
async fn node(
    name: &str,
    url: &str,
    key: StateKey,
    addr: SocketAddr,
) -> Result<Bound, Box<dyn std::error::Error>> {
    let mut config = HttpConfig::default();
    if let Ok(hosts) = std::env::var("MCP_ALLOWED_HOSTS") {
        config = config.host_policy(HostPolicy::AllowList {
            hosts: hosts.split(',').map(|h| h.trim().to_owned()).collect(),
            origins: Vec::new(),
        });
    }
    // Session records, stream events and the bus between nodes, all on this Redis.
    let config = mcp_redis::Redis::open(url)?.configure(config);
    Ok(serve_listener(server(name, key), config, addr).await?)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    match std::env::var("MCP_REDIS_URL") {
        Ok(url) => {
            let key = std::env::var("MCP_STATE_KEY")
                .map_err(|_| "MCP_STATE_KEY is required: the same secret on every node")?;
            let port: u16 = std::env::var("PORT")
                .map_err(|_| "PORT is required")?
                .parse()?;
            let bind = std::env::var("BIND").unwrap_or_else(|_| "127.0.0.1".into());
            let addr = SocketAddr::new(bind.parse()?, port);
            let key = StateKey::from_hex(&key).map_err(|e| format!("MCP_STATE_KEY: {e}"))?;
            let bound = node(&format!("node-{port}"), &url, key, addr).await?;
            eprintln!("fleet node serving http://{addr}/mcp on {url}");
            bound.run().await?;
            Ok(())
        }
        Err(_) => self_check().await,
    }
}

/// POST (or DELETE, with no body) to a node's `/mcp`; the status, the session id header, and the JSON-RPC
/// message in the reply (a JSON body, or the last `data:` of an SSE body).
async fn send(
    http: &reqwest::Client,
    to: SocketAddr,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> Result<(u16, Option<String>, Value), Box<dyn std::error::Error>> {
    let url = format!("http://{to}/mcp");
    let mut req = match &body {
        Some(b) => http.post(&url).body(b.to_string()),
        None => http.delete(&url),
    }
    .header("content-type", "application/json")
    .header("accept", "application/json, text/event-stream");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let r = req.send().await?;
    let status = r.status().as_u16();
    let sid = r
        .headers()
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let text = r.text().await?;
    let message = match text
        .lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .next_back()
    {
        Some(data) => serde_json::from_str(data.trim())?,
        None => serde_json::from_str(&text).unwrap_or(Value::Null),
    };
    Ok((status, sid, message))
}

fn check(ok: bool, what: &str) -> Result<(), Box<dyn std::error::Error>> {
    if ok {
        println!("ok: {what}");
        Ok(())
    } else {
        Err(format!("FAILED: {what}").into())
    }
}

async fn self_check() -> Result<(), Box<dyn std::error::Error>> {
    // A redis-server of this run's own, on a free loopback port, without persistence; killed on drop.
    let redis = match RedisServer::start().await {
        Ok(r) => r,
        // CI (`MCP_REQUIRE_PEERS=1`, set by .ci/run, which installs redis-server) fails instead.
        Err(e)
            if e.is_not_installed() && std::env::var("MCP_REQUIRE_PEERS").as_deref() != Ok("1") =>
        {
            println!("!!! SKIPPED: {e} !!!");
            return Ok(());
        }
        Err(e) => return Err(e.into()),
    };
    let url = redis.url();
    // One key for every node; a real fleet reads it from MCP_STATE_KEY.
    let key = StateKey::random();
    let mut nodes = Vec::new();
    for i in 0..3 {
        let bound = node(
            &format!("node-{i}"),
            &url,
            key.clone(),
            "127.0.0.1:0".parse()?,
        )
        .await?;
        nodes.push(bound.local_addr()?);
        tokio::spawn(bound.run());
    }
    println!("three nodes on {url}: {nodes:?}");
    let http = reqwest::Client::new();
    let legacy = "2025-11-25";

    // A legacy session, each request on the next node.
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": legacy, "capabilities": {}, "clientInfo": {"name": "fleet-check", "version": "1"}}});
    let (status, sid, _) = send(&http, nodes[0], &[], Some(init)).await?;
    let sid = sid.ok_or("no Mcp-Session-Id")?;
    check(status == 200, "initialize on node-0 opens a session")?;
    let h = [
        ("mcp-session-id", sid.as_str()),
        ("mcp-protocol-version", legacy),
    ];
    let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    let (status, _, _) = send(&http, nodes[1], &h, Some(initialized)).await?;
    check(
        status == 202,
        "notifications/initialized accepted by node-1",
    )?;
    let call = |id: u64| json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": "whoami", "arguments": {}}});
    let (_, _, reply) = send(&http, nodes[2], &h, Some(call(2))).await?;
    check(
        reply["result"]["content"][0]["text"] == "node-2",
        "the session opened on node-0 is served by node-2",
    )?;
    let (status, _, _) = send(&http, nodes[1], &h, None).await?;
    check(status == 200, "DELETE on node-1")?;
    let (status, _, _) = send(&http, nodes[0], &h, Some(call(3))).await?;
    check(status == 404, "after that the session is a 404 on node-0")?;

    // A 2026-07-28 input_required round: asked on node-0, answered on node-2.
    let modern = "2026-07-28";
    let meta = json!({"io.modelcontextprotocol/protocolVersion": modern,
                      "io.modelcontextprotocol/clientCapabilities": {"elicitation": {}}});
    let h = [
        ("mcp-protocol-version", modern),
        ("mcp-method", "tools/call"),
        ("mcp-name", "greet"),
    ];
    let first = json!({"jsonrpc": "2.0", "id": 4, "method": "tools/call",
                       "params": {"name": "greet", "arguments": {}, "_meta": meta}});
    let (_, _, reply) = send(&http, nodes[0], &h, Some(first)).await?;
    let state = reply["result"]["requestState"]
        .as_str()
        .ok_or("no requestState")?;
    check(
        reply["result"]["resultType"] == "input_required",
        "node-0 asks for the user's name (input_required)",
    )?;
    let retry = json!({"jsonrpc": "2.0", "id": 5, "method": "tools/call", "params": {
        "name": "greet", "arguments": {}, "_meta": meta, "requestState": state,
        "inputResponses": {"name": {"action": "accept", "content": {"name": "Ada"}}}}});
    let (_, _, reply) = send(&http, nodes[2], &h, Some(retry)).await?;
    check(
        reply["result"]["content"][0]["text"] == "Hello, Ada!",
        "node-2 completes the retry with the answer (the nodes share the requestState key)",
    )?;
    println!("fleet example: all checks passed");
    Ok(())
}
