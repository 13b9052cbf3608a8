#!/usr/bin/env bash
# Node.js packages and the web app's build, for the scripts that need them (source it after
# stores.sh):
#
#   npm_deps DIR  installs Node.js and npm if missing, then DIR/node_modules from DIR's lock file
#   web_deps      npm_deps web/
#   web_build     web_deps, then the production build into web/dist (served by `techhub serve`)

npm_deps() {
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    apt_install nodejs npm
  fi
  local dir="$1"
  # npm ci again only when the lock file changed since the last install; once more, aloud,
  # if the first (quiet) try fails.
  if [ ! -f "$dir/node_modules/.package-lock.json" ] || [ "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]; then
    log "npm ci in ${dir#"$TECHHUB_ROOT"/}"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null 2>&1) \
      || (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
  fi
}

web_deps() {
  npm_deps "$TECHHUB_ROOT/web"
}

web_build() {
  web_deps
  log "web: building the app into web/dist"
  (cd "$TECHHUB_ROOT/web" && npm run --silent build)
}
