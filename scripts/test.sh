#!/usr/bin/env bash
# Runs every TechHub test suite: the same store set-up as scripts/run.sh, then formatting and
# lint checks, then the unit and integration tests (nextest) against the real servers.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. scripts/stores.sh
stores_up

step() { printf '\n[test] %s\n' "$*" >&2; }

if ! cargo nextest --version >/dev/null 2>&1; then
  NEXTEST_ROOT="$CACHE_DIR/nextest"
  if [ ! -x "$NEXTEST_ROOT/bin/cargo-nextest" ]; then
    step "installing cargo-nextest into $NEXTEST_ROOT (once)"
    cargo install cargo-nextest --locked --root "$NEXTEST_ROOT"
  fi
  export PATH="$NEXTEST_ROOT/bin:$PATH"
fi

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "unit and integration tests"
cargo nextest run --workspace --locked --no-fail-fast
