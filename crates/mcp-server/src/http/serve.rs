//! Binding a TCP listener and serving the endpoint with hyper.

use std::future::Future;
use std::net::SocketAddr;

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;

use super::{HttpConfig, McpService};
use crate::Server;

/// A bound endpoint, ready to run.
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
    /// Serve until `shutdown` completes; connections in progress are dropped.
    pub async fn run_until(self, shutdown: impl Future<Output = ()>) -> std::io::Result<()> {
        tokio::pin!(shutdown);
        let mut connections = tokio::task::JoinSet::new();
        loop {
            // Reap finished connections so the set stays small on a long-running server.
            while connections.try_join_next().is_some() {}
            let (stream, _) = tokio::select! {
                r = self.listener.accept() => match r {
                    Ok(x) => x,
                    Err(e) => {
                        // Out of file descriptors and the like: back off instead of spinning.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        continue;
                    }
                },
                _ = &mut shutdown => {
                    connections.abort_all();
                    return Ok(());
                }
            };
            // Without TCP_NODELAY small SSE writes wait for delayed ACKs (~40 ms per call).
            let _ = stream.set_nodelay(true);
            let svc = TowerToHyperService::new(self.service.clone());
            connections.spawn(async move {
                let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                if let Err(e) = builder.serve_connection(TokioIo::new(stream), svc).await {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
            });
        }
    }
}

/// Bind `addr` and return the endpoint without running it.
pub async fn serve_listener(
    server: Server,
    config: HttpConfig,
    addr: SocketAddr,
) -> std::io::Result<Bound> {
    let listener = TcpListener::bind(addr).await?;
    Ok(Bound {
        listener,
        service: McpService::new(server, config),
    })
}

/// Bind `addr` (use 127.0.0.1 unless you have configured [`super::HostPolicy`] for other hosts) and serve.
pub async fn serve(server: Server, config: HttpConfig, addr: SocketAddr) -> std::io::Result<()> {
    serve_listener(server, config, addr).await?.run().await
}
