#!/bin/bash
# Instructions per token of replies on the in-memory broker and of plain streamEvents, in one
# process without sockets (bench/callgrind/replies-one.mjs), counted by callgrind: deterministic
# enough to compare builds on a shared machine where CPU timings drift by tens of percent.
# Steady state: (Ir with ROUNDS=B - Ir with ROUNDS=A) / ((B - A) * R * T), under
# `node --single-threaded` (the collector's work is on the counted thread). A is 10: code run
# once a reply (start, open, end) is still being optimized by V8 after a few hundred replies, and
# with A=3 those compilations were counted as per-token cost (one build measured replies at
# 46,400 instructions a token with A=3 and B=6, 40,300 with A=10 and B=16; streamEvents 28,200
# and 27,400).
# usage: bench/callgrind/replies.sh [DIST...]   (default: this checkout's dist/; needs a build)
# env: T (tokens a reply, default 100), R (replies at once, 100), A (10), B (16), BURST (tokens a
# tick, default 1; 10 is bench:replies' part 1b), RETENTION (ms, see replies-one.mjs), SOCKET=1 (over real connections, node:http and the
# Node adapter counted too)
dir=$(cd "$(dirname "$0")" && pwd)
A=${A:-10}; B=${B:-16}; T=${T:-100}; R=${R:-100}
command -v valgrind >/dev/null || { echo "needs valgrind (apt-get install -y valgrind)" >&2; exit 1; }
count() {
  local out; out=$(mktemp)
  DIST=$1 WHO=$2 ROUNDS=$3 T=$T R=$R BURST=${BURST:-1} RETENTION=$RETENTION SOCKET=$SOCKET valgrind --tool=callgrind --callgrind-out-file="$out" \
    --smc-check=all-non-file node --single-threaded "$dir/replies-one.mjs" >/dev/null 2>"$out.err" \
    || { tail -5 "$out.err" >&2; rm -f "$out" "$out.err"; exit 1; }
  grep -m1 '^summary\|^totals' "$out" | awk '{print $2}'
  rm -f "$out" "$out.err"
}
per_token() { # DIST WHO
  local a b; a=$(count "$1" "$2" "$A") && b=$(count "$1" "$2" "$B") || exit 1
  [[ $a =~ ^[0-9]+$ && $b =~ ^[0-9]+$ ]] || { echo "callgrind gave no count for $2 ($1)" >&2; exit 1; }
  echo $(( (b - a) / ((B - A) * R * T) ))
}
dists=(); for d in "$@"; do dists+=("$(realpath "$d")"); done # imported by path: absolute
[ ${#dists[@]} -eq 0 ] && dists=("$dir/../../dist")
stream=$(per_token "${dists[0]}" stream) || exit 1
echo "T=$T R=$R BURST=${BURST:-1}${SOCKET:+ SOCKET=$SOCKET}: streamEvents $stream instructions/token"
for d in "${dists[@]}"; do
  memory=$(per_token "$d" memory) || exit 1
  echo "  replies, memory ($d): $memory instructions/token, $(awk -v m="$memory" -v s="$stream" 'BEGIN {printf "%.2fx", m / s}') streamEvents"
done
