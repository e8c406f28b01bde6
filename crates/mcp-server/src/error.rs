use mcp_protocol::types::InputRequest;
use mcp_protocol::{error_code, ErrorObject};
use serde_json::Value;

/// What a handler returns instead of a result.
///
/// Most variants become a JSON-RPC error. [`Error::Tool`] becomes a tool result with `isError: true` (the model
/// sees it), and [`Error::InputRequired`] is how [`crate::RequestContext::elicit`] and friends end a handler on
/// the modern era so the client can answer and retry. Use `?` on those calls and the right thing happens.
///
/// Which to return:
/// - the tool ran and failed in a way the model can act on (bad input it can fix, a missing file, an API
///   refusing): [`Error::tool`], so the model reads the message and may try again differently;
/// - the request itself is wrong (an unknown argument name, a resource that does not exist):
///   [`Error::invalid_params`];
/// - the server failed (a bug, a dependency down): [`Error::internal`], whose message the client sees, so
///   keep secrets and stack traces out of it and log the details with `tracing`.
///
/// ```
/// use mcp_server::Error;
/// fn parse_port(text: &str) -> Result<u16, Error> {
///     text.parse().map_err(|_| Error::tool(format!("{text:?} is not a port number; use 1-65535")))
/// }
/// assert!(matches!(parse_port("http"), Err(Error::Tool(_))));
/// ```
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A tool execution error, reported to the model as an `isError` result.
    #[error("{0}")]
    Tool(String),
    /// A JSON-RPC error to return as is.
    #[error("{0}")]
    Rpc(ErrorObject),
    /// The handler needs input from the client (modern era). Not an error for the client.
    #[error("input required")]
    InputRequired(Vec<(String, InputRequest)>),
    /// The request was cancelled.
    #[error("request cancelled")]
    Cancelled,
}

impl Error {
    /// A tool error (becomes `isError: true`): the message is shown to the model, which may retry. From
    /// resource and prompt handlers, which have no `isError`, it is sent as an internal error.
    pub fn tool(msg: impl Into<String>) -> Self {
        Self::Tool(msg.into())
    }
    /// -32602 (invalid params) with a message: the request's parameters are wrong. Say which and how to fix
    /// it; the client (and often its user) reads the message.
    pub fn invalid_params(msg: impl std::fmt::Display) -> Self {
        Self::Rpc(ErrorObject::invalid_params(msg))
    }
    /// -32603 (internal error) with a message: the server failed. The message reaches the client, so keep
    /// it free of secrets and internals.
    pub fn internal(msg: impl std::fmt::Display) -> Self {
        Self::Rpc(ErrorObject::internal(msg))
    }
    /// -32021: the request needs a client capability that was not declared. `required` is an object such as
    /// `{"sampling": {}}`.
    pub fn missing_capability(required: Value) -> Self {
        Self::Rpc(
            ErrorObject::new(
                error_code::MISSING_REQUIRED_CLIENT_CAPABILITY,
                "Missing required client capability",
            )
            .with_data(serde_json::json!({ "requiredCapabilities": required })),
        )
    }
    /// Resource not found, with the code the era expects (-32002 legacy, -32602 modern) and `data.uri`.
    pub(crate) fn resource_not_found(uri: &str, modern: bool) -> Self {
        let code = if modern {
            error_code::INVALID_PARAMS
        } else {
            error_code::RESOURCE_NOT_FOUND
        };
        Self::Rpc(
            ErrorObject::new(code, format!("Resource not found: {uri}"))
                .with_data(serde_json::json!({ "uri": uri })),
        )
    }
}

impl From<ErrorObject> for Error {
    fn from(e: ErrorObject) -> Self {
        Self::Rpc(e)
    }
}

impl From<mcp_rpc::RpcError> for Error {
    fn from(e: mcp_rpc::RpcError) -> Self {
        match e {
            mcp_rpc::RpcError::Cancelled => Self::Cancelled,
            other => Self::Rpc(other.to_error_object()),
        }
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Self::Rpc(ErrorObject::internal(e))
    }
}
