#!/usr/bin/env bash
# Benchmarks TechHub against the machine's floor, on a seeded data set:
#
#   scripts/bench.sh [--users N] [--posts N] [--comments N] [--sessions N] [-- BENCH ARGS…]
#
# Starts (or reuses) the four stores, installs wrk, builds the release binaries, seeds the
# data set once into its own databases (techhub_bench_<sizes>; later runs reuse them), starts
# a release TechHub on 127.0.0.1:8090 over them (rate limits off: the load comes from one
# address), and runs `techhub-bench run` against it. Figures go to the terminal and to
# target/bench/ (latest.json, latest.svg). BENCH ARGS go to `techhub-bench run` (see
# `target/release/techhub-bench run --help`), e.g. `-- --scenarios article-by-slug --duration 20s`.
# Defaults are the full sizes: 100,000 users, 1,000,000 posts, 10,000,000 sessions.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. scripts/stores.sh

USERS=100000
POSTS=1000000
COMMENTS=2000000
SESSIONS=10000000
while [ $# -gt 0 ]; do
  case "$1" in
    --users) USERS="$2"; shift 2 ;;
    --posts) POSTS="$2"; shift 2 ;;
    --comments) COMMENTS="$2"; shift 2 ;;
    --sessions) SESSIONS="$2"; shift 2 ;;
    --) shift; break ;;
    *) echo "usage: $0 [--users N] [--posts N] [--comments N] [--sessions N] [-- BENCH ARGS…]" >&2; exit 2 ;;
  esac
done
say() { printf '[bench] %s\n' "$*" >&2; }
bench_psql() { PGPASSWORD="$LOCAL_PASSWORD" psql -h 127.0.0.1 -p "$PG_PORT" -U techhub "$@"; }
bench_mariadb() { mariadb -h127.0.0.1 -P"$MYSQL_PORT" -utechhub -p"$LOCAL_PASSWORD" "$@"; }

stores_up
command -v wrk >/dev/null || apt_install wrk

say "building techhub and techhub-bench (release)"
cargo build --release --locked -p techhub -p techhub-bench

NAME="techhub_bench_${USERS}u_${POSTS}p_${COMMENTS}c_${SESSIONS}s"
use_databases "$NAME"
export TECHHUB_DATA_DIR="$LOCAL_DIR/bench/$NAME"
export TECHHUB_BIND="127.0.0.1:${TECHHUB_BENCH_PORT:-8090}"
export TECHHUB_RATE_LOGIN_ACCOUNT=off TECHHUB_RATE_LOGIN_IP=off TECHHUB_RATE_REGISTER_IP=off TECHHUB_RATE_WRITES_USER=off
export RUST_LOG="${RUST_LOG:-warn}"

ensure_databases "$NAME"
SEEDED="$(bench_mariadb -N "$NAME" \
  -e "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = 'users'" )"
if [ "$SEEDED" = 1 ]; then
  SEEDED="$(bench_mariadb -N "$NAME" \
    -e "SELECT COUNT(*) FROM users WHERE email LIKE '%@seed.example.com'")"
fi
if [ "$SEEDED" = 0 ]; then
  say "seeding $NAME (once; later runs reuse it)"
  target/release/techhub seed --users "$USERS" --posts "$POSTS" --comments "$COMMENTS" --sessions "$SESSIONS"
else
  say "reusing $NAME ($SEEDED seeded users)"
fi

# PostgreSQL's dead rows: every write moves its author's user_analytics row, so earlier runs
# leave dead versions behind (866,000 updates, 619,000 of them dead after a seed and a few
# write scenarios), which later runs pay for until a vacuum clears them. A server with
# autovacuum off (as CI machines may have) never clears them, so the set starts each run
# vacuumed, as autovacuum keeps a production server.
AUTOVACUUM="$(bench_psql -d "$NAME" -tAc "SHOW autovacuum")"
[ "$AUTOVACUUM" = on ] || say "warning: PostgreSQL's autovacuum is $AUTOVACUUM here; dead rows pile up during the run"
say "vacuuming $NAME's PostgreSQL tables"
bench_psql -q -d "$NAME" <<'SQL'
SELECT format('VACUUM (ANALYZE) %I.%I', schemaname, tablename) FROM pg_tables
WHERE tableowner = current_user \gexec
SQL

LOG="$(mktemp)"
target/release/techhub serve >"$LOG" 2>&1 &
SERVER_PID=$!
trap 'kill $SERVER_PID 2>/dev/null; wait $SERVER_PID 2>/dev/null; rm -f "$LOG"' EXIT
for _ in $(seq 1 600); do
  curl -fsS "http://$TECHHUB_BIND/health" >/dev/null 2>&1 && break
  kill -0 "$SERVER_PID" 2>/dev/null || { cat "$LOG" >&2; say "error: the server exited"; exit 1; }
  sleep 0.2
done
curl -fsS "http://$TECHHUB_BIND/health" >/dev/null || { cat "$LOG" >&2; say "error: the server does not answer"; exit 1; }
say "TechHub (pid $SERVER_PID) on http://$TECHHUB_BIND over $NAME"
# Lists come from the search index: a server whose index is of another schema rebuilds it
# first (about 90 s at a million posts), and lists are empty until then.
for i in $(seq 1 600); do
  COUNT="$(curl -fsS "http://$TECHHUB_BIND/api/articles?limit=1" 2>/dev/null \
    | sed -n 's/.*"articlesCount":\([0-9]*\).*/\1/p')"
  [ "${COUNT:-0}" -gt 0 ] && break
  [ $((i % 15)) = 1 ] && say "waiting for the search index to be built (lists are empty until then)"
  kill -0 "$SERVER_PID" 2>/dev/null || { cat "$LOG" >&2; say "error: the server exited"; exit 1; }
  sleep 2
done
say "search index ready: ${COUNT:-0} published posts listed"

target/release/techhub-bench run --base-url "http://$TECHHUB_BIND" --server-pid "$SERVER_PID" \
  --seeded-users "$USERS" --out target/bench --wrk "$@"
