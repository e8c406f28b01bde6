//! The peers of `.ci/install-peers.sh` (Node 22, the TypeScript and Python SDK clients, server-everything),
//! found through `MCP_PEERS_ENV`, and running their client scripts to the end.

use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::common::run;

/// The installed peers: node, its modules, the Python venv, and the client scripts.
pub struct Peers {
    pub node: String,
    pub modules: PathBuf,
    pub python: String,
    pub scripts: PathBuf,
    /// Every variable of env.sh, for the clients (they find their modules through PEERS_NODE_MODULES).
    pub env: Vec<(String, String)>,
}

pub fn peers() -> Option<Peers> {
    let p = mcp_test_support::Peers::load()?;
    Some(Peers {
        node: p.node().to_owned(),
        modules: PathBuf::from(p.var("PEERS_NODE_MODULES")),
        python: p.python().to_owned(),
        scripts: p.script(""),
        env: p.env().map(|(k, v)| (k.to_owned(), v.to_owned())).collect(),
    })
}

impl Peers {
    pub fn everything(&self) -> String {
        self.modules
            .join("@modelcontextprotocol/server-everything/dist/index.js")
            .display()
            .to_string()
    }

    /// A peer client (`ts-client-v1.mjs`, `ts-client-v2.mjs`, `py_client.py`) with its arguments.
    pub fn client(&self, script: &str, args: &[&str]) -> Command {
        let program = if script.ends_with(".py") {
            &self.python
        } else {
            &self.node
        };
        let mut c = Command::new(program);
        c.arg(self.scripts.join(script))
            .args(args)
            .args(["--timeout-ms", "30000"])
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null());
        c
    }
}

/// Run a peer client to the end; every step must pass. Returns its step lines.
pub fn all_steps_pass(what: &str, c: Command) -> Vec<Value> {
    let r = run(c);
    let lines: Vec<Value> = r
        .stdout
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let summary = lines
        .iter()
        .find_map(|l| l.get("summary"))
        .unwrap_or_else(|| panic!("{what}: no summary: {r:?}"));
    assert_eq!(summary["failed"], 0, "{what}: {}", r.stdout);
    assert!(
        summary["passed"].as_u64().unwrap_or(0) >= 5,
        "{what}: {}",
        r.stdout
    );
    assert_eq!(r.code, Some(0), "{what}: {r:?}");
    lines
}

pub fn step<'a>(lines: &'a [Value], name: &str) -> &'a Value {
    lines
        .iter()
        .find(|l| l["step"] == name)
        .unwrap_or_else(|| panic!("no step {name}: {lines:?}"))
}
