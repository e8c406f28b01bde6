//! An MCP client that speaks both eras of the protocol, over stdio, child processes and Streamable HTTP.
//!
//! - **Era detection.** [`VersionMode::Auto`] probes with `server/discover`: a result or a modern error means
//!   the stateless 2026-07-28 era; any other error (or no answer within a few seconds) falls back to the legacy
//!   `initialize` handshake.
//! - **Modern era.** Every request carries `_meta` (protocol version, client capabilities, client info);
//!   `-32022` is retried once with a version both sides speak; `input_required` results run the multi
//!   round-trip loop through the application's handlers; `subscriptions/listen` streams are demultiplexed by
//!   subscription id ([`Client::listen`]); cacheable results are reused per their `ttlMs`/`cacheScope`. On
//!   HTTP a reply stream that breaks before the result is re-issued only when repeating the request is safe
//!   ([`ReissuePolicy`]); otherwise the call fails with [`Error::is_outcome_unknown`](crate::Error::is_outcome_unknown).
//! - **Legacy era.** The same handlers answer the server's real requests (elicitation, sampling, roots). On
//!   HTTP a session that expires (404) is re-established without the application's involvement: one
//!   re-`initialize` however many requests were refused, the event stream, subscriptions and log level
//!   restored, then the refused requests re-sent. Requests that may have run are never re-sent.
//! - **Transports.** One [`Transport`](transport::Transport) trait; see [`transport`].
//!
//! See [`Client`] for an example.
//!
//! # Cargo features
//!
//! All on by default; with `default-features = false` the client still has [`StreamTransport`](transport::StreamTransport)
//! (any byte stream: a socket, a pipe, an in-memory duplex).
//!
//! | feature | what it adds | what it pulls |
//! |---|---|---|
//! | `child-process` | [`ChildProcessTransport`](transport::ChildProcessTransport): spawn a stdio server | tokio's `process`, libc |
//! | `http` | [`HttpTransport`](transport::HttpTransport) (Streamable HTTP, falling back to 2024-11-05 HTTP+SSE), [`LegacySseTransport`](transport::LegacySseTransport), static tokens and the [`AuthProvider`](auth::AuthProvider) hook in [`auth`] | reqwest, rustls |
//! | `oauth` | [`OAuthClient`](auth::OAuthClient) and its grants, DPoP, token stores (implies `http`) | jsonwebtoken, p256, tokio's `fs` |
//! | `oauth-loopback` | [`LoopbackAuthorizer`](auth::LoopbackAuthorizer): the browser redirect on a loopback port (implies `oauth`) | hyper (server), tokio's `net` |
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
pub mod auth;
mod cache;
mod client;
mod error;
pub mod handlers;
#[cfg(feature = "otel")]
#[cfg_attr(docsrs, doc(cfg(feature = "otel")))]
pub mod otel;
mod reissue;
#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
pub mod sse;
mod trace_context;
pub mod transport;

pub use client::{
    CallOptions, Client, ClientBuilder, ClientEvent, ClientOptions, Subscription, TaskHandle,
    ToolCallStart, VersionMode,
};
pub use error::{AuthErrorKind, ClientError, Error, ErrorKind, TransportError};
pub use handlers::{ElicitationHandler, RootsHandler, SamplingHandler};
pub use mcp_protocol;
pub use reissue::{ReissuePolicy, ReissueRequest};
/// The `schemars` whose schemas the server crates publish: derive `JsonSchema` from here so the versions match.
pub use schemars;
/// The `serde_json` of the wire types' `Value`s and maps (tool arguments, structured content).
pub use serde_json;
/// The token that cancels a call (see [`CallOptions`]).
pub use tokio_util::sync::CancellationToken;
