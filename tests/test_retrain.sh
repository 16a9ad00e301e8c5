#!/usr/bin/env bash
# End-to-end test of continuous learning (docs/SERVICES.md, "Retraining"): a private redis-server,
# a copy of the trained fixture version, the API on a free port. Live ratings go into Redis the
# way `movierec consume` stores them; `movierec retrain --once` publishes the next version while
# a curl loop keeps requesting (zero failures, the API swaps without a restart); `models list`,
# `models rollback` (the API follows), keep-K pruning, an incomplete version refused, and a
# sabotaged candidate that is not published. Two trainings of a cheap pipeline (fewer feature
# generators, 20 trees) in all, one under sanitizers.
set -euo pipefail
BIN=$(readlink -f "${1:-build/movierec}")
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/harness/common.sh"
command -v jq >/dev/null || { echo "test_retrain: jq is required (scripts/deps)" >&2; exit 1; }

TMP=$(mktemp -d /tmp/mr_retrain_test.XXXXXX)
API_PID=""
LOOP_PID=""
cleanup() {
  [ -n "$LOOP_PID" ] && kill "$LOOP_PID" 2>/dev/null || true
  harness_stop "$API_PID"
  "$HERE/harness/redis.sh" stop "$TMP/redis" || true
  rm -rf "$TMP"
}
trap cleanup EXIT

FAILS=0
CHECKS=0
fail() { echo "FAIL: $*" >&2; FAILS=$((FAILS + 1)); }
ok() { CHECKS=$((CHECKS + 1)); }
check() { # check DESCRIPTION COMMAND...
  local what=$1
  shift
  if "$@"; then ok; else fail "$what"; fi
}
T0=$SECONDS

# ---- a private copy of the fixture version ---------------------------------------------------
MODELS=$TMP/models
mkdir -p "$MODELS"
if [ -n "${MOVIEREC_TEST_MODELS:-}" ] && [ -e "$MOVIEREC_TEST_MODELS/current" ]; then
  V1=$(basename "$(readlink -f "$MOVIEREC_TEST_MODELS/current")")
  cp -r "$MOVIEREC_TEST_MODELS/$V1" "$MODELS/$V1"
  ln -s "$V1" "$MODELS/current"
else
  echo "test_retrain: training a model into $MODELS" >&2
  "$BIN" train --models "$MODELS" >"$TMP/train.log" 2>&1 || { cat "$TMP/train.log" >&2; exit 1; }
  V1=$(basename "$(readlink -f "$MODELS/current")")
fi
N1=${V1#v}
# the cheap pipeline: ALS candidates, genre and gems features only (what reco opens), 20 trees
PARAMS="gens=1,per_gen=50,fgens=72,trees=20"

# ---- Redis and the API -----------------------------------------------------------------------
RPORT=$("$HERE/harness/redis.sh" start "$TMP/redis" --owner $$)
REDIS=redis://127.0.0.1:$RPORT
rcli() { redis-cli -h 127.0.0.1 -p "$RPORT" "$@"; }
PORT=$(harness_pick_port)
URL=http://127.0.0.1:$PORT
"$BIN" api --port "$PORT" --threads 2 --redis "$REDIS" --models "$MODELS" >"$TMP/api.log" 2>&1 &
API_PID=$!
for _ in $(seq 1 300); do
  curl -s -m 1 -o /dev/null "$URL/health" 2>/dev/null && break
  kill -0 "$API_PID" 2>/dev/null || { cat "$TMP/api.log" >&2; echo "api died" >&2; exit 1; }
  sleep 0.1
done
version() { curl -s -m 5 "$URL/health" | jq -r .model_version; }
check "API serves $V1 at start" [ "$(version)" = "$V1" ]

# put_rating UID MOVIE RATING TS: what consume's script stores (docs/SERVICES.md)
EVN=0
put_rating() {
  EVN=$((EVN + 1))
  rcli HSET "mr:u:{$1}:ratings" "$2" "$3:$4" >/dev/null
  rcli XADD mr:events '*' event_id "$(printf '%032x' "$EVN")" user_id "$1" movie_id "$2" \
    rating "$3" ts "$4" >/dev/null
  rcli INCR mr:stats:stored >/dev/null
  rcli DEL "mr:u:{$1}:cache" >/dev/null
}

# ---- live ratings: each base user rates a movie the serving version ranks 20th (a holdout on
# which neither version is expected to score much), a new user rates three movies ---------------
TS=1764070000
for u in $(seq 1 20); do
  m=$(curl -s -m 10 "$URL/recommendations/$u?n=20" | jq -r '.items[19].movie_id')
  TS=$((TS + 1))
  put_rating "$u" "$m" 4 "$TS"
done
NEWU=900001
for m in 50 181 258; do
  TS=$((TS + 1))
  put_rating "$NEWU" "$m" 5 "$TS"
done
check "23 live ratings stored" [ "$(rcli GET mr:stats:stored)" = 23 ]

# not due: fewer new ratings than --min-new
"$BIN" retrain --once --min-new 1000 --period 999999999 --redis "$REDIS" --models "$MODELS" >"$TMP/wait.log" 2>&1
check "retrain --once waits below --min-new" grep -q "23 new ratings since .* waiting" "$TMP/wait.log"

# ---- retrain while requests keep coming --------------------------------------------------------
: >"$TMP/loop.out"
# (paced: the loop must not starve the training it waits for on a 2-core machine)
(
  while :; do
    u=$((RANDOM % 900 + 1))
    code=$(curl -s -m 10 -o "$TMP/loop.body" -w '%{http_code}' "$URL/recommendations/$u?n=5" ||
      echo 000)
    v=$(grep -o '"model_version":"v[0-9]*"' "$TMP/loop.body" 2>/dev/null | cut -d'"' -f4)
    echo "$code $v" >>"$TMP/loop.out"
    sleep 0.05
  done
) &
LOOP_PID=$!
R0=$SECONDS
"$BIN" retrain --once --min-new 20 --keep 3 --epsilon 0.2 --params "$PARAMS" --redis "$REDIS" --models "$MODELS" \
  >"$TMP/retrain1.log" 2>&1 || { cat "$TMP/retrain1.log" >&2; fail "retrain --once failed"; }
RETRAIN_S=$((SECONDS - R0))
V2=v$((N1 + 1))
check "retrain published $V2" grep -q "published $V2 as" "$TMP/retrain1.log"
grep -q "published $V2 as" "$TMP/retrain1.log" || grep -v '^  ' "$TMP/retrain1.log" >&2
check "decision and both scores logged" \
  grep -Eq "holdout of [0-9]+ ratings: candidate $V2 nDCG@10 [0-9.]+, serving $V1 [0-9.]+, epsilon 0.2000 -> publish" \
  "$TMP/retrain1.log"
check "current -> $V2" [ "$(basename "$(readlink "$MODELS/current")")" = "$V2" ]
for _ in $(seq 1 100); do [ "$(version)" = "$V2" ] && break; sleep 0.2; done
check "the API swapped to $V2 without a restart" [ "$(version)" = "$V2" ]
sleep 1
kill "$LOOP_PID" 2>/dev/null || true
wait "$LOOP_PID" 2>/dev/null || true
LOOP_PID=""
TOTAL=$(wc -l <"$TMP/loop.out")
BAD=$(grep -vc '^200 ' "$TMP/loop.out" || true)
echo "test_retrain: $TOTAL requests during the retrain and the swap, $BAD failed;" \
  "retrain took ${RETRAIN_S}s: $(grep 'run published' "$TMP/retrain1.log" || true)"
check "requests were made during the swap" [ "$TOTAL" -gt 10 ]
check "no request failed during the swap ($BAD of $TOTAL)" [ "$BAD" = 0 ]
check "responses from both versions during the loop" \
  sh -c "grep -q '^200 $V1\$' '$TMP/loop.out' && grep -q '^200 $V2\$' '$TMP/loop.out'"
check "api logged the swap" grep -q "now serving model $V2 (was $V1" "$TMP/api.log"
check "recommendations carry $V2" \
  sh -c "curl -s '$URL/recommendations/3?n=3' | jq -e '.model_version == \"$V2\"' >/dev/null"
check "the API process is the same" kill -0 "$API_PID"

# what the new version knows: the new user's two older ratings (the newest is held out)
M2=$MODELS/$V2/manifest.json
check "manifest: parent, holdout scores, stream id" \
  jq -e ".parent == \"$V1\" and (.holdout.candidate_ndcg|type) == \"number\" and (.holdout.serving_ndcg|type) == \"number\" and .holdout.ratings > 0 and (.stream_id|test(\"^[0-9]+-[0-9]+$\")) and .stored == 23" "$M2"
check "live_ratings.tsv: the new user without the held-out rating" \
  sh -c "[ \$(grep -c '^$NEWU	' '$MODELS/$V2/live_ratings.tsv') = 2 ]"
check "a new user of the snapshot gets recommendations" \
  sh -c "curl -s '$URL/recommendations/$NEWU?n=5' | jq -e '(.items|length) == 5' >/dev/null"
curl -s "$URL/metrics" >"$TMP/metrics"
check "/metrics: retrain runs" grep -q 'movierec_retrain_runs_total{decision="published"} 1' "$TMP/metrics"
check "/metrics: retrain timing" grep -Eq 'movierec_retrain_last_seconds\{phase="train"\} [0-9.]+' "$TMP/metrics"
check "/metrics: swaps" grep -q 'movierec_api_model_swaps_total 1' "$TMP/metrics"
check "/metrics: model info" grep -q "movierec_model_info{version=\"$V2\"} 1" "$TMP/metrics"

# ---- models list / rollback --------------------------------------------------------------------
"$BIN" models list --models "$MODELS" >"$TMP/list"
check "models list shows both, $V2 current" \
  sh -c "grep -Eq '^\\*  +$V2 .*complete' '$TMP/list' && grep -Eq '^ +$V1 .*complete' '$TMP/list'"
"$BIN" models rollback "$V1" --models "$MODELS" --redis "$REDIS" >"$TMP/rb.out" 2>&1
check "rollback announced" grep -q "announced $V1 on mr:models (1 subscribers)" "$TMP/rb.out"
for _ in $(seq 1 100); do [ "$(version)" = "$V1" ] && break; sleep 0.2; done
check "the API followed the rollback to $V1" [ "$(version)" = "$V1" ]
"$BIN" models rollback "$V2" --models "$MODELS" --redis "$REDIS" >/dev/null 2>&1
for _ in $(seq 1 100); do [ "$(version)" = "$V2" ] && break; sleep 0.2; done
check "and back to $V2" [ "$(version)" = "$V2" ]
if "$BIN" models rollback v999 --models "$MODELS" --redis "$REDIS" >/dev/null 2>&1; then
  fail "rollback to a missing version succeeded"
else ok; fi

# ---- a sabotaged candidate is not published -------------------------------------------------------
# Now each of those users rates the serving version's top pick (computed with the live rating
# above, which both versions know as history): the serving version scores high on that holdout.
if [ "${MR_SANITIZE:-0}" != 1 ]; then
  for u in $(seq 1 20); do
    m=$(curl -s -m 10 "$URL/recommendations/$u?n=1" | jq -r '.items[0].movie_id')
    TS=$((TS + 1))
    put_rating "$u" "$m" 5 "$TS"
  done
  "$BIN" retrain --once --force --sabotage --epsilon 0.2 --params "$PARAMS" --redis "$REDIS" --models "$MODELS" \
    >"$TMP/retrain2.log" 2>&1 || { cat "$TMP/retrain2.log" >&2; fail "sabotaged retrain failed"; }
  check "a worse candidate is rejected" grep -Eq -- "-> rejected" "$TMP/retrain2.log"
  grep -q -- "-> rejected" "$TMP/retrain2.log" || grep -v '^  ' "$TMP/retrain2.log" >&2
  check "rejection logged with both scores" \
    grep -Eq "candidate v[0-9]+ nDCG@10 [0-9.]+, serving $V2 [0-9.]+" "$TMP/retrain2.log"
  check "current still $V2" [ "$(basename "$(readlink "$MODELS/current")")" = "$V2" ]
  check "no version dir left by the rejected candidate" \
    sh -c "! ls -a '$MODELS' | grep -Eq '^(v$((N1 + 2))|\\.v$((N1 + 2))\\.tmp)\$'"
  curl -s "$URL/metrics" >"$TMP/metrics"
  check "/metrics: rejected run" grep -q 'movierec_retrain_runs_total{decision="rejected"} 1' "$TMP/metrics"
  check "the API still serves $V2" [ "$(version)" = "$V2" ]
fi

# ---- keep-K pruning and an incomplete version ----------------------------------------------------
VA=v$((N1 + 10))
VB=v$((N1 + 11))
VC=v$((N1 + 12))
cp -r "$MODELS/$V2" "$MODELS/$VA"
cp -r "$MODELS/$V2" "$MODELS/$VB"
cp -r "$MODELS/$V2" "$MODELS/$VC"
: >"$MODELS/$VC/ranker.bin" # truncated: the manifest's size no longer matches
if "$BIN" models rollback "$VC" --models "$MODELS" --redis "$REDIS" >"$TMP/rbc.out" 2>&1; then
  fail "rollback to an incomplete version succeeded"
else
  check "incomplete version refused with a reason" grep -q "incomplete version (ranker.bin" "$TMP/rbc.out"
fi
check "models list marks it" grep -Eq "^ +$VC .*INCOMPLETE" <("$BIN" models list --models "$MODELS")
"$BIN" models rollback "$V1" --models "$MODELS" --redis "$REDIS" >/dev/null 2>&1
"$BIN" models prune --keep 2 --models "$MODELS" >"$TMP/prune.out"
check "prune keeps the newest 2 and the current one" \
  sh -c "[ -d '$MODELS/$VC' ] && [ -d '$MODELS/$VB' ] && [ -d '$MODELS/$V1' ] && [ ! -e '$MODELS/$VA' ] && [ ! -e '$MODELS/$V2' ]"
check "prune reports it" grep -q "pruned 2 versions" "$TMP/prune.out"
for _ in $(seq 1 100); do [ "$(version)" = "$V1" ] && break; sleep 0.2; done
check "the API serves $V1 after the prune" [ "$(version)" = "$V1" ]
check "the API is still up" kill -0 "$API_PID"

echo "test_retrain: $CHECKS checks passed, $FAILS failed ($((SECONDS - T0)) s)"
[ "$FAILS" = 0 ]
