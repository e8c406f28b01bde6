use mcp_protocol::ErrorObject;

/// Why a request sent through the engine did not produce a result.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RpcError {
    /// The peer answered with a JSON-RPC error.
    #[error("peer returned an error: {0}")]
    Remote(ErrorObject),
    /// No response in time.
    #[error("request timed out after {0:?}")]
    Timeout(std::time::Duration),
    /// The request was cancelled locally.
    #[error("request cancelled")]
    Cancelled,
    /// The connection closed before the response arrived.
    #[error("connection closed")]
    Closed,
    /// A transport failure.
    #[error("transport error: {0}")]
    Transport(String),
}

impl RpcError {
    /// The JSON-RPC error object to report this as.
    pub fn to_error_object(&self) -> ErrorObject {
        match self {
            Self::Remote(e) => e.clone(),
            Self::Timeout(_) => {
                ErrorObject::new(mcp_protocol::error_code::REQUEST_TIMEOUT, self.to_string())
            }
            _ => ErrorObject::internal(self),
        }
    }
}
