#!/bin/bash
# Steady-state instructions per iteration of one contender on one row:
#   (Ir with ITERS=B - Ir with ITERS=A) / (B - A), counted by callgrind.
# usage: bench/callgrind/run.sh WHO ROW HOW     e.g.  bench/callgrind/run.sh sse a 1024
# env: A (default 3), B (default 8), DIST (another build of the parser to load)
dir=$(cd "$(dirname "$0")" && pwd)
A=${A:-3}; B=${B:-8}
count() {
  local out; out=$(mktemp)
  WHO=$1 ROW=$2 HOW=$3 ITERS=$4 valgrind --tool=callgrind --callgrind-out-file="$out" \
    --smc-check=all-non-file node --single-threaded "$dir/one.mjs" >/dev/null 2>"$out.err" || { tail -5 "$out.err" >&2; exit 1; }
  grep -m1 '^summary\|^totals' "$out" | awk '{print $2}'
  rm -f "$out" "$out.err"
}
a=$(count "$1" "$2" "$3" "$A"); b=$(count "$1" "$2" "$3" "$B")
echo "$1 $2 $3: $(( (b - a) / (B - A) / 1000000 ))M instructions/iteration"
