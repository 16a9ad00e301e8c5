# Shared steps of the fault tests (tests/test_fault_*.sh; sourced, not run): private Redis and
# RabbitMQ (redis.sh, rabbitmq.sh), the services under scripts/supervise (the code `make run`
# uses), a stream of ratings from the load client (mr_rating_client send, which retries on 503
# and on connection errors as docs/SERVICES.md tells clients to) and the audit of Redis
# (mr_rating_client check). Every wait is bounded; everything started is stopped on exit, and by
# the owner watches even when the test is killed.
#
#   . "$(dirname "$0")/harness/fault.sh"
#   fault_init test_fault_x path/to/movierec
#   fault_start_servers [--aof]; fault_start_events; fault_start_consumer
#   fault_send; fault_wait_progress accepted $((FAULT_N / 2)) 60
#   ... inject the fault ...
#   fault_wait_client; fault_wait_drain; fault_check

FAULT_N=20000 # ratings per test (the issue's number)

fault_now() { echo "$EPOCHREALTIME"; }
fault_elapsed() { awk -v a="$1" -v b="$(fault_now)" 'BEGIN { printf "%.1f", b - a }'; }
fault_log() { echo "[$(fault_elapsed "$FAULT_T0") s] $*"; }

fault_init() { # NAME BIN
  FAULT_NAME=$1
  BIN=$(readlink -f "$2")
  FAULT_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
  H=$FAULT_ROOT/tests/harness
  . "$H/common.sh"
  CLIENT=$(dirname "$BIN")/tests/mr_rating_client
  for p in redis-server rabbitmq-server curl; do
    command -v $p >/dev/null || { echo "SKIP: no $p"; exit 0; }
  done
  [ -x "$BIN" ] || { echo "FAIL: no binary $BIN" >&2; exit 1; }
  [ -x "$CLIENT" ] || { echo "FAIL: test tool $CLIENT not built" >&2; exit 1; }
  TMP=$(mktemp -d "/tmp/mr_$FAULT_NAME.XXXXXX")
  mkdir -p "$TMP/run" "$TMP/log"
  export MOVIEREC_RUN_DIR=$TMP/run # scripts/supervise keeps its pid files there
  FAULT_T0=$(fault_now)
  CLIENT_PID=""
  # Sanitized builds run several times slower: a gentler stream, longer bounds.
  if [ "${MR_SANITIZE:-0}" = 1 ]; then
    FAULT_RATE=${FAULT_RATE:-700}
    FAULT_SLOW=3
  else
    FAULT_RATE=${FAULT_RATE:-2000}
    FAULT_SLOW=1
  fi
  FAULT_CONNS=16
  trap fault_cleanup EXIT
  trap 'exit 143' TERM INT # run the EXIT cleanup when ctest's timeout or ^C stops the script
  # a test killed without its trap (SIGKILL) must not leave supervisors restarting services
  harness_watch "$TMP" $$ bash -c '. "$1"; fault_stop_services "$2"' _ "$H/fault.sh" "$TMP/run"
}

# fault_stop_services [RUN_DIR]: stops every supervised service (SIGTERM through its
# supervisor, which stops the service and waits; SIGKILL for what is left after 15 s).
fault_stop_services() {
  local run=${1:-$TMP/run} f pid
  touch "$run/stopping"
  for f in "$run"/*.supervisor; do
    pid=$(cat "$f" 2>/dev/null) && [ -n "$pid" ] && { kill "$pid" 2>/dev/null || true; }
  done
  for _ in $(seq 1 150); do
    local alive=0
    for f in "$run"/*.supervisor "$run"/*.pid; do
      pid=$(cat "$f" 2>/dev/null) && [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && alive=1
    done
    [ $alive = 0 ] && break
    sleep 0.1
  done
  for f in "$run"/*.supervisor "$run"/*.pid; do
    pid=$(cat "$f" 2>/dev/null) && [ -n "$pid" ] && { kill -9 "$pid" 2>/dev/null || true; }
    rm -f "$f"
  done
  return 0
}

fault_cleanup() {
  set +e
  [ -n "$CLIENT_PID" ] && kill "$CLIENT_PID" 2>/dev/null
  [ -n "${FAULT_EXTRA_PIDS:-}" ] && kill $FAULT_EXTRA_PIDS 2>/dev/null
  fault_stop_services
  "$H/rabbitmq.sh" stop "$TMP/rmq" >/dev/null 2>&1
  "$H/redis.sh" stop "$TMP/redis" >/dev/null 2>&1
  harness_unwatch "$TMP"
  rm -rf "$TMP"
}

fail() {
  echo "FAIL ($FAULT_NAME): $*" >&2
  local f
  for f in "$TMP"/log/*.log "$TMP/client.err" "$TMP/client.out"; do
    [ -s "$f" ] && { echo "--- $f" >&2; grep -v '^  \|rows used\|genres,\|occupations$' "$f" | tail -15 >&2; }
  done
  echo "FAIL ($FAULT_NAME): $*" >&2 # again, below the logs
  exit 1
}

fault_start_servers() { # [--aof]
  RPORT=$("$H/redis.sh" start "$TMP/redis" "$@" --owner $$) || fail "redis-server did not start"
  QPORT=$("$H/rabbitmq.sh" start "$TMP/rmq" --owner $$) || fail "rabbitmq-server did not start"
  export MOVIEREC_REDIS_URL=redis://127.0.0.1:$RPORT
  export MOVIEREC_AMQP_URL=amqp://guest:guest@127.0.0.1:$QPORT/
  fault_log "Redis on $RPORT, RabbitMQ on $QPORT"
}

rcli() { "$H/redis.sh" cli "$TMP/redis" "$@"; }
fault_stored() { rcli get mr:stats:stored 2>/dev/null | sed 's/^$/0/'; }
fault_queue_len() { # NAME: messages ready + unacked (about 1 s: the Erlang CLI starts)
  "$H/rabbitmq.sh" ctl "$TMP/rmq" list_queues -q name messages 2>/dev/null |
    awk -v q="$1" '$1 == q { print $2 }'
}

# fault_supervise NAME CMD...: the service under scripts/supervise, log in $TMP/log/NAME.log.
fault_supervise() {
  local name=$1
  shift
  "$FAULT_ROOT/scripts/supervise" "$name" "$TMP/log/$name.log" "$@"
}
fault_pid() { cat "$TMP/run/$1.pid" 2>/dev/null; }

# fault_http_code URL: the status of GET URL ("000" when nothing answered within 2 s).
fault_http_code() { curl -s -o /dev/null -m 2 -w '%{http_code}' "$1" 2>/dev/null || true; }

# fault_wait_code URL CODE SECONDS: polls every 50 ms; 0 once URL answered CODE.
fault_wait_code() {
  local deadline
  deadline=$(awk -v n="$(fault_now)" -v s="$3" 'BEGIN { printf "%d", n + s }')
  while [ "$(fault_http_code "$1")" != "$2" ]; do
    [ "${EPOCHREALTIME%.*}" -lt "$deadline" ] || return 1
    sleep 0.05
  done
}

fault_start_events() {
  EV_PORT=$(harness_pick_port)
  EV_URL=http://127.0.0.1:$EV_PORT
  fault_supervise events "$BIN" events --port "$EV_PORT" --threads 2
  fault_wait_code "$EV_URL/health" 200 $((30 * FAULT_SLOW)) || fail "events not healthy on $EV_PORT"
}

fault_start_consumer() {
  fault_supervise consume "$BIN" consume --prefetch 100
}

# fault_send [ARGS...]: FAULT_N ratings in the background (CLIENT_PID), progress in
# $TMP/progress, what was sent in $TMP/sent. FAULT_CLIENT_ARGS adds client options (e.g.
# --no-key, to see what blind retries without an event id do).
fault_send() {
  FAULT_SEND_T0=$(fault_now)
  "$CLIENT" send --url "$EV_URL" --count "$FAULT_N" --conns "$FAULT_CONNS" --rate "$FAULT_RATE" \
    --deadline $((120 * FAULT_SLOW)) --out "$TMP/sent" --progress "$TMP/progress" \
    ${FAULT_CLIENT_ARGS:-} "$@" \
    >"$TMP/client.out" 2>"$TMP/client.err" &
  CLIENT_PID=$!
  fault_log "client: $FAULT_N ratings, $FAULT_CONNS connections, at most $FAULT_RATE/s"
}

# fault_progress FIELD: the client's counter (sent, accepted, retries, http503, ...).
fault_progress() {
  awk -v f="$1" '{ for (i = 1; i < NF; i++) if ($i == f) print $(i + 1) }' "$TMP/progress" \
    2>/dev/null | sed 's/^$/0/' | tail -1 | grep . || echo 0
}

# fault_wait_progress FIELD N SECONDS: until the client's FIELD counter reaches N.
fault_wait_progress() {
  local deadline=$((SECONDS + $3))
  while [ "$(fault_progress "$1")" -lt "$2" ]; do
    kill -0 "$CLIENT_PID" 2>/dev/null || fail "the client ended before $1 reached $2"
    [ $SECONDS -lt $deadline ] || fail "$1 $(fault_progress "$1") after $3 s, want $2"
    sleep 0.05
  done
}

# fault_wait_stored N SECONDS: until Redis counted N stored ratings.
fault_wait_stored() {
  local deadline=$((SECONDS + $2))
  while [ "$(fault_stored)" -lt "$1" ]; do
    [ $SECONDS -lt $deadline ] || fail "stored $(fault_stored) after $2 s, want $1"
    sleep 0.05
  done
}

# fault_wait_client: the client must end within its own deadline (plus a margin) with every
# rating accepted.
fault_wait_client() {
  local deadline=$((SECONDS + 150 * FAULT_SLOW)) rc=0
  while kill -0 "$CLIENT_PID" 2>/dev/null; do
    [ $SECONDS -lt $deadline ] || fail "the client did not end"
    sleep 0.1
  done
  wait "$CLIENT_PID" || rc=$?
  CLIENT_PID=""
  FAULT_SEND_S=$(fault_elapsed "$FAULT_SEND_T0")
  fault_log "client: $(cat "$TMP/client.out")"
  [ $rc = 0 ] || fail "the client could not get every rating accepted (exit $rc)"
}

# fault_wait_drain: the consumer stored everything: mr:stats:stored reached the accepted count
# and stayed put for 1 s, and movierec.ratings is empty.
fault_wait_drain() {
  local deadline=$((SECONDS + 60 * FAULT_SLOW)) want last=-1 same=0 s
  want=$(fault_progress accepted)
  while :; do
    s=$(fault_stored)
    if [ "$s" = "$last" ] && [ "$s" -ge "$want" ]; then same=$((same + 1)); else same=0; fi
    last=$s
    if [ $same -ge 10 ]; then
      [ "$(fault_queue_len movierec.ratings)" = 0 ] && break
      same=0
    fi
    [ $SECONDS -lt $deadline ] || fail "not drained: stored $s of $want accepted," \
      "movierec.ratings holds $(fault_queue_len movierec.ratings)"
    sleep 0.1
  done
  fault_log "drained: mr:stats:stored $s, movierec.ratings empty"
}

# fault_check: the audit; prints sent / accepted / stored / duplicates and fails on any loss,
# duplicate or stranger.
fault_check() {
  local out rc=0
  out=$("$CLIENT" check --redis "$MOVIEREC_REDIS_URL" --in "$TMP/sent" 2>"$TMP/check.err") || rc=$?
  echo "$out" | sed 's/^/  /'
  [ -s "$TMP/check.err" ] && sed 's/^/  /' "$TMP/check.err" | head -20
  [ $rc = 0 ] || fail "the audit found lost, duplicated or stray ratings"
  set -- $(echo "$out" | head -1)
  # "sent N accepted A stored S duplicates D ..."
  FAULT_SUMMARY="sent / accepted / stored / duplicates = $2 / $4 / $6 / $8"
  [ "$2" = "$FAULT_N" ] && [ "$4" = "$FAULT_N" ] && [ "$6" = "$FAULT_N" ] && [ "$8" = 0 ] ||
    fail "expected $FAULT_N / $FAULT_N / $FAULT_N / 0, got $FAULT_SUMMARY"
}

# fault_consumer_counts: stops the services and prints the consumer's last summary ("stored S,
# duplicates D, dead-lettered X": D counts events it found already stored, i.e. redeliveries
# and retries that reached the broker twice under one event id).
fault_consumer_counts() {
  fault_stop_services
  grep -o 'stopping: stored [0-9]*, duplicates [0-9]*' "$TMP/log/consume.log" | tail -1 |
    sed 's/^stopping: //'
}

# fault_summary WHAT: the closing lines.
fault_summary() {
  echo "$FAULT_NAME: $FAULT_SUMMARY; client: retries $(fault_progress retries)," \
    "503s $(fault_progress http503), connection errors $(fault_progress conn_errors)," \
    "stream $FAULT_SEND_S s; $*"
  echo "$FAULT_NAME: passed in $(fault_elapsed "$FAULT_T0") s"
}
