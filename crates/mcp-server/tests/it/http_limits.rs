//! The HTTP limits `serve` enforces, tried over real loopback sockets the way a slow or hostile peer would:
//! stalled heads and bodies, idle connections, the connection cap, the in-flight cap over streams, the
//! deprecated HTTP+SSE transport, and graceful shutdown.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mcp_protocol::types::{CallToolResult, Tool};
use mcp_server::http::{serve_listener, HttpConfig, McpService, OldSsePaths};
use mcp_server::{Error, RequestContext, Server};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::time::timeout;

const LEGACY: &str = "2025-11-25";
const MODERN: &str = "2026-07-28";

fn tool(name: &str, description: &str) -> Tool {
    Tool {
        name: name.into(),
        description: Some(description.into()),
        input_schema: json!({"type": "object"}),
        ..Default::default()
    }
}

fn server(finished: Arc<AtomicUsize>) -> Server {
    Server::builder("limits", "1.0.0")
        .tool(
            tool("slow", "answers after 300 ms"),
            move |_c: RequestContext, _a: mcp_protocol::JsonObject| {
                let finished = finished.clone();
                async move {
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    finished.fetch_add(1, Ordering::SeqCst);
                    Ok::<_, Error>(CallToolResult::text("done"))
                }
            },
        )
        .tool(
            tool("flood", "logs 16 KiB messages until cancelled"),
            |ctx: RequestContext, _a: mcp_protocol::JsonObject| async move {
                let payload = "x".repeat(16 * 1024);
                // Far more than socket buffers hold either way (160 MB in debug); a debug build serializes
                // ten times slower, and the legacy test waits for the whole flood to be written.
                let messages = if cfg!(debug_assertions) {
                    10_000
                } else {
                    100_000
                };
                for _ in 0..messages {
                    ctx.log(
                        mcp_protocol::types::LoggingLevel::Info,
                        None,
                        payload.as_str(),
                    )
                    .await;
                }
                Ok::<_, Error>(CallToolResult::text("flooded"))
            },
        )
        .tool(
            tool("forever", "never answers"),
            |_c: RequestContext, _a: mcp_protocol::JsonObject| async move {
                std::future::pending::<()>().await;
                Ok::<_, Error>(CallToolResult::text("never"))
            },
        )
        .build()
}

struct Running {
    port: u16,
    service: McpService,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Running {
    /// Begin a graceful shutdown; `task` ends when `run_until` returns.
    fn shut_down(&mut self) {
        let _ = self.stop.take().expect("running").send(());
    }
}

async fn start(config: HttpConfig) -> Running {
    start_with(server(Arc::default()), config).await
}

async fn start_with(server: Server, config: HttpConfig) -> Running {
    let bound = serve_listener(server, config, ([127, 0, 0, 1], 0).into())
        .await
        .unwrap();
    let port = bound.local_addr().unwrap().port();
    let service = bound.service().clone();
    let (tx, rx) = oneshot::channel();
    let task = tokio::spawn(bound.run_until(async move {
        let _ = rx.await;
    }));
    Running {
        port,
        service,
        stop: Some(tx),
        task,
    }
}

/// A POST with a complete JSON body, as raw HTTP/1.1.
fn post_bytes(body: &Value, extra: &[(&str, &str)]) -> Vec<u8> {
    let body = body.to_string();
    let mut head = format!(
        "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
         Accept: application/json, text/event-stream\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in extra {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let mut b = head.into_bytes();
    b.extend_from_slice(body.as_bytes());
    b
}

fn initialize() -> Value {
    json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":LEGACY,"capabilities":{},
        "clientInfo":{"name":"t","version":"1"}}})
}

fn modern_headers(method: &'static str) -> Vec<(&'static str, &'static str)> {
    vec![("Mcp-Method", method), ("MCP-Protocol-Version", MODERN)]
}

fn modern(id: i64, method: &str, mut params: Value) -> Value {
    params["_meta"] = json!({"io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientCapabilities": {}});
    json!({"jsonrpc":"2.0","id":id,"method":method,"params":params})
}

/// Read until the peer closes or `limit` passes; the bytes, and whether the peer closed.
async fn read_all(s: &mut TcpStream, limit: Duration) -> (String, bool) {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match timeout(left, s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (String::from_utf8_lossy(&out).into_owned(), true),
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
            Err(_) => return (String::from_utf8_lossy(&out).into_owned(), false),
        }
    }
}

/// Read until `needle` shows up (or `limit` passes).
async fn read_until(s: &mut TcpStream, needle: &str, limit: Duration) -> String {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + limit;
    while !String::from_utf8_lossy(&out).contains(needle) {
        let left = deadline.saturating_duration_since(Instant::now());
        match timeout(left, s.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => out.extend_from_slice(&buf[..n]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// One request on a fresh connection; the status code (0 if none came within 5 s).
async fn status_of(port: u16, req: &[u8]) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    s.write_all(req).await.unwrap();
    let head = read_until(&mut s, "\r\n\r\n", Duration::from_secs(5)).await;
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, head)
}

/// Open a legacy session on its own connection; its id.
async fn session(port: u16) -> String {
    let (status, head) = status_of(port, &post_bytes(&initialize(), &[])).await;
    assert_eq!(status, 200, "{head}");
    head.lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .starts_with("mcp-session-id:")
                .then(|| l[15..].trim().to_owned())
        })
        .expect("session id")
}

/// A legacy GET stream, its head read; the open connection.
async fn get_stream(port: u16, sid: &str) -> TcpStream {
    let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let req = format!(
        "GET /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\nMcp-Session-Id: {sid}\r\n\
         MCP-Protocol-Version: {LEGACY}\r\n\r\n"
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let head = read_until(&mut s, "\r\n\r\n", Duration::from_secs(5)).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    s
}

/// Wait (at most `limit`) until the service's in-flight count satisfies `done`; the count then.
async fn wait_in_flight(
    service: &McpService,
    done: impl Fn(usize) -> bool,
    limit: Duration,
) -> usize {
    let t = Instant::now();
    while !done(service.in_flight()) && t.elapsed() < limit {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    service.in_flight()
}

/// Read and discard until the server closes the connection; fails the test if it has not within `limit`.
async fn assert_closed_by_server(s: &mut TcpStream, limit: Duration) {
    let drained = async {
        // What the kernel buffered comes first; the server's close then shows as end of stream.
        let mut buf = vec![0u8; 1 << 16];
        while let Ok(n) = s.read(&mut buf).await {
            if n == 0 {
                break;
            }
        }
    };
    timeout(limit, drained)
        .await
        .expect("the connection was closed by the server");
}

fn quick() -> HttpConfig {
    HttpConfig::default()
        .header_read_timeout(Duration::from_millis(300))
        .idle_timeout(Duration::from_millis(400))
        .body_read_timeout(Duration::from_millis(800))
        .body_stall_timeout(Duration::from_millis(300))
}

#[tokio::test]
async fn a_connection_that_stalls_mid_head_is_dropped() {
    let r = start(quick()).await;
    let mut s = TcpStream::connect(("127.0.0.1", r.port)).await.unwrap();
    s.write_all(b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Ty")
        .await
        .unwrap();
    let t = Instant::now();
    let (_, closed) = read_all(&mut s, Duration::from_secs(5)).await;
    assert!(closed, "the server kept a stalled head open for 5 s");
    assert!(
        t.elapsed() >= Duration::from_millis(250),
        "{:?}",
        t.elapsed()
    );
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_but_an_open_stream_is_not() {
    let r = start(quick()).await;
    // Idle after one answered request.
    let mut s = TcpStream::connect(("127.0.0.1", r.port)).await.unwrap();
    s.write_all(&post_bytes(&initialize(), &[])).await.unwrap();
    let (out, closed) = read_all(&mut s, Duration::from_secs(5)).await;
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    assert!(closed, "an idle keep-alive connection stayed open for 5 s");

    // A GET stream that is quiet (no keep-alive ticks) for longer than the idle timeout stays open.
    let config = quick().keepalive(None);
    let r = start(config).await;
    let sid = session(r.port).await;
    let mut stream = get_stream(r.port, &sid).await;
    let (_, closed) = read_all(&mut stream, Duration::from_millis(1200)).await;
    assert!(!closed, "an open SSE stream was closed as idle");
}

#[tokio::test]
async fn a_stalled_or_trickling_body_gets_408() {
    let r = start(quick()).await;
    // Stalled: 10 of 1000 bytes, then nothing.
    let mut s = TcpStream::connect(("127.0.0.1", r.port)).await.unwrap();
    s.write_all(
        b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
          Accept: application/json, text/event-stream\r\nContent-Length: 1000\r\n\r\n{\"jsonrpc\"",
    )
    .await
    .unwrap();
    let t = Instant::now();
    let (out, _) = read_all(&mut s, Duration::from_secs(5)).await;
    assert!(out.starts_with("HTTP/1.1 408"), "{out}");
    assert!(out.contains("body_stall_timeout"), "{out}");
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());

    // Trickling: a byte every 100 ms never stalls, but misses the 800 ms deadline.
    let mut s = TcpStream::connect(("127.0.0.1", r.port)).await.unwrap();
    s.write_all(
        b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
          Accept: application/json, text/event-stream\r\nContent-Length: 1000\r\n\r\n",
    )
    .await
    .unwrap();
    let t = Instant::now();
    let (mut rd, mut wr) = s.into_split();
    let trickle = tokio::spawn(async move {
        for _ in 0..50 {
            if wr.write_all(b" ").await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let mut out = Vec::new();
    let _ = timeout(Duration::from_secs(5), rd.read_to_end(&mut out)).await;
    trickle.abort();
    let out = String::from_utf8_lossy(&out);
    assert!(out.starts_with("HTTP/1.1 408"), "{out}");
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
}

#[tokio::test]
async fn stalled_bodies_do_not_take_in_flight_slots() {
    let r = start(HttpConfig::default().max_in_flight(2)).await;
    let mut stalled = Vec::new();
    for _ in 0..5 {
        let mut s = TcpStream::connect(("127.0.0.1", r.port)).await.unwrap();
        s.write_all(
            b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
              Content-Length: 1000\r\n\r\n{",
        )
        .await
        .unwrap();
        stalled.push(s);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (status, head) = status_of(r.port, &post_bytes(&initialize(), &[])).await;
    assert_eq!(status, 200, "{head}");
}

#[tokio::test]
async fn streams_count_against_the_in_flight_cap_while_open() {
    let r = start(HttpConfig::default().max_in_flight(2)).await;
    let (a, b) = (session(r.port).await, session(r.port).await);
    let first = get_stream(r.port, &a).await;
    let _second = get_stream(r.port, &b).await;
    assert_eq!(r.service.in_flight(), 2);
    let (status, head) = status_of(r.port, &post_bytes(&initialize(), &[])).await;
    assert_eq!(status, 503, "{head}");
    // The client leaves one stream: its slot comes back.
    drop(first);
    wait_in_flight(&r.service, |n| n <= 1, Duration::from_secs(5)).await;
    let (status, head) = status_of(r.port, &post_bytes(&initialize(), &[])).await;
    assert_eq!(status, 200, "{head}");
}

#[tokio::test]
async fn a_modern_listen_counts_against_the_in_flight_cap() {
    let r = start(HttpConfig::default().max_in_flight(1)).await;
    let mut listen = TcpStream::connect(("127.0.0.1", r.port)).await.unwrap();
    let body = modern(
        1,
        "subscriptions/listen",
        json!({"notifications": {"toolsListChanged": true}}),
    );
    listen
        .write_all(&post_bytes(&body, &modern_headers("subscriptions/listen")))
        .await
        .unwrap();
    let out = read_until(&mut listen, "acknowledged", Duration::from_secs(5)).await;
    assert!(out.contains("acknowledged"), "{out}");
    let call = modern(2, "tools/list", json!({}));
    let (status, head) = status_of(r.port, &post_bytes(&call, &modern_headers("tools/list"))).await;
    assert_eq!(status, 503, "{head}");
}

#[tokio::test]
async fn the_connection_cap_holds_new_connections_until_one_closes() {
    let r = start(HttpConfig::default().max_connections(2)).await;
    let sid = session(r.port).await; // its connection closes when `session` returns
    let one = get_stream(r.port, &sid).await;
    let mut two = TcpStream::connect(("127.0.0.1", r.port)).await.unwrap();
    two.write_all(&post_bytes(&initialize(), &[]))
        .await
        .unwrap();
    assert!(read_until(&mut two, "\r\n\r\n", Duration::from_secs(5))
        .await
        .starts_with("HTTP/1.1 200"));
    // Both slots are taken: a third connection is not served...
    let mut third = TcpStream::connect(("127.0.0.1", r.port)).await.unwrap();
    third
        .write_all(&post_bytes(&initialize(), &[]))
        .await
        .unwrap();
    let early = read_until(&mut third, "\r\n\r\n", Duration::from_millis(500)).await;
    assert!(early.is_empty(), "served past the cap: {early}");
    // ...until one closes.
    drop(one);
    let late = read_until(&mut third, "\r\n\r\n", Duration::from_secs(5)).await;
    assert!(late.starts_with("HTTP/1.1 200"), "{late}");
}

#[tokio::test]
async fn the_old_http_sse_transport_is_off_by_default_and_bound_to_its_caller_when_on() {
    let r = start(HttpConfig::default()).await;
    let (status, _) = status_of(
        r.port,
        b"GET /sse HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n",
    )
    .await;
    assert_eq!(status, 405, "GET /sse served by default");

    let r = start(
        HttpConfig::default()
            .old_sse(OldSsePaths::default())
            .max_in_flight(1),
    )
    .await;
    let mut s = TcpStream::connect(("127.0.0.1", r.port)).await.unwrap();
    s.write_all(b"GET /sse HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n")
        .await
        .unwrap();
    let out = read_until(&mut s, "sessionId=", Duration::from_secs(5)).await;
    assert!(out.contains("event: endpoint"), "{out}");
    // The open stream holds the only in-flight slot.
    assert_eq!(r.service.in_flight(), 1);
    let (status, _) = status_of(r.port, &post_bytes(&initialize(), &[])).await;
    assert_eq!(status, 503);
}

#[tokio::test]
async fn shutdown_lets_requests_finish_and_ends_listens_at_once() {
    let finished = Arc::new(AtomicUsize::new(0));
    let mut r = start_with(server(finished.clone()), HttpConfig::default()).await;
    // A listen stream and a slow call in flight.
    let mut listen = TcpStream::connect(("127.0.0.1", r.port)).await.unwrap();
    let body = modern(
        1,
        "subscriptions/listen",
        json!({"notifications": {"toolsListChanged": true}}),
    );
    listen
        .write_all(&post_bytes(&body, &modern_headers("subscriptions/listen")))
        .await
        .unwrap();
    assert!(
        read_until(&mut listen, "acknowledged", Duration::from_secs(5))
            .await
            .contains("acknowledged")
    );
    let mut call = TcpStream::connect(("127.0.0.1", r.port)).await.unwrap();
    let mut headers = modern_headers("tools/call");
    headers.push(("Mcp-Name", "slow"));
    call.write_all(&post_bytes(
        &modern(2, "tools/call", json!({"name": "slow", "arguments": {}})),
        &headers,
    ))
    .await
    .unwrap();
    let n = wait_in_flight(&r.service, |n| n >= 2, Duration::from_secs(5)).await;
    assert_eq!(n, 2, "the listen and the call in flight");
    let t = Instant::now();
    r.shut_down();
    // The listen ends at once, and without its final result, so the client re-listens rather than taking
    // the subscription for over.
    let (out, closed) = read_all(&mut listen, Duration::from_secs(5)).await;
    assert!(closed, "the listen stream stayed open: {out}");
    assert!(!out.contains("\"resultType\""), "{out}");
    assert!(
        t.elapsed() < Duration::from_millis(250),
        "{:?}",
        t.elapsed()
    );
    // The slow call still gets its answer.
    let (out, _) = read_all(&mut call, Duration::from_secs(5)).await;
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    assert!(out.contains("done"), "{out}");
    assert_eq!(finished.load(Ordering::SeqCst), 1);
    timeout(Duration::from_secs(5), r.task)
        .await
        .expect("run_until returned")
        .unwrap()
        .unwrap();
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    // Nothing listens any more.
    assert!(TcpStream::connect(("127.0.0.1", r.port)).await.is_err());
}

#[tokio::test]
async fn shutdown_drops_what_is_left_after_the_grace_period() {
    let mut r = start(HttpConfig::default().shutdown_grace(Duration::from_millis(300))).await;
    let mut call = TcpStream::connect(("127.0.0.1", r.port)).await.unwrap();
    let mut headers = modern_headers("tools/call");
    headers.push(("Mcp-Name", "forever"));
    call.write_all(&post_bytes(
        &modern(2, "tools/call", json!({"name": "forever", "arguments": {}})),
        &headers,
    ))
    .await
    .unwrap();
    let n = wait_in_flight(&r.service, |n| n >= 1, Duration::from_secs(5)).await;
    assert_eq!(n, 1, "the call in flight");
    let t = Instant::now();
    r.shut_down();
    timeout(Duration::from_secs(5), r.task)
        .await
        .expect("run_until returned")
        .unwrap()
        .unwrap();
    assert!(
        t.elapsed() >= Duration::from_millis(250),
        "{:?}",
        t.elapsed()
    );
    let (_, closed) = read_all(&mut call, Duration::from_secs(2)).await;
    assert!(closed);
}

#[tokio::test]
async fn an_old_http_sse_stream_takes_messages_only_from_the_caller_that_opened_it() {
    use http_body_util::{BodyExt, Full};
    use mcp_server::Principal;
    let svc = McpService::new(
        server(Arc::default()),
        HttpConfig::default().old_sse(OldSsePaths::default()),
    );
    let who = |subject: &str| Principal {
        subject: subject.into(),
        scopes: vec![],
        client_id: Some("app".into()),
    };
    let mut open = http::Request::get("http://localhost/sse")
        .header("host", "localhost")
        .header("accept", "text/event-stream")
        .body(Full::new(bytes::Bytes::new()))
        .unwrap();
    open.extensions_mut().insert(who("alice"));
    let mut body = svc.handle(open).await.into_body();
    let first = timeout(Duration::from_secs(5), body.frame())
        .await
        .unwrap()
        .unwrap()
        .unwrap()
        .into_data()
        .unwrap();
    let first = String::from_utf8_lossy(&first).into_owned();
    let endpoint = first
        .lines()
        .find_map(|l| l.strip_prefix("data: "))
        .expect("endpoint event")
        .to_owned();
    let post = |p: Principal| {
        let mut r = http::Request::post(format!("http://localhost{endpoint}"))
            .header("host", "localhost")
            .header("content-type", "application/json")
            .body(Full::new(bytes::Bytes::from(initialize().to_string())))
            .unwrap();
        r.extensions_mut().insert(p);
        r
    };
    assert_eq!(svc.handle(post(who("bob"))).await.status(), 404);
    assert_eq!(svc.handle(post(who("alice"))).await.status(), 202);
}

#[tokio::test]
async fn at_the_session_cap_an_abandoned_session_makes_room_but_a_busy_one_does_not() {
    let r = start(HttpConfig::default().max_sessions(2)).await;
    let abandoned = session(r.port).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    let busy = session(r.port).await;
    let _stream = get_stream(r.port, &busy).await;
    // Full; the abandoned session (no stream, nothing in flight) is closed to let a new client in.
    let newcomer = session(r.port).await;
    assert_eq!(r.service.session_count(), 2);
    let ping = |sid: &str| {
        post_bytes(
            &json!({"jsonrpc":"2.0","id":2,"method":"ping"}),
            &[("Mcp-Session-Id", sid), ("MCP-Protocol-Version", LEGACY)],
        )
    };
    assert_eq!(status_of(r.port, &ping(&abandoned)).await.0, 404);
    assert_eq!(status_of(r.port, &ping(&busy)).await.0, 200);
    // Now the newcomer is the only unused session: it goes next; with both busy, initialize gets 503.
    let _second_stream = get_stream(r.port, &newcomer).await;
    let (status, head) = status_of(r.port, &post_bytes(&initialize(), &[])).await;
    assert_eq!(status, 503, "{head}");
}

#[tokio::test]
async fn a_modern_stream_nobody_reads_is_ended_and_frees_its_slot() {
    let r = start(quick().stream_write_timeout(Duration::from_millis(300))).await;
    let mut s = TcpStream::connect(("127.0.0.1", r.port)).await.unwrap();
    let mut headers = modern_headers("tools/call");
    headers.push(("Mcp-Name", "flood"));
    let mut call = modern(1, "tools/call", json!({"name": "flood", "arguments": {}}));
    call["params"]["_meta"]["io.modelcontextprotocol/logLevel"] = json!("info");
    s.write_all(&post_bytes(&call, &headers)).await.unwrap();
    // Wait for the stream to start, then read nothing more.
    let started = wait_in_flight(&r.service, |n| n > 0, Duration::from_secs(5)).await;
    assert_eq!(started, 1);
    // The stream is given up (the request cancelled) and its slot freed, though the peer never reads.
    let left = wait_in_flight(&r.service, |n| n == 0, Duration::from_secs(10)).await;
    assert_eq!(left, 0, "the unread stream still holds its slot");
    // And the connection, stuck writing to a peer that reads nothing, is dropped.
    assert_closed_by_server(&mut s, Duration::from_secs(10)).await;
}

#[tokio::test]
async fn a_legacy_stream_nobody_reads_is_cut_off_and_its_connection_dropped() {
    let r = start(quick().stream_write_timeout(Duration::from_millis(300))).await;
    let sid = session(r.port).await;
    let mut s = TcpStream::connect(("127.0.0.1", r.port)).await.unwrap();
    let call = json!({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"flood","arguments":{}}});
    s.write_all(&post_bytes(
        &call,
        &[("Mcp-Session-Id", &sid), ("MCP-Protocol-Version", LEGACY)],
    ))
    .await
    .unwrap();
    // The handler is not held back by the reader (a legacy stream that cannot keep up is cut from its
    // connection and kept for resumption), so it finishes and frees its slot...
    tokio::time::sleep(Duration::from_millis(50)).await;
    // The whole flood is written (to the resumption buffer) first: slower in a debug build.
    let bound = Duration::from_secs(if cfg!(debug_assertions) { 60 } else { 20 });
    let left = wait_in_flight(&r.service, |n| n == 0, bound).await;
    assert_eq!(left, 0, "the unread stream still holds its slot");
    // ...and the connection, stuck writing to a peer that reads nothing, is dropped.
    assert_closed_by_server(&mut s, Duration::from_secs(10)).await;
}
