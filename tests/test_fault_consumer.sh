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
# the restarted consumer's summary: redelivered events it found already stored
fault_stop_services
REDELIVERED=$(grep -o 'stopping: stored [0-9]*, duplicates [0-9]*' "$TMP/log/consume.log" | tail -1)
fault_summary "killed at $AT_KILL stored; restarted consumer: ${REDELIVERED#stopping: }"
