//! A server child process on a loopback port, started without the "pick a free port, close it, spawn"
//! race: either it binds port 0 and names its port, or it is started again on another port when it could
//! not bind the one it was given.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long a server may take to say it listens.
const READY_WITHIN: Duration = Duration::from_secs(30);
/// How many ports [`ServerProcess::start_on_free_port`] tries.
const PORT_TRIES: usize = 5;

/// A server process listening on `127.0.0.1:port` (its stdout goes nowhere); killed and reaped on drop.
#[derive(Debug)]
pub struct ServerProcess {
    child: Child,
    /// The port it listens on.
    pub port: u16,
}

/// How a start went.
enum Start {
    Ready(ServerProcess),
    /// It exited before saying it listens (its port was taken, say); its stderr.
    Exited(String),
}

impl ServerProcess {
    /// Start `command`, which says where it listens once it does: a line on stderr with
    /// `listening on http://HOST:PORT` (as `conformance-server` prints). Tell it port 0 (a free one, named
    /// in that line), or the port of one that was stopped to start it again there.
    ///
    /// Panics (it is for tests) when it exits first or does not say so within 30 s.
    pub fn start(command: &mut Command) -> Self {
        let what = program(command);
        match start(command, 0, |line| {
            line.split_once("listening on http://")
                .and_then(|(_, url)| port_of(url))
        }) {
            Start::Ready(s) => s,
            Start::Exited(stderr) => panic!("{what} exited before it listened: {stderr}"),
        }
    }

    /// Start `command_on(port)` on a free port, for a server that cannot be told port 0 and name the port
    /// it got. It listens once a line of its stderr contains `ready`; one that exits before (another
    /// process took the port between our look and its bind) is started again on another port, up to 5
    /// times.
    ///
    /// Panics (it is for tests) when it never starts.
    pub fn start_on_free_port(command_on: impl Fn(u16) -> Command, ready: &str) -> Self {
        let mut stderr = String::new();
        for _ in 0..PORT_TRIES {
            let port = free_port();
            match start(&mut command_on(port), port, |line| {
                line.contains(ready).then_some(port)
            }) {
                Start::Ready(s) => return s,
                Start::Exited(e) => stderr = e,
            }
        }
        panic!(
            "{} did not start on any of {PORT_TRIES} free ports; last: {stderr}",
            program(&command_on(0))
        )
    }

    /// `http://127.0.0.1:PORT/mcp`.
    pub fn mcp_url(&self) -> String {
        format!("http://127.0.0.1:{}/mcp", self.port)
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port nothing listens on at the moment of asking: for a server that cannot bind port 0 itself (then
/// the start is retried, see [`ServerProcess::start_on_free_port`]), or as an address that refuses connections.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

fn program(command: &Command) -> String {
    command.get_program().to_string_lossy().into_owned()
}

/// The port of `host:port/...`.
fn port_of(url: &str) -> Option<u16> {
    let authority = url.split(['/', ' ']).next()?;
    authority.rsplit_once(':')?.1.parse().ok()
}

/// Spawn `command` and read its stderr until `listening` finds the port in a line, or it ends.
fn start(command: &mut Command, port: u16, listening: impl Fn(&str) -> Option<u16>) -> Start {
    let what = program(command);
    let mut child = command
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {what}: {e}"));
    let stderr = child.stderr.take().expect("stderr is piped");
    // A thread of its own reads the lines, so that waiting for them can time out; it reads on to the
    // end after the one that matters, so the server never blocks on a full pipe.
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + READY_WITHIN;
    let mut seen = Vec::new();
    loop {
        match lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(line) => match listening(&line) {
                Some(p) => {
                    debug_assert!(port == 0 || p == port);
                    return Start::Ready(ServerProcess { child, port: p });
                }
                None => seen.push(line),
            },
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let _ = child.wait();
                return Start::Exited(seen.join("\n"));
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "{what} did not say it listens within {READY_WITHIN:?}: {}",
                    seen.join("\n")
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::port_of;

    #[test]
    fn the_port_is_read_from_the_listening_line() {
        assert_eq!(port_of("localhost:4242/mcp (redis)"), Some(4242));
        assert_eq!(port_of("127.0.0.1:80"), Some(80));
        assert_eq!(port_of("[::1]:8080/mcp"), Some(8080));
        assert_eq!(port_of("localhost/mcp"), None);
    }
}
