//! The integration tests of `mcp-protocol`, in one binary: one module per file, so the stack is linked once rather
//! than once per file. `cargo test -p mcp-rs-protocol --test it <module>` runs one module.

mod common;

mod examples;
mod schema;
