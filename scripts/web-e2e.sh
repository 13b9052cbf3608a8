#!/usr/bin/env bash
# Runs the official RealWorld front-end suite (Playwright, unmodified, from
# ../shared/realworld/e2e), then TechHub's own browser tests (web/e2e), in Debian's Chromium
# against the web app served by a TechHub server this script starts on a free port, over
# fresh databases holding a small seeded community. Fails unless every test that runs passes;
# prints passed/failed/skipped per suite. PLAYWRIGHT ARGS (e.g. --grep) go to the RealWorld
# suite, and TechHub's own tests are then skipped.
#
#   scripts/web-e2e.sh [--mode fullstack] [--suite all|realworld|techhub] [-- PLAYWRIGHT ARGS…]
#
# Expects the stores up (scripts/stores.sh up), target/debug/techhub built (TECHHUB_BIN for
# another binary) and web/dist built (npm run build in web/).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
. scripts/stores.sh

MODE=fullstack
SUITES=all
while [ $# -gt 0 ]; do
  case "$1" in
    --mode) MODE="$2"; shift 2 ;;
    --suite) SUITES="$2"; shift 2 ;;
    --) shift; break ;;
    *) echo "usage: $0 [--mode fullstack] [--suite all|realworld|techhub] [-- PLAYWRIGHT ARGS…]" >&2; exit 2 ;;
  esac
done
say() { printf '[web-e2e] %s\n' "$*" >&2; }
BIN="${TECHHUB_BIN:-target/debug/techhub}"

SUITE="${TECHHUB_REALWORLD_E2E:-$ROOT/../shared/realworld/e2e}"
[ -f "$SUITE/playwright.base.ts" ] || { say "error: no suite at $SUITE"; exit 1; }
[ -x /usr/bin/chromium ] || apt_install chromium
[ -f web/dist/index.html ] || { say "error: web/dist is not built (cd web && npm run build)"; exit 1; }

# The suite, byte for byte, where its imports find web/node_modules.
rm -rf web/e2e-realworld
cp -r "$SUITE" web/e2e-realworld

NAME="techhub_test_$(date +%s)_webe2e"
WORK="$(mktemp -d)"
SERVER_PID=""
cleanup() {
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
  mariadb -h127.0.0.1 -P"$MYSQL_PORT" -utechhub -p"$LOCAL_PASSWORD" -e "DROP DATABASE IF EXISTS \`$NAME\`" 2>/dev/null || true
  PGPASSWORD="$LOCAL_PASSWORD" psql -q -h 127.0.0.1 -p "$PG_PORT" -U techhub -d techhub \
    -c "DROP DATABASE IF EXISTS \"$NAME\" WITH (FORCE)" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
mariadb -h127.0.0.1 -P"$MYSQL_PORT" -utechhub -p"$LOCAL_PASSWORD" \
  -e "CREATE DATABASE \`$NAME\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
PGPASSWORD="$LOCAL_PASSWORD" psql -q -h 127.0.0.1 -p "$PG_PORT" -U techhub -d techhub -c "CREATE DATABASE \"$NAME\""

use_databases "$NAME"
export TECHHUB_DATA_DIR="$WORK/data"
export TECHHUB_BIND="127.0.0.1:0"
export TECHHUB_WEB_DIR="$ROOT/web/dist"
# The suite registers a hundred users and writes hundreds of articles from one address in a
# few minutes: the per-address and per-user limits would refuse it (they are tested elsewhere).
export TECHHUB_RATE_LOGIN_ACCOUNT=off TECHHUB_RATE_LOGIN_IP=off TECHHUB_RATE_REGISTER_IP=off TECHHUB_RATE_WRITES_USER=off
export RUST_LOG="${RUST_LOG:-info,tower_http=warn}"

say "seeding a small community into $NAME"
"$BIN" seed --users 30 --posts 120 --comments 200 --sessions 100 --follows 5 >"$WORK/seed.log" 2>&1 \
  || { cat "$WORK/seed.log" >&2; say "error: seeding failed"; exit 1; }

"$BIN" serve >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
PORT=""
for _ in $(seq 1 300); do
  PORT="$(sed -n 's/.*listening on http:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$WORK/server.log" | head -n 1)"
  [ -n "$PORT" ] && break
  kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/server.log" >&2; say "error: the server exited"; exit 1; }
  sleep 0.1
done
[ -n "$PORT" ] || { cat "$WORK/server.log" >&2; say "error: the server did not start"; exit 1; }
URL="http://127.0.0.1:$PORT"
for _ in $(seq 1 300); do
  COUNT="$(curl -fsS "$URL/api/articles?limit=1" 2>/dev/null | sed -n 's/.*"articlesCount":\([0-9]*\).*/\1/p')"
  [ "${COUNT:-0}" -gt 0 ] && break
  sleep 0.2
done
[ "${COUNT:-0}" -gt 0 ] || { say "error: the seeded articles never appeared in the list"; exit 1; }
say "TechHub with the web app on $URL ($COUNT articles listed); mode $MODE"

FAILED_SUITES=0
# Runs one Playwright config; prints its counts; counts it failed unless all that ran passed.
run_suite() { # label config report [args…]
  local label="$1" config="$2" report="$3"
  shift 3
  rm -f "web/$report"
  set +e
  (cd web && TEST_MODE="$MODE" TECHHUB_WEB_URL="$URL" CI=1 npx playwright test -c "$config" "$@")
  local code=$?
  set -e
  if [ ! -f "web/$report" ]; then
    say "error: playwright wrote no report for $label (exit $code)"
    FAILED_SUITES=$((FAILED_SUITES + 1))
    return
  fi
  local passed failed skipped flaky
  read -r passed failed skipped flaky < <(node -e '
    const s = require(process.argv[1]).stats;
    console.log(s.expected, s.unexpected, s.skipped, s.flaky);
  ' "$ROOT/web/$report")
  echo "$label: $passed passed, $failed failed, $skipped skipped, $flaky flaky"
  if [ "$code" != 0 ] || [ "$failed" != 0 ] || [ "$passed" = 0 ]; then
    FAILED_SUITES=$((FAILED_SUITES + 1))
  fi
}

if [ "$SUITES" != techhub ]; then
  run_suite "realworld e2e ($MODE)" playwright.realworld.config.ts "test-results/realworld-$MODE.json" "$@"
fi
if [ "$MODE" = fullstack ] && [ "$SUITES" != realworld ] && { [ $# = 0 ] || [ "$SUITES" = techhub ]; }; then
  run_suite "techhub browser tests" playwright.config.ts test-results/techhub.json "$@"
  say "screenshots in web/test-results/screenshots/"
fi
if [ "$FAILED_SUITES" != 0 ]; then
  grep -E "ERROR|panicked" "$WORK/server.log" | tail -n 20 >&2 || true
  exit 1
fi
