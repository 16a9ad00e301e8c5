#!/usr/bin/env bash
# End to end: messages in RabbitMQ -> `movierec consume` -> Redis, exactly once, with malformed
# messages dead-lettered, through a kill -9 of the consumer mid-stream and a Redis restart.
# Private redis-server and rabbitmq-server (tests/harness), bounded in time, always cleaned up.
set -euo pipefail
BIN=${1:?usage: test_consume.sh path/to/movierec}
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
PUB=$(dirname "$BIN")/tests/mr_amqp_publish
H=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/harness
for p in redis-server rabbitmq-server; do
  command -v $p >/dev/null || { echo "SKIP: no $p" >&2; exit 0; }
done
[ -x "$PUB" ] || { echo "FAIL: test tool $PUB not built" >&2; exit 1; }

TMP=$(mktemp -d /tmp/mr_test_consume.XXXXXX)
CPID=""
cleanup() {
  [ -n "$CPID" ] && kill -9 "$CPID" 2>/dev/null || true
  "$H/rabbitmq.sh" stop "$TMP/rmq" || true
  "$H/redis.sh" stop "$TMP/redis" || true
  rm -rf "$TMP"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*" >&2
  for f in "$TMP"/consume*.log; do [ -f "$f" ] && { echo "--- $f" >&2; tail -20 "$f" >&2; }; done
  exit 1
}

RPORT=$("$H/redis.sh" start "$TMP/redis" --aof --owner $$)
QPORT=$("$H/rabbitmq.sh" start "$TMP/rmq" --owner $$)
export MOVIEREC_REDIS_URL=redis://127.0.0.1:$RPORT
export MOVIEREC_AMQP_URL=amqp://guest:guest@127.0.0.1:$QPORT/
rcli() { "$H/redis.sh" cli "$TMP/redis" "$@"; }
queue_len() { # NAME: messages ready + unacked
  "$H/rabbitmq.sh" ctl "$TMP/rmq" list_queues -q name messages 2>/dev/null |
    awk -v q="$1" '$1 == q { print $2 }'
}
stored() { rcli get mr:stats:stored | sed 's/^$/0/'; }
wait_stored() { # N SECONDS
  local deadline=$((SECONDS + $2))
  while [ "$(stored)" -lt "$1" ]; do
    [ $SECONDS -lt $deadline ] || fail "stored $(stored) after $2 s, want $1"
    sleep 0.1
  done
}
start_consumer() { # LOG
  "$BIN" consume --prefetch 100 2>"$1" &
  CPID=$!
}

# Messages: user (i % 50) + 1 rates movie i / 50 + 1, so every (user, movie) pair is unique
# and each user ends with N/50 ratings.
gen() { # FROM TO
  local i
  for ((i = $1; i < $2; i++)); do
    printf '{"event_id":"%08x%08x%016x","user_id":%d,"movie_id":%d,"rating":%d,"ts":%d}\n' \
      "$i" 3054 "$i" $((i % 50 + 1)) $((i / 50 + 1)) $((i % 5 + 1)) $((1764000000 + i))
  done
}
N1=30000
gen 0 $N1 >"$TMP/batch1"
gen 0 200 >>"$TMP/batch1" # 200 duplicates (a producer's retries): stored once
cat >>"$TMP/batch1" <<'BAD'
{not json
[1,2,3]
{"event_id":"0123456789abcdef0123456789abcdef","user_id":"7","movie_id":1,"rating":3,"ts":1}
{"event_id":"0123456789abcdef0123456789abcdef","user_id":7,"movie_id":1,"rating":9,"ts":1}
{"event_id":"short","user_id":7,"movie_id":1,"rating":3,"ts":1}
BAD
BAD_COUNT=5
[ "$("$PUB" "$MOVIEREC_AMQP_URL" "$TMP/batch1")" = $((N1 + 200 + BAD_COUNT)) ] || fail "publish"

# 1. consume, kill -9 mid-stream, restart: still exactly once
T0=$(date +%s.%N)
start_consumer "$TMP/consume1.log"
wait_stored 5000 60
kill -9 "$CPID"
wait "$CPID" 2>/dev/null || true
CPID=""
AT_KILL=$(stored)
echo "killed the consumer (-9) at $AT_KILL stored"
[ "$AT_KILL" -lt "$N1" ] || echo "note: the consumer finished before the kill (fast machine)"
start_consumer "$TMP/consume2.log"
wait_stored "$N1" 120
T1=$(date +%s.%N)
for _ in $(seq 1 100); do [ "$(queue_len movierec.ratings)" = 0 ] && break; sleep 0.2; done
[ "$(queue_len movierec.ratings)" = 0 ] || fail "movierec.ratings not drained: $(queue_len movierec.ratings)"
sleep 0.5
[ "$(stored)" = "$N1" ] || fail "stored $(stored), want $N1"
[ "$(rcli xlen mr:events)" = "$N1" ] || fail "stream has $(rcli xlen mr:events), want $N1"
[ "$(queue_len movierec.ratings.dead)" = "$BAD_COUNT" ] ||
  fail "dead-letter queue has $(queue_len movierec.ratings.dead), want $BAD_COUNT"
[ "$(rcli hlen 'mr:u:{1}:ratings')" = $((N1 / 50)) ] || fail "user 1 has $(rcli hlen 'mr:u:{1}:ratings')"
[ "$(rcli hlen 'mr:u:{50}:ratings')" = $((N1 / 50)) ] || fail "user 50 ratings"
# i = 50*9 + 6 = 456: user 7, movie 10, rating 456 % 5 + 1 = 2, ts 1764000456
[ "$(rcli hget 'mr:u:{7}:ratings' 10)" = "2:1764000456" ] || fail "user 7 movie 10: $(rcli hget 'mr:u:{7}:ratings' 10)"
[ "$(rcli hget mr:movie:counts 1)" = 50 ] || fail "movie 1 count $(rcli hget mr:movie:counts 1)"
grep -q "dead-lettered: invalid JSON" "$TMP/consume1.log" "$TMP/consume2.log" || fail "no log line for the malformed message"
grep -Eq "stored [0-9]+ ratings \([0-9]+/s\)" "$TMP/consume1.log" || fail "no progress log line"
RATE=$(awk -v n="$((N1 - AT_KILL))" -v a="$T0" -v b="$T1" 'BEGIN { printf "%.0f", n / (b - a) }')
echo "phase 1: $N1 stored exactly once across a kill -9; rates logged:" \
  "$(grep -o '([0-9]*/s)' "$TMP/consume2.log" | tail -3 | tr '\n' ' ')"

# 2. Redis goes away mid-stream: no ack, backoff, reconnect, nothing lost or doubled
N2=10000
gen $N1 $((N1 + N2)) >"$TMP/batch2"
# Redis stops first: publishing before the stop raced a consumer that stored all 10,000 in
# 0.3 s, leaving nothing for it to fail on
"$H/redis.sh" stop "$TMP/redis"
"$PUB" "$MOVIEREC_AMQP_URL" "$TMP/batch2" >/dev/null || fail "publish batch 2"
for _ in $(seq 1 100); do # the consumer now holds deliveries it cannot store
  grep -q "Redis unavailable\|failed" "$TMP/consume2.log" && break
  sleep 0.1
done
grep -q "Redis unavailable\|failed" "$TMP/consume2.log" || fail "no Redis error logged"
"$H/redis.sh" restart "$TMP/redis" >/dev/null
wait_stored $((N1 + N2)) 60
for _ in $(seq 1 100); do [ "$(queue_len movierec.ratings)" = 0 ] && break; sleep 0.2; done
sleep 0.5
[ "$(stored)" = $((N1 + N2)) ] || fail "after the Redis restart stored $(stored), want $((N1 + N2))"
[ "$(rcli xlen mr:events)" = $((N1 + N2)) ] || fail "stream after the Redis restart"
grep -q "Redis reconnected\|retrying" "$TMP/consume2.log" || fail "no reconnect logged"

# 3. SIGTERM: a clean exit with a summary line
kill -TERM "$CPID"
wait "$CPID" || fail "consume exited non-zero on SIGTERM"
CPID=""
grep -q "stopping: stored" "$TMP/consume2.log" || fail "no summary on SIGTERM"
echo "phase 2: Redis restart mid-stream, $((N1 + N2)) stored exactly once"
grep "stopping:" "$TMP/consume2.log" | sed 's/^/  /'

# 4. trending over the stored events: movie m has 50 events with ts 1764000000 + 50(m-1) ..,
# so with --now just after the last one the newest movies lead
"$BIN" trending --once --now 1764040000 --top 3 2>"$TMP/trending.log" || fail "trending --once"
grep -q "40000 events" "$TMP/trending.log" || fail "trending log: $(cat "$TMP/trending.log")"
TR=$(rcli get mr:trending)
case "$TR" in
'{"updated_at":1764040000,"window_s":86400,"half_life_s":21600'*'"items":[{"movie_id":800,'*'{"movie_id":799,'*'{"movie_id":798,'*) ;;
*) fail "mr:trending: $TR" ;;
esac
echo "phase 4: trending top 3 = 800, 799, 798"
echo "consume rate (loopback, prefetch 100): about $RATE messages/s"
echo "test_consume: 4 passed, 0 failed"
