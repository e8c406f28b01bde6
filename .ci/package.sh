#!/usr/bin/env bash
# Packages the seven library crates as `cargo publish` would, and builds each from its package (cargo's
# verify step, against the other six's packages rather than the workspace's sources): a file a crate reads
# from outside its directory, a dependency on a `publish = false` crate, or a feature that names a missing
# one fails here rather than at the first publish. Needs the crates.io index (to resolve the dependencies),
# not an account. Each package must carry LICENSE-MIT, LICENSE-APACHE and its README.md (the crates.io page). Prints `package: ok (...)` or
# `package: FAILED`; exits 1 on failure. The packages and their sources go to target/package (dropped by
# .ci/run once done); the builds use the workspace's target dir (target/debug).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
CRATES=(mcp-rs-protocol mcp-rs-rpc mcp-rs-macros mcp-rs-server mcp-rs-client mcp-rs-redis mcp-rs)
args=()
for c in "${CRATES[@]}"; do args+=(-p "$c"); done
t=$(date +%s)
# Each package carries both license texts and its README (the crates link the workspace's license files, and the
# facade its README; cargo packages what a link points at).
for c in "${CRATES[@]}"; do
  files=$(cargo package --list --allow-dirty -p "$c") || { echo "package: FAILED (cannot list $c)"; exit 1; }
  for f in LICENSE-MIT LICENSE-APACHE README.md; do
    grep -qx "$f" <<<"$files" || { echo "package: FAILED ($c lacks $f)"; exit 1; }
  done
done
# --allow-dirty: CI's checkout is clean, but a local run should not need a commit first.
cargo package --locked --allow-dirty "${args[@]}" || { echo "package: FAILED"; exit 1; }

# A user's crate with a `#[mcp::tool]`, depending on the facade under each name the README gives
# (`mcp-rs = ...` and `mcp = { package = "mcp-rs", ... }`): the macros must find the server through it.
REPO=$(pwd)
for key in mcp-rs mcp; do
  dir="$REPO/target/package/user-$key"
  rm -rf "$dir" && mkdir -p "$dir/src"
  spec="path = \"$REPO/crates/mcp\", default-features = false, features = [\"server\", \"macros\"]"
  [[ $key == mcp ]] && spec="package = \"mcp-rs\", $spec"
  printf '%s\n' '[package]' "name = \"user-$key\"" 'version = "0.1.0"' 'edition = "2021"' 'publish = false' \
    '' '[workspace]' '' '[dependencies]' "$key = { $spec }" \
    'serde = { version = "1", features = ["derive"] }' 'schemars = "1"' >"$dir/Cargo.toml"
  printf '%s\n' 'use mcp::server::{Error, Server};' '' \
    '#[derive(serde::Deserialize, schemars::JsonSchema)]' 'struct Args {' '    text: String,' '}' '' \
    '/// Echo the text.' '#[mcp::tool]' 'async fn echo(args: Args) -> Result<String, Error> {' \
    '    Ok(args.text)' '}' '' 'fn main() {' \
    '    let _server = Server::builder("user", "1.0.0").with(echo_tool).build();' \
    '    println!("{}", echo_tool::NAME);' '}' >"$dir/src/main.rs"
  cp Cargo.lock "$dir/Cargo.lock" # the workspace's versions: nothing newer is fetched
  out=$(CARGO_TARGET_DIR="$REPO/target" cargo run -q --manifest-path "$dir/Cargo.toml" 2>&1)
  if [[ $out != echo ]]; then
    echo "$out" | tail -n 20
    echo "package: FAILED (a crate depending on it as '$key')"
    exit 1
  fi
done
echo "package: ok (${#CRATES[@]} crates packaged and built from their packages; #[mcp::tool] works through" \
  "'mcp-rs' and 'mcp = { package = \"mcp-rs\" }'; $(($(date +%s) - t))s)"
