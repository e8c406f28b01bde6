//! Finding and running the peer programs (official SDK clients and servers) installed by
//! `.ci/install-peers.sh`.

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub use mcp_test_support::{wait_timeout, Peers, ServerProcess};

/// What a peer client printed.
pub struct ClientRun {
    pub code: Option<i32>,
    pub output: String,
    pub passed: u64,
    pub failed: u64,
    /// The era the client reported after connecting (`legacy` or `modern`).
    pub era: Option<String>,
}

impl ClientRun {
    pub fn ok(&self) -> bool {
        self.code == Some(0) && self.failed == 0 && self.passed >= 3
    }
    pub fn summary(&self) -> String {
        format!(
            "{} passed, {} failed, era {} (exit {:?})",
            self.passed,
            self.failed,
            self.era.as_deref().unwrap_or("?"),
            self.code
        )
    }
}

/// Running the peers' scripts the way these tests need.
pub trait PeerRuns {
    /// Run a peer client to completion (bounded by a timeout) and read its summary line.
    fn run_client(&self, script: &str, args: &[String]) -> ClientRun;
    /// Start a peer server script over HTTP on a free port and wait for its `{"listening": url}` line.
    fn start_http_server(&self, script: &str) -> PeerServer;
    /// Start server-everything in streamable HTTP mode on a free port (it cannot take port 0 and name the
    /// port it got: one taken meanwhile is retried on another).
    fn start_everything_http(&self) -> ServerProcess;
}

impl PeerRuns for Peers {
    fn run_client(&self, script: &str, args: &[String]) -> ClientRun {
        let mut child = self
            .command(script)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn peer client");
        let code = wait_timeout(&mut child, Duration::from_secs(90));
        let mut out = String::new();
        let mut err = String::new();
        child.stdout.take().map(|mut s| s.read_to_string(&mut out));
        child.stderr.take().map(|mut s| s.read_to_string(&mut err));
        let summary = out
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find_map(|v| v.get("summary").cloned());
        let n = |k: &str| summary.as_ref().and_then(|s| s[k].as_u64()).unwrap_or(0);
        let era = out
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|v| v["step"] == "connect")
            .and_then(|v| v["detail"]["era"].as_str().map(str::to_owned));
        ClientRun {
            code,
            passed: n("passed"),
            failed: n("failed"),
            era,
            output: format!("{out}\n--- stderr ---\n{}", tail(&err, 40)),
        }
    }

    fn start_http_server(&self, script: &str) -> PeerServer {
        let mut child = self
            .command(script)
            .args(["--http", "0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn peer server");
        let stdout = child.stdout.take().unwrap();
        let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stdout));
        let url = lines
            .find_map(|l| {
                let v: serde_json::Value = serde_json::from_str(&l.ok()?).ok()?;
                v["listening"].as_str().map(str::to_owned)
            })
            .expect("peer server never reported its URL");
        PeerServer { child, url }
    }

    fn start_everything_http(&self) -> ServerProcess {
        ServerProcess::start_on_free_port(
            |port| {
                let mut c = Command::new(self.node());
                c.arg(self.everything())
                    .arg("streamableHttp")
                    .env("PORT", port.to_string());
                c
            },
            "listening on port",
        )
    }
}

fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// A peer server process; killed and reaped on drop.
pub struct PeerServer {
    child: Child,
    pub url: String,
}

impl Drop for PeerServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
