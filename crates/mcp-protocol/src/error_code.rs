//! JSON-RPC and MCP error codes.

/// Invalid JSON was received.
pub const PARSE_ERROR: i64 = -32700;
/// The JSON sent is not a valid request object.
pub const INVALID_REQUEST: i64 = -32600;
/// The method does not exist or is not available.
pub const METHOD_NOT_FOUND: i64 = -32601;
/// Invalid method parameters.
pub const INVALID_PARAMS: i64 = -32602;
/// Internal error.
pub const INTERNAL_ERROR: i64 = -32603;
/// Legacy (≤ 2025-11-25) resource-not-found. Modern servers use [`INVALID_PARAMS`].
pub const RESOURCE_NOT_FOUND: i64 = -32002;
/// Session not found (an SDK convention used by most servers, not assigned by the spec).
pub const SESSION_NOT_FOUND: i64 = -32001;
/// Generic server error used for transport-level rejections (e.g. a missing session id).
pub const SERVER_ERROR: i64 = -32000;
/// 2025-11-25: URL-mode elicitation required.
pub const URL_ELICITATION_REQUIRED: i64 = -32042;
/// 2026-07-28: an HTTP header disagrees with the body.
pub const HEADER_MISMATCH: i64 = -32020;
/// 2026-07-28: the request needs a client capability the client did not declare.
pub const MISSING_REQUIRED_CLIENT_CAPABILITY: i64 = -32021;
/// 2026-07-28: the protocol version is not supported.
pub const UNSUPPORTED_PROTOCOL_VERSION: i64 = -32022;
/// Too many requests in flight (admission control). Chosen in the legacy server range.
pub const OVERLOADED: i64 = -32010;
/// The request was cancelled or timed out (SDK-local; never sent on the wire by servers).
pub const REQUEST_TIMEOUT: i64 = -32011;
