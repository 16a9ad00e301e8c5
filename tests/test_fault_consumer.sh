#!/usr/bin/env bash
# Fault test 1 (issue 5, "Nothing lost"): 20,000 ratings through POST /interact while the
# consumer is killed with SIGKILL halfway; scripts/supervise restarts it, the broker redelivers
# what it had not acked, and every accepted rating is stored exactly once.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/harness/fault.sh"
fault_init test_fault_consumer "${1:-build/movierec}"
fault_start_servers
fault_start_events
fault_start_consumer
fault_send

fault_wait_stored $((FAULT_N / 2)) $((60 * FAULT_SLOW))
OLD=$(fault_pid consume)
kill -9 "$OLD"
T_KILL=$(fault_now)
AT_KILL=$(fault_stored)
fault_log "killed the consumer (pid $OLD, SIGKILL) at $AT_KILL stored, $(fault_progress accepted) accepted"
# the supervisor restarts it (after its 1 s delay)
deadline=$((SECONDS + 15 * FAULT_SLOW))
until NEW=$(fault_pid consume) && [ -n "$NEW" ] && [ "$NEW" != "$OLD" ] && kill -0 "$NEW" 2>/dev/null; do
  [ $SECONDS -lt $deadline ] || fail "the supervisor did not restart the consumer"
  sleep 0.05
done
fault_log "the supervisor restarted the consumer (pid $NEW) after $(fault_elapsed "$T_KILL") s"
grep -q "supervisor: consume exited (killed by signal 9)" "$TMP/log/consume.log" ||
  fail "no supervisor line for the kill"
[ "$(fault_progress accepted)" -lt "$FAULT_N" ] || echo "note: the client had finished before the kill"

fault_wait_client
fault_wait_drain
fault_check

# A client's retry under the same event id (its first attempt reached the broker, the answer
# was lost) is stored once, and with the first attempt's rating.
KEY=$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')
for r in 2 5; do
  CODE=$(curl -s -o "$TMP/body" -m 5 -w '%{http_code}' -H 'Content-Type: application/json' \
    --data-binary "{\"user_id\": 990001, \"movie_id\": 1, \"rating\": $r, \"event_id\": \"$KEY\"}" \
    "$EV_URL/interact" || true)
  [ "$CODE" = 202 ] && grep -q "\"event_id\":\"$KEY\"" "$TMP/body" || fail "retry with a key: $CODE $(cat "$TMP/body")"
done
fault_wait_stored $((FAULT_N + 1)) 30
sleep 1
[ "$(fault_stored)" = $((FAULT_N + 1)) ] || fail "two posts under one event id stored $(($(fault_stored) - FAULT_N)) times"
[ "$(rcli hget 'mr:u:{990001}:ratings' 1 | cut -d: -f1)" = 2 ] || fail "the retry's rating replaced the first"
fault_log "two posts under one event id: stored once, with the first rating"

# the restarted consumer's summary: redelivered events it found already stored
fault_summary "killed at $AT_KILL stored; restarted consumer: $(fault_consumer_counts)"
