//! `fleet-proxy`: a plain, non-sticky, round-robin HTTP load balancer for testing a fleet of MCP servers.
//!
//! ```text
//! fleet-proxy --port 3000 --upstream http://127.0.0.1:3001 --upstream http://127.0.0.1:3002 ...
//! ```
//!
//! Every incoming HTTP request, whatever its session or connection, goes to the *next* upstream in turn:
//! consecutive requests of one client land on different nodes, which is the worst case for a fleet and the
//! one it must survive (most MCP clients keep no cookies, and no balancer can hash `Mcp-Session-Id` to the
//! node that created the session). Method, path, query, headers and body are passed on as they are; bodies
//! stream through in both directions without buffering, so an SSE response reaches the client event by
//! event and ends when the node ends it (or the client goes away). An upstream that cannot be reached gets
//! the client a 502; nothing is retried on another node, as a naive balancer would not.
//!
//! It prints `fleet-proxy listening on http://127.0.0.1:PORT` on stdout once bound (`--port 0` picks a free
//! port), so a harness can wait for that line and read the port.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use clap::Parser;
use http_body_util::{combinators::BoxBody, BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderName};
use hyper::{Request, Response, StatusCode, Uri};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::{TokioExecutor, TokioIo};

/// Round-robin HTTP proxy in front of N servers.
#[derive(Debug, Parser)]
#[command(name = "fleet-proxy", version, about)]
struct Args {
    /// Port to listen on, on 127.0.0.1 (0: any free port).
    #[arg(long)]
    port: u16,
    /// An upstream base URL (`http://host:port`, optionally with a path prefix); repeat for each node.
    #[arg(long = "upstream", required = true)]
    upstreams: Vec<String>,
    /// Print `fleet-proxy: METHOD PATH -> upstream I` on stdout for each request (I counts from 0 in the
    /// order of `--upstream`), so a test can tell which node a request went to.
    #[arg(long)]
    log: bool,
}

/// The body both kinds of response share: an upstream's, streamed, or a 502 of our own.
type Body = BoxBody<Bytes, hyper::Error>;

/// An upstream's scheme and authority, and the path prefix (no trailing `/`) put before every request path.
struct Upstream {
    base: Uri,
    prefix: String,
}

struct Proxy {
    upstreams: Vec<Upstream>,
    next: AtomicUsize,
    client: Client<HttpConnector, Incoming>,
    log: bool,
}

/// Hop-by-hop headers (RFC 9110 §7.6.1): they describe one connection, not the message, so a proxy must
/// not pass them on; hyper writes its own framing headers on each side.
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // Headers the `Connection` header names are hop-by-hop too.
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
}

fn bad_gateway(msg: String) -> Response<Body> {
    let mut resp = Response::new(Full::new(Bytes::from(msg)).map_err(|e| match e {}).boxed());
    *resp.status_mut() = StatusCode::BAD_GATEWAY;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

impl Proxy {
    async fn forward(&self, mut req: Request<Incoming>) -> Response<Body> {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.upstreams.len();
        let up = &self.upstreams[i];
        if self.log {
            println!(
                "fleet-proxy: {} {} -> upstream {i}",
                req.method(),
                req.uri().path()
            );
        }
        let path = req
            .uri()
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_owned();
        let mut parts = up.base.clone().into_parts();
        parts.path_and_query = match format!("{}{path}", up.prefix).parse() {
            Ok(p) => Some(p),
            Err(e) => return bad_gateway(format!("fleet-proxy: bad path: {e}\n")),
        };
        *req.uri_mut() = match Uri::from_parts(parts) {
            Ok(u) => u,
            Err(e) => return bad_gateway(format!("fleet-proxy: bad upstream URI: {e}\n")),
        };
        // The client's `Host` stays as it is (hyper's client adds one only when it is absent): the node
        // checks it against DNS rebinding exactly as it would without a proxy in front.
        strip_hop_by_hop(req.headers_mut());
        match self.client.request(req).await {
            Ok(resp) => {
                let (mut parts, body) = resp.into_parts();
                strip_hop_by_hop(&mut parts.headers);
                // No buffering: each frame is passed on as it arrives (SSE events included).
                Response::from_parts(parts, body.boxed())
            }
            Err(e) => {
                tracing::warn!(upstream = %up.base, error = %e, "upstream unreachable");
                bad_gateway(format!("fleet-proxy: upstream {} failed: {e}\n", up.base))
            }
        }
    }
}

fn parse_upstream(url: &str) -> Result<Upstream, String> {
    let uri: Uri = url.parse().map_err(|e| format!("--upstream {url}: {e}"))?;
    if uri.scheme_str() != Some("http") || uri.authority().is_none() {
        return Err(format!("--upstream {url}: want http://host:port[/prefix]"));
    }
    let prefix = uri.path().trim_end_matches('/').to_owned();
    let mut parts = uri.into_parts();
    parts.path_and_query = Some(hyper::http::uri::PathAndQuery::from_static("/"));
    let base = Uri::from_parts(parts).map_err(|e| format!("--upstream {url}: {e}"))?;
    Ok(Upstream { base, prefix })
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let upstreams = match args
        .upstreams
        .iter()
        .map(|u| parse_upstream(u))
        .collect::<Result<Vec<_>, _>>()
    {
        Ok(u) => u,
        Err(e) => {
            eprintln!("fleet-proxy: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    let client = Client::builder(TokioExecutor::new())
        // Idle upstream connections are dropped before a node would close them itself (after 60 s by
        // default), so a request is never written to a connection the node is closing.
        .pool_idle_timeout(Duration::from_secs(20))
        .build(connector);
    let proxy = Arc::new(Proxy {
        upstreams,
        next: AtomicUsize::new(0),
        client,
        log: args.log,
    });

    let listener =
        match tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], args.port))).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("fleet-proxy: cannot listen on 127.0.0.1:{}: {e}", args.port);
                return std::process::ExitCode::FAILURE;
            }
        };
    match listener.local_addr() {
        Ok(addr) => println!("fleet-proxy listening on http://{addr}"),
        Err(e) => {
            eprintln!("fleet-proxy: {e}");
            return std::process::ExitCode::FAILURE;
        }
    }
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                // Out of descriptors and the like: transient, keep accepting.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let proxy = proxy.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let proxy = proxy.clone();
                async move { Ok::<_, Infallible>(proxy.forward(req).await) }
            });
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(error = %e, "client connection ended with an error");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_urls_keep_their_prefix() {
        let u = parse_upstream("http://127.0.0.1:3001/").unwrap();
        assert_eq!(u.base, "http://127.0.0.1:3001/");
        assert_eq!(u.prefix, "");
        let u = parse_upstream("http://127.0.0.1:3001/a/b/").unwrap();
        assert_eq!(u.prefix, "/a/b");
        assert!(parse_upstream("https://127.0.0.1:3001").is_err());
        assert!(parse_upstream("127.0.0.1:3001").is_err());
    }

    #[test]
    fn hop_by_hop_headers_are_dropped() {
        let mut h = HeaderMap::new();
        h.insert("connection", "keep-alive, x-private".parse().unwrap());
        h.insert("x-private", "1".parse().unwrap());
        h.insert("transfer-encoding", "chunked".parse().unwrap());
        h.insert("mcp-session-id", "abc".parse().unwrap());
        h.insert("last-event-id", "7".parse().unwrap());
        strip_hop_by_hop(&mut h);
        let left: Vec<_> = h.keys().map(|k| k.as_str()).collect();
        assert_eq!(left, ["mcp-session-id", "last-event-id"]);
    }
}
