//! The HTTP+SSE transport of 2024-11-05 (deprecated, superseded by Streamable HTTP).
//!
//! The client opens a `GET` event stream; its first event, `endpoint`, names the URL (possibly relative to
//! the stream's URL) every client message is POSTed to (the server accepts each with 202). Everything the
//! server sends (responses, notifications, requests) arrives as `message` events on the stream. The stream
//! is the connection: when it ends, the connection is closed.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use mcp_protocol::Message;
use mcp_rpc::rt::{self, JoinHandle};
use reqwest::header::{HeaderMap, ACCEPT, CONTENT_TYPE};
use reqwest::{StatusCode, Url};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{SendOptions, Transport, TransportEvent, TransportKind};
use crate::auth::{apply_headers, retry_after_refusal, AuthProvider};
use crate::error::{Error, Repr};
use crate::sse::{SseEvent, SseParser};

/// Messages read from the stream before the transport is started that are held; the reader waits for
/// `start` beyond that.
const PENDING_EVENTS: usize = 64;

/// How long the server has to send the `endpoint` event after the stream opens.
const ENDPOINT_TIMEOUT: Duration = Duration::from_secs(10);

/// A client for a 2024-11-05 server's HTTP+SSE transport.
///
/// [`HttpTransport`](super::HttpTransport) falls back to it by itself when a server refuses the Streamable
/// HTTP `initialize` with 400, 404 or 405; use it directly to talk to a server known to be that old.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use mcp_client::transport::LegacySseTransport;
/// let transport = LegacySseTransport::connect("http://127.0.0.1:3000/sse").await?;
/// let client = mcp_client::Client::builder().connect(transport).await?;
/// # let _ = client; Ok(()) }
/// ```
pub struct LegacySseTransport {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for LegacySseTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LegacySseTransport")
            .field("endpoint", &self.inner.endpoint.as_str())
            .finish_non_exhaustive()
    }
}

struct Inner {
    http: reqwest::Client,
    headers: HeaderMap,
    auth: Option<Arc<dyn AuthProvider>>,
    /// Where messages are POSTed.
    endpoint: Url,
    /// Messages read before `start`; taken by `start`.
    pending: Mutex<Option<mpsc::Receiver<TransportEvent>>>,
    events: Mutex<Option<mpsc::Sender<TransportEvent>>>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    closed: CancellationToken,
    auth_key: Mutex<Option<String>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn truncate(s: &str) -> String {
    const MAX: usize = 512;
    if s.len() <= MAX {
        return s.to_owned();
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// Send the request `build` makes with the provider's credentials; on 401/403 the provider may
/// re-authorize, and the request is rebuilt and sent again.
async fn send_authorized(
    auth: &Option<Arc<dyn AuthProvider>>,
    auth_key: &Mutex<Option<String>>,
    method: &reqwest::Method,
    url: &Url,
    build: impl Fn() -> reqwest::RequestBuilder,
) -> Result<reqwest::Response, Error> {
    let mut attempt = 0;
    loop {
        let (rb, token) = apply_headers(auth.as_ref(), auth_key, method, url, build()).await?;
        let resp = rb.send().await.map_err(Error::network)?;
        if !retry_after_refusal(auth.as_ref(), &resp, token, attempt).await? {
            return Ok(resp);
        }
        attempt += 1;
    }
}

/// The caps of the event stream's parser.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SseLimits {
    /// A line other than a `data` line.
    pub line: usize,
    /// The data of one event (one message).
    pub event: usize,
}

impl Default for SseLimits {
    fn default() -> Self {
        Self {
            line: crate::sse::DEFAULT_MAX_LINE,
            event: crate::sse::DEFAULT_MAX_EVENT,
        }
    }
}

/// Why opening one candidate stream failed.
enum OpenError {
    /// 400, 404 or 405 (or not an event stream): nothing here; another candidate may work.
    NotHere(Error),
    /// Anything else.
    Failed(Error),
}

impl LegacySseTransport {
    /// Open the event stream at `url` and wait for the server to name its message endpoint.
    pub async fn connect(url: impl AsRef<str>) -> Result<Self, Error> {
        let url = Url::parse(url.as_ref()).map_err(|e| {
            Error::transport_protocol(format!("invalid URL {:?}: {e}", url.as_ref()))
        })?;
        let http = reqwest::Client::builder();
        // Sockets are the browser's (or Node's) under fetch: these are native settings.
        #[cfg(not(target_arch = "wasm32"))]
        let http = http
            .tcp_nodelay(true)
            .connect_timeout(Duration::from_secs(10));
        let http = http.build().map_err(Error::network)?;
        Self::open(http, HeaderMap::new(), None, &[url], SseLimits::default()).await
    }

    /// Try each stream URL in turn (the next one only after a 400, 404 or 405) with these settings.
    pub(crate) async fn open(
        http: reqwest::Client,
        headers: HeaderMap,
        auth: Option<Arc<dyn AuthProvider>>,
        candidates: &[Url],
        limits: SseLimits,
    ) -> Result<Self, Error> {
        let auth_key = Mutex::new(None);
        let mut last: Error = Error::transport_protocol("no URL to open an event stream at".into());
        for url in candidates {
            match Self::open_one(&http, &headers, &auth, &auth_key, url, limits).await {
                Ok((endpoint, parser, rest, resp)) => {
                    // Until `start`, the reader waits once this holds a few messages: nothing reads them yet.
                    let (tx, rx) = mpsc::channel(PENDING_EVENTS);
                    let closed = CancellationToken::new();
                    let reader = rt::spawn(read_stream(resp, parser, rest, tx, closed.clone()));
                    return Ok(Self {
                        inner: Arc::new(Inner {
                            http,
                            headers,
                            auth,
                            endpoint,
                            pending: Mutex::new(Some(rx)),
                            events: Mutex::new(None),
                            tasks: Mutex::new(vec![reader]),
                            closed,
                            auth_key,
                        }),
                    });
                }
                Err(OpenError::NotHere(e)) => {
                    tracing::debug!(%url, error = %e, "no HTTP+SSE stream here");
                    last = e;
                }
                Err(OpenError::Failed(e)) => return Err(e),
            }
        }
        Err(last)
    }

    async fn open_one(
        http: &reqwest::Client,
        headers: &HeaderMap,
        auth: &Option<Arc<dyn AuthProvider>>,
        auth_key: &Mutex<Option<String>>,
        url: &Url,
        limits: SseLimits,
    ) -> Result<(Url, SseParser, Vec<SseEvent>, super::Chunks), OpenError> {
        let build = || {
            http.get(url.clone())
                .headers(headers.clone())
                .header(ACCEPT, "text/event-stream")
        };
        let resp = send_authorized(auth, auth_key, &reqwest::Method::GET, url, build)
            .await
            .map_err(OpenError::Failed)?;
        let status = resp.status();
        if !status.is_success() {
            let body = super::error_body(resp).await;
            let e = Repr::Http {
                status: status.as_u16(),
                body: truncate(&String::from_utf8_lossy(&body)),
            };
            return Err(
                if matches!(
                    status,
                    StatusCode::BAD_REQUEST
                        | StatusCode::NOT_FOUND
                        | StatusCode::METHOD_NOT_ALLOWED
                ) {
                    OpenError::NotHere(e.into())
                } else {
                    OpenError::Failed(e.into())
                },
            );
        }
        let is_sse = resp
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim_start().starts_with("text/event-stream"));
        if !is_sse {
            return Err(OpenError::NotHere(Error::transport_protocol(
                "the GET response is not an event stream".into(),
            )));
        }
        // Read until the `endpoint` event; the rest of the stream stays with the response.
        let mut parser = SseParser::new();
        parser.set_limits(limits.line, limits.event);
        let mut body = super::Chunks::new(resp);
        let found = rt::timeout(ENDPOINT_TIMEOUT, async {
            loop {
                let chunk = body.chunk().await.map_err(Error::network)?;
                let Some(chunk) = chunk else {
                    return Err(Error::transport_protocol(
                        "the event stream ended before the endpoint event".into(),
                    ));
                };
                // The endpoint event comes first; anything else first is not a 2024-11-05 server.
                let mut events = parser.feed(&chunk).into_iter();
                if let Some(ev) = events.next() {
                    if ev.event.as_deref() != Some("endpoint") {
                        return Err(Error::transport_protocol(format!(
                            "the first event is {:?}, not \"endpoint\"",
                            ev.event.as_deref().unwrap_or("message")
                        )));
                    }
                    // Events that came in the same chunk are the stream's first messages.
                    return Ok((ev.data, events.collect::<Vec<_>>()));
                }
                if let Some(e) = parser.error() {
                    return Err(Error::transport_protocol(e.to_string()));
                }
            }
        })
        .await
        .map_err(|_| {
            OpenError::Failed(Error::transport_protocol(
                "no endpoint event in time".into(),
            ))
        })?
        .map_err(OpenError::Failed)?;
        let (found, rest) = found;
        let endpoint = url.join(found.trim()).map_err(|e| {
            OpenError::Failed(Error::transport_protocol(format!(
                "invalid endpoint {found:?}: {e}"
            )))
        })?;
        // Never send messages (and credentials) to another origin than the one we connected to.
        if endpoint.origin() != url.origin() {
            return Err(OpenError::Failed(Error::transport_protocol(format!(
                "the endpoint {endpoint} is not on the stream's origin"
            ))));
        }
        Ok((endpoint, parser, rest, body))
    }

    /// The URL messages are POSTed to, as the server named it.
    pub fn endpoint(&self) -> &str {
        self.inner.endpoint.as_str()
    }
}

/// Deliver the stream's `message` events until it ends.
async fn read_stream(
    mut resp: super::Chunks,
    mut parser: SseParser,
    first: Vec<SseEvent>,
    tx: mpsc::Sender<TransportEvent>,
    closed: CancellationToken,
) {
    let mut events = first;
    let reason = loop {
        for ev in events.drain(..) {
            match ev.event.as_deref() {
                None | Some("message") => {}
                Some(other) => {
                    tracing::debug!(event = other, "ignoring SSE event of another type");
                    continue;
                }
            }
            if ev.data.trim().is_empty() {
                continue;
            }
            let msg = crate::transport::parse_message(ev.data.as_bytes());
            match msg {
                Ok(m) => {
                    if tx.send(TransportEvent::Message(m)).await.is_err() {
                        return;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "ignoring an SSE event that is not a JSON-RPC message")
                }
            }
        }
        if let Some(e) = parser.error() {
            break Some(e.to_string());
        }
        let chunk = tokio::select! {
            c = resp.chunk() => c,
            _ = closed.cancelled() => return,
        };
        match chunk {
            Ok(Some(b)) => events = parser.feed(&b),
            Ok(None) => break None,
            Err(e) => break Some(e.to_string()),
        }
    };
    if !closed.is_cancelled() {
        let _ = tx
            .send(TransportEvent::Closed(Some(
                reason.unwrap_or_else(|| "the event stream ended".into()),
            )))
            .await;
    }
}

impl Inner {
    async fn post(&self, msg: &Message) -> Result<(), Error> {
        let body = serde_json::to_vec(msg).map_err(|e| Error::transport_protocol(e.to_string()))?;
        let build = || {
            self.http
                .post(self.endpoint.clone())
                .headers(self.headers.clone())
                .header(CONTENT_TYPE, "application/json")
                .body(body.clone())
        };
        let send = send_authorized(
            &self.auth,
            &self.auth_key,
            &reqwest::Method::POST,
            &self.endpoint,
            build,
        );
        let resp = tokio::select! {
            r = send => r?,
            _ = self.closed.cancelled() => return Err(Repr::Closed.into()),
        };
        let status = resp.status();
        if status.is_success() {
            return Ok(());
        }
        let body = super::error_body(resp).await;
        Err(Repr::Http {
            status: status.as_u16(),
            body: truncate(&String::from_utf8_lossy(&body)),
        }
        .into())
    }
}

impl Drop for LegacySseTransport {
    fn drop(&mut self) {
        self.inner.closed.cancel();
        for t in lock(&self.inner.tasks).drain(..) {
            t.abort();
        }
    }
}

impl Transport for LegacySseTransport {
    fn kind(&self) -> TransportKind {
        // One POST per message, sent concurrently (a server may hold a POST while it asks the client something).
        TransportKind::Http
    }

    fn start(&self, events: mpsc::Sender<TransportEvent>) -> BoxFuture<'_, Result<(), Error>> {
        let r = match lock(&self.inner.pending).take() {
            Some(mut rx) => {
                *lock(&self.inner.events) = Some(events.clone());
                let forward = rt::spawn(async move {
                    while let Some(ev) = rx.recv().await {
                        if events.send(ev).await.is_err() {
                            return;
                        }
                    }
                });
                lock(&self.inner.tasks).push(forward);
                Ok(())
            }
            None => Err(Error::transport_protocol(
                "transport already started".into(),
            )),
        };
        Box::pin(async move { r })
    }

    fn send(&self, msg: Message, _opts: SendOptions) -> BoxFuture<'_, Result<(), Error>> {
        super::boxed(async move {
            if self.inner.closed.is_cancelled() {
                return Err(Repr::Closed.into());
            }
            self.inner.post(&msg).await
        })
    }

    fn auth_context(&self) -> Option<String> {
        lock(&self.inner.auth_key).clone()
    }

    fn close(&self) -> BoxFuture<'_, Result<(), Error>> {
        Box::pin(async move {
            let first = !self.inner.closed.is_cancelled();
            self.inner.closed.cancel();
            for t in lock(&self.inner.tasks).drain(..) {
                t.abort();
            }
            if first {
                let tx = lock(&self.inner.events).take();
                if let Some(tx) = tx {
                    let _ = tx.send(TransportEvent::Closed(None)).await;
                }
            }
            Ok(())
        })
    }
}

/// The URL with its last path segment replaced by `sse` (`/mcp` → `/sse`), if that is a different URL.
pub(crate) fn sse_sibling(url: &Url) -> Option<Url> {
    let mut u = url.clone();
    {
        let mut segs = u.path_segments_mut().ok()?;
        segs.pop_if_empty().pop().push("sse");
    }
    (u != *url).then_some(u)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn messages_before_start_are_held_up_to_a_cap_and_none_is_lost() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        // ~30 MiB of events: far more than the socket buffers hold, so a reader that waits for `start`
        // keeps the server from writing them all.
        const N: usize = 30_000;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let written = Arc::new(AtomicUsize::new(0));
        let counter = written.clone();
        tokio::spawn(async move {
            let (mut sock, _) = listener.accept().await.unwrap();
            let mut head = [0u8; 4096];
            let _ = sock.read(&mut head).await;
            let _ = sock
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\nevent: endpoint\ndata: /messages\n\n")
                .await;
            let pad = "x".repeat(1000);
            for i in 0..N {
                let ev = format!(
                    "data: {{\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\",\"params\":{{\"i\":{i},\"pad\":\"{pad}\"}}}}\n\n"
                );
                if sock.write_all(ev.as_bytes()).await.is_err() {
                    return;
                }
                counter.fetch_add(1, Ordering::SeqCst);
            }
        });
        let url = Url::parse(&format!("http://{addr}/sse")).unwrap();
        let t = LegacySseTransport::open(
            reqwest::Client::new(),
            HeaderMap::new(),
            None,
            &[url],
            SseLimits::default(),
        )
        .await
        .unwrap();
        // Nothing reads the transport yet: give its reader every chance to run ahead.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let held = lock(&t.inner.pending).as_ref().unwrap().len();
        assert!(held <= PENDING_EVENTS, "{held} messages held before start");
        assert!(
            written.load(Ordering::SeqCst) < N,
            "the reader did not wait"
        );
        // Once started, every message arrives, in order.
        let (tx, mut rx) = mpsc::channel(16);
        t.start(tx).await.unwrap();
        let mut next = 0;
        loop {
            let ev = tokio::time::timeout(Duration::from_secs(20), rx.recv())
                .await
                .expect("the stream stalled after start")
                .unwrap();
            match ev {
                TransportEvent::Message(Message::Notification(n)) => {
                    assert_eq!(n.params.unwrap()["i"], next);
                    next += 1;
                }
                TransportEvent::Closed(_) => break,
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(next, N);
    }

    #[test]
    fn sse_candidate_replaces_the_last_segment() {
        let u = Url::parse("http://h:1/a/mcp?k=v").unwrap();
        assert_eq!(sse_sibling(&u).unwrap().as_str(), "http://h:1/a/sse?k=v");
        let u = Url::parse("http://h:1/mcp/").unwrap();
        assert_eq!(sse_sibling(&u).unwrap().as_str(), "http://h:1/sse");
        let u = Url::parse("http://h:1/sse").unwrap();
        assert!(sse_sibling(&u).is_none());
    }
}
