//! The client side: one keep-alive HTTP/1.1 connection per task, and the two MCP wires.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::header::{ACCEPT, CONTENT_TYPE, HOST};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// Longest any single request may take before it counts as an error.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// The text the `echo` tool returns for the arguments the bench sends; every tool result must contain it.
pub const EXPECTED: &[u8] = b"echo:ok";

pub const LEGACY_VERSION: &str = "2025-11-25";
pub const MODERN_VERSION: &str = "2026-07-28";
const SESSION_ID: &str = "mcp-session-id";
const PROTOCOL_VERSION: &str = "mcp-protocol-version";

/// Which wire a load run speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Era {
    /// Session protocol, 2025-11-25.
    Legacy,
    /// Stateless protocol, 2026-07-28.
    Modern,
}

impl Era {
    pub fn name(self) -> &'static str {
        match self {
            Era::Legacy => "legacy",
            Era::Modern => "modern",
        }
    }
}

/// One HTTP/1.1 keep-alive connection with `TCP_NODELAY`.
pub struct Conn {
    sender: SendRequest<Full<Bytes>>,
    host: HeaderValue,
    addr: SocketAddr,
}

/// A response: status, headers and the whole body.
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Conn {
    pub async fn connect(addr: SocketAddr) -> Result<Conn, String> {
        let s = TcpStream::connect(addr)
            .await
            .map_err(|e| format!("connect {addr}: {e}"))?;
        s.set_nodelay(true).map_err(|e| format!("nodelay: {e}"))?;
        let (sender, conn) = http1::handshake(TokioIo::new(s))
            .await
            .map_err(|e| format!("handshake: {e}"))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let host = HeaderValue::from_str(&addr.to_string()).map_err(|e| e.to_string())?;
        Ok(Conn { sender, host, addr })
    }

    /// POST `body` with the MCP content negotiation headers plus `extra`.
    pub async fn post(
        &mut self,
        extra: &[(HeaderName, HeaderValue)],
        body: Bytes,
    ) -> Result<Reply, String> {
        tokio::time::timeout(REQUEST_TIMEOUT, self.send(Method::POST, extra, body))
            .await
            .map_err(|_| format!("timed out after {REQUEST_TIMEOUT:?}"))?
    }

    /// POST like [`Conn::post`], waiting up to `limit` instead of [`REQUEST_TIMEOUT`].
    pub async fn post_within(
        &mut self,
        limit: Duration,
        extra: &[(HeaderName, HeaderValue)],
        body: Bytes,
    ) -> Result<Reply, String> {
        tokio::time::timeout(limit, self.send(Method::POST, extra, body))
            .await
            .map_err(|_| format!("timed out after {limit:?}"))?
    }

    /// A fresh connection to the same address.
    pub async fn connect_like(&self) -> Result<Conn, String> {
        Conn::connect(self.addr).await
    }

    /// DELETE (ends a legacy session).
    pub async fn delete(&mut self, extra: &[(HeaderName, HeaderValue)]) -> Result<Reply, String> {
        tokio::time::timeout(
            REQUEST_TIMEOUT,
            self.send(Method::DELETE, extra, Bytes::new()),
        )
        .await
        .map_err(|_| format!("timed out after {REQUEST_TIMEOUT:?}"))?
    }

    async fn send(
        &mut self,
        method: Method,
        extra: &[(HeaderName, HeaderValue)],
        body: Bytes,
    ) -> Result<Reply, String> {
        let mut req = Request::new(Full::new(body));
        *req.method_mut() = method;
        *req.uri_mut() = http::Uri::from_static("/mcp");
        let h = req.headers_mut();
        h.insert(HOST, self.host.clone());
        h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        h.insert(
            ACCEPT,
            HeaderValue::from_static("application/json, text/event-stream"),
        );
        for (k, v) in extra {
            h.insert(k.clone(), v.clone());
        }
        self.sender
            .ready()
            .await
            .map_err(|e| format!("connection not ready: {e}"))?;
        let resp = self
            .sender
            .send_request(req)
            .await
            .map_err(|e| format!("request failed: {e}"))?;
        let (parts, body) = resp.into_parts();
        let body = body
            .collect()
            .await
            .map_err(|e| format!("reading body: {e}"))?
            .to_bytes();
        Ok(Reply {
            status: parts.status,
            headers: parts.headers,
            body,
        })
    }
}

fn hv(s: &str) -> HeaderValue {
    HeaderValue::from_str(s).expect("valid header value")
}

/// What a client sends for each `tools/call` of one era.
#[derive(Clone)]
pub struct CallSpec {
    pub headers: Vec<(HeaderName, HeaderValue)>,
    era: Era,
}

impl CallSpec {
    /// Legacy calls on session `session` (any 32-character string for the ceiling).
    pub fn legacy(session: &str) -> Self {
        Self {
            headers: vec![
                (HeaderName::from_static(SESSION_ID), hv(session)),
                (
                    HeaderName::from_static(PROTOCOL_VERSION),
                    hv(LEGACY_VERSION),
                ),
            ],
            era: Era::Legacy,
        }
    }

    /// Stateless 2026-07-28 calls.
    pub fn modern() -> Self {
        Self {
            headers: vec![
                (
                    HeaderName::from_static(PROTOCOL_VERSION),
                    hv(MODERN_VERSION),
                ),
                (HeaderName::from_static("mcp-method"), hv("tools/call")),
                (HeaderName::from_static("mcp-name"), hv("echo")),
            ],
            era: Era::Modern,
        }
    }

    /// The JSON-RPC body of call number `id`.
    pub fn body(&self, id: u64) -> Bytes {
        let s = match self.era {
            Era::Legacy => format!(
                r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"echo","arguments":{{"text":"ok"}}}}}}"#
            ),
            Era::Modern => format!(
                r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"echo","arguments":{{"text":"ok"}},"_meta":{{"io.modelcontextprotocol/protocolVersion":"{MODERN_VERSION}","io.modelcontextprotocol/clientCapabilities":{{}}}}}}}}"#
            ),
        };
        Bytes::from(s)
    }
}

/// Whether `hay` contains `needle`.
pub fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fn describe(r: &Reply) -> String {
    let body = String::from_utf8_lossy(&r.body);
    let body: String = body.chars().take(200).collect();
    format!("HTTP {}: {body}", r.status.as_u16())
}

/// Check a tool-call reply: 200 and the expected text in the body.
pub fn check_call(r: &Reply) -> Result<(), String> {
    if r.status == StatusCode::OK && contains(&r.body, EXPECTED) {
        Ok(())
    } else {
        Err(describe(r))
    }
}

fn initialize_body() -> Bytes {
    Bytes::from(format!(
        r#"{{"jsonrpc":"2.0","id":0,"method":"initialize","params":{{"protocolVersion":"{LEGACY_VERSION}","capabilities":{{}},"clientInfo":{{"name":"mcp-bench","version":"0.1.0"}}}}}}"#
    ))
}

const INITIALIZED: &[u8] = br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;

/// The same two POSTs as [`open_session`] against the ceiling (which ignores them): a reference for how
/// fast any HTTP server here can take them.
pub async fn open_session_raw(conn: &mut Conn) -> Result<(), String> {
    let r = conn.post(&[], initialize_body()).await?;
    if r.status != StatusCode::OK {
        return Err(describe(&r));
    }
    let headers = [
        (HeaderName::from_static(SESSION_ID), hv(&"A".repeat(32))),
        (
            HeaderName::from_static(PROTOCOL_VERSION),
            hv(LEGACY_VERSION),
        ),
    ];
    let r = conn.post(&headers, Bytes::from_static(INITIALIZED)).await?;
    if r.status != StatusCode::OK {
        return Err(describe(&r));
    }
    Ok(())
}

/// Open a legacy session on `conn` (initialize, then notifications/initialized); returns its id.
pub async fn open_session(conn: &mut Conn) -> Result<String, String> {
    let r = conn.post(&[], initialize_body()).await?;
    if r.status != StatusCode::OK {
        return Err(format!("initialize: {}", describe(&r)));
    }
    let sid = r
        .headers
        .get(SESSION_ID)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| format!("initialize: no Mcp-Session-Id ({})", describe(&r)))?
        .to_owned();
    let notif = Bytes::from_static(INITIALIZED);
    let headers = [
        (HeaderName::from_static(SESSION_ID), hv(&sid)),
        (
            HeaderName::from_static(PROTOCOL_VERSION),
            hv(LEGACY_VERSION),
        ),
    ];
    let r = conn.post(&headers, notif).await?;
    if r.status != StatusCode::ACCEPTED {
        return Err(format!("notifications/initialized: {}", describe(&r)));
    }
    Ok(sid)
}

/// End a legacy session.
pub async fn close_session(conn: &mut Conn, sid: &str) -> Result<(), String> {
    let headers = [
        (HeaderName::from_static(SESSION_ID), hv(sid)),
        (
            HeaderName::from_static(PROTOCOL_VERSION),
            hv(LEGACY_VERSION),
        ),
    ];
    let r = conn.delete(&headers).await?;
    if r.status.is_success() {
        Ok(())
    } else {
        Err(format!("DELETE: {}", describe(&r)))
    }
}
