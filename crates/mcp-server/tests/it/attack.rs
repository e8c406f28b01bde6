//! Hostile traffic against the real server over loopback, scaled down from `mcp-bench attack`: while each
//! attack is in place, a well-behaved client (one legacy session and one 2026-07-28 connection, one call at
//! a time) must keep getting every answer, each within a generous bound.
//!
//! The server runs on a runtime of its own, as it would in its own process: an attack that pins its workers
//! must not also stop the test's timers, which is what turns a regression into a failure instead of a hang.
//! Bounds are generous on purpose (these tests share a loaded 2-core CI machine with others); the latency
//! figures live in `mcp-bench attack`.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use mcp_protocol::types::{
    CallToolResult, LoggingLevel, ReadResourceResult, ResourceContents, ResourceTemplate, Tool,
};
use mcp_server::http::{serve_listener, HttpConfig, McpService};
use mcp_server::{Error, RequestContext, Server};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const LEGACY: &str = "2025-11-25";
const MODERN: &str = "2026-07-28";

/// Longest a well-behaved call may take under any attack. Idle, a call takes well under a millisecond; this
/// only has to tell "still served" from "starved" on a busy CI machine.
const CALL_BOUND: Duration = Duration::from_secs(2);

// ---------------------------------------------------------------------------------------------------------
// The server

fn tool(name: &str) -> Tool {
    Tool {
        name: name.into(),
        description: Some(format!("{name} tool")),
        input_schema: json!({"type":"object"}),
        ..Default::default()
    }
}

/// The server under attack, on a runtime of its own (two workers, like the CI machine's cores).
struct Target {
    addr: SocketAddr,
    server: Server,
    service: McpService,
    legacy_floods_done: Arc<AtomicU64>,
    rt: Option<tokio::runtime::Runtime>,
}

impl Drop for Target {
    fn drop(&mut self) {
        // Not waited for: a worker stuck in a computation must not hang the test.
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

async fn start(config: HttpConfig) -> Target {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let done = Arc::new(AtomicU64::new(0));
    let d2 = done.clone();
    let server = Server::builder("attack", "1.0.0")
        .tool(tool("echo"), |_c: RequestContext, a: mcp_protocol::JsonObject| async move {
            let text = a.get("text").and_then(Value::as_str).unwrap_or("");
            Ok::<_, Error>(CallToolResult::text(format!("echo:{text}")))
        })
        .tool(tool("flood"), move |ctx: RequestContext, a: mcp_protocol::JsonObject| {
            let done = d2.clone();
            async move {
                let count = a.get("count").and_then(Value::as_u64).unwrap_or(0).min(10_000);
                let payload = "x".repeat(16 * 1024);
                for _ in 0..count {
                    ctx.log(LoggingLevel::Info, None, payload.as_str()).await;
                }
                if a.get("modern").is_none() {
                    done.fetch_add(1, Ordering::SeqCst);
                }
                Ok::<_, Error>(CallToolResult::text("flooded"))
            }
        })
        .resource_template(
            ResourceTemplate {
                uri_template: "test://template/{id}/data".into(),
                name: "Template Resource".into(),
                ..Default::default()
            },
            |_c: RequestContext, uri: String, _v: std::collections::HashMap<String, String>| async move {
                Ok::<_, Error>(ReadResourceResult {
                    contents: vec![ResourceContents::text(uri, "text/plain", "data")],
                    meta: None,
                })
            },
        )
        .build();
    let s2 = server.clone();
    let bound = rt
        .spawn(
            async move { serve_listener(s2, config, SocketAddr::from(([127, 0, 0, 1], 0))).await },
        )
        .await
        .unwrap()
        .unwrap();
    let addr = bound.local_addr().unwrap();
    let service = bound.service().clone();
    rt.spawn(bound.run());
    Target {
        addr,
        server,
        service,
        legacy_floods_done: done,
        rt: Some(rt),
    }
}

// ---------------------------------------------------------------------------------------------------------
// The well-behaved client

struct Conn {
    sender: SendRequest<Full<Bytes>>,
    addr: SocketAddr,
}

impl Conn {
    async fn connect(addr: SocketAddr) -> Result<Conn, String> {
        let s = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
        s.set_nodelay(true).map_err(|e| e.to_string())?;
        let (sender, conn) = http1::handshake(TokioIo::new(s))
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(Conn { sender, addr })
    }

    /// POST `body`; the status, the headers and the whole body, or an error after `limit`.
    async fn post(
        &mut self,
        headers: &[(&str, &str)],
        body: Value,
        limit: Duration,
    ) -> Result<(StatusCode, http::HeaderMap, Bytes), String> {
        let mut b = Request::post("/mcp")
            .header("host", self.addr.to_string())
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream");
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let req = b.body(Full::new(Bytes::from(body.to_string()))).unwrap();
        let send = async {
            self.sender.ready().await.map_err(|e| e.to_string())?;
            let r = self
                .sender
                .send_request(req)
                .await
                .map_err(|e| e.to_string())?;
            let (parts, body) = r.into_parts();
            let body = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
            Ok((parts.status, parts.headers, body))
        };
        tokio::time::timeout(limit, send)
            .await
            .map_err(|_| format!("no answer within {limit:?}"))?
    }
}

fn init_body() -> Value {
    json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":LEGACY,"capabilities":{},"clientInfo":{"name":"attack","version":"1"}}})
}

/// Open a legacy session on `c`; its id.
async fn open_session(c: &mut Conn) -> Result<String, String> {
    let (st, h, body) = c.post(&[], init_body(), CALL_BOUND).await?;
    if st != StatusCode::OK {
        return Err(format!(
            "initialize: {st} {}",
            String::from_utf8_lossy(&body)
        ));
    }
    let sid = h
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .ok_or("no session id")?
        .to_owned();
    let hh = [
        ("mcp-session-id", sid.as_str()),
        ("mcp-protocol-version", LEGACY),
    ];
    let (st, _, _) = c
        .post(
            &hh,
            json!({"jsonrpc":"2.0","method":"notifications/initialized"}),
            CALL_BOUND,
        )
        .await?;
    if st != StatusCode::ACCEPTED {
        return Err(format!("initialized: {st}"));
    }
    Ok(sid)
}

/// What the well-behaved client saw.
#[derive(Debug, Default)]
struct Seen {
    calls: u64,
    failures: Vec<String>,
    slowest: Duration,
}

/// The client calls `echo` (legacy, then modern, one at a time) until `attack` completes (and at least 20
/// times, unless it is failing). Returns what the attack returned and what the client saw.
async fn while_under<T>(
    addr: SocketAddr,
    attack: impl std::future::Future<Output = T>,
) -> (T, Seen) {
    let mut legacy = Conn::connect(addr).await.unwrap();
    let sid = open_session(&mut legacy).await.unwrap();
    let mut modern = Conn::connect(addr).await.unwrap();
    let done = AtomicBool::new(false);
    let client = async {
        let mut seen = Seen::default();
        let mut id = 1u64;
        let mut done_at: Option<Instant> = None;
        // At least 20 calls, so a trial cannot pass without the client having been served under it; but
        // not for long once the attack is over (a starved client would otherwise take 20 × CALL_BOUND).
        loop {
            if done.load(Ordering::SeqCst) {
                let at = *done_at.get_or_insert_with(Instant::now);
                if seen.calls >= 20 || !seen.failures.is_empty() || at.elapsed() > CALL_BOUND {
                    break;
                }
            }
            let legacy_turn = id.is_multiple_of(2);
            let (conn, headers, body) = if legacy_turn {
                (
                    &mut legacy,
                    vec![
                        ("mcp-session-id", sid.as_str()),
                        ("mcp-protocol-version", LEGACY),
                    ],
                    json!({"jsonrpc":"2.0","id":id,"method":"tools/call","params":{"name":"echo","arguments":{"text":"ok"}}}),
                )
            } else {
                (
                    &mut modern,
                    vec![
                        ("mcp-protocol-version", MODERN),
                        ("mcp-method", "tools/call"),
                        ("mcp-name", "echo"),
                    ],
                    json!({"jsonrpc":"2.0","id":id,"method":"tools/call","params":{"name":"echo","arguments":{"text":"ok"},"_meta":{"io.modelcontextprotocol/protocolVersion":MODERN,"io.modelcontextprotocol/clientCapabilities":{}}}}),
                )
            };
            id += 1;
            let t0 = Instant::now();
            let r = conn.post(&headers, body, CALL_BOUND).await;
            let took = t0.elapsed();
            seen.calls += 1;
            seen.slowest = seen.slowest.max(took);
            let era = if legacy_turn { "legacy" } else { "modern" };
            match r {
                Ok((StatusCode::OK, _, b)) if String::from_utf8_lossy(&b).contains("echo:ok") => {}
                Ok((st, _, b)) => {
                    seen.failures
                        .push(format!("{era}: HTTP {st}: {}", String::from_utf8_lossy(&b)));
                }
                Err(e) => {
                    seen.failures.push(format!("{era}: {e}"));
                    // A timed-out connection is unusable; keep calling on a fresh one.
                    if let Ok(c) = Conn::connect(addr).await {
                        *conn = c;
                    }
                }
            }
            if seen.failures.len() >= 5 {
                break;
            }
        }
        seen
    };
    let attack = async {
        let r = attack.await;
        done.store(true, Ordering::SeqCst);
        r
    };
    tokio::join!(attack, client)
}

/// The JSON-RPC answer in a JSON or SSE body (its last message).
fn answer(body: &[u8]) -> Value {
    let text = String::from_utf8_lossy(body);
    if let Ok(v) = serde_json::from_str(&text) {
        return v;
    }
    text.lines()
        .rev()
        .filter_map(|l| l.strip_prefix("data: "))
        .find_map(|d| serde_json::from_str(d).ok())
        .unwrap_or_else(|| panic!("no JSON-RPC message in {:?}", &text[..text.len().min(200)]))
}

fn assert_served(what: &str, seen: &Seen) {
    assert!(
        seen.failures.is_empty(),
        "{what}: the well-behaved client failed {} of {} calls; first: {}",
        seen.failures.len(),
        seen.calls,
        seen.failures[0]
    );
    assert!(
        seen.slowest <= CALL_BOUND,
        "{what}: slowest call {:?}",
        seen.slowest
    );
}

// ---------------------------------------------------------------------------------------------------------
// Attackers

/// `n` connections that each send `payload` and then nothing (connected 64 at a time).
async fn stalled(addr: SocketAddr, n: usize, payload: &'static str) -> Vec<TcpStream> {
    let payload = payload.replace("{addr}", &addr.to_string());
    let mut socks = Vec::with_capacity(n);
    for chunk in 0..n.div_ceil(64) {
        let k = 64.min(n - chunk * 64);
        let batch = (0..k).map(|_| {
            let payload = payload.clone();
            async move {
                let mut s = TcpStream::connect(addr).await.unwrap();
                s.write_all(payload.as_bytes()).await.unwrap();
                s
            }
        });
        socks.extend(futures::future::join_all(batch).await);
    }
    socks
}

const HALF_HEADER: &str =
    "POST /mcp HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n";
const SHORT_BODY: &str = "POST /mcp HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
     Accept: application/json, text/event-stream\r\nContent-Length: 1000\r\n\r\n{\"jsonrpc\"";

/// Whether the server closes `s` (EOF or reset, after whatever it sends first) before `deadline`.
async fn closed_by(s: &mut TcpStream, deadline: Instant) -> bool {
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout_at(deadline.into(), s.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => {}
        }
    }
}

/// How many of `socks` the server closes before `deadline`.
async fn count_closed(socks: Vec<TcpStream>, deadline: Instant) -> usize {
    let waits = socks
        .into_iter()
        .map(|mut s| async move { closed_by(&mut s, deadline).await });
    futures::future::join_all(waits)
        .await
        .into_iter()
        .filter(|c| *c)
        .count()
}

fn raw(addr: SocketAddr, method: &str, headers: &[(&str, &str)], body: &str) -> String {
    let mut s = format!("{method} /mcp HTTP/1.1\r\nHost: {addr}\r\n");
    for (k, v) in headers {
        s += &format!("{k}: {v}\r\n");
    }
    if method == "POST" {
        s += &format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        );
    }
    s + "\r\n" + body
}

async fn send_raw(addr: SocketAddr, req: &str) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(req.as_bytes()).await.unwrap();
    s
}

// ---------------------------------------------------------------------------------------------------------
// Trials

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_headers_leave_the_server_answering() {
    let t = start(HttpConfig::default()).await;
    let (socks, seen) = while_under(t.addr, async {
        let socks = stalled(t.addr, 200, HALF_HEADER).await;
        tokio::time::sleep(Duration::from_millis(1500)).await;
        socks
    })
    .await;
    assert_eq!(socks.len(), 200);
    assert_served("200 stalled headers", &seen);
}

/// `header_read_timeout` (default 10 s; 1 s here to keep the test short).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_headers_are_closed_by_the_server() {
    let t = start(HttpConfig::default().header_read_timeout(Duration::from_secs(1))).await;
    let socks = stalled(t.addr, 100, HALF_HEADER).await;
    let closed = count_closed(socks, Instant::now() + Duration::from_secs(1 + 3)).await;
    assert_eq!(
        closed, 100,
        "stalled header blocks closed by the server within 4 s"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_bodies_leave_the_server_answering() {
    let t = start(HttpConfig::default()).await;
    let (socks, seen) = while_under(t.addr, async {
        let socks = stalled(t.addr, 200, SHORT_BODY).await;
        tokio::time::sleep(Duration::from_millis(1500)).await;
        socks
    })
    .await;
    assert_eq!(socks.len(), 200);
    assert_served("200 stalled bodies", &seen);
}

/// More stalled bodies than `max_in_flight`: a body is read before its request takes an in-flight slot, so
/// they starve nobody while they stall, and `body_stall_timeout` (default 10 s; 1 s here) cuts them off.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_bodies_past_the_in_flight_cap_starve_nobody_and_are_cut_off() {
    let t = start(
        HttpConfig::default()
            .max_in_flight(32)
            .body_stall_timeout(Duration::from_secs(1)),
    )
    .await;
    let socks = stalled(t.addr, 64, SHORT_BODY).await;
    let ((), seen) = while_under(t.addr, async {
        tokio::time::sleep(Duration::from_millis(500)).await;
    })
    .await;
    assert_served("64 stalled bodies against max_in_flight 32", &seen);
    let closed = count_closed(socks, Instant::now() + Duration::from_secs(1 + 3)).await;
    assert_eq!(closed, 64, "stalled bodies closed by the server within 4 s");
}

/// The URI length cap (default 8 KiB, -32602).
/// 20 concurrent reads of a 1 MB URI that the template almost matches (`/dat`, not `/data`): refused
/// quickly with -32602, while the well-behaved client is served. Without a cap each read costs seconds of
/// CPU on a server worker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_uris_are_refused_quickly() {
    let t = start(HttpConfig::default()).await;
    let uri = format!("test://template/{}/dat", "a".repeat(1_000_000));
    let body = json!({"jsonrpc":"2.0","id":7,"method":"resources/read","params":{"uri":uri}});
    let mut attackers = Vec::new();
    for _ in 0..20 {
        let mut c = Conn::connect(t.addr).await.unwrap();
        let sid = open_session(&mut c).await.unwrap();
        attackers.push((c, sid));
    }
    let (answers, seen) = while_under(t.addr, async {
        let reads = attackers.iter_mut().map(|(c, sid)| {
            let body = body.clone();
            async move {
                let hh = [
                    ("mcp-session-id", sid.as_str()),
                    ("mcp-protocol-version", LEGACY),
                ];
                c.post(&hh, body, Duration::from_secs(3)).await
            }
        });
        futures::future::join_all(reads).await
    })
    .await;
    for a in answers {
        let (_, _, body) = a.expect("a huge URI is answered within 3 s");
        let v = answer(&body);
        assert_eq!(
            v["error"]["code"],
            -32602,
            "{}",
            &v.to_string()[..200.min(v.to_string().len())]
        );
    }
    assert_served("20 huge URIs", &seen);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_abandoned_sessions_leave_the_server_answering() {
    let t = start(HttpConfig::default()).await;
    let (opened, seen) = while_under(t.addr, async {
        let openers = (0..8).map(|_| async {
            let mut c = Conn::connect(t.addr).await.unwrap();
            let mut n = 0;
            for _ in 0..125 {
                open_session(&mut c).await.unwrap();
                n += 1;
            }
            n
        });
        futures::future::join_all(openers)
            .await
            .into_iter()
            .sum::<usize>()
    })
    .await;
    assert_eq!(opened, 1000);
    // The 1,000 abandoned ones and the well-behaved client's.
    assert_eq!(t.service.session_count(), 1001);
    assert_served("1,000 abandoned sessions", &seen);
}

/// Two clients that each open a legacy GET stream, a legacy POST and a 2026-07-28 POST to a tool that floods
/// its stream (500 × 16 KiB, more than loopback socket buffers hold), and never read any of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_that_never_read_block_nobody() {
    let t = start(HttpConfig::default()).await;
    let mut socks = Vec::new();
    for i in 0..2 {
        let mut c = Conn::connect(t.addr).await.unwrap();
        let sid = open_session(&mut c).await.unwrap();
        let hh = [
            ("Mcp-Session-Id", sid.as_str()),
            ("MCP-Protocol-Version", LEGACY),
            ("Accept", "application/json, text/event-stream"),
        ];
        socks.push(send_raw(t.addr, &raw(t.addr, "GET", &hh, "")).await);
        let flood = json!({"jsonrpc":"2.0","id":i,"method":"tools/call","params":{"name":"flood","arguments":{"count":500}}});
        socks.push(send_raw(t.addr, &raw(t.addr, "POST", &hh, &flood.to_string())).await);
        let mh = [
            ("MCP-Protocol-Version", MODERN),
            ("Mcp-Method", "tools/call"),
            ("Mcp-Name", "flood"),
            ("Accept", "application/json, text/event-stream"),
        ];
        let flood = json!({"jsonrpc":"2.0","id":i,"method":"tools/call","params":{"name":"flood","arguments":{"count":500,"modern":true},"_meta":{"io.modelcontextprotocol/protocolVersion":MODERN,"io.modelcontextprotocol/clientCapabilities":{},"io.modelcontextprotocol/logLevel":"info"}}});
        socks.push(send_raw(t.addr, &raw(t.addr, "POST", &mh, &flood.to_string())).await);
    }
    let server = t.server.clone();
    let ((), seen) = while_under(t.addr, async {
        // Server pushes for the GET streams, meanwhile.
        for _ in 0..50 {
            server.add_tool(
                tool("pushed"),
                |_c: RequestContext, _a: mcp_protocol::JsonObject| async {
                    Ok::<_, Error>(CallToolResult::text("pushed"))
                },
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert_served("never-readers", &seen);
    // The legacy floods ran to the end although nobody read them (a stream that cannot keep up is cut
    // from its connection and kept, bounded, for resumption).
    let deadline = Instant::now() + Duration::from_secs(5);
    while t.legacy_floods_done.load(Ordering::SeqCst) < 2 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(t.legacy_floods_done.load(Ordering::SeqCst), 2);
    drop(socks);
}

/// 100 `subscriptions/listen` streams held open: all acknowledged, all told of a list change, and the
/// well-behaved client served meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_listens_leave_the_server_answering() {
    let t = start(HttpConfig::default()).await;
    let body = json!({"jsonrpc":"2.0","id":1,"method":"subscriptions/listen","params":{"notifications":{"toolsListChanged":true},"_meta":{"io.modelcontextprotocol/protocolVersion":MODERN,"io.modelcontextprotocol/clientCapabilities":{}}}});
    let req = raw(
        t.addr,
        "POST",
        &[
            ("MCP-Protocol-Version", MODERN),
            ("Mcp-Method", "subscriptions/listen"),
            ("Accept", "application/json, text/event-stream"),
        ],
        &body.to_string(),
    );
    /// Read `s` until `needle` has appeared, within 5 s.
    async fn read_until(s: &mut TcpStream, seen: &mut Vec<u8>, needle: &str) -> bool {
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut buf = [0u8; 4096];
        while !String::from_utf8_lossy(seen).contains(needle) {
            match tokio::time::timeout_at(deadline.into(), s.read(&mut buf)).await {
                Ok(Ok(n)) if n > 0 => seen.extend_from_slice(&buf[..n]),
                _ => return false,
            }
        }
        true
    }
    let server = t.server.clone();
    let (streams, seen) = while_under(t.addr, async {
        let opens = (0..100).map(|_| async {
            let mut s = send_raw(t.addr, &req).await;
            let mut got = Vec::new();
            let acked =
                read_until(&mut s, &mut got, "notifications/subscriptions/acknowledged").await;
            (s, got, acked)
        });
        let mut streams = futures::future::join_all(opens).await;
        assert!(
            streams.iter().all(|(_, _, acked)| *acked),
            "every listen acknowledged"
        );
        server.add_tool(
            tool("pushed"),
            |_c: RequestContext, _a: mcp_protocol::JsonObject| async {
                Ok::<_, Error>(CallToolResult::text("pushed"))
            },
        );
        let reads = streams
            .iter_mut()
            .map(|(s, got, _)| read_until(s, got, "notifications/tools/list_changed"));
        let told = futures::future::join_all(reads).await;
        (streams.len(), told.into_iter().filter(|t| *t).count())
    })
    .await;
    assert_eq!(streams, (100, 100), "every listen told of the change");
    assert_served("100 listens", &seen);
}
