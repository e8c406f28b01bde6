//! A server run as a child process, spoken to over its stdin and stdout.
//!
//! Shutdown follows the spec's order: close the child's stdin, wait, send SIGTERM, wait, send SIGKILL; the
//! child is always reaped. `kill_on_drop` is the backstop when the transport is dropped without being closed.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use mcp_protocol::Message;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::stream::StreamTransport;
use super::{SendOptions, Transport, TransportEvent, TransportKind};
use crate::error::Error;

/// What happens to the child's stderr. Servers may log there at any level; it is never treated as an error.
#[derive(Clone, Default)]
pub enum StderrMode {
    /// Passed through to this process's stderr (the default).
    #[default]
    Inherit,
    /// Discarded.
    Null,
    /// Each line is handed to the callback.
    Lines(Arc<dyn Fn(String) + Send + Sync>),
}

impl std::fmt::Debug for StderrMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Inherit => f.write_str("Inherit"),
            Self::Null => f.write_str("Null"),
            Self::Lines(_) => f.write_str("Lines(..)"),
        }
    }
}

/// How far shutdown had to go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShutdownStage {
    /// The child had already exited before shutdown began.
    AlreadyExited,
    /// The child exited by itself after its stdin was closed.
    ExitedOnEof,
    /// The child exited after SIGTERM.
    Terminated,
    /// The child had to be killed (SIGKILL).
    Killed,
}

/// The outcome of [`ChildProcessTransport::shutdown`].
#[derive(Debug, Clone)]
pub struct ShutdownReport {
    /// How far shutdown had to go.
    pub stage: ShutdownStage,
    /// The child's exit status (the child has been reaped).
    pub status: Option<ExitStatus>,
}

/// Builds a [`ChildProcessTransport`].
///
/// ```no_run
/// # async fn run() -> std::io::Result<()> {
/// use std::time::Duration;
/// use mcp_client::transport::{ChildProcessTransport, ShutdownStage, StderrMode};
///
/// let transport = ChildProcessTransport::command("python3")
///     .args(["-m", "my_server"])
///     .env_clear()
///     .env("PATH", "/usr/bin:/bin")
///     .current_dir("/srv/tools")
///     .stderr(StderrMode::Lines(std::sync::Arc::new(|line| eprintln!("[server] {line}"))))
///     .shutdown_grace(Duration::from_secs(1), Duration::from_secs(1))
///     .spawn()?;
/// // ... connect a client, work, then:
/// let report = transport.shutdown().await;
/// assert_ne!(report.stage, ShutdownStage::Killed, "the server ignored EOF and SIGTERM");
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct ChildProcessBuilder {
    program: OsString,
    args: Vec<OsString>,
    env: Vec<(OsString, Option<OsString>)>,
    env_clear: bool,
    cwd: Option<PathBuf>,
    stderr: StderrMode,
    eof_grace: Duration,
    term_grace: Duration,
}

impl ChildProcessBuilder {
    /// Add an argument.
    pub fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.args.push(arg.into());
        self
    }
    /// Add arguments.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }
    /// Set an environment variable.
    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Self {
        self.env.push((key.into(), Some(value.into())));
        self
    }
    /// Remove an environment variable.
    pub fn env_remove(mut self, key: impl Into<OsString>) -> Self {
        self.env.push((key.into(), None));
        self
    }
    /// Start from an empty environment.
    pub fn env_clear(mut self) -> Self {
        self.env_clear = true;
        self
    }
    /// The child's working directory.
    pub fn current_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cwd = Some(dir.into());
        self
    }
    /// What to do with the child's stderr (default: pass it through).
    pub fn stderr(mut self, mode: StderrMode) -> Self {
        self.stderr = mode;
        self
    }
    /// How long to wait after closing stdin, then after SIGTERM, before escalating (default 2 s each).
    pub fn shutdown_grace(mut self, after_eof: Duration, after_term: Duration) -> Self {
        self.eof_grace = after_eof;
        self.term_grace = after_term;
        self
    }

    /// Spawn the child.
    pub fn spawn(self) -> std::io::Result<ChildProcessTransport> {
        let mut cmd = Command::new(&self.program);
        cmd.args(&self.args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true);
        if self.env_clear {
            cmd.env_clear();
        }
        for (k, v) in &self.env {
            match v {
                Some(v) => cmd.env(k, v),
                None => cmd.env_remove(k),
            };
        }
        if let Some(dir) = &self.cwd {
            cmd.current_dir(dir);
        }
        cmd.stderr(match self.stderr {
            StderrMode::Inherit => Stdio::inherit(),
            StderrMode::Null => Stdio::null(),
            StderrMode::Lines(_) => Stdio::piped(),
        });
        let mut child = cmd.spawn()?;
        let stdin = child
            .stdin
            .take()
            .ok_or_else(|| std::io::Error::other("no stdin"))?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| std::io::Error::other("no stdout"))?;
        let stderr_task = match (&self.stderr, child.stderr.take()) {
            (StderrMode::Lines(cb), Some(err)) => {
                let cb = cb.clone();
                Some(tokio::spawn(async move {
                    let mut lines = BufReader::new(err).lines();
                    while let Ok(Some(line)) = lines.next_line().await {
                        cb(line);
                    }
                }))
            }
            _ => None,
        };
        Ok(ChildProcessTransport {
            pid: child.id(),
            stream: StreamTransport::new(stdout, stdin),
            child: tokio::sync::Mutex::new(Some(child)),
            stderr_task: Mutex::new(stderr_task),
            eof_grace: self.eof_grace,
            term_grace: self.term_grace,
            report: Mutex::new(None),
        })
    }
}

/// A server spawned as a child process; JSON-RPC lines over its stdin/stdout.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use mcp_client::transport::ChildProcessTransport;
/// let transport = ChildProcessTransport::command("my-mcp-server")
///     .arg("--verbose")
///     .env("API_KEY", "from-the-environment")
///     .spawn()?;
/// let client = mcp_client::Client::builder().connect(transport).await?;
/// client.close().await;
/// # Ok(()) }
/// ```
pub struct ChildProcessTransport {
    pid: Option<u32>,
    stream: StreamTransport,
    child: tokio::sync::Mutex<Option<Child>>,
    stderr_task: Mutex<Option<JoinHandle<()>>>,
    eof_grace: Duration,
    term_grace: Duration,
    report: Mutex<Option<ShutdownReport>>,
}

impl std::fmt::Debug for ChildProcessTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChildProcessTransport")
            .field("pid", &self.pid)
            .finish_non_exhaustive()
    }
}

impl ChildProcessTransport {
    /// Start describing the child to spawn.
    pub fn command(program: impl Into<OsString>) -> ChildProcessBuilder {
        ChildProcessBuilder {
            program: program.into(),
            args: Vec::new(),
            env: Vec::new(),
            env_clear: false,
            cwd: None,
            stderr: StderrMode::Inherit,
            eof_grace: Duration::from_secs(2),
            term_grace: Duration::from_secs(2),
        }
    }

    /// The child's process id (until it is reaped).
    pub fn pid(&self) -> Option<u32> {
        self.pid
    }

    /// The report of the last shutdown, if it happened.
    pub fn shutdown_report(&self) -> Option<ShutdownReport> {
        self.report
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Stop the child: close its stdin, wait, SIGTERM, wait, SIGKILL. The child is reaped in every case.
    /// Calling it again returns the first report.
    pub async fn shutdown(&self) -> ShutdownReport {
        let mut slot = self.child.lock().await;
        let Some(mut child) = slot.take() else {
            return self.shutdown_report().unwrap_or(ShutdownReport {
                stage: ShutdownStage::AlreadyExited,
                status: None,
            });
        };
        let report = stop_child(&mut child, &self.stream, self.eof_grace, self.term_grace).await;
        self.stream.stop_reader();
        let stderr_task = self
            .stderr_task
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(t) = stderr_task {
            // The pipe closes with the child; give the last lines a moment, then stop.
            let _ = tokio::time::timeout(Duration::from_millis(200), t).await;
        }
        *self.report.lock().unwrap_or_else(|p| p.into_inner()) = Some(report.clone());
        report
    }
}

async fn stop_child(
    child: &mut Child,
    stream: &StreamTransport,
    eof_grace: Duration,
    term_grace: Duration,
) -> ShutdownReport {
    // A write blocked on a child that stopped reading holds the writer: closing stdin then waits for the
    // grace period at most, and the signals that follow unblock the write.
    if let Ok(Some(status)) = child.try_wait() {
        let _ = tokio::time::timeout(eof_grace, stream.close_writer()).await;
        return ShutdownReport {
            stage: ShutdownStage::AlreadyExited,
            status: Some(status),
        };
    }
    let started = tokio::time::Instant::now();
    let _ = tokio::time::timeout(eof_grace, stream.close_writer()).await;
    if let Ok(Ok(status)) = tokio::time::timeout_at(started + eof_grace, child.wait()).await {
        return ShutdownReport {
            stage: ShutdownStage::ExitedOnEof,
            status: Some(status),
        };
    }
    if send_sigterm(child) {
        if let Ok(Ok(status)) = tokio::time::timeout(term_grace, child.wait()).await {
            return ShutdownReport {
                stage: ShutdownStage::Terminated,
                status: Some(status),
            };
        }
    }
    // SIGKILL, then reap.
    let _ = child.start_kill();
    let status = child.wait().await.ok();
    ShutdownReport {
        stage: ShutdownStage::Killed,
        status,
    }
}

#[cfg(unix)]
fn send_sigterm(child: &Child) -> bool {
    let Some(pid) = child.id() else {
        return false;
    };
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // SAFETY: `kill` has no memory-safety preconditions. The child has not been reaped yet (we hold it and
    // `id()` is still `Some`), so the pid still names our child, not a recycled process.
    unsafe { libc::kill(pid, libc::SIGTERM) == 0 }
}

#[cfg(not(unix))]
fn send_sigterm(_child: &Child) -> bool {
    false
}

impl Transport for ChildProcessTransport {
    fn kind(&self) -> TransportKind {
        TransportKind::Stream
    }

    fn start(&self, events: mpsc::Sender<TransportEvent>) -> BoxFuture<'_, Result<(), Error>> {
        let r = self.stream.start_reader(events);
        Box::pin(async move { r })
    }

    fn send(&self, msg: Message, _opts: SendOptions) -> BoxFuture<'_, Result<(), Error>> {
        Box::pin(async move { self.stream.write(&msg).await })
    }

    fn close(&self) -> BoxFuture<'_, Result<(), Error>> {
        Box::pin(async move {
            self.shutdown().await;
            Ok(())
        })
    }
}
