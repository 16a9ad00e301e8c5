#!/usr/bin/env bash
# Scale benchmark: synthetic data from 1M to 25M ratings; prints the markdown tables and writes
# bench/scale.svg. One process per size, smallest first, so each size's peak RSS is its own.
# Usage: bash bench/run_scale.sh [build-dir]
#   SIZES="1 2.5 5 10 25" (millions of ratings), REQUESTS=2000, OUT=DIR (per-size results and
#   model files; default a temporary directory, removed at the end unless KEEP=1)
# Scaling law: users = 6,400 x m and movies = 2,400 x m for m million ratings, so 25M is
# 160,000 x 60,000 (DESIGN.md) and every size has the same ratings per user (156 on average)
# and per movie (417); the catalogue grows with the data.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD" -j2 --target bench_scale >/dev/null
B="$BUILD/bench/bench_scale"
SIZES=${SIZES:-"1 2.5 5 10 25"}
REQUESTS=${REQUESTS:-2000}
OUT=${OUT:-$(mktemp -d /tmp/movierec-scale.XXXXXX)}
mkdir -p "$OUT"
# passive waits: see bench/run_als.sh (the machine is shared)
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
echo "scale benchmark, $(date -u '+%Y-%m-%d %H:%M UTC'), nproc $(nproc), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), OMP_WAIT_POLICY=$OMP_WAIT_POLICY"
files=()
for m in $SIZES; do
  users=$(awk -v m="$m" 'BEGIN { printf "%d", 6400 * m }')
  movies=$(awk -v m="$m" 'BEGIN { printf "%d", 2400 * m }')
  ratings=$(awk -v m="$m" 'BEGIN { printf "%d", 1000000 * m }')
  echo "${m}M: $users users x $movies movies; load average before: $(cut -d' ' -f1-3 /proc/loadavg); $(date -u '+%H:%M:%S UTC')"
  t0=$(date +%s)
  "$B" "$users" "$movies" "$ratings" "$OUT/$m" als,ts,serve "$REQUESTS" >"$OUT/$m.txt" 2>"$OUT/$m.log"
  echo "  done in $(( $(date +%s) - t0 )) s; load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
  rm -f "$OUT/$m"/*.bin # keep the results, not the model files (files_total_mb has their sizes)
  files+=("$OUT/$m.txt")
done
echo
"$B" report bench/scale.svg "${files[@]}"
echo
echo "results: $OUT (one key-value file per size); chart: bench/scale.svg"
if [ "${KEEP:-0}" != 1 ] && [[ "$OUT" == /tmp/movierec-scale.* ]]; then rm -rf "$OUT"; fi
