//! Running the real `mcp` binary against real servers.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

pub const MCP: &str = env!("CARGO_BIN_EXE_mcp");

/// `conformance-server`, built beside `mcp` (`cargo test --workspace` builds every binary of the workspace).
pub fn server_bin() -> PathBuf {
    let p = PathBuf::from(MCP).with_file_name("conformance-server");
    assert!(
        p.exists(),
        "{} is missing: build it with `cargo build --release -p mcp-conformance` (or run the workspace's tests)",
        p.display()
    );
    p
}

/// What one run printed and how it ended.
#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// stdout as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self:?}"))
    }
    /// The one stderr line as JSON (`--json` errors).
    pub fn error_json(&self) -> serde_json::Value {
        let lines: Vec<&str> = self.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "not one stderr line: {self:?}");
        serde_json::from_str(lines[0])
            .unwrap_or_else(|e| panic!("stderr is not JSON ({e}): {self:?}"))
    }
}

/// A `mcp` command with a clean environment: no colour, no config from the caller, a scratch working
/// directory (so no ./mcp.json is picked up).
pub fn mcp(args: &[&str]) -> Command {
    let mut c = Command::new(MCP);
    c.args(args)
        .env("NO_COLOR", "1")
        .env_remove("MCP_CONFIG")
        .env_remove("MCP_TIMEOUT")
        .current_dir(std::env::temp_dir())
        .stdin(Stdio::null());
    c
}

/// Run to the end (killed after 60 s, which fails the test: the command must never hang).
pub fn run(mut c: Command) -> Run {
    let mut child = c
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn mcp");
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let t_out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let t_err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let code = wait_timeout(&mut child, Duration::from_secs(60));
    let r = Run {
        code,
        stdout: t_out.join().unwrap(),
        stderr: t_err.join().unwrap(),
    };
    assert!(r.code.is_some(), "mcp hung (killed after 60 s): {r:?}");
    r
}

/// Run `mcp ARGS` to the end.
pub fn mcp_run(args: &[&str]) -> Run {
    run(mcp(args))
}

// Each test file uses a part of what is here.
#[allow(unused_imports)]
pub use mcp_test_support::{free_port, wait_timeout, ServerProcess};

/// `conformance-server` over HTTP on a loopback port; killed and reaped on drop.
pub struct HttpServer {
    process: ServerProcess,
    pub port: u16,
}

impl HttpServer {
    /// On a free port, which it picks itself (`--port 0`) and names.
    pub fn start() -> Self {
        Self::start_on(0)
    }

    /// On `port`, e.g. again on the port of one that was dropped (a server restart, to its clients).
    pub fn start_on(port: u16) -> Self {
        let process =
            ServerProcess::start(Command::new(server_bin()).args(["--port", &port.to_string()]));
        let port = process.port;
        Self { process, port }
    }

    pub fn url(&self) -> String {
        self.process.mcp_url()
    }
}

/// How a test reaches the server: the words before the command's own, and after them.
pub struct Server {
    pub name: &'static str,
    pub before: Vec<String>,
    pub after: Vec<String>,
}

impl Server {
    /// `mcp SUB [server] WORDS... [-- cmd]`.
    pub fn args(&self, sub: &str, words: &[&str]) -> Vec<String> {
        let mut v = vec![sub.to_owned()];
        v.extend(self.before.iter().cloned());
        v.extend(words.iter().map(|s| s.to_string()));
        v.extend(self.after.iter().cloned());
        v
    }

    pub fn run(&self, sub: &str, words: &[&str]) -> Run {
        let args = self.args(sub, words);
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        mcp_run(&refs)
    }
}

/// The conformance server over stdio (a child of `mcp`).
pub fn stdio() -> Server {
    Server {
        name: "stdio",
        before: vec![],
        after: vec![
            "--".into(),
            server_bin().display().to_string(),
            "--stdio".into(),
        ],
    }
}

/// The conformance server over Streamable HTTP.
pub fn http(s: &HttpServer) -> Server {
    Server {
        name: "http",
        before: vec![s.url()],
        after: vec![],
    }
}

/// A host driving `mcp bridge` over its stdin/stdout, one JSON-RPC message a line.
pub struct Host {
    child: Child,
    stdin: Option<ChildStdin>,
    pub lines: mpsc::Receiver<Value>,
    stderr: std::thread::JoinHandle<String>,
}

impl Host {
    pub fn start(args: &[&str]) -> Self {
        Self::spawn(mcp(args))
    }

    /// Drive `cmd` (a `mcp bridge` with its environment set).
    pub fn spawn(mut cmd: Command) -> Self {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn mcp bridge");
        let stdout = child.stdout.take().unwrap();
        let mut err = child.stderr.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for l in BufReader::new(stdout).lines().map_while(Result::ok) {
                let v: Value = serde_json::from_str(&l)
                    .unwrap_or_else(|e| panic!("bridge wrote a non-JSON line ({e}): {l}"));
                if tx.send(v).is_err() {
                    return;
                }
            }
        });
        let stderr = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = err.read_to_string(&mut s);
            s
        });
        Self {
            stdin: child.stdin.take(),
            child,
            lines,
            stderr,
        }
    }

    pub fn send(&mut self, v: Value) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        writeln!(stdin, "{v}").unwrap();
        stdin.flush().unwrap();
    }

    /// The answer to request `id` (notifications before it are skipped).
    pub fn answer(&self, id: i64) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let v = self
                .lines
                .recv_timeout(left)
                .unwrap_or_else(|e| panic!("no answer to {id}: {e}"));
            if v["id"] == id && v.get("method").is_none() {
                return v;
            }
        }
    }

    pub fn initialize(&mut self) {
        self.send(
            json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "test-host", "version": "1"}}}),
        );
        let r = self.answer(1);
        assert_eq!(r["result"]["protocolVersion"], "2025-06-18", "{r}");
        self.send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
    }

    pub fn call(&mut self, id: i64, name: &str, args: Value) -> Value {
        self.send(json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
            "params": {"name": name, "arguments": args}}));
        self.answer(id)
    }

    /// Close stdin (or not) and wait for the exit: (code, stderr).
    pub fn finish(mut self, close_stdin: bool) -> (Option<i32>, String) {
        let keep = if close_stdin {
            drop(self.stdin.take());
            None
        } else {
            self.stdin.take()
        };
        let code = wait_timeout(&mut self.child, Duration::from_secs(30));
        drop(keep);
        (code, self.stderr.join().unwrap())
    }
}

/// A config file `mcp.json` with `body`, in a directory of the test's own (`name`); remove its parent when done.
pub fn write_config(name: &str, body: &Value) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mcp-cli-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("mcp.json");
    std::fs::write(&path, body.to_string()).unwrap();
    path
}
