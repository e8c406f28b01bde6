#!/usr/bin/env bash
# The official conformance suite against a fleet: 3 conformance-server nodes sharing one Redis and one
# requestState key, behind fleet-proxy, which sends every HTTP request to the next node in turn (no
# stickiness at all). The fleet must score what one node scores.
#
#   redis-server (own, free port, no persistence)
#        ^            ^            ^
#      node 1       node 2       node 3       conformance-server, MCP_REDIS_URL + MCP_STATE_KEY
#        ^            ^            ^
#        +------ fleet-proxy ------+          round robin, per request
#                     ^
#        conformance server --requirements 2025-11-25 | 2026-07-28
#
# Prints one line per run, e.g. "fleet-conformance 2025-11-25: 30/30 scenarios, 75 checks (...)", and
# exits 1 if any scored scenario failed (or the fleet did not come up). Everything it starts is killed
# by PID on exit. Logs: target/ci-logs/fleet-*.log.
#
# Environment:
#   CONFORMANCE_SERVER_BIN  default target/release/conformance-server
#   FLEET_PROXY_BIN         default target/release/fleet-proxy
#   FLEET_NODES             number of nodes (default 3)
#   FLEET_REQUIREMENTS      revisions to run (default "2025-11-25 2026-07-28")
#   CONFORMANCE_TIMEOUT_MS  per-scenario timeout passed to the tool (default 30000)
#   CI_SUMMARY              if set, summary lines are appended to this file too
#   MCP_PEERS_ENV           env.sh from .ci/install-peers.sh (default target/peers/env.sh); sourced when
#                           NODE22/CONFORMANCE are not already set
set -uo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO" || exit 2
if [[ -z "${NODE22:-}" || -z "${CONFORMANCE:-}" ]]; then
  ENV_SH="${MCP_PEERS_ENV:-$REPO/target/peers/env.sh}"
  [[ -f "$ENV_SH" ]] || { echo "fleet.sh: $ENV_SH missing; run .ci/install-peers.sh" >&2; exit 2; }
  # shellcheck disable=SC1090
  source "$ENV_SH"
fi
SERVER_BIN="${CONFORMANCE_SERVER_BIN:-$REPO/target/release/conformance-server}"
PROXY_BIN="${FLEET_PROXY_BIN:-$REPO/target/release/fleet-proxy}"
NODES="${FLEET_NODES:-3}"
REVS="${FLEET_REQUIREMENTS:-2025-11-25 2026-07-28}"
TIMEOUT_MS="${CONFORMANCE_TIMEOUT_MS:-30000}"
LOGS="$REPO/target/ci-logs"
mkdir -p "$LOGS"
rm -rf "$LOGS/fleet-results"

PIDS=()  # everything this script started, killed on exit (by PID only)
cleanup() {
  local p
  for p in "${PIDS[@]:-}"; do [[ -n "$p" ]] && kill "$p" 2>/dev/null; done
  for p in "${PIDS[@]:-}"; do [[ -n "$p" ]] && wait "$p" 2>/dev/null; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say() {
  echo "$1"
  [[ -z "${CI_SUMMARY:-}" ]] || echo "$1" >>"$CI_SUMMARY"
}
# fail_all REASON: one failing line per run, then exit 1.
fail_all() {
  local rev
  for rev in $REVS; do say "fleet-conformance $rev: 0/0 scenarios, 0 checks (FAILED: $1)"; done
  exit 1
}

source "$REPO/.ci/listen.sh"

command -v redis-server >/dev/null 2>&1 || fail_all "redis-server not installed"
for b in "$SERVER_BIN" "$PROXY_BIN"; do [[ -x "$b" ]] || fail_all "binary missing: $b"; done

# ---------------------------------------------------------------- the fleet
# redis-server cannot take port 0 and name the one it got: a port taken between the pick and the bind is
# retried on another.
for _ in 1 2 3 4 5; do
  REDIS_PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
    >"$LOGS/fleet-redis.log" 2>&1 &
  REDIS_PID=$!
  wait_port "$REDIS_PORT" "$REDIS_PID" && break
  kill "$REDIS_PID" 2>/dev/null; wait "$REDIS_PID" 2>/dev/null; REDIS_PID=
done
[[ -n ${REDIS_PID:-} ]] || fail_all "redis-server did not start (see $LOGS/fleet-redis.log)"
PIDS+=("$REDIS_PID")

# One key for the whole fleet: a 2026-07-28 retry sealed by one node is opened by another.
STATE_KEY="$(python3 -c 'import secrets; print(secrets.token_hex(32))')"
UPSTREAMS=()
for n in $(seq 1 "$NODES"); do
  MCP_REDIS_URL="redis://127.0.0.1:$REDIS_PORT/" MCP_STATE_KEY="$STATE_KEY" PORT=0 \
    "$SERVER_BIN" >"$LOGS/fleet-node-$n.log" 2>&1 &
  PIDS+=($!)
  port="$(listened_port "$LOGS/fleet-node-$n.log" "${PIDS[-1]}")" ||
    fail_all "node $n did not listen (see $LOGS/fleet-node-$n.log)"
  UPSTREAMS+=(--upstream "http://127.0.0.1:$port")
done

# --log: one line per request naming its node, to show below that every node served its share.
"$PROXY_BIN" --port 0 --log "${UPSTREAMS[@]}" >"$LOGS/fleet-proxy.log" 2>&1 &
PIDS+=($!)
PROXY_PORT="$(listened_port "$LOGS/fleet-proxy.log" "${PIDS[-1]}")" ||
  fail_all "fleet-proxy did not listen (see $LOGS/fleet-proxy.log)"

# ---------------------------------------------------------------- the suite, through the proxy
# summarize LOG: "P/T scenarios, K checks (details)" over the scored scenarios of one run.
summarize() {
  python3 - "$1" <<'PY'
import re, sys
text = re.sub(r"\x1b\[[0-9;]*m", "", open(sys.argv[1], encoding="utf-8", errors="replace").read())
scen, section, not_scored = {}, None, set()
for s in (ln.strip() for ln in text.splitlines()):
    if s == "=== SUMMARY ===": section = "summary"; continue
    if s.startswith("Total:"): section = None; continue
    if s.startswith("Not scored for"): section = "notscored"; continue
    m = re.match(r"^([✓✗]) (\S+): (\d+) passed, (\d+) failed", s)
    if section == "summary" and m:
        scen[m.group(2)] = (m.group(1) == "✓", int(m.group(3)), int(m.group(4))); continue
    m = re.match(r"^[✓✗~] (\S+)(?: \(.*\))?$", s)
    if section == "notscored" and m: not_scored.add(m.group(1))
scored = {k: v for k, v in scen.items() if k not in not_scored}
ok = sum(1 for v in scored.values() if v[0])
checks = sum(v[1] + v[2] for v in scored.values())
failed_checks = sum(v[2] for v in scored.values())
det = [f"{failed_checks} failed"]
if not scen: det.append("no summary in output")
if not_scored:
    ns_bad = sorted(k for k in not_scored if not scen.get(k, (False,))[0])
    det.append(f"{len(not_scored)} not scored, {len(not_scored) - len(ns_bad)} of them passing"
               + (" (failing: " + " ".join(ns_bad) + ")" if ns_bad else ""))
failing = sorted(k for k, v in scored.items() if not v[0])
if failing: det.append("failing: " + " ".join(failing))
print(f"{ok}/{len(scored)} scenarios, {checks} checks ({'; '.join(det)})")
PY
}

URL="http://localhost:$PROXY_PORT/mcp"
BAD=0
start=$(date +%s)
for rev in $REVS; do
  out="$LOGS/fleet-conformance-$rev.log"
  timeout 1800 "$NODE22" "$CONFORMANCE" server --url "$URL" --requirements "$rev" --timeout "$TIMEOUT_MS" \
    -o "$LOGS/fleet-results/$rev" >"$out" 2>&1
  rc=$?
  line="$(summarize "$out")"
  # The tool's exit code decides (scored scenarios only); a run with no summary fails too.
  if [[ $rc != 0 ]] || grep -q 'no summary in output' <<<"$line"; then BAD=1; fi
  say "fleet-conformance $rev: ${line%)}; exit $rc)"
done

# Every node must still be up: a node that crashed mid-run would have been hidden by the others.
for i in "${!PIDS[@]}"; do
  if ! kill -0 "${PIDS[$i]}" 2>/dev/null; then
    say "fleet-conformance: process ${PIDS[$i]} (#$i) died during the run; see $LOGS/fleet-*.log"
    BAD=1
  fi
done
per_node="$(for n in $(seq 0 $((NODES - 1))); do grep -c -- "-> upstream $n\$" "$LOGS/fleet-proxy.log"; done | paste -sd / -)"
echo "fleet-conformance: $NODES nodes (requests per node: $per_node), $(( $(date +%s) - start ))s; logs in ${LOGS#"$REPO"/}/fleet-*.log"
exit $BAD
