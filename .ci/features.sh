#!/usr/bin/env bash
# Checks that mcp-rs, mcp-rs-server and mcp-rs-client (the packages of the mcp, mcp_server and mcp_client
# crates) compile, without a warning, with no features, with each
# feature on its own, and with the default set (what `cargo hack check --each-feature` does, with the
# feature lists read from `cargo metadata` so nothing needs installing), then runs .ci/check-deps.sh (a
# stdio-only server pulls no HTTP or TLS crate).
#
# `cargo check` of the libraries only: tests and examples need the default features. Dev-dependencies
# cannot hide a missing feature: with resolver 2 they are not unified into a library check.
# Builds in target/features (its own RUSTFLAGS would otherwise invalidate target/debug); a warm run takes
# seconds per combination, a cold one a few minutes in all on 2 cores.
#
# Prints one line per combination and a last line `features: N passed, M failed`; exits 1 if any failed.
# Knobs: FEATURES_PACKAGES (default "mcp-rs mcp-rs-server mcp-rs-client"), FEATURES_TARGET_DIR.
set -uo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
export CARGO_TARGET_DIR="${FEATURES_TARGET_DIR:-$REPO/target/features}"
export RUSTFLAGS="${RUSTFLAGS:-} -D warnings"
export CARGO_TERM_COLOR=never
PACKAGES=(${FEATURES_PACKAGES:-mcp-rs mcp-rs-server mcp-rs-client})
LOG="$CARGO_TARGET_DIR/features.log"
mkdir -p "$CARGO_TARGET_DIR"
: >"$LOG"
T0=$(date +%s)
passed=0
failed=0

# check LABEL CARGO-ARGS...: one `cargo check`, counted; its output goes to the log, and is shown on failure.
check() {
  local label=$1 out t
  shift
  t=$(date +%s)
  if out=$(cargo check --quiet "$@" 2>&1); then
    echo "ok   $label ($(($(date +%s) - t))s)"
    passed=$((passed + 1))
  else
    echo "FAIL $label: cargo check $*"
    echo "$out" | grep -E '^(error|warning)|-->' | head -n 40 | sed 's/^/    /'
    failed=$((failed + 1))
  fi
  printf '==== %s\n%s\n' "$label" "$out" >>"$LOG"
}

metadata=$(cargo metadata --no-deps --format-version 1) || {
  echo "cargo metadata failed"
  echo "features: 0 passed, 1 failed"
  exit 1
}

for pkg in "${PACKAGES[@]}"; do
  features=$(python3 -c '
import json, sys
pkg = sys.argv[1]
meta = json.load(sys.stdin)
found = [p for p in meta["packages"] if p["name"] == pkg]
if not found:
    sys.exit(f"no package {pkg}")
print(" ".join(sorted(f for f in found[0]["features"] if f != "default")))
' "$pkg" <<<"$metadata") || {
    echo "FAIL $pkg: cannot list its features"
    failed=$((failed + 1))
    continue
  }
  check "$pkg (no features)" -p "$pkg" --no-default-features
  for f in $features; do
    check "$pkg +$f" -p "$pkg" --no-default-features --features "$f"
  done
  check "$pkg (default)" -p "$pkg"
done

# The dependency assertions count as one check each.
deps_out=$("$REPO/.ci/check-deps.sh" 2>&1)
echo "$deps_out" | grep -v '^deps: '
deps_line=$(grep -E '^deps: [0-9]+ passed, [0-9]+ failed$' <<<"$deps_out" | tail -n 1)
if [[ $deps_line =~ ^deps:\ ([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
  passed=$((passed + BASH_REMATCH[1]))
  failed=$((failed + BASH_REMATCH[2]))
else
  echo "FAIL check-deps.sh printed no summary"
  failed=$((failed + 1))
fi

echo "(feature checks took $(($(date +%s) - T0))s; log: $LOG)"
echo "features: $passed passed, $failed failed"
((failed == 0))
