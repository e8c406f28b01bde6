//! Server→client requests on legacy sessions that nobody waits for any more (the tool call was cancelled, or
//! the handler gave up on its own) are cancelled on the wire, so the client can close the prompt it shows, and
//! a late answer is ignored. Over a byte stream and over Streamable HTTP.

use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use mcp_protocol::types::{CallToolResult, ElicitRequestParams, Tool};
use mcp_protocol::JsonObject;
use mcp_server::http::{HttpConfig, McpBody, McpService};
use mcp_server::{serve_connection, ConnectionOptions, Error, RequestContext, Server};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines, ReadHalf, WriteHalf};

const LEGACY: &str = "2025-11-25";

fn tool(name: &str) -> Tool {
    Tool {
        name: name.into(),
        description: Some(name.into()),
        input_schema: json!({"type":"object"}),
        ..Default::default()
    }
}

fn question() -> ElicitRequestParams {
    ElicitRequestParams::form(
        "Name?",
        json!({"type":"object","properties":{"name":{"type":"string"}}}),
    )
}

/// `ask` waits for its answer as long as the call lives; `ask_briefly` gives up after 100 ms and answers.
fn server() -> Server {
    Server::builder("abandon", "1.0.0")
        .tool(
            tool("ask"),
            |ctx: RequestContext, _a: JsonObject| async move {
                ctx.elicit("name", question()).await?;
                Ok::<_, Error>(CallToolResult::text("answered"))
            },
        )
        .tool(
            tool("ask_briefly"),
            |ctx: RequestContext, _a: JsonObject| async move {
                let r = tokio::time::timeout(
                    Duration::from_millis(100),
                    ctx.elicit("name", question()),
                )
                .await;
                Ok::<_, Error>(CallToolResult::text(match r {
                    Ok(_) => "answered",
                    Err(_) => "gave up",
                }))
            },
        )
        .build()
}

fn is_cancel_of(m: &Value, id: &Value) -> bool {
    m["method"] == "notifications/cancelled" && m["params"]["requestId"] == *id
}

// ---- byte stream (stdio framing over an in-memory duplex) ----

struct Pipe {
    w: WriteHalf<tokio::io::DuplexStream>,
    r: Lines<BufReader<ReadHalf<tokio::io::DuplexStream>>>,
}

impl Pipe {
    fn connect() -> Self {
        let (client, srv) = tokio::io::duplex(1 << 16);
        let (sr, sw) = tokio::io::split(srv);
        tokio::spawn(serve_connection(
            server(),
            BufReader::new(sr),
            sw,
            ConnectionOptions::default(),
        ));
        let (cr, cw) = tokio::io::split(client);
        Pipe {
            w: cw,
            r: BufReader::new(cr).lines(),
        }
    }
    async fn send(&mut self, v: Value) {
        self.w.write_all(v.to_string().as_bytes()).await.unwrap();
        self.w.write_all(b"\n").await.unwrap();
    }
    async fn recv(&mut self) -> Value {
        let line = tokio::time::timeout(Duration::from_secs(5), self.r.next_line())
            .await
            .expect("no message within 5 s")
            .unwrap()
            .expect("connection closed");
        serde_json::from_str(&line).unwrap()
    }
    /// Everything up to and including the first message that satisfies `until`.
    async fn until(&mut self, until: impl Fn(&Value) -> bool) -> Vec<Value> {
        let mut seen = Vec::new();
        loop {
            let m = self.recv().await;
            let done = until(&m);
            seen.push(m);
            if done {
                return seen;
            }
        }
    }
    async fn initialize(&mut self) {
        self.send(json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":LEGACY,"capabilities":{"elicitation":{}},"clientInfo":{"name":"t","version":"1"}}})).await;
        assert_eq!(self.recv().await["id"], 0);
        self.send(json!({"jsonrpc":"2.0","method":"notifications/initialized"}))
            .await;
    }
    /// A late answer to `id` is ignored: no error comes back, and the connection goes on serving.
    async fn late_answer_is_ignored(&mut self, id: &Value) {
        self.send(
            json!({"jsonrpc":"2.0","id":id,"result":{"action":"accept","content":{"name":"Late"}}}),
        )
        .await;
        self.send(json!({"jsonrpc":"2.0","id":99,"method":"ping"}))
            .await;
        let seen = self.until(|m| m["id"] == 99).await;
        assert_eq!(seen.len(), 1, "only the ping's answer: {seen:?}");
        assert_eq!(seen[0]["result"], json!({}));
    }
}

#[tokio::test]
async fn stdio_cancelling_the_tool_call_cancels_its_elicitation() {
    let mut p = Pipe::connect();
    p.initialize().await;
    p.send(json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"ask"}}))
        .await;
    let ask = p.recv().await;
    assert_eq!(ask["method"], "elicitation/create");
    let eid = ask["id"].clone();
    // The client does not answer; it cancels the call instead.
    p.send(json!({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":1}}))
        .await;
    let m = p.recv().await;
    assert!(is_cancel_of(&m, &eid), "{m}");
    p.late_answer_is_ignored(&eid).await;
}

#[tokio::test]
async fn stdio_a_handler_that_stops_waiting_cancels_its_elicitation() {
    let mut p = Pipe::connect();
    p.initialize().await;
    p.send(json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"ask_briefly"}}))
        .await;
    let ask = p.recv().await;
    assert_eq!(ask["method"], "elicitation/create");
    let eid = ask["id"].clone();
    let seen = p.until(|m| m["id"] == 1 && m.get("method").is_none()).await;
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert!(is_cancel_of(&seen[0], &eid), "{seen:?}");
    assert_eq!(seen[1]["result"]["content"][0]["text"], "gave up");
    p.late_answer_is_ignored(&eid).await;
}

// ---- Streamable HTTP (legacy session, the request's SSE stream) ----

fn post(body: Value, sid: Option<&str>) -> Request<Full<Bytes>> {
    let mut b = Request::post("http://localhost/mcp")
        .header("host", "localhost:3000")
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", LEGACY);
    if let Some(s) = sid {
        b = b.header("mcp-session-id", s);
    }
    b.body(Full::new(Bytes::from(body.to_string()))).unwrap()
}

async fn open_session(svc: &McpService) -> String {
    let r = svc.handle(post(json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":LEGACY,"capabilities":{"elicitation":{}},"clientInfo":{"name":"t","version":"1"}}}), None)).await;
    assert_eq!(r.status(), StatusCode::OK);
    let sid = r.headers()["mcp-session-id"].to_str().unwrap().to_owned();
    let r = svc
        .handle(post(
            json!({"jsonrpc":"2.0","method":"notifications/initialized"}),
            Some(&sid),
        ))
        .await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    sid
}

async fn read_until(body: &mut McpBody, until: impl Fn(&Value) -> bool) -> Vec<Value> {
    let mut buf = String::new();
    let mut out = Vec::new();
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(5), body.frame())
            .await
            .expect("stream stalled");
        let Some(Ok(frame)) = frame else { return out };
        if let Ok(data) = frame.into_data() {
            buf.push_str(&String::from_utf8_lossy(&data));
        }
        while let Some(i) = buf.find("\n\n") {
            let ev: String = buf.drain(..i + 2).collect();
            let data: String = ev
                .lines()
                .filter_map(|l| l.strip_prefix("data: "))
                .collect();
            if let Ok(v) = serde_json::from_str::<Value>(&data) {
                let done = until(&v);
                out.push(v);
                if done {
                    return out;
                }
            }
        }
    }
}

/// Start `tool` on a new session; returns the session, the open stream, and the elicitation's id.
async fn start(svc: &McpService, tool: &str) -> (String, McpBody, Value) {
    let sid = open_session(svc).await;
    let r = svc
        .handle(post(
            json!({"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":tool}}),
            Some(&sid),
        ))
        .await;
    assert_eq!(r.headers()["content-type"], "text/event-stream");
    let mut body = r.into_body();
    let got = read_until(&mut body, |v| v["method"] == "elicitation/create").await;
    let eid = got.last().unwrap()["id"].clone();
    (sid, body, eid)
}

async fn late_answer_is_accepted_and_ignored(svc: &McpService, sid: &str, eid: &Value) {
    let answer =
        json!({"jsonrpc":"2.0","id":eid,"result":{"action":"accept","content":{"name":"Late"}}});
    assert_eq!(
        svc.handle(post(answer, Some(sid))).await.status(),
        StatusCode::ACCEPTED
    );
}

#[tokio::test]
async fn http_a_handler_that_stops_waiting_cancels_its_elicitation() {
    let svc = McpService::new(server(), HttpConfig::default());
    let (sid, mut body, eid) = start(&svc, "ask_briefly").await;
    let got = read_until(&mut body, |v| v["id"] == 7 && v.get("method").is_none()).await;
    assert!(got.iter().any(|m| is_cancel_of(m, &eid)), "{got:?}");
    assert_eq!(
        got.last().unwrap()["result"]["content"][0]["text"],
        "gave up"
    );
    late_answer_is_accepted_and_ignored(&svc, &sid, &eid).await;
}

#[tokio::test]
async fn http_cancelling_the_tool_call_cancels_its_elicitation() {
    let svc = McpService::new(server(), HttpConfig::default());
    let (sid, mut body, eid) = start(&svc, "ask").await;
    let cancel =
        json!({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":7}});
    assert_eq!(
        svc.handle(post(cancel, Some(&sid))).await.status(),
        StatusCode::ACCEPTED
    );
    let got = read_until(&mut body, |v| is_cancel_of(v, &eid)).await;
    assert!(got.last().is_some_and(|m| is_cancel_of(m, &eid)), "{got:?}");
    late_answer_is_accepted_and_ignored(&svc, &sid, &eid).await;
}
