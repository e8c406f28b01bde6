//! An incremental Server-Sent Events parser (the WHATWG `text/event-stream` format).
//!
//! Bytes go in as they arrive, in chunks of any size; complete events come out. It handles comments
//! (keep-alives), multi-line `data`, `\r\n`, `\n` and lone `\r` line endings (even split across chunks),
//! `id` (remembered as the last event id, also by events without data, as MCP's priming events are),
//! `retry`, `event`, a leading byte-order mark, and UTF-8 split across chunks.
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
#[derive(Debug, Default)]
pub struct SseParser {
    line: Vec<u8>,
    skip_lf: bool,
    started: bool,
    data: String,
    has_data: bool,
    event: Option<String>,
    last_event_id: Option<String>,
    retry: Option<u64>,
}

impl SseParser {
    /// A parser at the start of a stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// A parser for a resumed stream: the last event id carries over.
    pub fn resuming(last_event_id: Option<String>, retry: Option<Duration>) -> Self {
        Self {
            last_event_id,
            retry: retry.map(|d| d.as_millis() as u64),
            ..Self::default()
        }
    }

    /// The last event id seen (the value to send as `Last-Event-ID` when reconnecting).
    pub fn last_event_id(&self) -> Option<&str> {
        self.last_event_id.as_deref()
    }

    /// The reconnection delay the server asked for with `retry:`.
    pub fn retry(&self) -> Option<Duration> {
        self.retry.map(Duration::from_millis)
    }

    /// Feed bytes; returns the events completed by them.
    pub fn feed(&mut self, chunk: &[u8]) -> Vec<SseEvent> {
        let mut out = Vec::new();
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
                _ => self.line.push(b),
            }
        }
        out
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
                self.data.push_str(&value);
                self.data.push('\n');
                self.has_data = true;
            }
            b"event" => self.event = Some(value.into_owned()),
            // An id containing NUL is ignored, as the standard says.
            b"id" if !value.contains('\0') => self.last_event_id = Some(value.into_owned()),
            b"retry" if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) => {
                self.retry = value.parse().ok();
            }
            _ => {}
        }
    }

    fn dispatch(&mut self, out: &mut Vec<SseEvent>) {
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
    fn incomplete_event_at_end_is_not_dispatched() {
        let mut p = SseParser::new();
        assert!(all(&mut p, b"data: partial\n").is_empty());
        let p2 = SseParser::resuming(Some("e-9".into()), Some(Duration::from_millis(5)));
        assert_eq!(p2.last_event_id(), Some("e-9"));
        assert_eq!(p2.retry(), Some(Duration::from_millis(5)));
    }
}
