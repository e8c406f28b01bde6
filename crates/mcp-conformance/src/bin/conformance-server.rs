//! `conformance-server`: every fixture of the official conformance suite, over Streamable HTTP at
//! `http://localhost:$PORT/mcp` (PORT defaults to 3000), or over stdio with `--stdio`.

use clap::Parser;
use mcp::server::http::{serve, HttpConfig, OldSsePaths};

/// Serve the conformance fixtures.
#[derive(Debug, Parser)]
#[command(name = "conformance-server", version, about)]
struct Args {
    /// Serve over stdio (newline-delimited JSON-RPC) instead of HTTP.
    #[arg(long)]
    stdio: bool,
    /// HTTP port; defaults to $PORT, else 3000.
    #[arg(long)]
    port: Option<u16>,
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let args = Args::parse();
    // Logs go to stderr: on stdio, stdout carries only MCP messages.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let server = mcp_conformance::fixtures_server();
    if args.stdio {
        return mcp::server::serve_stdio(server).await;
    }
    let port = args
        .port
        .or_else(|| std::env::var("PORT").ok().and_then(|p| p.parse().ok()))
        .unwrap_or(3000);
    eprintln!("conformance-server listening on http://localhost:{port}/mcp");
    // The fixture server also speaks the deprecated 2024-11-05 HTTP+SSE transport, for old clients' tests.
    let config = HttpConfig::default().old_sse(OldSsePaths::default());
    serve(server, config, ([127, 0, 0, 1], port).into()).await
}
