//! Serving over this process's stdin and stdout. Logs must go to stderr: stdout carries only MCP messages.

use crate::connection::{serve_connection, ConnectionOptions};
use crate::Server;

/// Serve `server` on stdin/stdout until stdin closes.
///
/// ```no_run
/// # async fn run() -> std::io::Result<()> {
/// let server = mcp_server::Server::builder("demo", "1.0.0").build();
/// mcp_server::serve_stdio(server).await
/// # }
/// ```
pub async fn serve_stdio(server: Server) -> std::io::Result<()> {
    let stdin = tokio::io::BufReader::new(tokio::io::stdin());
    serve_connection(
        server,
        stdin,
        tokio::io::stdout(),
        ConnectionOptions::default(),
    )
    .await
}
