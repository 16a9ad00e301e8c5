#!/usr/bin/env bash
# Fault test 4 (issue 5, "Nothing lost"): the whole stack of `make run` under scripts/supervise
# (events, consume, api); 20,000 ratings through POST /interact and a GET load on the API; the
# API is killed with SIGKILL halfway. The supervisor restarts it, /health answers again within
# a bound (the downtime is reported), GETs succeed again, the restarted API serves the live
# ratings, and every accepted rating is stored exactly once.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/harness/fault.sh"
fault_init test_fault_api "${1:-build/movierec}"
command -v jq >/dev/null || fail "jq is required (scripts/deps)"

if [ -n "${MOVIEREC_TEST_MODELS:-}" ] && [ -e "$MOVIEREC_TEST_MODELS/current" ]; then
  MODELS=$MOVIEREC_TEST_MODELS
else
  MODELS=$TMP/models
  fault_log "training a model into $MODELS"
  "$BIN" train --models "$MODELS" >"$TMP/log/train.log" 2>&1 || fail "train"
fi
DOWN_MAX=$((30 * FAULT_SLOW)) # seconds the API may stay down after the kill

fault_start_servers
fault_start_events
fault_start_consumer
API_PORT=$(harness_pick_port)
API=http://127.0.0.1:$API_PORT
fault_supervise api "$BIN" api --port "$API_PORT" --threads 2 --models "$MODELS" \
  --events-url "$EV_URL"
fault_wait_code "$API/health" 200 $((60 * FAULT_SLOW)) || fail "the API did not come up"
fault_log "API up on $API_PORT"

# GET load: recommendations of the users being rated, one request at a time, each line
# "epoch_seconds http_code" (000: no answer)
(
  i=0
  while :; do
    u=$((900001 + i % 100))
    c=$(curl -s -o /dev/null -m 5 -w '%{http_code}' "$API/recommendations/$u?n=10" 2>/dev/null || true)
    echo "$EPOCHREALTIME ${c:-000}"
    i=$((i + 1))
  done
) >"$TMP/gets" 2>/dev/null &
FAULT_EXTRA_PIDS=$!
fault_send

fault_wait_progress accepted $((FAULT_N / 2)) $((60 * FAULT_SLOW))
OLD=$(fault_pid api)
kill -9 "$OLD"
T_KILL=$(fault_now)
fault_log "killed the API (pid $OLD, SIGKILL) at $(fault_progress accepted) accepted"
fault_wait_code "$API/health" 200 "$DOWN_MAX" || fail "the API was not back within $DOWN_MAX s"
T_UP=$(fault_now)
DOWN_S=$(awk -v a="$T_KILL" -v b="$T_UP" 'BEGIN { printf "%.2f", b - a }')
NEW=$(fault_pid api)
[ -n "$NEW" ] && [ "$NEW" != "$OLD" ] || fail "no new API process"
grep -q "supervisor: api exited (killed by signal 9)" "$TMP/log/api.log" ||
  fail "no supervisor line for the kill"
fault_log "the supervisor restarted the API (pid $NEW): /health 200 again after $DOWN_S s"

fault_wait_client
fault_wait_drain
sleep 1 # GETs after the recovery
kill "$FAULT_EXTRA_PIDS" 2>/dev/null || true
wait "$FAULT_EXTRA_PIDS" 2>/dev/null || true
FAULT_EXTRA_PIDS=""
# GETs: before the kill all 200; between kill and recovery failures allowed; after it all 200
read -r G_ALL G_OK G_BEFORE_BAD G_DOWN G_AFTER G_AFTER_BAD < <(awk -v k="$T_KILL" -v u="$T_UP" '
  NF == 2 { all++; ok += $2 == 200
    if ($1 < k) bad_before += $2 != 200
    else if ($1 <= u + 0.5) down++
    else { after++; bad_after += $2 != 200 } }
  END { print all + 0, ok + 0, bad_before + 0, down + 0, after + 0, bad_after + 0 }' "$TMP/gets")
fault_log "GET load: $G_ALL requests, $G_OK answered 200; $G_DOWN during the downtime," \
  "$G_AFTER after it ($G_AFTER_BAD failed)"
if [ "$G_BEFORE_BAD" != 0 ] || [ "$G_AFTER" = 0 ] || [ "$G_AFTER_BAD" != 0 ]; then
  awk -v k="$T_KILL" '$2 != 200 { printf "  GET answered %s at %+.2f s from the kill\n", $2, $1 - k }' \
    "$TMP/gets" | head -20
  fail "GETs: $G_BEFORE_BAD failed before the kill, $G_AFTER_BAD of $G_AFTER after the recovery"
fi

fault_check
# the restarted API reads the live ratings from Redis: user 900001 rated FAULT_N / 100 movies
LIVE=$(curl -s -m 5 "$API/users/900001/ratings" | jq '[.items[] | select(.source == "live")] | length')
[ "$LIVE" = $((FAULT_N / 100)) ] || fail "the restarted API shows $LIVE live ratings of user 900001, want $((FAULT_N / 100))"
fault_summary "API down $DOWN_S s after SIGKILL (bound $DOWN_MAX s); GETs $G_OK/$G_ALL ok," \
  "$G_AFTER after the recovery all ok"
