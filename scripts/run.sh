#!/usr/bin/env bash
# Runs TechHub locally: installs and starts (or reuses) the four stores, builds the release
# binary, applies migrations, creates the demo accounts and serves on http://127.0.0.1:8080 (TECHHUB_BIND to change).
# Stop with Ctrl-C; `scripts/stores.sh down` stops the servers this started.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. scripts/stores.sh
stores_up

echo "[run] building techhub (release)" >&2
cargo build --release --locked -p techhub
echo "[run] migrating" >&2
target/release/techhub migrate
echo "[run] demo accounts" >&2
target/release/techhub demo
echo "[run] serving on http://${TECHHUB_BIND:-127.0.0.1:8080} (health: /health)" >&2
exec target/release/techhub serve
