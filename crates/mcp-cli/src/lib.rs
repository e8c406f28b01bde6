//! The reusable part of the `mcp` command, for the workspace's own tools: [`load`], the load generator behind
//! `mcp bench`, which `mcp-bench` drives too. The command itself is the `mcp` binary of this package.
#![deny(missing_docs)]

pub mod load;
