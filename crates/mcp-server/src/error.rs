use mcp_protocol::types::InputRequest;
use mcp_protocol::{error_code, ErrorObject};
use serde_json::Value;

/// What a handler returns instead of a result.
///
/// Most variants become a JSON-RPC error. [`Error::Tool`] becomes a tool result with `isError: true` (the model
/// sees it), and [`Error::InputRequired`] is how [`crate::RequestContext::elicit`] and friends end a handler on
/// the modern era so the client can answer and retry. Use `?` on those calls and the right thing happens.
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
    /// A tool error (becomes `isError: true`).
    pub fn tool(msg: impl Into<String>) -> Self {
        Self::Tool(msg.into())
    }
    /// -32602 with a message.
    pub fn invalid_params(msg: impl std::fmt::Display) -> Self {
        Self::Rpc(ErrorObject::invalid_params(msg))
    }
    /// -32603 with a message.
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
