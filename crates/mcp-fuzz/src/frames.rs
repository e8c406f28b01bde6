//! A stdio byte stream, as `serve_stdio` and the child-process client read it.

use mcp::protocol::Message;
use mcp_rpc::framing::{Frame, FrameReader};
use serde_json::Value;

/// A frame, comparable (a parse error's text is not compared).
#[derive(Debug, PartialEq)]
pub enum Got {
    /// One plain message.
    Message(Message),
    /// Other JSON (a batch, a malformed message).
    Json(Value),
    /// Not JSON.
    Malformed,
    /// A line over the cap, with its length (newline included).
    TooLarge(usize),
}

/// What a line-by-line reading of `stream` gives with a cap of `max` bytes per line (every byte but the
/// newline counts; a last line without one is capped alike), blank lines skipped.
pub fn model(stream: &[u8], max: usize) -> Vec<Got> {
    let mut out = Vec::new();
    for line in stream.split_inclusive(|b| *b == b'\n') {
        let content = line.strip_suffix(b"\n").unwrap_or(line);
        if content.len() > max {
            out.push(Got::TooLarge(line.len()));
            continue;
        }
        let json_blank = |b: &u8| matches!(b, b' ' | b'\t' | b'\r' | b'\n');
        let start = content
            .iter()
            .position(|b| !json_blank(b))
            .unwrap_or(content.len());
        let end = content
            .iter()
            .rposition(|b| !json_blank(b))
            .map_or(start, |i| i + 1);
        let trimmed = &content[start..end.max(start)];
        if trimmed.is_empty() {
            continue;
        }
        out.push(match Message::from_slice_fast(trimmed) {
            Some(m) => Got::Message(m),
            None => match serde_json::from_slice(trimmed) {
                Ok(v) => Got::Json(v),
                Err(_) => Got::Malformed,
            },
        });
    }
    out
}

thread_local! {
    static RT: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a current-thread runtime");
}

/// [`FrameReader::next_message`] gives what [`model`] gives, whatever the read sizes. The first byte of
/// `data` chooses the read size (1 to 16), the second the cap (0 to 63), the rest is the stream.
pub fn lines(data: &[u8]) {
    let [size, max, stream @ ..] = data else {
        return;
    };
    let (size, max) = (1 + usize::from(size % 16), usize::from(max % 64));
    let got = RT.with(|rt| {
        rt.block_on(async {
            let mut reader =
                FrameReader::new(tokio::io::BufReader::with_capacity(size, stream), max);
            let mut got = Vec::new();
            while let Some(frame) = reader.next_message().await.expect("reading a slice") {
                got.push(match frame {
                    Frame::Message(m) => Got::Message(m),
                    Frame::Json(v) => Got::Json(v),
                    Frame::Malformed(_) => Got::Malformed,
                    Frame::TooLarge(n) => Got::TooLarge(n),
                    other => panic!("a frame of a new kind: {other:?}"),
                });
            }
            got
        })
    });
    assert_eq!(
        got,
        model(stream, max),
        "stream {stream:?}, cap {max}, reads of {size}"
    );
}

/// Streams of several lines (the first two bytes choose the read size and the cap), for seeds.
pub const SEEDS: &[&[u8]] = &[
    b"\x04\x3f{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}\n\n  \r\n[1,2]\nnot json\n",
    b"\x00\x10{\"jsonrpc\":\"2.0\",\"method\":\"n\"}\r\n0123456789abcdef\n0123456789abcdefg",
    b"\x0f\x08\t 12345678 \n123456789\n",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_lines_whatever_the_read_sizes() {
        crate::mutate::run(SEEDS, 20_000, lines);
    }

    #[test]
    fn the_cap_is_the_same_for_a_last_line_without_its_newline() {
        // 9 bytes over a cap of 8: too large with or without the newline after them.
        lines(b"\x03\x08123456789\n");
        lines(b"\x03\x08123456789");
    }
}
