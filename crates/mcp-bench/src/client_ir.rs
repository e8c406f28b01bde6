//! `mcp-bench client-ir`: instructions (and `malloc` calls) per `tools/call` of our client, over Streamable
//! HTTP and over stdio, in both eras. The client runs in a child process under valgrind (`client-child`);
//! the server it calls runs outside it (an `http-child mcp`, or the `serve-stdio` child the client spawns,
//! which valgrind does not follow), so the figures are the client's alone.
//!
//! As in `http-ir`, each case runs twice, `--base` calls and then `--base + --calls`, with the same C callers
//! on one connection; the per-call figure is the difference of the totals divided by `--calls`, so start-up,
//! the handshake and shutdown cancel out. The output files are kept (`--out`) for `callgrind_annotate`.
//!
//! ```text
//! mcp-bench client-ir --calls 2000
//! mcp-bench client-ir --transport http --era modern
//! ```

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, ValueEnum};
use mcp::client::transport::{ChildProcessTransport, HttpTransport, StderrMode};
use mcp::client::{Client, VersionMode};
use mcp::protocol::Era as ProtocolEra;
use serde_json::json;

use crate::http_cpu::ChildServer;
use crate::http_ir::{read_totals, DiffRuns};
use crate::wire::Era;
use crate::EraSel;

#[derive(Args)]
pub struct ClientIrArgs {
    #[command(flatten)]
    runs: DiffRuns,
    /// Concurrent callers, all on the client's one connection.
    #[arg(long, default_value_t = 16)]
    clients: usize,
    /// Which transport(s) to measure.
    #[arg(long, value_enum, default_value_t = TransportSel::Both)]
    transport: TransportSel,
    /// Which era(s) to measure.
    #[arg(long, value_enum, default_value_t = EraSel::Both)]
    era: EraSel,
    /// Where the callgrind output files go.
    #[arg(long, default_value = "target/client-ir")]
    out: PathBuf,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum TransportSel {
    Http,
    Stdio,
    Both,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Transport {
    Http,
    Stdio,
}

impl Transport {
    fn name(self) -> &'static str {
        match self {
            Transport::Http => "http",
            Transport::Stdio => "stdio",
        }
    }
}

/// `mcp-bench client-child`: our client making exactly `--calls` calls, then exiting (run under valgrind).
#[derive(Args)]
pub struct ClientChildArgs {
    #[arg(long, value_enum)]
    transport: Transport,
    /// `legacy` or `modern`.
    #[arg(long)]
    era: String,
    /// The server's address (HTTP).
    #[arg(long)]
    addr: Option<String>,
    #[arg(long)]
    calls: u64,
    #[arg(long, default_value_t = 16)]
    clients: usize,
}

/// Run the measurement; returns the number of failures.
pub fn client_ir_cmd(a: ClientIrArgs) -> u64 {
    crate::run_measurement("client-ir", run(&a))
}

async fn run(a: &ClientIrArgs) -> Result<(), String> {
    println!(
        "client-ir: our client's tools/call under valgrind --tool=callgrind, C={} on one connection; per call \
         = (run of {} calls - run of {}) / {}",
        a.clients,
        a.runs.base + a.runs.calls,
        a.runs.base,
        a.runs.calls
    );
    std::fs::create_dir_all(&a.out).map_err(|e| format!("{}: {e}", a.out.display()))?;
    let transports = match a.transport {
        TransportSel::Http => vec![Transport::Http],
        TransportSel::Stdio => vec![Transport::Stdio],
        TransportSel::Both => vec![Transport::Http, Transport::Stdio],
    };
    println!(
        "{:<6} {:<7} {:>10} {:>13}  files",
        "over", "era", "Ir/call", "mallocs/call"
    );
    for transport in transports {
        // The HTTP server runs at full speed outside valgrind, for every case of this transport.
        let server = match transport {
            Transport::Http => Some(ChildServer::start(&["mcp"], None)?),
            Transport::Stdio => None,
        };
        let addr = server.as_ref().map(|s| s.addr.to_string());
        for era in a.era.eras() {
            let mut runs = Vec::new();
            for calls in [a.runs.base, a.runs.base + a.runs.calls] {
                let file = a.out.join(format!(
                    "callgrind.{}.{}.{calls}",
                    transport.name(),
                    era.name()
                ));
                run_child(a, transport, era, addr.as_deref(), calls, &file)?;
                runs.push((read_totals(&file)?, file));
            }
            let (short, long) = (&runs[0], &runs[1]);
            let per = |l: u64, s: u64| l.saturating_sub(s) as f64 / a.runs.calls as f64;
            println!(
                "{:<6} {:<7} {:>10.0} {:>13.1}  {} {}",
                transport.name(),
                era.name(),
                per(long.0.ir, short.0.ir),
                per(long.0.allocs, short.0.allocs),
                short.1.display(),
                long.1.display()
            );
        }
    }
    Ok(())
}

fn run_child(
    a: &ClientIrArgs,
    transport: Transport,
    era: Era,
    addr: Option<&str>,
    calls: u64,
    file: &std::path::Path,
) -> Result<(), String> {
    let exe = std::env::current_exe().map_err(|e| format!("current exe: {e}"))?;
    let mut cmd = std::process::Command::new("valgrind");
    cmd.args(["-q", "--tool=callgrind"])
        .arg(format!("--callgrind-out-file={}", file.display()))
        .arg(exe)
        .args(["client-child", "--transport", transport.name()])
        .args(["--era", era.name()])
        .args(["--calls", &calls.to_string()])
        .args(["--clients", &a.clients.to_string()]);
    if let Some(addr) = addr {
        cmd.args(["--addr", addr]);
    }
    let out = cmd
        .output()
        .map_err(|e| format!("run valgrind (is it installed?): {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "client-child ({} {}) exited with {}: {}",
            transport.name(),
            era.name(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(())
}

/// `mcp-bench client-child`: 0 only if every call succeeded, in the era asked for.
pub fn client_child(a: ClientChildArgs) -> u64 {
    crate::run_measurement("client-child", client_calls(&a))
}

async fn client_calls(a: &ClientChildArgs) -> Result<(), String> {
    let (mode, want) = match a.era.as_str() {
        "legacy" => (VersionMode::Legacy, ProtocolEra::Legacy),
        "modern" => (VersionMode::Auto, ProtocolEra::Modern),
        other => return Err(format!("unknown era {other}")),
    };
    let builder = Client::builder().version_mode(mode);
    // The fixture each server serves: `echo` on the bench's HTTP endpoint, the conformance tools on stdio.
    let (client, tool, args, expect) = match a.transport {
        Transport::Http => {
            let addr = a.addr.as_deref().ok_or("--addr is needed over HTTP")?;
            let t = HttpTransport::new(format!("http://{addr}/mcp")).map_err(|e| e.to_string())?;
            let c = builder.connect(t).await.map_err(|e| e.to_string())?;
            (c, "echo", json!({"text": "ok"}), "echo:ok")
        }
        Transport::Stdio => {
            let exe = std::env::current_exe().map_err(|e| format!("current exe: {e}"))?;
            let t = ChildProcessTransport::command(exe)
                .args(["serve-stdio"])
                .stderr(StderrMode::Null)
                .spawn()
                .map_err(|e| format!("spawn: {e}"))?;
            let c = builder.connect(t).await.map_err(|e| e.to_string())?;
            (c, crate::stdio::TOOL, json!({}), crate::stdio::TOOL_TEXT)
        }
    };
    if client.era() != want {
        return Err(format!("connected in the {:?} era", client.era()));
    }
    // One checked call (the same in both runs, so it cancels out): the figures mean nothing if the server
    // does not answer with what the tool gives.
    let first = client
        .call_tool(tool, args.clone())
        .await
        .map_err(|e| format!("first call: {e}"))?;
    let text = serde_json::to_string(&first.content).unwrap_or_default();
    if first.is_error == Some(true) || !text.contains(expect) {
        return Err(format!("unexpected result of {tool}: {text}"));
    }
    let left = Arc::new(AtomicU64::new(a.calls));
    let failed = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..a.clients.max(1) {
        let (client, left, failed) = (client.clone(), left.clone(), failed.clone());
        let args = args.clone();
        tasks.push(tokio::spawn(async move {
            while left
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
                .is_ok()
            {
                let r = tokio::time::timeout(
                    Duration::from_secs(60),
                    client.call_tool(tool, args.clone()),
                )
                .await;
                if !matches!(&r, Ok(Ok(res)) if res.is_error != Some(true)) {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for t in tasks {
        t.await.map_err(|e| e.to_string())?;
    }
    client.close().await;
    match failed.load(Ordering::Relaxed) {
        0 => Ok(()),
        n => Err(format!("{n} of {} calls failed", a.calls)),
    }
}
