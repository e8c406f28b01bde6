//! Cancellation a handler can see: on a cancel the request's token is cancelled first and the handler gets
//! the grace period to clean up; one that ignores it is dropped when the grace period ends; nothing is sent
//! for a cancelled request. Legacy era (`notifications/cancelled` over stdio, session DELETE over HTTP) and
//! 2026-07-28 over HTTP (the client drops the reply stream, or the request, or the TCP connection).

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use mcp_protocol::types::{CallToolResult, Tool};
use mcp_protocol::JsonObject;
use mcp_server::http::{HttpConfig, McpService};
use mcp_server::{
    serve_connection, ConnectionOptions, Error, RequestContext, Server, ServerOptions,
};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::io::{ReadHalf, WriteHalf};
use tokio::sync::mpsc;

const LEGACY: &str = "2025-11-25";
const MODERN: &str = "2026-07-28";
/// How long a test waits for a signal it expects (far above what it takes).
const WAIT: Duration = Duration::from_secs(5);

/// What the handlers report to the test.
#[derive(Debug, PartialEq)]
enum Event {
    /// The handler runs (so the cancel that follows finds it running).
    Started,
    /// The cleanup branch on `ctx.cancellation()` ran.
    CleanedUp,
    /// A handler that ignores cancellation was dropped.
    Dropped,
}

struct OnDrop(mpsc::UnboundedSender<(Event, Instant)>);
impl Drop for OnDrop {
    fn drop(&mut self) {
        let _ = self.0.send((Event::Dropped, Instant::now()));
    }
}

fn tool(name: &str) -> Tool {
    Tool {
        name: name.into(),
        description: Some(name.into()),
        input_schema: json!({"type":"object"}),
        ..Default::default()
    }
}

/// `cleanup` waits for its cancellation and records that its cleanup ran (then returns a result, which
/// must not be sent); `stubborn` ignores cancellation and records when it is dropped. Both send a progress
/// notification first when asked for one, so a 2026-07-28 answer becomes a stream.
fn server(grace: Duration, max_in_flight: usize) -> (Server, Events) {
    let (tx, rx) = mpsc::unbounded_channel();
    let (t1, t2) = (tx.clone(), tx);
    let server = Server::builder("cancellation", "1.0.0")
        .options(ServerOptions::default().max_in_flight(max_in_flight))
        .cancel_grace(grace)
        .tool(
            tool("cleanup"),
            move |ctx: RequestContext, _a: JsonObject| {
                let tx = t1.clone();
                async move {
                    ctx.progress(1.0, None, None).await;
                    let _ = tx.send((Event::Started, Instant::now()));
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_secs(60)) => {}
                        _ = ctx.cancellation().cancelled() => {
                            // Cleanup that takes a moment, well within the grace period.
                            tokio::time::sleep(Duration::from_millis(20)).await;
                            let _ = tx.send((Event::CleanedUp, Instant::now()));
                        }
                    }
                    Ok::<_, Error>(CallToolResult::text(
                        "sent after a cancel: must not reach the client",
                    ))
                }
            },
        )
        .tool(
            tool("stubborn"),
            move |ctx: RequestContext, _a: JsonObject| {
                let tx = t2.clone();
                async move {
                    let _guard = OnDrop(tx.clone());
                    ctx.progress(1.0, None, None).await;
                    let _ = tx.send((Event::Started, Instant::now()));
                    std::future::pending::<()>().await;
                    Ok::<_, Error>(CallToolResult::text("never"))
                }
            },
        )
        .build();
    (server, rx)
}

type Events = mpsc::UnboundedReceiver<(Event, Instant)>;

async fn next_event(rx: &mut Events) -> (Event, Instant) {
    tokio::time::timeout(WAIT, rx.recv())
        .await
        .expect("no event from the handler in time")
        .expect("handlers gone")
}

async fn expect_event(rx: &mut Events, want: Event) -> Instant {
    let (got, at) = next_event(rx).await;
    assert_eq!(got, want);
    at
}

// ---- the legacy era over a byte stream (stdio framing) ----

struct Pipe {
    w: WriteHalf<tokio::io::DuplexStream>,
    r: Lines<BufReader<ReadHalf<tokio::io::DuplexStream>>>,
}

impl Pipe {
    async fn connect(server: Server) -> Self {
        let (client, srv) = tokio::io::duplex(1 << 16);
        let (sr, sw) = tokio::io::split(srv);
        tokio::spawn(serve_connection(
            server,
            BufReader::new(sr),
            sw,
            ConnectionOptions::default(),
        ));
        let (cr, cw) = tokio::io::split(client);
        let mut p = Pipe {
            w: cw,
            r: BufReader::new(cr).lines(),
        };
        p.send(json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":LEGACY,"capabilities":{},"clientInfo":{"name":"t","version":"1"}}})).await;
        assert_eq!(p.recv().await["result"]["protocolVersion"], LEGACY);
        p.send(json!({"jsonrpc":"2.0","method":"notifications/initialized"}))
            .await;
        p
    }
    async fn send(&mut self, v: Value) {
        self.w.write_all(v.to_string().as_bytes()).await.unwrap();
        self.w.write_all(b"\n").await.unwrap();
    }
    async fn recv(&mut self) -> Value {
        let line = tokio::time::timeout(WAIT, self.r.next_line())
            .await
            .expect("no message in time")
            .unwrap()
            .expect("connection closed");
        serde_json::from_str(&line).unwrap()
    }
    async fn cancel(&mut self, id: i64) {
        self.send(json!({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":id,"reason":"test"}}))
            .await;
    }
    /// Ping until answered (the cancelled request holds the connection's only slot until it is gone),
    /// returning every other message seen on the way.
    async fn ping_until_answered(&mut self) -> Vec<Value> {
        let mut others = Vec::new();
        for id in 100..400 {
            self.send(json!({"jsonrpc":"2.0","id":id,"method":"ping"}))
                .await;
            loop {
                let m = self.recv().await;
                if m["id"] != id {
                    others.push(m);
                    continue;
                }
                if m["result"] == json!({}) {
                    return others;
                }
                assert_eq!(m["error"]["code"], -32010, "{m}");
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the cancelled request never gave its slot back");
    }
}

#[tokio::test]
async fn legacy_cancel_runs_the_handlers_cleanup_and_sends_nothing() {
    let (server, mut events) = server(Duration::from_secs(2), 1);
    let mut p = Pipe::connect(server).await;
    p.send(json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"cleanup"}}))
        .await;
    expect_event(&mut events, Event::Started).await;
    let cancelled_at = Instant::now();
    p.cancel(1).await;
    let cleaned = expect_event(&mut events, Event::CleanedUp).await;
    assert!(cleaned - cancelled_at < Duration::from_secs(1));
    // The handler returned a result after the cancel: it is not sent. Once the connection's only slot is
    // free again the request is over, so anything it was going to send would have come by then.
    let others = p.ping_until_answered().await;
    assert!(
        others.iter().all(|m| m["id"] != 1),
        "a cancelled request was answered: {others:?}"
    );
}

/// A handler that ignores cancellation is dropped once the grace period is over, not before (and holds its
/// in-flight slot until then), and nothing is sent for it.
#[tokio::test]
async fn legacy_handler_that_ignores_the_cancel_is_dropped_after_the_grace_period() {
    let grace = Duration::from_millis(300);
    let (server, mut events) = server(grace, 1);
    let mut p = Pipe::connect(server).await;
    p.send(json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"stubborn"}}))
        .await;
    expect_event(&mut events, Event::Started).await;
    let cancelled_at = Instant::now();
    p.cancel(1).await;
    let others = p.ping_until_answered().await;
    let dropped = expect_event(&mut events, Event::Dropped).await;
    assert_dropped_after_grace(dropped - cancelled_at, grace);
    assert!(
        others.iter().all(|m| m["id"] != 1),
        "a cancelled request was answered: {others:?}"
    );
}

fn assert_dropped_after_grace(after: Duration, grace: Duration) {
    // Timers do not fire early; a little slack for clock granularity.
    assert!(
        after + Duration::from_millis(20) >= grace,
        "dropped after {after:?}, before the grace period of {grace:?} was over"
    );
    assert!(
        after < grace + Duration::from_secs(2),
        "still running {after:?} after the cancel"
    );
}

/// The end of the connection's input cancels what still runs (after the EOF grace): the same rule.
#[tokio::test]
async fn end_of_input_cancels_running_handlers_under_the_same_rule() {
    let (server, mut events) = server(Duration::from_secs(2), 16);
    let (client, srv) = tokio::io::duplex(1 << 16);
    let (sr, sw) = tokio::io::split(srv);
    let opts = ConnectionOptions::default().eof_grace(Duration::from_millis(50));
    let served = tokio::spawn(serve_connection(server, BufReader::new(sr), sw, opts));
    let (cr, mut cw) = tokio::io::split(client);
    let mut lines = BufReader::new(cr).lines();
    for m in [
        json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":LEGACY,"capabilities":{},"clientInfo":{"name":"t","version":"1"}}}),
        json!({"jsonrpc":"2.0","method":"notifications/initialized"}),
        json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"cleanup"}}),
    ] {
        cw.write_all(format!("{m}\n").as_bytes()).await.unwrap();
    }
    expect_event(&mut events, Event::Started).await;
    cw.shutdown().await.unwrap();
    expect_event(&mut events, Event::CleanedUp).await;
    tokio::time::timeout(WAIT, served)
        .await
        .expect("the connection ends once its handlers are done")
        .unwrap()
        .unwrap();
    // Only the initialize answer went out.
    let mut out = Vec::new();
    while let Ok(Some(l)) = lines.next_line().await {
        out.push(serde_json::from_str::<Value>(&l).unwrap());
    }
    assert_eq!(out.len(), 1, "{out:?}");
}

// ---- HTTP ----

fn post(body: Value, headers: &[(&str, &str)]) -> Request<Full<Bytes>> {
    let mut b = Request::post("http://localhost/mcp")
        .header("host", "localhost:3000")
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream");
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(Full::new(Bytes::from(body.to_string()))).unwrap()
}

fn modern_call(id: i64, tool: &str, progress: bool) -> Value {
    let mut meta = json!({"io.modelcontextprotocol/protocolVersion": MODERN, "io.modelcontextprotocol/clientCapabilities": {}});
    if progress {
        meta["progressToken"] = json!("p");
    }
    json!({"jsonrpc":"2.0","id":id,"method":"tools/call","params":{"name":tool,"_meta":meta}})
}

fn modern_headers(tool: &str) -> [(&str, &str); 3] {
    [
        ("mcp-protocol-version", MODERN),
        ("mcp-method", "tools/call"),
        ("mcp-name", tool),
    ]
}

/// Read a streamed body until its text contains `needle`.
async fn read_until_text(body: &mut mcp_server::http::McpBody, needle: &str) -> String {
    let mut text = String::new();
    while !text.contains(needle) {
        let frame = tokio::time::timeout(WAIT, body.frame())
            .await
            .expect("stream stalled")
            .expect("stream ended")
            .unwrap();
        if let Ok(d) = frame.into_data() {
            text.push_str(&String::from_utf8_lossy(&d));
        }
    }
    text
}

/// 2026-07-28: closing the reply stream of a streaming call is the cancel; the handler's cleanup runs.
#[tokio::test]
async fn modern_closing_the_stream_runs_the_handlers_cleanup() {
    let (server, mut events) = server(Duration::from_secs(2), 16);
    let svc = McpService::new(server, HttpConfig::default());
    let resp = svc
        .handle(post(
            modern_call(1, "cleanup", true),
            &modern_headers("cleanup"),
        ))
        .await;
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let mut body = resp.into_body();
    read_until_text(&mut body, "notifications/progress").await;
    expect_event(&mut events, Event::Started).await;
    let closed_at = Instant::now();
    drop(body);
    let cleaned = expect_event(&mut events, Event::CleanedUp).await;
    assert!(cleaned - closed_at < Duration::from_secs(1));
}

/// 2026-07-28: a handler that ignores the cancel is dropped when the grace period ends.
#[tokio::test]
async fn modern_handler_that_ignores_the_cancel_is_dropped_after_the_grace_period() {
    let grace = Duration::from_millis(300);
    let (server, mut events) = server(grace, 16);
    let svc = McpService::new(server, HttpConfig::default());
    let resp = svc
        .handle(post(
            modern_call(1, "stubborn", true),
            &modern_headers("stubborn"),
        ))
        .await;
    let mut body = resp.into_body();
    read_until_text(&mut body, "notifications/progress").await;
    expect_event(&mut events, Event::Started).await;
    let closed_at = Instant::now();
    drop(body);
    let dropped = expect_event(&mut events, Event::Dropped).await;
    assert_dropped_after_grace(dropped - closed_at, grace);
}

/// 2026-07-28: a client that gives up before any answer (the request's future is dropped while the handler
/// runs inline in it) cancels too, under the same rule.
#[tokio::test]
async fn modern_client_leaving_before_the_answer_runs_the_handlers_cleanup() {
    let (server, mut events) = server(Duration::from_secs(2), 16);
    let svc = McpService::new(server, HttpConfig::default());
    let call = svc.handle(post(
        modern_call(1, "cleanup", false),
        &modern_headers("cleanup"),
    ));
    // Drive the request until its handler runs, then drop it.
    tokio::select! {
        r = call => panic!("answered although the handler waits: {:?}", r.status()),
        e = next_event(&mut events) => assert_eq!(e.0, Event::Started),
    }
    expect_event(&mut events, Event::CleanedUp).await;
}

/// The same over a real loopback connection: the client closes its TCP connection mid-stream.
#[tokio::test]
async fn modern_closing_the_tcp_connection_runs_the_handlers_cleanup() {
    let (server, mut events) = server(Duration::from_secs(2), 16);
    let bound = mcp_server::http::serve_listener(
        server,
        HttpConfig::default(),
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    let addr = bound.local_addr().unwrap();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(bound.run_until(async move {
        let _ = stop_rx.await;
    }));
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let body = modern_call(1, "cleanup", true).to_string();
    let head = format!(
        "POST /mcp HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\n\
         accept: application/json, text/event-stream\r\nmcp-protocol-version: {MODERN}\r\n\
         mcp-method: tools/call\r\nmcp-name: cleanup\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    tcp.write_all(head.as_bytes()).await.unwrap();
    tcp.write_all(body.as_bytes()).await.unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&seen).contains("notifications/progress") {
        let n = tokio::time::timeout(WAIT, tcp.read(&mut buf))
            .await
            .expect("no progress on the stream")
            .unwrap();
        assert!(n > 0, "connection closed early");
        seen.extend_from_slice(&buf[..n]);
    }
    assert!(String::from_utf8_lossy(&seen).starts_with("HTTP/1.1 200"));
    expect_event(&mut events, Event::Started).await;
    drop(tcp);
    expect_event(&mut events, Event::CleanedUp).await;
    let _ = stop_tx.send(());
    let _ = serving.await;
}

/// Legacy HTTP: deleting the session cancels its requests, under the same rule; the request's POST is
/// answered without the result.
#[tokio::test]
async fn legacy_session_delete_runs_the_handlers_cleanup() {
    let (server, mut events) = server(Duration::from_secs(2), 16);
    let svc = McpService::new(server, HttpConfig::default());
    let init = svc
        .handle(post(
            json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":LEGACY,"capabilities":{},"clientInfo":{"name":"t","version":"1"}}}),
            &[],
        ))
        .await;
    let sid = init.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let hh = [
        ("mcp-session-id", sid.as_str()),
        ("mcp-protocol-version", LEGACY),
    ];
    let r = svc
        .handle(post(
            json!({"jsonrpc":"2.0","method":"notifications/initialized"}),
            &hh,
        ))
        .await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let svc2 = svc.clone();
    let (sid2, call) = (
        sid.clone(),
        json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"cleanup"}}),
    );
    let pending = tokio::spawn(async move {
        let r = svc2
            .handle(post(
                call,
                &[
                    ("mcp-session-id", sid2.as_str()),
                    ("mcp-protocol-version", LEGACY),
                ],
            ))
            .await;
        let status = r.status();
        let body = r.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8_lossy(&body).into_owned())
    });
    expect_event(&mut events, Event::Started).await;
    let delete = Request::delete("http://localhost/mcp")
        .header("host", "localhost:3000")
        .header("mcp-session-id", &sid)
        .header("mcp-protocol-version", LEGACY)
        .body(Full::new(Bytes::new()))
        .unwrap();
    assert_eq!(svc.handle(delete).await.status(), StatusCode::OK);
    expect_event(&mut events, Event::CleanedUp).await;
    let (status, body) = tokio::time::timeout(WAIT, pending)
        .await
        .expect("the cancelled POST is answered")
        .unwrap();
    assert!(!body.contains("must not reach"), "{status}: {body}");
}
