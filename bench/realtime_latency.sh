#!/usr/bin/env bash
# Real-time personalization latency (issue 5): private Redis + RabbitMQ, `movierec api`,
# `events`, `consume`; for USERS users, the time from POST /interact to a personalized list
# without the rated movie (bench/realtime_latency.js). Usage: bash bench/realtime_latency.sh
# env: MODELS=DIR (else trains into a temp dir), USERS=300, LOAD=1 (also run a wrk load of
# uncached GETs at 16 connections meanwhile).
set -euo pipefail
cd "$(dirname "$0")/.."
H=tests/harness
. "$H/common.sh"
BIN=build/movierec
USERS=${USERS:-300}
TMP=$(mktemp -d /tmp/mr_rt.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  "$H/rabbitmq.sh" stop "$TMP/rmq" >/dev/null 2>&1 || true
  "$H/redis.sh" stop "$TMP/redis" >/dev/null 2>&1 || true
  rm -rf "$TMP"
}
trap cleanup EXIT
if [ -z "${MODELS:-}" ]; then
  MODELS=$TMP/models
  "$BIN" train --models "$MODELS" >"$TMP/train.log" 2>&1
fi
RPORT=$("$H/redis.sh" start "$TMP/redis" --owner $$)
QPORT=$("$H/rabbitmq.sh" start "$TMP/rmq" --owner $$)
export MOVIEREC_REDIS_URL=redis://127.0.0.1:$RPORT MOVIEREC_AMQP_URL=amqp://guest:guest@127.0.0.1:$QPORT/
AP=$(harness_pick_port)
EP=$(harness_pick_port)
"$BIN" api --port "$AP" --models "$MODELS" >"$TMP/api.log" 2>&1 & PIDS+=($!)
"$BIN" events --port "$EP" >"$TMP/events.log" 2>&1 & PIDS+=($!)
"$BIN" consume >"$TMP/consume.log" 2>&1 & PIDS+=($!)
for u in "http://127.0.0.1:$AP/health" "http://127.0.0.1:$EP/health"; do
  for _ in $(seq 1 300); do curl -s -o /dev/null -m 1 "$u" && break; sleep 0.1; done
done
if [ -n "${LOAD:-}" ]; then
  cat >"$TMP/u.lua" <<'LUA'
request = function()
  return wrk.format("GET", "/recommendations/" .. math.random(301, 943) .. "?n=" .. math.random(1, 100))
end
LUA
  wrk -t1 -c16 -d600s -s "$TMP/u.lua" "http://127.0.0.1:$AP" >/dev/null 2>&1 & PIDS+=($!)
  sleep 1
fi
echo "realtime latency: $(date -u '+%Y-%m-%d %H:%M UTC'), load average $(cut -d' ' -f1-3 /proc/loadavg), users $USERS, background load: ${LOAD:+wrk 16 connections of uncached GETs}${LOAD:-none}"
node bench/realtime_latency.js "http://127.0.0.1:$AP" "http://127.0.0.1:$EP" "$USERS" | tail -1
