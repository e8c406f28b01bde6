//! The integration tests of `mcp-conformance`, in one binary: one module per file, so the stack is linked once rather
//! than once per file. `cargo test -p mcp-conformance --test it <module>` runs one module.

mod peers;

mod fault_recovery;
mod fleet;
mod interop_clients;
mod interop_rmcp_tasks;
mod interop_servers;
mod stdio_fixtures;
mod stdio_process;
mod wire_schema;
