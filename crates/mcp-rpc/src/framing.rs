//! Newline-delimited JSON framing (stdio and any byte stream), with a cap on message size.

use mcp_protocol::Message;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWrite, AsyncWriteExt};

/// Default cap on one message: 4 MiB.
pub const DEFAULT_MAX_MESSAGE: usize = 4 * 1024 * 1024;

/// One framed line as read.
#[derive(Debug)]
#[non_exhaustive]
pub enum Frame {
    /// A line that parsed as JSON.
    Json(serde_json::Value),
    /// A line that is not valid JSON (answer -32700 and go on).
    Malformed(String),
    /// A line longer than the cap; it was skipped without being buffered.
    TooLarge(usize),
    /// A line that is one plain message, parsed straight from its bytes: only from
    /// [`FrameReader::next_message`].
    Message(Message),
}

/// Reads newline-delimited frames, never buffering more than the cap for one line.
#[derive(Debug)]
pub struct FrameReader<R> {
    inner: R,
    max: usize,
    buf: Vec<u8>,
}

impl<R: AsyncBufRead + Unpin> FrameReader<R> {
    /// Wrap a buffered reader.
    pub fn new(inner: R, max: usize) -> Self {
        Self {
            inner,
            max,
            buf: Vec::new(),
        }
    }

    /// The next frame, or `None` at end of input. Blank lines are skipped.
    pub async fn next(&mut self) -> std::io::Result<Option<Frame>> {
        Ok(match self.next_line().await? {
            None => None,
            Some(Err(oversized)) => Some(Frame::TooLarge(oversized)),
            Some(Ok(())) => Some(self.line_as_json()),
        })
    }

    /// [`FrameReader::next`], except that a line holding one plain message comes as [`Frame::Message`],
    /// parsed by [`Message::from_slice_fast`] without first building a [`serde_json::Value`] of the whole
    /// line. Anything else (a batch, a malformed message, a line that is not JSON) comes as from `next`.
    ///
    /// ```
    /// use mcp_rpc::framing::{Frame, FrameReader};
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let input: &[u8] = b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}\n[1]\n";
    /// let mut frames = FrameReader::new(input, 1024);
    /// assert!(matches!(frames.next_message().await.unwrap(), Some(Frame::Message(_))));
    /// assert!(matches!(frames.next_message().await.unwrap(), Some(Frame::Json(_))));
    /// assert!(frames.next_message().await.unwrap().is_none());
    /// # });
    /// ```
    pub async fn next_message(&mut self) -> std::io::Result<Option<Frame>> {
        Ok(match self.next_line().await? {
            None => None,
            Some(Err(oversized)) => Some(Frame::TooLarge(oversized)),
            Some(Ok(())) => match Message::from_slice_fast(trim_line(&self.buf)) {
                Some(m) => Some(Frame::Message(m)),
                None => Some(self.line_as_json()),
            },
        })
    }

    fn line_as_json(&self) -> Frame {
        match serde_json::from_slice(trim_line(&self.buf)) {
            Ok(v) => Frame::Json(v),
            Err(e) => Frame::Malformed(e.to_string()),
        }
    }

    /// Read the next non-blank line into `buf`: `Ok` when it is there, `Err(bytes)` when it was longer
    /// than the cap (and skipped), `None` at end of input.
    async fn next_line(&mut self) -> std::io::Result<Option<Result<(), usize>>> {
        loop {
            self.buf.clear();
            let mut oversized = 0usize;
            loop {
                let chunk = self.inner.fill_buf().await?;
                if chunk.is_empty() {
                    if self.buf.is_empty() && oversized == 0 {
                        return Ok(None);
                    }
                    break;
                }
                let (take, found) = match chunk.iter().position(|b| *b == b'\n') {
                    Some(i) => (i + 1, true),
                    None => (chunk.len(), false),
                };
                // The cap is on the line's bytes before its newline, whether or not it has one.
                let content = take - usize::from(found);
                if oversized > 0 || self.buf.len() + content > self.max {
                    // What was buffered of the line counts too: the length reported is the whole line's.
                    oversized += self.buf.len() + take;
                    self.buf.clear();
                } else {
                    self.buf.extend_from_slice(&chunk[..take]);
                }
                self.inner.consume(take);
                if found {
                    break;
                }
            }
            if oversized > 0 {
                return Ok(Some(Err(oversized)));
            }
            if !trim_line(&self.buf).is_empty() {
                return Ok(Some(Ok(())));
            }
        }
    }
}

fn trim_line(b: &[u8]) -> &[u8] {
    let mut end = b.len();
    while end > 0 && matches!(b[end - 1], b'\n' | b'\r' | b' ' | b'\t') {
        end -= 1;
    }
    let mut start = 0;
    while start < end && matches!(b[start], b' ' | b'\t') {
        start += 1;
    }
    &b[start..end]
}

/// Append one message to `buf` as a line, for writers that gather several frames into one `write`.
///
/// # Errors
///
/// If the message cannot be serialized (a map with non-string keys inside a user value); `buf` is then left
/// as it was.
pub fn encode_message(buf: &mut Vec<u8>, msg: &Message) -> std::io::Result<()> {
    encode_line(buf, msg)
}

/// Append a batch reply (2025-03-26) to `buf` as one line holding a JSON array.
///
/// # Errors
///
/// As [`encode_message`].
pub fn encode_batch(buf: &mut Vec<u8>, msgs: &[Message]) -> std::io::Result<()> {
    encode_line(buf, msgs)
}

fn encode_line<T: serde::Serialize + ?Sized>(buf: &mut Vec<u8>, v: &T) -> std::io::Result<()> {
    let start = buf.len();
    if let Err(e) = serde_json::to_writer(&mut *buf, v) {
        buf.truncate(start);
        return Err(std::io::Error::other(e));
    }
    buf.push(b'\n');
    Ok(())
}

/// Write one message as a line. JSON serialization escapes newlines inside strings, so the frame is one line.
pub async fn write_message<W: AsyncWrite + Unpin>(w: &mut W, msg: &Message) -> std::io::Result<()> {
    let mut line = serde_json::to_vec(msg).map_err(std::io::Error::other)?;
    line.push(b'\n');
    w.write_all(&line).await?;
    w.flush().await
}

/// Write a batch reply (2025-03-26) as one line holding a JSON array.
pub async fn write_batch<W: AsyncWrite + Unpin>(
    w: &mut W,
    msgs: &[Message],
) -> std::io::Result<()> {
    let mut line = serde_json::to_vec(msgs).map_err(std::io::Error::other)?;
    line.push(b'\n');
    w.write_all(&line).await?;
    w.flush().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_oversized_line_reports_its_whole_length_and_a_last_line_is_capped_alike() {
        // Read 4 bytes at a time: the line overflows the cap in its third read, after 8 bytes were kept.
        let input: &[u8] = b"123456789\n12345678\n123456789";
        let mut r = FrameReader::new(tokio::io::BufReader::with_capacity(4, input), 8);
        assert!(matches!(r.next().await.unwrap(), Some(Frame::TooLarge(10))));
        assert!(matches!(r.next().await.unwrap(), Some(Frame::Json(v)) if v == 12345678));
        // 9 bytes and no newline: as much over the cap as the first line.
        assert!(matches!(r.next().await.unwrap(), Some(Frame::TooLarge(9))));
        assert!(r.next().await.unwrap().is_none());
    }

    #[tokio::test]
    async fn frames_lines_malformed_and_oversized() {
        let big = "x".repeat(100);
        let input = format!("{{\"a\":1}}\r\n\nnot json\n\"{big}\"\n{{\"b\":2}}");
        let mut r = FrameReader::new(std::io::Cursor::new(input.into_bytes()), 50);
        assert!(matches!(r.next().await.unwrap(), Some(Frame::Json(v)) if v["a"] == 1));
        assert!(matches!(r.next().await.unwrap(), Some(Frame::Malformed(_))));
        assert!(matches!(r.next().await.unwrap(), Some(Frame::TooLarge(n)) if n > 50));
        assert!(matches!(r.next().await.unwrap(), Some(Frame::Json(v)) if v["b"] == 2));
        assert!(r.next().await.unwrap().is_none());
    }

    /// `next_message` gives a parsed message only for a plain one, and everything else exactly as `next`
    /// does, so a reader switching to it answers bad input as before.
    #[tokio::test]
    async fn next_message_parses_plain_messages_and_leaves_the_rest_to_next() {
        let big = "x".repeat(100);
        let input = format!(
            concat!(
                "{{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/call\",\"params\":{{\"name\":\"t\"}}}}\r\n",
                "\n",
                "[{{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}}]\n",
                "{{\"jsonrpc\":\"1.0\",\"id\":2,\"method\":\"ping\"}}\n",
                "not json\n",
                "\"{big}\"\n",
                "{{\"jsonrpc\":\"2.0\",\"id\":3,\"result\":{{}}}}",
            ),
            big = big
        );
        let mut r = FrameReader::new(std::io::Cursor::new(input.into_bytes()), 100);
        match r.next_message().await.unwrap() {
            Some(Frame::Message(Message::Request(req))) => {
                assert_eq!(req.method, "tools/call");
                assert_eq!(req.params.unwrap()["name"], "t");
            }
            other => panic!("expected a request, got {other:?}"),
        }
        assert!(
            matches!(r.next_message().await.unwrap(), Some(Frame::Json(serde_json::Value::Array(a))) if a.len() == 1)
        );
        // Wrong version: left as JSON, for the reader's own -32600 with the id.
        assert!(
            matches!(r.next_message().await.unwrap(), Some(Frame::Json(v)) if v["jsonrpc"] == "1.0")
        );
        assert!(matches!(
            r.next_message().await.unwrap(),
            Some(Frame::Malformed(_))
        ));
        assert!(matches!(r.next_message().await.unwrap(), Some(Frame::TooLarge(n)) if n > 100));
        assert!(matches!(
            r.next_message().await.unwrap(),
            Some(Frame::Message(Message::Response(_)))
        ));
        assert!(r.next_message().await.unwrap().is_none());
    }
}
