//! A byte-stream connection (stdio framing over an in-memory duplex): both eras, bad input, cancellation,
//! admission control, server→client requests.

use std::time::Duration;

use mcp_protocol::types::{CallToolResult, ElicitRequestParams, Tool};
use mcp_protocol::JsonObject;
use mcp_server::{
    serve_connection, ConnectionOptions, Error, RequestContext, Server, ServerOptions,
};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines, ReadHalf, WriteHalf};

struct Pipe {
    w: WriteHalf<tokio::io::DuplexStream>,
    r: Lines<BufReader<ReadHalf<tokio::io::DuplexStream>>>,
}

impl Pipe {
    async fn send_raw(&mut self, line: &str) {
        self.w.write_all(line.as_bytes()).await.unwrap();
        self.w.write_all(b"\n").await.unwrap();
    }
    async fn send(&mut self, v: Value) {
        self.send_raw(&v.to_string()).await;
    }
    async fn recv(&mut self) -> Value {
        let line = tokio::time::timeout(Duration::from_secs(5), self.r.next_line())
            .await
            .expect("no message within 5 s")
            .unwrap()
            .expect("connection closed");
        serde_json::from_str(&line).unwrap()
    }
    /// Receive until a message with this id, returning everything seen on the way.
    async fn until_id(&mut self, id: Value) -> Vec<Value> {
        let mut seen = Vec::new();
        loop {
            let m = self.recv().await;
            let done = m.get("id") == Some(&id) && m.get("method").is_none();
            seen.push(m);
            if done {
                return seen;
            }
        }
    }
    async fn call(&mut self, v: Value) -> Value {
        let id = v["id"].clone();
        self.send(v).await;
        self.until_id(id).await.pop().unwrap()
    }
}

fn tool(name: &str) -> Tool {
    Tool {
        name: name.into(),
        description: Some(name.into()),
        input_schema: json!({"type":"object","properties":{"n":{"type":"integer"}}}),
        ..Default::default()
    }
}

fn server(max_in_flight: usize) -> Server {
    Server::builder("stdio-test", "1.0.0")
        .options(
            ServerOptions::default()
                .max_in_flight(max_in_flight)
                // The hang tool ignores cancellation: with no grace period it is dropped (and its slot freed)
                // at once when cancelled (tests/cancellation.rs covers the grace period).
                .cancel_grace(Duration::ZERO),
        )
        .tool(
            tool("echo"),
            |_c: RequestContext, a: JsonObject| async move {
                Ok::<_, Error>(CallToolResult::text(Value::Object(a).to_string()))
            },
        )
        .tool(
            tool("boom"),
            |_c: RequestContext, _a: JsonObject| async move {
                if true {
                    panic!("handler bug");
                }
                Ok::<_, Error>(CallToolResult::text("unreachable"))
            },
        )
        .tool(
            tool("slow"),
            |_c: RequestContext, _a: JsonObject| async move {
                tokio::time::sleep(Duration::from_millis(100)).await;
                Ok::<_, Error>(CallToolResult::text("slow done"))
            },
        )
        .tool(
            tool("block"),
            |_c: RequestContext, _a: JsonObject| async move {
                // Stands for CPU work done without awaiting (what `spawn_blocking` is for).
                std::thread::sleep(Duration::from_millis(300));
                Ok::<_, Error>(CallToolResult::text("block done"))
            },
        )
        .tool(
            tool("block_long"),
            |_c: RequestContext, _a: JsonObject| async move {
                std::thread::sleep(Duration::from_millis(1500));
                Ok::<_, Error>(CallToolResult::text("block done"))
            },
        )
        .tool(
            tool("report"),
            |ctx: RequestContext, _a: JsonObject| async move {
                for i in 1..=3 {
                    ctx.progress(f64::from(i), Some(3.0), None).await;
                }
                Ok::<_, Error>(CallToolResult::text("reported"))
            },
        )
        .tool(
            tool("hang"),
            |_c: RequestContext, _a: JsonObject| async move {
                std::future::pending::<()>().await;
                Ok::<_, Error>(CallToolResult::text("never"))
            },
        )
        .tool(
            tool("ask"),
            |ctx: RequestContext, _a: JsonObject| async move {
                let r = ctx
                    .elicit(
                        "name",
                        ElicitRequestParams::form(
                            "Name?",
                            json!({"type":"object","properties":{"name":{"type":"string"}}}),
                        ),
                    )
                    .await?;
                Ok::<_, Error>(CallToolResult::text(format!(
                    "Hello, {}!",
                    r.content
                        .and_then(|c| c.get("name").cloned())
                        .unwrap_or_default()
                )))
            },
        )
        .build()
}

fn connect(server: Server, max_message_size: usize) -> Pipe {
    connect_buffered(server, max_message_size, 1 << 20)
}

/// [`connect`] over pipes that hold at most `pipe_bytes` each way.
fn connect_buffered(server: Server, max_message_size: usize, pipe_bytes: usize) -> Pipe {
    let (client, srv) = tokio::io::duplex(pipe_bytes);
    let (sr, sw) = tokio::io::split(srv);
    let opts = ConnectionOptions::default().max_message_size(max_message_size);
    tokio::spawn(serve_connection(server, BufReader::new(sr), sw, opts));
    let (cr, cw) = tokio::io::split(client);
    Pipe {
        w: cw,
        r: BufReader::new(cr).lines(),
    }
}

async fn legacy(p: &mut Pipe, version: &str) {
    let r = p.call(json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":version,"capabilities":{"elicitation":{}},"clientInfo":{"name":"t","version":"1"}}})).await;
    assert_eq!(r["result"]["protocolVersion"], version);
    p.send(json!({"jsonrpc":"2.0","method":"notifications/initialized"}))
        .await;
}

fn modern(id: i64, method: &str, params: Value) -> Value {
    let mut p = params;
    p["_meta"] = json!({"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{"elicitation":{}}});
    json!({"jsonrpc":"2.0","id":id,"method":method,"params":p})
}

#[tokio::test]
async fn bad_input_gets_clear_errors_and_the_connection_goes_on() {
    let mut p = connect(server(16), 512);
    legacy(&mut p, "2025-11-25").await;
    p.send_raw("{this is not json").await;
    assert_eq!(p.recv().await["error"]["code"], -32700);
    p.send(json!({"jsonrpc":"2.0","id":1})).await;
    assert_eq!(p.recv().await["error"]["code"], -32600);
    p.send(json!({"jsonrpc":"1.0","id":2,"method":"ping"}))
        .await;
    let e = p.recv().await;
    assert_eq!(
        (e["error"]["code"].clone(), e["id"].clone()),
        (json!(-32600), json!(2)),
        "the id is echoed when readable"
    );
    assert_eq!(
        p.call(json!({"jsonrpc":"2.0","id":3,"method":"no/such"}))
            .await["error"]["code"],
        -32601
    );
    assert_eq!(
        p.call(json!({"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"arguments":{}}}))
            .await["error"]["code"],
        -32602
    );
    let r = p.call(json!({"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"echo","arguments":{"n":"not a number"}}})).await;
    assert_eq!(
        r["result"]["isError"], true,
        "input validation errors are tool errors on 2025-11-25"
    );
    p.send_raw(&format!(
        "{{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"ping\",\"params\":{{\"pad\":\"{}\"}}}}",
        "x".repeat(2000)
    ))
    .await;
    let e = p.recv().await;
    assert_eq!(e["error"]["code"], -32600);
    assert!(e["error"]["message"].as_str().unwrap().contains("limit"));
    assert_eq!(
        p.call(json!({"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"boom"}}))
            .await["error"]["code"],
        -32603
    );
    // Still serving after all of that.
    let r = p.call(json!({"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":"echo","arguments":{"n":1}}})).await;
    assert_eq!(r["result"]["content"][0]["text"], "{\"n\":1}");
    assert_eq!(
        p.call(json!({"jsonrpc":"2.0","id":9,"method":"ping"}))
            .await["result"],
        json!({})
    );
}

#[tokio::test]
async fn input_errors_are_protocol_errors_before_2025_11_25() {
    let mut p = connect(server(16), 1 << 20);
    legacy(&mut p, "2025-06-18").await;
    let r = p.call(json!({"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"echo","arguments":{"n":"x"}}})).await;
    assert_eq!(r["error"]["code"], -32602);
}

#[tokio::test]
async fn batches_only_on_2025_03_26() {
    let mut p = connect(server(16), 1 << 20);
    legacy(&mut p, "2025-03-26").await;
    p.send(json!([{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","id":2,"method":"tools/list"}])).await;
    let arr = p.recv().await;
    assert_eq!(arr.as_array().map(Vec::len), Some(2), "{arr}");
    let mut p = connect(server(16), 1 << 20);
    legacy(&mut p, "2025-11-25").await;
    p.send(json!([{"jsonrpc":"2.0","id":1,"method":"ping"}]))
        .await;
    assert_eq!(p.recv().await["error"]["code"], -32600);
}

#[tokio::test]
async fn legacy_elicitation_cancellation_and_admission() {
    let mut p = connect(server(2), 1 << 20);
    legacy(&mut p, "2025-11-25").await;
    p.send(json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"ask"}}))
        .await;
    let req = p.recv().await;
    assert_eq!(req["method"], "elicitation/create");
    p.send(json!({"jsonrpc":"2.0","id":req["id"],"result":{"action":"accept","content":{"name":"Lin"}}})).await;
    assert_eq!(
        p.until_id(json!(1)).await.pop().unwrap()["result"]["content"][0]["text"],
        "Hello, \"Lin\"!"
    );

    // Two hanging requests fill the cap of 2; a third is refused at once, not queued.
    p.send(json!({"jsonrpc":"2.0","id":10,"method":"tools/call","params":{"name":"hang"}}))
        .await;
    p.send(json!({"jsonrpc":"2.0","id":11,"method":"tools/call","params":{"name":"hang"}}))
        .await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let r = p
        .call(json!({"jsonrpc":"2.0","id":12,"method":"ping"}))
        .await;
    assert_eq!(r["error"]["code"], -32010, "{r}");
    // Cancelling one frees a slot; the cancelled request gets no response.
    p.send(json!({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":10}}))
        .await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let r = p
        .call(json!({"jsonrpc":"2.0","id":13,"method":"ping"}))
        .await;
    assert_eq!(r["result"], json!({}), "{r}");
}

#[tokio::test]
async fn modern_era_on_the_same_connection_kind() {
    let mut p = connect(server(16), 1 << 20);
    let d = p.call(modern(1, "server/discover", json!({}))).await;
    assert_eq!(d["result"]["resultType"], "complete");
    assert!(d["result"]["supportedVersions"]
        .as_array()
        .unwrap()
        .iter()
        .any(|v| v == "2026-07-28"));
    let r = p
        .call(json!({"jsonrpc":"2.0","id":2,"method":"tools/list","params":{}}))
        .await;
    assert_eq!(
        r["error"]["code"], -32602,
        "a request with neither a session nor _meta"
    );
    let r = p.call(modern(3, "tools/call", json!({"name":"ask"}))).await;
    assert_eq!(r["result"]["resultType"], "input_required");
    let state = r["result"]["requestState"].clone();
    let r = p.call(modern(4, "tools/call", json!({"name":"ask","requestState":state,"inputResponses":{"name":{"action":"accept","content":{"name":"Mo"}}}}))).await;
    assert_eq!(r["result"]["content"][0]["text"], "Hello, \"Mo\"!");
    assert_eq!(
        p.call(modern(5, "ping", json!({}))).await["error"]["code"],
        -32601,
        "ping is legacy-only"
    );

    // A listen stream: acknowledgement first, a change tagged with the subscription id, and a clean end.
    p.send(modern(
        6,
        "subscriptions/listen",
        json!({"notifications":{"toolsListChanged":true}}),
    ))
    .await;
    let ack = p.recv().await;
    assert_eq!(ack["method"], "notifications/subscriptions/acknowledged");
    assert_eq!(
        ack["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"],
        6
    );
    p.send(json!({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":6}}))
        .await;
    let end = p.recv().await;
    assert_eq!(end["id"], 6);
}

#[tokio::test]
async fn requests_running_at_end_of_input_are_still_answered() {
    let mut p = connect(server(16), 1 << 20);
    legacy(&mut p, "2025-11-25").await;
    p.send(json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"slow"}}))
        .await;
    p.w.shutdown().await.unwrap();
    let r = p.until_id(json!(1)).await.pop().unwrap();
    assert_eq!(r["result"]["content"][0]["text"], "slow done", "{r}");
}

/// A handler waiting for the client's answer does not hold up the connection: other calls are read, run and
/// answered meanwhile, and the answer it waits for is read too (handlers are polled where their frame is
/// read, and move to a task of their own when they have to wait).
#[tokio::test]
async fn a_waiting_handler_does_not_hold_up_the_connection() {
    let mut p = connect(server(16), 1 << 20);
    legacy(&mut p, "2025-11-25").await;
    p.send(json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"ask"}}))
        .await;
    let req = p.recv().await;
    assert_eq!(req["method"], "elicitation/create");
    for id in 2..12 {
        let r = p.call(json!({"jsonrpc":"2.0","id":id,"method":"tools/call","params":{"name":"echo","arguments":{"n":id}}})).await;
        assert_eq!(r["result"]["content"][0]["text"], format!("{{\"n\":{id}}}"));
    }
    p.send(json!({"jsonrpc":"2.0","id":req["id"],"result":{"action":"accept","content":{"name":"Ada"}}})).await;
    let r = p.until_id(json!(1)).await.pop().unwrap();
    assert_eq!(r["result"]["content"][0]["text"], "Hello, \"Ada\"!");
}

/// Notifications a handler sends before it returns reach the client before its result, also when the handler
/// finishes at its first poll and its result is written by the connection directly.
#[tokio::test]
async fn a_handlers_notifications_precede_its_result() {
    let mut p = connect(server(16), 1 << 20);
    legacy(&mut p, "2025-11-25").await;
    let seen = {
        p.send(json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"report","_meta":{"progressToken":"t"}}}))
            .await;
        p.until_id(json!(1)).await
    };
    let progress: Vec<&Value> = seen
        .iter()
        .filter(|m| m["method"] == "notifications/progress")
        .map(|m| &m["params"]["progress"])
        .collect();
    assert_eq!(progress, [&json!(1), &json!(2), &json!(3)], "{seen:?}");
    assert_eq!(
        seen.last().unwrap()["result"]["content"][0]["text"],
        "reported"
    );
}

/// A handler that held up the connection once (work without awaiting) runs in a task of its own from then on:
/// a ping sent behind its second call is answered first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_that_blocked_once_no_longer_holds_up_reading() {
    let mut p = connect(server(16), 1 << 20);
    legacy(&mut p, "2025-11-25").await;
    let r = p
        .call(json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"block"}}))
        .await;
    assert_eq!(r["result"]["content"][0]["text"], "block done");
    p.send(json!({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"block"}}))
        .await;
    p.send(json!({"jsonrpc":"2.0","id":3,"method":"ping"}))
        .await;
    let first = p.recv().await;
    assert_eq!(
        first["id"], 3,
        "the ping waited for the blocking handler: {first}"
    );
    let second = p.recv().await;
    assert_eq!(second["result"]["content"][0]["text"], "block done");
}

/// Replies already made are written before the connection goes on to the next frame it has read, so the peer
/// gets them while the rest are handled: here the four echoes' answers arrive while the blocking call that was
/// read with them still runs (they used to wait for everything read in the same chunk).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_go_out_while_later_frames_are_handled() {
    let mut p = connect(server(16), 1 << 20);
    legacy(&mut p, "2025-11-25").await;
    let mut burst = String::new();
    for id in 1..=4 {
        let text = "x".repeat(60);
        burst += &json!({"jsonrpc":"2.0","id":id,"method":"tools/call","params":{"name":"echo","arguments":{"text":text}}}).to_string();
        burst.push('\n');
    }
    burst += &json!({"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"block_long"}})
        .to_string();
    let started = std::time::Instant::now();
    p.send_raw(&burst).await;
    let first = p.recv().await;
    assert_eq!(first["id"], 1, "{first}");
    assert!(
        started.elapsed() < Duration::from_millis(1000),
        "the first answer waited {:?}, for the 1.5 s call read after it",
        started.elapsed()
    );
    let rest = p.until_id(json!(5)).await;
    assert_eq!(rest.len(), 4, "{rest:?}");
}

/// A peer that writes all its requests before it reads any answer still gets them all: while the peer does
/// not read, the connection keeps reading (up to its coalescing limit) instead of waiting for its answers to
/// be taken. With pipes of 4 KiB, 1,000 calls (about 90 KB of requests, 100 KB of answers) stall both sides
/// if it did not.
#[tokio::test]
async fn a_peer_that_writes_everything_before_reading_gets_every_answer() {
    let mut p = connect_buffered(server(2000), 1 << 20, 4096);
    legacy(&mut p, "2025-11-25").await;
    let calls = 1000;
    let mut all = String::new();
    for id in 1..=calls {
        all += &json!({"jsonrpc":"2.0","id":id,"method":"tools/call","params":{"name":"echo","arguments":{"n":id}}}).to_string();
        all.push('\n');
    }
    tokio::time::timeout(Duration::from_secs(10), p.w.write_all(all.as_bytes()))
        .await
        .expect("the server stopped reading while its answers were not taken")
        .unwrap();
    for id in 1..=calls {
        let r = p.recv().await;
        assert_eq!(r["id"], id, "{r}");
        assert_eq!(
            r["result"]["content"][0]["text"],
            json!({"n": id}).to_string()
        );
    }
}
