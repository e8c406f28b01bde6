//! An MCP endpoint mounted in an axum `Router` beside the application's own routes.
//!
//! `cargo run -p mcp-rs --example axum_mount` serves `/health` and `/mcp` on one loopback port, checks both
//! (a plain HTTP request to `/health`, an MCP client against `/mcp`), shuts down gracefully and exits 0.
//! [`McpService`] is a `tower::Service`, so `Router::route_service` takes it as it is.

use std::time::Duration;

use axum::{routing::get, Router};
use mcp::client::{transport::HttpTransport, Client};
use mcp::server::http::{HttpConfig, McpService};
use mcp::server::{Error, Server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct EchoArgs {
    /// What to send back.
    text: String,
}

/// Echo the text back.
#[mcp::tool]
async fn echo(args: EchoArgs) -> Result<String, Error> {
    Ok(args.text)
}

/// `GET path` over a fresh connection; the status line and the body.
async fn get_plain(addr: std::net::SocketAddr, path: &str) -> std::io::Result<(String, String)> {
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await?;
    let mut raw = String::new();
    s.read_to_string(&mut raw).await?;
    let status = raw.lines().next().unwrap_or_default().to_owned();
    let body = raw.split("\r\n\r\n").nth(1).unwrap_or_default().to_owned();
    Ok((status, body))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let server = Server::builder("axum-example", "1.0.0")
        .with(echo_tool)
        .build();
    let mcp_service = McpService::new(server, HttpConfig::default());
    let app = Router::new()
        .route("/health", get(|| async { "ok" }))
        .route_service("/mcp", mcp_service.clone());

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
    });

    let (status, body) = get_plain(addr, "/health").await?;
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    assert_eq!(body, "ok");
    println!("GET /health -> {status}, {body:?}");

    let client = Client::builder()
        .connect(HttpTransport::new(format!("http://{addr}/mcp"))?)
        .await?;
    let tools = client.list_all_tools().await?;
    assert_eq!(tools.len(), 1);
    assert_eq!(tools[0].name, echo_tool::NAME);
    assert_eq!(tools[0].description.as_deref(), Some("Echo the text back."));
    let r = client
        .call_tool("echo", serde_json::json!({"text": "mounted"}))
        .await?;
    assert_eq!(r.text_content(), "mounted");
    println!(
        "MCP at /mcp ({:?} era): {} -> {:?}",
        client.era(),
        tools[0].name,
        r.text_content()
    );
    client.close().await;

    // Ends the MCP streams and sessions, then lets axum finish its connections.
    mcp_service.shutdown();
    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(10), serving)
        .await
        .map_err(|_| "axum did not shut down within 10 s")???;
    println!("axum_mount: ok");
    Ok(())
}
