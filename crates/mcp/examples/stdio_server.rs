//! A stdio server, as a host (an IDE, a desktop assistant) runs it: the host starts the program and speaks
//! MCP over its stdin and stdout.
//!
//! `cargo run -p mcp-rs --example stdio_server -- --stdio` is the server a host would configure. Without
//! `--stdio` the example plays the host: it starts itself with `--stdio` as a child process, connects with
//! the client, calls the tools, checks the answers and exits 0 (that is the run CI does).

use std::time::Duration;

use mcp::client::transport::ChildProcessTransport;
use mcp::client::Client;
use mcp::server::Server;

#[mcp::collect]
mod tools {
    use mcp::server::{Error, RequestContext};

    #[derive(serde::Deserialize, schemars::JsonSchema)]
    pub struct Text {
        /// The text to transform.
        pub text: String,
    }

    /// Upper-case the text.
    #[tool]
    async fn upper(args: Text) -> Result<String, Error> {
        Ok(args.text.to_uppercase())
    }

    /// Count the words of the text.
    #[tool(name = "word-count")]
    pub async fn word_count(_ctx: RequestContext, args: Text) -> Result<String, Error> {
        Ok(args.text.split_whitespace().count().to_string())
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    if std::env::args().any(|a| a == "--stdio") {
        // stdout carries the protocol: logs, if any, go to stderr.
        let server = Server::builder("stdio-example", "1.0.0")
            .with(tools::register)
            .build();
        return Ok(mcp::server::serve_stdio(server).await?);
    }

    let transport = ChildProcessTransport::command(std::env::current_exe()?)
        .arg("--stdio")
        .spawn()?;
    let client = tokio::time::timeout(
        Duration::from_secs(30),
        Client::builder().connect(transport),
    )
    .await??;
    let info = client.server_info().ok_or("no server info")?;
    assert_eq!(info.name, "stdio-example");
    let names: Vec<String> = client
        .list_all_tools()
        .await?
        .into_iter()
        .map(|t| t.name)
        .collect();
    assert_eq!(names, tools::TOOLS);
    let r = client
        .call_tool("upper", serde_json::json!({"text": "hello host"}))
        .await?;
    assert_eq!(r.text_content(), "HELLO HOST");
    let r = client
        .call_tool(
            tools::word_count_tool::NAME,
            serde_json::json!({"text": "one two three"}),
        )
        .await?;
    assert_eq!(r.text_content(), "3");
    println!(
        "child {} over stdio ({:?} era): tools {names:?}, upper and word-count answered",
        info.name,
        client.era()
    );
    client.close().await;
    println!("stdio_server: ok");
    Ok(())
}
