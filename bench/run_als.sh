#!/usr/bin/env bash
# ALS training speed vs the implicit 0.7.2 reference figures; prints a markdown table.
# Usage: bash bench/run_als.sh [build-dir]   (builds Release into build/ by default)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD" -j2 --target bench_als >/dev/null
DATA=${MOVIEREC_DATA:-../shared/data}
B="$BUILD/bench/bench_als"
# The machine is shared with other jobs: libgomp's default active spin-waits at the end of each
# sweep then burn the time slices a descheduled worker needs (100k went from 0.009 to 0.030
# s/iter under load). Passive waits cost microseconds per sweep when the machine is idle.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
echo "ALS: 64 factors, 3 CG steps, 15 iterations, reg 0.05, alpha 2; median of >= 3 fits"
echo "$(date -u '+%Y-%m-%d %H:%M UTC'), nproc $(nproc), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "OMP_WAIT_POLICY=$OMP_WAIT_POLICY"
echo "load average before the run: $(cut -d" " -f1-3 /proc/loadavg) (other jobs on this machine inflate the timings)"
echo "CPU share = (user + sys CPU time) / (wall time x threads) during the fits; well below"
echo "100% means other jobs took the cores (OpenMP spin-waits count as CPU, so it errs high)."
echo
echo "| data | users x items | ratings | s/iter (median) | s/iter (fastest fit) | implicit 0.7.2 s/iter | speed-up (implicit / ours) | peak RSS MB | CPU share |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
"$B" ml100k "$DATA/ml-100k/u.data" 9
"$B" synth 6000 4000 1000000 7
"$B" synth 70000 10000 10000000 3
