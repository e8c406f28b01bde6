#!/usr/bin/env bash
# The workspace's tests in the debug profile, beside the release run of .ci/run: debug builds check integer
# overflow and `debug_assert!`s, and run slower, which shows tests that only pass by winning a race.
#
# Prints one summary line, `tests-debug: N passed, M failed (Ts)` (unit and integration tests), which
# .ci/run notes in its summary (stage `tests-debug`). Full cargo output: target/ci-logs/tests-debug-cargo.log.
# Exits non-zero when a test fails or the build does.
#
# Tests with time or throughput bounds know the profile (`cfg!(debug_assertions)`): a debug build is several
# times slower, and a bound tuned for release would fail here without a bug.
set -uo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
LOGS="$REPO/target/ci-logs"
mkdir -p "$LOGS"
LOG="$LOGS/tests-debug-cargo.log"
export CARGO_TERM_COLOR=never

# What runs, for the CI budget (2 cores, 90 min for every stage; this one is a cold debug build):
# - every library's unit tests and every integration test: the code overflow checks are for;
# - not mcp-bench (a load tool; its debug build pulls rmcp in) nor mcp-wasm-test (no native tests);
# - not doc-tests (each is its own debug build, ~2 min here, and the release stage runs them all);
# - not the macro UI test (trybuild always builds in the dev profile, so the release stage already ran it).
t0=$(date +%s)
cargo test --workspace --exclude mcp-bench --exclude mcp-wasm-test --lib --bins --tests --no-fail-fast \
  -- --skip macros_compile_through_the_facade_and_fail_readably >"$LOG" 2>&1
rc=$?
secs=$(( $(date +%s) - t0 ))

# Sum every "test result: ok. N passed; M failed; ..." line.
read -r passed failed < <(awk '/^test result:/ { for (i = 1; i <= NF; i++) {
    if ($(i + 1) ~ /^passed;?$/) p += $i; if ($(i + 1) ~ /^failed;?$/) f += $i } }
  END { print p + 0, f + 0 }' "$LOG")

if ! grep -q '^test result:' "$LOG"; then
  line="tests-debug: FAILED before running (build error?); see $LOG (${secs}s)"
  rc=1
elif ((rc != 0 || failed != 0)); then
  line="tests-debug: $passed passed, $failed failed; FAILED (${secs}s)"
  grep -E '^test .* FAILED$|panicked at' "$LOG" | head -n 40 | sed 's/^/    /'
  rc=1
else
  line="tests-debug: $passed passed, $failed failed (${secs}s)"
fi
echo "$line"
exit "$rc"
