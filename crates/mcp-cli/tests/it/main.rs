//! The integration tests of the `mcp` command, in one binary: one module per file, so the stack is linked once
//! rather than once per file. `cargo test -p mcp-cli --test it <module>` runs one module.

mod common;
mod oauth_world;
mod peers;

mod auth;
mod bench;
mod bridges;
mod cli;
mod everything;
mod record;
mod shell;
mod terminal;
