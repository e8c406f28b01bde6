//! Finding and running the peer programs (official SDK clients and servers) installed by
//! `.ci/install-peers.sh`.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::Read;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The installed peers.
pub struct Peers {
    env: HashMap<String, String>,
}

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

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

impl Peers {
    /// Load `env.sh` (from `MCP_PEERS_ENV`, else `target/peers/env.sh`). `None` (with a printed reason) when
    /// the peers are not installed and not required.
    pub fn load() -> Option<Self> {
        let path = std::env::var("MCP_PEERS_ENV")
            .map(PathBuf::from)
            .unwrap_or_else(|_| workspace_root().join("target/peers/env.sh"));
        let required = std::env::var("MCP_REQUIRE_PEERS").is_ok_and(|v| v == "1");
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if required => panic!(
                "peers required but {} is unreadable ({e}); run .ci/install-peers.sh",
                path.display()
            ),
            Err(_) => {
                eprintln!(
                    "SKIPPED: peers not installed ({} missing); run .ci/install-peers.sh",
                    path.display()
                );
                return None;
            }
        };
        let env = text
            .lines()
            .filter_map(|l| l.strip_prefix("export "))
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.trim_matches(['\'', '"']).to_owned()))
            .collect();
        Some(Self { env })
    }

    fn var(&self, k: &str) -> &str {
        self.env
            .get(k)
            .map(String::as_str)
            .unwrap_or_else(|| panic!("{k} missing from env.sh"))
    }

    /// A command running a peer script with the right interpreter and environment.
    pub fn command(&self, script: &str) -> Command {
        let path = workspace_root().join("peers").join(script);
        let interp = if script.ends_with(".py") {
            self.var("PEERS_PYTHON")
        } else {
            self.var("NODE22")
        };
        let mut c = Command::new(interp);
        c.arg(path);
        for (k, v) in &self.env {
            c.env(k, v);
        }
        c
    }

    /// Run a peer client to completion (bounded by a timeout) and read its summary line.
    pub fn run_client(&self, script: &str, args: &[String]) -> ClientRun {
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
}

fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Wait for a child, killing it after `limit`. Returns its exit code.
pub fn wait_timeout(child: &mut Child, limit: Duration) -> Option<i32> {
    let start = Instant::now();
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return status.code();
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub use mcp_test_support::ServerProcess;

impl Peers {
    /// The interpreter and script path of a peer program, with its environment.
    pub fn program(&self, script: &str) -> (String, PathBuf, Vec<(String, String)>) {
        let path = workspace_root().join("peers").join(script);
        let interp = if script.ends_with(".py") {
            self.var("PEERS_PYTHON")
        } else {
            self.var("NODE22")
        };
        (
            interp.to_owned(),
            path,
            self.env
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        )
    }

    /// The installed `@modelcontextprotocol/server-everything` entry point.
    pub fn everything(&self) -> PathBuf {
        PathBuf::from(self.var("PEERS_NODE_MODULES"))
            .join("@modelcontextprotocol/server-everything/dist/index.js")
    }

    /// Start a peer server script over HTTP on a free port and wait for its `{"listening": url}` line.
    pub fn start_http_server(&self, script: &str) -> PeerServer {
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

    /// Start server-everything in streamable HTTP mode on a free port (it cannot take port 0 and name the
    /// port it got: one taken meanwhile is retried on another).
    pub fn start_everything_http(&self) -> ServerProcess {
        ServerProcess::start_on_free_port(
            |port| {
                let mut c = Command::new(self.var("NODE22"));
                c.arg(self.everything())
                    .arg("streamableHttp")
                    .env("PORT", port.to_string());
                c
            },
            "listening on port",
        )
    }
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
