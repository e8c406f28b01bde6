//! What the test harnesses of the workspace share (`mcp-cli`'s and `mcp-conformance`'s tests): server
//! processes on loopback ports they chose themselves, so that no test races another for a port.
#![deny(missing_docs)]

mod server_process;

pub use server_process::{free_port, ServerProcess};
