#!/usr/bin/env bash
# Runs every example of the `mcp` crate (crates/mcp/examples/*.rs) in release mode. Each example checks
# what it shows and exits 0 by itself (servers on 127.0.0.1:0 in-process, stdio ones as child processes).
# Prints one line per example and the summary `examples: N passed, M failed`; exits non-zero if any failed.
# Knobs: EXAMPLE_TIMEOUT seconds per example run (default 120); logs in target/ci-logs/examples/.
set -uo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
LOGS="$REPO/target/ci-logs/examples"
mkdir -p "$LOGS"
TIMEOUT="${EXAMPLE_TIMEOUT:-120}"

examples=()
for f in crates/mcp/examples/*.rs; do
    examples+=("$(basename "$f" .rs)")
done

# One build for all, so a run's time is the example's own.
if ! cargo build --release -p mcp-rs --examples >"$LOGS/build.log" 2>&1; then
    tail -n 30 "$LOGS/build.log"
    echo "examples: 0 passed, ${#examples[@]} failed"
    exit 1
fi

passed=0
failed=0
for name in "${examples[@]}"; do
    start=$(date +%s)
    if timeout --kill-after=10 "$TIMEOUT" cargo run -q --release -p mcp-rs --example "$name" \
        </dev/null >"$LOGS/$name.log" 2>&1; then
        passed=$((passed + 1))
        echo "example $name: ok ($(( $(date +%s) - start ))s)"
    else
        rc=$?
        failed=$((failed + 1))
        echo "example $name: FAILED (exit $rc, $(( $(date +%s) - start ))s); last lines:"
        tail -n 20 "$LOGS/$name.log" | sed 's/^/    /'
    fi
done

# The README's quick start: the `mcp` command listing and calling the example stdio server's tools.
tools=""
start=$(date +%s)
# `mcp` as the test stage built it (building it alone would unify other features and rebuild it).
MCP="$REPO/target/release/mcp" SERVER="$REPO/target/release/examples/stdio_server"
if { [ -x "$MCP" ] || cargo build -q --release -p mcp-cli --bin mcp >"$LOGS/readme-mcp.log" 2>&1; } &&
    tools="$(timeout 60 "$MCP" tools -- "$SERVER" --stdio 2>>"$LOGS/readme-mcp.log")" &&
    grep -q 'upper' <<<"$tools" && grep -q 'word-count' <<<"$tools" &&
    [ "$(timeout 60 "$MCP" call upper text=hello -- "$SERVER" --stdio 2>>"$LOGS/readme-mcp.log")" = HELLO ]; then
    passed=$((passed + 1))
    echo "example readme-mcp-tools (mcp tools/call -- stdio_server --stdio): ok ($(( $(date +%s) - start ))s)"
else
    failed=$((failed + 1))
    echo "example readme-mcp-tools: FAILED; last lines:"
    { echo "$tools"; tail -n 20 "$LOGS/readme-mcp.log"; } | sed 's/^/    /'
fi

echo "examples: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
