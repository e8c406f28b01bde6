//! Reserved `_meta` keys and helpers to read them.

/// The request's progress token (every revision).
pub const PROGRESS_TOKEN: &str = "progressToken";
/// 2026-07-28: the protocol version of this request (required).
pub const PROTOCOL_VERSION: &str = "io.modelcontextprotocol/protocolVersion";
/// 2026-07-28: the client's capabilities (required).
pub const CLIENT_CAPABILITIES: &str = "io.modelcontextprotocol/clientCapabilities";
/// 2026-07-28: the client's implementation info (should).
pub const CLIENT_INFO: &str = "io.modelcontextprotocol/clientInfo";
/// 2026-07-28: the log level the client wants for this request; no logs without it.
pub const LOG_LEVEL: &str = "io.modelcontextprotocol/logLevel";
/// 2026-07-28: the server's implementation info on results.
pub const SERVER_INFO: &str = "io.modelcontextprotocol/serverInfo";
/// 2026-07-28: the listen request's id, on every notification of a subscription stream.
pub const SUBSCRIPTION_ID: &str = "io.modelcontextprotocol/subscriptionId";
/// 2025-11-25: the task a message relates to.
pub const RELATED_TASK: &str = "io.modelcontextprotocol/related-task";
/// W3C trace context.
pub const TRACEPARENT: &str = "traceparent";
/// W3C trace state.
pub const TRACESTATE: &str = "tracestate";
/// W3C baggage.
pub const BAGGAGE: &str = "baggage";

/// Whether `key` is a syntactically valid `_meta` key (`[prefix/]name`).
///
/// ```
/// use mcp_protocol::meta::is_valid_key;
/// assert!(is_valid_key("io.modelcontextprotocol/protocolVersion"));
/// assert!(is_valid_key("progressToken"));
/// assert!(!is_valid_key("-bad"));
/// ```
pub fn is_valid_key(key: &str) -> bool {
    let (prefix, name) = match key.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    if let Some(prefix) = prefix {
        let labels_ok = prefix.split('.').all(|label| {
            let b = label.as_bytes();
            !b.is_empty()
                && b[0].is_ascii_alphabetic()
                && b[b.len() - 1].is_ascii_alphanumeric()
                && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
        });
        if !labels_ok {
            return false;
        }
    }
    let b = name.as_bytes();
    if b.is_empty() {
        return prefix.is_some();
    }
    b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}
