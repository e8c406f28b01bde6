//! The integration tests of `mcp-server`, in one binary: one module per file, so the stack is linked once rather
//! than once per file. `cargo test -p mcp-rs-server --test it <module>` runs one module.

mod support;

mod abandoned_client_requests;
mod apps;
mod attack;
mod auth;
mod auth_limits;
mod cancellation;
mod extensions;
mod http_limits;
mod http_server;
mod input_required;
mod limits_core;
mod middleware;
mod shared_sessions;
mod state_keys;
mod stdio_connection;
mod tasks;
mod typed;
mod wire_errors;
