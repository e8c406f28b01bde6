//! The Model Context Protocol for Rust: one crate to add, with the server, the client and the macros behind
//! features (all on by default).
//!
//! - [`protocol`]: wire types for every revision (always available).
//! - [`server`] (feature `server`): serve tools, resources and prompts over stdio or Streamable HTTP, to
//!   legacy (≤ 2025-11-25) and modern (2026-07-28) clients with one set of handlers.
//! - [`client`] (feature `client`): talk to any MCP server, with era detection, session recovery and
//!   multi round-trip requests handled for you.
//! - `tool`/`prompt` attribute macros (feature `macros`).
//!
//! ```
//! use mcp::server::{Server, Error};
//!
//! #[derive(serde::Deserialize, schemars::JsonSchema)]
//! struct Add { a: f64, b: f64 }
//!
//! let server = Server::builder("calculator", "1.0.0")
//!     .typed_tool("add", "Add two numbers", |_ctx, args: Add| async move {
//!         Ok::<_, Error>(format!("{}", args.a + args.b))
//!     })
//!     .build();
//! assert_eq!(server.tools()[0].name, "add");
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

// The README's examples are compiled as doctests so they cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct ReadmeDoctests;

pub use mcp_protocol as protocol;
pub use mcp_protocol::types;

/// The server: re-export of `mcp-server`.
#[cfg(feature = "server")]
pub use mcp_server as server;

/// The client: re-export of `mcp-client`.
#[cfg(feature = "client")]
pub use mcp_client as client;

#[cfg(feature = "macros")]
pub use mcp_macros::*;
