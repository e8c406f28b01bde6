#!/usr/bin/env bash
# The WASM client test: mcp-client built for wasm32-unknown-unknown, run under Node by wasm-bindgen-test-runner,
# against the native conformance server on 127.0.0.1 (crates/mcp-wasm-test/tests/node.rs).
#
#   1. installs what it needs: the wasm32-unknown-unknown target (rustup), and wasm-bindgen-cli at the version of
#      the wasm-bindgen crate in Cargo.lock (cargo install, skipped when that version is already installed);
#   2. builds and starts target/release/conformance-server on a free loopback port (port 0, read back);
#   3. runs `cargo test -p mcp-wasm-test --target wasm32-unknown-unknown` with the server's URL compiled in;
#   4. prints one line: `wasm: N passed, M failed`; exits non-zero when anything failed.
#
# Node: $NODE22 (from .ci/install-peers.sh's env.sh, sourced by .ci/run) when set, else `node` on PATH (>= 20).
# Logs: target/ci-logs/wasm*.log.
set -uo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$REPO/.ci/listen.sh"
cd "$REPO"
LOGS="$REPO/target/ci-logs"
mkdir -p "$LOGS"
LOG="$LOGS/wasm.log"
: >"$LOG"
export CARGO_TERM_COLOR=never
SERVER_PID=

fail() {
  echo "wasm: $*" >&2
  echo "wasm: 0 passed, 1 failed"
  exit 1
}
cleanup() { if [[ -n $SERVER_PID ]]; then kill "$SERVER_PID" 2>/dev/null; wait "$SERVER_PID" 2>/dev/null; fi; }
trap cleanup EXIT

# ---------------------------------------------------------------- 1. toolchain
if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
  rustup target add wasm32-unknown-unknown >>"$LOG" 2>&1 || fail "rustup target add wasm32-unknown-unknown failed (see $LOG)"
fi
WB_VERSION="$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/[^0-9.]/, ""); print; exit }' Cargo.lock)"
[[ -n $WB_VERSION ]] || fail "no wasm-bindgen in Cargo.lock"
CARGO_BIN="${CARGO_HOME:-$HOME/.cargo}/bin"
export PATH="$CARGO_BIN:$PATH"
installed="$(wasm-bindgen-test-runner --version 2>/dev/null | awk '{print $2}')"
if [[ $installed != "$WB_VERSION" ]]; then
  echo "wasm: installing wasm-bindgen-cli $WB_VERSION (have: ${installed:-none})" >>"$LOG"
  # --locked first (the versions the CLI was released with); without it when the registry no longer serves one
  # of them (a yanked crate), letting cargo pick the newest compatible ones.
  cargo install --locked --force wasm-bindgen-cli --version "$WB_VERSION" >>"$LOG" 2>&1 ||
    cargo install --force wasm-bindgen-cli --version "$WB_VERSION" >>"$LOG" 2>&1 ||
    fail "cargo install wasm-bindgen-cli $WB_VERSION failed (see $LOG)"
fi
if [[ -n ${NODE22:-} && -x ${NODE22:-} ]]; then
  export PATH="$(dirname "$NODE22"):$PATH"
fi
command -v node >/dev/null 2>&1 || fail "node is not on PATH"
echo "wasm: node $(node --version), wasm-bindgen-test-runner $WB_VERSION" >>"$LOG"

# ---------------------------------------------------------------- 2. server
cargo build --release -p mcp-conformance --bin conformance-server >>"$LOG" 2>&1 ||
  fail "building conformance-server failed (see $LOG)"
PORT=0 target/release/conformance-server >"$LOGS/wasm-server.log" 2>&1 &
SERVER_PID=$!
port="$(listened_port "$LOGS/wasm-server.log" "$SERVER_PID")" ||
  fail "conformance-server did not listen (see $LOGS/wasm-server.log)"

# ---------------------------------------------------------------- 3. tests
# The URL is compiled into the test (wasm has no environment at run time); cargo rebuilds when it changes.
export MCP_WASM_SERVER_URL="http://127.0.0.1:$port/mcp"
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner
export WASM_BINDGEN_TEST_TIMEOUT="${WASM_BINDGEN_TEST_TIMEOUT:-120}"
cargo test --release -p mcp-wasm-test --target wasm32-unknown-unknown >"$LOGS/wasm-test.log" 2>&1
rc=$?
cat "$LOGS/wasm-test.log" >>"$LOG"
read -r passed failed < <(awk '/^test result:/ { for (i = 1; i <= NF; i++) {
    if ($(i + 1) ~ /^passed;?$/) p += $i; if ($(i + 1) ~ /^failed;?$/) f += $i } }
  END { print p + 0, f + 0 }' "$LOGS/wasm-test.log")
if [[ $rc != 0 && $failed == 0 ]]; then
  tail -n 40 "$LOGS/wasm-test.log" >&2
  fail "cargo test failed before running the tests (see $LOGS/wasm-test.log)"
fi
if [[ $passed == 0 && $failed == 0 ]]; then
  fail "no test ran (see $LOGS/wasm-test.log)"
fi
[[ $rc == 0 ]] || tail -n 40 "$LOGS/wasm-test.log" >&2
echo "wasm: $passed passed, $failed failed"
exit "$rc"
