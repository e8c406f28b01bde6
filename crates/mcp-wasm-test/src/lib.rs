//! Nothing to use: this crate holds `tests/node.rs`, which runs `mcp-client` built for
//! `wasm32-unknown-unknown` under Node (through `wasm-bindgen-test-runner`) against a real server over
//! loopback. `.ci/wasm.sh` builds and starts the server, then runs
//! `cargo test -p mcp-wasm-test --target wasm32-unknown-unknown` with the server's URL in
//! `MCP_WASM_SERVER_URL`.
#![deny(missing_docs)]
