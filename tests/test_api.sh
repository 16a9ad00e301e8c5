#!/usr/bin/env bash
# End-to-end test of `movierec api` (docs/SERVICES.md, API section): a private redis-server, a
# model directory (trained here unless MOVIEREC_TEST_MODELS names one), the API on a free port;
# every endpoint and error case with curl + jq, the response cache, live ratings, cold start,
# Redis down / hung (503 health, degraded answers, reconnect) and bad requests that must not
# kill the process.
set -euo pipefail
BIN=$(readlink -f "${1:-build/movierec}")
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/harness/common.sh"
command -v jq >/dev/null || { echo "test_api: jq is required (scripts/deps)" >&2; exit 1; }

TMP=$(mktemp -d /tmp/mr_api_test.XXXXXX)
API_PID=""
REDIS_STOPPED_PID=""
API2_PID=""
cleanup() {
  [ -n "$API2_PID" ] && kill "$API2_PID" 2>/dev/null || true
  [ -n "$REDIS_STOPPED_PID" ] && kill -CONT "$REDIS_STOPPED_PID" 2>/dev/null || true
  harness_stop "$API_PID"
  "$HERE/harness/redis.sh" stop "$TMP/redis" || true
  rm -rf "$TMP"
}
trap cleanup EXIT

FAILS=0
CHECKS=0
fail() { echo "FAIL: $*" >&2; FAILS=$((FAILS + 1)); }
ok() { CHECKS=$((CHECKS + 1)); }

# ---- the model -----------------------------------------------------------------------------
if [ -n "${MOVIEREC_TEST_MODELS:-}" ] && [ -e "$MOVIEREC_TEST_MODELS/current" ]; then
  MODELS=$MOVIEREC_TEST_MODELS
else
  MODELS=$TMP/models
  echo "test_api: training a model into $MODELS" >&2
  "$BIN" train --models "$MODELS" >"$TMP/train.log" 2>&1 || { cat "$TMP/train.log" >&2; exit 1; }
fi
VERSION=$(basename "$(readlink -f "$MODELS/current")")

# ---- the UI files and a secret next to them (path traversal target) -------------------------
mkdir -p "$TMP/web/static" "$TMP/web/sub"
echo '<!doctype html><title>movierec test page</title>' >"$TMP/web/index.html"
echo 'console.log("static ok");' >"$TMP/web/static/app.js"
echo 'nested ok' >"$TMP/web/sub/n.txt"
echo 'TOPSECRET' >"$TMP/secret.txt"

# ---- Redis and the API -----------------------------------------------------------------------
RPORT=$("$HERE/harness/redis.sh" start "$TMP/redis")
rcli() { redis-cli -h 127.0.0.1 -p "$RPORT" "$@"; }
PORT=$(harness_pick_port)
URL=http://127.0.0.1:$PORT
"$BIN" api --port "$PORT" --threads 2 --redis "redis://127.0.0.1:$RPORT" --models "$MODELS" \
  --web "$TMP/web" --events-url "http://events.test:8001" --cache-ttl 300 --redis-timeout 300 \
  --ui-token 'ui"t0k</script>' \
  >"$TMP/api.log" 2>&1 &
API_PID=$!
for _ in $(seq 1 300); do
  if curl -s -m 1 -o /dev/null "$URL/health" 2>/dev/null; then break; fi
  kill -0 "$API_PID" 2>/dev/null || { cat "$TMP/api.log" >&2; echo "test_api: api died" >&2; exit 1; }
  sleep 0.1
done

# get PATH [curl args...]: sets CODE, body in $TMP/body
get() {
  local path=$1
  shift
  CODE=$(curl -s -m 10 -o "$TMP/body" -w '%{http_code}' "$@" "$URL$path" || echo 000)
}
# expect CODE PATH [JQ-EXPR [curl args...]]: the status and (optionally) a jq test on the body
expect() {
  local want=$1 path=$2 expr=${3:-}
  shift 3 2>/dev/null || shift $#
  get "$path" "$@"
  if [ "$CODE" != "$want" ]; then
    fail "$path: status $CODE, want $want: $(head -c 300 "$TMP/body")"
    return 0
  fi
  if [ -n "$expr" ] && ! jq -e "$expr" "$TMP/body" >/dev/null 2>&1; then
    fail "$path: jq '$expr' is false on: $(head -c 400 "$TMP/body")"
    return 0
  fi
  ok
}
alive() {
  if ! kill -0 "$API_PID" 2>/dev/null; then
    fail "api process died after $1"
    cat "$TMP/api.log" >&2
    exit 1
  fi
  expect 200 /health '.status == "ok"'
}

# ---- health -----------------------------------------------------------------------------------
expect 200 /health ".status == \"ok\" and .redis == \"ok\" and .model_version == \"$VERSION\""

# ---- recommendations ----------------------------------------------------------------------------
ITEM='(.movie_id|type=="number") and (.title|type=="string") and (.year|type=="number") and (.genres|type=="array") and (.score|type=="number") and (.poster_url|type=="string")'
expect 200 /recommendations/1 ".user_id == 1 and .model_version == \"$VERSION\" and .source == \"computed\" and (.items|length) == 10 and all(.items[]; $ITEM)"
cp "$TMP/body" "$TMP/r1_computed"
expect 200 /recommendations/1 '.source == "cache" and (.items|length) == 10'
if [ "$(jq -c .items "$TMP/body")" != "$(jq -c .items "$TMP/r1_computed")" ]; then
  fail "cached items differ from the computed ones"
else ok; fi
# the list is cached compact (movie index, score text) and rendered again on a hit: byte for
# byte the computed body but for the source
sed 's/^{"source":"computed",/{"source":"cache",/' "$TMP/r1_computed" | cmp -s - "$TMP/body" && ok ||
  fail "cached body is not the computed body: $(head -c 300 "$TMP/body")"
CV=$(rcli HGET 'mr:u:{1}:cache' "$VERSION|n=10")
[[ "$CV" == C1:* ]] && [ "${#CV}" -lt 400 ] && ok || fail "cache value is not compact: ${CV:0:80}"
# a malformed cached value (movie index out of range, no score) is a miss, recomputed and replaced
for bad in 'C1:99999,1.5;' 'C1:3,;' 'C1:3,1.5' 'C1:x,1;'; do
  rcli HSET 'mr:u:{1}:cache' "$VERSION|n=10" "$bad" >/dev/null
  expect 200 /recommendations/1 '.source == "computed" and (.items|length) == 10'
done
expect 200 /recommendations/1 '.source == "cache" and (.items|length) == 10'
expect 200 '/recommendations/1?n=5' '.source == "computed" and (.items|length) == 5'
expect 200 '/recommendations/1?n=100' '(.items|length) == 100'
[ "$(rcli HEXISTS 'mr:u:{1}:cache' "$VERSION|n=5")" = 1 ] && ok || fail "n=5 not cached in mr:u:{1}:cache"
TTL=$(rcli TTL 'mr:u:{1}:cache')
[ "$TTL" -gt 0 ] && [ "$TTL" -le 300 ] && ok || fail "cache TTL $TTL"
for bad in 'n=0' 'n=101' 'n=abc' 'n=-1' 'n=99999999999999999999' 'n=' 'n=1.5'; do
  expect 400 "/recommendations/1?$bad" '.error|type=="string"'
done
for bad in 0 -1 abc 2147483648 99999999999 1e3 '%20' '1%00' "$(printf 'x%.0s' $(seq 1 300))"; do
  expect 400 "/recommendations/$bad" '.error|type=="string"'
done
# cold start: ids not in the data are new users
expect 200 /recommendations/2147483647 '(.items|length) == 10 and .source == "computed"'
expect 200 /recommendations/999999 '(.items|length) == 10'
alive "bad recommendation requests"

# ---- the stage-2 ranker on request (?ranker=ltr|cross) ---------------------------------------
expect 200 '/recommendations/1?ranker=cross' ".ranker == \"cross\" and .source == \"computed\" and (.items|length) == 10 and all(.items[]; $ITEM)"
cp "$TMP/body" "$TMP/r1_cross"
expect 200 '/recommendations/1?ranker=cross' '.source == "cache" and .ranker == "cross"'
[ "$(rcli HEXISTS 'mr:u:{1}:cache' "$VERSION|n=10:r=cross")" = 1 ] && ok || fail "cross list not cached under n=10:r=cross"
expect 200 '/recommendations/1?ranker=ltr' '.ranker == "ltr" and .source == "computed"'
# LambdaMART is the default: the same list; the cross ranker scores differently
if [ "$(jq -c .items "$TMP/body")" != "$(jq -c .items "$TMP/r1_computed")" ]; then
  fail "?ranker=ltr differs from the default list"
else ok; fi
if [ "$(jq -c .items "$TMP/r1_cross")" = "$(jq -c .items "$TMP/r1_computed")" ]; then
  fail "?ranker=cross gave LambdaMART's list"
else ok; fi
expect 200 '/recommendations/1/sections?ranker=cross' '.ranker == "cross" and (.sections[0].name == "personalized") and (.sections[0].items|length) == 10'
expect 200 '/recommendations/999999?ranker=cross' '(.items|length) == 10'
for bad in 'ranker=xgb' 'ranker=' 'ranker=CROSS' 'ranker=cross,ltr'; do
  expect 400 "/recommendations/1?$bad" '.error|test("ranker")'
done
expect 400 '/recommendations/1/sections?ranker=nope' '.error|test("ranker")'
# a version trained before the cross ranker (no cross.bin): 503 for ?ranker=cross, the rest works
mkdir -p "$TMP/old/v1"
cp -r "$(readlink -f "$MODELS/current")/." "$TMP/old/v1/"
rm -f "$TMP/old/v1/cross.bin"
ln -s v1 "$TMP/old/current"
PORT2=$(harness_pick_port)
"$BIN" api --port "$PORT2" --threads 1 --redis "redis://127.0.0.1:$RPORT" --models "$TMP/old" \
  --web "$TMP/web" --cache-ttl 300 >"$TMP/api2.log" 2>&1 &
API2_PID=$!
for _ in $(seq 1 300); do
  if curl -s -m 1 -o /dev/null "http://127.0.0.1:$PORT2/health" 2>/dev/null; then break; fi
  kill -0 "$API2_PID" 2>/dev/null || { cat "$TMP/api2.log" >&2; fail "api without cross.bin died"; break; }
  sleep 0.1
done
CODE=$(curl -s -m 10 -o "$TMP/body" -w '%{http_code}' "http://127.0.0.1:$PORT2/recommendations/2?ranker=cross" || echo 000)
[ "$CODE" = 503 ] && jq -e '.error|test("cross")' "$TMP/body" >/dev/null && ok || fail "no cross.bin: status $CODE, want 503: $(head -c 300 "$TMP/body")"
CODE=$(curl -s -m 10 -o "$TMP/body" -w '%{http_code}' "http://127.0.0.1:$PORT2/recommendations/2" || echo 000)
[ "$CODE" = 200 ] && ok || fail "no cross.bin: default ranker status $CODE"
kill "$API2_PID" 2>/dev/null || true
wait "$API2_PID" 2>/dev/null || true
alive "ranker requests"

# ---- cache invalidation and live ratings ----------------------------------------------------------
rcli DEL 'mr:u:{1}:cache' >/dev/null
expect 200 /recommendations/1 '.source == "computed"'
TOP=$(jq '.items[0].movie_id' "$TMP/r1_computed")
NOW=$(date +%s)
# what the consumer does for a new rating: HSET the live rating, DEL the cache hash
rcli HSET 'mr:u:{1}:ratings' "$TOP" "5:$NOW" >/dev/null
rcli HSET 'mr:u:{1}:ratings' bogus "x" >/dev/null      # malformed: skipped, logged
rcli HSET 'mr:u:{1}:ratings' 999999 "4:$NOW" >/dev/null # unknown movie: skipped
rcli DEL 'mr:u:{1}:cache' >/dev/null
expect 200 /recommendations/1 ".source == \"computed\" and all(.items[]; .movie_id != $TOP)"
if [ "$(jq -c .items "$TMP/body")" = "$(jq -c .items "$TMP/r1_computed")" ]; then
  fail "recommendations did not change after a live rating"
else ok; fi
grep -q "malformed live rating" "$TMP/api.log" && ok || fail "no log line for a malformed live rating"
expect 200 /users/1/ratings ".user_id == 1 and .items[0].movie_id == $TOP and .items[0].source == \"live\" and .items[0].rating == 5 and (.items|length) == .count and .count >= 20 and ([.items[].ts] == ([.items[].ts]|sort|reverse)) and (.items[1].title|type==\"string\")"
expect 200 /users/999999/ratings '.count == 0 and .items == []'
expect 400 /users/abc/ratings '.error|type=="string"'

# ---- a rating stored while a body is computed never hides behind that body ------------------------
# An instance whose cache writes are held back 1.5 s (test hook): the GET reads user 11's ratings,
# the consumer's two steps for a new rating run (HSET the rating, DEL the cache), then the
# delayed write arrives with the old body. It must not stay: the next GET computes and shows the
# rating. User 12, whose ratings do not change, gets its delayed write cached.
PORT3=$(harness_pick_port)
MOVIEREC_TEST_CACHE_WRITE_DELAY_MS=1500 "$BIN" api --port "$PORT3" --threads 1 \
  --redis "redis://127.0.0.1:$RPORT" --models "$MODELS" --web "$TMP/web" --cache-ttl 300 \
  >"$TMP/api3.log" 2>&1 &
API3_PID=$!
for _ in $(seq 1 300); do
  curl -s -m 1 -o /dev/null "http://127.0.0.1:$PORT3/health" 2>/dev/null && break
  kill -0 "$API3_PID" 2>/dev/null || { cat "$TMP/api3.log" >&2; fail "api with the delay hook died"; break; }
  sleep 0.1
done
U3=http://127.0.0.1:$PORT3
rcli DEL 'mr:u:{11}:cache' 'mr:u:{12}:cache' >/dev/null
curl -s -m 10 -o "$TMP/r11" "$U3/recommendations/11" && curl -s -m 10 -o /dev/null "$U3/recommendations/12"
[ "$(jq -r .source "$TMP/r11")" = computed ] && ok || fail "user 11 first GET: $(head -c 200 "$TMP/r11")"
TOP11=$(jq '.items[0].movie_id' "$TMP/r11")
rcli HSET 'mr:u:{11}:ratings' "$TOP11" "1:$(date +%s)" >/dev/null
rcli DEL 'mr:u:{11}:cache' >/dev/null
sleep 2.5 # both delayed writes have been sent
[ "$(rcli HEXISTS 'mr:u:{11}:cache' "$VERSION|n=10")" = 0 ] && ok ||
  fail "the body computed before the rating was cached after it"
[ "$(rcli HEXISTS 'mr:u:{12}:cache' "$VERSION|n=10")" = 1 ] && ok ||
  fail "an unchanged user's delayed write was not cached"
curl -s -m 10 -o "$TMP/r11b" "$U3/recommendations/11"
jq -e ".source == \"computed\" and all(.items[]; .movie_id != $TOP11)" "$TMP/r11b" >/dev/null && ok ||
  fail "after the rating: $(head -c 200 "$TMP/r11b")"
grep -q "test hook: cache writes delayed" "$TMP/api3.log" && ok || fail "no test-hook line in the log"
sleep 2 # the second GET's delayed write lands before the instance stops
kill "$API3_PID" 2>/dev/null || true
wait "$API3_PID" 2>/dev/null && ok || fail "api with the delay hook: exit code $?"

# ---- sections -----------------------------------------------------------------------------------
SECT='[.sections[].name] == ["personalized","trending","hidden_gems","genre"] and all(.sections[]; (.title|type=="string") and (.title|length) > 0)'
expect 200 /recommendations/7/sections "$SECT and .source == \"computed\" and .user_id == 7 and (.sections[0].items|length) == 10 and (.sections[1].items|length) == 0 and (.sections[2].items|length) == 10 and (.sections[3].items|length) == 10 and all(.sections[0].items[]; $ITEM)"
expect 200 /recommendations/7/sections "$SECT and .source == \"cache\""
# trending appears once the trending service wrote it; movies the user rated are skipped
RATED7=$(curl -s "$URL/users/7/ratings" | jq '.items[0].movie_id')
rcli SET mr:trending "{\"updated_at\":$NOW,\"window_s\":86400,\"half_life_s\":21600,\"items\":[{\"movie_id\":$RATED7,\"score\":9.5},{\"movie_id\":50,\"score\":3.5},{\"movie_id\":999999,\"score\":2},{\"movie_id\":181,\"score\":1.25}]}" >/dev/null
rcli DEL 'mr:u:{7}:cache' 'mr:u:{888888}:cache' >/dev/null
expect 200 /recommendations/888888/sections "[.sections[1].items[].movie_id] == [$RATED7,50,181] and (.sections[1].items[0].title|type==\"string\") and .sections[1].items[0].score == 9.5"
expect 200 /recommendations/7/sections "all(.sections[1].items[]; .movie_id != $RATED7)"
expect 200 '/recommendations/888888/sections?genres=Action,Comedy' '.sections[3].name == "genre" and .sections[3].genres == ["Action","Comedy"] and (.sections[3].items|length) == 10 and all(.sections[3].items[]; (.genres|index("Action")) or (.genres|index("Comedy")))'
[ "$(rcli HEXISTS 'mr:u:{888888}:cache' "$VERSION|sections:g=Action,Comedy")" = 1 ] && ok || fail "genre sections not cached"
expect 200 '/recommendations/888888/sections?genres=comedy,action' '.source == "cache"'
expect 400 '/recommendations/888888/sections?genres=Action,Nope' '.error|test("Nope")'
expect 400 "/recommendations/888888/sections?genres=$(printf 'A%.0s' $(seq 1 700))" '.error|type=="string"'
expect 400 /recommendations/x/sections '.error|test("user id")'
alive "bad sections requests"

# ---- movies -------------------------------------------------------------------------------------
expect 200 '/movies?q=toy' '.count >= 1 and any(.items[]; .title|test("Toy Story")) and all(.items[]; .title|ascii_downcase|contains("toy"))'
expect 200 '/movies?q=TOY%20story' 'any(.items[]; .movie_id == 1)'
expect 200 '/movies?q=zzzzzzzz' '.count == 0 and .items == []'
expect 200 '/movies?q=the&limit=3' '.count == 3'
expect 200 '/movies' '.count == 20'
expect 400 '/movies?limit=0' '.error|test("limit")'
expect 400 '/movies?limit=101' '.error|test("limit")'
expect 400 "/movies?q=$(printf 'a%.0s' $(seq 1 201))" '.error|test("q")'
expect 200 /movies/1 '.movie_id == 1 and (.title|test("Toy Story")) and .year == 1995 and (.genres|index("Animation")) and (.cast|type=="array") and (.cast|length) <= 10 and (.director|type=="string") and (.description|type=="string") and (.imdb_rating|type=="number") and (.imdb_votes|type=="number") and (.runtime_min|type=="number") and (.poster_url|type=="string") and (.imdb_id|type=="string")'
expect 404 /movies/99999 '.error|test("not found")'
# more like this (semantic model): the same item shape, never the movie itself, best first
expect 200 /movies/1/similar ".movie_id == 1 and .model_version == \"$VERSION\" and (.items|length) == 10 and all(.items[]; $ITEM) and .items[0].movie_id != 1 and all(.items[]; .movie_id != 1) and ([.items[].score] == ([.items[].score]|sort|reverse)) and .items[0].score <= 1.0001 and ([.items[].movie_id]|unique|length) == 10"
expect 200 '/movies/50/similar?n=3' '.movie_id == 50 and (.items|length) == 3 and all(.items[]; .movie_id != 50)'
expect 200 '/movies/1/similar?n=100' '(.items|length) == 100'
expect 404 /movies/99999/similar '.error|test("not found")'
for bad in 'n=0' 'n=101' 'n=abc' 'n=-1' 'n='; do
  expect 400 "/movies/1/similar?$bad" '.error|test("n must")'
done
expect 400 /movies/abc/similar '.error|test("movie id")'
expect 405 /movies/1/similar '' -X POST
expect 400 /movies/abc '.error|type=="string"'
expect 400 /movies/0 '.error|type=="string"'

# ---- metrics, UI, static files ------------------------------------------------------------------
get /metrics
if [ "$CODE" = 200 ] && grep -q '^movierec_api_cache_hits_total [1-9]' "$TMP/body" &&
  grep -q '^movierec_api_cache_misses_total [1-9]' "$TMP/body" &&
  grep -q "^movierec_model_info{version=\"$VERSION\"} 1" "$TMP/body" &&
  grep -q 'http_requests_total' "$TMP/body" && grep -q 'http_request_duration_seconds' "$TMP/body" &&
  grep -q '^movierec_api_redis_errors_total' "$TMP/body"; then ok; else
  fail "/metrics: $CODE $(head -c 2000 "$TMP/body")"; fi
get /
[ "$CODE" = 200 ] && grep -q 'movierec test page' "$TMP/body" && ok || fail "/: $CODE"
get /static/static/app.js
[ "$CODE" = 200 ] && grep -q 'static ok' "$TMP/body" && ok || fail "/static/static/app.js: $CODE"
get /static/sub/n.txt
[ "$CODE" = 200 ] && grep -q 'nested ok' "$TMP/body" && ok || fail "/static/sub/n.txt: $CODE"
get /config.js
# the token the operator chose to hand to the UI (--ui-token), JSON-escaped
[ "$CODE" = 200 ] && grep -qF 'window.MOVIEREC = {events: "http://events.test:8001", token: "ui\"t0k</script>"}' "$TMP/body" && ok ||
  fail "/config.js: $CODE $(cat "$TMP/body")"
expect 404 /static/nope.js
for trav in '/static/../secret.txt' '/static/%2e%2e/secret.txt' '/static/sub/%2e%2e/%2e%2e/secret.txt' \
  '/static/..%2fsecret.txt' '/static/%2fetc%2fpasswd' '/static/sub/..' '/static/./index.html'; do
  get "$trav" --path-as-is
  if [ "$CODE" != 400 ] && [ "$CODE" != 404 ]; then fail "$trav: status $CODE"; 
  elif grep -q TOPSECRET "$TMP/body" || grep -q root: "$TMP/body"; then fail "$trav leaked a file";
  else ok; fi
done
alive "path traversal attempts"

# ---- bad requests: the process lives on ------------------------------------------------------------
expect 404 /nope '.error|type=="string"'
expect 404 /recommendations/1/sections/extra
expect 404 '/recommendations//sections'
expect 414 "/$(printf 'a%.0s' $(seq 1 10000))" '.error|test("too long")'
expect 414 "/movies?q=a&x=$(printf 'a%.0s' $(seq 1 9000))" '.error|test("too long")'
expect 404 "/$(printf 'a%.0s' $(seq 1 8000))" '.error|type=="string"'
expect 400 '/recommendations/1?n=100000000000000000000' '.error|type=="string"'
expect 400 '/movies?limit=-1' '.error|test("limit")'
for bad in '/recommendations/1?n=%zz' '/movies?q=%4' '/movies?q=a%00b' '/recommendations/1/sections?genres=%G0'; do
  expect 400 "$bad" '.error|test("percent-encoding")'
done
expect 405 /recommendations/1 '' -X POST
expect 405 /health '' -X DELETE
head -c 71680 /dev/zero | tr '\0' 'x' >"$TMP/big"
get /recommendations/1 -X POST --data-binary "@$TMP/big"
[ "$CODE" = 413 ] || [ "$CODE" = 405 ] && ok || fail "70 KiB POST: status $CODE"
get /recommendations/1 -X GET --data-binary "@$TMP/big"
[ "$CODE" -ge 200 ] && [ "$CODE" -lt 500 ] && ok || fail "70 KiB GET body: status $CODE"
# raw garbage and a truncated request
printf 'GARBAGE\r\n\r\n' | timeout 3 bash -c "cat >/dev/tcp/127.0.0.1/$PORT" 2>/dev/null || true
printf 'GET /recommendations/1 HTTP/1.1\r\nHost: x\r\n' | timeout 3 bash -c "cat >/dev/tcp/127.0.0.1/$PORT" 2>/dev/null || true
alive "malformed requests and big bodies"

# ---- Redis hung (SIGSTOP): health 503 within the timeout, answers go on ---------------------------
RPID=$(cat "$TMP/redis/redis.pid")
kill -STOP "$RPID"
REDIS_STOPPED_PID=$RPID
T0=$(date +%s%N)
expect 503 /health '.redis == "down" and .status != "ok"'
T1=$(date +%s%N)
[ $(((T1 - T0) / 1000000)) -lt 3000 ] && ok || fail "health took $(((T1 - T0) / 1000000)) ms with Redis hung"
expect 200 /recommendations/3 '(.items|length) == 10 and .source == "computed"'
expect 200 /recommendations/3/sections '(.sections|length) == 4'
kill -CONT "$RPID"
REDIS_STOPPED_PID=""
ok_back=0
for _ in $(seq 1 150); do
  if [ "$(curl -s -o /dev/null -w '%{http_code}' "$URL/health")" = 200 ]; then ok_back=1; break; fi
  sleep 0.1
done
[ "$ok_back" = 1 ] && ok || fail "health not back after Redis resumed"

# ---- Redis stopped: 503 health, degraded answers without hanging, reconnect on restart ------------
"$HERE/harness/redis.sh" stop "$TMP/redis"
sleep 0.3
expect 503 /health '.redis == "down"'
expect 200 /recommendations/1 '(.items|length) == 10 and .source == "computed" and .degraded == true'
expect 200 '/recommendations/4/sections?genres=Drama' '(.sections|length) == 4 and .degraded == true'
expect 200 /users/1/ratings '.degraded == true and .count >= 20'
expect 200 /movies/50 '.movie_id == 50'
get /metrics
grep -q '^movierec_api_degraded_total [1-9]' "$TMP/body" && ok || fail "degraded_total not counted"
grep -q 'redis unavailable' "$TMP/api.log" && ok || fail "degraded mode not logged"
"$HERE/harness/redis.sh" restart "$TMP/redis" >/dev/null
ok_back=0
for _ in $(seq 1 150); do
  if [ "$(curl -s -o /dev/null -w '%{http_code}' "$URL/health")" = 200 ]; then ok_back=1; break; fi
  sleep 0.1
done
[ "$ok_back" = 1 ] && ok || fail "health not back after Redis restarted"
expect 200 /recommendations/1 '.source == "computed" and (.degraded|not)'
expect 200 /recommendations/1 '.source == "cache"'

# ---- a model version without semantic.bin still serves; similar movies answer 503 -------------
OLD=$TMP/old-models
mkdir -p "$OLD/v1"
for f in "$(readlink -f "$MODELS/current")"/*; do
  [ "$(basename "$f")" = semantic.bin ] || ln -s "$f" "$OLD/v1/"
done
ln -s v1 "$OLD/current"
OPORT=$(harness_pick_port)
"$BIN" api --port "$OPORT" --threads 1 --redis "redis://127.0.0.1:$RPORT" --models "$OLD" \
  --web "$TMP/web" >"$TMP/api-old.log" 2>&1 &
OLD_PID=$!
for _ in $(seq 1 300); do
  curl -s -m 1 -o /dev/null "http://127.0.0.1:$OPORT/health" 2>/dev/null && break
  kill -0 "$OLD_PID" 2>/dev/null || break
  sleep 0.1
done
OCODE=$(curl -s -m 10 -o "$TMP/obody" -w '%{http_code}' "http://127.0.0.1:$OPORT/movies/1/similar" || echo 000)
[ "$OCODE" = 503 ] && jq -e '.error|test("semantic")' "$TMP/obody" >/dev/null && ok ||
  fail "similar without semantic.bin: $OCODE $(head -c 300 "$TMP/obody") $(tail -5 "$TMP/api-old.log")"
OCODE=$(curl -s -m 10 -o "$TMP/obody" -w '%{http_code}' "http://127.0.0.1:$OPORT/recommendations/1" || echo 000)
[ "$OCODE" = 200 ] && jq -e '(.items|length) == 10' "$TMP/obody" >/dev/null && ok ||
  fail "recommendations without semantic.bin: $OCODE"
kill -TERM "$OLD_PID" 2>/dev/null
wait "$OLD_PID" 2>/dev/null && ok || fail "api without semantic.bin did not stop cleanly"

# ---- graceful stop -------------------------------------------------------------------------------
kill -TERM "$API_PID"
stopped=0
for _ in $(seq 1 100); do kill -0 "$API_PID" 2>/dev/null || { stopped=1; break; }; sleep 0.1; done
if [ "$stopped" = 1 ]; then
  wait "$API_PID" && ok || fail "api exited with status $? on SIGTERM"
  API_PID=""
else fail "api did not stop within 10 s of SIGTERM"; fi

echo "test_api: $CHECKS checks passed, $FAILS failed"
if [ "$FAILS" -ne 0 ]; then
  echo "--- api log (tail) ---" >&2
  tail -30 "$TMP/api.log" >&2
  exit 1
fi
