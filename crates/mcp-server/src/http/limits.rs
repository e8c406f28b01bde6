//! What a slow or hostile peer can hold, and for how long: request bodies read against a deadline, and a
//! per-connection watch that tells a stalled request head or an idle keep-alive connection from one that is
//! busy (an open SSE stream is busy, however quiet).

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use http::{header, HeaderValue, Response, StatusCode};
use http_body_util::BodyExt;
use mcp_protocol::ErrorObject;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::{error_response, McpBody};

/// How a request body must arrive.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BodyLimits {
    pub max_bytes: usize,
    /// The whole body, from the end of the head to the last byte.
    pub total: Duration,
    /// The longest wait for the next bytes: a body that trickles slower than this is cut off even within `total`.
    pub stall: Duration,
}

fn timed_out(what: &str, after: Duration) -> Response<McpBody> {
    let mut r = error_response(
        StatusCode::REQUEST_TIMEOUT,
        None,
        ErrorObject::invalid_request(format!(
            "request body not received in time ({what} {} ms; see HttpConfig::body_read_timeout and \
             body_stall_timeout)",
            after.as_millis()
        )),
    );
    // The rest of the body was never read: the connection cannot carry another request.
    r.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    r
}

/// Read a whole body within `limits`, or the response to send instead (413, 408 or 400).
// The error is the response to send, returned at once; boxing it would only add an allocation.
#[allow(clippy::result_large_err)]
pub(crate) async fn read_body<B>(body: B, limits: BodyLimits) -> Result<Bytes, Response<McpBody>>
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let started = Instant::now();
    let deadline = tokio::time::Instant::from_std(started + limits.total);
    let body = http_body_util::Limited::new(body, limits.max_bytes);
    tokio::pin!(body);
    // A body in one chunk (the usual case) is passed on without a copy.
    let mut first: Option<Bytes> = None;
    let mut more: Option<BytesMut> = None;
    loop {
        let mut pinned = body.as_mut();
        let next = {
            let mut frame = pinned.frame();
            // Most bodies are already in hyper's buffer: no timer for those.
            match futures::poll!(&mut frame) {
                Poll::Ready(f) => f,
                Poll::Pending => {
                    let now = tokio::time::Instant::now();
                    if now >= deadline {
                        return Err(timed_out("deadline", limits.total));
                    }
                    let (wait, what, limit) = if deadline - now < limits.stall {
                        (deadline - now, "deadline", limits.total)
                    } else {
                        (limits.stall, "no bytes for", limits.stall)
                    };
                    match tokio::time::timeout(wait, frame).await {
                        Ok(f) => f,
                        Err(_) => return Err(timed_out(what, limit)),
                    }
                }
            }
        };
        match next {
            None => break,
            Some(Ok(frame)) => {
                let Ok(data) = frame.into_data() else {
                    continue; // trailers
                };
                match (&mut first, &mut more) {
                    (None, _) => first = Some(data),
                    (Some(f), None) => {
                        let mut buf = BytesMut::with_capacity(f.len() + data.len());
                        buf.extend_from_slice(f);
                        buf.extend_from_slice(&data);
                        more = Some(buf);
                    }
                    (Some(_), Some(buf)) => buf.extend_from_slice(&data),
                }
            }
            Some(Err(e)) => {
                return Err(
                    if e.downcast_ref::<http_body_util::LengthLimitError>()
                        .is_some()
                    {
                        error_response(
                            StatusCode::PAYLOAD_TOO_LARGE,
                            None,
                            ErrorObject::invalid_request(format!(
                                "request body exceeds {} bytes (HttpConfig::max_body_bytes)",
                                limits.max_bytes
                            )),
                        )
                    } else {
                        error_response(
                            StatusCode::BAD_REQUEST,
                            None,
                            ErrorObject::invalid_request(format!("could not read body: {e}")),
                        )
                    },
                )
            }
        }
    }
    Ok(match (first, more) {
        (_, Some(buf)) => buf.freeze(),
        (Some(b), None) => b,
        (None, None) => Bytes::new(),
    })
}

/// No time recorded.
const NEVER: u64 = u64::MAX;

/// What one connection is doing, as far as its limits care: requests in flight, when it last went idle, and
/// whether the bytes of a new request head have started to arrive.
#[derive(Debug)]
pub(crate) struct ConnWatch {
    epoch: Instant,
    active: AtomicUsize,
    /// Milliseconds since `epoch` when the last request ended (or the connection opened).
    idle_since: AtomicU64,
    /// Milliseconds since `epoch` of the first byte read while no request was in flight, or [`NEVER`].
    head_started: AtomicU64,
    /// Milliseconds since `epoch` when a write found the socket full and has made no progress since, or
    /// [`NEVER`].
    write_blocked: AtomicU64,
}

/// Marks its connection busy while it lives (held by the response body, so an open stream counts).
#[derive(Debug)]
pub(crate) struct ActiveGuard(Arc<ConnWatch>);

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        let w = &self.0;
        if w.active.fetch_sub(1, Ordering::AcqRel) == 1 {
            w.idle_since.store(w.now(), Ordering::Release);
            w.head_started.store(NEVER, Ordering::Release);
        }
    }
}

/// What the watch says a connection should do.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    Keep,
    /// Idle too long: close it politely (nothing is in flight).
    Idle,
    /// A request head started and did not finish in time: drop it.
    StalledHead,
    /// The peer has taken no bytes for too long while the server had some to send: drop it.
    StalledWrite,
}

impl ConnWatch {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self {
            epoch: Instant::now(),
            active: AtomicUsize::new(0),
            idle_since: AtomicU64::new(0),
            head_started: AtomicU64::new(NEVER),
            write_blocked: AtomicU64::new(NEVER),
        })
    }

    fn write_polled<T>(&self, r: &Poll<io::Result<T>>) {
        match r {
            Poll::Pending => {
                if self.write_blocked.load(Ordering::Relaxed) == NEVER {
                    self.write_blocked.store(self.now(), Ordering::Relaxed);
                }
            }
            Poll::Ready(_) => {
                if self.write_blocked.load(Ordering::Relaxed) != NEVER {
                    self.write_blocked.store(NEVER, Ordering::Relaxed);
                }
            }
        }
    }

    fn now(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// A request has been read: the connection is busy until the guard (kept by the response body) drops.
    pub(crate) fn begin(self: &Arc<Self>) -> ActiveGuard {
        self.active.fetch_add(1, Ordering::AcqRel);
        self.head_started.store(NEVER, Ordering::Release);
        ActiveGuard(self.clone())
    }

    fn bytes_read(&self) {
        if self.active.load(Ordering::Acquire) == 0
            && self.head_started.load(Ordering::Acquire) == NEVER
        {
            self.head_started.store(self.now(), Ordering::Release);
        }
    }

    pub(crate) fn verdict(
        &self,
        header_timeout: Duration,
        idle_timeout: Duration,
        write_timeout: Duration,
    ) -> Verdict {
        let now = self.now();
        let blocked = self.write_blocked.load(Ordering::Relaxed);
        if blocked != NEVER && now.saturating_sub(blocked) >= write_timeout.as_millis() as u64 {
            return Verdict::StalledWrite;
        }
        if self.active.load(Ordering::Acquire) > 0 {
            return Verdict::Keep;
        }
        let head = self.head_started.load(Ordering::Acquire);
        if head != NEVER {
            if now.saturating_sub(head) >= header_timeout.as_millis() as u64 {
                return Verdict::StalledHead;
            }
            return Verdict::Keep;
        }
        let idle = self.idle_since.load(Ordering::Acquire);
        if now.saturating_sub(idle) >= idle_timeout.as_millis() as u64 {
            Verdict::Idle
        } else {
            Verdict::Keep
        }
    }
}

/// A connection's I/O that tells its [`ConnWatch`] when request bytes arrive.
pub(crate) struct WatchedIo<T> {
    inner: T,
    watch: Arc<ConnWatch>,
}

impl<T> WatchedIo<T> {
    pub(crate) fn new(inner: T, watch: Arc<ConnWatch>) -> Self {
        Self { inner, watch }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for WatchedIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.watch.bytes_read();
        }
        r
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for WatchedIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.watch.write_polled(&r);
        r
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.watch.write_polled(&r);
        r
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_is_idle_only_without_requests_and_stalled_only_mid_head() {
        let w = ConnWatch::new();
        let (head, idle, never) = (Duration::ZERO, Duration::from_secs(3600), Duration::MAX);
        assert_eq!(w.verdict(head, idle, never), Verdict::Keep);
        w.bytes_read();
        assert_eq!(w.verdict(head, idle, never), Verdict::StalledHead);
        let g = w.begin();
        w.bytes_read(); // body bytes of a request in flight: not a new head
        assert_eq!(w.verdict(head, Duration::ZERO, never), Verdict::Keep);
        drop(g);
        assert_eq!(w.verdict(head, Duration::ZERO, never), Verdict::Idle);
        assert_eq!(w.verdict(head, idle, never), Verdict::Keep);
    }

    #[test]
    fn a_write_stall_counts_even_with_a_request_in_flight() {
        let w = ConnWatch::new();
        let _busy = w.begin();
        let (head, idle) = (Duration::from_secs(3600), Duration::from_secs(3600));
        w.write_polled::<usize>(&Poll::Pending);
        assert_eq!(w.verdict(head, idle, Duration::ZERO), Verdict::StalledWrite);
        assert_eq!(
            w.verdict(head, idle, Duration::from_secs(60)),
            Verdict::Keep
        );
        w.write_polled(&Poll::Ready(Ok(1usize)));
        assert_eq!(w.verdict(head, idle, Duration::ZERO), Verdict::Keep);
    }
}
