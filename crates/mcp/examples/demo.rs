//! The README's first command: an example server and a client talking over stdio, on both protocol eras.
//!
//! `cargo run -p mcp --example demo` starts this same program again as a child process with `--server`
//! (an MCP server on stdin/stdout), then connects to it twice: once negotiating the modern era (2026-07-28)
//! and once forcing the legacy `initialize` handshake, and prints what each exchange did.

use std::time::Duration;

use mcp::client::transport::ChildProcessTransport;
use mcp::client::{Client, VersionMode};
use mcp::protocol::ErrorObject;
use mcp::server::{Error, Json, RequestContext, Server};
use mcp::types::{
    ClientCapabilities, ElicitAction, ElicitRequestParams, ElicitResult, ElicitationCapability,
    GetPromptResult, Implementation, Prompt, PromptArgument, PromptMessage,
};
use serde_json::json;

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct AddArgs {
    /// The first number.
    a: f64,
    /// The second number.
    b: f64,
}

#[derive(serde::Serialize, schemars::JsonSchema)]
struct Sum {
    sum: f64,
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct GreetArgs {}

fn server() -> Server {
    Server::builder("demo-server", "1.0.0")
        .instructions("A demo server: add numbers, get greeted, read a note.")
        .typed_tool("add", "Add two numbers", |_ctx: RequestContext, args: AddArgs| async move {
            Ok::<_, Error>(Json(Sum { sum: args.a + args.b }))
        })
        .typed_tool("greet", "Ask the user's name, then greet them", |ctx: RequestContext, _args: GreetArgs| async move {
            // One call, both eras: a real request on legacy sessions, an input_required round trip on 2026-07-28.
            let answer = ctx
                .elicit(
                    "name",
                    ElicitRequestParams::form(
                        "What is your name?",
                        json!({"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}),
                    ),
                )
                .await?;
            let name = match answer.action {
                ElicitAction::Accept => answer.content.and_then(|c| c.get("name").and_then(|n| n.as_str().map(String::from))),
                _ => None,
            };
            Ok::<_, Error>(format!("Hello, {}!", name.unwrap_or_else(|| "stranger".into())))
        })
        .text_resource("note://welcome", "Welcome note", "text/plain", "Welcome to the Model Context Protocol.")
        .prompt(
            Prompt {
                name: "haiku".into(),
                description: Some("A haiku about a topic".into()),
                arguments: Some(vec![PromptArgument { name: "topic".into(), required: Some(true), ..Default::default() }]),
                ..Default::default()
            },
            |_ctx: RequestContext, args: mcp::server::PromptArgs| async move {
                let topic = args.get("topic").cloned().unwrap_or_default();
                Ok::<_, Error>(GetPromptResult {
                    description: None,
                    messages: vec![PromptMessage::user(format!("Write a haiku about {topic}."))],
                    meta: None,
                })
            },
        )
        .build()
}

async fn talk(mode: VersionMode, label: &str) -> Result<(), Box<dyn std::error::Error>> {
    let exe = std::env::current_exe()?;
    let transport = ChildProcessTransport::command(exe)
        .arg("--server")
        .spawn()?;
    let client = Client::builder()
        .client_info(Implementation::new("demo-client", "1.0.0"))
        .capabilities(ClientCapabilities {
            elicitation: Some(ElicitationCapability::default()),
            ..Default::default()
        })
        .elicitation_handler(|req: ElicitRequestParams| async move {
            if let ElicitRequestParams::Form(f) = &req {
                println!(
                    "    server asks the user: {:?} -> answering \"Ada\"",
                    f.message
                );
            }
            let mut content = serde_json::Map::new();
            content.insert("name".into(), json!("Ada"));
            Ok::<_, ErrorObject>(ElicitResult::accept(content))
        })
        .version_mode(mode)
        .connect(transport)
        .await?;
    println!(
        "{label}: connected to {} over stdio, protocol {} ({:?} era)",
        client.server_info().map(|i| i.name).unwrap_or_default(),
        client.protocol_version(),
        client.era()
    );
    let tools = client.list_all_tools().await?;
    println!(
        "    tools: {}",
        tools
            .iter()
            .map(|t| t.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let sum = client.call_tool("add", json!({"a": 2, "b": 40})).await?;
    println!(
        "    add(2, 40) -> structured {}",
        sum.structured_content.unwrap_or_default()
    );
    let greeting = client.call_tool("greet", json!({})).await?;
    println!("    greet() -> {}", greeting.text_content());
    let note = client.read_resource("note://welcome").await?;
    if let Some(mcp::types::ResourceContents::Text { text, .. }) = note.contents.first() {
        println!("    read note://welcome -> {text:?}");
    }
    let args = [("topic".to_string(), "Rust".to_string())]
        .into_iter()
        .collect();
    let prompt = client.get_prompt("haiku", Some(args)).await?;
    if let Some(m) = prompt.messages.first() {
        println!(
            "    prompt haiku(topic=Rust) -> {:?}",
            m.content.as_text().unwrap_or_default()
        );
    }
    client.close().await;
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    if std::env::args().any(|a| a == "--server") {
        // Logs must not touch stdout: it carries the protocol.
        return Ok(mcp::server::serve_stdio(server()).await?);
    }
    tokio::time::timeout(Duration::from_secs(30), async {
        talk(VersionMode::Auto, "modern (auto-negotiated)").await?;
        talk(VersionMode::Legacy, "legacy (initialize handshake)").await
    })
    .await??;
    println!("demo: both eras worked end to end");
    Ok(())
}
