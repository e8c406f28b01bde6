//! A small MCP server on stdin/stdout, used by the client's child-process tests (and handy to try the client):
//! `cargo run -p mcp-rs-client --example echo_stdio_server`.

use mcp_protocol::types::CallToolResult;
use mcp_server::{Error, Server};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    eprintln!("echo_stdio_server: starting (logs go to stderr)");
    let server = Server::builder("stdio-example", "1.0.0")
        .typed_tool(
            "echo",
            "Echoes its text",
            |_ctx, args: serde_json::Value| async move {
                Ok::<_, Error>(CallToolResult::text(
                    args["text"].as_str().unwrap_or_default().to_owned(),
                ))
            },
        )
        .build();
    let r = mcp_server::serve_stdio(server).await;
    eprintln!("echo_stdio_server: stdin closed, exiting");
    r
}
