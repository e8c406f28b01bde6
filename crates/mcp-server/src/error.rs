use std::fmt;

use mcp_protocol::types::InputRequest;
use mcp_protocol::{error_code, ErrorObject};
use serde_json::Value;

/// What a handler returns instead of a result.
///
/// Build one with [`Error::tool`] (a tool execution error: the model sees it as an `isError: true` result),
/// [`Error::invalid_params`], [`Error::internal`], [`Error::missing_capability`] or from an [`ErrorObject`]
/// (a JSON-RPC error returned as is), or [`Error::cancelled`].
///
/// Which to return:
/// - the tool ran and failed in a way the model can act on (bad input it can fix, a missing file, an API
///   refusing): [`Error::tool`], so the model reads the message and may try again differently;
/// - the request itself is wrong (an unknown argument name, a resource that does not exist):
///   [`Error::invalid_params`];
/// - the server failed (a bug, a dependency down): [`Error::internal`], whose message the client sees, so
///   keep secrets and stack traces out of it and log the details with `tracing`.
///
/// `?` converts [`ErrorObject`], [`serde_json::Error`] (-32603) and [`mcp_rpc::Error`]. Any other error is
/// not converted on its own, on purpose: whether a failure is something the model should see and work
/// around (`.map_err(Error::tool)`) or a server fault the client gets as -32603 (`.map_err(Error::internal)`)
/// is the handler's call, and a catch-all conversion would pick one silently (and leak internal messages
/// to the model when it picked the first).
///
/// The questions a handler asks the client ([`RequestContext::elicit`](crate::RequestContext::elicit),
/// [`sample`](crate::RequestContext::sample), [`list_roots`](crate::RequestContext::list_roots)) end a
/// 2026-07-28 handler with an error of kind [`ErrorKind::InputRequired`]: the client answers and calls
/// again. Only those calls make one, and `?` passes it on. A handler that turns it into something else
/// (`.map_err(|e| Error::tool(e.to_string()))`, or a fallback value) does not lose the question: once a
/// question is open, the request is answered with `input_required` whatever the handler returns.
///
/// ```
/// use mcp_server::{Error, ErrorKind, RequestContext};
/// use mcp_protocol::types::CallToolResult;
///
/// async fn read_note(ctx: RequestContext, path: String) -> Result<CallToolResult, Error> {
///     if path.contains("..") {
///         return Err(Error::invalid_params("path must stay inside the notes folder"));
///     }
///     // The model sees a missing file and can try another name.
///     let text = std::fs::read_to_string(&path).map_err(Error::tool)?;
///     Ok(CallToolResult::text(text))
/// }
/// # let _ = read_note;
/// let e = Error::tool("no such note");
/// assert_eq!(e.kind(), ErrorKind::Tool);
/// assert!(Error::invalid_params("x").rpc_error().is_some_and(|o| o.code == -32602));
/// ```
pub struct Error {
    repr: Box<Repr>,
}

enum Repr {
    Tool(String),
    Rpc(ErrorObject),
    InputRequired(Vec<(String, InputRequest)>),
    Cancelled,
}

/// What kind of failure an [`Error`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A tool execution error, reported to the model as an `isError` result (to a resource or prompt
    /// request it is a -32603 error).
    Tool,
    /// A JSON-RPC error ([`Error::rpc_error`] has it).
    Rpc,
    /// The handler asked the client a question it has not answered yet (2026-07-28): not a failure, the
    /// client answers and calls again. Only the question methods of [`crate::RequestContext`] make one.
    InputRequired,
    /// The request was cancelled.
    Cancelled,
}

impl Error {
    fn new(repr: Repr) -> Self {
        Self {
            repr: Box::new(repr),
        }
    }

    /// A tool error (becomes `isError: true`, with `msg` as its text): the message is shown to the model,
    /// which may retry. From resource and prompt handlers, which have no `isError`, it is sent as an internal
    /// error. Takes any [`Display`](fmt::Display), so `.map_err(Error::tool)` turns an error into one.
    pub fn tool(msg: impl fmt::Display) -> Self {
        Self::new(Repr::Tool(msg.to_string()))
    }
    /// -32602 (invalid params) with a message: the request's parameters are wrong. Say which and how to fix
    /// it; the client (and often its user) reads the message.
    pub fn invalid_params(msg: impl fmt::Display) -> Self {
        Self::new(Repr::Rpc(ErrorObject::invalid_params(msg)))
    }
    /// -32603 (internal error) with a message: the server failed. The message reaches the client, so keep
    /// it free of secrets and internals.
    pub fn internal(msg: impl fmt::Display) -> Self {
        Self::new(Repr::Rpc(ErrorObject::internal(msg)))
    }
    /// The request was cancelled (what a handler returns when it stops on
    /// [`RequestContext::cancellation`](crate::RequestContext::cancellation)). Nothing is sent for it.
    pub fn cancelled() -> Self {
        Self::new(Repr::Cancelled)
    }
    /// -32021: the request needs a client capability that was not declared. `required` is an object such as
    /// `{"sampling": {}}`.
    pub fn missing_capability(required: Value) -> Self {
        Self::new(Repr::Rpc(
            ErrorObject::new(
                error_code::MISSING_REQUIRED_CLIENT_CAPABILITY,
                "Missing required client capability",
            )
            .with_data(serde_json::json!({ "requiredCapabilities": required })),
        ))
    }
    /// Resource not found, with the code the era expects (-32002 legacy, -32602 modern) and `data.uri`.
    pub(crate) fn resource_not_found(uri: &str, modern: bool) -> Self {
        let code = if modern {
            error_code::INVALID_PARAMS
        } else {
            error_code::RESOURCE_NOT_FOUND
        };
        Self::new(Repr::Rpc(
            ErrorObject::new(code, format!("Resource not found: {uri}"))
                .with_data(serde_json::json!({ "uri": uri })),
        ))
    }
    pub(crate) fn input_required(asks: Vec<(String, InputRequest)>) -> Self {
        Self::new(Repr::InputRequired(asks))
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        match *self.repr {
            Repr::Tool(_) => ErrorKind::Tool,
            Repr::Rpc(_) => ErrorKind::Rpc,
            Repr::InputRequired(_) => ErrorKind::InputRequired,
            Repr::Cancelled => ErrorKind::Cancelled,
        }
    }
    /// Whether this is a tool execution error.
    pub fn is_tool(&self) -> bool {
        self.kind() == ErrorKind::Tool
    }
    /// Whether the request was cancelled.
    pub fn is_cancelled(&self) -> bool {
        self.kind() == ErrorKind::Cancelled
    }
    /// Whether the handler is waiting for the client's answer to a question (see [`ErrorKind::InputRequired`]).
    pub fn is_input_required(&self) -> bool {
        self.kind() == ErrorKind::InputRequired
    }
    /// The JSON-RPC error, when this is one.
    pub fn rpc_error(&self) -> Option<&ErrorObject> {
        match &*self.repr {
            Repr::Rpc(e) => Some(e),
            _ => None,
        }
    }
    /// The tool error's message, when this is one.
    pub fn tool_message(&self) -> Option<&str> {
        match &*self.repr {
            Repr::Tool(m) => Some(m),
            _ => None,
        }
    }

    pub(crate) fn into_parts(self) -> Parts {
        match *self.repr {
            Repr::Tool(m) => Parts::Tool(m),
            Repr::Rpc(e) => Parts::Rpc(e),
            Repr::InputRequired(a) => Parts::InputRequired(a),
            Repr::Cancelled => Parts::Cancelled,
        }
    }
}

/// An [`Error`] taken apart, for the core to answer with.
pub(crate) enum Parts {
    Tool(String),
    Rpc(ErrorObject),
    InputRequired(Vec<(String, InputRequest)>),
    Cancelled,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &*self.repr {
            Repr::Tool(m) => f.write_str(m),
            Repr::Rpc(e) => fmt::Display::fmt(e, f),
            // Says what it is, so that text made from it (a log line, an `Error::tool(e.to_string())`) does
            // not read as a failure.
            Repr::InputRequired(asks) => {
                f.write_str("waiting for the client to answer ")?;
                for (i, (key, _)) in asks.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{key:?}")?;
                }
                f.write_str(" (not a failure: return this error with `?`)")
            }
            Repr::Cancelled => f.write_str("request cancelled"),
        }
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("mcp_server::Error");
        d.field("kind", &self.kind());
        match &*self.repr {
            Repr::Tool(m) => d.field("message", m),
            Repr::Rpc(e) => d.field("error", e),
            Repr::InputRequired(a) => {
                d.field("keys", &a.iter().map(|(k, _)| k).collect::<Vec<_>>())
            }
            Repr::Cancelled => &mut d,
        };
        d.finish()
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &*self.repr {
            Repr::Rpc(e) => Some(e),
            _ => None,
        }
    }
}

impl From<ErrorObject> for Error {
    fn from(e: ErrorObject) -> Self {
        Self::new(Repr::Rpc(e))
    }
}

impl From<mcp_rpc::Error> for Error {
    fn from(e: mcp_rpc::Error) -> Self {
        if e.is_cancelled() {
            Self::cancelled()
        } else {
            Self::new(Repr::Rpc(e.to_error_object()))
        }
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Self::new(Repr::Rpc(ErrorObject::internal(e)))
    }
}
