#!/usr/bin/env bash
# Web UI end to end: private Redis + RabbitMQ (tests/harness), the real services, headless
# Chromium driving the page (tests/ui/ui_test.js): sections render, a 5-star rating changes the
# personalized row, search, the movie view with its "More like this" row, errors, a new user's
# genre section. Screenshots go next to the binary
# (build/ui.png, build/ui-movie.png, build/ui-new-user.png).
# Usage: tests/test_ui.sh [path/to/movierec]   (ctest runs it from the repo root)
set -euo pipefail
BIN=$(readlink -f "${1:-build/movierec}")
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/harness/common.sh"
cd "$HERE/.."
CHROMIUM=${MOVIEREC_CHROMIUM:-/usr/bin/chromium}

# Chromium is an optional extra (`MOVIEREC_DEPS_EXTRA=1 scripts/deps`); CI installs it.
if [ ! -x "$CHROMIUM" ]; then
  echo "SKIP: chromium is not installed ($CHROMIUM); install it with MOVIEREC_DEPS_EXTRA=1 scripts/deps"
  exit 0
fi
if ! command -v node >/dev/null; then
  echo "FAIL: chromium is installed but node is not: MOVIEREC_DEPS_EXTRA=1 scripts/deps installs nodejs" >&2
  exit 1
fi
command -v jq >/dev/null || { echo "FAIL: jq is required (scripts/deps)" >&2; exit 1; }
has() { "$BIN" "$1" --help >/dev/null 2>&1; }
if ! has api; then
  echo "SKIP: '$BIN api' does not exist yet: the UI test needs the API service"
  exit 0
fi
# Until the event pipeline is built, the page is tested without rating (said loudly below).
PIPELINE=1
for sub in events consume trending; do has "$sub" || PIPELINE=0; done

TMP=$(mktemp -d /tmp/mr_ui_test.XXXXXX)
PIDS=()
NAMES=()
cleanup() {
  set +e
  harness_stop "${PIDS[@]}"
  [ "$PIPELINE" = 1 ] && "$HERE/harness/rabbitmq.sh" stop "$TMP/rmq" >/dev/null 2>&1
  "$HERE/harness/redis.sh" stop "$TMP/redis" >/dev/null 2>&1
  rm -rf "$TMP"
}
trap cleanup EXIT

# Polls a command until it succeeds; fails the test with `what` after `secs` seconds.
wait_for() {
  local secs=$1 what=$2
  shift 2
  local end=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    if [ $SECONDS -ge $end ]; then
      echo "FAIL: $what not ready after ${secs}s" >&2
      for f in "$TMP"/*.log; do [ -f "$f" ] && { echo "--- $f"; tail -20 "$f"; }; done >&2
      exit 1
    fi
    sleep 0.2
  done
}

start() { # NAME COMMAND...: runs a service in the background, output in $TMP/NAME.log
  local name=$1
  shift
  "$@" >"$TMP/$name.log" 2>&1 &
  PIDS+=($!)
  NAMES+=("$name")
}

RPORT=$("$HERE/harness/redis.sh" start "$TMP/redis")
export MOVIEREC_REDIS_URL=redis://127.0.0.1:$RPORT
API_PORT=$(harness_pick_port)
EVENTS_PORT=$(harness_pick_port)
API=http://127.0.0.1:$API_PORT
EVENTS=http://127.0.0.1:$EVENTS_PORT

# Models: ctest passes its fixture_train_models root in MOVIEREC_TEST_MODELS; run by hand without
# it, the test trains (about 2 minutes on this machine). As in test_api.sh.
if [ -n "${MOVIEREC_TEST_MODELS:-}" ] && [ -e "$MOVIEREC_TEST_MODELS/current" ]; then
  MODELS=$MOVIEREC_TEST_MODELS
else
  MODELS=$TMP/models
  "$BIN" train --models "$MODELS" >"$TMP/train.log" 2>&1 || {
    echo "FAIL: movierec train" >&2
    tail -20 "$TMP/train.log" >&2
    exit 1
  }
fi

# The event service runs with a bearer token (MOVIEREC_TOKEN) and the API hands it to the page
# (--ui-token): the ratings the browser posts prove the UI works when writes need the token.
UI_TOKEN="ui-test-token-$$"
if [ "$PIPELINE" = 1 ]; then
  QPORT=$("$HERE/harness/rabbitmq.sh" start "$TMP/rmq")
  export MOVIEREC_AMQP_URL=amqp://guest:guest@127.0.0.1:$QPORT/
  start events "$BIN" events --port "$EVENTS_PORT" --amqp "$MOVIEREC_AMQP_URL" --cors-origin "$API" \
    --token "$UI_TOKEN"
  start consume "$BIN" consume --amqp "$MOVIEREC_AMQP_URL" --redis "$MOVIEREC_REDIS_URL"
  start trending "$BIN" trending --redis "$MOVIEREC_REDIS_URL" --interval 1
fi
start api "$BIN" api --port "$API_PORT" --threads 1 --events-url "$EVENTS" \
  --redis "$MOVIEREC_REDIS_URL" --models "$MODELS" --ui-token "$UI_TOKEN"
wait_for 30 "api /health" curl -sf -m 2 "$API/health"

UI_ARGS=()
if [ "$PIPELINE" = 1 ]; then
  wait_for 30 "events /health" curl -sf -m 2 "$EVENTS/health"
  # Ratings from other users so the trending section has recent events to count.
  for m in 300 313 315 316 318 333 340; do # movies user 1 has not rated (the API hides rated ones)
    for u in 2 3; do
      curl -sf -m 5 -X POST -H 'Content-Type: application/json' -H "Authorization: Bearer $UI_TOKEN" \
        -d "{\"user_id\": $u, \"movie_id\": $m, \"rating\": 5}" "$EVENTS/interact" >/dev/null ||
        echo "warning: seeding rating $u/$m failed" >&2
    done
  done
  # The page loads its sections once: wait until the API serves a trending list (consume +
  # trending's 1 s interval). Each probe asks for another new user: responses are cached per user.
  probe=900000
  trending_ready() {
    probe=$((probe + 1))
    curl -sf -m 2 "$API/recommendations/$probe/sections" |
      jq -e '[.sections[] | select(.name == "trending") | .items | length] | add > 0'
  }
  wait_for 20 "a trending list from the API" trending_ready
else
  echo "PARTIAL: 'movierec events/consume/trending' do not all exist yet: the page is tested" \
    "without rating (no trending events, no rating checks)"
  UI_ARGS+=(--no-rating)
fi

SHOT=$(dirname "$BIN")/ui.png
status=0
timeout 150 node tests/ui/ui_test.js --api "$API" --chromium "$CHROMIUM" --screenshot "$SHOT" \
  --user 1 --timeout-ms 8000 "${UI_ARGS[@]}" || status=$?
# Bad input during the test must never kill a service.
for i in "${!PIDS[@]}"; do
  if ! kill -0 "${PIDS[$i]}" 2>/dev/null; then
    echo "not ok - movierec ${NAMES[$i]} died during the test" >&2
    status=1
  fi
done
# Stop the services gracefully and check they exit cleanly (sanitizer builds report at exit).
for i in "${!PIDS[@]}"; do kill -TERM "${PIDS[$i]}" 2>/dev/null || true; done
for i in "${!PIDS[@]}"; do
  rc=0
  timeout 20 tail --pid="${PIDS[$i]}" -f /dev/null || { kill -9 "${PIDS[$i]}" 2>/dev/null; rc=124; }
  wait "${PIDS[$i]}" 2>/dev/null || rc=$?
  if [ $rc -ne 0 ] || grep -qE 'AddressSanitizer|LeakSanitizer|runtime error:' "$TMP/${NAMES[$i]}.log"; then
    echo "not ok - movierec ${NAMES[$i]} did not stop cleanly on SIGTERM (status $rc)" >&2
    status=1
  fi
done
if [ $status -ne 0 ]; then
  for name in "${NAMES[@]}"; do
    echo "--- $name.log"
    tail -15 "$TMP/$name.log"
  done
  echo "FAIL: UI test"
  exit 1
fi
echo "PASS: UI test$([ "$PIPELINE" = 1 ] || echo ' (PARTIAL: without the event pipeline)'), screenshots $SHOT"
