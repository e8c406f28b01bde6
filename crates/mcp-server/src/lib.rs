//! An MCP server that serves every protocol revision, 2024-11-05 to 2026-07-28, with one set of handlers.
//!
//! The shape, from the inside out:
//! - a **stateless core** runs one request: tools, resources, prompts, completion;
//! - the **modern adapter** (2026-07-28) validates each request's `_meta` and decorates results;
//! - the **legacy adapter** (≤ 2025-11-25) owns sessions: `initialize`, `ping`, `logging/setLevel`, resource
//!   subscriptions, and real server→client requests;
//! - **transports** carry bytes: [`serve_stdio`], [`serve_connection`] for any byte stream, and Streamable HTTP
//!   in [`http`].
//!
//! A handler asks the client for input through [`RequestContext::elicit`], [`RequestContext::sample`] and
//! [`RequestContext::list_roots`]: on the legacy era this sends a real request and waits; on the modern era it
//! returns the answer already sent, or ends the handler with `input_required` (through `?`) and the client
//! retries. Ask before doing anything irreversible, and keep what must survive a round in
//! [`RequestContext::set_round_state`].
//!
//! ```
//! use mcp_server::{Server, RequestContext, Error};
//! use mcp_protocol::types::{CallToolResult, ElicitRequestParams, ElicitAction, Tool};
//! use serde_json::json;
//!
//! let server = Server::builder("greeter", "1.0.0")
//!     .tool(
//!         Tool { name: "greet".into(), description: Some("Greets you by name".into()),
//!                input_schema: json!({"type": "object"}), ..Default::default() },
//!         |ctx: RequestContext, _args| async move {
//!             let answer = ctx.elicit("name", ElicitRequestParams::form(
//!                 "What is your name?",
//!                 json!({"type": "object", "properties": {"name": {"type": "string"}}}),
//!             )).await?;
//!             let name = match answer.action {
//!                 ElicitAction::Accept => answer.content.and_then(|c| c.get("name").cloned()),
//!                 _ => None,
//!             };
//!             Ok::<_, Error>(CallToolResult::text(format!("Hello, {}!", name.and_then(|n| n.as_str().map(String::from)).unwrap_or("stranger".into()))))
//!         },
//!     )
//!     .build();
//! # let _ = server;
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod connection;
mod context;
mod core;
mod error;
mod handler;
pub mod http;
mod legacy;
mod modern;
mod request_state;
mod requester;
mod server;
mod stdio;
pub mod uri_template;

pub use connection::{serve_connection, ConnectionOptions};
pub use context::{ClientRequester, Principal, RequestContext};
pub use error::Error;
pub use handler::{
    schema_of, CompletionHandler, IntoToolOutput, Json, PromptHandler, ResourceHandler,
    TemplateHandler, ToolHandler,
};
pub use legacy::LegacySession;
pub use request_state::StateKey;
pub use server::{PromptArgs, Server, ServerBuilder, ServerEvent, ServerOptions};
pub use stdio::serve_stdio;
