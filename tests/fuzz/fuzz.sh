#!/bin/sh
# make fuzz: build each tests/fuzz/fuzz_NAME.c with clang's libFuzzer (-fsanitize=fuzzer,address,
# undefined) against the core's sources, and run it for FUZZ_SECONDS (default 60) on a scratch copy
# of corpus/NAME (new inputs never go into the committed corpus; crashes do, as crash-*, so that
# make test replays them); then the Lua harness (fuzz_lua.lua) for args and notebook. Prints one
# line of executions and crashes per target. Usage: sh tests/fuzz/fuzz.sh [BUILD_DIR] [TARGET...]
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:-$root/build}; [ $# -gt 0 ] && shift
secs=${FUZZ_SECONDS:-60}
cc=${CLANG:-clang}
out=$build/fuzz
mkdir -p "$out"
targets=${*:-"safetensors config tokenizer jsonl args notebook"}
cflags="-g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -I$root/core -fopenmp"
libs="-lcjson -lopenblas -lm"
status=0
for t in $targets; do
  if [ "$t" = args ] || [ "$t" = notebook ]; then
    OPENBLAS_NUM_THREADS=1 "$build/alignlab" "$here/fuzz_lua.lua" "$t" fuzz "$secs" || status=1
    continue
  fi
  bin=$out/fuzz_$t
  if [ ! -x "$bin" ] || [ -n "$(find "$root/core" "$here/fuzz_$t.c" -newer "$bin" -name '*.[ch]' | head -n 1)" ]; then
    echo "== building $bin"
    # shellcheck disable=SC2086
    $cc $cflags "$here/fuzz_$t.c" "$root"/core/*.c $libs -o "$bin" || { status=1; continue; }
  fi
  work=$out/corpus-$t
  mkdir -p "$work"
  cp "$here/corpus/$t"/* "$work"/ 2>/dev/null
  dict=""; [ -f "$here/$t.dict" ] && dict="-dict=$here/$t.dict"
  log=$out/fuzz_$t.log
  # shellcheck disable=SC2086
  ASAN_OPTIONS=detect_leaks=1 OPENBLAS_NUM_THREADS=1 "$bin" -max_total_time="$secs" -max_len=8192 $dict \
    -artifact_prefix="$here/corpus/$t/" -print_final_stats=1 "$work" > "$log" 2>&1
  rc=$?
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$')
  if [ $rc -ne 0 ]; then status=1; echo "fuzz_$t: CRASH after ${execs:-?} executions (see $log; input kept in corpus/$t/crash-*)"
  else echo "fuzz_$t: ${execs:-?} executions in $secs s, 0 crashes"; fi
done
exit $status
