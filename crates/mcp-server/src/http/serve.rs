//! Binding a TCP listener and serving the endpoint with hyper: connection cap, stalled-head and idle
//! timeouts, graceful shutdown.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use super::limits::{ConnWatch, Verdict, WatchedIo};
use super::{HttpConfig, McpService};
use crate::Server;

/// A bound endpoint, ready to run.
///
/// See [`serve_listener`] for an example.
#[derive(Debug)]
pub struct Bound {
    listener: TcpListener,
    service: McpService,
}

impl Bound {
    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }
    /// The service, e.g. to read its session count.
    pub fn service(&self) -> &McpService {
        &self.service
    }
    /// Serve until the process ends.
    pub async fn run(self) -> std::io::Result<()> {
        self.run_until(std::future::pending()).await
    }

    /// Serve until `shutdown` completes, then shut down gracefully: stop accepting, end open-ended streams
    /// ([`McpService::shutdown`]), let requests in flight finish and their connections close, and after
    /// [`HttpConfig::shutdown_grace`] drop whatever is still open.
    ///
    /// ```no_run
    /// # async fn run() -> std::io::Result<()> {
    /// use mcp_server::{Server, http::{serve_listener, HttpConfig}};
    /// let bound = serve_listener(
    ///     Server::builder("demo", "1.0.0").build(),
    ///     HttpConfig::default(),
    ///     "127.0.0.1:3000".parse().unwrap(),
    /// )
    /// .await?;
    /// bound.run_until(async { let _ = tokio::signal::ctrl_c().await; }).await
    /// # }
    /// ```
    pub async fn run_until(self, shutdown: impl Future<Output = ()>) -> std::io::Result<()> {
        let Bound { listener, service } = self;
        // Join the fleet (bus, heartbeat) and start the sweeper now, not at the first request: a node that has
        // served nothing yet still sends the events its server raises to the others, and is seen alive.
        service.state().ensure_sweeper();
        let config = service.state().config.clone();
        let limits = ConnLimits::from(&config);
        let slots = Arc::new(Semaphore::new(config.max_connections.max(1)));
        let draining = CancellationToken::new();
        tokio::pin!(shutdown);
        let mut connections = tokio::task::JoinSet::new();
        loop {
            // Reap finished connections so the set stays small on a long-running server.
            while connections.try_join_next().is_some() {}
            // At the cap, stop accepting until a connection closes: the kernel's backlog holds the rest.
            let slot = tokio::select! {
                s = slots.clone().acquire_owned() => match s {
                    Ok(s) => s,
                    Err(_) => break,
                },
                _ = &mut shutdown => break,
            };
            let (stream, _) = tokio::select! {
                r = listener.accept() => match r {
                    Ok(x) => x,
                    Err(e) => {
                        // Out of file descriptors and the like: back off instead of spinning.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                _ = &mut shutdown => break,
            };
            let service = service.clone();
            let draining = draining.clone();
            connections.spawn(async move {
                let _slot = slot;
                serve_one(stream, service, limits, draining).await;
            });
        }
        drop(listener);
        tracing::debug!(
            connections = connections.len(),
            "shutting down: draining connections"
        );
        service.shutdown();
        draining.cancel();
        let drained = tokio::time::timeout(config.shutdown_grace, async {
            while connections.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                connections = connections.len(),
                "shutdown grace elapsed: dropping open connections"
            );
            connections.abort_all();
        }
        Ok(())
    }
}

/// The per-connection limits `serve` enforces.
#[derive(Debug, Clone, Copy)]
struct ConnLimits {
    header: Duration,
    idle: Duration,
    write: Duration,
    /// How often a connection's watch is read.
    tick: Duration,
}

impl From<&HttpConfig> for ConnLimits {
    fn from(c: &HttpConfig) -> Self {
        let tick = (c
            .header_read_timeout
            .min(c.idle_timeout)
            .min(c.stream_write_timeout)
            / 4)
        .clamp(Duration::from_millis(10), Duration::from_secs(1));
        Self {
            header: c.header_read_timeout,
            idle: c.idle_timeout,
            write: c.stream_write_timeout,
            tick,
        }
    }
}

/// Serve one connection until it ends, is idle or stalled too long, or the server drains.
async fn serve_one(
    stream: TcpStream,
    service: McpService,
    limits: ConnLimits,
    draining: CancellationToken,
) {
    // Without TCP_NODELAY small SSE writes wait for delayed ACKs (~40 ms per call).
    let _ = stream.set_nodelay(true);
    let watch = ConnWatch::new();
    let io = TokioIo::new(WatchedIo::new(stream, watch.clone()));
    let w = watch.clone();
    let svc = hyper::service::service_fn(move |req| {
        // Busy from the moment a request is read until its response body (a stream included) ends.
        let active = w.begin();
        let service = service.clone();
        async move {
            let mut r = service.handle(req).await;
            r.body_mut().hold_activity(active);
            Ok::<_, Infallible>(r)
        }
    });
    let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    let conn = builder.serve_connection(io, svc);
    tokio::pin!(conn);
    let mut tick = tokio::time::interval(limits.tick);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Set once the connection is asked to close politely because it is idle.
    let mut closing_idle: Option<tokio::time::Instant> = None;
    let mut draining_now = false;
    loop {
        tokio::select! {
            r = conn.as_mut() => {
                if let Err(e) = r {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                return;
            }
            _ = draining.cancelled(), if !draining_now => {
                draining_now = true;
                conn.as_mut().graceful_shutdown();
            }
            _ = tick.tick(), if !draining_now => match closing_idle {
                // An idle connection that does not close within the head timeout is stuck writing to a
                // peer that reads nothing: drop it.
                Some(since) => if since.elapsed() >= limits.header {
                    tracing::debug!("dropping an idle connection whose peer does not read");
                    return;
                },
                None => match watch.verdict(limits.header, limits.idle, limits.write) {
                    Verdict::Keep => {}
                    Verdict::Idle => {
                        tracing::trace!("closing an idle connection");
                        closing_idle = Some(tokio::time::Instant::now());
                        conn.as_mut().graceful_shutdown();
                    }
                    Verdict::StalledHead => {
                        tracing::debug!("dropping a connection whose request head stalled");
                        return;
                    }
                    Verdict::StalledWrite => {
                        tracing::debug!("dropping a connection whose peer reads nothing");
                        return;
                    }
                },
            },
        }
    }
}

/// Pending connections the kernel queues for `accept` (it caps this at `net.core.somaxconn`).
const LISTEN_BACKLOG: u32 = 4096;

/// Bind `addr` and return the endpoint without running it.
///
/// Port 0 picks a free port, which [`Bound::local_addr`] reports before anything is served:
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> std::io::Result<()> {
/// use mcp_server::http::{serve_listener, HttpConfig};
/// use mcp_server::Server;
///
/// let bound = serve_listener(Server::builder("demo", "1.0.0").build(), HttpConfig::default(), "127.0.0.1:0".parse().unwrap()).await?;
/// let addr = bound.local_addr()?;
/// println!("serving http://{addr}/mcp");
/// let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
/// let server = tokio::spawn(bound.run_until(async { let _ = stopped.await; }));
/// // ... clients connect to `addr` ...
/// stop.send(()).unwrap();
/// server.await.unwrap()?;
/// # Ok(()) }
/// ```
pub async fn serve_listener(
    server: Server,
    config: HttpConfig,
    addr: SocketAddr,
) -> std::io::Result<Bound> {
    // The default backlog (128) overflows under a burst of connects, and each overflow costs the client a
    // SYN retry of a second or more.
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    let listener = socket.listen(LISTEN_BACKLOG)?;
    Ok(Bound {
        listener,
        service: McpService::new(server, config),
    })
}

/// Bind `addr` (use 127.0.0.1 unless you have configured [`super::HostPolicy`] for other hosts) and serve.
///
/// ```no_run
/// use mcp_server::http::{serve, HttpConfig};
/// use mcp_server::Server;
///
/// # async fn run() -> std::io::Result<()> {
/// let server = Server::builder("notes", "1.0.0").build();
/// // Both eras on every path of 127.0.0.1:3000, until the process ends.
/// serve(server, HttpConfig::default(), "127.0.0.1:3000".parse().unwrap()).await
/// # }
/// ```
///
/// # Errors
///
/// When `addr` cannot be bound, or accepting connections fails.
pub async fn serve(server: Server, config: HttpConfig, addr: SocketAddr) -> std::io::Result<()> {
    serve_listener(server, config, addr).await?.run().await
}
