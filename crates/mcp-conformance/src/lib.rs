//! The fixtures the official MCP conformance suite expects from a server under test, for every revision.
#![deny(missing_docs)]

pub mod apps;
pub mod fixtures;

pub use fixtures::{fixtures_server, fixtures_server_with};
