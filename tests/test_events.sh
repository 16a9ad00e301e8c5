#!/usr/bin/env bash
# `movierec events` end to end against a private rabbitmq-server: 202 after the broker's
# confirm (the message is in the durable queue), every bad request answered with the right
# 4xx while the process lives on, 503 while the broker is down, recovery after its restart.
set -euo pipefail
BIN=$(readlink -f "${1:-build/movierec}")
RMQ_BIN=/usr/lib/rabbitmq/bin
[ -x "$RMQ_BIN/rabbitmq-server" ] || RMQ_BIN=$(dirname "$(command -v rabbitmq-server)")
TMP=$(mktemp -d /tmp/test_events.XXXXXX)
export HOME=$TMP # the Erlang cookie of the node and of the CLI tools
EV_PID=
FAILS=0

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/harness/common.sh"
pick_port() { harness_pick_port 2; } # a free port P with P+1 free too (the broker's dist port)

AMQP_PORT=$(pick_port)
NODE="mrtestev$AMQP_PORT@localhost"
HTTP_PORT=$(pick_port)
echo "[]." >"$TMP/enabled_plugins"
ctl() { timeout 30 "$RMQ_BIN/rabbitmqctl" -q -n "$NODE" "$@"; }

rmq_start() {
  (
    export RABBITMQ_NODE_PORT=$AMQP_PORT RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 \
      RABBITMQ_NODENAME=$NODE RABBITMQ_DIST_PORT=$((AMQP_PORT + 1)) \
      RABBITMQ_MNESIA_BASE=$TMP/mnesia RABBITMQ_LOG_BASE=$TMP/log \
      RABBITMQ_ENABLED_PLUGINS_FILE=$TMP/enabled_plugins RABBITMQ_PID_FILE=$TMP/rabbitmq.pid \
      RABBITMQ_CONFIG_FILE=$TMP/rabbitmq RABBITMQ_ADVANCED_CONFIG_FILE=$TMP/advanced.config
    exec setsid "$RMQ_BIN/rabbitmq-server" >>"$TMP/rabbitmq.out" 2>&1 </dev/null
  ) &
  local deadline=$((SECONDS + 60))
  until [ -s "$TMP/rabbitmq.pid" ] && (exec 3<>/dev/tcp/127.0.0.1/"$AMQP_PORT") 2>/dev/null &&
    timeout 20 "$RMQ_BIN/rabbitmq-diagnostics" -q -n "$NODE" check_port_connectivity >/dev/null 2>&1; do
    if [ $SECONDS -ge $deadline ]; then
      echo "rabbitmq-server did not start in 60 s:"; tail -20 "$TMP/rabbitmq.out"; return 1
    fi
    sleep 0.5
  done
}

rmq_stop() {
  local pid
  pid=$(cat "$TMP/rabbitmq.pid" 2>/dev/null || true)
  [ -n "$pid" ] || return 0
  ctl stop >/dev/null 2>&1 || true
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$TMP/rabbitmq.pid"
}

cleanup() {
  if [ -n "$EV_PID" ]; then kill "$EV_PID" 2>/dev/null || true; sleep 0.5; kill -9 "$EV_PID" 2>/dev/null || true; fi
  rmq_stop
  # epmd is shared (Erlang's port mapper): leave it running for other nodes
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 143' TERM INT # run the EXIT cleanup when ctest's timeout or ^C stops the script

fail() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }
ok() { echo "ok: $*"; }

URL=http://127.0.0.1:$HTTP_PORT
# req METHOD PATH [curl args...]: sets CODE and BODY
req() {
  local m=$1 p=$2
  shift 2
  CODE=$(curl -s -o "$TMP/body" -w '%{http_code}' --max-time 10 -X "$m" "$@" "$URL$p" || true)
  BODY=$(cat "$TMP/body" 2>/dev/null || true)
}
post() { req POST /interact -H 'Content-Type: application/json' --data-binary "$1"; }
# expect CODE BODY_SUBSTRING DESCRIPTION
expect() {
  if [ "$CODE" = "$1" ] && [[ "$BODY" == *"$2"* ]]; then ok "$3 -> $CODE $BODY"
  else fail "$3: expected $1 with '$2', got $CODE $BODY"; fi
}
queue_count() { ctl list_queues name messages 2>/dev/null | awk '$1 == "movierec.ratings" {print $2}'; }
wait_health() { # CODE SECONDS
  local deadline=$((SECONDS + $2))
  while [ $SECONDS -lt $deadline ]; do
    req GET /health
    [ "$CODE" = "$1" ] && return 0
    sleep 0.2
  done
  return 1
}

echo "== starting rabbitmq-server (node $NODE, port $AMQP_PORT)"
rmq_start
echo "== starting movierec events on $HTTP_PORT"
"$BIN" events --port "$HTTP_PORT" --amqp "amqp://guest:guest@127.0.0.1:$AMQP_PORT/" --threads 2 \
  --cors-origin http://127.0.0.1:8000 >"$TMP/events.log" 2>&1 &
EV_PID=$!
wait_health 200 30 || { cat "$TMP/events.log"; fail "events did not become healthy"; exit 1; }
expect 200 '"broker":"ok"' "GET /health"

# ---- accepted ----
post '{"user_id": 1, "movie_id": 50, "rating": 4}'
expect 202 '"status":"accepted"' "valid rating"
if [[ "$BODY" =~ \"event_id\":\"[0-9a-f]{32}\" ]]; then ok "event id is 32 hex chars"; else fail "event id: $BODY"; fi
FIRST_ID=$BODY
post '{"user_id": 943, "movie_id": 1682, "rating": 1, "ts": 1764070000}'
expect 202 '"event_id"' "valid rating with ts"
[ "$BODY" != "$FIRST_ID" ] || fail "two events got the same id"
post '{"user_id": 5000, "movie_id": 1, "rating": 5, "extra": "ignored"}'
expect 202 '"event_id"' "new user, extra field ignored"
# a client-chosen event id (the idempotency key of docs/SERVICES.md): kept, lowercased, and the
# same on a retry (the consumer stores an id once)
KEY=0123456789ABCDEF0123456789abcdef
post "{\"user_id\": 7, \"movie_id\": 50, \"rating\": 4, \"event_id\": \"$KEY\"}"
expect 202 '"event_id":"0123456789abcdef0123456789abcdef"' "client event id, lowercased"
post "{\"user_id\": 7, \"movie_id\": 50, \"rating\": 4, \"event_id\": \"$KEY\"}"
expect 202 '"event_id":"0123456789abcdef0123456789abcdef"' "retry with the same event id"
N=$(queue_count)
[ "$N" = 5 ] && ok "5 messages in movierec.ratings" || fail "queue has '$N' messages, 5 expected"

# ---- rejected ----
post '{"user_id": 1, "movie_id": 50,'
expect 400 'malformed JSON' "truncated JSON"
post 'not json'
expect 400 'malformed JSON' "not JSON"
post ''
expect 400 'empty body' "empty body"
post '{"user_id": 1, "user_id": 2, "movie_id": 50, "rating": 4}'
expect 400 'duplicate' "duplicate key"
post '[1, 2, 3]'
expect 422 'must be a JSON object' "array body"
post '{"user_id": "1", "movie_id": 50, "rating": 4}'
expect 422 'field \"user_id\" must be an integer, got a string' "user_id as a string"
post '{"user_id": 1, "movie_id": 50, "rating": 4.5}'
expect 422 'field \"rating\" must be an integer' "fractional rating"
post '{"user_id": 1, "movie_id": 50, "rating": true}'
expect 422 'got a boolean' "boolean rating"
post '{"user_id": 1, "movie_id": 50, "rating": 0}'
expect 422 'field \"rating\" must be between 1 and 5, got 0' "rating 0"
post '{"user_id": 1, "movie_id": 50, "rating": 6}'
expect 422 'field \"rating\" must be between 1 and 5, got 6' "rating 6"
post '{"user_id": 0, "movie_id": 50, "rating": 3}'
expect 422 'field \"user_id\" must be between 1' "user 0"
post '{"user_id": 1, "movie_id": 99999, "rating": 3}'
expect 422 'unknown movie_id 99999' "unknown movie"
post '{"user_id": 1, "movie_id": 50}'
expect 422 'missing field \"rating\"' "missing rating"
post '{"user_id": 1, "movie_id": 50, "rating": 3, "ts": "now"}'
expect 422 'field \"ts\"' "ts as a string"
post '{"user_id": 1, "movie_id": 50, "rating": 3, "event_id": 12}'
expect 422 'field \"event_id\" must be a string of 32 hex characters, got an integer' "event id as a number"
post '{"user_id": 1, "movie_id": 50, "rating": 3, "event_id": "abc"}'
expect 422 'field \"event_id\" must be 32 hex characters, got 3 characters' "short event id"
post '{"user_id": 1, "movie_id": 50, "rating": 3, "event_id": "0123456789abcdef0123456789abcdeg"}'
expect 422 'got 32 characters with a non-hex one' "event id with a non-hex character"
post '{"user_id": 1, "movie_id": 50, "rating": 3, "event_id": "0123456789abcdef0123456789abcdef0"}'
expect 422 'got 33 characters' "long event id"
head -c $((70 * 1024)) /dev/zero | tr '\0' 'x' >"$TMP/big"
req POST /interact -H 'Content-Type: application/json' --data-binary @"$TMP/big"
expect 413 'too large' "70 KiB body"
req GET /interact
expect 405 'not allowed' "GET /interact"
req POST "/interact?q=$(head -c 9000 /dev/zero | tr '\0' 'a')" -H 'Content-Type: application/json' \
  --data-binary '{"user_id": 1, "movie_id": 50, "rating": 4}'
expect 414 'too long' "9 KiB request URI"
post '{"user_id": 1, "movie_id": 50, "rating": 4, "nested": '"$(printf '[%.0s' $(seq 1 5000))"'}'
expect 400 'malformed JSON' "5000 nested arrays"
post '{"user_id": 1e400, "movie_id": 50, "rating": 4}'
[ "$CODE" = 400 ] || [ "$CODE" = 422 ] && ok "number overflow -> $CODE" || fail "1e400: $CODE $BODY"
post $'{"user_id": 1, "movie_id": 50, "rating": 4, "x": "\xff\xfe"}'
expect 400 'malformed JSON' "invalid UTF-8 in a string"
req GET /nope
expect 404 'no route' "unknown path"
req OPTIONS /interact -H 'Origin: http://127.0.0.1:8000' -H 'Access-Control-Request-Method: POST' \
  -H 'Access-Control-Request-Headers: content-type' -D "$TMP/headers"
if [ "$CODE" = 204 ] && grep -qi '^access-control-allow-origin: http://127.0.0.1:8000' "$TMP/headers" &&
  grep -qi '^access-control-allow-methods: .*POST' "$TMP/headers"; then ok "CORS preflight"
else fail "CORS preflight: $CODE $(cat "$TMP/headers")"; fi
kill -0 "$EV_PID" 2>/dev/null && ok "events still running" || fail "events died"
N=$(queue_count)
[ "$N" = 5 ] && ok "rejected requests published nothing" || fail "queue has '$N' messages, 5 expected"

# ---- broker down ----
echo "== stopping rabbitmq-server"
rmq_stop
wait_health 503 15 && ok "/health 503 with the broker down: $BODY" || fail "/health stayed $CODE"
[[ "$BODY" == *'"broker":"down"'* ]] || fail "health body: $BODY"
T0=$(date +%s%N)
post '{"user_id": 1, "movie_id": 50, "rating": 4}'
T1=$(date +%s%N)
expect 503 'message broker unavailable' "POST with the broker down"
MS=$(((T1 - T0) / 1000000))
[ "$MS" -lt 1000 ] && ok "503 in $MS ms" || fail "503 took $MS ms"
kill -0 "$EV_PID" 2>/dev/null && ok "events still running" || fail "events died"

# ---- broker back ----
echo "== restarting rabbitmq-server"
rmq_start
T0=$SECONDS
wait_health 200 20 && ok "recovered $((SECONDS - T0)) s after the broker was ready" || fail "no recovery"
post '{"user_id": 2, "movie_id": 51, "rating": 3}'
expect 202 '"event_id"' "POST after recovery"
N=$(queue_count)
[ "$N" = 6 ] && ok "6 messages (the durable queue kept the 5 persistent ones)" ||
  fail "queue has '$N' messages, 6 expected"

req GET /metrics
if [[ "$BODY" == *'http_requests_total{method="POST",route="/interact",code="2xx"} 6'* ]] &&
  [[ "$BODY" == *'events_published_total 6'* ]]; then ok "metrics count the requests"
else fail "metrics: $(echo "$BODY" | grep -E 'interact|events_' | head -8)"; fi

# ---- bearer token (MOVIEREC_TOKEN): a second instance on the same broker ----
TOKEN_PORT=$(pick_port)
TOKEN_URL=http://127.0.0.1:$TOKEN_PORT
MOVIEREC_TOKEN='s3cret-t0ken' "$BIN" events --port "$TOKEN_PORT" \
  --amqp "amqp://guest:guest@127.0.0.1:$AMQP_PORT/" --threads 1 >"$TMP/events_token.log" 2>&1 &
TOKEN_PID=$!
TOKEN_UP=0
for _ in $(seq 1 300); do
  curl -s -o /dev/null "$TOKEN_URL/health" && { TOKEN_UP=1; break; }
  kill -0 "$TOKEN_PID" 2>/dev/null || break
  sleep 0.1
done
[ "$TOKEN_UP" = 1 ] && ok "token instance answers" ||
  fail "token instance on $TOKEN_PORT did not answer: $(tail -n 5 "$TMP/events_token.log")"
tpost() { # BODY [curl args]: POST /interact on the token instance
  local b=$1
  shift
  CODE=$(curl -s -o "$TMP/body" -w '%{http_code}' --max-time 10 -X POST "$@" \
    -H 'Content-Type: application/json' --data-binary "$b" "$TOKEN_URL/interact" || true)
  BODY=$(cat "$TMP/body" 2>/dev/null || true)
}
GOOD='{"user_id": 3, "movie_id": 52, "rating": 5}'
tpost "$GOOD"
expect 401 'bearer token' "token set, no Authorization header"
tpost "$GOOD" -H 'Authorization: Bearer s3cret-t0kem'
expect 401 'bearer token' "wrong token (last byte)"
tpost "$GOOD" -H 'Authorization: Bearer s3cret-t0ken2'
expect 401 'bearer token' "token with an extra byte"
tpost "$GOOD" -H 'Authorization: Basic czNjcmV0LXQwa2Vu'
expect 401 'bearer token' "another scheme"
tpost 'not json'
expect 401 'bearer token' "no token: 401 before the body is looked at"
tpost "$GOOD" -H 'Authorization: Bearer s3cret-t0ken'
expect 202 '"event_id"' "right token"
tpost "$GOOD" -H 'authorization: bearer s3cret-t0ken'
expect 202 '"event_id"' "scheme and header name are case-insensitive"
tpost '{"user_id": 3}' -H 'Authorization: Bearer s3cret-t0ken'
expect 422 'missing field' "right token, bad body"
CODE=$(curl -s -o "$TMP/body" -w '%{http_code}' "$TOKEN_URL/health")
[ "$CODE" = 200 ] && ok "GET /health stays open" || fail "health with a token set: $CODE"
grep -q 'needs the bearer token' "$TMP/events_token.log" && ok "startup line says the token is on" ||
  fail "startup log: $(cat "$TMP/events_token.log")"
if MOVIEREC_TOKEN='s3cret-t0ken' "$BIN" populate --url "$TOKEN_URL" --count 3 --users 1 \
  >"$TMP/populate.log" 2>&1; then ok "populate sends MOVIEREC_TOKEN"
else fail "populate with the token: $(tail -3 "$TMP/populate.log")"; fi
"$BIN" populate --url "$TOKEN_URL" --count 1 --users 1 --timeout 2000 >"$TMP/populate.log" 2>&1 &&
  fail "populate without the token succeeded" || ok "populate without the token fails"
kill -TERM "$TOKEN_PID"
wait "$TOKEN_PID" && ok "token instance stopped cleanly" || fail "token instance exit code $?"

# ---- graceful stop ----
kill -TERM "$EV_PID"
for _ in $(seq 1 100); do kill -0 "$EV_PID" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$EV_PID" 2>/dev/null; then fail "events did not stop on SIGTERM"
else
  wait "$EV_PID" && ok "events stopped cleanly on SIGTERM" || fail "events exit code $?"
  EV_PID=
fi

echo "--- events log:"
cat "$TMP/events.log"
if [ "$FAILS" -ne 0 ]; then echo "$FAILS check(s) failed"; exit 1; fi
echo "all checks passed"
