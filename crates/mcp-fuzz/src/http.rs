//! One HTTP request to the MCP endpoint, both eras, in process (the `tower::Service`, no sockets).

use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use mcp::server::http::{HttpConfig, McpService};
use mcp::server::{Error, RequestContext, Server, ServerOptions, StateKey};
use mcp::types::ElicitRequestParams;
use serde_json::{json, Value};

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct EchoArgs {
    /// What to send back.
    text: String,
}

/// Echo the text back.
#[mcp::tool]
async fn echo(args: EchoArgs) -> Result<String, Error> {
    Ok(args.text)
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct NoArgs {}

/// Always fails.
#[mcp::tool]
async fn fail(_args: NoArgs) -> Result<String, Error> {
    Err(Error::tool("failed on purpose"))
}

/// Ask the user's name (a server→client request on a legacy session, an `input_required` round trip with a
/// sealed `requestState` on 2026-07-28), then greet them.
#[mcp::tool]
async fn ask(ctx: RequestContext, _args: NoArgs) -> Result<String, Error> {
    let schema =
        json!({"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]});
    let answer = ctx
        .elicit("name", ElicitRequestParams::form("Your name?", schema))
        .await?;
    let name = answer
        .content
        .and_then(|c| c.get("name").and_then(Value::as_str).map(str::to_owned));
    Ok(format!("Hello, {}!", name.as_deref().unwrap_or("stranger")))
}

/// The endpoint under test and the session its own calls use.
struct Endpoint {
    rt: tokio::runtime::Runtime,
    service: McpService,
    /// The session the sanity call uses; replaced when a fuzzed `DELETE` ends it.
    session: Mutex<String>,
}

fn endpoint() -> &'static Endpoint {
    static ENDPOINT: std::sync::OnceLock<Endpoint> = std::sync::OnceLock::new();
    ENDPOINT.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        let server = Server::builder("fuzz", "1.0.0")
            .with(echo_tool)
            .with(fail_tool)
            .with(ask_tool)
            // Fixed, and long-lived, so that a `requestState` in a seed written by one process opens in
            // the fuzzing one.
            .state_key(StateKey::new(b"mcp-fuzz: a fixed key, 32 bytes.".to_vec()))
            .options(
                ServerOptions::default()
                    .request_state_ttl(Duration::from_secs(10 * 365 * 24 * 3600)),
            )
            .build();
        let service = McpService::new(server, HttpConfig::default());
        let session = rt.block_on(open_session(&service));
        Endpoint {
            rt,
            service,
            session: Mutex::new(session),
        }
    })
}

/// A request with the headers a well-behaved client of `version` sends.
fn post(body: &Value, session: Option<&str>, version: &str) -> Request<Full<Bytes>> {
    let mut r = Request::post("/mcp")
        .header("host", "localhost")
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", version);
    if let Some(s) = session {
        r = r.header("mcp-session-id", s);
    }
    r.body(Full::new(Bytes::from(body.to_string())))
        .expect("a valid request")
}

async fn open_session(service: &McpService) -> String {
    let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": "fuzz", "version": "1"}}});
    let resp = service.handle(post(&init, None, "2025-11-25")).await;
    assert_eq!(resp.status(), StatusCode::OK, "initialize");
    let session = resp
        .headers()
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .expect("a session id")
        .to_owned();
    let _ = resp.into_body().collect().await;
    let done = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    let resp = service
        .handle(post(&done, Some(&session), "2025-11-25"))
        .await;
    assert_eq!(resp.status(), StatusCode::ACCEPTED, "initialized");
    session
}

/// The JSON-RPC messages of a response body, JSON or SSE; panics on a body that is neither well-formed.
fn messages(content_type: &str, body: &[u8]) -> Vec<Value> {
    if content_type.starts_with("application/json") {
        let v: Value = serde_json::from_slice(body).expect("a JSON body");
        return match v {
            Value::Array(all) => all,
            one => vec![one],
        };
    }
    assert!(
        content_type.starts_with("text/event-stream"),
        "a body of type {content_type:?}"
    );
    let mut p = mcp::client::sse::SseParser::new();
    let events = p.feed(body);
    events
        .iter()
        .filter(|e| !e.data.is_empty())
        .map(|e| serde_json::from_str(&e.data).expect("each event's data is JSON"))
        .collect()
}

/// Every message a server sends is JSON-RPC: a response has an id (null only for an error), an error an
/// integer code and a message.
fn check_message(m: &Value) {
    assert_eq!(m["jsonrpc"], "2.0", "{m}");
    if let Some(e) = m.get("error") {
        assert!(e["code"].is_i64(), "{m}");
        assert!(e["message"].is_string(), "{m}");
    } else if m.get("result").is_some() {
        assert!(
            m["id"].is_string() || m["id"].is_i64() || m["id"].is_u64(),
            "{m}"
        );
    } else {
        assert!(m["method"].is_string(), "{m}");
    }
}

/// The request `data` describes: its first three bytes choose the method and headers, the rest is the body.
fn request_of(data: &[u8], session: &str) -> Option<Request<Full<Bytes>>> {
    let [m, h, g, body @ ..] = data else {
        return None;
    };
    let method = match m % 8 {
        0..=4 => Method::POST,
        5 => Method::GET,
        6 => Method::DELETE,
        _ => Method::OPTIONS,
    };
    let mut r =
        Request::builder()
            .method(method)
            .uri(if m & 0x80 == 0 { "/mcp" } else { "/mcp?x=1" });
    let accept = [
        Some("application/json, text/event-stream"),
        Some("application/json"),
        Some("text/event-stream"),
        None,
    ];
    let content_type = [
        Some("application/json"),
        Some("application/json; charset=utf-8"),
        Some("text/plain"),
        None,
    ];
    let version = [
        None,
        Some("2025-11-25"),
        Some("2026-07-28"),
        Some("2024-11-05"),
    ];
    let sid = [None, Some(session), Some("not-a-session"), Some(session)];
    let host = [
        Some("localhost"),
        Some("127.0.0.1:8080"),
        Some("evil.example"),
        None,
    ];
    let origin = [
        None,
        Some("http://localhost:3000"),
        Some("https://evil.example"),
        Some("null"),
    ];
    let pairs = [
        ("accept", accept[usize::from(h & 3)]),
        ("content-type", content_type[usize::from(h >> 2 & 3)]),
        ("mcp-protocol-version", version[usize::from(h >> 4 & 3)]),
        ("mcp-session-id", sid[usize::from(h >> 6)]),
        ("host", host[usize::from(g & 3)]),
        ("origin", origin[usize::from(g >> 2 & 3)]),
        ("last-event-id", (g & 0x10 != 0).then_some("0")),
    ];
    for (name, value) in pairs {
        if let Some(v) = value {
            r = r.header(name, v);
        }
    }
    // The 2026-07-28 headers that mirror the body, matching it or not.
    if g & 0x20 != 0 {
        let v: Value = serde_json::from_slice(body).unwrap_or_default();
        if let Some(m) = v["method"].as_str().filter(|m| m.is_ascii()) {
            r = r.header("mcp-method", if g & 0x40 != 0 { "tools/list" } else { m });
        }
        if let Some(n) = v["params"]["name"]
            .as_str()
            .filter(|n| n.is_ascii() && !n.contains(['\r', '\n']))
        {
            r = r.header("mcp-name", n);
        }
    }
    r.body(Full::new(Bytes::copy_from_slice(body))).ok()
}

/// Any request gets an answer below 500 with a well-formed body, and the session's next call, and a
/// 2026-07-28 call, still work after it.
pub fn request(data: &[u8]) {
    let e = endpoint();
    let session = e.session.lock().expect("not poisoned").clone();
    let Some(req) = request_of(data, &session) else {
        return;
    };
    let is_get = req.method() == Method::GET;
    e.rt.block_on(async {
        let resp = e.service.handle(req).await;
        let status = resp.status();
        assert!(!status.is_server_error(), "{status} for {data:?}");
        if is_get && status == StatusCode::OK {
            // The standing stream: open until the client goes away, which is now.
            drop(resp);
            still_served(e).await;
            return;
        }
        let content_type = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let body = tokio::time::timeout(Duration::from_secs(5), resp.into_body().collect())
            .await
            .unwrap_or_else(|_| panic!("no end to the {status} reply to {data:?}"))
            .expect("a body")
            .to_bytes();
        let json_rpc = content_type.starts_with("application/json")
            || content_type.starts_with("text/event-stream");
        if json_rpc && !body.is_empty() {
            messages(&content_type, &body)
                .iter()
                .for_each(check_message);
        }
        still_served(e).await;
    });
}

/// The endpoint's own session and a stateless call both still work.
async fn still_served(e: &Endpoint) {
    let call = |id: i64| {
        json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
               "params": {"name": "echo", "arguments": {"text": "still here"}}})
    };
    let session = e.session.lock().expect("not poisoned").clone();
    let mut resp = e
        .service
        .handle(post(&call(1), Some(&session), "2025-11-25"))
        .await;
    if resp.status() == StatusCode::NOT_FOUND {
        // The fuzzed request ended the session (a DELETE with its id): a new one, as a client would.
        let fresh = open_session(&e.service).await;
        *e.session.lock().expect("not poisoned") = fresh.clone();
        resp = e
            .service
            .handle(post(&call(1), Some(&fresh), "2025-11-25"))
            .await;
    }
    assert_eq!(resp.status(), StatusCode::OK, "the session's next call");
    let answer = first_message(resp).await;
    assert_eq!(
        answer["result"]["content"][0]["text"], "still here",
        "{answer}"
    );

    let (status, answer) = call_modern(e, "echo", json!({"text": "still here"}), json!({})).await;
    assert_eq!(status, StatusCode::OK, "a 2026-07-28 call");
    assert_eq!(
        answer["result"]["content"][0]["text"], "still here",
        "{answer}"
    );
}

/// The `_meta` of a 2026-07-28 request from a client that declares `capabilities`.
fn modern_meta(capabilities: Value) -> Value {
    json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientInfo": {"name": "fuzz", "version": "1"},
        "io.modelcontextprotocol/clientCapabilities": capabilities})
}

/// A 2026-07-28 `tools/call` with the headers that mirror it: the status and the answer's first message.
async fn call_modern(
    e: &Endpoint,
    tool: &str,
    arguments: Value,
    capabilities: Value,
) -> (StatusCode, Value) {
    let call = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {
        "_meta": modern_meta(capabilities), "name": tool, "arguments": arguments}});
    let mut req = post(&call, None, "2026-07-28");
    req.headers_mut()
        .insert("mcp-method", "tools/call".parse().expect("a header"));
    req.headers_mut()
        .insert("mcp-name", tool.parse().expect("a header"));
    let resp = e.service.handle(req).await;
    (resp.status(), first_message(resp).await)
}

/// The first JSON-RPC message of a whole (JSON or SSE) response.
async fn first_message(resp: http::Response<mcp::server::http::McpBody>) -> Value {
    let ct = content_type_of(&resp);
    let body = resp.into_body().collect().await.expect("a body").to_bytes();
    messages(&ct, &body).swap_remove(0)
}

fn content_type_of<B>(resp: &http::Response<B>) -> String {
    resp.headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// A `requestState` the endpoint sealed, from a 2026-07-28 call of `ask`.
fn sealed_state() -> String {
    let e = endpoint();
    let asking = json!({"elicitation": {"form": {}}});
    let (_, answer) = e.rt.block_on(call_modern(e, "ask", json!({}), asking));
    answer["result"]["requestState"]
        .as_str()
        .unwrap_or_else(|| panic!("input_required with a requestState: {answer}"))
        .to_owned()
}

/// Requests of both eras, for seeds: 3 bytes of method and headers, then the body.
pub fn seeds() -> Vec<Vec<u8>> {
    let meta = modern_meta(json!({}));
    let asking = modern_meta(json!({"elicitation": {"form": {}}}));
    let bodies = [
        // legacy, on the session (headers: both accepts, JSON, 2025-11-25, the session)
        (
            0u8,
            0b01_01_00_00u8,
            0u8,
            json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"x"}}}),
        ),
        (
            0,
            0b01_01_00_00,
            0,
            json!({"jsonrpc":"2.0","id":2,"method":"tools/list"}),
        ),
        (
            0,
            0b01_01_00_00,
            0,
            json!([{"jsonrpc":"2.0","id":3,"method":"ping"},{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":3}}]),
        ),
        (
            0,
            0b00_01_00_00,
            0,
            json!({"jsonrpc":"2.0","id":4,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"f","version":"1"}}}),
        ),
        (
            0,
            0b01_01_00_00,
            0,
            json!({"jsonrpc":"2.0","id":5,"result":{}}),
        ),
        // 2026-07-28, stateless, with the mirrored headers
        (
            0,
            0b00_10_00_00,
            0x20,
            json!({"jsonrpc":"2.0","id":6,"method":"tools/call","params":{"_meta":meta,"name":"fail","arguments":{}}}),
        ),
        (
            0,
            0b00_10_00_00,
            0x20,
            json!({"jsonrpc":"2.0","id":7,"method":"server/discover","params":{"_meta":meta}}),
        ),
        (
            0,
            0b00_10_00_00,
            0x20,
            json!({"jsonrpc":"2.0","id":8,"method":"tools/list","params":{"_meta":meta,"cursor":"zz"}}),
        ),
        (
            0,
            0b00_10_00_00,
            0x20,
            json!({"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"_meta":asking,"name":"ask","arguments":{}}}),
        ),
        (
            0,
            0b00_10_00_00,
            0x20,
            json!({"jsonrpc":"2.0","id":10,"method":"tools/call","params":{"_meta":asking,"name":"ask","arguments":{},
            "inputResponses":{"name":{"action":"accept","content":{"name":"fuzz"}}},"requestState":sealed_state()}}),
        ),
        // legacy, on the session, which cannot be asked (it declared no elicitation)
        (
            0,
            0b01_01_00_00,
            0,
            json!({"jsonrpc":"2.0","id":11,"method":"tools/call","params":{"name":"ask","arguments":{}}}),
        ),
        // other methods
        (5, 0b01_00_00_10, 0, json!(null)),
        (6, 0b01_00_00_00, 0, json!(null)),
    ];
    bodies
        .into_iter()
        .map(|(m, h, g, body)| {
            let mut d = vec![m, h, g];
            if !body.is_null() {
                d.extend(body.to_string().into_bytes());
            }
            d
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn no_request_breaks_the_endpoint_or_gets_a_malformed_answer() {
        crate::mutate::run(&super::seeds(), 3_000, super::request);
    }

    #[test]
    fn the_retry_seed_carries_a_state_the_endpoint_opens() {
        // Else the fuzzer would start from a refused state and rarely reach the tool's second round.
        let seeds = super::seeds();
        let retry = seeds
            .iter()
            .find(|s| String::from_utf8_lossy(s).contains("requestState"))
            .expect("a retry seed");
        let e = super::endpoint();
        let session = e.session.lock().unwrap().clone();
        let req = super::request_of(retry, &session).expect("a request");
        let answer =
            e.rt.block_on(async { super::first_message(e.service.handle(req).await).await });
        assert!(answer.to_string().contains("Hello, fuzz!"), "{answer}");
    }
}
