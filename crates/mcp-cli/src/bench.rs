//! `mcp bench`: C callers of one tool for D seconds, on the load generator of [`mcp_cli::load`].

use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use mcp_cli::load::{drive, Failure, Outcome, Report};
use mcp_client::Client;
use serde_json::{json, Map, Value};

use crate::cli::{BenchArgs, Global};
use crate::elicit::Elicitor;
use crate::error::CliError;
use crate::output;
use crate::sample::Sampler;
use crate::target::{self, Connection};

/// The run's shape, checked before connecting.
struct Plan {
    concurrency: usize,
    connections: usize,
    duration: Duration,
    warmup: Duration,
}

impl Plan {
    fn check(a: &BenchArgs) -> Result<Self, CliError> {
        let seconds = |v: f64, flag: &str, zero_ok: bool| {
            Duration::try_from_secs_f64(v)
                .ok()
                .filter(|d| zero_ok || !d.is_zero())
                .ok_or_else(|| {
                    CliError::Usage(format!(
                        "{flag} {v} is not a {}number of seconds",
                        if zero_ok { "" } else { "positive " }
                    ))
                })
        };
        if a.concurrency == 0 {
            return Err(CliError::Usage("--concurrency must be at least 1".into()));
        }
        if a.connections == 0 || a.connections > a.concurrency {
            return Err(CliError::Usage(format!(
                "--connections must be between 1 and --concurrency ({})",
                a.concurrency
            )));
        }
        Ok(Self {
            concurrency: a.concurrency,
            connections: a.connections,
            duration: seconds(a.duration, "--duration", false)?,
            warmup: seconds(a.warmup, "--warmup", true)?,
        })
    }
}

/// Calls so far in the current phase, for the progress line.
#[derive(Default)]
struct Tally {
    calls: AtomicU64,
    failed: AtomicU64,
}

/// Run `mcp bench`.
pub async fn run(a: &BenchArgs, global: &Global) -> Result<(), CliError> {
    let plan = Plan::check(a)?;
    let (spec, words) = target::resolve(&a.target, global, &crate::commands::env_var)?;
    let Some((tool, arg_words)) = words.split_first() else {
        return Err(CliError::Usage(
            "this command needs a tool name: mcp bench SERVER TOOL [k=v ...]".into(),
        ));
    };
    // A question from the server mid-benchmark is answered from --answer or --sample-reply, or declined;
    // never asked on the terminal.
    let elicitor = Elicitor::new(&global.answers, true)?;
    let sampler = Sampler::new(global.sample_reply.as_deref(), false);
    let first = target::connect(&spec, global, elicitor.clone(), sampler.clone()).await?;
    let mut clients = vec![first.client.clone()];
    let prepared = async {
        let arguments =
            crate::commands::tool_arguments(&first.client, tool, arg_words, a.raw).await?;
        for _ in 1..plan.connections {
            clients.push(
                target::connect(&spec, global, elicitor.clone(), sampler.clone())
                    .await?
                    .client,
            );
        }
        Ok::<_, CliError>(arguments)
    }
    .await;
    let report = match prepared {
        Ok(arguments) => measure(&plan, &clients, tool, arguments).await,
        Err(e) => {
            close_all(&clients).await;
            return Err(e);
        }
    };
    close_all(&clients).await;
    print(&report, &plan, &first, &spec.describe(), tool, global.json)?;
    verdict(&report)
}

async fn close_all(clients: &[Client]) {
    for c in clients {
        c.close().await;
    }
}

/// The warm-up, then the measured run.
async fn measure(plan: &Plan, clients: &[Client], tool: &str, arguments: Value) -> Report {
    let tally = Arc::new(Tally::default());
    let call = {
        let clients: Arc<[Client]> = clients.into();
        let tool: Arc<str> = tool.into();
        let arguments = Arc::new(arguments);
        let tally = tally.clone();
        move |caller: usize| {
            let client = clients[caller % clients.len()].clone();
            let (tool, arguments, tally) = (tool.clone(), arguments.clone(), tally.clone());
            async move {
                let outcome =
                    Outcome::of_call(&client.call_tool(&tool, (*arguments).clone()).await);
                tally.calls.fetch_add(1, Ordering::Relaxed);
                if outcome != Outcome::Ok {
                    tally.failed.fetch_add(1, Ordering::Relaxed);
                }
                outcome
            }
        }
    };
    if !plan.warmup.is_zero() {
        let line = ProgressLine::start("warm-up", plan.warmup, tally.clone());
        drive(plan.concurrency, plan.warmup, call.clone()).await;
        ProgressLine::finish(line);
        tally.calls.store(0, Ordering::Relaxed);
        tally.failed.store(0, Ordering::Relaxed);
    }
    let line = ProgressLine::start("measuring", plan.duration, tally);
    let report = drive(plan.concurrency, plan.duration, call).await;
    ProgressLine::finish(line);
    report
}

/// A progress line on stderr while a phase runs, only when stderr is a terminal. It has no colour, so it
/// looks the same with and without NO_COLOR.
struct ProgressLine {
    bar: ProgressBar,
    ticker: tokio::task::JoinHandle<()>,
}

impl ProgressLine {
    fn start(phase: &'static str, length: Duration, tally: Arc<Tally>) -> Option<Self> {
        if !std::io::stderr().is_terminal() {
            return None;
        }
        let total_ms = u64::try_from(length.as_millis()).unwrap_or(u64::MAX).max(1);
        let bar = ProgressBar::new(total_ms);
        if let Ok(style) = ProgressStyle::with_template("{prefix:>9} [{bar:30}] {msg}") {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_prefix(phase);
        let shown = bar.clone();
        let ticker = tokio::spawn(async move {
            let start = Instant::now();
            let mut every = tokio::time::interval(Duration::from_millis(200));
            loop {
                every.tick().await;
                let elapsed = start.elapsed();
                let ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
                let calls = tally.calls.load(Ordering::Relaxed);
                let failed = tally.failed.load(Ordering::Relaxed);
                shown.set_position(ms.min(total_ms));
                shown.set_message(format!(
                    "{:.0}/{:.0} s  {calls} calls  {:.0}/s  {failed} errors",
                    elapsed.as_secs_f64().min(length.as_secs_f64()),
                    length.as_secs_f64(),
                    calls as f64 / elapsed.as_secs_f64().max(1e-3),
                ));
            }
        });
        Some(Self { bar, ticker })
    }

    fn finish(line: Option<Self>) {
        if let Some(l) = line {
            l.ticker.abort();
            l.bar.finish_and_clear();
        }
    }
}

/// Milliseconds to the microsecond, for JSON (no float noise like 3.1948800000000004).
fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1000.0
}

/// A latency for people: µs under a millisecond, else ms.
fn human(d: Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    if us >= 1000.0 {
        format!("{:.2} ms", us / 1000.0)
    } else {
        format!("{us:.0} µs")
    }
}

fn print(
    r: &Report,
    plan: &Plan,
    conn: &Connection,
    server: &str,
    tool: &str,
    json: bool,
) -> Result<(), CliError> {
    let q = |p: f64| r.latency.quantile(p);
    if json {
        let mut errors = Map::new();
        let mut first = Map::new();
        errors.insert("total".into(), r.failed().into());
        for kind in Failure::ALL {
            errors.insert(kind.name().into(), r.failed_with(kind).into());
            if let Some(m) = r.first_error(kind) {
                first.insert(kind.name().into(), m.into());
            }
        }
        return output::json(&json!({
            "tool": tool,
            "server": server,
            "transport": conn.transport,
            "protocolVersion": conn.client.protocol_version().as_str(),
            "concurrency": plan.concurrency,
            "connections": plan.connections,
            "warmupSeconds": plan.warmup.as_secs_f64(),
            "seconds": r.elapsed.as_secs_f64(),
            "calls": r.calls(),
            "ok": r.ok(),
            "callsPerSecond": (r.calls_per_second() * 10.0).round() / 10.0,
            "errors": errors,
            "firstErrors": first,
            "latencyMs": {
                "p50": ms(q(0.5)),
                "p90": ms(q(0.9)),
                "p99": ms(q(0.99)),
                "max": ms(r.latency.max()),
            },
        }));
    }
    let warmup = if plan.warmup.is_zero() {
        ", no warm-up".to_owned()
    } else {
        format!(" after {} s of warm-up", plan.warmup.as_secs_f64())
    };
    out!(
        "{tool} on {server} ({}, {}): {} callers on {} connection{}, {:.1} s measured{warmup}",
        conn.transport,
        conn.client.protocol_version().as_str(),
        plan.concurrency,
        plan.connections,
        if plan.connections == 1 { "" } else { "s" },
        r.elapsed.as_secs_f64(),
    );
    let latency = |d: Duration| {
        if r.ok() == 0 {
            "-".to_owned()
        } else {
            human(d)
        }
    };
    output::table(
        &["CALLS", "CALLS/S", "ERRORS", "P50", "P90", "P99", "MAX"],
        vec![vec![
            r.calls().to_string(),
            format!("{:.1}", r.calls_per_second()),
            r.failed().to_string(),
            latency(q(0.5)),
            latency(q(0.9)),
            latency(q(0.99)),
            latency(r.latency.max()),
        ]],
    );
    if r.failed() > 0 {
        let rows = Failure::ALL
            .iter()
            .filter(|k| r.failed_with(**k) > 0)
            .map(|&k| {
                vec![
                    describe(k).to_owned(),
                    r.failed_with(k).to_string(),
                    r.first_error(k).unwrap_or_default().to_owned(),
                ]
            })
            .collect();
        output::table(&["ERROR", "CALLS", "FIRST MESSAGE"], rows);
    }
    Ok(())
}

fn describe(kind: Failure) -> &'static str {
    match kind {
        Failure::JsonRpc => "JSON-RPC error",
        Failure::IsError => "isError result",
        Failure::Timeout => "timeout",
        Failure::Transport => "transport",
        Failure::Protocol => "malformed answer",
    }
}

/// Every call succeeded, or the error `mcp call` gives for the gravest failure seen.
fn verdict(r: &Report) -> Result<(), CliError> {
    if r.failed() == 0 {
        return Ok(());
    }
    let kinds = Failure::ALL
        .iter()
        .filter(|k| r.failed_with(**k) > 0)
        .map(|&k| format!("{} {}", describe(k), r.failed_with(k)))
        .collect::<Vec<_>>()
        .join(", ");
    let msg = format!("{} of {} calls failed ({kinds})", r.failed(), r.calls());
    let has = |k: Failure| r.failed_with(k) > 0;
    Err(if has(Failure::Timeout) || has(Failure::Transport) {
        CliError::Connect(msg)
    } else if has(Failure::JsonRpc) || has(Failure::Protocol) {
        CliError::Protocol(msg)
    } else {
        CliError::Tool(msg)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn bench_args(words: &[&str]) -> BenchArgs {
        let mut argv = vec!["mcp", "bench"];
        argv.extend(words);
        match crate::cli::Cli::try_parse_from(argv).unwrap().command {
            crate::cli::Command::Bench(b) => b,
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn defaults_and_bad_numbers() {
        let p = Plan::check(&bench_args(&["http://127.0.0.1:9/mcp", "t"])).unwrap();
        assert_eq!(
            (p.concurrency, p.connections, p.duration, p.warmup),
            (16, 1, Duration::from_secs(10), Duration::from_secs(1))
        );
        for bad in [
            &["-c", "0"][..],
            &["-d", "0"],
            &["--duration=-1"],
            &["-d", "inf"],
            &["--warmup=-1"],
            &["--warmup", "NaN"],
            &["--connections", "0"],
            &["-c", "2", "--connections", "3"],
        ] {
            let mut words = vec!["http://127.0.0.1:9/mcp", "t"];
            words.extend(bad);
            assert!(
                matches!(Plan::check(&bench_args(&words)), Err(CliError::Usage(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn the_gravest_failure_sets_the_exit_code() {
        let report = |kinds: &[Failure]| {
            let mut r = Report::default();
            r.add(Outcome::Ok, Duration::from_millis(1));
            for &k in kinds {
                r.add(Outcome::Failed(k, "x".into()), Duration::ZERO);
            }
            verdict(&r).err().map(|e| e.exit_code())
        };
        assert_eq!(report(&[]), None);
        assert_eq!(report(&[Failure::IsError]), Some(5));
        assert_eq!(report(&[Failure::IsError, Failure::JsonRpc]), Some(4));
        assert_eq!(report(&[Failure::Protocol]), Some(4));
        assert_eq!(report(&[Failure::IsError, Failure::Timeout]), Some(3));
        assert_eq!(report(&[Failure::Transport]), Some(3));
    }
}
