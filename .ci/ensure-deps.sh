#!/usr/bin/env bash
# Makes sure everything `make test` needs is installed and running on this
# machine: MariaDB and Redis on loopback, nginx, ansible, ansible-lint and
# Chromium. It installs what is missing with apt (Debian) and starts services
# directly, because these machines have no systemd and apt starts nothing.
# Safe to run again: it only acts on what is missing.
set -euo pipefail

MYSQL_HOST=${TEST_MYSQL_HOST:-127.0.0.1}
MYSQL_PORT=${TEST_MYSQL_PORT:-3306}
REDIS_HOST=${TEST_REDIS_HOST:-127.0.0.1}
REDIS_PORT=${TEST_REDIS_PORT:-6379}

log() { printf 'ensure-deps: %s\n' "$*" >&2; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

apt_updated=
apt_install() {
  if [ -z "$apt_updated" ]; then
    log "apt-get update"
    as_root apt-get update -qq
    apt_updated=1
  fi
  log "installing $*"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

wait_port() {
  for _ in $(seq 1 60); do
    port_open "$1" "$2" && return 0
    sleep 0.5
  done
  return 1
}

ensure_mariadb() {
  if port_open "$MYSQL_HOST" "$MYSQL_PORT"; then return 0; fi
  command -v mariadbd >/dev/null 2>&1 || [ -x /usr/sbin/mariadbd ] || apt_install mariadb-server mariadb-client
  log "starting MariaDB"
  as_root service mariadb start >/dev/null 2>&1 ||
    as_root start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
  wait_port "$MYSQL_HOST" "$MYSQL_PORT" || { log "MariaDB did not start on $MYSQL_HOST:$MYSQL_PORT"; exit 1; }
  # Root logs in over TCP with an empty password, as the tests expect.
  if ! mariadb -h"$MYSQL_HOST" -P"$MYSQL_PORT" -uroot -e 'SELECT 1' >/dev/null 2>&1; then
    as_root mariadb -uroot -e "ALTER USER 'root'@'localhost' IDENTIFIED VIA mysql_native_password USING PASSWORD(''); FLUSH PRIVILEGES;"
  fi
}

ensure_redis() {
  # The Cluster tests (cachetest.NewCluster) start their own nodes from these
  # binaries, so they are needed even when a Redis already listens.
  local missing=()
  command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
  command -v redis-cli >/dev/null 2>&1 || missing+=(redis-tools)
  if [ ${#missing[@]} -gt 0 ]; then apt_install "${missing[@]}"; fi
  if port_open "$REDIS_HOST" "$REDIS_PORT"; then return 0; fi
  log "starting Redis"
  as_root service redis-server start >/dev/null 2>&1 ||
    as_root redis-server --daemonize yes --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no
  wait_port "$REDIS_HOST" "$REDIS_PORT" || { log "Redis did not start on $REDIS_HOST:$REDIS_PORT"; exit 1; }
}

ensure_tools() {
  local missing=()
  [ -x /usr/sbin/nginx ] || missing+=(nginx)
  command -v ansible-playbook >/dev/null 2>&1 || missing+=(ansible)
  command -v ansible-lint >/dev/null 2>&1 || missing+=(ansible-lint)
  python3 -c 'import pymysql' >/dev/null 2>&1 || [ -e /usr/lib/python3/dist-packages/pymysql ] || missing+=(python3-pymysql)
  command -v chromium >/dev/null 2>&1 || missing+=(chromium)
  command -v openssl >/dev/null 2>&1 || missing+=(openssl)
  if [ ${#missing[@]} -gt 0 ]; then apt_install "${missing[@]}"; fi
}

ensure_mariadb
ensure_redis
ensure_tools
log "MariaDB on $MYSQL_HOST:$MYSQL_PORT, Redis on $REDIS_HOST:$REDIS_PORT, nginx, ansible and chromium ready"
