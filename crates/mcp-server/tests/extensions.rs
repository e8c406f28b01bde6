//! An extension of one's own: declared in the capabilities, its request method answered on both eras through
//! the same core, the client's side of it read from the request's capabilities.

mod support;

use mcp_server::{Error, RequestContext, Server};
use serde_json::{json, Value};
use support::{connect, modern_request};

const EXT: &str = "com.example/echo";

fn server() -> Server {
    Server::builder("ext-test", "1.0.0")
        .extension(EXT, json!({"maxLength": 64}))
        .method(
            "com.example/echo",
            |ctx: RequestContext, params: Option<Value>| async move {
                let text = params
                    .as_ref()
                    .and_then(|p| p.get("text"))
                    .and_then(Value::as_str)
                    .ok_or_else(|| Error::invalid_params("text is required"))?
                    .to_owned();
                Ok::<_, Error>(json!({
                    "echoed": text,
                    "clientDeclared": ctx.client_extension(EXT).is_some(),
                }))
            },
        )
        .build()
}

#[tokio::test]
async fn a_modern_request_reaches_the_extension_method() {
    let mut p = connect(server());
    let r = p
        .call(modern_request(1, "server/discover", json!({}), json!({})))
        .await;
    assert_eq!(
        r["result"]["capabilities"]["extensions"][EXT]["maxLength"], 64,
        "{r}"
    );
    let caps = json!({"extensions": {EXT: {}}});
    let r = p
        .call(modern_request(
            2,
            "com.example/echo",
            json!({"text": "hi"}),
            caps,
        ))
        .await;
    assert_eq!(r["result"]["echoed"], "hi", "{r}");
    assert_eq!(r["result"]["clientDeclared"], true, "{r}");
    assert_eq!(r["result"]["resultType"], "complete", "{r}");
    let r = p
        .call(modern_request(3, "com.example/echo", json!({}), json!({})))
        .await;
    assert_eq!(r["error"]["code"], -32602, "{r}");
    let r = p
        .call(modern_request(4, "com.example/other", json!({}), json!({})))
        .await;
    assert_eq!(r["error"]["code"], -32601, "{r}");
}

#[tokio::test]
async fn a_legacy_session_reaches_it_too() {
    let mut p = connect(server());
    let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}});
    let r = p.call(init).await;
    assert_eq!(
        r["result"]["capabilities"]["extensions"][EXT]["maxLength"], 64,
        "{r}"
    );
    p.send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
        .await;
    let r = p
        .call(json!({"jsonrpc": "2.0", "id": 1, "method": "com.example/echo", "params": {"text": "old"}}))
        .await;
    assert_eq!(r["result"]["echoed"], "old", "{r}");
    assert_eq!(r["result"]["clientDeclared"], false, "{r}");
}

#[test]
#[should_panic(expected = "method of the protocol itself")]
fn a_core_method_cannot_be_taken() {
    let _ = Server::builder("s", "1").method(
        "tools/call",
        |_c: RequestContext, _p: Option<Value>| async { Ok::<_, Error>(json!({})) },
    );
}
