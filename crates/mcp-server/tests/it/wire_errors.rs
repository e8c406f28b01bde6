//! HTTP errors that explain themselves: each says what was wrong and what to do, while the status and the
//! JSON-RPC code stay the ones clients and the conformance suite check.

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use mcp_protocol::types::{CallToolResult, Tool};
use mcp_protocol::JsonObject;
use mcp_server::http::{HttpConfig, McpService};
use mcp_server::{Error, RequestContext, Server};
use serde_json::{json, Value};

const MODERN: &str = "2026-07-28";

fn service(config: HttpConfig) -> McpService {
    let server = Server::builder("wire", "1.0.0")
        .tool(
            Tool {
                name: "echo".into(),
                input_schema: json!({"type": "object"}),
                ..Default::default()
            },
            |_c: RequestContext, _a: JsonObject| async move {
                Ok::<_, Error>(CallToolResult::text("ok"))
            },
        )
        .build();
    McpService::new(server, config)
}

fn request(method: Method, body: Option<Value>, headers: &[(&str, &str)]) -> Request<Full<Bytes>> {
    let mut b = Request::builder()
        .method(method)
        .uri("http://localhost/mcp")
        .header("host", "localhost")
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream");
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    b.body(Full::new(Bytes::from(body))).unwrap()
}

struct Answer {
    status: StatusCode,
    headers: http::HeaderMap,
    body: Value,
}

impl Answer {
    fn message(&self) -> &str {
        self.body["error"]["message"].as_str().unwrap_or_default()
    }
}

async fn send(svc: &McpService, req: Request<Full<Bytes>>) -> Answer {
    let (parts, body) = svc.handle(req).await.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    Answer {
        status: parts.status,
        headers: parts.headers,
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    }
}

#[tokio::test]
async fn a_405_names_the_allowed_methods_in_its_body_and_allow_header() {
    let svc = service(HttpConfig::default());
    let r = send(&svc, request(Method::PUT, None, &[])).await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(r.headers["allow"], "GET, POST, DELETE");
    assert_eq!(r.body["error"]["code"], -32000);
    for word in ["PUT", "POST", "GET", "DELETE", "Mcp-Session-Id"] {
        assert!(r.message().contains(word), "{word}: {}", r.message());
    }

    let r = send(&svc, request(Method::GET, None, &[])).await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(r.headers["allow"], "POST");
    assert!(
        r.message().contains("without Mcp-Session-Id") && r.message().contains("`initialize`"),
        "{}",
        r.message()
    );
    let r = send(&svc, request(Method::DELETE, None, &[])).await;
    assert_eq!(
        (r.status, r.headers["allow"].to_str().unwrap()),
        (StatusCode::METHOD_NOT_ALLOWED, "POST")
    );
    assert!(
        r.message().contains("DELETE without Mcp-Session-Id"),
        "{}",
        r.message()
    );

    // A modern-only endpoint says so.
    let svc = service(HttpConfig::default().legacy(false));
    let r = send(&svc, request(Method::GET, None, &[("mcp-session-id", "x")])).await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(r.message().contains("2026-07-28 only"), "{}", r.message());
}

#[tokio::test]
async fn a_403_names_the_header_and_the_host_policy_setting() {
    let svc = service(HttpConfig::default());
    let discover = json!({"jsonrpc": "2.0", "id": 1, "method": "server/discover"});
    let mut req = request(Method::POST, Some(discover.clone()), &[]);
    req.headers_mut()
        .insert("host", "evil.example.com".parse().unwrap());
    let r = send(&svc, req).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(
        r.message().contains("Host header \"evil.example.com\"")
            && r.message().contains("host_policy"),
        "{}",
        r.message()
    );
    let req = request(
        Method::POST,
        Some(discover),
        &[("origin", "http://evil.example.com")],
    );
    let r = send(&svc, req).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(
        r.message()
            .contains("Origin header \"http://evil.example.com\"")
            && r.message()
                .contains("HostPolicy::AllowList { origins, .. }"),
        "{}",
        r.message()
    );
}

#[tokio::test]
async fn a_request_without_a_session_says_how_to_get_one_or_go_stateless() {
    let svc = service(HttpConfig::default());
    let list = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"});
    let r = send(&svc, request(Method::POST, Some(list), &[])).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.body["error"]["code"], -32000);
    for part in [
        "Mcp-Session-Id header is required",
        "`initialize` first",
        "2025-11-25 and earlier",
        "MCP-Protocol-Version: 2026-07-28",
        "_meta",
    ] {
        assert!(r.message().contains(part), "{part}: {}", r.message());
    }
}

#[tokio::test]
async fn modern_validation_reports_every_header_and_meta_problem_at_once() {
    let svc = service(HttpConfig::default());
    // No Mcp-Method, no Mcp-Name, and a `_meta` without clientCapabilities: one answer names all three.
    let call = json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {
        "name": "echo", "arguments": {},
        "_meta": {"io.modelcontextprotocol/protocolVersion": MODERN}}});
    let r = send(
        &svc,
        request(
            Method::POST,
            Some(call),
            &[("mcp-protocol-version", MODERN)],
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        (r.body["id"].clone(), r.body["error"]["code"].clone()),
        (json!(7), json!(-32020))
    );
    let m = r.message();
    assert!(m.starts_with("3 problems: "), "{m}");
    for part in [
        "missing Mcp-Method header",
        "missing Mcp-Name header",
        "clientCapabilities",
    ] {
        assert!(m.contains(part), "{part}: {m}");
    }
    assert_eq!(
        r.body["error"]["data"]["headers"].as_array().unwrap().len(),
        2
    );
    assert_eq!(r.body["error"]["data"]["meta"].as_array().unwrap().len(), 1);

    // Headers right, `_meta` missing both fields: -32602 (as the suite expects) naming both.
    let discover =
        json!({"jsonrpc": "2.0", "id": 8, "method": "server/discover", "params": {"_meta": {}}});
    let r = send(
        &svc,
        request(
            Method::POST,
            Some(discover),
            &[
                ("mcp-protocol-version", MODERN),
                ("mcp-method", "server/discover"),
            ],
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.body["error"]["code"], -32602);
    let m = r.message();
    assert!(
        m.contains("2 problems: ")
            && m.contains("protocolVersion")
            && m.contains("clientCapabilities"),
        "{m}"
    );
}
