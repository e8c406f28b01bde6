//! The integration tests of `mcp-redis`, in one binary: one module per file, so the stack is linked once rather
//! than once per file. `cargo test -p mcp-rs-redis --test it <module>` runs one module.

mod common;

mod bus;
mod fleet;
mod session_store;
