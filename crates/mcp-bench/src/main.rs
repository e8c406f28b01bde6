//! `mcp-bench`: throughput, latency and idle-session memory of the Streamable HTTP server in `mcp-server`,
//! measured against a raw hyper "ceiling" server in the same process.
//!
//! Everything runs in one process on 127.0.0.1: the servers and the load generator share the machine's
//! cores, which is why results are reported as a ratio to the ceiling measured the same way.
//!
//! The C=1 runs, which exist to compare latency, run on a one-thread runtime of their own shared by the
//! client and the server, so a call's latency is the CPU time of its round trip. On the multi-thread
//! runtime (`--c1-runtime shared`) the p50 at C=1 measures the scheduler instead: one worker can run the
//! client and the ceiling back to back without ever sleeping, but only while the server's work per call
//! stays tiny. On a 2-vCPU VM a 2 µs busy loop added to the ceiling's handler doubles its p50 there (the
//! two workers start handing each call to each other, and each hand-off wakes a sleeping vCPU).
//!
//! ```text
//! mcp-bench load --clients 16 --seconds 5 --era both   # C=1 is run too, for the latency comparison
//! mcp-bench idle --sessions 10000
//! mcp-bench all                                        # load C=1,16 x both eras, idle, PASS/MISS table
//! mcp-bench redis [--redis URL]                        # the same on the Redis fleet backend vs in memory
//! mcp-bench attack [--quick]                           # hostile traffic vs a well-behaved client
//! mcp-bench http-cpu                                   # server CPU/call, servers in child processes
//! mcp-bench http-ir                                    # instructions/call of those children, under valgrind
//! ```
//!
//! Each load run connects C clients (one keep-alive HTTP/1.1 connection each, `TCP_NODELAY`) to both targets,
//! warms each up, then measures in alternating slices (ceiling, mcp, mcp, ceiling, …) so background load on
//! the machine hits both alike. Besides calls/s and latency it prints the process CPU time per call, which
//! other load on the machine moves much less than calls/s.
//!
//! Every run is bounded (warm-up + duration, 5 s per request) and stops by itself. Always build with
//! `--release` for measurements. The process exits with status 1 if any request failed.

mod attack;
mod client_ir;
mod fleet;
mod http_cpu;
mod http_ir;
mod pin;
mod stdio;
mod targets;
mod wire;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::{Args, Parser, Subcommand, ValueEnum};
use mcp::server::http::ResponseMode;

use mcp_cli::load::Histogram;
use targets::{start_ceiling, start_mcp, McpOpts};
use wire::{check_call, close_session, open_session, open_session_raw, CallSpec, Conn, Era};

#[derive(Parser)]
#[command(
    name = "mcp-bench",
    version,
    about = "Benchmark the MCP Streamable HTTP server against a raw hyper ceiling (127.0.0.1 only)"
)]
struct Cli {
    /// Tokio worker threads shared by the servers and the load generator in the C>1 runs (default: one per
    /// CPU).
    #[arg(long, global = true)]
    threads: Option<usize>,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// tools/call throughput and latency, ceiling vs MCP server, per era and client count.
    Load(LoadArgs),
    /// Open N idle legacy sessions: how fast, and how much RSS each one costs.
    Idle(IdleArgs),
    /// Load at C=1 and C=16 in both eras plus idle, then a PASS/MISS table against the targets.
    All(AllArgs),
    /// The server on the Redis fleet backend against the same server in memory: load at C=1 and C=16 in
    /// both eras, Redis memory per idle session, time to open sessions, Redis commands per call, and a
    /// PASS/MISS table (a private redis-server unless `--redis URL`).
    Redis(fleet::RedisArgs),
    /// Hostile traffic (stalled connections, abandoned sessions, never-readers, listens, huge URIs) while a
    /// well-behaved client calls; exits non-zero if the client failed or slowed past the bound.
    Attack(attack::AttackArgs),
    /// tools/call over a child's stdin/stdout: our server vs a raw-pipe floor vs rmcp's default stdio server
    /// (and any `--server-cmd`), C=1 and C=16 on one connection, with a PASS/FAIL table.
    Stdio(stdio::StdioArgs),
    /// Server CPU per tools/call over HTTP, ours (both eras) against the raw hyper ceiling, each server in a
    /// child process measured on its own (`/proc/<pid>/stat`), with a PASS/FAIL line per era.
    HttpCpu(http_cpu::HttpCpuArgs),
    /// Instructions and mallocs per tools/call over HTTP of a server child run under valgrind, ours (both
    /// eras) against the raw hyper ceiling: unlike CPU time, barely moved by other load on the machine.
    HttpIr(http_ir::HttpIrArgs),
    /// Instructions and mallocs per tools/call of our client (run under valgrind), over Streamable HTTP and
    /// stdio, in both eras; the server runs outside valgrind.
    ClientIr(client_ir::ClientIrArgs),
    /// (child of `client-ir`) Our client making a given number of calls, then exiting.
    #[command(hide = true)]
    ClientChild(client_ir::ClientChildArgs),
    /// (child of `http-cpu`) Serve the MCP endpoint or the ceiling; print the address; stop when stdin closes.
    #[command(hide = true)]
    HttpChild(http_cpu::HttpChildArgs),
    /// (child of `stdio`) Answer every line on stdin with a fixed reply: the raw-pipe floor.
    #[command(hide = true)]
    PipeFloor,
    /// (child of `stdio`) Serve the conformance fixtures with `mcp_server::serve_stdio`.
    #[command(hide = true)]
    ServeStdio,
    /// (child of `stdio`) Serve the one benchmark tool with rmcp's default stdio transport.
    #[command(hide = true)]
    RmcpStdio,
}

#[derive(Args, Clone, Copy)]
struct ServerArgs {
    /// Response mode of the MCP endpoint (`auto` is the default `HttpConfig`).
    #[arg(long, value_enum, default_value_t = Mode::Auto)]
    response_mode: Mode,
    /// Turn off SSE keep-alive ticks (`HttpConfig::keepalive = None`).
    #[arg(long)]
    no_keepalive: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum Mode {
    Auto,
    Json,
    Sse,
}

impl ServerArgs {
    fn opts(self, max_sessions: usize) -> McpOpts {
        McpOpts {
            response_mode: match self.response_mode {
                Mode::Auto => ResponseMode::Auto,
                Mode::Json => ResponseMode::Json,
                Mode::Sse => ResponseMode::Sse,
            },
            keepalive: !self.no_keepalive,
            max_sessions,
            redis: None,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Only {
    Mcp,
    Ceiling,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum EraSel {
    Legacy,
    Modern,
    Both,
}

impl EraSel {
    fn eras(self) -> Vec<Era> {
        match self {
            EraSel::Legacy => vec![Era::Legacy],
            EraSel::Modern => vec![Era::Modern],
            EraSel::Both => vec![Era::Legacy, Era::Modern],
        }
    }
}

#[derive(Args)]
struct LoadArgs {
    /// Concurrent clients, each on its own keep-alive connection (comma-separated list allowed).
    #[arg(long, value_delimiter = ',', default_value = "16")]
    clients: Vec<usize>,
    /// Measured seconds per run (after the warm-up).
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// Warm-up seconds per run (calls made but not recorded).
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// Which wire to drive.
    #[arg(long, value_enum, default_value_t = EraSel::Both)]
    era: EraSel,
    /// Alternating measurement slices per run (ceiling and MCP server take turns, A B B A …).
    #[arg(long, default_value_t = 5)]
    slices: u32,
    /// Do not add a C=1 run for the p50 comparison.
    #[arg(long)]
    no_c1: bool,
    /// Drive only one target (no ratios): for profiling.
    #[arg(long, value_enum)]
    only: Option<Only>,
    /// Where the C=1 runs happen.
    #[arg(long, value_enum, default_value_t = C1Runtime::OneThread)]
    c1_runtime: C1Runtime,
    #[command(flatten)]
    server: ServerArgs,
}

/// Where the C=1 (latency) runs happen.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum C1Runtime {
    /// A one-thread runtime shared by client and server: latency is the CPU time of a round trip.
    OneThread,
    /// The multi-thread runtime of the other runs: latency includes hand-offs between workers.
    Shared,
}

#[derive(Args)]
struct IdleArgs {
    /// Legacy sessions to open.
    #[arg(long, default_value_t = 10_000)]
    sessions: usize,
    /// Connections opening sessions at once.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    #[command(flatten)]
    server: ServerArgs,
}

#[derive(Args)]
struct AllArgs {
    /// Measured seconds per load run.
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// Warm-up seconds per load run.
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// Alternating measurement slices per run (ceiling and MCP server take turns, A B B A …).
    #[arg(long, default_value_t = 5)]
    slices: u32,
    /// Legacy sessions for the idle test.
    #[arg(long, default_value_t = 10_000)]
    sessions: usize,
    /// Connections opening sessions at once.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Where the C=1 runs happen.
    #[arg(long, value_enum, default_value_t = C1Runtime::OneThread)]
    c1_runtime: C1Runtime,
    #[command(flatten)]
    server: ServerArgs,
}

fn main() {
    let cli = Cli::parse();
    // The stdio benchmark picks its own client runtime, and the floor uses none.
    let cli = match cli.cmd {
        Cmd::Stdio(a) => {
            if stdio::stdio_cmd(a) > 0 {
                eprintln!("mcp-bench: some stdio calls failed; figures are not valid");
                std::process::exit(1);
            }
            return;
        }
        Cmd::PipeFloor => {
            if let Err(e) = stdio::pipe_floor() {
                eprintln!("pipe-floor: {e}");
            }
            return;
        }
        Cmd::HttpCpu(a) => {
            if http_cpu::http_cpu_cmd(a) > 0 {
                eprintln!("mcp-bench: some HTTP calls failed; figures are not valid");
                std::process::exit(1);
            }
            return;
        }
        Cmd::HttpIr(a) => {
            if http_ir::http_ir_cmd(a) > 0 {
                std::process::exit(1);
            }
            return;
        }
        Cmd::ClientIr(a) => {
            if client_ir::client_ir_cmd(a) > 0 {
                std::process::exit(1);
            }
            return;
        }
        Cmd::ClientChild(a) => std::process::exit(i32::from(client_ir::client_child(a) > 0)),
        Cmd::HttpChild(a) => std::process::exit(i32::from(http_cpu::http_child(a) > 0)),
        _ => cli,
    };
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    if let Some(t) = cli.threads {
        rt.worker_threads(t.max(1));
    }
    let rt = rt.enable_all().build().expect("tokio runtime");
    let errors = rt.block_on(async move {
        match cli.cmd {
            Cmd::Load(a) => load_cmd(a).await,
            Cmd::Idle(a) => idle_cmd(a).await,
            Cmd::All(a) => all_cmd(a).await,
            Cmd::Redis(a) => fleet::redis_cmd(a).await,
            Cmd::Attack(a) => attack::attack_cmd(a).await,
            Cmd::ServeStdio => child_exit(stdio::serve_stdio().await),
            Cmd::RmcpStdio => child_exit(stdio::rmcp_stdio().await),
            Cmd::Stdio(_)
            | Cmd::PipeFloor
            | Cmd::HttpCpu(_)
            | Cmd::HttpIr(_)
            | Cmd::ClientIr(_)
            | Cmd::ClientChild(_)
            | Cmd::HttpChild(_) => {
                unreachable!("handled before the runtime starts")
            }
        }
    });
    if errors > 0 {
        eprintln!("mcp-bench: {errors} request(s) failed; figures are not valid");
        std::process::exit(1);
    }
}

fn child_exit(r: std::io::Result<()>) -> u64 {
    match r {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("mcp-bench: {e}");
            1
        }
    }
}

// ---------------------------------------------------------------------------------------------------------
// Memory

/// Resident set size of this process in KiB (`VmRSS`).
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// Give freed heap back to the OS so RSS deltas show live memory (glibc only).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn trim_heap() {
    extern "C" {
        fn malloc_trim(pad: usize) -> i32;
    }
    // SAFETY: glibc's malloc_trim takes no pointers and is safe to call at any time.
    unsafe {
        malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn trim_heap() {}

/// CPU time used by this process's live threads, in nanoseconds (sum of `/proc/self/task/*/schedstat`).
fn cpu_ns() -> u64 {
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    dir.filter_map(|e| e.ok())
        .filter_map(|e| std::fs::read_to_string(e.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn fmt_d(d: Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    if us < 10_000.0 {
        format!("{us:.1}µs")
    } else {
        format!("{:.2}ms", us / 1000.0)
    }
}

// ---------------------------------------------------------------------------------------------------------
// Load

struct LoadResult {
    target: &'static str,
    era: Era,
    clients: usize,
    calls: u64,
    secs: f64,
    p50: Duration,
    p99: Duration,
    errors: u64,
    first_error: Option<String>,
    rss_before: u64,
    rss_during: u64,
    /// CPU time of the whole process (server, client, runtime) during the recorded slices.
    cpu_ns: u64,
}

impl LoadResult {
    fn rate(&self) -> f64 {
        self.calls as f64 / self.secs
    }

    /// Process CPU per call (client + server): unlike calls/s, barely moved by other load on the machine.
    fn cpu_per_call(&self) -> Duration {
        Duration::from_nanos(self.cpu_ns / self.calls.max(1))
    }

    fn print(&self) {
        println!(
            "{:<8} {:<6} C={:<3} {:>9.0} calls/s  p50 {:>9}  p99 {:>9}  CPU {:>7}/call  errors {}  RSS {:.1} -> {:.1} MiB (+{:.1})",
            self.target,
            self.era.name(),
            self.clients,
            self.rate(),
            fmt_d(self.p50),
            fmt_d(self.p99),
            fmt_d(self.cpu_per_call()),
            self.errors,
            mib(self.rss_before),
            mib(self.rss_during),
            mib(self.rss_during.saturating_sub(self.rss_before)),
        );
        if let Some(e) = &self.first_error {
            println!("         first error: {e}");
        }
    }
}

struct Worker {
    conn: Conn,
    spec: CallSpec,
    hist: Histogram,
    /// Calls sent, recorded or not.
    sent: u64,
    errors: u64,
    first_error: Option<String>,
}

/// Call as fast as possible until `end`; record calls started at or after `record_from` that end by `end`.
async fn worker(mut w: Worker, record_from: Instant, end: Instant) -> Worker {
    let mut id = 1u64;
    loop {
        let start = Instant::now();
        if start >= end {
            break;
        }
        let body = w.spec.body(id);
        id += 1;
        w.sent += 1;
        let r = w.conn.post(&w.spec.headers, body).await;
        let done = Instant::now();
        match r.and_then(|r| check_call(&r)) {
            Ok(()) => {
                if start >= record_from && done <= end {
                    w.hist.record(done - start);
                }
            }
            Err(e) => {
                w.errors += 1;
                w.first_error.get_or_insert(e);
                // The connection may be unusable; make a new one rather than spin on a dead one.
                tokio::time::sleep(Duration::from_millis(10)).await;
                if let Ok(c) = w.conn.connect_like().await {
                    w.conn = c;
                }
            }
        }
    }
    w
}

/// The clients of one target in one run: `C` connections, kept open across slices.
struct ClientSet {
    target: &'static str,
    era: Era,
    workers: Vec<Worker>,
    setup_errors: u64,
    setup_error: Option<String>,
    rss_peak: u64,
    cpu_ns: u64,
}

impl ClientSet {
    /// Connect `clients` times to `addr`. `sessions`: open a real legacy session per client (the MCP
    /// server); otherwise legacy calls carry a dummy session id (the ceiling ignores it).
    async fn connect(
        target: &'static str,
        addr: SocketAddr,
        era: Era,
        clients: usize,
        sessions: bool,
    ) -> ClientSet {
        let setups: Vec<_> = (0..clients)
            .map(|_| {
                tokio::spawn(async move {
                    let mut conn = Conn::connect(addr).await?;
                    let spec = match (era, sessions) {
                        (Era::Modern, _) => CallSpec::modern(),
                        (Era::Legacy, true) => CallSpec::legacy(&open_session(&mut conn).await?),
                        (Era::Legacy, false) => CallSpec::legacy(&"A".repeat(32)),
                    };
                    Ok::<_, String>(Worker {
                        conn,
                        spec,
                        hist: Histogram::default(),
                        sent: 0,
                        errors: 0,
                        first_error: None,
                    })
                })
            })
            .collect();
        let mut set = ClientSet {
            target,
            era,
            workers: Vec::new(),
            setup_errors: 0,
            setup_error: None,
            rss_peak: 0,
            cpu_ns: 0,
        };
        for s in setups {
            match s.await.map_err(|e| e.to_string()).and_then(|r| r) {
                Ok(w) => set.workers.push(w),
                Err(e) => {
                    set.setup_errors += 1;
                    set.setup_error.get_or_insert(format!("setup: {e}"));
                }
            }
        }
        set
    }

    /// All clients call for `dur`; recorded only if `record`.
    async fn drive(&mut self, dur: Duration, record: bool) {
        let start = Instant::now();
        let end = start + dur;
        let record_from = if record { start } else { end };
        let cpu0 = cpu_ns();
        let tasks: Vec<_> = self
            .workers
            .drain(..)
            .map(|w| tokio::spawn(worker(w, record_from, end)))
            .collect();
        tokio::time::sleep_until((end - (dur / 10).min(Duration::from_millis(100))).into()).await;
        self.rss_peak = self.rss_peak.max(rss_kib());
        for t in tasks {
            match t.await {
                Ok(w) => self.workers.push(w),
                Err(e) => {
                    self.setup_errors += 1;
                    self.setup_error.get_or_insert(format!("worker: {e}"));
                }
            }
        }
        if record {
            self.cpu_ns += cpu_ns().saturating_sub(cpu0);
        }
    }

    fn result(self, clients: usize, secs: f64, rss_before: u64) -> LoadResult {
        let mut hist = Histogram::default();
        let mut errors = self.setup_errors;
        let mut first_error = self.setup_error;
        for w in &self.workers {
            hist.merge(&w.hist);
            errors += w.errors;
            if first_error.is_none() {
                first_error.clone_from(&w.first_error);
            }
        }
        LoadResult {
            target: self.target,
            era: self.era,
            clients,
            calls: hist.count(),
            secs,
            p50: hist.quantile(0.50),
            p99: hist.quantile(0.99),
            errors,
            first_error,
            rss_before,
            rss_during: self.rss_peak,
            cpu_ns: self.cpu_ns,
        }
    }
}

/// Load several targets with `clients` connections each, in alternating slices (A B B A A B …) so that
/// drifting background load hits every target alike: after one warm-up per target, `slices` rounds of
/// `dur / slices` each.
async fn run_load(
    targets: &[(&'static str, SocketAddr, bool)],
    era: Era,
    clients: usize,
    warmup: Duration,
    dur: Duration,
    slices: u32,
) -> Vec<LoadResult> {
    trim_heap();
    let rss_before = rss_kib();
    let mut sets = Vec::new();
    for &(name, addr, sessions) in targets {
        sets.push(ClientSet::connect(name, addr, era, clients, sessions).await);
    }
    for s in &mut sets {
        s.drive(warmup, false).await;
    }
    let slices = slices.max(1);
    let slice = dur / slices;
    for round in 0..slices {
        if round % 2 == 0 {
            for s in sets.iter_mut() {
                s.drive(slice, true).await;
            }
        } else {
            for s in sets.iter_mut().rev() {
                s.drive(slice, true).await;
            }
        }
    }
    let secs = (slice * slices).as_secs_f64();
    sets.into_iter()
        .map(|s| s.result(clients, secs, rss_before))
        .collect()
}

/// One call to the MCP server on `era`; its reply body is what the ceiling will send (same size).
async fn probe(addr: SocketAddr, era: Era) -> Result<Bytes, String> {
    let mut c = Conn::connect(addr).await?;
    let sid = match era {
        Era::Legacy => Some(open_session(&mut c).await?),
        Era::Modern => None,
    };
    let spec = match &sid {
        Some(s) => CallSpec::legacy(s),
        None => CallSpec::modern(),
    };
    let r = c.post(&spec.headers, spec.body(1)).await?;
    check_call(&r).map_err(|e| format!("probe {}: {e}", era.name()))?;
    if let Some(s) = sid {
        close_session(&mut c, &s).await?;
    }
    Ok(r.body)
}

/// How each load run is driven, whatever its era and client count.
#[derive(Clone)]
struct RunOpts {
    warmup: Duration,
    dur: Duration,
    server: ServerArgs,
    only: Option<Only>,
    slices: u32,
    /// What the in-memory MCP server is measured against.
    against: Against,
}

/// The reference target of a load run, measured in the same interleaved slices as the MCP server.
#[derive(Clone)]
enum Against {
    /// The raw hyper ceiling (target `ceiling`, then `mcp`).
    Ceiling,
    /// The same MCP server on this Redis backend (target `mcp`, then `redis`).
    Redis(targets::RedisBackend),
}

/// Per era and client count: the reference target (the ceiling, or the in-memory MCP server), then the one
/// compared to it (the MCP server, or the same on Redis). Returns all results in run order.
async fn load_suite(
    eras: &[Era],
    clients: &[usize],
    opts: RunOpts,
) -> Result<Vec<LoadResult>, String> {
    let RunOpts {
        warmup,
        dur,
        server,
        only,
        slices,
        against,
    } = opts;
    let mcp = start_mcp(server.opts(0)).await.map_err(|e| e.to_string())?;
    let on_redis = match &against {
        Against::Ceiling => None,
        Against::Redis(b) => Some(
            start_mcp(McpOpts {
                redis: Some(b.clone()),
                ..server.opts(0)
            })
            .await
            .map_err(|e| e.to_string())?,
        ),
    };
    let mut out = Vec::new();
    for &era in eras {
        let body = probe(mcp.addr, era).await?;
        let (reference, compared) = match &on_redis {
            None => {
                let ceiling = start_ceiling(body.clone())
                    .await
                    .map_err(|e| e.to_string())?;
                println!(
                    "-- {} era: tool result body {} bytes (ceiling sends the same bytes)",
                    era.name(),
                    body.len()
                );
                (
                    ("ceiling", ceiling.addr, false, Some(ceiling)),
                    ("mcp", mcp.addr),
                )
            }
            Some(r) => {
                let theirs = probe(r.addr, era).await?;
                println!(
                    "-- {} era: tool result body {} bytes in memory, {} on redis",
                    era.name(),
                    body.len(),
                    theirs.len()
                );
                (("mcp", mcp.addr, true, None), ("redis", r.addr))
            }
        };
        for &c in clients {
            let mut targets = Vec::new();
            if only != Some(Only::Mcp) {
                targets.push((reference.0, reference.1, reference.2));
            }
            if only != Some(Only::Ceiling) {
                targets.push((compared.0, compared.1, true));
            }
            let rs = run_load(&targets, era, c, warmup, dur, slices).await;
            for r in &rs {
                r.print();
            }
            if let [a, b] = &rs[..] {
                println!(
                    "         {}/{}: throughput {:.2}, p50 {:.2}x, p99 {:.2}x; CPU/call {}/{} {:.2}",
                    b.target,
                    a.target,
                    b.rate() / a.rate().max(1e-9),
                    b.p50.as_secs_f64() / a.p50.as_secs_f64().max(1e-12),
                    b.p99.as_secs_f64() / a.p99.as_secs_f64().max(1e-12),
                    a.target,
                    b.target,
                    a.cpu_per_call().as_secs_f64() / b.cpu_per_call().as_secs_f64().max(1e-12),
                );
            }
            out.extend(rs);
        }
        if let Some(ceiling) = reference.3 {
            ceiling.stop().await;
        }
    }
    for (name, s) in [("mcp", Some(&mcp)), ("redis", on_redis.as_ref())] {
        if let Some(svc) = s.and_then(|s| s.service.as_ref()) {
            println!(
                "-- {name} sessions left open by legacy runs: {}",
                svc.session_count()
            );
        }
    }
    mcp.stop().await;
    if let Some(r) = on_redis {
        r.stop().await;
    }
    Ok(out)
}

/// `load_suite`, with the C=1 runs on the runtime `c1` asks for (see the crate docs for why).
async fn load_runs(
    eras: &[Era],
    clients: &[usize],
    opts: RunOpts,
    c1: C1Runtime,
) -> Result<Vec<LoadResult>, String> {
    let (single, many): (Vec<usize>, Vec<usize>) = clients.iter().partition(|&&c| c == 1);
    let mut out = Vec::new();
    if !single.is_empty() {
        out.extend(match c1 {
            C1Runtime::Shared => load_suite(eras, &[1], opts.clone()).await?,
            C1Runtime::OneThread => {
                println!("(C=1 runs: client and servers on a one-thread runtime of their own)");
                let eras = eras.to_vec();
                let opts = opts.clone();
                tokio::task::spawn_blocking(move || {
                    tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .map_err(|e| e.to_string())?
                        .block_on(load_suite(&eras, &[1], opts))
                })
                .await
                .map_err(|e| e.to_string())??
            }
        });
    }
    if !many.is_empty() {
        out.extend(load_suite(eras, &many, opts).await?);
    }
    Ok(out)
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s.clamp(0.0, 600.0))
}

async fn load_cmd(a: LoadArgs) -> u64 {
    let mut clients: Vec<usize> = a.clients.iter().map(|&c| c.clamp(1, 1024)).collect();
    if !a.no_c1 && !clients.contains(&1) {
        clients.insert(0, 1);
    }
    match load_runs(
        &a.era.eras(),
        &clients,
        RunOpts {
            warmup: secs(a.warmup),
            dur: secs(a.seconds),
            server: a.server,
            only: a.only,
            slices: a.slices,
            against: Against::Ceiling,
        },
        a.c1_runtime,
    )
    .await
    {
        Ok(r) => {
            if let Some(lines) = p50_lines(&r) {
                for l in lines {
                    println!("{l}");
                }
            }
            r.iter().map(|r| r.errors).sum()
        }
        Err(e) => {
            eprintln!("load: {e}");
            1
        }
    }
}

fn p50_lines(r: &[LoadResult]) -> Option<Vec<String>> {
    let mut lines = Vec::new();
    for era in [Era::Legacy, Era::Modern] {
        let find = |t: &str| {
            r.iter()
                .find(|x| x.target == t && x.era == era && x.clients == 1)
        };
        if let (Some(c), Some(m)) = (find("ceiling"), find("mcp")) {
            lines.push(format!(
                "p50 at C=1 ({}): mcp {} vs ceiling {} = {:.2}x",
                era.name(),
                fmt_d(m.p50),
                fmt_d(c.p50),
                m.p50.as_secs_f64() / c.p50.as_secs_f64().max(1e-12)
            ));
        }
    }
    (!lines.is_empty()).then_some(lines)
}

// ---------------------------------------------------------------------------------------------------------
// Idle sessions

struct IdleResult {
    sessions: usize,
    opened: u64,
    errors: u64,
    first_error: Option<String>,
    secs: f64,
    count: usize,
    rss_before: u64,
    rss_after: u64,
    rss_after_trimmed: u64,
    /// Seconds the ceiling takes for the same POSTs at the same concurrency.
    ceiling_secs: f64,
    /// Redis `used_memory` before and after the sessions were opened (a Redis-backed server).
    redis_memory: Option<(u64, u64)>,
}

impl IdleResult {
    fn kib_per_session(&self, after: u64) -> f64 {
        after.saturating_sub(self.rss_before) as f64 / self.opened.max(1) as f64
    }

    /// Redis memory per session opened, in bytes (a Redis-backed server).
    fn redis_bytes_per_session(&self) -> Option<f64> {
        self.redis_memory
            .map(|(b, a)| a.saturating_sub(b) as f64 / self.opened.max(1) as f64)
    }

    fn print(&self) {
        println!(
            "idle: opened {}/{} legacy sessions in {:.3} s ({:.0} sessions/s), errors {}, session_count() = {}",
            self.opened,
            self.sessions,
            self.secs,
            self.opened as f64 / self.secs.max(1e-9),
            self.errors,
            self.count
        );
        println!(
            "idle: the ceiling takes {:.3} s for the same {} POSTs ({:.0} pairs/s)",
            self.ceiling_secs,
            2 * self.sessions,
            self.sessions as f64 / self.ceiling_secs.max(1e-9)
        );
        println!(
            "idle: RSS {:.1} -> {:.1} MiB = {:.2} KiB/session (after malloc_trim: {:.1} MiB = {:.2} KiB/session)",
            mib(self.rss_before),
            mib(self.rss_after),
            self.kib_per_session(self.rss_after),
            mib(self.rss_after_trimmed),
            self.kib_per_session(self.rss_after_trimmed),
        );
        if let (Some((before, after)), Some(per)) =
            (self.redis_memory, self.redis_bytes_per_session())
        {
            println!(
                "idle: Redis used_memory {:.1} -> {:.1} MiB = {per:.0} bytes/session",
                before as f64 / (1 << 20) as f64,
                after as f64 / (1 << 20) as f64,
            );
        }
        if let Some(e) = &self.first_error {
            println!("idle: first error: {e}");
        }
    }
}

/// Open `n` legacy sessions over `conc` connections and leave them idle: how long it takes, and what they
/// cost in this process's RSS (and in Redis's memory, when `redis` backs the server).
async fn run_idle(
    n: usize,
    conc: usize,
    server: ServerArgs,
    redis: Option<&fleet::RedisUnderTest>,
) -> Result<IdleResult, String> {
    let conc = conc.clamp(1, 256).min(n.max(1));
    let opts = McpOpts {
        redis: redis.map(|r| r.backend.clone()),
        ..server.opts(n)
    };
    let srv = start_mcp(opts).await.map_err(|e| e.to_string())?;
    let svc = srv.service.clone().expect("mcp service");
    // Connect and warm every connection (one session opened and deleted) so the baseline already holds
    // the connections, their buffers and the runtime's allocator arenas.
    let mut conns = Vec::new();
    for _ in 0..conc {
        let mut c = Conn::connect(srv.addr).await?;
        let sid = open_session(&mut c).await?;
        close_session(&mut c, &sid).await?;
        conns.push(c);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    trim_heap();
    let rss_before = rss_kib();
    let redis_before = match redis {
        Some(r) => Some(r.used_memory().await?),
        None => None,
    };
    let t0 = Instant::now();
    let tasks: Vec<_> = conns
        .into_iter()
        .enumerate()
        .map(|(i, mut c)| {
            let share = n / conc + usize::from(i < n % conc);
            tokio::spawn(async move {
                let (mut opened, mut errors, mut first) = (0u64, 0u64, None);
                for _ in 0..share {
                    // The id is dropped at once: the client keeps no per-session state.
                    match open_session(&mut c).await {
                        Ok(_) => opened += 1,
                        Err(e) => {
                            errors += 1;
                            first.get_or_insert(e);
                        }
                    }
                }
                (c, opened, errors, first)
            })
        })
        .collect();
    let mut conns = Vec::new();
    let (mut opened, mut errors, mut first_error) = (0, 0, None);
    for t in tasks {
        let (c, o, e, f) = t.await.map_err(|e| e.to_string())?;
        conns.push(c);
        opened += o;
        errors += e;
        if first_error.is_none() {
            first_error = f;
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    // Sessions and connections stay open and idle; measure with the same connections as the baseline.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let count = svc.session_count();
    let rss_after = rss_kib();
    let redis_memory = match (redis, redis_before) {
        (Some(r), Some(before)) => Some((before, r.used_memory().await?)),
        _ => None,
    };
    trim_heap();
    let rss_after_trimmed = rss_kib();
    drop(conns);
    srv.stop().await;
    let ceiling_secs = ceiling_opens(n, conc).await?;
    Ok(IdleResult {
        ceiling_secs,
        sessions: n,
        opened,
        errors,
        first_error,
        secs,
        count,
        rss_before,
        rss_after,
        rss_after_trimmed,
        redis_memory,
    })
}

/// Time `n` initialize + initialized POST pairs against the ceiling over `conc` connections.
async fn ceiling_opens(n: usize, conc: usize) -> Result<f64, String> {
    let srv = start_ceiling(Bytes::from_static(b"{}"))
        .await
        .map_err(|e| e.to_string())?;
    let mut conns = Vec::new();
    for _ in 0..conc {
        let mut c = Conn::connect(srv.addr).await?;
        open_session_raw(&mut c).await?;
        conns.push(c);
    }
    let t0 = Instant::now();
    let tasks: Vec<_> = conns
        .into_iter()
        .enumerate()
        .map(|(i, mut c)| {
            let share = n / conc + usize::from(i < n % conc);
            tokio::spawn(async move {
                for _ in 0..share {
                    open_session_raw(&mut c).await?;
                }
                Ok::<_, String>(())
            })
        })
        .collect();
    for t in tasks {
        t.await.map_err(|e| e.to_string())??;
    }
    let secs = t0.elapsed().as_secs_f64();
    srv.stop().await;
    Ok(secs)
}

async fn idle_cmd(a: IdleArgs) -> u64 {
    match run_idle(
        a.sessions.clamp(1, 1_000_000),
        a.concurrency,
        a.server,
        None,
    )
    .await
    {
        Ok(r) => {
            r.print();
            r.errors
        }
        Err(e) => {
            eprintln!("idle: {e}");
            1
        }
    }
}

// ---------------------------------------------------------------------------------------------------------
// All

/// `/proc/loadavg`'s first three fields: other work on the machine skews every figure.
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

async fn all_cmd(a: AllArgs) -> u64 {
    let t0 = Instant::now();
    println!("load average before: {}", loadavg());
    // Idle first, while the heap is fresh: freed memory from the load runs would hide per-session growth.
    println!("== idle ({} sessions) ==", a.sessions);
    let idle = match run_idle(
        a.sessions.clamp(1, 1_000_000),
        a.concurrency,
        a.server,
        None,
    )
    .await
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("idle: {e}");
            return 1;
        }
    };
    idle.print();
    println!("== load ==");
    let loads = match load_runs(
        &[Era::Legacy, Era::Modern],
        &[1, 16],
        RunOpts {
            warmup: secs(a.warmup),
            dur: secs(a.seconds),
            server: a.server,
            only: None,
            slices: a.slices,
            against: Against::Ceiling,
        },
        a.c1_runtime,
    )
    .await
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("load: {e}");
            return 1;
        }
    };
    let find = |t: &str, era: Era, c: usize| {
        loads
            .iter()
            .find(|x| x.target == t && x.era == era && x.clients == c)
    };
    let verdict = |ok: bool| if ok { "PASS" } else { "MISS" };
    println!(
        "== summary ({:.0} s; load average now {}) ==",
        t0.elapsed().as_secs_f64(),
        loadavg()
    );
    println!("{:<46} {:<34} result", "target", "measured");
    for era in [Era::Legacy, Era::Modern] {
        if let (Some(c), Some(m)) = (find("ceiling", era, 16), find("mcp", era, 16)) {
            let ratio = m.rate() / c.rate().max(1e-9);
            println!(
                "{:<46} {:<34} {}",
                format!("{} C=16 throughput >= 0.60 x ceiling", era.name()),
                format!("{ratio:.2} ({:.0} / {:.0} calls/s)", m.rate(), c.rate()),
                verdict(ratio >= 0.6)
            );
        }
    }
    for era in [Era::Legacy, Era::Modern] {
        if let (Some(c), Some(m)) = (find("ceiling", era, 1), find("mcp", era, 1)) {
            let ratio = m.p50.as_secs_f64() / c.p50.as_secs_f64().max(1e-12);
            println!(
                "{:<46} {:<34} {}",
                format!("{} C=1 p50 <= 2 x ceiling p50", era.name()),
                format!("{ratio:.2}x ({} / {})", fmt_d(m.p50), fmt_d(c.p50)),
                verdict(ratio <= 2.0)
            );
        }
    }
    let per = idle.kib_per_session(idle.rss_after);
    println!(
        "{:<46} {:<34} {}",
        format!("idle legacy session <= 2 KiB @ {}", idle.sessions),
        format!(
            "{per:.2} KiB ({:.2} after trim)",
            idle.kib_per_session(idle.rss_after_trimmed)
        ),
        verdict(per <= 2.0 && idle.opened as usize == idle.sessions)
    );
    println!(
        "{:<46} {:<34} {}",
        format!("open {} sessions in < 0.5 s", idle.sessions),
        format!("{:.3} s (ceiling {:.3} s)", idle.secs, idle.ceiling_secs),
        verdict(idle.secs < 0.5 && idle.opened as usize == idle.sessions)
    );
    let errors = idle.errors + loads.iter().map(|r| r.errors).sum::<u64>();
    println!(
        "{:<46} {:<34} {}",
        "no request errors",
        errors.to_string(),
        verdict(errors == 0)
    );
    errors
}

/// The load generator's runtime: one thread is a current-thread runtime (no hand-offs between workers).
/// Run a measurement on a one-thread runtime: 0, or 1 after printing why it failed.
pub(crate) fn run_measurement(
    name: &str,
    measurement: impl std::future::Future<Output = Result<(), String>>,
) -> u64 {
    match client_runtime(1).block_on(measurement) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("{name}: {e}");
            1
        }
    }
}

pub(crate) fn client_runtime(threads: usize) -> tokio::runtime::Runtime {
    let mut rt = if threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(threads);
        b
    };
    rt.enable_all().build().expect("tokio runtime")
}
