//! Streamable HTTP server behaviour: both eras, sessions, headers, bad input, streams.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use mcp_protocol::types::{CallToolResult, ElicitRequestParams, Tool};
use mcp_server::http::{HttpConfig, McpBody, McpService, ResponseMode};
use mcp_server::{Error, Principal, RequestContext, Server};
use serde_json::{json, Value};

const LEGACY: &str = "2025-11-25";
const MODERN: &str = "2026-07-28";

struct Fixture {
    svc: McpService,
    runs: Arc<AtomicUsize>,
    cancelled: Arc<AtomicBool>,
}

fn tool(name: &str, schema: Value) -> Tool {
    Tool {
        name: name.into(),
        description: Some(format!("{name} tool")),
        input_schema: schema,
        ..Default::default()
    }
}

fn fixture(config: HttpConfig) -> Fixture {
    let runs = Arc::new(AtomicUsize::new(0));
    let cancelled = Arc::new(AtomicBool::new(false));
    let (r2, c2) = (runs.clone(), cancelled.clone());
    let server = Server::builder("test", "1.0.0")
        // The hang tool ignores cancellation: with no grace period it is dropped at once when cancelled
        // (tests/cancellation.rs covers the grace period).
        .cancel_grace(Duration::ZERO)
        .tool(tool("echo", json!({"type":"object","properties":{"text":{"type":"string","x-mcp-header":"Text"}}})), move |_c: RequestContext, a: mcp_protocol::JsonObject| {
            r2.fetch_add(1, Ordering::SeqCst);
            async move { Ok::<_, Error>(CallToolResult::text(a.get("text").and_then(Value::as_str).unwrap_or("").to_owned())) }
        })
        .tool(tool("ask", json!({"type":"object"})), |ctx: RequestContext, _a| async move {
            let r = ctx
                .elicit("name", ElicitRequestParams::form("Name?", json!({"type":"object","properties":{"name":{"type":"string"}}})))
                .await?;
            let name = r.content.and_then(|c| c.get("name").cloned()).unwrap_or(Value::Null);
            Ok::<_, Error>(CallToolResult::text(format!("Hello, {}!", name.as_str().unwrap_or("?"))))
        })
        .tool(tool("poll", json!({"type":"object"})), |ctx: RequestContext, _a| async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            ctx.close_sse_stream();
            tokio::time::sleep(Duration::from_millis(100)).await;
            Ok::<_, Error>(CallToolResult::text("polled result"))
        })
        .tool(tool("hang", json!({"type":"object"})), move |ctx: RequestContext, _a| {
            let c = c2.clone();
            async move {
                // Cancellation drops the handler's future; the guard records that it happened.
                struct SetOnDrop(Arc<AtomicBool>);
                impl Drop for SetOnDrop {
                    fn drop(&mut self) {
                        self.0.store(true, Ordering::SeqCst);
                    }
                }
                let _guard = SetOnDrop(c);
                ctx.progress(1.0, None, None).await;
                std::future::pending::<()>().await;
                Ok::<_, Error>(CallToolResult::text("never sent"))
            }
        })
        .build();
    Fixture {
        svc: McpService::new(server, config),
        runs,
        cancelled,
    }
}

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

async fn send(f: &Fixture, req: Request<Full<Bytes>>) -> (StatusCode, http::HeaderMap, String) {
    let r = f.svc.handle(req).await;
    let (parts, body) = r.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    (
        parts.status,
        parts.headers,
        String::from_utf8_lossy(&bytes).into_owned(),
    )
}

/// The JSON-RPC messages in a JSON or SSE body.
fn messages(body: &str) -> Vec<Value> {
    if let Ok(v) = serde_json::from_str::<Value>(body) {
        return vec![v];
    }
    body.split("\n\n")
        .filter_map(|ev| {
            let data: String = ev
                .lines()
                .filter_map(|l| l.strip_prefix("data: "))
                .collect();
            serde_json::from_str(&data).ok()
        })
        .collect()
}

fn init_body(version: &str) -> Value {
    json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":version,"capabilities":{"elicitation":{}},"clientInfo":{"name":"t","version":"1"}}})
}

async fn open_session(f: &Fixture, version: &str) -> String {
    let (st, h, body) = send(f, post(init_body(version), &[])).await;
    assert_eq!(st, StatusCode::OK, "{body}");
    let sid = h
        .get("mcp-session-id")
        .expect("session id")
        .to_str()
        .unwrap()
        .to_owned();
    let (st, _, _) = send(
        f,
        post(
            json!({"jsonrpc":"2.0","method":"notifications/initialized"}),
            &[("mcp-session-id", &sid), ("mcp-protocol-version", version)],
        ),
    )
    .await;
    assert_eq!(st, StatusCode::ACCEPTED);
    sid
}

fn modern_call(id: i64, method: &str, params: Value) -> Value {
    let mut p = params;
    p["_meta"] = json!({"io.modelcontextprotocol/protocolVersion": MODERN, "io.modelcontextprotocol/clientCapabilities": {"elicitation":{}}});
    json!({"jsonrpc":"2.0","id":id,"method":method,"params":p})
}

#[tokio::test]
async fn legacy_session_lifecycle() {
    let f = fixture(HttpConfig::default());
    let sid = open_session(&f, LEGACY).await;
    assert!(
        sid.len() >= 22 && sid.bytes().all(|b| (0x21..=0x7e).contains(&b)),
        "{sid}"
    );
    let list = json!({"jsonrpc":"2.0","id":2,"method":"tools/list"});
    let (st, _, body) = send(
        &f,
        post(
            list.clone(),
            &[("mcp-session-id", &sid), ("mcp-protocol-version", LEGACY)],
        ),
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(
        messages(&body)[0]["result"]["tools"]
            .as_array()
            .unwrap()
            .len(),
        4
    );
    let del = Request::delete("http://localhost/mcp")
        .header("host", "localhost")
        .header("mcp-session-id", &sid)
        .body(Full::new(Bytes::new()))
        .unwrap();
    let (st, _, _) = send(&f, del).await;
    assert_eq!(st, StatusCode::OK);
    let (st, _, body) = send(&f, post(list, &[("mcp-session-id", &sid)])).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    assert_eq!(messages(&body)[0]["error"]["code"], -32001);
}

#[tokio::test]
async fn session_errors_and_unknown_response_ids() {
    let f = fixture(HttpConfig::default());
    let list = json!({"jsonrpc":"2.0","id":2,"method":"tools/list"});
    let (st, _, _) = send(&f, post(list.clone(), &[("mcp-protocol-version", LEGACY)])).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "missing session id");
    let (st, _, _) = send(&f, post(list, &[("mcp-session-id", "never-issued")])).await;
    assert_eq!(st, StatusCode::NOT_FOUND, "unknown session id");
    let sid = open_session(&f, LEGACY).await;
    let stray = json!({"jsonrpc":"2.0","id":"s999","result":{}});
    let (st, _, _) = send(&f, post(stray, &[("mcp-session-id", &sid)])).await;
    assert_eq!(
        st,
        StatusCode::ACCEPTED,
        "a response nobody waits for is ignored"
    );
    let (st, _, _) = send(
        &f,
        post(
            json!({"jsonrpc":"2.0","id":3,"method":"ping"}),
            &[
                ("mcp-session-id", &sid),
                ("mcp-protocol-version", "1999-01-01"),
            ],
        ),
    )
    .await;
    assert_eq!(
        st,
        StatusCode::BAD_REQUEST,
        "unknown protocol version header"
    );
    let (st, _, body) = send(
        &f,
        post(
            json!({"jsonrpc":"2.0","id":3,"method":"ping"}),
            &[("mcp-session-id", &sid)],
        ),
    )
    .await;
    assert_eq!(
        (st, messages(&body)[0]["result"].clone()),
        (StatusCode::OK, json!({}))
    );
}

#[tokio::test]
async fn rejects_bad_requests_with_the_right_status() {
    let f = fixture(HttpConfig::default().max_body_bytes(1024));
    let mut req = post(init_body(LEGACY), &[]);
    req.headers_mut()
        .insert("accept", "application/json".parse().unwrap());
    assert_eq!(send(&f, req).await.0, StatusCode::NOT_ACCEPTABLE);
    let mut req = post(init_body(LEGACY), &[]);
    req.headers_mut()
        .insert("content-type", "text/plain".parse().unwrap());
    assert_eq!(send(&f, req).await.0, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let big = json!({"jsonrpc":"2.0","id":1,"method":"ping","params":{"pad":"x".repeat(4096)}});
    assert_eq!(
        send(&f, post(big, &[])).await.0,
        StatusCode::PAYLOAD_TOO_LARGE
    );
    let mut req = post(json!(null), &[]);
    *req.body_mut() = Full::new(Bytes::from_static(b"{not json"));
    let (st, _, body) = send(&f, req).await;
    assert_eq!(
        (st, messages(&body)[0]["error"]["code"].clone()),
        (StatusCode::BAD_REQUEST, json!(-32700))
    );
    let (st, _, body) = send(&f, post(json!(42), &[])).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert_eq!(messages(&body)[0]["error"]["code"], -32600);
    let mut req = post(init_body(LEGACY), &[]);
    req.headers_mut()
        .insert("host", "evil.example.com".parse().unwrap());
    req.headers_mut()
        .insert("origin", "http://evil.example.com".parse().unwrap());
    assert_eq!(send(&f, req).await.0, StatusCode::FORBIDDEN);
    // Everyone else is still served.
    assert_eq!(
        send(&f, post(init_body(LEGACY), &[])).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn modern_requests_and_header_validation() {
    let f = fixture(HttpConfig::default());
    let h = |method: &'static str| vec![("mcp-protocol-version", MODERN), ("mcp-method", method)];
    let (st, _, body) = send(
        &f,
        post(
            modern_call(1, "server/discover", json!({})),
            &h("server/discover"),
        ),
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    let r = &messages(&body)[0]["result"];
    assert_eq!(r["resultType"], "complete");
    assert!(r["ttlMs"].is_u64() && r["cacheScope"].is_string());
    assert_eq!(
        r["_meta"]["io.modelcontextprotocol/serverInfo"]["name"],
        "test"
    );

    // Missing Mcp-Method, mismatched Mcp-Name, missing Mcp-Param: 400 + -32020.
    let call = modern_call(
        2,
        "tools/call",
        json!({"name":"echo","arguments":{"text":"hi"}}),
    );
    let (st, _, body) = send(&f, post(call.clone(), &[("mcp-protocol-version", MODERN)])).await;
    assert_eq!(
        (st, messages(&body)[0]["error"]["code"].clone()),
        (StatusCode::BAD_REQUEST, json!(-32020))
    );
    let mut hh = h("tools/call");
    hh.push(("mcp-name", "other"));
    hh.push(("mcp-param-text", "hi"));
    assert_eq!(
        send(&f, post(call.clone(), &hh)).await.0,
        StatusCode::BAD_REQUEST
    );
    let mut hh = h("tools/call");
    hh.push(("mcp-name", "echo"));
    let (st, _, body) = send(&f, post(call.clone(), &hh)).await;
    assert_eq!(
        (st, messages(&body)[0]["error"]["code"].clone()),
        (StatusCode::BAD_REQUEST, json!(-32020)),
        "argument with no Mcp-Param header"
    );
    hh.push(("mcp-param-text", "=?base64?aGk=?="));
    let (st, _, body) = send(&f, post(call, &hh)).await;
    assert_eq!(st, StatusCode::OK, "{body}");
    assert_eq!(messages(&body)[0]["result"]["content"][0]["text"], "hi");

    // -32602 for missing _meta, -32022 for an unknown version, 404 for unknown methods and legacy-only ones.
    let bare = json!({"jsonrpc":"2.0","id":3,"method":"server/discover"});
    let (st, _, body) = send(&f, post(bare, &h("server/discover"))).await;
    assert_eq!(
        (st, messages(&body)[0]["error"]["code"].clone()),
        (StatusCode::BAD_REQUEST, json!(-32602))
    );
    let mut v999 = modern_call(4, "server/discover", json!({}));
    v999["params"]["_meta"]["io.modelcontextprotocol/protocolVersion"] = json!("v999.0.0");
    let (st, _, body) = send(
        &f,
        post(
            v999.clone(),
            &[
                ("mcp-protocol-version", "v999.0.0"),
                ("mcp-method", "server/discover"),
            ],
        ),
    )
    .await;
    let e = &messages(&body)[0]["error"];
    assert_eq!(
        (st, e["code"].clone(), e["data"]["requested"].clone()),
        (StatusCode::BAD_REQUEST, json!(-32022), json!("v999.0.0"))
    );
    let (st, _, body) = send(&f, post(v999, &h("server/discover"))).await;
    assert_eq!(
        (st, messages(&body)[0]["error"]["code"].clone()),
        (StatusCode::BAD_REQUEST, json!(-32020)),
        "header/body version mismatch"
    );
    for m in [
        "unknown/method",
        "initialize",
        "ping",
        "logging/setLevel",
        "resources/subscribe",
    ] {
        let (st, _, body) = send(
            &f,
            post(
                modern_call(5, m, json!({})),
                &[("mcp-protocol-version", MODERN), ("mcp-method", m)],
            ),
        )
        .await;
        assert_eq!(
            (st, messages(&body)[0]["error"]["code"].clone()),
            (StatusCode::NOT_FOUND, json!(-32601)),
            "{m}"
        );
    }
    let get = Request::get("http://localhost/mcp")
        .header("host", "localhost")
        .header("accept", "text/event-stream")
        .header("mcp-protocol-version", MODERN)
        .body(Full::new(Bytes::new()))
        .unwrap();
    assert_eq!(send(&f, get).await.0, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn modern_mrtr_round_trip_over_http() {
    let f = fixture(HttpConfig::default());
    let hh = [
        ("mcp-protocol-version", MODERN),
        ("mcp-method", "tools/call"),
        ("mcp-name", "ask"),
    ];
    let (st, _, body) = send(
        &f,
        post(modern_call(1, "tools/call", json!({"name":"ask"})), &hh),
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    let r = &messages(&body)[0]["result"];
    assert_eq!(r["resultType"], "input_required");
    assert_eq!(r["inputRequests"]["name"]["method"], "elicitation/create");
    let state = r["requestState"].as_str().unwrap().to_owned();
    let retry = modern_call(
        2,
        "tools/call",
        json!({"name":"ask","requestState":state,"inputResponses":{"name":{"action":"accept","content":{"name":"Ada"}}}}),
    );
    let (_, _, body) = send(&f, post(retry, &hh)).await;
    assert_eq!(
        messages(&body)[0]["result"]["content"][0]["text"],
        "Hello, Ada!"
    );
    let tampered = modern_call(
        3,
        "tools/call",
        json!({"name":"ask","requestState":format!("{state}-TAMPERED"),"inputResponses":{}}),
    );
    let (_, _, body) = send(&f, post(tampered, &hh)).await;
    assert!(messages(&body)[0]["error"]["code"].is_i64());
}

/// Read SSE messages from a streaming body until `until` matches one.
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

#[tokio::test]
async fn legacy_elicitation_round_trip_on_the_post_stream() {
    let f = fixture(HttpConfig::default());
    let sid = open_session(&f, LEGACY).await;
    let hh = [
        ("mcp-session-id", sid.as_str()),
        ("mcp-protocol-version", LEGACY),
    ];
    let resp = f
        .svc
        .handle(post(
            json!({"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"ask"}}),
            &hh,
        ))
        .await;
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let mut body = resp.into_body();
    let got = read_until(&mut body, |v| v["method"] == "elicitation/create").await;
    let req = got.last().unwrap();
    let answer = json!({"jsonrpc":"2.0","id":req["id"],"result":{"action":"accept","content":{"name":"Grace"}}});
    assert_eq!(send(&f, post(answer, &hh)).await.0, StatusCode::ACCEPTED);
    let got = read_until(&mut body, |v| v["id"] == 7).await;
    assert_eq!(
        got.last().unwrap()["result"]["content"][0]["text"],
        "Hello, Grace!"
    );
}

/// With JSON responses there is no stream to carry a server→client request: the handler's question fails at
/// once with an error that says why, instead of waiting for an answer that cannot come.
#[tokio::test]
async fn a_legacy_question_without_a_stream_fails_at_once_saying_why() {
    let f = fixture(HttpConfig::default().response_mode(ResponseMode::Json));
    let sid = open_session(&f, "2025-03-26").await;
    let call = json!({"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"ask"}});
    let (st, _, body) = tokio::time::timeout(
        Duration::from_secs(5),
        send(&f, post(call, &[("mcp-session-id", &sid)])),
    )
    .await
    .expect("the question waited instead of failing");
    assert_eq!(st, StatusCode::OK);
    let reply: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(reply["id"], 3);
    let error = reply["error"]["message"].as_str().unwrap_or_default();
    assert!(error.contains("cannot reach the client"), "{body}");
}

#[tokio::test]
async fn polling_stream_resumes_with_last_event_id() {
    let f = fixture(HttpConfig::default());
    let sid = open_session(&f, LEGACY).await;
    let hh = [
        ("mcp-session-id", sid.as_str()),
        ("mcp-protocol-version", LEGACY),
    ];
    let resp = f
        .svc
        .handle(post(
            json!({"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"poll"}}),
            &hh,
        ))
        .await;
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let text = String::from_utf8_lossy(&bytes);
    // The server closed the stream after the priming event, before the result.
    assert!(text.contains("retry: 1000"), "{text}");
    assert!(!text.contains("polled result"));
    let last_id = text
        .lines()
        .find_map(|l| l.strip_prefix("id: "))
        .unwrap()
        .to_owned();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let get = Request::get("http://localhost/mcp")
        .header("host", "localhost")
        .header("accept", "text/event-stream")
        .header("mcp-session-id", &sid)
        .header("last-event-id", &last_id)
        .body(Full::new(Bytes::new()))
        .unwrap();
    let (st, _, body) = send(&f, get).await;
    assert_eq!(st, StatusCode::OK);
    let msgs = messages(&body);
    assert_eq!(msgs.len(), 1, "delivered exactly once: {body}");
    assert_eq!(msgs[0]["result"]["content"][0]["text"], "polled result");
}

#[tokio::test]
async fn closing_a_modern_stream_cancels_the_request() {
    let f = fixture(HttpConfig::default());
    let mut call = modern_call(1, "tools/call", json!({"name":"hang","_meta":{}}));
    call["params"]["_meta"]["progressToken"] = json!("p1");
    let hh = [
        ("mcp-protocol-version", MODERN),
        ("mcp-method", "tools/call"),
        ("mcp-name", "hang"),
    ];
    let resp = f.svc.handle(post(call, &hh)).await;
    let mut body = resp.into_body();
    read_until(&mut body, |v| v["method"] == "notifications/progress").await;
    drop(body);
    for _ in 0..50 {
        if f.cancelled.load(Ordering::SeqCst) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the handler never saw the cancellation");
}

#[tokio::test]
async fn json_mode_and_batches_only_on_2025_03_26() {
    let f = fixture(HttpConfig::default().response_mode(ResponseMode::Json));
    let sid = open_session(&f, "2025-03-26").await;
    let batch = json!([{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{"text":"b"}}}]);
    let (st, _, body) = send(&f, post(batch.clone(), &[("mcp-session-id", &sid)])).await;
    assert_eq!(st, StatusCode::OK);
    let arr: Vec<Value> = serde_json::from_str(&body).unwrap();
    assert_eq!(arr.len(), 2);
    assert_eq!(arr[1]["result"]["content"][0]["text"], "b");
    let sid2 = open_session(&f, LEGACY).await;
    assert_eq!(
        send(&f, post(batch, &[("mcp-session-id", &sid2)])).await.0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(f.runs.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn sessions_are_capped_expire_and_are_bound_to_their_principal() {
    let f = fixture(
        HttpConfig::default()
            .max_sessions(100)
            .session_idle_timeout(Duration::from_millis(300)),
    );
    for _ in 0..100 {
        assert_eq!(
            send(&f, post(init_body(LEGACY), &[])).await.0,
            StatusCode::OK
        );
    }
    // At the cap an abandoned session makes room: the count stays at the cap.
    assert_eq!(
        send(&f, post(init_body(LEGACY), &[])).await.0,
        StatusCode::OK
    );
    assert_eq!(f.svc.session_count(), 100);
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(f.svc.session_count(), 0, "abandoned sessions expire");

    let alice = Principal {
        subject: "alice".into(),
        scopes: vec![],
        client_id: None,
    };
    let mut req = post(init_body(LEGACY), &[]);
    req.extensions_mut().insert(alice);
    let (_, h, _) = send(&f, req).await;
    let sid = h["mcp-session-id"].to_str().unwrap().to_owned();
    let mut req = post(
        json!({"jsonrpc":"2.0","id":2,"method":"ping"}),
        &[("mcp-session-id", &sid)],
    );
    req.extensions_mut().insert(Principal {
        subject: "mallory".into(),
        scopes: vec![],
        client_id: None,
    });
    assert_eq!(
        send(&f, req).await.0,
        StatusCode::NOT_FOUND,
        "another principal cannot use the session"
    );
}

#[tokio::test]
async fn ten_thousand_abandoned_sessions_leave_the_server_serving() {
    let f = fixture(HttpConfig::default().session_idle_timeout(Duration::from_millis(500)));
    for _ in 0..10_000 {
        f.svc.handle(post(init_body(LEGACY), &[])).await;
    }
    assert_eq!(f.svc.session_count(), 10_000);
    // Past the default cap of 10,000 a new client still gets in: an abandoned session makes room.
    assert_eq!(
        send(&f, post(init_body(LEGACY), &[])).await.0,
        StatusCode::OK
    );
    assert_eq!(f.svc.session_count(), 10_000);
    // Modern traffic needs no session and keeps working.
    let hh = [
        ("mcp-protocol-version", MODERN),
        ("mcp-method", "tools/list"),
    ];
    assert_eq!(
        send(&f, post(modern_call(1, "tools/list", json!({})), &hh))
            .await
            .0,
        StatusCode::OK
    );
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(f.svc.session_count(), 0);
}

#[tokio::test]
async fn old_http_sse_transport_for_2024_11_05_clients() {
    let f = fixture(HttpConfig::default().old_sse(mcp_server::http::OldSsePaths::default()));
    let get = Request::get("http://localhost/sse")
        .header("host", "localhost")
        .header("accept", "text/event-stream")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let mut body = f.svc.handle(get).await.into_body();
    let first = tokio::time::timeout(Duration::from_secs(5), body.frame())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(first.data_ref().unwrap()).into_owned();
    assert!(text.starts_with("event: endpoint\n"), "{text}");
    let endpoint = text
        .lines()
        .find_map(|l| l.strip_prefix("data: "))
        .unwrap()
        .to_owned();
    let post_to = |v: Value| {
        Request::post(format!("http://localhost{endpoint}"))
            .header("host", "localhost")
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(v.to_string())))
            .unwrap()
    };
    assert_eq!(
        send(&f, post_to(init_body("2024-11-05"))).await.0,
        StatusCode::ACCEPTED
    );
    let got = read_until(&mut body, |v| v["id"] == 1).await;
    assert_eq!(
        got.last().unwrap()["result"]["protocolVersion"],
        "2024-11-05"
    );
    send(
        &f,
        post_to(json!({"jsonrpc":"2.0","method":"notifications/initialized"})),
    )
    .await;
    send(&f, post_to(json!({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{"text":"old"}}}))).await;
    let got = read_until(&mut body, |v| v["id"] == 2).await;
    assert_eq!(got.last().unwrap()["result"]["content"][0]["text"], "old");
    let stale = Request::post("http://localhost/messages?sessionId=nope")
        .header("host", "localhost")
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from("{}")))
        .unwrap();
    assert_eq!(send(&f, stale).await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_client_that_never_reads_costs_bounded_memory_and_blocks_nobody() {
    use mcp_server::http::{EventStore, MemoryEventStore};
    let store = Arc::new(MemoryEventStore::new(256, 16));
    let done = Arc::new(AtomicBool::new(false));
    let d2 = done.clone();
    let server = Server::builder("flood", "1.0.0")
        .tool(
            tool("flood", json!({"type":"object"})),
            move |ctx: RequestContext, _a| {
                let d = d2.clone();
                async move {
                    for i in 0..5000 {
                        ctx.log(mcp_protocol::types::LoggingLevel::Info, None, json!(i))
                            .await;
                    }
                    d.store(true, Ordering::SeqCst);
                    Ok::<_, Error>(CallToolResult::text("flooded"))
                }
            },
        )
        .tool(
            tool("echo", json!({"type":"object"})),
            |_c: RequestContext, _a| async { Ok::<_, Error>(CallToolResult::text("still here")) },
        )
        .build();
    let f = Fixture {
        svc: McpService::new(server, HttpConfig::default().event_store(store.clone())),
        runs: Arc::new(AtomicUsize::new(0)),
        cancelled: Arc::new(AtomicBool::new(false)),
    };
    let sid = open_session(&f, LEGACY).await;
    let hh = [
        ("mcp-session-id", sid.as_str()),
        ("mcp-protocol-version", LEGACY),
    ];
    // Start the flood and never read the body.
    let unread = f
        .svc
        .handle(post(
            json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"flood"}}),
            &hh,
        ))
        .await;
    let (st, _, body) = send(
        &f,
        post(
            json!({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo"}}),
            &hh,
        ),
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(
        messages(&body)[0]["result"]["content"][0]["text"],
        "still here"
    );
    for _ in 0..200 {
        if done.load(Ordering::SeqCst) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        done.load(Ordering::SeqCst),
        "the handler finished although nobody read its stream"
    );
    let kept = store
        .replay(&sid, 1, 0)
        .await
        .unwrap()
        .expect("the flood's stream is stored")
        .len();
    assert!(kept <= 256, "replay buffer bounded, kept {kept}");
    drop(unread);
}

#[tokio::test]
async fn a_legacy_client_that_disconnects_mid_stream_does_not_cancel_the_call() {
    let f = fixture(HttpConfig::default());
    let sid = open_session(&f, LEGACY).await;
    let hh = [
        ("mcp-session-id", sid.as_str()),
        ("mcp-protocol-version", LEGACY),
    ];
    // The poll tool streams a priming event, then finishes later; the client hangs up at once.
    let resp = f
        .svc
        .handle(post(
            json!({"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"poll"}}),
            &hh,
        ))
        .await;
    let mut body = resp.into_body();
    let first = tokio::time::timeout(Duration::from_secs(5), body.frame())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(first.data_ref().unwrap()).into_owned();
    let id = text
        .lines()
        .find_map(|l| l.strip_prefix("id: "))
        .unwrap()
        .to_owned();
    drop(body);
    tokio::time::sleep(Duration::from_millis(300)).await;
    // On the legacy era a disconnect is not a cancel: the result is there to resume.
    let get = Request::get("http://localhost/mcp")
        .header("host", "localhost")
        .header("accept", "text/event-stream")
        .header("mcp-session-id", &sid)
        .header("last-event-id", &id)
        .body(Full::new(Bytes::new()))
        .unwrap();
    let (_, _, body) = send(&f, get).await;
    assert_eq!(
        messages(&body).last().unwrap()["result"]["content"][0]["text"],
        "polled result"
    );
}

/// A legacy call still running when its client hangs up (before anything was sent) runs to the end, and
/// its session's in-flight slot is given back: the next call on a session allowing one at a time works.
#[tokio::test]
async fn a_legacy_call_whose_client_leaves_before_the_answer_still_finishes() {
    let finished = Arc::new(AtomicUsize::new(0));
    let f2 = finished.clone();
    let server = Server::builder("test", "1.0.0")
        .tool(
            tool("slow", json!({"type":"object"})),
            move |_c: RequestContext, _a: mcp_protocol::JsonObject| {
                let f = f2.clone();
                async move {
                    tokio::time::sleep(Duration::from_millis(150)).await;
                    f.fetch_add(1, Ordering::SeqCst);
                    Ok::<_, Error>(CallToolResult::text("done"))
                }
            },
        )
        .build();
    let f = Fixture {
        svc: McpService::new(server, HttpConfig::default().max_in_flight_per_session(1)),
        runs: Arc::default(),
        cancelled: Arc::default(),
    };
    let sid = open_session(&f, LEGACY).await;
    let hh = [
        ("mcp-session-id", sid.as_str()),
        ("mcp-protocol-version", LEGACY),
    ];
    let call =
        |id: u64| json!({"jsonrpc":"2.0","id":id,"method":"tools/call","params":{"name":"slow"}});
    // The client gives up after 30 ms: the request future is dropped mid-handler.
    let gave_up =
        tokio::time::timeout(Duration::from_millis(30), f.svc.handle(post(call(2), &hh))).await;
    assert!(gave_up.is_err());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        finished.load(Ordering::SeqCst),
        1,
        "a disconnect is not a cancel"
    );
    let (st, _, body) = send(&f, post(call(3), &hh)).await;
    assert_eq!(st, StatusCode::OK, "the slot was given back: {body}");
    assert_eq!(messages(&body)[0]["result"]["content"][0]["text"], "done");
}

/// A handler that sends a notification and returns at once: in `auto` mode the notification is not lost,
/// the answer becomes a stream carrying it and then the result (both eras).
#[tokio::test]
async fn a_notification_sent_just_before_returning_is_delivered() {
    let server = Server::builder("test", "1.0.0")
        .tool(
            tool("chatty", json!({"type":"object"})),
            |ctx: RequestContext, _a: mcp_protocol::JsonObject| async move {
                ctx.progress(0.5, Some(1.0), None).await;
                Ok::<_, Error>(CallToolResult::text("done"))
            },
        )
        .build();
    let f = Fixture {
        svc: McpService::new(server, HttpConfig::default()),
        runs: Arc::default(),
        cancelled: Arc::default(),
    };
    let check = |what: &str, headers: http::HeaderMap, body: &str| {
        let ct = headers["content-type"].to_str().unwrap().to_owned();
        assert!(ct.starts_with("text/event-stream"), "{what}: {ct} {body}");
        let msgs = messages(body);
        assert_eq!(msgs.len(), 2, "{what}: {body}");
        assert_eq!(msgs[0]["method"], "notifications/progress", "{what}");
        assert_eq!(msgs[1]["result"]["content"][0]["text"], "done", "{what}");
    };
    // Modern.
    let mut call = modern_call(1, "tools/call", json!({"name":"chatty"}));
    call["params"]["_meta"]["progressToken"] = json!("p1");
    let hh = [
        ("mcp-protocol-version", MODERN),
        ("mcp-method", "tools/call"),
        ("mcp-name", "chatty"),
    ];
    let (st, h, body) = send(&f, post(call, &hh)).await;
    assert_eq!(st, StatusCode::OK);
    check("modern", h, &body);
    // Legacy.
    let sid = open_session(&f, LEGACY).await;
    let hh = [
        ("mcp-session-id", sid.as_str()),
        ("mcp-protocol-version", LEGACY),
    ];
    let call = json!({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"chatty","_meta":{"progressToken":"p2"}}});
    let (st, h, body) = send(&f, post(call, &hh)).await;
    assert_eq!(st, StatusCode::OK);
    check("legacy", h, &body);
}
