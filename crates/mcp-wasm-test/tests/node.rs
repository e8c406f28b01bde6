//! `mcp-client` built for `wasm32-unknown-unknown`, run under Node by `wasm-bindgen-test-runner`, against the
//! conformance server over loopback HTTP (Node's fetch underneath reqwest). Both eras: the modern one
//! (`server/discover`, per-request `_meta`, `input_required` answered by a retry) and the legacy one
//! (`initialize`, a session, server→client requests on the reply stream, DELETE on close).
//!
//! The server's URL is compiled in from `MCP_WASM_SERVER_URL` (wasm has no environment at run time);
//! `.ci/wasm.sh` starts the server and sets it.
#![cfg(target_arch = "wasm32")]

use mcp_client::mcp_protocol::types::{ElicitRequestParams, ElicitResult};
use mcp_client::mcp_protocol::{Era, ErrorObject};
use mcp_client::transport::HttpTransport;
use mcp_client::{CallOptions, Client, VersionMode};
use serde_json::{json, Value};
use wasm_bindgen_test::wasm_bindgen_test;

/// Compiled in: building these tests without `MCP_WASM_SERVER_URL` is an error that says how to run them.
const SERVER_URL: &str = env!(
    "MCP_WASM_SERVER_URL",
    "set MCP_WASM_SERVER_URL to a running server's URL; .ci/wasm.sh starts one and sets it"
);

async fn connect(mode: VersionMode) -> Client {
    let transport = HttpTransport::builder(SERVER_URL)
        .build()
        .expect("transport");
    Client::builder()
        .version_mode(mode)
        .elicitation_handler(|p: ElicitRequestParams| async move {
            // Echo the question back in the answer, so the test sees that it reached the handler.
            let mut c = serde_json::Map::new();
            c.insert("username".into(), json!("ada"));
            let question = match &p {
                ElicitRequestParams::Form(f) => f.message.clone(),
                ElicitRequestParams::Url(u) => u.message.clone(),
            };
            c.insert(
                "email".into(),
                json!(format!("ada@example.com ({question})")),
            );
            Ok::<_, ErrorObject>(ElicitResult::accept(c))
        })
        .connect(transport)
        .await
        .expect("connect to the conformance server")
}

fn first_text(result: &impl serde::Serialize) -> String {
    let v = serde_json::to_value(result).expect("result serializes");
    v["content"][0]["text"]
        .as_str()
        .unwrap_or_else(|| panic!("no text content in {v}"))
        .to_owned()
}

/// Discover, list, call (plain, with progress on an SSE reply stream, and with elicitation) on one era.
async fn list_and_call(client: &Client) {
    let tools = client.list_all_tools().await.expect("tools/list");
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_str()).collect();
    assert!(names.contains(&"test_simple_text"), "tools: {names:?}");

    let r = client
        .call_tool("test_simple_text", json!({}))
        .await
        .expect("tools/call");
    assert_ne!(r.is_error, Some(true));
    assert_eq!(
        first_text(&r),
        "This is a simple text response for testing."
    );

    // Progress arrives on the request's SSE stream before the result: the stream is read as it comes.
    let (tx, mut rx) = tokio::sync::mpsc::channel(16);
    let opts = CallOptions::default().progress(tx);
    let r = client
        .call_tool_with("test_tool_with_progress", json!({}), opts)
        .await
        .expect("tools/call with progress");
    assert_eq!(first_text(&r), "Progress test completed");
    let mut seen = Vec::new();
    while let Ok(p) = rx.try_recv() {
        seen.push(p.progress);
    }
    assert!(
        !seen.is_empty(),
        "no progress notification reached the caller"
    );

    // The server asks the user: a real request on the legacy era, `input_required` and a retry on modern.
    let r = client
        .call_tool("test_elicitation", json!({"message": "who are you?"}))
        .await
        .expect("tools/call with elicitation");
    let text = first_text(&r);
    assert!(
        text.contains("ada@example.com (who are you?)"),
        "the handler's answer did not come back: {text}"
    );
}

#[wasm_bindgen_test]
async fn modern_era_discovers_lists_and_calls() {
    let client = connect(VersionMode::Auto).await;
    assert_eq!(client.era(), Era::Modern);
    let discovered = client.discover().await.expect("server/discover");
    let v: Value = serde_json::to_value(&discovered).expect("serializes");
    assert!(
        v["supportedVersions"]
            .as_array()
            .is_some_and(|a| !a.is_empty()),
        "discover result: {v}"
    );
    list_and_call(&client).await;
    client.close().await;
}

#[wasm_bindgen_test]
async fn legacy_era_initializes_lists_and_calls() {
    let client = connect(VersionMode::Legacy).await;
    assert_eq!(client.era(), Era::Legacy);
    assert!(client.session_id().is_some(), "no session was established");
    assert!(client.server_info().is_some());
    list_and_call(&client).await;
    client.close().await;
}
