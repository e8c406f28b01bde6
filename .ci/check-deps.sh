#!/usr/bin/env bash
# Asserts what the facade's feature sets pull in (normal dependencies, as a user's build would):
#   - a stdio-only server (server,stdio,macros) and a byte-stream-only client compile no HTTP, TLS, JWT or
#     socket crate;
#   - an HTTP server with auth but without auth-remote compiles no HTTP client or TLS crate.
# `cargo tree` only resolves, so this takes seconds. Prints one line per assertion and a last line
# `deps: N passed, M failed`; exits 1 if any failed.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# Crates that mean HTTP, TLS or JWT. `mio` (tokio's socket and process layer, pulled by tokio's `net`,
# `process` or `signal`) is checked on its own below.
NETWORK=(hyper hyper-util h2 http http-body http-body-util reqwest rustls tokio-rustls webpki-roots
  rustls-webpki ring jsonwebtoken dashmap)
# (tower is allowed: message-level middleware, `ServerBuilder::layer`, is tower layers on every transport.)
# What an HTTP server may use, but only a client of the authorization server (auth-remote) needs.
HTTP_CLIENT=(reqwest rustls tokio-rustls webpki-roots rustls-webpki hyper-rustls)

passed=0
failed=0

# expect_absent FEATURES CRATE...: no CRATE is a normal dependency of `mcp` built with only FEATURES.
expect_absent() {
  local features=$1 tree found=()
  shift
  if ! tree=$(cargo tree -p mcp-rs --no-default-features --features "$features" -e normal \
    --prefix none --format '{p}' 2>&1); then
    echo "FAIL mcp[$features]: cargo tree failed:"
    echo "$tree" | tail -n 20 | sed 's/^/    /'
    failed=$((failed + 1))
    return
  fi
  local names
  names=$(echo "$tree" | awk '{print $1}' | sort -u)
  for c in "$@"; do
    if grep -qx -- "$c" <<<"$names"; then found+=("$c"); fi
  done
  if ((${#found[@]})); then
    echo "FAIL mcp[$features] pulls ${found[*]}; why:"
    for c in "${found[@]}"; do
      cargo tree -p mcp-rs --no-default-features --features "$features" -e normal -i "$c" 2>/dev/null |
        head -n 12 | sed 's/^/    /'
    done
    failed=$((failed + 1))
  else
    echo "ok   mcp[$features]: none of ${*}"
    passed=$((passed + 1))
  fi
}

# expect_present FEATURES CRATE: the feature set does pull CRATE (so an absence above is not a vacuous pass,
# e.g. from a misspelt name or a changed output format).
expect_present() {
  local features=$1 crate=$2 names
  # The tree is read whole before grep: `grep -q` stops at the first match, and under pipefail the
  # SIGPIPE that gives a still-writing `cargo tree` would fail the check at random.
  names=$(cargo tree -p mcp-rs --no-default-features --features "$features" -e normal --prefix none \
    --format '{p}' 2>/dev/null | awk '{print $1}')
  if grep -qx -- "$crate" <<<"$names"; then
    echo "ok   mcp[$features]: pulls $crate"
    passed=$((passed + 1))
  else
    echo "FAIL mcp[$features]: expected $crate in the tree"
    failed=$((failed + 1))
  fi
}

# stdio takes tokio `net` (mio) for non-blocking pipes, but nothing of HTTP or TLS.
expect_absent server,stdio,macros "${NETWORK[@]}"
expect_present server,stdio mio
expect_absent client "${NETWORK[@]}" mio
expect_absent server,http,auth "${HTTP_CLIENT[@]}"
expect_present server,http,auth hyper
expect_present server,http,auth jsonwebtoken
expect_present server,auth-remote reqwest
expect_present client,http rustls
expect_present client,child-process mio

echo "deps: $passed passed, $failed failed"
((failed == 0))
