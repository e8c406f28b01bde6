//! `--pin`: the load generator on one CPU, every server child on the other, so that rounds of the same
//! binary agree within a few percent (unpinned, how often threads park, wake and migrate varies).

/// The CPU `--pin` gives the load generator (this process).
pub(crate) const CLIENT_CPU: usize = 0;
/// The CPU `--pin` gives every server child.
pub(crate) const SERVER_CPU: usize = 1;

/// Pin every thread of this process to [`CLIENT_CPU`] with `taskset` (no `unsafe` affinity call of our
/// own). Call it before the runtime exists: threads started later inherit the mask of their parent.
pub(crate) fn pin_self() -> Result<(), String> {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    if cpus <= SERVER_CPU {
        return Err(format!(
            "needs at least 2 CPUs, this process may use {cpus}"
        ));
    }
    let status = std::process::Command::new("taskset")
        .args([
            "-a",
            "-p",
            "-c",
            &CLIENT_CPU.to_string(),
            &std::process::id().to_string(),
        ])
        .stdout(std::process::Stdio::null())
        .status()
        .map_err(|e| format!("run taskset (util-linux): {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("taskset exited with {status}"))
    }
}

/// The command words that run a program on [`SERVER_CPU`]: `taskset -c N`, which execs the program, so the
/// child's pid (whose CPU time is read) is the server's own.
pub(crate) fn on_server_cpu() -> [String; 3] {
    ["taskset".into(), "-c".into(), SERVER_CPU.to_string()]
}

/// A line saying where `--pin` put what.
pub(crate) fn describe() -> String {
    format!("load generator pinned to CPU {CLIENT_CPU}, every server to CPU {SERVER_CPU}")
}
