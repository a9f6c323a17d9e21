#!/usr/bin/env bash
# Start (or stop) a throw-away PostgreSQL 15 server on loopback for the portability tests.
#   .ci/postgres.sh start   -> prints the export lines for SALES_WH_PG_*
#   .ci/postgres.sh stop
# initdb refuses to run as root, so the cluster belongs to the `postgres` user when we are root.
set -euo pipefail
PGDATA_DIR="${SALES_WH_PG_DATA:-/tmp/sales-wh-pg}"
PORT="${SALES_WH_PG_PORT:-54329}"
BIN="$(dirname "$(readlink -f "$(command -v initdb)")")"
as_pg() { if [ "$(id -u)" = 0 ]; then su postgres -s /bin/bash -c "$*"; else bash -c "$*"; fi; }

case "${1:-start}" in
  start)
    if [ ! -s "$PGDATA_DIR/PG_VERSION" ]; then
      mkdir -p "$PGDATA_DIR"
      [ "$(id -u)" = 0 ] && chown postgres "$PGDATA_DIR"
      as_pg "'$BIN/initdb' -D '$PGDATA_DIR' -U postgres --auth=trust -E UTF8 >/dev/null"
    fi
    if ! as_pg "'$BIN/pg_ctl' -D '$PGDATA_DIR' status" >/dev/null 2>&1; then
      as_pg "'$BIN/pg_ctl' -D '$PGDATA_DIR' -l '$PGDATA_DIR/server.log' -w \
        -o '-p $PORT -k /tmp -c listen_addresses=127.0.0.1 -c fsync=off' start" >/dev/null
    fi
    echo "export SALES_WH_PG_HOST=127.0.0.1 SALES_WH_PG_PORT=$PORT SALES_WH_PG_USER=postgres"
    ;;
  stop)
    as_pg "'$BIN/pg_ctl' -D '$PGDATA_DIR' -m fast stop" >/dev/null 2>&1 || true
    ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
