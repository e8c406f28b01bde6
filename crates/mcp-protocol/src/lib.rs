//! Wire types for the Model Context Protocol, every revision from 2024-11-05 to 2026-07-28.
//!
//! This crate has no I/O and no async runtime. It holds:
//! - [`jsonrpc`]: the JSON-RPC 2.0 envelope ([`Message`], [`Request`], [`Response`], …),
//! - [`version`]: the protocol revisions and their eras,
//! - [`error_code`]: the numeric error codes the spec assigns,
//! - [`meta`]: the reserved `_meta` keys,
//! - [`types`]: every request, result and notification payload,
//! - [`headers`]: the 2026-07-28 HTTP header rules (`Mcp-Method`, `Mcp-Name`, `Mcp-Param-*`).
//!
//! Unions are always decided by an explicit tag (`method`, content `type`, `resultType`, elicitation `mode`),
//! never by trying shapes in turn, so a complete `tools/call` result can never be read as `input_required`.
//!
//! ```
//! use mcp_protocol::{Message, types::CallToolResult};
//!
//! let line = r#"{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"hi"}]}}"#;
//! let Message::Response(resp) = serde_json::from_str::<Message>(line).unwrap() else { panic!() };
//! let result: CallToolResult = serde_json::from_value(resp.result).unwrap();
//! assert_eq!(result.content[0].as_text(), Some("hi"));
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod error_code;
pub mod headers;
pub mod jsonrpc;
pub mod meta;
pub mod types;
pub mod version;

pub use jsonrpc::{
    ErrorObject, ErrorResponse, Message, Notification, Request, RequestId, Response,
};
pub use version::{Era, ProtocolVersion};

/// A `_meta` object or any other open JSON object.
pub type JsonObject = serde_json::Map<String, serde_json::Value>;
