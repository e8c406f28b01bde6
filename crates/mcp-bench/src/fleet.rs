//! `mcp-bench redis`: the MCP server on the fleet backend (`mcp-redis`) against the same server in memory,
//! in one run: `tools/call` throughput at C=16 and p50 at C=1 in both eras (the load runs of `load`, with the
//! in-memory server as the reference target), the Redis memory an idle session costs and the time 10,000
//! sessions take to open (the idle run of `idle`), and where the time goes (Redis commands, bytes and Redis
//! CPU per call, from `INFO`).
//!
//! Without `--redis URL` a private `redis-server` is started on a free loopback port (no persistence) and
//! stopped at the end. With one, keys go under a prefix of this run's own and are deleted at the end; other
//! clients of that Redis skew its memory and CPU figures.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use clap::Args;
use mcp_redis::testing::RedisServer;

use super::targets::{start_mcp, McpOpts, RedisBackend};
use super::wire::{open_session, Conn, Era};
use super::{
    fmt_d, load_runs, loadavg, run_idle, secs, Against, C1Runtime, ClientSet, IdleResult,
    LoadResult, RunOpts, ServerArgs,
};

#[derive(Args)]
pub struct RedisArgs {
    /// The Redis to use (`redis://host:port/db`); default: a private `redis-server` on a free port.
    #[arg(long)]
    redis: Option<String>,
    /// Measured seconds per load run.
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// Warm-up seconds per load run.
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// Alternating measurement slices per run (in-memory and Redis servers take turns, A B B A …).
    #[arg(long, default_value_t = 5)]
    slices: u32,
    /// Legacy sessions for the idle run (opening time and memory per session).
    #[arg(long, default_value_t = 10_000)]
    sessions: usize,
    /// Connections opening sessions at once.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Seconds of calls per era for the per-call Redis profile.
    #[arg(long, default_value_t = 2.0)]
    profile_seconds: f64,
    /// Where the C=1 runs happen.
    #[arg(long, value_enum, default_value_t = C1Runtime::OneThread)]
    c1_runtime: C1Runtime,
    #[command(flatten)]
    server: ServerArgs,
}

/// The Redis the servers under test use, a connection of the benchmark's own to read its `INFO`, and the
/// private `redis-server` if this run started it (killed on drop).
pub struct RedisUnderTest {
    pub backend: RedisBackend,
    conn: redis::aio::MultiplexedConnection,
    private: Option<RedisServer>,
}

/// What Redis says it has done so far (`INFO commandstats`, `cpu`, `stats`).
struct RedisStats {
    /// Calls per command name (lower case).
    calls: BTreeMap<String, u64>,
    cpu_secs: f64,
    net_in: u64,
    net_out: u64,
}

fn info_field<'a>(info: &'a str, name: &str) -> Option<&'a str> {
    info.lines().find_map(|l| {
        l.strip_prefix(name)
            .and_then(|r| r.strip_prefix(':'))
            .map(str::trim)
    })
}

impl RedisUnderTest {
    /// Connect to `url`, or start a private `redis-server` when there is none.
    pub async fn start(url: Option<&str>) -> Result<Self, String> {
        let (url, prefix, private) = match url {
            Some(u) => (
                u.to_owned(),
                // Its own keys, to delete at the end; short, because key length is part of a session's cost.
                format!("mb{}:", std::process::id()),
                None,
            ),
            None => {
                let private = RedisServer::start()
                    .await
                    .map_err(|e| format!("{e} (or pass --redis URL)"))?;
                (private.url(), "mcp:".to_owned(), Some(private))
            }
        };
        let client = redis::Client::open(url.as_str()).map_err(|e| e.to_string())?;
        let mut conn = client
            .get_multiplexed_async_connection()
            .await
            .map_err(|e| format!("redis at {url}: {e}"))?;
        redis::cmd("PING")
            .query_async::<String>(&mut conn)
            .await
            .map_err(|e| format!("redis at {url}: {e}"))?;
        Ok(Self {
            backend: RedisBackend { url, prefix },
            conn,
            private,
        })
    }

    async fn info(&self, section: &str) -> Result<String, String> {
        redis::cmd("INFO")
            .arg(section)
            .query_async(&mut self.conn.clone())
            .await
            .map_err(|e| format!("redis INFO {section}: {e}"))
    }

    /// `INFO memory`'s `used_memory`, in bytes.
    pub async fn used_memory(&self) -> Result<u64, String> {
        let info = self.info("memory").await?;
        info_field(&info, "used_memory")
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| "redis INFO memory: no used_memory".to_owned())
    }

    async fn stats(&self) -> Result<RedisStats, String> {
        let commands = self.info("commandstats").await?;
        let calls = commands
            .lines()
            .filter_map(|l| {
                let (name, rest) = l.strip_prefix("cmdstat_")?.split_once(':')?;
                let n = rest.split(',').find_map(|f| f.strip_prefix("calls="))?;
                Some((name.to_owned(), n.parse().ok()?))
            })
            .collect();
        let cpu = self.info("cpu").await?;
        let cpu_secs = ["used_cpu_sys", "used_cpu_user"]
            .iter()
            .filter_map(|f| info_field(&cpu, f)?.parse::<f64>().ok())
            .sum();
        let stats = self.info("stats").await?;
        let num = |f: &str| {
            info_field(&stats, f)
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        Ok(RedisStats {
            calls,
            cpu_secs,
            net_in: num("total_net_input_bytes"),
            net_out: num("total_net_output_bytes"),
        })
    }

    /// The key of a session's record (`RedisSessionStore`'s documented layout).
    fn session_key(&self, sid: &str) -> String {
        format!("{}sess:{sid}", self.backend.prefix)
    }

    /// Delete this run's keys from a shared Redis (a private one just stops).
    async fn clean_up(&self) -> Result<u64, String> {
        if self.private.is_some() {
            return Ok(0);
        }
        let mut c = self.conn.clone();
        let (mut cursor, mut deleted) = (0u64, 0u64);
        loop {
            let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(format!("{}*", self.backend.prefix))
                .arg("COUNT")
                .arg(1000)
                .query_async(&mut c)
                .await
                .map_err(|e| e.to_string())?;
            if !keys.is_empty() {
                deleted += redis::cmd("DEL")
                    .arg(&keys)
                    .query_async::<u64>(&mut c)
                    .await
                    .map_err(|e| e.to_string())?;
            }
            cursor = next;
            if cursor == 0 {
                return Ok(deleted);
            }
        }
    }
}

/// What Redis did between two `INFO` snapshots, per unit of work.
struct PerUnit {
    commands: Vec<(String, f64)>,
    units: u64,
    cpu: Duration,
    net_in: f64,
    net_out: f64,
}

impl PerUnit {
    fn between(a: &RedisStats, b: &RedisStats, units: u64) -> Self {
        let n = units.max(1) as f64;
        let commands = b
            .calls
            .iter()
            // Not the servers' work per call: the benchmark's own INFO, and a node's one bus subscription.
            .filter(|(name, _)| !matches!(name.as_str(), "info" | "ping" | "subscribe"))
            .filter_map(|(name, &calls)| {
                let d = calls.saturating_sub(a.calls.get(name).copied().unwrap_or(0));
                (d > 0).then(|| (name.to_uppercase(), d as f64 / n))
            })
            .collect();
        Self {
            commands,
            units,
            cpu: Duration::from_secs_f64((b.cpu_secs - a.cpu_secs).max(0.0) / n),
            net_in: b.net_in.saturating_sub(a.net_in) as f64 / n,
            net_out: b.net_out.saturating_sub(a.net_out) as f64 / n,
        }
    }

    /// Commands per unit, background work left out.
    fn total(&self) -> f64 {
        // From +0.0: an empty float sum is -0.0, printed "-0.00".
        self.per_call().iter().fold(0.0, |t, (_, n)| t + n)
    }

    /// The commands sent at least once per 20 units: what each call costs, without the background work
    /// that happens to fall in the window (a node's heartbeat, a few commands a second).
    fn per_call(&self) -> Vec<(String, f64)> {
        self.commands
            .iter()
            .filter(|(_, n)| *n >= 0.05)
            .cloned()
            .collect()
    }

    fn describe(&self) -> String {
        let main = self.per_call();
        let list = |cs: &[(String, f64)]| {
            cs.iter()
                .map(|(c, n)| format!("{c} {n:.2}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let background: Vec<_> = self
            .commands
            .iter()
            .filter(|c| !main.contains(c))
            .cloned()
            .collect();
        let mut names = if main.is_empty() {
            "none".to_owned()
        } else {
            list(&main)
        };
        if !background.is_empty() {
            // Not per call (a heartbeat in the window): shown apart, as counts in the window.
            let counts: Vec<_> = background
                .iter()
                .map(|(c, n)| format!("{c} x{:.0}", n * self.units.max(1) as f64))
                .collect();
            names = format!(
                "{names}; besides, in the window of {} units: {}",
                self.units,
                counts.join(", ")
            );
        }
        format!(
            "{:.2} Redis commands ({names}); {:.0} B to Redis, {:.0} B back; Redis CPU {}",
            self.total(),
            self.net_in,
            self.net_out,
            fmt_d(self.cpu)
        )
    }
}

/// Per era, `clients` connections calling the MCP server at `addr` for `dur`: calls/s, this process's CPU
/// per call (client and server), and what Redis did per call.
async fn profile_calls(
    redis: &RedisUnderTest,
    target: &'static str,
    addr: std::net::SocketAddr,
    era: Era,
    clients: usize,
    dur: Duration,
) -> Result<(LoadResult, PerUnit, u64), String> {
    let mut set = ClientSet::connect(target, addr, era, clients, true).await;
    set.drive(dur / 4, false).await;
    let sent0: u64 = set.workers.iter().map(|w| w.sent).sum();
    let before = redis.stats().await?;
    set.drive(dur, true).await;
    let after = redis.stats().await?;
    let calls = set.workers.iter().map(|w| w.sent).sum::<u64>() - sent0;
    let per = PerUnit::between(&before, &after, calls);
    let r = set.result(clients, dur.as_secs_f64(), 0);
    Ok((r, per, calls))
}

/// What opening one session costs Redis, and the size of a session's record there.
async fn profile_opens(
    redis: &RedisUnderTest,
    addr: std::net::SocketAddr,
    n: u64,
) -> Result<(PerUnit, Option<u64>, Option<u64>), String> {
    let mut c = Conn::connect(addr).await?;
    let before = redis.stats().await?;
    let mut last = String::new();
    for _ in 0..n {
        last = open_session(&mut c).await?;
    }
    let after = redis.stats().await?;
    let key = redis.session_key(&last);
    let mut conn = redis.conn.clone();
    let usage: Option<u64> = redis::cmd("MEMORY")
        .arg("USAGE")
        .arg(&key)
        .query_async(&mut conn)
        .await
        .map_err(|e| e.to_string())?;
    let record: Option<u64> = redis::cmd("STRLEN")
        .arg(&key)
        .query_async(&mut conn)
        .await
        .ok();
    Ok((PerUnit::between(&before, &after, n), usage, record))
}

pub async fn redis_cmd(a: RedisArgs) -> u64 {
    match redis_run(a).await {
        Ok(errors) => errors,
        Err(e) => {
            eprintln!("redis: {e}");
            1
        }
    }
}

async fn redis_run(a: RedisArgs) -> Result<u64, String> {
    let t0 = Instant::now();
    println!("load average before: {}", loadavg());
    let redis = RedisUnderTest::start(a.redis.as_deref()).await?;
    println!(
        "redis: {} ({}), key prefix {:?}",
        redis.backend.url,
        if redis.private.is_some() {
            "a private redis-server started by this run, no persistence"
        } else {
            "given with --redis"
        },
        redis.backend.prefix
    );
    let outcome = redis_phases(&a, &redis).await;
    match redis.clean_up().await {
        Ok(0) => {}
        Ok(n) => println!("redis: deleted this run's {n} keys"),
        Err(e) => eprintln!("redis: cleaning up this run's keys: {e}"),
    }
    drop(redis);
    let (idle_mem, idle_redis, loads, profile_errors) = outcome?;
    summary(t0, &idle_mem, &idle_redis, &loads, profile_errors);
    Ok(idle_mem.errors
        + idle_redis.errors
        + profile_errors
        + loads.iter().map(|r| r.errors).sum::<u64>())
}

type Phases = (IdleResult, IdleResult, Vec<LoadResult>, u64);

async fn redis_phases(a: &RedisArgs, redis: &RedisUnderTest) -> Result<Phases, String> {
    let n = a.sessions.clamp(1, 1_000_000);
    println!("== idle ({n} sessions), in memory ==");
    let idle_mem = run_idle(n, a.concurrency, a.server, None).await?;
    idle_mem.print();
    println!("== idle ({n} sessions), on redis ==");
    let idle_redis = run_idle(n, a.concurrency, a.server, Some(redis)).await?;
    idle_redis.print();

    println!(
        "== where the time goes (C=16, {:.1} s per target and era) ==",
        a.profile_seconds
    );
    let opts = |r: Option<RedisBackend>| McpOpts {
        redis: r,
        ..a.server.opts(0)
    };
    let mem = start_mcp(opts(None)).await.map_err(|e| e.to_string())?;
    let on_redis = start_mcp(opts(Some(redis.backend.clone())))
        .await
        .map_err(|e| e.to_string())?;
    let (per_open, usage, record) = profile_opens(redis, on_redis.addr, 200).await?;
    println!(
        "session open (initialize + initialized): {}",
        per_open.describe()
    );
    println!(
        "a session in Redis: MEMORY USAGE {} bytes for its key, of which the value (revision, JSON record) is {} bytes",
        usage.map_or("?".into(), |u| u.to_string()),
        record.map_or("?".into(), |u| u.to_string()),
    );
    let mut profile_errors = 0;
    let dur = secs(a.profile_seconds);
    for era in [Era::Legacy, Era::Modern] {
        let mut cpu = Vec::new();
        for (name, addr) in [("mcp", mem.addr), ("redis", on_redis.addr)] {
            let (r, per, calls) = profile_calls(redis, name, addr, era, 16, dur).await?;
            profile_errors += r.errors;
            println!(
                "{} {name:<5}: {:.0} calls/s, this process's CPU {}/call; per call: {}",
                era.name(),
                r.rate(),
                fmt_d(r.cpu_per_call()),
                if name == "mcp" {
                    format!("{calls} calls, no Redis")
                } else {
                    per.describe()
                }
            );
            cpu.push((r.cpu_per_call(), per.cpu));
        }
        if let [(m, _), (r, rcpu)] = cpu[..] {
            println!(
                "{} on redis costs {} more CPU per call in this process and {} in redis-server",
                era.name(),
                fmt_d(r.saturating_sub(m)),
                fmt_d(rcpu)
            );
        }
    }
    mem.stop().await;
    on_redis.stop().await;

    println!("== load: in memory (mcp) vs on redis (redis) ==");
    let loads = load_runs(
        &[Era::Legacy, Era::Modern],
        &[1, 16],
        RunOpts {
            warmup: secs(a.warmup),
            dur: secs(a.seconds),
            server: a.server,
            only: None,
            slices: a.slices,
            against: Against::Redis(redis.backend.clone()),
        },
        a.c1_runtime,
    )
    .await?;
    Ok((idle_mem, idle_redis, loads, profile_errors))
}

fn summary(
    t0: Instant,
    idle_mem: &IdleResult,
    idle_redis: &IdleResult,
    loads: &[LoadResult],
    profile_errors: u64,
) {
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
    println!("{:<50} {:<50} result", "target", "measured");
    for (era, bound) in [(Era::Legacy, 0.5), (Era::Modern, 0.95)] {
        if let (Some(m), Some(r)) = (find("mcp", era, 16), find("redis", era, 16)) {
            let ratio = r.rate() / m.rate().max(1e-9);
            // CPU per call moves much less with other load on the machine than calls/s do.
            let cpu = r.cpu_per_call().as_secs_f64() / m.cpu_per_call().as_secs_f64().max(1e-12);
            println!(
                "{:<50} {:<50} {}",
                format!("{} C=16 on redis >= {bound:.2} x in memory", era.name()),
                format!(
                    "{ratio:.2} ({:.0} / {:.0} calls/s; CPU/call {cpu:.2}x)",
                    r.rate(),
                    m.rate()
                ),
                verdict(ratio >= bound)
            );
        }
    }
    for era in [Era::Legacy, Era::Modern] {
        if let (Some(m), Some(r)) = (find("mcp", era, 1), find("redis", era, 1)) {
            println!(
                "{:<50} {:<50} info",
                format!("{} C=1 p50 on redis / in memory", era.name()),
                format!(
                    "{:.2}x ({} / {})",
                    r.p50.as_secs_f64() / m.p50.as_secs_f64().max(1e-12),
                    fmt_d(r.p50),
                    fmt_d(m.p50)
                ),
            );
        }
    }
    let all = idle_redis.opened as usize == idle_redis.sessions;
    if let Some(per) = idle_redis.redis_bytes_per_session() {
        println!(
            "{:<50} {:<50} {}",
            format!(
                "<= 1 KiB Redis memory per idle session @ {}",
                idle_redis.sessions
            ),
            format!("{per:.0} bytes"),
            verdict(per <= 1024.0 && all)
        );
    }
    println!(
        "{:<50} {:<50} {}",
        format!("open {} sessions on redis in < 2 s", idle_redis.sessions),
        format!(
            "{:.3} s (in memory {:.3} s)",
            idle_redis.secs, idle_mem.secs
        ),
        verdict(idle_redis.secs < 2.0 && all)
    );
    let errors = idle_mem.errors
        + idle_redis.errors
        + profile_errors
        + loads.iter().map(|r| r.errors).sum::<u64>();
    println!(
        "{:<50} {:<50} {}",
        "no request errors",
        errors.to_string(),
        verdict(errors == 0)
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_call_figures_come_from_info_deltas() {
        let info = "# CPU\r\nused_cpu_sys:1.500000\r\nused_cpu_user:0.500000\r\nused_cpu_sys_children:9.0\r\n";
        assert_eq!(info_field(info, "used_cpu_sys"), Some("1.500000"));
        assert_eq!(info_field(info, "used_cpu"), None);
        let stats = |calls: &[(&str, u64)], cpu, net| RedisStats {
            calls: calls.iter().map(|(n, c)| (n.to_string(), *c)).collect(),
            cpu_secs: cpu,
            net_in: net,
            net_out: net / 10,
        };
        let a = stats(&[("hget", 10), ("info", 3)], 1.0, 1000);
        let b = stats(
            &[
                ("hget", 110),
                ("pexpire", 100),
                ("info", 9),
                ("subscribe", 1),
            ],
            1.001,
            15_700,
        );
        let per = PerUnit::between(&a, &b, 100);
        assert_eq!(
            per.commands,
            [("HGET".to_owned(), 1.0), ("PEXPIRE".to_owned(), 1.0)]
        );
        assert_eq!(per.total(), 2.0);
        assert_eq!(per.net_in, 147.0);
        assert!((per.cpu.as_secs_f64() - 10e-6).abs() < 1e-9);
        let none = PerUnit::between(&a, &a, 100);
        assert!(none.describe().starts_with("0.00 Redis commands (none)"));
        // One heartbeat in a window of 1000 calls is background, not a per-call command.
        let c = stats(&[("hget", 1010), ("set", 1), ("info", 3)], 1.0, 1000);
        let per = PerUnit::between(&a, &c, 1000);
        assert_eq!(per.per_call(), [("HGET".to_owned(), 1.0)]);
        assert!(
            per.describe().starts_with(
                "1.00 Redis commands (HGET 1.00; besides, in the window of 1000 units: SET x1)"
            ),
            "{}",
            per.describe()
        );
    }

    /// Against a real redis-server (skipped when there is none, unless `MCP_REQUIRE_PEERS=1`): a legacy
    /// call on the Redis backend touches its session with one command, and a modern call sends
    /// Redis nothing at all, which is why the modern era runs at in-memory speed on a fleet.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn legacy_calls_touch_redis_and_modern_calls_do_not() {
        let redis = match RedisUnderTest::start(None).await {
            Ok(r) => r,
            Err(e) => {
                assert!(
                    std::env::var("MCP_REQUIRE_PEERS").as_deref() != Ok("1"),
                    "redis-server is required (MCP_REQUIRE_PEERS=1): {e}"
                );
                eprintln!("\n!!! SKIPPED: {e} !!!\n");
                return;
            }
        };
        let opts = McpOpts {
            response_mode: mcp::server::http::ResponseMode::Auto,
            keepalive: true,
            max_sessions: 0,
            redis: Some(redis.backend.clone()),
        };
        let srv = start_mcp(opts).await.unwrap();
        let dur = Duration::from_millis(500);
        let (r, legacy, calls) = profile_calls(&redis, "redis", srv.addr, Era::Legacy, 2, dur)
            .await
            .unwrap();
        assert_eq!(r.errors, 0, "{:?}", r.first_error);
        assert!(calls >= 40, "{calls} calls");
        assert_eq!(
            legacy.per_call(),
            [("GETEX".to_owned(), 1.0)],
            "{}",
            legacy.describe()
        );
        let (r, modern, calls) = profile_calls(&redis, "redis", srv.addr, Era::Modern, 2, dur)
            .await
            .unwrap();
        assert_eq!(r.errors, 0, "{:?}", r.first_error);
        assert!(calls >= 40, "{calls} calls");
        assert_eq!(modern.per_call(), [], "{}", modern.describe());
        // Only the benchmark's own INFO requests and background work (a few hundred bytes in all).
        assert!(modern.net_in < 5.0, "{}", modern.describe());
        let (open, usage, record) = profile_opens(&redis, srv.addr, 5).await.unwrap();
        assert!(open.total() >= 2.0, "{}", open.describe());
        assert!(usage.is_some_and(|u| u > 0) && record.is_some_and(|r| r > 0));
        srv.stop().await;
    }
}
