#!/usr/bin/env bash
# Web UI end to end: private Redis + RabbitMQ, the real services, headless Chromium driving the page
# (tests/ui/ui_test.js): sections render, a 5-star rating changes the personalized row, search,
# errors, a new user's genre section. Screenshots go next to the binary (build/ui.png).
# Usage: tests/test_ui.sh [path/to/movierec]   (ctest runs it from the repo root)
set -euo pipefail
BIN=${1:-build/movierec}
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
CHROMIUM=${MOVIEREC_CHROMIUM:-/usr/bin/chromium}
cd "$(dirname "$0")/.."

# Chromium is an optional extra (`MOVIEREC_DEPS_EXTRA=1 scripts/deps`); CI installs it.
if [ ! -x "$CHROMIUM" ]; then
  echo "SKIP: chromium is not installed ($CHROMIUM); install it with MOVIEREC_DEPS_EXTRA=1 scripts/deps"
  exit 0
fi
if ! command -v node >/dev/null; then
  echo "FAIL: chromium is installed but node is not: MOVIEREC_DEPS_EXTRA=1 scripts/deps installs nodejs" >&2
  exit 1
fi
for sub in api events consume trending; do
  if ! "$BIN" "$sub" --help >/dev/null 2>&1; then
    echo "SKIP: '$BIN $sub' does not exist yet: the UI test needs the running services"
    exit 0
  fi
done

TMP=$(mktemp -d /tmp/mr-ui.XXXXXX)
PIDS=()
RMQ_NODE="mrui$$@localhost"
RMQ_BIN=/usr/lib/rabbitmq/bin # not the /usr/sbin wrappers: they `su rabbitmq`, which cannot write $TMP

# RabbitMQ's CLI tools with the private node's Erlang cookie (it lives in HOME).
rmq_cli() { HOME="$TMP/rmq" "$RMQ_BIN/$1" "${@:2}"; }

cleanup() {
  set +e
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${PIDS[@]}"; do
    for _ in $(seq 1 30); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null
  done
  [ -n "${REDIS_PORT:-}" ] && redis-cli -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1
  if [ -n "${RMQ_PID:-}" ]; then
    timeout 20 env HOME="$TMP/rmq" "$RMQ_BIN/rabbitmqctl" -n "$RMQ_NODE" stop >/dev/null 2>&1
    kill -- -"$RMQ_PID" 2>/dev/null
  fi
  rm -rf "$TMP"
}
trap cleanup EXIT

# A TCP port nobody listens on (bash's /dev/tcp connect fails).
used_ports=" "
free_port() {
  local p
  for _ in $(seq 1 100); do
    p=$((20000 + RANDOM % 40000))
    case "$used_ports" in *" $p "*) continue ;; esac
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      used_ports="$used_ports$p "
      echo "$p"
      return 0
    fi
  done
  return 1
}

# Polls a command until it succeeds; fails the test with `what` after `secs` seconds.
wait_for() {
  local secs=$1 what=$2
  shift 2
  local end=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    if [ $SECONDS -ge $end ]; then
      echo "FAIL: $what not ready after ${secs}s" >&2
      for f in "$TMP"/*.log; do [ -f "$f" ] && { echo "--- $f"; tail -20 "$f"; }; done >&2
      exit 1
    fi
    sleep 0.2
  done
}

REDIS_PORT=$(free_port)
AMQP_PORT=$(free_port)
DIST_PORT=$(free_port)
API_PORT=$(free_port)
EVENTS_PORT=$(free_port)
REDIS_URL="redis://127.0.0.1:$REDIS_PORT"
AMQP_URL="amqp://guest:guest@127.0.0.1:$AMQP_PORT/"
API="http://127.0.0.1:$API_PORT"
EVENTS="http://127.0.0.1:$EVENTS_PORT"

# Redis: private, no persistence.
mkdir -p "$TMP/redis"
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$TMP/redis" --daemonize yes \
  --save '' --appendonly no --logfile "$TMP/redis.log"
wait_for 10 redis redis-cli -p "$REDIS_PORT" ping

# RabbitMQ: private node, state and cookie in $TMP, no plugins.
mkdir -p "$TMP/rmq/mnesia" "$TMP/rmq/log"
: >"$TMP/rmq/plugins"
(
  export HOME=$TMP/rmq RABBITMQ_NODE_PORT=$AMQP_PORT RABBITMQ_NODENAME=$RMQ_NODE RABBITMQ_DIST_PORT=$DIST_PORT \
    RABBITMQ_MNESIA_BASE=$TMP/rmq/mnesia RABBITMQ_LOG_BASE=$TMP/rmq/log \
    RABBITMQ_ENABLED_PLUGINS_FILE=$TMP/rmq/plugins
  cd "$TMP/rmq" && exec setsid "$RMQ_BIN/rabbitmq-server" >"$TMP/rabbitmq.log" 2>&1
) &
RMQ_PID=$!
wait_for 60 rabbitmq rmq_cli rabbitmq-diagnostics -q -n "$RMQ_NODE" check_port_connectivity

# Models for the API (seconds on ML-100k).
"$BIN" train --models "$TMP/models" >"$TMP/train.log" 2>&1 || {
  echo "FAIL: movierec train" >&2
  tail -20 "$TMP/train.log" >&2
  exit 1
}

start() { # name, then the command line
  local name=$1
  shift
  "$@" >"$TMP/$name.log" 2>&1 &
  PIDS+=($!)
}
export MOVIEREC_REDIS_URL=$REDIS_URL MOVIEREC_AMQP_URL=$AMQP_URL
start events "$BIN" events --port "$EVENTS_PORT" --amqp "$AMQP_URL" --cors-origin "$API"
start consume "$BIN" consume --amqp "$AMQP_URL" --redis "$REDIS_URL"
start trending "$BIN" trending --redis "$REDIS_URL" --interval 1
start api "$BIN" api --port "$API_PORT" --events-url "$EVENTS" --redis "$REDIS_URL" \
  --models "$TMP/models"
wait_for 30 "events /health" curl -sf "$EVENTS/health"
wait_for 30 "api /health" curl -sf "$API/health"

# A few ratings from other users so the trending section has events to count.
for m in 50 100 181 258 286; do
  for u in 2 3; do
    curl -sf -X POST -H 'Content-Type: application/json' \
      -d "{\"user_id\": $u, \"movie_id\": $m, \"rating\": 5}" "$EVENTS/interact" >/dev/null
  done
done

SHOT=$(dirname "$BIN")/ui.png
status=0
timeout 150 node tests/ui/ui_test.js --api "$API" --chromium "$CHROMIUM" --screenshot "$SHOT" \
  --user 1 --timeout-ms 8000 || status=$?
# Every service must still be running after the test (bad input must never kill one).
i=0
for name in events consume trending api; do
  if ! kill -0 "${PIDS[$i]}" 2>/dev/null; then
    echo "not ok - movierec $name died during the test" >&2
    tail -20 "$TMP/$name.log" >&2
    status=1
  fi
  i=$((i + 1))
done
if [ $status -ne 0 ]; then
  for name in api events consume trending; do
    echo "--- $name.log"
    tail -15 "$TMP/$name.log"
  done
  echo "FAIL: UI test"
  exit 1
fi
echo "PASS: UI test (screenshots $SHOT)"
