//! `mcp-bench http-cpu`: server CPU per `tools/call` over HTTP, ours (legacy and modern era) against the raw
//! hyper ceiling, with each server in a child process of its own so that its CPU can be read apart from the
//! load generator's (`/proc/<pid>/stat`: every thread, live or exited).
//!
//! The children are this binary (`mcp-bench http-child mcp|ceiling`): the same MCP endpoint and the same
//! ceiling as `mcp-bench load`, on a Tokio runtime of `--server-threads` workers. The ceiling of each era
//! answers with the exact bytes our server answers that era's call with. Targets are measured in turns
//! (ceiling, mcp, mcp, ceiling per era, reversed every other round), and the ratio is taken within a round.
//! Each server's CPU is shown split into user and system time (the kernel's share: socket reads and writes,
//! epoll). `--pin` puts the load generator on one core and every server on the other, with one worker
//! thread each, which takes the scheduler out of the ratio.

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use bytes::Bytes;
use clap::{Args, ValueEnum};
use mcp::server::http::ResponseMode;

use crate::targets::{start_ceiling, start_json_ceiling, start_mcp, start_typed_ceiling, McpOpts};
use crate::wire::Era;
use crate::{fmt_d, probe, ClientSet};

/// The target: ours at most this many times the ceiling's server CPU per call (issue 18).
const BOUND: f64 = 1.2;

#[derive(Args)]
pub struct HttpCpuArgs {
    /// Concurrent clients, each on its own keep-alive connection.
    #[arg(long, default_value_t = 16)]
    clients: usize,
    /// Measured seconds per target and round.
    #[arg(long, default_value_t = 3.0)]
    seconds: f64,
    /// Warm-up seconds per target and round (calls made but not recorded).
    #[arg(long, default_value_t = 0.5)]
    warmup: f64,
    /// Rounds: every target is measured once per round; ratios are computed within a round.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Worker threads of each server child's runtime (default: one per CPU).
    #[arg(long)]
    server_threads: Option<usize>,
    /// Worker threads of the load generator's runtime (1 = a current-thread runtime).
    #[arg(long, default_value_t = 1)]
    client_threads: usize,
    /// Which era(s) to measure.
    #[arg(long, value_enum, default_value_t = crate::EraSel::Both)]
    era: crate::EraSel,
    /// Pin the load generator to CPU 0 and every server child to CPU 1 with one worker thread (needs
    /// `taskset`). Unpinned, each server's two workers share both cores with the load generator, and how
    /// often they park, wake and steal from each other varies from round to round.
    #[arg(long)]
    pin: bool,
}

#[derive(Args)]
pub struct HttpChildArgs {
    /// What to serve.
    #[arg(value_enum)]
    kind: ChildKind,
    /// The ceiling's reply body.
    #[arg(long, default_value = "{}")]
    body: String,
    /// Worker threads (default: one per CPU).
    #[arg(long)]
    threads: Option<usize>,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ChildKind {
    Mcp,
    Ceiling,
    /// The ceiling parsing each request and serializing a JSON-RPC response with its id.
    JsonCeiling,
    /// The ceiling parsing each request into typed structs and serializing a typed result.
    TypedCeiling,
}

/// `mcp-bench http-child`: serve on 127.0.0.1:0, print the address on stdout, stop when stdin closes.
pub fn http_child(a: HttpChildArgs) -> u64 {
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    if let Some(t) = a.threads {
        rt.worker_threads(t.max(1));
    }
    let rt = rt.enable_all().build().expect("tokio runtime");
    let served = rt.block_on(async move {
        let running = match a.kind {
            ChildKind::Mcp => {
                start_mcp(McpOpts {
                    response_mode: ResponseMode::Auto,
                    keepalive: true,
                    max_sessions: 0,
                    redis: None,
                })
                .await
            }
            ChildKind::Ceiling => start_ceiling(Bytes::from(a.body)).await,
            ChildKind::JsonCeiling => start_json_ceiling(Bytes::from(a.body)).await,
            ChildKind::TypedCeiling => start_typed_ceiling(Bytes::from(a.body)).await,
        }?;
        println!("{}", running.addr);
        // Stdin closing (the parent is done, or died) is the stop signal.
        tokio::task::spawn_blocking(|| {
            let _ = std::io::stdin().read_to_end(&mut Vec::new());
        })
        .await
        .map_err(std::io::Error::other)?;
        running.stop().await;
        Ok::<_, std::io::Error>(())
    });
    match served {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("http-child: {e}");
            1
        }
    }
}

/// A server child process and its address.
pub(crate) struct ChildServer {
    child: Child,
    pub(crate) addr: SocketAddr,
}

impl ChildServer {
    pub(crate) fn start(args: &[&str], threads: Option<usize>) -> Result<Self, String> {
        Self::start_under(&[], args, threads)
    }

    /// [`ChildServer::start`], pinned to the server CPU of `--pin` if `pin`.
    fn start_pinned(pin: bool, args: &[&str], threads: Option<usize>) -> Result<Self, String> {
        let wrapper = if pin {
            crate::pin::on_server_cpu().to_vec()
        } else {
            Vec::new()
        };
        Self::start_under(&wrapper, args, threads)
    }

    /// [`ChildServer::start`] with the child run by `wrapper` (e.g. `valgrind --tool=callgrind`), if not
    /// empty.
    pub(crate) fn start_under(
        wrapper: &[String],
        args: &[&str],
        threads: Option<usize>,
    ) -> Result<Self, String> {
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let mut cmd = match wrapper.split_first() {
            Some((first, rest)) => {
                let mut c = Command::new(first);
                c.args(rest).arg(exe);
                c
            }
            None => Command::new(exe),
        };
        cmd.arg("http-child").args(args);
        if let Some(t) = threads {
            cmd.arg("--threads").arg(t.to_string());
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("spawn http-child: {e}"))?;
        let mut line = String::new();
        let out = child.stdout.take().ok_or("no stdout")?;
        BufReader::new(out)
            .read_line(&mut line)
            .map_err(|e| format!("http-child address: {e}"))?;
        let addr = line
            .trim()
            .parse()
            .map_err(|e| format!("http-child address {line:?}: {e}"))?;
        Ok(Self { child, addr })
    }

    /// Stop the child (close its stdin) and wait up to `limit` for it to exit by itself, as a child under
    /// valgrind must to write its output.
    pub(crate) fn finish(&mut self, limit: Duration) -> Result<(), String> {
        drop(self.child.stdin.take());
        let end = std::time::Instant::now() + limit;
        while std::time::Instant::now() < end {
            match self.child.try_wait() {
                Ok(Some(status)) if status.success() => return Ok(()),
                Ok(Some(status)) => return Err(format!("http-child exited with {status}")),
                Ok(None) => std::thread::sleep(Duration::from_millis(50)),
                Err(e) => return Err(format!("http-child: {e}")),
            }
        }
        Err(format!("http-child still running after {limit:?}"))
    }

    /// User and system CPU of the child so far.
    fn cpu(&self) -> (Duration, Duration) {
        crate::stdio::proc_cpu_split(self.child.id())
    }
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        // Closing stdin stops it; wait a little, then make sure.
        drop(self.child.stdin.take());
        for _ in 0..50 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Measured {
    calls: u64,
    secs: f64,
    p50: Duration,
    /// The server's user and system CPU over the measured seconds.
    server_cpu: (Duration, Duration),
    errors: u64,
    first_error: Option<String>,
}

impl Measured {
    fn per_call(&self) -> Duration {
        self.user_per_call() + self.system_per_call()
    }

    fn user_per_call(&self) -> Duration {
        self.divided(self.server_cpu.0)
    }

    fn system_per_call(&self) -> Duration {
        self.divided(self.server_cpu.1)
    }

    fn divided(&self, d: Duration) -> Duration {
        Duration::from_nanos((d.as_nanos() / u128::from(self.calls.max(1))) as u64)
    }
}

async fn measure(name: &'static str, server: &ChildServer, era: Era, a: &HttpCpuArgs) -> Measured {
    let sessions = name == "mcp";
    let mut set = ClientSet::connect(name, server.addr, era, a.clients, sessions).await;
    set.drive(crate::secs(a.warmup), false).await;
    let cpu0 = server.cpu();
    let dur = crate::secs(a.seconds);
    set.drive(dur, true).await;
    let cpu1 = server.cpu();
    let server_cpu = (cpu1.0.saturating_sub(cpu0.0), cpu1.1.saturating_sub(cpu0.1));
    let r = set.result(a.clients, dur.as_secs_f64(), 0);
    Measured {
        calls: r.calls,
        secs: r.secs,
        p50: r.p50,
        server_cpu,
        errors: r.errors,
        first_error: r.first_error,
    }
}

/// Run the benchmark; returns the number of failed requests.
pub fn http_cpu_cmd(mut a: HttpCpuArgs) -> u64 {
    if a.pin {
        if let Err(e) = crate::pin::pin_self() {
            eprintln!("mcp-bench http-cpu --pin: {e}");
            return 1;
        }
        a.server_threads = Some(1);
    }
    let rt = crate::client_runtime(a.client_threads);
    match rt.block_on(run(&a)) {
        Ok(errors) => errors,
        Err(e) => {
            eprintln!("http-cpu: {e}");
            1
        }
    }
}

async fn run(a: &HttpCpuArgs) -> Result<u64, String> {
    println!(
        "http-cpu: tools/call, C={} (one keep-alive connection each), {} s measured per target and round; \
         servers in child processes ({} worker threads each), load generator {} thread(s)",
        a.clients,
        a.seconds,
        a.server_threads
            .map_or_else(|| "one per CPU".into(), |t| t.to_string()),
        a.client_threads.max(1)
    );
    println!("load average at start: {}", crate::loadavg());
    if a.pin {
        println!("{} (one worker thread)", crate::pin::describe());
    }
    let mcp = ChildServer::start_pinned(a.pin, &["mcp"], a.server_threads)?;
    let eras = a.era.eras();
    let (mut ceilings, mut json_ceilings, mut typed_ceilings) =
        (Vec::new(), Vec::new(), Vec::new());
    for &era in &eras {
        let body = probe(mcp.addr, era).await?;
        let body = String::from_utf8(body.to_vec()).map_err(|e| e.to_string())?;
        println!("{} reply: {} bytes", era.name(), body.len());
        ceilings.push(ChildServer::start_pinned(
            a.pin,
            &["ceiling", "--body", &body],
            a.server_threads,
        )?);
        json_ceilings.push(ChildServer::start_pinned(
            a.pin,
            &["json-ceiling", "--body", &body],
            a.server_threads,
        )?);
        typed_ceilings.push(ChildServer::start_pinned(
            a.pin,
            &["typed-ceiling", "--body", &body],
            a.server_threads,
        )?);
    }
    let mut errors = 0;
    // ratios[era index] = mcp / ceiling server CPU per call, one per round; to_json: mcp / JSON-RPC ceiling.
    let mut ratios = vec![Vec::new(); eras.len()];
    let mut to_json = vec![Vec::new(); eras.len()];
    // json_to_raw: the JSON-RPC ceiling / raw hyper, how much of the bound parsing and serializing alone use.
    let mut json_to_raw = vec![Vec::new(); eras.len()];
    // The same two for the typed JSON-RPC ceiling (a typed message model's floor).
    let mut to_typed = vec![Vec::new(); eras.len()];
    let mut typed_to_raw = vec![Vec::new(); eras.len()];
    for round in 0..a.rounds.max(1) {
        println!("\nround {}", round + 1);
        println!(
            "{:<8} {:<7} {:>10} {:>9} {:>14} {:>9} {:>9}",
            "target", "era", "calls/s", "p50", "server CPU", "user", "system"
        );
        for (i, &era) in eras.iter().enumerate() {
            // (slot in per_call, name, server)
            let mut order = [
                (0, "ceiling", &ceilings[i]),
                (1, "json", &json_ceilings[i]),
                (2, "typed", &typed_ceilings[i]),
                (3, "mcp", &mcp),
            ];
            if round % 2 == 1 {
                order.reverse();
            }
            let mut per_call = [Duration::ZERO; 4];
            for (slot, name, server) in order {
                let m = measure(name, server, era, a).await;
                errors += m.errors;
                println!(
                    "{:<8} {:<7} {:>10.0} {:>9} {:>9}/call {:>9} {:>9}",
                    name,
                    era.name(),
                    m.calls as f64 / m.secs,
                    fmt_d(m.p50),
                    fmt_d(m.per_call()),
                    fmt_d(m.user_per_call()),
                    fmt_d(m.system_per_call()),
                );
                if let Some(e) = &m.first_error {
                    println!("         first error: {e}");
                }
                per_call[slot] = m.per_call();
            }
            let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64().max(1e-12);
            let (r, j, t) = (
                ratio(per_call[3], per_call[0]),
                ratio(per_call[3], per_call[1]),
                ratio(per_call[3], per_call[2]),
            );
            println!(
                "         {} mcp/ceiling server CPU per call: {r:.2} (mcp/JSON-RPC ceiling {j:.2}, typed {t:.2})",
                era.name()
            );
            ratios[i].push(r);
            to_json[i].push(j);
            json_to_raw[i].push(ratio(per_call[1], per_call[0]));
            to_typed[i].push(t);
            typed_to_raw[i].push(ratio(per_call[2], per_call[0]));
        }
    }
    println!("\nload average at end: {}", crate::loadavg());
    println!("targets (server CPU per call, ratio within each round; PASS needs every round)");
    for (i, era) in eras.iter().enumerate() {
        let rs = &ratios[i];
        let each: Vec<String> = rs.iter().map(|r| format!("{r:.2}")).collect();
        let mut sorted = rs.clone();
        sorted.sort_by(f64::total_cmp);
        let ok = rs.iter().all(|&r| r <= BOUND);
        println!(
            "  {:<7} C={} mcp / raw hyper <= {BOUND}  rounds [{}] median {:.2}  {}",
            era.name(),
            a.clients,
            each.join(", "),
            sorted[sorted.len() / 2],
            if ok { "PASS" } else { "FAIL" }
        );
    }
    println!(
        "for reference (no target): the JSON-RPC ceilings also parse each request and serialize a response, \
         through a Value (JSON-RPC) or typed structs (typed)"
    );
    let rounds = |rs: &[f64]| {
        rs.iter()
            .map(|r| format!("{r:.2}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    for (i, era) in eras.iter().enumerate() {
        for (label, series) in [
            ("mcp / JSON-RPC ceiling", &to_json),
            ("JSON-RPC ceiling / raw hyper", &json_to_raw),
            ("mcp / typed ceiling", &to_typed),
            ("typed ceiling / raw hyper", &typed_to_raw),
        ] {
            println!(
                "  {:<7} C={} {label:<28} rounds [{}]",
                era.name(),
                a.clients,
                rounds(&series[i])
            );
        }
    }
    Ok(errors)
}
