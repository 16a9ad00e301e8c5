#!/usr/bin/env bash
# The scale benchmark on a tiny synthetic size: every phase runs and reports what
# bench/RESULTS.md quotes (ALS time and RSS, the two-stage fit, model files, serving latency and
# its split), the pipeline fits only the generators it is asked to (als + genre), and `report`
# turns the results into the markdown table and a 4-panel SVG.
set -euo pipefail
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive} # see bench/run_als.sh
BIN=$(readlink -f "${1:-build/movierec}")
B="$(dirname "$BIN")/bench/bench_scale"
if [ ! -x "$B" ]; then
  echo "SKIP: $B not built (MR_BENCH=OFF)"
  exit 0
fi
TMP=$(mktemp -d /tmp/mr_bench_scale_test.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
FAILS=0
fail() { echo "FAIL: $*" >&2; FAILS=$((FAILS + 1)); }
val() { awk -v k="$1" '$1 == k { print $2 }' "$2"; }

# 2 sizes, 10x apart: 400 x 150 with 20k ratings and 800 x 300 with 40k
"$B" 400 150 20000 "$TMP/a" als,ts,serve 200 trees=20 >"$TMP/a.txt" 2>"$TMP/a.log" || {
  cat "$TMP/a.log" >&2
  fail "bench_scale (small size) failed"
}
"$B" 800 300 40000 "$TMP/b" als,ts,serve 200 trees=20 >"$TMP/b.txt" 2>"$TMP/b.log" || {
  cat "$TMP/b.log" >&2
  fail "bench_scale (second size) failed"
}
for k in users items ratings als_total_s als_s_per_iter als_peak_rss_mb als_file_mb ts_fit_s \
  ts_peak_rss_mb file_als_mb file_genre_mb file_ranker_mb files_total_mb serve_rss_mb \
  lat_total_p50_us lat_total_p99_us lat_foldin_total_p50_us lat_als_score_all_p50_us \
  lat_topk_p50_us lat_candidates_p50_us lat_features_p50_us lat_ranker_p50_us \
  serve_mean_candidates; do
  v=$(val "$k" "$TMP/a.txt")
  [ -n "$v" ] || { fail "key $k missing"; continue; }
  awk -v x="$v" 'BEGIN { exit !(x > 0) }' || fail "$k = $v, expected > 0"
done
[ "$(val users "$TMP/a.txt")" = 400 ] || fail "users: $(val users "$TMP/a.txt")"
[ "$(val items "$TMP/a.txt")" = 150 ] || fail "items: $(val items "$TMP/a.txt")"
# synth produces about the requested count (the per-user cap can trim a little)
awk -v x="$(val ratings "$TMP/a.txt")" 'BEGIN { exit !(x > 15000 && x <= 20000) }' ||
  fail "ratings: $(val ratings "$TMP/a.txt") of 20000"
# fgens: the generators that do not scale are neither fitted nor written
for g in gcn content itemknn ease gems; do
  [ -z "$(val "file_${g}_mb" "$TMP/a.txt")" ] || fail "$g was fitted (fgens ignored?)"
  [ ! -e "$TMP/a/$g.bin" ] || fail "$g.bin written"
done
[ -s "$TMP/a/two_stage.json" ] || fail "two_stage.json missing"
# at most 150 candidates per request, and the steps fit inside the measured request time
awk -v x="$(val serve_mean_candidates "$TMP/a.txt")" 'BEGIN { exit !(x > 0 && x <= 150) }' ||
  fail "mean candidates $(val serve_mean_candidates "$TMP/a.txt")"
# the ALS model file holds (users + movies) x 64 floats
awk -v mb="$(val file_als_mb "$TMP/a.txt")" 'BEGIN { b = (400 + 150) * 64 * 4 / 1048576;
  exit !(mb >= b && mb < b * 1.2) }' || fail "als.bin $(val file_als_mb "$TMP/a.txt") MB"

"$B" report "$TMP/s.svg" "$TMP/a.txt" "$TMP/b.txt" >"$TMP/table.md" || fail "report failed"
cat "$TMP/table.md"
[ "$(grep -c '^| [0-9]* | 400 x 150 |' "$TMP/table.md")" = 1 ] || fail "no table row for size a"
[ "$(grep -c '^| [0-9]* | 300 |' "$TMP/table.md")" = 1 ] || fail "no split row for size b"
[ "$(grep -c '<polyline' "$TMP/s.svg")" = 12 ] || fail "expected 12 series in the chart"
grep -q '</svg>' "$TMP/s.svg" || fail "SVG not closed"
if command -v xmllint >/dev/null; then xmllint --noout "$TMP/s.svg" || fail "SVG is not well-formed XML"; fi
! "$B" report "$TMP/x.svg" "$TMP/missing.txt" 2>/dev/null || fail "report accepted a missing file"

if [ "$FAILS" -gt 0 ]; then
  echo "test_bench_scale: $FAILS failure(s)"
  exit 1
fi
echo "test_bench_scale: ok"
