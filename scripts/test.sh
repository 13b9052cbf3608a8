#!/usr/bin/env bash
# Runs every TechHub test suite: the same store set-up as scripts/run.sh, then formatting and
# lint checks, then the unit and integration tests (nextest) against the real servers.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. scripts/stores.sh
. scripts/web.sh
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

# rustfmt and clippy ship with the usual rustup profile; a minimal toolchain may lack them.
for component in rustfmt clippy; do
  if ! cargo "${component/rustfmt/fmt}" --version >/dev/null 2>&1; then
    rustup component add "$component" >/dev/null 2>&1 || true
  fi
done

if cargo fmt --version >/dev/null 2>&1; then
  step "cargo fmt --check"
  cargo fmt --all -- --check
else
  step "WARNING: rustfmt is not installed and could not be added; formatting NOT checked"
fi

if cargo clippy --version >/dev/null 2>&1; then
  step "cargo clippy (warnings are errors)"
  cargo clippy --workspace --all-targets --locked -- -D warnings
else
  step "WARNING: clippy is not installed and could not be added; lints NOT checked"
fi

step "web app: dependencies, API types against docs/openapi.json, lint, type check, unit tests, build"
web_deps
(cd web && npm run --silent api:check && npm run --silent lint && npm run --silent typecheck && npm run --silent test && npm run --silent build)

step "unit and integration tests"
cargo nextest run --workspace --locked --no-fail-fast

step "RealWorld suite (official Postman collection via newman), fresh databases then the same ones again"
cargo build --locked -q -p techhub
./scripts/realworld.sh --runs 2

step "RealWorld front-end suite (official Playwright specs, unmodified) and TechHub's browser tests in Chromium, fullstack mode"
./scripts/web-e2e.sh --mode fullstack

step "RealWorld front-end suite in spa mode (the app against the suite's API address, served locally over TLS)"
./scripts/web-e2e.sh --mode spa
