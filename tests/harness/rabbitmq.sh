#!/usr/bin/env bash
# Private rabbitmq-server for tests: `rabbitmq.sh start DIR [--owner PID]` starts a node with its own name,
# AMQP port, distribution port, mnesia/log dirs, Erlang cookie (HOME=DIR) and no plugins, waits
# until it accepts AMQP connections (60 s at most), prints the AMQP port and writes DIR/port and
# DIR/nodename; `rabbitmq.sh stop DIR` stops it; `rabbitmq.sh halt DIR` stops it but keeps its
# port, state and owner watch, and `rabbitmq.sh restart DIR` (halts and) starts it again on the
# same port with the same queues and messages; `rabbitmq.sh ctl DIR ARGS...` runs rabbitmqctl
# against it (e.g. `ctl DIR list_queues name messages`). A leftover node of a killed test in
# the same DIR is killed on start; with --owner PID (e.g. the test script's $$) the node is also
# stopped once PID exits, even by SIGKILL.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/common.sh"

usage() { echo "usage: rabbitmq.sh start|stop|halt|restart|ctl DIR [--owner PID] | [rabbitmqctl args]" >&2; exit 2; }
[ $# -ge 2 ] || usage
CMD=$1
DIR=$2
shift 2
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
# The CLI tools must share the node's cookie: both see HOME=DIR.
export HOME=$DIR
# Debian's /usr/sbin wrappers switch to the rabbitmq user (which cannot write DIR) and to its
# HOME; the scripts they wrap run the node as the calling user.
RMQ_BIN=/usr/lib/rabbitmq/bin
[ -x "$RMQ_BIN/rabbitmq-server" ] || RMQ_BIN=$(dirname "$(command -v rabbitmq-server)")

rmq_node() { cat "$DIR/nodename" 2>/dev/null || true; }

rmq_stop() {
  local node pid
  node=$(rmq_node)
  pid=$(cat "$DIR/rabbitmq.pid" 2>/dev/null || true)
  if [ -n "$node" ] && [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    timeout 30 "$RMQ_BIN/rabbitmqctl" -q -n "$node" stop >/dev/null 2>&1 || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  harness_kill_pidfile "$DIR/rabbitmq.pid"
  # the launcher shell (pid in DIR/launcher.pid) ends with the node
  harness_kill_pidfile "$DIR/launcher.pid"
}

# rmq_launch PORT: starts the node of DIR/nodename on PORT (distribution port PORT+1) with
# the state in DIR/mnesia and waits until it accepts AMQP connections; 1 (node stopped) if not.
rmq_launch() {
  local port=$1 node deadline
  node=$(rmq_node)
  (
    export RABBITMQ_NODE_PORT=$port RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 RABBITMQ_NODENAME=$node \
      RABBITMQ_DIST_PORT=$((port + 1)) RABBITMQ_MNESIA_BASE=$DIR/mnesia RABBITMQ_LOG_BASE=$DIR/log \
      RABBITMQ_ENABLED_PLUGINS_FILE=$DIR/enabled_plugins RABBITMQ_PID_FILE=$DIR/rabbitmq.pid \
      RABBITMQ_CONFIG_FILE=$DIR/rabbitmq RABBITMQ_ADVANCED_CONFIG_FILE=$DIR/advanced.config \
      ERL_CRASH_DUMP=$DIR/erl_crash.dump # not in the test's working directory (the source tree)
    exec setsid "$RMQ_BIN/rabbitmq-server" >>"$DIR/server.out" 2>&1 </dev/null
  ) &
  echo $! >"$DIR/launcher.pid"
  deadline=$((SECONDS + ${RABBITMQ_START_TIMEOUT:-60}))
  while :; do
    if [ -s "$DIR/rabbitmq.pid" ] && (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null &&
      timeout 20 "$RMQ_BIN/rabbitmq-diagnostics" -q -n "$node" check_port_connectivity >/dev/null 2>&1; then
      return 0
    fi
    if ! kill -0 "$(cat "$DIR/launcher.pid")" 2>/dev/null; then
      echo "rabbitmq.sh: rabbitmq-server exited (see $DIR/server.out and $DIR/log)" >&2
      rmq_stop
      return 1
    fi
    if [ $SECONDS -ge $deadline ]; then
      echo "rabbitmq.sh: not ready after ${RABBITMQ_START_TIMEOUT:-60} s (see $DIR/server.out)" >&2
      rmq_stop
      return 1
    fi
    sleep 0.5
  done
}

case "$CMD" in
start)
  OWNER=""
  if [ "${1:-}" = "--owner" ]; then OWNER=${2:?--owner needs a pid}; fi
  harness_unwatch "$DIR"
  rmq_stop
  rm -rf "$DIR/mnesia" "$DIR/log" "$DIR/port" "$DIR/nodename"
  mkdir -p "$DIR/mnesia" "$DIR/log"
  echo "[]." >"$DIR/enabled_plugins"
  # AMQP port P and distribution port P+1 (the CLI tools take ports around P+1+10000, which
  # the OS hands out dynamically when busy).
  # Another process may take the picked ports first on a busy machine (seen: the distribution
  # port, "dist_port_already_used"): then the node exits at once and we pick again.
  for try in 1 2 3; do
    PORT=$(harness_pick_port 2)
    echo "mrtest$PORT@localhost" >"$DIR/nodename"
    rmq_launch "$PORT" && break
    tail -5 "$DIR/server.out" >&2 || true
    [ $try -lt 3 ] || exit 1
    rm -rf "$DIR/mnesia" && mkdir -p "$DIR/mnesia"
  done
  echo "$PORT" >"$DIR/port"
  [ -z "$OWNER" ] || harness_watch "$DIR" "$OWNER" "$HERE/rabbitmq.sh" stop "$DIR"
  echo "$PORT"
  ;;
stop)
  harness_unwatch "$DIR"
  rmq_stop
  ;;
halt) # stop the node but keep its port, node name, queues and owner watch (for restart)
  rmq_stop
  ;;
restart) # (halt and) start again on the same port with the same state: durable queues and
  # persistent messages survive
  PORT=$(cat "$DIR/port")
  rmq_stop
  rmq_launch "$PORT" || exit 1
  echo "$PORT"
  ;;
ctl)
  exec "$RMQ_BIN/rabbitmqctl" -n "$(rmq_node)" "$@"
  ;;
*) usage ;;
esac
