//! An incremental Server-Sent Events parser (the WHATWG `text/event-stream` format).
//!
//! Bytes go in as they arrive, in chunks of any size; complete events come out. It handles comments
//! (keep-alives), multi-line `data`, `\r\n`, `\n` and lone `\r` line endings (even split across chunks),
//! `id` (remembered as the last event id, also by events without data, as MCP's priming events are),
//! `retry`, `event`, a leading byte-order mark, and UTF-8 split across chunks.
//!
//! It never buffers without end: a line other than a `data` line may be at most
//! [`DEFAULT_MAX_LINE`] bytes, and the data of one event at most [`DEFAULT_MAX_EVENT`] bytes (both
//! adjustable with [`SseParser::set_limits`]). A stream that exceeds a cap fails: [`SseParser::feed`]
//! returns nothing more and [`SseParser::error`] says which cap was exceeded; the caller ends the stream.
//!
//! ```
//! use mcp_client::sse::SseParser;
//! let mut p = SseParser::new();
//! let mut events = p.feed(b": keep-alive\r\nid: 7\r\nretry: 500\r\ndata: {\"a\":\r\n");
//! assert!(events.is_empty());
//! events = p.feed(b"data: 1}\r\n\r\n");
//! assert_eq!(events[0].data, "{\"a\":\n1}");
//! assert_eq!(events[0].id.as_deref(), Some("7"));
//! assert_eq!(p.retry(), Some(std::time::Duration::from_millis(500)));
//! ```

use std::time::Duration;

/// Default cap on one line that is not a `data` line (comments, `id`, `event`, `retry`, unknown fields):
/// 64 KiB. No legitimate field needs more.
pub const DEFAULT_MAX_LINE: usize = 64 * 1024;

/// Default cap on the data of one event (all its `data` lines together, so also on one `data` line):
/// 16 MiB. An MCP message travels as one event, so this is the largest message a stream can carry.
pub const DEFAULT_MAX_EVENT: usize = 16 * 1024 * 1024;

/// A stream exceeded one of the parser's caps; the stream cannot be read any further.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SseError {
    /// A line that is not a `data` line grew past the cap.
    #[error("an SSE line exceeds {limit} bytes")]
    LineTooLong {
        /// The cap, in bytes.
        limit: usize,
    },
    /// The data of one event grew past the cap.
    #[error("an SSE event exceeds {limit} bytes")]
    EventTooLarge {
        /// The cap, in bytes.
        limit: usize,
    },
}

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event` field (`None` means the default, `message`).
    pub event: Option<String>,
    /// The data lines joined by `\n`.
    pub data: String,
    /// The last event id as of this event (ids persist across events, as the standard says).
    pub id: Option<String>,
}

/// The incremental parser.
#[derive(Debug)]
pub struct SseParser {
    line: Vec<u8>,
    skip_lf: bool,
    started: bool,
    data: String,
    has_data: bool,
    event: Option<String>,
    /// The `id` field's value so far in this event: it becomes the last event id only when the event is
    /// dispatched, so a stream cut inside an event resumes from the event before it.
    id_buffer: Option<String>,
    last_event_id: Option<String>,
    retry: Option<u64>,
    max_line: usize,
    max_event: usize,
    error: Option<SseError>,
}

impl Default for SseParser {
    fn default() -> Self {
        Self {
            line: Vec::new(),
            skip_lf: false,
            started: false,
            data: String::new(),
            has_data: false,
            event: None,
            id_buffer: None,
            last_event_id: None,
            retry: None,
            max_line: DEFAULT_MAX_LINE,
            max_event: DEFAULT_MAX_EVENT,
            error: None,
        }
    }
}

impl SseParser {
    /// A parser at the start of a stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// A parser for a resumed stream: the last event id carries over.
    pub fn resuming(last_event_id: Option<String>, retry: Option<Duration>) -> Self {
        Self {
            id_buffer: last_event_id.clone(),
            last_event_id,
            retry: retry.map(|d| d.as_millis() as u64),
            ..Self::default()
        }
    }

    /// The last event id of a dispatched event (the value to send as `Last-Event-ID` when reconnecting).
    /// An `id` inside an event that has not ended yet does not count: if the stream breaks there, that
    /// event must come again.
    ///
    /// ```
    /// use mcp_client::sse::SseParser;
    /// let mut p = SseParser::new();
    /// p.feed(b"id: 1\ndata: {}\n\nid: 2\ndata: {\"jsonrpc\"");
    /// assert_eq!(p.last_event_id(), Some("1"));
    /// ```
    pub fn last_event_id(&self) -> Option<&str> {
        self.last_event_id.as_deref()
    }

    /// The reconnection delay the server asked for with `retry:`.
    pub fn retry(&self) -> Option<Duration> {
        self.retry.map(Duration::from_millis)
    }

    /// Set the caps: `max_line` bytes for a line that is not a `data` line, `max_event` bytes for the data
    /// of one event (defaults [`DEFAULT_MAX_LINE`] and [`DEFAULT_MAX_EVENT`]).
    ///
    /// ```
    /// use mcp_client::sse::{SseError, SseParser};
    /// let mut p = SseParser::new();
    /// p.set_limits(16, 8);
    /// assert!(p.feed(b"data: 0123456789\n\n").is_empty());
    /// assert_eq!(p.error(), Some(&SseError::EventTooLarge { limit: 8 }));
    /// ```
    pub fn set_limits(&mut self, max_line: usize, max_event: usize) {
        self.max_line = max_line;
        self.max_event = max_event;
    }

    /// Why the stream cannot be read any further (a cap was exceeded), if it cannot.
    pub fn error(&self) -> Option<&SseError> {
        self.error.as_ref()
    }

    /// Feed bytes; returns the events completed by them. Once a cap is exceeded ([`error`](Self::error)
    /// is set) the partial line and event are dropped and nothing more is parsed.
    pub fn feed(&mut self, chunk: &[u8]) -> Vec<SseEvent> {
        let mut out = Vec::new();
        if self.error.is_some() {
            return out;
        }
        for &b in chunk {
            if self.skip_lf {
                self.skip_lf = false;
                if b == b'\n' {
                    continue;
                }
            }
            match b {
                b'\n' => self.end_line(&mut out),
                b'\r' => {
                    self.end_line(&mut out);
                    self.skip_lf = true;
                }
                _ => {
                    self.line.push(b);
                    if self.line.len() > self.max_line && !self.within_data_cap() {
                        self.fail(SseError::LineTooLong {
                            limit: self.max_line,
                        });
                    }
                }
            }
            if self.error.is_some() {
                break;
            }
        }
        out
    }

    /// Whether the long line being read is a `data` line whose value still fits the event's cap.
    fn within_data_cap(&mut self) -> bool {
        let mut line: &[u8] = &self.line;
        if !self.started {
            line = line.strip_prefix("\u{feff}".as_bytes()).unwrap_or(line);
        }
        let Some(value) = line.strip_prefix(b"data:") else {
            return false;
        };
        // A value over the cap can never be part of an acceptable event: fail now rather than buffer it.
        if self.data.len() + value.len() > self.max_event {
            self.fail(SseError::EventTooLarge {
                limit: self.max_event,
            });
        }
        true
    }

    fn fail(&mut self, e: SseError) {
        if self.error.is_none() {
            tracing::warn!(error = %e, "failing an SSE stream");
            self.error = Some(e);
        }
        // Nothing more will be parsed: free what was buffered.
        self.line = Vec::new();
        self.data = String::new();
        self.has_data = false;
        self.event = None;
    }

    fn end_line(&mut self, out: &mut Vec<SseEvent>) {
        let raw = std::mem::take(&mut self.line);
        let mut line: &[u8] = &raw;
        if !self.started {
            self.started = true;
            line = line.strip_prefix("\u{feff}".as_bytes()).unwrap_or(line);
        }
        if line.is_empty() {
            self.dispatch(out);
            return;
        }
        if line[0] == b':' {
            return; // comment
        }
        let (field, value) = match line.iter().position(|b| *b == b':') {
            Some(i) => {
                let v = &line[i + 1..];
                (&line[..i], v.strip_prefix(b" ").unwrap_or(v))
            }
            None => (line, &b""[..]),
        };
        let value = String::from_utf8_lossy(value);
        match field {
            b"data" => {
                if self.data.len() + value.len() > self.max_event {
                    self.fail(SseError::EventTooLarge {
                        limit: self.max_event,
                    });
                    return;
                }
                self.data.push_str(&value);
                self.data.push('\n');
                self.has_data = true;
            }
            // An empty type is the default one, `message`.
            b"event" => self.event = (!value.is_empty()).then(|| value.into_owned()),
            // An id containing NUL is ignored, as the standard says.
            b"id" if !value.contains('\0') => self.id_buffer = Some(value.into_owned()),
            b"retry" if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) => {
                // Digits too many for any delay are ignored like any other bad value.
                if let Ok(ms) = value.parse() {
                    self.retry = Some(ms);
                }
            }
            _ => {}
        }
    }

    fn dispatch(&mut self, out: &mut Vec<SseEvent>) {
        // The last event id moves at every dispatch, one without data too (a server's priming event).
        if self.last_event_id != self.id_buffer {
            self.last_event_id.clone_from(&self.id_buffer);
        }
        let event = self.event.take();
        if !self.has_data {
            self.data.clear();
            return;
        }
        self.has_data = false;
        let mut data = std::mem::take(&mut self.data);
        if data.ends_with('\n') {
            data.pop();
        }
        out.push(SseEvent {
            event,
            data,
            id: self.last_event_id.clone(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(p: &mut SseParser, input: &[u8]) -> Vec<SseEvent> {
        p.feed(input)
    }

    #[test]
    fn basic_event_and_default_fields() {
        let mut p = SseParser::new();
        let ev = all(&mut p, b"data: hello\n\n");
        assert_eq!(
            ev,
            vec![SseEvent {
                event: None,
                data: "hello".into(),
                id: None
            }]
        );
        assert_eq!(p.last_event_id(), None);
        assert_eq!(p.retry(), None);
    }

    #[test]
    fn comments_and_keepalives_are_ignored() {
        let mut p = SseParser::new();
        assert!(all(&mut p, b": ping\n\n:another\n\n").is_empty());
        let ev = all(&mut p, b": before\ndata: x\n: between\n\n");
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0].data, "x");
    }

    #[test]
    fn multi_line_data_is_joined_with_newlines() {
        let mut p = SseParser::new();
        let ev = all(&mut p, b"data: a\ndata: b\ndata\ndata:c\n\n");
        assert_eq!(ev[0].data, "a\nb\n\nc");
    }

    #[test]
    fn crlf_lf_and_lone_cr_line_endings() {
        for input in [
            &b"event: e\r\ndata: 1\r\n\r\n"[..],
            &b"event: e\ndata: 1\n\n"[..],
            &b"event: e\rdata: 1\r\r"[..],
        ] {
            let mut p = SseParser::new();
            let ev = all(&mut p, input);
            assert_eq!(ev.len(), 1, "{input:?}");
            assert_eq!(ev[0].event.as_deref(), Some("e"));
            assert_eq!(ev[0].data, "1");
        }
    }

    #[test]
    fn crlf_split_across_chunks_is_one_line_ending() {
        let mut p = SseParser::new();
        assert!(p.feed(b"data: 1\r").is_empty());
        // The \n completing the \r must not count as an empty line (which would dispatch early)...
        assert!(p.feed(b"\ndata: 2\r").is_empty());
        let ev = p.feed(b"\n\r\n");
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0].data, "1\n2");
    }

    #[test]
    fn byte_by_byte_feeding_gives_the_same_events() {
        let input =
            "\u{feff}id: e-1\r\nretry: 250\r\ndata: {\"x\": \"é✓\"}\r\n\r\n: c\n\ndata: two\n\n"
                .as_bytes();
        let mut whole = SseParser::new();
        let expected = whole.feed(input);
        let mut p = SseParser::new();
        let mut got = Vec::new();
        for b in input {
            got.extend(p.feed(std::slice::from_ref(b)));
        }
        assert_eq!(got, expected);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].data, "{\"x\": \"é✓\"}");
        assert_eq!(got[1].id.as_deref(), Some("e-1"), "ids persist");
        assert_eq!(p.retry(), Some(Duration::from_millis(250)));
    }

    #[test]
    fn id_and_retry_without_data_update_state_without_dispatching() {
        let mut p = SseParser::new();
        assert!(all(&mut p, b"id: prime-1\nretry: 500\n\n").is_empty());
        assert_eq!(p.last_event_id(), Some("prime-1"));
        assert_eq!(p.retry(), Some(Duration::from_millis(500)));
        // A priming event with an empty data line is dispatched with empty data.
        let ev = all(&mut p, b"id: prime-2\ndata: \n\n");
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0].data, "");
        assert_eq!(ev[0].id.as_deref(), Some("prime-2"));
    }

    #[test]
    fn invalid_retry_and_nul_ids_are_ignored() {
        let mut p = SseParser::new();
        all(
            &mut p,
            b"retry: 100\nretry: 12a\nretry:\nid: a\0b\ndata: x\n\n",
        );
        assert_eq!(p.retry(), Some(Duration::from_millis(100)));
        assert_eq!(p.last_event_id(), None);
        // An empty id resets the last event id.
        all(&mut p, b"id: k\n\nid\n\n");
        assert_eq!(p.last_event_id(), Some(""));
    }

    #[test]
    fn unknown_fields_and_no_space_after_colon() {
        let mut p = SseParser::new();
        let ev = all(&mut p, b"foo: bar\ndata:no-space\ndata:  two-spaces\n\n");
        assert_eq!(ev[0].data, "no-space\n two-spaces");
    }

    #[test]
    fn an_endless_line_fails_at_the_cap_instead_of_buffering() {
        let mut p = SseParser::new();
        p.set_limits(1024, 1 << 20);
        assert!(p.feed(b"data: ok\n\n").len() == 1);
        // A comment that never ends: the parser must give up once it passed the cap, without a newline.
        let chunk = [b'x'; 100];
        p.feed(b":");
        for _ in 0..11 {
            assert!(p.feed(&chunk).is_empty());
        }
        assert_eq!(p.error(), Some(&SseError::LineTooLong { limit: 1024 }));
        assert!(p.line.capacity() == 0, "the partial line is freed");
        // Nothing more is parsed, even well-formed events.
        assert!(p.feed(b"\n\ndata: later\n\n").is_empty());
    }

    #[test]
    fn a_long_data_line_is_bounded_by_the_event_cap_not_the_line_cap() {
        let mut p = SseParser::new();
        p.set_limits(16, 64);
        let ev = p.feed(format!("data: {}\n\n", "a".repeat(60)).as_bytes());
        assert_eq!(ev.len(), 1, "{:?}", p.error());
        assert_eq!(ev[0].data.len(), 60);
        // Past the event cap, a data line fails before its end arrives.
        assert!(p
            .feed(format!("data: {}", "b".repeat(70)).as_bytes())
            .is_empty());
        assert_eq!(p.error(), Some(&SseError::EventTooLarge { limit: 64 }));
    }

    #[test]
    fn many_data_lines_fail_at_the_event_cap() {
        let mut p = SseParser::new();
        p.set_limits(1024, 100);
        for _ in 0..10 {
            assert!(p.feed(b"data: 0123456789\n").is_empty());
            if p.error().is_some() {
                break;
            }
        }
        assert_eq!(p.error(), Some(&SseError::EventTooLarge { limit: 100 }));
        assert!(p.data.capacity() == 0, "the partial event is freed");
        // Exactly at the cap is fine: 9 lines of 10 bytes plus 8 separators = 98 bytes.
        let mut p = SseParser::new();
        p.set_limits(1024, 98);
        let ev = p.feed("data: 0123456789\n".repeat(9).as_bytes());
        assert!(ev.is_empty() && p.error().is_none());
        assert_eq!(p.feed(b"\n")[0].data.len(), 98);
    }

    #[test]
    fn default_caps_apply_without_configuration() {
        let mut p = SseParser::new();
        p.feed(b"id: ");
        let big = vec![b'7'; DEFAULT_MAX_LINE];
        p.feed(&big);
        assert_eq!(
            p.error(),
            Some(&SseError::LineTooLong {
                limit: DEFAULT_MAX_LINE
            })
        );
    }

    #[test]
    fn incomplete_event_at_end_is_not_dispatched() {
        let mut p = SseParser::new();
        assert!(all(&mut p, b"data: partial\n").is_empty());
        let p2 = SseParser::resuming(Some("e-9".into()), Some(Duration::from_millis(5)));
        assert_eq!(p2.last_event_id(), Some("e-9"));
        assert_eq!(p2.retry(), Some(Duration::from_millis(5)));
    }
}
