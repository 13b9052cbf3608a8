#!/usr/bin/env bash
# Lighthouse (pinned in tools/lighthouse) on the web app's home page and an article page,
# served by a release TechHub over the small benchmark data set (techhub_bench_200u_…, seeded
# once like scripts/bench.sh does), in Debian's Chromium. Prints each page's performance,
# accessibility and best-practices scores and its first contentful paint; then the article
# page's first contentful paint as it really happens on loopback (no simulated throttling,
# desktop, a cold cache: Lighthouse clears it), three times. The reports go to
# target/lighthouse/.
#
#   scripts/lighthouse.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. scripts/stores.sh
. scripts/web.sh
say() { printf '[lighthouse] %s\n' "$*" >&2; }

stores_up
web_build
[ -x /usr/bin/chromium ] || apt_install chromium
RUNNER=tools/lighthouse
npm_deps "$PWD/$RUNNER"
say "building techhub (release)"
cargo build --release --locked -q -p techhub

NAME="techhub_bench_200u_3000p_5000c_2000s"
use_databases "$NAME"
export TECHHUB_DATA_DIR="$LOCAL_DIR/bench/$NAME"
export TECHHUB_WEB_DIR="$PWD/web/dist"
# info: serve_on_free_port reads the "listening on" line.
export RUST_LOG="${RUST_LOG:-info,tower_http=warn}"
ensure_databases "$NAME"
target/release/techhub seed --if-empty --users 200 --posts 3000 --comments 5000 --sessions 2000 >&2

LOG="$(mktemp)"
SERVER_PID=""
trap '[ -n "$SERVER_PID" ] && kill $SERVER_PID 2>/dev/null; rm -f "$LOG"' EXIT
serve_on_free_port target/release/techhub "$LOG"
URL="http://127.0.0.1:$PORT"
SLUG=""
for _ in $(seq 1 300); do
  SLUG="$(curl -fsS "$URL/api/articles?limit=1" 2>/dev/null | sed -n 's/.*"slug":"\([^"]*\)".*/\1/p')"
  [ -n "$SLUG" ] && break
  sleep 0.5
done
[ -n "$SLUG" ] || { say "error: no article listed"; exit 1; }
mkdir -p target/lighthouse
lighthouse() { # URL REPORT [options…]
  local url="$1" report="$2"
  shift 2
  "$RUNNER/node_modules/.bin/lighthouse" "$url" --quiet \
    --chrome-path=/usr/bin/chromium \
    --chrome-flags="--headless=new --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking --disable-component-update --disable-sync" \
    --output=json --output-path="$report" "$@"
}
for page in "home /" "article /article/$SLUG"; do
  set -- $page
  say "$1: $URL$2"
  lighthouse "$URL$2" "target/lighthouse/$1.json" --only-categories=performance,accessibility,best-practices
  node -e '
    const r = require(process.argv[1]);
    const c = r.categories, a = r.audits;
    const s = (k) => Math.round(c[k].score * 100);
    console.log(`${process.argv[2]}: performance ${s("performance")}, accessibility ${s("accessibility")}, best practices ${s("best-practices")}; first contentful paint ${a["first-contentful-paint"].displayValue}, largest ${a["largest-contentful-paint"].displayValue}, layout shift ${a["cumulative-layout-shift"].displayValue}`);
  ' "$PWD/target/lighthouse/$1.json" "$1"
done
for run in 1 2 3; do
  say "article on loopback, cold cache, run $run"
  lighthouse "$URL/article/$SLUG" "target/lighthouse/article-loopback-$run.json" \
    --only-categories=performance --preset=desktop --throttling-method=provided
  node -e '
    const a = require(process.argv[1]).audits;
    console.log(`article on loopback (cold cache, no throttling), run ${process.argv[2]}: first contentful paint ${Math.round(a["first-contentful-paint"].numericValue)} ms`);
  ' "$PWD/target/lighthouse/article-loopback-$run.json" "$run"
done
