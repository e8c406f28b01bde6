//! `conformance-server`: every fixture of the official conformance suite, over Streamable HTTP at
//! `http://localhost:$PORT/mcp` (PORT defaults to 3000), or over stdio with `--stdio`. Once it listens it says
//! `conformance-server listening on http://localhost:PORT/mcp` on stderr (`--port 0`: on a free port, named
//! there).
//!
//! As one node of a fleet (see `.ci/fleet.sh`), from the environment:
//! - `MCP_REDIS_URL` (`redis://host:port/db`): sessions, stream events, messages between nodes and task
//!   records live in that Redis, so any node serves any request;
//! - `MCP_STATE_KEY`: the `requestState` HMAC key every node shares, as hex (at least 32 bytes), so a
//!   2026-07-28 `input_required` retry may land on any node;
//! - `MCP_SESSION_IDLE_SECS`: how long an idle legacy session lives (default 30 minutes), for tests of
//!   expiry.
//!
//! Unset, the server keeps everything in memory and seals with a random key, as a single process should.
//! A malformed value is refused with a one-line error and exit code 2.

use std::process::ExitCode;

use clap::Parser;
use mcp::server::http::{serve_listener, HttpConfig, OldSsePaths};
use mcp::server::StateKey;

/// Serve the conformance fixtures.
#[derive(Debug, Parser)]
#[command(name = "conformance-server", version, about)]
struct Args {
    /// Serve over stdio (newline-delimited JSON-RPC) instead of HTTP.
    #[arg(long)]
    stdio: bool,
    /// HTTP port (0: a free one, named on stderr once listening); defaults to $PORT, else 3000.
    #[arg(long)]
    port: Option<u16>,
}

/// Decode `MCP_STATE_KEY` (hex, at least 32 bytes), naming the variable in the error.
fn parse_state_key(hex: &str) -> Result<StateKey, String> {
    StateKey::from_hex(hex).map_err(|e| format!("MCP_STATE_KEY: {e}"))
}

/// An environment variable that is set (to anything but the empty string).
fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// Serve on `port` (0: a free one), saying where once it listens: a harness that started it with port 0
/// reads the port from that line.
async fn serve_http(
    server: mcp::server::Server,
    config: HttpConfig,
    port: u16,
    backend: &str,
) -> std::io::Result<()> {
    let bound = serve_listener(server, config, ([127, 0, 0, 1], port).into()).await?;
    let port = bound.local_addr()?.port();
    eprintln!("conformance-server listening on http://localhost:{port}/mcp{backend}");
    bound.run().await
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    // Logs go to stderr: on stdio, stdout carries only MCP messages.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    // Configuration errors are one line and exit 2 (as clap's usage errors), before anything is served.
    let usage = |msg: String| {
        eprintln!("conformance-server: {msg}");
        ExitCode::from(2)
    };
    let state_key = match env("MCP_STATE_KEY")
        .map(|k| parse_state_key(&k))
        .transpose()
    {
        Ok(k) => k,
        Err(e) => return usage(e),
    };
    let idle = match env("MCP_SESSION_IDLE_SECS")
        .map(|s| match s.trim().parse::<u64>() {
            Ok(n) if n > 0 => Ok(std::time::Duration::from_secs(n)),
            _ => Err(format!(
                "MCP_SESSION_IDLE_SECS must be a whole number of seconds > 0, not {s:?}"
            )),
        })
        .transpose()
    {
        Ok(d) => d,
        Err(e) => return usage(e),
    };
    let redis = match env("MCP_REDIS_URL")
        .map(|url| mcp_redis::Redis::open(&url).map_err(|e| format!("MCP_REDIS_URL: {e}")))
        .transpose()
    {
        Ok(r) => r,
        Err(e) => return usage(e),
    };

    let server = mcp_conformance::fixtures_server_with(|mut b| {
        if let Some(key) = state_key {
            b = b.state_key(key);
        }
        if let Some(redis) = &redis {
            b = b.task_store(redis.task_store());
        }
        b
    });
    let result = if args.stdio {
        mcp::server::serve_stdio(server).await
    } else {
        let port = args
            .port
            .or_else(|| std::env::var("PORT").ok().and_then(|p| p.parse().ok()))
            .unwrap_or(3000);
        // The fixture server also speaks the deprecated 2024-11-05 HTTP+SSE transport, for old clients' tests.
        let mut config = HttpConfig::default().old_sse(OldSsePaths::default());
        if let Some(idle) = idle {
            // Before the Redis backend is configured: its stream events live as long as an idle session.
            config = config.session_idle_timeout(idle);
        }
        if let Some(redis) = &redis {
            config = redis.configure(config);
        }
        let backend = if redis.is_some() { " (redis)" } else { "" };
        serve_http(server, config, port, backend).await
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("conformance-server: {e}");
            ExitCode::FAILURE
        }
    }
}
