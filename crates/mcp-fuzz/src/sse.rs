//! A Server-Sent Events stream, as the HTTP client reads a POST reply or the GET stream.

use mcp::client::sse::{SseEvent, SseParser};

/// What the WHATWG "interpret an event stream" algorithm gives for a whole stream: the events dispatched and
/// the event source's last event id string (what a reconnection sends as `Last-Event-ID`), the reconnection
/// time, written plainly as the standard words it, line by line.
#[derive(Debug, PartialEq)]
pub struct Model {
    /// The events dispatched, in order.
    pub events: Vec<SseEvent>,
    /// The last event id as of the last dispatch (a stream cut mid-event does not move it).
    pub last_event_id: Option<String>,
    /// The last valid `retry`, in milliseconds.
    pub retry: Option<u64>,
}

/// The standard's algorithm over a whole stream, with no caps.
pub fn model(stream: &[u8]) -> Model {
    let text = String::from_utf8_lossy(stream);
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let mut m = Model {
        events: Vec::new(),
        last_event_id: None,
        retry: None,
    };
    let (mut data, mut event_type, mut id_buffer) = (String::new(), String::new(), None::<String>);
    // Lines end with CRLF, LF or CR; a last piece with no end is not a line (the stream was cut there).
    let mut rest = text;
    while let Some(end) = rest.find(['\r', '\n']) {
        let line = &rest[..end];
        let skip = if rest[end..].starts_with("\r\n") {
            2
        } else {
            1
        };
        rest = &rest[end + skip..];
        if line.is_empty() {
            // Dispatch: the last event id moves even when there is no data.
            m.last_event_id = id_buffer.clone();
            if data.is_empty() {
                event_type.clear();
                continue;
            }
            data.pop(); // the last data line's LF
            m.events.push(SseEvent {
                event: (!event_type.is_empty()).then(|| std::mem::take(&mut event_type)),
                data: std::mem::take(&mut data),
                id: id_buffer.clone(),
            });
            event_type.clear();
            continue;
        }
        if line.starts_with(':') {
            continue;
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        match field {
            "event" => event_type = value.to_owned(),
            "data" => {
                data.push_str(value);
                data.push('\n');
            }
            "id" if !value.contains('\0') => id_buffer = Some(value.to_owned()),
            "retry" if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) => {
                // A value too large for any clock is ignored, like any other bad value.
                if let Ok(ms) = value.parse() {
                    m.retry = Some(ms);
                }
            }
            _ => {}
        }
    }
    m
}

/// Our parser gives what [`model`] gives, however the stream is split into reads. The first byte of `data`
/// chooses the read sizes; the rest is the stream.
pub fn stream(data: &[u8]) {
    let Some((&split, stream)) = data.split_first() else {
        return;
    };
    let mut p = SseParser::new();
    let mut events = Vec::new();
    let mut rest = stream;
    let mut n = 0usize;
    while !rest.is_empty() {
        // Read sizes 1..=8, varying along the stream, from the split byte.
        let size = 1 + ((split as usize).rotate_left(n as u32 % 8) + n) % 8;
        let (chunk, tail) = rest.split_at(size.min(rest.len()));
        events.extend(p.feed(chunk));
        rest = tail;
        n += 1;
    }
    let whole = {
        let mut q = SseParser::new();
        let ev = q.feed(stream);
        (ev, q.last_event_id().map(str::to_owned), q.retry())
    };
    let got = Model {
        events,
        last_event_id: p.last_event_id().map(str::to_owned),
        retry: p.retry().map(|d| d.as_millis() as u64),
    };
    assert_eq!(p.error(), None, "no cap is near for {stream:?}");
    assert_eq!(got, model(stream), "stream {stream:?}");
    assert_eq!(
        (got.events, got.last_event_id),
        (whole.0, whole.1),
        "split reads differ from one read"
    );
}

/// Streams as servers write them, for seeds (the first byte chooses read sizes).
pub const SEEDS: &[&[u8]] = &[
    b"\x03id: 1\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\n\n",
    b"\x05event: message\r\nid: a-2\r\ndata: x\r\ndata: y\r\n\r\n: keep-alive\r\n\r\n",
    b"\x01\xef\xbb\xbfretry: 1500\rid: 3\rdata:\r\r",
    b"\x07id: 4\ndata\nevent:\n\nid\n\ndata: cut here",
    b"\x02id: 5\ndata: {\"jsonrpc\":\"2.0\",\"id\":5,\"res",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_parser_follows_the_standard_however_reads_are_split() {
        crate::mutate::run(SEEDS, 20_000, stream);
    }

    #[test]
    fn a_stream_cut_mid_event_resumes_from_the_last_event_that_was_whole() {
        // The server wrote event 5 (the answer) id first; the connection broke inside its data. Resuming
        // from 5 would skip the answer: the last whole event was 4.
        let mut p = SseParser::new();
        p.feed(b"id: 4\ndata: {}\n\nid: 5\ndata: {\"jsonrpc\":\"2.0\",\"id\":5,\"res");
        assert_eq!(p.last_event_id(), Some("4"));
        // A priming event (an id and no data) moves it, as the standard says.
        p.feed(b"\n\nid: 6\ndata:\n\n");
        assert_eq!(p.last_event_id(), Some("6"));
    }

    #[test]
    fn an_empty_event_field_is_the_default_type() {
        let ev = SseParser::new().feed(b"event:\ndata: x\n\n");
        assert_eq!(ev[0].event, None);
    }
}
