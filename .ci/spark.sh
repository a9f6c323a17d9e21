#!/usr/bin/env bash
# Start (or stop) a local Spark Thrift server (HiveServer2 protocol) on loopback: the ONE JVM that owns
# the embedded Derby metastore, so dbt (thrift method), the raw registration, the mart checks and
# publish all reach the same catalog through SQL connections (SALES_WH_DBT_TARGET=spark runs).
#   .ci/spark.sh start   -> waits until it answers, prints the export lines for SALES_WH_SPARK_*
#   .ci/spark.sh stop
# Needs Java 17 and the `spark` extra (pyspark ships the thrift server's jar; there is no sbin script,
# so it is launched with spark-submit). The catalog and tables live in SALES_WH_SPARK_METASTORE and
# SALES_WH_SPARK_WAREHOUSE_DIR (absolute paths; defaults under data/).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
PORT="${SALES_WH_SPARK_PORT:-10009}"
HOST=127.0.0.1
METASTORE="$(realpath -m "${SALES_WH_SPARK_METASTORE:-$ROOT/data/spark-metastore}")"
WAREHOUSE="$(realpath -m "${SALES_WH_SPARK_WAREHOUSE_DIR:-$ROOT/data/spark-warehouse}")"
RUN_DIR="${SALES_WH_SPARK_RUN_DIR:-$(dirname "$METASTORE")/spark-thrift-$PORT}"
PID_FILE="$RUN_DIR/server.pid"
MEMORY="${SALES_WH_SPARK_DRIVER_MEMORY:-3g}"
CORES="${SALES_WH_SPARK_CORES:-2}"

answers() { # the port accepts connections
  (exec 3<>"/dev/tcp/$HOST/$PORT") 2>/dev/null
}

case "${1:-start}" in
  start)
    mkdir -p "$RUN_DIR" "$WAREHOUSE" "$(dirname "$METASTORE")"
    if [ -s "$PID_FILE" ] && ! kill -0 "$(cat "$PID_FILE")" 2>/dev/null; then rm -f "$PID_FILE"; fi
    if [ -s "$PID_FILE" ] && kill -0 "$(cat "$PID_FILE")" 2>/dev/null && answers; then
      :  # already up
    else
      SPARK_HOME="$("$PYTHON" -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))')"
      export SPARK_HOME
      # setsid: its own session and process group, whose id the leader writes itself ($$ of the shell
      # that then execs spark-submit, which execs the JVM), so `stop` ends the JVM and nothing else.
      # Derby writes derby.log into the working directory.
      cd "$RUN_DIR"
      PID_FILE="$PID_FILE" setsid bash -c 'echo $$ >"$PID_FILE"; exec "$@"' spark-server \
        "$SPARK_HOME/bin/spark-submit" \
        --class org.apache.spark.sql.hive.thriftserver.HiveThriftServer2 \
        --master "local[$CORES]" --driver-memory "$MEMORY" \
        --conf spark.ui.enabled=false \
        --conf spark.sql.warehouse.dir="$WAREHOUSE" \
        --conf "spark.hadoop.javax.jdo.option.ConnectionURL=jdbc:derby:;databaseName=$METASTORE;create=true" \
        --conf spark.sql.session.timeZone=UTC \
        --conf spark.sql.shuffle.partitions="${SALES_WH_SPARK_SHUFFLE_PARTITIONS:-4}" \
        --conf spark.sql.adaptive.enabled=true \
        --hiveconf hive.server2.thrift.port="$PORT" \
        --hiveconf hive.server2.thrift.bind.host="$HOST" \
        spark-internal >"$RUN_DIR/server.log" 2>&1 </dev/null &
      for _ in $(seq 1 50); do [ -s "$PID_FILE" ] && break; sleep 0.1; done
      for _ in $(seq 1 120); do
        if answers; then break; fi
        if ! kill -0 "$(cat "$PID_FILE")" 2>/dev/null; then
          echo "the Spark Thrift server stopped; see $RUN_DIR/server.log" >&2; tail -20 "$RUN_DIR/server.log" >&2
          exit 1
        fi
        sleep 1
      done
      answers || { echo "the Spark Thrift server did not answer on $HOST:$PORT in 120 s" >&2; exit 1; }
    fi
    echo "export SALES_WH_SPARK_METHOD=thrift SALES_WH_SPARK_HOST=$HOST SALES_WH_SPARK_PORT=$PORT"
    ;;
  stop)
    if [ -s "$PID_FILE" ]; then
      pid="$(cat "$PID_FILE")"
      kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
      kill -KILL -- "-$pid" 2>/dev/null || true
      rm -f "$PID_FILE"
    fi
    ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
