//! `mcp-bench attack`: hostile traffic against the real server over loopback, and what a well-behaved client
//! sees meanwhile.
//!
//! Every trial starts a fresh MCP server (`serve_listener` + `Bound::run_until`, `HttpConfig::default()`
//! unless the trial says otherwise) on a tokio runtime of its own, so a server whose workers are pinned by
//! an attack cannot also stop the attackers', the client's and the harness's timers (they run on the main
//! runtime). The well-behaved client is one legacy session and one 2026-07-28 connection (keep-alive, one
//! call at a time, alternating between the two): it calls `tools/call echo` in a loop for the whole trial,
//! attack setup included, and its latencies are compared with the same client against an idle server.
//!
//! Trials (counts are the full run; `--quick` divides them, see [`Counts`]):
//! - stalled headers: 1,000 connections that send half a request header block and then nothing;
//! - stalled bodies: 1,000 POSTs with `Content-Length: 1000` that send 10 bytes of body and then nothing;
//! - stalled bodies past the in-flight cap: `max_in_flight` + 100 of them (each holds an admission permit
//!   while its body is read);
//! - abandoned sessions: 10,000 legacy sessions opened (initialize + initialized) and never deleted;
//! - never-readers: clients that open a legacy GET stream, a legacy POST and a 2026-07-28 POST to a tool
//!   that floods its stream with 16 KiB log messages, and never read any of them;
//! - listens: 1,000 `subscriptions/listen` streams held open while the server announces a list change every
//!   500 ms;
//! - huge URIs: 100 concurrent legacy `resources/read` of `test://template/` + 1 MB of `a` + `/dat` against
//!   the template `test://template/{id}/data` (this one runs last: without a URI length cap each of them
//!   pins a server worker for seconds).
//!
//! What the server does to the attackers is observed, not assumed: each held connection reads until the
//! trial ends and records whether (and when) the server closed it and what status it sent first.
//!
//! Verdict: a trial fails if the well-behaved client had any failed call, or if its p99 during the trial
//! exceeded `max(20 × idle p99, 50 ms)`. The 20× factor leaves room for a loaded 2-core machine (the client,
//! the attackers and the server share it); 50 ms is far below any timeout a real client would hit and far
//! above what the server needs per call. The process exits non-zero if any trial fails.
//!
//! Each held connection costs two file descriptors in this process (client and server end); the harness
//! reads `RLIMIT_NOFILE` from `/proc/self/limits` and scales a trial down (saying so) when it would not fit.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::{Args, ValueEnum};
use http::StatusCode;
use mcp::protocol::types::{CallToolResult, LoggingLevel, ReadResourceResult, ResourceContents};
use mcp::protocol::types::{ResourceTemplate, Tool};
use mcp::server::http::{serve_listener, HttpConfig};
use mcp::server::{Error, RequestContext, Server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{oneshot, watch, Semaphore};

use crate::wire::{check_call, open_session, CallSpec, Conn, LEGACY_VERSION, MODERN_VERSION};
use crate::{fmt_d, loadavg, rss_kib};
use mcp_cli::load::Histogram;

/// Arguments of `mcp-bench attack`.
#[derive(Args)]
pub struct AttackArgs {
    /// Scale the counts down for CI (200 stalled connections, 2,000 sessions, 200 listens, 20 huge URIs).
    #[arg(long)]
    quick: bool,
    /// Seconds the stalled connections are held (long enough to see a 10 s header-read timeout act).
    #[arg(long, default_value_t = 12.0)]
    hold: f64,
    /// Seconds the other trials last once their attackers are in place.
    #[arg(long, default_value_t = 4.0)]
    trial_secs: f64,
    /// Seconds the well-behaved client runs against the idle server.
    #[arg(long, default_value_t = 3.0)]
    idle_secs: f64,
    /// Worker threads of each server's runtime (default: one per CPU).
    #[arg(long)]
    server_threads: Option<usize>,
    /// Run only these trials (default: all, in the order listed in `--help`).
    #[arg(long, value_enum, value_delimiter = ',')]
    only: Vec<TrialKind>,
}

/// One kind of attack.
#[derive(Clone, Copy, PartialEq, Eq, Debug, ValueEnum)]
pub enum TrialKind {
    /// Connections that send half a header block, then nothing.
    StalledHeaders,
    /// POSTs that announce 1,000 body bytes, send 10, then nothing.
    StalledBodies,
    /// As many stalled bodies as `max_in_flight`, plus 100.
    StalledBodiesPastCap,
    /// Legacy sessions opened and abandoned.
    Sessions,
    /// Streams (legacy GET, legacy and modern POST) whose clients never read.
    NeverReaders,
    /// `subscriptions/listen` streams held open.
    Listens,
    /// Concurrent reads of a 1 MB URI that a resource template almost matches.
    HugeUris,
}

const ALL: [TrialKind; 7] = [
    TrialKind::StalledHeaders,
    TrialKind::StalledBodies,
    TrialKind::StalledBodiesPastCap,
    TrialKind::Sessions,
    TrialKind::NeverReaders,
    TrialKind::Listens,
    // Last: on a server without a URI length cap its requests keep server workers busy long after the
    // trial, which would skew any trial after it.
    TrialKind::HugeUris,
];

/// How many attackers each trial uses.
#[derive(Clone, Copy)]
struct Counts {
    stalled: usize,
    past_cap_in_flight: usize,
    sessions: usize,
    never_readers: usize,
    listens: usize,
    huge: usize,
    huge_bytes: usize,
}

impl Counts {
    fn new(quick: bool) -> Self {
        if quick {
            Counts {
                stalled: 200,
                // A smaller in-flight cap keeps the past-the-cap trial cheap; what it shows is the same.
                past_cap_in_flight: 256,
                sessions: 2_000,
                never_readers: 3,
                listens: 200,
                huge: 20,
                huge_bytes: 1_000_000,
            }
        } else {
            Counts {
                stalled: 1_000,
                past_cap_in_flight: HttpConfig::default().max_in_flight,
                sessions: 10_000,
                never_readers: 10,
                listens: 1_000,
                huge: 100,
                huge_bytes: 1_000_000,
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------------------
// The server

/// Calls to the `flood` tool: messages logged and handlers that got to the end, per era.
#[derive(Default)]
struct FloodStats {
    legacy_sent: AtomicU64,
    legacy_done: AtomicU64,
    modern_sent: AtomicU64,
    modern_done: AtomicU64,
}

/// The name of the server runtimes' threads (under 16 bytes: Linux truncates thread names).
const SERVER_THREAD: &str = "attack-server";

/// One server under attack, on a runtime of its own.
struct Target {
    addr: SocketAddr,
    server: Server,
    service: mcp::server::http::McpService,
    flood: Arc<FloodStats>,
    stop: Option<oneshot::Sender<()>>,
    rt: Option<tokio::runtime::Runtime>,
}

impl Target {
    async fn start(threads: Option<usize>, config: HttpConfig) -> Result<Target, String> {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        if let Some(t) = threads {
            b.worker_threads(t.max(1));
        }
        let rt = b
            .thread_name(SERVER_THREAD)
            .enable_all()
            .build()
            .map_err(|e| format!("server runtime: {e}"))?;
        let flood = Arc::new(FloodStats::default());
        let server = build_server(flood.clone());
        let bound = {
            let server = server.clone();
            rt.spawn(async move {
                serve_listener(server, config, SocketAddr::from(([127, 0, 0, 1], 0))).await
            })
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("bind: {e}"))?
        };
        let addr = bound.local_addr().map_err(|e| e.to_string())?;
        let service = bound.service().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        rt.spawn(async move {
            let _ = bound
                .run_until(async {
                    let _ = stopped.await;
                })
                .await;
        });
        Ok(Target {
            addr,
            server,
            service,
            flood,
            stop: Some(stop),
            rt: Some(rt),
        })
    }

    /// Run `fut` on the server's runtime (for server-side pushes).
    fn spawn<F: std::future::Future<Output = ()> + Send + 'static>(&self, fut: F) {
        if let Some(rt) = &self.rt {
            rt.spawn(fut);
        }
    }

    /// Stop serving and drop every connection; a worker stuck in a computation finishes it on its own
    /// thread (it is not waited for).
    fn shutdown(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

fn tool(name: &str, schema: serde_json::Value) -> Tool {
    Tool {
        name: name.into(),
        description: Some(format!("{name} tool")),
        input_schema: schema,
        ..Default::default()
    }
}

/// `echo` (the well-behaved client's tool), `flood` (logs `count` messages of `size` bytes), and the
/// resource template `test://template/{id}/data`.
fn build_server(flood: Arc<FloodStats>) -> Server {
    Server::builder("mcp-bench-attack", "0.1.0")
        .tool(
            tool(
                "echo",
                serde_json::json!({"type":"object","properties":{"text":{"type":"string"}}}),
            ),
            |_ctx: RequestContext, args: mcp::protocol::JsonObject| async move {
                let text = args.get("text").and_then(|v| v.as_str()).unwrap_or("");
                Ok::<_, Error>(CallToolResult::text(format!("echo:{text}")))
            },
        )
        .tool(
            tool("flood", serde_json::json!({"type":"object"})),
            move |ctx: RequestContext, args: mcp::protocol::JsonObject| {
                let stats = flood.clone();
                async move {
                    let count = args.get("count").and_then(|v| v.as_u64()).unwrap_or(0);
                    let size = args.get("size").and_then(|v| v.as_u64()).unwrap_or(0);
                    let modern = args.get("modern").and_then(|v| v.as_bool()) == Some(true);
                    let (sent, done) = if modern {
                        (&stats.modern_sent, &stats.modern_done)
                    } else {
                        (&stats.legacy_sent, &stats.legacy_done)
                    };
                    let payload = "x".repeat(size.min(1 << 20) as usize);
                    for _ in 0..count.min(100_000) {
                        ctx.log(LoggingLevel::Info, None, payload.as_str()).await;
                        sent.fetch_add(1, Ordering::Relaxed);
                    }
                    done.fetch_add(1, Ordering::Relaxed);
                    Ok::<_, Error>(CallToolResult::text("flooded"))
                }
            },
        )
        .resource_template(
            ResourceTemplate {
                uri_template: "test://template/{id}/data".into(),
                name: "Template Resource".into(),
                ..Default::default()
            },
            |_c: RequestContext, uri: String, vars: std::collections::HashMap<String, String>| async move {
                let id = vars.get("id").cloned().unwrap_or_default();
                Ok::<_, Error>(ReadResourceResult {
                    contents: vec![ResourceContents::text(uri, "text/plain", format!("data {id}"))],
                    meta: None,
                })
            },
        )
        .build()
}

// ---------------------------------------------------------------------------------------------------------
// The well-behaved client

/// One legacy session and one modern connection, one call at a time, alternating.
struct Client {
    conns: [Conn; 2],
    specs: [CallSpec; 2],
    hist: Histogram,
    calls: u64,
    failed: u64,
    first_failure: Option<String>,
}

impl Client {
    async fn connect(addr: SocketAddr) -> Result<Client, String> {
        let mut legacy = Conn::connect(addr).await?;
        let sid = open_session(&mut legacy).await?;
        let modern = Conn::connect(addr).await?;
        let mut c = Client {
            conns: [legacy, modern],
            specs: [CallSpec::legacy(&sid), CallSpec::modern()],
            hist: Histogram::default(),
            calls: 0,
            failed: 0,
            first_failure: None,
        };
        // Warm both connections up (first-call allocations, lazily built state) before anything is recorded.
        let stop = AtomicBool::new(false);
        let warm = Instant::now() + Duration::from_millis(300);
        c.calls_until(&stop, Some(warm)).await;
        if c.failed > 0 {
            return Err(format!("warm-up: {}", c.first_failure.unwrap_or_default()));
        }
        c.hist = Histogram::default();
        c.calls = 0;
        Ok(c)
    }

    async fn calls_until(&mut self, stop: &AtomicBool, until: Option<Instant>) {
        let mut id = 1u64;
        // Bounded: every call ends within REQUEST_TIMEOUT, and the stop flag is set by the trial's end.
        while !stop.load(Ordering::Relaxed) && until.is_none_or(|u| Instant::now() < u) {
            let k = (id % 2) as usize;
            let body = self.specs[k].body(id);
            id += 1;
            let start = Instant::now();
            let r = self.conns[k].post(&self.specs[k].headers, body).await;
            let took = start.elapsed();
            self.calls += 1;
            match r.and_then(|r| check_call(&r)) {
                Ok(()) => self.hist.record(took),
                Err(e) => {
                    self.failed += 1;
                    let era = if k == 0 { "legacy" } else { "modern" };
                    self.first_failure
                        .get_or_insert_with(|| format!("{era} call after {}: {e}", fmt_d(took)));
                    // The connection may be dead; a new one keeps the client going (the session survives).
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    if let Ok(c) = self.conns[k].connect_like().await {
                        self.conns[k] = c;
                    }
                }
            }
        }
    }

    /// Call until `stop` is set, in a task of its own.
    fn run(mut self, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<Client> {
        tokio::spawn(async move {
            self.calls_until(&stop, None).await;
            self
        })
    }
}

// ---------------------------------------------------------------------------------------------------------
// Held connections

/// What became of one attacking connection.
#[derive(Debug, Clone)]
enum Fate {
    /// Still open when the trial ended.
    Open,
    /// The server closed it `after` the attacker stopped sending; `status` of the reply it sent first, if any.
    Closed {
        after: Duration,
        status: Option<u16>,
    },
    /// Never got as far as sending.
    Failed(String),
}

/// The status code of an HTTP/1.1 response that starts `head`.
fn status_of(head: &[u8]) -> Option<u16> {
    let line = head.strip_prefix(b"HTTP/1.1 ")?;
    std::str::from_utf8(line.get(..3)?).ok()?.parse().ok()
}

/// Connect, send `payload`, then read (and discard) until the server closes or `stop` is set.
async fn hold(
    addr: SocketAddr,
    payload: Bytes,
    gate: Arc<Semaphore>,
    ready: Arc<AtomicUsize>,
    mut stop: watch::Receiver<bool>,
) -> Fate {
    let sent = {
        // Connect in bounded waves: a burst of SYNs past the listen backlog only adds 1 s retransmits.
        let _permit = gate.acquire().await;
        let connected =
            tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(addr)).await;
        let mut s = match connected {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => return Fate::Failed(format!("connect: {e}")),
            Err(_) => return Fate::Failed("connect: timed out".into()),
        };
        if let Err(e) = s.write_all(&payload).await {
            return Fate::Failed(format!("write: {e}"));
        }
        s
    };
    ready.fetch_add(1, Ordering::Relaxed);
    let mut s = sent;
    let t0 = Instant::now();
    let mut first: Vec<u8> = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        tokio::select! {
            // Set once, at the end of the trial (or dropped: either way the trial is over).
            _ = stop.wait_for(|s| *s) => return Fate::Open,
            r = s.read(&mut buf) => match r {
                Ok(0) | Err(_) => {
                    return Fate::Closed {
                        after: t0.elapsed(),
                        status: status_of(&first),
                    }
                }
                Ok(n) => {
                    if first.len() < 16 {
                        first.extend_from_slice(&buf[..n]);
                    }
                }
            },
        }
    }
}

/// Open `n` connections that each send `payload` and stall; hold them `dur` after all are in place (or
/// after 15 s of trying). Returns the fates and how long setting up took.
async fn stall(addr: SocketAddr, n: usize, payload: Bytes, dur: Duration) -> (Vec<Fate>, Duration) {
    let gate = Arc::new(Semaphore::new(64));
    let ready = Arc::new(AtomicUsize::new(0));
    let (stop, stopped) = watch::channel(false);
    let t0 = Instant::now();
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            tokio::spawn(hold(
                addr,
                payload.clone(),
                gate.clone(),
                ready.clone(),
                stopped.clone(),
            ))
        })
        .collect();
    let setup_deadline = t0 + Duration::from_secs(15);
    while ready.load(Ordering::Relaxed) < n && Instant::now() < setup_deadline {
        if tasks.iter().all(|t| t.is_finished()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let setup = t0.elapsed();
    tokio::time::sleep(dur).await;
    let _ = stop.send(true);
    let mut fates = Vec::with_capacity(n);
    for t in tasks {
        fates.push(t.await.unwrap_or_else(|e| Fate::Failed(e.to_string())));
    }
    (fates, setup)
}

fn percentile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

/// "closed by the server: 0/1000 within 12.0 s" and when/how, for a set of held connections.
fn describe_fates(fates: &[Fate], held: Duration) -> String {
    let mut closed: Vec<Duration> = Vec::new();
    let mut statuses: std::collections::BTreeMap<String, usize> = Default::default();
    let mut failed = 0;
    let mut first_failure = None;
    for f in fates {
        match f {
            Fate::Open => {}
            Fate::Closed { after, status } => {
                closed.push(*after);
                let k = status.map_or("no reply".to_owned(), |s| s.to_string());
                *statuses.entry(k).or_default() += 1;
            }
            Fate::Failed(e) => {
                failed += 1;
                first_failure.get_or_insert_with(|| e.clone());
            }
        }
    }
    closed.sort();
    let mut s = format!(
        "closed by the server: {}/{} within {:.1} s",
        closed.len(),
        fates.len(),
        held.as_secs_f64()
    );
    if !closed.is_empty() {
        s += &format!(
            " (after {:.1}/{:.1}/{:.1} s min/median/max; first bytes: {})",
            percentile(&closed, 0.0).as_secs_f64(),
            percentile(&closed, 0.5).as_secs_f64(),
            percentile(&closed, 1.0).as_secs_f64(),
            statuses
                .iter()
                .map(|(k, v)| format!("{k} ×{v}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    if failed > 0 {
        s += &format!(
            "; {failed} never got in ({})",
            first_failure.unwrap_or_default()
        );
    }
    s
}

/// Half a header block: the request line and some headers, no blank line.
fn half_header(addr: SocketAddr) -> Bytes {
    Bytes::from(format!(
        "POST /mcp HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n"
    ))
}

/// A complete POST header announcing 1,000 bytes of body, then 10 of them.
fn short_body(addr: SocketAddr) -> Bytes {
    Bytes::from(format!(
        "POST /mcp HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Accept: application/json, text/event-stream\r\nContent-Length: 1000\r\n\r\n{{\"jsonrpc\""
    ))
}

// ---------------------------------------------------------------------------------------------------------
// Trials

/// What one trial did and what the client saw.
struct TrialResult {
    name: String,
    attack: String,
    client: Client,
    secs: f64,
    server_did: String,
    rss_delta_kib: i64,
    /// CPU time the server's threads used during the trial (its well-behaved calls included).
    server_cpu: Duration,
    /// Set when the harness could not run the trial as described.
    setup_error: Option<String>,
}

struct Ctx {
    counts: Counts,
    hold: Duration,
    trial: Duration,
    threads: Option<usize>,
    fd_limit: usize,
}

impl Ctx {
    /// `want` connections, or as many as fit in the fd limit (two fds each, plus headroom), saying so.
    fn fit(&self, want: usize, what: &str) -> usize {
        let room = self.fd_limit.saturating_sub(512) / 2;
        if want > room {
            println!(
                "   (fd limit {}: {what} scaled down from {want} to {room})",
                self.fd_limit
            );
            room
        } else {
            want
        }
    }
}

/// CPU time of the server runtimes' threads so far, in nanoseconds (`/proc/self/task/*/schedstat` of the
/// threads named `attack-server`).
fn server_cpu_ns() -> u64 {
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    dir.filter_map(|e| e.ok())
        .filter(|e| {
            std::fs::read_to_string(e.path().join("comm"))
                .is_ok_and(|c| c.trim_end() == SERVER_THREAD)
        })
        .filter_map(|e| std::fs::read_to_string(e.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

/// `RLIMIT_NOFILE`'s soft limit, from `/proc/self/limits` (1024 when unreadable).
fn fd_limit() -> usize {
    std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(3).map(str::to_owned))
        })
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024)
}

async fn run_trial(kind: TrialKind, ctx: &Ctx) -> Result<TrialResult, String> {
    let c = ctx.counts;
    let config = match kind {
        TrialKind::StalledBodiesPastCap => {
            HttpConfig::default().max_in_flight(c.past_cap_in_flight)
        }
        _ => HttpConfig::default(),
    };
    let target = Target::start(ctx.threads, config).await?;
    let client = match Client::connect(target.addr).await {
        Ok(c) => c,
        Err(e) => {
            target.shutdown();
            return Err(format!("well-behaved client could not start: {e}"));
        }
    };
    let stop = Arc::new(AtomicBool::new(false));
    let rss0 = rss_kib() as i64;
    let cpu0 = server_cpu_ns();
    let t0 = Instant::now();
    let running = client.run(stop.clone());
    let addr = target.addr;
    let mut setup_error = None;
    let (name, attack, server_did) = match kind {
        TrialKind::StalledHeaders => {
            let n = ctx.fit(c.stalled, "stalled connections");
            let (fates, setup) = stall(addr, n, half_header(addr), ctx.hold).await;
            (
                "stalled headers".to_owned(),
                format!("{n} connections send half a header block, then nothing"),
                format!(
                    "{} (set up in {:.1} s)",
                    describe_fates(&fates, ctx.hold),
                    setup.as_secs_f64()
                ),
            )
        }
        TrialKind::StalledBodies => {
            let n = ctx.fit(c.stalled, "stalled bodies");
            let (fates, setup) = stall(addr, n, short_body(addr), ctx.hold).await;
            (
                "stalled bodies".to_owned(),
                format!("{n} POSTs announce 1000 body bytes, send 10, then nothing"),
                format!(
                    "{} (set up in {:.1} s)",
                    describe_fates(&fates, ctx.hold),
                    setup.as_secs_f64()
                ),
            )
        }
        TrialKind::StalledBodiesPastCap => {
            let n = ctx.fit(c.past_cap_in_flight + 100, "stalled bodies");
            let (fates, setup) = stall(addr, n, short_body(addr), ctx.hold).await;
            (
                "stalled bodies past the in-flight cap".to_owned(),
                format!(
                    "{n} stalled bodies against max_in_flight = {}",
                    c.past_cap_in_flight
                ),
                format!(
                    "{} (set up in {:.1} s)",
                    describe_fates(&fates, ctx.hold),
                    setup.as_secs_f64()
                ),
            )
        }
        TrialKind::Sessions => {
            let (did, err) = abandon_sessions(&target, c.sessions, ctx.trial).await;
            setup_error = err;
            (
                "abandoned sessions".to_owned(),
                format!(
                    "{} legacy sessions opened (initialize + initialized), never deleted",
                    c.sessions
                ),
                did,
            )
        }
        TrialKind::NeverReaders => {
            let (did, err) = never_readers(&target, c.never_readers, ctx.trial).await;
            setup_error = err;
            (
                "never-readers".to_owned(),
                format!(
                    "{n} clients each open a legacy GET stream, a legacy POST and a 2026-07-28 POST to a tool that logs 2,000 × 16 KiB, and read none of them",
                    n = c.never_readers
                ),
                did,
            )
        }
        TrialKind::Listens => {
            let n = ctx.fit(c.listens, "listens");
            let (did, err) = listens(&target, n, ctx.trial).await;
            setup_error = err;
            (
                "listens".to_owned(),
                format!("{n} subscriptions/listen streams held open, a list change every 500 ms"),
                did,
            )
        }
        TrialKind::HugeUris => {
            let (did, err) = huge_uris(addr, c.huge, c.huge_bytes, ctx.trial * 2).await;
            setup_error = err;
            (
                "huge URIs".to_owned(),
                format!(
                    "{} concurrent resources/read of test://template/ + {} × a + /dat",
                    c.huge, c.huge_bytes
                ),
                did,
            )
        }
    };
    stop.store(true, Ordering::Relaxed);
    let secs = t0.elapsed().as_secs_f64();
    let rss_delta_kib = rss_kib() as i64 - rss0;
    let server_cpu = Duration::from_nanos(server_cpu_ns().saturating_sub(cpu0));
    let client = running.await.map_err(|e| format!("client task: {e}"))?;
    target.shutdown();
    // Let the sockets of this trial close before the next one starts.
    tokio::time::sleep(Duration::from_millis(300)).await;
    Ok(TrialResult {
        name,
        attack,
        client,
        secs,
        server_did,
        rss_delta_kib,
        server_cpu,
        setup_error,
    })
}

/// Open `n` legacy sessions over 16 connections and drop them; then leave them abandoned for `dur`.
async fn abandon_sessions(target: &Target, n: usize, dur: Duration) -> (String, Option<String>) {
    const CONNS: usize = 16;
    let addr = target.addr;
    let t0 = Instant::now();
    let tasks: Vec<_> = (0..CONNS)
        .map(|i| {
            let share = n / CONNS + usize::from(i < n % CONNS);
            tokio::spawn(async move {
                let mut opened = 0usize;
                let mut refused: std::collections::BTreeMap<String, usize> = Default::default();
                let mut conn = match Conn::connect(addr).await {
                    Ok(c) => c,
                    Err(e) => {
                        refused.insert(e, share);
                        return (opened, refused);
                    }
                };
                for _ in 0..share {
                    match open_session(&mut conn).await {
                        Ok(_) => opened += 1,
                        Err(e) => {
                            // "initialize: HTTP 503: {...}" -> "initialize: HTTP 503"
                            let key = e.split(": {").next().unwrap_or(&e).to_owned();
                            *refused.entry(key).or_default() += 1;
                            if let Ok(c) = conn.connect_like().await {
                                conn = c;
                            }
                        }
                    }
                }
                (opened, refused)
            })
        })
        .collect();
    let mut opened = 0;
    let mut refused: std::collections::BTreeMap<String, usize> = Default::default();
    let mut err = None;
    for t in tasks {
        match t.await {
            Ok((o, r)) => {
                opened += o;
                for (k, v) in r {
                    *refused.entry(k).or_default() += v;
                }
            }
            Err(e) => err = Some(e.to_string()),
        }
    }
    let took = t0.elapsed();
    tokio::time::sleep(dur).await;
    let mut s = format!(
        "opened {opened}/{n} in {:.2} s; open sessions on the server: {} ({} s later)",
        took.as_secs_f64(),
        target.service.session_count(),
        dur.as_secs()
    );
    if !refused.is_empty() {
        s += &format!(
            "; refused: {}",
            refused
                .iter()
                .map(|(k, v)| format!("{k} ×{v}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    (s, err)
}

fn raw_request(addr: SocketAddr, method: &str, headers: &[(&str, String)], body: &[u8]) -> Vec<u8> {
    let mut s = format!("{method} /mcp HTTP/1.1\r\nHost: {addr}\r\n");
    for (k, v) in headers {
        s += &format!("{k}: {v}\r\n");
    }
    if method == "POST" {
        s += &format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        );
    }
    s += "\r\n";
    let mut out = s.into_bytes();
    out.extend_from_slice(body);
    out
}

/// Read what is buffered for `s` (up to `cap` bytes) until it goes quiet for 200 ms or closes.
async fn drain(s: &mut TcpStream, cap: usize) -> (usize, bool) {
    let mut buf = vec![0u8; 64 * 1024];
    let mut got = 0;
    let deadline = Instant::now() + Duration::from_secs(3);
    while got < cap && Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_millis(200), s.read(&mut buf)).await {
            Err(_) => return (got, false),
            Ok(Ok(0)) | Ok(Err(_)) => return (got, true),
            Ok(Ok(n)) => got += n,
        }
    }
    (got, false)
}

/// `n` clients that each open a legacy GET stream and two flooding POSTs (legacy and modern) and never read.
async fn never_readers(target: &Target, n: usize, dur: Duration) -> (String, Option<String>) {
    const COUNT: u64 = 2_000;
    const SIZE: u64 = 16 * 1024;
    let addr = target.addr;
    let mut socks: Vec<(&'static str, TcpStream)> = Vec::new();
    let mut err = None;
    for i in 0..n {
        let r: Result<(), String> = async {
            let mut c = Conn::connect(addr).await?;
            let sid = open_session(&mut c).await?;
            let legacy_h = [
                ("Mcp-Session-Id", sid.clone()),
                ("MCP-Protocol-Version", LEGACY_VERSION.to_owned()),
            ];
            let connect = || async {
                TcpStream::connect(addr)
                    .await
                    .map_err(|e| format!("connect: {e}"))
            };
            let mut get = connect().await?;
            let mut h = legacy_h.to_vec();
            h.push(("Accept", "text/event-stream".into()));
            get.write_all(&raw_request(addr, "GET", &h, b""))
                .await
                .map_err(|e| e.to_string())?;
            let mut post = connect().await?;
            let mut h = legacy_h.to_vec();
            h.push(("Accept", "application/json, text/event-stream".into()));
            let body = format!(
                r#"{{"jsonrpc":"2.0","id":{i},"method":"tools/call","params":{{"name":"flood","arguments":{{"count":{COUNT},"size":{SIZE}}}}}}}"#
            );
            post.write_all(&raw_request(addr, "POST", &h, body.as_bytes()))
                .await
                .map_err(|e| e.to_string())?;
            let mut modern = connect().await?;
            let h = [
                ("MCP-Protocol-Version", MODERN_VERSION.to_owned()),
                ("Mcp-Method", "tools/call".into()),
                ("Mcp-Name", "flood".into()),
                ("Accept", "application/json, text/event-stream".into()),
            ];
            let body = format!(
                r#"{{"jsonrpc":"2.0","id":{i},"method":"tools/call","params":{{"name":"flood","arguments":{{"count":{COUNT},"size":{SIZE},"modern":true}},"_meta":{{"io.modelcontextprotocol/protocolVersion":"{MODERN_VERSION}","io.modelcontextprotocol/clientCapabilities":{{}},"io.modelcontextprotocol/logLevel":"info"}}}}}}"#
            );
            modern
                .write_all(&raw_request(addr, "POST", &h, body.as_bytes()))
                .await
                .map_err(|e| e.to_string())?;
            socks.push(("legacy GET", get));
            socks.push(("legacy POST", post));
            socks.push(("modern POST", modern));
            Ok(())
        }
        .await;
        if let Err(e) = r {
            err.get_or_insert(e);
        }
    }
    // The server announces a list change every 10 ms: the GET streams have something to carry.
    let pushing = Arc::new(AtomicBool::new(true));
    {
        let server = target.server.clone();
        let on = pushing.clone();
        target.spawn(async move {
            let mut i = 0u64;
            while on.load(Ordering::Relaxed) && i < 100_000 {
                server.add_tool(
                    tool("pushed", serde_json::json!({"type":"object"})),
                    |_c: RequestContext, _a: mcp::protocol::JsonObject| async {
                        Ok::<_, Error>(CallToolResult::text("pushed"))
                    },
                );
                i += 1;
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        });
    }
    tokio::time::sleep(dur).await;
    pushing.store(false, Ordering::Relaxed);
    let f = &target.flood;
    let (ls, ld, ms, md) = (
        f.legacy_sent.load(Ordering::Relaxed),
        f.legacy_done.load(Ordering::Relaxed),
        f.modern_sent.load(Ordering::Relaxed),
        f.modern_done.load(Ordering::Relaxed),
    );
    // Only now read what the server managed to push into each socket, and whether it had closed it.
    let drains: Vec<_> = socks
        .into_iter()
        .map(|(kind, mut s)| {
            tokio::spawn(async move {
                let (bytes, closed) = drain(&mut s, 64 << 20).await;
                (kind, bytes, closed)
            })
        })
        .collect();
    let mut per_kind: std::collections::BTreeMap<&str, (usize, usize, usize)> = Default::default();
    for d in drains {
        let Ok((kind, bytes, closed)) = d.await else {
            continue;
        };
        let e = per_kind.entry(kind).or_default();
        e.0 += 1;
        e.1 += usize::from(closed);
        e.2 += bytes;
    }
    // The drain lets a blocked writer go on, so its byte count is what the server sends a reader that
    // finally reads, not what sat unread; the handlers' counters above tell how far they got unread.
    let streams = per_kind
        .iter()
        .map(|(k, (n, closed, bytes))| {
            format!(
                "{k}: {closed}/{n} closed by the server ({:.1} MiB read when drained at the end)",
                *bytes as f64 / (1 << 20) as f64
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    (
        format!(
            "while unread, flood handlers: legacy {ld}/{n} finished ({ls} of {} messages sent: a stream that cannot keep up is cut from the live connection), modern {md}/{n} finished ({ms} of {} sent, {:.1} MiB; the rest wait for the reader); {streams}",
            COUNT * n as u64,
            COUNT * n as u64,
            (ms * SIZE) as f64 / (1 << 20) as f64,
        ),
        err,
    )
}

/// Hold `n` listen streams open for `dur` while the server announces a list change every 500 ms.
async fn listens(target: &Target, n: usize, dur: Duration) -> (String, Option<String>) {
    let addr = target.addr;
    let body = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"subscriptions/listen","params":{{"notifications":{{"toolsListChanged":true}},"_meta":{{"io.modelcontextprotocol/protocolVersion":"{MODERN_VERSION}","io.modelcontextprotocol/clientCapabilities":{{}}}}}}}}"#
    );
    let req = Bytes::from(raw_request(
        addr,
        "POST",
        &[
            ("MCP-Protocol-Version", MODERN_VERSION.to_owned()),
            ("Mcp-Method", "subscriptions/listen".into()),
            ("Accept", "application/json, text/event-stream".into()),
        ],
        body.as_bytes(),
    ));
    let gate = Arc::new(Semaphore::new(64));
    let acked = Arc::new(AtomicUsize::new(0));
    let (stop, stopped) = watch::channel(false);
    let t0 = Instant::now();
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let (req, gate, acked, stop) =
                (req.clone(), gate.clone(), acked.clone(), stopped.clone());
            tokio::spawn(async move { listen_one(addr, req, gate, acked, stop).await })
        })
        .collect();
    while acked.load(Ordering::Relaxed) < n
        && t0.elapsed() < Duration::from_secs(15)
        && !tasks.iter().all(|t| t.is_finished())
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let setup = t0.elapsed();
    let pushing = Arc::new(AtomicBool::new(true));
    {
        let server = target.server.clone();
        let on = pushing.clone();
        target.spawn(async move {
            let mut i = 0u64;
            while on.load(Ordering::Relaxed) && i < 10_000 {
                tokio::time::sleep(Duration::from_millis(500)).await;
                server.add_tool(
                    tool("pushed", serde_json::json!({"type":"object"})),
                    |_c: RequestContext, _a: mcp::protocol::JsonObject| async {
                        Ok::<_, Error>(CallToolResult::text("pushed"))
                    },
                );
                i += 1;
            }
        });
    }
    tokio::time::sleep(dur).await;
    pushing.store(false, Ordering::Relaxed);
    let _ = stop.send(true);
    let mut events = Vec::new();
    let mut closed = 0;
    let mut statuses: std::collections::BTreeMap<String, usize> = Default::default();
    let mut err = None;
    for t in tasks {
        match t.await {
            Ok(Ok(r)) => {
                events.push(r.events);
                closed += usize::from(r.closed);
                *statuses
                    .entry(r.status.map_or("none".into(), |s| s.to_string()))
                    .or_default() += 1;
            }
            Ok(Err(e)) => {
                err.get_or_insert(e);
            }
            Err(e) => {
                err.get_or_insert(e.to_string());
            }
        }
    }
    events.sort_unstable();
    let median = events.get(events.len() / 2).copied().unwrap_or(0);
    let min = events.first().copied().unwrap_or(0);
    (
        format!(
            "acknowledged {}/{n} (in {:.1} s; HTTP {}); list changes received per stream min {min}, median {median} (~{} sent); closed by the server: {closed}",
            acked.load(Ordering::Relaxed),
            setup.as_secs_f64(),
            statuses
                .iter()
                .map(|(k, v)| format!("{k} ×{v}"))
                .collect::<Vec<_>>()
                .join(", "),
            dur.as_millis() / 500
        ),
        err,
    )
}

struct ListenFate {
    status: Option<u16>,
    events: usize,
    closed: bool,
}

fn count(hay: &[u8], needle: &[u8]) -> usize {
    hay.windows(needle.len()).filter(|w| *w == needle).count()
}

async fn listen_one(
    addr: SocketAddr,
    req: Bytes,
    gate: Arc<Semaphore>,
    acked: Arc<AtomicUsize>,
    mut stop: watch::Receiver<bool>,
) -> Result<ListenFate, String> {
    let mut s = {
        let _p = gate.acquire().await;
        let mut s = tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(addr))
            .await
            .map_err(|_| "connect timed out".to_owned())?
            .map_err(|e| format!("connect: {e}"))?;
        s.write_all(&req).await.map_err(|e| format!("write: {e}"))?;
        s
    };
    const ACK: &[u8] = b"notifications/subscriptions/acknowledged";
    const CHANGED: &[u8] = b"notifications/tools/list_changed";
    let mut fate = ListenFate {
        status: None,
        events: 0,
        closed: false,
    };
    let mut seen_ack = false;
    // What was read so far, minus what was already counted (a needle may span two reads).
    let mut pending: Vec<u8> = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        let r = tokio::select! {
            _ = stop.wait_for(|s| *s) => break,
            r = s.read(&mut buf) => r,
        };
        match r {
            Ok(0) | Err(_) => {
                fate.closed = true;
                break;
            }
            Ok(n) => {
                pending.extend_from_slice(&buf[..n]);
                if fate.status.is_none() {
                    fate.status = status_of(&pending);
                }
                if !seen_ack && count(&pending, ACK) > 0 {
                    seen_ack = true;
                    acked.fetch_add(1, Ordering::Relaxed);
                }
                fate.events += count(&pending, CHANGED);
                let keep = pending.len().min(CHANGED.len().max(ACK.len()) - 1);
                pending.drain(..pending.len() - keep);
                // Whatever is kept cannot hold a whole needle, so nothing is counted twice.
            }
        }
    }
    Ok(fate)
}

/// `n` concurrent legacy reads of a URI with `bytes` bytes of `a` that the template almost matches; wait up
/// to `limit` for the answers.
async fn huge_uris(
    addr: SocketAddr,
    n: usize,
    bytes: usize,
    limit: Duration,
) -> (String, Option<String>) {
    let uri = format!("test://template/{}/dat", "a".repeat(bytes));
    let body = Bytes::from(
        serde_json::json!({"jsonrpc":"2.0","id":7,"method":"resources/read","params":{"uri": uri}})
            .to_string(),
    );
    // Sessions first (each its own: the per-session in-flight cap is not what this trial is about).
    let mut ready = Vec::new();
    let mut err = None;
    for _ in 0..n {
        let r = async {
            let mut c = Conn::connect(addr).await?;
            let sid = open_session(&mut c).await?;
            Ok::<_, String>((c, CallSpec::legacy(&sid)))
        }
        .await;
        match r {
            Ok(x) => ready.push(x),
            Err(e) => {
                err.get_or_insert(e);
            }
        }
    }
    let t0 = Instant::now();
    let tasks: Vec<_> = ready
        .into_iter()
        .map(|(mut c, spec)| {
            let body = body.clone();
            tokio::spawn(async move {
                let start = Instant::now();
                let r = c.post_within(limit, &spec.headers, body).await;
                (r, start.elapsed())
            })
        })
        .collect();
    let sent = tasks.len();
    let mut answers: std::collections::BTreeMap<String, usize> = Default::default();
    let mut times = Vec::new();
    let mut unanswered = 0;
    for t in tasks {
        match t.await {
            Ok((Ok(r), took)) => {
                times.push(took);
                *answers.entry(answer_kind(&r)).or_default() += 1;
            }
            Ok((Err(_), _)) => unanswered += 1,
            Err(e) => {
                err.get_or_insert(e.to_string());
            }
        }
    }
    times.sort();
    let mut s = format!(
        "answered {}/{sent} within {:.0} s",
        times.len(),
        limit.as_secs_f64()
    );
    if !times.is_empty() {
        s += &format!(
            " ({}; slowest {})",
            answers
                .iter()
                .map(|(k, v)| format!("{k} ×{v}"))
                .collect::<Vec<_>>()
                .join(", "),
            fmt_d(percentile(&times, 1.0))
        );
    }
    if unanswered > 0 {
        s += &format!("; no answer within the limit: {unanswered}");
    }
    s += &format!(" (waited {:.1} s)", t0.elapsed().as_secs_f64());
    (s, err)
}

/// "HTTP 200 error -32602" from a reply.
fn answer_kind(r: &crate::wire::Reply) -> String {
    let code = find_error_code(&r.body);
    match code {
        Some(c) => format!("HTTP {} error {c}", r.status.as_u16()),
        None if r.status == StatusCode::OK => "HTTP 200 result".to_owned(),
        None => format!("HTTP {}", r.status.as_u16()),
    }
}

fn find_error_code(body: &[u8]) -> Option<i64> {
    let text = std::str::from_utf8(body).ok()?;
    let at = text.find("\"error\"")?;
    let rest = &text[at..];
    let c = rest.find("\"code\":")? + "\"code\":".len();
    let digits: String = rest[c..]
        .trim_start()
        .chars()
        .take_while(|ch| ch.is_ascii_digit() || *ch == '-')
        .collect();
    digits.parse().ok()
}

// ---------------------------------------------------------------------------------------------------------
// The command

/// The well-behaved client on an idle server.
async fn idle_baseline(ctx: &Ctx, secs: Duration) -> Result<Client, String> {
    let target = Target::start(ctx.threads, HttpConfig::default()).await?;
    let r = async {
        let client = Client::connect(target.addr).await?;
        let stop = Arc::new(AtomicBool::new(false));
        let running = client.run(stop.clone());
        tokio::time::sleep(secs).await;
        stop.store(true, Ordering::Relaxed);
        running.await.map_err(|e| e.to_string())
    }
    .await;
    target.shutdown();
    tokio::time::sleep(Duration::from_millis(200)).await;
    r
}

fn bound(idle_p99: Duration) -> Duration {
    (idle_p99 * 20).max(Duration::from_millis(50))
}

/// Run the trials; returns the number of failed trials.
pub async fn attack_cmd(a: AttackArgs) -> u64 {
    let t0 = Instant::now();
    let ctx = Ctx {
        counts: Counts::new(a.quick),
        hold: crate::secs(a.hold),
        trial: crate::secs(a.trial_secs),
        threads: a.server_threads,
        fd_limit: fd_limit(),
    };
    println!(
        "attack: load average {}; fd limit {}; server runtime threads {}",
        loadavg(),
        ctx.fd_limit,
        a.server_threads
            .map_or("one per CPU".to_owned(), |t| t.to_string())
    );
    let idle = match idle_baseline(&ctx, crate::secs(a.idle_secs)).await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("attack: idle baseline: {e}");
            return 1;
        }
    };
    let (ip50, ip99) = (idle.hist.quantile(0.5), idle.hist.quantile(0.99));
    let limit = bound(ip99);
    println!(
        "idle: {} calls, p50 {} p99 {} (failed {}); a trial fails if the client fails a call or its p99 exceeds max(20 × idle p99, 50 ms) = {}",
        idle.calls,
        fmt_d(ip50),
        fmt_d(ip99),
        idle.failed,
        fmt_d(limit)
    );
    let mut failed = u64::from(idle.failed > 0);
    let kinds: Vec<TrialKind> = if a.only.is_empty() {
        ALL.to_vec()
    } else {
        ALL.iter().copied().filter(|k| a.only.contains(k)).collect()
    };
    let mut rows = Vec::new();
    for kind in kinds {
        println!("== {kind:?} ==");
        let r = match run_trial(kind, &ctx).await {
            Ok(r) => r,
            Err(e) => {
                println!("   could not run: {e}");
                failed += 1;
                continue;
            }
        };
        let c = &r.client;
        let (p50, p99) = (c.hist.quantile(0.5), c.hist.quantile(0.99));
        let ok = c.failed == 0 && p99 <= limit && c.hist.count() > 0;
        failed += u64::from(!ok);
        println!("   attack: {}", r.attack);
        println!(
            "   client: {} calls in {:.1} s, p50 {} p99 {} (idle {} / {}), failed {}{}",
            c.calls,
            r.secs,
            fmt_d(p50),
            fmt_d(p99),
            fmt_d(ip50),
            fmt_d(ip99),
            c.failed,
            c.first_failure
                .as_ref()
                .map_or(String::new(), |e| format!(" — first: {e}"))
        );
        println!("   server: {}", r.server_did);
        println!(
            "   server threads used {:.2} s of CPU in {:.1} s; RSS of this process (client + server) {:+.1} MiB during the trial",
            r.server_cpu.as_secs_f64(),
            r.secs,
            r.rss_delta_kib as f64 / 1024.0
        );
        if let Some(e) = &r.setup_error {
            println!("   (harness: {e})");
        }
        println!("   verdict: {}", if ok { "PASS" } else { "FAIL" });
        rows.push((r, p50, p99, ok));
    }
    println!();
    println!(
        "Well-behaved client (one legacy session + one 2026-07-28 connection, one call at a time) during each \
         trial; idle p50 / p99 {} / {}; bound on p99 {} ({} s in all, load average now {}):",
        fmt_d(ip50),
        fmt_d(ip99),
        fmt_d(limit),
        t0.elapsed().as_secs(),
        loadavg()
    );
    println!();
    println!("| Trial | Attack | Client p50 / p99 (idle {} / {}) | Calls (failed) | Server CPU / trial time | What the server did to the attackers | Result |", fmt_d(ip50), fmt_d(ip99));
    println!("|---|---|---|---|---|---|---|");
    for (r, p50, p99, ok) in &rows {
        println!(
            "| {} | {} | {} / {} | {} ({}) | {:.1} s / {:.1} s | {} | {} |",
            r.name,
            r.attack,
            fmt_d(*p50),
            fmt_d(*p99),
            r.client.calls,
            r.client.failed,
            r.server_cpu.as_secs_f64(),
            r.secs,
            r.server_did.replace('|', "\\|"),
            if *ok { "pass" } else { "FAIL" }
        );
    }
    if failed > 0 {
        println!("\nattack: {failed} trial(s) failed");
    }
    failed
}
