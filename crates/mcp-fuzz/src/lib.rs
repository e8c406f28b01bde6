//! What must hold for any bytes a peer sends us, written as oracles: functions that take arbitrary bytes and
//! panic when a property breaks. The coverage-guided fuzz targets in `fuzz/` (cargo-fuzz, nightly) call
//! them, and so do this crate's tests, on seeds and a fixed number of deterministic mutations of them, so
//! that `cargo test` on stable checks every property too.
//!
//! | oracle | input from the network | property |
//! |---|---|---|
//! | [`jsonrpc::message`] | one JSON-RPC message | the fast parser agrees with the `Value` path; what parses re-serializes to itself |
//! | [`sse::stream`] | a Server-Sent Events stream, cut anywhere | events and last event id as the WHATWG algorithm gives them, however the bytes are split |
//! | [`frames::lines`] | a stdio byte stream | frames as a line-by-line model gives them, whatever the read sizes |
//! | [`types::payload`] | a typed payload (result, params, content block...) | what parses is written so that it parses back the same |
//! | [`challenge::header`] | a `WWW-Authenticate` header | read without panicking; what was read, written plainly, reads back the same |
//! | [`http::request`] | one HTTP request to the MCP endpoint | no 5xx, well-formed bodies, and a session's next call still works |
#![deny(missing_docs)]

pub mod challenge;
pub mod frames;
pub mod http;
pub mod jsonrpc;
pub mod mutate;
pub mod sse;
pub mod types;
