//! The integration tests of `mcp-client`, in one binary: one module per file, so the stack is linked once rather
//! than once per file. `cargo test -p mcp-rs-client --test it <module>` runs one module.

mod common;

mod apps;
mod bounds;
mod child;
mod duplex;
mod errors;
mod http_legacy;
mod http_modern;
mod http_old_sse;
mod oauth_e2e;
mod oauth_grants;
mod skills;
mod tasks;
