//! The Model Context Protocol for Rust: one crate to add, with the server, the client and the macros behind
//! features (all on by default).
//!
//! | module | feature | what it is |
//! | --- | --- | --- |
//! | [`server`] | `server` | serve tools, resources and prompts over stdio or Streamable HTTP, to legacy (≤ 2025-11-25) and modern (2026-07-28) clients with one set of handlers; [`server::http::McpService`] is a `tower::Service` |
//! | [`client`] | `client` | talk to any MCP server, with era detection, session recovery and multi round-trip requests handled for you |
//! | [`protocol`], [`types`] | always | wire types for every revision, JSON-RPC envelopes, versions |
//! | [`tool`], [`prompt`], [`collect`] | `macros` | attribute macros that register `async fn`s as tools and prompts |
//!
//! # A server
//!
//! Write tools as `async fn`s, collect them with [`collect`], serve over stdio (for hosts that start the
//! server) or Streamable HTTP:
//!
//! ```no_run
//! use mcp::server::{Server, Error, Json};
//!
//! #[mcp::collect]
//! mod calculator {
//!     use mcp::server::{Error, Json};
//!
//!     #[derive(serde::Deserialize, schemars::JsonSchema)]
//!     pub struct Add {
//!         /// The first number.
//!         a: f64,
//!         /// The second number.
//!         b: f64,
//!     }
//!
//!     #[derive(serde::Serialize, schemars::JsonSchema)]
//!     pub struct Sum { sum: f64 }
//!
//!     /// Add two numbers.
//!     #[tool]
//!     async fn add(args: Add) -> Result<Json<Sum>, Error> {
//!         Ok(Json(Sum { sum: args.a + args.b }))
//!     }
//! }
//!
//! #[tokio::main]
//! async fn main() -> std::io::Result<()> {
//!     let server = Server::builder("calculator", "1.0.0").with(calculator::register).build();
//!     mcp::server::serve_stdio(server).await
//! }
//! ```
//!
//! The builder does the same without macros ([`server::ServerBuilder::typed_tool`]); the macros expand to
//! exactly those calls.
//!
//! # A client
//!
//! Connect to a server (here one served in-process on loopback), list its tools and call one:
//!
//! ```
//! use mcp::client::{Client, CallOptions, transport::HttpTransport};
//! use mcp::server::{Error, Server, http::{serve_listener, HttpConfig}};
//! use std::time::Duration;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let server = Server::builder("echo", "1.0.0")
//!     .typed_tool("echo", "Echo the text", |_ctx, args: serde_json::Value| async move {
//!         Ok::<_, Error>(args["text"].as_str().unwrap_or_default().to_owned())
//!     })
//!     .build();
//! let bound = serve_listener(server, HttpConfig::default(), "127.0.0.1:0".parse()?).await?;
//! let url = format!("http://{}/mcp", bound.local_addr()?);
//! tokio::spawn(bound.run());
//!
//! let client = Client::builder().connect(HttpTransport::new(url)?).await?;
//! assert_eq!(client.list_all_tools().await?[0].name, "echo");
//! let mut options = CallOptions::default();
//! options.timeout = Some(Duration::from_secs(5));
//! let result = client
//!     .call_tool_with("echo", serde_json::json!({"text": "hi"}), options)
//!     .await?;
//! assert_eq!(result.text_content(), "hi");
//! client.close().await;
//! # Ok(())
//! # }
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
//! | `otel` (off by default) | OpenTelemetry trace context for whichever of `server` and `client` is on: `client::otel`, `server::otel` (client spans sent in `_meta` and HTTP headers; server request spans joined to them) | opentelemetry, opentelemetry_sdk, tracing-opentelemetry |
//!
//! The package is `mcp-rs` (the name `mcp` on crates.io belongs to another project); the crate is `mcp` in
//! code either way. A server for hosts that launch it over stdio, with no HTTP or TLS crate in its build:
//!
//! ```toml
//! [dependencies]
//! mcp-rs = { version = "0.1", default-features = false, features = ["server", "stdio", "macros"] }
//! ```
//!
//! # Macros and this crate
//!
//! The macros find the server crate through this crate (a hidden module), so `mcp` is the only MCP
//! dependency a user needs; they read the user's `Cargo.toml` to tell `mcp` (under any name) from a direct
//! `mcp-server` dependency. When the crate is reached some other way (re-exported by another crate), say where:
//! `#[mcp::tool(crate = my_sdk::mcp::server)]`.
#![deny(missing_docs)]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

// The macros name `::mcp`; inside this crate (its doctests and examples are separate crates) that is `crate`.
extern crate self as mcp;

// The README's examples are compiled as doctests so they cannot drift from the API (crates/mcp/README.md is
// the workspace README, linked, so the path holds in the package too).
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

/// Wire types for every revision, the JSON-RPC envelope, protocol versions and header encoding (the
/// `mcp-protocol` crate).
pub mod protocol {
    #[doc(inline)]
    pub use mcp_protocol::*;
}

#[doc(inline)]
pub use mcp_protocol::types;

/// The server (the `mcp-server` crate): [`Server`](server::Server) and its builder, the handler context,
/// stdio and Streamable HTTP transports.
///
/// Build a [`Server`](server::Server) with [`Server::builder`](server::Server::builder), then serve it with
/// [`serve_stdio`](server::serve_stdio), [`http::serve`](server::http::serve) or mount
/// [`http::McpService`](server::http::McpService) in any tower stack (an axum `Router` included).
#[cfg(feature = "server")]
#[cfg_attr(docsrs, doc(cfg(feature = "server")))]
pub mod server {
    #[doc(inline)]
    pub use mcp_server::*;
}

/// The client (the `mcp-client` crate): [`Client`](client::Client), per-call
/// [`CallOptions`](client::CallOptions), stdio, child-process and Streamable HTTP transports, OAuth.
#[cfg(feature = "client")]
#[cfg_attr(docsrs, doc(cfg(feature = "client")))]
pub mod client {
    #[doc(inline)]
    pub use mcp_client::*;
}

#[cfg(feature = "macros")]
#[cfg_attr(docsrs, doc(cfg(feature = "macros")))]
#[doc(inline)]
pub use mcp_macros::*;

/// What the macros' expansions name; not public API, may change in any release.
#[doc(hidden)]
pub mod __private {
    #[cfg(feature = "server")]
    pub use mcp_server;
}
