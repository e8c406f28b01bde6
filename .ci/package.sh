#!/usr/bin/env bash
# Packages the seven library crates as `cargo publish` would, and builds each from its package (cargo's
# verify step, against the other six's packages rather than the workspace's sources): a file a crate reads
# from outside its directory, a dependency on a `publish = false` crate, or a feature that names a missing
# one fails here rather than at the first publish. Needs the crates.io index (to resolve the dependencies),
# not an account. Prints `package: ok (N crates)` or `package: FAILED`; exits 1 on failure.
# Builds in target/package (its own target dir, dropped by .ci/run once done).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
CRATES=(mcp-rs-protocol mcp-rs-rpc mcp-rs-macros mcp-rs-server mcp-rs-client mcp-rs-redis mcp-rs)
args=()
for c in "${CRATES[@]}"; do args+=(-p "$c"); done
t=$(date +%s)
# --allow-dirty: CI's checkout is clean, but a local run should not need a commit first.
if cargo package --locked --allow-dirty "${args[@]}"; then
  echo "package: ok (${#CRATES[@]} crates packaged and built from their packages, $(($(date +%s) - t))s)"
else
  echo "package: FAILED"
  exit 1
fi
