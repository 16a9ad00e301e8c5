#!/usr/bin/env bash
# Malformed-request fuzzing of both HTTP services (issue 5): `movierec api` and `movierec events`
# (with a write token) against private Redis and RabbitMQ servers; mr_http_fuzz sends N
# deterministic malformed requests over raw sockets and fails unless every one got a 4xx (or,
# for requests that cannot be answered, a closed connection), both processes are alive and
# healthy afterwards and, in a Release build, neither RSS grew more than 32 MiB after the
# warm-up. N = 100000 in Release, 50000 under the sanitizers (MR_SANITIZE=1), or
# MR_HTTP_FUZZ_COUNT.
set -euo pipefail
BIN=$(readlink -f "${1:-build/movierec}")
FUZZ=$(dirname "$BIN")/tests/mr_http_fuzz
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
H=$HERE/harness
. "$H/common.sh"
[ -x "$FUZZ" ] || { echo "test_http_fuzz: $FUZZ not built" >&2; exit 1; }

if [ "${MR_SANITIZE:-0}" = 1 ]; then COUNT=${MR_HTTP_FUZZ_COUNT:-50000}; GROWTH=-1
else COUNT=${MR_HTTP_FUZZ_COUNT:-100000}; GROWTH=32768; fi

TMP=$(mktemp -d /tmp/mr_http_fuzz.XXXXXX)
API_PID=
EV_PID=
cleanup() {
  harness_stop "$API_PID" "$EV_PID"
  "$H/rabbitmq.sh" stop "$TMP/rmq" >/dev/null 2>&1 || true
  "$H/redis.sh" stop "$TMP/redis" >/dev/null 2>&1 || true
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 143' TERM INT

if [ -n "${MOVIEREC_TEST_MODELS:-}" ] && [ -e "$MOVIEREC_TEST_MODELS/current" ]; then
  MODELS=$MOVIEREC_TEST_MODELS
else
  MODELS=$TMP/models
  "$BIN" train --models "$MODELS" >"$TMP/train.log" 2>&1 || { cat "$TMP/train.log" >&2; exit 1; }
fi
mkdir -p "$TMP/web"
echo '<!doctype html><title>fuzz</title>' >"$TMP/web/index.html"

RPORT=$("$H/redis.sh" start "$TMP/redis" --owner $$)
# a broker start now and then fails on a machine shared with other tests' brokers: retry
QPORT=
for attempt in 1 2 3; do
  QPORT=$("$H/rabbitmq.sh" start "$TMP/rmq" --owner $$) && break
  echo "test_http_fuzz: rabbitmq-server did not start (attempt $attempt)" >&2
  "$H/rabbitmq.sh" stop "$TMP/rmq" >/dev/null 2>&1 || true
  QPORT=
done
[ -n "$QPORT" ] || exit 1
API_PORT=$(harness_pick_port)
EV_PORT=$(harness_pick_port)
TOKEN="fuzz-token-$RANDOM$RANDOM"
"$BIN" api --port "$API_PORT" --threads 2 --redis "redis://127.0.0.1:$RPORT" --models "$MODELS" \
  --web "$TMP/web" >"$TMP/api.log" 2>&1 &
API_PID=$!
MOVIEREC_TOKEN=$TOKEN "$BIN" events --port "$EV_PORT" --threads 2 \
  --amqp "amqp://guest:guest@127.0.0.1:$QPORT/" >"$TMP/events.log" 2>&1 &
EV_PID=$!
for url in "http://127.0.0.1:$API_PORT/health" "http://127.0.0.1:$EV_PORT/health"; do
  ok=0
  for _ in $(seq 1 600); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' -m 2 "$url")" = 200 ] && { ok=1; break; }
    kill -0 "$API_PID" 2>/dev/null && kill -0 "$EV_PID" 2>/dev/null ||
      { tail -n 20 "$TMP/api.log" "$TMP/events.log" >&2; echo "test_http_fuzz: a service died" >&2; exit 1; }
    sleep 0.1
  done
  [ "$ok" = 1 ] || { echo "test_http_fuzz: $url not healthy" >&2; exit 1; }
done

echo "test_http_fuzz: $COUNT requests (seed 1), api pid $API_PID, events pid $EV_PID"
rc=0
timeout 1000 "$FUZZ" --api "$API_PORT" --api-pid "$API_PID" --events "$EV_PORT" \
  --events-pid "$EV_PID" --count "$COUNT" --seed 1 --token "$TOKEN" \
  --max-rss-growth-kb "$GROWTH" || rc=$?

# nothing the fuzzer sent is a valid rating: the queue must be empty
N=$("$H/rabbitmq.sh" ctl "$TMP/rmq" list_queues name messages 2>/dev/null |
  awk '$1 == "movierec.ratings" {print $2}')
if [ -n "$N" ] && [ "$N" != 0 ]; then
  echo "test_http_fuzz: FAIL: $N messages were published from malformed requests" >&2
  rc=1
fi
if [ "$rc" -ne 0 ]; then
  echo "--- api log (tail)" >&2
  tail -20 "$TMP/api.log" >&2
  echo "--- events log (tail)" >&2
  tail -20 "$TMP/events.log" >&2
  exit 1
fi
echo "test_http_fuzz: passed"
