#!/usr/bin/env bash
# The workspace's tests in the debug profile, beside the release run of .ci/run: debug builds check integer
# overflow and `debug_assert!`s, and run slower, which shows tests that only pass by winning a race.
#
# Prints one summary line, `tests (debug): N passed, M failed` (unit, integration and doc tests), also
# appended to $CI_SUMMARY when that is set. Full output: target/ci-logs/tests-debug.log. Exits non-zero
# when a test fails or the build does.
set -uo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
LOGS="$REPO/target/ci-logs"
mkdir -p "$LOGS"
LOG="$LOGS/tests-debug.log"
export CARGO_TERM_COLOR=never

t0=$(date +%s)
cargo test --workspace --no-fail-fast >"$LOG" 2>&1
rc=$?
secs=$(( $(date +%s) - t0 ))

# Sum every "test result: ok. N passed; M failed; ..." line.
read -r passed failed < <(awk '/^test result:/ { for (i = 1; i <= NF; i++) {
    if ($(i + 1) ~ /^passed;?$/) p += $i; if ($(i + 1) ~ /^failed;?$/) f += $i } }
  END { print p + 0, f + 0 }' "$LOG")

if ! grep -q '^test result:' "$LOG"; then
  line="tests (debug): FAILED before running (build error?); see $LOG (${secs}s)"
  rc=1
elif ((rc != 0 || failed != 0)); then
  line="tests (debug): $passed passed, $failed failed; FAILED (${secs}s)"
  grep -E '^test .* FAILED$|panicked at' "$LOG" | head -n 40 | sed 's/^/    /'
  rc=1
else
  line="tests (debug): $passed passed, $failed failed (${secs}s)"
fi
echo "$line"
if [[ -n "${CI_SUMMARY:-}" ]]; then echo "$line" >>"$CI_SUMMARY"; fi
exit "$rc"
