#!/usr/bin/env bash
# MCP Apps (io.modelcontextprotocol/ui): check the app fixture of conformance-server, over stdio on both
# eras, with peers/apps-validator.mjs, which judges the server by what @modelcontextprotocol/ext-apps
# ships for hosts (its zod schemas, host helpers and constants; the package has no validator program).
# The package is pinned in .ci/install-peers.sh. Prints one summary line:
#   apps-validator: P/T checks passed (legacy p/t, modern p/t; ext-apps X.Y.Z)
# and exits non-zero when any check failed.
#
#   APPS_SERVER_BIN   default target/release/conformance-server (run with --stdio)
#   MCP_PEERS_ENV     env.sh from .ci/install-peers.sh (default target/peers/env.sh), sourced when NODE22
#                     or PEERS_NODE_MODULES is not set
set -uo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO" || exit 2
if [[ -z "${NODE22:-}" || -z "${PEERS_NODE_MODULES:-}" ]]; then
  ENV_SH="${MCP_PEERS_ENV:-$REPO/target/peers/env.sh}"
  [[ -f "$ENV_SH" ]] || { echo "apps-validator: FAILED ($ENV_SH missing; run .ci/install-peers.sh)"; exit 1; }
  # shellcheck disable=SC1090
  source "$ENV_SH"
fi
BIN="${APPS_SERVER_BIN:-$REPO/target/release/conformance-server}"
PKG="$PEERS_NODE_MODULES/@modelcontextprotocol/ext-apps/package.json"
[[ -f "$PKG" ]] || { echo "apps-validator: FAILED (@modelcontextprotocol/ext-apps not installed; run .ci/install-peers.sh)"; exit 1; }
[[ -x "$BIN" ]] || { echo "apps-validator: FAILED ($BIN not built)"; exit 1; }
version="$("$NODE22" -p "require('$PKG').version")"

passed=0 total=0 rc=0 detail=()
for era in legacy modern; do
  out="$(PEERS_NODE_MODULES="$PEERS_NODE_MODULES" timeout 120 "$NODE22" "$REPO/peers/apps-validator.mjs" \
    --stdio "$BIN --stdio" --era "$era" 2>&1)" || rc=1
  echo "$out"
  line="$(grep -E "^apps-validator $era: [0-9]+/[0-9]+$" <<<"$out" | tail -n 1)"
  if [[ -z "$line" ]]; then
    rc=1 detail+=("$era: no result")
    continue
  fi
  pt="${line##*: }"
  passed=$((passed + ${pt%/*})) total=$((total + ${pt#*/}))
  detail+=("$era $pt")
done
summary="apps-validator: $passed/$total checks passed ($(IFS=,; echo "${detail[*]}" | sed 's/,/, /g'); ext-apps $version)"
if [[ $rc != 0 || $total == 0 || $passed != "$total" ]]; then
  echo "$summary; FAILED"
  exit 1
fi
echo "$summary"
