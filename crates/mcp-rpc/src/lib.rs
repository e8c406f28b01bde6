//! The JSON-RPC engine that the MCP client and server share.
//!
//! - [`Peer`]: sends requests and awaits their responses, with per-request timeouts (reset on progress, with a
//!   hard maximum), cancellation, and progress routing by token.
//! - [`PendingRequests`]: the engine under [`Peer`]: requests awaiting a response, with a drop guard that
//!   cancels on the wire what nobody waits for any more; usable on its own when responses arrive on
//!   another channel than requests leave on (as on legacy Streamable HTTP).
//! - [`framing`]: newline-delimited JSON over any byte stream, with a cap on message size.
//! - [`Admission`]: a cap on concurrent inbound requests.
//! - [`rt`]: spawning and timers on tokio natively and on the JavaScript event loop on `wasm32-unknown-unknown`.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use mcp_rpc::{Peer, RequestOptions};
//! use mcp_protocol::{Message, Response};
//!
//! let (tx, mut rx) = tokio::sync::mpsc::channel(8);
//! let peer = Peer::new(tx);
//! let answering = peer.clone();
//! tokio::spawn(async move {
//!     // The "remote side": answer the request that was sent.
//!     if let Some(Message::Request(req)) = rx.recv().await {
//!         answering.handle_response(Message::Response(Response::new(req.id, serde_json::json!({"ok": true}))));
//!     }
//! });
//! let result = peer.request("ping", None, RequestOptions::default()).await.unwrap();
//! assert_eq!(result["ok"], true);
//! # }
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod admission;
mod error;
pub mod framing;
mod peer;
mod pending;
pub mod rt;

pub use admission::{Admission, AdmissionPermit};
pub use error::{Error, ErrorKind, RpcError};
pub use peer::{Peer, RequestOptions};
pub use pending::PendingRequests;
