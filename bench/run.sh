#!/bin/sh
# make bench: every benchmark at 1 and 2 threads, alignlab beside PyTorch where Debian's
# python3-torch is installed (/usr/bin/python3). Timings are medians over repeated steps after
# warm-up; two-thread numbers on a shared 2-core machine are noisy, so compare within one run.
set -u
BUILD=${1:-build}
here=$(cd "$(dirname "$0")" && pwd)
PY=/usr/bin/python3
have_torch=0
if [ -x "$PY" ] && "$PY" -c 'import torch' >/dev/null 2>&1; then have_torch=1; fi
[ $have_torch = 1 ] || echo "bench: python3-torch not installed (make deps has --with-bench); PyTorch columns skipped"
for threads in 1 2; do
  export OPENBLAS_NUM_THREADS=$threads OMP_NUM_THREADS=$threads
  for b in "$BUILD"/bench_*; do
    [ -x "$b" ] || continue
    echo "== $(basename "$b") threads=$threads"
    "$b"
    peer="$here/torch_$(basename "$b" | sed 's/^bench_//').py"
    if [ $have_torch = 1 ] && [ -f "$peer" ]; then
      echo "== PyTorch $(basename "$peer") threads=$threads"
      "$PY" "$peer"
    fi
  done
  echo "== bench_trainers.lua threads=$threads"
  "$BUILD/alignlab" "$here/bench_trainers.lua"
done
