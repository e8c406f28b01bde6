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
//!
//! # Cargo features
//!
//! Everything is on by default. To build only what you use, turn the defaults off and pick a side and its
//! transports; features that belong to one side turn that side on.
//!
//! | feature | what it adds | what it pulls in |
//! |---|---|---|
//! | `server` | the server core, and `serve_connection` for any byte stream | tokio (`rt`, `sync`, `time`, `io-util`), schemars, jsonschema |
//! | `client` | the client core, and `StreamTransport` for any byte stream | tokio (`rt`, `sync`, `time`, `io-util`), jsonschema |
//! | `macros` | the `tool` and `prompt` attribute macros (implies `server`) | syn, quote |
//! | `stdio` | `server::serve_stdio` (implies `server`) | tokio `io-std` |
//! | `http` | Streamable HTTP (and the 2024-11-05 HTTP+SSE transport) for whichever of `server` and `client` is on: `server::http` (`McpService`, `serve`), `client::transport::HttpTransport` | server: hyper, hyper-util, tower, dashmap, tokio `net`; client: reqwest, rustls |
//! | `auth` | `server::auth`: `BearerAuthLayer`, `JwtVerifier` with keys you supply (implies `server`, `http`) | jsonwebtoken |
//! | `auth-remote` | `server::auth::HttpJwks`, `server::auth::IntrospectionVerifier` (implies `auth`) | reqwest, rustls |
//! | `child-process` | `client::transport::ChildProcessTransport` (implies `client`) | tokio `process`, libc |
//! | `oauth` | `client::auth::OAuthClient`, its grants, DPoP and token stores (implies `client`, `http`) | jsonwebtoken, p256, tokio `fs` |
//! | `oauth-loopback` | `client::auth::LoopbackAuthorizer`, the browser redirect on a loopback port (implies `oauth`) | hyper (server), tokio `net` |
//!
//! A server for hosts that launch it over stdio, with no HTTP or TLS crate in its build:
//!
//! ```toml
//! [dependencies]
//! mcp = { version = "0.1", default-features = false, features = ["server", "stdio", "macros"] }
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

// The README's examples are compiled as doctests so they cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct ReadmeDoctests;

pub use mcp_protocol as protocol;
pub use mcp_protocol::types;

/// The server: re-export of `mcp-server`.
#[cfg(feature = "server")]
#[cfg_attr(docsrs, doc(cfg(feature = "server")))]
pub use mcp_server as server;

/// The client: re-export of `mcp-client`.
#[cfg(feature = "client")]
#[cfg_attr(docsrs, doc(cfg(feature = "client")))]
pub use mcp_client as client;

#[cfg(feature = "macros")]
#[cfg_attr(docsrs, doc(cfg(feature = "macros")))]
pub use mcp_macros::*;
