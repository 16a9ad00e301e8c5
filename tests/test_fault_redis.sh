#!/usr/bin/env bash
# Fault test 3 (issue 5, "Nothing lost"): 20,000 ratings through POST /interact while Redis
# (append-only file on) is restarted halfway: the event service keeps accepting (RabbitMQ holds
# the ratings), the consumer holds its acks and retries until Redis is back, and every accepted
# rating is stored exactly once.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/harness/fault.sh"
fault_init test_fault_redis "${1:-build/movierec}"
fault_start_servers --aof
fault_start_events
fault_start_consumer
fault_send

fault_wait_stored $((FAULT_N / 2)) $((60 * FAULT_SLOW))
CPID=$(fault_pid consume)
"$H/redis.sh" halt "$TMP/redis"
T_DOWN=$(fault_now)
ACC_DOWN=$(fault_progress accepted)
fault_log "Redis stopped at $ACC_DOWN accepted"
sleep 2
HELD=$(fault_queue_len movierec.ratings)
ACC_UP=$(fault_progress accepted)
"$H/redis.sh" restart "$TMP/redis" >/dev/null || fail "Redis did not restart"
DOWN_S=$(fault_elapsed "$T_DOWN")
fault_log "Redis restarted after $DOWN_S s; meanwhile $((ACC_UP - ACC_DOWN)) more accepted," \
  "movierec.ratings held $HELD"
[ "$ACC_UP" -gt "$ACC_DOWN" ] || [ "$ACC_DOWN" -ge "$FAULT_N" ] ||
  fail "the event service stopped accepting while Redis was down"
[ "${HELD:-0}" -gt 0 ] || fail "RabbitMQ held no message while Redis was down"
grep -q "Redis unavailable\|storing [0-9]* events failed" "$TMP/log/consume.log" ||
  fail "the consumer logged no Redis error"

fault_wait_client
fault_wait_drain
fault_check
[ "$(fault_pid consume)" = "$CPID" ] || fail "the consumer was restarted; it should ride the outage out"
grep -q "Redis reconnected\|retrying" "$TMP/log/consume.log" || fail "no reconnect logged"
fault_summary "Redis down $DOWN_S s, $HELD messages held meanwhile, consumer not restarted"
