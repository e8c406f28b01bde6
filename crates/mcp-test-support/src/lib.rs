//! What the test harnesses of the workspace share (`mcp-cli`'s and `mcp-conformance`'s tests): server
//! processes on loopback ports they chose themselves, so that no test races another for a port, and the
//! installed peer programs.
#![deny(missing_docs)]

pub mod peers;
mod server_process;

pub use peers::{wait_timeout, Peers};
pub use server_process::{free_port, ServerProcess};
