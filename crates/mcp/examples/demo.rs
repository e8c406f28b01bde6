//! The README's first command: an example server and a client talking over stdio, on both protocol eras.
//!
//! `cargo run -p mcp-rs --example demo` starts this same program again as a child process with `--server`
//! (an MCP server on stdin/stdout), then connects to it twice: once negotiating the modern era (2026-07-28)
//! and once forcing the legacy `initialize` handshake, and prints what each exchange did.

use std::time::Duration;

use mcp::client::transport::ChildProcessTransport;
use mcp::client::{Client, VersionMode};
use mcp::protocol::ErrorObject;
use mcp::server::{Elicitation, Error, Json, RequestContext, Server};
use mcp::types::{
    ClientCapabilities, ElicitRequestParams, ElicitResult, ElicitationCapability, GetPromptResult,
    Implementation, PromptMessage,
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

/// The form the greet tool asks the user to fill.
#[derive(serde::Deserialize, schemars::JsonSchema, mcp::ElicitForm)]
#[elicit(crate = mcp::server)]
struct Name {
    /// What should we call you?
    name: String,
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct HaikuArgs {
    /// What the haiku is about.
    topic: String,
}

fn server() -> Server {
    Server::builder("demo-server", "1.0.0")
        .instructions("A demo server: add numbers, get greeted, read a note.")
        .typed_tool(
            "add",
            "Add two numbers",
            |_ctx: RequestContext, args: AddArgs| async move {
                Ok::<_, Error>(Json(Sum {
                    sum: args.a + args.b,
                }))
            },
        )
        .typed_tool(
            "greet",
            "Ask the user's name, then greet them",
            |ctx: RequestContext, _args: GreetArgs| async move {
                // One call, both eras: a real request on legacy sessions, an input_required round trip on 2026-07-28.
                // The form is the `Name` struct; the answer comes back as one.
                let name = match ctx.elicit_as::<Name>("What is your name?").await? {
                    Elicitation::Accept(Name { name }) => name,
                    Elicitation::Decline | Elicitation::Cancel => "stranger".into(),
                };
                Ok::<_, Error>(format!("Hello, {name}!"))
            },
        )
        .text_resource(
            "note://welcome",
            "Welcome note",
            "text/plain",
            "Welcome to the Model Context Protocol.",
        )
        .typed_prompt(
            "haiku",
            "A haiku about a topic",
            |_ctx: RequestContext, args: HaikuArgs| async move {
                Ok::<_, Error>(GetPromptResult::new(vec![PromptMessage::user(format!(
                    "Write a haiku about {}.",
                    args.topic
                ))]))
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
