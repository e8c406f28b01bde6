//! Serving over this process's stdin and stdout. Logs must go to stderr: stdout carries only MCP messages.
//!
//! A host starts a stdio server with pipes (or, from Node, socket pairs) on its stdin and stdout. Tokio's
//! `Stdin`/`Stdout` run every read and every write on the blocking thread pool, one hop per operation, which
//! caps a connection at about a tenth of what the pipe carries. So on Linux, when a stream is a FIFO or a
//! socket, it is driven by the I/O reactor instead:
//! - a FIFO is reopened through `/proc/self/fd`, which gives this server an open file description of its
//!   own: `O_NONBLOCK` then never leaks to whoever shares the original (a parent shell, `2>&1` on stderr);
//! - a socket cannot be reopened, so its `O_NONBLOCK` is set on the shared description and restored to what
//!   it was when serving ends.
//!
//! A terminal, a regular file, or any other platform keeps Tokio's blocking handles, as before.

use tokio::io::{AsyncRead, AsyncWrite, BufReader};

use crate::connection::{serve_connection, ConnectionOptions};
use crate::Server;

/// Read buffer for stdin: large enough that a burst of pipelined requests is one `read`.
const READ_BUFFER: usize = 64 * 1024;

/// Serve `server` on stdin/stdout until stdin closes.
///
/// Pipes and sockets are read and written without the blocking thread pool (see the module docs); a
/// terminal or a file works as it always did.
///
/// ```no_run
/// # async fn run() -> std::io::Result<()> {
/// let server = mcp_server::Server::builder("demo", "1.0.0").build();
/// mcp_server::serve_stdio(server).await
/// # }
/// ```
///
/// # Errors
///
/// Only if setting up the streams fails; a read or write error on an established connection ends it with
/// `Ok(())`, like end of input.
///
/// # Panics
///
/// If called outside a Tokio runtime with I/O enabled (`Runtime::enable_io`, which `#[tokio::main]` turns on).
/// A panic of the connection's task (not of a handler: those fail only their request) is resumed here.
///
/// # Cancel safety
///
/// Dropping the future ends the connection: requests still running are cancelled and unanswered.
pub async fn serve_stdio(server: Server) -> std::io::Result<()> {
    let (reader, writer, restore) = stdio_streams();
    // The connection runs as a task of its own: under `#[tokio::main]` the future of `main` runs on the main
    // thread, which cannot wait on the I/O reactor, so every read would first wake a worker that then wakes
    // the main thread. A task runs on the worker that saw the pipe become readable.
    let mut task = AbortOnDrop(tokio::spawn(serve_connection(
        server,
        BufReader::with_capacity(READ_BUFFER, reader),
        writer,
        ConnectionOptions::default(),
    )));
    let served = (&mut task.0).await;
    drop(restore);
    match served {
        Ok(r) => r,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => Err(std::io::Error::other(e)),
    }
}

/// Dropping `serve_stdio`'s future stops the connection, as it did when the connection ran inside it.
struct AbortOnDrop(tokio::task::JoinHandle<std::io::Result<()>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

type Reader = Box<dyn AsyncRead + Send + Unpin>;
type Writer = Box<dyn AsyncWrite + Send + Unpin>;

/// The streams to serve on, and what must be restored when they are dropped (declared last so it drops
/// after the streams that use the descriptors).
fn stdio_streams() -> (Reader, Writer, Option<nonblocking::Restore>) {
    #[cfg(target_os = "linux")]
    {
        let mut restore = nonblocking::Restore::default();
        let reader = nonblocking::stdin(&mut restore)
            .unwrap_or_else(|| Box::new(tokio::io::stdin()) as Reader);
        let writer = nonblocking::stdout(&mut restore)
            .unwrap_or_else(|| Box::new(tokio::io::stdout()) as Writer);
        (reader, writer, Some(restore))
    }
    #[cfg(not(target_os = "linux"))]
    {
        (
            Box::new(tokio::io::stdin()),
            Box::new(tokio::io::stdout()),
            None,
        )
    }
}

#[cfg(target_os = "linux")]
mod nonblocking {
    use std::fs::{File, OpenOptions};
    use std::os::fd::{AsFd, OwnedFd};
    use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};

    use super::{Reader, Writer};

    /// Sockets whose shared `O_NONBLOCK` this server turned on, turned off again on drop.
    #[derive(Default)]
    pub(super) struct Restore {
        sockets: Vec<std::os::unix::net::UnixStream>,
    }

    impl Drop for Restore {
        fn drop(&mut self) {
            for s in &self.sockets {
                if let Err(e) = s.set_nonblocking(false) {
                    tracing::debug!(error = %e, "could not restore a blocking stdio socket");
                }
            }
        }
    }

    enum Kind {
        Fifo,
        Socket,
    }

    fn kind(fd: &impl AsFd) -> Option<Kind> {
        let file = File::from(fd.as_fd().try_clone_to_owned().ok()?);
        let t = file.metadata().ok()?.file_type();
        if t.is_fifo() {
            Some(Kind::Fifo)
        } else if t.is_socket() {
            Some(Kind::Socket)
        } else {
            None
        }
    }

    /// `/proc/self/fdinfo` shows the description's flags in octal; reading them needs no `fcntl`.
    fn is_nonblocking(fd: i32) -> Option<bool> {
        let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{fd}")).ok()?;
        let flags = info
            .lines()
            .find_map(|l| l.strip_prefix("flags:"))
            .and_then(|f| i32::from_str_radix(f.trim(), 8).ok())?;
        Some(flags & libc::O_NONBLOCK != 0)
    }

    /// Reopen a FIFO for a private description. `O_NONBLOCK` on the open keeps a write-side open from
    /// hanging when the reader is already gone (it fails with `ENXIO`, and the caller falls back).
    fn reopen(fd: i32, write: bool) -> Option<File> {
        OpenOptions::new()
            .read(!write)
            .write(write)
            .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open(format!("/proc/self/fd/{fd}"))
            .map_err(|e| tracing::debug!(fd, error = %e, "could not reopen a stdio pipe"))
            .ok()
    }

    /// A socket on `fd`, registered with the reactor, its description's blocking mode saved in `restore`.
    fn socket(fd: &impl AsFd, raw: i32, restore: &mut Restore) -> Option<tokio::net::UnixStream> {
        let was_nonblocking = is_nonblocking(raw)?;
        let owned: OwnedFd = fd.as_fd().try_clone_to_owned().ok()?;
        let std = std::os::unix::net::UnixStream::from(owned);
        std.set_nonblocking(true).ok()?;
        if !was_nonblocking {
            restore.sockets.push(std.try_clone().ok()?);
        }
        tokio::net::UnixStream::from_std(std)
            .map_err(|e| tracing::debug!(error = %e, "could not register a stdio socket"))
            .ok()
    }

    pub(super) fn stdin(restore: &mut Restore) -> Option<Reader> {
        let stdin = std::io::stdin();
        match kind(&stdin)? {
            Kind::Fifo => {
                let rx = tokio::net::unix::pipe::Receiver::from_file(reopen(0, false)?).ok()?;
                Some(Box::new(rx))
            }
            // Only the reading half is used; the writing half of a socket stdin is left alone.
            Kind::Socket => Some(Box::new(socket(&stdin, 0, restore)?)),
        }
    }

    pub(super) fn stdout(restore: &mut Restore) -> Option<Writer> {
        let stdout = std::io::stdout();
        match kind(&stdout)? {
            Kind::Fifo => {
                let tx = tokio::net::unix::pipe::Sender::from_file(reopen(1, true)?).ok()?;
                Some(Box::new(tx))
            }
            Kind::Socket => Some(Box::new(socket(&stdout, 1, restore)?)),
        }
    }
}
