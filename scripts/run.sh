#!/usr/bin/env bash
# Runs TechHub locally: installs and starts (or reuses) the four stores, builds the release
# binary and the web app, applies migrations, creates the demo accounts and serves the app and
# the API on http://127.0.0.1:8080 (TECHHUB_BIND to change).
# Stop with Ctrl-C; `scripts/stores.sh down` stops the servers this started.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. scripts/stores.sh
. scripts/web.sh
stores_up
web_build

echo "[run] building techhub (release)" >&2
cargo build --release --locked -p techhub
echo "[run] migrating" >&2
target/release/techhub migrate
echo "[run] demo accounts" >&2
target/release/techhub demo
# A small community to look at (once: later runs find it and write nothing).
echo "[run] demo community (300 users, 3,000 posts; only on the first run)" >&2
target/release/techhub seed --if-empty --users 300 --posts 3000 --comments 6000 --sessions 20000 --follows 10
echo "[run] serving on http://${TECHHUB_BIND:-127.0.0.1:8080} (health: /health)" >&2
exec target/release/techhub serve
