#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# publish_bench.sh BASE_BUILD NEW_BUILD [DIR]: the cost of publishing outputs safely (space
# reserved, every write checked, fsync of the file and its directory) against a baseline
# build, on whole app runs whose output is large: sluice-h5sort of an 8M-row table (320 MB
# out) and sluice-wordcount of 512 MiB of text with 2M distinct words (all counts out), at 2
# ranks, outputs in DIR (default /tmp/sluice-publish-bench: a disk, where fsync costs what it
# costs). REPS (5) runs of each, interleaved; prints the medians and NEW/BASE.
set -euo pipefail
BASE=$(cd "${1:?usage: publish_bench.sh BASE_BUILD NEW_BUILD [DIR]}" && pwd)
NEW=$(cd "${2:?usage: publish_bench.sh BASE_BUILD NEW_BUILD [DIR]}" && pwd)
DIR=${3:-/tmp/sluice-publish-bench}
REPS=${REPS:-5}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mkdir -p "$DIR"
GEN=$NEW/apps/sluice-gen/sluice-gen
[ -f "$DIR/p.h5" ] || mpirun -n 2 "$GEN" particles --rows 8000000 -o "$DIR/p.h5" >/dev/null
[ -f "$DIR/t.txt" ] || mpirun -n 2 "$GEN" text --size 512M --vocab 2000000 -o "$DIR/t.txt" >/dev/null
cat "$DIR/p.h5" "$DIR/t.txt" >/dev/null # warm the page cache

secs() { # CMD...: wall seconds of one run, its output removed afterwards
  local t0 t1
  t0=$(date +%s.%N)
  "$@" >/dev/null 2>&1
  t1=$(date +%s.%N)
  rm -f "$DIR/out.h5" "$DIR/out.tsv"
  awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f", b - a}'
}
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

declare -A T
for ((r = 1; r <= REPS; r++)); do
  for b in base new; do
    B=$BASE
    [ $b = new ] && B=$NEW
    T[sort.$b]+="$(secs mpirun -n 2 "$B/apps/sluice-h5sort/sluice-h5sort" "$DIR/p.h5:/particles" \
      --key mass -o "$DIR/out.h5:/p") "
    T[wc.$b]+="$(secs mpirun -n 2 "$B/apps/sluice-wordcount/sluice-wordcount" "$DIR/t.txt" \
      -o "$DIR/out.tsv") "
  done
done
printf "%-28s %10s %10s %8s\n" "run (2 ranks, median s)" base new new/base
for k in sort wc; do
  b=$(tr ' ' '\n' <<<"${T[$k.base]}" | grep . | median)
  n=$(tr ' ' '\n' <<<"${T[$k.new]}" | grep . | median)
  name=$([ $k = sort ] && echo "h5sort 8M rows -> 320 MB" || echo "wordcount 512 MiB -> TSV")
  printf "%-28s %10.2f %10.2f %8.2f\n" "$name" "$b" "$n" "$(awk -v a="$n" -v b="$b" 'BEGIN {print a / b}')"
done
