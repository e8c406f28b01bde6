//! `mcp-bench stdio`: our client calling `tools/call test_simple_text` on a child process over its stdin and
//! stdout, against three servers started from this same binary in the same run:
//! - `pipe-floor`: a blocking loop that answers every line with a fixed reply (the request's id substituted),
//!   the floor any stdio server pays for the pipe and our client;
//! - `mcp`: the conformance fixtures served by `mcp_server::serve_stdio`;
//! - `rmcp`: rmcp 3.11's default stdio server (`rmcp::transport::stdio()`, Tokio's blocking-pool handles);
//!
//! plus any `--server-cmd` given. C calls run concurrently on one connection. The client runs on a Tokio
//! runtime of `--client-threads` threads (default 1), so on a 2-core machine it leaves the other core to the
//! server. Server CPU per call is read from the child's `/proc/<pid>/stat` (all its threads, live or exited).

use std::time::{Duration, Instant};

use clap::Args;
use mcp::client::transport::{ChildProcessTransport, StderrMode};
use mcp::client::{Client, VersionMode};
use serde_json::json;

use mcp_cli::load::{drive, Failure, Histogram, Outcome};

/// The tool every target serves and every call asks for.
pub(crate) const TOOL: &str = "test_simple_text";
pub(crate) const TOOL_TEXT: &str = "This is a simple text response for testing.";

#[derive(Args)]
pub struct StdioArgs {
    /// Concurrent calls on the one connection (comma-separated list allowed).
    #[arg(long, value_delimiter = ',', default_value = "1,16")]
    clients: Vec<usize>,
    /// Measured seconds per target and client count.
    #[arg(long, default_value_t = 3.0)]
    seconds: f64,
    /// Warm-up seconds per target (calls made but not recorded).
    #[arg(long, default_value_t = 0.5)]
    warmup: f64,
    /// Rounds: every target is measured once per round; ratios are computed within a round.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Worker threads of the client's runtime (1 = a current-thread runtime).
    #[arg(long, default_value_t = 1)]
    client_threads: usize,
    /// Also measure this server command (split on whitespace), e.g. `--server-cmd "node server.js"`.
    /// It must serve a `test_simple_text` tool. May be repeated.
    #[arg(long)]
    server_cmd: Vec<String>,
    /// Skip the rmcp comparison.
    #[arg(long)]
    no_rmcp: bool,
    /// Pin this process (the client) to CPU 0 and every server child to CPU 1 (with util-linux's
    /// `taskset`). Unpinned, the scheduler sometimes runs client and server on one core and sometimes on
    /// two, and on a 2-vCPU VM the same binary then measures ~110k or ~230k calls/s; pinned, every round
    /// measures the two-core case, so ratios between targets hold from round to round.
    #[arg(long)]
    pin: bool,
}

#[derive(Clone)]
struct Target {
    name: String,
    program: String,
    args: Vec<String>,
}

struct Run {
    calls: u64,
    secs: f64,
    hist: Histogram,
    server_cpu: Duration,
    client_cpu: Duration,
    errors: u64,
}

impl Run {
    fn rate(&self) -> f64 {
        self.calls as f64 / self.secs
    }
    fn per_call(&self, d: Duration) -> Duration {
        d / self.calls.max(1) as u32
    }
}

/// Run the benchmark; returns the number of failed calls.
pub fn stdio_cmd(a: StdioArgs) -> u64 {
    if a.pin {
        // Before the runtime exists: threads started later inherit the mask of the thread that starts them.
        if let Err(e) = crate::pin::pin_self() {
            eprintln!("mcp-bench stdio --pin: {e}");
            return 1;
        }
    }
    let rt = crate::client_runtime(a.client_threads);
    rt.block_on(run_all(a))
}

async fn run_all(a: StdioArgs) -> u64 {
    let exe = std::env::current_exe()
        .expect("current exe")
        .to_string_lossy()
        .into_owned();
    let own = |name: &str, sub: &str| Target {
        name: name.into(),
        program: exe.clone(),
        args: vec![sub.into()],
    };
    let mut targets = vec![own("pipe-floor", "pipe-floor"), own("mcp", "serve-stdio")];
    if !a.no_rmcp {
        targets.push(own("rmcp", "rmcp-stdio"));
    }
    for cmd in &a.server_cmd {
        let mut parts = cmd.split_whitespace().map(String::from);
        let Some(program) = parts.next() else {
            continue;
        };
        targets.push(Target {
            name: cmd.clone(),
            program,
            args: parts.collect(),
        });
    }
    if a.pin {
        for t in &mut targets {
            let [program, rest @ ..] = crate::pin::on_server_cpu();
            let mut args = rest.to_vec();
            args.push(std::mem::replace(&mut t.program, program));
            args.append(&mut t.args);
            t.args = args;
        }
    }
    println!(
        "stdio: {TOOL} on one connection per target; client runtime {} thread(s); {} s measured, {} s warm-up{}",
        a.client_threads.max(1),
        a.seconds,
        a.warmup,
        if a.pin {
            format!("; {}", crate::pin::describe())
        } else {
            String::new()
        }
    );
    if let Ok(l) = std::fs::read_to_string("/proc/loadavg") {
        println!("load average at start: {}", l.trim());
    }
    let mut errors = 0;
    // results[round][c index][target index]
    let mut results: Vec<Vec<Vec<Run>>> = Vec::new();
    for round in 0..a.rounds.max(1) {
        println!("\nround {}", round + 1);
        println!(
            "{:<14} {:>4} {:>10} {:>9} {:>9} {:>12} {:>12}",
            "target", "C", "calls/s", "p50", "p99", "server CPU", "client CPU"
        );
        let mut per_c = Vec::new();
        for &c in &a.clients {
            let mut per_t = Vec::new();
            for t in &targets {
                let r = match run_one(t, c.max(1), a.warmup, a.seconds).await {
                    Ok(r) => r,
                    Err(e) => {
                        eprintln!("{}: {e}", t.name);
                        errors += 1;
                        Run {
                            calls: 0,
                            secs: 1.0,
                            hist: Histogram::default(),
                            server_cpu: Duration::ZERO,
                            client_cpu: Duration::ZERO,
                            errors: 1,
                        }
                    }
                };
                errors += r.errors;
                println!(
                    "{:<14} {:>4} {:>10.0} {:>9} {:>9} {:>7}/call {:>7}/call",
                    t.name,
                    c,
                    r.rate(),
                    fmt_d(r.hist.quantile(0.5)),
                    fmt_d(r.hist.quantile(0.99)),
                    fmt_d(r.per_call(r.server_cpu)),
                    fmt_d(r.per_call(r.client_cpu)),
                );
                per_t.push(r);
            }
            per_c.push(per_t);
        }
        results.push(per_c);
    }
    verdicts(&a, &results);
    errors
}

/// The targets of issue 18, per round, then their spread over the rounds.
fn verdicts(a: &StdioArgs, results: &[Vec<Vec<Run>>]) {
    const FLOOR: usize = 0;
    const MCP: usize = 1;
    const RMCP: usize = 2;
    let ci = |want: usize| a.clients.iter().position(|&c| c == want);
    let mut checks: Vec<(String, f64, bool, Vec<f64>)> = Vec::new();
    if let Some(i) = ci(16) {
        let r: Vec<f64> = results
            .iter()
            .map(|round| round[i][MCP].rate() / round[i][FLOOR].rate())
            .collect();
        checks.push(("C=16 calls/s, mcp / pipe floor".into(), 0.7, true, r));
        if !a.no_rmcp {
            let r = results
                .iter()
                .map(|round| round[i][MCP].rate() / round[i][RMCP].rate())
                .collect();
            checks.push((
                "C=16 calls/s, mcp / rmcp default stdio".into(),
                3.0,
                true,
                r,
            ));
        }
    }
    if let Some(i) = ci(1) {
        let r = results
            .iter()
            .map(|round| {
                round[i][MCP].hist.quantile(0.5).as_secs_f64()
                    / round[i][FLOOR].hist.quantile(0.5).as_secs_f64()
            })
            .collect();
        checks.push(("C=1 p50, mcp / pipe floor".into(), 1.5, false, r));
    }
    println!("\ntargets (ratio within each round; PASS needs every round)");
    for (name, bound, at_least, ratios) in checks {
        let ok = ratios
            .iter()
            .all(|&r| if at_least { r >= bound } else { r <= bound });
        let lo = ratios.iter().cloned().fold(f64::INFINITY, f64::min);
        let hi = ratios.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let each: Vec<String> = ratios.iter().map(|r| format!("{r:.2}")).collect();
        println!(
            "  {:<42} {} {:<4} rounds [{}] spread {:.2}-{:.2}  {}",
            name,
            if at_least { ">=" } else { "<=" },
            bound,
            each.join(", "),
            lo,
            hi,
            if ok { "PASS" } else { "FAIL" }
        );
    }
}

async fn run_one(t: &Target, c: usize, warmup: f64, seconds: f64) -> Result<Run, String> {
    let transport = ChildProcessTransport::command(&t.program)
        .args(&t.args)
        .stderr(StderrMode::Null)
        .spawn()
        .map_err(|e| format!("spawn: {e}"))?;
    let pid = transport.pid().ok_or("child has no pid")?;
    let client = Client::builder()
        .version_mode(VersionMode::Legacy)
        .connect(transport)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    // One checked call: the figures mean nothing if the target does not serve the tool.
    let first = client
        .call_tool(TOOL, json!({}))
        .await
        .map_err(|e| format!("first call: {e}"))?;
    let text = serde_json::to_value(&first.content).unwrap_or_default();
    if first.is_error == Some(true) || !text.to_string().contains(TOOL_TEXT) {
        return Err(format!("unexpected result of {TOOL}: {text}"));
    }
    load(&client, c, Duration::from_secs_f64(warmup)).await;
    let server0 = proc_cpu(pid);
    let client0 = proc_cpu(std::process::id());
    let start = Instant::now();
    let (hist, errors) = load(&client, c, Duration::from_secs_f64(seconds)).await;
    let secs = start.elapsed().as_secs_f64();
    let server_cpu = proc_cpu(pid).saturating_sub(server0);
    let client_cpu = proc_cpu(std::process::id()).saturating_sub(client0);
    client.close().await;
    Ok(Run {
        calls: hist.count(),
        secs,
        hist,
        server_cpu,
        client_cpu,
        errors,
    })
}

/// `c` tasks calling back to back until `dur` has passed: the latencies of the calls that succeeded, and the
/// count of those that failed (a JSON-RPC error, `isError`, or no answer within 5 s).
async fn load(client: &Client, c: usize, dur: Duration) -> (Histogram, u64) {
    let client = client.clone();
    let report = drive(c, dur, move |_caller| {
        let client = client.clone();
        async move {
            match tokio::time::timeout(Duration::from_secs(5), client.call_tool(TOOL, json!({})))
                .await
            {
                Ok(r) => Outcome::of_call(&r),
                Err(_) => Outcome::Failed(Failure::Timeout, "no answer within 5 s".into()),
            }
        }
    })
    .await;
    let errors = report.failed();
    (report.latency, errors)
}

/// User plus system CPU of a process, all its threads including exited ones (`/proc/<pid>/stat`, in clock
/// ticks of 1/100 s: USER_HZ is 100 on Linux).
pub(crate) fn proc_cpu(pid: u32) -> Duration {
    let (user, system) = proc_cpu_split(pid);
    user + system
}

/// User and system CPU of process `pid` so far (every thread, live or exited), in 10 ms ticks.
pub(crate) fn proc_cpu_split(pid: u32) -> (Duration, Duration) {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return (Duration::ZERO, Duration::ZERO);
    };
    // The command name (field 2) may hold spaces; fields after its closing parenthesis are plain.
    let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
        return (Duration::ZERO, Duration::ZERO);
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state is field 3, so utime (14) and stime (15) are at 11 and 12 here.
    let ticks = |i: usize| {
        let n = f.get(i).and_then(|t| t.parse::<u64>().ok()).unwrap_or(0);
        Duration::from_millis(n * 10)
    };
    (ticks(11), ticks(12))
}

fn fmt_d(d: Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    if us >= 1000.0 {
        format!("{:.2}ms", us / 1000.0)
    } else {
        format!("{us:.1}µs")
    }
}

// ---------------------------------------------------------------------------------------------------------
// The children

/// `mcp-bench pipe-floor`: answer every request line with a fixed reply carrying its id, as fast as blocking
/// reads and writes allow; replies to the lines of one read leave in one write.
pub fn pipe_floor() -> std::io::Result<()> {
    use std::io::{BufRead, Write};
    let stdin = std::io::stdin();
    let mut input = std::io::BufReader::with_capacity(64 * 1024, stdin.lock());
    let mut output = std::io::stdout().lock();
    let mut line = Vec::with_capacity(1024);
    let mut out = Vec::with_capacity(64 * 1024);
    loop {
        line.clear();
        if input.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        if let Some(id) = top_level_id(&line) {
            let initialize = contains(&line, br#""method":"initialize""#);
            out.extend_from_slice(br#"{"jsonrpc":"2.0","id":"#);
            out.extend_from_slice(id);
            out.extend_from_slice(if initialize {
                br#","result":{"protocolVersion":"2025-11-25","capabilities":{"tools":{}},"serverInfo":{"name":"pipe-floor","version":"0"}}}"#.as_slice()
            } else {
                br#","result":{"content":[{"type":"text","text":"This is a simple text response for testing."}]}}"#.as_slice()
            });
            out.push(b'\n');
        }
        if input.buffer().is_empty() && !out.is_empty() {
            output.write_all(&out)?;
            output.flush()?;
            out.clear();
        }
    }
    Ok(())
}

/// The value of the first `"id":` in a line (our client writes `id` before `params`); `None` for a
/// notification. Good enough for a floor that only ever talks to our client.
fn top_level_id(line: &[u8]) -> Option<&[u8]> {
    let key = br#""id":"#;
    let at = line.windows(key.len()).position(|w| w == key)? + key.len();
    let rest = &line[at..];
    let end = rest.iter().position(|b| matches!(b, b',' | b'}'))?;
    Some(rest[..end].trim_ascii())
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// `mcp-bench serve-stdio`: the conformance fixtures over `mcp_server::serve_stdio`.
pub async fn serve_stdio() -> std::io::Result<()> {
    mcp::server::serve_stdio(mcp_conformance::fixtures_server()).await
}

/// `mcp-bench rmcp-stdio`: rmcp's default stdio server with the one tool.
pub async fn rmcp_stdio() -> std::io::Result<()> {
    use rmcp::ServiceExt;
    let running = RmcpFixture
        .serve(rmcp::transport::stdio())
        .await
        .map_err(std::io::Error::other)?;
    running.waiting().await.map_err(std::io::Error::other)?;
    Ok(())
}

#[derive(Clone)]
struct RmcpFixture;

impl rmcp::ServerHandler for RmcpFixture {
    fn get_info(&self) -> rmcp::model::ServerConfig {
        rmcp::model::ServerConfig::new(
            rmcp::model::ServerCapabilities::builder()
                .enable_tools()
                .build(),
        )
    }

    async fn call_tool(
        &self,
        request: rmcp::model::CallToolRequestParams,
        _context: rmcp::service::RequestContext<rmcp::RoleServer>,
    ) -> Result<rmcp::model::CallToolResponse, rmcp::ErrorData> {
        if request.name != TOOL {
            return Err(rmcp::ErrorData::invalid_params("unknown tool", None));
        }
        Ok(
            rmcp::model::CallToolResult::success(vec![rmcp::model::ContentBlock::text(TOOL_TEXT)])
                .into(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::top_level_id;

    #[test]
    fn floor_finds_the_id_and_skips_notifications() {
        assert_eq!(
            top_level_id(br#"{"jsonrpc":"2.0","id":42,"method":"tools/call","params":{}}"#),
            Some(&b"42"[..])
        );
        assert_eq!(
            top_level_id(br#"{"jsonrpc":"2.0","id":"a-1","method":"x"}"#),
            Some(&br#""a-1""#[..])
        );
        assert_eq!(
            top_level_id(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#),
            None
        );
    }
}
