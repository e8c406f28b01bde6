//! `mcp-bench http-ir`: instructions (and `malloc` calls) per `tools/call` of a server child run under
//! valgrind, ours (legacy and modern era) against the raw hyper ceiling. Instruction counts barely move with
//! other load on the machine, unlike CPU time.
//!
//! Each target is run twice under valgrind, serving `--base` calls and then `--base + --calls` calls over
//! the same C keep-alive connections; the per-call figure is the difference of the two totals divided by
//! `--calls`, so the child's start-up, the connections, the sessions and the shutdown cancel out. The two
//! output files are kept (`--out`), so `callgrind_annotate` (or `cg_diff` with `--tool cachegrind`) shows
//! where the instructions go.
//!
//! ```text
//! mcp-bench http-ir --calls 2000            # callgrind: Ir and malloc calls per call
//! mcp-bench http-ir --tool cachegrind       # faster; Ir only, cg_diff the two files per target
//! mcp-bench http-ir --cache-sim             # also simulated L1 cache misses and mispredicted branches
//! ```

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, ValueEnum};

use crate::http_cpu::ChildServer;
use crate::wire::{check_call, open_session, CallSpec, Conn, Era};
use crate::{probe, EraSel};

/// How many calls the two runs of a difference measurement make (`http-ir`, `client-ir`).
#[derive(Args)]
pub(crate) struct DiffRuns {
    /// Calls of the first run of each case (the second makes `--calls` more).
    #[arg(long, default_value_t = 300)]
    pub(crate) base: u64,
    /// Calls the per-call figures are taken over.
    #[arg(long, default_value_t = 2000)]
    pub(crate) calls: u64,
}

#[derive(Args)]
pub struct HttpIrArgs {
    #[command(flatten)]
    runs: DiffRuns,
    /// Concurrent clients, each on its own keep-alive connection.
    #[arg(long, default_value_t = 16)]
    clients: usize,
    /// Worker threads of the server child's runtime.
    #[arg(long, default_value_t = 2)]
    server_threads: usize,
    /// Which era(s) to measure.
    #[arg(long, value_enum, default_value_t = EraSel::Both)]
    era: EraSel,
    /// Measure only this target.
    #[arg(long, value_enum)]
    only: Option<crate::Only>,
    /// The valgrind tool.
    #[arg(long, value_enum, default_value_t = Tool::Callgrind)]
    tool: Tool,
    /// Simulate the caches and branch predictors too, and print L1 instruction and data misses and
    /// mispredicted branches per call: why an instruction of one server costs more time than another's.
    /// (valgrind warns that it models the last-level cache inexactly; only L1 figures are printed.)
    #[arg(long)]
    cache_sim: bool,
    /// Where the valgrind output files go.
    #[arg(long, default_value = "target/http-ir")]
    out: PathBuf,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Tool {
    /// Instructions, inclusive costs and call counts (`malloc` calls per call are reported).
    Callgrind,
    /// Instructions only; faster.
    Cachegrind,
}

impl Tool {
    fn name(self) -> &'static str {
        match self {
            Tool::Callgrind => "callgrind",
            Tool::Cachegrind => "cachegrind",
        }
    }

    fn wrapper(self, file: &Path, cache_sim: bool) -> Vec<String> {
        let mut w = vec!["valgrind".to_owned(), "-q".to_owned()];
        let sim = if cache_sim { "yes" } else { "no" };
        match self {
            Tool::Callgrind => {
                w.push("--tool=callgrind".into());
                w.push(format!("--cache-sim={sim}"));
                w.push(format!("--branch-sim={sim}"));
                w.push(format!("--callgrind-out-file={}", file.display()));
            }
            Tool::Cachegrind => {
                w.push("--tool=cachegrind".into());
                w.push(format!("--cache-sim={sim}"));
                w.push(format!("--branch-sim={sim}"));
                w.push(format!("--cachegrind-out-file={}", file.display()));
            }
        }
        w
    }
}

/// Totals of one valgrind output file.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Totals {
    pub(crate) ir: u64,
    /// Calls to malloc, calloc and realloc (callgrind only).
    pub(crate) allocs: u64,
    /// L1 instruction cache misses (with `--cache-sim`).
    pub(crate) i1_misses: u64,
    /// L1 data cache misses, reads and writes (with `--cache-sim`).
    pub(crate) d1_misses: u64,
    /// Mispredicted branches, conditional and indirect (with `--cache-sim`).
    pub(crate) mispredicts: u64,
}

/// Read the totals of a callgrind or cachegrind output file.
pub(crate) fn read_totals(file: &Path) -> Result<Totals, String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let mut t = Totals::default();
    let mut names: std::collections::HashMap<String, String> = Default::default();
    // The function the next `calls=` line calls (callgrind compresses names to `(id)` after first use).
    let mut callee_is_alloc = false;
    // The event names of the summary line's columns (`events: Ir I1mr ...`); Ir comes first.
    let mut events: Vec<&str> = vec!["Ir"];
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("events:") {
            events = rest.split_whitespace().collect();
        } else if let Some(rest) = line
            .strip_prefix("summary:")
            .or_else(|| line.strip_prefix("totals:"))
        {
            let counts = rest
                .split_whitespace()
                .map(|n| n.parse::<u64>())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("{}: bad summary line {line:?}: {e}", file.display()))?;
            let count = |names: &[&str]| -> u64 {
                events
                    .iter()
                    .zip(&counts)
                    .filter(|(e, _)| names.contains(e))
                    .map(|(_, n)| n)
                    .sum()
            };
            t.ir = counts
                .first()
                .copied()
                .filter(|_| events.first() == Some(&"Ir"))
                .ok_or_else(|| format!("{}: bad summary line", file.display()))?;
            t.i1_misses = count(&["I1mr"]);
            t.d1_misses = count(&["D1mr", "D1mw"]);
            t.mispredicts = count(&["Bcm", "Bim"]);
        } else if let Some(rest) = line
            .strip_prefix("cfn=")
            .or_else(|| line.strip_prefix("fn="))
        {
            let callee = line.starts_with("cfn=");
            let name = match rest.split_once(' ') {
                Some((id, name)) => {
                    names.insert(id.to_owned(), name.to_owned());
                    name.to_owned()
                }
                None => names.get(rest).cloned().unwrap_or_default(),
            };
            if callee {
                let base = name.split('\'').next().unwrap_or_default();
                callee_is_alloc = matches!(base, "malloc" | "calloc" | "realloc");
            }
        } else if let Some(rest) = line.strip_prefix("calls=") {
            if callee_is_alloc {
                t.allocs += rest
                    .split_whitespace()
                    .next()
                    .and_then(|n| n.parse::<u64>().ok())
                    .unwrap_or(0);
            }
            callee_is_alloc = false;
        }
    }
    Ok(t)
}

/// Run `target` (`mcp` or `ceiling`) under valgrind for `calls` calls of `era`; the totals of its output.
async fn run_once(
    a: &HttpIrArgs,
    target: &str,
    era: Era,
    ceiling_body: &str,
    calls: u64,
) -> Result<(Totals, PathBuf), String> {
    std::fs::create_dir_all(&a.out).map_err(|e| format!("{}: {e}", a.out.display()))?;
    let file = a
        .out
        .join(format!("{}.{target}.{}.{calls}", a.tool.name(), era.name()));
    let args: Vec<&str> = match target {
        "mcp" => vec!["mcp"],
        "json" => vec!["json-ceiling", "--body", ceiling_body],
        "typed" => vec!["typed-ceiling", "--body", ceiling_body],
        _ => vec!["ceiling", "--body", ceiling_body],
    };
    let mut child = ChildServer::start_under(
        &a.tool.wrapper(&file, a.cache_sim),
        &args,
        Some(a.server_threads),
    )?;
    let addr = child.addr;
    let sessions = target == "mcp";
    let left = Arc::new(AtomicU64::new(calls));
    let mut tasks = Vec::new();
    for _ in 0..a.clients.max(1) {
        let left = left.clone();
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::connect(addr).await?;
            let spec = match (era, sessions) {
                (Era::Modern, _) => CallSpec::modern(),
                (Era::Legacy, true) => CallSpec::legacy(&open_session(&mut conn).await?),
                (Era::Legacy, false) => CallSpec::legacy(&"A".repeat(32)),
            };
            let mut id = 1;
            while left
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
                .is_ok()
            {
                let r = conn
                    .post_within(Duration::from_secs(120), &spec.headers, spec.body(id))
                    .await?;
                check_call(&r)?;
                id += 1;
            }
            Ok::<_, String>(())
        }));
    }
    for t in tasks {
        t.await.map_err(|e| e.to_string())??;
    }
    child.finish(Duration::from_secs(300))?;
    Ok((read_totals(&file)?, file))
}

/// Run the measurement; returns the number of failures.
pub fn http_ir_cmd(a: HttpIrArgs) -> u64 {
    crate::run_measurement("http-ir", run(&a))
}

async fn run(a: &HttpIrArgs) -> Result<(), String> {
    println!(
        "http-ir: tools/call under valgrind --tool={}, C={} (one keep-alive connection each), server child of \
         {} worker thread(s); per call = (run of {} calls - run of {}) / {}",
        a.tool.name(),
        a.clients,
        a.server_threads,
        a.runs.base + a.runs.calls,
        a.runs.base,
        a.runs.calls
    );
    // The ceiling answers with the bytes our server answers each era's call with.
    let native = ChildServer::start(&["mcp"], Some(a.server_threads))?;
    let mut bodies = Vec::new();
    for era in a.era.eras() {
        let body = probe(native.addr, era).await?;
        bodies.push((
            era,
            String::from_utf8(body.to_vec()).map_err(|e| e.to_string())?,
        ));
    }
    drop(native);
    let targets: Vec<&str> = match a.only {
        Some(crate::Only::Mcp) => vec!["mcp"],
        Some(crate::Only::Ceiling) => vec!["ceiling", "json", "typed"],
        None => vec!["ceiling", "json", "typed", "mcp"],
    };
    // `ratio` is to the raw ceiling; `/json` and `/typed` are ours to the JSON-RPC ceilings (what JSON costs
    // any server with a `Value` message model, and with a typed one).
    let sim_header = if a.cache_sim {
        format!("{:>9} {:>9} {:>9}  ", "I1miss", "D1miss", "mispred")
    } else {
        String::new()
    };
    println!(
        "{:<8} {:<7} {:>12} {:>13} {:>8} {:>6} {:>6}  {sim_header}files",
        "target", "era", "Ir/call", "mallocs/call", "ratio", "/json", "/typed"
    );
    for (era, body) in &bodies {
        let (mut ceiling_ir, mut json_ir, mut typed_ir) = (None, None, None);
        for &target in &targets {
            let (short, f1) = run_once(a, target, *era, body, a.runs.base).await?;
            let (long, f2) = run_once(a, target, *era, body, a.runs.base + a.runs.calls).await?;
            let ir = long.ir.saturating_sub(short.ir) as f64 / a.runs.calls as f64;
            let allocs = long.allocs.saturating_sub(short.allocs) as f64 / a.runs.calls as f64;
            match target {
                "ceiling" => ceiling_ir = Some(ir),
                "json" => json_ir = Some(ir),
                "typed" => typed_ir = Some(ir),
                _ => {}
            }
            let ratio = ceiling_ir
                .filter(|_| target != "ceiling")
                .map_or_else(String::new, |c| format!("{:.2}", ir / c));
            let to = |ceiling: Option<f64>| {
                ceiling
                    .filter(|_| target == "mcp")
                    .map_or_else(String::new, |j| format!("{:.2}", ir / j))
            };
            let (to_json, to_typed) = (to(json_ir), to(typed_ir));
            let per_call = |f: fn(&Totals) -> u64| {
                f(&long).saturating_sub(f(&short)) as f64 / a.runs.calls as f64
            };
            let sim = if a.cache_sim {
                format!(
                    "{:>9.0} {:>9.0} {:>9.0}  ",
                    per_call(|t| t.i1_misses),
                    per_call(|t| t.d1_misses),
                    per_call(|t| t.mispredicts)
                )
            } else {
                String::new()
            };
            let allocs = if a.tool == Tool::Callgrind {
                format!("{allocs:.1}")
            } else {
                "-".into()
            };
            println!(
                "{:<8} {:<7} {:>12.0} {:>13} {:>8} {:>6} {:>6}  {sim}{} {}",
                target,
                era.name(),
                ir,
                allocs,
                ratio,
                to_json,
                to_typed,
                f1.display(),
                f2.display()
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// [`read_totals`] of a file holding `text`.
    fn totals_of(name: &str, text: &str) -> Result<Totals, String> {
        let dir = std::env::temp_dir().join(format!("http-ir-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("callgrind.out");
        std::fs::write(&file, text).unwrap();
        let totals = read_totals(&file);
        std::fs::remove_dir_all(&dir).unwrap();
        totals
    }

    #[test]
    fn totals_are_read_by_event_name_with_allocations_counted_from_calls() {
        let t = totals_of(
            "totals",
            "events: Ir Dr Dw I1mr D1mr D1mw Bc Bcm Bi Bim\n\
             fn=(1) main\n\
             cfn=(2) malloc\n\
             calls=7 0\n\
             1 10\n\
             cfn=(3) free\n\
             calls=5 0\n\
             1 10\n\
             cfn=(2)\n\
             calls=4 0\n\
             1 10\n\
             summary: 1000 300 200 11 22 33 90 4 9 5\n",
        )
        .unwrap();
        assert_eq!((t.ir, t.allocs), (1000, 11));
        assert_eq!((t.i1_misses, t.d1_misses, t.mispredicts), (11, 55, 9));
    }

    #[test]
    fn a_summary_without_instructions_first_is_refused() {
        assert!(totals_of("bad", "events: Dr Ir\nsummary: 5 6\n").is_err());
    }

    #[test]
    fn a_summary_with_a_count_that_is_no_number_is_refused() {
        // A count read as 0 would make a cache-miss or mispredict column silently look perfect.
        let err = totals_of("nan", "events: Ir I1mr\nsummary: 1000 1x\n").unwrap_err();
        assert!(err.contains("bad summary line"), "{err}");
        assert_eq!(
            totals_of("ok", "events: Ir I1mr\nsummary: 1000 7\n")
                .unwrap()
                .i1_misses,
            7
        );
    }
}
