//! Interop: our client against the official TypeScript 2.x and Python servers (stdio and Streamable HTTP, both
//! eras) and against `@modelcontextprotocol/server-everything` (every one of its tools called). Skipped with a
//! reason when the peers are not installed, unless `MCP_REQUIRE_PEERS=1`.

use crate::peers;

use mcp::client::transport::{ChildProcessTransport, HttpTransport, Transport};
use mcp::client::{Client, VersionMode};
use mcp::protocol::types::{
    ClientCapabilities, CreateMessageParams, CreateMessageResult, ElicitRequestParams,
    ElicitResult, ElicitationCapability, Implementation, ListRootsResult, OneOrMany,
    ResourceContents, Role, Root, RootsCapability, SamplingCapability, SamplingContent, Tool,
};
use mcp::protocol::{Era, ErrorObject};
use peers::{PeerRuns, Peers};
use serde_json::{json, Map, Value};

async fn connect(transport: impl Transport, mode: VersionMode) -> Client {
    Client::builder()
        .client_info(Implementation::new("mcp-rs-interop", "1.0.0"))
        .capabilities(ClientCapabilities {
            elicitation: Some(ElicitationCapability::default()),
            sampling: Some(SamplingCapability::default()),
            roots: Some(RootsCapability::default()),
            ..Default::default()
        })
        .elicitation_handler(|_p: ElicitRequestParams| async move {
            let mut c = Map::new();
            for (k, v) in [
                ("name", "Alice"),
                ("username", "testuser"),
                ("email", "test@example.com"),
            ] {
                c.insert(k.into(), json!(v));
            }
            Ok::<_, ErrorObject>(ElicitResult::accept(c))
        })
        .sampling_handler(|_p: CreateMessageParams| async move {
            Ok::<_, ErrorObject>(CreateMessageResult {
                role: Role::Assistant,
                content: OneOrMany::One(SamplingContent::text(
                    "This is a test response from the client",
                )),
                model: "test-model".into(),
                stop_reason: None,
                meta: None,
            })
        })
        .roots_handler(|| async move {
            Ok::<_, ErrorObject>(ListRootsResult {
                roots: vec![Root {
                    uri: "file:///tmp".into(),
                    name: Some("tmp".into()),
                    meta: None,
                }],
                meta: None,
            })
        })
        .version_mode(mode)
        .connect(transport)
        .await
        .expect("connect")
}

/// Exercise the peer servers' fixtures; returns what went wrong.
async fn exercise(client: &Client) -> Vec<String> {
    let mut bad = Vec::new();
    let mut check = |what: &str, ok: bool, detail: String| {
        if !ok {
            bad.push(format!("{what}: {detail}"));
        }
    };
    let tools = client
        .list_all_tools()
        .await
        .map(|t| t.into_iter().map(|t| t.name).collect::<Vec<_>>());
    check(
        "list tools",
        tools.as_ref().is_ok_and(|t| {
            ["add", "echo", "ask_name"]
                .iter()
                .all(|n| t.iter().any(|x| x == n))
        }),
        format!("{tools:?}"),
    );
    let r = client
        .call_tool("add", json!({"a": 2, "b": 3}))
        .await
        .map(|r| r.text_content());
    check(
        "add",
        r.as_ref().is_ok_and(|t| t.contains('5')),
        format!("{r:?}"),
    );
    let r = client
        .call_tool("echo", json!({"text": "interop"}))
        .await
        .map(|r| r.text_content());
    check(
        "echo",
        r.as_ref().is_ok_and(|t| t.contains("interop")),
        format!("{r:?}"),
    );
    let r = client
        .call_tool("ask_name", json!({}))
        .await
        .map(|r| r.text_content());
    check(
        "elicitation round trip",
        r.as_ref().is_ok_and(|t| t.contains("Alice")),
        format!("{r:?}"),
    );
    let r = client.read_resource("test://hello").await;
    let text = r.as_ref().ok().and_then(|r| match r.contents.first() {
        Some(ResourceContents::Text { text, .. }) => Some(text.clone()),
        _ => None,
    });
    check(
        "read resource",
        text.as_deref() == Some("hello world"),
        format!("{r:?}"),
    );
    let args = [("name".to_string(), "Bob".to_string())]
        .into_iter()
        .collect();
    let r = client.get_prompt("greet", Some(args)).await;
    check(
        "get prompt",
        r.as_ref().is_ok_and(|p| {
            serde_json::to_string(&p.messages)
                .unwrap_or_default()
                .contains("Bob")
        }),
        format!("{r:?}"),
    );
    bad
}

fn expected_era(mode: VersionMode) -> Era {
    if mode == VersionMode::Legacy {
        Era::Legacy
    } else {
        Era::Modern
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_client_against_typescript_and_python_servers() {
    let Some(p) = Peers::load() else { return };
    let mut failures = Vec::new();
    for script in ["ts-server-v2.mjs", "py_server.py"] {
        for mode in [VersionMode::Auto, VersionMode::Legacy] {
            // stdio: the peer is our child process.
            let mut cmd = ChildProcessTransport::command(p.interpreter(script))
                .arg(p.script(script))
                .arg("--stdio");
            for (k, v) in p.env() {
                cmd = cmd.env(k, v);
            }
            let client = connect(cmd.spawn().expect("spawn"), mode).await;
            let era = client.era();
            let bad = exercise(&client).await;
            client.close().await;
            println!(
                "{script} stdio {mode:?}: era {era:?}, {} problems",
                bad.len()
            );
            if !bad.is_empty() || era != expected_era(mode) {
                failures.push(format!("{script} stdio {mode:?} (era {era:?}): {bad:?}"));
            }
            // Streamable HTTP on one endpoint serving both eras.
            let server = p.start_http_server(script);
            let client = connect(HttpTransport::new(&server.url).unwrap(), mode).await;
            let era = client.era();
            let bad = exercise(&client).await;
            client.close().await;
            println!(
                "{script} http {mode:?}: era {era:?}, {} problems",
                bad.len()
            );
            if !bad.is_empty() || era != expected_era(mode) {
                failures.push(format!("{script} http {mode:?} (era {era:?}): {bad:?}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Arguments for a server-everything tool, from its schema (with sensible values for the slow ones).
fn args_for(tool: &Tool) -> Value {
    let mut args = Map::new();
    let props = tool
        .input_schema
        .get("properties")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    for (name, prop) in props {
        let v = if let Some(first) = prop
            .get("enum")
            .and_then(Value::as_array)
            .and_then(|e| e.first())
        {
            first.clone()
        } else {
            match (name.as_str(), prop.get("type").and_then(Value::as_str)) {
                ("duration", _) => json!(1),
                ("steps", _) => json!(2),
                ("maxTokens", _) => json!(50),
                (_, Some("number" | "integer")) => json!(2),
                (_, Some("boolean")) => json!(true),
                (_, Some("array")) => json!([]),
                (_, Some("object")) => json!({}),
                _ => json!("hello"),
            }
        };
        args.insert(name, v);
    }
    Value::Object(args)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_client_calls_every_server_everything_tool() {
    let Some(p) = Peers::load() else { return };
    let server = p.start_everything_http();
    let client = connect(
        HttpTransport::new(server.mcp_url()).unwrap(),
        VersionMode::Auto,
    )
    .await;
    let tools = client.list_all_tools().await.expect("list tools");
    assert!(
        tools.len() >= 10,
        "server-everything offers many tools, got {}",
        tools.len()
    );
    let mut failures = Vec::new();
    for tool in &tools {
        // A tool error (isError) is an answer; a protocol or transport failure is ours to fix.
        match tokio::time::timeout(
            std::time::Duration::from_secs(30),
            client.call_tool(&tool.name, args_for(tool)),
        )
        .await
        {
            Ok(Ok(r)) => println!(
                "{}: {}{}",
                tool.name,
                if r.is_error() { "tool error: " } else { "ok: " },
                r.text_content().chars().take(60).collect::<String>()
            ),
            Ok(Err(e)) if e.is_rpc() => println!("{}: server error {e}", tool.name),
            Ok(Err(e)) => failures.push(format!("{}: {e}", tool.name)),
            Err(_) => failures.push(format!("{}: timed out", tool.name)),
        }
    }
    let r = client
        .call_tool("echo", json!({"message": "round trip"}))
        .await
        .expect("echo");
    assert!(r.text_content().contains("round trip"));
    client.close().await;
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
