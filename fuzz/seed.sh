#!/usr/bin/env bash
# Write each target's seeds (the ones the stable tests start from) into corpus/<target>/.
set -euo pipefail
cd "$(dirname "$0")"
cargo run -q --release --manifest-path ../Cargo.toml -p mcp-fuzz --example write_seeds -- corpus
