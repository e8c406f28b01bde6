//! A client using [`CallOptions`]: progress, a timeout and cancellation of one call.
//!
//! `cargo run -p mcp-rs --example client_call_options` serves two tools on a loopback port, then calls them:
//! once following progress, once with a timeout that expires, once cancelled after the first progress
//! report. It checks that the server's handler saw each abandoned call cancelled, and exits 0.

use std::time::Duration;

use mcp::client::{transport::HttpTransport, CallOptions, Client};
use mcp::server::http::{serve_listener, HttpConfig};
use mcp::server::{Error, RequestContext, Server};
use serde_json::json;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct CountArgs {
    /// How many steps to count.
    steps: u32,
}

/// A server whose `count` tool reports progress each step, and whose `wait` tool reports once and then runs
/// until cancelled, telling `cancelled` when it is.
fn server(cancelled: mpsc::UnboundedSender<&'static str>) -> Server {
    Server::builder("options-example", "1.0.0")
        .typed_tool(
            "count",
            "Count to `steps`, reporting progress",
            |ctx: RequestContext, args: CountArgs| async move {
                for i in 1..=args.steps {
                    ctx.progress(f64::from(i), Some(f64::from(args.steps)), None)
                        .await;
                }
                Ok::<_, Error>(format!("counted to {}", args.steps))
            },
        )
        .typed_tool(
            "wait",
            "Wait until cancelled",
            move |ctx: RequestContext, _args: serde_json::Value| {
                let cancelled = cancelled.clone();
                async move {
                    ctx.progress(0.0, None, Some("waiting".into())).await;
                    ctx.cancellation().cancelled().await;
                    let _ = cancelled.send("wait");
                    Err::<String, _>(Error::tool("cancelled"))
                }
            },
        )
        .build()
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (cancelled_tx, mut cancelled) = mpsc::unbounded_channel();
    let bound = serve_listener(
        server(cancelled_tx),
        HttpConfig::default(),
        "127.0.0.1:0".parse()?,
    )
    .await?;
    let url = format!("http://{}/mcp", bound.local_addr()?);
    tokio::spawn(bound.run());
    let client = Client::builder().connect(HttpTransport::new(url)?).await?;

    // Progress: each report of the call arrives on the channel, in order, before the result.
    let (progress_tx, mut progress) = mpsc::channel(16);
    let options = CallOptions::default().progress(progress_tx);
    let r = client
        .call_tool_with("count", json!({"steps": 3}), options)
        .await?;
    assert_eq!(r.text_content(), "counted to 3");
    let mut seen = Vec::new();
    while let Ok(p) = progress.try_recv() {
        seen.push((p.progress, p.total));
    }
    assert_eq!(seen, [(1.0, Some(3.0)), (2.0, Some(3.0)), (3.0, Some(3.0))]);
    println!("progress: {seen:?} -> {:?}", r.text_content());

    // Timeout: the call fails with `Timeout` and the server is told to stop.
    let options = CallOptions::default().timeout(Duration::from_millis(300));
    let e = client
        .call_tool_with("wait", json!({}), options)
        .await
        .expect_err("the call outlives its timeout");
    assert!(e.is_timeout(), "{e}");
    let which = tokio::time::timeout(Duration::from_secs(10), cancelled.recv()).await?;
    assert_eq!(which, Some("wait"));
    println!("timeout: {e}; the handler saw the cancellation");

    // Cancellation: cancel once the handler has reported that it is running.
    let cancel = CancellationToken::new();
    let (progress_tx, mut progress) = mpsc::channel(16);
    let options = CallOptions::default()
        .cancel(cancel.clone())
        .progress(progress_tx);
    let call = {
        let client = client.clone();
        tokio::spawn(async move { client.call_tool_with("wait", json!({}), options).await })
    };
    let first = tokio::time::timeout(Duration::from_secs(10), progress.recv()).await?;
    assert_eq!(first.and_then(|p| p.message).as_deref(), Some("waiting"));
    cancel.cancel();
    let e = call.await?.expect_err("a cancelled call fails");
    assert!(e.is_cancelled(), "{e}");
    let which = tokio::time::timeout(Duration::from_secs(10), cancelled.recv()).await?;
    assert_eq!(which, Some("wait"));
    println!("cancel: {e}; the handler saw the cancellation");

    client.close().await;
    println!("client_call_options: ok");
    Ok(())
}
