#!/usr/bin/env bash
# Private redis-server for tests: `redis.sh start DIR [--aof] [--owner PID]` starts one on a free
# loopback port
# with its state in DIR, waits until it answers PING, prints the port and writes DIR/port;
# `redis.sh stop DIR` shuts it down; `redis.sh halt DIR` shuts it down but keeps its port and
# owner watch; `redis.sh restart DIR` (halts and) starts it again on the same port (keeping
# DIR/appendonly.aof when started with --aof); `redis.sh cli DIR ARGS...` runs
# redis-cli against it. A leftover server of a killed test in the same DIR is killed on start;
# with --owner PID (e.g. the test script's $$) it is also stopped once PID exits, even by SIGKILL.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/common.sh"

usage() { echo "usage: redis.sh start|stop|halt|restart|cli DIR [--aof] [--owner PID] | [redis-cli args]" >&2; exit 2; }
[ $# -ge 2 ] || usage
CMD=$1
DIR=$2
shift 2

redis_wait_ready() { # PORT PID
  local port=$1 pid=$2
  for _ in $(seq 1 100); do
    if [ "$(redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null)" = PONG ]; then return 0; fi
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

# redis_launch PORT: 0 when a server runs on PORT with its pid in DIR/redis.pid.
redis_launch() {
  local port=$1 aof=no pid
  [ -f "$DIR/aof" ] && aof=yes
  rm -f "$DIR/redis.pid"
  redis-server --port "$port" --bind 127.0.0.1 --dir "$DIR" --daemonize yes \
    --pidfile "$DIR/redis.pid" --logfile "$DIR/redis.log" --save '' \
    --appendonly "$aof" --appendfsync everysec >/dev/null 2>&1 || return 1
  for _ in $(seq 1 50); do [ -s "$DIR/redis.pid" ] && break; sleep 0.1; done
  pid=$(cat "$DIR/redis.pid" 2>/dev/null || true)
  [ -n "$pid" ] || return 1
  redis_wait_ready "$port" "$pid"
}

redis_stop() {
  local port pid
  port=$(cat "$DIR/port" 2>/dev/null || true)
  pid=$(cat "$DIR/redis.pid" 2>/dev/null || true)
  if [ -n "$port" ] && [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    timeout 5 redis-cli -h 127.0.0.1 -p "$port" shutdown nosave >/dev/null 2>&1 || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  harness_kill_pidfile "$DIR/redis.pid"
}

case "$CMD" in
start)
  mkdir -p "$DIR"
  DIR=$(cd "$DIR" && pwd)
  harness_unwatch "$DIR"
  redis_stop
  rm -f "$DIR/aof" "$DIR/port" "$DIR/appendonly.aof" "$DIR/dump.rdb"
  rm -rf "$DIR/appendonlydir"
  OWNER=""
  while [ $# -gt 0 ]; do
    case "$1" in
    --aof) touch "$DIR/aof" ;;
    --owner) OWNER=${2:?--owner needs a pid}; shift ;;
    *) usage ;;
    esac
    shift
  done
  for _ in 1 2 3 4 5; do # another process may take the picked port first: pick again
    PORT=$(harness_pick_port)
    if redis_launch "$PORT"; then
      echo "$PORT" >"$DIR/port"
      [ -z "$OWNER" ] || harness_watch "$DIR" "$OWNER" "$HERE/redis.sh" stop "$DIR"
      echo "$PORT"
      exit 0
    fi
    harness_kill_pidfile "$DIR/redis.pid"
  done
  echo "redis.sh: redis-server did not start (see $DIR/redis.log)" >&2
  exit 1
  ;;
stop)
  [ -d "$DIR" ] || exit 0
  harness_unwatch "$DIR"
  redis_stop
  ;;
halt) # stop the server but keep its port, data (with --aof) and owner watch (for restart)
  redis_stop
  ;;
restart)
  PORT=$(cat "$DIR/port")
  redis_stop
  redis_launch "$PORT" || { echo "redis.sh: restart on $PORT failed (see $DIR/redis.log)" >&2; exit 1; }
  echo "$PORT"
  ;;
cli)
  exec redis-cli -h 127.0.0.1 -p "$(cat "$DIR/port")" "$@"
  ;;
*) usage ;;
esac
