//! The response body: a whole buffer, or a stream of SSE frames fed by a channel.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::sync::mpsc;
use tokio_util::sync::DropGuard;

/// The body of every response the MCP service sends.
pub struct McpBody {
    kind: Kind,
    /// Kept alive until the body is finished or dropped: the request's admission permit (so the in-flight cap
    /// counts a stream for as long as it is open) and the connection's activity mark (so an open stream is
    /// never taken for an idle connection).
    held: Held,
}

/// What a body keeps alive; each slot is filled at most once, so no allocation beyond the guards themselves.
#[derive(Default)]
pub(crate) struct Held {
    pub permit: Option<std::sync::Arc<mcp_rpc::AdmissionPermit>>,
    pub activity: Option<super::limits::ActiveGuard>,
}

enum Kind {
    Full(Option<Bytes>),
    Stream {
        rx: mpsc::Receiver<Bytes>,
        /// Cancels the request when the client goes away (modern era: closing the stream is a cancel).
        _on_drop: Option<DropGuard>,
    },
}

impl std::fmt::Debug for McpBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self.kind {
            Kind::Full(_) => "McpBody::Full",
            Kind::Stream { .. } => "McpBody::Stream",
        })
    }
}

impl McpBody {
    /// A complete body.
    pub fn full(b: impl Into<Bytes>) -> Self {
        Self {
            kind: Kind::Full(Some(b.into())),
            held: Held::default(),
        }
    }
    /// No body.
    pub fn empty() -> Self {
        Self {
            kind: Kind::Full(None),
            held: Held::default(),
        }
    }
    pub(crate) fn stream(rx: mpsc::Receiver<Bytes>, on_drop: Option<DropGuard>) -> Self {
        Self {
            kind: Kind::Stream {
                rx,
                _on_drop: on_drop,
            },
            held: Held::default(),
        }
    }

    /// Keep the request's admission permit until this body ends.
    pub(crate) fn hold_permit(&mut self, permit: std::sync::Arc<mcp_rpc::AdmissionPermit>) {
        self.held.permit = Some(permit);
    }

    /// Keep the connection marked active until this body ends.
    pub(crate) fn hold_activity(&mut self, guard: super::limits::ActiveGuard) {
        self.held.activity = Some(guard);
    }
}

impl Body for McpBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let polled = match &mut self.kind {
            Kind::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            Kind::Stream { rx, .. } => rx.poll_recv(cx).map(|o| o.map(|b| Ok(Frame::data(b)))),
        };
        if let Poll::Ready(None) = polled {
            // The response is complete: release the permit and the activity mark now rather than when
            // hyper gets around to dropping the body.
            self.held = Held::default();
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        matches!(&self.kind, Kind::Full(None))
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Full(Some(b)) => SizeHint::with_exact(b.len() as u64),
            Kind::Full(None) => SizeHint::with_exact(0),
            Kind::Stream { .. } => SizeHint::default(),
        }
    }
}
