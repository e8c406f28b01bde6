//! `conformance-server`: every fixture of the official conformance suite, over Streamable HTTP at
//! `http://localhost:$PORT/mcp` (PORT defaults to 3000), or over stdio with `--stdio`.

use mcp_server::http::{serve, HttpConfig};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    // Logs go to stderr: on stdio, stdout carries only MCP messages.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let server = mcp_conformance::fixtures_server();
    if std::env::args().any(|a| a == "--stdio") {
        return mcp_server::serve_stdio(server).await;
    }
    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(3000);
    eprintln!("conformance-server listening on http://localhost:{port}/mcp");
    serve(server, HttpConfig::default(), ([127, 0, 0, 1], port).into()).await
}
