#!/usr/bin/env bash
# Consume rate on loopback: N rating messages pre-published to a private RabbitMQ, then
# `movierec consume` into a private Redis; prints messages/s. Usage (from the repo root, after
# a build): bench/consume_rate.sh [N=100000]; env AOF=--aof (Redis appendonly), PF=prefetch.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-100000}
H=tests/harness
TMP=$(mktemp -d /tmp/mrbench.XXXXXX)
trap '$H/rabbitmq.sh stop $TMP/rmq; $H/redis.sh stop $TMP/redis; rm -rf $TMP' EXIT
RP=$($H/redis.sh start $TMP/redis ${AOF:-} --owner $$)
QP=$($H/rabbitmq.sh start $TMP/rmq --owner $$)
for ((i = 0; i < N; i++)); do
  printf '{"event_id":"%08x%024x","user_id":%d,"movie_id":%d,"rating":%d,"ts":%d}\n' 77 "$i" \
    $((i % 943 + 1)) $((i % 1682 + 1)) $((i % 5 + 1)) $((1764000000 + i))
done >"$TMP/msgs"
build/tests/mr_amqp_publish "amqp://guest:guest@127.0.0.1:$QP/" "$TMP/msgs" >/dev/null
T0=$(date +%s.%N)
build/movierec consume --amqp "amqp://guest:guest@127.0.0.1:$QP/" --redis "redis://127.0.0.1:$RP" \
  --prefetch "${PF:-100}" 2>"$TMP/log" &
P=$!
DL=$((SECONDS + 300))
while [ "$($H/redis.sh cli $TMP/redis get mr:stats:stored)" != "$N" ] && [ $SECONDS -lt $DL ]; do
  sleep 0.05
done
T1=$(date +%s.%N)
kill $P
wait $P || true
STORED=$($H/redis.sh cli $TMP/redis get mr:stats:stored)
awk -v n="$STORED" -v a="$T0" -v b="$T1" -v pf="${PF:-100}" -v aof="${AOF:-no}" \
  'BEGIN { printf "%d messages stored in %.2f s: %.0f msg/s (prefetch %s, aof %s)\n", n, b - a, n / (b - a), pf, aof }'
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
