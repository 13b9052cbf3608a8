#!/usr/bin/env bash
# Local servers for TechHub: MariaDB (MySQL), PostgreSQL, SecantusDB (MongoDB) and Redis.
#
#   scripts/stores.sh up       install what is missing, start what does not answer, provision
#   scripts/stores.sh down     stop the servers this script started (never ones it reused)
#   scripts/stores.sh status   say what answers on each port
#
# Sourcing it (`. scripts/stores.sh`) defines the functions and exports the TECHHUB_*_URL
# variables for the chosen ports without starting anything.
#
# A server already answering on a port is reused as it is. A server this script starts keeps
# its data and logs in $TECHHUB_LOCAL_DIR (default: .data/ in the repo, git-ignored).
#
# Environment (all optional):
#   TECHHUB_LOCAL_MYSQL_PORT (3306) TECHHUB_LOCAL_POSTGRES_PORT (5432)
#   TECHHUB_LOCAL_MONGODB_PORT (27017) TECHHUB_LOCAL_REDIS_PORT (6379)
#   TECHHUB_LOCAL_DIR         where started servers keep data (default: <repo>/.data)
#   TECHHUB_CACHE_DIR         where the SecantusDB build is cached (default: ~/.cache/techhub)
#   TECHHUB_SKIP_LOCAL_STORES=1  do nothing: the TECHHUB_*_URL variables point elsewhere

set -euo pipefail

TECHHUB_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MYSQL_PORT="${TECHHUB_LOCAL_MYSQL_PORT:-3306}"
PG_PORT="${TECHHUB_LOCAL_POSTGRES_PORT:-5432}"
MONGO_PORT="${TECHHUB_LOCAL_MONGODB_PORT:-27017}"
REDIS_PORT="${TECHHUB_LOCAL_REDIS_PORT:-6379}"
LOCAL_DIR="${TECHHUB_LOCAL_DIR:-$TECHHUB_ROOT/.data}"
CACHE_DIR="${TECHHUB_CACHE_DIR:-$HOME/.cache/techhub}"
SECANTUS_VERSION="0.5.3-beta.196"
SECANTUS_BIN="$CACHE_DIR/secantus-$SECANTUS_VERSION/bin/secantusd-rs"
# The local role's password; it only ever guards servers on loopback.
LOCAL_PASSWORD="techhub"

export TECHHUB_MYSQL_URL="${TECHHUB_MYSQL_URL:-mysql://techhub:$LOCAL_PASSWORD@127.0.0.1:$MYSQL_PORT/techhub}"
export TECHHUB_POSTGRES_URL="${TECHHUB_POSTGRES_URL:-postgres://techhub:$LOCAL_PASSWORD@127.0.0.1:$PG_PORT/techhub}"
export TECHHUB_MONGODB_URL="${TECHHUB_MONGODB_URL:-mongodb://127.0.0.1:$MONGO_PORT/techhub?directConnection=true}"
export TECHHUB_REDIS_URL="${TECHHUB_REDIS_URL:-redis://127.0.0.1:$REDIS_PORT/0}"

log() { printf '[stores] %s\n' "$*" >&2; }
die() { printf '[stores] error: %s\n' "$*" >&2; exit 1; }

answers() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_for_port() { # port name seconds logfile
  local i
  for ((i = 0; i < $3 * 10; i++)); do
    answers "$1" && return 0
    sleep 0.1
  done
  [ -n "${4:-}" ] && [ -f "$4" ] && tail -n 20 "$4" >&2
  die "$2 did not start answering on 127.0.0.1:$1 within $3 s"
}

APT_UPDATED=0
apt_install() {
  command -v apt-get >/dev/null || die "apt-get not found: install $* by hand"
  export DEBIAN_FRONTEND=noninteractive
  if [ "$APT_UPDATED" = 0 ]; then
    log "apt-get update"
    apt-get update -qq || apt-get update -qq
    APT_UPDATED=1
  fi
  log "apt-get install $*"
  apt-get install -y -qq --no-install-recommends "$@" >/dev/null \
    || apt-get install -y -qq --no-install-recommends "$@" >/dev/null \
    || die "apt-get install $* failed twice"
}

pg_bindir() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }

ensure_packages() {
  local pkgs=()
  command -v mariadb >/dev/null || pkgs+=(mariadb-client)
  command -v mariadbd >/dev/null || [ -x /usr/sbin/mariadbd ] || pkgs+=(mariadb-server)
  command -v psql >/dev/null || pkgs+=(postgresql-client)
  [ -n "$(pg_bindir)" ] && [ -x "$(pg_bindir)/initdb" ] || pkgs+=(postgresql)
  command -v redis-server >/dev/null || pkgs+=(redis-server)
  command -v redis-cli >/dev/null || pkgs+=(redis-tools)
  if [ ! -x "$SECANTUS_BIN" ]; then # what building SecantusDB (WiredTiger, zlib, zstd) needs
    command -v cmake >/dev/null || pkgs+=(cmake)
    { command -v cc && command -v c++ && command -v make; } >/dev/null || pkgs+=(build-essential)
    command -v pkg-config >/dev/null || pkgs+=(pkg-config)
    dpkg -s zlib1g-dev >/dev/null 2>&1 || pkgs+=(zlib1g-dev)
  fi
  command -v curl >/dev/null || pkgs+=(curl)
  if [ "${#pkgs[@]}" -gt 0 ]; then apt_install "${pkgs[@]}"; fi
}

# --- MariaDB ---------------------------------------------------------------------------

mysql_root() { # run SQL as an administrator of the server on MYSQL_PORT
  local dir="$LOCAL_DIR/mysql"
  if [ -S "$dir/mysqld.sock" ] && mariadb --socket="$dir/mysqld.sock" -uroot -e 'SELECT 1' >/dev/null 2>&1; then
    mariadb --socket="$dir/mysqld.sock" -uroot "$@"
  elif mariadb -h127.0.0.1 -P"$MYSQL_PORT" -uroot -e 'SELECT 1' >/dev/null 2>&1; then
    mariadb -h127.0.0.1 -P"$MYSQL_PORT" -uroot "$@"
  elif [ "$MYSQL_PORT" = 3306 ] && mariadb -uroot -e 'SELECT 1' >/dev/null 2>&1; then
    mariadb -uroot "$@" # the system server's socket, unix_socket authentication as root
  else
    return 1
  fi
}

start_mysql() {
  local dir="$LOCAL_DIR/mysql"
  mkdir -p "$dir"
  if [ ! -d "$dir/data/mysql" ]; then
    log "mysql: initialising a data directory in $dir/data"
    mariadb-install-db --no-defaults --user=root --datadir="$dir/data" --auth-root-authentication-method=normal \
      --skip-test-db >"$dir/install.log" 2>&1 || { tail -n 20 "$dir/install.log" >&2; die "mariadb-install-db failed"; }
  fi
  log "mysql: starting MariaDB on 127.0.0.1:$MYSQL_PORT"
  local mariadbd
  mariadbd="$(command -v mariadbd || echo /usr/sbin/mariadbd)"
  setsid "$mariadbd" --no-defaults --user=root --datadir="$dir/data" --port="$MYSQL_PORT" \
    --bind-address=127.0.0.1 --socket="$dir/mysqld.sock" --pid-file="$dir/mysqld.pid" \
    --log-error="$dir/error.log" --skip-name-resolve --character-set-server=utf8mb4 \
    --collation-server=utf8mb4_unicode_ci </dev/null >/dev/null 2>&1 &
  wait_for_port "$MYSQL_PORT" MariaDB 60 "$dir/error.log"
}

provision_mysql() {
  if ! mysql_root -e 'SELECT 1' >/dev/null 2>&1; then
    mariadb -h127.0.0.1 -P"$MYSQL_PORT" -utechhub -p"$LOCAL_PASSWORD" -e 'SELECT 1' >/dev/null 2>&1 \
      || die "mysql: cannot log in as root or as techhub on 127.0.0.1:$MYSQL_PORT"
    log "mysql: no administrator access; using the existing techhub user"
    return
  fi
  mysql_root <<SQL
CREATE USER IF NOT EXISTS 'techhub'@'localhost' IDENTIFIED BY '$LOCAL_PASSWORD';
CREATE USER IF NOT EXISTS 'techhub'@'127.0.0.1' IDENTIFIED BY '$LOCAL_PASSWORD';
CREATE DATABASE IF NOT EXISTS techhub CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
GRANT ALL PRIVILEGES ON \`techhub\`.* TO 'techhub'@'localhost', 'techhub'@'127.0.0.1';
GRANT ALL PRIVILEGES ON \`techhub\_test\_%\`.* TO 'techhub'@'localhost', 'techhub'@'127.0.0.1';
GRANT ALL PRIVILEGES ON \`techhub\_bench%\`.* TO 'techhub'@'localhost', 'techhub'@'127.0.0.1';
SQL
  log "mysql: role techhub and database techhub ready"
}

# --- PostgreSQL ------------------------------------------------------------------------

pg_dir() { # postgres must be able to reach its data directory; fall back to /var/lib
  if runuser -u postgres -- test -x "$LOCAL_DIR" 2>/dev/null; then
    echo "$LOCAL_DIR/postgres"
  else
    echo "/var/lib/postgresql/techhub-$PG_PORT"
  fi
}

pg_admin() { # run psql as a superuser of the server on PG_PORT
  local dir
  dir="$(pg_dir)"
  if [ -S "$dir/.s.PGSQL.$PG_PORT" ]; then
    runuser -u postgres -- psql -v ON_ERROR_STOP=1 -h "$dir" -p "$PG_PORT" -d postgres "$@"
  elif psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -c 'SELECT 1' >/dev/null 2>&1 </dev/null; then
    psql -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres "$@"
  else
    runuser -u postgres -- psql -v ON_ERROR_STOP=1 -p "$PG_PORT" -d postgres "$@"
  fi
}

start_postgres() {
  id postgres >/dev/null 2>&1 || die "the postgres user is missing (is the postgresql package installed?)"
  local bin dir
  bin="$(pg_bindir)"
  dir="$(pg_dir)"
  mkdir -p "$LOCAL_DIR"
  if [ "$dir" != "$LOCAL_DIR/postgres" ]; then
    log "postgres: $LOCAL_DIR is not reachable by the postgres user; data goes to $dir"
    ln -sfn "$dir" "$LOCAL_DIR/postgres"
  fi
  if [ ! -f "$dir/PG_VERSION" ]; then
    log "postgres: initialising a cluster in $dir"
    install -d -o postgres -g postgres -m 700 "$dir"
    runuser -u postgres -- "$bin/initdb" -D "$dir" -U postgres -E UTF8 --locale=C.UTF-8 \
      --auth-local=peer --auth-host=scram-sha-256 >"$LOCAL_DIR/postgres-init.log" 2>&1 \
      || { tail -n 20 "$LOCAL_DIR/postgres-init.log" >&2; die "initdb failed"; }
  fi
  log "postgres: starting PostgreSQL on 127.0.0.1:$PG_PORT"
  runuser -u postgres -- "$bin/pg_ctl" -D "$dir" -l "$dir/server.log" -w -t 60 \
    -o "-p $PG_PORT -k $dir -c listen_addresses=127.0.0.1" start >/dev/null \
    || { tail -n 20 "$dir/server.log" >&2; die "PostgreSQL did not start"; }
}

provision_postgres() {
  if ! pg_admin -c 'SELECT 1' >/dev/null 2>&1 </dev/null; then
    PGPASSWORD="$LOCAL_PASSWORD" psql -h 127.0.0.1 -p "$PG_PORT" -U techhub -d techhub -c 'SELECT 1' >/dev/null 2>&1 \
      || die "postgres: cannot log in as postgres or as techhub on 127.0.0.1:$PG_PORT"
    log "postgres: no superuser access; using the existing techhub role"
    return
  fi
  pg_admin -q <<SQL
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'techhub') THEN
    CREATE ROLE techhub LOGIN CREATEDB PASSWORD '$LOCAL_PASSWORD';
  ELSE
    ALTER ROLE techhub LOGIN CREATEDB PASSWORD '$LOCAL_PASSWORD';
  END IF;
END \$\$;
SQL
  if [ "$(pg_admin -tAc "SELECT 1 FROM pg_database WHERE datname = 'techhub'" </dev/null)" != 1 ]; then
    pg_admin -q -c "CREATE DATABASE techhub OWNER techhub ENCODING 'UTF8' TEMPLATE template0" </dev/null
  fi
  log "postgres: role techhub and database techhub ready"
}

# --- Redis -----------------------------------------------------------------------------

start_redis() {
  local dir="$LOCAL_DIR/redis"
  mkdir -p "$dir"
  log "redis: starting Redis on 127.0.0.1:$REDIS_PORT"
  redis-server --daemonize yes --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no \
    --dir "$dir" --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" >/dev/null
  wait_for_port "$REDIS_PORT" Redis 20 "$dir/redis.log"
}

# --- SecantusDB (MongoDB-compatible) ---------------------------------------------------

build_secantus() {
  [ -x "$SECANTUS_BIN" ] && return
  log "mongodb: building SecantusDB $SECANTUS_VERSION into $CACHE_DIR (about 15 minutes, once)"
  mkdir -p "$CACHE_DIR"
  local buildlog="$CACHE_DIR/secantus-build.log"
  CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
    cargo install secantus-mdb --version "$SECANTUS_VERSION" --ignore-rust-version --locked \
    --root "$CACHE_DIR/secantus-$SECANTUS_VERSION" >"$buildlog" 2>&1 &
  local pid=$! start=$SECONDS
  while kill -0 "$pid" 2>/dev/null; do
    sleep 30
    log "mongodb: still building SecantusDB ($((SECONDS - start)) s, $(grep -c Compiling "$buildlog" || true) crates compiled)"
  done
  wait "$pid" || { tail -n 30 "$buildlog" >&2; die "building SecantusDB failed (log: $buildlog)"; }
}

start_mongodb() {
  build_secantus
  local dir="$LOCAL_DIR/mongodb"
  mkdir -p "$dir"
  log "mongodb: starting SecantusDB on 127.0.0.1:$MONGO_PORT"
  setsid "$SECANTUS_BIN" --host 127.0.0.1 --port "$MONGO_PORT" --storage-path "$dir/data" \
    --log-file-max 16MB </dev/null >"$dir/server.log" 2>&1 &
  echo $! >"$dir/secantusd.pid"
  wait_for_port "$MONGO_PORT" SecantusDB 60 "$dir/server.log"
}

# --- Commands --------------------------------------------------------------------------

use_databases() { # NAME: point TECHHUB_* at databases NAME in every local store (created by the caller)
  export TECHHUB_MYSQL_URL="mysql://techhub:$LOCAL_PASSWORD@127.0.0.1:$MYSQL_PORT/$1"
  export TECHHUB_POSTGRES_URL="postgres://techhub:$LOCAL_PASSWORD@127.0.0.1:$PG_PORT/$1"
  export TECHHUB_MONGODB_URL="mongodb://127.0.0.1:$MONGO_PORT/$1?directConnection=true"
  export TECHHUB_REDIS_PREFIX="$1:"
}

create_databases() { # NAME: new empty MySQL and PostgreSQL databases NAME (MongoDB makes its own)
  mariadb -h127.0.0.1 -P"$MYSQL_PORT" -utechhub -p"$LOCAL_PASSWORD" \
    -e "CREATE DATABASE \`$1\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
  PGPASSWORD="$LOCAL_PASSWORD" psql -q -h 127.0.0.1 -p "$PG_PORT" -U techhub -d techhub -c "CREATE DATABASE \"$1\""
}

ensure_databases() { # NAME: like create_databases, keeping databases NAME that already exist
  mariadb -h127.0.0.1 -P"$MYSQL_PORT" -utechhub -p"$LOCAL_PASSWORD" \
    -e "CREATE DATABASE IF NOT EXISTS \`$1\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
  if [ "$(PGPASSWORD="$LOCAL_PASSWORD" psql -h 127.0.0.1 -p "$PG_PORT" -U techhub -d techhub -tAc \
    "SELECT 1 FROM pg_database WHERE datname = '$1'")" != 1 ]; then
    PGPASSWORD="$LOCAL_PASSWORD" psql -q -h 127.0.0.1 -p "$PG_PORT" -U techhub -d techhub -c "CREATE DATABASE \"$1\""
  fi
}

drop_databases() { # NAME: drops what create_databases made (quietly; for cleanup traps)
  mariadb -h127.0.0.1 -P"$MYSQL_PORT" -utechhub -p"$LOCAL_PASSWORD" -e "DROP DATABASE IF EXISTS \`$1\`" 2>/dev/null || true
  PGPASSWORD="$LOCAL_PASSWORD" psql -q -h 127.0.0.1 -p "$PG_PORT" -U techhub -d techhub \
    -c "DROP DATABASE IF EXISTS \"$1\" WITH (FORCE)" 2>/dev/null || true
}

serve_on_free_port() { # BIN LOG: starts `BIN serve` on 127.0.0.1:0 logging to LOG; sets SERVER_PID and PORT
  TECHHUB_BIND="127.0.0.1:0" "$1" serve >"$2" 2>&1 &
  SERVER_PID=$!
  PORT=""
  for _ in $(seq 1 300); do
    PORT="$(sed -n 's/.*listening on http:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$2" | head -n 1)"
    [ -n "$PORT" ] && return 0
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$2" >&2; die "the server exited"; }
    sleep 0.1
  done
  cat "$2" >&2
  die "the server did not start"
}

stores_up() {
  if [ "${TECHHUB_SKIP_LOCAL_STORES:-0}" = 1 ]; then
    log "TECHHUB_SKIP_LOCAL_STORES=1: using the configured store URLs as they are"
    return
  fi
  ensure_packages
  if answers "$MYSQL_PORT"; then log "mysql: reusing the server on 127.0.0.1:$MYSQL_PORT"; else start_mysql; fi
  provision_mysql
  if answers "$PG_PORT"; then log "postgres: reusing the server on 127.0.0.1:$PG_PORT"; else start_postgres; fi
  provision_postgres
  if answers "$REDIS_PORT"; then log "redis: reusing the server on 127.0.0.1:$REDIS_PORT"; else start_redis; fi
  if answers "$MONGO_PORT"; then log "mongodb: reusing the server on 127.0.0.1:$MONGO_PORT"; else start_mongodb; fi
  log "all four stores answer"
}

stop_pidfile() { # name pidfile
  [ -f "$2" ] || return 0
  local pid
  pid="$(cat "$2")"
  if kill -0 "$pid" 2>/dev/null; then
    log "$1: stopping (pid $pid)"
    kill "$pid"
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
  fi
  rm -f "$2"
}

stores_down() {
  stop_pidfile mongodb "$LOCAL_DIR/mongodb/secantusd.pid"
  stop_pidfile redis "$LOCAL_DIR/redis/redis.pid"
  stop_pidfile mysql "$LOCAL_DIR/mysql/mysqld.pid"
  local dir
  dir="$(pg_dir)"
  if [ -f "$dir/postmaster.pid" ]; then
    log "postgres: stopping"
    runuser -u postgres -- "$(pg_bindir)/pg_ctl" -D "$dir" -m fast -w stop >/dev/null
  fi
  log "stopped the servers started from $LOCAL_DIR"
}

stores_status() {
  local name port
  for pair in "mysql:$MYSQL_PORT" "postgres:$PG_PORT" "mongodb:$MONGO_PORT" "redis:$REDIS_PORT"; do
    name="${pair%%:*}"; port="${pair##*:}"
    if answers "$port"; then echo "$name 127.0.0.1:$port answers"; else echo "$name 127.0.0.1:$port DOWN"; fi
  done
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  case "${1:-up}" in
    up) stores_up ;;
    down) stores_down ;;
    status) stores_status ;;
    *) echo "usage: $0 [up|down|status]" >&2; exit 2 ;;
  esac
fi
