#!/bin/sh
# Weak and strong scaling with mpirun -np 1 and -np 2, one BLAS thread per rank, REPS runs each
# (default 5): data-parallel training of the small config (bench_dp.lua: ms per step, the
# reduction's ms and bytes) and a sweep (bench_sweep.lua: wall seconds). Prints one line per run;
# `alignlab bench/dp_summary.lua FILE` takes the medians.
#   sh bench/dp.sh [BUILD] [REPS] > bench-dp.txt
set -u
BUILD=${1:-build}
REPS=${2:-5}
here=$(cd "$(dirname "$0")" && pwd)
exe="$BUILD/alignlab"
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 OPENBLAS_CORETYPE=Haswell
MPIRUN="mpirun --oversubscribe --allow-run-as-root --bind-to none"
tmp=$(mktemp -d)
for r in $(seq "$REPS"); do
  # training: strong = global batch 16 on 1 and 2 ranks; weak = 16 per rank
  echo "train strong np=1 $($MPIRUN -np 1 "$exe" "$here/bench_dp.lua" 16 6)"
  echo "train strong np=2 $($MPIRUN -np 2 "$exe" "$here/bench_dp.lua" 16 6)"
  echo "train weak np=2 $($MPIRUN -np 2 "$exe" "$here/bench_dp.lua" 32 6)"
  # sweep: strong = 4 points on 1 and 2 ranks; weak = 2 points per rank
  for spec in "strong 1 4" "strong 2 4" "weak 1 2" "weak 2 4"; do
    set -- $spec
    rm -rf "$tmp/s"
    t0=$(date +%s.%N)
    $MPIRUN -np "$2" "$exe" sweep "$here/bench_sweep.lua" "$tmp/s" "$3" >/dev/null 2>&1
    t1=$(date +%s.%N)
    echo "sweep $1 np=$2 points=$3 seconds=$(echo "$t1 - $t0" | bc)"
  done
done
rm -rf "$tmp"
