//! A `redis-server` of one's own, for tests, examples and benchmarks of a fleet (feature `testing`).
//!
//! [`RedisServer::start`] runs the `redis-server` binary on a free loopback port without persistence, and
//! kills it when dropped. A free port can be taken by another process between the look and the bind, so the
//! server is only taken as started once its log says it accepts connections, and it is started again on
//! another port when its bind failed.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use mcp_redis::testing::RedisServer;
//! let redis_server = match RedisServer::start().await {
//!     Ok(s) => s,
//!     Err(e) if e.is_not_installed() => return Ok(()), // no redis-server here: skip
//!     Err(e) => return Err(e.into()),
//! };
//! let redis = mcp_redis::Redis::open(&redis_server.url())?;
//! # let _ = redis; Ok(()) }
//! ```

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// How many ports [`RedisServer::start`] tries before it gives up.
const PORT_TRIES: usize = 5;
/// How long `redis-server` may take to accept connections.
const READY_WITHIN: Duration = Duration::from_secs(10);

/// Why a [`RedisServer`] did not start.
#[derive(Debug, thiserror::Error)]
pub enum RedisServerError {
    /// The `redis-server` binary could not be run (see [`RedisServerError::is_not_installed`]).
    #[error("cannot run redis-server (apt-get install redis-server): {0}")]
    Spawn(#[source] std::io::Error),
    /// No free loopback port could be had from the system.
    #[error("no free loopback port: {0}")]
    NoPort(#[source] std::io::Error),
    /// It exited before it was ready; the end of its log.
    #[error("redis-server on port {port} exited before it was ready: {log}")]
    Exited {
        /// The port it was asked to listen on.
        port: u16,
        /// Its last log lines.
        log: String,
    },
    /// It did not say it was ready in time.
    #[error("redis-server on port {port} was not ready within {READY_WITHIN:?}")]
    NotReady {
        /// The port it was asked to listen on.
        port: u16,
    },
}

impl RedisServerError {
    /// There is no `redis-server` binary on the `PATH`: the caller may skip rather than fail.
    pub fn is_not_installed(&self) -> bool {
        matches!(self, Self::Spawn(e) if e.kind() == std::io::ErrorKind::NotFound)
    }
}

/// A running `redis-server` on `127.0.0.1`, without persistence; killed when dropped.
#[derive(Debug)]
pub struct RedisServer {
    child: Child,
    port: u16,
}

impl RedisServer {
    /// Start one on a free loopback port, once it accepts connections. A port another process took
    /// meanwhile is given up for another one, up to 5 times.
    ///
    /// # Errors
    ///
    /// The binary is missing ([`RedisServerError::is_not_installed`]), it failed to start, or every port
    /// tried was taken.
    pub async fn start() -> Result<Self, RedisServerError> {
        let mut last = None;
        for _ in 0..PORT_TRIES {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .map_err(RedisServerError::NoPort)?
                .port();
            match Self::start_on(port).await {
                Err(RedisServerError::Exited { port, log }) if log.contains("in use") => {
                    last = Some(RedisServerError::Exited { port, log });
                }
                started => return started,
            }
        }
        Err(last.expect("at least one try"))
    }

    /// Start one on `port` (e.g. again on the port of one that was stopped, which its clients still
    /// use), once it accepts connections.
    ///
    /// # Errors
    ///
    /// The binary is missing, or it failed to start (the port is taken, for one).
    pub async fn start_on(port: u16) -> Result<Self, RedisServerError> {
        let mut child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(RedisServerError::Spawn)?;
        let Some(stdout) = child.stdout.take() else {
            unreachable!("stdout is piped")
        };
        let mut lines = BufReader::new(stdout).lines();
        // It says so once it listens; a failed bind is logged, and it exits.
        let mut log = Vec::new();
        let ready = tokio::time::timeout(READY_WITHIN, async {
            while let Ok(Some(line)) = lines.next_line().await {
                if line.contains("Ready to accept connections") {
                    return true;
                }
                log.push(line);
            }
            false
        })
        .await;
        match ready {
            Ok(true) => {
                // Keep reading its log, so that it never blocks on a full pipe.
                tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
                Ok(Self { child, port })
            }
            Ok(false) => {
                let _ = child.wait().await;
                let log = log[log.len().saturating_sub(5)..].join("\n");
                Err(RedisServerError::Exited { port, log })
            }
            Err(_) => Err(RedisServerError::NotReady { port }),
        }
    }

    /// Its port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Its URL, `redis://127.0.0.1:PORT/`, for [`crate::Redis::open`].
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Kill it (`SIGKILL`) and wait until it is gone.
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}
