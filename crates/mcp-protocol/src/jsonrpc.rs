//! The JSON-RPC 2.0 envelope.
//!
//! [`Message`] is decided by which members are present (`method` + `id` → request, `method` alone →
//! notification, `result` → response, `error` → error), never by trying each shape in turn.

use std::fmt;
use std::sync::Arc;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use crate::error_code;

/// A request id: a string or an integer, never null.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RequestId {
    /// An integer id.
    Number(i64),
    /// A string id.
    String(Arc<str>),
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Number(n) => write!(f, "{n}"),
            Self::String(s) => write!(f, "{s:?}"),
        }
    }
}

impl From<i64> for RequestId {
    fn from(n: i64) -> Self {
        Self::Number(n)
    }
}

impl From<&str> for RequestId {
    fn from(s: &str) -> Self {
        Self::String(s.into())
    }
}

impl Serialize for RequestId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Number(n) => s.serialize_i64(*n),
            Self::String(v) => s.serialize_str(v),
        }
    }
}

impl<'de> Deserialize<'de> for RequestId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Value::deserialize(d)? {
            Value::String(s) => Ok(Self::String(s.into())),
            Value::Number(n) => n
                .as_i64()
                .map(Self::Number)
                .ok_or_else(|| D::Error::custom("request id must be an integer or a string")),
            _ => Err(D::Error::custom(
                "request id must be an integer or a string",
            )),
        }
    }
}

impl RequestId {
    /// Parse an id from a JSON value, if it is a valid id.
    pub fn from_value(v: &Value) -> Option<Self> {
        match v {
            Value::String(s) => Some(Self::String(s.as_str().into())),
            Value::Number(n) => n.as_i64().map(Self::Number),
            _ => None,
        }
    }
}

/// The `"jsonrpc": "2.0"` marker.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JsonRpcVersion;

impl Serialize for JsonRpcVersion {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("2.0")
    }
}

impl<'de> Deserialize<'de> for JsonRpcVersion {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        if s == "2.0" {
            Ok(JsonRpcVersion)
        } else {
            Err(D::Error::custom("jsonrpc must be \"2.0\""))
        }
    }
}

/// A request: expects exactly one response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Request {
    /// Always "2.0".
    pub jsonrpc: JsonRpcVersion,
    /// The id the response will carry.
    pub id: RequestId,
    /// The method name.
    pub method: String,
    /// The parameters (an object, for MCP).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<Value>,
}

impl Request {
    /// Build a request.
    pub fn new(id: impl Into<RequestId>, method: impl Into<String>, params: Option<Value>) -> Self {
        Self {
            jsonrpc: JsonRpcVersion,
            id: id.into(),
            method: method.into(),
            params,
        }
    }

    /// The `params._meta` object, if any.
    pub fn meta(&self) -> Option<&serde_json::Map<String, Value>> {
        self.params.as_ref()?.get("_meta")?.as_object()
    }
}

/// A notification: never answered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    /// Always "2.0".
    pub jsonrpc: JsonRpcVersion,
    /// The method name.
    pub method: String,
    /// The parameters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<Value>,
}

impl Notification {
    /// Build a notification.
    pub fn new(method: impl Into<String>, params: Option<Value>) -> Self {
        Self {
            jsonrpc: JsonRpcVersion,
            method: method.into(),
            params,
        }
    }
}

/// A successful response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Response {
    /// Always "2.0".
    pub jsonrpc: JsonRpcVersion,
    /// The id of the request answered.
    pub id: RequestId,
    /// The result.
    pub result: Value,
}

impl Response {
    /// Build a response.
    pub fn new(id: RequestId, result: Value) -> Self {
        Self {
            jsonrpc: JsonRpcVersion,
            id,
            result,
        }
    }
}

/// The error member of an error response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorObject {
    /// The error code.
    pub code: i64,
    /// A short description.
    pub message: String,
    /// Additional data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

impl fmt::Display for ErrorObject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (code {})", self.message, self.code)
    }
}

impl std::error::Error for ErrorObject {}

impl ErrorObject {
    /// Build an error.
    pub fn new(code: i64, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            data: None,
        }
    }
    /// Attach data.
    pub fn with_data(mut self, data: Value) -> Self {
        self.data = Some(data);
        self
    }
    /// -32700.
    pub fn parse_error(msg: impl fmt::Display) -> Self {
        Self::new(error_code::PARSE_ERROR, format!("Parse error: {msg}"))
    }
    /// -32600.
    pub fn invalid_request(msg: impl fmt::Display) -> Self {
        Self::new(
            error_code::INVALID_REQUEST,
            format!("Invalid request: {msg}"),
        )
    }
    /// -32601.
    pub fn method_not_found(method: &str) -> Self {
        Self::new(
            error_code::METHOD_NOT_FOUND,
            format!("Method not found: {method}"),
        )
    }
    /// -32602.
    pub fn invalid_params(msg: impl fmt::Display) -> Self {
        Self::new(error_code::INVALID_PARAMS, format!("Invalid params: {msg}"))
    }
    /// -32603.
    pub fn internal(msg: impl fmt::Display) -> Self {
        Self::new(error_code::INTERNAL_ERROR, format!("Internal error: {msg}"))
    }
}

/// An error response. The id is absent when the request could not be read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorResponse {
    /// Always "2.0".
    pub jsonrpc: JsonRpcVersion,
    /// The id of the request answered (absent when it could not be read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<RequestId>,
    /// The error.
    pub error: ErrorObject,
}

impl ErrorResponse {
    /// Build an error response.
    pub fn new(id: Option<RequestId>, error: ErrorObject) -> Self {
        Self {
            jsonrpc: JsonRpcVersion,
            id,
            error,
        }
    }
}

/// Any JSON-RPC message.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    /// A request.
    Request(Request),
    /// A notification.
    Notification(Notification),
    /// A successful response.
    Response(Response),
    /// An error response.
    Error(ErrorResponse),
}

impl Serialize for Message {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Request(m) => m.serialize(s),
            Self::Notification(m) => m.serialize(s),
            Self::Response(m) => m.serialize(s),
            Self::Error(m) => m.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for Message {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(d)?;
        Message::from_value(value).map_err(|e| D::Error::custom(e.message))
    }
}

impl From<Request> for Message {
    fn from(m: Request) -> Self {
        Self::Request(m)
    }
}
impl From<Notification> for Message {
    fn from(m: Notification) -> Self {
        Self::Notification(m)
    }
}
impl From<Response> for Message {
    fn from(m: Response) -> Self {
        Self::Response(m)
    }
}
impl From<ErrorResponse> for Message {
    fn from(m: ErrorResponse) -> Self {
        Self::Error(m)
    }
}

impl Message {
    /// Classify a parsed JSON value. The error is the JSON-RPC error to send back (-32600), with the id when
    /// one could be read (see [`Message::id_of`]).
    pub fn from_value(value: Value) -> Result<Self, ErrorObject> {
        let Value::Object(map) = &value else {
            return Err(ErrorObject::invalid_request(
                "a message must be a JSON object",
            ));
        };
        if map.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
            return Err(ErrorObject::invalid_request("jsonrpc must be \"2.0\""));
        }
        let has = |k: &str| map.contains_key(k);
        let parsed = if has("method") {
            if has("id") {
                serde_json::from_value(value).map(Message::Request)
            } else {
                serde_json::from_value(value).map(Message::Notification)
            }
        } else if has("result") {
            serde_json::from_value(value).map(Message::Response)
        } else if has("error") {
            serde_json::from_value(value).map(Message::Error)
        } else {
            return Err(ErrorObject::invalid_request(
                "a message needs a method, a result or an error",
            ));
        };
        parsed.map_err(ErrorObject::invalid_request)
    }

    /// Parse one message straight from JSON bytes, without first building a [`Value`] of the whole message:
    /// only `params` (and `result`) become values. On success the message is exactly what
    /// `Message::from_value(serde_json::from_slice(bytes)?)` gives, with one leniency: a member that is not
    /// part of a message is skipped without decoding its strings, so a lone surrogate escape (`"\ud800"`)
    /// there, which RFC 8259 leaves to the reader, or serde_json's private raw-value marker as a key there,
    /// does not refuse the message.
    ///
    /// `None` means "not one plain, well-formed message": not JSON, not an object (a batch), a duplicated
    /// member, a wrong shape or type. Parse a [`Value`] then and use [`Message::from_value`] and
    /// [`Message::id_of`], which say exactly what is wrong.
    ///
    /// ```
    /// use mcp_protocol::Message;
    /// let m = Message::from_slice_fast(br#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#).unwrap();
    /// assert_eq!(m.method(), Some("ping"));
    /// assert!(Message::from_slice_fast(br#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#).is_none());
    /// assert!(Message::from_slice_fast(br#"{"jsonrpc":"2.0","id":null,"method":"ping"}"#).is_none());
    /// ```
    pub fn from_slice_fast(bytes: &[u8]) -> Option<Self> {
        // A struct also deserializes from a JSON array (by position): only objects may take this path.
        if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            return None;
        }
        // Checked as UTF-8 once, whole: `from_slice` would check every string it reads, one call each.
        let text = std::str::from_utf8(bytes).ok()?;
        let w: Wire<'_> = serde_json::from_str(text).ok()?;
        if w.jsonrpc != Some("2.0") {
            return None;
        }
        // `id`: None = absent, Some(None) = null.
        if let Some(method) = w.method {
            let method = method.to_owned();
            return Some(match w.id {
                Some(id) => Message::Request(Request {
                    jsonrpc: JsonRpcVersion,
                    id: id?,
                    method,
                    params: w.params,
                }),
                None => Message::Notification(Notification {
                    jsonrpc: JsonRpcVersion,
                    method,
                    params: w.params,
                }),
            });
        }
        // A response carrying `params` is odd enough to leave to the slow path (the HTTP server looks there).
        if w.params.is_some() {
            return None;
        }
        if let Some(result) = w.result {
            return Some(Message::Response(Response {
                jsonrpc: JsonRpcVersion,
                id: w.id??,
                result,
            }));
        }
        Some(Message::Error(ErrorResponse {
            jsonrpc: JsonRpcVersion,
            id: w.id.flatten(),
            error: w.error?,
        }))
    }

    /// The request id of a raw message, if it has a valid one (used to address errors for bad requests).
    pub fn id_of(value: &Value) -> Option<RequestId> {
        value.get("id").and_then(RequestId::from_value)
    }

    /// The method, for requests and notifications.
    pub fn method(&self) -> Option<&str> {
        match self {
            Self::Request(r) => Some(&r.method),
            Self::Notification(n) => Some(&n.method),
            _ => None,
        }
    }

    /// Serialize to a compact JSON string (one line, as stdio framing needs).
    pub fn to_json(&self) -> String {
        // Serializing these types cannot fail: every map key is a string.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// The members of a message, read straight from bytes by [`Message::from_slice_fast`]. A member that is
/// present is `Some` even when it is `null` (except `params`, where `null` means none, as in [`Request`]).
#[derive(Deserialize)]
struct Wire<'a> {
    // Borrowed strings: one with escapes fails here and takes the slow path.
    #[serde(borrow, default, deserialize_with = "present")]
    jsonrpc: Option<&'a str>,
    #[serde(default, deserialize_with = "present")]
    id: Option<Option<RequestId>>,
    #[serde(borrow, default, deserialize_with = "present")]
    method: Option<&'a str>,
    #[serde(default)]
    params: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    result: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    error: Option<ErrorObject>,
}

/// A member that is present: `Some`, whatever its value (so a `null` is told from an absent member).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn classifies_by_members() {
        let m: Message =
            serde_json::from_value(json!({"jsonrpc":"2.0","id":1,"method":"ping"})).unwrap();
        assert!(matches!(m, Message::Request(_)));
        let m: Message = serde_json::from_value(json!({"jsonrpc":"2.0","method":"x"})).unwrap();
        assert!(matches!(m, Message::Notification(_)));
        let m: Message =
            serde_json::from_value(json!({"jsonrpc":"2.0","id":"a","result":{}})).unwrap();
        assert!(matches!(m, Message::Response(_)));
        let m: Message = serde_json::from_value(
            json!({"jsonrpc":"2.0","id":null,"error":{"code":-1,"message":"x"}}),
        )
        .unwrap();
        assert!(matches!(m, Message::Error(ErrorResponse { id: None, .. })));
    }

    /// Whatever the fast parser accepts, it reads exactly as the slow path does.
    #[test]
    fn fast_parse_agrees_with_from_value() {
        let cases: &[(&str, bool)] = &[
            (r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#, true),
            (
                r#" {"jsonrpc":"2.0","id":"a","method":"tools/call","params":{"name":"x","arguments":{"b":[1,2.5,null]}}}"#,
                true,
            ),
            (
                r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
                true,
            ),
            (r#"{"jsonrpc":"2.0","method":"n","params":null}"#, true),
            (r#"{"jsonrpc":"2.0","id":7,"result":{}}"#, true),
            (r#"{"jsonrpc":"2.0","id":7,"result":null}"#, true),
            (
                r#"{"jsonrpc":"2.0","id":null,"error":{"code":-1,"message":"x"}}"#,
                true,
            ),
            (
                r#"{"jsonrpc":"2.0","error":{"code":-1,"message":"x","data":[1]}}"#,
                true,
            ),
            (
                r#"{"jsonrpc":"2.0","id":3,"error":{"code":-1,"message":"x"},"extra":true}"#,
                true,
            ),
            (r#"{"jsonrpc":"2.0","id":1,"method":"m","result":5}"#, true),
            (
                r#"{"id":1,"method":"m","jsonrpc":"2.0","unknown":{"deep":[{}]}}"#,
                true,
            ),
            // Not taken: the slow path decides (and explains).
            (r#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#, false),
            (r#"["2.0",1,"ping"]"#, false),
            (r#"{"jsonrpc":"2.0","id":null,"method":"ping"}"#, false),
            (r#"{"jsonrpc":"2.0","id":1.5,"method":"ping"}"#, false),
            (
                r#"{"jsonrpc":"2.0","id":1,"method":null,"result":1}"#,
                false,
            ),
            (r#"{"jsonrpc":"2.0","id":1,"method":5}"#, false),
            (r#"{"jsonrpc":"1.0","id":1,"method":"ping"}"#, false),
            (r#"{"id":1,"method":"ping"}"#, false),
            (r#"{"jsonrpc":"2.0","id":1,"id":2,"method":"ping"}"#, false),
            (r#"{"jsonrpc":"2.0","id":1}"#, false),
            (r#"{"jsonrpc":"2.0","result":1}"#, false),
            (r#"{"jsonrpc":"2.0","id":1,"result":1,"params":{}}"#, false),
            (r#"{"jsonrpc":"2.0","id":1,"method":"ping"} x"#, false),
            (r#"{"jsonrpc":"2.0","id":1,"method":"pi\u006eg"}"#, false),
            (
                r#"{"jsonrpc":"2.0","id":1,"method":"ping","params":[1]"#,
                false,
            ),
            ("", false),
            ("null", false),
        ];
        for (text, fast) in cases {
            let got = Message::from_slice_fast(text.as_bytes());
            assert_eq!(got.is_some(), *fast, "{text}");
            if let Some(m) = got {
                let slow = Message::from_value(serde_json::from_str(text).unwrap()).unwrap();
                assert_eq!(m, slow, "{text}");
            }
        }
    }

    #[test]
    fn a_message_that_is_not_utf8_is_left_to_the_slow_path() {
        // Invalid UTF-8 in a string, and in a value the fast path would otherwise skip over.
        let mut in_method = br#"{"jsonrpc":"2.0","id":1,"method":"p"#.to_vec();
        in_method.extend_from_slice(b"\xff\"}");
        let mut in_params = br#"{"jsonrpc":"2.0","id":1,"method":"ping","params":{"a":""#.to_vec();
        in_params.extend_from_slice(b"\xc3\"}}");
        for bytes in [in_method, in_params] {
            assert!(Message::from_slice_fast(&bytes).is_none());
            assert!(serde_json::from_slice::<Value>(&bytes).is_err());
        }
    }

    #[test]
    fn rejects_bad_shapes() {
        assert!(Message::from_value(json!([1])).is_err());
        assert!(Message::from_value(json!({"jsonrpc":"1.0","id":1,"method":"x"})).is_err());
        assert!(Message::from_value(json!({"jsonrpc":"2.0","id":null,"method":"x"})).is_err());
        assert!(Message::from_value(json!({"jsonrpc":"2.0","id":1.5,"method":"x"})).is_err());
        assert!(Message::from_value(json!({"jsonrpc":"2.0","id":1})).is_err());
        assert_eq!(
            Message::id_of(&json!({"jsonrpc":"2.0","id":7,"method":5})),
            Some(RequestId::Number(7))
        );
    }
}
