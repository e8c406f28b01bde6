#!/usr/bin/env bash
# Packages the seven library crates as `cargo publish` would, and builds each from its package (cargo's
# verify step, against the other six's packages rather than the workspace's sources): a file a crate reads
# from outside its directory, a dependency on a `publish = false` crate, or a feature that names a missing
# one fails here rather than at the first publish. Needs the crates.io index (to resolve the dependencies),
# not an account. Each package must carry LICENSE-MIT and LICENSE-APACHE. Prints `package: ok (...)` or
# `package: FAILED`; exits 1 on failure. The packages and their sources go to target/package (dropped by
# .ci/run once done); the builds use the workspace's target dir (target/debug).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
CRATES=(mcp-rs-protocol mcp-rs-rpc mcp-rs-macros mcp-rs-server mcp-rs-client mcp-rs-redis mcp-rs)
args=()
for c in "${CRATES[@]}"; do args+=(-p "$c"); done
t=$(date +%s)
# Each package carries both license texts (the crates link the workspace's; cargo packages what they point at).
for c in "${CRATES[@]}"; do
  files=$(cargo package --list --allow-dirty -p "$c") || { echo "package: FAILED (cannot list $c)"; exit 1; }
  for f in LICENSE-MIT LICENSE-APACHE; do
    grep -qx "$f" <<<"$files" || { echo "package: FAILED ($c lacks $f)"; exit 1; }
  done
done
# --allow-dirty: CI's checkout is clean, but a local run should not need a commit first.
if cargo package --locked --allow-dirty "${args[@]}"; then
  echo "package: ok (${#CRATES[@]} crates packaged and built from their packages, $(($(date +%s) - t))s)"
else
  echo "package: FAILED"
  exit 1
fi
