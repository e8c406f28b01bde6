//! Errors of the client and its transports.

use std::time::Duration;

use mcp_protocol::ErrorObject;

/// Why a transport could not carry a message.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TransportError {
    /// Reading or writing the byte stream failed.
    #[error("I/O error: {0}")]
    Io(String),
    /// The HTTP request could not be made or its response could not be read (connection refused, reset, …).
    /// The request may or may not have reached the server.
    #[error("network error: {0}")]
    Network(String),
    /// The server answered with an HTTP status that carries no JSON-RPC error.
    #[error("HTTP {status}: {body}")]
    Http {
        /// The status code.
        status: u16,
        /// The response body (truncated).
        body: String,
    },
    /// The server answered 404 to a message that carried a session id: the session is gone and the message
    /// never ran. The client re-initializes and re-sends it.
    #[error("session {session_id:?} expired")]
    SessionExpired {
        /// The session id the message carried (`None` when it was refused locally because recovery failed).
        session_id: Option<String>,
        /// The transport's session generation when the message was sent.
        generation: u64,
    },
    /// A response stream ended before the response arrived and could not be resumed (legacy era) or was not
    /// re-issued (2026-07-28; the client reports that as
    /// [`ClientError::OutcomeUnknown`](crate::ClientError::OutcomeUnknown)). The request may have run.
    #[error("response stream broken: {0}")]
    StreamBroken(String),
    /// The peer sent something that is not valid MCP.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// The server refused the request's credentials and authorizing again failed or was not possible.
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// The request was cancelled by the caller.
    #[error("cancelled")]
    Cancelled,
    /// The transport is closed.
    #[error("transport closed")]
    Closed,
}

/// Why a client call failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ClientError {
    /// The server answered with a JSON-RPC error.
    #[error("server error: {0}")]
    Rpc(ErrorObject),
    /// The transport failed.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// No response in time.
    #[error("request timed out after {0:?}")]
    Timeout(Duration),
    /// A [`Subscription`](crate::Subscription) was ended because the application did not read it: `buffer`
    /// notifications were waiting when another arrived ([`ClientOptions::subscription_buffer`](crate::ClientOptions::subscription_buffer)).
    #[error("subscription ended: {buffer} notifications were waiting unread")]
    SubscriptionOverflow {
        /// The buffer size that was exceeded.
        buffer: usize,
    },
    /// The legacy session expired and could not be re-established.
    #[error("session expired and could not be recovered: {reason}")]
    SessionExpired {
        /// The id of the session that expired, if known.
        session_id: Option<String>,
        /// Why recovery failed.
        reason: String,
    },
    /// The server's result does not have the expected shape (unknown `resultType`, `structuredContent` that
    /// does not match the tool's `outputSchema`, …).
    #[error("invalid result: {0}")]
    InvalidResult(String),
    /// The request reached the server but its reply was lost: a 2026-07-28 reply stream broke before the
    /// result, and the request was not re-issued because repeating it may not be safe (see
    /// [`ReissuePolicy`](crate::ReissuePolicy)), or its re-issues ran out
    /// ([`HttpOptions::max_reissues`](crate::transport::HttpOptions::max_reissues)). The request may or may
    /// not have run on the server: check the server's state before repeating it, or use the tasks extension
    /// for work that must survive a broken stream.
    ///
    /// ```
    /// # async fn run(client: mcp_client::Client) {
    /// use mcp_client::ClientError;
    /// match client.call_tool("charge", serde_json::json!({"amount": 5})).await {
    ///     Ok(result) => println!("{}", result.text_content()),
    ///     Err(ClientError::OutcomeUnknown { method, .. }) => {
    ///         eprintln!("{method}: the charge may or may not have happened; check before retrying")
    ///     }
    ///     Err(e) => eprintln!("failed: {e}"),
    /// }
    /// # }
    /// ```
    #[error("the reply to {method} was lost ({reason}); the request may or may not have run on the server")]
    #[non_exhaustive]
    OutcomeUnknown {
        /// The request's method (e.g. `tools/call`).
        method: String,
        /// How the reply was lost.
        reason: String,
    },
    /// The request was cancelled.
    #[error("request cancelled")]
    Cancelled,
    /// The peer broke the protocol (unsupported version, too many input rounds, …).
    #[error("protocol error: {0}")]
    Protocol(String),
    /// The operation does not exist on the negotiated era (e.g. `ping` on 2026-07-28).
    #[error("not supported on this protocol era: {0}")]
    Unsupported(&'static str),
    /// The connection is closed.
    #[error("connection closed")]
    Closed,
}

impl ClientError {
    /// The JSON-RPC error code, when the server answered with an error.
    pub fn code(&self) -> Option<i64> {
        match self {
            Self::Rpc(e) => Some(e.code),
            _ => None,
        }
    }
}

impl From<mcp_rpc::RpcError> for ClientError {
    fn from(e: mcp_rpc::RpcError) -> Self {
        match e.kind() {
            mcp_rpc::ErrorKind::Timeout => Self::Timeout(e.timeout_after().unwrap_or_default()),
            mcp_rpc::ErrorKind::Cancelled => Self::Cancelled,
            mcp_rpc::ErrorKind::Closed => Self::Closed,
            _ => {
                let text = e.to_string();
                match e.into_remote_error() {
                    Some(o) => Self::Rpc(o),
                    None => Self::Transport(TransportError::Io(text)),
                }
            }
        }
    }
}
