//! The peer programs `.ci/install-peers.sh` installs (Node 22, the TypeScript and Python SDKs,
//! server-everything), found through the `env.sh` it writes, and the peer scripts of the workspace's `peers/`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// The installed peers: every variable `env.sh` exports.
pub struct Peers {
    env: BTreeMap<String, String>,
}

/// The workspace's root directory.
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

impl Peers {
    /// Load `env.sh` from `MCP_PEERS_ENV`, else `target/peers/env.sh`. `None` (with a printed reason) when the
    /// peers are not installed; a panic instead when `MCP_REQUIRE_PEERS=1` (CI), so a broken install fails
    /// loudly rather than skipping every peer test.
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
        Some(Self {
            env: parse_env(&text),
        })
    }

    /// A variable of `env.sh`; a panic names it when it is missing.
    pub fn var(&self, k: &str) -> &str {
        self.env
            .get(k)
            .map(String::as_str)
            .unwrap_or_else(|| panic!("{k} missing from env.sh"))
    }

    /// Every variable of `env.sh`: the peer programs find their modules through them.
    pub fn env(&self) -> impl Iterator<Item = (&str, &str)> {
        self.env.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Node 22.
    pub fn node(&self) -> &str {
        self.var("NODE22")
    }

    /// The Python of the venv holding the Python SDK.
    pub fn python(&self) -> &str {
        self.var("PEERS_PYTHON")
    }

    /// The interpreter of a peer script: Python for `.py`, else Node.
    pub fn interpreter(&self, script: &str) -> &str {
        if script.ends_with(".py") {
            self.python()
        } else {
            self.node()
        }
    }

    /// The path of a script in the workspace's `peers/` directory.
    pub fn script(&self, script: &str) -> PathBuf {
        workspace_root().join("peers").join(script)
    }

    /// A command running a peer script with its interpreter and the peers' environment.
    pub fn command(&self, script: &str) -> Command {
        let mut c = Command::new(self.interpreter(script));
        c.arg(self.script(script)).envs(self.env());
        c
    }

    /// The installed `@modelcontextprotocol/server-everything` entry point.
    pub fn everything(&self) -> PathBuf {
        PathBuf::from(self.var("PEERS_NODE_MODULES"))
            .join("@modelcontextprotocol/server-everything/dist/index.js")
    }
}

/// The `export NAME=value` lines of `env.sh`, quotes around the value removed.
fn parse_env(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("export "))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.trim_matches(['\'', '"']).to_owned()))
        .collect()
}

/// Wait for a child, killing (and reaping) it after `limit`. Its exit code; `None` when it was killed.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_sh_exports_are_read_without_their_quotes() {
        let env = parse_env(
            "# written by install-peers.sh\nexport NODE22='/opt/node/bin/node'\nexport PEERS_PYTHON=\"/v/bin/python\"\nPATH=ignored\n",
        );
        assert_eq!(
            env.get("NODE22").map(String::as_str),
            Some("/opt/node/bin/node")
        );
        assert_eq!(
            env.get("PEERS_PYTHON").map(String::as_str),
            Some("/v/bin/python")
        );
        assert_eq!(env.len(), 2, "only export lines count: {env:?}");
    }

    #[test]
    fn a_child_past_its_limit_is_killed() {
        let mut child = Command::new("sleep").arg("30").spawn().unwrap();
        let start = Instant::now();
        assert_eq!(wait_timeout(&mut child, Duration::from_millis(200)), None);
        assert!(start.elapsed() < Duration::from_secs(10));
        let mut quick = Command::new("true").spawn().unwrap();
        assert_eq!(wait_timeout(&mut quick, Duration::from_secs(30)), Some(0));
    }
}
