#!/usr/bin/env bash
# Runs the official RealWorld (Conduit) Postman suite, unmodified, with newman (pinned in
# tools/realworld/package-lock.json) against a TechHub server this script starts on a free
# port over fresh databases, and fails unless every request and assertion passed.
#
#   scripts/realworld.sh [--folder NAME] [--runs N]
#
# --folder runs one section of the suite (e.g. Auth); --runs N runs it N times against the
# same databases (the suite must also pass on a database it has already filled).
# Expects the stores to be up (scripts/stores.sh up) and target/debug/techhub built.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
. scripts/stores.sh
. scripts/web.sh

FOLDER=""
RUNS=1
while [ $# -gt 0 ]; do
  case "$1" in
    --folder) FOLDER="$2"; shift 2 ;;
    --runs) RUNS="$2"; shift 2 ;;
    *) echo "usage: $0 [--folder NAME] [--runs N]" >&2; exit 2 ;;
  esac
done

say() { printf '[realworld] %s\n' "$*" >&2; }
COLLECTION="${TECHHUB_REALWORLD_COLLECTION:-$ROOT/../shared/realworld/Conduit.postman_collection.json}"
[ -f "$COLLECTION" ] || { say "error: no suite at $COLLECTION"; exit 1; }

RUNNER="$ROOT/tools/realworld"
npm_deps "$RUNNER"

# Fresh databases, named so the test harness sweeps them if this run is interrupted.
NAME="techhub_test_$(date +%s)_realworld"
WORK="$(mktemp -d)"
SERVER_PID=""
cleanup() {
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
  drop_databases "$NAME"
  rm -rf "$WORK"
}
trap cleanup EXIT
create_databases "$NAME"

use_databases "$NAME"
export TECHHUB_DATA_DIR="$WORK/data"
export RUST_LOG="${RUST_LOG:-info,tower_http=warn}"

serve_on_free_port target/debug/techhub "$WORK/server.log"
say "TechHub on http://127.0.0.1:$PORT over databases $NAME"

TOTAL_PASSED=0
TOTAL_FAILED=0
for run in $(seq 1 "$RUNS"); do
  U="rw$(date +%s%N | tail -c 9)r$run"
  ARGS=(run "$COLLECTION" --delay-request 1 --color off --reporters cli,json
        --reporter-json-export "$WORK/report-$run.json"
        --global-var "APIURL=http://127.0.0.1:$PORT/api"
        --global-var "USERNAME=$U" --global-var "EMAIL=$U@mail.com" --global-var "PASSWORD=password")
  [ -n "$FOLDER" ] && ARGS+=(--folder "$FOLDER")
  say "run $run of $RUNS${FOLDER:+ (folder $FOLDER)}"
  set +e
  "$RUNNER/node_modules/.bin/newman" "${ARGS[@]}" >"$WORK/newman-$run.log" 2>&1
  CODE=$?
  set -e
  # newman exits 0 on some argument errors without running anything: trust only the report.
  if [ ! -f "$WORK/report-$run.json" ]; then
    cat "$WORK/newman-$run.log" >&2
    say "error: newman wrote no report (exit $CODE)"
    exit 1
  fi
  read -r REQ_TOTAL REQ_FAILED AS_TOTAL AS_FAILED < <(node -e '
    const s = require(process.argv[1]).run.stats;
    console.log(s.requests.total, s.requests.failed, s.assertions.total, s.assertions.failed);
  ' "$WORK/report-$run.json")
  say "run $run: requests $((REQ_TOTAL - REQ_FAILED))/$REQ_TOTAL, assertions $((AS_TOTAL - AS_FAILED))/$AS_TOTAL passed"
  if [ "$CODE" != 0 ] || [ "$REQ_FAILED" != 0 ] || [ "$AS_FAILED" != 0 ] || [ "$REQ_TOTAL" = 0 ] || [ "$AS_TOTAL" = 0 ]; then
    grep -E "AssertionError|failure|Error" "$WORK/newman-$run.log" | head -n 40 >&2 || true
    tail -n 40 "$WORK/newman-$run.log" >&2
    TOTAL_FAILED=$((TOTAL_FAILED + AS_FAILED + REQ_FAILED + (CODE != 0 && AS_FAILED == 0 && REQ_FAILED == 0)))
  fi
  TOTAL_PASSED=$((TOTAL_PASSED + AS_TOTAL - AS_FAILED))
done
echo "realworld: $TOTAL_PASSED passed, $TOTAL_FAILED failed"
[ "$TOTAL_FAILED" = 0 ]
