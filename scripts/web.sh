#!/usr/bin/env bash
# The web app's build, for scripts/run.sh and scripts/test.sh (source it after stores.sh):
#
#   web_deps    installs Node.js and npm if missing, then web/node_modules from the lock file
#   web_build   web_deps, then the production build into web/dist (served by `techhub serve`)

web_deps() {
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    apt_install nodejs npm
  fi
  local web="$TECHHUB_ROOT/web"
  # npm ci again only when the lock file changed since the last install.
  if [ ! -f "$web/node_modules/.package-lock.json" ] || [ "$web/package-lock.json" -nt "$web/node_modules/.package-lock.json" ]; then
    log "web: npm ci"
    (cd "$web" && npm ci --no-audit --no-fund --loglevel=error)
  fi
}

web_build() {
  web_deps
  log "web: building the app into web/dist"
  (cd "$TECHHUB_ROOT/web" && npm run --silent build)
}
