//! Newline-delimited JSON-RPC over any byte stream: an in-memory duplex, a socket, a child's stdio.

use std::sync::Mutex;

use futures::future::BoxFuture;
use mcp_protocol::Message;
use mcp_rpc::framing::{encode_message, Frame, FrameReader, DEFAULT_MAX_MESSAGE};
use mcp_rpc::rt::{self, JoinHandle};
use tokio::io::{AsyncBufRead, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;

use super::{SendOptions, Transport, TransportEvent, TransportKind};
use crate::error::{Error, Repr};

type BoxReader = Box<dyn AsyncBufRead + Send + Unpin>;
type BoxWriter = Box<dyn AsyncWrite + Send + Unpin>;

/// JSON-RPC over a pair of byte streams, one message per line (the stdio framing of every revision).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let (client_side, _server_side) = tokio::io::duplex(64 * 1024);
/// let transport = mcp_client::transport::StreamTransport::from_duplex(client_side);
/// # let _ = transport;
/// # }
/// ```
pub struct StreamTransport {
    reader: Mutex<Option<BoxReader>>,
    writer: tokio::sync::Mutex<Option<BoxWriter>>,
    /// Frames encoded by senders and not yet written. Whoever holds `writer` next writes all of them at
    /// once, so concurrent calls share one `write` instead of queueing for one each.
    queued: Mutex<Vec<u8>>,
    reader_task: Mutex<Option<JoinHandle<()>>>,
    max_message: usize,
}

impl std::fmt::Debug for StreamTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamTransport").finish_non_exhaustive()
    }
}

impl StreamTransport {
    /// Read messages from `reader`, write them to `writer`.
    pub fn new<R, W>(reader: R, writer: W) -> Self
    where
        R: AsyncRead + Send + Unpin + 'static,
        W: AsyncWrite + Send + Unpin + 'static,
    {
        Self {
            reader: Mutex::new(Some(Box::new(BufReader::new(reader)))),
            writer: tokio::sync::Mutex::new(Some(Box::new(writer))),
            queued: Mutex::new(Vec::new()),
            reader_task: Mutex::new(None),
            max_message: DEFAULT_MAX_MESSAGE,
        }
    }

    /// Both directions over one duplex stream (e.g. one end of [`tokio::io::duplex`]).
    pub fn from_duplex<S>(stream: S) -> Self
    where
        S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        let (r, w) = tokio::io::split(stream);
        Self::new(r, w)
    }

    /// Cap on one inbound message (default 4 MiB); longer lines are skipped with a warning.
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.max_message = bytes;
        self
    }

    /// Close the writing half (the peer sees end of input) without waiting for anything.
    pub(crate) async fn close_writer(&self) {
        if let Some(mut w) = self.writer.lock().await.take() {
            let _ = w.shutdown().await;
        }
    }

    /// Stop reading.
    pub(crate) fn stop_reader(&self) {
        if let Some(t) = self
            .reader_task
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            t.abort();
        }
    }

    pub(crate) fn start_reader(&self, events: mpsc::Sender<TransportEvent>) -> Result<(), Error> {
        let Some(reader) = self.reader.lock().unwrap_or_else(|p| p.into_inner()).take() else {
            return Err(Error::transport_protocol(
                "transport already started".into(),
            ));
        };
        let max = self.max_message;
        let task = rt::spawn(async move {
            let mut frames = FrameReader::new(reader, max);
            let reason = loop {
                let m = match frames.next_message().await {
                    Ok(Some(Frame::Message(m))) => m,
                    Ok(Some(Frame::Json(v))) => match Message::from_value(v) {
                        Ok(m) => m,
                        Err(e) => {
                            tracing::warn!(error = %e.message, "ignoring invalid message");
                            continue;
                        }
                    },
                    Ok(Some(Frame::Malformed(e))) => {
                        tracing::warn!(error = %e, "ignoring a line that is not JSON");
                        continue;
                    }
                    Ok(Some(Frame::TooLarge(n))) => {
                        tracing::warn!(bytes = n, "ignoring an oversized message");
                        continue;
                    }
                    Ok(Some(_)) => continue,
                    Ok(None) => break None,
                    Err(e) => break Some(e.to_string()),
                };
                if events.send(TransportEvent::Message(m)).await.is_err() {
                    return;
                }
            };
            let _ = events.send(TransportEvent::Closed(reason)).await;
        });
        *self.reader_task.lock().unwrap_or_else(|p| p.into_inner()) = Some(task);
        Ok(())
    }

    pub(crate) async fn write(&self, msg: &Message) -> Result<(), Error> {
        {
            let mut q = self.queued.lock().unwrap_or_else(|p| p.into_inner());
            encode_message(&mut q, msg).map_err(Error::io)?;
        }
        let mut w = self.writer.lock().await;
        let Some(w) = w.as_mut() else {
            return Err(Repr::Closed.into());
        };
        let bytes = std::mem::take(&mut *self.queued.lock().unwrap_or_else(|p| p.into_inner()));
        if bytes.is_empty() {
            // An earlier holder of the writer took this frame along with its own and wrote it.
            return Ok(());
        }
        let written = match w.write_all(&bytes).await {
            Ok(()) => w.flush().await,
            Err(e) => Err(e),
        };
        written.map_err(Error::io)
    }
}

impl Drop for StreamTransport {
    fn drop(&mut self) {
        self.stop_reader();
    }
}

impl Transport for StreamTransport {
    fn kind(&self) -> TransportKind {
        TransportKind::Stream
    }

    fn start(&self, events: mpsc::Sender<TransportEvent>) -> BoxFuture<'_, Result<(), Error>> {
        let r = self.start_reader(events);
        Box::pin(async move { r })
    }

    fn send(&self, msg: Message, _opts: SendOptions) -> BoxFuture<'_, Result<(), Error>> {
        Box::pin(async move { self.write(&msg).await })
    }

    fn close(&self) -> BoxFuture<'_, Result<(), Error>> {
        Box::pin(async move {
            self.close_writer().await;
            self.stop_reader();
            Ok(())
        })
    }
}
