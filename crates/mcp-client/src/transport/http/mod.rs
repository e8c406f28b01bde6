//! Streamable HTTP, both eras.
//!
//! - Every message is one POST with `Accept: application/json, text/event-stream`; replies come back as JSON or
//!   as an SSE stream, which may also carry notifications and (legacy) server requests.
//! - **Modern** (2026-07-28) requests carry `MCP-Protocol-Version` (from the body's `_meta`), `Mcp-Method`,
//!   `Mcp-Name` and the `Mcp-Param-*` headers the client computed. Cancelling a request closes its stream.
//!   Streams cannot be resumed, and the server may already have run a request whose stream broke before the
//!   reply: only a request the client marked repeatable ([`SendOptions::reissue`], from its
//!   [`ReissuePolicy`](crate::ReissuePolicy)) is re-issued with a new id (the reply is mapped back to the
//!   original id), retrying while the server is unreachable (a restart); any other fails with
//!   an error of kind [`ErrorKind::StreamBroken`](crate::ErrorKind::StreamBroken), which the client reports as
//!   [`ErrorKind::OutcomeUnknown`](crate::ErrorKind::OutcomeUnknown).
//! - **Legacy** (≤ 2025-11-25): the session id is taken only from a successful `initialize` response and sent on
//!   every later message with `MCP-Protocol-Version`. A reply stream that breaks after an event id is resumed
//!   with `GET` + `Last-Event-ID`, after exactly the server's `retry:` delay (else a capped exponential
//!   backoff). The GET event stream is opened on request (405/404 mean there is none). A 404 to a message that
//!   carried the current session id drops the session and reports an error of kind [`ErrorKind::SessionExpired`](crate::ErrorKind::SessionExpired); messages
//!   that need a session then wait until the client has re-initialized. A 500 or a network error never drops
//!   the session. DELETE on close (405 tolerated).
//! - **2024-11-05 fallback**: when `initialize` is refused with 400, 404 or 405 and no JSON-RPC error, the
//!   server predates Streamable HTTP: the transport opens the old HTTP+SSE event stream (at the same URL, else
//!   at the URL with its last segment replaced by `sse`) and carries every later message over it (see
//!   [`LegacySseTransport`](super::LegacySseTransport)).
//!
//! One job per module:
//!
//! - `options`: [`TokenProvider`], [`StaticToken`] and [`HttpOptions`].
//! - `builder`: [`HttpTransportBuilder`].
//! - `handle`: [`HttpTransport`] and its [`Transport`](super::Transport) implementation.
//! - `inner`: shared state and the HTTP plumbing (headers, authorization, POST, GET).
//! - `session`: the legacy session id: capture, wait, expiry, DELETE.
//! - `exchange`: one request's POST exchange, re-issue, one-way POSTs.
//! - `reply`: reading SSE reply streams and resuming them.
//! - `events`: the standalone GET event stream.
//! - `fallback`: the 2024-11-05 HTTP+SSE fallback.

mod builder;
mod events;
mod exchange;
mod fallback;
mod handle;
mod inner;
mod options;
mod reply;
mod session;

pub use builder::HttpTransportBuilder;
pub use handle::HttpTransport;
pub use options::{HttpOptions, StaticToken, TokenProvider};
