#!/usr/bin/env bash
# Fault test 2 (issue 5, "Nothing lost"): 20,000 ratings through POST /interact while RabbitMQ
# is restarted early on: the event service answers 503 while the broker is away and recovers by
# itself (no restart), the client retries with the same event ids, and every accepted rating is
# stored exactly once (a publish whose confirm was lost with the broker is retried under the
# same id, so it cannot be stored twice).
set -euo pipefail
# The broker must go down while the client still sends: stopping RabbitMQ (its CLI boots an
# Erlang VM) took 13 s on a loaded machine, longer than the last half at 2,000/s. At 800/s from
# a quarter on, 18 s of sending remain.
FAULT_RATE=${FAULT_RATE:-800}
. "$(dirname "${BASH_SOURCE[0]}")/harness/fault.sh"
fault_init test_fault_rabbitmq "${1:-build/movierec}"
fault_start_servers
fault_start_events
fault_start_consumer
fault_send

fault_wait_progress accepted $((FAULT_N / 4)) $((60 * FAULT_SLOW))
EVPID=$(fault_pid events)
CPID=$(fault_pid consume)
T_DOWN=$(fault_now)
fault_log "stopping RabbitMQ at $(fault_progress accepted) accepted"
"$H/rabbitmq.sh" halt "$TMP/rmq"
fault_log "RabbitMQ stopped"
# while it is away: /health and POST /interact answer 503 at once, nothing is accepted
fault_wait_code "$EV_URL/health" 503 10 || fail "events /health did not turn 503"
sleep 0.3 # the client writes its progress every 100 ms: let the last 202s show
ACC1=$(fault_progress accepted)
CODE=$(curl -s -o "$TMP/body" -m 5 -w '%{http_code}' -H 'Content-Type: application/json' \
  --data-binary '{"user_id": 1, "movie_id": 50, "rating": 4}' "$EV_URL/interact" || true)
[ "$CODE" = 503 ] && grep -q 'message broker unavailable' "$TMP/body" ||
  fail "POST /interact with the broker down: $CODE $(cat "$TMP/body")"
sleep 2
ACC2=$(fault_progress accepted)
[ "$ACC1" = "$ACC2" ] || fail "ratings accepted while the broker was down: $ACC1 -> $ACC2"
R503=$(fault_progress http503)
[ "$R503" -gt 0 ] || fail "the client saw no 503 while the broker was down"
fault_log "down: /health 503, POST 503, accepted stays at $ACC2, client saw $R503 503s so far"

"$H/rabbitmq.sh" restart "$TMP/rmq" >/dev/null || fail "RabbitMQ did not restart"
T_UP=$(fault_now)
fault_log "RabbitMQ up again ($(fault_elapsed "$T_DOWN") s after the stop began)"
fault_wait_code "$EV_URL/health" 200 $((30 * FAULT_SLOW)) || fail "events did not recover"
RECOVER_S=$(fault_elapsed "$T_UP")
fault_log "events healthy again $RECOVER_S s after the broker"
[ "$(fault_pid events)" = "$EVPID" ] || fail "the event service was restarted; it should recover by itself"

fault_wait_client
fault_wait_drain
fault_check
[ "$(fault_pid consume)" = "$CPID" ] || fail "the consumer was restarted; it should reconnect by itself"
grep -q "RabbitMQ reconnected" "$TMP/log/consume.log" || fail "the consumer logged no reconnect"
# the probe rating of user 1 was refused (503): never stored
[ -z "$(rcli hget 'mr:u:{1}:ratings' 50)" ] || fail "a 503'd rating was stored"
# the consumer's duplicates: publishes the broker took but could not confirm before it went
# down, answered 503 and retried under the same event id (stored once all the same)
fault_summary "broker down $(awk -v a="$T_DOWN" -v b="$T_UP" 'BEGIN { printf "%.1f", b - a }') s," \
  "events healthy $RECOVER_S s after it, neither service restarted; consumer: $(fault_consumer_counts)"
