#!/usr/bin/env bash
# Run the MCP conformance suite (@modelcontextprotocol/conformance, Node 22)
# against the built conformance binaries, print one summary line per suite,
# and keep full logs under target/ci-logs/.
#
# Suites (ids as used by CONFORMANCE_GATE):
#   server-2025-11-25  server --requirements 2025-11-25
#   server-2026-07-28  server --requirements 2026-07-28
#   server-pending     server --suite pending (every scenario must pass)
#   server-all         server --suite all (every scenario of every era and extension, at the tool's
#                      default version per scenario; every one must pass)
#   client-2025-11-25  client --requirements 2025-11-25 (18 scored, incl. 14 auth/*; see CONFORMANCE_CLIENT)
#   client-2026-07-28  client --requirements 2026-07-28 (32 scored, incl. 25 auth/*)
#   client-backcompat  client --suite backcompat (the two 2025-03-26 auth scenarios)
#   client-extensions  client --suite extensions (the six auth extensions: client credentials, DPoP, ...)
#   client-skills      the four sep-2640-client-* scenarios (skills extension, host side), one by one
#   client-all         client --suite all (every client scenario, auth and extensions included)
#
# Environment:
#   CONFORMANCE_SERVER_BIN  default target/release/conformance-server (started as PORT=0 BIN, it names its port in a
#                           "listening on http://HOST:PORT" line; with CONFORMANCE_PORT as PORT=<port> BIN;
#                           must serve http://localhost:<port>/mcp)
#   CONFORMANCE_CLIENT_BIN  default target/release/conformance-client (the harness appends the URL)
#   CONFORMANCE_PORT        default: the free port the server picks itself (port 0)
#   CONFORMANCE_SERVER      all (default) | none      - run the server suites?
#   CONFORMANCE_CLIENT      all (default) | nonauth | none
#       all:     client --requirements V (includes the auth/* scenarios), then the backcompat and
#                extensions suites
#       nonauth: the non-auth scenarios one by one (--scenario X --spec-version V); lists
#                overridable with CONFORMANCE_CLIENT_SCENARIOS_2025 / _2026 (space-separated)
#   CONFORMANCE_GATE        suites that must pass for exit 0, space/comma separated;
#                           default: every suite that ran; "none" gates nothing
#                           (listed but passing). Default: report them only.
#   CONFORMANCE_TIMEOUT_MS  per-scenario timeout passed to the tool (default 30000)
#   CI_SUMMARY              if set, summary lines are appended to this file too
#   MCP_PEERS_ENV           env.sh from .ci/install-peers.sh (default target/peers/env.sh);
#                           sourced when NODE22/CONFORMANCE are not already set
#
# Summary line format: "conformance <side> <suite>: N passed, M failed (...details...)"
# where N/M count scored scenarios (a scenario fails on any FAILURE check; client
# scenarios also fail on WARNING, as the tool does).
set -uo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$REPO/.ci/listen.sh"
cd "$REPO" || exit 2
if [[ -z "${NODE22:-}" || -z "${CONFORMANCE:-}" ]]; then
  ENV_SH="${MCP_PEERS_ENV:-$REPO/target/peers/env.sh}"
  [[ -f "$ENV_SH" ]] || { echo "conformance.sh: $ENV_SH missing; run .ci/install-peers.sh" >&2; exit 2; }
  # shellcheck disable=SC1090
  source "$ENV_SH"
fi
SERVER_BIN="${CONFORMANCE_SERVER_BIN:-$REPO/target/release/conformance-server}"
CLIENT_BIN="${CONFORMANCE_CLIENT_BIN:-$REPO/target/release/conformance-client}"
CLIENT_MODE="${CONFORMANCE_CLIENT:-all}"
SERVER_MODE="${CONFORMANCE_SERVER:-all}"
TIMEOUT_MS="${CONFORMANCE_TIMEOUT_MS:-30000}"
LOGS="$REPO/target/ci-logs"
SCEN_2025="${CONFORMANCE_CLIENT_SCENARIOS_2025:-initialize tools_call elicitation-sep1034-client-defaults sse-retry json-schema-2020-12-preservation}"
SCEN_SKILLS="sep-2640-client-no-prefetch sep-2640-client-verify-digest sep-2640-client-verify-size sep-2640-client-verify-frontmatter"
SCEN_2026="${CONFORMANCE_CLIENT_SCENARIOS_2026:-tools_call request-metadata sep-2322-client-request-state http-standard-headers http-custom-headers http-invalid-tool-headers json-schema-ref-no-deref json-schema-2020-12-preservation}"
mkdir -p "$LOGS"
rm -rf "$LOGS/conformance-results"

conf() { timeout 1800 "$NODE22" "$CONFORMANCE" "$@"; }

RAN=()     # suite ids that ran
FAILED=()  # suite ids that failed
summary() { # suite-id verdict(0/1) line
  RAN+=("$1")
  [[ "$2" == 0 ]] || FAILED+=("$1")
  echo "$3"
  [[ -z "${CI_SUMMARY:-}" ]] || echo "$3" >>"$CI_SUMMARY"
}

# parse <log> <label> [single]: print "N passed, M failed (details)" from the tool's output.
parse() {
  python3 - "$@" <<'PY'
import re, sys
path, label = sys.argv[1], sys.argv[2]
text = re.sub(r"\x1b\[[0-9;]*m", "", open(path, encoding="utf-8", errors="replace").read())
lines = text.splitlines()
scen, section, total = {}, None, None
not_scored, expected, stale, unexpected = set(), [], [], []
for ln in lines:
    s = ln.strip()
    if s in ("=== SUMMARY ===", "=== SUITE SUMMARY ==="):
        section = "summary"; continue
    if s.startswith("Total:"):
        total = s[len("Total:"):].strip(); section = None; continue
    if s.startswith("Not scored for"):
        section = "notscored"; continue
    if s.startswith("Expected failures (in baseline)"):
        section = "expected"; continue
    if s.startswith("Stale baseline entries"):
        section = "stale"; continue
    if s.startswith("Unexpected failures (not in baseline)"):
        section = "unexpected"; continue
    m = re.match(r"^([✓✗]) (\S+): (\d+) passed, (\d+) failed(?:, (\d+) warnings)?$", s)
    if section == "summary" and m:
        scen[m.group(2)] = m.group(1) == "✓"; continue
    m = re.match(r"^[✓✗~] (\S+)(?: \(.*\))?$", s)
    if m and section == "notscored": not_scored.add(m.group(1)); continue
    if m and section == "expected": expected.append(m.group(1)); continue
    if m and section == "stale": stale.append(m.group(1)); continue
    if m and section == "unexpected": unexpected.append(m.group(1)); continue
scored = {k: v for k, v in scen.items() if k not in not_scored}
p = sum(1 for v in scored.values() if v); f = len(scored) - p
det = []
if not scen: det.append("no summary in output")
if total: det.append(f"checks: {total}")
if not_scored: det.append(f"{len(not_scored)} not scored")
if expected: det.append(f"{len(expected)} expected failures")
if stale: det.append(f"{len(stale)} stale baseline: {' '.join(stale)}")
if unexpected: det.append(f"unexpected: {' '.join(unexpected)}")
failing = [k for k, v in scored.items() if not v]
if failing and not unexpected: det.append("failing: " + " ".join(failing[:12]) + (" …" if len(failing) > 12 else ""))
if expected or stale or unexpected:
    # Baseline mode: report against the baseline.
    p, f = len(scored) - len(unexpected) - len(expected), len(unexpected)
print(f"{p} passed, {f} failed ({'; '.join(det)})")
PY
}

# ---------------------------------------------------------------- server side
run_server_suites() {
  local port pid url log
  log="$LOGS/conformance-server-process.log"
  if [[ ! -x "$SERVER_BIN" ]]; then
    for s in 2025-11-25 2026-07-28 pending all; do
      summary "server-$s" 1 "conformance server $s: 0 passed, 0 failed (server binary missing: $SERVER_BIN)"
    done
    return
  fi
  # Port 0 unless told otherwise: the server names the port it got.
  PORT="${CONFORMANCE_PORT:-0}" "$SERVER_BIN" >"$log" 2>&1 &
  pid=$!
  SERVER_PID=$pid
  if [[ -n ${CONFORMANCE_PORT:-} ]]; then
    wait_port "$CONFORMANCE_PORT" "$pid" && port=$CONFORMANCE_PORT
  else
    port="$(listened_port "$log" "$pid")"
  fi
  if [[ -z ${port:-} ]]; then
    for s in 2025-11-25 2026-07-28 pending all; do
      summary "server-$s" 1 "conformance server $s: 0 passed, 0 failed (server did not listen; see $log)"
    done
    kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; SERVER_PID=
    return
  fi
  url="http://localhost:$port/mcp"

  local rev out rc line
  for rev in 2025-11-25 2026-07-28; do
    out="$LOGS/conformance-server-$rev.log"
    conf server --url "$url" --requirements "$rev" --timeout "$TIMEOUT_MS" \
      -o "$LOGS/conformance-results/server-$rev" >"$out" 2>&1
    rc=$?
    line="$(parse "$out" "server $rev")"
    summary "server-$rev" "$rc" "conformance server $rev: ${line%)}; exit $rc)"
  done

  # Every scenario of the pending suite is expected to pass (the tasks extension landed; nothing is baselined).
  out="$LOGS/conformance-server-pending.log"
  conf server --url "$url" --suite pending --timeout "$TIMEOUT_MS" \
    -o "$LOGS/conformance-results/server-pending" >"$out" 2>&1
  rc=$?
  line="$(parse "$out" "server pending")"
  local verdict=$rc
  grep -q 'no summary in output' <<<"$line" && verdict=1
  summary "server-pending" "$verdict" "conformance server pending: ${line%)}; exit $rc)"

  # The whole catalogue in one run, as the issue tracker's "done" asks: every scenario must pass.
  out="$LOGS/conformance-server-all.log"
  conf server --url "$url" --suite all --timeout "$TIMEOUT_MS" \
    -o "$LOGS/conformance-results/server-all" >"$out" 2>&1
  rc=$?
  line="$(parse "$out" "server all")"
  verdict=$rc
  grep -q 'no summary in output' <<<"$line" && verdict=1
  summary "server-all" "$verdict" "conformance server all: ${line%)}; exit $rc)"

  kill "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  SERVER_PID=
}

# ---------------------------------------------------------------- client side
run_client_suite() { # rev "scenarios..."
  local rev=$1 scenarios=$2 out rc line
  if [[ ! -x "$CLIENT_BIN" ]]; then
    summary "client-$rev" 1 "conformance client $rev: 0 passed, 0 failed (client binary missing: $CLIENT_BIN)"
    return
  fi
  if [[ "$CLIENT_MODE" == all ]]; then
    out="$LOGS/conformance-client-$rev.log"
    conf client --command "$CLIENT_BIN" --requirements "$rev" --timeout "$TIMEOUT_MS" \
      -o "$LOGS/conformance-results/client-$rev" >"$out" 2>&1
    rc=$?
    line="$(parse "$out" "client $rev")"
    summary "client-$rev" "$rc" "conformance client $rev: ${line%)}; exit $rc)"
    return
  fi
  # nonauth: one scenario at a time (no flag restricts --requirements to non-auth).
  run_client_scenarios "client-$rev" "$rev" "$scenarios" "nonauth; "
}

# One scenario at a time, with --spec-version when `rev` is set (else at the suite's default for the
# scenario), summed into one line for `id`.
run_client_scenarios() { # id rev scenarios detail-prefix
  local id=$1 rev=$2 scenarios=$3 prefix=$4 sc p=0 f=0 failing=() safe out rc
  local spec=()
  [[ -n "$rev" ]] && spec=(--spec-version "$rev")
  out="$LOGS/conformance-$id.log"
  : >"$out"
  for sc in $scenarios; do
    safe="${sc//\//_}"
    {
      echo "################ scenario $sc (spec ${rev:-default})"
      conf client --command "$CLIENT_BIN" --scenario "$sc" "${spec[@]}" --timeout "$TIMEOUT_MS" \
        -o "$LOGS/conformance-results/$id/$safe" 2>&1
      echo "################ exit $?"
    } >>"$out"
    rc="$(tail -n 1 "$out" | awk '{print $3}')"
    if [[ "$rc" == 0 ]]; then
      p=$((p + 1))
    else
      f=$((f + 1)); failing+=("$sc")
    fi
  done
  local checks
  checks="$(sed 's/\x1b\[[0-9;]*m//g' "$out" | awk '
    /^Passed: [0-9]+\/[0-9]+, [0-9]+ failed, [0-9]+ warnings/ {
      split($2, a, "/"); ok += a[1]; fl += $3; w += $5 }
    END { printf "%d passed, %d failed, %d warnings", ok, fl, w }')"
  local det="${prefix}checks: $checks"
  ((${#failing[@]})) && det+="; failing: ${failing[*]}"
  summary "$id" $((f > 0)) "conformance ${id/-/ }: $p passed, $f failed ($det)"
}

run_client_named_suite() { # suite
  local suite=$1 out rc line
  out="$LOGS/conformance-client-$suite.log"
  conf client --command "$CLIENT_BIN" --suite "$suite" --timeout "$TIMEOUT_MS" \
    -o "$LOGS/conformance-results/client-$suite" >"$out" 2>&1
  rc=$?
  line="$(parse "$out" "client $suite")"
  summary "client-$suite" "$rc" "conformance client $suite: ${line%)}; exit $rc)"
}

SERVER_PID=
trap '[[ -n "${SERVER_PID:-}" ]] && kill "$SERVER_PID" 2>/dev/null' EXIT

start=$(date +%s)
[[ "$SERVER_MODE" == none ]] || run_server_suites
case "$CLIENT_MODE" in
  none) ;;
  nonauth | all)
    run_client_suite 2025-11-25 "$SCEN_2025"
    run_client_suite 2026-07-28 "$SCEN_2026"
    if [[ "$CLIENT_MODE" == all ]]; then
      run_client_named_suite backcompat
      run_client_named_suite extensions
      # The skills extension's host scenarios are only in `--suite all`: run them by name.
      run_client_scenarios client-skills "" "$SCEN_SKILLS" ""
      run_client_named_suite all
    fi
    ;;
  *) echo "conformance.sh: CONFORMANCE_CLIENT must be nonauth|all|none" >&2; exit 2 ;;
esac

# ---------------------------------------------------------------- verdict
GATE="${CONFORMANCE_GATE-}"
if [[ -z "${CONFORMANCE_GATE+x}" ]]; then GATE="${RAN[*]:-}"; fi
[[ "$GATE" == none ]] && GATE=""
GATE="${GATE//,/ }"
bad=()
for s in "${FAILED[@]:-}"; do
  [[ -n "$s" ]] || continue
  for g in $GATE; do [[ "$g" == "$s" ]] && bad+=("$s"); done
done
echo "conformance: $(( $(date +%s) - start ))s; logs in ${LOGS#"$REPO"/}/conformance-*.log; gated: ${GATE:-nothing}"
if ((${#bad[@]})); then
  echo "conformance: FAILED gated suites: ${bad[*]}" >&2
  exit 1
fi
exit 0
