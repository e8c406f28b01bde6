//! Results serialized once. A handler's result struct is written to JSON text as it comes out of the core and
//! that text goes on the wire as is: no `Value` tree is built, walked and dropped on the way.

use mcp_protocol::{ErrorObject, ErrorResponse, Message, RequestId, Response};
use serde::Serialize;
use serde_json::Value;

/// A JSON-RPC result object as it goes on the wire: compact JSON text of one object, produced by `serde_json`
/// (or spliced from such text), so it is never parsed again before it is sent.
#[derive(Debug)]
pub(crate) struct ResultJson(String);

impl ResultJson {
    /// Serialize a result.
    pub(crate) fn of<T: Serialize + ?Sized>(t: &T) -> Result<Self, ErrorObject> {
        serde_json::to_string(t)
            .map(Self)
            .map_err(ErrorObject::internal)
    }

    /// Text that `serde_json` wrote (kept from an earlier [`ResultJson::of`]-like serialization, or spliced
    /// from one by adding complete members): one valid object. Not checked again; that is the point.
    pub(crate) fn from_spliced(text: String) -> Self {
        Self(text)
    }

    /// An empty object: `{}`.
    pub(crate) fn empty() -> Self {
        Self("{}".to_owned())
    }

    /// The JSON text.
    pub(crate) fn text(&self) -> &str {
        &self.0
    }

    /// The result as a value, for the paths that carry [`Message`]s.
    pub(crate) fn into_value(self) -> Value {
        serde_json::from_str(&self.0).unwrap_or_default()
    }
}

/// What a request produced: `None` when it was cancelled and nothing is to be sent.
pub(crate) type Outcome = Option<Result<ResultJson, ErrorObject>>;

/// The final message answering a request.
#[derive(Debug)]
pub(crate) enum Reply {
    /// A result, written as `{"jsonrpc":"2.0","id":…,"result":…}` with the result text copied in.
    Result {
        /// The request answered.
        id: RequestId,
        /// Its result.
        result: ResultJson,
    },
    /// An error response.
    Error(ErrorResponse),
}

impl Reply {
    /// The reply to request `id`.
    pub(crate) fn new(id: RequestId, outcome: Result<ResultJson, ErrorObject>) -> Self {
        match outcome {
            Ok(result) => Self::Result { id, result },
            Err(e) => Self::Error(ErrorResponse::new(Some(id), e)),
        }
    }

    /// The message as JSON text.
    // Only HTTP writes replies as bytes; the byte-stream transports hand messages to the framing.
    #[cfg(any(feature = "http", test))]
    pub(crate) fn to_json(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write_json(&mut out);
        out
    }

    /// Append the message as JSON text to `out`.
    #[cfg(any(feature = "http", test))]
    pub(crate) fn write_json(&self, out: &mut Vec<u8>) {
        match self {
            Self::Result { id, result } => {
                out.reserve(result.text().len() + 48);
                out.extend_from_slice(b"{\"jsonrpc\":\"2.0\",\"id\":");
                // A request id (a string or an integer) always serializes.
                let _ = serde_json::to_writer(&mut *out, id);
                out.extend_from_slice(b",\"result\":");
                out.extend_from_slice(result.text().as_bytes());
                out.push(b'}');
            }
            Self::Error(e) => {
                let _ = serde_json::to_writer(out, e);
            }
        }
    }

    /// A JSON array of replies (a batch answer).
    #[cfg(any(feature = "http", test))]
    pub(crate) fn batch_json(replies: &[Reply]) -> Vec<u8> {
        let mut out = vec![b'['];
        for (i, r) in replies.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            r.write_json(&mut out);
        }
        out.push(b']');
        out
    }

    /// As a protocol message (parses the result text back into a value).
    pub(crate) fn into_message(self) -> Message {
        match self {
            Self::Result { id, result } => {
                Message::Response(Response::new(id, result.into_value()))
            }
            Self::Error(e) => Message::Error(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_raw_reply_serializes_like_the_protocol_response() {
        let result =
            json!({"content": [{"type": "text", "text": "hi \"there\""}], "isError": false});
        for id in [RequestId::Number(7), RequestId::String("a\"b".into())] {
            let raw = Reply::new(id.clone(), Ok(ResultJson::of(&result).unwrap()));
            let typed = Message::Response(Response::new(id, result.clone()));
            let raw_text = raw.to_json();
            assert_eq!(
                serde_json::from_slice::<Value>(&raw_text).unwrap(),
                serde_json::to_value(&typed).unwrap()
            );
            assert_eq!(
                serde_json::to_value(raw.into_message()).unwrap(),
                serde_json::to_value(&typed).unwrap()
            );
        }
    }

    #[test]
    fn an_error_reply_is_the_error_response() {
        let e = ErrorObject::invalid_params("nope");
        let r = Reply::new(RequestId::Number(1), Err(e.clone()));
        let error = serde_json::to_value(Message::Error(ErrorResponse::new(
            Some(RequestId::Number(1)),
            e,
        )))
        .unwrap();
        assert_eq!(
            serde_json::from_slice::<Value>(&r.to_json()).unwrap(),
            error
        );
        let ok = Reply::new(RequestId::Number(2), Ok(ResultJson::empty()));
        let batch: Value = serde_json::from_slice(&Reply::batch_json(&[r, ok])).unwrap();
        assert_eq!(
            batch,
            json!([error, {"jsonrpc": "2.0", "id": 2, "result": {}}])
        );
    }
}
