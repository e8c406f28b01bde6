//! Child-process transport: a real MCP server as a child, and `sh` scripts that prove the shutdown order
//! (close stdin → wait → SIGTERM → wait → SIGKILL) and that the child is always reaped.
#![cfg(unix)]

use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mcp_client::transport::{ChildProcessTransport, ShutdownStage, StderrMode, Transport};
use mcp_client::Client;
use mcp_protocol::Era;
use serde_json::json;

fn sh(script: &str) -> mcp_client::transport::ChildProcessBuilder {
    ChildProcessTransport::command("sh").arg("-c").arg(script)
}

/// Whether a process is gone (reaped) — not running and not a zombie.
fn reaped(pid: u32) -> bool {
    !std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// Stderr lines as a channel: a test waits for what the child says instead of guessing how long it takes.
fn line_channel() -> (StderrMode, tokio::sync::mpsc::UnboundedReceiver<String>) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    (
        StderrMode::Lines(Arc::new(move |l| {
            let _ = tx.send(l);
        })),
        rx,
    )
}

async fn next_line(rx: &mut tokio::sync::mpsc::UnboundedReceiver<String>) -> Option<String> {
    tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("the child said nothing")
}

fn lines() -> (StderrMode, Arc<Mutex<Vec<String>>>) {
    let captured = Arc::new(Mutex::new(Vec::new()));
    let c = captured.clone();
    (
        StderrMode::Lines(Arc::new(move |l| c.lock().unwrap().push(l))),
        captured,
    )
}

#[tokio::test]
async fn a_child_that_exits_at_eof_is_stopped_by_closing_stdin() {
    let (mode, err) = lines();
    let t = sh("cat >/dev/null; echo bye >&2")
        .stderr(mode)
        .spawn()
        .unwrap();
    let pid = t.pid().unwrap();
    let start = Instant::now();
    let report = t.shutdown().await;
    assert_eq!(report.stage, ShutdownStage::ExitedOnEof);
    assert!(report.status.unwrap().success());
    assert!(start.elapsed() < Duration::from_secs(1));
    assert!(reaped(pid));
    assert_eq!(err.lock().unwrap().clone(), ["bye"]);
}

#[tokio::test]
async fn a_child_that_ignores_eof_gets_sigterm_after_the_grace_period() {
    let dir = std::env::temp_dir().join(format!("mcp-client-term-{}", std::process::id()));
    let mark = dir.with_extension("mark");
    let _ = std::fs::remove_file(&mark);
    let script = format!(
        "trap 'echo term > {}; exit 0' TERM; echo ready >&2; while :; do sleep 0.02; done",
        mark.display()
    );
    let (mode, mut err) = line_channel();
    let t = sh(&script)
        .shutdown_grace(Duration::from_millis(300), Duration::from_secs(3))
        .stderr(mode)
        .spawn()
        .unwrap();
    let pid = t.pid().unwrap();
    // The trap is installed.
    assert_eq!(next_line(&mut err).await.as_deref(), Some("ready"));
    let start = Instant::now();
    let report = t.shutdown().await;
    let took = start.elapsed();
    assert_eq!(report.stage, ShutdownStage::Terminated);
    assert!(
        took >= Duration::from_millis(300),
        "SIGTERM only after the EOF grace: {took:?}"
    );
    assert!(took < Duration::from_secs(2), "{took:?}");
    assert_eq!(std::fs::read_to_string(&mark).unwrap().trim(), "term");
    assert!(reaped(pid));
    let _ = std::fs::remove_file(&mark);
}

#[tokio::test]
async fn a_child_that_ignores_sigterm_is_killed_and_reaped() {
    let (mode, mut err) = line_channel();
    let t = sh("trap '' TERM; echo ready >&2; while :; do sleep 0.02; done")
        .shutdown_grace(Duration::from_millis(200), Duration::from_millis(300))
        .stderr(mode)
        .spawn()
        .unwrap();
    let pid = t.pid().unwrap();
    assert_eq!(next_line(&mut err).await.as_deref(), Some("ready"));
    let start = Instant::now();
    let report = t.shutdown().await;
    let took = start.elapsed();
    assert_eq!(report.stage, ShutdownStage::Killed);
    assert_eq!(report.status.unwrap().signal(), Some(libc_sigkill()));
    assert!(
        took >= Duration::from_millis(500),
        "EOF grace + TERM grace first: {took:?}"
    );
    assert!(reaped(pid), "no zombie left behind");
    // Shutting down again reports the same thing.
    assert_eq!(t.shutdown().await.stage, ShutdownStage::Killed);
}

fn libc_sigkill() -> i32 {
    9
}

#[tokio::test]
async fn env_cwd_and_stderr_capture() {
    let (mode, mut err) = line_channel();
    let t = sh("echo \"$MCP_TEST_VAR $(pwd)\" >&2; cat >/dev/null")
        .env("MCP_TEST_VAR", "hello")
        .current_dir("/")
        .stderr(mode)
        .spawn()
        .unwrap();
    assert_eq!(next_line(&mut err).await.as_deref(), Some("hello /"));
    t.close().await.unwrap();
    assert!(err.try_recv().is_err(), "one line only");
}

#[tokio::test]
async fn dropping_the_transport_kills_the_child() {
    let t = sh("trap '' TERM; sleep 30").spawn().unwrap();
    let pid = t.pid().unwrap();
    drop(t);
    let start = Instant::now();
    loop {
        let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok();
        // Gone, or killed and awaiting tokio's background reaper.
        if state
            .as_deref()
            .is_none_or(|s| s.split(' ').nth(2) == Some("Z"))
        {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "child still running: {state:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn example_server() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap();
    let path = dir.join("examples").join("echo_stdio_server");
    if !path.exists() {
        // `cargo test -p mcp-rs-client` builds examples; `--test child` alone does not.
        let status = std::process::Command::new(env!("CARGO"))
            .args([
                "build",
                "-q",
                "-p",
                "mcp-rs-client",
                "--example",
                "echo_stdio_server",
            ])
            .env("CARGO_TARGET_DIR", dir.parent().unwrap())
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .unwrap();
        assert!(
            status.success() && path.exists(),
            "could not build {}",
            path.display()
        );
    }
    path
}

#[tokio::test]
async fn a_real_server_as_a_child_process() {
    let (mode, err) = lines();
    let t = Arc::new(
        ChildProcessTransport::command(example_server())
            .stderr(mode)
            .spawn()
            .unwrap(),
    );
    let pid = t.pid().unwrap();
    let client = Client::builder().connect_shared(t.clone()).await.unwrap();
    assert_eq!(client.era(), Era::Modern);
    assert_eq!(client.server_info().unwrap().name, "stdio-example");
    let r = client
        .call_tool("echo", json!({"text": "over a pipe"}))
        .await
        .unwrap();
    assert_eq!(r.text_content(), "over a pipe");
    client.close().await;
    let report = t.shutdown_report().unwrap();
    assert_eq!(
        report.stage,
        ShutdownStage::ExitedOnEof,
        "a well-behaved server exits at EOF"
    );
    assert!(reaped(pid));
    let err = err.lock().unwrap().clone();
    assert!(err.iter().any(|l| l.contains("starting")), "{err:?}");
}

#[tokio::test]
async fn dropping_the_client_still_shuts_the_child_down_gracefully() {
    let t = Arc::new(
        ChildProcessTransport::command(example_server())
            .stderr(StderrMode::Null)
            .spawn()
            .unwrap(),
    );
    let pid = t.pid().unwrap();
    let client = Client::builder().connect_shared(t.clone()).await.unwrap();
    client.list_all_tools().await.unwrap();
    drop(client);
    let start = Instant::now();
    while t.shutdown_report().is_none() {
        assert!(start.elapsed() < Duration::from_secs(5));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        t.shutdown_report().unwrap().stage,
        ShutdownStage::ExitedOnEof
    );
    assert!(reaped(pid));
}
